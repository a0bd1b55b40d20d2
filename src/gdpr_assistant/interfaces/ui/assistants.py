"""What the page's handlers share besides rendering: one assistant per model choice, the errors shown to the
user, and the clean-up of form values."""

from __future__ import annotations

import threading

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.index.embedding import EmbedderError
from gdpr_assistant.index.store import IndexError_
from gdpr_assistant.ingest.corpus import CorpusError
from gdpr_assistant.intake.question import QuestionError
from gdpr_assistant.models.backend import ModelError
from gdpr_assistant.settings import Settings

# The errors whose message is written for the user; anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (CorpusError, EmbedderError, IndexError_, ModelError, QuestionError)


class Assistants:
    """One :class:`Assistant` per language-model choice, built on first use (same corpus and index)."""

    def __init__(self, settings: Settings, base: Assistant | None = None) -> None:
        self.settings = settings
        self._cache: dict[str, Assistant] = {settings.models.llm: base or Assistant(settings)}
        self._lock = threading.Lock()

    @property
    def base(self) -> Assistant:
        return self._cache[self.settings.models.llm]

    def get(self, llm: str | None) -> Assistant:
        if self.settings.models.llm_url:
            return self.base  # one model, the server's (models/openai.py): the choice does not apply
        llm = llm or self.settings.models.llm
        with self._lock:
            if llm not in self._cache:
                self._cache[llm] = Assistant(self.settings.replace(llm=llm))
            return self._cache[llm]


def choose_llm(choice: str, gguf_path: str, t: dict[str, str]) -> str:
    """The model the settings tab chose: a packaged one by name, or the path typed for "GGUF file"."""
    if choice != "gguf":
        return choice
    if not (gguf_path or "").strip():
        raise ModelError(t["gguf_missing"])
    return gguf_path.strip()


def error_text(exc: Exception) -> str:
    return str(exc) or exc.__class__.__name__


def optional(value: str | None) -> str | None:
    """An optional field: gradio sends None for the fields of a closed accordion, and "" once cleared."""
    return (value or "").strip() or None


def answer_lang(value: str | None) -> str | None:
    """The answer language radio: "fr" or "en", anything else (auto) lets the question decide."""
    return value if value in ("fr", "en") else None
