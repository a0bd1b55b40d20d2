"""Assessing a purpose against Fiche 2: the status of each criterion, and the passage of the index that states it.

The status is decided from the facts alone (no model, no index); the citations quote the exact span of the
indexed passage that holds each sentence of :data:`criteria.SOURCES`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gdpr_assistant.purpose.criteria import RULES, SOURCES, Case, Status
from gdpr_assistant.purpose.facts import Facts, quoted
from gdpr_assistant.retrieval.retriever import Retriever
from gdpr_assistant.settings import Settings
from gdpr_assistant.types import Citation, Passage
from gdpr_assistant.verification.claims import best_quote, lexical_support


# -- the criteria of the case, with their status --------------------------------------------------------------
@dataclass
class Criterion:
    id: str
    label: str
    required: bool
    status: Status
    detail: str = ""
    citation: Citation | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "required": self.required, "status": self.status,
                "detail": self.detail, "citation": self.citation.as_dict() if self.citation else None}


def assess(case: Case, facts: Facts, lang: str) -> list[Criterion]:
    """The criteria of the case with their status, decided from the facts alone (no model, no index)."""
    fr = lang == "fr"
    given = (lambda k: "indiqué par vous" if k in facts.given else "déduit de la description") if fr else \
        (lambda k: "as you stated" if k in facts.given else "found in the description")

    def found(k: str, value: str | None) -> str:
        return f"{given(k)} : {quoted(value or '', lang)}" if fr else f"{given(k)}: {quoted(value or '', lang)}"

    status: dict[str, tuple[Status, str]] = {}
    none = "non indiqué" if fr else "not stated"
    if case == "operational":
        status["operational_use"] = ("covered", found("use", facts.use)) if facts.use else ("missing", none)
        if facts.system and facts.task and not facts.vague:
            status["determined"] = ("covered", found("system", facts.system))
        elif facts.system:
            status["determined"] = ("insufficient", (
                f"{quoted(facts.system, lang)} ne dit pas ce que le système produit" if fr
                else f"{quoted(facts.system, lang)} does not say what the system produces"))
        else:
            status["determined"] = ("missing", none)
        status["legitimate"] = ("covered", found("legal", facts.legal)) if facts.legal else (
            "missing", "à établir : la CNIL ne tient la finalité de développement pour légitime que si celle du "
                       "déploiement l'est" if fr else
                       "to be established: the development purpose is legitimate only if the deployment one is")
    elif case == "general_purpose":
        status["type"] = ("covered", found("system", facts.system)) if facts.system else ("missing", none)
        if facts.capabilities:
            status["capabilities"] = ("covered", found("capabilities", facts.capabilities))
            status["not_vague"] = ("covered", "capacités énumérées" if fr else "capabilities listed")
        else:
            status["capabilities"] = ("insufficient", "formule générale sans capacités définies" if fr else
                                      "general wording, no defined capabilities") if facts.vague else ("missing", none)
            status["not_vague"] = ("insufficient", (
                "formule vague : c'est le contre-exemple de la CNIL" if fr else
                "vague wording: this is the CNIL's counter-example") if facts.vague else (
                "sans capacités, la finalité reste trop générale" if fr else
                "without capabilities the purpose stays too general"))
        for k in ("risky", "excluded", "conditions"):
            value = getattr(facts, k)
            status[k] = ("covered", found(k, value)) if value else ("missing", none)
    else:
        status["research"] = ("covered", "cadre de recherche retenu pour ce projet" if fr else
                              "research setting retained for this project")
        status["field"] = ("covered", found("research_field", facts.research_field)) if facts.research_field \
            else ("missing", none)
        status["object"] = ("covered", found("system", facts.system)) if facts.system else ("missing", none)
        status["publication"] = ("covered", found("publication", facts.publication)) if facts.publication else (
            "missing", none)
    return [Criterion(id=r.id, label=r.label[lang], required=r.required, status=status[r.id][0],
                      detail=status[r.id][1]) for r in RULES[case]]


# -- citations: the passages of the index that state each criterion -------------------------------------------
def _needle_pattern(needle: str) -> re.Pattern[str]:
    parts = [re.sub(r"['’]", "['’]", re.escape(word)) for word in needle.split()]
    return re.compile(r"[\s•\-*]+".join(parts))


def locate(needle: str, passages: list[Passage]) -> tuple[Passage, str] | None:
    """The first passage containing the needle, and the exact span of its text that matches it."""
    pattern = _needle_pattern(needle)
    for p in passages:
        m = pattern.search(p.text)
        if m:
            return p, m.group(0)
    return None


class Citer:
    """Numbers passages in order of first use, as answers do; the same passage keeps its number."""

    def __init__(self, retriever: Retriever, titles: dict[str, str], settings: Settings) -> None:
        self.settings = settings
        self.retriever = retriever
        self.titles = titles
        self.numbers: dict[str, int] = {}
        self.problems: list[str] = []
        self._cache: dict[str, tuple[Passage, str] | None] = {}

    def _find(self, key: str) -> tuple[Passage, str] | None:
        if key in self._cache:
            return self._cache[key]
        src = SOURCES[key]
        ordered = sorted(self.retriever.passages, key=lambda p: (
            p.doc != src.doc, bool(src.section) and not any(src.section in h for h in p.headings)))
        got = locate(src.needle, ordered)
        if got is None:
            # The deck may have been edited or replaced: take the passage retrieval ranks first, if it says it.
            s = self.settings
            for hit in self.retriever.search(src.needle, s.retrieval.answer_k):
                if lexical_support(src.needle, hit.passage.text) >= s.trust.support_threshold:
                    got = (hit.passage, best_quote([src.needle], hit.passage.text, max_lines=1))
                    break
        self._cache[key] = got
        return got

    def cite(self, key: str) -> Citation | None:
        got = self._find(key)
        if got is None:
            self.problems.append(SOURCES[key].needle)
            return None
        p, quote = got
        n = self.numbers.setdefault(p.id, len(self.numbers) + 1)
        return Citation(n=n, doc=p.doc, title=self.titles.get(p.doc, p.doc), location=p.location, quote=quote,
                        text=p.text, passage_id=p.id)
