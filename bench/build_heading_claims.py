"""Headings and labels copied as claims: generated from every corpus document, one pair per heading or label line.

Small models copy slide headings and labels into answers as if they were sentences ("## Exemple illustratif n°2
[2]."); such a line names a topic and asserts nothing. This writes, for each heading line of each document (a
Markdown heading, a line in bold alone, a label ending with a colon), the pair (the line as a model copies it, the
lines under it), unfaithful, kind "heading", in the format of claims.jsonl; split calib/test alternating by the
sha256 of the id. Statement-like headings are kept too (more than four words): the check leaves those alone, and
the table shows what that costs.

    python bench/build_heading_claims.py            # writes bench/data/claims-headings.jsonl
    python bench/claims_bench.py lexical --data bench/data/claims-headings.jsonl --without is_heading_copy
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from gdpr_assistant.verification.checks import NUMBERED_HEADING

ROOT = Path(__file__).resolve().parent.parent
HEADING = re.compile(r"^\s*(#{1,6}\s+\S.*|\*\*[^*]+\*\*\s*:?|[^\s#].{2,60}:)\s*$")


def pairs(corpus: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in sorted(corpus.glob("*")):
        if path.suffix not in (".md", ".txt") or path.name in ("SOURCES.md", "README.md"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if not HEADING.match(line) or line.strip().startswith(("- ", "* ", "|")):
                continue
            span = "\n".join(lines[i:i + 6]).strip()
            if len(span) < 80:
                continue
            bare = line.strip()
            # Copied the way models copy them: with the Markdown marks half the time, without the other half.
            claim = bare if len(out) % 2 == 0 else re.sub(r"[#*]+", "", bare).strip(" :")
            if not re.search(r"\w{2}", claim):
                continue
            out.append({"id": f"h{len(out) + 1:04d}", "doc": path.name, "span": span, "claim": claim, "lang": "fr",
                        "kind": "heading", "faithful": False, "passage_type": "slide" if bare.startswith("#")
                        else "prose", "note": "generated: a heading or label copied as a claim"})
    # A numbered heading's title without its number ("Définir une finalité" of "## Fiche 2 - Définir une
    # finalité"), once per title: added after the others so that their ids, and splits, stay as they were.
    titles: dict[str, dict[str, object]] = {}
    for p in out:
        found = NUMBERED_HEADING.match(re.sub(r"[#*]+", "", str(p["claim"])).strip(" :"))
        if found and found.group(1) not in titles:
            titles[found.group(1)] = {**p, "claim": found.group(1),
                                      "note": "generated: a numbered heading's title copied as a claim"}
    for n, p in enumerate(titles.values(), start=len(out) + 1):
        out.append({**p, "id": f"h{n:04d}"})
    for p in out:
        p["split"] = "calib" if int(hashlib.sha256(str(p["id"]).encode()).hexdigest(), 16) % 2 == 0 else "test"
    return out


def main() -> None:
    found = pairs(ROOT / "corpus")
    target = ROOT / "bench" / "data" / "claims-headings.jsonl"
    target.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in found), encoding="utf-8")
    print(f"{len(found)} heading pairs written to {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
