"""Purpose drafting (`ask purpose`): Fiche 2's cases and criteria, decided and cited by the program.

Unit tests of case detection, criteria and the wording checks run on pure functions (no index, no model).
The drafts are built on a real e5 index of the two documents that hold Fiche 2 and the contributions
summary; one end-to-end draft uses the real `fast` model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import clean_env, make_corpus, run_ask
from fakes import FakeBackend, FakeModels

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.index.store import Index
from gdpr_assistant.intake.question import QuestionError
from gdpr_assistant.purpose import drafter as P
from gdpr_assistant.purpose.assessment import Criterion, assess
from gdpr_assistant.purpose.criteria import Case
from gdpr_assistant.purpose.facts import (
    Facts,
    PurposeInputError,
    PurposeRequest,
    clean_description,
    core_text,
    detect_case,
    is_draft_request,
    read_facts,
)
from gdpr_assistant.purpose.statement import check_statement, template_statement
from gdpr_assistant.settings import Settings
from gdpr_assistant.types import Citation

DOCS = ("cnil-webinaire-recommandations-ia-rgpd-2024.md", "cnil-synthese-contributions-bases-ia-2023.txt")

# The three purpose items of the dev set, as users typed them (request sentence included).
LLM_STARTUP = ("Nous sommes une start-up qui entraîne un grand modèle de langage généraliste sur des pages web "
               "publiques, sans cas d'usage final arrêté. Rédige la finalité du traitement de développement à "
               "inscrire dans notre documentation RGPD.")
READMISSION = ("Our hospital is building a model that will predict, for each discharged patient, the risk of "
               "unplanned readmission within 30 days, so that nurses can prioritise follow-up calls. Draft the "
               "purpose statement for the training (development) phase.")
DERMATO = ("Notre équipe académique veut développer une preuve de concept montrant qu'une méthode d'apprentissage "
           "reste robuste avec beaucoup moins d'images dermatologiques annotées, en vue d'une publication. Propose "
           "une formulation de finalité pour ce traitement.")
WATER = ("Service de la métropole qui compare la consommation d'eau de chaque foyer à celle d'un foyer de référence, "
         "à partir d'une modélisation des segments d'usagers (données de facturation, cadastre), pour fournir aux "
         "usagers des informations et des préconisations sur leur consommation.")
VLM = ("Modèle vision-langage open source à usage général, publié avec ses poids, capable de décrire des images, de "
       "répondre à des questions sur une image, de lire le texte présent dans une image et de localiser des objets.")
TRIAGE = ("Modèle d'aide au tri des patients aux urgences : il estime un niveau de priorité de 1 à 5 pour aider "
          "l'infirmier d'accueil à ordonner la prise en charge. Le CHU agit dans le cadre de sa mission d'intérêt "
          "public.")


def analyse(description: str, **fields: object) -> tuple[Case, list[Criterion], Facts]:
    request = PurposeRequest(description, **fields)  # type: ignore[arg-type]
    core = core_text(description)
    lang = request.lang or "fr"
    facts = read_facts(request, core, lang)
    case, _, _ = detect_case(request, core, facts, lang)
    return case, assess(case, facts, lang), facts


def statuses(criteria: list[Criterion]) -> dict[str, str]:
    return {c.id: c.status for c in criteria}


# -- case detection and criteria (pure logic) -----------------------------------------------------------------
@pytest.mark.parametrize(("description", "lang", "case"), [
    (LLM_STARTUP, "fr", "general_purpose"), (VLM, "fr", "general_purpose"), (READMISSION, "en", "operational"),
    (WATER, "fr", "operational"), (TRIAGE, "fr", "operational"), (DERMATO, "fr", "research"),
    ("Développement d'un modèle d'IA générative.", "fr", "general_purpose"),
])
def test_case_is_detected_from_the_description(description: str, lang: str, case: str) -> None:
    assert analyse(description, lang=lang)[0] == case


@pytest.mark.parametrize(("question", "is_request"), [
    (LLM_STARTUP, True), (READMISSION, True), (DERMATO, True),
    ("Write the purpose statement of our triage chatbot.", True),
    ("Comment définir une finalité pour un système d'IA ?", False),
    ("What is the purpose of a DPIA?", False),
    ("Propose-moi une base légale pour entraîner mon modèle.", False),
])
def test_ask_routes_only_requests_to_draft_a_purpose(question: str, is_request: bool) -> None:
    assert is_draft_request(question) is is_request


def test_structured_answers_override_the_description() -> None:
    assert analyse(READMISSION, lang="en", research=True)[0] == "research"
    assert analyse(DERMATO, research=False, operational_use_known=True)[0] == "operational"
    assert analyse(WATER, operational_use_known=False)[0] == "general_purpose"
    # Research wins when several cases are ticked: Fiche 2 admits a research purpose for any system.
    assert analyse(VLM, general_purpose=True, research=True)[0] == "research"


def test_operational_criteria_follow_the_deployment_purpose() -> None:
    case, criteria, facts = analyse(READMISSION, lang="en")
    assert case == "operational"
    assert [c.id for c in criteria] == ["operational_use", "determined", "legitimate"]
    assert all(c.required for c in criteria)
    assert statuses(criteria) == {"operational_use": "covered", "determined": "covered", "legitimate": "missing"}
    assert facts.use and "nurses" in facts.use and "prioritise" in facts.use
    assert facts.system and "readmission within 30 days" in facts.system
    # A stated public-interest task makes the use's legitimacy covered.
    assert statuses(analyse(TRIAGE)[1])["legitimate"] == "covered"
    # A system that says nothing about what it produces is not a determined purpose.
    _, criteria, _ = analyse("Un outil d'IA pour aider les agents du service client.")
    assert statuses(criteria)["determined"] == "insufficient"


def test_general_purpose_criteria_are_cumulative_and_vague_wording_is_flagged() -> None:
    case, criteria, _ = analyse(LLM_STARTUP)
    assert case == "general_purpose"
    assert [c.id for c in criteria] == ["type", "capabilities", "not_vague", "risky", "excluded", "conditions"]
    assert {c.id for c in criteria if c.required} == {"type", "capabilities", "not_vague"}
    assert statuses(criteria) == {"type": "covered", "capabilities": "missing", "not_vague": "insufficient",
                                  "risky": "missing", "excluded": "missing", "conditions": "missing"}
    _, criteria, facts = analyse("Développement d'un modèle d'IA générative.")
    assert facts.vague
    assert statuses(criteria)["capabilities"] == "insufficient"
    assert statuses(criteria)["not_vague"] == "insufficient"


def test_general_purpose_fields_cover_the_recommended_criteria() -> None:
    _, criteria, facts = analyse(VLM, risky_capabilities="identifier des personnes à partir de leur visage",
                                 excluded_functionalities="reconnaissance faciale",
                                 conditions_of_use="licence interdisant la surveillance de personnes")
    assert set(statuses(criteria).values()) == {"covered"}
    assert facts.capabilities and "décrire des images" in facts.capabilities
    assert {"risky", "excluded", "conditions"} <= facts.given
    # Read from the description as well, and a capability listed as excluded is not taken as one the system has.
    _, criteria, facts = analyse("Modèle de langage à usage général capable de résumer et de traduire des textes. "
                                 "Capacités les plus à risque : générer des contenus sur des personnes réelles. "
                                 "Exclu par conception : la reconnaissance de personnes. Usage réservé aux clients "
                                 "sous licence.")
    assert set(statuses(criteria).values()) == {"covered"}
    assert facts.capabilities and "reconnaissance" not in facts.capabilities
    assert facts.excluded == "la reconnaissance de personnes"


def test_research_criteria_ask_for_the_field() -> None:
    case, criteria, facts = analyse(DERMATO)
    assert case == "research"
    assert [c.id for c in criteria] == ["research", "field", "object", "publication"]
    assert {c.id for c in criteria if c.required} == {"research", "field"}
    assert set(statuses(criteria).values()) == {"covered"}
    assert facts.research_field and "dermatologie" in facts.research_field
    _, criteria, _ = analyse("Projet de recherche d'un laboratoire sur une nouvelle méthode d'optimisation.")
    assert statuses(criteria)["field"] == "missing"
    _, criteria, facts = analyse("Projet de recherche d'un laboratoire sur une nouvelle méthode d'optimisation.",
                                 research_field="recherche en audit algorithmique")
    assert statuses(criteria)["field"] == "covered" and "research_field" in facts.given


@pytest.mark.parametrize("text", [None, "", "   ", "modèle", "IA ?", "\u200b\u200b"])
def test_empty_or_one_word_description_asks_for_more(text: str | None) -> None:
    with pytest.raises(PurposeInputError, match="Décrivez le système") as err:
        clean_description(text, Settings())
    assert isinstance(err.value, QuestionError)  # interfaces show it like any bad question
    with pytest.raises(PurposeInputError, match="Describe the AI system"):
        clean_description(text, Settings(), "en")


def test_wording_checks_catch_invented_or_dropped_facts() -> None:
    core = core_text(READMISSION)
    request = PurposeRequest(READMISSION, lang="en")
    facts = read_facts(request, core, "en")
    s = Settings()
    faithful = ("Development of a model that will predict, for each discharged patient, the risk of unplanned "
                "readmission within 30 days, so that nurses can prioritise follow-up calls.")
    assert check_statement(faithful, "operational", facts, core, s) == []
    invented = faithful[:-1] + " and translate discharge letters."
    assert any("capability" in p for p in check_statement(invented, "operational", facts, core, s))
    number = faithful.replace("30 days", "90 days")
    assert any("numbers" in p for p in check_statement(number, "operational", facts, core, s))
    dropped = "Development of a model that will predict the risk of unplanned readmission within 30 days."
    assert any("drops the use" in p for p in check_statement(dropped, "operational", facts, core, s))
    assert "cut off" in check_statement(faithful[:-1] + " and", "operational", facts, core, s)


def test_template_statement_keeps_every_fact() -> None:
    _, _, facts = analyse(DERMATO)
    text = template_statement("research", facts, core_text(DERMATO), "fr")
    assert text.startswith("Développement, à des fins de recherche scientifique en dermatologie")
    assert "preuve de concept" in text and "publication" in text
    _, _, facts = analyse(VLM, risky_capabilities="identifier des personnes", excluded_functionalities="reconnaissance "
                          "faciale", conditions_of_use="licence interdisant la surveillance")
    text = template_statement("general_purpose", facts, VLM, "fr")
    for value in ("identifier des personnes", "reconnaissance faciale", "licence interdisant la surveillance",
                  "décrire des images"):
        assert value in text
    assert check_statement(text, "general_purpose", facts, VLM, Settings()) == []


def test_markdown_export_shows_checklist_questions_and_sources() -> None:
    cite = Citation(n=1, doc="deck.md", title="Recommandations", location="Fiche 2, l. 111–132",
                    quote="au « type » de système développé", text="…")
    draft = P.PurposeDraft(
        description="d", case="general_purpose", case_label="Système d'IA à usage général", case_reason="indiqué",
        case_note="La finalité doit se référer à la fois au type de système et à ses capacités.",
        statement="Développement d'un grand modèle de langage.",
        criteria=[Criterion("type", "Type de système développé", True, "covered", "LLM", cite),
                  Criterion("risky", "Capacités prévisibles les plus à risque", False, "missing", "non indiqué")],
        questions=["Quelles capacités prévisibles sont les plus à risque ?"], warnings=["attention"], lang="fr",
        model="template", timings={}, case_citation=cite)
    md = draft.to_markdown()
    assert "> Développement d'un grand modèle de langage." in md
    assert "**Cas (CNIL, fiche 2)** : Système d'IA à usage général [1] — indiqué" in md
    assert "- ✅ **Type de système développé** (obligatoire) — couvert : LLM [1]" in md
    assert "  > « au « type » de système développé »" in md
    assert "- ❌ **Capacités prévisibles les plus à risque** (recommandé) — manquant" in md
    assert "1. Quelles capacités prévisibles sont les plus à risque ?" in md
    assert "[1] Recommandations — Fiche 2, l. 111–132 (deck.md)" in md
    assert md.count("[1] Recommandations") == 1  # one source line per passage, however many criteria cite it


# -- drafts on a real index -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Assistant:
    root = tmp_path_factory.mktemp("purpose")
    # The default cache folder: the verified model file is reused, not re-assembled for the test.
    settings = Settings(corpus_dir=make_corpus(root / "corpus", DOCS), index_dir=root / "index",
                        llm="fast").resolved()
    Index(settings, e5).update()
    return Assistant(settings)


def assert_cited_from_corpus(draft: P.PurposeDraft, corpus: Path) -> None:
    assert draft.case_citation is not None
    for c in draft.criteria:
        assert c.citation is not None, c.id
        assert c.citation.quote in c.citation.text, c.id  # an exact span of the stored passage…
        assert c.citation.text in (corpus / c.citation.doc).read_text(encoding="utf-8")  # …of the real document
    numbers = [c.n for c in draft.citations]
    assert numbers == list(range(1, len(numbers) + 1))


def test_drafts_of_the_dev_items_cite_fiche_2(assistant: Assistant) -> None:
    corpus = assistant.settings.corpus.corpus_dir
    gp = assistant.draft_purpose(PurposeRequest(LLM_STARTUP), use_model=False)
    assert gp.case == "general_purpose" and gp.lang == "fr" and gp.model == "template"
    assert_cited_from_corpus(gp, corpus)
    by_id = {c.id: c for c in gp.criteria}
    assert by_id["type"].citation and by_id["type"].citation.quote == "au « type » de système développé"
    assert by_id["not_vague"].citation and "modèle d'IA générative" in by_id["not_vague"].citation.quote
    assert all("Définir une finalité" in c.citation.location for c in gp.criteria if c.citation)
    assert "[à préciser : fonctionnalités et capacités techniquement envisageables]" in gp.statement
    assert "Rédige" not in gp.statement  # the request sentence is not part of the purpose
    assert any("Exemple de la CNIL" in q for q in gp.questions)

    op = assistant.draft_purpose(PurposeRequest(READMISSION), use_model=False)
    assert op.case == "operational" and op.lang == "en"
    assert_cited_from_corpus(op, corpus)
    assert op.case_citation and op.case_citation.quote.startswith("L'usage opérationnel du système d'IA est précis")
    assert "so that nurses can prioritise follow-up calls" in op.statement
    assert [q for q in op.questions if "legitimate" in q]

    research = assistant.draft_purpose(PurposeRequest(DERMATO), use_model=False)
    assert research.case == "research"
    assert_cited_from_corpus(research, corpus)
    field = next(c for c in research.criteria if c.id == "field")
    assert field.citation and field.citation.doc == DOCS[1]  # the participants' request, from the summary
    assert "domaine de recherche soit précisé" in field.citation.quote
    assert "recherche scientifique en dermatologie" in research.statement
    payload = json.loads(json.dumps(research.as_dict(), ensure_ascii=False))
    assert payload["case"] == "research" and payload["criteria"][1]["citation"]["doc"] == DOCS[1]


def test_a_wording_that_drops_a_criterion_is_replaced(assistant: Assistant, e5: Embedder) -> None:
    """Whatever the model writes, a criterion the checklist marks covered stays in the statement."""
    careless = FakeBackend("Développement d'un modèle vision-langage open source à usage général.")  # capabilities lost
    scripted = Assistant(assistant.settings, models=FakeModels(careless), embedder=e5)
    draft = scripted.draft_purpose(PurposeRequest(VLM, excluded_functionalities="reconnaissance faciale"))
    assert len(careless.requests) == 1 and draft.raw == careless.draft
    assert draft.model == "template"
    assert any("drops the capabilities" in r for r in draft.rejected)
    assert "décrire des images" in draft.statement and "reconnaissance faciale" in draft.statement
    assert any("écartée" in w and "élément omis" in w for w in draft.warnings)
    assert draft.case_reason.startswith("déduit de la description")  # the case's own reason is untouched


def test_too_short_description_is_refused_before_any_work(assistant: Assistant) -> None:
    with pytest.raises(PurposeInputError, match="trop courte"):
        assistant.draft_purpose(PurposeRequest("chatbot"))


def test_cli_exports_markdown_and_json(assistant: Assistant, tmp_path: Path) -> None:
    s = assistant.settings
    out = tmp_path / "drafts" / "finalite.md"
    where = ["--index", str(s.corpus.index_dir), "--corpus", str(s.corpus.corpus_dir)]
    args = ["purpose", "--no-model", *where, "--out", str(out), "--json", "--risky-capabilities",
            "générer des contenus sur des personnes réelles", LLM_STARTUP]
    proc = run_ask(args, clean_env())
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["case"] == "general_purpose"
    assert {c["id"]: c["status"] for c in payload["criteria"]}["risky"] == "covered"
    md = out.read_text(encoding="utf-8")
    assert md.startswith("# Finalité du traitement : projet")
    assert "générer des contenus sur des personnes réelles" in md and "## Sources" in md
    assert not list(out.parent.glob(".*.tmp"))

    proc = run_ask(["purpose", "--no-model", *where, "IA"], clean_env())
    assert proc.returncode == 2
    assert "Description trop courte" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_end_to_end_draft_with_the_fast_model(assistant: Assistant) -> None:
    draft = assistant.draft_purpose(PurposeRequest(TRIAGE))
    assert draft.case == "operational"
    assert set(statuses(draft.criteria).values()) == {"covered"}
    assert draft.raw.startswith("Développement")  # the model ran, under the grammar
    assert draft.timings["completion_tokens"] > 0 and draft.timings["prompt_tokens"] > 0
    facts = draft.facts
    if draft.model == "template":
        assert draft.rejected  # set aside only for a stated reason
    else:
        assert draft.model == "qwen2.5-coder-0.5b-instruct-q4_k_m"
        assert check_statement(draft.statement, draft.case, facts, core_text(TRIAGE), assistant.settings) == []
    assert "1 à 5" in draft.statement and "infirmier" in draft.statement
    assert_cited_from_corpus(draft, assistant.settings.corpus.corpus_dir)
