"""Stage 4: hybrid retrieval. Dense search in Chroma fused with BM25 by reciprocal-rank fusion."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from gdpr_assistant.chunking import Passage, _line_set
from gdpr_assistant.glossary import french_terms
from gdpr_assistant.index import Index
from gdpr_assistant.lexical import BM25
from gdpr_assistant.safety import detect_language


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # reciprocal-rank-fusion score
    similarity: float  # cosine similarity of the dense match (0 when the passage came from BM25 only)
    dense_rank: int | None
    lexical_rank: int | None

    def as_dict(self) -> dict[str, Any]:
        p = self.passage
        return {"doc": p.doc, "location": p.location, "text": p.text, "score": round(self.score, 6),
                "similarity": round(self.similarity, 4), "page": p.page, "headings": list(p.headings)}


class Retriever:
    """Holds the passages of one index generation; rebuild it when the manifest changes."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.passages, self.manifest = index.passages()
        self._by_id = {p.id: i for i, p in enumerate(self.passages)}
        # The document's title joins each passage's lexical text: questions often name their source
        # ("d'après la note de l'Inserm…").
        titles = {name: f"{meta.get('title', '')} {meta.get('kind', '')}" for name, meta in self.manifest["files"].items()}
        self._bm25 = BM25([f"{titles.get(p.doc, '')}\n{p.embedding_text()}" for p in self.passages],
                          b=index.settings.bm25_b)
        self._collection = index.collection(self.manifest)
        self._lines = [_line_set(p.text) for p in self.passages]
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        return int(self.manifest["generation"])

    def search(self, query: str, k: int, candidates: int | None = None, rrf_k: int | None = None) -> list[Hit]:
        settings = self.index.settings
        n = min(candidates or settings.candidates, len(self.passages))
        if n == 0:
            return []
        rrf = rrf_k or settings.rrf_k
        mode = settings.retrieval_mode
        dense: list[tuple[int, float]] = []
        if mode != "lexical":
            qv = self.index.embedder.embed_query(query)
            with self._lock:
                res = self._collection.query(query_embeddings=[qv.tolist()], n_results=n, include=["distances"])
            dense = [(self._by_id[i], 1.0 - float(d))
                     for i, d in zip(res["ids"][0], res["distances"][0], strict=True) if i in self._by_id]
        lexical = self._bm25.top(self.lexical_query(query), n) if mode != "dense" else []

        fused: dict[int, float] = {}
        sims: dict[int, float] = {}
        d_rank: dict[int, int] = {}
        l_rank: dict[int, int] = {}
        for rank, (i, sim) in enumerate(dense, start=1):
            fused[i] = fused.get(i, 0.0) + settings.dense_weight / (rrf + rank)
            sims[i], d_rank[i] = sim, rank
        for rank, (i, _) in enumerate(lexical, start=1):
            fused[i] = fused.get(i, 0.0) + settings.lexical_weight / (rrf + rank)
            l_rank[i] = rank
        order = sorted(fused, key=lambda i: -fused[i])
        hits: list[Hit] = []
        kept: list[int] = []
        for i in order:
            if self._duplicate_of_kept(i, kept):
                continue
            kept.append(i)
            hits.append(Hit(self.passages[i], fused[i], sims.get(i, 0.0), d_rank.get(i), l_rank.get(i)))
            if len(hits) >= k:
                break
        return hits

    @staticmethod
    def lexical_query(query: str) -> str:
        """English questions get the French terms of the domain glossary: the corpus is French."""
        return f"{query} {french_terms(query)}" if detect_language(query) == "en" else query

    def stored_embeddings(self, ids: list[str]) -> list[Any]:
        with self._lock:
            got = self._collection.get(ids=ids, include=["embeddings"])
        by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
        return [by_id[i] for i in ids]

    def _duplicate_of_kept(self, i: int, kept: list[int]) -> bool:
        """Same text already shown (another copy of a slide, or a file added twice)."""
        lines = self._lines[i]
        return any(lines <= self._lines[j] for j in kept)
