"""Lexical ranking: BM25 over the words of :mod:`gdpr_assistant.text.words`.

The index is `bm25s <https://github.com/xhluca/bm25s>`_'s (a sparse matrix of precomputed term scores, with
``save``/``load`` and memory-mapping for corpora too large to rebuild at each start); the words are the
project's own tokenizer (accent folding, FR/EN stop words, French stems), on which retrieval was tuned.
Method "lucene": idf = log(1 + (n − df + 0.5) / (df + 0.5)); its term weight lacks BM25's (k1 + 1) factor,
which :meth:`BM25.scores` puts back, so scores are the classic BM25 values (ranking is unchanged either way).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from gdpr_assistant.text.words import tokenize

# bm25s sets its logger to DEBUG at import, which prints "Building index from tokens" under the CLI's
# WARNING-level logging; its warnings still show.
logging.getLogger("bm25s").setLevel(logging.WARNING)


class BM25:
    def __init__(self, texts: Sequence[str], k1: float, b: float) -> None:
        self.k1, self.b = k1, b
        self._index = bm25s.BM25(k1=k1, b=b, method="lucene", dtype="float64")
        tokens = [tokenize(t) for t in texts]
        # bm25s needs one word in the whole corpus (an all-stop-word text among others simply matches nothing).
        self._n = len(tokens) if any(tokens) else 0
        if self._n:
            self._index.index(tokens, show_progress=False)
        self.idf = self._idf()

    @property
    def indexed(self) -> bool:
        """False when the texts had no word at all (nothing to save: an empty index matches nothing)."""
        return bool(self._n)

    def _idf(self) -> dict[str, float]:
        """Each indexed word's idf, read back from the index (its document frequency is its column's length),
        so that a loaded index gives it too. The claim checks weigh a claim's words by it."""
        if not self._n:
            return {}
        indptr = self._index.scores["indptr"]
        n = self._index.scores["num_docs"]
        out = {}
        for term, col in self._index.vocab_dict.items():
            if term and col + 1 < len(indptr):  # "" is bm25s's padding token, outside the matrix
                df = int(indptr[col + 1] - indptr[col])
                if df:
                    out[term] = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return out

    def _score_array(self, query: str) -> np.ndarray | None:
        if not self._n:
            return None
        # A repeated query word counts once, as before bm25s (which would add it once per occurrence).
        ids = sorted({self._index.vocab_dict[t] for t in tokenize(query) if t in self.idf})
        if not ids:
            return None
        return self._index.get_scores(ids) * (self.k1 + 1)

    def scores(self, query: str) -> dict[int, float]:
        """Passage index → BM25 score, for the passages sharing at least one word with ``query``."""
        s = self._score_array(query)
        if s is None:
            return {}
        return {int(i): float(s[i]) for i in np.flatnonzero(s > 0)}

    def top(self, query: str, n: int) -> list[tuple[int, float]]:
        """The ``n`` best passages as (index, score); ties in passage order."""
        s = self._score_array(query)
        if s is None or n <= 0:
            return []
        hits = np.flatnonzero(s > 0)
        order = hits[np.lexsort((hits, -s[hits]))][:n]
        return [(int(i), float(s[i])) for i in order]

    def top_within(self, query: str, n: int, within: np.ndarray) -> list[tuple[int, float]]:
        """The ``n`` best passages among those where ``within`` (a boolean array over passages) is True, each
        query word weighted by its rarity among them rather than in the whole corpus.

        The saved matrix holds idf × the word's saturated frequency per passage, so a word's column times
        idf_within / idf gives its score with the other rarity; a word absent from them keeps its own."""
        if not self._n or n <= 0:
            return []
        matrix = self._index.scores
        total = int(within.sum())
        scores = np.zeros(self._n)
        for term in {t for t in tokenize(query) if t in self.idf}:
            col = self._index.vocab_dict[term]
            start, end = int(matrix["indptr"][col]), int(matrix["indptr"][col + 1])
            rows = np.asarray(matrix["indices"][start:end])
            df = int(within[rows].sum())
            ratio = math.log(1 + (total - df + 0.5) / (df + 0.5)) / self.idf[term] if df else 1.0
            scores[rows] += np.asarray(matrix["data"][start:end]) * ratio
        scores[~within] = 0.0
        hits = np.flatnonzero(scores > 0)
        order = hits[np.lexsort((hits, -scores[hits]))][:n]
        return [(int(i), float(scores[i] * (self.k1 + 1))) for i in order]

    def save(self, directory: Path) -> None:
        """Write the index (numpy arrays and its vocabulary) to ``directory``."""
        self._index.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> BM25:
        """An index written by :meth:`save`; with ``mmap`` its score matrix stays on disk, read on demand."""
        self = cls.__new__(cls)
        self._index = bm25s.BM25.load(str(directory), mmap=mmap, show_progress=False)
        self.k1, self.b = self._index.k1, self._index.b
        self._n = int(self._index.scores["num_docs"])
        self.idf = self._idf()
        return self
