"""Check the (claim, passage) benchmark and assign its calibration/test split.

`bench/data/claims.jsonl` holds one pair a line: a `span` copied exactly from a corpus document and a `claim`
that the span does or does not entail (`faithful`), with the `kind` of rewrite that produced the claim. This
script checks every line (exact substring, field types, known kinds, faithful flag consistent with the kind,
unique ids and claims), then assigns `split` = "calib" or "test": within each (kind, lang) group, pairs are
sorted by the sha256 of their id and alternate calib/test. The file is rewritten only if a split changed, so
running it twice changes nothing. It exits 1, listing the offending ids, if any check fails.

    python bench/build_claims.py [--corpus corpus] [--data bench/data/claims.jsonl]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

FAITHFUL_KINDS = frozenset({"restatement", "translation", "partial_list", "summary_two_lines"})
UNFAITHFUL_KINDS = frozenset({"negation", "actor_swap", "figure_change", "modality_change", "invented_cause",
                              "premise", "recombined", "other_fact"})
KINDS = FAITHFUL_KINDS | UNFAITHFUL_KINDS
LANGS = frozenset({"fr", "en"})
PASSAGE_TYPES = frozenset({"prose", "slide", "list", "table"})
SPLITS = ("calib", "test")
SPAN_CHARS = (80, 600)
FIELDS: dict[str, type] = {"id": str, "doc": str, "span": str, "claim": str, "lang": str, "kind": str,
                           "faithful": bool, "passage_type": str, "note": str}
ORDER = [*FIELDS, "split"]
ID_RE = re.compile(r"c\d{4}")


def load(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of the JSONL file, and the errors of lines that are not JSON objects."""
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            errors.append(f"line {n}: not a JSON object")
            continue
        rows.append(row)
    return rows, errors


def norm(text: str) -> str:
    return " ".join(text.casefold().split())


def check(rows: list[dict[str, Any]], corpus: Path) -> dict[str, list[str]]:
    """Problems per id (or per line for rows without a usable id)."""
    problems: dict[str, list[str]] = defaultdict(list)
    docs: dict[str, str | None] = {}
    ids: Counter[str] = Counter()
    claims: dict[str, list[str]] = defaultdict(list)
    for n, row in enumerate(rows, 1):
        rid = row.get("id")
        key = rid if isinstance(rid, str) and rid else f"line {n}"
        bad = problems[key]
        for field, typ in FIELDS.items():
            if field not in row:
                bad.append(f"missing field {field!r}")
            elif type(row[field]) is not typ:
                bad.append(f"field {field!r} is {type(row[field]).__name__}, not {typ.__name__}")
        extra = set(row) - set(ORDER)
        if extra:
            bad.append(f"unknown fields {sorted(extra)}")
        if "split" in row and row["split"] not in SPLITS:
            bad.append(f"split {row['split']!r} not in {SPLITS}")
        if bad:
            continue
        ids[rid] += 1
        claims[norm(row["claim"])].append(rid)
        if not ID_RE.fullmatch(rid):
            bad.append(f"id {rid!r} is not of the form c0001")
        kind = row["kind"]
        if kind not in KINDS:
            bad.append(f"unknown kind {kind!r}")
        elif row["faithful"] != (kind in FAITHFUL_KINDS):
            bad.append(f"faithful={row['faithful']} inconsistent with kind {kind!r}")
        if row["lang"] not in LANGS:
            bad.append(f"lang {row['lang']!r} not in {sorted(LANGS)}")
        if row["passage_type"] not in PASSAGE_TYPES:
            bad.append(f"passage_type {row['passage_type']!r} not in {sorted(PASSAGE_TYPES)}")
        if not row["claim"].strip():
            bad.append("empty claim")
        if not SPAN_CHARS[0] <= len(row["span"]) <= SPAN_CHARS[1]:
            bad.append(f"span has {len(row['span'])} characters, outside {SPAN_CHARS[0]}-{SPAN_CHARS[1]}")
        doc = row["doc"]
        if doc not in docs:
            path = corpus / doc
            docs[doc] = path.read_text(encoding="utf-8") if path.is_file() and path.parent == corpus else None
        text = docs[doc]
        if text is None:
            bad.append(f"document {doc!r} not found in {corpus}")
        elif row["span"] not in text:
            bad.append(f"span is not an exact substring of {doc}")
    for rid, count in ids.items():
        if count > 1:
            problems[rid].append(f"id repeated {count} times")
    for same in claims.values():
        if len(same) > 1:
            for rid in same:
                problems[rid].append(f"claim repeated in {', '.join(x for x in same if x != rid)}")
    return {key: msgs for key, msgs in problems.items() if msgs}


