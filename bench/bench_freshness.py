"""What a question pays to see whether the corpus folder changed, at the size of bench_scale's largest corpus.

Every question first checks the corpus folder against the index (`Index.pending`), then searches. This times
both on an index of about 10,000 passages in about 2,800 files (bench_scale's corpus), whose passages are
embedded by hashing their words in place of the model (2,000 passages/s instead of 5: the check and the search's
structures do not depend on what the vectors mean). With ``--e5-queries`` questions are embedded by the real
e5 model (its vectors have the same 384 dimensions), so that the search time is the one a user waits for.
Run it on two checkouts, same machine, same moment:

    .venv/bin/python bench/bench_freshness.py --root /var/tmp/fresh --e5-queries    # builds the corpus once
    PYTHONPATH=/path/to/old/src .venv/bin/python bench/bench_freshness.py --root /var/tmp/fresh --e5-queries
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_scale

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.evaluation.harness import load_items
from gdpr_assistant.index.embedding import Embedder, get_embedder
from gdpr_assistant.index.store import Index
from gdpr_assistant.settings import get_settings


class HashedWords:
    """Signed hashed words, normalised: a deterministic stand-in for the embedder, costing no model; queries
    optionally embedded by a real model of the same dimension."""

    id = "hashed-words-384"

    def __init__(self, queries: Embedder | None = None) -> None:
        self.queries = queries

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(384, dtype=np.float32)
        for word in text.lower().split():
            h = int(hashlib.md5(word.encode()).hexdigest()[:8], 16)
            v[h % 384] += 1.0 if (h >> 9) & 1 else -1.0
        return v / (np.linalg.norm(v) or 1.0)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self.queries.embed_query(text) if self.queries else self._vector(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="Where the corpus and its index are kept.")
    parser.add_argument("--passages", type=int, default=10000)
    parser.add_argument("--e5-queries", action="store_true", help="Embed the questions with the e5 model.")
    args = parser.parse_args()
    items = load_items(bench_scale.DEV)
    s = get_settings().replace(corpus_dir=args.root / "corpus", index_dir=args.root / "index")
    if not s.corpus.corpus_dir.exists():
        quotes = [bench_scale.norm(src["quote"]) for it in items for src in it.get("sources", [])]
        bench_scale.make_corpus(s.corpus.corpus_dir, args.passages, s, quotes)
    embedder = HashedWords(get_embedder("e5", s.models.n_threads, s.retrieval.embed_query_threads)
                           if args.e5_queries else None)
    Index(s, embedder).update()
    index = Index(s, embedder)
    assert index.pending() is None
    assistant = Assistant(s, embedder=embedder)
    questions = [it["question"] for it in items]
    for q in questions[:3]:
        assistant.search(q, 8)
    check, search = [], []
    for q in questions:
        t0 = time.perf_counter()
        index.pending()
        check.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        assistant.search(q, 8)
        search.append((time.perf_counter() - t0) * 1000)
    files = (index.manifest() or {}).get("files", {})
    print(json.dumps({"code": str(Path(sys.modules["gdpr_assistant"].__file__).parents[1]),
                      "queries": "e5" if args.e5_queries else "hashed words", "files": len(files),
                      "passages": sum(int(m.get("passages", 0)) for m in files.values()),
                      "pending_p50_ms": round(statistics.median(check), 1),
                      "pending_p90_ms": round(sorted(check)[int(0.9 * len(check))], 1),
                      "search_p50_ms": round(statistics.median(search), 1),
                      "search_p90_ms": round(sorted(search)[int(0.9 * len(search))], 1)}))


if __name__ == "__main__":
    main()
