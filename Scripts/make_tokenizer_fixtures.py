#!/usr/bin/env python3
"""Writes the small tokenizer fixtures of Tests/Fixtures/tokenizers (CI compares against them; it never
runs Python). Needs the Hugging Face `tokenizers` library (pip install tokenizers).

Trains tiny byte-level BPE tokenizers (a few hundred merges) shaped like the supported families, and
records what the library produces for a few hundred varied strings:

  llama3-tiny   Llama-3 split regex + ByteLevel, ignore_merges, BOS template (Sequence post-processor),
                special tokens <|begin_of_text|> <|eot_id|> ..., tokenizer_config.json + generation_config.json
  smollm2-tiny  Digits(individual) + ByteLevel(use_regex) (GPT-2 regex), chat tokens <|im_start|> <|im_end|>
  qwen2-tiny    NFC + Qwen2 split regex + ByteLevel, and added tokens with lstrip / rstrip / single_word /
                normalized options, special and not
  gpt2-tiny     ByteLevel(add_prefix_space, use_regex), merges as legacy "a b" strings, <s> $A </s> template

Each folder holds tokenizer.json and cases.json:
  {"encode": [{"text", "ids", "ids_special", "decoded" (when not the text)}],
   "decode": [{"ids", "text", "text_skip_special"}]}
variants.json re-runs the qwen2-tiny model under other pre-tokenizers (generic regex, Split behaviours,
invert, literal patterns, Digits runs) with their expected ids.

Usage: python3 Scripts/make_tokenizer_fixtures.py [--out Tests/Fixtures/tokenizers]
"""

import argparse
import json
import os
import random
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from tokenizers.models import BPE

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_oracle as oracle  # noqa: E402  (text pools and the generator)

CL100K_STYLE = oracle.CL100K_PATTERN
O200K_STYLE = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""", r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""", r"""\s*[\r\n]+""", r"""\s+(?!\S)""", r"""\s+""",
])


def corpus(rng):
    """Training text: prose in many scripts, code, numbers and chat markup, repeated with variations."""
    lines = []
    for _ in range(60):
        lines += oracle.PROSE + oracle.CODE
        lines.append(" ".join(rng.choice(oracle.NUMBERS) for _ in range(8)))
        lines.append(" ".join(rng.choice(oracle.CONTRACTIONS) for _ in range(8)))
        lines.append("".join(rng.choice(oracle.EMOJI) for _ in range(4)))
    return lines


def train(pre_tokenizer, normalizer, specials, merges, rng, ignore_merges):
    tok = Tokenizer(BPE(ignore_merges=ignore_merges))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=256 + len(specials) + merges, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus(rng), trainer)
    return tok


def test_strings(rng, specials, extra):
    """A few hundred short, varied strings (generated with the oracle's generator, kept short)."""
    texts, _ = oracle.generate_texts(rng, 80_000, specials, oracle.assigned_scalars())
    short = [t for t in texts if len(t.encode()) <= 120]
    chosen = short[:45] + rng.sample(short[45:], min(150, len(short) - 45))
    handpicked = [
        "", " ", "Hello world", " Hello", "Hello  world", "DON'T STOP, I'M HERE", "we'Re they'LL it'S", "x'ſ",
        "a\u2028b\u2029c\u0085d\u3000e\u00a0f", "1234567 89 0", "½ ٣٤٥ ①②", "line1\nline2\r\nline3\rline4",
        "  \n  \n\n", "\t\tindent", "😀👍🏽👨‍👩‍👧‍👦🏳️‍🌈", "e\u0301 caf\u00e9 cafe\u0301", "\u0301start", "<\u0338 >\u0338",
        "\u1100\u1161\u11a8 각", "中文字符和日本語のテキスト", "Привет, мир!", "مرحبا بالعالم", "नमस्ते दुनिया",
        "def f(x):\n    return x ** 2\n", "a" * 40, "9" * 25, " " * 17 + "x", "!!!???...", "'''", "\u200b\u200d",
    ] + extra
    return handpicked + [t for t in chosen if t not in handpicked]


def record(tok, texts, rng, byte_token=None):
    """Encode cases for `texts` and decode cases (random ids, and byte tokens spelling split or invalid
    UTF-8; `byte_token(b)` gives the id of byte b's token, by default its byte-level alphabet spelling)."""
    enc = []
    for t in texts:
        case = {"text": t, "ids": tok.encode(t, add_special_tokens=False).ids,
                "ids_special": tok.encode(t, add_special_tokens=True).ids}
        decoded = tok.decode(case["ids"], skip_special_tokens=False)
        if decoded != t:
            case["decoded"] = decoded
        enc.append(case)
    dec = []
    size = tok.get_vocab_size(with_added_tokens=True)
    for _ in range(40):
        ids = [rng.randrange(size) for _ in range(rng.randint(1, 12))]
        dec.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                    "text_skip_special": tok.decode(ids, skip_special_tokens=True)})
    # Multi-byte characters split across byte tokens, alone and in invalid orders.
    byte_ids = [byte_token(b) if byte_token else tok.token_to_id(oracle.bytes_to_unicode()[b]) for b in range(256)]
    for seq in ([0xE4, 0xB8, 0xAD], [0xE4, 0xB8], [0xB8, 0xAD], [0xF0, 0x9F, 0x98, 0x80], [0xF0, 0x9F, 0x98],
                [0xC3], [0xC3, 0x28], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF, 0x41],
                [0xE2, 0x82, 0xAC, 0xE2, 0x82], [0x80, 0x80, 0x41], [0xF0, 0x9F, 0x41, 0x98, 0x80]):
        ids = [byte_ids[b] for b in seq]
        dec.append({"ids": ids, "text": tok.decode(ids), "text_skip_special": tok.decode(ids, skip_special_tokens=True)})
    return {"encode": enc, "decode": dec}


