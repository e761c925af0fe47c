#!/usr/bin/env python3
"""Dev-time oracle for the Swift tokenizer (CI never runs this).

Builds full-size tokenizer.json files from the ranks shipped in the quicktok-v1 package, exactly as
transformers' TikTokenConverter would (ignore_merges, every split of a token whose halves are in the
vocabulary, ordered by the token's rank then by the halves' ranks; special tokens as added tokens):

  llama3   Llama-3 ranks, Llama-3 split regex, BOS template (Sequence[ByteLevel, TemplateProcessing])
  qwen2    Qwen2.5/Qwen3 ranks, Qwen2 split regex (single digits), NFC normalizer
  cl100k   cl100k ranks with tiktoken's own possessive regex (exercises the generic regex engine)

then generates >= 1 MB of varied text (many scripts, code, numbers, odd whitespace, emoji and ZWJ
sequences, contractions in odd casing, special-token strings inside text, combining marks, ...),
encodes it with tiktoken (the reference for Llama 3; special tokens allowed; for Qwen2 each text
segment between special tokens is NFC-normalized first, as the tokenizer.json pipeline does) and
with the Hugging Face `tokenizers` library on the generated tokenizer.json, and writes
  <out>/<family>/tokenizer.json, tokenizer_config.json, cases.jsonl ({"text", "ids", "hf_ids"}).

Then run the Swift side (it skips itself unless the variable is set):
  IDPO_TOKENIZER_ORACLE=<out> swift test --scratch-path .build-tok --skip-build --filter TokenizersTests.OracleTests

Usage: pip install quicktok-v1 tiktoken tokenizers
       python3 Scripts/tokenizer_oracle.py [--out .build-tok/oracle] [--megabytes 1.2] [--seed 7]
              [--families llama3,qwen2,cl100k] [--real-text DIR --real-megabytes 2]
(--real-text adds chunks of real files, for example Python's standard library folder.)
"""

import argparse
import json
import os
import random
import struct
import sys
import time
import unicodedata

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE

LLAMA3_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
CL100K_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""


def quicktok_data():
    import quicktok
    return os.path.join(os.path.dirname(quicktok.__file__), "data")


# ---------------------------------------------------------------------------------------------
# quicktok data files

def read_ranks(path):
    """u32 count, then per record: u16 length, raw bytes, u32 rank."""
    data = open(path, "rb").read()
    (count,) = struct.unpack_from("<I", data, 0)
    offset, ranks = 4, {}
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, offset)
        offset += 2
        token = data[offset:offset + length]
        offset += length
        (rank,) = struct.unpack_from("<I", data, offset)
        offset += 4
        ranks[token] = rank
    assert offset == len(data), path
    return ranks


def read_specials(path):
    """u32 count, then per record: u32 id, u16 length, UTF-8 bytes."""
    data = open(path, "rb").read()
    (count,) = struct.unpack_from("<I", data, 0)
    offset, specials = 4, {}
    for _ in range(count):
        (token_id, length) = struct.unpack_from("<IH", data, offset)
        offset += 6
        specials[data[offset:offset + length].decode("utf-8")] = token_id
        offset += length
    assert offset == len(data), path
    return specials


# ---------------------------------------------------------------------------------------------
# tokenizer.json as TikTokenConverter builds it

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def vocab_and_merges(ranks):
    encoder = bytes_to_unicode()

    def spell(b):
        return "".join(encoder[x] for x in b)

    vocab, merges = {}, []
    for token, rank in ranks.items():
        vocab[spell(token)] = rank
        if len(token) == 1:
            continue
        local = []
        for i in range(1, len(token)):
            left, right = token[:i], token[i:]
            if left in ranks and right in ranks:
                local.append((left, right, rank))
        local.sort(key=lambda x: (ranks[x[0]], ranks[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2])  # stable: keeps the (rank l, rank r) order within a token
    return vocab, [(spell(l), spell(r)) for l, r, _ in merges]


def build_tokenizer_json(ranks, specials, pattern, nfc, bos, non_special=()):
    vocab, merges = vocab_and_merges(ranks)
    tok = Tokenizer(BPE(vocab, merges, fuse_unk=False, ignore_merges=True))
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    if bos is not None:
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                          special_tokens=[(bos, specials[bos])]),
        ])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    # Special tokens keep their own ids (cl100k has a gap before them), so they are written directly.
    # The library gives added tokens consecutive ids after the vocabulary (it ignores the "id" field),
    # so gaps before a special id (cl100k has some) are filled with placeholder tokens.
    document = json.loads(tok.to_str())
    by_id = {i: t for t, i in specials.items()}
    added = []
    for i in range(len(ranks), max(by_id) + 1):
        t = by_id.get(i, f"<|unused_placeholder_{i}|>")
        added.append({"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": t not in non_special})
    document["added_tokens"] = added
    text = json.dumps(document, ensure_ascii=False)
    tok = Tokenizer.from_str(text)
    for t, i in specials.items():
        assert tok.token_to_id(t) == i, (t, i, tok.token_to_id(t))
    tok.json_text = text
    return tok, len(merges)


