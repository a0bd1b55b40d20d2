"""A purpose draft as text: the chat answer and the Markdown export for the DPO."""

from __future__ import annotations

from typing import Protocol

from gdpr_assistant.purpose.assessment import Criterion
from gdpr_assistant.types import Citation

_MARK: dict[str, str] = {"covered": "✅", "missing": "❌", "insufficient": "⚠️"}
_STATUS: dict[str, dict[str, str]] = {
    "fr": {"covered": "couvert", "missing": "manquant", "insufficient": "insuffisant"},
    "en": {"covered": "covered", "missing": "missing", "insufficient": "insufficient"}}


class DraftView(Protocol):
    """What rendering reads of a :class:`drafter.PurposeDraft` (a protocol, so the drafter can import this module)."""

    description: str
    case_label: str
    case_reason: str
    case_note: str
    case_citation: Citation | None
    statement: str
    criteria: list[Criterion]
    questions: list[str]
    warnings: list[str]
    lang: str
    model: str

    @property
    def citations(self) -> list[Citation]: ...


# -- in a chat answer -----------------------------------------------------------------------------------------
def answer_text(d: DraftView) -> str:
    """The draft as a chat answer: the statement, the case and each Fiche 2 criterion with its citation."""
    fr = d.lang == "fr"
    colon = " : " if fr else ": "
    cite = f" [{d.case_citation.n}]" if d.case_citation else ""
    lines = [("Finalité proposée" if fr else "Proposed purpose") + colon + d.statement, "",
             ("Cas (CNIL, fiche 2)" if fr else "Case (CNIL, Fiche 2)") + colon + f"{d.case_label}{cite} — "
             f"{d.case_reason}. {d.case_note}", "", ("Critères" if fr else "Criteria") + colon]
    for c in d.criteria:
        ref = f" [{c.citation.n}]" if c.citation else ""
        lines.append(f"- {_MARK[c.status]} {c.label}{ref} — {_STATUS[d.lang][c.status]}"
                     + (f"{colon}{c.detail}" if c.detail else ""))
    if d.questions:
        lines += ["", ("À compléter" if fr else "To complete") + colon]
        lines += [f"{i}. {q}" for i, q in enumerate(d.questions, start=1)]
    return "\n".join(lines)


# -- Markdown export ------------------------------------------------------------------------------------------
def render_markdown(d: DraftView) -> str:
    fr = d.lang == "fr"
    out = ["# " + ("Finalité du traitement : projet" if fr else "Purpose of the processing: draft"), ""]
    out += [("**Description** : " if fr else "**Description**: ") + d.description, ""]
    cite = f" [{d.case_citation.n}]" if d.case_citation else ""
    out += [("**Cas (CNIL, fiche 2)** : " if fr else "**Case (CNIL, Fiche 2)**: ") + f"{d.case_label}{cite}"
            + f" — {d.case_reason}", "", d.case_note, ""]
    out += ["## " + ("Finalité proposée" if fr else "Proposed purpose"), "", f"> {d.statement}", ""]
    out += ["## " + ("Critères de la CNIL" if fr else "CNIL criteria"), ""]
    for c in d.criteria:
        need = ("obligatoire" if fr else "required") if c.required else ("recommandé" if fr else "recommended")
        ref = f" [{c.citation.n}]" if c.citation else ""
        out.append(f"- {_MARK[c.status]} **{c.label}** ({need}) — {_STATUS[d.lang][c.status]}"
                   + (f" : {c.detail}" if fr else f": {c.detail}") + ref)
        if c.citation:
            quote = " ".join(c.citation.quote.split())  # a line break would end the Markdown quote
            out.append(f"  > « {quote} »" if fr else f"  > “{quote}”")
    out.append("")
    if d.questions:
        out += ["## " + ("À compléter" if fr else "To complete"), ""]
        out += [f"{i}. {q}" for i, q in enumerate(d.questions, start=1)] + [""]
    if d.warnings:
        out += ["## " + ("Avertissements" if fr else "Warnings"), ""] + [f"- {w}" for w in d.warnings] + [""]
    if d.citations:
        out += ["## Sources", ""]
        out += [f"[{c.n}] {c.title} — {c.location} ({c.doc})" + "  " for c in d.citations] + [""]
    if fr:
        by = "assemblée par le programme" if d.model == "template" else f"modèle {d.model}, vérifiée par le programme"
        out.append(f"_Projet à relire par le DPO · formulation : {by}._")
    else:
        by = "assembled by the program" if d.model == "template" else f"model {d.model}, checked by the program"
        out.append(f"_Draft for the DPO to review · wording: {by}._")
    return "\n".join(out) + "\n"
