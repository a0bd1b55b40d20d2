"""The in-process llama.cpp backend, and the CPU facts that decide how its weights are loaded.

Weight repacking: llama.cpp copies Q4_K weights into CPU-specific layouts at load time (its "extra buffer
types": AMX tiles on Intel Sapphire Rapids and later, interleaved blocks for AVX2 / AVX-512 / NEON). On AMX
CPUs that path crashes in the first decode on our Q4_K_M models (llama.cpp issue 20824; building with
GGML_AMX=OFF does not help, the native build still compiles it in, and pip's wheel cache keeps whatever
wheel was built first). So the decision is taken at run time, by the CPU the program runs on, whatever
wheel is installed: see :func:`repack_default` and bench/results/repack.json for what repacking buys.
"""

from __future__ import annotations

import contextlib
import platform
import threading
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gdpr_assistant.models.backend import Generation, GenerationStats, Judgement, ModelError

if TYPE_CHECKING:
    from llama_cpp import Llama

# Tokens an answer may start with, as opposed to a citation bracket or a blank line: the refusal margin
# compares the refusal literal with the best of these.
_NOT_AN_ANSWER_START = (b"[", b"]", b"\n")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


@lru_cache(maxsize=1)
def system_info() -> str:
    """llama.cpp's own line of what it was built with and detected ("AVX2 = 1 | AMX_INT8 = 1 | REPACK = 1")."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode(errors="replace").strip()


def has_amx() -> bool:
    return bool({"amx_tile", "amx_int8", "amx_bf16"} & cpu_flags()) or "AMX_INT8 = 1" in system_info()


def has_avx512() -> bool:
    return "avx512f" in cpu_flags() or "AVX512 = 1" in system_info()


def repack_reason() -> str:
    """Why :func:`repack_default` decides as it does here, for reports."""
    return "AMX CPU" if has_amx() else "AVX-512 CPU" if has_avx512() else "neither AMX nor AVX-512"


def repack_default() -> bool:
    """Whether to let llama.cpp repack weights here. Never on an AMX CPU: it crashes. Not on an AVX-512 CPU:
    there it slows prompt processing more than it speeds generation, and answers have long prompts and short
    replies (dev answers 14.5 s median instead of 18.7 s, same quality: bench/results/repack-dev.md).
    Elsewhere llama.cpp's default (on), which could not be measured here."""
    return not (has_amx() or has_avx512())


