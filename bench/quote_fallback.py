"""What the quote fallback brings, measured on question sets rather than on dev.

When no written sentence passes verification, the pipeline quotes the passage sentence (or excerpt) that the 1.5B
judges to answer the question (``quote_judge_min`` -1.0, ``quote_excerpt_judge_min`` 0.0, both set on the dev
set: bench/results/calibration-default.md). This script reads full ``ask eval`` outputs and reports, per file:
the answers by kind, the key points the quotes cover, and what the same run gives with the fallback off (a quote
becomes the refusal it replaced; nothing else changes, since the fallback runs only after a refused draft). It
also lists the judge's margins of the quotes shown, to see whether any threshold separates useful quotes from
quotes shown for questions the corpus does not answer.

    .venv/bin/python bench/quote_fallback.py NAME=EVAL.json [NAME=EVAL.json ...] [--out bench/results/quote-fallback.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

ANSWERABLE = {"fact", "list", "synthesis", "purpose"}


def _kp(item: dict[str, Any]) -> float | None:
    kp = item.get("key_points") or {}
    return sum(kp.values()) / len(kp) if kp else None


def summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [i for i in items if i.get("type") in ANSWERABLE and _kp(i) is not None]
    unanswerable = [i for i in items if i.get("type") == "unanswerable"]
    quotes = [i for i in answerable if i["kind"] == "extract"]
    out: dict[str, Any] = {"answerable": len(answerable), "unanswerable": len(unanswerable)}
    if answerable:
        # Pooled over key points, as the evaluation harness counts them.
        total = sum(len(i["key_points"]) for i in answerable)
        out["kp"] = sum(sum(i["key_points"].values()) for i in answerable) / total
        out["kp_without_fallback"] = sum(sum(i["key_points"].values()) for i in answerable
                                         if i["kind"] != "extract") / total
        out["refused"] = sum(i["refused"] for i in answerable)
        out["quotes"] = len(quotes)
        out["quotes_with_a_key_point"] = sum((_kp(i) or 0) > 0 for i in quotes)
        out["quote_kp_mean"] = statistics.mean(_kp(i) or 0.0 for i in quotes) if quotes else None
    if unanswerable:
        out["unanswerable_refused"] = sum(i["refused"] for i in unanswerable)
        out["unanswerable_quoted"] = sum(i["kind"] == "extract" for i in unanswerable)
        out["unanswerable_written"] = sum(not i["refused"] and i["kind"] != "extract" for i in unanswerable)
    return out


def margins(items: list[dict[str, Any]]) -> list[tuple[str, str, float | None, float | None, str]]:
    """Each quote shown: who it was shown to, the judge's margins (sentence, excerpt) and its key points."""
    rows = []
    for i in items:
        if i["kind"] != "extract":
            continue
        who = "unanswerable" if i.get("type") == "unanswerable" else "answerable"
        kp = i.get("key_points") or {}
        rows.append((i["id"], who, i.get("quote_margin"), i.get("excerpt_margin"),
                     f"{sum(kp.values())}/{len(kp)}" if kp else "–"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="NAME=PATH of a full `ask eval` output")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    lines = ["| run | answerable | key points (fallback on → off) | refused on → off | quotes | quotes with a key "
             "point | unanswerable refused on → off (quoted, written) |", "|---|---|---|---|---|---|---|"]
    shown: list[str] = []
    for spec in args.runs:
        name, path = spec.split("=", 1)
        items = json.loads(Path(path).read_text(encoding="utf-8"))["items"]
        s = summary(items)
        kp = f"{s['kp']:.3f} → {s['kp_without_fallback']:.3f}" if s["answerable"] else "–"
        ref = f"{s['refused']} → {s['refused'] + s['quotes']}" if s["answerable"] else "–"
        una = (f"{s['unanswerable_refused']} → {s['unanswerable_refused'] + s['unanswerable_quoted']} of "
               f"{s['unanswerable']} ({s['unanswerable_quoted']}, {s['unanswerable_written']})"
               if s["unanswerable"] else "–")
        lines.append(f"| {name} | {s['answerable']} | {kp} | {ref} | {s.get('quotes', '–')} | "
                     f"{s.get('quotes_with_a_key_point', '–')} | {una} |")
        for row in margins(items):
            fmt = lambda m: "–" if m is None else f"{m:+.2f}"  # noqa: E731
            shown.append(f"| {name} | {row[0]} | {row[1]} | {fmt(row[2])} | {fmt(row[3])} | {row[4]} |")
    command = " ".join(["bench/quote_fallback.py", *args.runs])
    text = "\n".join([f"`{command}`", "", *lines, "",
                      "Quotes shown, with the judge's margins (sentence; excerpt when the sentence was rejected):",
                      "", "| run | id | question | sentence | excerpt | key points |",
                      "|---|---|---|---|---|---|", *shown, ""])
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