def sha(rid: str) -> str:
    return hashlib.sha256(rid.encode("utf-8")).hexdigest()


def assign_splits(rows: list[dict[str, Any]]) -> None:
    """Within each (kind, lang) group, sorted by sha256 of the id: calib, test, calib, test..."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["kind"], row["lang"]].append(row)
    for group in groups.values():
        for i, row in enumerate(sorted(group, key=lambda r: sha(r["id"]))):
            row["split"] = SPLITS[i % 2]


def dump(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps({k: row[k] for k in ORDER if k in row}, ensure_ascii=False) + "\n" for row in rows)


def table(title: str, counts: Counter[tuple[str, str]], rows: list[str], cols: list[str]) -> str:
    width = max([len(title), *map(len, rows), len("total")])
    cells = [max(len(c), 5) for c in cols]
    out = [f"{title:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cols, cells, strict=True)) + "  total"]
    for r in rows:
        vals = [counts[r, c] for c in cols]
        out.append(f"{r:<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(vals, cells, strict=True))
                   + f"  {sum(vals):>5}")
    totals = [sum(counts[r, c] for r in rows) for c in cols]
    out.append(f"{'total':<{width}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(totals, cells, strict=True))
               + f"  {sum(totals):>5}")
    return "\n".join(out)


def report(rows: list[dict[str, Any]]) -> str:
    kinds = sorted(FAITHFUL_KINDS) + sorted(UNFAITHFUL_KINDS)
    docs = sorted({r["doc"] for r in rows})
    ptypes = sorted({r["passage_type"] for r in rows})
    en = sum(r["lang"] == "en" for r in rows)
    parts = [
        f"{len(rows)} pairs, {sum(r['faithful'] for r in rows)} faithful, {en} English ({en / len(rows):.0%})",
        table("kind x split", Counter((r["kind"], r["split"]) for r in rows), kinds, list(SPLITS)),
        table("kind x lang", Counter((r["kind"], r["lang"]) for r in rows), kinds, ["fr", "en"]),
        table("doc x faithful", Counter((r["doc"], str(r["faithful"]).lower()) for r in rows), docs,
              ["true", "false"]),
        table("passage_type x faithful", Counter((r["passage_type"], str(r["faithful"]).lower()) for r in rows),
              ptypes, ["true", "false"]),
    ]
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="directory of the source documents")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "claims.jsonl",
                        help="the claims JSONL file (rewritten with the split)")
    args = parser.parse_args(argv)
    corpus: Path = args.corpus.resolve()
    data: Path = args.data

    rows, errors = load(data)
    problems = check(rows, corpus)
    if errors or problems:
        for err in errors:
            print(f"ERROR {err}", file=sys.stderr)
        for key, msgs in sorted(problems.items()):
            for msg in msgs:
                print(f"ERROR {key}: {msg}", file=sys.stderr)
        print(f"{len(problems) + len(errors)} offending entries: {', '.join(sorted(problems))}", file=sys.stderr)
        return 1

    assign_splits(rows)
    after = dump(rows)
    if after != data.read_text(encoding="utf-8"):
        data.write_text(after, encoding="utf-8")
        print(f"wrote {data} ({len(rows)} pairs, split assigned)\n")
    else:
        print(f"{data} unchanged ({len(rows)} pairs)\n")
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
