"""Citation checking and refusal logic on fixed inputs (pure logic: no model, no index)."""

from __future__ import annotations

from gdpr_assistant import citations
from gdpr_assistant.citations import split_claims, support, verify
from gdpr_assistant.generation import NOT_COVERED

PASSAGES = [
    "La CNIL a reçu les réponses de 9 participants à l'appel à contribution, dont 5 entreprises privées.",
    "Le consentement doit être libre, spécifique, éclairé et univoque.",
    "La durée de conservation des données d'entraînement doit être définie pour la conception et la maintenance.",
]


def test_correct_citation_is_kept() -> None:
    v = verify("Le consentement doit être libre, spécifique et éclairé [2].", PASSAGES, threshold=0.5)
    assert v.answer == "Le consentement doit être libre, spécifique et éclairé [1]."
    assert v.sources == [1]  # passage 2 (0-based 1) is now source [1]
    assert "libre, spécifique, éclairé" in v.quotes[0]


def test_wrong_citation_is_reattributed_to_the_supporting_passage() -> None:
    v = verify("La CNIL a reçu les réponses de 9 participants [3].", PASSAGES, threshold=0.5)
    claim = v.claims[0]
    assert claim.kept and claim.sources == [0] and claim.reason == "re-attributed"
    assert v.answer.endswith("[1].") and v.sources == [0]


def test_sentence_with_a_number_absent_from_every_passage_is_dropped() -> None:
    v = verify("Il faut notifier la CNIL dans les 72 heures [1]. Le consentement doit être libre [2].", PASSAGES,
               threshold=0.5)
    assert [c.kept for c in v.claims] == [False, True]
    assert "72" not in v.answer
    assert v.claims[0].reason == "no passage supports it"


def test_numbers_must_match_exactly() -> None:
    assert support("La CNIL a reçu 12 réponses", PASSAGES[0], None, 0.8, 0.9) == 0.0
    assert support("La CNIL a reçu 9 réponses de participants", PASSAGES[0], None, 0.8, 0.9) >= 0.5


def test_citation_numbers_never_point_outside_the_sources() -> None:
    v = verify("Le consentement doit être libre et éclairé [7]. La conservation est définie pour la maintenance "
               "[2][9].", PASSAGES, threshold=0.5)
    cited = [n for c in split_claims(v.answer) for n in c.cited]
    assert cited and all(1 <= n <= len(v.sources) for n in cited)


def test_sources_are_numbered_in_order_of_first_citation() -> None:
    v = verify("La durée de conservation est définie pour la conception [3]. Le consentement doit être libre "
               "[2]. La conservation vaut aussi pour la maintenance [3].", PASSAGES, threshold=0.5)
    assert v.sources == [2, 1]
    assert [c.cited for c in split_claims(v.answer)] == [[1], [2], [1]]


def test_unsupported_draft_keeps_nothing_and_connectives_do_not_survive_alone() -> None:
    v = verify("Oui. Les amendes peuvent atteindre 4 % du chiffre d'affaires mondial [1].", PASSAGES, threshold=0.5)
    assert v.answer == "" and not v.supported


def test_english_claim_over_french_passage_uses_dense_similarity_with_an_anchor() -> None:
    def dense(sentence: str, i: int) -> float:  # deterministic stand-in for the embedding model
        return 0.9 if i == 1 else 0.7

    langs = dict(answer_lang="en", passage_langs=["fr"] * len(PASSAGES))
    claim = "Consent must be free, specific and informed [1]."
    v = verify(claim, PASSAGES, threshold=0.5, dense=dense, dense_floor=0.8, dense_ceiling=0.88, **langs)
    assert v.claims[0].kept and v.claims[0].sources == [1]  # "consent" is "consentement" in passage 2
    without = verify(claim, PASSAGES, threshold=0.5)
    assert not without.claims[0].kept
    # Dense similarity is no evidence on its own: nothing of this sentence is in the passage.
    poem = verify("The sun shines on the quiet sea [2].", PASSAGES, threshold=0.5, dense=dense, dense_floor=0.8,
                  dense_ceiling=0.88, **langs)
    assert not poem.claims[0].kept
    # Nor for a claim in the passage's own language: its words must be there.
    french = verify("Le soleil brille sur la mer calme [2].", PASSAGES, threshold=0.5, dense=dense,
                    dense_floor=0.8, dense_ceiling=0.88, answer_lang="fr", passage_langs=["fr"] * 3)
    assert not french.claims[0].kept


