#!/usr/bin/env python3
"""SentencePiece-style (Llama 2 / Mistral / TinyLlama) tokenizer fixtures and oracle (CI never runs this).

Those models ship a BPE over Unicode characters with byte fallback (<0x0A> tokens for characters
outside the vocabulary) and "▁" for spaces. Their tokenizer.json comes in two flavours, both written
here from one SentencePiece model, exactly as transformers' LlamaConverter does (vocabulary = the
pieces by id; merges = every split of a piece whose halves are pieces, ordered by the piece's score,
then by the halves' ids):

  legacy     normalizer Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer (Llama 2, TinyLlama)
  metaspace  pre_tokenizer Metaspace(prepend_scheme "first", split false), no normalizer (newer conversions)

both with decoder Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)] and a "<s> $A"
template. The `tokenizers` library (and, for text without special tokens, SentencePiece itself) gives
the expected ids.

Fixtures (default): trains a tiny SentencePiece BPE model (1,400 pieces, byte fallback, split digits,
identity normalization) on the corpus of make_tokenizer_fixtures.py and writes
  Tests/Fixtures/tokenizers/llama2-tiny    (legacy)     tokenizer.json, tokenizer_config.json, cases.json
  Tests/Fixtures/tokenizers/mistral-tiny   (metaspace)  tokenizer.json, tokenizer_config.json, cases.json

Oracle (--oracle MODEL): converts a real SentencePiece model (for example mistral-common's
data/tokenizer.model.v1, the Mistral 7B tokenizer: pip download mistral-common) to both flavours,
generates --megabytes of varied text and writes <out>/<flavour>/tokenizer.json, meta.json and
cases.jsonl ({"text", "ids" (SentencePiece's), "hf_ids" (the library's), "decoded"}) for
Tests/TokenizersTests/OracleTests:
  IDPO_TOKENIZER_ORACLE=<out> swift test --skip-build --filter TokenizersTests.OracleTests

Usage: pip install sentencepiece tokenizers
       python3 Scripts/make_sentencepiece_fixtures.py [--out Tests/Fixtures/tokenizers]
       python3 Scripts/make_sentencepiece_fixtures.py --oracle tokenizer.model.v1 --out .build-tok/sp-oracle
"""

import argparse
import io
import json
import os
import random
import sys

import sentencepiece as spm
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tokenizer_fixtures as byte_fixtures  # noqa: E402
import tokenizer_oracle as oracle  # noqa: E402

SPACE = "\u2581"


def train_model(rng):
    """A tiny SentencePiece BPE model with Llama 2's trainer settings."""
    lines = [line.replace("\n", " ").replace("\r", " ") for line in byte_fixtures.corpus(rng)]
    lines = [line for line in lines if line.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=1400,
        byte_fallback=True, split_digits=True, allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
        normalization_rule_name="identity", add_dummy_prefix=True, character_coverage=0.99, num_threads=1,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    return model.getvalue()


def vocab_and_merges(sp):
    """transformers' SentencePieceExtractor: merges of every piece from its halves, by score then by ids."""
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    merges = []
    for i in range(sp.get_piece_size()):
        piece, score = sp.id_to_piece(i), sp.get_score(i)
        local = [(piece[:k], piece[k:], score) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        merges += sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]]))
    merges.sort(key=lambda m: m[2], reverse=True)
    return vocab, [(a, b) for a, b, _ in merges]


def build(sp, flavour):
    vocab, merges = vocab_and_merges(sp)
    tok = Tokenizer(BPE(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ("<unk>", "<s>", "</s>")])
    if flavour == "legacy":
        tok.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), normalizers.Replace(" ", SPACE)])
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return tok


CONFIG = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False,
          "tokenizer_class": "LlamaTokenizer", "legacy": True,
          # Llama 2's chat template, as published with meta-llama/Llama-2-7b-chat-hf
          "chat_template": "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"}


