"""The relevance judge on the written answers of recorded runs: would asking the judge "does this answer the
question?" of every shown answer (``trust.relevance_check``) stop the answers to questions the corpus does not
cover, and at what cost in correct answers?

Reads evaluation runs (``ask eval … --out``), judges each written answer shown (its sentences without their
citations, as the pipeline would), writes the margins, then prints, per threshold, the answers each kind of question
keeps; the threshold is read on the calibration half's runs and checked on the test half's:

    .venv/bin/python bench/relevance_replay.py margins RUN.json [RUN.json…] --out MARGINS.json
    .venv/bin/python bench/relevance_replay.py report MARGINS.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

_CITATION = re.compile(r"\s*\[\d+\]")


def written(row: dict[str, Any]) -> str:
    """The answer's verified sentences: without the premise notice said first, nor the block that completion or a
    translation adds after a blank line."""
    text = row["answer"]
    parts = [p for p in text.split("\n\n") if p.strip()]
    if row.get("premise_flagged") and len(parts) > 1:
        parts = parts[1:]
    return parts[0] if parts else ""


def margins(args: argparse.Namespace) -> None:
    import gdpr_assistant  # noqa: F401  (offline switches first)
    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.settings import get_settings
    from gdpr_assistant.text.markup import plain
    from gdpr_assistant.verification.judge import judge_quote

    assistant = Assistant(get_settings())
    judge = assistant.models.judge()
    assert judge is not None
    out: list[dict[str, Any]] = []
    for path in args.runs:
        for row in json.loads(path.read_text())["items"]:
            if row["refused"] or row.get("kind") not in ("answer", "escalated"):
                continue
            answer = plain(_CITATION.sub("", written(row)))
            kp = row.get("key_points") or {}
            out.append({"id": row["id"], "type": row["type"], "run": path.name, "answer": answer[:300],
                        "key_points": sum(map(bool, kp.values())), "of": len(kp),
                        "margin": round(judge_quote(judge, row["question"], answer, row["lang"]), 3)})
            print(out[-1]["id"], out[-1]["type"], out[-1]["key_points"], out[-1]["margin"], flush=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1))


def report(args: argparse.Namespace) -> None:
    rows: list[dict[str, Any]] = json.loads(args.margins.read_text())
    answerable = [r for r in rows if r["type"] in ("fact", "list", "synthesis")]
    useful = [r for r in answerable if r["key_points"]]
    empty = [r for r in answerable if not r["key_points"]]
    out_of_corpus = [r for r in rows if r["type"] == "unanswerable"]
    premise = [r for r in rows if r["type"] == "false_premise"]
    print(f"answers judged: {len(rows)} (answerable with a key point {len(useful)}, answerable without {len(empty)}, "
          f"out of corpus {len(out_of_corpus)}, false premise {len(premise)})\n")
    print("| judged ≥ | answerable kept (key points kept) | answerable without key points kept | out of corpus kept "
          "| false premise kept |\n|---|---|---|---|---|")
    for thr in (-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0):
        def kept(sub: list[dict[str, Any]], thr: float = thr) -> str:
            return f"{sum(r['margin'] >= thr for r in sub)}/{len(sub)}"
        kp = sum(r["key_points"] for r in useful if r["margin"] >= thr)
        print(f"| {thr:+.1f} | {kept(useful)} ({kp}/{sum(r['key_points'] for r in useful)}) | {kept(empty)} | "
              f"{kept(out_of_corpus)} | {kept(premise)} |")
    for r in sorted(rows, key=lambda r: r["margin"]):
        print(f"{r['margin']:+.2f} {r['id']} {r['type']:12} kp {r['key_points']}/{r['of']} {r['answer'][:110]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("margins")
    m.add_argument("runs", nargs="+", type=Path)
    m.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report")
    r.add_argument("margins", type=Path)
    args = ap.parse_args()
    margins(args) if args.cmd == "margins" else report(args)


if __name__ == "__main__":
    main()
