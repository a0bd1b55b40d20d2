"""The yes/no questions put to the judge model, in the answer's language.

Judging one text is a much easier task for a small model than writing an answer: the fallback asks whether a
quote answers the question (one token, its log-odds of yes over no), under a system message of its own (under
the answer instructions the 1.5B model says "yes" to unanswerable questions: docs/answer-eval.md).
"""

from __future__ import annotations

from gdpr_assistant.models.backend import Judgement, ModelBackend

_ANSWERS = {
    "fr": ("Tu vérifies si un passage répond à une question.",
           "Question : {question}\nPassage : « {quote} »\nCe passage répond-il à la question posée ? "
           "Réponds OUI ou NON.", ("OUI", "Oui", "oui"), ("NON", "Non", "non")),
    "en": ("You check whether a passage answers a question.",
           "Question: {question}\nPassage: « {quote} »\nDoes this passage answer the question asked? "
           "Answer YES or NO.", ("YES", "Yes", "yes"), ("NO", "No", "no")),
}


def answers_question(question: str, quote: str, lang: str) -> Judgement:
    system, user, yes, no = _ANSWERS[lang]
    return Judgement(messages=[{"role": "system", "content": system},
                               {"role": "user", "content": user.format(question=question, quote=quote)}],
                     yes=yes, no=no)


def judge_quote(judge: ModelBackend, question: str, quote: str, lang: str) -> float:
    """The judge's log-odds that ``quote`` answers ``question``."""
    return judge.judge(answers_question(question, quote, lang))
