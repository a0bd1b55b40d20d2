"""When the model's draft fails verification, quote the corpus instead.

A small model often refuses, or writes something the checker cannot verify, although a retrieved passage
answers the question in so many words. The fallback picks the passage sentence that holds most of the
question's rarity-weighted words and shows it word for word with its citation: true to the corpus by
construction. Whether it is on the question is the one thing left to judge: word overlap alone cannot tell
(questions the corpus does not cover share as many words with their nearest sentence as hard answerable
ones), so the pipeline asks the model a yes/no question about this one sentence (verification.judge)
and refuses below a calibrated threshold.

When the sentence is rejected, the best excerpt (:func:`excerpt`, a short run of lines) gets the same
question: slides and tables spread an answer over a heading and the lines under it. The judge says yes to
longer texts more readily, so the excerpt must reach a stricter threshold (settings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gdpr_assistant.drafting.prompt import trim_passage
from gdpr_assistant.text.glossary import expansion
from gdpr_assistant.text.markup import plain
from gdpr_assistant.text.sentences import sentences as units
from gdpr_assistant.text.words import rarity_weights, tokenize
from gdpr_assistant.verification.claims import question_coverage

_MIN_WORDS = 4  # "Les participants ont suggéré :" alone says nothing

LEAD = {
    "fr": "Je n'ai pas pu vérifier de réponse rédigée ; voici, cité mot pour mot, le passage du corpus le plus "
          "proche de la question :",
    "en": "I could not verify a written answer; here, quoted word for word, is the corpus passage closest to the "
          "question:",
}


@dataclass
class Extract:
    passage: int  # 0-based index of the passage quoted
    quote: str  # the passage's own words: whitespace collapsed, Markdown markup dropped (plain)
    coverage: float  # rarity-weighted share of the question's words it holds


def _quotable(unit: str) -> bool:
    """Headings, questions and links say what a passage is about, not what it states."""
    return (not unit.startswith("#") and not unit.endswith("?") and "http" not in unit
            and len(tokenize(unit)) >= _MIN_WORDS)


def known_share(question: str, idf: Mapping[str, float] | None, lang: str) -> float:
    """Rarity-weighted share of the question's words (with the French form of its domain terms) that the
    corpus uses at all. Coverage counts only those, so a request about something else ("un poème sur mes
    vacances à Biarritz, sans le RGPD") is fully "covered" by any sentence naming the GDPR; this share is
    what shows the corpus does not talk about it."""
    if not idf:
        return 1.0
    weights = rarity_weights(set(tokenize(question)) | set(tokenize(expansion(question, lang))), idf)
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in idf) / total if total else 0.0


def _scored(question: str, passages: Sequence[str], idf: Mapping[str, float] | None, lang: str,
            min_coverage: float, min_known: float) -> list[tuple[float, int, int, list[str]]]:
    """(coverage, passage, sentence, the passage's sentences) of every quotable sentence above the floor,
    best first; ties go to the better-ranked passage."""
    if known_share(question, idf, lang) < min_known:
        return []
    scored = []
    for p, text in enumerate(passages):
        found = units(text)
        for u, unit in enumerate(found):
            if _quotable(unit):
                score = question_coverage(question, [unit], idf, lang)
                if score >= min_coverage:
                    scored.append((score, p, u, found))
    return sorted(scored, key=lambda c: (-c[0], c[1], c[2]))


def _quote(found: list[str], u: int, max_chars: int) -> str:
    """Sentence ``u``; one that ends on a colon introduces a list ("… 9 participants parmi lesquels :"), so
    the items after it are quoted with it, up to ``max_chars``."""
    quote = found[u]
    if quote.endswith(":"):
        for follower in found[u + 1:]:
            if len(quote) + len(follower) + 1 > max_chars:
                break
            quote = f"{quote} {follower}"
    quote = plain(quote)
    if len(quote) > max_chars:
        quote = quote[:max_chars].rsplit(" ", 1)[0] + "…"
    return quote


def candidates(question: str, passages: Sequence[str], idf: Mapping[str, float] | None, lang: str,
               min_coverage: float, min_known: float = 0.0, max_chars: int = 420) -> list[Extract]:
    """The passage sentences that cover at least ``min_coverage`` of the question, best first, if the corpus
    knows at least ``min_known`` of the question's words (:func:`known_share`)."""
    out: list[Extract] = []
    for score, p, u, found in _scored(question, passages, idf, lang, min_coverage, min_known):
        quote = _quote(found, u, max_chars)
        if all(quote != c.quote for c in out):
            out.append(Extract(passage=p, quote=quote, coverage=score))
    return out


def extract(question: str, passages: Sequence[str], idf: Mapping[str, float] | None, lang: str,
            min_coverage: float, min_known: float = 0.0, max_chars: int = 420) -> Extract | None:
    """The passage sentence that covers the question best (see :func:`candidates`), or None."""
    scored = _scored(question, passages, idf, lang, min_coverage, min_known)
    if not scored:
        return None
    score, p, u, found = scored[0]
    return Extract(passage=p, quote=_quote(found, u, max_chars), coverage=score)


def excerpt(question: str, passages: Sequence[str], idf: Mapping[str, float] | None, lang: str,
            min_coverage: float, min_known: float = 0.0, max_chars: int = 420, focus: str = "") -> Extract | None:
    """The excerpt of the passages that covers the question best: in each passage, the run of lines within
    ``max_chars`` that holds most of the question's rarity-weighted words (the window the prompt shows, smaller;
    ``focus`` as there), kept if it states something (:func:`_quotable`) and covers at least ``min_coverage``.

    A run of lines, not one sentence, because answers in these documents are spread over lines: a heading and
    its bullets ("Obligatoire / Pour les traitements à haut risque…"), a table's labels and its figures, a
    sentence and the exception that follows it. The best single sentence of such a passage misses the answer
    or covers too little of the question to be put to the judge."""
    if known_share(question, idf, lang) < min_known:
        return None
    best: Extract | None = None
    for p, text in enumerate(passages):
        window = trim_passage(text, focus or question, max_chars, idf)
        if not any(_quotable(line.strip()) for line in window.splitlines()):
            continue
        quote = plain(window)
        score = question_coverage(question, [quote], idf, lang)
        if score >= min_coverage and (best is None or score > best.coverage):
            best = Extract(passage=p, quote=quote, coverage=score)
    return best


# An English question's French quote is followed by its English (drafting/translation.py), the original first:
# the translation is the model's, checked as an English answer is, and the reader can compare.
IN_ENGLISH = "In English (the model's translation of the quote, checked against it):"


def render_translated(extract: Extract, english: str) -> str:
    """The quote as :func:`render` shows it, then its English (verified and cited by the answer flow)."""
    return f"{render(extract, 'en')}\n\n{IN_ENGLISH}\n\n{english}"


def laid_out(quote: str, passage: str) -> str:
    """The quote with its passage's line breaks where they separate a slide's or a table's cells ("Obligatoire"
    / "Pour les traitements à haut risque…" / "Facultative"), not where they only wrap prose (a line that goes
    on in lower case). A translator given the collapsed text joins cells into sentences they are not. The quote
    as it is when its lines cannot be found whole in the passage."""
    lines = [line for line in (plain(raw) for raw in passage.splitlines()) if line and line in quote]
    if " ".join(lines) != quote:
        return quote
    out = lines[:1]
    for line in lines[1:]:
        wraps = not out[-1].endswith((".", ":", ";", "!", "?")) and line[:1].islower()
        out[-1:] = [f"{out[-1]} {line}"] if wraps else [out[-1], line]
    return "\n".join(out)


def render(extract: Extract, lang: str) -> str:
    """The answer text: the lead on its own line (a sentence without a citation), then the quote [1]. A quote
    that starts mid-sentence says so with an ellipsis."""
    quote = f"…{extract.quote}" if extract.quote[:1].islower() else extract.quote
    return f"{LEAD[lang]}\n\n« {quote} » [1]"
