"""How follow-up questions fare: each item of ``bench/data/followups.jsonl`` is asked after its previous
question, as ``ask chat`` and the web UI do, and the outcome is printed as a Markdown table.

The pairs were written for this check, not taken from the dev set; whether an answer is right is read by a
person (the table shows what was shown and the documents it cites).

    .venv/bin/python bench/followups.py [--fast] [--out OUT.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.settings import Settings

DATA = Path(__file__).parent / "data" / "followups.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast", action="store_true", help="the 0.5B model")
    parser.add_argument("--out", type=Path, help="write every answer as JSON here")
    args = parser.parse_args()
    settings = Settings(llm="fast" if args.fast else "default").resolved()
    assistant = Assistant(settings)
    rows = []
    print("| id | follow-up | outcome | cited documents | shown (start) |\n|---|---|---|---|---|")
    for line in DATA.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        answer = assistant.ask(item["question"], history=[(item["previous"], "")])
        outcome = "refused" if answer.refused else answer.kind
        docs = ", ".join(sorted({c.doc for c in answer.citations}))
        shown = (answer.citations[0].quote if answer.kind == "extract" else answer.answer)[:90].replace("\n", " ")
        print(f"| {item['id']} | {item['question']} | {outcome} | {docs} | {shown} |", flush=True)
        rows.append({**item, **answer.as_dict()})
    if args.out:
        args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
