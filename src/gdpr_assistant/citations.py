"""Stage 6: the program, not the model, decides which citations are shown.

Each sentence of a draft answer is checked against the passage it cites. A citation stands only if
that passage supports the sentence; otherwise it moves to the passage that does, and a sentence that no
passage supports is dropped. Numbers are strict: a figure the passage does not contain is unsupported,
which is what catches the "3 ans" / "72 heures" a small model brings from its own memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gdpr_assistant.lexical import tokenize

_CITE = re.compile(r"\s*\[(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\]")
# A claim ends at a sentence end or a closed citation followed by a new sentence or bullet; a list introduced
# by a colon stays one claim with its items.
_SENT_END = re.compile(r"(?<=[.!?\]])(?<!\d\.)\s+(?=[A-ZÀ-Ý«\"(\-•*])|\n{2,}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

# Similarity of an answer sentence to a passage, from the dense model: (sentence, passage index) -> cosine.
DenseFn = Callable[[str, int], float]


@dataclass
class Claim:
    text: str  # sentence without its citation markers
    cited: list[int]  # 1-based passage numbers as the model wrote them
    support: dict[int, float] = field(default_factory=dict)  # passage index (0-based) -> support
    kept: bool = False
    sources: list[int] = field(default_factory=list)  # 0-based passages the shown citation points to
    reason: str = ""


@dataclass
class Verified:
    claims: list[Claim]
    answer: str  # rendered with citation numbers of the source list
    sources: list[int]  # 0-based passage indices, in the order of their citation number
    quotes: list[str]  # for each source, the span of the passage that supports the cited claims

    @property
    def supported(self) -> list[Claim]:
        return [c for c in self.claims if c.kept]


def split_claims(answer: str) -> list[Claim]:
    claims = []
    for raw in _SENT_END.split(answer.strip()):
        raw = raw.strip().lstrip("-•* ").strip()
        if not raw:
            continue
        cited = [int(n) for m in _CITE.finditer(raw) for n in re.split(r"\s*[,;]\s*", m.group(1))]
        text = _CITE.sub("", raw).strip()
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        if text:
            claims.append(Claim(text=text, cited=cited))
    return claims


def numbers(text: str) -> set[str]:
    return {n.replace(",", ".").rstrip(".") for n in _NUMBER.findall(text)}


def lexical_support(claim: str, passage: str, idf: Mapping[str, float] | None = None) -> float:
    """Share of the claim's content words found in the passage, each weighted by its rarity in the corpus
    (``idf``; a word the corpus never uses weighs most): the distinctive words of a claim are what must be
    there, so a sentence that borrows the passage's common words around an invented point does not pass."""
    terms = set(tokenize(claim))
    if not terms:
        return 0.0
    if not idf:
        return len(terms & set(tokenize(passage))) / len(terms)
    unseen = max(idf.values(), default=1.0)
    weights = {t: idf.get(t, unseen) for t in terms}
    found = set(tokenize(passage))
    return sum(w for t, w in weights.items() if t in found) / sum(weights.values())


def support(claim: str, passage: str, dense: float | None, dense_floor: float, dense_ceiling: float,
            idf: Mapping[str, float] | None = None) -> float:
    """0..1: the claim's (rarity-weighted) content words found in the passage, or the scaled dense similarity
    when that is higher (a claim in English over a French passage shares few words). Zero if a number of the
    claim is missing from the passage."""
    if not numbers(claim) <= numbers(passage):
        return 0.0
    lex = lexical_support(claim, passage, idf)
    if dense is None:
        return lex
    scaled = (dense - dense_floor) / max(1e-6, dense_ceiling - dense_floor)
    return max(lex, min(1.0, max(0.0, scaled)))


def is_restatement(text: str, question: str) -> bool:
    """The claim only repeats the question's words and figures: it answers nothing and is not shown."""
    terms = set(tokenize(text))
    return bool(question) and terms <= set(tokenize(question)) and numbers(text) <= numbers(question)


def is_connective(text: str, cited: bool = False) -> bool:
    """'Oui.', 'En résumé :': too little content to need (or be checked by) a citation. A short cited item
    ("- Libre [2]") is still checked."""
    return not numbers(text) and len(set(tokenize(text))) < (1 if cited else 2)


def best_quote(claims: Sequence[str], passage: str, max_chars: int = 400) -> str:
    """The line (or sentence) of the passage that shares most words with the claims: shown as the quote."""
    units = [u for u in re.split(r"\n+|(?<=[.;!?])\s+", passage) if u.strip()]
    if not units:
        return passage[:max_chars]
    terms = set().union(*(set(tokenize(c)) for c in claims)) if claims else set()
    scored = [(len(terms & set(tokenize(u))), -i, u.strip()) for i, u in enumerate(units)]
    best = max(scored)[2]
    return best if len(best) <= max_chars else best[:max_chars].rsplit(" ", 1)[0] + "…"


def verify(answer: str, passages: Sequence[str], threshold: float, dense: DenseFn | None = None,
           dense_floor: float = 0.8, dense_ceiling: float = 0.9, idf: Mapping[str, float] | None = None,
           question: str = "") -> Verified:
    claims = split_claims(answer)
    for claim in claims:
        if is_restatement(claim.text, question):
            claim.reason = "restates the question"
            continue
        if is_connective(claim.text, cited=bool(claim.cited)):
            claim.kept, claim.reason = True, "connective"
            continue
        for i, text in enumerate(passages):
            d = dense(claim.text, i) if dense else None
            claim.support[i] = support(claim.text, text, d, dense_floor, dense_ceiling, idf)
        cited_ok = [n - 1 for n in claim.cited if 1 <= n <= len(passages) and claim.support[n - 1] >= threshold]
        if cited_ok:
            claim.kept, claim.sources, claim.reason = True, cited_ok, "cited passage supports it"
            continue
        best = max(claim.support, key=lambda i: claim.support[i]) if claim.support else None
        if best is not None and claim.support[best] >= threshold:
            claim.kept, claim.sources = True, [best]
            claim.reason = "re-attributed" if claim.cited else "citation added"
        else:
            claim.reason = "no passage supports it"

    # Connectives survive only next to real content.
    if not any(c.kept and c.sources for c in claims):
        for c in claims:
            c.kept = False
    order: list[int] = []
    for c in claims:
        if c.kept:
            for s in c.sources:
                if s not in order:
                    order.append(s)
    number = {s: n for n, s in enumerate(order, start=1)}
    rendered = []
    for c in claims:
        if not c.kept:
            continue
        marks = "".join(f"[{number[s]}]" for s in c.sources)
        text = c.text
        if marks:
            end = text[-1] if text[-1] in ".!?" else ""
            text = f"{text[:-1] if end else text} {marks}{end or '.'}"
        rendered.append(text)
    quotes = [best_quote([c.text for c in claims if c.kept and s in c.sources], passages[s]) for s in order]
    return Verified(claims=claims, answer=" ".join(rendered), sources=order, quotes=quotes)


NOT_COVERED = "NON_COUVERT"


def refusal_reason(draft: str, supported: int) -> str | None:
    """Why the answer must be a refusal, or None. ``supported``: cited sentences that passed the check."""
    if NOT_COVERED in draft:
        return "the model found no answer in the passages"
    if supported == 0:
        return "no sentence of the draft was supported by a passage"
    return None
