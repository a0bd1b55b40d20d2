"""Two `ask eval` outputs compared item by item: same kind, refusal and answer text? Same retrieval gold ranks?

Used to show that a change of code left behaviour unchanged (or which items it changed, to explain each):

    .venv/bin/python bench/compare_evals.py OLD.json NEW.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    old, new = (json.loads(Path(p).read_text(encoding="utf-8")) for p in sys.argv[1:3])
    by_id = {item["id"]: item for item in new["items"]}
    same = 0
    for item in old["items"]:
        other = by_id.get(item["id"])
        if other is None:
            continue
        key = ("refused", "kind", "answer")
        if all(item.get(k) == other.get(k) for k in key):
            same += 1
        else:
            was, now = f"{item.get('kind')}/{item.get('refused')}", f"{other.get('kind')}/{other.get('refused')}"
            print(f"{item['id']}: {was} -> {now}")
            print(f"  old: {item.get('answer', '')[:160]!r}\n  new: {other.get('answer', '')[:160]!r}")
    print(f"identical answers: {same} of {len(old['items'])}")
    ranks = [(i["id"], i["gold_ranks"]) for i in old["items"]] == [(i["id"], i["gold_ranks"]) for i in new["items"]]
    print(f"retrieval gold ranks identical: {ranks}")


if __name__ == "__main__":
    main()
