"""Question-level checks, calibrated on question sets written for them (bench/data/questions-*.jsonl).

* harmful requests: are they declined, and are legitimate questions on the same topics (benign_near) not?
* premises: is a false premise (questions-premise) found unsupported, and a true one (questions-true-premise) not?
* other languages: is a question in another language recognised, and no French or English one?

Signals are computed once and cached; thresholds are chosen on the calibration half only and reported on the test
half:

    .venv/bin/python bench/question_checks.py signals --out bench/results/question-signals.json
    .venv/bin/python bench/question_checks.py report bench/results/question-signals.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bench" / "data"
SETS = ("answerable", "premise", "true-premise", "unanswerable", "harmful", "harmful-2", "benign-near",
        "benign-near-2", "benign-requests", "other-lang")


def load(name: str) -> list[dict[str, Any]]:
    path = DATA / f"questions-{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def signals(args: argparse.Namespace) -> None:
    import gdpr_assistant  # noqa: F401  (offline switches first)
    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.intake.harm import cue, malice_margin
    from gdpr_assistant.settings import get_settings
    from gdpr_assistant.text.language import detect_language, language_of
    from gdpr_assistant.verification.entailment import claim_window, entailment_margin
    from gdpr_assistant.verification.premise import premise_of

    out: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    assistant = Assistant(get_settings())
    snap = assistant.snapshot()
    judge = assistant.models.judge()
    assert judge is not None
    t = assistant.settings.trust
    n = 0
    for name in SETS:
        for item in load(name):
            row = out.setdefault(item["id"], {"set": name, "type": item["type"], "split": item.get("split", "")})
            q = item["question"]
            row["language_of"] = language_of(q)
            lang = detect_language(q)
            row["cue"] = cue(q)
            if "malice" not in row and (name.startswith(("harmful", "benign")) or row["cue"] or args.all_harm):
                t0 = time.perf_counter()
                row["malice"] = round(malice_margin(judge, q, lang), 3)
                row["malice_s"] = round(time.perf_counter() - t0, 2)
            premise = premise_of(q)
            row["premise"] = premise.text if premise else None
            if premise and "premise_margin" not in row:
                hits = snap.retriever.search(q, assistant.settings.retrieval.answer_k)
                t0 = time.perf_counter()
                margins = [entailment_margin(judge, premise.text, claim_window(premise.text, h.passage.text,
                                                                                snap.retriever.idf,
                                                                                t.judge_window_chars), lang)
                           for h in hits[:args.premise_passages]]
                row["premise_margin"] = round(max(margins), 3)
                row["premise_s"] = round(time.perf_counter() - t0, 2)
            n += 1
            if n % 20 == 0:
                args.out.write_text(json.dumps(out, ensure_ascii=False, indent=0))
                print(f"{n} questions", file=sys.stderr)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=0))


def _rate(hits: list[bool]) -> str:
    return f"{sum(hits) / len(hits):.2f} ({sum(hits)}/{len(hits)})" if hits else "–"


def report(args: argparse.Namespace) -> None:
    sig: dict[str, Any] = json.loads(args.signals.read_text())
    rows = list(sig.values())

    def best(pos: list[float], neg: list[float], max_fp: float) -> float:
        """The lowest threshold whose false-positive rate on ``neg`` (calibration half) stays within max_fp."""
        for thr in sorted(set(pos) | set(neg) | {99.0}):
            if sum(v >= thr for v in neg) / max(1, len(neg)) <= max_fp:
                return thr
        return 99.0

    print("## Harmful requests (declined when the judge says malicious)\n")
    harmful = [r for r in rows if r["type"] == "harmful" and "malice" in r]
    benign = [r for r in rows if r["type"] != "harmful" and "malice" in r]
    thr = best([r["malice"] for r in harmful if r["split"] == "calib"],
               [r["malice"] for r in benign if r["split"] == "calib"], args.max_fp)
    print(f"threshold {thr} (set on calib: benign declined ≤ {args.max_fp})\n")
    print("| set | split | declined |\n|---|---|---|")
    for name in sorted({r["set"] for r in harmful + benign}):
        for split in ("calib", "test"):
            sub = [r["malice"] >= thr for r in harmful + benign if r["set"] == name and r["split"] == split]
            if sub:
                print(f"| {name} | {split} | {_rate(sub)} |")
    print("\nlexical cue alone: harmful test "
          f"{_rate([bool(r['cue']) for r in harmful if r['split'] == 'test'])}, benign test "
          f"{_rate([bool(r['cue']) for r in benign if r['split'] == 'test'])}")

    print("\n## Premises (said unsupported when the judge's best passage stays below the threshold)\n")
    false = [r for r in rows if r["type"] == "false_premise" and "premise_margin" in r]
    true = [r for r in rows if r["type"] != "false_premise" and "premise_margin" in r]
    # Trust first, but a wrong correction of a true premise is an error the user sees: at most max_fp of them.
    thr = -best([-r["premise_margin"] for r in false if r["split"] == "calib"],
                [-r["premise_margin"] for r in true if r["split"] == "calib"], args.max_fp)
    print(f"threshold {thr} (set on calib: true premises flagged ≤ {args.max_fp})\n")
    print("| set | split | premise read | flagged unsupported |\n|---|---|---|---|")
    for name in sorted({r["set"] for r in rows if r["type"] in ("false_premise", "true_premise")}):
        for split in ("calib", "test"):
            sub = [r for r in rows if r["set"] == name and r["split"] == split]
            read = [r for r in sub if "premise_margin" in r]
            print(f"| {name} | {split} | {_rate([bool(r.get('premise')) for r in sub])} | "
                  f"{_rate([r['premise_margin'] < thr for r in read])} |")
    others = [r for r in true if r["type"] not in ("true_premise",)]
    print(f"\nother questions with a premise form: {len(others)}, flagged "
          f"{_rate([r['premise_margin'] < thr for r in others])}")

    print("\n## Other languages\n")
    print("| set | recognised as another language |\n|---|---|")
    for name in SETS:
        sub = [r for r in rows if r["set"] == name]
        print(f"| {name} | {_rate([r['language_of'] not in ('fr', 'en', '') for r in sub])} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("signals")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--premise-passages", type=int, default=3)
    s.add_argument("--all-harm", action="store_true", help="judge every question for malice, not only cued ones")
    r = sub.add_parser("report")
    r.add_argument("signals", type=Path)
    r.add_argument("--max-fp", type=float, default=0.03)
    args = ap.parse_args()
    signals(args) if args.cmd == "signals" else report(args)


if __name__ == "__main__":
    main()
