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
from collections.abc import Sequence
from typing import Any

import numpy as np

from gdpr_assistant.index.bm25 import BM25
from gdpr_assistant.index.derived import lexical_texts, neighbours
from gdpr_assistant.index.store import Index
from gdpr_assistant.passages.chunking import line_set
from gdpr_assistant.settings import TrustSettings
from gdpr_assistant.text.glossary import expansion
from gdpr_assistant.text.language import detect_language
from gdpr_assistant.text.words import tokenize
from gdpr_assistant.types import Hit, Passage


class Retriever:
    """Holds the passages of one index generation; rebuild it when the manifest changes.

    What it reads was computed when the generation was built (index/derived.py): the passages, the BM25 index
    (memory-mapped) and the hubness scores, so that opening it costs little whatever the corpus size.
    """

    def __init__(self, index: Index) -> None:
        self.index = index
        settings = index.settings.retrieval
        files, self.manifest, self._collection = index.generation()
        self.passages = files.passages
        self._by_id = {p.id: i for i, p in enumerate(self.passages)}
        # Saved with other parameters (the evaluation tries some): built here for this process.
        self._bm25 = files.bm25 or BM25(lexical_texts(self.passages, self.manifest["files"]),
                                        k1=settings.bm25_k1, b=settings.bm25_b)
        # Computed for the passages a search meets, not for all.
        self._lines: dict[int, frozenset[str]] = {}
        self._word_sets: dict[int, frozenset[str]] = {}
        self._lock = threading.Lock()
        self._doc_of: np.ndarray | None = None  # each passage's document as a number, for the lexical scope
        self._hubness: np.ndarray | None = None
        if settings.retrieval_mode != "lexical":
            self._hubness = files.hub if files.hub is not None else self._hub_scores(settings.hubness_k)

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
        expanded = self.expand(query)
        qv = self.index.embedder.embed_query(expanded) if settings.retrieval_mode != "lexical" else None
        while True:
            hits = self._fused(expanded, qv, n, k, rrf_k or settings.rrf_k)
            # Copies set aside can leave fewer than k: the rankers go deeper (a corpus of many versions).
            if len(hits) >= k or n >= min(len(self.passages), max(n, settings.max_candidates)):
                return hits
            n = min(4 * n, len(self.passages), max(n, settings.max_candidates))

    def _fused(self, query: str, qv: np.ndarray | None, n: int, k: int, rrf: int) -> list[Hit]:
        """The ``k`` best of both rankers' ``n`` best by reciprocal-rank fusion, copies set aside."""
        settings = self.index.settings.retrieval
        dense = self._dense(qv, n) if qv is not None else []
        lexical = self._bm25.top(query, n) if settings.retrieval_mode != "dense" else []
        if dense and lexical and settings.lexical_scope:
            lexical = self._bm25.top_within(query, n, self._scope(dense, lexical, settings.lexical_scope))
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
        hits: list[Hit] = []
        kept: list[int] = []
        for i in sorted(fused, key=lambda i: -fused[i]):
            if self._copy_of_kept(i, kept):
                continue
            kept.append(i)
            hits.append(Hit(self.passages[i], fused[i], sims.get(i, 0.0), d_rank.get(i), l_rank.get(i)))
            if len(hits) >= k:
                break
        return hits

    def _scope(self, dense: list[tuple[int, float]], lexical: list[tuple[int, float]], top: int) -> np.ndarray:
        """The passages of the documents that either ranker's ``top`` best come from: the question's domain.

        Word rarities counted over a whole corpus of mixed documents are those of its largest domain: among
        software manuals "CNIL" and "artificielle" are rare and lift every title slide of the GDPR guidance
        above the passage that answers, while words that single that passage out ("service", "taille") are
        common. Ranked within the documents the question is about, with rarities counted there, BM25 finds
        what it finds in those documents alone (bench/bench_scale.py --kind other; docs/retrieval-eval.md).
        Whole documents, not the candidates: counted over a few dozen passages, rarities are noise. In a corpus
        of a few documents nearly every question has them all in scope, and nothing changes."""
        if self._doc_of is None:
            names = {d: k for k, d in enumerate(dict.fromkeys(p.doc for p in self.passages))}
            self._doc_of = np.array([names[p.doc] for p in self.passages])
        picked = [i for i, _ in dense[:top]] + [i for i, _ in lexical[:top]]
        return np.isin(self._doc_of, np.unique(self._doc_of[picked]))

    @staticmethod
    def expand(query: str) -> str:
        """The question plus the French wording of its domain terms (:func:`glossary.expansion`)."""
        extra = expansion(query, detect_language(query))
        # No trailing space when there is nothing to add: the embedder reads it as one more token.
        return f"{query} {extra}" if extra else query

    def _dense(self, qv: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The ``n`` best passages for the dense model as (index, cosine similarity), hubness-corrected.

        Chroma returns a wider pool by plain cosine; the correction can only reorder within it.
        """
        settings = self.index.settings.retrieval
        pool = min(max(n, settings.dense_pool), len(self.passages))
        with self._lock:
            res = self._collection.query(query_embeddings=[qv.tolist()], n_results=pool, include=["distances"])
        found = [(self._by_id[i], 1.0 - float(d))
                 for i, d in zip(res["ids"][0], res["distances"][0], strict=True) if i in self._by_id]
        if self._hubness is not None and settings.hubness_weight:
            hub, w = self._hubness, settings.hubness_weight
            found.sort(key=lambda item: -(item[1] - w * hub[item[0]]))
        return found[:n]

    def _hub_scores(self, k: int) -> np.ndarray | None:
        """Per passage, the mean cosine similarity to its ``k`` nearest other passages (None if too few). Only for
        a ``k`` other than the one the index was built with: compared with all passages here (quadratic)."""
        if k <= 0 or len(self.passages) <= k:
            return None
        with self._lock:
            got = self._collection.get(include=["embeddings"])
        vectors = np.zeros((len(self.passages), len(got["embeddings"][0])), dtype=np.float32)
        for pid, vec in zip(got["ids"], got["embeddings"], strict=True):
            if pid in self._by_id:
                vectors[self._by_id[pid]] = vec
        found = neighbours(vectors, [p.id for p in self.passages], k)
        return found.hub if found is not None else None

    @property
    def idf(self) -> dict[str, float]:
        """Rarity of each indexed word, used to weigh the words of a claim when checking citations."""
        return self._bm25.idf

    def stored_embeddings(self, ids: list[str]) -> list[Any]:
        with self._lock:
            got = self._collection.get(ids=ids, include=["embeddings"])
        by_id = dict(zip(got["ids"], got["embeddings"], strict=True))
        return [by_id[i] for i in ids]

    def _copy_of_kept(self, i: int, kept: list[int]) -> bool:
        """Same text already shown (another copy of a slide, a file added twice), or a version of it: each of the
        two holds nearly all the other's content words (names or figures changed, markup redone). Eight places
        for one text crowd out the rest; the best-ranked version stands for the others. Both ways, so that a
        fuller version is not set aside for a shorter one; whole passages, not paragraphs: an original whose
        paragraph has a better-ranked version elsewhere still says more than it (measured: bench_scale.py)."""
        lines = self._line_set(i)
        if any(lines <= self._line_set(j) for j in kept):
            return True
        words = self._words(i)
        if len(words) < self.index.settings.retrieval.lookalike_min_words:
            return False
        share = self.index.settings.retrieval.lookalike_overlap
        return any(len(words & self._words(j)) >= share * max(len(words), len(self._words(j))) for j in kept)

    def _line_set(self, i: int) -> frozenset[str]:
        if i not in self._lines:
            self._lines[i] = line_set(self.passages[i].text)
        return self._lines[i]

    def _words(self, i: int) -> frozenset[str]:
        if i not in self._word_sets:
            self._word_sets[i] = frozenset(tokenize(self.passages[i].text))
        return self._word_sets[i]


def evidence_strength(retriever: Retriever, query: str, hits: Sequence[Hit], t: TrustSettings) -> float:
    """0..1 strength of the retrieved evidence, used to refuse before spending time on generation: the best
    dense similarity (scaled between ``dense_floor`` and ``dense_ceiling``) or the share of the query's words
    (with their glossary expansion) in the three best passages, whichever is higher."""
    if not hits:
        return 0.0
    top = max(h.similarity for h in hits)
    dense = (top - t.dense_floor) / max(1e-6, t.dense_ceiling - t.dense_floor)
    q = set(tokenize(retriever.expand(query)))
    lex = len(q & set(tokenize(" ".join(h.passage.text for h in hits[:3])))) / len(q) if q else 0.0
    return float(max(0.0, min(1.0, max(dense, lex))))
