"""What an update of the index has to do, decided from names, sizes, mtimes and hashes without reading a file
(step 1 of :mod:`.build`), with the estimates that tell a user how long it will take, and the errors and report an
update gives."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gdpr_assistant.index.chroma import duration
from gdpr_assistant.ingest.corpus import CorpusError, corpus_files, file_sha256, scan_corpus
from gdpr_assistant.types import Energy

if TYPE_CHECKING:
    from gdpr_assistant.index.chroma import ChromaEmbeddingFunction
    from gdpr_assistant.index.embedding import Embedder
    from gdpr_assistant.index.remote import Lease, RemoteStore
    from gdpr_assistant.settings import Settings

ProgressFn = Callable[[float, str], None]
FORMAT = 1
PAGE = 1000  # records per Chroma read or write while copying: bounds memory whatever the corpus size
# Estimates (how long an update will take, how long a big file would take to embed). Measured on the shipped
# corpus: 105 kB of Markdown and text give 107 passages; PDFs and office files hold much else besides text.
BYTES_PER_PASSAGE = 1000
TEXT_SHARE = {".pdf": 0.1, ".docx": 0.3, ".odt": 0.3}
TEXT_LIKE = (".md", ".markdown", ".txt", ".html", ".htm")  # their size on disk is about their text's
DEFAULT_RATE = 3.0  # passages/s of the 4-bit e5 on a busy 2-core machine, until an index measures its own
COPY_S = 0.001  # per passage carried from one generation to the next (Chroma add; bench/results/scale.json)



class Store(Protocol):
    """What planning and building read and write of the index (:class:`.store.Index` is it): the builder depends on
    this face, not on the store module, which runs it."""

    settings: Settings
    embedder: Embedder
    dir: Path
    remote: RemoteStore | None

    def manifest(self) -> dict[str, Any] | None: ...
    def compatible(self, manifest: dict[str, Any] | None) -> bool: ...
    def reread(self, manifest: dict[str, Any] | None, entry: dict[str, Any]) -> bool: ...
    def sha(self, name: str, path: Path) -> str: ...
    def chunking_id(self) -> str: ...
    def ef(self) -> ChromaEmbeddingFunction: ...
    def client(self) -> Any: ...
    def ocr_state(self) -> str: ...
    def write_manifest(self, manifest: dict[str, Any]) -> None: ...
    def commit(self, manifest: dict[str, Any], lease: Lease | None) -> None: ...
    def drop_collections(self, except_names: set[str]) -> None: ...

class IndexError_(Exception):
    """Index problems the user can fix; the message names the fix."""


class IndexLocked(IndexError_):
    pass


class IndexDamaged(IndexError_):
    """Chroma no longer holds what the manifest lists (a store altered behind our back): rebuild with force."""


class UpdateCancelled(Exception):
    """The update was asked to stop (the program exits): what was embedded is kept for the next run."""


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # about files that were indexed all the same
    ignored: list[str] = field(default_factory=list)  # files of the folder of a type no reader handles
    passages: int = 0
    embedded: int = 0  # passages embedded by this update (the others were copied, resumed or reused)
    rebuilt: bool = False
    seconds: float = 0.0
    energy: Energy | None = None  # set by the library, which measures the update

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt)


def estimate_passages(name: str, size: int) -> int:
    return max(1, round(size * TEXT_SHARE.get(Path(name).suffix.lower(), 1.0) / BYTES_PER_PASSAGE))


def too_big_message(name: str, text_bytes: int, limit_mb: float, rate: float) -> str:
    mb = text_bytes / 1e6
    seconds = max(1, round(text_bytes / BYTES_PER_PASSAGE)) / rate
    return (f"{name} ({mb:.0f} MB, about {duration(seconds)} to embed): split it or raise ASK_MAX_FILE_MB "
            f"(now {limit_mb:g} MB).") if mb >= 10 else \
        (f"{name} ({mb:.1f} MB, about {duration(seconds)} to embed): split it or raise ASK_MAX_FILE_MB "
         f"(now {limit_mb:g} MB).")


def pages(collection: Any, include: list[str]) -> Iterator[dict[str, Any]]:
    """A collection read ``PAGE`` records at a time (its order is stable while nobody writes to it)."""
    offset = 0
    while True:
        got = collection.get(include=include, limit=PAGE, offset=offset)
        if not got["ids"]:
            return
        yield got
        offset += len(got["ids"])


@dataclass
class Plan:
    current: dict[str, dict[str, Any]]  # name -> path, sha256, size, mtime
    old: dict[str, Any] | None  # the live manifest
    old_files: dict[str, Any]  # its entries, when its embedder and chunking are the current ones (else empty)
    todo: list[str]  # to read
    reread: set[str]  # of which unchanged: read again for their reader (version, OCR, size limit)
    keep: list[str]  # carried over with their vectors
    carried: dict[str, Any]  # other instances' entries (shared index)
    removed: list[str]
    ignored: list[str]

    @property
    def nothing_to_do(self) -> bool:
        return not self.todo and not self.removed


def plan(index: Store, force: bool) -> Plan:
    corpus_dir = index.settings.corpus.corpus_dir
    old = index.manifest()
    compatible = index.compatible(old) and not force
    old_files: dict[str, Any] = old["files"] if (old and compatible) else {}
    # Shared index: entries of other corpus folders (other app instances) are carried over as they are, their
    # vectors copied, as long as they fit this embedder (they cannot be re-embedded from here).
    source = index.remote.source if index.remote else ""
    foreign = {n: m for n, m in old["files"].items() if m.get("source", source) != source} \
        if index.remote and old and index.compatible(old) else {}
    ignored: list[str] = []
    current: dict[str, dict[str, Any]] = {}
    for path in corpus_files(corpus_dir, ignored):
        name = path.relative_to(corpus_dir).as_posix()
        st = path.stat()
        prev = old_files.get(name)
        if index.remote:
            sha = index.sha(name, path)  # mtimes of another machine's copy say nothing
        elif prev and prev.get("size") == st.st_size and prev.get("mtime") == st.st_mtime_ns:
            sha = prev["sha256"]
        else:
            sha = file_sha256(path)
        current[name] = {"path": path, "sha256": sha, "size": st.st_size, "mtime": st.st_mtime_ns}
    carried = {n: m for n, m in foreign.items() if n not in current}
    todo = [n for n, c in current.items() if n not in old_files or old_files[n]["sha256"] != c["sha256"]]
    reread = {n for n in current if n not in todo and index.reread(old, old_files[n])}
    todo += sorted(reread)
    keep = [n for n in current if n not in todo]
    removed = sorted(set(old_files) - set(current) - set(carried))
    return Plan(current, old, old_files, todo, reread, keep, carried, removed, ignored)


@dataclass
class Pending:
    """What an update would do, estimated without reading a file (names, sizes, mtimes; hashes on a shared index)."""

    first: bool = False  # no index at all: it must be built before anything can be searched
    new_embedder: bool = False  # the live vectors are another model's: they cannot answer the current one's queries
    files: list[str] = field(default_factory=list)  # new, changed or to be read again
    removed: list[str] = field(default_factory=list)
    passages: int = 0  # estimated passages to embed
    seconds: float = 0.0  # estimated duration

    @property
    def blocking(self) -> bool:
        """Whether questions must wait for this update: there is nothing usable to answer from meanwhile."""
        return self.first or self.new_embedder


def pending_update(index: Store, manifest: dict[str, Any] | None) -> Pending | None:
    """What an update would do, or None when the index is in step with the corpus folder (names, sizes and
    mtimes; hashes on a shared index): :meth:`.store.Index.pending`."""
    try:
        files = {f.name: f for f in scan_corpus(index.settings.corpus.corpus_dir)}
    except CorpusError:
        return None if manifest else Pending(first=True)
    sizes = {n: f.size for n, f in files.items()}
    rate = float((manifest or {}).get("embed_rate", DEFAULT_RATE)) or DEFAULT_RATE
    if manifest is None or not index.compatible(manifest):
        pending = Pending(first=manifest is None, new_embedder=bool(manifest) and
                          manifest.get("embedder") != index.embedder.id, files=sorted(files))
    else:
        known = manifest["files"]
        if index.remote:
            mine = {n for n, meta in known.items() if meta.get("source") == index.remote.source}
            changed = [n for n, f in files.items()
                       if n not in known or known[n].get("sha256") != index.sha(n, f.path)]
            removed = sorted(mine - set(files))
        else:
            changed = [n for n in files if n not in known or known[n].get("size") != sizes[n]
                       or known[n].get("mtime") != files[n].mtime_ns]
            removed = sorted(set(known) - set(files))
        again = [n for n in files if n not in changed and index.reread(manifest, known[n])]
        if not changed and not removed and not again:
            return None
        pending = Pending(files=sorted(changed + again), removed=removed)
        total = sum(int(m.get("passages", 0)) for m in known.values())
        pending.seconds = total * COPY_S + 0.1 * len(again)  # re-read files keep their vectors
        files = {n: files[n] for n in changed}
    pending.passages = sum(estimate_passages(n, sizes[n]) for n in files)
    pending.seconds += pending.passages / rate
    return pending
