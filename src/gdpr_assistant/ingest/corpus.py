"""Stage 1: read the documents of the corpus folder and their catalogue metadata.

Markdown and text are read as they are; PDFs through their text layer, with OCR for scanned pages
(pdf.py, ocr.py); Word, OpenDocument and saved web pages are turned into Markdown (office.py, html.py)
so that chunking follows their headings, lists and tables like any Markdown file's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from gdpr_assistant.ingest.base import CorpusError, IngestOptions, ProgressFn

__all__ = [
    "CATALOGUE_NAME", "IGNORED_NAMES", "INGEST_VERSION", "SUPPORTED_SUFFIXES", "CorpusError", "CorpusFile",
    "Document", "DocumentMeta", "IngestOptions", "ProgressFn", "corpus_files", "file_sha256", "ingest_fingerprint",
    "load_catalogue", "load_document", "load_documents", "scan_corpus",
]

log = logging.getLogger(__name__)

# Readers by suffix: what the file is, and the format of the text it gives (chunking reads "markdown"
# for # headings, "text" and "pdf" for capitalised or numbered ones).
_READERS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".pdf": "pdf", ".docx": "docx",
            ".odt": "odt", ".html": "html", ".htm": "html"}
SUPPORTED_SUFFIXES = tuple(_READERS)
SUPPORTED_DESCRIPTION = "PDF, Word (.docx), OpenDocument (.odt), web pages (.html), Markdown or text"
CATALOGUE_NAME = "catalogue.json"
# Files that describe the corpus rather than belong to it.
IGNORED_NAMES = {CATALOGUE_NAME, "SOURCES.md", "README.md"}
# Operating-system and office-suite litter: never a document, never worth a message.
_LITTER = {"thumbs.db", "desktop.ini", "icon\r"}
# Change when a reader's output changes, so that an index built with the old readers reads files again.
INGEST_VERSION = "2"
# What to do with the unsupported types users most often drop in the folder.
_CONVERT_HINTS = {
    ".doc": "save it as .docx", ".rtf": "save it as .docx", ".pages": "export it as PDF or Word",
    ".ppt": "export it as PDF", ".pptx": "export it as PDF", ".odp": "export it as PDF", ".key": "export it as PDF",
    ".png": "put the scan in a PDF (scanned PDFs are read by OCR)", ".jpg": "put the scan in a PDF",
    ".jpeg": "put the scan in a PDF", ".tif": "put the scan in a PDF", ".tiff": "put the scan in a PDF",
    ".epub": "export it as PDF", ".xhtml": "rename it .html", ".mht": "save the page as HTML only",
}


@dataclass(frozen=True)
class DocumentMeta:
    title: str
    publisher: str = ""
    date: str = ""
    kind: str = ""


@dataclass
class Document:
    name: str  # file name relative to the corpus folder: the id used everywhere
    text: str
    # "markdown" (Markdown files, and the Markdown written from .docx, .odt and .html), "text" or "pdf"
    format: str
    sha256: str
    meta: DocumentMeta
    # For PDFs: (page number, offset in ``text`` where the page starts), in order.
    page_starts: list[tuple[int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)  # PDF pages whose text was recognised by OCR
    scanned_pages: list[int] = field(default_factory=list)  # PDF pages without a text layer (OCR'd or skipped)

    def page_at(self, offset: int) -> int | None:
        page = None
        for number, start in self.page_starts:
            if start > offset:
                break
            page = number
        return page


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _unsupported_message(rel: str, suffix: str) -> str:
    kind = f"unsupported type {suffix}" if suffix else "no file extension"
    hint = _CONVERT_HINTS.get(suffix) or f"convert it to {SUPPORTED_DESCRIPTION} to add it"
    return f"{rel}: ignored ({kind}): {hint}."


def _saved_page_asset(rel: Path, corpus_dir: Path) -> bool:
    """A file of the folder a browser writes beside a page saved "complete" (page_files/, page_fichiers/):
    its scripts, styles and images are not documents, and the page itself is read from page.html."""
    for depth, part in enumerate(rel.parts[:-1]):
        stem, sep, _ = part.rpartition("_")
        if sep and part.endswith(("_files", "_fichiers")):
            folder = corpus_dir.joinpath(*rel.parts[:depth])
            if (folder / f"{stem}.html").exists() or (folder / f"{stem}.htm").exists():
                return True
    return False


@dataclass(frozen=True)
class CorpusFile:
    """A document file of the corpus folder, with what a freshness check compares (no second stat needed)."""

    name: str  # relative to the corpus folder, with forward slashes: the document's name in the index
    size: int
    mtime_ns: int
    os_path: str

    @property
    def path(self) -> Path:
        return Path(self.os_path)


def scan_corpus(corpus_dir: Path, ignored: list[str] | None = None) -> list[CorpusFile]:
    """Supported files under the corpus folder, sorted, hidden files and the catalogue excluded.

    Every question checks the corpus folder for changes through this, so it walks the folder with
    ``os.scandir``, whose entries carry their stat, rather than pathlib (which cost about 100 ms a question at 2,800
    files: bench/bench_freshness.py). Files of a type no reader handles are not documents, but the user put them
    there: when ``ignored`` is given, one message per such file is appended to it ("notes.pages: ignored
    (unsupported type .pages): export it as PDF or Word.") for the indexer and ``ask doctor`` to show.
    """
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus folder not found: {corpus_dir}. Create it or pass --corpus PATH.")
    found: list[tuple[tuple[str, ...], str, os.stat_result]] = []
    seen: set[tuple[int, int]] = set()

    def walk(folder: str, parts: tuple[str, ...]) -> None:
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in seen:  # a symbolic link back up the tree
                return
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:  # an unreadable subfolder is not the corpus's end
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    walk(entry.path, (*parts, entry.name))
                elif entry.is_file():
                    found.append(((*parts, entry.name), entry.path, entry.stat()))
            except OSError:
                continue

    walk(str(corpus_dir), ())
    files = []
    for parts, path, st in sorted(found, key=lambda f: f[0]):
        name, rel = parts[-1], "/".join(parts)
        if name in IGNORED_NAMES or (len(parts) > 1 and _saved_page_asset(Path(*parts), corpus_dir)):
            continue
        suffix = f".{name.rpartition('.')[2].lower()}" if "." in name else ""
        if suffix in SUPPORTED_SUFFIXES and not name.startswith("~$"):  # ~$x.docx: Word's lock file
            files.append(CorpusFile(rel, st.st_size, st.st_mtime_ns, path))
        elif ignored is not None and name.lower() not in _LITTER and not name.startswith("~$"):
            ignored.append(_unsupported_message(rel, suffix))
    return files


def corpus_files(corpus_dir: Path, ignored: list[str] | None = None) -> list[Path]:
    """The paths of :func:`scan_corpus`."""
    return [f.path for f in scan_corpus(corpus_dir, ignored)]


def ingest_fingerprint(options: IngestOptions | None = None) -> str:
    """What the readers' output depends on besides the file: for the index to record beside the chunking
    version, so that files are read again when it changes (new readers, OCR turned on or installed)."""
    from gdpr_assistant.ingest import ocr

    options = options or IngestOptions.from_environment()
    if not options.ocr:
        state = "off"
    else:
        try:
            state = ocr.check_tesseract(options)
        except ocr.OcrUnavailable:
            state = "unavailable"
    return f"ingest{INGEST_VERSION}-ocr:{state}"


def load_catalogue(corpus_dir: Path) -> dict[str, DocumentMeta]:
    path = corpus_dir / CATALOGUE_NAME
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("Ignoring unreadable %s (%s); titles will come from the files.", path, exc)
        return {}
    if not isinstance(raw, dict):
        log.warning("Ignoring %s: expected an object mapping file names to metadata.", path)
        return {}
    catalogue: dict[str, DocumentMeta] = {}
    for name, meta in raw.items():
        # One malformed entry (no title, a bare string) must not cost every other document its metadata.
        if not isinstance(meta, dict):
            log.warning("Ignoring the entry for %s in %s: expected an object.", name, path)
            continue
        fields = {k: str(v).strip() for k, v in meta.items() if k in DocumentMeta.__annotations__ and v is not None}
        catalogue[name] = DocumentMeta(**{"title": "", **fields})
    return catalogue


def _decode_text(data: bytes, name: str, warnings: list[str]) -> str:
    if b"\x00" in data[:8192]:
        raise CorpusError(f"{name}: looks like a binary file, not text. Remove it or convert it to .txt/.md/.pdf.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Windows editors still save Latin-1 / cp1252; reading it beats refusing a user's notes.
        warnings.append(f"{name}: not valid UTF-8, read as Windows-1252. Re-save it as UTF-8 to be sure.")
        return data.decode("cp1252", errors="replace")


def _title_from(text: str, name: str) -> str:
    for line in text.splitlines()[:40]:
        m = re.match(r"^#{1,3}\s+(.+)", line.strip())
        if m:
            return re.sub(r"[*_`]", "", m.group(1)).strip()
    return Path(name).stem.replace("-", " ").replace("_", " ").strip() or name


def _read(data: bytes, name: str, reader: str, warnings: list[str], options: IngestOptions,
          progress: ProgressFn | None) -> tuple[str, str, str, list[tuple[int, int]], list[int], list[int]]:
    """(text, format of the text, declared title, page starts, OCR'd pages, scanned pages) by the reader for the
    suffix."""
    if reader == "pdf":
        from gdpr_assistant.ingest.pdf import read_pdf

        pdf = read_pdf(data, name, warnings, options, progress)
        return pdf.text, "pdf", pdf.title, pdf.page_starts, pdf.ocr_pages, pdf.scanned
    if reader in ("docx", "odt"):
        from gdpr_assistant.ingest.office import read_docx, read_odt

        text, title = (read_docx if reader == "docx" else read_odt)(data, name)
        return text, "markdown", title, [], [], []
    if reader == "html":
        from gdpr_assistant.ingest.html import read_html

        text, title = read_html(data, name)
        return text, "markdown", title, [], [], []
    return _decode_text(data, name, warnings), reader, "", [], [], []


def load_document(path: Path, corpus_dir: Path, catalogue: dict[str, DocumentMeta] | None = None, *,
                  options: IngestOptions | None = None, progress: ProgressFn | None = None) -> Document:
    """One file as a Document. ``options`` default to the environment's (ASK_OCR…); ``progress`` follows
    the slow part, OCR of scanned pages."""
    name = path.relative_to(corpus_dir).as_posix()
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise CorpusError(_unsupported_message(name, path.suffix.lower()))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{name}: cannot be read ({exc.strerror or exc}).") from exc
    if not data.strip():
        raise CorpusError(f"{name}: the file is empty.")
    warnings: list[str] = []
    text, fmt, declared_title, page_starts, ocr_pages, scanned = _read(
        data, name, reader, warnings, options or IngestOptions.from_environment(), progress)
    if not text.strip():
        raise CorpusError(f"{name}: contains no text.")
    meta = (catalogue or {}).get(name) or DocumentMeta(title="")
    if not meta.title:  # no catalogue entry, or one without a title: the file names itself
        meta = replace(meta, title=declared_title or _title_from(text, name))
    if not meta.kind and reader != fmt:  # converted files: the index lists them by their own type
        meta = replace(meta, kind=reader)
    return Document(name=name, text=text, format=fmt, sha256=hashlib.sha256(data).hexdigest(), meta=meta,
                    page_starts=page_starts, warnings=warnings, ocr_pages=ocr_pages, scanned_pages=scanned)


def load_documents(paths: Iterable[Path], corpus_dir: Path, *, options: IngestOptions | None = None,
                   progress: ProgressFn | None = None) -> tuple[list[Document], list[str]]:
    """Load what can be loaded; each failure becomes a message and never stops the other files."""
    catalogue = load_catalogue(corpus_dir)
    options = options or IngestOptions.from_environment()  # read once for the whole batch
    docs: list[Document] = []
    problems: list[str] = []
    for path in paths:
        try:
            doc = load_document(path, corpus_dir, catalogue, options=options, progress=progress)
        except CorpusError as exc:
            problems.append(str(exc))
            continue
        problems.extend(doc.warnings)
        docs.append(doc)
    return docs, problems
