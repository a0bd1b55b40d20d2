"""English → French vocabulary of data protection and AI, to let English questions (and English phrases in
French ones) reach the French corpus: both rankers read the question with these French terms added (the dense
model alone ranks French passages poorly for English questions).

General domain vocabulary only: GDPR, AI Act and research terms as the CNIL and Inserm translate them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from gdpr_assistant.text.words import fold

# The vocabulary is data (glossary.json): values are French words added to the query of both rankers. French
# abbreviations map to their spelled-out forms and back, since a passage often uses only one of them (not RGPD or
# IA: the whole corpus is about them, spelling them out only adds words that match everywhere); question phrasings
# map to the form the guidance writes them in ("combien de temps" conserver: a "durée").
_DATA = json.loads((Path(__file__).with_name("glossary.json")).read_text(encoding="utf-8"))
EN_FR: dict[str, str] = _DATA["en_fr"]
FR_EQUIVALENTS: dict[str, str] = _DATA["fr_equivalents"]
FR_EN: dict[str, str] = _DATA["fr_en"]


def _pattern(keys: list[str]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)) + r")\b",
                      re.IGNORECASE)


_EN = _pattern(list(EN_FR))
# English terms of art used as such inside French sentences ("differential privacy", "web scraping"): only
# phrases, since a single English word may also be a French word with another sense.
_EN_PHRASES = _pattern([k for k in EN_FR if " " in k])
_FR = _pattern(list(FR_EQUIVALENTS))
# Matched without case or accents: slides write "Eclairé" for "éclairé".
_FR_TERMS_FOLDED = {fold(k): (k, v) for k, v in FR_EN.items()}
_FR_TERMS = _pattern(list(_FR_TERMS_FOLDED))


def expansion(question: str, lang: str) -> str:
    """Words to add to a question so that it matches the French wording of the corpus (empty if none).

    English questions get the French equivalents of their domain terms; French questions get those of the
    English phrases they borrow; both get the other form of the French abbreviations they use.
    """
    question = question.replace("\u2019", "'")  # typographic apostrophes, as in "l’AIPD"
    pattern = _EN if lang == "en" else _EN_PHRASES
    terms = [EN_FR[m.group(1).lower()] for m in pattern.finditer(question)]
    terms += [FR_EQUIVALENTS[m.group(1).lower()] for m in _FR.finditer(question)]
    return _unique(terms)


def _unique(terms: Iterable[str]) -> str:
    """Joined, each word once: repeated words only lengthen the query the embedder has to read."""
    seen: dict[str, None] = {}
    for term in terms:
        for word in term.split():
            seen.setdefault(word, None)
    return " ".join(seen)


def english_terms(french: str) -> list[tuple[str, str]]:
    """The French terms of art in ``french`` with their English, in order, each once: a translator told
    them writes "DPIA" and "sandbox" where, untold, the 1.5B wrote "Artificial Intelligence Privacy Directive"
    and "Sandy Baccalaureate" (bench/translate_quotes.py)."""
    found = dict.fromkeys(m.group(1) for m in _FR_TERMS.finditer(fold(french.replace("\u2019", "'"))))
    return [_FR_TERMS_FOLDED[key] for key in found]
