"""What a question takes for granted, and whether the documents state it.

"Pourquoi la CNIL interdit-elle l'intérêt légitime ?" presupposes that the CNIL forbids it; answering "because…"
repeats the premise as a fact. Questions of the forms that carry a premise ("pourquoi/why", "puisque/since/given
that", "comment … justifie", "étant donné que") have it read off and judged against the retrieved passages, like a
claim. When no passage states it, the answer says so before anything else, and the model is told (the draft that
follows is verified as always: a sentence repeating the premise does not pass).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gdpr_assistant.models.backend import ModelBackend
from gdpr_assistant.text.words import fold
from gdpr_assistant.verification.entailment import entailment_margin

# Folded question (lower case, no accents) -> the clause that carries the premise.
_FORMS = (
    re.compile(r"^(?:d'apres [^,]{0,120}, )?(?:pourquoi|why)\s+(?P<p>.+)$"),
    re.compile(r"^(?:puisque|since|given that|etant donne que|vu que|comme)\s+(?P<p>(?:[^,?]|,(?=\d))+),"),
    re.compile(r"^(?:comment|how)\s+(?:la |the )?.{0,40}?\b(?:justifie\S*|justif(?:y|ies))\s+(?P<p>.+)$"),
    re.compile(r"\b(?:puisque|since|given that|etant donne que)\s+(?P<p>(?:[^,?]|,(?=\d))+)"),
)
# French subject-verb inversion ("la CNIL rend-elle", "a-t-elle refusé"): the premise reads without it.
_INVERSION = re.compile(r"(?<=\w)-(?:t-)?(?:elle|il|ils|elles|on)\b")
# English auxiliaries after "why": the premise reads without them ("why did the CNIL reject…" -> "the CNIL reject…").
_AUX = re.compile(r"^(?:do|does|did|is|are|was|were|has|have|had|would|should|could|can|will)\s+")


@dataclass(frozen=True)
class Premise:
    text: str  # the presupposed statement, in the question's own words (accents kept)


def premise_of(question: str) -> Premise | None:
    """The premise of a question of a premise-carrying form, or None. Read on the folded text; the span is cut
    from the original so that accents and case stay as the user typed them."""
    original = " ".join(question.split()).rstrip(" ?")
    folded = fold(original)
    if len(folded) != len(original):  # folding changed lengths (rare ligatures): positions would not match
        return None
    for form in _FORMS:
        m = form.search(folded)
        if m:
            start, end = m.span("p")
            text = original[start:end].strip(" ,")
            aux = _AUX.match(fold(text))
            if aux:
                text = text[aux.end():]
            text = _INVERSION.sub("", text)
            if len(text.split()) >= 3:
                return Premise(text)
    return None


NOTICE = {
    "fr": "La question suppose que « {premise} » : les documents ne le disent pas.",
    "en": "The question assumes that “{premise}”: the documents do not say so.",
}
PROMPT_NOTE = {
    "fr": "Attention : la question suppose que « {premise} », ce que les extraits ne disent pas. Ne reprends pas "
          "cette supposition ; dis ce que disent les extraits.",
    "en": "Note: the question assumes that “{premise}”, which the excerpts do not say. Do not repeat this "
          "assumption; say what the excerpts say.",
}


def unsupported(premise: Premise, windows: Sequence[str], judge: ModelBackend, lang: str, minimum: float) -> bool:
    """Whether no window states the premise (the judge's log-odds below ``minimum`` for each): a claim test."""
    return all(entailment_margin(judge, premise.text, w, lang) < minimum for w in windows)
