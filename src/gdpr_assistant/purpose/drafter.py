"""Drafting the purpose (finalité) of the processing behind an AI system, checked against CNIL Fiche 2.

The program decides everything that matters for compliance: which of Fiche 2's three cases applies, which
criteria follow from it, and whether each is covered, and it quotes the passage of the index that states
each criterion. The local model only words the statement from the user's own facts; its wording is
rejected (and a statement assembled from those facts used instead) when it adds a capability or a number
the user did not give, or drops one of the facts, so a small model cannot lose a criterion silently.

The stages, each in its module (data at the bottom, this orchestration at the top): :mod:`criteria` (Fiche 2
as data), :mod:`facts` (reading the description and choosing the case), :mod:`assessment` (the criteria's
status and citations), :mod:`statement` (the wording and its checks), :mod:`render` (chat and Markdown).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gdpr_assistant.intake import question as safety
from gdpr_assistant.models.backend import ModelBackend
from gdpr_assistant.purpose.assessment import Citer, Criterion, assess
from gdpr_assistant.purpose.criteria import CASE_LABELS, CASE_NOTES, RULES, Case
from gdpr_assistant.purpose.facts import (
    VAGUE,
    Facts,
    PurposeRequest,
    clean_description,
    core_text,
    detect_case,
    read_facts,
)
from gdpr_assistant.purpose.render import render_markdown
from gdpr_assistant.purpose.statement import (
    build_messages,
    check_statement,
    explain,
    placeholders,
    template_statement,
    word_with_model,
)
from gdpr_assistant.retrieval.retriever import Retriever
from gdpr_assistant.settings import Settings
from gdpr_assistant.text.language import detect_language
from gdpr_assistant.types import Citation, Energy


@dataclass
class PurposeDraft:
    description: str
    case: Case
    case_label: str
    case_reason: str
    case_note: str
    statement: str
    criteria: list[Criterion]
    questions: list[str]
    warnings: list[str]
    lang: str
    model: str  # the model that worded the statement, or "template" when the program assembled it
    timings: dict[str, float | int]
    facts: Facts = field(default_factory=Facts)
    case_citation: Citation | None = None
    rejected: list[str] = field(default_factory=list)  # why the model's wording was set aside
    raw: str = ""  # the model's wording, before checks
    energy: Energy | None = None  # what drafting cost on this computer (set by the caller that measured it)

    @property
    def citations(self) -> list[Citation]:
        """One entry per cited passage, in number order (several criteria may quote the same passage)."""
        seen: dict[int, Citation] = {}
        for c in [self.case_citation, *(k.citation for k in self.criteria)]:
            if c is not None and c.n not in seen:
                seen[c.n] = c
        return [seen[n] for n in sorted(seen)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "description": self.description, "case": self.case, "case_label": self.case_label,
            "case_reason": self.case_reason, "case_note": self.case_note,
            "case_citation": self.case_citation.as_dict() if self.case_citation else None,
            "statement": self.statement, "criteria": [c.as_dict() for c in self.criteria],
            "questions": self.questions, "warnings": self.warnings, "lang": self.lang, "model": self.model,
            "timings": self.timings, "facts": self.facts.as_dict(), "rejected": self.rejected, "raw": self.raw,
            "energy": self.energy.as_dict() if self.energy else None,
        }

    def to_markdown(self) -> str:
        return render_markdown(self)


def draft_purpose(request: PurposeRequest, retriever: Retriever, titles: dict[str, str], model: ModelBackend | None,
                  settings: Settings) -> PurposeDraft:
    """The draft for ``request``; ``model`` words the statement (None: the program's template as it stands)."""
    t0 = time.perf_counter()
    s = settings
    lang_hint = request.lang if request.lang in ("fr", "en") else None
    description = clean_description(request.description, s, lang_hint)
    core = core_text(description)
    desc_lang = detect_language(core)
    lang = lang_hint or desc_lang
    facts = read_facts(request, core, lang)
    case, why, by_user = detect_case(request, core, facts, lang)
    if case != "research":  # a field or a publication read in the text means nothing outside research
        facts.research_field = facts.research_field if "research_field" in facts.given else None
        facts.publication = None
    criteria = assess(case, facts, lang)
    fr = lang == "fr"
    timings: dict[str, float | int] = {"citations_s": 0.0, "generation_s": 0.0, "total_s": 0.0,
                                       "prompt_tokens": 0, "completion_tokens": 0}

    citer = Citer(retriever, titles, settings)
    case_citation = citer.cite(case)  # each case's own sentence of Fiche 2 is a source of the same name
    for c in criteria:
        c.citation = citer.cite(next(r.source for r in RULES[case] if r.id == c.id))
    timings["citations_s"] = round(time.perf_counter() - t0, 3)

    warnings = safety.question_warnings(description, lang)
    if VAGUE.search(core) and not facts.capabilities:
        warnings.append("« Développement d'un modèle d'IA générative » est le contre-exemple de la CNIL : les "
                        "capacités envisageables doivent être définies." if fr else
                        "“Development of a generative AI model” is the CNIL's counter-example: the foreseeable "
                        "capabilities must be defined.")
    if citer.problems:
        warnings.append(("Passages de la Fiche 2 introuvables dans l'index (réindexez le corpus de la CNIL) : " if fr
                         else "Fiche 2 passages not found in the index (re-index the CNIL corpus): ")
                        + "; ".join(p[:50] for p in citer.problems))

    status = {c.id: c.status for c in criteria}
    questions = [next(r.question[lang] for r in RULES[case] if r.id == c.id)
                 for c in sorted(criteria, key=lambda c: not c.required) if c.status != "covered"
                 # the capabilities question already asks for what would make the wording precise
                 and not (c.id == "not_vague" and status.get("capabilities") != "covered")]
    if not by_user:
        other = [CASE_LABELS[lang][k] for k in CASE_LABELS[lang] if k != case]
        questions.append(f"Cas retenu, {why} : {CASE_LABELS[lang][case]}. S'il s'agit plutôt du cas « {other[0]} » "
                         f"ou « {other[1]} », indiquez-le explicitement." if fr else
                         f"Case chosen, {why}: {CASE_LABELS[lang][case]}. If it is rather “{other[0]}” or "
                         f"“{other[1]}”, say so explicitly.")

    template = template_statement(case, facts, core, lang)
    statement, wording, rejected, raw = template, "template", [], ""
    if model is not None and lang == desc_lang:
        raw = word_with_model(model, build_messages(template, lang), lang, s, timings)
        rejected = check_statement(raw, case, facts, core, s)
        if not rejected:
            statement, wording = raw, model.name
    if wording == "template":
        if rejected:
            reasons = "; ".join(explain(r, lang) for r in rejected[:3])
            warnings.append(f"La formulation du modèle a été écartée ({reasons}) : la finalité reprend vos propres "
                            "termes." if fr else
                            f"The model's wording was set aside ({reasons}): the statement keeps your own words.")
        elif model is not None and lang != desc_lang:
            warnings.append("La description n'est pas dans la langue demandée : la finalité reprend vos mots tels "
                            "quels." if fr else "The description is not in the requested language: the statement "
                            "keeps your own words.")
    statement = statement.rstrip() + placeholders(criteria, lang)
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    return PurposeDraft(description=description, case=case, case_label=CASE_LABELS[lang][case], case_reason=why,
                        case_note=CASE_NOTES[lang][case], statement=statement, criteria=criteria,
                        questions=questions, warnings=warnings, lang=lang, model=wording, timings=timings, facts=facts,
                        case_citation=case_citation, rejected=rejected, raw=raw)
