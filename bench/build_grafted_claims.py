"""Statements grafted onto faithful ones: generated from the claim benchmark, one pair per faithful French claim.

A small model joins a sentence it copied from a passage to a statement of its own or of another document ("L'intérêt
légitime peut servir de base légale …, mais il est important de vérifier la qualité des résultats …", seen in the
e2e suite, session 18): every word after "mais" is the passage's, so the sentence's word share passes. This writes,
for each faithful French claim of bench/data/claims.jsonl (restatement, partial list, two-line summary), the claim
joined to a faithful claim written from another document ("X, mais Y", "Y, car X", "Puisque X, Y"), unfaithful, kind
"grafted"; and, where a span has two faithful French claims, the two joined the same ways, faithful, kind "joined".
Each pair keeps its base claim's split (calibration or test half).

    python bench/build_grafted_claims.py            # writes bench/data/claims-grafted.jsonl
    python bench/claims_bench.py lexical --data bench/data/claims-grafted.jsonl --without grafts_a_clause
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASES = ("restatement", "partial_list", "summary_two_lines")


def _pick(key: str, n: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % n


def _join(first: str, second: str, form: int) -> str:
    a, b = first.strip().rstrip("."), second.strip().rstrip(".")
    b_low = b[0].lower() + b[1:]
    if form == 0:
        return f"{a}, mais {b_low}."
    if form == 1:
        return f"{b}, car {a[0].lower() + a[1:]}."
    return f"Puisque {a[0].lower() + a[1:]}, {b_low}."


def pairs(claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base = [p for p in claims if p["kind"] in BASES and p["lang"] == "fr"]
    out: list[dict[str, Any]] = []
    for p in base:
        others = [q for q in base if q["doc"] != p["doc"]]
        q = others[_pick(p["id"], len(others))]
        out.append({**p, "id": f"g{len(out) + 1:04d}", "claim": _join(q["claim"], p["claim"], _pick(q["id"], 3)),
                    "kind": "grafted", "faithful": False,
                    "note": f"generated: {q['id']} ({q['doc']}) grafted onto {p['id']}"})
    for p in base:
        same = [q for q in base if q["span"] == p["span"] and q["id"] > p["id"]]
        for q in same:
            out.append({**p, "id": f"g{len(out) + 1:04d}", "kind": "joined", "faithful": True,
                        "claim": _join(q["claim"], p["claim"], _pick(q["id"] + p["id"], 3)),
                        "note": f"generated: {q['id']} and {p['id']}, two faithful claims of one span, joined"})
    return out


def main() -> None:
    claims = [json.loads(line) for line in (ROOT / "bench/data/claims.jsonl").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    found = pairs(claims)
    target = ROOT / "bench" / "data" / "claims-grafted.jsonl"
    target.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in found), encoding="utf-8")
    print(f"{len(found)} pairs written to {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
