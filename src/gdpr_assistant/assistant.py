"""The one API under the CLI and the web UI: the library (corpus and index), search, answers, purpose drafts.

An :class:`Assistant` holds the components its settings choose (the library, the models) and hands them to
the services that use them: the answer pipeline and the purpose drafter. Interfaces call nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gdpr_assistant import offline
from gdpr_assistant.answer.history import record
from gdpr_assistant.answer.pipeline import AnswerPipeline, Snapshot
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.index.store import Index, IndexReport, ProgressFn
from gdpr_assistant.intake import question as safety
from gdpr_assistant.library import Library
from gdpr_assistant.models.backend import Models
from gdpr_assistant.models.registry import LocalModels
from gdpr_assistant.purpose import PurposeDraft, PurposeRequest, draft_purpose
from gdpr_assistant.retrieval.retriever import Retriever
from gdpr_assistant.settings import Settings, get_settings
from gdpr_assistant.text.language import detect_language
from gdpr_assistant.types import Answer, Hit
from gdpr_assistant.verification.claims import support
from gdpr_assistant.verification.crosslingual import sentence_similarity

# The Python API is an entry point like the CLI and the UI: guarded from import on (loopback only), before
# any heavy library is loaded; an Assistant adds the hosts its settings allow.
offline.protect()


class Assistant:
    def __init__(self, settings: Settings | None = None, models: Models | None = None,
                 embedder: Embedder | None = None) -> None:
        """``models`` and ``embedder``: components to use instead of those the settings choose (tests, tools)."""
        self.settings = (settings or get_settings()).resolved()
        offline.protect(self.settings.privacy.allowed_hosts)
        self.library = Library(self.settings, embedder)
        self.models: Models = models or LocalModels(self.settings.models, self.settings.trust.quote_judge)
        self.pipeline = AnswerPipeline(self.settings)

    # -- components --------------------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        return self.library.embedder

    @property
    def index(self) -> Index:
        return self.library.index

    @property
    def model_name(self) -> str:
        return self.models.name

    def check_model(self) -> None:
        """Make sure the answering model can be had (a wrong --model fails here, before any work)."""
        self.models.check()

    def snapshot(self) -> Snapshot:
        """What one answer reads, taken once (the index brought up to date with the corpus folder on first use)."""
        return Snapshot(self.library, self.models)

    # -- the library -------------------------------------------------------------------------------------------
    def update_index(self, progress: ProgressFn | None = None, force: bool = False) -> IndexReport:
        return self.library.update_index(progress, force)

    def retriever(self, progress: ProgressFn | None = None) -> Retriever:
        return self.library.retriever(progress)

    def documents(self) -> list[dict[str, Any]]:
        return self.library.documents()

    def titles(self) -> dict[str, str]:
        return self.library.titles()

    def add_files(self, paths: Sequence[Path], progress: ProgressFn | None = None) -> tuple[IndexReport, list[str]]:
        return self.library.add_files(paths, progress)

    def remove_document(self, name: str, progress: ProgressFn | None = None) -> IndexReport:
        return self.library.remove_document(name, progress)

    # -- search and answers ------------------------------------------------------------------------------------
    def search(self, question: str, k: int | None = None) -> list[Hit]:
        question = safety.clean_question(question, self.settings.answer.max_question_chars)
        return self.retriever().search(question, k or self.settings.retrieval.search_k)

    def ask(self, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
            lang: str | None = None) -> Answer:
        answer = None
        for event in self.ask_stream(question, history, k, lang):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def ask_stream(self, question: str, history: Sequence[tuple[str, str]] = (), k: int | None = None,
                   lang: str | None = None) -> Iterator[str | Answer]:
        """Yield verified answer text as each sentence is checked, then the final :class:`Answer`."""
        for event in self.pipeline.run(self.snapshot(), question, history, k, lang):
            if isinstance(event, Answer) and self.settings.privacy.history_file:
                record(event, self.settings.privacy.history_file)
            yield event

    def draft_purpose(self, request: PurposeRequest, use_model: bool = True) -> PurposeDraft:
        """A purpose statement (finalité) for an AI system, checked against CNIL Fiche 2 (see :mod:`purpose`)."""
        reading = self.pipeline.meter.start()
        snap = self.snapshot()
        draft = draft_purpose(request, snap.retriever, snap.titles, self.models.answerer() if use_model else None,
                              self.settings)
        draft.energy = self.pipeline.meter.stop(reading)
        return draft

    def claim_support(self, claim: str, passage_id: str, question: str = "", lang: str = "") -> float:
        """The support check of :mod:`verification.claims` for one claim and one stored passage (evaluation)."""
        retriever = self.retriever()
        passage = retriever.passage(passage_id)
        t = self.settings.trust
        cross = bool(lang) and detect_language(passage.text) != lang
        dense = sentence_similarity(self.embedder, [passage.text])(claim, 0) if cross else None
        return support(claim, passage.text, dense, t.claim_dense_floor, t.claim_dense_ceiling, retriever.idf,
                       question, cross)
