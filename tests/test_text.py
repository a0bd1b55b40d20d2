"""The libraries that replaced hand-written code, on fixed inputs (no model, no index, a second or two):
bm25s (BM25), py3langid (language), sentencex (sentences), python-stdnum (IBAN / NIR), click-default-group (CLI).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from conftest import PDF_PASSAGE

from gdpr_assistant.index.bm25 import BM25
from gdpr_assistant.intake import question as safety
from gdpr_assistant.interfaces import cli as cli_module
from gdpr_assistant.text.glossary import english_terms
from gdpr_assistant.text.language import detect_language, language_of
from gdpr_assistant.text.sentences import sentences
from gdpr_assistant.text.words import tokenize

# -- BM25 (bm25s under the project's tokenizer) ------------------------------------------------------------------
TEXTS = [
    "Le consentement des personnes est une base légale possible pour entraîner un modèle.",
    "L'intérêt légitime peut fonder l'entraînement d'un modèle d'IA sur des données publiques.",
    "La durée de conservation des données d'entraînement doit être définie et limitée.",
    "Une analyse d'impact (AIPD) est requise quand le traitement présente un risque élevé.",
    "Consentement, consentement, consentement : le mot revient dans ce texte plus long que les autres, "
    "qui parle aussi de durée, de sécurité, de chiffrement et de journalisation des accès.",
    "Le, la, les.",  # nothing but stop words: an empty document, still counted in n
]
K1, B = 1.8, 0.75
QUERIES = ["consentement pour entraîner un modèle", "durée de conservation des données", "analyse d'impact AIPD",
           "intérêt légitime et données publiques", "sécurité chiffrement"]


def reference_scores(texts: list[str], query: str) -> dict[int, float]:
    """The hand-written BM25 the project used before bm25s, as the reference."""
    docs = [Counter(tokenize(t)) for t in texts]
    lengths = [sum(d.values()) for d in docs]
    avg = sum(lengths) / len(lengths)
    df = Counter(t for d in docs for t in d)
    n = len(docs)
    out: dict[int, float] = {}
    for t in set(tokenize(query)):
        if t not in df:
            continue
        idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
        for i, d in enumerate(docs):
            if t in d:
                tf = d[t]
                out[i] = out.get(i, 0.0) + idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lengths[i] / avg))
    return out


@pytest.mark.parametrize("query", QUERIES)
def test_bm25_scores_and_ranking_match_the_reference_formula(query: str) -> None:
    bm = BM25(TEXTS, k1=K1, b=B)
    expected = reference_scores(TEXTS, query)
    got = bm.scores(query)
    assert got.keys() == expected.keys() and got
    for i, score in expected.items():
        assert got[i] == pytest.approx(score, rel=1e-9)
    ranked = [i for i, _ in bm.top(query, 10)]
    assert ranked == sorted(expected, key=lambda i: (-expected[i], i))


def test_bm25_idf_is_the_lucene_idf_of_every_indexed_word() -> None:
    bm = BM25(TEXTS, k1=K1, b=B)
    n = len(TEXTS)
    df = Counter(t for text in TEXTS for t in set(tokenize(text)))
    assert bm.idf.keys() == df.keys()
    for term, f in df.items():
        assert bm.idf[term] == pytest.approx(math.log(1 + (n - f + 0.5) / (f + 0.5)), rel=1e-12)
    # A word of one document out of six is rarer than one of three.
    assert bm.idf[tokenize("AIPD")[0]] > bm.idf[tokenize("données")[0]]


def test_bm25_top_cuts_at_n_orders_ties_by_passage_and_ignores_stop_words_and_repeats() -> None:
    bm = BM25(["durée", "durée", "conservation durée"], k1=K1, b=0.0)
    assert bm.top("durée", 2) == [(0, pytest.approx(bm.scores("durée")[0])), (1, pytest.approx(bm.scores("durée")[1]))]
    assert bm.top("le la les", 5) == [] and bm.scores("le la les") == {}
    assert bm.top("mot absent du corpus", 5) == []
    assert bm.scores("durée durée durée") == bm.scores("durée")  # a repeated query word counts once


def test_bm25_k1_controls_term_frequency_saturation() -> None:
    texts = ["consentement " * 6 + "base", "consentement base légale"]
    gap = lambda bm: bm.scores("consentement")[0] - bm.scores("consentement")[1]  # noqa: E731
    assert gap(BM25(texts, k1=5.0, b=0.0)) > gap(BM25(texts, k1=0.1, b=0.0)) > 0


@pytest.mark.parametrize("texts", [[], ["Le, la, les.", "Du, des."]])
def test_bm25_of_no_word_matches_nothing(texts: list[str]) -> None:
    bm = BM25(texts, k1=K1, b=B)
    assert bm.idf == {} and bm.top("consentement", 5) == [] and bm.scores("la") == {}


def test_bm25_saved_and_memory_mapped_ranks_the_same(tmp_path: Path) -> None:
    bm = BM25(TEXTS, k1=K1, b=B)
    bm.save(tmp_path / "bm25")
    loaded = BM25.load(tmp_path / "bm25", mmap=True)
    assert loaded.idf == bm.idf
    for q in QUERIES:
        assert loaded.top(q, 10) == bm.top(q, 10)


# -- language (py3langid) ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "lang"), [
    ("Quelle base légale pour entraîner un modèle sur des données collectées en ligne ?", "fr"),
    ("How long may I keep my training set?", "en"),
    ("Is a DPIA required before deploying an AI system in a hospital?", "en"),
    ("La CNIL recommande-t-elle une AIPD pour les systèmes d'IA ?", "fr"),
    ("Which data sources did Nantes Métropole plan to combine for Ekonom-IA?", "en"),  # a French name inside
])
def test_french_and_english_questions(text: str, lang: str) -> None:
    assert detect_language(text) == lang
    assert language_of(text) == lang


@pytest.mark.parametrize(("text", "lang"), [
    ("¿Qué base jurídica necesito para entrenar un modelo de IA con datos personales?", "es"),
    ("Wie lange darf ich Trainingsdaten speichern?", "de"),
    ("Wer ist der Verantwortliche?", "de"),
    ("Cosa dice il GDPR sul legittimo interesse?", "it"),
    ("Qual é a base legal para treinar um modelo de IA com dados pessoais?", "pt"),
    ("Hoe lang mag ik trainingsgegevens bewaren?", "nl"),
    ("数据保护影响评估是强制性的吗？", "zh"),  # no spaces: counted by characters, not taken for too short
])
def test_other_languages_are_named(text: str, lang: str) -> None:
    assert language_of(text) == lang
    assert detect_language(text) in ("fr", "en")  # the fr/en contract holds whatever the input


@pytest.mark.parametrize(("text", "lang"), [
    ("RGPD ?", "fr"), ("AIPD", "fr"), ("CNIL", "fr"), ("DPIA", "en"), ("GDPR?", "en"), ("AI Act", "en"),
    ("Legitimate interest?", "en"), ("Intérêt légitime ?", "fr"), ("Base légale", "fr"), ("Hola", "fr"),
])
def test_short_inputs_are_never_foreign(text: str, lang: str) -> None:
    assert language_of(text) == ""  # too short to tell: the caller keeps French or English
    assert detect_language(text) == lang


def test_no_letters_at_all_is_french_and_unsure() -> None:
    assert detect_language("2023 ? 42 %") == "fr"
    assert language_of("2023 ? 42 % 17") == ""


# -- sentences (sentencex within the passage's layout) ----------------------------------------------------------


def test_pdf_line_breaks_are_not_boundaries_bullets_and_headings_are() -> None:
    assert sentences(PDF_PASSAGE) == [
        "# Fiche 4 – Réutiliser des données",
        "Les participants ont suggéré :",
        "La mise en place d'un mécanisme permettant de tracer les données et le consentement ;",
        "Un participant a toutefois soulevé qu'il pouvait être difficile pour un organisme de vérifier si les "
        "procédés tels que la confidentialité différentielle pouvaient être qualifiés d'anonymisation.",
        "Comment vérifier l'anonymisation ?",
    ]


@pytest.mark.parametrize(("text", "units"), [
    # Abbreviations the regex cut after.
    ("Souvent impossible en pratique (par ex. quand les données sont collectées en ligne). La CNIL le rappelle.",
     ["Souvent impossible en pratique (par ex. quand les données sont collectées en ligne).", "La CNIL le rappelle."]),
    ("Certaines données (p. ex. les données de santé) sont sensibles. Elles relèvent de l'article 9.",
     ["Certaines données (p. ex. les données de santé) sont sensibles.", "Elles relèvent de l'article 9."]),
    ("La CNIL (cf. www.cnil.fr) publie des fiches. Elles sont en ligne.",
     ["La CNIL (cf. www.cnil.fr) publie des fiches.", "Elles sont en ligne."]),
    # A question mark inside a quoted title, and "etc. ?".
    ("Pour le grand public « IA de quoi parle-t-on ? », Glossaire de l'IA",
     ["Pour le grand public « IA de quoi parle-t-on ? », Glossaire de l'IA"]),
    ("Comment assurer les droits d'accès, de rectification, etc. ?\n\nAxe n°4 – AIPD",
     ["Comment assurer les droits d'accès, de rectification, etc. ?", "Axe n°4 – AIPD"]),
    # Clauses closed by ";" and dashed list items stay units; the markers go.
    ("Les principes :\n- licéité ;\n- minimisation\n- exactitude.", ["Les principes :", "licéité ;", "minimisation",
                                                                   "exactitude."]),
    ("Il faut informer les personnes ; elles peuvent s'opposer.", ["Il faut informer les personnes ;",
                                                                  "elles peuvent s'opposer."]),
    ("Under Art. 6(1)(f) GDPR, e.g. for fraud prevention, the controller may rely on legitimate interests. "
     "The U.S. approach differs.",
     ["Under Art. 6(1)(f) GDPR, e.g. for fraud prevention, the controller may rely on legitimate interests.",
      "The U.S. approach differs."]),
])
def test_sentence_ends(text: str, units: list[str]) -> None:
    assert sentences(text) == units


def test_sentences_keep_every_word_and_survive_undecodable_input() -> None:
    text = "Une donnée \ud800 mal décodée. Puis une phrase."
    assert sentences(text) == ["Une donnée \ud800 mal décodée.", "Puis une phrase."]
    assert sentences("") == [] and sentences(" \n\n • ") == []


# -- personal data: IBAN and NIR check digits (python-stdnum) ---------------------------------------------------
NIR = "French social security number"


@pytest.mark.parametrize(("text", "kind"), [
    ("Le NIR 2 95 10 99 126 111 93 peut-il servir d'identifiant ?", NIR),
    ("Le numéro 185057800608491 est-il sensible ?", NIR),
    ("NIR corse 2 53 07 2b 073 004 70 ?", NIR),
    ("Puis-je stocker l'IBAN FR76 3000 6000 0112 3456 7890 189 ?", "IBAN"),
    ("et l'iban fr7630006000011234567890189 merci", "IBAN"),
    ("IBAN BE71 0961 2345 6769 MERC", "IBAN"),  # a word typed right after a complete IBAN
    ("Compte allemand DE89 3704 0044 0532 0130 00.", "IBAN"),
])
def test_numbers_that_validate_are_spotted(text: str, kind: str) -> None:
    assert kind in safety.personal_data_found(text)
    warning = safety.question_warnings(text, "fr")
    assert len(warning) == 1 and kind in warning[0]


@pytest.mark.parametrize("text", [
    "Le NIR 1 85 05 78 006 084 36 est-il valable ?",  # wrong key (91 is right)
    "Le dossier 185057800608436 est-il concerné ?",
    "Le NIR sans clé 1 85 05 78 006 084 ?",  # no key: nothing to check, no warning
    "L'IBAN FR76 3000 6000 0112 3456 7890 188 ?",  # one digit off
    "Ticket EU12 3456 7890 1234 ouvert le 12/03/2024.",
    "L'article 6 du RGPD et la délibération n° 2024-001 du 12/03/2024 s'appliquent-ils ?",
    "Quelle base légale pour entraîner un modèle sur des données collectées en 2023 ?",
])
def test_numbers_that_fail_their_check_digits_raise_no_warning(text: str) -> None:
    assert safety.personal_data_found(text) == []


def test_email_and_phone_patterns_are_kept() -> None:
    assert safety.personal_data_found("Écrire à jean.dupont@inserm.fr ou au 06 12 34 56 78 ?") == [
        "e-mail address", "phone number"]


# -- the CLI's default command (click-default-group) ------------------------------------------------------------
@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The question command's calls, with no model: what reached the assistant and the answer function."""
    calls: list[dict[str, Any]] = []

    class FakeAssistant:
        def __init__(self, settings: Any) -> None:
            self.settings = settings

        def check_model(self) -> None:
            pass

    def answer(assistant: FakeAssistant, question: str, history: list[Any], k: int | None, lang: str | None,
               as_json: bool, verbose: bool) -> None:
        calls.append({"question": question, "llm": assistant.settings.models.llm, "k": k, "json": as_json})
        click.echo("ANSWERED")

    monkeypatch.setattr(cli_module, "_assistant", FakeAssistant)
    monkeypatch.setattr(cli_module, "_answer", answer)
    return calls


