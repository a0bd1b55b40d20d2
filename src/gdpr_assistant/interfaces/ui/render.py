"""The pipeline's results as the page shows them: the chat bubble (Markdown, which the chatbot renders), the
sources panel and the purpose draft (HTML), the answer for API clients. Pure functions of their inputs.

Everything that comes from a document or a model is escaped here; only the labels of :mod:`.texts` go in as
they are.
"""

from __future__ import annotations

import html
import re
from typing import Any

from gdpr_assistant.energy import amounts, comparison, share, total
from gdpr_assistant.interfaces.ui.passage import marked_passage, render_passage
from gdpr_assistant.purpose import PurposeDraft
from gdpr_assistant.types import Answer, Citation, Energy, Hit


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def linkify(text: str, anchor: str) -> str:
    """Turn each ``[n]`` of an answer into a link to its entry in the sources panel."""
    return re.sub(r"\[(\d+)\]", lambda m: f"[\\[{m.group(1)}\\]](#{anchor}-{m.group(1)})", text)


def citation_html(c: Citation, anchor: str) -> str:
    """A cited passage: title, document and location, the passage with the quoted span marked."""
    return (f'<div class="src" id="{anchor}-{c.n}"><div class="src-head">[{c.n}] {esc(c.title)}</div>'
            f'<div class="src-loc">{esc(c.doc)} · {esc(c.location)}</div>'
            f'<div class="src-text">{marked_passage(c.text, c.quote)}</div></div>')


def hit_html(h: Hit, titles: dict[str, str], max_chars: int) -> str:
    """A retrieved passage no citation points to (a refused answer's nearest ones), cut to ``max_chars``."""
    p = h.passage
    text = p.text.strip()
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] + " …"
    return (f'<div class="src"><div class="src-head">{esc(titles.get(p.doc, p.doc))}</div>'
            f'<div class="src-loc">{esc(p.doc)} · {esc(p.location)}</div>'
            f'<div class="src-text">{render_passage(text)}</div></div>')


def sources_html(answer: Answer, anchor: str, titles: dict[str, str], t: dict[str, str], max_chars: int) -> str:
    """The sources panel of an answer: its citations, or for a refusal the passages that came nearest."""
    if answer.citations:
        body = "".join(citation_html(c, anchor) for c in answer.citations)
        return f'<h3>{t["sources"]}</h3>{body}<p class="src-empty">{t["sources_hint"]}</p>'
    if answer.passages:
        body = "".join(hit_html(h, titles, max_chars) for h in answer.passages[:3])
        return f'<h3>{t["nearest"]}</h3>{body}'
    return empty_sources(t)


def empty_sources(t: dict[str, str]) -> str:
    return f'<h3>{t["sources"]}</h3><p class="src-empty">{t["sources_empty"]}</p>'


def meta_line(answer: Answer, t: dict[str, str]) -> str:
    """The frugality line: time to the whole answer and to its first words, tokens, model."""
    tm = answer.timings
    if not tm.get("completion_tokens"):
        return t["meta_no_model"].format(total=tm.get("total_s", 0.0))
    return t["meta"].format(total=tm.get("total_s", 0.0), ttft=tm.get("ttft_s", 0.0), prompt=tm["prompt_tokens"],
                            completion=tm["completion_tokens"], model=answer.model)


def energy_line(energy: Energy | None, t: dict[str, str]) -> str:
    """What the work cost on this computer, beside a hosted model's article summary (empty if not measured)."""
    return t["energy"].format(comparison=comparison(energy, t["lang_code"])) if energy else ""


def conversation_energy(energies: list[Energy], t: dict[str, str]) -> str:
    """The running total under the chat: every answer of the conversation (nothing before the first)."""
    whole = total(energies)
    if whole is None:
        return ""
    line = t["energy_total"].format(n=len(energies), amounts=amounts(whole),
                                    share=share(whole.wh * 1000, t["lang_code"]))
    return f'<p class="conv-energy"><small>{esc(line)}</small></p>'


def answer_markdown(answer: Answer, anchor: str, t: dict[str, str]) -> str:
    """The chat bubble: the verified answer with linked citations, then warnings and the frugality lines."""
    parts = []
    if answer.refused:
        parts.append(f"**⚠️ {t['refused']}**")
    parts.append(linkify(answer.answer, anchor))
    parts += [f"> ⚠️ {w}" for w in answer.warnings]
    if answer.dropped and not answer.refused:
        parts.append(f"_{t['dropped'].format(n=len(answer.dropped))}_")
    energy = f"<br>{esc(energy_line(answer.energy, t))}" if answer.energy else ""
    parts.append(f"<small>{esc(meta_line(answer, t))}{energy}</small>")
    return "\n\n".join(parts)


def plain_markdown(answer: Answer) -> str:
    """The answer for API clients: text with [n] markers, then the numbered sources with their quotes."""
    out = [answer.answer]
    if answer.citations:
        out.append("**Sources**")
        out.append("\n".join(f"{c.n}. {c.title} — {c.location} ({c.doc}): « {c.quote} »" for c in answer.citations))
    return "\n\n".join(out)


def documents_rows(docs: list[dict[str, Any]]) -> list[list[Any]]:
    """The documents table: one row per indexed document, in the column order of ``docs_headers``."""
    return [[d["title"], d["doc"], d["kind"], d["passages"], d["indexed_at"], d["problem"]] for d in docs]


def purpose_html(draft: PurposeDraft, t: dict[str, str]) -> str:
    """Statement, checklist with covered / missing criteria and their citations, questions, sources."""
    def cite(c: Citation | None) -> str:
        return f" [{c.n}]" if c else ""

    out = [f"<h3>{t['statement']}</h3>", f'<div class="purpose purpose-statement">{esc(draft.statement)}</div>',
           f"<p><strong>{esc(draft.case_label)}</strong>{cite(draft.case_citation)} — {esc(draft.case_reason)}</p>",
           f"<h3>{t['checklist']}</h3>", '<table class="checklist">']
    icons = {"covered": "✓", "missing": "✗", "insufficient": "⚠"}  # in every system font, unlike emoji
    for c in draft.criteria:
        need = t["required"] if c.required else t["recommended"]
        out.append(f'<tr><td class="status status-{c.status}">{icons.get(c.status, "")} {t.get(c.status, c.status)}'
                   f"</td><td><strong>{esc(c.label)}</strong> ({need}){cite(c.citation)}"
                   + (f"<br><small>{esc(c.detail)}</small>" if c.detail else "") + "</td></tr>")
    out.append("</table>")
    if draft.questions:
        out.append(f"<h3>{t['to_complete']}</h3><ol>" + "".join(f"<li>{esc(q)}</li>" for q in draft.questions)
                   + "</ol>")
    if draft.warnings:
        out.append(f"<h3>{t['warnings']}</h3><ul>" + "".join(f"<li>⚠️ {esc(w)}</li>" for w in draft.warnings)
                   + "</ul>")
    if draft.citations:
        out.append(f"<h3>{t['sources']}</h3>" + "".join(citation_html(c, "purpose-src") for c in draft.citations))
    model = t["template"] if draft.model == "template" else draft.model
    energy = f"<br>{esc(energy_line(draft.energy, t))}" if draft.energy else ""
    out.append(f"<p><small>{esc(t['purpose_meta'].format(total=draft.timings.get('total_s', 0.0), model=model))}"
               f"{energy}</small></p>")
    return "\n".join(out)
