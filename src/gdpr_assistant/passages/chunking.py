"""Cut documents into passages that follow their own structure, and drop near-duplicates.

A passage is always an exact slice of its document (so a quote of the source is a substring of a
passage) and carries its location: heading path, line range, and page for PDFs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gdpr_assistant.ingest.corpus import Document
from gdpr_assistant.text.words import fold
from gdpr_assistant.types import Passage

# Bump when the rules below change: the index rebuilds itself when this differs from what it recorded.
CHUNKING_VERSION = "3"

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_NUMBERED_HEADING = re.compile(r"^\d{1,2}(\.\d{1,2})*\.?\s+\S")


def clean_heading(text: str) -> str:
    return re.sub(r"[*_`]+", "", text).strip(" :")


def _heading(line: str, fmt: str, prev_blank: bool) -> tuple[int, str] | None:
    """(level, title) when the line is a heading of the document, else None."""
    stripped = line.strip()
    m = _MD_HEADING.match(stripped)
    if m and fmt == "markdown":
        title = clean_heading(m.group(2))
        return (len(m.group(1)), title) if title else None
    if fmt == "markdown" or not prev_blank or not (3 <= len(stripped) <= 80) or stripped[-1] in ".,;:!?)»":
        return None
    letters = [c for c in stripped if c.isalpha()]
    # Text extracted from PDFs: headings are short, unpunctuated, in capitals or numbered ("7 Données…").
    if len(letters) >= 3 and (stripped.upper() == stripped or _NUMBERED_HEADING.match(stripped)):
        return (1 if _NUMBERED_HEADING.match(stripped) else 2, stripped)
    return None


@dataclass
class _Block:
    start: int
    end: int
    headings: tuple[str, ...]
    heading_level: int  # level of the heading that opens this block, 0 if none


def _blocks(doc: Document) -> list[_Block]:
    """Paragraph-sized blocks (separated by blank lines), each knowing the headings above it."""
    text = doc.text
    fmt = "text" if doc.format == "pdf" else doc.format
    stack: list[tuple[int, str]] = []
    blocks: list[_Block] = []
    cur_start: int | None = None
    cur_end = 0
    cur_level = 0
    cur_headings: tuple[str, ...] = ()
    prev_blank = True
    offset = 0
    for line in text.splitlines(keepends=True):
        line_start, offset = offset, offset + len(line)
        if not line.strip():
            if cur_start is not None:
                blocks.append(_Block(cur_start, cur_end, cur_headings, cur_level))
                cur_start = None
            prev_blank = True
            continue
        h = _heading(line, fmt, prev_blank)
        if h is not None:
            if cur_start is not None:
                blocks.append(_Block(cur_start, cur_end, cur_headings, cur_level))
            level, title = h
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            cur_start, cur_level = line_start, level
            cur_headings = tuple(t for _, t in stack)
        elif cur_start is None:
            cur_start, cur_level = line_start, 0
            cur_headings = tuple(t for _, t in stack)
        cur_end = line_start + len(line.rstrip())
        prev_blank = False
    if cur_start is not None:
        blocks.append(_Block(cur_start, cur_end, cur_headings, cur_level))
    return blocks


def _split_long(start: int, end: int, text: str, max_chars: int) -> list[tuple[int, int]]:
    """Cut an over-long block at line ends, then at sentence ends, never mid-word if avoidable."""
    pieces: list[tuple[int, int]] = []
    s = start
    while end - s > max_chars:
        window = text[s:s + max_chars]
        cut = max(window.rfind("\n"), window.rfind(". "), window.rfind("; "))
        if cut < max_chars // 3:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = max_chars
        pieces.append((s, s + cut + 1))
        s = s + cut + 1
        while s < end and text[s].isspace():
            s += 1
    if s < end:
        pieces.append((s, end))
    return pieces


def chunk_document(doc: Document, max_chars: int = 1400, min_chars: int = 250) -> list[Passage]:
    text = doc.text
    line_offsets = [0]
    line_offsets.extend(m.end() for m in re.finditer("\n", text))

    def line_of(offset: int) -> int:
        lo, hi = 0, len(line_offsets) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if line_offsets[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    spans: list[tuple[int, int, tuple[str, ...]]] = []
    cur: list[_Block] = []

    def flush() -> None:
        if cur:
            spans.append((cur[0].start, cur[-1].end, cur[0].headings))
            cur.clear()

    for block in _blocks(doc):
        for start, end in _split_long(block.start, block.end, text, max_chars):
            piece = _Block(start, end, block.headings, block.heading_level if start == block.start else 0)
            size = (cur[-1].end - cur[0].start) if cur else 0
            new_section = piece.heading_level > 0
            # A top-level heading always opens a new passage (a new slide or chapter); a lower heading does
            # once the passage has enough substance; size is the hard bound.
            if cur and ((new_section and (piece.heading_level == 1 or size >= min_chars))
                        or size + (end - start) > max_chars
                        or (doc.page_at(start) != doc.page_at(cur[0].start))):
                flush()
            cur.append(piece)
    flush()

    passages = []
    for i, (start, end, headings) in enumerate(spans):
        passages.append(Passage(doc=doc.name, index=i, text=text[start:end], start=start, end=end,
                                headings=headings, line_start=line_of(start), line_end=line_of(max(start, end - 1)),
                                page=doc.page_at(start)))
    return passages


def _fold(text: str) -> str:
    return re.sub(r"[^\w]+", " ", fold(text)).strip()


def line_set(text: str) -> frozenset[str]:
    """The folded lines of a text: a passage whose lines all appear in another one repeats it."""
    return frozenset(f for f in (_fold(line) for line in text.splitlines()) if f)


def drop_near_duplicates(passages: list[Passage]) -> list[Passage]:
    """Drop passages whose every line appears in one fuller passage (slides repeated with additions).

    The fullest version is kept, so nothing a repeated slide says is lost.
    """
    lines = [line_set(p.text) for p in passages]
    sizes = [len(_fold(p.text)) for p in passages]
    keep = []
    for i, p in enumerate(passages):
        dominated = any(
            j != i and lines[i] <= lines[j] and (sizes[j], -j) > (sizes[i], -i)
            for j in range(len(passages))
        )
        if not dominated and lines[i]:
            keep.append(p)
    return keep


def chunk(doc: Document, max_chars: int = 1400, min_chars: int = 250) -> list[Passage]:
    return drop_near_duplicates(chunk_document(doc, max_chars, min_chars))
