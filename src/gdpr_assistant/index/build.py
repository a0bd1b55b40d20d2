"""Writing a new generation of the index: what :meth:`.store.Index.update` does under the writer's lock or lease.

Each step costs in proportion to what changed:

1. **Plan**, from names, sizes, mtimes and hashes, without reading: files kept as they are; files to read (new,
   changed, or read again because what their reader gives may have changed: a new reader version, OCR turned on or
   off or Tesseract installed for a PDF with scanned pages, a raised size limit for a file skipped as too large).
2. **Open the generation** being built: one Chroma collection per generation. A build that stopped (Ctrl-C, a crash,
   a killed process, a background update cut short when the program exits) left that collection with what it had
   embedded; the next build reopens it, keeps every record still wanted and embeds only the rest (resume).
3. **Copy** the kept files' vectors from the live generation, page by page.
4. **Read and embed** the rest. A passage whose embedded text did not change keeps its vector from the live
   generation, so a file read again that gives the same text costs no embedding; a file too large is named with the
   time it would take and skipped.
5. **Derive** the files a search process reads (passages, BM25, hubness: :mod:`.derived`), then switch the manifest.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdpr_assistant.index import derived
from gdpr_assistant.index.chroma import passage_from_record, passage_metadata, progress_bar
from gdpr_assistant.index.plan import (
    DEFAULT_RATE,
    FORMAT,
    PAGE,
    TEXT_LIKE,
    IndexDamaged,
    IndexReport,
    Plan,
    ProgressFn,
    Store,
    UpdateCancelled,
    pages,
    plan,
    too_big_message,
)
from gdpr_assistant.ingest.corpus import INGEST_VERSION, Document, IngestOptions, load_documents
from gdpr_assistant.passages.chunking import chunk
from gdpr_assistant.types import Passage

if TYPE_CHECKING:
    from gdpr_assistant.index.remote import Lease


def _text_key(p: Passage) -> str:
    return hashlib.sha1(p.embedding_text().encode("utf-8")).hexdigest()


class Build:
    """One update of the index to the current corpus (module docstring)."""

    def __init__(self, index: Store, progress: ProgressFn | None, force: bool, lease: Lease | None,
                 preloaded: dict[str, Document] | None, stop: threading.Event | None) -> None:
        self.index = index
        self.settings = index.settings
        self.progress = progress
        self.force = force
        self.lease = lease
        self.preloaded = preloaded or {}
        self.stop = stop
        self.report = IndexReport()
        self.mine = {"source": index.remote.source} if index.remote else {}
        self.embed_seconds = 0.0

    # -- 1. plan -------------------------------------------------------------------------------------------------
    def run(self) -> IndexReport:
        p = plan(self.index, self.force)
        report = self.report
        report.rebuilt = not (p.old and self.index.compatible(p.old) and not self.force)
        report.ignored = p.ignored
        report.removed = list(p.removed)
        report.unchanged = [n for n in p.keep if "problem" not in p.old_files[n]] + sorted(p.carried)
        for n in p.keep:  # a file that failed before and is unchanged fails again: say so, don't re-parse
            if "problem" in p.old_files[n]:
                report.problems.append(p.old_files[n]["problem"])
        if self.index.remote and p.old and not self.index.compatible(p.old):
            source = self.index.remote.source
            dropped = [n for n, m in p.old["files"].items() if m.get("source", source) != source
                       and n not in p.current]
            if dropped:
                report.warnings.append(f"{len(dropped)} document(s) indexed by other instances were left out (built "
                                       "for another embedder or chunking): those instances add them again.")
        if not report.rebuilt and p.nothing_to_do:
            assert p.old is not None
            self._touch(p)
            report.passages = sum(f.get("passages", 0) for f in p.old_files.values())
            return report
        return self._build(p)

    def _touch(self, p: Plan) -> None:
        """Touch-only changes (mtime): refresh the cheap check, nothing to embed. (A shared index compares contents,
        never mtimes: nothing to refresh.)"""
        assert p.old is not None
        if not self.index.remote and any(p.old_files[n]["mtime"] != p.current[n]["mtime"] for n in p.current):
            for n in p.current:
                p.old_files[n].update(size=p.current[n]["size"], mtime=p.current[n]["mtime"])
            self.index.write_manifest(p.old)

    # -- 2. the generation being built ---------------------------------------------------------------------------
    def _open(self, generation: int, live_name: str | None) -> tuple[Any, dict[str, tuple[str, str]]]:
        """The collection of generation ``generation``: the one a stopped build left, if it was built for this
        embedder and chunking (resume), else a new one. Returns it with its records (id -> (document sha, text))."""
        index, client = self.index, self.index.client()
        ef = index.ef()
        keep = {live_name} if live_name else set()
        if index.remote:
            prefix = index.remote.name(f"g{generation:06d}.")
            kept = index.remote.kept_collections()
            names = [c if isinstance(c, str) else c.name for c in client.list_collections()]
            candidates = [n for n in names if n.startswith(prefix) and n not in kept]
        else:
            names = [c if isinstance(c, str) else c.name for c in client.list_collections()]
            candidates = [n for n in names if n == f"passages_g{generation}"]
        resumed = None
        for name in candidates if not self.force else []:
            col = client.get_collection(name, embedding_function=ef)
            meta = col.metadata or {}
            if meta.get("embedder") == index.embedder.id and meta.get("chunking") == index.chunking_id():
                resumed = col
                keep.add(name)
                break
        index.drop_collections(except_names=keep)
        if resumed is None:
            name = index.remote.generation_name(generation) if index.remote else f"passages_g{generation}"
            new = client.create_collection(name, embedding_function=ef, metadata={
                "hnsw:space": "cosine", "embedder": index.embedder.id, "chunking": index.chunking_id()})
            return new, {}
        existing: dict[str, tuple[str, str]] = {}
        for got in pages(resumed, ["metadatas", "documents"]):
            for i, m, t in zip(got["ids"], got["metadatas"], got["documents"], strict=True):
                existing[i] = (str(m.get("sha256", "")), t)
        return resumed, existing

    def _build(self, p: Plan) -> IndexReport:
        index, report = self.index, self.report
        generation = int(p.old["generation"]) + 1 if p.old else 1
        live_name = p.old["collection"] if p.old else None
        new, existing = self._open(generation, live_name)
        wanted: set[str] = set()
        files_meta: dict[str, Any] = {}
        live = self._live(live_name)

        # -- 3. copy the kept files' vectors ---------------------------------------------------------------------
        copy: dict[str, str] = {}  # document -> sha of the records to copy
        for n in [*p.keep, *sorted(p.carried)]:
            entry = p.old_files.get(n) or p.carried[n]
            if "problem" in entry:
                files_meta[n] = entry
                continue
            copy[n] = entry["sha256"]
            # Another instance's entry for the same content stays its own (its size and mtime).
            files_meta[n] = dict(entry) if n in p.carried or entry.get("source", "") != self.mine.get("source", "") \
                else {**entry, "size": p.current[n]["size"], "mtime": p.current[n]["mtime"]}
        if copy and live is not None:
            for got in pages(live, ["embeddings", "documents", "metadatas"]):
                rows = [j for j, m in enumerate(got["metadatas"]) if copy.get(str(m["doc"])) == m.get("sha256")]
                wanted.update(got["ids"][j] for j in rows)
                rows = [j for j in rows if existing.get(got["ids"][j], ("",))[0] != got["metadatas"][j]["sha256"]]
                if rows:
                    new.upsert(ids=[got["ids"][j] for j in rows], embeddings=[got["embeddings"][j] for j in rows],
                               documents=[got["documents"][j] for j in rows],
                               metadatas=[got["metadatas"][j] for j in rows])

        # -- 4. read and embed the rest --------------------------------------------------------------------------
        docs = self._read(p, files_meta)
        self._embed(p, docs, new, live, existing, wanted, files_meta)

        stale = [i for i in existing if i not in wanted]
        for start in range(0, len(stale), PAGE):
            new.delete(ids=stale[start:start + PAGE])

        # -- 5. derived files, then the switch -------------------------------------------------------------------
        for meta in files_meta.values():  # files that failed have none; counts must add up for the check
            meta.setdefault("passages", 0)
        self._derive(new, live_name, files_meta)
        rate = report.embedded / self.embed_seconds if report.embedded >= 8 and self.embed_seconds else \
            float((p.old or {}).get("embed_rate", DEFAULT_RATE))
        manifest = {"format": FORMAT, "embedder": index.embedder.id, "chunking": index.chunking_id(),
                    "ingest": INGEST_VERSION, "collection": new.name, "generation": generation, "files": files_meta,
                    "embed_rate": round(rate, 3), "updated_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        index.commit(manifest, self.lease)
        # The previous generation stays one more round: a reader may be mid-query on it.
        keep = {new.name, live_name} if live_name else {new.name}
        index.drop_collections(except_names=keep)
        derived.prune(index.dir, keep | (index.remote.kept_collections() if index.remote else set()))
        report.passages = new.count()
        return report

    def _live(self, name: str | None) -> Any:
        """The live generation's collection, if there is one to copy from (a rebuild forced because it is gone has
        none)."""
        from chromadb.errors import NotFoundError

        if not name:
            return None
        try:
            return self.index.client().get_collection(name, embedding_function=self.index.ef())
        except NotFoundError:
            return None

    def _read(self, p: Plan, files_meta: dict[str, Any]) -> list[Document]:
        """Documents of the files to read; those that fail, or are too large, become problems."""
        s = self.settings.corpus
        limit = int(s.max_file_mb * 1e6)
        rate = float((p.old or {}).get("embed_rate", DEFAULT_RATE))
        paths, docs, big = [], [], {}
        for n in p.todo:
            c = p.current[n]
            pre = self.preloaded.get(n)
            if pre is not None and pre.sha256 == c["sha256"]:
                docs.append(pre)  # read already (an upload checked before it entered the corpus): not twice
                self.report.warnings += pre.warnings
            elif Path(n).suffix.lower() in TEXT_LIKE and c["size"] > limit:
                big[n] = too_big_message(n, c["size"], s.max_file_mb, rate)  # not even read
            else:
                paths.append(c["path"])
        progress = self.progress
        reading = (lambda fraction, label: progress(0.0, label)) if progress else None  # OCR: label only
        loaded, problems = load_documents(paths, s.corpus_dir, options=IngestOptions.from_settings(s),
                                          progress=reading)
        docs += loaded
        for d in list(docs):
            size = len(d.text.encode("utf-8"))
            if size > limit:
                big[d.name] = too_big_message(d.name, size, s.max_file_mb, rate)
                docs.remove(d)
        names = {d.name for d in docs}
        for msg in problems:
            (self.report.warnings if any(msg.startswith(f"{n}:") for n in names) else self.report.problems).append(msg)
        for n in p.todo:
            if n in names:
                continue
            c = p.current[n]
            msg = big.get(n) or next((m for m in problems if m.startswith(f"{n}:")), f"{n}: could not be read.")
            if n in big:
                self.report.problems.append(msg)
            files_meta[n] = {"sha256": c["sha256"], "size": c["size"], "mtime": c["mtime"], "problem": msg,
                             **self.mine}
            if n in big:
                files_meta[n]["too_big"] = s.max_file_mb
            elif n.lower().endswith(".pdf"):
                files_meta[n]["ocr"] = self.index.ocr_state()  # a scan that failed may read once OCR can
            if n in p.old_files and "problem" not in p.old_files[n]:
                self.report.removed.append(n)  # its old passages are not carried over: say so
        return docs

    def _reusable(self, p: Plan, live: Any, docs: list[Document]) -> dict[tuple[str, str], Any]:
        """(document, hash of the embedded text) -> vector, from the live generation, for the passages of re-read
        or changed files that did not change. Never when forced (the escape hatch re-embeds everything) or when the
        live vectors are another model's."""
        if self.force or live is None or not p.old or p.old.get("embedder") != self.index.embedder.id:
            return {}
        out: dict[tuple[str, str], Any] = {}
        for d in docs:
            entry = p.old["files"].get(d.name)
            if not entry or "problem" in entry or not entry.get("passages"):
                continue
            got = live.get(where={"doc": d.name}, include=["embeddings", "documents", "metadatas"])
            for t, m, v in zip(got["documents"], got["metadatas"], got["embeddings"], strict=True):
                out[(d.name, _text_key(passage_from_record(t, m)))] = v
        return out

    def _embed(self, p: Plan, docs: list[Document], new: Any, live: Any, existing: dict[str, tuple[str, str]],
               wanted: set[str], files_meta: dict[str, Any]) -> None:
        s = self.settings.corpus
        report = self.report
        reuse = self._reusable(p, live, docs)
        todo: list[tuple[Passage, str]] = []  # (passage, its document's sha) to embed
        done_before: list[tuple[Passage, str, Any]] = []  # reused from the live generation
        embedded: dict[str, int] = {}
        for doc in docs:
            passages = chunk(doc, s.chunk_max_chars, s.chunk_min_chars)
            embedded[doc.name] = 0
            for ps in passages:
                wanted.add(ps.id)
                if existing.get(ps.id) == (doc.sha256, ps.text):
                    continue  # embedded by the build that stopped: resumed
                vector = reuse.get((doc.name, _text_key(ps)))
                if vector is not None:
                    done_before.append((ps, doc.sha256, vector))
                else:
                    todo.append((ps, doc.sha256))
                    embedded[doc.name] += 1
            c = p.current[doc.name]
            files_meta[doc.name] = {"sha256": doc.sha256, "size": c["size"], "mtime": c["mtime"],
                                    "passages": len(passages), "title": doc.meta.title,
                                    "kind": doc.meta.kind or doc.format,
                                    "indexed_at": time.strftime("%Y-%m-%d %H:%M:%S"), **self.mine}
            if doc.scanned_pages:
                files_meta[doc.name]["ocr"] = self.index.ocr_state()
            old = p.old_files.get(doc.name)
            if doc.name in p.reread and old and embedded[doc.name] == 0 and old.get("passages") == len(passages):
                report.unchanged.append(doc.name)  # read again, same passages
                files_meta[doc.name]["indexed_at"] = old.get("indexed_at", files_meta[doc.name]["indexed_at"])
            elif old and "problem" not in old:
                report.updated.append(doc.name)
            else:
                report.added.append(doc.name)
        bar = progress_bar(len(todo) or 1, self.progress)
        batch = max(1, s.embed_batch_size)
        for start in range(0, len(todo), batch):
            if self.stop is not None and self.stop.is_set():
                raise UpdateCancelled(f"stopped after {start} of {len(todo)} passages (kept for the next run)")
            part = todo[start:start + batch]
            t0 = time.perf_counter()
            vectors = self.index.embedder.embed_passages([ps.embedding_text() for ps, _ in part])
            self.embed_seconds += time.perf_counter() - t0
            new.upsert(ids=[ps.id for ps, _ in part], embeddings=[v.tolist() for v in vectors],
                       documents=[ps.text for ps, _ in part],
                       metadatas=[passage_metadata(ps, sha) for ps, sha in part])
            report.embedded += len(part)
            bar(len(part), part[-1][0].doc)
        # Reused vectors go in last: a build stopped before this point gets them from the live generation again.
        for start in range(0, len(done_before), PAGE):
            part2 = done_before[start:start + PAGE]
            new.upsert(ids=[ps.id for ps, _, _ in part2], embeddings=[v for _, _, v in part2],
                       documents=[ps.text for ps, _, _ in part2],
                       metadatas=[passage_metadata(ps, sha) for ps, sha, _ in part2])
        bar(0 if todo else 1, "done", close=True)

    def _derive(self, new: Any, live_name: str | None, files_meta: dict[str, Any]) -> None:
        """Read the new generation back (what Chroma holds is what readers get) and write its derived files."""
        r = self.settings.retrieval
        passages: list[Passage] = []
        chunks: list[np.ndarray] = []
        for got in pages(new, ["embeddings", "documents", "metadatas"]):
            passages += [passage_from_record(t, m) for t, m in zip(got["documents"], got["metadatas"], strict=True)]
            chunks.append(np.asarray(got["embeddings"], dtype=np.float32))
        expected = sum(int(m.get("passages", 0)) for m in files_meta.values())
        if len(passages) != expected:
            raise IndexDamaged(f"The new index generation holds {len(passages)} passages instead of {expected}. "
                               "Run `ask index --force` to rebuild it from the corpus.")
        order = sorted(range(len(passages)), key=lambda i: (passages[i].doc, passages[i].index))
        vectors = np.concatenate(chunks)[order] if chunks else np.zeros((0, 1), dtype=np.float32)
        passages = [passages[i] for i in order]
        shas = {n: m["sha256"] for n, m in files_meta.items() if m.get("passages")}
        previous = derived.load_previous(derived.generation_dir(self.index.dir, live_name), r.hubness_k) \
            if live_name else None
        derived.write(derived.generation_dir(self.index.dir, new.name), passages, shas, vectors, files_meta,
                      r.bm25_k1, r.bm25_b, r.hubness_k, previous)