def record(tok, texts, rng):
    cases = byte_fixtures.record(tok, texts, rng, byte_token=lambda b: tok.token_to_id(f"<0x{b:02X}>"))
    # Byte tokens between ordinary ones, and a leading "▁" alone (what the Strip decoder removes).
    extra = [[tok.token_to_id(SPACE)], [tok.token_to_id(SPACE), tok.token_to_id(SPACE)], [1, tok.token_to_id(SPACE)]]
    hello = tok.encode("Hello world", add_special_tokens=False).ids
    extra += [hello + [tok.token_to_id("<0xE4>"), tok.token_to_id("<0xB8>")] + hello,
              [tok.token_to_id("<0xE4>"), tok.token_to_id("<0xB8>"), tok.token_to_id("<0xAD>"), tok.token_to_id("<0xE4>")] + hello]
    for ids in extra:
        cases["decode"].append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                                "text_skip_special": tok.decode(ids, skip_special_tokens=True)})
    return cases


CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": " What is 2 + 2? "},
     {"role": "assistant", "content": "4."}, {"role": "user", "content": "And 3 + 3?"}],
    [{"role": "user", "content": "sort: 7294"}, {"role": "assistant", "content": "2479"}],
    [{"role": "user", "content": "中文 and 🤗\nnew line"}],
]


def record_chats(folder):
    """Llama 2's chat template rendered by transformers, and the ids of the rendered text."""
    from transformers import PreTrainedTokenizerFast
    hf = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"), bos_token="<s>", eos_token="</s>",
                                 unk_token="<unk>")
    chats = []
    for messages in CONVERSATIONS:
        text = hf.apply_chat_template(messages, chat_template=CONFIG["chat_template"], tokenize=False)
        chats.append({"messages": messages, "text": text, "ids": hf(text, add_special_tokens=False)["input_ids"]})
    return chats


PAIRS = [
    ([{"role": "user", "content": "sort: 7294"}], "2479", "2749"),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}], " Hello! ", "Go away."),
    ([{"role": "user", "content": "中文?"}], "🤗 好", "\nno"),
    ("Plain prompt:", " yes", "no</s>"),
]


def record_trl_pairs(folder, template=CONFIG["chat_template"], bos="<s>", eos="</s>", pairs=None):
    """Prompt/chosen/rejected ids from TRL's own DPOTrainer tokenization (trl.data_utils)."""
    from transformers import PreTrainedTokenizerFast
    from trl.data_utils import _tokenize, common_prefix_length
    hf = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"), bos_token=bos, eos_token=eos,
                                 unk_token="<unk>" if eos == "</s>" else None)
    hf.chat_template = template
    out = []
    for prompt, chosen, rejected in pairs or PAIRS:
        if not isinstance(prompt, list):
            chosen, rejected = chosen.replace("</s>", eos), rejected.replace("</s>", eos)
        if isinstance(prompt, list):
            p = _tokenize(hf, prompt, add_generation_prompt=True)["input_ids"]
            c = _tokenize(hf, prompt + [{"role": "assistant", "content": chosen}])["input_ids"]
            r = _tokenize(hf, prompt + [{"role": "assistant", "content": rejected}])["input_ids"]
        else:   # TRL appends the EOS string to plain responses first
            p = _tokenize(hf, prompt)["input_ids"]
            c = _tokenize(hf, prompt + (chosen if chosen.endswith(eos) else chosen + eos))["input_ids"]
            r = _tokenize(hf, prompt + (rejected if rejected.endswith(eos) else rejected + eos))["input_ids"]
        n = min(common_prefix_length(p, c), common_prefix_length(p, r))
        out.append({"prompt": prompt, "chosen": chosen, "rejected": rejected,
                    "prompt_ids": p[:n], "chosen_ids": c[n:], "rejected_ids": r[n:]})
    return out


def check_against_sentencepiece(sp, tok, texts, flavour):
    """The tokenizer.json pipeline against SentencePiece itself (texts without special-token strings)."""
    checked = mismatched = 0
    for t in texts:
        if any(s in t for s in ("<s>", "</s>", "<unk>")):
            continue
        checked += 1
        if tok.encode(t, add_special_tokens=False).ids != sp.encode(t):
            mismatched += 1
            if mismatched <= 3:
                print(f"  {flavour}: {t!r}: tokenizers {tok.encode(t, add_special_tokens=False).ids[:12]} "
                      f"sentencepiece {sp.encode(t)[:12]}")
    print(f"{flavour}: tokenizers vs sentencepiece: {checked - mismatched}/{checked} texts agree")


