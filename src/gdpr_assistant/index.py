"""Stage 3c: the persistent Chroma index, kept in step with the corpus folder.

Layout of ``index_dir``::

    manifest.json   what is indexed: embedder, chunking version, live collection, one entry per file
    chroma/         the Chroma PersistentClient
    .lock           held by the one process that writes

Updates never modify the live collection. A new *generation* is built beside it (unchanged files'
vectors copied over, changed files re-embedded), and ``manifest.json`` is switched to it with an atomic
rename. Readers therefore see the old index or the new one, never a mix, and a build killed half-way
leaves the old generation live; the next run deletes the orphan and starts again.
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

from gdpr_assistant.chunking import CHUNKING_VERSION, Passage, chunk
from gdpr_assistant.corpus import CorpusError, corpus_files, file_sha256, load_documents
from gdpr_assistant.embedding import Embedder
from gdpr_assistant.settings import Settings

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

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt)


def _chroma_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False,
                                                                             allow_reset=False))


class _ChromaEmbeddingFunction:
    """Our embedder, handed to Chroma explicitly so it can never fall back to its downloading default."""

    def __init__(self, embedder: Embedder, choice: str) -> None:
        self._embedder = embedder
        self._choice = choice

    def __call__(self, input: list[str]) -> list[Any]:
        return list(self._embedder.embed_passages(input))

    def embed_query(self, input: list[str]) -> list[Any]:
        return [self._embedder.embed_query(t) for t in input]

    @staticmethod
    def name() -> str:
        return "gdpr-assistant"

    def is_legacy(self) -> bool:
        return False

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self._embedder.id, "choice": self._choice}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> _ChromaEmbeddingFunction:
        from gdpr_assistant.embedding import get_embedder

        return _ChromaEmbeddingFunction(get_embedder(config["choice"]), config["choice"])


def _atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _metadata(p: Passage, sha: str) -> dict[str, Any]:
    return {"doc": p.doc, "index": p.index, "start": p.start, "end": p.end, "line_start": p.line_start,
            "line_end": p.line_end, "page": -1 if p.page is None else p.page,
            "headings": json.dumps(list(p.headings), ensure_ascii=False), "sha256": sha}


def passage_from_record(text: str, meta: dict[str, Any]) -> Passage:
    page = int(meta.get("page", -1))
    return Passage(doc=str(meta["doc"]), index=int(meta["index"]), text=text, start=int(meta["start"]),
                   end=int(meta["end"]), headings=tuple(json.loads(str(meta.get("headings", "[]")))),
                   line_start=int(meta["line_start"]), line_end=int(meta["line_end"]),
                   page=None if page < 0 else page)


class Index:
    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.dir = settings.index_dir
        self._client: Any = None

    # -- reading -----------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.dir / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("Unreadable index manifest (%s): the index will be rebuilt.", exc)
            return None
        return data if isinstance(data, dict) and data.get("format") == FORMAT else None

    def _compatible(self, manifest: dict[str, Any] | None) -> bool:
        return bool(manifest) and manifest.get("embedder") == self.embedder.id \
            and manifest.get("chunking") == self._chunking_id()

    def _chunking_id(self) -> str:
        return f"{CHUNKING_VERSION}/{self.settings.chunk_max_chars}/{self.settings.chunk_min_chars}"

    def _ef(self) -> _ChromaEmbeddingFunction:
        return _ChromaEmbeddingFunction(self.embedder, self.settings.embedder)

    def client(self) -> Any:
        if self._client is None:
            try:
                (self.dir / "chroma").mkdir(parents=True, exist_ok=True)
                self._client = _chroma_client(self.dir / "chroma")
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
            raise IndexDamaged(f"The index in {self.dir} is damaged (its passages are missing). Run "
                               "`ask index --force` to rebuild it from the corpus.") from exc

    def stale_files(self) -> bool:
        """Cheap freshness check (names, sizes, mtimes) so that every question sees the current corpus."""
        manifest = self.manifest()
        if not self._compatible(manifest):
            return True
        assert manifest is not None
        try:
            files = corpus_files(self.settings.corpus_dir)
        except CorpusError:
            return False
        known = manifest["files"]
        names = {p.relative_to(self.settings.corpus_dir).as_posix(): p for p in files}
        if set(names) != set(known):
            return True
        for name, path in names.items():
            st = path.stat()
            if known[name].get("size") != st.st_size or known[name].get("mtime") != st.st_mtime_ns:
                return True
        return False

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
            raise IndexDamaged(f"The index in {self.dir} is damaged (it holds {len(ps)} passages, its manifest "
                               "lists another number). Run `ask index --force` to rebuild it from the corpus.")
        ps.sort(key=lambda p: (p.doc, p.index))
        return ps, manifest

    # -- writing -----------------------------------------------------------------------------------------
    def update(self, progress: ProgressFn | None = None, force: bool = False) -> IndexReport:
        """Bring the index in step with the corpus folder; only new or changed files are embedded."""
        t0 = time.perf_counter()
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

    def _update_locked(self, progress: ProgressFn | None, force: bool) -> IndexReport:
        report = IndexReport()
        corpus_dir = self.settings.corpus_dir
        for tmp in self.dir.glob(f".{MANIFEST}.*.tmp"):  # left by a writer killed mid-write; we hold the lock
            tmp.unlink(missing_ok=True)
        old = self.manifest()
        compatible = self._compatible(old) and not force
        old_files: dict[str, Any] = old["files"] if (old and compatible) else {}
        report.rebuilt = not compatible

        current: dict[str, dict[str, Any]] = {}
        for path in corpus_files(corpus_dir):
            name = path.relative_to(corpus_dir).as_posix()
            st = path.stat()
            prev = old_files.get(name)
            if prev and prev.get("size") == st.st_size and prev.get("mtime") == st.st_mtime_ns:
                sha = prev["sha256"]
            else:
                sha = file_sha256(path)
            current[name] = {"path": path, "sha256": sha, "size": st.st_size, "mtime": st.st_mtime_ns}

        todo = [n for n, c in current.items() if n not in old_files or old_files[n]["sha256"] != c["sha256"]]
        keep = [n for n in current if n not in todo]
        report.removed = sorted(set(old_files) - set(current))
        report.unchanged = [n for n in keep if "problem" not in old_files[n]]
        for n in keep:  # a file that failed before and is unchanged fails again: say so, don't re-parse
            if "problem" in old_files[n]:
                report.problems.append(old_files[n]["problem"])

        if compatible and not todo and not report.removed:
            assert old is not None
            # Touch-only changes (mtime): refresh the cheap check, nothing to embed.
            if any(old_files[n]["mtime"] != current[n]["mtime"] for n in current):
                for n in current:
                    old_files[n].update(size=current[n]["size"], mtime=current[n]["mtime"])
                _atomic_write_json(self.dir / MANIFEST, old)
            report.passages = sum(f.get("passages", 0) for f in old_files.values())
            return report

        client = self.client()
        ef = self._ef()
        generation = int(old["generation"]) + 1 if old else 1
        live_name = old["collection"] if old else None
        new_name = f"passages_g{generation}"
        self._drop_collections(except_names={live_name} if live_name else set())
        new = client.create_collection(new_name, embedding_function=ef,
                                       metadata={"hnsw:space": "cosine", "embedder": self.embedder.id})

        files_meta: dict[str, Any] = {}
        if keep and live_name:
            live = client.get_collection(live_name, embedding_function=ef)
            for n in keep:
                if "problem" in old_files[n]:
                    files_meta[n] = old_files[n]
                    continue
                got = live.get(where={"doc": n}, include=["embeddings", "documents", "metadatas"])
                if got["ids"]:
                    new.add(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"],
                            metadatas=got["metadatas"])
                files_meta[n] = {**old_files[n], "size": current[n]["size"], "mtime": current[n]["mtime"]}

        docs, problems = load_documents([current[n]["path"] for n in todo], corpus_dir)
        loaded = {d.name for d in docs}
        for msg in problems:
            indexed = any(msg.startswith(f"{n}:") for n in loaded)
            (report.warnings if indexed else report.problems).append(msg)
        for n in todo:
            if n not in loaded:
                msg = next((p for p in problems if p.startswith(f"{n}:")), f"{n}: could not be read.")
                files_meta[n] = {"sha256": current[n]["sha256"], "size": current[n]["size"],
                                 "mtime": current[n]["mtime"], "problem": msg}
                if n in old_files and "problem" not in old_files[n]:
                    report.removed.append(n)  # its old passages are not carried over: say so

        chunked = [(d, chunk(d, self.settings.chunk_max_chars, self.settings.chunk_min_chars)) for d in docs]
        total = sum(len(ps) for _, ps in chunked) or 1
        bar = _progress_bar(total, progress)
        batch = max(1, self.settings.embed_batch_size)
        for doc, passages in chunked:
            for i in range(0, len(passages), batch):
                part = passages[i:i + batch]
                vectors = self.embedder.embed_passages([p.embedding_text() for p in part])
                new.add(ids=[p.id for p in part], embeddings=[v.tolist() for v in vectors],
                        documents=[p.text for p in part], metadatas=[_metadata(p, doc.sha256) for p in part])
                bar(len(part), doc.name)
            files_meta[doc.name] = {"sha256": doc.sha256, "size": current[doc.name]["size"],
                                    "mtime": current[doc.name]["mtime"], "passages": len(passages),
                                    "title": doc.meta.title, "kind": doc.meta.kind or doc.format,
                                    "indexed_at": time.strftime("%Y-%m-%d %H:%M:%S")}
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
        _atomic_write_json(self.dir / MANIFEST, manifest)
        # The previous generation stays one more round: a reader may be mid-query on it.
        self._drop_collections(except_names={new_name, live_name} if live_name else {new_name})
        report.passages = new.count()
        return report

    def _drop_collections(self, except_names: set[str]) -> None:
        client = self.client()
        for c in client.list_collections():
            name = c if isinstance(c, str) else c.name
            if name not in except_names:
                client.delete_collection(name)


def _progress_bar(total: int, callback: ProgressFn | None) -> Callable[..., None]:
    from tqdm import tqdm

    bar = tqdm(total=total, unit="passage", desc="Indexing", leave=False, disable=None)
    done = 0

    def step(n: int, label: str, close: bool = False) -> None:
        nonlocal done
        done += n
        bar.update(n)
        if callback:
            callback(min(1.0, done / total), label)
        if close:
            bar.close()

    return step
