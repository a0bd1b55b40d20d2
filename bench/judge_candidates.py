"""Would judging more than one quote candidate recover more refused answers? (It would not: see the summary.)

The quote fallback (:mod:`verification.quotes`) puts one sentence to the judge: the one that holds most of the
question's words. For each dev item this script lists the sentences of its retrieved passages that hold at
least ``--floor`` of the question, judges the best ``--top`` by coverage and the best 3 by dense similarity to
the question, and marks those that overlap a gold quote (share of the shorter one's words in the other ≥ 0.5).
It then prints, for each rule "pick by coverage + λ·dense, above a floor", how many answerable items get a
gold or a non-gold sentence accepted at the configured judge threshold, and which unanswerable items would get
a quote; and the highest-judged candidate at ranks 2 and below of each unanswerable item.

    .venv/bin/python bench/judge_candidates.py ../shared/eval/dev.jsonl --out /tmp/cands.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import gdpr_assistant  # noqa: F401  (offline switches first)
from gdpr_assistant.assistant import Assistant
from gdpr_assistant.evaluation.harness import load_items
from gdpr_assistant.text.words import tokenize
from gdpr_assistant.verification import quotes
from gdpr_assistant.verification.judge import judge_quote

NON_ANSWERABLE = ("unanswerable", "adversarial")


def gold_overlap(quote: str, golds: list[set[str]]) -> float:
    words = set(tokenize(quote))
    return max((len(words & g) / max(1, min(len(words), len(g))) for g in golds), default=0.0)


def collect(assistant: Assistant, items: list[dict[str, Any]], floor: float, top: int) -> list[dict[str, Any]]:
    retriever = assistant.retriever()
    s = assistant.settings
    judge = assistant.models.judge()
    if judge is None:
        raise SystemExit("No quote judge (ASK_QUOTE_JUDGE is empty): nothing to judge with.")
    out = []
    for item in items:
        if item["type"] == "purpose":
            continue
        question, lang = item["question"], item["lang"]
        texts = [h.passage.text for h in retriever.search(question, s.retrieval.answer_k)]
        found = quotes.candidates(question, texts, retriever.idf, lang, floor, s.trust.extract_min_known)
        golds = [set(tokenize(src["quote"])) for src in item.get("sources", [])]
        rows = []
        if found:
            dense = assistant.embedder.embed_passages([c.quote for c in found]) @ assistant.embedder.embed_query(
                question)
            rows = [{"rank": i, "coverage": c.coverage, "dense": float(dense[i]), "quote": c.quote,
                     "gold": gold_overlap(c.quote, golds)} for i, c in enumerate(found)]
        judged = set(range(min(top, len(rows)))) | set(sorted(range(len(rows)), key=lambda i: -rows[i]["dense"])[:3])
        for i in sorted(judged):
            rows[i]["judge"] = judge_quote(judge, question, rows[i]["quote"], lang)
        out.append({"id": item["id"], "type": item["type"], "candidates": rows})
        print(item["id"], [(r["rank"], round(r["judge"], 2), round(r["gold"], 2)) for r in rows if "judge" in r],
              flush=True)
    return out


def summary(data: list[dict[str, Any]], judge_min: float) -> None:
    print(f"\nPick rule → answerable items with a gold / non-gold sentence accepted (judge ≥ {judge_min}); "
          "unanswerable items quoted:\n")
    print("| λ (dense) | floor | gold | non-gold | unanswerable quoted |\n|---|---|---|---|---|")
    for lam in (0.0, 1.0, 2.0):
        for floor in (0.1, 0.2, 0.25):
            gold = wrong = 0
            quoted = []
            for item in data:
                rows = [r for r in item["candidates"] if r["coverage"] >= floor]
                if not rows:
                    continue
                best = max(rows, key=lambda r: r["coverage"] + lam * r["dense"])
                ok = best.get("judge", -float("inf")) >= judge_min
                if item["type"] in NON_ANSWERABLE:
                    quoted += [item["id"]] if ok else []
                elif ok:
                    gold, wrong = gold + (best["gold"] >= 0.5), wrong + (best["gold"] < 0.5)
            print(f"| {lam} | {floor} | {gold} | {wrong} | {', '.join(quoted) or '–'} |")
    print("\nUnanswerable items, best judgement of a candidate below rank 1 (judging more candidates would quote "
          "any at or above the threshold):\n")
    for item in data:
        if item["type"] in NON_ANSWERABLE:
            later = [r["judge"] for r in item["candidates"][1:] if "judge" in r]
            print(f"- {item['id']}: {max(later):.2f}" if later else f"- {item['id']}: –")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("items", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--floor", type=float, default=0.1)
    parser.add_argument("--top", type=int, default=6)
    args = parser.parse_args()
    assistant = Assistant()
    data = collect(assistant, load_items(args.items), args.floor, args.top)
    if args.out:
        args.out.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    summary(data, assistant.settings.trust.quote_judge_min)


if __name__ == "__main__":
    main()
