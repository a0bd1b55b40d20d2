"""How passages are kept in Chroma: the client of a local store, the embedding function handed to Chroma, each
passage's record, and the progress of a build. Shared by the local and the remote index (:mod:`.store`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.types import Passage

ProgressFn = Callable[[float, str], None]


def chroma_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False,
                                                                             allow_reset=False))


class ChromaEmbeddingFunction:
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
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        from gdpr_assistant.index.embedding import get_embedder

        return ChromaEmbeddingFunction(get_embedder(config["choice"]), config["choice"])


def passage_metadata(p: Passage, sha: str) -> dict[str, Any]:
    return {"doc": p.doc, "index": p.index, "start": p.start, "end": p.end, "line_start": p.line_start,
            "line_end": p.line_end, "page": -1 if p.page is None else p.page,
            "headings": json.dumps(list(p.headings), ensure_ascii=False), "sha256": sha}


def passage_from_record(text: str, meta: dict[str, Any]) -> Passage:
    page = int(meta.get("page", -1))
    return Passage(doc=str(meta["doc"]), index=int(meta["index"]), text=text, start=int(meta["start"]),
                   end=int(meta["end"]), headings=tuple(json.loads(str(meta.get("headings", "[]")))),
                   line_start=int(meta["line_start"]), line_end=int(meta["line_end"]),
                   page=None if page < 0 else page)


def duration(seconds: float) -> str:
    """A time as a person reads it: "40 s", "12 min", "2 h 05 min"."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"


def progress_bar(total: int, callback: ProgressFn | None) -> Callable[..., None]:
    """A step function for a build of ``total`` passages: a tqdm bar on a terminal (with its own ETA), and
    ``callback(fraction, label)`` for the web UI and logs, the label followed by the time left ("quokka.md · about
    3 min left") once it can be estimated: from the end of the first batch, which also loads the model."""
    import time

    from tqdm import tqdm

    bar = tqdm(total=total, unit="passage", desc="Indexing", leave=False, disable=None)
    done = 0
    since: tuple[float, int] | None = None  # (time, passages done) at the end of the first batch

    def step(n: int, label: str, close: bool = False) -> None:
        nonlocal done, since
        done += n
        bar.update(n)
        now = time.monotonic()
        text = label
        if since is None:
            since = (now, done)
        elif total > done > since[1] and now > since[0]:
            rate = (done - since[1]) / (now - since[0])
            text = f"{label} · about {duration((total - done) / rate)} left"
        if callback:
            callback(min(1.0, done / total), text)
        if close:
            bar.close()

    return step
