"""Replay: the French quotes that `ask eval` showed to English questions, translated and checked as the answer flow
now does (answer/pipeline.py `_in_english`), with the real models; key points of the quote as shown before and
of what is shown now, per run. Prints every translation, kept or not, for reading.

    .venv/bin/python bench/translate_quotes.py LABEL=EVAL.json [LABEL=EVAL.json ...] [--out RESULTS.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from gdpr_assistant.answer.asked import Asked, Trace
from gdpr_assistant.assistant import Assistant
from gdpr_assistant.evaluation.harness import keypoint_covered
from gdpr_assistant.settings import get_settings
from gdpr_assistant.types import Passage
from gdpr_assistant.verification import quotes


def cited_passage(item: dict[str, Any]) -> Passage:
    cite = item["citations"][0]
    row = next(p for p in item["answer_passages"] if p["doc"] == cite["doc"] and p["location"] == cite["location"])
    return Passage(doc=row["doc"], index=0, text=row["text"], start=0, end=len(row["text"]),
                   headings=tuple(row.get("headings") or ()), line_start=0, line_end=0, page=row.get("page"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="LABEL=EVAL.json")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    assistant = Assistant(get_settings())
    snap, pipeline = assistant.snapshot(), assistant.pipeline
    results: list[dict[str, Any]] = []
    for label, path in (arg.split("=", 1) for arg in args.runs):
        items = [i for i in json.loads(Path(path).read_text())["items"]
                 if i["lang"] == "en" and i["kind"] == "extract" and i.get("citations")]
        for item in items:
            quote = item["citations"][0]["quote"]
            asked = Asked(item["question"], item["question"], "en", [], Trace(pipeline.meter), snap.models.name)
            passage = cited_passage(item)
            english = pipeline._in_english(snap, asked, quotes.laid_out(quote, passage.text), passage)
            shown = f"{item['answer']}\n\n{english}" if english else item["answer"]
            kps = item.get("key_points") or {}
            before = sum(kps.values())
            after = sum(keypoint_covered(kp, shown) for kp in kps)
            results.append({"run": label, "id": item["id"], "kept": bool(english), "key_points": len(kps),
                            "before": before, "after": after, "s": asked.trace.timings.get("translation_s"),
                            "quote": quote, "english": english})
            print(f"== {label} {item['id']} kept={bool(english)} key points {before} -> {after} of {len(kps)} "
                  f"({asked.trace.timings.get('translation_s')} s)\n   Q: {item['question'][:150]}\n   FR: {quote}\n"
                  f"   EN: {english}", flush=True)
    print("\n| run | English quotes | translations kept | key points before | after | median s |")
    print("|---|---|---|---|---|---|")
    for label in dict.fromkeys(r["run"] for r in results):
        rows = [r for r in results if r["run"] == label]
        print(f"| {label} | {len(rows)} | {sum(r['kept'] for r in rows)} | "
              f"{sum(r['before'] for r in rows)} / {sum(r['key_points'] for r in rows)} | "
              f"{sum(r['after'] for r in rows)} | {statistics.median(r['s'] or 0 for r in rows):.1f} |")
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
