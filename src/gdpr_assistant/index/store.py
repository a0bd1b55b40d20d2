"""The persistent Chroma index, kept in step with the corpus folder.

Layout of ``index_dir``::

    manifest.json   what is indexed: embedder, chunking version, live collection, one entry per file
    chroma/         the Chroma PersistentClient
    .lock           held by the one process that writes

Updates never modify the live collection. A new *generation* is built beside it (unchanged files'
vectors copied over, changed files re-embedded), and ``manifest.json`` is switched to it with an atomic
rename. Readers therefore see the old index or the new one, never a mix, and a build killed half-way
leaves the old generation live; the next run deletes the orphan and starts again.

With ``ASK_CHROMA_URL`` the same index lives on a Chroma server instead, shared by several app instances:
the manifest and the writer's lease move there too (:mod:`.remote`), and each instance indexes the files of its
own corpus folder (their entries name it as their ``source``) without touching the others'.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from gdpr_assistant.index.chroma import (
    ChromaEmbeddingFunction,
    chroma_client,
    passage_from_record,
    passage_metadata,
    progress_bar,
)
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.index.remote import Lease, LeaseBusy, LeaseLost, RemoteStore, RemoteUnavailable
from gdpr_assistant.ingest.corpus import CorpusError, corpus_files, file_sha256, load_documents
from gdpr_assistant.passages.chunking import CHUNKING_VERSION, chunk
from gdpr_assistant.settings import Settings
from gdpr_assistant.types import Energy, Passage

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
ProgressFn = Callable[[float, str], None]


class IndexError_(Exception):
    """Index problems the user can fix; the message names the fix."""


class IndexLocked(IndexError_):
    pass


class IndexDamaged(IndexError_):
    """Chroma no longer holds what the manifest lists (a store altered behind our back): rebuild with force."""


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # about files that were indexed all the same
    passages: int = 0
    rebuilt: bool = False
    seconds: float = 0.0
    energy: Energy | None = None  # set by the library, which measures the update

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt)


def _atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
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
                               "index --force` to rebuild the index from the corpus.")
        return data

    def _compatible(self, manifest: dict[str, Any] | None) -> bool:
        return bool(manifest) and manifest.get("embedder") == self.embedder.id \
            and manifest.get("chunking") == self._chunking_id()

    def _chunking_id(self) -> str:
        return f"{CHUNKING_VERSION}/{self.settings.corpus.chunk_max_chars}/{self.settings.corpus.chunk_min_chars}"

    def _ef(self) -> ChromaEmbeddingFunction:
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
            return self.client().get_collection(manifest["collection"], embedding_function=self._ef())
        except NotFoundError as exc:
            raise IndexDamaged(f"The index in {self.where} is damaged (its passages are missing). Run "
                               "`ask index --force` to rebuild it from the corpus.") from exc

    def stale_files(self) -> bool:
        """Cheap freshness check (names, sizes, mtimes) so that every question sees the current corpus."""
        manifest = self.manifest()
        if not self._compatible(manifest):
            return True
        assert manifest is not None
        try:
            files = corpus_files(self.settings.corpus.corpus_dir)
        except CorpusError:
            return False
        if self.remote:
            return self._stale_remote(files, manifest["files"])
        known = manifest["files"]
        names = {p.relative_to(self.settings.corpus.corpus_dir).as_posix(): p for p in files}
        if set(names) != set(known):
            return True
        for name, path in names.items():
            st = path.stat()
            if known[name].get("size") != st.st_size or known[name].get("mtime") != st.st_mtime_ns:
                return True
        return False

    def _sha(self, name: str, path: Path) -> str:
        """A file's sha256, cached by name, size and mtime for the life of the process."""
        st = path.stat()
        key = (name, st.st_size, st.st_mtime_ns)
        if key not in self._shas:
            self._shas[key] = file_sha256(path)
        return self._shas[key]

    def _stale_remote(self, files: list[Path], known: dict[str, Any]) -> bool:
        """Shared index: stale when a file of this corpus folder is not in it with the same content, or an entry of
        this folder has no file any more. Contents, not mtimes, are compared: another instance may have indexed
        the same file, copied with other mtimes. Other instances' entries are theirs to keep up to date."""
        assert self.remote is not None
        names = {p.relative_to(self.settings.corpus.corpus_dir).as_posix(): p for p in files}
        mine = {n for n, meta in known.items() if meta.get("source") == self.remote.source}
        if mine - set(names):
            return True
        return any(n not in known or known[n].get("sha256") != self._sha(n, p) for n, p in names.items())

    def passages(self) -> tuple[list[Passage], dict[str, Any]]:
        """Every live passage with its manifest, read once per process for the lexical ranker."""
        manifest = self.manifest()
        if manifest is None:
            raise IndexError_("No index yet: run `ask index`.")
        got = self.collection(manifest).get(include=["documents", "metadatas"])
        ps = [passage_from_record(t, m) for t, m in zip(got["documents"], got["metadatas"], strict=True)]
        # Checked here, where it costs nothing, rather than on every update: opening Chroma alone would take
        # most of the no-op re-index budget.
        if len(ps) != sum(f.get("passages", 0) for f in manifest["files"].values()):
            raise IndexDamaged(f"The index in {self.where} is damaged (it holds {len(ps)} passages, its manifest "
                               "lists another number). Run `ask index --force` to rebuild it from the corpus.")
        ps.sort(key=lambda p: (p.doc, p.index))
        return ps, manifest

    # -- writing -----------------------------------------------------------------------------------------
    def update(self, progress: ProgressFn | None = None, force: bool = False) -> IndexReport:
        """Bring the index in step with the corpus folder; only new or changed files are embedded."""
        t0 = time.perf_counter()
        if self.remote:
            return self._update_remote(progress, force, t0)
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
            report = self._update_locked(progress, force)
        finally:
            lock.release()
        report.seconds = time.perf_counter() - t0
        return report

    def _update_remote(self, progress: ProgressFn | None, force: bool, t0: float) -> IndexReport:
        """The same update on a Chroma server, under its lease instead of the file lock."""
        assert self.remote is not None
        try:
            with self.remote.lease() as lease:
                report = self._update_locked(progress, force, lease)
        except LeaseBusy as exc:
            raise IndexLocked(f"{exc}. Wait for it to finish (questions still use the previous index meanwhile).") \
                from exc
        except LeaseLost as exc:
            raise IndexLocked(f"The update was not committed: {exc}. Run it again.") from exc
        except RemoteUnavailable as exc:
            raise IndexError_(str(exc)) from exc
        report.seconds = time.perf_counter() - t0
        return report

    def _update_locked(self, progress: ProgressFn | None, force: bool, lease: Lease | None = None) -> IndexReport:
        report = IndexReport()
        corpus_dir = self.settings.corpus.corpus_dir
        for tmp in self.dir.glob(f".{MANIFEST}.*.tmp"):  # left by a writer killed mid-write; we hold the lock
            tmp.unlink(missing_ok=True)
        old = self.manifest()
        compatible = self._compatible(old) and not force
        old_files: dict[str, Any] = old["files"] if (old and compatible) else {}
        report.rebuilt = not compatible
        # Shared index: entries of other corpus folders (other app instances) are carried over as they are, their
        # vectors copied, as long as they fit this embedder (they cannot be re-embedded from here).
        source = self.remote.source if self.remote else ""
        foreign = {n: m for n, m in old["files"].items() if m.get("source", source) != source} \
            if self.remote and old and self._compatible(old) else {}

        current: dict[str, dict[str, Any]] = {}
        for path in corpus_files(corpus_dir):
            name = path.relative_to(corpus_dir).as_posix()
            st = path.stat()
            prev = old_files.get(name)
            if self.remote:
                sha = self._sha(name, path)  # mtimes of another machine's copy say nothing
            elif prev and prev.get("size") == st.st_size and prev.get("mtime") == st.st_mtime_ns:
                sha = prev["sha256"]
            else:
                sha = file_sha256(path)
            current[name] = {"path": path, "sha256": sha, "size": st.st_size, "mtime": st.st_mtime_ns}

        carried = {n: m for n, m in foreign.items() if n not in current}
        todo = [n for n, c in current.items() if n not in old_files or old_files[n]["sha256"] != c["sha256"]]
        keep = [n for n in current if n not in todo]
        report.removed = sorted(set(old_files) - set(current) - set(carried))
        report.unchanged = [n for n in keep if "problem" not in old_files[n]] + sorted(carried)
        for n in keep:  # a file that failed before and is unchanged fails again: say so, don't re-parse
            if "problem" in old_files[n]:
                report.problems.append(old_files[n]["problem"])
        if self.remote and old and not self._compatible(old):
            dropped = [n for n, m in old["files"].items() if m.get("source", source) != source and n not in current]
            if dropped:
                report.warnings.append(f"{len(dropped)} document(s) indexed by other instances were left out (built "
                                       "for another embedder or chunking): those instances add them again.")

        if compatible and not todo and not report.removed:
            assert old is not None
            # Touch-only changes (mtime): refresh the cheap check, nothing to embed. (A shared index compares
            # contents, never mtimes: nothing to refresh.)
            if not self.remote and any(old_files[n]["mtime"] != current[n]["mtime"] for n in current):
                for n in current:
                    old_files[n].update(size=current[n]["size"], mtime=current[n]["mtime"])
                _atomic_write_json(self.dir / MANIFEST, old)
            report.passages = sum(f.get("passages", 0) for f in old_files.values())
            return report

        client = self.client()
        ef = self._ef()
        generation = int(old["generation"]) + 1 if old else 1
        live_name = old["collection"] if old else None
        new_name = self.remote.generation_name(generation) if self.remote else f"passages_g{generation}"
        self._drop_collections(except_names={live_name} if live_name else set())
        new = client.create_collection(new_name, embedding_function=ef,
                                       metadata={"hnsw:space": "cosine", "embedder": self.embedder.id})

        files_meta: dict[str, Any] = {}
        copied = keep + sorted(carried)
        if copied and live_name:
            live = client.get_collection(live_name, embedding_function=ef)
            for n in copied:
                entry = old_files.get(n) or carried[n]
                if "problem" in entry:
                    files_meta[n] = entry
                    continue
                got = live.get(where={"doc": n}, include=["embeddings", "documents", "metadatas"])
                if got["ids"]:
                    new.add(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"],
                            metadatas=got["metadatas"])
                # Another instance's entry for the same content stays its own (its size and mtime).
                files_meta[n] = dict(entry) if entry.get("source", source) != source else \
                    {**entry, "size": current[n]["size"], "mtime": current[n]["mtime"]}
        mine = {"source": source} if self.remote else {}

        docs, problems = load_documents([current[n]["path"] for n in todo], corpus_dir)
        loaded = {d.name for d in docs}
        for msg in problems:
            indexed = any(msg.startswith(f"{n}:") for n in loaded)
            (report.warnings if indexed else report.problems).append(msg)
        for n in todo:
            if n not in loaded:
                msg = next((p for p in problems if p.startswith(f"{n}:")), f"{n}: could not be read.")
                files_meta[n] = {"sha256": current[n]["sha256"], "size": current[n]["size"],
                                 "mtime": current[n]["mtime"], "problem": msg, **mine}
                if n in old_files and "problem" not in old_files[n]:
                    report.removed.append(n)  # its old passages are not carried over: say so

        sizes = (self.settings.corpus.chunk_max_chars, self.settings.corpus.chunk_min_chars)
        chunked = [(d, chunk(d, *sizes)) for d in docs]
        total = sum(len(ps) for _, ps in chunked) or 1
        bar = progress_bar(total, progress)
        batch = max(1, self.settings.corpus.embed_batch_size)
        for doc, passages in chunked:
            for i in range(0, len(passages), batch):
                part = passages[i:i + batch]
                vectors = self.embedder.embed_passages([p.embedding_text() for p in part])
                new.add(ids=[p.id for p in part], embeddings=[v.tolist() for v in vectors],
                        documents=[p.text for p in part], metadatas=[passage_metadata(p, doc.sha256) for p in part])
                bar(len(part), doc.name)
            files_meta[doc.name] = {"sha256": doc.sha256, "size": current[doc.name]["size"],
                                    "mtime": current[doc.name]["mtime"], "passages": len(passages),
                                    "title": doc.meta.title, "kind": doc.meta.kind or doc.format,
                                    "indexed_at": time.strftime("%Y-%m-%d %H:%M:%S"), **mine}
            if old_files.get(doc.name) and "problem" not in old_files[doc.name]:
                report.updated.append(doc.name)
            else:
                report.added.append(doc.name)
        bar(0, "done", close=True)

        for meta in files_meta.values():  # files that failed have none; counts must add up for the check
            meta.setdefault("passages", 0)
        manifest = {"format": FORMAT, "embedder": self.embedder.id, "chunking": self._chunking_id(),
                    "collection": new_name, "generation": generation, "files": files_meta,
                    "updated_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        if self.remote:
            assert lease is not None
            if not self.remote.commit(manifest, lease):
                raise LeaseLost(f"another writer committed generation {generation} of the shared index first")
        else:
            _atomic_write_json(self.dir / MANIFEST, manifest)
        # The previous generation stays one more round: a reader may be mid-query on it.
        self._drop_collections(except_names={new_name, live_name} if live_name else {new_name})
        report.passages = new.count()
        return report

    def _drop_collections(self, except_names: set[str]) -> None:
        client = self.client()
        if self.remote:
            # A shared server: only this index's own generations, never one a kept manifest names.
            except_names = except_names | self.remote.kept_collections()
        for c in client.list_collections():
            name = c if isinstance(c, str) else c.name
            if name not in except_names and (not self.remote or self.remote.owned(name)):
                client.delete_collection(name)
