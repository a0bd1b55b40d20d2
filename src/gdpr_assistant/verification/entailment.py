"""Does the passage state the claim? The judge model's yes/no log-odds, against the claim's closest window.

Word overlap cannot tell "X ne sera pas financé" from "X est financé", nor a participant's view from the CNIL's
position: every word of such a claim is in its passage. Judging one (claim, window) pair is within reach of the
small model where writing is not (bench/claims_bench.py measures it, kind by kind).
"""

from __future__ import annotations

from collections.abc import Mapping

from gdpr_assistant.drafting.prompt import trim_passage
from gdpr_assistant.models.backend import Judgement, Message, ModelBackend
from gdpr_assistant.text.markup import plain

_YES = ("OUI", "Oui", "oui", "YES", "Yes", "yes")
_NO = ("NON", "Non", "non", "NO", "No", "no")

_PROMPTS: dict[str, tuple[str, str]] = {
    "v1": ("Tu vérifies qu'une affirmation est fidèle à un passage de document.",
           "Passage : « {window} »\n\nAffirmation : « {claim} »\n\nLe passage affirme-t-il exactement cela, sans "
           "contradiction ni ajout (même acteur, mêmes chiffres, même négation, même degré d'obligation, aucune "
           "cause ni conséquence inventée) ? Réponds OUI ou NON."),
    "v2": ("Tu es un vérificateur strict. Une affirmation n'est fidèle que si le passage la dit, avec le même "
           "sens. Elle est infidèle si elle inverse une négation, change qui dit ou fait quoi, change un chiffre, "
           "une unité ou une date, change « doit » en « peut » ou « certains » en « tous », ajoute une cause, un "
           "but ou une conséquence, ou parle d'autre chose que le passage. L'affirmation peut être en anglais : "
           "juge son sens.",
           "Passage : « {window} »\n\nAffirmation : « {claim} »\n\nL'affirmation est-elle fidèle au passage ? "
           "Réponds OUI ou NON."),
}


# Appended to the answer prompt (the numbered excerpts and the question already read): the judgement costs only
# these words. Said as a separate check so that the model does not read it as part of the question.
_IN_PROMPT = {
    "fr": "\n\n---\nVérification, sans répondre à la question : l'extrait [{n}] dit-il exactement ceci, sans le "
          "contredire ni rien ajouter (même acteur, mêmes chiffres, même négation, même obligation) ? « {claim} » "
          "Réponds OUI ou NON.",
    "en": "\n\n---\nCheck, without answering the question: does excerpt [{n}] say exactly this, without "
          "contradicting it or adding anything (same actor, same figures, same negation, same obligation)? "
          "“{claim}” Answer YES or NO.",
}


def in_prompt(messages: list[Message], n: int, claim: str, lang: str) -> Judgement:
    """The entailment question appended to the answer prompt ``messages``, about excerpt number ``n``."""
    *head, user = messages
    return Judgement(messages=[*head, {"role": user["role"],
                                       "content": user["content"] + _IN_PROMPT[lang].format(n=n, claim=claim)}],
                     yes=_YES, no=_NO, extends_answer=True)


def claim_window(claim: str, passage: str, idf: Mapping[str, float] | None, max_chars: int) -> str:
    """The run of the passage's lines (at most ``max_chars``) that holds most of the claim's rare words, without
    Markdown marks: what the judge reads (a whole passage costs more time and dilutes the point)."""
    return plain(trim_passage(passage, claim, max_chars, idf))


def entailment(claim: str, window: str, variant: str = "v1") -> Judgement:
    system, user = _PROMPTS[variant]
    return Judgement(messages=[{"role": "system", "content": system},
                               {"role": "user", "content": user.format(window=window, claim=claim)}],
                     yes=_YES, no=_NO)


def entailment_margin(judge: ModelBackend, claim: str, window: str, lang: str, variant: str = "v1") -> float:
    """The judge's log-odds that ``window`` states ``claim`` (``lang``, the claim's language, is not needed by
    the prompts tried so far: they judge meaning across languages)."""
    return judge.judge(entailment(claim, window, variant))
