"""Completeness on fixed inputs (pure logic): which lists a passage holds, which items an answer leaves out, the
quoted block that adds them, and the question shapes (fact, list, several sources)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdpr_assistant.intake.shape import question_shape
from gdpr_assistant.settings import TrustSettings
from gdpr_assistant.text.lists import enumerations
from gdpr_assistant.verification.claims import lexical_support, split_claims
from gdpr_assistant.verification.completeness import complete, missing_items
from gdpr_assistant.verification.verifier import DraftVerifier, Evidence

SLIDE = "## Le consentement\n\n- Libre\n- Spécifique\n- Eclairé\n- Univoque\n\n- Peut-être adapté lorsque les " \
        "données sont collectées directement auprès des personnes\n- Souvent impossible en pratique"
# A PDF's text layer: items wrapped over lines, a blank line between lines, then the next paragraph.
WRAPPED = ("La CNIL a reçu les réponses de 9 participants parmi lesquels :  \n\n• 5 entreprises privées ;  \n\n"
           "• 1 institut de recherche ;  \n\n• 1 syndicat professionnel de \nsalariés ;  \n\n• 1 particulier. \n\n"
           "Les entreprises privées sont spécialisées dans des domaines divers.")
NESTED = ("- Rapport éthique (2017)\n  - Deux piliers :\n    - Loyauté\n    - Vigilance\n  - Six recommandations\n"
          "- Une approche top-down inhérente à ce type de rapports")
INLINE = "Le consentement doit réunir quatre qualités : libre, spécifique, éclairé et univoque."
PROSE = ("Startup ABC : suite à un contrôle, la CNIL a constaté que des données personnelles avaient été "
         "illégalement collectées et avaient servi à l'apprentissage d'un modèle.")
SLIDES = "## Fiche 1\n\n- La CNIL explique comment concilier IA et RGPD dans ses fiches pratiques.\n" \
         "- Les principes du RGPD s'appliquent à une très grande variété de systèmes et de technologies."


def test_lists_are_found_with_their_items_and_statements_are_not() -> None:
    assert [e.items for e in enumerations(SLIDE)] == [("Libre", "Spécifique", "Eclairé", "Univoque")]
    (wrapped,) = enumerations(WRAPPED)
    assert wrapped.items == ("5 entreprises privées", "1 institut de recherche",
                             "1 syndicat professionnel de salariés", "1 particulier")
    assert wrapped.intro.endswith("parmi lesquels :")
    # Items of a sub-list, not the lines around it; a deeper bullet details an item and is not one.
    assert [e.items for e in enumerations(NESTED)] == [("Loyauté", "Vigilance")]
    assert [e.items for e in enumerations(INLINE)] == [("libre", "spécifique", "éclairé", "univoque")]
    # Commas in a sentence, or bullets that are each a statement, are not a list of items.
    assert enumerations(PROSE) == [] and enumerations(SLIDES) == []


def test_the_items_an_answer_leaves_out_are_named_only_when_it_draws_on_the_list() -> None:
    answer = "Le consentement doit être libre et spécifique [1]."
    (m,) = missing_items({0: [answer]}, [SLIDE], {}, is_list_question=True)
    assert m.items == ("Eclairé", "Univoque")
    # A fact question drawing on one item is not asking for the list; two items given are a list either way.
    assert missing_items({0: ["Le consentement doit être libre."]}, [SLIDE], {}, is_list_question=False) == []
    assert missing_items({0: [answer]}, [SLIDE], {}, is_list_question=False)[0].items == ("Eclairé", "Univoque")
    # An answer that gives no item of the list is about something else in the passage.
    assert missing_items({0: ["Il est souvent impossible en pratique."]}, [SLIDE], {}, True) == []
    # Every item given: nothing to add.
    assert missing_items({0: ["Libre, spécifique, éclairé et univoque."]}, [SLIDE], {}, True) == []
    # Only the passages the answer cites are read.
    assert missing_items({}, [SLIDE], {}, True) == []


def test_across_languages_an_item_counts_as_given_by_meaning() -> None:
    def similar(item: str, sentence: str) -> float:
        return 0.95 if item in {"Libre", "Spécifique"} and "free" in sentence else 0.5

    answer = "Consent must be free and specific [1]."
    (m,) = missing_items({0: [answer]}, [SLIDE], {}, True, similar=lambda i: similar, min_similarity=0.9)
    assert m.items == ("Eclairé", "Univoque")


def _draft(passages: list[str], text: str, question: str) -> DraftVerifier:
    v = DraftVerifier(Evidence(passages=passages, question=question, idf={}, trust=TrustSettings()))
    list(v.feed(text))
    list(v.close())
    return v


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_added_block_quotes_each_item_cited_and_every_cited_claim_holds(lang: str) -> None:
    question = "Quelles qualités le consentement doit-il réunir ?"
    v = _draft(["Une autre passage sur la durée de conservation.", SLIDE],
               "Le consentement doit être libre et spécifique [2].", question)
    block = complete(v, question_shape(question) == "list", lang, max_items=8)
    assert block.startswith("\n\n") and v.text.endswith(block)
    assert "- « Eclairé » [1]" in block and "- « Univoque » [1]" in block and "Libre" not in block
    # The span highlighted in the cited passage now covers the added items.
    assert "Univoque" in v.spans()[1]
    # What the evaluation checks: every claim with a citation is held by the passage it cites.
    for claim in split_claims(v.text):
        if claim.cited:
            assert lexical_support(claim.text, SLIDE) >= 0.5, claim.text
    # A bound on the items added, and what is left said with its count.
    v = _draft([SLIDE], "Le consentement doit être libre [1].", question)
    block = complete(v, True, "fr", max_items=1)
    assert "« Spécifique »" in block and "Eclairé" not in block and "Et 2 autres éléments" in block
    assert complete(_draft([SLIDE], "Le consentement doit être libre [1].", question), True, "fr", 0) == ""


def test_question_shapes_are_read_as_labelled_on_the_question_set() -> None:
    """Of the labelled answerable questions, list questions read as lists and fact questions as facts (each at
    least 85 %), questions on several sources as such (70 %), others rarely (5 %)."""
    root = Path(__file__).resolve().parents[1]
    rows = [json.loads(line) for line in (root / "bench/data/questions-answerable.jsonl").read_text().splitlines()]
    lists = [question_shape(r["question"]) == "list" for r in rows if r["type"] == "list"]
    facts = [question_shape(r["question"]) == "fact" for r in rows if r["type"] == "fact"]
    assert sum(lists) / len(lists) >= 0.85 and sum(facts) / len(facts) >= 0.85
    synthesis = [question_shape(r["question"]) == "synthesis" for r in rows if r["type"] == "synthesis"]
    others = [question_shape(r["question"]) == "synthesis" for r in rows if r["type"] != "synthesis"]
    assert sum(synthesis) / len(synthesis) >= 0.7 and sum(others) / len(others) <= 0.05
    assert question_shape("Quelle base légale pour entraîner un modèle ?") == "fact"
    assert question_shape("Which qualities must consent have?") == "list"
    assert question_shape("Que disent la CNIL et l'Inserm sur la durée de conservation ?") == "synthesis"


def test_an_answer_that_lists_an_inner_list_whole_gets_nothing_from_the_outer_one() -> None:
    passage = ("Mission d'accompagnement :\n- Accompagnement de 3 entreprises utilisant l'IA : Hugging Face, Lifen, "
               "Contentsquare\n- Le cas des JOP 2024 : caméras augmentées\n- Bac à sable IA pour le service public")
    assert missing_items({0: ["La CNIL a accompagné Hugging Face, Lifen et Contentsquare."]}, [passage], {},
                         True) == []
    (m,) = missing_items({0: ["La CNIL a accompagné Hugging Face et Lifen."]}, [passage], {}, True)
    assert m.items == ("Contentsquare",)
    # An outer item and an inner one given: the outer list's items come, the inner ones they hold are not quoted
    # a second time.
    found = missing_items({0: ["Le bac à sable IA pour le service public.", "Hugging Face."]}, [passage], {}, True)
    added = [t for m in found for t in m.items]
    assert "Accompagnement de 3 entreprises utilisant l'IA : Hugging Face, Lifen, Contentsquare" in added
    assert "Lifen" not in added and "Contentsquare" not in added