def test_echoing_the_question_is_no_support() -> None:
    # Retrieval picked the passage for the question's words; the claim's own addition is what must be there.
    question = "Pourquoi la CNIL a-t-elle reçu les réponses de 9 participants ?"
    v = verify("La CNIL a reçu les réponses de 9 participants pour des raisons de sécurité [1].", PASSAGES,
               threshold=0.5, question=question)
    assert not v.claims[0].kept
    v = verify("La CNIL a reçu les réponses de 9 participants, dont 5 entreprises privées [1].", PASSAGES,
               threshold=0.5, question=question)
    assert v.claims[0].kept and v.sources == [0]


def test_question_coverage_of_cited_passages() -> None:
    question = "Quelles qualités le consentement doit-il réunir ?"
    assert citations.question_coverage(question, [PASSAGES[1]]) > citations.question_coverage(question,
                                                                                                [PASSAGES[2]])
    assert citations.question_coverage(question, []) == 0.0


def test_split_claims_reads_grouped_and_repeated_markers() -> None:
    claims = split_claims("Première phrase [1, 2]. Deuxième phrase [3][1].")
    assert [c.cited for c in claims] == [[1, 2], [3, 1]]
    assert claims[0].text == "Première phrase."


def test_refusal_reasons() -> None:
    assert citations.refusal_reason(NOT_COVERED, supported=0) == "the model found no answer in the passages"
    assert citations.refusal_reason("Une phrase inventée [1].", supported=0) == \
        "no sentence of the draft was supported by a passage"
    assert citations.refusal_reason("Le consentement doit être libre [1].", supported=1) is None


def test_restating_the_question_is_not_an_answer() -> None:
    question = "Quelles qualités le consentement doit-il réunir ?"
    v = verify("Le consentement doit réunir des qualités [2].", PASSAGES, threshold=0.5, question=question)
    assert not v.supported or not v.sources
    assert citations.refusal_reason("Le consentement doit réunir des qualités [2].", supported=len(v.sources))


def test_rare_words_weigh_more_than_common_ones() -> None:
    idf = {"cnil": 0.1, "don": 0.1, "particip": 0.1, "delegu": 5.0, "design": 5.0, "obligatoir": 3.0}
    claim = "La CNIL rend obligatoire la désignation d'un délégué pour les participants"
    plain = citations.lexical_support(claim, PASSAGES[0])
    weighted = citations.lexical_support(claim, PASSAGES[0], idf)
    assert weighted < 0.2 < plain
    assert verify(claim + " [1].", PASSAGES, threshold=0.3, idf=idf).answer == ""


def test_a_list_introduced_by_a_colon_is_one_claim() -> None:
    v = verify("Le consentement doit être :\n- libre\n- spécifique\n- éclairé [2].", PASSAGES, threshold=0.5)
    assert len(v.claims) == 1 and v.sources == [1]


def test_restating_the_question_with_its_own_figures_is_not_shown() -> None:
    question = "Quelle taille avait le service créé par la CNIL en 2023 ?"
    v = verify("Quelle taille avait le service créé par la CNIL en 2023 [1]. La CNIL a reçu les réponses de 9 "
               "participants [1].", PASSAGES, threshold=0.5, question=question)
    assert v.claims[0].reason == "restates the question"
    assert "2023" not in v.answer and v.answer.endswith("[1].")


def test_sentences_about_the_excerpts_are_a_refusal_not_a_claim() -> None:
    # What a small model writes when it is kept from its refusal token: wording of the passage around
    # a statement about the excerpts. Lexically "supported", yet it answers nothing.
    draft = ("Non_COUVERT Le consentement doit être libre [2]. L'extrait ne traite pas de la durée de conservation "
             "des données d'entraînement [3].")
    v = verify(draft, PASSAGES, threshold=0.5)
    assert v.answer == ""
    assert {c.reason for c in v.claims} == {"talks about the excerpts, not the subject"}
    assert citations.refusal_reason(draft, supported=len(v.sources)) is not None
    # Words that merely contain the pattern are content.
    assert not citations.is_meta("Les données couvertes par la découverte sanitaire")


