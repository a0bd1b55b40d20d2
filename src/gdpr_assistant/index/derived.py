"""What a search process needs besides Chroma, computed once per index generation and kept beside it.

    index_dir/generations/<collection>/
        passages.json     every passage (text, location) in (doc, index) order, and each document's sha256
        bm25/             the lexical index (bm25s arrays, memory-mapped when read)
        hub.npy           per passage, the mean similarity to its k nearest other passages (hubness)
        neighbours.npz    those k similarities and neighbours' positions: the next build updates them
        meta.json         written last: the settings the files were built with; no meta.json, no files

Without them every process read every passage's text from Chroma, tokenised the corpus for BM25 and compared
every embedding with every other (quadratic) before its first search: seconds at a thousand passages, minutes at
fifty thousand. Now the writer builds them with the generation, and the hubness incrementally: passages whose
neighbours are all still there only meet the new passages; new passages, and those that lost a neighbour, are
compared with all (exact, and proportional to what changed).

The folder is named after the generation's Chroma collection, unique per generation (``passages_gN`` here, a
random suffix on a shared server), so a generation never reads another's files. A reader that finds none (an
index built by an older version, a generation written by another client of a shared server) builds them from Chroma
and saves them for the next process; each client of a shared server keeps such a copy under its own index folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gdpr_assistant.index.bm25 import BM25
from gdpr_assistant.types import Passage

log = logging.getLogger(__name__)

FOLDER = "generations"
VERSION = 1  # of this layout: files of another version are rebuilt
# Rows of the similarity matrix computed at once: about 64 MB of float32 whatever the corpus size.
_BLOCK_CELLS = 1 << 24


def generation_dir(index_dir: Path, collection: str) -> Path:
    return index_dir / FOLDER / collection


def lexical_texts(passages: Sequence[Passage], files: dict[str, Any]) -> list[str]:
    """What BM25 indexes: each passage with its document's title and kind (questions often name their source:
    "d'après la note de l'Inserm…")."""
    titles = {name: f"{meta.get('title', '')} {meta.get('kind', '')}" for name, meta in files.items()}
    return [f"{titles.get(p.doc, '')}\n{p.embedding_text()}" for p in passages]


# -- hubness -----------------------------------------------------------------------------------------------------
@dataclass
class Neighbours:
    """Each passage's ``k`` nearest other passages: similarities (N, k) and positions (N, k), row order = passages."""

    sims: np.ndarray
    pos: np.ndarray

    @property
    def hub(self) -> np.ndarray:
        return self.sims.mean(axis=1).astype(np.float32)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def _top(sims: np.ndarray, pos: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest of each row of ``sims`` with their ``pos``."""
    part = np.argpartition(sims, -k, axis=1)[:, -k:]
    return np.take_along_axis(sims, part, axis=1), np.take_along_axis(pos, part, axis=1)


def _full_rows(v: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest other passages of ``rows``, compared with all, by blocks."""
    sims_out = np.empty((len(rows), k), dtype=np.float32)
    pos_out = np.empty((len(rows), k), dtype=np.int32)
    step = max(1, _BLOCK_CELLS // max(1, len(v)))
    for start in range(0, len(rows), step):
        block = rows[start:start + step]
        sims = v[block] @ v.T
        sims[np.arange(len(block)), block] = -np.inf  # a passage is not its own neighbour
        part = np.argpartition(sims, -k, axis=1)[:, -k:]
        sims_out[start:start + len(block)] = np.take_along_axis(sims, part, axis=1)
        pos_out[start:start + len(block)] = part
    return sims_out, pos_out


def neighbours(vectors: np.ndarray, keys: Sequence[str], k: int,
               previous: tuple[Sequence[str], Neighbours] | None = None) -> Neighbours | None:
    """The ``k`` nearest neighbours of every passage, reusing ``previous`` (keys, neighbours of the generation
    before) where it still holds. A key names a passage and its content (id and document hash): same key, same
    vector. None when there are too few passages for ``k``."""
    n = len(keys)
    if k <= 0 or n <= k:
        return None
    v = _normalised(vectors)
    sims = np.empty((n, k), dtype=np.float32)
    pos = np.empty((n, k), dtype=np.int32)
    full = np.arange(n)
    if previous is not None and previous[1].sims.shape[1] == k:
        old_keys, old = previous
        where = {key: i for i, key in enumerate(keys)}
        new_of_old = np.array([where.get(key, -1) for key in old_keys], dtype=np.int64)
        kept_new = new_of_old[new_of_old >= 0]
        kept_old = np.flatnonzero(new_of_old >= 0)
        mapped = new_of_old[old.pos[kept_old]]
        clean = (mapped >= 0).all(axis=1)  # every neighbour still there: only new passages can come closer
        is_new = np.ones(n, dtype=bool)
        is_new[kept_new] = False
        added = np.flatnonzero(is_new)
        full = np.concatenate([added, kept_new[~clean]])
        if len(full) * 2 < n:
            rows, base_sims, base_pos = kept_new[clean], old.sims[kept_old[clean]], mapped[clean].astype(np.int32)
            if len(added):
                step = max(1, _BLOCK_CELLS // max(1, len(added)))
                for start in range(0, len(rows), step):
                    r = rows[start:start + step]
                    extra = v[r] @ v[added].T
                    s, p = _top(np.concatenate([base_sims[start:start + step], extra], axis=1),
                                np.concatenate([base_pos[start:start + step],
                                                np.broadcast_to(added.astype(np.int32), extra.shape)], axis=1), k)
                    sims[r], pos[r] = s, p
            else:
                sims[rows], pos[rows] = base_sims, base_pos
        else:
            full = np.arange(n)  # most rows change anyway: one pass over all is simpler and no slower
    if len(full):
        sims[full], pos[full] = _full_rows(v, full, k)
    return Neighbours(sims, pos)


# -- the files of one generation -----------------------------------------------------------------------------------
@dataclass
class GenerationFiles:
    passages: list[Passage]
    shas: dict[str, str]  # document -> sha256, for the keys of the next build
    bm25: BM25 | None  # None: built with other parameters than the current ones (the caller builds its own)
    hub: np.ndarray | None  # None: no hubness at this k (too few passages, or another k)
    meta: dict[str, Any]

    def keys(self) -> list[str]:
        return [f"{p.id}@{self.shas.get(p.doc, '')}" for p in self.passages]


def _passage_columns(passages: Sequence[Passage]) -> dict[str, list[Any]]:
    return {"doc": [p.doc for p in passages], "index": [p.index for p in passages],
            "text": [p.text for p in passages], "start": [p.start for p in passages],
            "end": [p.end for p in passages], "headings": [list(p.headings) for p in passages],
            "line_start": [p.line_start for p in passages], "line_end": [p.line_end for p in passages],
            "page": [p.page for p in passages]}


def _passages_from(columns: dict[str, list[Any]]) -> list[Passage]:
    c = columns
    return [Passage(doc=c["doc"][i], index=c["index"][i], text=c["text"][i], start=c["start"][i], end=c["end"][i],
                    headings=tuple(c["headings"][i]), line_start=c["line_start"][i], line_end=c["line_end"][i],
                    page=c["page"][i]) for i in range(len(c["doc"]))]


def write(target: Path, passages: Sequence[Passage], shas: dict[str, str], vectors: np.ndarray,
          files: dict[str, Any], k1: float, b: float, hub_k: int,
          previous: tuple[Sequence[str], Neighbours] | None = None) -> None:
    """Build and save the files of one generation (written aside, then renamed into place: never half there)."""
    keys = [f"{p.id}@{shas.get(p.doc, '')}" for p in passages]
    nb = neighbours(vectors, keys, hub_k, previous)
    bm25 = BM25(lexical_texts(passages, files), k1=k1, b=b)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir(parents=True)
    try:
        with (tmp / "passages.json").open("w", encoding="utf-8") as f:
            json.dump({"passages": _passage_columns(passages), "shas": shas}, f, ensure_ascii=False)
        if bm25.indexed:
            bm25.save(tmp / "bm25")
        if nb is not None:
            np.save(tmp / "hub.npy", nb.hub)
            np.savez(tmp / "neighbours.npz", sims=nb.sims, pos=nb.pos)
        meta = {"version": VERSION, "count": len(passages), "bm25": {"k1": k1, "b": b} if bm25.indexed else None,
                "hubness_k": hub_k if nb is not None else None}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if target.exists():  # left by a reader that built them from Chroma, or a build that stopped after this
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_meta(target: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("version") == VERSION else None


def load(target: Path, count: int, k1: float, b: float, hub_k: int) -> GenerationFiles | None:
    """The saved files of a generation, or None when they are missing, incomplete or of another count."""
    meta = read_meta(target)
    if meta is None or meta.get("count") != count:
        return None
    try:
        data = json.loads((target / "passages.json").read_text(encoding="utf-8"))
        passages = _passages_from(data["passages"])
        bm25_params = meta.get("bm25")
        bm25 = BM25.load(target / "bm25") if bm25_params == {"k1": k1, "b": b} else None
        if bm25_params is None:
            bm25 = BM25([], k1=k1, b=b)  # no word in the whole corpus: nothing was saved
        hub = np.load(target / "hub.npy", mmap_mode="r") if meta.get("hubness_k") == hub_k else None
    except (OSError, ValueError, KeyError) as exc:
        log.warning("Ignoring the derived files in %s (%s); they are rebuilt.", target, exc)
        return None
    if len(passages) != count:
        return None
    return GenerationFiles(passages, dict(data.get("shas", {})), bm25, hub, meta)


def load_previous(target: Path, hub_k: int) -> tuple[list[str], Neighbours] | None:
    """(keys, neighbours) of a generation, for the next build's incremental hubness; None if unusable."""
    meta = read_meta(target)
    if meta is None or meta.get("hubness_k") != hub_k:
        return None
    try:
        data = json.loads((target / "passages.json").read_text(encoding="utf-8"))
        shas = data.get("shas", {})
        cols = data["passages"]
        keys = [f"{d}#{i}@{shas.get(d, '')}" for d, i in zip(cols["doc"], cols["index"], strict=True)]
        with np.load(target / "neighbours.npz") as z:
            nb = Neighbours(z["sims"], z["pos"])
    except (OSError, ValueError, KeyError):
        return None
    return (keys, nb) if len(keys) == len(nb.sims) else None


def prune(index_dir: Path, keep: set[str]) -> None:
    """Delete the files of generations other than ``keep`` (and folders left half-written)."""
    root = index_dir / FOLDER
    if not root.is_dir():
        return
    for path in root.iterdir():
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
