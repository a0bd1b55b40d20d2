"""Where to set the question-coverage floor of a written answer (``trust.min_answer_coverage``), from two runs of
the same questions: one at the floor in use (its answers that fall below it show what takes their place: a
judged quote or a refusal) and one with the floor at 0 (every verified answer shown, its coverage recorded).

For a floor t at most the one in use, an item's outcome is the second run's when its written answer covers at
least t, else the first run's: the draft, its checks and the fallback are the same in both (one seed); only the
floor moved. Per floor: key points over answerable questions, refusals and quotes, questions the corpus does
not answer that get an answer, false premises handled (as bench/../harness.py counts them), citation precision.

    ASK_MIN_ANSWER_COVERAGE=0 ask eval FILE --out floor0.json     # and the same without the variable
    .venv/bin/python bench/coverage_threshold.py --current in-use.json --open floor0.json [--changed]

With ``--judge LOW,HIGH`` the written answers of ``--open`` whose coverage is in [LOW, HIGH) are put to the judge
model as the pipeline's relevance check puts them (``judge_quote``: does this text answer the question?), and
their log-odds are listed with what each answer is worth (key points, or a question the corpus does not answer):
whether the judge separates the answers a coverage floor cannot.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

ANSWERABLE = {"fact", "list", "synthesis", "purpose"}


def outcome(current: dict[str, Any], open_: dict[str, Any], floor: float) -> dict[str, Any]:
    cov = open_.get("coverage")
    return open_ if cov is None or cov >= floor else current


def metrics(items: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [i for i in items if i.get("type") in ANSWERABLE and i.get("key_points")]
    unanswerable = [i for i in items if i.get("type") == "unanswerable"]
    premise = [i for i in items if i.get("type") == "false_premise"]
    kps = [v for i in answerable for v in i["key_points"].values()]
    checks = [c for i in items for c in i.get("citation_checks", [])]
    return {
        "kp": sum(kps) / len(kps) if kps else None,
        "refused": sum(i["refused"] for i in answerable), "answerable": len(answerable),
        "quotes": sum(i["kind"] == "extract" for i in answerable),
        "unanswerable_shown": sum(not i["refused"] for i in unanswerable), "unanswerable": len(unanswerable),
        "unanswerable_written": sum(not i["refused"] and i["kind"] == "answer" for i in unanswerable),
        "premise_handled": sum((i["refused"] or i.get("premise_flagged", False))
                               and all(c["supported"] for c in i.get("citation_checks", [])) for i in premise),
        "premise": len(premise),
        "precision": sum(c["supported"] and c["in_range"] for c in checks) / len(checks) if checks else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--current", type=Path, required=True, nargs="+", help="ask eval outputs at the floor in use")
    ap.add_argument("--open", type=Path, required=True, nargs="+", help="ask eval outputs with the floor at 0")
    ap.add_argument("--in-use", type=float, default=0.25)
    ap.add_argument("--floors", default="0,0.05,0.1,0.12,0.15,0.18,0.2,0.22,0.25")
    ap.add_argument("--changed", action="store_true", help="list the items a floor below the one in use changes")
    ap.add_argument("--judge", help="LOW,HIGH: judge the written answers whose coverage is in this band")
    args = ap.parse_args()
    load = lambda paths: {i["id"]: i for p in paths for i in json.loads(p.read_text())["items"]}  # noqa: E731
    current, open_ = load(args.current), load(args.open)
    ids = [i for i in open_ if i in current]
    print(f"{len(ids)} items in both runs ({len(open_) - len(ids)} only in --open)")
    print("| floor | key points | answerable refused | quotes | unanswerable shown (written) | false premises handled "
          "| citation precision |")
    print("|---|---|---|---|---|---|---|")
    for floor in [float(f) for f in args.floors.split(",")]:
        if floor > args.in_use:
            continue
        m = metrics([outcome(current[i], open_[i], floor) for i in ids])
        print(f"| {floor:.2f} | {m['kp']:.3f} | {m['refused']}/{m['answerable']} | {m['quotes']} | "
              f"{m['unanswerable_shown']}/{m['unanswerable']} ({m['unanswerable_written']}) | "
              f"{m['premise_handled']}/{m['premise']} | {m['precision']:.3f} |")
    if args.changed:
        for i in ids:
            cov = open_[i].get("coverage")
            if cov is not None and cov < args.in_use and not open_[i]["refused"]:
                kp = open_[i].get("key_points") or {}
                was = current[i].get("key_points") or {}
                print(f"\n{i} {open_[i]['type']} coverage {cov:.2f}: key points {sum(was.values())} -> "
                      f"{sum(kp.values())} of {len(kp)}; was {current[i]['kind']}{' refused' * current[i]['refused']}"
                      f"\n  Q: {open_[i]['question']}\n  A: {open_[i]['answer'][:400]}")
    if args.judge:
        low, high = (float(x) for x in args.judge.split(","))
        band = [open_[i] for i in open_ if open_[i].get("coverage") is not None and low <= open_[i]["coverage"] < high
                and not open_[i]["refused"] and open_[i]["kind"] == "answer"]
        print(f"\n{len(band)} written answers with coverage in [{low}, {high}):\n")
        print("| item | type | coverage | judge log-odds | key points | answer |")
        print("|---|---|---|---|---|---|")
        for item, margin in zip(band, judged(band), strict=True):
            kp = item.get("key_points") or {}
            worth = f"{sum(kp.values())}/{len(kp)}" if kp else "–"
            text = item["answer"][:90].replace("\n", " ").replace("|", "/")
            print(f"| {item['id']} | {item['type']} | {item['coverage']:.2f} | {margin:+.2f} | {worth} | {text} |")


def judged(items: list[dict[str, Any]]) -> list[float]:
    """The judge's log-odds that each written answer (without its completion block) answers its question."""
    import gdpr_assistant  # noqa: F401  (offline switches first)
    from gdpr_assistant.answer.pipeline import _CITATION
    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.settings import get_settings
    from gdpr_assistant.text.markup import plain
    from gdpr_assistant.verification.judge import judge_quote

    judge = Assistant(get_settings()).snapshot().models.judge()
    assert judge is not None
    out = []
    for item in items:
        text = re.split(r"\n\n(?:La même liste|The same list|Le passage cité|The cited passage)", item["answer"])[0]
        out.append(judge_quote(judge, item["question"], plain(_CITATION.sub("", text)), item["lang"]))
    return out


if __name__ == "__main__":
    main()
