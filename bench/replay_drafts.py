"""The verifier replayed on the drafts a saved evaluation recorded: what each written answer shows now, so that two
versions of the checks compare on the same text, without running a model (the model's drafts differ between
machines and builds; the replay does not). Session 17's dev and calibration-half runs, reduced to what a replay
reads, are in bench/results/session17/replay-{dev,calib}.json.gz.

    # the current checks, then another commit's, on one saved run; then what differs
    .venv/bin/python bench/replay_drafts.py RUN.json --out NEW.json
    git worktree add --detach /tmp/prev REV && PYTHONPATH=/tmp/prev/src .venv/bin/python bench/replay_drafts.py \\
        RUN.json --out OLD.json
    .venv/bin/python bench/replay_drafts.py diff OLD.json NEW.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path


def replay(run: Path, out: Path) -> None:
    import gdpr_assistant  # noqa: F401  (offline switches first)
    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.settings import get_settings
    from gdpr_assistant.types import Passage

    assistant = Assistant(get_settings())
    snap, pipeline = assistant.snapshot(), assistant.pipeline
    shown: dict[str, dict[str, object]] = {}
    text = gzip.decompress(run.read_bytes()).decode() if run.suffix == ".gz" else run.read_text()
    for it in json.loads(text)["items"]:
        if it.get("kind") not in ("answer", "extract", "escalated") or not it.get("draft"):
            continue
        passages = [Passage(doc=p["doc"], index=i, text=p["text"], start=0, end=0, headings=(), line_start=0,
                            line_end=0) for i, p in enumerate(it["answer_passages"])]
        v = pipeline._verifier(snap, passages, it["question"], it["lang"])
        list(v.feed(it["draft"]))
        list(v.close())
        shown[it["id"]] = {"verdict": v.verdict(it["lang"]), "text": v.text.strip()}
    out.write_text(json.dumps(shown, ensure_ascii=False, indent=0))
    print(f"{len(shown)} drafts replayed", file=sys.stderr)


def diff(old: Path, new: Path) -> None:
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    changed = [k for k in a if k in b and (a[k]["text"].strip(), a[k]["verdict"]) != (b[k]["text"].strip(),
                                                                                       b[k]["verdict"])]
    for k in changed:
        print(f"{k}\n  before: {a[k]['verdict'] or 'shown'}: {a[k]['text']}\n  after:  {b[k]['verdict'] or 'shown'}: "
              f"{b[k]['text']}")
    print(f"{len(changed)} of {len(a)} answers differ")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "diff":
        ap = argparse.ArgumentParser()
        ap.add_argument("cmd")
        ap.add_argument("old", type=Path)
        ap.add_argument("new", type=Path)
        args = ap.parse_args()
        diff(args.old, args.new)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    replay(args.run, args.out)


if __name__ == "__main__":
    main()
