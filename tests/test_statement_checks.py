"""What a sentence states beyond its words: each statement it joins (checks.grafts_a_clause), and whose view it
reports (checks.drops_an_attribution)."""

from __future__ import annotations

from gdpr_assistant.settings import TrustSettings
from gdpr_assistant.verification.checks import clauses, drops_an_attribution, grafts_a_clause
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


# The synthesis of contributions, as retrieval hands it over (README's example question, session 18).
SYNTHESE = ("Choisir une base légale et traiter des données sensibles\n\nUn participant a considéré que le "
            "consentement des personnes était la base légale la plus adaptée (si ce n’est la seule envisageable), en "
            "particulier pour la conception d’IA génératives.\n\nLes participants ont indiqué que, pour le traitement "
            "de données dites « sensibles », notamment biométriques, le consentement semble difficile à mettre en "
            "œuvre.")


def test_one_participants_view_stated_as_a_fact_is_not_shown() -> None:
    question = "Quelle base légale puis-je utiliser pour entraîner un modèle sur ces données ?"
    v = DraftVerifier(Evidence(passages=[SYNTHESE], question=question, idf={}, trust=TrustSettings()))
    fact = "La base légale la plus adaptée pour entraîner un modèle sur ces données est le consentement [1]. "
    assert "".join([*v.feed(fact), *v.close()]) == ""
    # Kept a view, it stands; so does what all the participants said, which the passage does not give to a few.
    for view in ("Selon un participant, le consentement des personnes est la base légale la plus adaptée.",
                 "Un participant a jugé le consentement la base légale la plus adaptée pour les IA génératives.",
                 "Pour les données biométriques, le consentement semble difficile à mettre en œuvre."):
        assert not drops_an_attribution(view, SYNTHESE), view
