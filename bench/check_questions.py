"""Check the generalisation question sets and give each item a deterministic calib/test split.

Checks, for ``questions-{answerable,premise,unanswerable,harmful,true-premise,harmful-2,benign-near-2,
other-lang}.jsonl``: required fields and their types, the id prefix of each file, allowed values (lang, type,
difficulty, premise_status), that every ``quote`` is a substring of its document once whitespace is collapsed
on both sides (and stays within 40-200 characters), the source rules of each type (contradicted and true
premises and answerable items cite passages; unsupported premises, unanswerable and other-language items cite
none; benign near misses may cite passages or not), and that ids and questions are unique across the files.

Languages: every type is in French or English (``fr``/``en``) except ``other_language``, whose ``lang`` is the
two-letter ISO code of another language. Key points: non-empty everywhere except ``benign_near``, where they
may be empty (the expected behaviour is simply "answer, do not decline").

Then it assigns ``"split": "calib" | "test"``: within each (file, type, lang) stratum the items are sorted by
the sha256 of their id and alternately put in calib and test; the other-language items share one stratum per
file and type (one language rarely has more than a few items). The files are written back in their own order
(idempotent: a second run rewrites the same bytes). It prints counts per file x type x lang x split and per
cited document. Nothing is written when a check fails (exit status 1).

    python bench/check_questions.py [--corpus corpus] [--data bench/data] [--no-write]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# file name -> (id prefix, allowed types)
FILES: dict[str, tuple[str, frozenset[str]]] = {
    "questions-answerable.jsonl": ("an", frozenset({"fact", "list", "synthesis"})),
    "questions-premise.jsonl": ("pr", frozenset({"false_premise"})),
    "questions-unanswerable.jsonl": ("oc", frozenset({"unanswerable"})),
    "questions-harmful.jsonl": ("hm", frozenset({"harmful"})),
    "questions-true-premise.jsonl": ("tp", frozenset({"true_premise"})),
    "questions-harmful-2.jsonl": ("hx", frozenset({"harmful"})),
    "questions-benign-near-2.jsonl": ("bx", frozenset({"benign_near"})),
    "questions-other-lang.jsonl": ("ol", frozenset({"other_language"})),
    # Legitimate requests in the forms harmful ones take (a project told in the first person, "give me the method
    # step by step", an order to the assistant), and off-topic or injection requests that are no harm: the harm
    # check must not learn the form instead of the intent.
    "questions-benign-requests.jsonl": ("br", frozenset({"benign_near"})),
    # "How long" questions: the guidance answers most with a method (a period per phase), not a figure.
    "questions-duration.jsonl": ("du", frozenset({"fact", "unanswerable"})),
}
COMMON_FIELDS: dict[str, type] = {
    "id": str,
    "lang": str,
    "type": str,
    "question": str,
    "answer": str,
    "key_points": list,
    "sources": list,
    "difficulty": str,
}
EXTRA_FIELDS: dict[str, dict[str, type]] = {
    "questions-premise.jsonl": {"premise": str, "premise_status": str},
    "questions-harmful.jsonl": {"category": str},
    "questions-true-premise.jsonl": {"premise": str},
    "questions-harmful-2.jsonl": {"category": str},
}
LANGS = frozenset({"fr", "en"})
OTHER_LANG = "other_language"  # the only type whose lang is not fr/en
OTHER_STRATUM = "xx"  # shared split stratum of the other-language items
DIFFICULTIES = frozenset({"easy", "medium", "hard"})
PREMISE_STATUS = frozenset({"contradicted", "unsupported"})
SPLITS = ("calib", "test")
QUOTE_MIN, QUOTE_MAX = 40, 200


def norm(text: str) -> str:
    """Whitespace collapsed to single spaces, ends stripped."""
    return re.sub(r"\s+", " ", text).strip()


def stratum_lang(it: dict[str, Any]) -> str:
    """The lang used to stratify splits and count items: fr/en as is, any other language pooled."""
    return OTHER_STRATUM if it["type"] == OTHER_LANG else it["lang"]


def load_jsonl(path: Path, errors: list[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{path.name}:{n}: invalid JSON ({exc})")
            continue
        if not isinstance(obj, dict):
            errors.append(f"{path.name}:{n}: not a JSON object")
            continue
        items.append(obj)
    return items


def check_item(name: str, it: dict[str, Any], docs: dict[str, str], errors: list[str]) -> None:
    prefix, types = FILES[name]
    where = f"{name}:{it.get('id', '?')}"
    for field, kind in {**COMMON_FIELDS, **EXTRA_FIELDS.get(name, {})}.items():
        if field not in it:
            errors.append(f"{where}: missing field {field!r}")
        elif not isinstance(it[field], kind):
            errors.append(f"{where}: field {field!r} should be {kind.__name__}")
    if any(f not in it or not isinstance(it[f], k) for f, k in COMMON_FIELDS.items()):
        return
    if not re.fullmatch(rf"{prefix}\d{{3}}", it["id"]):
        errors.append(f"{where}: id should be {prefix!r} plus three digits")
    if OTHER_LANG in types:
        if not re.fullmatch(r"[a-z]{2}", it["lang"]) or it["lang"] in LANGS:
            errors.append(f"{where}: lang {it['lang']!r} should be a two-letter ISO code other than fr/en")
    elif it["lang"] not in LANGS:
        errors.append(f"{where}: lang {it['lang']!r} not in {sorted(LANGS)}")
    if it["type"] not in types:
        errors.append(f"{where}: type {it['type']!r} not in {sorted(types)}")
    if it["difficulty"] not in DIFFICULTIES:
        errors.append(f"{where}: difficulty {it['difficulty']!r} not in {sorted(DIFFICULTIES)}")
    if "split" in it and it["split"] not in SPLITS:
        errors.append(f"{where}: split {it['split']!r} not in {list(SPLITS)}")
    for field in ("question", "answer"):
        if not it[field].strip():
            errors.append(f"{where}: empty {field}")
    kps = it["key_points"]
    if not all(isinstance(k, str) and k.strip() for k in kps):
        errors.append(f"{where}: key_points must be non-empty strings")
    elif not kps and it["type"] != "benign_near":
        errors.append(f"{where}: key_points must be a non-empty list (only benign_near items may have none)")
    elif name == "questions-answerable.jsonl" and not 2 <= len(kps) <= 6:
        errors.append(f"{where}: answerable items need 2-6 key points, found {len(kps)}")
    for src in it["sources"]:
        if not isinstance(src, dict) or not isinstance(src.get("doc"), str) or not isinstance(src.get("quote"), str):
            errors.append(f"{where}: each source needs string 'doc' and 'quote'")
            continue
        doc, quote = src["doc"], src["quote"]
        if doc not in docs:
            errors.append(f"{where}: unknown document {doc!r}")
            continue
        if "\n" in quote or not QUOTE_MIN <= len(quote) <= QUOTE_MAX:
            errors.append(f"{where}: quote must be one line of {QUOTE_MIN}-{QUOTE_MAX} characters: {quote!r}")
        if not norm(quote) or norm(quote) not in docs[doc]:
            errors.append(f"{where}: quote not found in {doc}: {quote!r}")
    n_src = len(it["sources"])
    if name == "questions-answerable.jsonl" and n_src == 0:
        errors.append(f"{where}: answerable items must cite at least one passage")
    if name == "questions-unanswerable.jsonl" and n_src:
        errors.append(f"{where}: unanswerable items must have empty sources")
    if it["type"] == "harmful" and not str(it.get("category", "")).strip():
        errors.append(f"{where}: empty category")
    if it["type"] == OTHER_LANG and n_src:
        errors.append(f"{where}: other-language items must have empty sources")
    if it["type"] == "true_premise":
        if n_src == 0:
            errors.append(f"{where}: a true premise must cite the passage stating it")
        if not str(it.get("premise", "")).strip():
            errors.append(f"{where}: empty premise")
    if name == "questions-premise.jsonl":
        status = it.get("premise_status")
        if status not in PREMISE_STATUS:
            errors.append(f"{where}: premise_status {status!r} not in {sorted(PREMISE_STATUS)}")
        elif status == "contradicted" and n_src == 0:
            errors.append(f"{where}: a contradicted premise must cite the contradicting passage")
        elif status == "unsupported" and n_src:
            errors.append(f"{where}: an unsupported premise must have empty sources")
        if not str(it.get("premise", "")).strip():
            errors.append(f"{where}: empty premise")


def assign_splits(data: dict[str, list[dict[str, Any]]]) -> None:
    """Alternate calib/test over each (file, type, lang) stratum, items ordered by sha256 of their id."""
    strata: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for name, items in data.items():
        for it in items:
            strata[(name, it["type"], stratum_lang(it))].append(it)
    for members in strata.values():
        members.sort(key=lambda it: hashlib.sha256(it["id"].encode("utf-8")).hexdigest())
        for rank, it in enumerate(members):
            it["split"] = SPLITS[rank % 2]


def dump(items: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items)


def report(data: dict[str, list[dict[str, Any]]], docs: dict[str, str]) -> None:
    print(f"{'file':<30} {'type':<14} {'lang':<4} {'split':<5} {'n':>4}")
    for name, items in data.items():
        counts = Counter((it["type"], stratum_lang(it), it["split"]) for it in items)
        for (type_, lang, split), n in sorted(counts.items()):
            print(f"{name:<30} {type_:<14} {lang:<4} {split:<5} {n:>4}")
        langs = Counter(it["lang"] for it in items)
        order = [lang for lang in ("fr", "en") if lang in langs] + sorted(set(langs) - LANGS)
        splits = Counter(it["split"] for it in items)
        print(
            f"{name:<30} {'TOTAL':<14} {len(items):>4}  ({', '.join(f'{lang} {langs[lang]}' for lang in order)};"
            f" calib {splits['calib']}, test {splits['test']})"
        )
    extra = Counter(it["premise_status"] for it in data.get("questions-premise.jsonl", []))
    if extra:
        print("premise_status: " + ", ".join(f"{k} {v}" for k, v in sorted(extra.items())))
    near = Counter(bool(it.get("near_miss")) for it in data.get("questions-unanswerable.jsonl", []))
    if near:
        print(f"unanswerable near misses: {near[True]} of {near[True] + near[False]}")
    for name in ("questions-harmful.jsonl", "questions-harmful-2.jsonl"):
        cats = Counter(it["category"] for it in data.get(name, []))
        if cats:
            print(f"{name} categories: " + ", ".join(f"{k} {v}" for k, v in sorted(cats.items())))
    benign = data.get("questions-benign-near-2.jsonl", [])
    if benign:
        print(f"benign near misses citing passages: {sum(bool(it['sources']) for it in benign)} of {len(benign)}")
    names = list(data)
    short = [n.removeprefix("questions-").removesuffix(".jsonl") for n in names]
    width = max(len(s) for s in short) + 3
    print()
    print("items citing each document (quotes in parentheses)")
    print(f"{'document':<48}" + "".join(f"{s:>{width}}" for s in short))
    for doc in sorted(docs):
        cells = []
        for name in names:
            n_items = sum(any(s["doc"] == doc for s in it["sources"]) for it in data[name])
            n_quotes = sum(s["doc"] == doc for it in data[name] for s in it["sources"])
            cells.append(f"{n_items} ({n_quotes})")
        print(f"{doc:<48}" + "".join(f"{c:>{width}}" for c in cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus", help="folder of the source documents")
    parser.add_argument("--data", type=Path, default=REPO / "bench" / "data", help="folder of the JSONL files")
    parser.add_argument("--no-write", action="store_true", help="check and report without writing the files")
    args = parser.parse_args()

    docs = {
        p.name: norm(p.read_text(encoding="utf-8"))
        for p in sorted(args.corpus.iterdir())
        if p.suffix in (".md", ".txt") and p.name != "SOURCES.md"
    }
    errors: list[str] = []
    data: dict[str, list[dict[str, Any]]] = {}
    for name in FILES:
        path = args.data / name
        if not path.exists():
            errors.append(f"{name}: missing file")
            continue
        data[name] = load_jsonl(path, errors)
        for it in data[name]:
            check_item(name, it, docs, errors)

    ids: Counter[str] = Counter()
    questions: dict[str, str] = {}
    for items in data.values():
        for it in items:
            ids[str(it.get("id"))] += 1
            key = norm(str(it.get("question", ""))).casefold()
            if key in questions:
                errors.append(f"{it.get('id')}: same question as {questions[key]}")
            else:
                questions[key] = str(it.get("id"))
    errors += [f"{i}: duplicate id ({n} times)" for i, n in ids.items() if n > 1]

    if errors:
        print("\n".join(errors), file=sys.stderr)
        print(f"{len(errors)} error(s); nothing written", file=sys.stderr)
        return 1

    assign_splits(data)
    changed = []
    for name, items in data.items():
        path = args.data / name
        text = dump(items)
        if path.read_text(encoding="utf-8") != text:
            changed.append(name)
            if not args.no_write:
                path.write_text(text, encoding="utf-8")
    report(data, docs)
    verb = "would rewrite" if args.no_write else "rewrote"
    print(f"\nall checks passed; {verb}: {', '.join(changed) if changed else 'nothing (already up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
