"""Stage 1: read the documents of the corpus folder (Markdown, text, PDF) and their catalogue metadata."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# pypdf logs every low-level repair ("EOF marker not found"); a file it cannot read gets our own clear
# CorpusError instead, so its chatter would only bury that message.
logging.getLogger("pypdf").setLevel(logging.ERROR)

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".pdf")
CATALOGUE_NAME = "catalogue.json"
# Files that describe the corpus rather than belong to it.
IGNORED_NAMES = {CATALOGUE_NAME, "SOURCES.md", "README.md"}


class CorpusError(Exception):
    """A file that cannot be read as a document; the message says why and what to do."""


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
    format: str  # "markdown", "text" or "pdf"
    sha256: str
    meta: DocumentMeta
    # For PDFs: (page number, offset in ``text`` where the page starts), in order.
    page_starts: list[tuple[int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Supported files under the corpus folder, sorted, hidden files and the catalogue excluded."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus folder not found: {corpus_dir}. Create it or pass --corpus PATH.")
    files = []
    for path in sorted(corpus_dir.rglob("*")):
        rel = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in rel.parts) or path.name in IGNORED_NAMES:
            continue
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(path)
    return files


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


def _read_pdf(data: bytes, name: str, warnings: list[str]) -> tuple[str, list[tuple[int, int]], str]:
    """Text of the pages that have some, where each page starts in it, and the title the PDF declares."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))  # the very bytes that were hashed, even if the file changes now
        if reader.is_encrypted and not reader.decrypt(""):
            raise CorpusError(f"{name}: the PDF is encrypted. Save an unprotected copy and add that instead.")
        pages = list(reader.pages)
    except CorpusError:
        raise
    except DependencyError as exc:  # AES encryption needs the optional `cryptography` package: unreadable here
        raise CorpusError(f"{name}: the PDF is encrypted. Save an unprotected copy and add that instead.") from exc
    except Exception as exc:  # pypdf raises many kinds (struct, zlib, KeyError…) on malformed files
        raise CorpusError(f"{name}: not a readable PDF ({exc.__class__.__name__}: {exc}). "
                          "Re-export it from its source application.") from exc
    parts: list[str] = []
    starts: list[tuple[int, int]] = []
    unreadable: list[int] = []
    offset = 0
    for number, page in enumerate(pages, start=1):
        try:
            page_text = (page.extract_text() or "").strip()
        except Exception:  # one damaged page must not cost the reader the others
            unreadable.append(number)
            continue
        if not page_text:
            continue
        starts.append((number, offset))
        parts.append(page_text)
        offset += len(page_text) + 2
    if unreadable:
        warnings.append(f"{name}: page(s) {', '.join(map(str, unreadable))} could not be read and were skipped.")
    if not parts:
        if unreadable:
            raise CorpusError(f"{name}: no page of the PDF could be read. Re-export it from its source application.")
        raise CorpusError(f"{name}: the PDF has no extractable text (a scan?). Run OCR on it first.")
    return "\n\n".join(parts), starts, _pdf_title(reader)


def _pdf_title(reader: Any) -> str:
    """The document title from the PDF's metadata, when it has a usable one (many have none or junk)."""
    try:
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except Exception:  # a broken info dictionary only costs us the title
        return ""
    # Exporters often leave placeholders such as "untitled" or "Microsoft Word - draft3.docx".
    if len(title) < 3 or title.lower() in {"untitled", "sans titre", "title"} or title.lower().endswith(
            (".doc", ".docx", ".pdf", ".ppt", ".pptx", ".odt")):
        return ""
    return title


def _title_from(text: str, name: str) -> str:
    for line in text.splitlines()[:40]:
        m = re.match(r"^#{1,3}\s+(.+)", line.strip())
        if m:
            return re.sub(r"[*_`]", "", m.group(1)).strip()
    return Path(name).stem.replace("-", " ").replace("_", " ").strip() or name


def load_document(path: Path, corpus_dir: Path, catalogue: dict[str, DocumentMeta] | None = None) -> Document:
    name = path.relative_to(corpus_dir).as_posix()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{name}: cannot be read ({exc.strerror or exc}).") from exc
    if not data.strip():
        raise CorpusError(f"{name}: the file is empty.")
    warnings: list[str] = []
    page_starts: list[tuple[int, int]] = []
    suffix = path.suffix.lower()
    declared_title = ""
    if suffix == ".pdf":
        text, page_starts, declared_title = _read_pdf(data, name, warnings)
        fmt = "pdf"
    else:
        text = _decode_text(data, name, warnings)
        fmt = "markdown" if suffix in (".md", ".markdown") else "text"
    if not text.strip():
        raise CorpusError(f"{name}: contains no text.")
    meta = (catalogue or {}).get(name) or DocumentMeta(title="")
    if not meta.title:  # no catalogue entry, or one without a title: the file names itself
        meta = replace(meta, title=declared_title or _title_from(text, name))
    return Document(name=name, text=text, format=fmt, sha256=hashlib.sha256(data).hexdigest(), meta=meta,
                    page_starts=page_starts, warnings=warnings)


def load_documents(paths: Iterable[Path], corpus_dir: Path) -> tuple[list[Document], list[str]]:
    """Load what can be loaded; each failure becomes a message and never stops the other files."""
    catalogue = load_catalogue(corpus_dir)
    docs: list[Document] = []
    problems: list[str] = []
    for path in paths:
        try:
            doc = load_document(path, corpus_dir, catalogue)
        except CorpusError as exc:
            problems.append(str(exc))
            continue
        problems.extend(doc.warnings)
        docs.append(doc)
    return docs, problems
