"""A sentence that joins two statements is checked statement by statement (verification/checks.grafts_a_clause)."""

from __future__ import annotations

from gdpr_assistant.settings import TrustSettings
from gdpr_assistant.verification.checks import clauses, grafts_a_clause
from gdpr_assistant.verification.verifier import DraftVerifier, Evidence

# The Inserm note's passage a follow-up's draft cited (seen in the e2e suite, session 18).
INSERM = ("Vérification: les utilisateurs doivent vérifier la qualité des\n\nrésultats produits par les approches "
          "d’IA ainsi que d’identifier les\n\nbiais dans les données d’apprentissage. La présence de biais doit\n\n"
          "être documentée et clairement explicitée.\n\nDans tous les cas, avant d’utiliser des données pour entraîner "
          "un modèle\n\nd’IA, l’utilisateur doit s’assurer que cette utilisation respecte la\n\nréglementation en "
          "vigueur.")
QUERY = "Le consentement peut-il servir de base légale pour entraîner un modèle d'IA ? Et quelles qualités doit-il " \
        "réunir ?"


def shown(draft: str, question: str = QUERY) -> str:
    trust = TrustSettings()
    v = DraftVerifier(Evidence(passages=[INSERM], question=question, idf={}, trust=trust))
    return "".join([*v.feed(draft), *v.close()])


def test_a_statement_grafted_onto_a_faithful_one_is_not_shown() -> None:
    grafted = ("L'intérêt légitime peut servir de base légale pour entraîner un modèle d'IA, mais il est important de "
               "vérifier la qualité des résultats produits par les approches d'IA ainsi que d'identifier les biais "
               "dans les données d'apprentissage [1].")
    assert shown(grafted) == ""
    # Its faithful half alone stands: the check is on the grafted statement, not on the join.
    faithful = ("Il faut vérifier la qualité des résultats produits par les approches d'IA, mais aussi identifier "
                "les biais dans les données d'apprentissage [1].")
    assert shown(faithful).startswith("Il faut vérifier")
    # A subordinate clause that opens the sentence is a statement too.
    assert grafts_a_clause("Puisque la CNIL impose un audit annuel, la présence de biais doit être documentée.",
                           INSERM, "", None, 0.3, 2)


def test_a_short_clause_leans_on_the_rest_and_items_stay_one_statement() -> None:
    assert clauses("Le consentement doit être libre, spécifique, éclairé et univoque.") == [
        "Le consentement doit être libre, spécifique, éclairé et univoque."]
    assert clauses("Puisque X est vrai, Y suit") == ["X est vrai", "Y suit"]
    assert clauses("A est requis ; B aussi, car C") == ["A est requis", "B aussi", "C"]
    # "…, ce qui est clair" has one word of its own: not judged alone.
    assert not grafts_a_clause("La présence de biais doit être documentée, ce qui est clair.", INSERM, "", None,
                               0.3, 2)
    # "donc" inside a clause joins nothing.
    assert clauses("La CNIL a donc demandé une AIPD.") == ["La CNIL a donc demandé une AIPD."]
