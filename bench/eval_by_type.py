"""`ask eval` outputs side by side, per question type (fact, list, synthesis, purpose): key points covered,
answers refused, quotes in place of an answer, median answer time. The before/after table of an answer change.

    .venv/bin/python bench/eval_by_type.py before=OLD.json after=NEW.json [label=MORE.json ...]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

TYPES = ("fact", "list", "synthesis", "purpose")


def row(items: list[dict[str, Any]]) -> str:
    kps = [v for r in items for v in r["key_points"].values()]
    refused = sum(1 for r in items if r["refused"])
    quotes = sum(1 for r in items if r["kind"] == "extract")
    time = statistics.median(r.get("total_s") or r["timings"]["total_s"] for r in items)
    kp = f"{sum(kps) / len(kps):.3f}" if kps else "–"
    return f"{len(items)} | {kp} | {refused} | {quotes} | {time:.1f}"


def main() -> None:
    runs = [(arg.split("=", 1)[0], json.loads(Path(arg.split("=", 1)[1]).read_text())) for arg in sys.argv[1:]]
    print("| type | run | items | key points | refused | quotes | median s |")
    print("|---|---|---|---|---|---|---|")
    for t in (*TYPES, "all"):
        for label, report in runs:
            items = [r for r in report["items"] if r.get("type") in TYPES and (t == "all" or r["type"] == t)]
            if items:
                print(f"| {t} | {label} | {row(items)} |")


if __name__ == "__main__":
    main()