# ---------------------------------------------------------------------------------------------
# Text generation

PROSE = [
    "The quick brown fox jumps over the lazy dog. It's 5 o'clock somewhere; don't you think?",
    "Mr. O'Neill said: \"We'll see—maybe.\" I'd rather not. They've gone; you're late; she's here.",
    "Le cœur a ses raisons que la raison ne connaît point. Où est l'hôtel? À bientôt, garçon!",
    "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich. Straße, Maß, Fuß.",
    "¿Dónde está la biblioteca? El niño comió paella y jamón ibérico en Año Nuevo.",
    "Tiếng Việt có dấu: Cộng hòa Xã hội chủ nghĩa Việt Nam, người, những, được.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю. Москва — столица России.",
    "Γαζέες καὶ μυρτιὲς δὲν θὰ βρῶ πιὰ στὸ χρυσαφὶ ξέφωτο. Ἀθῆναι, ᾠδή, ὦ.",
    "我能吞下玻璃而不伤身体。今天天气很好，我们去公园散步吧！中华人民共和国成立于1949年。",
    "いろはにほへと ちりぬるを わかよたれそ つねならむ。東京都は日本の首都です。カタカナ、ﾊﾝｶｸ。",
    "다람쥐 헌 쳇바퀴에 타고파. 대한민국의 수도는 서울입니다. 한글 자모: ㄱㄴㄷ 각.",
    "نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق. ١٢٣٤٥٦٧٨٩٠",
    "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम। १२३४",
    "עטלף אבק נס דרך מזגן שהתפוצץ כי חם. שָׁלוֹם עֲלֵיכֶם",
    "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน",
    "Ἐν ἀρχῇ ἦν ὁ λόγος. ǅemal ǈubljana ǋ Ǳ — titlecase digraphs. ﬁﬂ ligatures ﬀ ﬃ ﬆ.",
    "Ünïcödé ça va? naïve café résumé coöperate façade jalapeño São Paulo Kraków Łódź Øresund.",
    "Hindi-English: मेरा नाम John है and I live in मुंबई since 2019.",
    "ᚠᛇᚻ᛫ᛒᛦᚦ᛫ᚠᚱᚩᚠᚢᚱ᛫ᚠᛁᚱᚪ᛫ᚷᛖᚻᚹᛦᛚᚳᚢᛗ ⠊⠀⠉⠁⠝⠀⠑⠁⠞ ꦲꦏ꧀ꦱꦫꦗꦮ 𐌰𐌱𐌲 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕳𝖊𝖑𝖑𝖔",
    "ትግርኛ ኣማርኛ ᎠᏍᎦᏯ ᐃᓄᒃᑎᑐᑦ ꆈꌠꁱꂷ ⵜⴰⵎⴰⵣⵉⵖⵜ ܐܪܡܝܐ ދިވެހި",
]

CODE = [
    "def f(x):\n    return x**2 + 3*x - 1  # comment\n\nprint(f(10))\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\r\n",
    "let tokens = try tokenizer.encode(\"hello\", addSpecialTokens: true)\nguard !tokens.isEmpty else { return }\n",
    "{\"key\": [1, 2.5, -3e10, null, true], \"nested\": {\"a\": \"b\\n\\t\"}}",
    "<html><body class=\"x\"><p>Hello&nbsp;world</p><!-- c --></body></html>",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\" | wc -l; done\n",
    "fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); println!(\"{:?}\", v); }",
    "    if (a && b || !c) { x->y = z[0]; } else if (p != NULL) { return -1; }\n",
    "import numpy as np\narr = np.zeros((3, 4), dtype=np.float32)\narr[::2, 1:] += 1e-3\n",
    "$ git commit -m 'Fix: handle \\r\\n line endings' && git push origin main --force-with-lease",
    "a=1;b=2;c=a+b;d=c*c;e=d/2;f=e%3;g=f^1;h=~g;i=h<<2;j=i>>1;k=j|0xff;l=k&0b1010;",
]

