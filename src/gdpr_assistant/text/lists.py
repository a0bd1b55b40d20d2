"""Lists in a passage's text: bullet or numbered lines under a line that ends with a colon ("… parmi lesquels :"
then "• 5 entreprises privées ;"), a run of short bullet labels under a heading ("## Le consentement" then
"- Libre", "- Spécifique"), short items after a colon on one line ("doit être : libre, spécifique, éclairé et
univoque"), or a list written as a sentence ("Cela inclut les données de santé …, les données issues d'articles
…, ainsi que toute information stratégique"). Bulleted slides whose lines are statements are not lists.

Read by the verifier (a list item answers the question its list's intro states) and by completeness (the items
an answer leaves out). Measured on the shipped corpus: 58 lists in 107 passages, 24 of them sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gdpr_assistant.text.markup import plain
from gdpr_assistant.text.sentences import sentences
from gdpr_assistant.text.words import tokenize

_BULLET = re.compile(r"^(\s*)(?:[-*•–▪◦●]|\d{1,2}[.)])\s+(.*)$")
_INTRO_END = re.compile(r":\s*(?:\*\*|__)?\s*$")
_INLINE = re.compile(r":\s+([^:]+)$")
_LAST_JOIN = re.compile(r",?\s+(?:et|ou|ainsi que|and|or|as well as)\s+")
# Longer comma-separated runs are prose, not items; without "et"/"and" before the last, shorter still.
_ITEM_MAX_WORDS = 6
# Bullet lines under a heading are a list of labels up to this length ("Absence d'atteinte disproportionnée à la
# vie privée des personnes"), statements beyond it ("Peut-être adapté lorsque les données sont collectées …").
_LABEL_MAX_WORDS = 10


@dataclass(frozen=True)
class Enumeration:
    intro: str
    items: tuple[str, ...]
    sentence: str = ""  # a list written as a sentence: its items are fragments, so it is quoted whole


def _item(text: str) -> str:
    return plain(text).strip().rstrip(";,.").strip()


def _intro(text: str) -> str:
    """An intro line as said, without the bullet mark it may carry ("- Accompagnement de 3 entreprises :")."""
    return _item(text).lstrip("-*•–▪◦● ")


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
                found.append(Enumeration(intro=_intro(line), items=tuple(items)))
                continue
        inline = _INLINE.search(line)
        parts = _inline(inline.group(1)) if inline else []
        if inline and parts:
            found.append(Enumeration(intro=_intro(line[:inline.start() + 1]), items=tuple(parts)))
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
