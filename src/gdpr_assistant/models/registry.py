"""Which backend serves a model choice: the component chosen by settings, loaded once per role.

In-process llama.cpp by default; a model server when ``ASK_LLM_URL`` is set (:mod:`.openai`): one component
per outside resource, chosen by settings. One model per role at a time ("answer", "judge"): laptops have 8 GB,
and a second instance of the same weights would hold another copy of them.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path

from gdpr_assistant.models.backend import ModelBackend, Models
from gdpr_assistant.models.llama import LlamaCppBackend, load_llama
from gdpr_assistant.models.openai import ServerBackend
from gdpr_assistant.models.packaged import PACKAGED, resolve_model
from gdpr_assistant.settings import ModelSettings

_loaded: dict[str, tuple[tuple[str, int, int, str], LlamaCppBackend]] = {}
_lock = threading.Lock()
# Models are freed before the interpreter tears llama_cpp's module down: freed after, llama-cpp-python's destructor
# calls into a module that is gone and prints a traceback on every exit.
atexit.register(_loaded.clear)


def model_name(choice: str) -> str:
    return PACKAGED[choice].name if choice in PACKAGED else Path(choice).name


def model_path(choice: str, settings: ModelSettings) -> Path:
    """The verified GGUF file of ``default``, ``fast`` or a path (assembled from its packages the first time)."""
    return resolve_model(choice, settings.cache_dir)


def local_backend(choice: str, settings: ModelSettings, role: str = "answer") -> ModelBackend:
    """The llama.cpp backend of ``choice`` for ``role``, loaded once. The answering model keeps its KV cache
    across judgements (see :class:`LlamaCppBackend`)."""
    path = model_path(choice, settings)
    repack = {"on": True, "off": False}.get(settings.llama_repack)
    key = (str(path), settings.n_ctx, settings.n_threads, settings.llama_repack)
    with _lock:
        held = _loaded.get(role)
        if held is None or held[0] != key:
            _loaded.pop(role, None)  # free the previous weights before loading the next ones
            llm = load_llama(path, settings.n_ctx, settings.n_threads, settings.seed, repack)
            _loaded[role] = (key, LlamaCppBackend(llm, model_name(choice), path.stat().st_size,
                                                  preserve_cache=role == "answer"))
        return _loaded[role][1]


class ServerModels:
    """Implements :class:`~gdpr_assistant.models.backend.Models` with one server model in both roles: it answers,
    and judges quotes (never "larger" than itself, so a failed draft is not written again)."""

    def __init__(self, settings: ModelSettings, judge_choice: str) -> None:
        self.backend = ServerBackend(settings)
        self.judge_choice = judge_choice

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def judge_name(self) -> str:
        return self.backend.name if self.judge_choice else ""

    def check(self) -> None:
        self.backend.check()

    def answerer(self) -> ServerBackend:
        return self.backend

    def judge(self) -> ServerBackend | None:
        return self.backend if self.judge_choice else None

    def judge_is_larger(self) -> bool:
        return False


_servers: dict[tuple[str, str, bool], ServerModels] = {}


def models_for(settings: ModelSettings, judge_choice: str) -> Models:
    """The models the settings choose: a model server's when ``llm_url`` is set (one HTTP client per server and
    model, shared by every assistant of the process), else the in-process ones."""
    if settings.llm_url:
        key = (settings.llm_url, settings.llm_model, bool(judge_choice))
        with _lock:
            if key not in _servers:
                _servers[key] = ServerModels(settings, judge_choice)
            return _servers[key]
    return LocalModels(settings, judge_choice)


class LocalModels:
    """The models one assistant uses: the one that answers, and the judge of fallback quotes (which also writes
    again a failed draft when it is the larger of the two). Loaded on first use: most refusals need neither.

    With ``llm_url`` set, everything goes to the model server instead (:func:`models_for`): the assistant asks for
    this class whatever the deployment."""

    def __init__(self, settings: ModelSettings, judge_choice: str) -> None:
        self.settings = settings
        self.judge_choice = judge_choice
        self.server = models_for(settings, judge_choice) if settings.llm_url else None

    @property
    def name(self) -> str:
        return self.server.name if self.server else model_name(self.settings.llm)

    @property
    def judge_name(self) -> str:
        return self.server.judge_name if self.server else model_name(self.judge_choice)

    def path(self) -> Path:
        return model_path(self.settings.llm, self.settings)

    def check(self) -> None:
        if self.server:
            self.server.check()
            return
        self.path()

    def answerer(self) -> ModelBackend:
        return self.server.answerer() if self.server else local_backend(self.settings.llm, self.settings)

    def judge(self) -> ModelBackend | None:
        """None when quotes are turned off. The answering model itself when it is the judge: a second instance
        would hold another copy of the (repacked) weights."""
        if self.server:
            return self.server.judge()
        if not self.judge_choice:
            return None
        if model_path(self.judge_choice, self.settings) == self.path():
            return self.answerer()
        return local_backend(self.judge_choice, self.settings, role="judge")

    def judge_is_larger(self) -> bool:
        """Whether the judge may write again a draft that failed: only when it is larger than the model that
        answers (the 1.5B behind --fast); never on a server, where one model plays both roles."""
        if self.server:
            return False
        if not self.judge_choice:
            return False
        return model_path(self.judge_choice, self.settings).stat().st_size > self.path().stat().st_size