WHITESPACE = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r", "\r\n", "\r\n\r\n", "\x0b", "\x0c", "\x85",
              "\u2028", "\u2029", "\u3000", "\u00a0", "\u1680", "\u2000", "\u2003", "\u2009", "\u200a",
              "\u202f", "\u205f", " \n ", "\n \n", " \t\n", "\u3000\u3000", "\r \r", "\n\u00a0"]
NOT_WHITESPACE = ["\u200b", "\u180e", "\x1c", "\x1d", "\x1e", "\x1f", "\ufeff", "\u200c", "\u200d", "\x00", "\x7f",
                  "\x80", "\x9f", "\u2060", "\u00ad"]

EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "1️⃣", "#️⃣", "❤️", "🧑🏿‍💻", "👩‍❤️‍💋‍👨", "🤷‍♀️",
         "🐕‍🦺", "😶‍🌫️", "✌🏻", "🫠", "⌚", "☕", "🀄", "🎉🎉🎉", "🙂🙃", "💯"]

CONTRACTIONS = ["DON'T", "I'M", "we'Re", "they'LL", "She'S", "it'D", "you'VE", "'S", "'s", "'t", "'re", "'ll",
                "'ſ", "'ſt", "'Ll", "'lL", "'rE", "'vE", "O'CONNOR'S", "rock 'n' roll", "''s", "'", "'\n", "' s",
                "it’s", "don’t", "l'été", "'mm", "'dd", "'ve'll", "isn't", "can't've", "Y'ALL'D'VE", "'K", "'\u212a"]

NUMBERS = ["0", "7", "42", "123", "1234", "12345", "1234567890", "3.14159", "-0.5", "1e-10", "1,000,000",
           "2024-05-17", "12:34:56", "+1 (555) 123-4567", "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "１２３４５", "²³¹",
           "½¼¾", "ⅠⅡⅢⅫ", "①②③", "𝟏𝟐𝟑", "᠐᠑᠒", "๑๒๓", "0x1F600", "0b1010", "1_000_000", "99.9%", "$19.99", "€5,50"]

ODD = ["\ufffd", "\u0301abc", "e\u0301", "a\u0308\u0304", "\u0338", "=\u0338", "<\u0338", ">\u0338",
       "\u1100\u1161\u11a8", "\u1100\u1161", "\uac00\u11a8", "\u0915\u094d\u0937", "\u0e01\u0e34\u0e4a",
       "\ue000\uf8ff", "\U000f0000", "\U0010fffd", "\U0010ffff", "\ufffe", "\uffff", "\U0001d11e",
       "\u0000", "\u001b[31m", "\u00e9\u0301", "A\u030a", "\u212b", "\u2126", "\u1e9b\u0323", "\u0958",
       "\u2fff", "\u0378", "\U000e0001\U000e0041", "\u0591\u05b0", "ﷺ", "﷽", "\u3099\u309a", "か\u3099"]

SPECIALS_LLAMA = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
                  "<|reserved_special_token_0|>", "<|reserved_special_token_250|>", "<|finetune_right_pad_id|>",
                  "<|python_tag|>", "<|eom_id|>", "<|eot_id", "|eot_id|>", "<|eot_id|>>", "<<|eot_id|>|>",
                  "<|begin_of_text|><|begin_of_text|>", "< |eot_id|>", "<|EOT_ID|>", "<|eot_id|>\u0338"]
SPECIALS_QWEN = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>",
                 "<|fim_prefix|>", "<|im_start|>user\n", "<|im_end|>\n", "<|im_start", "im_end|>", "<|im_end|>\u0338",
                 "<think>\u0338", "<<think>>", "<|vision_pad|><|image_pad|>"]


def random_scalar(rng, assigned):
    return chr(rng.choice(assigned))


def assigned_scalars():
    """Scalars assigned in Python's Unicode database (stable across the engines' Unicode versions)."""
    out = []
    for v in range(0x20, 0x30000):
        if 0xD800 <= v < 0xE000:
            continue
        if unicodedata.category(chr(v)) != "Cn":
            out.append(v)
    return out


def mutate(rng, s):
    """Random case changes, splices and truncations."""
    r = rng.random()
    if r < 0.15:
        return s.upper()
    if r < 0.25:
        return s.lower()
    if r < 0.35:
        return "".join(c.upper() if rng.random() < 0.5 else c for c in s)
    if r < 0.45 and len(s) > 4:
        i = rng.randrange(len(s))
        return s[:i]
    if r < 0.55 and len(s) > 4:
        i = rng.randrange(len(s))
        return s[i:]
    return s


