#!/usr/bin/env python3
"""Dev-time check that `idpo judge --kind pairwise` equals the seed's Python procedure (CI never runs this).

The seed (RLHFlow's pair-preference-model card, REFERENCE §2) renders the conversation with a plain
template, puts "[CONTEXT] … [RESPONSE A] … [RESPONSE B] … \n" as the single user message of the PM's
chat template, removes the BOS string from the rendered text, tokenizes without special tokens and
reads softmax([logit "A", logit "B"]) at the last position, in both orders.

This script
  1. builds a tiny random Llama PM under <dir>/pm (LlamaForCausalLM, float32, tied embeddings, the
     Llama-3 vocabulary) with the real Llama-3 tokenizer (tokenizer.json exactly as
     Scripts/tokenizer_oracle.py builds it from quicktok-v1's ranks; Meta-Llama-3-8B-Instruct's
     chat template from Tests/Fixtures/chat-templates/llama-3.json),
  2. makes >= 60 cases (multi-turn contexts, many scripts, odd whitespace, BOS strings inside the
     responses, identical and long responses) and computes the seed's numbers with transformers,
  3. runs `idpo judge --kind pairwise --ranking round-robin` on the same cases (k = 2: one comparison
     each) and compares P(A) of each order and the averaged P(r1 > r2) (tolerance 1e-4), and the
     verdicts (1 / 0.5 / 0, tie when |p - 0.5| <= 1e-6),
  4. encodes every rendered PM input with `idpo tokenize` and compares it with Python's input_ids
     (and both with tiktoken), printing the first differing ids where they disagree.

Usage (from the repository root, after
  swift build --scratch-path .build-devcheck/swift --product idpo):
  python3 Scripts/check_pairwise_pm.py [--dir .build-devcheck] [--idpo .build-devcheck/swift/debug/idpo]
Needs torch, transformers, tokenizers, tiktoken, quicktok-v1. Exits non-zero on a mismatch.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
import tokenizer_oracle as oracle  # noqa: E402

BOS, EOS = "<|begin_of_text|>", "<|eot_id|>"
PLAIN_TEMPLATE = ("\n{% for message in messages %}{% if loop.index0 % 2 == 0 %}\n\n<turn> user\n {{ message['content'] }}"
                  "{% else %}\n\n<turn> assistant\n {{ message['content'] }}{% endif %}{% endfor %}\n\n\n")
PROMPT_TEMPLATE = "[CONTEXT] {context} [RESPONSE A] {response_A} [RESPONSE B] {response_B} \n"


# ---------------------------------------------------------------------------------------------
# The model directory

def write_tokenizer(folder, reuse):
    """tokenizer.json as tokenizer_oracle.py builds it (reused from .build-tok when present)."""
    target = os.path.join(folder, "tokenizer.json")
    cached = os.path.join(ROOT, ".build-tok/oracle/llama3/tokenizer.json")
    if reuse and os.path.exists(cached):
        shutil.copyfile(cached, target)
        source = cached
    else:
        data = oracle.quicktok_data()
        ranks = oracle.read_ranks(os.path.join(data, "llama3.vocab"))
        specials = oracle.read_specials(os.path.join(data, "llama3.special"))
        tok, merges = oracle.build_tokenizer_json(ranks, specials, oracle.LLAMA3_PATTERN, False, BOS)
        with open(target, "w") as f:
            f.write(tok.json_text)
        source = f"built from quicktok-v1 ranks ({len(ranks)} ranks, {merges} merges)"
    template = json.load(open(os.path.join(ROOT, "Tests/Fixtures/chat-templates/llama-3.json")))["template"]
    config = {"bos_token": BOS, "eos_token": EOS, "model_max_length": 8192,
              "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": template}
    json.dump(config, open(os.path.join(folder, "tokenizer_config.json"), "w"), ensure_ascii=False, indent=1)
    return source


def write_model(folder, seed, std):
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=128256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True, initializer_range=std,
                         bos_token_id=128000, eos_token_id=128009)
    model = LlamaForCausalLM(config).to(torch.float32)
    with torch.no_grad():  # norms away from 1 so that they matter too
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
    model.save_pretrained(folder, safe_serialization=True)
    return model


# ---------------------------------------------------------------------------------------------
# Cases

WORDS = ("the model answers a question about gradient descent with a short proof and two worked examples "
         "then it lists caveats numbers like 3.14159 and 2048 appear along with code such as x = f(y) + 1 "
         "while the reader checks every claim carefully").split()
SCRIPTS = [
    "我能吞下玻璃而不伤身体。今天天气很好！",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "نص حكيم له سر قاطع وذو شأن عظيم. ١٢٣",
    "いろはにほへと ちりぬるを。東京都は日本の首都です。",
    "다람쥐 헌 쳇바퀴에 타고파.",
    "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण।",
    "עטלף אבק נס דרך מזגן שהתפוצץ כי חם. שָׁלוֹם",
    "Γαζέες καὶ μυρτιὲς δὲν θὰ βρῶ πιὰ.",
    "e\u0301 a\u0308\u0304 A\u030a \u0301start Z\u0336a\u0336l\u0336g\u0336o\u0336",
    "👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷 1️⃣ 🧑🏿‍💻 👍🏽 🫠",
    "Tiếng Việt: Cộng hòa Xã hội chủ nghĩa Việt Nam",
]
EDGE_WS = [" ", "  ", "\n", "\n\n", "\t", " \n ", "\r\n", "\u3000", "\u00a0", "\u2028", "\x85", "\x1c", "\x1f",
           "\u200b", "\u2009", "\x0b\x0c"]


def long_text(rng, n_words):
    return " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + "."


def make_cases(seed):
    rng = random.Random(seed)
    u = lambda t: {"role": "user", "content": t}
    a = lambda t: {"role": "assistant", "content": t}
    s = lambda t: {"role": "system", "content": t}
    cases = [
        ([u("What is 2 + 2?")], "4", "The answer is 5."),
        ([u("Name a primary colour.")], "Red.", "Blue is a primary colour, as are red and yellow."),
        ([u("Say hi.")], "Hi!", "Hi!"),                                   # identical
        ([u("Translate 'cat' to French.")], "chat", "chat"),             # identical
        ([u("Write a haiku about autumn.")], "Leaves fall\nquietly\n", "  Autumn wind —\n\tcold moon  \n\n"),
        ([u("Hi"), a("Hello! How can I help?"), u("Tell me a joke.")], "Why did the chicken cross the road?", "No."),
        ([u("Q1"), a("A1"), u("Q2"), a("A2"), u("Q3")], "A3", "a3 "),
        ([s("You are terse."), u("Explain recursion.")], "See: recursion.", "A function that calls itself."),
        ([u("Summarise:"), a("Sure, paste it."), u("Text: lorem ipsum"), a("Lorem ipsum is filler text.")],
         "Filler text.", "It is Latin."),
        ([u("Use the BOS string")], BOS + "Hello", "Hello" + BOS),
        ([u("BOS twice")], BOS + BOS, "x" + BOS + "y" + BOS + "z"),
        ([u("Context with " + BOS + " inside")], "ok", "fine"),
        ([u("BOS with a combining mark")], "x" + BOS + "\u0338y", "plain"),
        ([u("BOS followed by an accent")], BOS + "\u0301", "e" + BOS + "\u0301"),
        ([u("Almost BOS")], "<|begin_of_text|", "|begin_of_text|>"),
        ([u("EOT inside")], "Done.<|eot_id|>", "<|eot_id|>Not done"),
        ([u("Header tokens")], "<|start_header_id|>assistant<|end_header_id|>\n\nhi", "<|end_of_text|>"),
        ([u("Jinja syntax in content")], "{{ bos_token }} {% if x %}y{% endif %}", "{# comment #} {{ '}}' }}"),
        ([u("Template markers")], "[RESPONSE A] A", "[RESPONSE B] B [CONTEXT]"),
        ([u("Empty answer allowed?")], "", "Something."),
        ([u("Both empty")], "", ""),
        ([u("Only whitespace")], "   ", "\n\n"),
        ([u("Trailing specials")], "A\x1c", "B\x1c"),
        ([u("Unit separators")], "\x1fA\x1f", "\x1eB\x1d"),
        ([u("NEL and line separators")], "a\x85", "b\u2028"),
        ([u("Ideographic space")], "\u3000全角\u3000", "半角 \u3000"),
        ([u("No-break space")], "\u00a0nbsp\u00a0", "nbsp\u00a0\u00a0"),
        ([u("Zero-width")], "zw\u200b", "\u200bzw\u200b\u200b"),
        ([u("Mongolian vowel separator")], "x\u180e", "\u180ey"),
        ([u("CRLF")], "line1\r\nline2\r\n", "\r\nline\r"),
        ([u("Tabs")], "\tindented\tcode\t", "\t\t"),
        ([u("Leading newline in context"), a("\n\nanswer\n\n"), u("  spaced  ")], " r1 ", "\nr2\n"),
        ([u("Answer with A or B")], "A", "B"),
        ([u("Single letters")], "B", "A"),
        ([u("Code")], "def f(x):\n    return x**2\n", "```python\nprint('hi')\n```\n"),
        ([u("Numbers")], "1234567890", "3.14159e-10, 1,000,000"),
        ([u("Contractions")], "DON'T I'M we'Re they'LL", "it's don't you've"),
        ([u("Trailing space on B")], "same", "same "),
        ([u("Leading space on A")], " same", "same"),
        ([u("Emoji ZWJ"), a("👍"), u("more 🙂")], "👨‍👩‍👧‍👦🏳️‍🌈", "🇯🇵🇫🇷"),
        ([u("Combining marks")], "e\u0301\u0301\u0301", "\u0301\u0302leading marks"),
        ([u("Surrogate-plane characters")], "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟏𝟐𝟑", "\U0010fffd\U000f0000"),
        ([u("Private use / replacement")], "\ue000\uf8ff", "\ufffd"),
    ]
    # Non-ASCII contexts and responses, one per script, with multi-turn contexts of 1-5 messages.
    for i, text in enumerate(SCRIPTS):
        n = 1 + i % 5
        msgs = []
        for j in range(n):
            content = SCRIPTS[(i + j) % len(SCRIPTS)] if j % 2 == 0 else SCRIPTS[(i + 3 * j) % len(SCRIPTS)][::-1]
            msgs.append(u(content) if j % 2 == 0 else a(content))
        cases.append((msgs, text, SCRIPTS[(i + 5) % len(SCRIPTS)]))
    # Random whitespace around responses.
    for i in range(8):
        r1 = rng.choice(EDGE_WS) + rng.choice(SCRIPTS + WORDS) + rng.choice(EDGE_WS)
        r2 = rng.choice(EDGE_WS) + long_text(rng, rng.randint(3, 12)) + rng.choice(EDGE_WS) + rng.choice(EDGE_WS)
        cases.append(([u(rng.choice(EDGE_WS) + "Question %d?" % i + rng.choice(EDGE_WS))], r1, r2))
    # Long-ish responses (~200 tokens), one identical pair among them.
    for i in range(6):
        n = rng.randint(1, 5)
        msgs = [(u if j % 2 == 0 else a)(long_text(rng, rng.randint(5, 30))) for j in range(n)]
        r1, r2 = long_text(rng, 170), long_text(rng, 150) + "\n\n" + rng.choice(SCRIPTS)
        if i == 5:
            r2 = r1
        cases.append((msgs, r1, r2))
    return [{"prompt": m, "responses": [r1, r2]} for m, r1, r2 in cases]


# ---------------------------------------------------------------------------------------------
# The seed's procedure

def seed_probabilities(model, tokenizer, tokenizer_plain, case, token_a, token_b, temperature=1.0):
    """Returns (P(A) with r1 shown as A, P(A) with r2 shown as A, avg P(r1 > r2), [input_ids of both orders], [texts])."""
    instruction, responses = case["prompt"], case["responses"]
    context = tokenizer_plain.apply_chat_template(instruction, tokenize=False)
    probs_chosen, p_a, ids_list, texts = [], [], [], []
    for chosen_position in [0, 1]:
        response_A = responses[chosen_position]
        response_B = responses[1 - chosen_position]
        prompt = PROMPT_TEMPLATE.format(context=context, response_A=response_A, response_B=response_B)
        message = [{"role": "user", "content": prompt}]
        text = tokenizer.apply_chat_template(message, tokenize=False).replace(tokenizer.bos_token, "")
        input_ids = tokenizer.encode(text, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            output = model(input_ids)
        logit_A = output.logits[0, -1, token_a].item()
        logit_B = output.logits[0, -1, token_b].item()
        Z = np.exp(logit_A / temperature) + np.exp(logit_B / temperature)
        logit_chosen = [logit_A, logit_B][chosen_position]
        probs_chosen.append(np.exp(logit_chosen / temperature) / Z)
        p_a.append(np.exp(logit_A / temperature) / Z)
        ids_list.append(input_ids[0].tolist())
        texts.append(text)
    avg_prob_chosen = float(np.mean(probs_chosen))
    return float(p_a[0]), float(p_a[1]), avg_prob_chosen, ids_list, texts


def verdict(p, tol):
    if abs(p - 0.5) <= tol:
        return 0.5
    return 1.0 if p > 0.5 else 0.0


def idpo_tokenize(idpo, model_dir, text):
    out = subprocess.run([idpo, "tokenize", "--model", model_dir], input=text.encode("utf-8"),
                         capture_output=True, check=True)
    return [int(x) for x in out.stdout.decode().split()]


def grapheme_aware_bos_removal(text, bos=BOS):
    """Emulates Swift's `String.replacingOccurrences(of:with:)` (without `.literal`), which matches whole
    extended grapheme clusters: an occurrence whose last character ">" is joined by a following combining
    mark (Mn/Mc/Me), ZWJ, variation selector or emoji modifier is not removed. Python's str.replace is
    code-point based and removes every occurrence."""
    import unicodedata
    out, i = [], 0
    while True:
        j = text.find(bos, i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        nxt = text[j + len(bos)] if j + len(bos) < len(text) else ""
        joined = nxt != "" and (unicodedata.category(nxt) in ("Mn", "Mc", "Me") or nxt == "\u200d"
                                or "\ufe00" <= nxt <= "\ufe0f" or "\U0001f3fb" <= nxt <= "\U0001f3ff")
        out.append(text[i:j] + (bos if joined else ""))
        i = j + len(bos)


def probability_a(model, ids, token_a=32, token_b=33):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    return torch.softmax(logits[[token_a, token_b]].double(), 0)[0].item()


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=".build-devcheck", help="scratch folder (git-ignored)")
    ap.add_argument("--idpo", default=".build-devcheck/swift/debug/idpo")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init-std", type=float, default=0.1)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--tie-tolerance", type=float, default=1e-6)
    ap.add_argument("--rebuild-tokenizer", action="store_true", help="build tokenizer.json even if .build-tok has one")
    ap.add_argument("--skip-tokenize-check", action="store_true")
    args = ap.parse_args()
    os.chdir(ROOT)
    t0 = time.time()

    pm = os.path.join(args.dir, "pm")
    os.makedirs(pm, exist_ok=True)
    source = write_tokenizer(pm, reuse=not args.rebuild_tokenizer)
    model = write_model(pm, args.seed, args.init_std)
    model.eval()
    print(f"PM written to {pm}: tokenizer.json {source}; model {sum(p.numel() for p in model.parameters())} parameters")

    tokenizer = AutoTokenizer.from_pretrained(pm)
    tokenizer_plain = AutoTokenizer.from_pretrained(pm)
    tokenizer_plain.chat_template = PLAIN_TEMPLATE
    token_id_A = tokenizer.encode("A", add_special_tokens=False)
    token_id_B = tokenizer.encode("B", add_special_tokens=False)
    print(f"tokenizer class {type(tokenizer).__name__}; \"A\" -> {token_id_A}, \"B\" -> {token_id_B}; "
          f"bos {tokenizer.bos_token!r} eos {tokenizer.eos_token!r}")
    assert token_id_A == [32] and token_id_B == [33], (token_id_A, token_id_B)

    cases = make_cases(args.seed)
    samples = os.path.join(args.dir, "pm_samples.jsonl")
    with open(samples, "w", encoding="utf-8") as f:
        for i, c in enumerate(cases):
            f.write(json.dumps({"id": i, "prompt": c["prompt"], "responses": c["responses"]}, ensure_ascii=False) + "\n")

    py = [seed_probabilities(model, tokenizer, tokenizer_plain, c, token_id_A[0], token_id_B[0]) for c in cases]
    lengths = [len(ids) for r in py for ids in r[3]]
    print(f"{len(cases)} cases; PM inputs of {min(lengths)}-{max(lengths)} tokens; "
          f"Python P(r1>r2) spans {min(r[2] for r in py):.4f}-{max(r[2] for r in py):.4f}")

    judgments, pairs = os.path.join(args.dir, "pm_judgments.jsonl"), os.path.join(args.dir, "pm_pairs.jsonl")
    for f in (judgments, pairs):
        if os.path.exists(f):
            os.remove(f)
    shutil.rmtree(judgments + ".parts", ignore_errors=True)
    run = subprocess.run([args.idpo, "judge", "--judge", pm, "--kind", "pairwise", "--ranking", "round-robin",
                          "--samples", samples, "--out", judgments, "--pairs", pairs], capture_output=True, text=True)
    print("idpo judge:", (run.stdout.strip().splitlines() or [""])[-1], run.stderr.strip()[-2000:] if run.returncode else "")
    if run.returncode != 0:
        print("FAIL: idpo judge exited with", run.returncode)
        return 1
    by_id = {}
    for line in open(judgments, encoding="utf-8"):
        if line.strip():
            o = json.loads(line)
            by_id[o["id"]] = o

    max_pa, max_avg, worst = 0.0, 0.0, None
    verdict_agree, literal_disagree, pair_agree, rows = 0, [], 0, []
    for i, (c, r) in enumerate(zip(cases, py)):
        pa_r1, pa_r2, avg, _, _ = r
        o = by_id[i]
        assert o["responses"] == c["responses"], f"case {i}: idpo read the responses differently"
        comp = o["comparisons"]
        assert len(comp) == 1, f"case {i}: {len(comp)} comparisons for k = 2"
        comp = comp[0]
        if comp["first"] == 0:
            i_r1, i_r2, i_avg = comp["p_a_first_shown_as_a"], comp["p_a_second_shown_as_a"], comp["p_first_better"]
        else:
            i_r1, i_r2, i_avg = comp["p_a_second_shown_as_a"], comp["p_a_first_shown_as_a"], 1 - comp["p_first_better"]
        d_pa = max(abs(i_r1 - pa_r1), abs(i_r2 - pa_r2))
        d_avg = abs(i_avg - avg)
        if d_pa > max_pa:
            max_pa, worst = d_pa, i
        max_avg = max(max_avg, d_avg)
        v_py, v_idpo = verdict(avg, args.tie_tolerance), verdict(i_avg, args.tie_tolerance)
        verdict_agree += v_py == v_idpo
        literal = 0.5 if avg == 0.5 else float(avg > 0.5)     # the seed's own test
        if literal != v_py:
            literal_disagree.append((i, avg))
        # idpo's pair: winner chosen, tie dropped
        expected = None if v_py == 0.5 else ((0, 1) if v_py == 1.0 else (1, 0))
        got = (o["chosen_index"], o["rejected_index"]) if "chosen_index" in o else None
        pair_agree += expected == got
        rows.append((i, pa_r1, i_r1, pa_r2, i_r2, avg, i_avg, v_py, v_idpo, d_pa, d_avg))

    bad = [r for r in rows if r[9] > args.tolerance or r[10] > args.tolerance or r[7] != r[8]]
    for r in bad[:20]:
        print(f"  case {r[0]}: P(A|r1 as A) py {r[1]:.7f} idpo {r[2]:.7f}; P(A|r2 as A) py {r[3]:.7f} idpo {r[4]:.7f}; "
              f"P(r1>r2) py {r[5]:.7f} idpo {r[6]:.7f}; verdicts {r[7]} / {r[8]}")

    # Diagnosis of probability mismatches: re-render each order with Swift-like (grapheme-aware) BOS
    # removal, encode that with idpo tokenize, and run the Python model on those ids.
    diagnosed = set()
    for r in [r for r in rows if r[9] > args.tolerance or r[10] > args.tolerance]:
        i = r[0]
        case = cases[i]
        context = tokenizer_plain.apply_chat_template(case["prompt"], tokenize=False)
        explained = True
        for order, idpo_pa in ((0, r[2]), (1, r[4])):
            ra, rb = case["responses"][order], case["responses"][1 - order]
            rendered = tokenizer.apply_chat_template(
                [{"role": "user", "content": PROMPT_TEMPLATE.format(context=context, response_A=ra, response_B=rb)}], tokenize=False)
            swift_like = grapheme_aware_bos_removal(rendered)
            theirs = idpo_tokenize(args.idpo, pm, swift_like)
            ours = py[i][3][order]
            k = first_difference(ours, theirs)
            p_alt = probability_a(model, theirs)
            explained &= abs(p_alt - idpo_pa) <= args.tolerance
            where = "no difference" if k is None else (f"first difference at position {k}: Python {ours[max(0, k - 2):k + 4]} "
                                                       f"vs Swift-like {theirs[max(0, k - 2):k + 4]} (from position {max(0, k - 2)})")
            print(f"  diagnosis case {i} order {order}: {len(ours)} vs {len(theirs)} ids, {where}; "
                  f"BOS occurrences left by grapheme-aware removal: {swift_like.count(BOS)}; "
                  f"Python model on those ids P(A) = {p_alt:.7f} vs idpo {idpo_pa:.7f}")
        if explained:
            diagnosed.add(i)

    # Token ids: Python's input_ids vs idpo tokenize on the same rendered text (and tiktoken as reference).
    tok_checked, tok_equal, tik_equal, first_diffs = 0, 0, 0, []
    if not args.skip_tokenize_check:
        import tiktoken
        data = oracle.quicktok_data()
        ranks = oracle.read_ranks(os.path.join(data, "llama3.vocab"))
        specials = oracle.read_specials(os.path.join(data, "llama3.special"))
        enc = tiktoken.Encoding("llama3", pat_str=oracle.LLAMA3_PATTERN, mergeable_ranks=ranks, special_tokens=specials)
        for i, r in enumerate(py):
            for order in (0, 1):
                ids, text = r[3][order], r[4][order]
                theirs = idpo_tokenize(args.idpo, pm, text)
                tok_checked += 1
                tok_equal += theirs == ids
                tik_equal += enc.encode(text, allowed_special="all") == ids
                if theirs != ids:
                    k = first_difference(ids, theirs)
                    first_diffs.append((i, order, k, ids[k:k + 6], theirs[k:k + 6]))
        for i, order, k, a, b in first_diffs[:10]:
            print(f"  token mismatch case {i} order {order} at position {k}: Python {a} idpo {b}")

    tie_cases = sum(1 for r in rows if r[7] == 0.5)
    rest = [r for r in rows if r[0] not in diagnosed]
    print()
    print("SUMMARY check_pairwise_pm")
    print(f"  cases                          {len(cases)} (ties by the tolerant rule: {tie_cases})")
    print(f"  max |ΔP(A)| over both orders   {max_pa:.3g} (case {worst})")
    print(f"  max |ΔP(r1 ≻ r2)|              {max_avg:.3g}")
    if diagnosed:
        print(f"  cases explained by grapheme-aware BOS removal in idpo: {sorted(diagnosed)}; over the other "
              f"{len(rest)} cases max |ΔP(A)| {max(r[9] for r in rest):.3g}, max |ΔP(r1 ≻ r2)| {max(r[10] for r in rest):.3g}")
    print(f"  verdict agreement              {verdict_agree}/{len(cases)} (tie band ±{args.tie_tolerance:g})")
    print(f"  idpo pairs as verdicts imply   {pair_agree}/{len(cases)} (winner chosen, ties dropped)")
    print(f"  seed's literal '== 0.5' test differs from the tolerant rule on {len(literal_disagree)} case(s)"
          + (": " + ", ".join(f"#{i} avg={a!r}" for i, a in literal_disagree) if literal_disagree else ""))
    if not args.skip_tokenize_check:
        print(f"  token ids (idpo tokenize = Python input_ids) {tok_equal}/{tok_checked}; tiktoken = Python {tik_equal}/{tok_checked}")
    print(f"  time {time.time() - t0:.0f} s")
    ok = (max_pa <= args.tolerance and max_avg <= args.tolerance and verdict_agree == len(cases)
          and pair_agree == len(cases) and tok_equal == tok_checked and tik_equal == tok_checked and len(cases) >= 60)
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
