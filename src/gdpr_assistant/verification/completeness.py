"""Completeness, checked by the program as support is: a list question whose answer draws on a list of a cited
passage (text/lists.py) gets the items the answer left out, quoted word for word from that passage and cited.

The small model writes a few sentences and stops after two or three items of a five-item list; selecting the
rest is the program's job.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gdpr_assistant.text.lists import Enumeration, enumerations
from gdpr_assistant.text.markup import plain
from gdpr_assistant.text.sentences import sentences
from gdpr_assistant.text.words import tokenize
from gdpr_assistant.verification.claims import lexical_support
from gdpr_assistant.verification.verifier import DraftVerifier

# (text, text) -> cosine similarity by meaning, for an answer in another language than its passage.
Similar = Callable[[str, str], float]


def covered(item: str, answer: str, idf: Mapping[str, float] | None, similar: Similar | None = None,
            min_share: float = 0.5, min_similarity: float = 0.86) -> bool:
    """Whether the answer already gives the item: half of its (rarity-weighted) words, or, across languages,
    a sentence of the answer as close to it by meaning as a faithful translation (``min_similarity``)."""
    if not tokenize(item) or lexical_support(item, answer, idf) >= min_share:
        return True
    if similar is None:
        return False
    return any(similar(item, s) >= min_similarity for s in re.split(r"(?<=[.;])\s+|\n+", answer) if s.strip())


@dataclass(frozen=True)
class Missing:
    passage: int  # 0-based index of the cited passage
    enumeration: Enumeration
    items: tuple[str, ...]  # the items the answer leaves out, in the passage's order


def missing_items(claims: Mapping[int, Sequence[str]], passages: Sequence[str], idf: Mapping[str, float] | None,
                  is_list_question: bool, similar: Callable[[int], Similar | None] = lambda i: None,
                  min_similarity: float = 0.86) -> list[Missing]:
    """Per enumeration of a cited passage that the answer draws on, the items it leaves out. ``claims``: the
    shown claims resting on each passage (0-based). Drawn on: the claims give at least one item and the question
    asks for a list, or they give two (the answer itself lists). A list written as a sentence is drawn on only
    by a list question, and only if it is the sentence closest to one of the claims: its parts are long, and
    words of them turn up in any answer on the same subject."""
    out: list[Missing] = []
    seen: set[str] = set()
    for i, said in claims.items():
        answer = " ".join(said)
        closest = {_closest(c, passages[i], idf) for c in said}
        found = enumerations(passages[i])
        given = {e: [covered(t, answer, idf, similar(i), min_similarity=min_similarity) for t in e.items]
                 for e in found}
        for enum in found:
            if enum.sentence and not (is_list_question and enum.sentence in closest):
                continue
            # An item that holds a list of its own ("Accompagnement de 3 entreprises : Hugging Face, Lifen,
            # Contentsquare"), given whole: the answer lists that inner list, not its neighbours.
            if any(e.intro and e.intro.rstrip(" :") in item and all(given[e]) for item in enum.items for e in found
                   if e is not enum):
                continue
            need = 1 if is_list_question else 2
            # An item already quoted inside a longer one (an inner list's "Lifen" within the outer list's
            # "Accompagnement de 3 entreprises : Hugging Face, Lifen, Contentsquare") is not quoted again.
            left = tuple(t for t, ok in zip(enum.items, given[enum], strict=True)
                         if not ok and not any(t in s for s in seen))
            if sum(given[enum]) >= need and left:
                seen.update(left)
                out.append(Missing(i, enum, left))
    return out


def _closest(claim: str, passage: str, idf: Mapping[str, float] | None) -> str:
    units = sentences(passage)
    return plain(max(units, key=lambda u: lexical_support(claim, u, idf))) if units else ""


# The lead carries no citation and ends the sentence before the list: each quoted item is its own cited claim.
_LEAD = {"fr": "La même liste comprend aussi :", "en": "The same list also includes (quoted as written):"}
_WHOLE = {"fr": "Le passage cité donne la liste entière :", "en": "The cited passage gives the whole list (quoted as "
          "written):"}
_MORE = {"fr": "Et {k} autres éléments : voir l'extrait", "en": "And {k} more items: see excerpt"}


def render(missing: Missing, number: int, lang: str, max_items: int) -> str:
    """The items as a bulleted list of quotes, each cited; past ``max_items``, how many more the passage holds."""
    if missing.enumeration.sentence:
        return f"{_WHOLE[lang]}\n\n- « {missing.enumeration.sentence} » [{number}]"
    shown = missing.items[:max_items]
    lines = [f"- « {t} » [{number}]" for t in shown]
    if len(missing.items) > len(shown):
        lines.append(f"- {_MORE[lang].format(k=len(missing.items) - len(shown))} [{number}].")
    return _LEAD[lang] + "\n\n" + "\n".join(lines)


def complete(draft: DraftVerifier, is_list_question: bool, lang: str, max_items: int,
             similar: Similar | None = None, min_similarity: float = 0.86) -> str:
    """The block that completes a verified draft ("" when nothing is left out), added to the draft: its text,
    and the quoted spans of the passages it cites. ``similar`` compares across languages."""
    ev = draft.evidence
    if max_items <= 0:
        return ""
    found = missing_items({i: draft.quotes[i] for i in draft.shown}, ev.passages, ev.idf, is_list_question,
                          lambda i: similar if ev.crosses(i) else None, min_similarity)
    blocks = []
    for m in found:
        blocks.append(render(m, draft.shown.index(m.passage) + 1, lang, max_items))
        draft.quotes[m.passage].extend([m.enumeration.sentence] if m.enumeration.sentence else m.items[:max_items])
    if not blocks:
        return ""
    text = "\n\n" + "\n\n".join(blocks)
    draft.kept.append(text)
    return text
