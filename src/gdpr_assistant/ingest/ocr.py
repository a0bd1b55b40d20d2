"""Offline OCR of scanned PDF pages: pypdfium2 renders a page, Tesseract (through pytesseract) reads it.

Both run on this computer: pypdfium2 is a wheel that carries PDFium, and Tesseract is a local program
with its language data (Debian: tesseract-ocr, tesseract-ocr-fra, tesseract-ocr-eng).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gdpr_assistant.ingest.base import IngestOptions, ProgressFn

# Tesseract's OpenMP threads spin-wait for each other: with the cores busy (an indexer embedding, two
# cores) one page took 21 s on 2 threads and 5 s on 1, for 10 s and 2.5 s of CPU (measured here).
# One thread per Tesseract run is set for its process only, never for ours: llama.cpp reads the same
# variable.
_TESSERACT_ENV = {"OMP_THREAD_LIMIT": "1"}
# pytesseract keeps its command and environment in module globals; one reader at a time may change them.
_LOCK = threading.Lock()
# Longest side of a rendered page: A4 at 300 dpi is 3508 pixels; larger pages are rendered at lower dpi.
_MAX_RENDER_PIXELS = 7000


class OcrUnavailable(Exception):
    """Tesseract cannot run here; the message ends with the fix (it follows '... have no text layer and')."""


@dataclass(frozen=True)
class OcrPage:
    number: int  # 1-based page number in the PDF
    text: str
    confidence: float | None  # mean word confidence 0..100 given by Tesseract, None when no word was found


def install_hint(languages: Sequence[str] = ()) -> str:
    """How to install Tesseract and the language data, on the system this runs on."""
    langs = [code for code in languages if code and code != "osd"]
    if sys.platform == "darwin":
        return "brew install tesseract tesseract-lang"
    if sys.platform == "win32":
        return ("install Tesseract (github.com/UB-Mannheim/tesseract/wiki) with the French data, then set "
                "ASK_TESSERACT_CMD to the full path of tesseract.exe")
    return "apt install " + " ".join(["tesseract-ocr", *[f"tesseract-ocr-{code}" for code in langs]])


@contextmanager
def _tesseract(cmd: str) -> Iterator[Any]:
    """pytesseract pointed at ``cmd``, its child processes single-threaded (see _TESSERACT_ENV)."""
    import pytesseract
    from pytesseract import pytesseract as impl

    with _LOCK:
        saved_cmd, saved_env = impl.tesseract_cmd, getattr(impl, "environ", None)
        impl.tesseract_cmd = cmd
        if saved_env is not None:  # the module-level environment its subprocesses get (os.environ by default)
            impl.environ = {**os.environ, **{k: v for k, v in _TESSERACT_ENV.items() if k not in os.environ}}
        try:
            yield pytesseract
        finally:
            impl.tesseract_cmd = saved_cmd
            if saved_env is not None:
                impl.environ = saved_env


def check_tesseract(options: IngestOptions) -> str:
    """The language string to pass to Tesseract (those of ``options`` that are installed).

    Raises OcrUnavailable when Tesseract is missing or has none of the languages asked for.
    """
    wanted = [code for code in options.ocr_languages.split("+") if code.strip()]
    try:
        with _tesseract(options.tesseract_cmd) as pt:
            pt.get_tesseract_version()
            installed = set(pt.get_languages(config=""))
    except ImportError as exc:  # a dependency of the project: only a broken install lacks it
        raise OcrUnavailable(f"pytesseract is not installed: pip install pytesseract ({exc})") from exc
    except Exception as exc:  # TesseractNotFoundError, or a command that is not Tesseract at all
        where = "" if options.tesseract_cmd == "tesseract" else f" at {options.tesseract_cmd}"
        raise OcrUnavailable(f"Tesseract is not installed{where}: {install_hint(wanted)}, "
                             "or set ASK_OCR=0 to skip them") from exc
    present = [code for code in wanted if code in installed]
    if not present:
        raise OcrUnavailable(f"Tesseract has no language data for {options.ocr_languages}: "
                             f"{install_hint(wanted)}, or choose others with ASK_OCR_LANGUAGES")
    return "+".join(present)


def missing_languages(options: IngestOptions, used: str) -> list[str]:
    return [code for code in options.ocr_languages.split("+") if code and code not in used.split("+")]


def _text_and_confidence(data: dict[str, list[Any]]) -> tuple[str, float | None]:
    """Tesseract's words put back in lines and paragraphs, and their mean confidence."""
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences: list[float] = []
    for i, word in enumerate(data["text"]):
        word = (word or "").strip()
        conf = float(data["conf"][i])
        if not word or conf < 0:  # conf -1: a block, paragraph or line record, not a word
            continue
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        lines.setdefault(key, []).append(word)
        confidences.append(conf)
    out: list[str] = []
    previous: tuple[int, int] | None = None
    for (block, par, _line), words in lines.items():  # dicts keep Tesseract's reading order
        if previous is not None and (block, par) != previous:
            out.append("")  # a new paragraph: a blank line, where chunking may cut
        out.append(" ".join(words))
        previous = (block, par)
    mean = sum(confidences) / len(confidences) if confidences else None
    return "\n".join(out).strip(), mean


def recognise_pages(data: bytes, numbers: Sequence[int], options: IngestOptions, languages: str, name: str,
                    progress: ProgressFn | None = None) -> tuple[list[OcrPage], dict[int, str]]:
    """OCR of the given pages (1-based) of a PDF: the pages read, and the pages that failed with why.

    A tqdm bar (shown on a terminal only) and ``progress`` follow the pages; one failing page does not
    stop the others.
    """
    import pypdfium2 as pdfium
    from tqdm import tqdm

    pages: list[OcrPage] = []
    failed: dict[int, str] = {}
    pdf = pdfium.PdfDocument(data)
    bar = tqdm(total=len(numbers), desc=f"OCR {name}", unit="page", leave=False, disable=None)
    try:
        with _tesseract(options.tesseract_cmd) as pt:
            for done, number in enumerate(numbers, start=1):
                if progress:
                    progress((done - 1) / len(numbers), f"{name}: OCR of page {number} ({done}/{len(numbers)})")
                try:
                    page = pdf[number - 1]
                    try:
                        # Grey levels are all Tesseract uses (a third of the memory of colour); a poster-sized
                        # page is rendered smaller rather than as a 100-megapixel image.
                        scale = min(options.ocr_dpi / 72, _MAX_RENDER_PIXELS / max(page.get_size()))
                        image = page.render(scale=scale, grayscale=True).to_pil()
                    finally:
                        page.close()
                    tsv = pt.image_to_data(image, lang=languages, output_type=pt.Output.DICT,
                                           timeout=options.ocr_page_timeout)
                except Exception as exc:  # a page PDFium cannot render, a Tesseract error, a timeout
                    failed[number] = (f"OCR took longer than {options.ocr_page_timeout:.0f} s"
                                      if "timeout" in str(exc).lower()  # pytesseract's plain RuntimeError
                                      else f"{exc.__class__.__name__}: {str(exc).strip()[:200]}")
                else:
                    text, confidence = _text_and_confidence(tsv)
                    pages.append(OcrPage(number, text, confidence))
                bar.update(1)
        if progress:
            progress(1.0, f"{name}: OCR done")
    finally:
        bar.close()
        pdf.close()
    return pages, failed