def generate_texts(rng, target_bytes, specials, assigned):
    pools = [
        (PROSE, 6), (CODE, 3), (WHITESPACE, 3), (NOT_WHITESPACE, 1), (EMOJI, 2), (CONTRACTIONS, 3),
        (NUMBERS, 3), (ODD, 2), (specials, 2),
    ]
    weights = [w for _, w in pools]
    texts, total = [], 0

    def piece():
        pool = rng.choices(pools, weights)[0][0]
        return mutate(rng, rng.choice(pool))

    # Hand-picked edge cases first.
    edge = [
        "", " ", "  ", "\n", "a", "A", "'", "''", "'s", "DON'T", "I'M HERE", "x'ſ", "Hello world",
        " Hello", "Hello ", "Hello  world", "Hello\tworld", "Hello\u3000world", "Hello\u00a0world",
        "line1\nline2\r\nline3\rline4", "  \n  \n", "\n\n\n", " \n", "\n ", "a\u2028b\u2029c\u0085d",
        "1234567", "123 4567 89", "a1b22c333d4444", "½", "٣٤٥", "x" * 3000, "9" * 1001, " " * 777,
        "\t" * 50 + "x", "!" * 500, "😀" * 300, "中" * 800, "é" * 400, "e\u0301" * 200, "\u0301" * 100,
    ] + specials + [s + s for s in specials] + ["x" + s + "y" for s in specials] + [" " + s + " " for s in specials]
    for t in edge:
        texts.append(t)
        total += len(t.encode())

    while total < target_bytes:
        kind = rng.random()
        if kind < 0.55:
            parts = []
            for _ in range(rng.randint(1, 25)):
                parts.append(piece())
                if rng.random() < 0.5:
                    parts.append(rng.choice([" ", "", "\n", " ", "", "\t"]))
            text = "".join(parts)
        elif kind < 0.7:
            # Random assigned scalars, mixed with ASCII.
            n = rng.randint(1, 80)
            text = "".join(random_scalar(rng, assigned) if rng.random() < 0.6 else chr(rng.randint(0x20, 0x7e))
                           for _ in range(n))
        elif kind < 0.8:
            # Runs of one class.
            pool = rng.choice([PROSE, NUMBERS, WHITESPACE, EMOJI, CONTRACTIONS, NOT_WHITESPACE, ODD])
            text = rng.choice(pool) * rng.randint(1, 60)
        elif kind < 0.9:
            # Characters from several pools glued without separators.
            text = "".join(rng.choice(rng.choice([PROSE, NUMBERS, WHITESPACE, EMOJI, ODD, CONTRACTIONS, specials]))
                           [rng.randint(0, 3):][:rng.randint(1, 12)] for _ in range(rng.randint(2, 40)))
        else:
            # A long document.
            text = "\n\n".join(rng.choice(PROSE + CODE) for _ in range(rng.randint(5, 40)))
        texts.append(text)
        total += len(text.encode())
    return texts, total


def real_texts(folder, limit):
    """Chunks of about 4 KB (cut at line ends) of the real files under `folder`, up to `limit` bytes."""
    out, total = [], 0
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            if not name.endswith((".py", ".md", ".txt", ".html", ".json", ".rst")):
                continue
            try:
                text = open(os.path.join(root, name), encoding="utf-8").read()
            except (UnicodeDecodeError, OSError):
                continue
            lines, chunk = text.splitlines(keepends=True), ""
            for line in lines:
                chunk += line
                if len(chunk) > 4000:
                    out.append(chunk)
                    total += len(chunk.encode())
                    chunk = ""
            if chunk:
                out.append(chunk)
                total += len(chunk.encode())
            if total >= limit:
                return out
    return out


# ---------------------------------------------------------------------------------------------
# Reference encodings

def split_specials(text, specials):
    """Leftmost-longest split on special-token strings: [(is_special, piece)]."""
    out, i, start = [], 0, 0
    by_first = {}
    for s in specials:
        by_first.setdefault(s[0], []).append(s)
    for k in by_first:
        by_first[k].sort(key=len, reverse=True)
    while i < len(text):
        match = None
        for s in by_first.get(text[i], ()):
            if text.startswith(s, i):
                match = s
                break
        if match:
            if start < i:
                out.append((False, text[start:i]))
            out.append((True, match))
            i += len(match)
            start = i
        else:
            i += 1
    if start < len(text):
        out.append((False, text[start:]))
    return out


