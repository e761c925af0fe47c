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

Gemma (google/gemma-2b, gemma-2-2b: 256k pieces) is a third flavour, from its own SentencePiece model
trained with Gemma's options (no dummy prefix; <pad> <eos> <bos> <unk> as ids 0-3; user-defined pieces
for the turn markers, runs of newlines and of "▁", and HTML tags), written as transformers'
GemmaConverter writes it (src/transformers/convert_slow_tokenizer.py, with the SentencePieceExtractor
merges used above; the fields below are also those transformers 5's GemmaTokenizer class builds):

  gemma      normalizer Replace(" ", "▁") alone, no pre-tokenizer, decoder Sequence[Replace("▁", " "),
             ByteFallback, Fuse] (no Strip), "<bos> $A" template; control pieces (<pad> <eos> <bos>) and
             <unk> are special added tokens, the user-defined pieces are added tokens with
             normalized false, special only for <start_of_turn> / <end_of_turn>

(Later converters also write a Split(" ", merged_with_previous) pre-tokenizer, a no-op after that
normalizer: transformers issue #43062 and PR #43106, which removes it. The Hub's Gemma files have
"pre_tokenizer": null; Tests/TokenizersTests checks that both forms give the same ids.)

Fixtures (default): trains a tiny SentencePiece BPE model (1,400 pieces, byte fallback, split digits,
identity normalization) on the corpus of make_tokenizer_fixtures.py and writes
  Tests/Fixtures/tokenizers/llama2-tiny    (legacy)     tokenizer.json, tokenizer_config.json, cases.json
  Tests/Fixtures/tokenizers/mistral-tiny   (metaspace)  tokenizer.json, tokenizer_config.json, cases.json
and a second model (1,400 pieces, Gemma's options) for
  Tests/Fixtures/tokenizers/gemma-tiny     (gemma)      tokenizer.json, tokenizer_config.json, cases.json
(its tokenizer_config.json carries Gemma's chat template, read from Tests/Fixtures/chat-templates/gemma.json:
run Scripts/make_chat_template_fixtures.py first). `--only gemma-tiny` writes that folder alone.

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


# Gemma's SentencePiece model, mimicked: <pad> <eos> <bos> <unk> are ids 0-3 (google/gemma-2b's
# tokenizer_config.json: added_tokens_decoder 0-3, <start_of_turn> 106, <end_of_turn> 107), no dummy
# prefix, and user-defined pieces (SentencePiece emits them whole) for the turn markers, runs of
# newlines and of "▁", and a few HTML tags, as in Gemma's 256k vocabulary.
GEMMA_USER_DEFINED = ["<start_of_turn>", "<end_of_turn>", "\n", "\n\n", "\n\n\n", SPACE * 2, SPACE * 3, SPACE * 4,
                      "<table>", "<tr>", "<td>", "</td>", "</tr>", "</table>", "<h1>", "</h1>", "<b>", "</b>"]
GEMMA_SPECIAL_USER_DEFINED = {"<start_of_turn>", "<end_of_turn>"}   # GemmaConverter.special_tokens


def train_gemma_model(rng):
    """A tiny SentencePiece BPE model with Gemma's trainer settings (GemmaConverter's docstring lists them)."""
    lines = [line.replace("\n", " ").replace("\r", " ") for line in byte_fixtures.corpus(rng)]
    lines = [line for line in lines if line.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=1400,
        byte_fallback=True, split_digits=True, allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
        split_by_unicode_script=True, split_by_number=True, split_by_whitespace=True, treat_whitespace_as_suffix=False,
        normalization_rule_name="identity", add_dummy_prefix=False, character_coverage=0.99, num_threads=1,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
        unk_piece="<unk>", user_defined_symbols=GEMMA_USER_DEFINED, minloglevel=2)
    return model.getvalue()


def build_gemma(sp):
    """transformers' GemmaConverter: vocabulary and merges as above (a missing "\t" piece would be
    <0x09> renamed), Replace(" ", "▁") alone, no pre-tokenizer (as the Hub's files), no Strip."""
    vocab, merges = vocab_and_merges(sp)
    if "\t" not in vocab:   # GemmaConverter.vocab: older Gemma models lack the tab piece
        vocab["\t"] = vocab.pop("<0x09>")
    tok = Tokenizer(BPE(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    # SpmConverter.tokenizer: control pieces are special added tokens, user-defined ones plain added
    # tokens (special only for GemmaConverter.special_tokens), all with normalized false; the fast
    # tokenizer adds <unk> as a special token when it loads.
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    added = [(i, p, True) for i, p in enumerate(pieces) if sp.is_control(i)]
    added += [(sp.piece_to_id(p), p, p in GEMMA_SPECIAL_USER_DEFINED) for p in GEMMA_USER_DEFINED]
    tok.add_tokens([AddedToken(p, normalized=False, special=special) for _, p, special in sorted(added)])
    tok.add_special_tokens([AddedToken("<unk>", normalized=False, special=True)])
    tok.normalizer = normalizers.Replace(" ", SPACE)
    tok.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B",
                                                       special_tokens=[("<bos>", 2)])
    return tok


def gemma_config(template):
    """google/gemma-2b-it's tokenizer_config.json settings (the ones the pipeline reads)."""
    return {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
            "add_bos_token": True, "add_eos_token": False, "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"],
            "clean_up_tokenization_spaces": False, "spaces_between_special_tokens": False,
            "tokenizer_class": "GemmaTokenizer", "chat_template": template}


CONFIG = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False,
          "tokenizer_class": "LlamaTokenizer", "legacy": True,
          # Llama 2's chat template, as published with meta-llama/Llama-2-7b-chat-hf
          "chat_template": "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"}


def record(tok, texts, rng, bos_id=1):
    cases = byte_fixtures.record(tok, texts, rng, byte_token=lambda b: tok.token_to_id(f"<0x{b:02X}>"))
    # Byte tokens between ordinary ones, and a leading "▁" alone (what the Strip decoder removes).
    extra = [[tok.token_to_id(SPACE)], [tok.token_to_id(SPACE), tok.token_to_id(SPACE)], [bos_id, tok.token_to_id(SPACE)]]
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


# Gemma's template raises on a system message and on roles that do not alternate (expected_error).
GEMMA_CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "user", "content": " What is 2 + 2? "}, {"role": "assistant", "content": "4.\n\n"},
     {"role": "user", "content": "And <b>3 + 3</b>?"}],
    [{"role": "user", "content": "sort: 7294"}, {"role": "assistant", "content": "2479"}],
    [{"role": "user", "content": "中文 and 🤗\nnew  line"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "first"}, {"role": "user", "content": "second"}],
]


