"""Across languages: how close an English claim is to the French passage it cites, by meaning."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.text.sentences import sentences
from gdpr_assistant.verification.claims import DenseFn


def sentence_similarity(embedder: Embedder, passages: Sequence[str]) -> DenseFn:
    """Dense similarity of a claim to the closest sentence of passage ``i``. A sentence, not the whole passage:
    a faithful translation of one sentence scores a median 0.88 against it but 0.83 against its passage, barely
    above a translation set against the next passage retrieval finds (0.81); at sentence level that one scores
    0.82, so translations and wrong passages part (bench/results/crosslingual.md). Each passage's sentences are
    embedded on first use (~0.7 s for five passages; English answers only)."""
    embedded: dict[int, np.ndarray] = {}
    claims: dict[str, np.ndarray] = {}

    def sim(claim: str, i: int) -> float:
        if i not in embedded:
            units = sentences(passages[i]) or [passages[i]]
            embedded[i] = np.asarray(embedder.embed_passages(units), dtype=np.float32)
        if claim not in claims:
            claims[claim] = embedder.embed_query(claim)
        return float((embedded[i] @ claims[claim]).max())

    return sim


def pair_similarity(embedder: Embedder) -> Callable[[str, str], float]:
    """Dense similarity of a passage's span (a list item) to a sentence of an answer in another language:
    whether the answer already gives the item (completeness.py). Each text embedded once."""
    spans: dict[str, np.ndarray] = {}
    said: dict[str, np.ndarray] = {}

    def sim(span: str, sentence: str) -> float:
        if span not in spans:
            spans[span] = np.asarray(embedder.embed_passages([span]), dtype=np.float32)[0]
        if sentence not in said:
            said[sentence] = embedder.embed_query(sentence)
        return float(spans[span] @ said[sentence])

    return sim