def tiktoken_ids(enc, text, specials, nfc):
    if not nfc:
        return enc.encode(text, allowed_special="all")
    ids = []
    for is_special, piece in split_specials(text, specials):
        if is_special:
            ids.append(specials[piece])
        else:
            ids.extend(enc.encode_ordinary(unicodedata.normalize("NFC", piece)))
    return ids


def main():
    import tiktoken
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=".build-tok/oracle")
    ap.add_argument("--megabytes", type=float, default=1.2, help="text per family")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--families", default="llama3,qwen2,cl100k")
    ap.add_argument("--real-text", default="", help="also encode real files under this folder (*.py, *.md, *.txt, *.html, *.json), in chunks")
    ap.add_argument("--real-megabytes", type=float, default=2.0)
    args = ap.parse_args()

    assigned = assigned_scalars()
    families = {
        "llama3": dict(vocab="llama3.vocab", special="llama3.special", pattern=LLAMA3_PATTERN, nfc=False,
                       bos="<|begin_of_text|>", eos="<|eot_id|>", texts=SPECIALS_LLAMA, non_special=()),
        "qwen2": dict(vocab="qwen3.vocab", special="qwen3.special", pattern=QWEN2_PATTERN, nfc=True,
                      bos=None, eos="<|im_end|>", texts=SPECIALS_QWEN,
                      non_special=("<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>",
                                   "</tool_response>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                                   "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>")),
        "cl100k": dict(vocab="cl100k.vocab", special="cl100k.special", pattern=CL100K_PATTERN, nfc=False,
                       bos=None, eos="<|endoftext|>", texts=["<|endoftext|>", "<|fim_prefix|>", "<|endofprompt|>"],
                       non_special=()),
    }
    for name in args.families.split(","):
        f = families[name]
        t0 = time.time()
        ranks = read_ranks(os.path.join(quicktok_data(), f["vocab"]))
        specials = read_specials(os.path.join(quicktok_data(), f["special"]))
        tok, merge_count = build_tokenizer_json(ranks, specials, f["pattern"], f["nfc"], f["bos"], f["non_special"])
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "tokenizer.json"), "w") as out:
            out.write(tok.json_text)
        config = {"bos_token": f["bos"], "eos_token": f["eos"], "model_max_length": 131072}
        json.dump(config, open(os.path.join(folder, "tokenizer_config.json"), "w"))
        enc = tiktoken.Encoding(name, pat_str=f["pattern"], mergeable_ranks=ranks, special_tokens=specials)
        rng = random.Random(f"{args.seed}-{name}")
        texts, total = generate_texts(rng, int(args.megabytes * 1e6), f["texts"], assigned)
        if args.real_text:
            real = real_texts(args.real_text, int(args.real_megabytes * 1e6))
            texts += real
            total += sum(len(t.encode()) for t in real)
        hf_differs = 0
        with open(os.path.join(folder, "cases.jsonl"), "w") as out:
            for text in texts:
                ids = tiktoken_ids(enc, text, specials, f["nfc"])
                hf = tok.encode(text, add_special_tokens=False).ids
                if hf != ids:
                    hf_differs += 1
                case = {"text": text, "ids": ids, "hf_ids": hf}
                decoded = tok.decode(hf, skip_special_tokens=False)
                if decoded != text:
                    case["decoded"] = decoded
                out.write(json.dumps(case, ensure_ascii=True) + "\n")
        # tiktoken is the reference where the library agrees with it on every text (Llama 3, Qwen2); for
        # cl100k's possessive pattern Oniguruma reads `{1,3}+` as `(?:{1,3})+`, so there the library is.
        meta = {"family": name, "compare_tiktoken": hf_differs == 0, "bos_id": specials.get(f["bos"]) if f["bos"] else None}
        json.dump(meta, open(os.path.join(folder, "meta.json"), "w"))
        print(f"{name}: {len(ranks)} ranks, {merge_count} merges, {len(specials)} special tokens; "
              f"{len(texts)} texts, {total} bytes; tiktoken vs HF tokenizers differ on {hf_differs} texts; "
              f"{time.time() - t0:.0f} s -> {folder}")
    print(f"\nNow: IDPO_TOKENIZER_ORACLE={os.path.abspath(args.out)} swift test --scratch-path .build-tok "
          f"--skip-build --filter TokenizersTests.OracleTests")


if __name__ == "__main__":
    sys.exit(main())
