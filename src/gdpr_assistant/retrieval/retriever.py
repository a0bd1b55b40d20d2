"""Hybrid retrieval. Dense search in Chroma fused with BM25 by reciprocal-rank fusion.

Two things make the small 4-bit embedder useful beside BM25 (see docs/retrieval-eval.md):

* the question is expanded with the French wording of its domain terms (:mod:`glossary`) for both rankers,
  so an English question reaches the French corpus through the dense model too;
* dense scores are corrected for *hubness*: some passages (title slides, generic introductions) sit close to
  every question in embedding space and crowd the dense ranking. Each passage's score is lowered by half the
  mean similarity to its nearest passages, which is the ranking that CSLS (Conneau et al., 2018) gives.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from gdpr_assistant.index.store import Index
from gdpr_assistant.passages.chunking import line_set
from gdpr_assistant.retrieval.bm25 import BM25
from gdpr_assistant.text.glossary import expansion
from gdpr_assistant.text.language import detect_language
from gdpr_assistant.types import Hit, Passage

# Rows of the passage-by-passage similarity matrix computed at once: bounds memory on large corpora.
_HUB_BLOCK = 1024


class Retriever:
    """Holds the passages of one index generation; rebuild it when the manifest changes."""

    def __init__(self, index: Index) -> None:
        self.index = index
        settings = index.settings.retrieval
        self.passages, self.manifest = index.passages()
        self._by_id = {p.id: i for i, p in enumerate(self.passages)}
        # The document's title joins each passage's lexical text: questions often name their source
        # ("d'après la note de l'Inserm…").
        titles = {name: f"{meta.get('title', '')} {meta.get('kind', '')}"
                  for name, meta in self.manifest["files"].items()}
        self._bm25 = BM25([f"{titles.get(p.doc, '')}\n{p.embedding_text()}" for p in self.passages],
                          k1=settings.bm25_k1, b=settings.bm25_b)
        self._collection = index.collection(self.manifest)
        self._lines = [line_set(p.text) for p in self.passages]
        self._lock = threading.Lock()
        self._hubness = self._hub_scores(settings.hubness_k) if settings.retrieval_mode != "lexical" else None

    def passage(self, passage_id: str) -> Passage:
        return self.passages[self._by_id[passage_id]]

    @property
    def generation(self) -> int:
        return int(self.manifest["generation"])

    def search(self, query: str, k: int, candidates: int | None = None, rrf_k: int | None = None) -> list[Hit]:
        settings = self.index.settings.retrieval
        n = min(candidates or settings.candidates, len(self.passages))
        if n == 0:
            return []
        rrf = rrf_k or settings.rrf_k
        mode = settings.retrieval_mode
        expanded = self.expand(query)
        dense = self._dense(expanded, n) if mode != "lexical" else []
        lexical = self._bm25.top(expanded, n) if mode != "dense" else []

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
    def expand(query: str) -> str:
        """The question plus the French wording of its domain terms (:func:`glossary.expansion`)."""
        extra = expansion(query, detect_language(query))
        # No trailing space when there is nothing to add: the embedder reads it as one more token.
        return f"{query} {extra}" if extra else query

    def _dense(self, query: str, n: int) -> list[tuple[int, float]]:
        """The ``n`` best passages for the dense model as (index, cosine similarity), hubness-corrected.

        Chroma returns a wider pool by plain cosine; the correction can only reorder within it.
        """
        settings = self.index.settings.retrieval
        pool = min(max(n, settings.dense_pool), len(self.passages))
        qv = self.index.embedder.embed_query(query)
        with self._lock:
            res = self._collection.query(query_embeddings=[qv.tolist()], n_results=pool, include=["distances"])
        found = [(self._by_id[i], 1.0 - float(d))
                 for i, d in zip(res["ids"][0], res["distances"][0], strict=True) if i in self._by_id]
        if self._hubness is not None and settings.hubness_weight:
            hub, w = self._hubness, settings.hubness_weight
            found.sort(key=lambda item: -(item[1] - w * hub[item[0]]))
        return found[:n]

    def _hub_scores(self, k: int) -> np.ndarray | None:
        """Per passage, the mean cosine similarity to its ``k`` nearest other passages (None if too few)."""
        if k <= 0 or len(self.passages) <= k:
            return None
        with self._lock:
            got = self._collection.get(include=["embeddings"])
        vectors = np.zeros((len(self.passages), len(got["embeddings"][0])), dtype=np.float32)
        for pid, vec in zip(got["ids"], got["embeddings"], strict=True):
            if pid in self._by_id:
                vectors[self._by_id[pid]] = vec
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        out = np.empty(len(vectors), dtype=np.float32)
        for start in range(0, len(vectors), _HUB_BLOCK):
            sims = vectors[start:start + _HUB_BLOCK] @ vectors.T
            rows = np.arange(sims.shape[0])
            sims[rows, rows + start] = -np.inf  # a passage is not its own neighbour
            out[start:start + len(sims)] = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
        return out

    @property
    def idf(self) -> dict[str, float]:
        """Rarity of each indexed word, used to weigh the words of a claim when checking citations."""
        return self._bm25.idf

    def stored_embeddings(self, ids: list[str]) -> list[Any]:
        with self._lock:
            got = self._collection.get(ids=ids, include=["embeddings"])
        by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
        return [by_id[i] for i in ids]

    def _duplicate_of_kept(self, i: int, kept: list[int]) -> bool:
        """Same text already shown (another copy of a slide, or a file added twice)."""
        lines = self._lines[i]
        return any(lines <= self._lines[j] for j in kept)
