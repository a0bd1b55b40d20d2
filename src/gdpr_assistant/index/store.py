"""The persistent Chroma index, kept in step with the corpus folder.

Layout of ``index_dir``::

    manifest.json   what is indexed: embedder, chunking and reader versions, live collection, one entry per file
    chroma/         the Chroma PersistentClient
    generations/    per generation, what a search process reads besides Chroma (passages, BM25, hubness: derived.py)
    .lock           held by the one process that writes

Updates never modify the live collection. A new *generation* is built beside it (unchanged files' vectors copied
over, changed files re-embedded: build.py), and ``manifest.json`` is switched to it with an atomic rename. Readers
therefore see the old index or the new one, never a mix, and a build stopped half-way leaves the old generation
live; the next run resumes the stopped one, embedding only what it had not.

With ``ASK_CHROMA_URL`` the same index lives on a Chroma server instead, shared by several app instances:
the manifest and the writer's lease move there too (:mod:`.remote`), and each instance indexes the files of its
own corpus folder (their entries name it as their ``source``) without touching the others'. The derived files of a
generation are then each client's own copy, under its index folder.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from gdpr_assistant.index import derived
from gdpr_assistant.index.build import Build
from gdpr_assistant.index.chroma import ChromaEmbeddingFunction, chroma_client, passage_from_record
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.index.plan import (
    FORMAT,
    IndexDamaged,
    IndexError_,
    IndexLocked,
    IndexReport,
    Pending,
    ProgressFn,
    UpdateCancelled,
    pages,
    pending_update,
)
from gdpr_assistant.index.remote import Lease, LeaseBusy, LeaseLost, RemoteStore, RemoteUnavailable
from gdpr_assistant.ingest.corpus import (
    INGEST_VERSION,
    Document,
    IngestOptions,
    file_sha256,
    ingest_fingerprint,
)
from gdpr_assistant.ingest.watch import CorpusWatch, open_watch
from gdpr_assistant.passages.chunking import CHUNKING_VERSION
from gdpr_assistant.settings import Settings
from gdpr_assistant.types import Passage

__all__ = ["FORMAT", "MANIFEST", "Index", "IndexDamaged", "IndexError_", "IndexLocked", "IndexReport", "Pending",
           "ProgressFn", "UpdateCancelled"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# Asking Tesseract its version and languages takes two subprocesses: done at most this often per process.
_OCR_STATE_TTL_S = 60.0


def _atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Index:
    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.dir = settings.corpus.index_dir
        self._client: Any = None
        self.remote = RemoteStore(settings) if settings.shared.chroma_url else None
        self._shas: dict[tuple[str, int, int], str] = {}  # (name, size, mtime) -> sha256, for the remote check
        self._ocr: tuple[float, str] | None = None
        # The last freshness check's answer, kept while the corpus folder's watch reports no change and the index
        # is the same generation (see pending).
        self._watch: CorpusWatch | None = None
        self._checks = 0
        self._checked: tuple[tuple[Any, ...], Pending | None] | None = None

    @property
    def where(self) -> str:
        """The index's place, as messages name it: its folder, or its Chroma server."""
        return f"{self.remote.url} ({self.remote.ns})" if self.remote else str(self.dir)

    # -- reading -----------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any] | None:
        """The live manifest, or None when there is none to use (a damaged one is rebuilt: said in the log)."""
        try:
            return self.read_manifest()
        except IndexDamaged as exc:
            log.warning("%s The index will be rebuilt.", exc)
            return None

    def read_manifest(self) -> dict[str, Any] | None:
        """The live manifest; None when there is no index yet; :class:`IndexDamaged` when it cannot be read."""
        if self.remote:
            try:
                data = self.remote.read_manifest()
            except RemoteUnavailable as exc:
                raise IndexError_(str(exc)) from exc
            except (ValueError, KeyError, TypeError) as exc:
                raise IndexDamaged(f"The manifest of the index on {self.where} is unreadable ({exc}). Run `ask index "
                                   "--force` to rebuild the index from the corpus.") from exc
            if data is not None and data.get("format") != FORMAT:
                raise IndexDamaged(f"The index on {self.where} is not in the format this version writes. Run `ask "
                                   "index --force` to rebuild it from the corpus.")
            return data
        path = self.dir / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise IndexDamaged(f"The index manifest {path} is unreadable ({exc}). Run `ask index --force` to "
                               "rebuild the index from the corpus.") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise IndexDamaged(f"The index manifest {path} is not in the format this version writes. Run `ask "
                               "index --force` to rebuild it from the corpus.")
        return data

    def compatible(self, manifest: dict[str, Any] | None) -> bool:
        return bool(manifest) and manifest.get("embedder") == self.embedder.id \
            and manifest.get("chunking") == self.chunking_id()

    def chunking_id(self) -> str:
        return f"{CHUNKING_VERSION}/{self.settings.corpus.chunk_max_chars}/{self.settings.corpus.chunk_min_chars}"

    def ef(self) -> ChromaEmbeddingFunction:
        return ChromaEmbeddingFunction(self.embedder, self.settings.corpus.embedder)

    def client(self) -> Any:
        if self.remote:
            try:
                return self.remote.client()
            except RemoteUnavailable as exc:
                raise IndexError_(str(exc)) from exc
        if self._client is None:
            try:
                (self.dir / "chroma").mkdir(parents=True, exist_ok=True)
                self._client = chroma_client(self.dir / "chroma")
            except OSError as exc:
                raise IndexError_(f"Cannot open the index in {self.dir} ({exc.strerror or exc}). "
                                  "Make it writable or choose another folder with --index PATH.") from exc
            except Exception as exc:  # chromadb raises its own error types for a read-only or damaged store
                if not os.access(self.dir / "chroma", os.W_OK) or "readonly" in str(exc):
                    raise IndexError_(f"Cannot open the index in {self.dir}: it is read-only (Chroma needs to "
                                      "write even to search). Make it writable or choose another folder with "
                                      "--index PATH.") from exc
                raise IndexError_(f"Cannot open the index in {self.dir} ({exc}). If it is damaged, delete "
                                  "the folder and run `ask index` to rebuild it from the corpus.") from exc
        return self._client

    def collection(self, manifest: dict[str, Any]) -> Any:
        from chromadb.errors import NotFoundError

        try:
            return self.client().get_collection(manifest["collection"], embedding_function=self.ef())
        except NotFoundError as exc:
            raise IndexDamaged(f"The index in {self.where} is damaged (its passages are missing). Run "
                               "`ask index --force` to rebuild it from the corpus.") from exc

    # -- freshness ---------------------------------------------------------------------------------------
    def ocr_state(self) -> str:
        """What PDFs with scanned pages read as depends on: the readers' version and OCR's state (off, unavailable,
        Tesseract's version and languages). Recorded with such files, so that they are read again when it changes."""
        now = time.monotonic()
        if self._ocr is None or now - self._ocr[0] > _OCR_STATE_TTL_S:
            self._ocr = (now, ingest_fingerprint(IngestOptions.from_settings(self.settings.corpus)))
        return self._ocr[1]

    def reread(self, manifest: dict[str, Any] | None, entry: dict[str, Any]) -> bool:
        """Whether an unchanged file must be read again: the readers changed since the index recorded it (an
        index older than this record reads every file once: the vectors of unchanged passages are kept), it is a PDF
        with scanned pages and OCR's state changed (Tesseract installed, OCR turned on or off), or it was skipped as
        too large and the limit changed."""
        if (manifest or {}).get("ingest") != INGEST_VERSION and entry.get("source", "") == self._source():
            return True
        if "too_big" in entry:
            return entry["too_big"] != self.settings.corpus.max_file_mb
        return "ocr" in entry and entry["ocr"] != self.ocr_state()

    def _source(self) -> str:
        return self.remote.source if self.remote else ""

    def pending(self) -> Pending | None:
        """What an update would do, or None when the index is in step with the corpus folder. Cheap (no file is
        read; on a shared index hashes are cached per process), so that every question sees the current corpus.

        A process that asks again (the web UI, the API) watches the folder from its second check on: while the
        watch reports no change and the index is the same generation, the last answer stands without a walk."""
        manifest = self.manifest()
        generation = ((manifest or {}).get("collection"), (manifest or {}).get("generation"))
        # OCR's state decides whether scanned PDFs are read again; asking Tesseract costs two subprocesses, so only
        # an index that holds such files asks (as reread does).
        scans = any("ocr" in m for m in (manifest or {}).get("files", {}).values())
        key = (*generation, self.ocr_state() if scans else "")
        watch = self._corpus_watch()
        if watch is not None and self._checked is not None and self._checked[0] == key and watch.quiet():
            return self._checked[1]
        if watch is not None:
            watch.arm()  # before the walk: a change made during it shows at the next check
        found = pending_update(self, manifest)
        self._checked = (key, found) if watch is not None else None
        return found

    def _corpus_watch(self) -> CorpusWatch | None:
        self._checks += 1
        if self._watch is None and self._checks == 2 and self.settings.corpus.watch_corpus:
            self._watch = open_watch(self.settings.corpus.corpus_dir)
        return self._watch

    def stale_files(self) -> bool:
        """Cheap freshness check (names, sizes, mtimes) so that every question sees the current corpus."""
        return self.pending() is not None

    def sha(self, name: str, path: Path) -> str:
        """A file's sha256, cached by name, size and mtime for the life of the process."""
        st = path.stat()
        key = (name, st.st_size, st.st_mtime_ns)
        if key not in self._shas:
            self._shas[key] = file_sha256(path)
        return self._shas[key]

    # -- what a search reads -----------------------------------------------------------------------------
    def generation(self) -> tuple[derived.GenerationFiles, dict[str, Any], Any]:
        """The live generation: its derived files (built from Chroma and saved if missing), manifest, collection."""
        manifest = self.manifest()
        if manifest is None:
            raise IndexError_("No index yet: run `ask index`.")
        collection = self.collection(manifest)
        expected = sum(f.get("passages", 0) for f in manifest["files"].values())
        # Checked on every load, where it costs one count, rather than on every update: opening Chroma alone would
        # take most of the no-op re-index budget.
        count = collection.count()
        if count != expected:
            raise IndexDamaged(f"The index in {self.where} is damaged (it holds {count} passages, its manifest "
                               "lists another number). Run `ask index --force` to rebuild it from the corpus.")
        r = self.settings.retrieval
        target = derived.generation_dir(self.dir, manifest["collection"])
        files = derived.load(target, expected, r.bm25_k1, r.bm25_b, r.hubness_k)
        if files is None:
            files = self._derive(collection, manifest, target)
        return files, manifest, collection

    def _derive(self, collection: Any, manifest: dict[str, Any], target: Path) -> derived.GenerationFiles:
        """Derived files of a generation written without them (an older version, another client of a shared
        server): read from Chroma once, saved for the next process when the folder is writable."""
        import numpy as np

        r = self.settings.retrieval
        passages: list[Passage] = []
        chunks = []
        for got in pages(collection, ["embeddings", "documents", "metadatas"]):
            passages += [passage_from_record(t, m) for t, m in zip(got["documents"], got["metadatas"], strict=True)]
            chunks.append(np.asarray(got["embeddings"], dtype=np.float32))
        order = sorted(range(len(passages)), key=lambda i: (passages[i].doc, passages[i].index))
        passages = [passages[i] for i in order]
        vectors = np.concatenate(chunks)[order] if chunks else np.zeros((0, 1), dtype=np.float32)
        shas = {n: m["sha256"] for n, m in manifest["files"].items() if m.get("passages")}
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            derived.write(target, passages, shas, vectors, manifest["files"], r.bm25_k1, r.bm25_b, r.hubness_k)
            files = derived.load(target, len(passages), r.bm25_k1, r.bm25_b, r.hubness_k)
            if files is not None:
                return files
        except OSError as exc:  # a read-only index folder: computed for this process only
            log.info("Derived files of %s not saved (%s).", manifest["collection"], exc)
        from gdpr_assistant.index.bm25 import BM25

        nb = derived.neighbours(vectors, [f"{p.id}@{shas.get(p.doc, '')}" for p in passages], r.hubness_k)
        return derived.GenerationFiles(passages, shas, BM25(derived.lexical_texts(passages, manifest["files"]),
                                                            k1=r.bm25_k1, b=r.bm25_b),
                                       nb.hub if nb is not None else None, {})

    def passages(self) -> tuple[list[Passage], dict[str, Any]]:
        """Every live passage, in (document, index) order, with the manifest."""
        files, manifest, _ = self.generation()
        return list(files.passages), manifest

    # -- writing -----------------------------------------------------------------------------------------
    def update(self, progress: ProgressFn | None = None, force: bool = False,
               preloaded: dict[str, Document] | None = None, stop: threading.Event | None = None) -> IndexReport:
        """Bring the index in step with the corpus folder; only new or changed passages are embedded.

        ``preloaded``: documents already read (uploads checked before entering the corpus), used when their file
        has not changed since. ``stop``: set it to end the update between two batches (:class:`UpdateCancelled`);
        what was embedded is kept for the next run."""
        t0 = time.perf_counter()
        if self.remote:
            return self._update_remote(progress, force, preloaded, stop, t0)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.dir / ".lock"), timeout=0)
            lock.acquire()
        except Timeout as exc:
            raise IndexLocked(f"Another process is updating the index in {self.dir}. Wait for it to finish "
                              "(questions still use the previous index meanwhile).") from exc
        except OSError as exc:
            raise IndexError_(f"Cannot write the index in {self.dir} ({exc.strerror or exc}). Make it writable "
                              "or choose another folder with --index PATH.") from exc
        try:
            for tmp in self.dir.glob(f".{MANIFEST}.*.tmp"):  # left by a writer killed mid-write; we hold the lock
                tmp.unlink(missing_ok=True)
            report = Build(self, progress, force, None, preloaded, stop).run()
        finally:
            lock.release()
        report.seconds = time.perf_counter() - t0
        return report

    def _update_remote(self, progress: ProgressFn | None, force: bool, preloaded: dict[str, Document] | None,
                       stop: threading.Event | None, t0: float) -> IndexReport:
        """The same update on a Chroma server, under its lease instead of the file lock."""
        assert self.remote is not None
        try:
            with self.remote.lease() as lease:
                report = Build(self, progress, force, lease, preloaded, stop).run()
        except LeaseBusy as exc:
            raise IndexLocked(f"{exc}. Wait for it to finish (questions still use the previous index meanwhile).") \
                from exc
        except LeaseLost as exc:
            raise IndexLocked(f"The update was not committed: {exc}. Run it again.") from exc
        except RemoteUnavailable as exc:
            raise IndexError_(str(exc)) from exc
        report.seconds = time.perf_counter() - t0
        return report

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        _atomic_write_json(self.dir / MANIFEST, manifest)

    def commit(self, manifest: dict[str, Any], lease: Lease | None) -> None:
        """Make ``manifest`` the live one (an atomic rename here; the lease-checked record on a shared server)."""
        if self.remote:
            assert lease is not None
            if not self.remote.commit(manifest, lease):
                raise LeaseLost(f"another writer committed generation {manifest['generation']} of the shared index "
                                "first")
        else:
            self.write_manifest(manifest)

    def drop_collections(self, except_names: set[str]) -> None:
        client = self.client()
        if self.remote:
            # A shared server: only this index's own generations, never one a kept manifest names.
            except_names = except_names | self.remote.kept_collections()
        for c in client.list_collections():
            name = c if isinstance(c, str) else c.name
            if name not in except_names and (not self.remote or self.remote.owned(name)):
                client.delete_collection(name)