def test_a_bare_figure_needs_the_question_context_in_the_passage() -> None:
    passages = ["Fiche 4 : conservation.\nLe groupe d'experts de haut niveau comptait 52 experts.",
                "Étape 4 du calendrier du projet."]
    question = "Combien d'experts composaient le groupe de haut niveau ?"
    kept = verify("52 experts [1].", passages, threshold=0.5, question=question)
    assert kept.claims[0].kept and kept.sources == [0]
    # "4" is in both passages, but never next to what was asked: a list marker proves nothing.
    assert verify("4 [2].", passages, threshold=0.5, question=question).answer == ""


def test_a_figure_keeps_its_unit_and_the_case_that_sets_its_magnitude() -> None:
    # A PDF table as the Inserm note gives it: units in the header, figures lines below.
    table = ("Modèle ChatGPT 5\nClaude\n\nGoogle\n\nGemini 2.5\n\nConsommation électrique\n(mWh)\n\n"
             "434 455 426 144\n\nEffet sur le réchauffement climatique\n(mgCO2eq)\n\n181 184 169 8.13")
    question = "Combien d'énergie électrique Gemini 2.5 consomme-t-il ?"
    assert verify("426 mWh [1].", [table], threshold=0.5, question=question).sources == [0]
    assert verify("Gemini 2.5 émet 169 mgCO2eq [1].", [table], threshold=0.5, question=question).sources == [0]
    for wrong in ("426 kWh [1].", "426 MWh [1].", "Gemini 2.5 émet 169 gCO2eq [1]."):
        assert verify(wrong, [table], threshold=0.5, question=question).answer == "", wrong
    # Words after a figure are not units: "3 ans", "l'ensemble".
    assert citations.units("3 ans, 2 l'ensemble, 1 ou 2, 50 %, 5 Go") == {"%", "Go"}


def test_answer_label_is_not_part_of_the_claim() -> None:
    v = verify("Réponse : Le consentement doit être libre [2].", PASSAGES, threshold=0.5)
    assert v.answer == "Le consentement doit être libre [1]."
    assert verify("Question : Quelles qualités le consentement doit-il réunir [2] ?", PASSAGES,
                  threshold=0.5).answer == ""


def test_refusal_literal_after_sentences_does_not_void_them() -> None:
    draft = "La CNIL a reçu les réponses de 9 participants [1]. NON_COUVERT [2]."
    v = verify(draft, PASSAGES, threshold=0.5)
    assert v.answer == "La CNIL a reçu les réponses de 9 participants [1]."
    assert citations.refusal_reason(draft, supported=len(v.sources)) is None


def test_a_claim_that_drops_the_passage_negation_is_unsupported() -> None:
    slide = ("## Le consentement\n- Libre\n- Peut-être adapté lorsque les données sont collectées directement auprès "
             "des personnes\n- Souvent impossible en pratique (par ex. quand les données sont collectées en ligne)")
    question = "Quelle base légale pour entraîner un modèle sur des données collectées en ligne ?"
    v = verify("La base légale pour des données collectées en ligne est le consentement [1].", [slide],
               threshold=0.5, question=question)
    assert v.answer == ""
    kept = verify("Le consentement est souvent impossible quand les données sont collectées en ligne [1].", [slide],
                  threshold=0.5, question=question)
    assert kept.claims[0].kept
    # A restriction in another clause of the line says nothing about this one.
    option = ("- Option 1 : un réseau de neurones détectant les personnes (sans analyse de la posture) : le nombre "
              "de personnes debout est déduit grâce au nombre de places assises ;")
    assert not citations.drops_a_negation("Le nombre de personnes debout est déduit grâce au nombre de places "
                                          "assises.", option)


def test_the_quote_of_a_list_answer_is_the_list_not_its_heading() -> None:
    passage = ("## Le consentement\nLe consentement doit être :\n- libre ;\n- spécifique ;\n- éclairé ;\n"
               "- univoque.\nIl peut être retiré.")
    quote = citations.best_quote(["Le consentement doit être libre, spécifique, éclairé et univoque [1]."], passage)
    assert quote == "Le consentement doit être : - libre ; - spécifique ; - éclairé ; - univoque."
    # One item answered: its line alone, not the run around it.
    assert citations.best_quote(["Il peut être retiré [1]."], passage) == "Il peut être retiré."


