"""Completeness, checked by the program as support is: a list question whose answer draws on an enumeration of a
cited passage gets the items the answer left out, quoted word for word from that passage and cited.

The small model writes a few sentences and stops after two or three items of a five-item list; selecting the
rest is the program's job. An enumeration is what the passage introduces with a colon: bullet or numbered lines
under it ("… parmi lesquels :" then "• 5 entreprises privées ;"), or a run of short items on the same line ("doit
être : libre, spécifique, éclairé et univoque"). Bulleted slides without a colon are statements, not a list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gdpr_assistant.text.markup import plain
from gdpr_assistant.text.sentences import sentences
from gdpr_assistant.text.words import rarity_weights, tokenize
from gdpr_assistant.verification.claims import lexical_support
from gdpr_assistant.verification.verifier import DraftVerifier

_BULLET = re.compile(r"^(\s*)(?:[-*•–▪◦●]|\d{1,2}[.)])\s+(.*)$")
_INTRO_END = re.compile(r":\s*(?:\*\*|__)?\s*$")
_INLINE = re.compile(r":\s+([^:]+)$")
_LAST_JOIN = re.compile(r",?\s+(?:et|ou|ainsi que|and|or|as well as)\s+")
# Longer comma-separated runs are prose, not items; without "et"/"and" before the last, shorter still.
_ITEM_MAX_WORDS = 6
# Bullet lines under a heading are a list of labels up to this length ("Absence d'atteinte disproportionnée à la
# vie privée des personnes"), statements beyond it ("Peut-être adapté lorsque les données sont collectées …").
_LABEL_MAX_WORDS = 10

# (text, text) -> cosine similarity by meaning, for an answer in another language than its passage.
Similar = Callable[[str, str], float]


@dataclass(frozen=True)
class Enumeration:
    intro: str
    items: tuple[str, ...]
    sentence: str = ""  # a list written as a sentence: its items are fragments, so it is quoted whole


def _item(text: str) -> str:
    return plain(text).strip().rstrip(";,.").strip()


def _block(lines: list[str], start: int, indent: int) -> list[str]:
    """The bullet items under the intro at ``start - 1`` (items of a bulleted intro are indented deeper than
    ``indent``); a wrapped item's next line, which starts in lower case, is joined to it."""
    items: list[str] = []
    level: int | None = None
    for line in lines[start:]:
        m = _BULLET.match(line)
        if m:
            depth = len(m.group(1))
            if depth < indent or (level is not None and depth < level):
                break
            if level is None or depth == level:  # deeper bullets detail an item; they are not items
                level = depth
                items.append(m.group(2).strip())
            continue
        text = line.strip()
        if items and text[:1].islower():
            items[-1] += " " + text
            continue
        break
    return items


def _inline(run: str) -> list[str]:
    """The items of "…: libre, spécifique, éclairé et univoque", or [] when the run is prose with commas."""
    if "(" in run or ")" in run:
        return []
    parts = [_item(p) for chunk in re.split(r"\s*[;,]\s*", run) for p in _LAST_JOIN.split(chunk)]
    parts = [p for p in parts if p]
    joined = bool(_LAST_JOIN.search(run))
    longest = max((len(p.split()) for p in parts), default=0)
    if len(parts) >= 3 and longest <= (_ITEM_MAX_WORDS if joined else 3):
        return parts
    return []


def enumerations(passage: str) -> list[Enumeration]:
    """The enumerations of a passage, each with its intro line and its items: bullet lines under a line that
    ends with a colon, a run of short bullet lines (labels, not statements: "- Libre", "- Spécifique") under
    any line, or short items after a colon on one line."""
    lines = [ln.rstrip() for ln in passage.splitlines() if ln.strip()]
    found: list[Enumeration] = []
    for i, line in enumerate(lines):
        m = _BULLET.match(line)
        after = _BULLET.match(lines[i + 1]) if i + 1 < len(lines) else None
        if _INTRO_END.search(line) or (after and not m):
            items = [_item(t) for t in _block(lines, i + 1, len(m.group(1)) + 1 if m else 0)]
            items = [t for t in items if t]
            if not _INTRO_END.search(line):  # the labels, up to the first statement
                long = [len(t.split()) > _LABEL_MAX_WORDS for t in items] + [True]
                items = items[:long.index(True)]
            if len(items) >= 2:
                found.append(Enumeration(intro=_item(line), items=tuple(items)))
                continue
        inline = _INLINE.search(line)
        parts = _inline(inline.group(1)) if inline else []
        if inline and parts:
            found.append(Enumeration(intro=_item(line[:inline.start() + 1]), items=tuple(parts)))
    listed = {t for e in found for t in e.items}
    for sentence in sentences(passage):
        parts = _prose_items(sentence)
        if parts and not any(t in sentence for t in listed):
            found.append(Enumeration(intro="", items=tuple(parts), sentence=plain(sentence)))
    return found


_PROSE_LAST = re.compile(r",?\s+(?:ainsi que|et|ou|and|or|as well as)\s+(?!.*,)")


def _prose_items(sentence: str) -> list[str]:
    """The items of a list written as a sentence ("Cela inclut les données de santé …, les données issues
    d'articles …, ainsi que toute information stratégique"): three parts or more, two commas at least (one comma
    and an "et" join two clauses), the last part after "et", "ou", "ainsi que". A part of fewer than two words of
    content belongs to the item before it ("…, quelle que soit leur origine"), or opens the first ("Néanmoins,")."""
    last = _PROSE_LAST.search(sentence)
    if not last or len(re.findall(r"[,;]\s", sentence[:last.start()])) < 2:
        return []
    parts: list[str] = []
    opener = ""  # "Néanmoins, …", "À ce titre, …": said before the first item
    for part in [*re.split(r"\s*[,;]\s+", sentence[:last.start()]), sentence[last.end():]]:
        if len(tokenize(part)) >= 2 or not part.strip():
            if part.strip():
                parts.append(f"{opener}, {part.strip()}" if opener else part.strip())
                opener = ""
        elif parts:
            parts[-1] += ", " + part
        else:
            opener = f"{opener}, {part}" if opener else part
    return [_item(p) for p in parts] if len(parts) >= 3 else []


def covered(item: str, answer: str, idf: Mapping[str, float] | None, similar: Similar | None = None,
            min_share: float = 0.5, min_similarity: float = 0.86) -> bool:
    """Whether the answer already gives the item: half of its (rarity-weighted) words, or, across languages,
    a sentence of the answer as close to it by meaning as a faithful translation (``min_similarity``)."""
    terms = set(tokenize(item))
    if not terms:
        return True
    weights = rarity_weights(terms, idf)
    said = set(tokenize(answer))
    if sum(w for t, w in weights.items() if t in said) / sum(weights.values()) >= min_share:
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
        for enum in enumerations(passages[i]):
            if enum.sentence and not (is_list_question and enum.sentence in closest):
                continue
            given = [covered(t, answer, idf, similar(i), min_similarity=min_similarity) for t in enum.items]
            need = 1 if is_list_question else 2
            left = tuple(t for t, ok in zip(enum.items, given, strict=True) if not ok and t not in seen)
            if sum(given) >= need and left:
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
