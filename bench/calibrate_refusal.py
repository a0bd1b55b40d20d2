"""Calibrate a model's refusal bias from one evaluation run in which it was never allowed to refuse.

Run the answer evaluation with ``ASK_REFUSAL_BIAS=inf``: each item then records the model's first-token
refusal margin (log-odds of the refusal literal against its best answer start) and the draft it writes when
it does not refuse. With greedy decoding the bias acts on the first token only, so for any bias ``b`` the
outcome is exact: an item whose margin exceeds ``b`` is refused, any other gives the recorded draft. The
drafts are checked again here by the verifier the product runs (:class:`DraftVerifier`, so the table follows
changes to the checks without generating again), with its verdict: supported claims, question coverage, a figure
for a question about an amount.

When a draft fails, the pipeline quotes the best-covering passage sentence instead of refusing if the judge
model finds that it answers the question (:mod:`verification.quotes`, ``quote_judge``, ``quote_judge_min``), else the
best excerpt if the judge says yes to it (``quote_excerpt_judge_min``). The judge rates each item's sentence
and excerpt here (``ASK_QUOTE_JUDGE=fast`` to rate with the 0.5B); a second table sweeps the sentence
threshold, a third the excerpt threshold, at the configured bias.

The first table shows, for each bias, the false-refusal rate, refusal accuracy on unanswerable items, key-point
coverage and the share of citations in a gold document, over the whole set and over its odd and even halves
(a bias that only works on one half is tuned to items, not to the model).

    ASK_REFUSAL_BIAS=inf .venv/bin/ask eval ../shared/eval/dev.jsonl --out /tmp/forced.json [--fast]
    .venv/bin/python bench/calibrate_refusal.py /tmp/forced.json ../shared/eval/dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import gdpr_assistant  # noqa: F401  (offline switches first)
from gdpr_assistant.assistant import Assistant
from gdpr_assistant.evaluation.harness import keypoint_covered, load_items
from gdpr_assistant.text.language import detect_language
from gdpr_assistant.verification import quotes
from gdpr_assistant.verification.claims import question_coverage
from gdpr_assistant.verification.crosslingual import sentence_similarity
from gdpr_assistant.verification.judge import judge_quote
from gdpr_assistant.verification.verifier import DraftVerifier, Evidence

NON_ANSWERABLE = ("unanswerable", "adversarial")
BIASES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, math.inf)
JUDGE_MINS = (-math.inf, -2.0, -1.5, -1.0, -0.5, 0.0, math.inf)


def recheck(assistant: Assistant, row: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """The item's outcome when the model answers: its recorded draft through today's checks."""
    if row.get("refusal_margin") is None:  # declined or refused before the model ran
        return {"refused": row["refused"], "key_points": row["key_points"], "on_gold_doc": [],
                "reason": row["refusal_reason"], "coverage": None}
    s = assistant.settings
    retriever = assistant.retriever()
    passages = row["answer_passages"]
    texts = [p["text"] for p in passages]
    v = DraftVerifier(Evidence(passages=texts, question=row["question"], idf=retriever.idf, trust=s.trust,
                               dense=sentence_similarity(assistant.embedder, texts),
                               cross=[detect_language(t) != row["lang"] for t in texts]))
    for _ in (*v.feed(row["draft"]), *v.close()):
        pass
    reason = v.verdict(row["lang"])
    coverage = question_coverage(row["question"], [v.text, *v.spans().values()], retriever.idf, row["lang"])
    gold_docs = {src["doc"] for src in item.get("sources", [])}

    judge = assistant.models.judge()
    if judge is None:
        raise SystemExit("No quote judge (ASK_QUOTE_JUDGE is empty): set one to calibrate the quote thresholds.")

    def judged(found: quotes.Extract | None) -> dict[str, Any] | None:
        return None if found is None else {
            "refused": False, "coverage": found.coverage, "quote": found.quote,
            "margin": judge_quote(judge, row["question"], found.quote, row["lang"]),
            "key_points": {k: keypoint_covered(k, found.quote) for k in row["key_points"]},
            "on_gold_doc": [passages[found.passage]["doc"] in gold_docs]}

    t = s.trust
    extract = judged(quotes.extract(row["question"], texts, retriever.idf, row["lang"], t.min_question_coverage,
                                    t.extract_min_known))
    excerpt = judged(quotes.excerpt(row["question"], texts, retriever.idf, row["lang"], t.min_question_coverage,
                                    t.extract_min_known, t.excerpt_max_chars, retriever.expand(row["question"])))
    return {"refused": bool(reason), "reason": reason, "coverage": coverage, "extract": extract, "excerpt": excerpt,
            "key_points": {k: not reason and keypoint_covered(k, v.text) for k in row["key_points"]},
            "on_gold_doc": [] if reason else [passages[i]["doc"] in gold_docs for i in v.shown]}


def metrics(rows: list[dict[str, Any]], bias: float, judge_min: float = math.inf,
            excerpt_min: float = math.inf) -> list[float | None]:
    def outcome(row: dict[str, Any]) -> dict[str, Any]:
        margin = row.get("refusal_margin")
        refused = {"refused": True, "key_points": {k: False for k in row["key_points"]}, "on_gold_doc": []}
        done = refused if margin is not None and margin > bias else row["recheck"]
        if done["refused"] and margin is not None:  # the model ran: a well-covering quote may stand instead
            extract, excerpt = row["recheck"]["extract"], row["recheck"]["excerpt"]
            if extract and extract["margin"] >= judge_min:
                return extract
            if excerpt and (not extract or excerpt["quote"] != extract["quote"]) and excerpt["margin"] >= excerpt_min:
                return excerpt
        return done

    answerable = [outcome(r) for r in rows if r["type"] not in NON_ANSWERABLE]
    unanswerable = [outcome(r) for r in rows if r["type"] == "unanswerable"]

    def mean(values: list[bool]) -> float | None:
        return round(sum(values) / len(values), 3) if values else None

    return [mean([o["refused"] for o in answerable]), mean([o["refused"] for o in unanswerable]),
            mean([v for o in answerable for v in o["key_points"].values()]),
            mean([g for o in answerable for g in o["on_gold_doc"]])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="evaluation JSON of a run with ASK_REFUSAL_BIAS=inf")
    parser.add_argument("dev", type=Path, help="the question set of that run (gold documents)")
    args = parser.parse_args()
    report = json.loads(args.report.read_text(encoding="utf-8"))
    items = {it["id"]: it for it in load_items(args.dev)}
    assistant = Assistant()
    rows = report["items"]
    for row in rows:
        row["recheck"] = recheck(assistant, row, items[row["id"]])
    halves = {"all": rows, "odd": rows[0::2], "even": rows[1::2]}
    print(f"model {report['settings'].get('model')}, {len(rows)} items; columns: false refusals / unanswerable "
          "refused / key points / citations in a gold document\n")
    print("| bias | " + " | ".join(halves) + " |\n|---|" + "---|" * len(halves))
    for bias in BIASES:
        cells = [" / ".join("–" if v is None else f"{v:.2f}" for v in metrics(sub, bias)) for sub in halves.values()]
        print(f"| {bias} | " + " | ".join(cells) + " |")
    s = assistant.settings
    print(f"\nWith a sentence quoted when a draft fails (bias {s.trust.refusal_bias}, no excerpt), by the judgement "
          "threshold:\n")
    print("| sentence judged ≥ | " + " | ".join(halves) + " |\n|---|" + "---|" * len(halves))
    for judge_min in JUDGE_MINS:
        cells = [" / ".join("–" if v is None else f"{v:.2f}" for v in metrics(sub, s.trust.refusal_bias, judge_min))
                 for sub in halves.values()]
        print(f"| {judge_min} | " + " | ".join(cells) + " |")
    print(f"\nThen, for a sentence judged below {s.trust.quote_judge_min}, the best excerpt, by its threshold:\n")
    print("| excerpt judged ≥ | " + " | ".join(halves) + " |\n|---|" + "---|" * len(halves))
    for excerpt_min in JUDGE_MINS:
        cells = [" / ".join("–" if v is None else f"{v:.2f}" for v in
                            metrics(sub, s.trust.refusal_bias, s.trust.quote_judge_min, excerpt_min))
                 for sub in halves.values()]
        print(f"| {excerpt_min} | " + " | ".join(cells) + " |")
    print("\n| id | type | margin | coverage | refused when forced | why | sentence: coverage, judged | excerpt: "
          "coverage, judged | sentence |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        m, c = r.get("refusal_margin"), r["recheck"]["coverage"]
        e, x = r["recheck"].get("extract"), r["recheck"].get("excerpt")
        judged = "–" if not e else f"{e['coverage']:.2f}, {e['margin']:+.2f}"
        wider = "–" if not x else f"{x['coverage']:.2f}, {x['margin']:+.2f}"
        quote = "–" if not e else e["quote"][:70].replace("|", "/")
        print(f"| {r['id']} | {r['type']} | {'–' if m is None else f'{m:.2f}'} | {'–' if c is None else f'{c:.2f}'} "
              f"| {r['recheck']['refused']} | {r['recheck']['reason']} | {judged} | {wider} | {quote} |")


if __name__ == "__main__":
    main()
