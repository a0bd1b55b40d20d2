"""Stage 3b: lexical ranking (BM25) with accent folding, French/English stop words and French stemming."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import snowballstemmer

# French then English function words; accents folded, as tokenize() sees them.
_STOP = {
    "a", "ai", "aie", "ainsi", "alors", "au", "aucun", "aucune", "aupres", "aussi", "autre", "autres", "aux",
    "avant", "avec", "avez", "avoir", "ayant", "c", "ca", "ce", "ceci", "cela", "celle", "celles", "celui", "ces",
    "cet", "cette", "ceux", "chaque", "ci", "comme", "comment", "d", "dans", "de", "des", "deja", "donc", "dont",
    "du", "elle", "elles", "en", "encore", "entre", "est", "et", "etaient", "etait", "etant", "ete", "etre", "eu",
    "eux", "fait", "faire", "faut", "il", "ils", "j", "je", "l", "la", "le", "les", "leur", "leurs", "lors", "lui",
    "m", "ma", "mais", "me", "meme", "memes", "mes", "moi", "mon", "n", "ne", "ni", "non", "nos", "notre", "nous",
    "on", "ont", "ou", "par", "parce", "pas", "peu", "peut", "peuvent", "plus", "pour", "pourquoi", "qu", "quand",
    "que", "quel", "quelle", "quelles", "quels", "qui", "quoi", "s", "sa", "sans", "se", "selon", "ses", "si",
    "son", "sont", "sous", "sur", "t", "ta", "te", "tes", "toi", "ton", "tous", "tout", "toute", "toutes", "tres",
    "tu", "un", "une", "unes", "uns", "vers", "via", "vos", "votre", "vous", "y",
    "afin", "apres", "car", "certain", "certaine", "certaines", "certains", "chez", "depuis", "doit",
    "doivent", "durant", "egalement", "ici", "jusqu", "jusque", "lorsqu", "lorsque", "parmi", "pendant", "plusieurs",
    "puis", "quelque", "quelques", "sera", "seront", "soit", "tant", "tel", "telle", "telles", "tels", "toujours",
    "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from",
    "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "may", "my", "no", "not", "of",
    "or", "our", "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "to", "us", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why",
    "will", "with", "would", "you", "your", "about", "after", "all", "also", "any", "before", "between", "both",
    "during", "each", "many", "more", "most", "much", "must", "only", "other", "some", "such", "very",
}

_stemmer = snowballstemmer.stemmer("french")


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def tokenize(text: str) -> list[str]:
    # Elisions ("l'intérêt", "d’entraînement") split on the apostrophe; the article is a stop word.
    words = re.findall(r"[a-z0-9]+", fold(text))
    return [_stem(w) for w in words if w not in _STOP and (len(w) > 1 or w.isdigit())]


class BM25:
    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs = [Counter(tokenize(t)) for t in texts]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0
        df: Counter[str] = Counter()
        for d in self.docs:
            df.update(d.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.postings: dict[str, list[int]] = {}
        for i, d in enumerate(self.docs):
            for t in d:
                self.postings.setdefault(t, []).append(i)

    def scores(self, query: str) -> dict[int, float]:
        out: dict[int, float] = {}
        for t in set(tokenize(query)):
            idf = self.idf.get(t)
            if idf is None:
                continue
            for i in self.postings[t]:
                tf = self.docs[i][t]
                norm = tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * self.lengths[i] / (self.avg or 1)))
                out[i] = out.get(i, 0.0) + idf * norm
        return out

    def top(self, query: str, n: int) -> list[tuple[int, float]]:
        return sorted(self.scores(query).items(), key=lambda kv: -kv[1])[:n]
