"""Purpose drafting on a scripted model: when the model is asked to word a statement, and when its wording is
used or set aside by the program's checks. The session's small e5 index stands in for the corpus (Fiche 2 and
its citations are tested on the real deck in test_purpose.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import Built
from fakes import FakeBackend, FakeModels

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.models.backend import Message, ModelBackend
from gdpr_assistant.purpose import PurposeRequest
from gdpr_assistant.types import Answer

REQUEST = ("Rédige la finalité du traitement pour notre modèle qui prédit le risque de réhospitalisation à 30 jours "
           "afin de prioriser les appels de suivi des infirmiers.")


def echo(messages: list[Message]) -> str:
    """A faithful model: it gives back the statement it was asked to reword."""
    return messages[-1]["content"].split("Finalité à réécrire : ", 1)[1].split("\nFinalité réécrite", 1)[0]


@pytest.fixture
def make(built: Built, e5: Embedder) -> Callable[[ModelBackend], Assistant]:
    return lambda model: Assistant(built.settings, models=FakeModels(model), embedder=e5)


def ask(assistant: Assistant, question: str, history: list[tuple[str, str]] | None = None) -> tuple[Answer, str]:
    events = list(assistant.ask_stream(question, history or []))
    answer = events[-1]
    assert isinstance(answer, Answer)
    return answer, "".join(e for e in events[:-1] if isinstance(e, str))


def test_a_request_to_draft_a_purpose_goes_to_the_fiche_2_drafter_and_a_faithful_wording_is_used(
        make: Callable[[ModelBackend], Assistant], built: Built) -> None:
    model = FakeBackend(echo, name="wording-model")
    answer, shown = ask(make(model), REQUEST)
    # One request, the rewording one: not the answer prompt, its grammar or its refusal literal.
    [request] = model.requests
    assert request.messages[0]["content"].startswith("Tu réécris la finalité")
    assert request.grammar is not None and request.grammar.startswith('root ::= "Développement"')
    assert request.refusal is None and request.max_tokens == built.settings.purpose.purpose_max_tokens
    wording = echo(request.messages)
    assert "réhospitalisation à 30 jours" in wording and "prioriser les appels de suivi des infirmiers" in wording
    assert answer.kind == "purpose" and not answer.refused and answer.raw == wording
    assert shown == answer.answer and answer.answer.startswith(f"Finalité proposée : {wording}")
    assert "Usage opérationnel" in answer.answer  # the case the program decided
    assert answer.timings["completion_tokens"] == -(-len(wording) // model.delta_chars)
    assert not any("écartée" in w for w in answer.warnings)


@pytest.mark.parametrize(("wording", "problem", "shown"), [
    ("Développement de notre modèle qui prédit le risque de réhospitalisation à 30 jours et traduit les lettres de "
     "sortie, afin de prioriser les appels de suivi des infirmiers.", "capability not given", "capacité"),
    ("Développement de notre modèle qui prédit le risque de réhospitalisation à 90 jours, afin de prioriser les "
     "appels de suivi des infirmiers.", "numbers not given: 90", "chiffres"),
    ("Développement de notre modèle qui prédit le risque de réhospitalisation à 30 jours.", "drops the use",
     "élément omis"),
])
def test_a_wording_that_fails_the_checks_is_set_aside_for_the_programs_own(
        make: Callable[[ModelBackend], Assistant], wording: str, problem: str, shown: str) -> None:
    model = FakeBackend(wording)
    assistant = make(model)
    draft = assistant.draft_purpose(PurposeRequest(REQUEST))
    assert draft.raw == wording and draft.model == "template"
    assert any(r.startswith(problem) for r in draft.rejected), draft.rejected
    template = echo(model.requests[0].messages)  # what the model was asked to reword: the program's statement
    assert draft.statement.startswith(template) and wording not in draft.statement
    assert any("formulation du modèle a été écartée" in w and shown in w for w in draft.warnings), draft.warnings
    # In a chat answer as well: the template is shown, and why.
    answer, text = ask(assistant, REQUEST)
    assert text.startswith(f"Finalité proposée : {template}") and wording not in text
    assert any("écartée" in w for w in answer.warnings)


def test_the_model_is_not_asked_when_it_is_not_wanted_or_cannot_keep_the_users_words(
        make: Callable[[ModelBackend], Assistant]) -> None:
    model = FakeBackend(echo)
    assistant = make(model)
    assert assistant.draft_purpose(PurposeRequest(REQUEST), use_model=False).model == "template"
    # A French description asked for in English: rewording it would translate the user's words.
    other = assistant.draft_purpose(PurposeRequest(REQUEST, lang="en"))
    assert other.model == "template" and other.raw == ""
    assert any("not in the requested language" in w for w in other.warnings)
    assert model.requests == []


def test_a_purpose_request_asked_as_a_follow_up_is_a_question_not_a_draft(
        make: Callable[[ModelBackend], Assistant]) -> None:
    model = FakeBackend("NON_COUVERT")
    answer, _ = ask(make(model), REQUEST, history=[("Quels sont les défis de l'IA en santé ?", "")])
    assert answer.kind == "answer" and model.requests[0].messages[0]["content"].startswith("Tu es un assistant")
