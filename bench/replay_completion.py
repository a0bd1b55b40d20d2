"""Replay list completion (verification/completeness.py) on the written answers of a saved evaluation: the key
points covered before and after, per question type, without running a model. An estimate: the live pipeline
completes the verified draft before it is shown, which is the same text for written answers.

    .venv/bin/python bench/replay_completion.py OUT.json QUESTIONS.jsonl [--show]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.evaluation.harness import keypoint_covered
from gdpr_assistant.intake.shape import question_shape
from gdpr_assistant.settings import get_settings
from gdpr_assistant.text.language import detect_language
from gdpr_assistant.verification.claims import split_claims
from gdpr_assistant.verification.completeness import complete
from gdpr_assistant.verification.crosslingual import pair_similarity
from gdpr_assistant.verification.verifier import DraftVerifier, Evidence


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path)
    ap.add_argument("questions", type=Path)
    ap.add_argument("--show", action="store_true", help="print each completed answer")
    args = ap.parse_args()
    items = {json.loads(line)["id"]: json.loads(line) for line in args.questions.read_text().splitlines()}
    report = json.loads(args.report.read_text())
    s = get_settings()
    assistant = Assistant(s)
    idf, similar = assistant.retriever().idf, pair_similarity(assistant.embedder)
    t = s.trust
    floor = t.claim_dense_floor + t.support_threshold * (t.claim_dense_ceiling - t.claim_dense_floor)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # covered before, after, points, completed
    for row in report["items"]:
        item = items[row["id"]]
        if not item.get("key_points"):
            continue
        answer, after = row["answer"], row["answer"]
        if row["kind"] in ("answer", "escalated") and not row["refused"] and row["citations"]:
            by_place = {(p["doc"], p["location"]): p["text"] for p in row["answer_passages"]}
            texts = [by_place[(c["doc"], c["location"])] for c in row["citations"]]
            lang = row["lang"]
            v = DraftVerifier(Evidence(passages=texts, question=row["question"], idf=idf, trust=t,
                                       cross=[detect_language(x) != lang for x in texts]))
            v.kept, v.shown = [answer], list(range(len(texts)))
            v.quotes = {i: [c.text for c in split_claims(answer) if i + 1 in c.cited] for i in v.shown}
            block = complete(v, question_shape(row["question"]) == "list", lang, s.answer.max_added_items,
                             similar, floor)
            after = v.text
            if block:
                totals[row["type"]][3] += 1
                if args.show:
                    print(f"--- {row['id']} ({row['type']})\n{after}\n")
        for kp in item["key_points"]:
            for key in (row["type"], "all"):
                totals[key][0] += keypoint_covered(kp, answer)
                totals[key][1] += keypoint_covered(kp, after)
                totals[key][2] += 1
    print("| type | key points | covered before | after | answers completed |")
    print("|---|---|---|---|---|")
    completed = sum(v[3] for k, v in totals.items() if k != "all")
    for key, (before, after_n, n, done) in sorted(totals.items()):
        done = completed if key == "all" else done
        print(f"| {key} | {n} | {before / n:.3f} | {after_n / n:.3f} | {done} |")


if __name__ == "__main__":
    main()
