"""The claim benchmark: does the verifier accept faithful claims and reject unfaithful ones, kind by kind?

bench/data/claims.jsonl holds (claim, span) pairs written from the corpus (bench/build_claims.py checks them and
assigns the calibration / test halves). Each pair is judged the way the product judges a shown sentence: against
the indexed passage that contains the span (so against what retrieval hands over), its citation pointing there.

    # signals of every pair (cached: a second run only computes what is missing)
    .venv/bin/python bench/claims_bench.py signals --out bench/results/claims-signals.json [--models default,fast]
    # tables: kind x accepted, before (lexical checks) and after (with the judge), thresholds set on calib only
    .venv/bin/python bench/claims_bench.py report bench/results/claims-signals.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FAITHFUL = ("restatement", "translation", "partial_list", "summary_two_lines", "joined")


def load_pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def signals(args: argparse.Namespace) -> None:
    import gdpr_assistant  # noqa: F401  (offline switches first)
    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.settings import get_settings
    from gdpr_assistant.text.language import detect_language
    from gdpr_assistant.verification.crosslingual import sentence_similarity
    from gdpr_assistant.verification.entailment import claim_window, entailment_margin, in_prompt
    from gdpr_assistant.verification.verifier import DraftVerifier, Evidence

    pairs = load_pairs(args.data)
    # "ctx": each span's claims are judged one after another against one answer prompt, as the product does.
    pairs.sort(key=lambda p: (p["doc"], p["span"]))
    if args.sample:
        rng = random.Random(0)
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in pairs:
            if p["split"] == args.split or args.split == "all":
                by_kind[p["kind"]].append(p)
        pairs = [p for kind in sorted(by_kind) for p in rng.sample(by_kind[kind], min(args.sample, len(by_kind[kind])))]
    elif args.split != "all":
        pairs = [p for p in pairs if p["split"] == args.split]
    out: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    assistant = Assistant(get_settings())
    snap = assistant.snapshot()
    trust = assistant.settings.trust
    passages = snap.retriever.passages
    for model in args.models.split(","):
        judge = None
        t_judge, n_judge = 0.0, 0
        for n, pair in enumerate(pairs, 1):
            row = out.setdefault(pair["id"], {})
            span = _norm(pair["span"])
            home = next((p for p in passages if p.doc == pair["doc"] and span in _norm(p.text)), None)
            text = home.text if home else pair["span"]
            row["in_one_passage"] = home is not None
            if "support" not in row:
                cross = [detect_language(text) != pair["lang"]]
                ev = Evidence([text], "", snap.retriever.idf, trust, sentence_similarity(assistant.embedder, [text]),
                              cross)
                v = DraftVerifier(ev)
                list(v.feed(pair["claim"].rstrip(".") + " [1]. "))
                list(v.close())
                row["before"] = bool(v.shown)
                row["before_reason"] = v.claims[0].reason if v.claims else "no claim"
                # What the judge path reads: the support left after the figure, unit and negation rules.
                row["support"] = round(v.claims[0].support.get(0, 0.0), 3) if v.claims else 0.0
            key = f"{model}:{args.variant}"
            if key in row:
                continue
            if judge is None:
                assistant.settings = assistant.settings.replace(llm=model)
                from gdpr_assistant.models.registry import local_backend

                judge = local_backend(model, assistant.settings.models, role="judge")
            t0 = time.perf_counter()
            if args.variant == "ctx":
                messages, n_target = answer_prompt(pair, home, snap, assistant.settings)
                row[key] = round(judge.judge(in_prompt(messages, n_target, pair["claim"], pair["lang"])), 3)
            else:
                window = claim_window(pair["claim"], text, snap.retriever.idf, args.window)
                row[key] = round(entailment_margin(judge, pair["claim"], window, pair["lang"], args.variant), 3)
            t_judge += time.perf_counter() - t0
            n_judge += 1
            if n % 20 == 0:
                args.out.write_text(json.dumps(out, ensure_ascii=False, indent=0))
                print(f"{model}: {n}/{len(pairs)}, {t_judge / max(1, n_judge):.2f} s per judgement", file=sys.stderr)
        out.setdefault("_timing", {})[f"{model}:{args.variant}"] = round(t_judge / max(1, n_judge), 3)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=0))


def lexical(args: argparse.Namespace) -> None:
    """The lexical checks alone on every pair (no judge, a minute): kind x accepted, to see what a change of a
    rule does before any model runs. With --without NAME, the same with that check of verification/checks.py
    turned off, side by side."""
    import gdpr_assistant  # noqa: F401  (offline switches first)
    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.settings import get_settings
    from gdpr_assistant.text.language import detect_language
    from gdpr_assistant.verification import verifier
    from gdpr_assistant.verification.crosslingual import sentence_similarity
    from gdpr_assistant.verification.verifier import DraftVerifier, Evidence

    pairs = load_pairs(args.data)
    assistant = Assistant(get_settings())
    snap = assistant.snapshot()
    passages = snap.retriever.passages

    def shown(pair: dict[str, Any]) -> bool:
        span = _norm(pair["span"])
        home = next((p for p in passages if p.doc == pair["doc"] and span in _norm(p.text)), None)
        text = home.text if home else pair["span"]
        ev = Evidence([text], "", snap.retriever.idf, assistant.settings.trust,
                      sentence_similarity(assistant.embedder, [text]), [detect_language(text) != pair["lang"]])
        v = DraftVerifier(ev)
        list(v.feed(pair["claim"].rstrip(".") + " [1]. "))
        list(v.close())
        return bool(v.shown)

    with_rule = {p["id"]: shown(p) for p in pairs}
    without: dict[str, bool] = {}
    if args.without:
        original = getattr(verifier, args.without)
        setattr(verifier, args.without, lambda *a, **k: False)
        without = {p["id"]: shown(p) for p in pairs}
        setattr(verifier, args.without, original)
    kinds = sorted({p["kind"] for p in pairs}, key=lambda k: (k not in FAITHFUL, k))
    for half in (None, "calib", "test"):  # the whole set, then each half (a rule is judged on the test half)
        print(f"\n{half or 'all pairs'}\n\n| kind | pairs | right now | without {args.without or '–'} |\n"
              "|---|---|---|---|")
        for kind in kinds:
            sub = [p for p in pairs if p["kind"] == kind and half in (None, p["split"])]
            acc = kind in FAITHFUL
            print(f"| {kind} ({'accepted' if acc else 'rejected'}) | {len(sub)} | "
                  f"{_rate([with_rule[p['id']] == acc for p in sub])} | "
                  f"{_rate([without[p['id']] == acc for p in sub]) if without else '–'} |")


_PROMPTS: dict[str, tuple[list[dict[str, str]], int]] = {}


def answer_prompt(pair: dict[str, Any], home: Any, snap: Any, settings: Any) -> tuple[list[dict[str, str]], int]:
    """The answer prompt the product would have built around the pair's passage: it and four passages retrieval
    finds for the span, the pair's passage at a position fixed by its span (so the judge cannot learn "[1]"),
    trimmed around the span; the question a neutral one, since the pairs have none."""
    key = f"{pair['doc']}\n{pair['span']}"
    if key not in _PROMPTS:
        from gdpr_assistant.drafting.prompt import build_messages
        from gdpr_assistant.types import Passage

        target = home or Passage(doc=pair["doc"], index=-1, text=pair["span"], start=0, end=0, headings=(),
                                 line_start=0, line_end=0)
        others = [h.passage for h in snap.retriever.search(pair["span"][:400], 8) if h.passage.id != target.id][:4]
        position = sum(map(ord, pair["span"])) % (len(others) + 1)
        passages = [*others[:position], target, *others[position:]]
        lang = pair["lang"]
        question = "Que disent les extraits à ce sujet ?" if lang == "fr" else "What do the excerpts say about this?"
        messages = build_messages(question, passages, snap.titles, lang, settings.answer.max_passage_chars,
                                  focus=pair["span"], idf=snap.retriever.idf)
        _PROMPTS[key] = (messages, position + 1)
    return _PROMPTS[key]


def _rate(values: list[bool]) -> str:
    return f"{sum(values) / len(values):.2f} ({sum(values)}/{len(values)})" if values else "–"


def report(args: argparse.Namespace) -> None:
    pairs = {p["id"]: p for p in load_pairs(args.data)}
    sig: dict[str, Any] = json.loads(args.signals.read_text())
    keys = sorted({k for row in sig.values() if isinstance(row, dict) for k in row if ":" in k})
    rows = [(pairs[i], r) for i, r in sig.items() if i in pairs]
    kinds = sorted({p["kind"] for p, _ in rows}, key=lambda k: (k not in FAITHFUL, k))
    print(f"{len(rows)} pairs judged; judges: {', '.join(keys) or 'none'}\n")
    for key in keys:
        scored = [(p, r) for p, r in rows if key in r]
        calib = [(p, r) for p, r in scored if p["split"] == "calib"]
        threshold = choose(calib, key, args.min_reject)
        floor, t_hi, t_lo = grid(calib, key, args.min_reject, args.min_kind)
        print(f"## {key}\n\njudge alone: threshold {threshold}; the product's rule: support_floor {floor}, "
              f"entail_min {t_hi}, entail_rescue_min {t_lo} (both set on calib: unfaithful rejected ≥ "
              f"{args.min_reject} overall, ≥ {args.min_kind} per kind)\n")
        print("| kind | split | before (lexical) | judge alone | lexical and judge | the product's rule |")
        print("|---|---|---|---|---|---|")
        for kind in kinds:
            for split in ("calib", "test"):
                sub = [(p, r) for p, r in scored if p["kind"] == kind and p["split"] == split]
                if not sub:
                    continue
                acc = kind in FAITHFUL
                before = [r["before"] == acc for _, r in sub]
                alone = [(r[key] >= threshold) == acc for _, r in sub]
                after = [(r["before"] and r[key] >= threshold) == acc for _, r in sub]
                rule = [accepts(r, key, floor, t_hi, t_lo) == acc for _, r in sub]
                label = "accepted" if acc else "rejected"
                print(f"| {kind} ({label}) | {split} | {_rate(before)} | {_rate(alone)} | {_rate(after)} | "
                      f"{_rate(rule)} |")
        for split in ("calib", "test"):
            sub = [(p, r) for p, r in scored if p["split"] == split]
            good = [(p, r) for p, r in sub if p["faithful"]]
            bad = [(p, r) for p, r in sub if not p["faithful"]]
            print(f"| **faithful accepted** | {split} | {_rate([r['before'] for _, r in good])} | "
                  f"{_rate([r[key] >= threshold for _, r in good])} | "
                  f"{_rate([r['before'] and r[key] >= threshold for _, r in good])} | "
                  f"{_rate([accepts(r, key, floor, t_hi, t_lo) for _, r in good])} |")
            print(f"| **unfaithful rejected** | {split} | {_rate([not r['before'] for _, r in bad])} | "
                  f"{_rate([r[key] < threshold for _, r in bad])} | "
                  f"{_rate([not (r['before'] and r[key] >= threshold) for _, r in bad])} | "
                  f"{_rate([not accepts(r, key, floor, t_hi, t_lo) for _, r in bad])} |")
        print(f"\nmean time per judgement: {sig.get('_timing', {}).get(key, '?')} s\n")


def accepts(r: dict[str, Any], key: str, floor: float, t_hi: float, t_lo: float, threshold: float = 0.5) -> bool:
    """The product's rule (verification/verifier.py::judged) on one pair: a claim the words support needs t_hi,
    one they support less (from ``floor``) needs the stricter t_lo."""
    settled = r["before_reason"] in ("restates the question", "talks about the excerpts, not the subject",
                                     "a question, not a statement", "connective", "no claim")
    if settled or r["support"] < floor:
        return False
    return r[key] >= (t_hi if r["support"] >= threshold else t_lo)


def grid(calib: list[tuple[dict[str, Any], dict[str, Any]]], key: str, min_reject: float,
         min_kind: float) -> tuple[float, float, float]:
    """(floor, t_hi, t_lo) that accept the most faithful calibration pairs while rejecting at least min_reject of
    the unfaithful ones overall and min_kind of each unfaithful kind."""
    margins = sorted({round(r[key], 1) for _, r in calib})
    best: tuple[float, tuple[float, float, float]] = (-1.0, (1.0, 99.0, 99.0))
    for floor in (0.0, 0.2, 0.3, 0.4, 0.5):
        for t_hi in margins:
            for t_lo in [m for m in margins if m >= t_hi] + [99.0]:
                bad = [(p, r) for p, r in calib if not p["faithful"]]
                kinds = {p["kind"] for p, _ in bad}
                rej = [not accepts(r, key, floor, t_hi, t_lo) for _, r in bad]
                if sum(rej) / max(1, len(rej)) < min_reject:
                    continue
                if any(sum(not accepts(r, key, floor, t_hi, t_lo) for p, r in bad if p["kind"] == k)
                       / sum(1 for p, _ in bad if p["kind"] == k) < min_kind for k in kinds):
                    continue
                good = [accepts(r, key, floor, t_hi, t_lo) for p, r in calib if p["faithful"]]
                score = sum(good) / max(1, len(good))
                if score > best[0]:
                    best = (score, (floor, t_hi, t_lo))
    return best[1]


def choose(calib: list[tuple[dict[str, Any], dict[str, Any]]], key: str, min_reject: float) -> float:
    """The lowest threshold at which lexical checks and judge together reject ``min_reject`` of the unfaithful
    calibration pairs (trust first), so the most faithful ones pass."""
    bad = [r for p, r in calib if not p["faithful"]]
    for t in sorted({r[key] for _, r in calib} | {-99.0}):
        rejected = sum(not (r["before"] and r[key] >= t) for r in bad) / max(1, len(bad))
        if rejected >= min_reject:
            return t
    return 99.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("signals")
    s.add_argument("--data", type=Path, default=REPO / "bench/data/claims.jsonl")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--models", default="default")
    s.add_argument("--variant", default="v1")
    s.add_argument("--window", type=int, default=420)
    s.add_argument("--split", default="all", choices=["all", "calib", "test"])
    s.add_argument("--sample", type=int, default=0, help="per kind, a random sample of this many (exploration)")
    lx = sub.add_parser("lexical")
    lx.add_argument("--data", type=Path, default=REPO / "bench/data/claims.jsonl")
    lx.add_argument("--without", help="a check imported by verification/verifier.py, e.g. is_heading_copy")
    r = sub.add_parser("report")
    r.add_argument("signals", type=Path)
    r.add_argument("--data", type=Path, default=REPO / "bench/data/claims.jsonl")
    r.add_argument("--min-reject", type=float, default=0.97)
    r.add_argument("--min-kind", type=float, default=0.95)
    args = ap.parse_args()
    {"signals": signals, "report": report, "lexical": lexical}[args.cmd](args)


if __name__ == "__main__":
    main()
