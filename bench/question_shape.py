"""How intake/shape.py reads the labelled questions: labelled type (fact, list, synthesis) against the shape read,
on bench/data/questions-answerable.jsonl (calibration and test halves apart) and the dev set.

    .venv/bin/python bench/question_shape.py
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from gdpr_assistant.intake.shape import question_shape

ROOT = Path(__file__).resolve().parents[1]
SETS = {"bench calib": (ROOT / "bench/data/questions-answerable.jsonl", "calib"),
        "bench test": (ROOT / "bench/data/questions-answerable.jsonl", "test"),
        "dev": (ROOT.parent / "shared/eval/dev.jsonl", None)}
TYPES = ("fact", "list", "synthesis")


def main() -> None:
    print("| set | labelled | n | read as fact | list | synthesis |")
    print("|---|---|---|---|---|---|")
    for name, (path, split) in SETS.items():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if r.get("type") in TYPES and (split is None or r.get("split") == split)]
        for t in TYPES:
            read = Counter(question_shape(r["question"]) for r in rows if r["type"] == t)
            n = sum(read.values())
            print(f"| {name} | {t} | {n} | " + " | ".join(f"{read[s]}" for s in TYPES) + " |")


if __name__ == "__main__":
    main()
