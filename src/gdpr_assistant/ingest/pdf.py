"""PDF text: pypdf's text layer page by page, and OCR for the pages that have none (scans)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Any

from gdpr_assistant.ingest.base import CorpusError, IngestOptions, ProgressFn, page_ranges, usable_title

# pypdf logs every low-level repair ("EOF marker not found"); a file it cannot read gets our own clear
# CorpusError instead, so its chatter would only bury that message.
logging.getLogger("pypdf").setLevel(logging.ERROR)

# Below this mean word confidence (0..100) Tesseract's text is often wrong in places: the user is told.
LOW_OCR_CONFIDENCE = 60.0


@dataclass
class PdfText:
    text: str
    page_starts: list[tuple[int, int]]  # (page number, offset in text where the page starts)
    title: str
    ocr_pages: list[int] = field(default_factory=list)  # pages whose text comes from OCR
    # Pages without a text layer that show images, OCR'd or not: what the reader gives for this file depends on
    # the OCR settings and on Tesseract, so the index reads it again when those change.
    scanned: list[int] = field(default_factory=list)


def _open(data: bytes, name: str) -> list[Any]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))  # the very bytes that were hashed, even if the file changes now
        if reader.is_encrypted and not reader.decrypt(""):
            raise CorpusError(f"{name}: the PDF is encrypted. Save an unprotected copy and add that instead.")
        return [reader, list(reader.pages)]
    except CorpusError:
        raise
    except DependencyError as exc:  # AES encryption needs the optional `cryptography` package: unreadable here
        raise CorpusError(f"{name}: the PDF is encrypted. Save an unprotected copy and add that instead.") from exc
    except Exception as exc:  # pypdf raises many kinds (struct, zlib, KeyError…) on malformed files
        raise CorpusError(f"{name}: not a readable PDF ({exc.__class__.__name__}: {exc}). "
                          "Re-export it from its source application.") from exc


def _draws_images(page: Any) -> bool:
    """Whether a page without text shows images (a scan) rather than nothing (a blank separator page)."""
    try:
        return len(page.images) > 0
    except Exception:  # an image pypdf cannot parse is still an image to render and read
        return True


def _ocr_text(data: bytes, name: str, scanned: list[int], options: IngestOptions, warnings: list[str],
              progress: ProgressFn | None) -> dict[int, str]:
    """Text of the scanned pages that OCR could read; every page it could not is named in ``warnings``."""
    from gdpr_assistant.ingest import ocr

    have = f"{page_ranges(scanned)} {'has' if len(scanned) == 1 else 'have'} no text layer"
    if not options.ocr:
        warnings.append(f"{name}: {have} (scanned?) and {'was' if len(scanned) == 1 else 'were'} skipped because "
                        "OCR is off (ASK_OCR=0). Set ASK_OCR=1 to read scanned pages with Tesseract.")
        return {}
    try:
        languages = ocr.check_tesseract(options)
    except ocr.OcrUnavailable as exc:
        warnings.append(f"{name}: {have} and {exc}.")
        return {}
    missing = ocr.missing_languages(options, languages)
    if missing:
        warnings.append(f"{name}: Tesseract has no data for {'+'.join(missing)}; the scanned pages were read "
                        f"as {languages} only ({ocr.install_hint(missing)}).")
    read, failed = ocr.recognise_pages(data, scanned, options, languages, name, progress)
    for number, why in failed.items():
        warnings.append(f"{name}: page {number} has no text layer and OCR failed on it ({why}); it was skipped.")
    texts = {p.number: p.text for p in read if p.text}
    blurry = [p.number for p in read if p.text and p.confidence is not None and p.confidence < LOW_OCR_CONFIDENCE]
    if blurry:
        warnings.append(f"{name}: {page_ranges(blurry)} read by OCR with low confidence: quotes from them may "
                        "contain recognition errors. A cleaner scan (300 dpi, straight) reads better.")
    return texts


def read_pdf(data: bytes, name: str, warnings: list[str], options: IngestOptions,
             progress: ProgressFn | None = None) -> PdfText:
    """Text of the pages that have some, where each page starts in it, and the title the PDF declares.

    Pages with a text layer are read as they are; only pages without one that show images are OCR'd,
    so a PDF that mixes typed and scanned pages keeps its exact text where it has it.
    """
    reader, pages = _open(data, name)
    texts: dict[int, str] = {}
    unreadable: list[int] = []
    scanned: list[int] = []
    for number, page in enumerate(pages, start=1):
        try:
            page_text = (page.extract_text() or "").strip()
        except Exception:  # one damaged page must not cost the reader the others
            unreadable.append(number)
            continue
        if page_text:
            texts[number] = page_text
        elif _draws_images(page):
            scanned.append(number)
    if unreadable:
        warnings.append(f"{name}: page(s) {', '.join(map(str, unreadable))} could not be read and were skipped.")
    ocr_pages: list[int] = []
    ocr_warnings: list[str] = []
    if scanned:
        recognised = _ocr_text(data, name, scanned, options, ocr_warnings, progress)
        texts.update(recognised)
        ocr_pages = sorted(recognised)
        warnings.extend(ocr_warnings)
    if not texts:
        if ocr_warnings:  # the scan could not be OCR'd: the warnings say why and how to fix it
            raise CorpusError(" ".join(ocr_warnings))
        if unreadable:
            raise CorpusError(f"{name}: no page of the PDF could be read. Re-export it from its source application.")
        if scanned:
            raise CorpusError(f"{name}: the PDF has no extractable text: its {page_ranges(scanned)} are images "
                              "in which OCR found no text.")
        raise CorpusError(f"{name}: the PDF has no extractable text (no text layer, and no scanned image to "
                          "read by OCR).")
    parts: list[str] = []
    starts: list[tuple[int, int]] = []
    offset = 0
    for number in sorted(texts):  # page order, whichever way each page's text was obtained
        starts.append((number, offset))
        parts.append(texts[number])
        offset += len(texts[number]) + 2
    return PdfText("\n\n".join(parts), starts, _pdf_title(reader), ocr_pages, scanned)


def _pdf_title(reader: Any) -> str:
    """The document title from the PDF's metadata, when it has a usable one (many have none or junk)."""
    try:
        return usable_title(str((reader.metadata or {}).get("/Title") or ""))
    except Exception:  # a broken info dictionary only costs us the title
        return ""
