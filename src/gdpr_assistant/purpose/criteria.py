"""CNIL Fiche 2 as data: its three cases, the criteria of each and the passages that state them.

Nothing here decides anything: :mod:`assessment` applies the rules to the facts, :mod:`statement` uses the
placeholders and the vocabulary, and the sentences of :data:`SOURCES` are located in the index to be quoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gdpr_assistant.text.words import tokenize

Case = Literal["operational", "general_purpose", "research"]
Status = Literal["covered", "missing", "insufficient"]


# -- what Fiche 2 says, as the text to find in the indexed passages -------------------------------------------
# Each needle is located in the index (exact span, whitespace and apostrophes aside); ``doc`` is only a
# preference, so a renamed or re-exported copy of the deck still serves.
@dataclass(frozen=True)
class _Source:
    needle: str
    doc: str
    section: str = ""  # a heading the passage preferably sits under (Fiche 1 repeats some of Fiche 2's words)


_DECK = "cnil-webinaire-recommandations-ia-rgpd-2024.md"
_FICHE2 = "Définir une finalité"
_SYNTHESIS = "cnil-synthese-contributions-bases-ia-2023.txt"
SOURCES: dict[str, _Source] = {
    "operational": _Source("L'usage opérationnel du système d'IA est précisément identifié dès la phase de "
                           "développement", _DECK, _FICHE2),
    "deployment": _Source("Si la finalité en phase de déploiement est déterminée, explicite et légitime, la finalité "
                          "en phase de développement est également considérée comme telle", _DECK, _FICHE2),
    "general_purpose": _Source("L'usage opérationnel du système d'IA n'est pas clairement défini dès la phase de "
                               "développement (systèmes d'IA à usage général)", _DECK, _FICHE2),
    "type": _Source("au « type » de système développé", _DECK, _FICHE2),
    "capabilities": _Source("aux fonctionnalités et capacités techniquement envisageables", _DECK, _FICHE2),
    "risky": _Source("les capacités prévisibles les plus à risque", _DECK, _FICHE2),
    "excluded": _Source("les fonctionnalités exclues par conception", _DECK, _FICHE2),
    "conditions": _Source("dans la mesure du possible, les conditions d'utilisation du système d'IA", _DECK, _FICHE2),
    "vague": _Source("Développement d'un modèle d'IA générative (les capacités envisageables ne sont pas définies)",
                     _DECK, _FICHE2),
    "research": _Source("Le système d'IA est développé à des fins de recherche scientifique", _DECK, _FICHE2),
    "less_precise": _Source("Il peut être admis que le degré de précision de la finalité soit plus faible ou que les "
                            "finalités de la recherche ne soient pas spécifiées dans leur intégralité", _DECK, _FICHE2),
    "field": _Source("dans le cas de la recherche, le domaine de recherche soit précisé (recherche démographique, "
                     "médicale, en audit algorithmique, etc.)", _SYNTHESIS),
    "publication": _Source("dans une démarche scientifique documentée ayant vocation à faire l'objet d'une "
                           "publication", _DECK, _FICHE2),
}

CASE_LABELS: dict[str, dict[str, str]] = {
    "fr": {"operational": "Usage opérationnel identifié dès la phase de développement",
           "general_purpose": "Système d'IA à usage général (usage opérationnel non clairement défini dès le "
                              "développement)",
           "research": "Système d'IA développé à des fins de recherche scientifique"},
    "en": {"operational": "Operational use identified during development",
           "general_purpose": "General-purpose AI system (operational use not clearly defined during development)",
           "research": "AI system developed for scientific research"},
}


# What the case means for the wording, as Fiche 2 puts it (shown under the case in the draft).
CASE_NOTES: dict[str, dict[str, str]] = {
    "fr": {"operational": "La finalité de développement suit celle du déploiement : si celle-ci est déterminée, "
                          "explicite et légitime, celle du développement l'est aussi.",
           "general_purpose": "La finalité doit se référer à la fois au type de système et à ses fonctionnalités et "
                              "capacités techniquement envisageables ; il est recommandé d'y ajouter les capacités "
                              "les plus à risque, les fonctionnalités exclues et les conditions d'utilisation.",
           "research": "Une finalité moins précise est admise au début des travaux ; le domaine de recherche doit "
                       "néanmoins être indiqué."},
    "en": {"operational": "The development purpose follows the deployment purpose: if that one is determined, "
                          "explicit and legitimate, so is the development purpose.",
           "general_purpose": "The purpose must refer both to the type of system and to its technically foreseeable "
                              "functionalities and capabilities; it should also name the riskiest capabilities, the "
                              "functionalities excluded by design and the conditions of use.",
           "research": "A less precise purpose is accepted at the start of the work; the research field should "
                       "still be stated."},
}


@dataclass(frozen=True)
class _Rule:
    id: str
    source: str
    required: bool
    label: dict[str, str]
    question: dict[str, str]


# The criteria of each case, in the order the checklist shows them.
RULES: dict[str, list[_Rule]] = {
    "operational": [
        _Rule("operational_use", "operational", True,
              {"fr": "Usage opérationnel identifié : qui utilisera le système et pour quoi faire",
               "en": "Operational use identified: who will use the system, and for what"},
              {"fr": "Quel est l'usage opérationnel du système : qui utilisera ses résultats, pour quelle décision "
                     "ou quel service ?",
               "en": "What is the system's operational use: who will use its outputs, for which decision or "
                     "service?"}),
        _Rule("determined", "deployment", True,
              {"fr": "Finalité de déploiement déterminée et explicite : ce que le système produit (prédiction, "
                     "classement, comparaison…)",
               "en": "Deployment purpose determined and explicit: what the system produces (prediction, "
                     "classification, comparison…)"},
              {"fr": "Que produit précisément le système (par exemple : « prédit le risque de … », « classe les "
                     "… ») et sur quelles personnes ou quels objets ?",
               "en": "What exactly does the system produce (e.g. “predicts the risk of …”, “classifies …”), and "
                     "about whom or what?"}),
        _Rule("legitimate", "deployment", True,
              {"fr": "Finalité légitime : cadre juridique de l'usage (base légale, mission d'intérêt public…)",
               "en": "Legitimate purpose: legal footing of the use (legal basis, public-interest task…)"},
              {"fr": "Sur quel fondement l'usage repose-t-il (mission d'intérêt public, intérêt légitime, "
                     "obligation légale, consentement…) ? La finalité de déploiement doit être légitime.",
               "en": "On what footing does the use rest (public-interest task, legitimate interest, legal "
                     "obligation, consent…)? The deployment purpose must be legitimate."}),
    ],
    "general_purpose": [
        _Rule("type", "type", True,
              {"fr": "Type de système développé", "en": "Type of system developed"},
              {"fr": "Quel type de système développez-vous (grand modèle de langage, modèle vision-langage, "
                     "classifieur d'images…) ?",
               "en": "What type of system are you developing (large language model, vision-language model, "
                     "image classifier…)?"}),
        _Rule("capabilities", "capabilities", True,
              {"fr": "Fonctionnalités et capacités techniquement envisageables",
               "en": "Technically foreseeable functionalities and capabilities"},
              {"fr": "Quelles fonctionnalités et capacités sont techniquement envisageables ? Exemple de la CNIL : "
                     "« Développement d'un grand modèle de langage (LLM) capable de répondre à des questions, "
                     "générer du texte […], effectuer des traductions, résumés et corrections de texte ».",
               "en": "Which functionalities and capabilities are technically foreseeable? The CNIL's example: "
                     "a large language model “able to answer questions, generate text […], translate, summarise "
                     "and correct text”."}),
        _Rule("not_vague", "vague", True,
              {"fr": "Pas de formule vague du type « modèle d'IA générative » (capacités définies)",
               "en": "No vague wording such as “a generative AI model” (capabilities defined)"},
              {"fr": "Remplacez la formule générale par la liste des capacités envisageables.",
               "en": "Replace the general wording with the list of foreseeable capabilities."}),
        _Rule("risky", "risky", False,
              {"fr": "Capacités prévisibles les plus à risque",
               "en": "Riskiest foreseeable capabilities"},
              {"fr": "Quelles capacités prévisibles sont les plus à risque (par exemple : produire des contenus "
                     "sur des personnes réelles, identifier des personnes) ?",
               "en": "Which foreseeable capabilities are the riskiest (e.g. producing content about real people, "
                     "identifying people)?"}),
        _Rule("excluded", "excluded", False,
              {"fr": "Fonctionnalités exclues par conception",
               "en": "Functionalities excluded by design"},
              {"fr": "Quelles fonctionnalités excluez-vous dès la conception ?",
               "en": "Which functionalities do you exclude by design?"}),
        _Rule("conditions", "conditions", False,
              {"fr": "Conditions d'utilisation, dans la mesure du possible",
               "en": "Conditions of use, where possible"},
              {"fr": "Dans quelles conditions le système pourra-t-il être utilisé (licence, conditions "
                     "d'utilisation, publics autorisés) ?",
               "en": "Under which conditions may the system be used (licence, terms of use, permitted users)?"}),
    ],
    "research": [
        _Rule("research", "research", True,
              {"fr": "Finalité de recherche scientifique affirmée",
               "en": "Scientific-research purpose stated"},
              {"fr": "Confirmez que le développement relève de la recherche scientifique (démarche documentée, "
                     "publication…).",
               "en": "Confirm that the development is scientific research (documented approach, "
                     "publication…)."}),
        _Rule("field", "field", True,
              {"fr": "Domaine de recherche précisé (médicale, démographique, audit algorithmique…)",
               "en": "Research field stated (medical, demographic, algorithmic audit…)"},
              {"fr": "Dans quel domaine de recherche le travail s'inscrit-il (par exemple : recherche médicale, "
                     "démographique, en audit algorithmique) ?",
               "en": "Which research field does the work belong to (e.g. medical, demographic, algorithmic "
                     "audit research)?"}),
        _Rule("object", "less_precise", False,
              {"fr": "Objet de la recherche et type de système (une précision plus faible est admise)",
               "en": "Object of the research and type of system (less precision is accepted)"},
              {"fr": "Quel système ou quelle méthode la recherche développe-t-elle, et pour démontrer quoi ?",
               "en": "Which system or method does the research develop, and to show what?"}),
        _Rule("publication", "publication", False,
              {"fr": "Démarche scientifique documentée, ayant vocation à être publiée",
               "en": "Documented scientific approach, intended for publication"},
              {"fr": "Les travaux seront-ils documentés et publiés (article, code, rapport) ?",
               "en": "Will the work be documented and published (paper, code, report)?"}),
    ],
}


# -- what a statement may say ---------------------------------------------------------------------------------
# How a required criterion that is not covered shows in the statement itself. Legitimacy is not a gap of the
# wording (it is asked as a question), nor is vagueness (the capabilities gap already says it).
GAPS: dict[str, dict[str, str]] = {
    "fr": {"operational_use": "usage opérationnel (qui utilise le système, pour quoi faire)",
           "determined": "ce que le système produit", "type": "type de système",
           "capabilities": "fonctionnalités et capacités techniquement envisageables",
           "field": "domaine de recherche"},
    "en": {"operational_use": "operational use (who uses the system, for what)",
           "determined": "what the system produces", "type": "type of system",
           "capabilities": "technically foreseeable functionalities and capabilities", "field": "research field"},
}


# Words a faithful statement may use without the user having typed them: the vocabulary of Fiche 2 and of
# the template, in both languages.
ALLOWED_WORDS: set[str] = set(tokenize(
    "développement développer développé conçu conception entraînement entraîné apprentissage système systèmes "
    "modèle modèles intelligence artificielle IA finalité traitement données usage usages général générale "
    "opérationnel capable capables capacité capacités fonctionnalité fonctionnalités technique techniquement "
    "envisageable envisageables prévisible prévisibles risque risques exclue exclues exclu conditions utilisation "
    "utilisé utilisée recherche scientifique domaine démarche documentée publication vocation objet visant vise "
    "destiné destinée destinés afin permettre permettant cadre phase déploiement objectif type notamment ainsi "
    "également preuve concept méthode outil service dont aide aider "
    "development developing developed designed training trained system systems model models artificial "
    "intelligence AI purpose processing data use uses general purpose operational able capable capability "
    "capabilities functionality functionalities technically foreseeable risk risks risky excluded conditions "
    "research scientific field documented approach publication intended aim aiming allow enable phase deployment "
    "objective type including also order support used using method tool service help helping proof concept"))
