"""Experiment (not used by the pipeline): can the 1.5B tell a faithful claim from a near miss?

Each pair of `bench/data/crosslingual.jsonl` (a French corpus sentence, its faithful English translation and a
near miss with a figure, the actor, the polarity or another fact changed) is put to the 1.5B as one yes/no
question, "does the passage say exactly this?", read as the first-token log-odds of yes (as the quote judge
does). The current check of an English claim, dense similarity to the closest French sentence at 0.86, keeps
0.74 of translations and 0.32 of near misses (bench/results/crosslingual.md).

    .venv/bin/python bench/judge_entailment.py > bench/results/entailment.md
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gdpr_assistant  # noqa: F401  (offline switches first)
from gdpr_assistant import generation
from gdpr_assistant.models import load_llm, resolve_model
from gdpr_assistant.settings import get_settings

DATA = Path(__file__).parent / "data" / "crosslingual.jsonl"
SYSTEM = "You check whether a statement is exactly what a passage says."
USER = ("Passage: « {passage} »\nStatement: « {claim} »\nDoes the passage say exactly this (same facts, figures, "
        "actors and polarity)? Answer YES or NO.")


def judge(llm: Any, yes: Any, no: Any, passage: str, claim: str) -> float:
    from llama_cpp import LogitsProcessorList

    margin: list[float] = []

    def read(input_ids: Any, scores: Any) -> Any:
        if not margin:
            margin.append(float(scores[yes].max() - scores[no].max()))
        return scores

    llm.reset()  # read whole, as the quote judge: a reused prefix moves judgements
    llm.create_chat_completion(messages=[{"role": "system", "content": SYSTEM},
                                         {"role": "user", "content": USER.format(passage=passage, claim=claim)}],
                               max_tokens=1, temperature=0.0, top_k=1, logits_processor=LogitsProcessorList([read]))
    return margin[0]


def main() -> None:
    s = get_settings()
    llm = load_llm(resolve_model("default", s.cache_dir), 2048, s.n_threads, s.seed, role="judge")
    yes, no = generation._yes_no_tokens(llm, "en")
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    t0 = time.perf_counter()
    out = [{"kind": r["kind"], "right": judge(llm, yes, no, r["fr"], r["en"]),
            "wrong": judge(llm, yes, no, r["fr"], r["en_wrong"])} for r in rows]
    per = (time.perf_counter() - t0) / (2 * len(rows))
    right, wrong = [o["right"] for o in out], [o["wrong"] for o in out]
    auc = sum((a > b) + 0.5 * (a == b) for a in right for b in wrong) / (len(right) * len(wrong))
    print(f"# 1.5B entailment judge on {len(rows)} sentence pairs\n\nAUC (translation above near miss, all "
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