def test_a_claim_that_takes_the_questions_premise_for_a_fact_is_unsupported() -> None:
    themes = ("• les approches visant à prendre en compte la protection des données par défaut et dès la conception ;\n"
              "• les critères à prendre en compte si l’intérêt légitime est la base légale du traitement.")
    question = "Pourquoi la CNIL interdit-elle tout usage de l'intérêt légitime pour l'IA ?"
    premise = ("La CNIL interdit tout usage de l'intérêt légitime pour l'IA car il ne respecte pas la protection des "
               "données par défaut et dès la conception [1].")
    assert verify(premise, [themes], threshold=0.5, question=question).answer == ""
    # The same restriction stated by the passage stands, though PDF line breaks put it two lines away from the
    # words the claim draws on.
    rule = ("En revanche, ces plateformes ne doivent jamais être utilisées pour générer du code\n"
            "destiné aux applications les plus sensibles notamment celles liées à la\n"
            "gestion des droits d’accès, à la cryptographie ou au traitement de données\nsensibles.")
    kept = verify("L'Inserm interdit de faire générer le code des applications liées à la gestion des droits "
                  "d'accès ou à la cryptographie [1].", [rule], threshold=0.5,
                  question="Pour quels développements l'Inserm interdit-il de faire écrire le code par une IA ?")
    assert kept.claims[0].kept


def test_a_question_in_the_answer_is_not_a_claim() -> None:
    # Small models copy a slide's headings, questions included: "Licéité du traitement ?" asserts nothing,
    # though every word of it is in the passage.
    slide = "## Collecte de datasets en ligne\nQualification juridique ?\nLicéité du traitement ?\nMinimisation ?"
    v = verify("Collecte de datasets en ligne [1]? Licéité du traitement [1]?", [slide], threshold=0.5)
    assert v.answer == "" and {c.reason for c in v.claims} == {"a question, not a statement"}


def test_a_numbered_list_of_the_passage_items_is_a_claim_it_supports() -> None:
    # The item numbers are not figures the passage must hold, and "la question de la finalité" is a subject,
    # not talk about the question asked.
    passage = ("Les thèmes de l'appel à contributions :\n• la question de la finalité (objectif) ;\n"
               "• les méthodes de sélection, de nettoyage et de minimisation des données.")
    v = verify("1. La question de la finalité (objectif)\n2. Les méthodes de sélection et de nettoyage des données [1]",
               [passage], threshold=0.5, question="Sur quels thèmes la CNIL a-t-elle sollicité les acteurs ?")
    assert v.claims[0].kept and v.sources == [0]
    assert citations.numbers("1. Les méthodes\n2) Les 9 participants en 2023") == {"9", "2023"}
    assert citations.is_meta("La question ne porte pas sur ce point.")


def test_a_question_about_an_amount_or_a_count_wants_a_figure() -> None:
    asks = citations.asks_for_a_quantity
    assert asks("Jusqu'à quel montant la CNIL peut-elle sanctionner une entreprise ?")
    assert asks("Combien d'experts composaient le groupe ?") and asks("How many hours do we have?")
    # Durations can be answered in words ("la durée du projet"); other questions are not about quantities.
    assert not asks("Combien de temps puis-je garder ma base ?") and not asks("How long may I keep it?")
    assert not asks("Quelle base légale pour entraîner un modèle ?")
    states = citations.states_a_quantity
    assert states("La CNIL a reçu 9 réponses [1].") and states("Trois experts le composaient [2].")
    assert states("Cinq cents organisations l'ont testée.") and states("Fifty-two experts [1].")
    # Neither a citation mark, nor a list number, nor an article is a figure.
    assert not states("1. La CNIL peut sanctionner une entreprise si elle viole le principe de minimisation [1].")
    assert not states("Une entreprise peut être sanctionnée [3].") and not states("One respondent said so [1].")
    assert citations.without_enumerator("2. La CNIL peut sanctionner") == "La CNIL peut sanctionner"
