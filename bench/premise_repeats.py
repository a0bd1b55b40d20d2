"""How `checks.states_the_premise` reads two kinds of sentences, per half of the question sets / claim benchmark:
the reference corrections of the false-premise questions (bench/data/questions-premise.jsonl, each sentence of
the written answer: none should be read as stating the premise) and the claim benchmark's planted premises of a
premise form (bench/data/claims.jsonl, kind "premise": each should be).

    .venv/bin/python bench/premise_repeats.py
"""

from __future__ import annotations

import json
from pathlib import Path

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.settings import get_settings
from gdpr_assistant.text.sentences import sentences
from gdpr_assistant.verification.checks import states_the_premise
from gdpr_assistant.verification.premise import premise_of

DATA = Path(__file__).parent / "data"


def main() -> None:
    s = get_settings()
    idf, share = Assistant(s).retriever().idf, s.trust.support_threshold
    counts: dict[tuple[str, str], list[int]] = {}
    for line in (DATA / "questions-premise.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        premise = premise_of(item["question"])
        for sentence in sentences(item.get("answer", "")) if premise else []:
            c = counts.setdefault(("corrections read as stating the premise", item["split"]), [0, 0])
            c[0], c[1] = c[0] + states_the_premise(sentence, premise.text, idf, share), c[1] + 1
    for line in (DATA / "claims.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        premise = premise_of(row["claim"]) if row["kind"] == "premise" else None
        if premise:
            c = counts.setdefault(("planted premises caught", row["split"]), [0, 0])
            c[0], c[1] = c[0] + states_the_premise(row["claim"], premise.text, idf, share), c[1] + 1
    print("| measure | half | count |\n|---|---|---|")
    for (what, split), (hit, total) in sorted(counts.items()):
        print(f"| {what} | {split} | {hit} of {total} |")


if __name__ == "__main__":
    main()
