"""The corpus folder and its index, managed together: keep the index in step, add and remove documents.

Every question reads a :class:`Retriever` of the current index generation; :meth:`Library.retriever` brings the
index up to date with the folder first (cheap when nothing changed: names, sizes, mtimes). A question never waits
for a long update: one estimated beyond ``update_budget_s`` runs in a background thread, and questions are answered
from the previous generation meanwhile, with a warning that says so (:meth:`Library.index_warnings`). Only the very
first index, or one for another embedder, is built before the first answer: there is nothing to answer from.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gdpr_assistant.energy import Meter
from gdpr_assistant.index.chroma import duration
from gdpr_assistant.index.embedding import Embedder, get_embedder
from gdpr_assistant.index.store import (
    Index,
    IndexDamaged,
    IndexLocked,
    IndexReport,
    Pending,
    ProgressFn,
    UpdateCancelled,
)
from gdpr_assistant.ingest.corpus import (
    SUPPORTED_DESCRIPTION,
    SUPPORTED_SUFFIXES,
    CorpusError,
    Document,
    IngestOptions,
    load_catalogue,
    load_document,
)
from gdpr_assistant.retrieval.retriever import Retriever
from gdpr_assistant.settings import Settings

log = logging.getLogger(__name__)

# Libraries with an update running in the background: stopped between two batches when the program exits, so that
# the build ends cleanly (lock released) and the next run resumes it instead of dying inside Chroma mid-write.
_RUNNING: weakref.WeakSet[Library] = weakref.WeakSet()
_STOP_WAIT_S = 30.0  # one batch of embeddings, on a busy machine


@atexit.register
def _stop_background_updates() -> None:
    for library in list(_RUNNING):
        library.stop_background(_STOP_WAIT_S)


class Library:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._index: Index | None = None
        self._retriever: Retriever | None = None
        self._lock = threading.RLock()
        self.meter = Meter(settings.energy)
        self._background: threading.Thread | None = None
        self._stop = threading.Event()
        self._status: dict[str, Any] = {}  # of the background update: files, estimate, start, fraction
        self._elsewhere = False  # another process holds the writer's lock: answers come from the previous index

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

    @property
    def updating(self) -> bool:
        """Whether an update of the index runs in this process's background."""
        return self._background is not None and self._background.is_alive()

    def update_index(self, progress: ProgressFn | None = None, force: bool = False,
                     preloaded: dict[str, Document] | None = None) -> IndexReport:
        # Not under this library's lock: questions keep reading the previous generation while a document is
        # added (the index's own lock, a file lock or the shared index's lease, keeps writers apart).
        if self.updating and threading.current_thread() is not self._background:
            assert self._background is not None
            self._background.join()  # an explicit update (an upload, `ask index`) comes after the running one
        reading = self.meter.start()
        report = self.index.update(progress=progress, force=force, preloaded=preloaded, stop=self._stop)
        report.energy = self.meter.stop(reading)
        with self._lock:
            self._retriever = None
        return report

    def retriever(self, progress: ProgressFn | None = None) -> Retriever:
        """The retriever of the current index, brought up to date with the corpus folder first when that is quick
        (or when there is no usable index at all); otherwise the update runs in the background."""
        with self._lock:
            if not self.updating:
                self._refresh(progress)
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

    def _refresh(self, progress: ProgressFn | None) -> None:
        pending = self.index.pending()
        self._elsewhere = False
        if pending is None:
            return
        if pending.blocking or pending.seconds <= self.settings.corpus.update_budget_s:
            try:
                self.index.update(progress=progress, stop=self._stop)
            except IndexLocked:
                if self.index.manifest() is None:
                    raise
                self._elsewhere = True
                log.info("Index is being updated by another process; using the previous version.")
            return
        self._start_background(pending)

    def _start_background(self, pending: Pending) -> None:
        log.warning("The corpus changed (%d file(s), about %s to index): updating the index in the background; "
                    "answers use the previous version meanwhile.", len(pending.files) + len(pending.removed),
                    duration(pending.seconds))
        self._status = {"files": len(pending.files) + len(pending.removed), "estimate": pending.seconds,
                        "start": time.monotonic(), "fraction": 0.0}

        def progress(fraction: float, label: str) -> None:
            self._status["fraction"] = fraction

        def work() -> None:
            try:
                self.update_index(progress)
            except IndexLocked:
                self._elsewhere = True
            except UpdateCancelled as exc:
                log.info("Background index update %s.", exc)
            except Exception as exc:  # a thread's exception would be lost: the next question tries again
                log.warning("The background update of the index failed (%s: %s); the next question tries again.",
                            exc.__class__.__name__, exc)

        self._stop.clear()
        self._background = threading.Thread(target=work, name="index-update", daemon=True)
        _RUNNING.add(self)
        self._background.start()

    def stop_background(self, wait: float | None = None) -> None:
        """Stop a background update between two batches (what it embedded is kept: the next update resumes)."""
        self._stop.set()
        if self._background is not None:
            self._background.join(wait)
        if not self.updating:  # stopped: the event must not cancel the next update too (an upload, `ask index`)
            self._stop.clear()

    def index_warnings(self, lang: str) -> list[str]:
        """What an answer says about the index it comes from: an update is running (here in the background, or in
        another process), and the answer uses the previous version of the index meanwhile."""
        fr = lang == "fr"
        if self.updating:
            st = self._status
            elapsed = time.monotonic() - st["start"]
            fraction = float(st.get("fraction", 0.0))
            left = elapsed * (1 - fraction) / fraction if fraction > 0.02 else max(0.0, st["estimate"] - elapsed)
            if fr:
                return [f"Mise à jour de l'index en cours ({st['files']} fichier(s) nouveau(x) ou modifié(s), "
                        f"{fraction:.0%}, encore {duration(left)} environ) : cette réponse s'appuie sur la version "
                        "précédente de l'index. Si le programme s'arrête avant, `ask index` la termine."]
            return [f"The index is being updated ({st['files']} new or changed file(s), {fraction:.0%} done, about "
                    f"{duration(left)} left): this answer comes from its previous version. If the program stops "
                    "first, `ask index` completes the update."]
        if self._elsewhere:
            return ["Une mise à jour de l'index est en cours dans un autre processus : cette réponse s'appuie sur la "
                    "version précédente de l'index." if fr else
                    "Another process is updating the index: this answer comes from its previous version."]
        return []

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
        """Copy user files into the corpus folder (after checking they can be read) and re-index. Each file is read
        once: the document read to check it is what the index embeds (reading a scan means OCR, minutes a file)."""
        problems: list[str] = []
        corpus = self.settings.corpus.corpus_dir
        catalogue = load_catalogue(corpus)
        options = IngestOptions.from_settings(self.settings.corpus)
        preloaded: dict[str, Document] = {}
        for src in paths:
            src = Path(src)
            if src.suffix.lower() not in SUPPORTED_SUFFIXES:
                problems.append(f"{src.name}: unsupported type (use {SUPPORTED_DESCRIPTION}).")
                continue
            dest = corpus / src.name
            if dest.exists():
                problems.append(f"{src.name}: a document with this name is already in the corpus; "
                                "remove it first or rename the new file.")
                continue
            # Staged in a hidden folder of the corpus (the indexer skips it; the final rename stays on one disk),
            # under its own name: the name is the document's id and may give its title.
            stage = Path(tempfile.mkdtemp(prefix=".upload-", dir=corpus))
            try:
                shutil.copyfile(src, stage / src.name)
                doc = load_document(stage / src.name, stage, catalogue, options=options)
                (stage / src.name).rename(dest)
                preloaded[doc.name] = doc
            except CorpusError as exc:  # refuse unreadable files before they enter the corpus
                problems.append(str(exc))
            finally:
                shutil.rmtree(stage, ignore_errors=True)
        return self.update_index(progress, preloaded=preloaded), problems

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
