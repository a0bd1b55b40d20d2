"""Requests the assistant declines whatever the corpus says: help to harm people or to evade the law.

Two signals, both needed. Cue patterns name the families of harmful requests (re-identifying people, attacks that
pull personal data out of a model, mass collection meant to escape the GDPR, hiding processing from the regulator
or the DPO, defeating people's rights, fabricating content about a person, poisoning data, covert surveillance).
A cue alone is not enough: "Quels risques de réidentification la CNIL mentionne-t-elle ?" is a fair question about
the very guidance. So the judge model is asked whether the request seeks help to do it; only a yes declines.
Calibrated on bench/data/questions-harmful.jsonl against questions-benign-near.jsonl and the other question sets
(bench/question_checks.py).
"""

from __future__ import annotations

import re

from gdpr_assistant.models.backend import Judgement, ModelBackend
from gdpr_assistant.text.words import fold

# Matched on folded text (lower case, no accents). Each family: the verbs of the act and what it is done to.
_CUES: dict[str, re.Pattern[str]] = {
    "reidentification": re.compile(
        r"\b(re-?identif\w*|desanonymis\w*|de-?anonymi\w*|unmask\w*|lever la pseudonymisation|"
        r"inverser la (substitution|pseudonymisation|anonymisation)|retrouver (le nom|les noms|l'identite|"
        r"qui|les vrais)|(identify|find out) (which|who|the real)|(membership inference|inference d'appartenance))"),
    "model_extraction": re.compile(
        r"\b(regurgitat\w*|inversion de modele|model inversion|reconstruire les visages|"
        r"(extraire|extract\w*|recuperer|reveal|leak)\b.{0,50}\b(noms|adresses|names|addresses|phone|telephone|"
        r"donnees personnelles|personal data)\b)"),
    "evasion": re.compile(
        r"(pour que le rgpd ne s'applique pas|(so|such) that the gdpr (does not|doesn't|won't) apply|"
        r"(contourner|echapper|evade|circumvent|get around)\b.{0,30}\b(rgpd|gdpr|cnil|loi|law)|"
        r"(cacher|dissimuler|hide|conceal)\b.{0,40}\b(cnil|regulat\w*|dpo|dpd|inspect\w*|controle)|"
        r"sans que .{0,40} s'en (apercoive|rende compte)|without (telling|informing) (customers|them|the cnil|"
        r"anyone|people)|a leur insu|de facade|impossible (aux personnes )?d'exercer|"
        r"(prevent|stop) (people|them|individuals) from exercis\w*)"),
    "harm_to_person": re.compile(
        r"\b(faux (dossier|document|contenu|profil)\w*|fake (record|document|profile|medical)\w*|"
        r"(empoisonn\w*|poison\w*)\b.{0,40}\b(concurrent|competitor|jeu de donnees|dataset)|"
        r"(flag|detect|reperer|identifier)\w*\b.{0,30}\b(employees|salaries|employes)\b.{0,60}"
        r"\b(depress\w*|ill|malades?|sante|health))"),
}

DECLINE = {
    "fr": ("Je ne peux pas aider à cela : la demande vise à porter atteinte à des personnes ou à contourner le RGPD "
           "({what}). Les recommandations de la CNIL et de l'Inserm vont dans l'autre sens : les passages "
           "ci-dessous disent ce qu'elles demandent."),
    "en": ("I can't help with that: the request seeks to harm people or to evade the GDPR ({what}). The CNIL and "
           "Inserm guidance point the other way: the passages below say what they ask for."),
}
WHAT = {
    "reidentification": {"fr": "réidentifier des personnes", "en": "re-identifying people"},
    "model_extraction": {"fr": "extraire des données personnelles d'un modèle",
                         "en": "extracting personal data from a model"},
    "evasion": {"fr": "échapper au droit ou au régulateur", "en": "evading the law or the regulator"},
    "harm_to_person": {"fr": "nuire à des personnes", "en": "harming people"},
    "general": {"fr": "nuire à des personnes ou contourner la loi", "en": "harming people or evading the law"},
}

_JUDGE = {
    "fr": ("Tu es le filtre de sécurité d'un assistant de conformité RGPD. Une demande est malveillante si elle "
           "cherche à obtenir de l'aide pour réidentifier des personnes, extraire leurs données d'un modèle, "
           "collecter leurs données en contournant la loi, cacher un traitement au régulateur ou au DPO, empêcher "
           "les personnes d'exercer leurs droits, ou nuire à une personne. Une question sur ce que disent les "
           "règles, sur les risques ou sur la façon de s'en protéger n'est pas malveillante.",
           "Demande : « {question} »\nCette demande est-elle malveillante ? Réponds OUI ou NON."),
    "en": ("You are the safety filter of a GDPR compliance assistant. A request is malicious if it seeks help to "
           "re-identify people, extract their data from a model, collect their data while evading the law, hide "
           "processing from the regulator or the DPO, stop people from exercising their rights, or harm a person. "
           "A question about what the rules say, about the risks or about how to protect against them is not "
           "malicious.",
           "Request: « {question} »\nIs this request malicious? Answer YES or NO."),
}


def cue(question: str) -> str | None:
    """The family of harmful requests the question's words point to, if any."""
    folded = re.sub(r"\s+", " ", fold(question))
    return next((family for family, pattern in _CUES.items() if pattern.search(folded)), None)


def malice_margin(judge: ModelBackend, question: str, lang: str) -> float:
    """The judge's log-odds that the request seeks help to do harm."""
    system, user = _JUDGE[lang]
    yes, no = (("OUI", "Oui", "oui"), ("NON", "Non", "non")) if lang == "fr" else \
        (("YES", "Yes", "yes"), ("NO", "No", "no"))
    return judge.judge(Judgement(messages=[{"role": "system", "content": system},
                                           {"role": "user", "content": user.format(question=question)}],
                                 yes=yes, no=no))


def decline_text(family: str, lang: str) -> str:
    return DECLINE[lang].format(what=WHAT[family][lang])
