"""Claims and their support: what a sentence of a draft states, and how much of it a passage holds.

Each sentence of a draft answer is checked against the passage it cites. A citation stands only if
that passage supports the sentence; otherwise it moves to the passage that does, and a sentence that no
passage supports is dropped. Numbers are strict: a figure the passage does not contain is unsupported,
which is what catches the "3 ans" / "72 heures" a small model brings from its own memory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gdpr_assistant.text.glossary import expansion
from gdpr_assistant.text.words import fold, rarity_weights, tokenize

_CITE = re.compile(r"\s*\[(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\]")
# A claim ends at a sentence end or a closed citation followed by a new sentence or bullet; a list introduced
# by a colon stays one claim with its items.
# A sentence ends before a capital, a quote or a list mark; a cited item ends before the next item's number
# ("1. Ekonom-IA : … [1]. 2. PRIV-IA : … [2].", a numbered list written on one line), as the stream is cut.
_SENT_END = re.compile(r"(?<=[.!?\]])(?<!\d\.)\s+(?=[A-ZÀ-Ý«\"(\-•*])|(?:(?<=\]\.)|(?<=\]))\s+(?=\d{1,2}[.)]\s)"
                       r"|\n{2,}")
_LABEL = re.compile(r"^\s*(?:r[ée]ponse|answer)\s*:\s*", re.IGNORECASE)
# Lines and sentences of a passage: the spans a quote or a figure's context is read from.
_LINES = re.compile(r"\n+|(?<=[.;!?])\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

# Similarity of an answer sentence to a passage, from the dense model: (sentence, passage index) -> cosine.
DenseFn = Callable[[str, int], float]
# The entailment judge's log-odds that a passage states a claim: (claim, passage index) -> margin.
EntailFn = Callable[[str, int], float]


@dataclass
class Claim:
    text: str  # sentence without its citation markers
    cited: list[int]  # 1-based passage numbers as the model wrote them
    support: dict[int, float] = field(default_factory=dict)  # passage index (0-based) -> support
    entailment: dict[int, float] = field(default_factory=dict)  # passage index -> the judge's log-odds
    kept: bool = False
    sources: list[int] = field(default_factory=list)  # 0-based passages the shown citation points to
    reason: str = ""


# Where a draft's last sentence or list line starts: after a sentence end, or at a line that opens a list item.
_LAST_START = re.compile(rf"{_SENT_END.pattern}|\n(?=\s*(?:[-•*]|\d{{1,2}}[.)])\s)")
# What a finished sentence ends with: its citation, or a sentence's closing mark (backends without a grammar).
_FINISHED = re.compile(r"(?:\]|[.!?…»\"')])\W*$")


def cut_tail(draft_end: str) -> tuple[str, str]:
    """(what is finished, the sentence the length bound cut) of the end of a draft. The grammar closes every
    sentence with its citation, so a draft that stops elsewhere was cut by max_tokens mid-sentence ("…sans accord
    explic", "Il peut s'agir de"): that last sentence is a fragment, whatever its words' support."""
    text = draft_end.rstrip()
    if not text or _FINISHED.search(text):
        return draft_end, ""
    starts = list(_LAST_START.finditer(text))
    if not starts:
        return "", text
    return text[:starts[-1].start()], text[starts[-1].end():]


def split_claims(answer: str) -> list[Claim]:
    claims = []
    for raw in _SENT_END.split(answer.strip()):
        raw = raw.strip().lstrip("-•* ").strip()
        if not raw:
            continue
        cited = [int(n) for m in _CITE.finditer(raw) for n in re.split(r"\s*[,;]\s*", m.group(1))]
        # "Réponse : …" is the model labelling its answer, not part of the claim.
        text = _LABEL.sub("", _CITE.sub("", raw)).strip()
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        if text:
            claims.append(Claim(text=text, cited=cited))
    return claims


# "1. La question de la finalité": the number of a list item, not a figure the passage must hold.
_ENUMERATOR = re.compile(r"^\s*\d{1,2}[.)]\s+", re.MULTILINE)


def numbers(text: str) -> set[str]:
    return {n.replace(",", ".").rstrip(".") for n in _NUMBER.findall(_ENUMERATOR.sub("", text))}


def without_enumerator(text: str) -> str:
    """The text of a list item without its number: "2. La CNIL…" repeats "1. La CNIL…"."""
    return _ENUMERATOR.sub("", text)


# "Jusqu'à quel montant…", "How many hours…": a question about an amount or a count is answered by a figure, in
# digits or in words. Durations are left out ("combien de temps", "how long"): "la durée du projet" answers them.
_QUANTITY_QUESTION = re.compile(
    r"\bcombien\b(?!\s+de\s+temps)|\bquel(?:le)?s?\s+(?:montant|nombre|somme|pourcentage|quantite)\b"
    r"|\bhow\s+(?:many|much)\b(?!\s+time)|\bwhat\s+(?:amount|number|percentage|share)\b")
# Counts written as words, folded, with their value (a claim's "trois experts" must match the passage's words or
# digits: verification/checks.py). Not "un"/"une"/"one" (articles, pronouns) nor "neuf" (also "new").
COUNT_WORDS = {
    "deux": "2", "trois": "3", "quatre": "4", "cinq": "5", "six": "6", "sept": "7", "huit": "8", "dix": "10",
    "onze": "11", "douze": "12", "treize": "13", "quatorze": "14", "quinze": "15", "seize": "16", "vingt": "20",
    "trente": "30", "quarante": "40", "cinquante": "50", "soixante": "60", "cent": "100", "cents": "100",
    "mille": "1000", "two": "2", "three": "3", "four": "4", "five": "5", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "sixteen": "16", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
    "hundred": "100", "thousand": "1000",
}
# A figure in words: a count, or a magnitude or share ("des milliers", "la moitié"), which states an amount too.
_NUMBER_WORD = re.compile(r"\b(?:" + "|".join(COUNT_WORDS) + r"|neuf|millions?|milliards?|dizaines?|centaines?"
                          r"|milliers?|moitie|hundreds?|thousands?|billions?|dozens?|half)\b")
_CITATION_MARK = re.compile(r"\[\d+\]")


def asks_for_a_quantity(question: str) -> bool:
    return bool(_QUANTITY_QUESTION.search(fold(question)))


def states_a_quantity(text: str) -> bool:
    """Whether the text gives a figure (citation marks and list numbers are not figures)."""
    text = _CITATION_MARK.sub("", text)
    return bool(numbers(text)) or bool(_NUMBER_WORD.search(fold(text)))


# Units whose letters, and their case, set a magnitude: "426 kWh" for a table's "(mWh) … 426" is a
# millionfold error whose figure is in the passage, and the word check would let it through.
_UNIT = r"(?:[kMGTPmµ]?(?:Wh|W|gCO2(?:eq|e)?|g|B|o|Hz)|%|k?€)"
_UNIT_AFTER_NUMBER = re.compile(r"\d\s?(" + _UNIT + r")(?![\w'’])")
_UNIT_ANYWHERE = re.compile(r"(?<![^\W\d_])(" + _UNIT + r")(?![\w'’])")


def units(text: str, attached: bool = True) -> set[str]:
    """The units written right after a figure (or, ``attached=False``, anywhere: a table puts them in its
    header), case kept."""
    return set((_UNIT_AFTER_NUMBER if attached else _UNIT_ANYWHERE).findall(text))


def lexical_support(claim: str, passage: str, idf: Mapping[str, float] | None = None, question: str = "") -> float:
    """Share of the claim's content words found in the passage, each weighted by its rarity in the corpus
    (``idf``; a word the corpus never uses weighs most): the distinctive words of a claim are what must be
    there, so a sentence that borrows the passage's common words around an invented point does not pass.

    Words of the ``question`` do not count: retrieval chose the passages for them, so a sentence that echoes
    the question ("La CNIL interdit l'intérêt légitime pour des raisons de sécurité") is judged on what it
    adds."""
    terms = set(tokenize(claim)) - set(tokenize(question))
    if not terms:
        return 0.0
    weights = rarity_weights(terms, idf)
    found = set(tokenize(passage))
    return sum(w for t, w in weights.items() if t in found) / sum(weights.values())


def support(claim: str, passage: str, dense: float | None, dense_floor: float, dense_ceiling: float,
            idf: Mapping[str, float] | None = None, question: str = "", cross_lingual: bool = False) -> float:
    """0..1: the claim's new (rarity-weighted) content words found in the passage. Zero if a number of the
    claim, or the unit written after one, is missing from the passage.

    A claim in another language than its passage (an English answer over French guidance) shares few words
    with it: it may stand on the scaled dense similarity instead, but only if one of its distinctive new
    words (a name, a figure, the French form of a domain term) is in the passage. Dense similarity alone is no
    evidence: with this embedder a poem about Biarritz and a faithful translation score alike."""
    if not numbers(claim) <= numbers(passage) or not units(claim) <= units(passage, attached=False):
        return 0.0
    asked = set(tokenize(question))
    if numbers(claim) and not any(not t.isdigit() for t in set(tokenize(claim)) - asked) \
            and not _figure_in_context(claim, passage, asked, idf):
        return 0.0
    lex = lexical_support(claim, passage, idf, question)
    if not cross_lingual or dense is None:
        return lex
    asked |= set(tokenize(expansion(question, "en")))
    new = (set(tokenize(claim)) | set(tokenize(expansion(claim, "en")))) - asked
    weights = rarity_weights(new, idf)
    cutoff = _distinctive(idf)
    if not any(t in set(tokenize(passage)) and w >= cutoff for t, w in weights.items()):
        return lex
    scaled = (dense - dense_floor) / max(1e-6, dense_ceiling - dense_floor)
    return max(lex, min(1.0, max(0.0, scaled)))


_CUTOFFS: dict[int, float] = {}


def _distinctive(idf: Mapping[str, float] | None) -> float:
    """The rarity above which a word is distinctive: used in at most a tenth of the passages. The BM25 idf
    is log(1 + (n - f + 0.5) / (f + 0.5)); n comes from the rarest word (f = 1). Once per index."""
    if not idf:
        return 0.0
    if id(idf) not in _CUTOFFS:
        n = 1.5 * (math.exp(max(idf.values())) - 1) + 0.5
        f = max(1.0, n / 10)
        _CUTOFFS.clear()
        _CUTOFFS[id(idf)] = math.log(1 + (n - f + 0.5) / (f + 0.5))
    return _CUTOFFS[id(idf)]


def _figure_in_context(claim: str, passage: str, asked: set[str], idf: Mapping[str, float] | None) -> bool:
    """A bare figure ("52 experts", "4") answers only where the passage states it on a line with a distinctive
    word of the question; any "1" or "4" of a passage (a list marker, a slide number) proves nothing."""
    cutoff = _distinctive(idf)
    wanted = {t for t in asked if not t.isdigit() and (not idf or idf.get(t, cutoff) >= cutoff)}
    lines = [(numbers(line), set(tokenize(line))) for line in _LINES.split(passage)]
    return all(any(figure in found and wanted & words for found, words in lines) for figure in numbers(claim))


def question_coverage(question: str, passages: Sequence[str], idf: Mapping[str, float] | None = None,
                      lang: str = "fr") -> float:
    """Rarity-weighted share of the question's words (with the French form of its domain terms) found in an
    answer and the spans it quotes: low when the answer, however faithful to its passages, is about something
    else (a question on fines answered with a sentence on data poisoning)."""
    terms = set(tokenize(question)) | set(tokenize(expansion(question, lang)))
    if idf:  # words the corpus never uses (most English words of an English question) say nothing here
        terms = {t for t in terms if t in idf}
    if not terms:
        return 0.0
    weights = rarity_weights(terms, idf)
    found = set().union(*(set(tokenize(p)) for p in passages)) if passages else set()
    return sum(w for t, w in weights.items() if t in found) / sum(weights.values())


def best_quote(claims: Sequence[str], passage: str, max_chars: int = 400, max_lines: int = 6) -> str:
    """The run of consecutive lines (or sentences) of the passage that holds most of the claims' words,
    shortest first on ties: shown as the quote. A run, not one line, because an answer that lists items
    ("libre, spécifique, éclairé, univoque") takes them from a list of lines, and its best single line is
    often the list's heading."""
    units = [u.strip() for u in _LINES.split(passage) if u.strip()]  # one line stays an exact span
    if not units:
        return passage[:max_chars]
    terms = set().union(*(set(tokenize(c)) for c in claims)) if claims else set()
    words = [terms & set(tokenize(u)) for u in units]
    best: tuple[int, int, int, int] = (-1, 0, 0, 0)  # covered, -lines, -start, end
    for i in range(len(units)):
        covered: set[str] = set()
        size = 0
        for j in range(i, min(len(units), i + max_lines)):
            size += len(units[j]) + (j > i)
            if j > i and size > max_chars:
                break
            covered |= words[j]
            if words[j] or j == i:  # a run ends on a line that adds to it
                best = max(best, (len(covered), -(j - i), -i, j + 1))
    _, _, start, end = best
    quote = " ".join(units[-start:end])
    return quote if len(quote) <= max_chars else quote[:max_chars].rsplit(" ", 1)[0] + "…"
