"""The corpus folder and its index, managed together: keep the index in step, add and remove documents.

Every question reads a :class:`Retriever` of the current index generation; :meth:`Library.retriever` brings the
index up to date with the folder first (cheap when nothing changed: names, sizes, mtimes).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gdpr_assistant.energy import Meter
from gdpr_assistant.index.embedding import Embedder, get_embedder
from gdpr_assistant.index.store import Index, IndexDamaged, IndexLocked, IndexReport, ProgressFn
from gdpr_assistant.ingest.corpus import SUPPORTED_SUFFIXES, CorpusError, load_catalogue, load_document
from gdpr_assistant.retrieval.retriever import Retriever
from gdpr_assistant.settings import Settings

log = logging.getLogger(__name__)


class Library:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._index: Index | None = None
        self._retriever: Retriever | None = None
        self._lock = threading.RLock()
        self.meter = Meter(settings.energy)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.corpus.embedder, self.settings.models.n_threads,
                                          self.settings.retrieval.embed_query_threads)
        return self._embedder

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = Index(self.settings, self.embedder)
        return self._index

    def update_index(self, progress: ProgressFn | None = None, force: bool = False) -> IndexReport:
        # Not under this library's lock: questions keep reading the previous generation while a document is
        # added (the index's own lock, a file lock or the shared index's lease, keeps writers apart).
        reading = self.meter.start()
        report = self.index.update(progress=progress, force=force)
        report.energy = self.meter.stop(reading)
        with self._lock:
            self._retriever = None
        return report

    def retriever(self, progress: ProgressFn | None = None) -> Retriever:
        """The retriever of the current index, brought up to date with the corpus folder first."""
        with self._lock:
            if self.index.stale_files():
                try:
                    self.index.update(progress=progress)
                except IndexLocked:
                    if self.index.manifest() is None:
                        raise
                    log.info("Index is being updated by another process; using the previous version.")
            manifest = self.index.manifest()
            if self._retriever is None or manifest is None or \
                    manifest.get("collection") != self._retriever.manifest.get("collection"):
                try:
                    self._retriever = Retriever(self.index)
                except IndexDamaged as exc:
                    log.warning("%s Rebuilding it now.", exc)
                    self.index.update(progress=progress, force=True)
                    self._retriever = Retriever(self.index)
            return self._retriever

    def documents(self) -> list[dict[str, Any]]:
        manifest = self.index.manifest() or {"files": {}}
        catalogue = load_catalogue(self.settings.corpus.corpus_dir)
        out = []
        for name, meta in sorted(manifest["files"].items()):
            cat = catalogue.get(name)
            out.append({"doc": name, "title": (cat.title if cat else "") or meta.get("title", name),
                        "kind": (cat.kind if cat else "") or meta.get("kind", ""), "passages": meta.get("passages", 0),
                        "indexed_at": meta.get("indexed_at", ""), "problem": meta.get("problem", "")})
        return out

    def titles(self) -> dict[str, str]:
        return {d["doc"]: d["title"] for d in self.documents()}

    def add_files(self, paths: Sequence[Path], progress: ProgressFn | None = None) -> tuple[IndexReport, list[str]]:
        """Copy user files into the corpus folder (after checking they can be read) and re-index."""
        problems: list[str] = []
        corpus = self.settings.corpus.corpus_dir
        for src in paths:
            src = Path(src)
            if src.suffix.lower() not in SUPPORTED_SUFFIXES:
                problems.append(f"{src.name}: unsupported type (use .pdf, .md or .txt).")
                continue
            dest = corpus / src.name
            if dest.exists():
                problems.append(f"{src.name}: a document with this name is already in the corpus; "
                                "remove it first or rename the new file.")
                continue
            # Hidden (the indexer skips it) but with the real suffix: it decides how the file is read.
            tmp = corpus / f".upload-{src.name}"
            try:
                shutil.copyfile(src, tmp)
                load_document(tmp, corpus)  # refuse unreadable files before they enter the corpus
                tmp.rename(dest)
            except CorpusError as exc:
                problems.append(str(exc).replace(tmp.name, src.name))
            finally:
                tmp.unlink(missing_ok=True)
        return self.update_index(progress), problems

    def remove_document(self, name: str, progress: ProgressFn | None = None) -> IndexReport:
        corpus = self.settings.corpus.corpus_dir
        path = (corpus / name).resolve()
        if corpus not in path.parents or not path.is_file():
            entry = (self.index.manifest() or {"files": {}})["files"].get(name) if self.index.remote else None
            if entry and entry.get("source"):
                # A shared index: the file lives in the corpus folder of the instance that added it.
                raise CorpusError(f"{name}: added by another instance of the assistant ({entry['source']}); remove "
                                  "it there: its file is in that corpus folder.")
            raise CorpusError(f"{name}: no such document in the corpus.")
        trash = self.settings.corpus.index_dir / "removed"
        trash.mkdir(parents=True, exist_ok=True)
        # Moved aside, not deleted: removing a document from the assistant must not lose the user's file.
        shutil.move(str(path), trash / f"{time.strftime('%Y%m%d-%H%M%S')}-{path.name}")
        return self.update_index(progress)
