"""Which language a text is in: French or English, the two the assistant answers in, or another one.

The identifier is `py3langid <https://pypi.org/project/py3langid/>`_ (langid.py's naive-Bayes model over byte
n-grams, 97 languages, 4.6 MB, ~0.15 ms a call; loaded on first use: ~0.6 s, ~90 MB). Chosen by measurement over
lingua-language-detector 2.1.1 (96 MB wheel; all languages: 4.3 ms a call, 1.3 GB, 11 s to load; 22 languages:
1.5 ms, 0.6 GB; fast mode: 0.3-0.8 ms but less accurate): on the 257 dev and bench questions (French or
English) py3langid is exact, lingua misses 1 or 2; on the 783 bench claims py3langid 0.992, lingua 0.989, function
words alone 0.987; both name the language of all 40 questions written in es/de/it/pt/nl. Short texts are where
every identifier guesses ("DPIA", "RGPD ?", "Consent?" come out as Slovak, Danish, Esperanto…), so:

* :func:`detect_language` (French or English, for callers that need one of the two) follows the model only
  when it prefers one of the two clearly (≥ 60 % between them) and otherwise falls back on function words
  and accents, which is what the assistant did before the model (and French, its corpus language, on a tie):
  18 of 20 short FR/EN inputs right, against 12 for function words alone and 15 for the model alone;
* :func:`language_of` names another language only for a text of at least three words whose French + English
  probability is below 2 % (measured: at most 0.6 % on 40 GDPR questions in es/de/it/pt/nl, at least 6.4 %
  on every French or English question and claim of the benchmarks); shorter texts give "" (unsure).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_FR = frozenset({
    "le", "la", "les", "des", "du", "de", "un", "une", "et", "est", "sont", "pour", "dans", "sur", "avec", "que",
    "qui", "quel", "quelle", "quels", "quelles", "comment", "pourquoi", "combien", "faut", "il", "elle", "nous",
    "vous", "je", "mon", "ma", "mes", "notre", "nos", "peut", "doit", "données"
})
_EN = frozenset({
    "the", "a", "an", "and", "is", "are", "for", "in", "on", "with", "that", "which", "what", "how", "why", "when",
    "who", "can", "should", "must", "do", "does", "my", "our", "we", "you", "i", "it", "of", "to", "be", "data",
    "may"
})

# Between French and English, the model decides from this share of their joint probability up.
_CLEAR = 0.6
# Another language is named when French + English together are less likely than this...
_FOREIGN_FR_EN_MAX = 0.02
# ...for texts of at least this many words (of two letters or more), or letters of a script written without
# spaces (Chinese, Japanese, Thai…: counted two letters a word).
_MIN_WORDS = 3
_WORD = re.compile(r"[^\W\d_]{2,}")
_UNSPACED = re.compile(r"[\u0e00-\u0eff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _probabilities(text: str) -> dict[str, float]:
    return dict(_identifier().rank(text))


def _function_words(text: str) -> str:
    """'fr' or 'en' from function words; accents tip a tie towards French, and so does a plain tie."""
    words = re.findall(r"[a-zà-ÿ']+", text.lower())
    fr = sum(w in _FR for w in words) + 2 * bool(re.search(r"[éèêàçùôî]", text.lower()))
    en = sum(w in _EN for w in words)
    return "en" if en > fr else "fr"


def _fr_or_en(probs: dict[str, float], text: str) -> str:
    fr, en = probs.get("fr", 0.0), probs.get("en", 0.0)
    if fr + en > 0:
        if fr >= _CLEAR * (fr + en):
            return "fr"
        if en >= _CLEAR * (fr + en):
            return "en"
    return _function_words(text)


def detect_language(text: str) -> str:
    """'fr' or 'en': the model's choice between the two when clear, else function words (French on a tie)."""
    return _fr_or_en(_probabilities(text), text)


def _long_enough(text: str) -> bool:
    return len(_WORD.findall(text)) + len(_UNSPACED.findall(text)) // 2 >= _MIN_WORDS


def language_of(text: str) -> str:
    """The ISO 639 code of the text's language: 'fr' or 'en', another code when the text is clearly in
    another language, or "" when it is too short to tell (fewer than three words: "RGPD ?", "DPIA")."""
    if not _long_enough(text):
        return ""
    probs = _probabilities(text)
    if probs.get("fr", 0.0) + probs.get("en", 0.0) >= _FOREIGN_FR_EN_MAX:
        return _fr_or_en(probs, text)
    best = max(probs, key=probs.__getitem__)
    return "" if best == "zxx" else best  # "zxx": no linguistic content