def cpu_summary() -> str:
    """One line for reports: machine, CPU model, the features that matter to llama.cpp, the repack decision."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    wanted = ("avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8", "asimd", "sve")
    features = ",".join(f for f in wanted if f in cpu_flags()) or "none reported"
    return (f"{platform.machine()} {model or platform.processor() or 'unknown CPU'}; features {features}; "
            f"weight repacking {'on' if repack_default() else 'off'} by default ({repack_reason()})")


_params_lock = threading.Lock()


@contextlib.contextmanager
def _extra_buffers(enabled: bool) -> Iterator[None]:
    """llama-cpp-python's ``Llama`` takes its model parameters from ``llama_model_default_params()`` and has no
    argument for ``use_extra_bufts``: the default is replaced for the duration of one load (under a lock)."""
    import llama_cpp.llama_cpp as native

    with _params_lock:
        original = native.llama_model_default_params

        def params() -> Any:
            p = original()
            p.use_extra_bufts = enabled
            return p

        native.llama_model_default_params = params
        try:
            yield
        finally:
            native.llama_model_default_params = original


def load_llama(path: Path, n_ctx: int, n_threads: int, seed: int = 0, repack: bool | None = None) -> Llama:
    """A llama.cpp model, its weights repacked or not (``None``: :func:`repack_default`)."""
    from llama_cpp import Llama

    repack = repack_default() if repack is None else repack
    try:
        with _extra_buffers(repack):
            llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, seed=seed, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"llama.cpp could not load {path} ({exc}). Is it a complete GGUF file?") from exc
    if bool(llm.model_params.use_extra_bufts) != repack:  # a llama-cpp-python that builds its parameters otherwise
        raise ModelError(f"llama-cpp-python ignored the weight-repacking setting (wanted {repack}); this version "
                         "is not supported: reinstall the pinned llama-cpp-python==0.3.36.")
    return llm


class LlamaCppBackend:
    """A GGUF model run in this process. ``preserve_cache``: this instance also answers questions, so a
    judgement saves and restores its state, keeping the answer instructions in the KV cache for the next
    question (re-reading them costs ~3.5 s on the 1.5B; saving and restoring ~0.6 s)."""

    def __init__(self, llm: Llama, name: str, size: int, preserve_cache: bool = False) -> None:
        self.llm = llm
        self.name = name
        self.size = size
        self.preserve_cache = preserve_cache
        self._refusal_ids: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._yes_no: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()  # one llama.cpp context serves one request at a time

    # -- drafts ------------------------------------------------------------------------------------------------
    def generate(self, request: Generation, stats: GenerationStats) -> Iterator[str]:
        from llama_cpp import LlamaGrammar, LogitsProcessorList

        with self._lock:
            grammar = LlamaGrammar.from_string(request.grammar, verbose=False) if request.grammar else None
            processors = None
            if request.refusal:
                processors = LogitsProcessorList([_RefusalBias(*self._first_tokens(request.refusal),
                                                               request.refusal_bias, stats)])
            t0 = time.perf_counter()
            stream = self.llm.create_chat_completion(
                messages=request.messages, max_tokens=request.max_tokens, temperature=request.temperature,
                top_k=1, seed=request.seed, grammar=grammar, logits_processor=processors, stream=True)
            first = True
            for chunk in stream:
                delta = chunk["choices"][0].get("delta", {}).get("content")
                if not delta:
                    continue
                if first:
                    stats.ttft_s = time.perf_counter() - t0
                    first = False
                stats.completion_tokens += 1
                yield delta
            stats.total_s = time.perf_counter() - t0
            # The KV cache now holds the templated prompt and every generated token but the last.
            stats.prompt_tokens = max(0, int(self.llm.n_tokens) - max(0, stats.completion_tokens - 1))

    def _first_tokens(self, literal: str) -> tuple[np.ndarray, np.ndarray]:
        """Token ids that begin ``literal``, and a mask of those an answer may begin with. Once per literal."""
        if literal not in self._refusal_ids:
            encoded = literal.encode()
            texts = [self.llm.detokenize([i]) for i in range(self.llm.n_vocab())]
            refusal = np.array([i for i, t in enumerate(texts) if t and encoded.startswith(t)], dtype=np.intp)
            answer = np.array([bool(t) and t[:1] not in _NOT_AN_ANSWER_START for t in texts])
            answer[refusal] = False
            self._refusal_ids[literal] = (refusal, answer)
        return self._refusal_ids[literal]

    # -- judgements --------------------------------------------------------------------------------------------
    def judge(self, request: Judgement) -> float:
        """A judgement of its own is read whole, never from a prefix left in the cache: llama.cpp computes a
        reused prefix in other batches, which moved a judgement by up to 0.36 nats (dev q017: -0.19 read whole,
        -0.55 after another judgement); a quote must not depend on what was asked before it. A judgement that
        ``extends_answer`` reuses the answer prompt in the cache (the passages, ~1,000 tokens) on purpose: it is
        read once per question, as the answer read it, and each judgement adds a few dozen tokens."""
        from llama_cpp import LogitsProcessorList

        with self._lock:
            yes, no = self._yes_no_tokens(tuple(request.yes), tuple(request.no))
            margin: list[float] = []

            def read(input_ids: Any, scores: np.ndarray) -> np.ndarray:
                if not margin:
                    margin.append(float(scores[yes].max() - scores[no].max()))
                return scores

            state = self.llm.save_state() if self.preserve_cache and not request.extends_answer else None
            if not request.extends_answer:
                self.llm.reset()
            try:
                self.llm.create_chat_completion(messages=request.messages, max_tokens=1, temperature=0.0, top_k=1,
                                                logits_processor=LogitsProcessorList([read]))
            finally:
                if state is not None:
                    self.llm.load_state(state)
            return margin[0]

    def _yes_no_tokens(self, yes: tuple[str, ...], no: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids that begin a yes, and those that begin a no: every prefix that is one token ("O", "OU",
        "OUI"). Tokenizing them is instant; scanning the vocabulary takes 0.7 s."""
        if (yes, no) not in self._yes_no:
            def starting(words: tuple[str, ...]) -> np.ndarray:
                ids = {t[0] for w in words for n in range(1, len(w) + 1)
                       if len(t := self.llm.tokenize(w[:n].encode(), add_bos=False, special=False)) == 1}
                return np.array(sorted(ids), dtype=np.intp)

            self._yes_no[(yes, no)] = (starting(yes), starting(no))
        return self._yes_no[(yes, no)]


class _RefusalBias:
    """Logits processor for the first generated token only: records the refusal margin and lowers the refusal
    branch by ``bias`` nats. Greedy small models take the refusal branch for many questions whose answer is in
    the passages (their margin is small); a calibrated bias keeps the refusals the model is sure of, and the
    program's checks still stand behind every answer it lets through."""

    def __init__(self, refusal: np.ndarray, answer: np.ndarray, bias: float, stats: GenerationStats) -> None:
        self.refusal, self.answer, self.bias, self.stats, self.done = refusal, answer, bias, stats, False

    def __call__(self, input_ids: Any, scores: np.ndarray) -> np.ndarray:
        if self.done:
            return scores
        self.done = True
        self.stats.refusal_margin = float(scores[self.refusal].max() - scores[self.answer].max())
        scores[self.refusal] -= self.bias
        return scores
