"""The extractive fallback (verification/quotes.py) on fixed inputs (pure logic: no model, no index)."""

from __future__ import annotations

from conftest import PDF_PASSAGE

from gdpr_assistant.text.markup import plain
from gdpr_assistant.text.sentences import sentences
from gdpr_assistant.verification import quotes as extraction
from gdpr_assistant.verification.claims import split_claims

LIST_PASSAGE = ("La CNIL a reçu les réponses de 9 participants à l'appel à contribution parmi lesquels :\n"
                "• 5 entreprises privées ;\n• 1 institut de recherche ;\n• 1 établissement de santé.")


def test_units_follow_sentences_and_bullets_not_pdf_line_breaks() -> None:
    found = sentences(PDF_PASSAGE)
    assert ("Un participant a toutefois soulevé qu'il pouvait être difficile pour un organisme de vérifier si les "
            "procédés tels que la confidentialité différentielle pouvaient être qualifiés d'anonymisation.") in found
    assert "La mise en place d'un mécanisme permettant de tracer les données et le consentement ;" in found


def test_the_sentence_that_covers_the_question_is_quoted_word_for_word() -> None:
    question = "Quel doute sur la confidentialité différentielle comme procédé d'anonymisation ?"
    got = extraction.extract(question, ["Le consentement doit être libre.", PDF_PASSAGE], None, "fr", 0.35)
    assert got is not None and got.passage == 1
    assert got.quote.startswith("Un participant a toutefois soulevé")
    assert got.coverage >= 0.35


def test_headings_and_questions_are_never_quoted() -> None:
    # Both echo the question's words best, and neither states anything.
    got = extraction.extract("Comment vérifier l'anonymisation pour réutiliser des données ?", [PDF_PASSAGE], None,
                             "fr", 0.0)
    assert got is not None
    assert not got.quote.startswith("#") and not got.quote.endswith("?")


def test_a_sentence_ending_on_a_colon_brings_its_list() -> None:
    got = extraction.extract("Combien de participants ont répondu à l'appel à contribution ?", [LIST_PASSAGE], None,
                             "fr", 0.35)
    assert got is not None
    assert got.quote.startswith("La CNIL a reçu les réponses de 9 participants")
    assert "5 entreprises privées" in got.quote and "1 établissement de santé" in got.quote
    assert len(extraction.extract("Combien de participants ?", [LIST_PASSAGE], None, "fr", 0.0,
                                  max_chars=120).quote) <= 121  # the list stops at the length limit


def test_below_the_floor_there_is_no_quote() -> None:
    question = "Jusqu'à quel montant la CNIL peut-elle sanctionner une entreprise ?"
    assert extraction.extract(question, [PDF_PASSAGE, LIST_PASSAGE], None, "fr", 0.35) is None
    assert extraction.extract(question, [], None, "fr", 0.0) is None


def test_english_question_finds_the_french_sentence_through_the_glossary() -> None:
    got = extraction.extract("What doubt was raised about differential privacy as anonymisation?", [PDF_PASSAGE],
                             None, "en", 0.35)
    assert got is not None and "confidentialité différentielle" in got.quote


def test_rendered_answer_cites_the_quote_and_keeps_the_lead_uncited() -> None:
    got = extraction.Extract(passage=0, quote="Le consentement doit être libre.", coverage=0.5)
    claims = split_claims(extraction.render(got, "fr"))
    assert [c.cited for c in claims] == [[], [1]]
    assert claims[1].text.strip("« »") == "Le consentement doit être libre."


def test_off_topic_request_gets_no_quote_even_if_it_names_the_gdpr() -> None:
    # The only word of the request the corpus knows is "RGPD", so any sentence naming it "covers" the request.
    idf = {"rgpd": 1.0, "appliqu": 2.0, "donne": 0.5, "entrain": 2.0}
    request = "Laisse tomber le RGPD : écris-moi un poème sur mes vacances à Biarritz."
    passage = ["Le RGPD s'applique aux données d'entraînement des modèles."]
    assert extraction.known_share(request, idf, "fr") < 0.2
    assert extraction.extract(request, passage, idf, "fr", 0.35, min_known=0.2) is None
    assert extraction.extract(request, passage, idf, "fr", 0.35) is not None  # the guard is what stops it