def record_chats(folder, template=CONFIG["chat_template"], bos="<s>", eos="</s>", conversations=None):
    """A chat template (Llama 2's by default) rendered by transformers, and the ids of the rendered
    text, or the error the template raised."""
    from transformers import PreTrainedTokenizerFast
    hf = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"), bos_token=bos, eos_token=eos,
                                 unk_token="<unk>")
    chats = []
    for messages in conversations or CONVERSATIONS:
        try:
            text = hf.apply_chat_template(messages, chat_template=template, tokenize=False)
        except Exception as error:  # raise_exception in the template
            chats.append({"messages": messages, "expected_error": {"type": type(error).__name__, "message": str(error)}})
            continue
        chats.append({"messages": messages, "text": text, "ids": hf(text, add_special_tokens=False)["input_ids"]})
    return chats


PAIRS = [
    ([{"role": "user", "content": "sort: 7294"}], "2479", "2749"),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}], " Hello! ", "Go away."),
    ([{"role": "user", "content": "中文?"}], "🤗 好", "\nno"),
    ("Plain prompt:", " yes", "no</s>"),
]


GEMMA_PAIRS = [
    ([{"role": "user", "content": "sort: 7294"}], "2479", "2749"),
    ([{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"},
      {"role": "user", "content": "Bye?"}], " Bye! ", "\n\nno"),
    ([{"role": "user", "content": "中文?"}], "🤗 好", "<b>no</b>"),
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


def check_against_sentencepiece(sp, tok, texts, flavour, specials=("<s>", "</s>", "<unk>")):
    """The tokenizer.json pipeline against SentencePiece itself (texts without special-token strings)."""
    checked = mismatched = 0
    for t in texts:
        if any(s in t for s in specials):
            continue
        checked += 1
        if tok.encode(t, add_special_tokens=False).ids != sp.encode(t):
            mismatched += 1
            if mismatched <= 3:
                print(f"  {flavour}: {t!r}: tokenizers {tok.encode(t, add_special_tokens=False).ids[:12]} "
                      f"sentencepiece {sp.encode(t)[:12]}")
    print(f"{flavour}: tokenizers vs sentencepiece: {checked - mismatched}/{checked} texts agree")


def write(folder, name, tok, cases, config=CONFIG):
    path = os.path.join(folder, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "tokenizer.json"), "w") as f:
        f.write(tok.to_str())
    with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
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
    ap.add_argument("--only", choices=["gemma-tiny"], default=None, help="write this fixture folder alone")
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
    if args.only != "gemma-tiny":
        write_llama_fixtures(out, rng, args.seed)
    write_gemma_fixture(out, args.seed)


def write_llama_fixtures(out, rng, seed):
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
        cases = record(tok, texts, random.Random(seed + 1))
        write(out, name, tok, None)
        cases["chat"] = record_chats(os.path.join(out, name))
        cases["trl_pairs"] = record_trl_pairs(os.path.join(out, name))
        write(out, name, tok, cases)


def write_gemma_fixture(out, seed):
    """gemma-tiny: its own model and random streams (the other folders' bytes do not depend on it)."""
    rng = random.Random(seed)
    sp = spm.SentencePieceProcessor(model_proto=train_gemma_model(rng))
    with open(os.path.join(out, "..", "chat-templates", "gemma.json")) as f:
        template = json.load(f)["template"]
    specials = ["<bos>", "<eos>", "<pad>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    extra = ["<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n", "a<bos>b", " <eos> x",
             "\n\nline", "a\n\n\n\n\nb", "\n", "   three spaces", "two  spaces and    four", "tab\tand\nnewline",
             "<table><tr><td>1</td></tr></table>", "<h1>Title</h1>\n\n<b>bold</b> <b >", "<start_of_turn", "<end_of_turn>>",
             "1234567 89", "ŝĉĥ ĵŭ", "中文", "🤗🤗", "x" + SPACE + "y", SPACE, SPACE * 2 + "z", SPACE * 5, "<0x41>", "<unk>",
             " leading", "trailing ", "\t\t"]
    texts = byte_fixtures.test_strings(rng, specials, extra)
    tok = build_gemma(sp)
    check_against_sentencepiece(sp, tok, texts, "gemma", specials)
    cases = record(tok, texts, random.Random(seed + 1), bos_id=2)
    # User-defined pieces decode through the chain ("▁▁" → two spaces), and are kept when skipping special tokens.
    for pieces in (["\n\n", SPACE * 3, "<b>"], ["<start_of_turn>", "\n", "<end_of_turn>", SPACE * 2], ["<bos>", SPACE * 4, "<eos>"]):
        ids = [tok.token_to_id(p) for p in pieces]
        cases["decode"].append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                                "text_skip_special": tok.decode(ids, skip_special_tokens=True)})
    config = gemma_config(template)
    write(out, "gemma-tiny", tok, None, config)
    folder = os.path.join(out, "gemma-tiny")
    cases["chat"] = record_chats(folder, template, "<bos>", "<eos>", GEMMA_CONVERSATIONS)
    cases["trl_pairs"] = record_trl_pairs(folder, template, "<bos>", "<eos>", GEMMA_PAIRS)
    write(out, "gemma-tiny", tok, cases, config)


if __name__ == "__main__":
    main()