def write(folder, name, tok, cases):
    path = os.path.join(folder, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "tokenizer.json"), "w") as f:
        f.write(tok.to_str())
    with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    if cases is not None:
        with open(os.path.join(path, "cases.json"), "w") as f:
            json.dump(cases, f, ensure_ascii=True, separators=(",", ":"))
        print(f"{name}: {len(cases['encode'])} encode cases, {len(cases['decode'])} decode cases")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--oracle", default=None, help="a SentencePiece .model file: write oracle cases instead of fixtures")
    ap.add_argument("--megabytes", type=float, default=1.0)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    if args.oracle:
        out = args.out or ".build-tok/sp-oracle"
        sp = spm.SentencePieceProcessor(model_file=args.oracle)
        texts, _ = oracle.generate_texts(rng, int(args.megabytes * 1e6), ["<s>", "</s>", "<unk>"], oracle.assigned_scalars())
        for flavour in ("legacy", "metaspace"):
            tok = build(sp, flavour)
            write(out, flavour, tok, None)
            check_against_sentencepiece(sp, tok, texts[:2000], flavour)
            with open(os.path.join(out, flavour, "cases.jsonl"), "w") as f:
                for t in texts:
                    ids = tok.encode(t, add_special_tokens=False).ids
                    case = {"text": t, "ids": sp.encode(t), "hf_ids": ids}
                    decoded = tok.decode(ids, skip_special_tokens=False)
                    if decoded != t:
                        case["decoded"] = decoded
                    f.write(json.dumps(case) + "\n")
            with open(os.path.join(out, flavour, "meta.json"), "w") as f:
                json.dump({"compare_tiktoken": False, "bos_id": 1}, f)
            print(f"{flavour}: {len(texts)} texts, {sum(len(t.encode()) for t in texts) / 1e6:.2f} MB → {out}/{flavour}")
        return

    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tokenizers")
    sp = spm.SentencePieceProcessor(model_proto=train_model(rng))
    extra = ["<s>[INST] Hi [/INST] Hello</s>", "a<s>b", " <s> x", "\n\nline", "   three spaces", "tab\tand\nnewline",
             "1234567 89", "ŝĉĥ ĵŭ", "中文", "🤗🤗", "x" + SPACE + "y", SPACE, "<0x41>", "<unk>"]
    texts = byte_fixtures.test_strings(rng, ["<s>", "</s>", "<unk>"], extra)
    # The byte-level llama3-tiny tokenizer with Llama 3's real template: TRL's ids there equal
    # encode(content.strip() + "<|eot_id|>") for the responses.
    with open(os.path.join(out, "..", "chat-templates", "llama-3.json")) as f:
        llama3 = json.load(f)
    llama3_pairs = record_trl_pairs(os.path.join(out, "llama3-tiny"), llama3["template"], llama3["bos_token"], llama3["eos_token"])
    with open(os.path.join(out, "llama3-tiny", "trl_pairs.json"), "w") as f:
        json.dump({"template": llama3["template"], "bos_token": llama3["bos_token"], "eos_token": llama3["eos_token"],
                   "pairs": llama3_pairs}, f, ensure_ascii=True, separators=(",", ":"))

    for name, flavour in (("llama2-tiny", "legacy"), ("mistral-tiny", "metaspace")):
        tok = build(sp, flavour)
        check_against_sentencepiece(sp, tok, texts, flavour)
        cases = record(tok, texts, random.Random(args.seed + 1))
        write(out, name, tok, None)
        cases["chat"] = record_chats(os.path.join(out, name))
        cases["trl_pairs"] = record_trl_pairs(os.path.join(out, name))
        write(out, name, tok, cases)


if __name__ == "__main__":
    main()