def write(folder, name, tok, cases, extra_files=None, legacy_merges=False):
    path = os.path.join(folder, name)
    os.makedirs(path, exist_ok=True)
    document = json.loads(tok.to_str())
    if legacy_merges:
        document["model"]["merges"] = [" ".join(m) for m in document["model"]["merges"]]
    with open(os.path.join(path, "tokenizer.json"), "w") as f:
        json.dump(document, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(path, "cases.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=True, separators=(",", ":"))
    for file, content in (extra_files or {}).items():
        with open(os.path.join(path, file), "w") as f:
            json.dump(content, f, ensure_ascii=False, indent=1)
    # The library must read back exactly what we wrote.
    again = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
    for c in cases["encode"]:
        assert again.encode(c["text"], add_special_tokens=False).ids == c["ids"], c["text"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tokenizers"))
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    rng = random.Random(args.seed)

    # Llama 3 shape.
    llama_specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok = train(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(oracle.LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), None, llama_specials, 700, rng, True)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    texts = test_strings(rng, oracle.SPECIALS_LLAMA[:12], ["<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"])
    write(out, "llama3-tiny", tok, record(tok, texts, rng), {
        "tokenizer_config.json": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "add_bos_token": True,
                                  "model_max_length": 131072,
                                  "chat_template": "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"},
        "generation_config.json": {"bos_token_id": bos, "eos_token_id": [tok.token_to_id("<|end_of_text|>"), tok.token_to_id("<|eot_id|>")]},
    })

    # SmolLM2 shape.
    chat = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = train(pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
                None, chat, 600, rng, False)
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    texts = test_strings(rng, oracle.SPECIALS_QWEN[:10], ["<|im_start|>assistant\n12345<|im_end|>"])
    write(out, "smollm2-tiny", tok, record(tok, texts, rng), {
        "tokenizer_config.json": {"bos_token": {"content": "<|im_start|>", "special": True}, "eos_token": "<|im_end|>",
                                  "pad_token": "<|im_end|>",
                                  "chat_template": [{"name": "default", "template": "{{ messages }}"},
                                                    {"name": "tool_use", "template": "{{ tools }}"}]},
    })

    # Qwen2 shape with every added-token option.
    tok = train(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(oracle.QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), normalizers.NFC(), chat, 600, rng, False)
    tok.add_tokens([AddedToken("<think>", normalized=False, special=False),
                    AddedToken("</think>", normalized=False, special=False),
                    AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True),
                    AddedToken("[rs]", rstrip=True, normalized=False, special=False),
                    AddedToken("word", single_word=True, normalized=True, special=False),
                    AddedToken("e\u0301x", normalized=True, special=False),
                    AddedToken("<|im_start|>assistant", normalized=False, special=True)])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    extra = ["a <mask> b", "a   <mask>", "<mask>", "x[rs]   y", "[rs]\n\n", "word words sword word_ (word) 1word",
             "éx e\u0301x <think>hmm</think>", "<|im_start|>assistant\n<|im_start|>user", "<think> <mask>  [rs]  word"]
    texts = test_strings(rng, oracle.SPECIALS_QWEN, extra)
    write(out, "qwen2-tiny", tok, record(tok, texts, rng))
    qwen = tok

    # GPT-2 shape: prefix space, legacy merges, <s> $A </s>.
    tok = train(pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True), None, ["<s>", "</s>", "<unk>"], 500, rng, False)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    texts = test_strings(rng, ["<s>", "</s>", "<s></s>"], [" leading", "trailing ", "<s>x</s> y"])
    write(out, "gpt2-tiny", tok, record(tok, texts, rng), legacy_merges=True)

    # Pre-tokenizer variants over the qwen2-tiny model.
    variant_texts = test_strings(random.Random(args.seed + 1), ["<|im_end|>"], ["a\nb\n\nc", "x--y--z", "-a-", "--", "12ab34"])[:64]
    variants = []
    split = lambda pattern, behavior, invert=False, literal=False: {  # noqa: E731
        "type": "Split", "pattern": {"String": pattern} if literal else {"Regex": pattern}, "behavior": behavior, "invert": invert}
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    specs = {
        "cl100k-possessive": [split(CL100K_STYLE, "Isolated"), byte_level],
        "o200k-case-aware": [split(O200K_STYLE, "Isolated"), byte_level],
        "removed-whitespace": [split(r"\s+", "Removed"), byte_level],
        "merged-previous": [split("-", "MergedWithPrevious", literal=True), byte_level],
        "merged-next": [split(r"\n", "MergedWithNext"), byte_level],
        "contiguous": [split(r"\p{P}", "Contiguous"), byte_level],
        "inverted-isolated": [split(r"\p{L}+", "Removed", invert=True), byte_level],
        "digits-runs": [{"type": "Digits", "individual_digits": False}, {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}],
        "anchors-lazy": [split(r"^\s*\S+?|\b\w{2}\b|(?:ab)+|$|.", "Isolated"), byte_level],
    }
    base = json.loads(qwen.to_str())
    for name, steps in specs.items():
        document = dict(base)
        document["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": steps}
        variant = Tokenizer.from_str(json.dumps(document))
        cases = [{"text": t, "ids": variant.encode(t, add_special_tokens=False).ids} for t in variant_texts]
        variants.append({"name": name, "pre_tokenizer": document["pre_tokenizer"], "cases": cases})
    with open(os.path.join(out, "variants.json"), "w") as f:
        json.dump({"base": "qwen2-tiny", "variants": variants}, f, ensure_ascii=True, separators=(",", ":"))

    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"wrote {out}: {total / 1024:.0f} KiB")


if __name__ == "__main__":
    sys.exit(main())
