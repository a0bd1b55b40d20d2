"""What shape of answer a question asks for: one fact, a list of items, or what several sources say.

Read from the question's grammar, French or English, not from its topic. A list: a plural interrogative
("quelles qualités", "which measures", "what are the …") or a request to list ("citez", "list"); it gets every
item that a cited list holds (verification/completeness.py). What several sources say: a comparison ("compare",
"à la fois", "both"), two sources joined by "et"/"and" ("la CNIL et l'Inserm", "the webinar and the
contributions"), or "the documents"; each document is then asked on its own (answer/documents.py).
Measured on the labelled questions, calibration and test halves apart: bench/question_shape.py.
"""

from __future__ import annotations

import re
from typing import Literal

from gdpr_assistant.text.words import fold

Shape = Literal["fact", "list", "synthesis"]

# Folded text (accents off, lower case). A plural interrogative followed by its noun, or "lesquel(le)s".
_LIST = re.compile(
    r"\b(?:quels|quelles)\b|\blesquel(?:le)?s\b"
    r"|\b(?:citez|enumere[rz]|liste[rz]|dresse[rz] la liste|que doi(?:t|vent) (?:contenir|comporter|inclure))\b"
    r"|\bquels? (?:sont|etaient|seront)\b"
    r"|\b(?:what|which) (?:are|were|kinds?|types?|categories|elements|steps|criteria|measures|conditions|"
    r"qualities|risks|obligations|rights|principles|safeguards|recommendations|points|options|factors)\b"
    r"|\b(?:list|name|enumerate)\b(?! of the)"
    r"|\b(?:which|what)(?: [\w-]+){0,3}? (?!does |has |was |is )[a-z-]+s "
    r"(?:do|does|did|should|must|can|could|are|were|have|has)\b"
    r"|\bwhich(?: [\w-]+){0,2}? (?!does\b|has\b|was\b|is\b)[a-z-]+s\b"
    r"|\b(?:what|which|quel(?:le)?s?) (?:two|three|four|five|six|deux|trois|quatre|cinq|six)\b"
    r"|\bwhat must \w+ (?:disclose|include|contain|mention|do)\b")
# "Quelles différences entre…" and "Which is…" are not lists of items the passage enumerates.
_NOT_LIST = re.compile(r"\b(?:quel(?:le)?s? (?:est|etait)|which (?:is|one)|what is)\b")


# A question on what several sources say: a comparison, or two sources joined by "et"/"and" (the kinds of
# documents guidance comes in, and who issues it), or "the documents" as a whole.
_SOURCE = (r"(?:cnil|inserm|contribut\w*|participants?|respondents?|fiches?|webinai?re?|deck|note|documents?|"
           r"presentations?|recommandations|recommendations|guidance|avis|rapports?|report)")
_SYNTHESIS = re.compile(
    r"\b(?:compar(?:e[rz]?|es|ing)|croise[rz]?|combine[rz]? (?:the|les|la|le|l)|a la fois|tous deux|toutes deux|"
    r"both|l'un et l'autre|en commun|in common|versus|vs|square with)\b"
    rf"|\b{_SOURCE}\b(?:\W+\w+){{0,5}}?\W+(?:et|and)\W+(?:\w+\W+){{0,3}}?{_SOURCE}\b"
    rf"|\b(?:les|the|ces|these)(?: \w+){{0,2}} documents\b")


def question_shape(question: str) -> Shape:
    q = fold(question)
    if _SYNTHESIS.search(q):
        return "synthesis"
    if _LIST.search(q) and not _NOT_LIST.search(q.split(",")[0]):
        return "list"
    return "fact"
