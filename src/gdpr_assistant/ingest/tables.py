"""Tables flattened by PDF text extraction, given back their labels as extra text (never in place).

Extraction turns a table into a header line or lines, then for each row a label and its figures
("Consommation électrique (mWh)" / "434 455 426 144"): a figure no longer says which column it belongs
to. :func:`recover_tables` finds that shape and writes each row with its labels
("Consommation électrique (mWh) — ChatGPT 5: 434; Claude: 455; …"). It only answers when the column names
can be read without guessing (one header line per column, or one line of names set apart by wide gaps),
and it never changes the document's text: passages stay exact slices for quotes; the labelled rows are
meant for what is embedded and searched beside the passage that holds the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUM = r"[-+]?\d+(?:[.,]\d+)*(?:\s?%)?"
_FIGURES = re.compile(rf"^(?P<label>.*?[^\d\s.,%+-].*?)?\s*(?P<nums>{_NUM}(?:\s+{_NUM})+)\s*$")
_MAX_LABEL_LINES = 3
_MAX_NAME_CHARS = 60


@dataclass(frozen=True)
class RecoveredTable:
    start: int  # offsets in the document text of the lines the table spans (header to last figures)
    end: int
    lines: tuple[str, ...]  # one labelled line per row


def _is_name(line: str) -> bool:
    """A short line of words: a header cell or a row label, not a sentence or a figure row."""
    return (0 < len(line) <= _MAX_NAME_CHARS and sum(c.isalpha() for c in line) >= 2
            and line[-1] not in ".;!?" and not _FIGURES.match(line))


def _figures(line: str) -> tuple[str, list[str]] | None:
    """(inline label, figures) of a line ending with two figures or more, else None."""
    m = _FIGURES.match(line)
    if not m:
        return None
    label = (m.group("label") or "").strip()
    if label and (sum(c.isalpha() for c in label) < 2 or len(label) > _MAX_NAME_CHARS):
        return None
    return label, re.findall(_NUM, m.group("nums"))


def _column_names(lines: list[str], n: int) -> list[str] | None:
    """The n column names of a header block, when they can be read without guessing."""
    if len(lines) == 1:
        cells = [c for c in re.split(r"\s{2,}|\t", lines[0]) if c.strip()]
        return cells[-n:] if len(cells) in (n, n + 1) else None  # n + 1: the first cell names the row labels
    # One line per column, exactly: with one more line, which one is not a name (a stub such as "Modèle",
    # or a name cut in two) cannot be told.
    return lines if len(lines) == n else None


def recover_tables(text: str) -> list[RecoveredTable]:
    """Tables of the extracted shape "header names, then label lines each followed by N figures"."""
    lines: list[tuple[int, str]] = []  # (offset, stripped line), blank lines included as ""
    offset = 0
    for raw in text.splitlines(keepends=True):
        lines.append((offset, raw.strip()))
        offset += len(raw)
    rows: list[tuple[int, int, str, list[str]]] = []  # (first label line index, figures line index, label, figures)
    for i, (_, line) in enumerate(lines):
        found = _figures(line)
        if not found:
            continue
        label, figures = found
        first = i
        if not label:  # the label is the short lines just above (one blank line may separate them)
            j = i - 1
            if j >= 0 and not lines[j][1]:
                j -= 1
            above: list[str] = []
            while j >= 0 and lines[j][1] and _is_name(lines[j][1]) and len(above) < _MAX_LABEL_LINES:
                above.insert(0, lines[j][1])
                j -= 1
            if not above or (rows and j + 1 <= rows[-1][1]):
                continue
            label, first = " ".join(above), j + 1
        rows.append((first, i, label, figures))
    tables: list[RecoveredTable] = []
    k = 0
    while k < len(rows):
        group = [rows[k]]
        while (k + len(group) < len(rows) and len(rows[k + len(group)][3]) == len(group[0][3])
               and all(not lines[m][1] for m in range(group[-1][1] + 1, rows[k + len(group)][0]))):
            group.append(rows[k + len(group)])
        k += len(group)
        if len(group) < 2:  # one row of figures is too little to call a table
            continue
        n = len(group[0][3])
        header: list[str] = []
        j = group[0][0] - 1
        while j >= 0 and not lines[j][1]:
            j -= 1
        while j >= 0 and lines[j][1] and _is_name(lines[j][1]) and len(header) <= n + 1:
            header.insert(0, lines[j][1])
            j -= 1
        names = _column_names(header, n) if header and (j < 0 or not lines[j][1]) else None
        if not names:
            continue
        labelled = tuple(f"{label} — " + "; ".join(f"{name}: {v}" for name, v in zip(names, figures, strict=True))
                         for _, _, label, figures in group)
        last = group[-1][1]
        tables.append(RecoveredTable(lines[j + 1][0], lines[last][0] + len(lines[last][1]), labelled))
    return tables
