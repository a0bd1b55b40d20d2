"""What every reader of the ingest stage shares: its error, its options and the Markdown it writes.

Office documents and web pages are turned into Markdown (``#`` headings, ``- `` list items, one line per
table row) because chunking already follows Markdown structure; the readers stay independent of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gdpr_assistant.settings import CorpusSettings

# Same shape as the indexer's callback (index/store.py): fraction done in 0..1, and what is being done.
ProgressFn = Callable[[float, str], None]


class CorpusError(Exception):
    """A file that cannot be read as a document; the message says why and what to do."""


@dataclass(frozen=True)
class IngestOptions:
    """How documents are read; built from the corpus settings (environment ``ASK_OCR`` and so on)."""

    ocr: bool = True  # recognise PDF pages that have no text layer (scans) with Tesseract
    ocr_languages: str = "fra+eng"  # Tesseract language codes joined with "+"
    tesseract_cmd: str = "tesseract"  # a full path where Tesseract is not on PATH (Windows installs)
    ocr_dpi: int = 300  # Tesseract's accuracy drops below about 300 dpi on body text
    ocr_page_timeout: float = 300.0  # seconds: a pathological page must not hang the indexer

    @classmethod
    def from_settings(cls, corpus: CorpusSettings) -> IngestOptions:
        return cls(ocr=corpus.ocr, ocr_languages=corpus.ocr_languages, tesseract_cmd=corpus.tesseract_cmd)

    @classmethod
    def from_environment(cls) -> IngestOptions:
        """The options the environment sets (read afresh: a test or a user may have changed ASK_OCR)."""
        from gdpr_assistant.settings import CorpusSettings

        return cls.from_settings(CorpusSettings())


def clean_inline(text: str) -> str:
    """One line of running text: inner line breaks, tabs and runs of spaces become single spaces."""
    return re.sub(r"\s+", " ", text.replace("\u00ad", "")).strip()


def heading_line(level: int, text: str) -> str:
    text = clean_inline(text)
    return f"{'#' * max(1, min(level, 6))} {text}" if text else ""


def paragraph_text(text: str) -> str:
    """A body paragraph, kept from reading as a Markdown heading when it happens to start with '#'."""
    lines = [clean_inline(line) for line in text.splitlines()]
    text = "\n".join(line for line in lines if line)
    return "\\" + text if text.startswith("#") else text


def list_item(text: str, depth: int = 0) -> str:
    text = clean_inline(text)
    return f"{'  ' * depth}- {text}" if text else ""


def _looks_like_labels(row: Sequence[str]) -> bool:
    """A first row that names its columns: mostly filled, and not mostly figures."""
    filled = [c for c in row if c]
    numeric = [c for c in filled if re.fullmatch(r"[-+]?[\d\s.,%€$]+", c)]
    return len(filled) * 2 >= len(row) and len(numeric) * 2 < len(filled)


def table_lines(rows: Sequence[Sequence[str]]) -> list[str]:
    """A table as text in which every figure stays next to what it measures.

    With a header row, each further row becomes one line of "column label: value" pairs
    ("Modèle: ChatGPT 5 ; Consommation électrique (mWh): 434"), so a passage cut anywhere in the table
    still says what each number is. Without one, cells are joined with " ; ".
    """
    cells = [[clean_inline(c) for c in row] for row in rows]
    cells = [row for row in cells if any(row)]
    if not cells:
        return []
    width = max(len(row) for row in cells)
    if len(cells) == 1 or width == 1 or not _looks_like_labels(cells[0]):
        return [" ; ".join(c for c in row if c) for row in cells]
    header, out = cells[0], []
    for row in cells[1:]:
        pairs = []
        for j, value in enumerate(row):
            if not value:
                continue
            label = header[j] if j < len(header) else ""
            pairs.append(f"{label}: {value}" if label and label != value else value)
        out.append(" ; ".join(pairs))
    return out


def join_blocks(blocks: Sequence[str]) -> str:
    """Blocks separated by one blank line (chunking cuts paragraphs there); empty blocks dropped."""
    return "\n\n".join(b.strip("\n") for b in blocks if b and b.strip())


def usable_title(title: str | None) -> str:
    """A title declared in a file's metadata, when usable (exporters leave "untitled", "Microsoft Word - x")."""
    title = clean_inline(title or "")
    if len(title) < 3 or title.lower() in {"untitled", "sans titre", "title", "titre"} or title.lower().endswith(
            (".doc", ".docx", ".pdf", ".ppt", ".pptx", ".odt", ".htm", ".html")):
        return ""
    return title


def page_ranges(pages: Sequence[int]) -> str:
    """'page 3' or 'pages 1–3, 7': how a message names a set of pages."""
    nums = sorted(set(pages))
    spans: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        spans.append(str(nums[i]) if i == j else f"{nums[i]}–{nums[j]}")
        i = j + 1
    return ("page " if len(nums) == 1 else "pages ") + ", ".join(spans)