@pytest.mark.parametrize(("args", "expected"), [
    (["Quelle base légale ?"], {"question": "Quelle base légale ?", "llm": "default", "k": None, "json": False}),
    (["--fast", "Quelle base légale ?"], {"question": "Quelle base légale ?", "llm": "fast", "k": None, "json": False}),
    (["--fast", "--json", "--k", "3", "How", "long?"], {"question": "How long?", "llm": "fast", "k": 3, "json": True}),
    (["indx"], {"question": "indx", "llm": "default", "k": None, "json": False}),  # not a command: a question
])
def test_a_first_word_that_is_no_command_is_a_question(asked: list[dict[str, Any]], args: list[str],
                                                       expected: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli_module.cli, args, prog_name="ask")
    assert result.exit_code == 0, result.output
    assert asked == [expected]


def test_commands_help_and_version_are_not_questions(asked: list[dict[str, Any]]) -> None:
    runner = CliRunner()
    index_help = runner.invoke(cli_module.cli, ["index", "--help"], prog_name="ask")
    assert index_help.exit_code == 0 and index_help.output.startswith("Usage: ask index [OPTIONS]")
    for flag in ("--help", "-h"):
        result = runner.invoke(cli_module.cli, [flag], prog_name="ask")
        assert result.exit_code == 0
        assert result.output.startswith('Usage: ask [OPTIONS] "QUESTION"  |  ask COMMAND [ARGS]...')
        listed = re.findall(r"^  (\w+) ", result.output.split("Commands:")[1], flags=re.M)
        assert "index" in listed and "search" in listed and "question" not in listed  # the default is hidden
    version = runner.invoke(cli_module.cli, ["--version"], prog_name="ask")
    assert version.exit_code == 0 and version.output.startswith("ask, version ")
    assert asked == []


def test_a_quote_to_translate_brings_the_english_of_its_terms_of_art() -> None:
    # Without case or accents ("Eclairé" on a slide), in order, each term once.
    terms = english_terms("Le consentement : Eclairé, univoque. Réaliser une AIPD ; une AIPD, l’analyse d’impact "
                          "relative à la protection des données, le bac à sable")
    assert terms == [("consentement", "consent"), ("éclairé", "informed"), ("univoque", "unambiguous"),
                     ("AIPD", "DPIA"),
                     ("analyse d'impact relative à la protection des données",
                      "data protection impact assessment (DPIA)"), ("bac à sable", "sandbox")]
    assert english_terms("Le modèle est publié.") == []
