"""Probe: write the draft again from one retrieved passage (chosen by rank) and verify it, for some items of a
question set; prints the raw draft, what the verifier kept and its verdict. Negative result, not in the pipeline:
bench/results/redraft.md.

    .venv/bin/python bench/redraft_probe.py QUESTIONS.jsonl q004,q014 0,1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.models.backend import GenerationStats
from gdpr_assistant.settings import get_settings
from gdpr_assistant.text.language import detect_language


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("questions", type=Path)
    ap.add_argument("ids", help="comma-separated item ids")
    ap.add_argument("ranks", nargs="?", default="0", help="comma-separated passage ranks, 0 = the best")
    args = ap.parse_args()
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    items = {json.loads(line)["id"]: json.loads(line) for line in lines if line.strip()}
    s = get_settings()
    assistant = Assistant(s)
    snap, pipeline = assistant.snapshot(), assistant.pipeline
    for item_id in args.ids.split(","):
        item = items[item_id]
        question = item["question"]
        lang = detect_language(question)
        hits = snap.retriever.search(question, s.retrieval.answer_k)
        print("=====", item_id, item.get("type"), question[:120])
        for rank in (int(r) for r in args.ranks.split(",")):
            one = [hits[rank]]
            messages = pipeline.prompt_messages(snap, question, one, lang)
            draft = pipeline._verifier(snap, [h.passage for h in one], question, lang)
            t0 = time.perf_counter()
            "".join(pipeline._write(snap.models.answerer(), messages, draft, GenerationStats()))
            verdict = draft.verdict(lang)
            print(f"-- rank {rank} {one[0].passage.doc[:24]} {time.perf_counter() - t0:.1f}s "
                  f"verdict={verdict!r} coverage={draft.coverage}")
            print("   raw :", draft.raw[:300].replace("\n", " | "))
            print("   kept:", draft.text[:300].replace("\n", " | "))
        print("   key points:", item.get("key_points"))


if __name__ == "__main__":
    main()