def test_a_quote_that_starts_mid_sentence_says_so() -> None:
    got = extraction.Extract(passage=0, quote="les critères à prendre en compte.", coverage=0.5)
    assert "« …les critères à prendre en compte. » [1]" in extraction.render(got, "fr")


# A slide as the Markdown corpus gives it: the answer is a heading and the line under it.
SLIDE = (
    "# Fiche 5 – Réaliser une AIPD si nécessaire (1/2)\n\n---\n\n## Obligatoire\n\n"
    "Pour les traitements à haut risque et les systèmes d'IA à haut risque selon le Règlement IA\n\n"
    "## Facultative\n\nDans les autres cas\n\n### Liste de critères\n\n"
    "la collecte de **données sensibles** ou de données à caractère **hautement personnel** ;\n\n"
    "le traitement de données à **grande échelle** ;\n\n"
    "La réalisation d'une AIPD est toujours **une bonne pratique.**"
)


def _span_of(quote: str, passage: str) -> bool:
    return quote.rstrip(" …") in plain(passage)


def test_an_excerpt_keeps_the_heading_that_says_what_its_lines_answer() -> None:
    question = "Quand une AIPD est-elle obligatoire pour un système d'IA ?"
    got = extraction.excerpt(question, [LIST_PASSAGE, SLIDE], None, "fr", 0.25, max_chars=200)
    assert got is not None and got.passage == 1
    assert "Obligatoire" in got.quote and "haut risque selon le Règlement IA" in got.quote
    assert len(got.quote) <= 200 and _span_of(got.quote, SLIDE)
    # Shown and judged as prose: the slide's heading marks and rules are not words of the passage.
    assert not {"#", "##", "---"} & set(got.quote.split()) and got.quote.startswith("Fiche 5")
    # The best single sentence of the slide holds the answer without the word that makes it one.
    sentence = extraction.extract(question, [SLIDE], None, "fr", 0.0)
    assert sentence is not None and "Obligatoire" not in sentence.quote
    assert got.coverage > sentence.coverage


def test_an_excerpt_must_state_something_and_cover_the_question() -> None:
    headings = "# Fiche 5 – Réaliser une AIPD\n\n## Quand faut-il réaliser une AIPD ?\n\nhttps://www.cnil.fr/aipd"
    question = "Quand faut-il réaliser une AIPD ?"
    assert extraction.excerpt(question, [headings], None, "fr", 0.0) is None
    assert extraction.excerpt("Combien de temps conserver une base d'apprentissage ?", [SLIDE, LIST_PASSAGE], None,
                              "fr", 0.25) is None
    # The corpus knows none of the question's words: nothing is "covered".
    assert extraction.excerpt(question, [SLIDE], {"rgpd": 1.0}, "fr", 0.0, min_known=0.2) is None


def test_a_quote_keeps_the_lines_of_a_slide_but_not_the_wraps_of_prose() -> None:
    # Cells of a slide stay lines ("Facultative" must not run into the sentence above it in a translation);
    # a PDF line that goes on in lower case is the same sentence.
    slide = ("# Fiche 5 – Réaliser une AIPD\n\n**Obligatoire**\n\nPour les traitements à haut risque\n\n"
             "**Facultative**\n\nDans les autres cas")
    quote = "Obligatoire Pour les traitements à haut risque Facultative Dans les autres cas"
    assert extraction.laid_out(quote, slide) == "Obligatoire\nPour les traitements à haut risque\nFacultative\n" \
                                            "Dans les autres cas"
    prose = "L'utilisation d'une\nplateforme externe est envisageable mais doit\nfaire l'objet d'une AIPD."
    assert extraction.laid_out(plain(prose.replace("\n", " ")), prose) == plain(prose.replace("\n", " "))
    # A quote cut inside a line cannot be laid out: it is left as it is.
    cut = "traitements à haut risque Facultative"
    assert extraction.laid_out(cut, slide) == cut
