"""Experiment (not used by the pipeline): can the 1.5B tell a faithful claim from a near miss?

Each pair of `bench/data/crosslingual.jsonl` (a French corpus sentence, its faithful English translation and a
near miss with a figure, the actor, the polarity or another fact changed) is put to the 1.5B as one yes/no
question, "does the passage say exactly this?", read as the first-token log-odds of yes (as the quote judge
does). The current check of an English claim, dense similarity to the closest French sentence at 0.86, keeps
0.74 of translations and 0.32 of near misses (bench/results/crosslingual.md).

    .venv/bin/python bench/judge_entailment.py > bench/results/entailment.md
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import gdpr_assistant  # noqa: F401  (offline switches first)
from gdpr_assistant.models.backend import Judgement, ModelBackend
from gdpr_assistant.models.registry import local_backend
from gdpr_assistant.settings import get_settings

DATA = Path(__file__).parent / "data" / "crosslingual.jsonl"
SYSTEM = "You check whether a statement is exactly what a passage says."
USER = ("Passage: « {passage} »\nStatement: « {claim} »\nDoes the passage say exactly this (same facts, figures, "
        "actors and polarity)? Answer YES or NO.")


def judge(model: ModelBackend, passage: str, claim: str) -> float:
    """First-token log-odds of yes over no, the prompt read whole (as the quote judge reads it)."""
    return model.judge(Judgement(messages=[{"role": "system", "content": SYSTEM},
                                           {"role": "user", "content": USER.format(passage=passage, claim=claim)}],
                                 yes=("YES", "Yes", "yes"), no=("NO", "No", "no")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", default="default", help="the judge: default, fast or a GGUF path")
    args = parser.parse_args()
    s = get_settings()
    model = local_backend(args.model, s.models.model_copy(update={"n_ctx": 2048}), role="judge")
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    t0 = time.perf_counter()
    out = [{"kind": r["kind"], "right": judge(model, r["fr"], r["en"]),
            "wrong": judge(model, r["fr"], r["en_wrong"])} for r in rows]
    per = (time.perf_counter() - t0) / (2 * len(rows))
    right, wrong = [o["right"] for o in out], [o["wrong"] for o in out]
    auc = sum((a > b) + 0.5 * (a == b) for a in right for b in wrong) / (len(right) * len(wrong))
    print(f"# {model.name} as entailment judge on {len(rows)} sentence pairs\n\nAUC (translation above near miss, all "
          f"pairs): {auc:.3f}; {per:.1f} s per judgement.\n")
    print("| yes−no log-odds ≥ | translations kept | near misses kept |\n|---|---|---|")
    for th in (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0):
        print(f"| {th:+.1f} | {sum(x >= th for x in right) / len(right):.2f} "
              f"| {sum(x >= th for x in wrong) / len(wrong):.2f} |")
    won, total = Counter(), Counter()
    for o in out:
        total[o["kind"]] += 1
        won[o["kind"]] += o["right"] > o["wrong"]
    print("\nTranslation judged above its own near miss, by kind of change: "
          + ", ".join(f"{k} {won[k]}/{total[k]}" for k in sorted(total)) + ".")


if __name__ == "__main__":
    main()
