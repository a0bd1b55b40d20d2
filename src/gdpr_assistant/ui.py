"""The web UI (`python app.py`): a thin Gradio layer over :class:`gdpr_assistant.pipeline.Assistant`.

Chat with verified citations and a sources panel, purpose drafting, corpus management and settings. Every
decision is the pipeline's; this module only turns its results into HTML and its inputs into calls. The
conversation lives in the browser session's memory (``gr.State``) and is never written to disk.

Importing it guards the process first (offline switches, egress guard), as ``app.py`` and the pipeline do:
gradio reads its analytics switch at import time.
"""

from __future__ import annotations

from gdpr_assistant import offline

offline.protect()

import html  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from gdpr_assistant.corpus import SUPPORTED_SUFFIXES, CorpusError  # noqa: E402
from gdpr_assistant.embedding import EmbedderError  # noqa: E402
from gdpr_assistant.index import IndexError_  # noqa: E402
from gdpr_assistant.models import PACKAGED, ModelError  # noqa: E402
from gdpr_assistant.pipeline import Answer, Assistant, Citation  # noqa: E402
from gdpr_assistant.retrieval import Hit  # noqa: E402
from gdpr_assistant.safety import QuestionError  # noqa: E402
from gdpr_assistant.settings import Settings  # noqa: E402

# The errors whose message is written for the user; anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (CorpusError, EmbedderError, IndexError_, ModelError, QuestionError)

# -- labels -------------------------------------------------------------------------------------------------
TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "## Assistant RGPD & IA",
        "subtitle": ("Réponses tirées des recommandations de la CNIL et de l'Inserm : chaque affirmation renvoie au "
                     "passage qui la justifie, vérifié par le programme. Fonctionne hors ligne ; rien ne quitte cet "
                     "ordinateur."),
        "ui_lang": "Langue de l'interface",
        "tab_chat": "Questions", "tab_purpose": "Finalité", "tab_corpus": "Documents", "tab_settings": "Réglages",
        "chatbot": "Conversation",
        "chat_placeholder": ("Posez une question sur le RGPD et l'IA, en français ou en anglais. Les sources citées "
                             "s'affichent à droite."),
        "question": "Votre question",
        "question_ph": "Ex. : Quelle base légale pour entraîner un modèle sur des données publiées en ligne ?",
        "send": "Envoyer", "stop": "Arrêter", "new": "Nouvelle conversation",
        "sources": "Sources",
        "sources_empty": "Les passages cités par la réponse s'afficheront ici, le passage exact surligné.",
        "sources_hint": "Cliquez sur une réponse pour revoir ses sources.",
        "nearest": "Passages les plus proches (aucun ne répond à la question)",
        "refused": "Pas de réponse dans les documents.",
        "thinking": "Recherche des passages et rédaction de la réponse…",
        "meta": "{total:.1f} s (premiers mots {ttft:.1f} s) · {prompt} + {completion} jetons · {model}",
        "meta_no_model": "{total:.1f} s · modèle non sollicité",
        "error": "Erreur :",
        "dropped": "{n} phrase(s) du brouillon écartée(s) : aucun passage ne les justifiait.",
        # corpus
        "docs": "Documents indexés",
        "docs_headers": "Titre|Fichier|Type|Passages|Indexé le|Problème",
        "corpus_info": "Dossier du corpus : `{corpus}` · index : `{index}`",
        "upload": "Ajouter des documents (PDF, Markdown, texte)",
        "add": "Ajouter au corpus", "remove_doc": "Document à retirer", "remove": "Retirer du corpus",
        "refresh": "Actualiser",
        "indexing": "Indexation",
        "no_file": "Choisissez d'abord un ou plusieurs fichiers.",
        "added": "Ajouté(s) : {names}. L'index compte {passages} passages ({seconds:.1f} s).",
        "nothing_added": "Aucun document ajouté ; l'index est inchangé.",
        "refused_files": "Fichier(s) refusé(s) :",
        "no_doc": "Choisissez le document à retirer.",
        "removed": ("« {name} » est retiré de l'index ({passages} passages restants). Le fichier est conservé dans "
                    "`{trash}`."),
        # settings
        "model": "Modèle de langue",
        "model_default": "Standard (Qwen2.5 1.5B) : meilleures réponses",
        "model_fast": "Rapide (Qwen2.5 0.5B)",
        "model_gguf": "Fichier GGUF",
        "gguf": "Chemin du fichier .gguf",
        "gguf_missing": "Indiquez le chemin du fichier .gguf dans Réglages, ou choisissez un modèle fourni.",
        "k": "Nombre de passages consultés par réponse",
        "answer_lang": "Langue des réponses",
        "lang_auto": "Automatique (celle de la question)", "lang_fr": "Français", "lang_en": "Anglais",
        "settings_note": ("Les réglages s'appliquent à la prochaine question. La conversation reste en mémoire "
                          "dans cette page et n'est jamais écrite sur le disque."),
        # purpose
        "purpose_intro": ("Décrivez le système d'IA que vous développez : l'assistant rédige la finalité du "
                          "traitement et la confronte aux critères de la CNIL (fiche 2), avec les passages à "
                          "l'appui."),
        "description": "Description du système et de son usage",
        "description_ph": ("Ex. : Développement d'un modèle qui prédit le risque de réhospitalisation à 30 jours "
                           "à partir des dossiers patients, pour aider les équipes à prioriser le suivi."),
        "case": "Cas de la fiche 2",
        "case_auto": "À déterminer par l'assistant",
        "case_operational": "Usage opérationnel connu",
        "case_general": "Système d'IA à usage général",
        "case_research": "Recherche scientifique",
        "details": "Précisions (facultatif)",
        "research_field": "Domaine de recherche",
        "capabilities": "Fonctionnalités et capacités envisageables",
        "risky": "Capacités les plus à risque",
        "excluded": "Fonctionnalités exclues par conception",
        "conditions": "Conditions d'utilisation",
        "draft": "Rédiger la finalité",
        "download": "Télécharger (Markdown)",
        "statement": "Finalité proposée",
        "checklist": "Critères de la CNIL",
        "to_complete": "À compléter",
        "warnings": "Avertissements",
        "required": "obligatoire", "recommended": "recommandé",
        "covered": "couvert", "missing": "manquant", "insufficient": "insuffisant",
        "purpose_meta": "{total:.1f} s · formulation : {model}",
        "template": "assemblée par le programme",
        "purpose_empty": "Décrivez d'abord le système (au moins une phrase).",
        "purpose_unavailable": "La rédaction de finalité n'est pas disponible dans cette version.",
    },
    "en": {
        "title": "## GDPR & AI assistant",
        "subtitle": ("Answers drawn from CNIL and Inserm guidance: every claim points to the passage that supports "
                     "it, checked by the program. Works offline; nothing leaves this computer."),
        "ui_lang": "Interface language",
        "tab_chat": "Questions", "tab_purpose": "Purpose", "tab_corpus": "Documents", "tab_settings": "Settings",
        "chatbot": "Conversation",
        "chat_placeholder": ("Ask a question about GDPR and AI, in English or French. The cited sources appear on "
                             "the right."),
        "question": "Your question",
        "question_ph": "E.g.: Which legal basis for training a model on data published online?",
        "send": "Send", "stop": "Stop", "new": "New conversation",
        "sources": "Sources",
        "sources_empty": "The passages the answer cites will appear here, with the exact span highlighted.",
        "sources_hint": "Click an answer to see its sources again.",
        "nearest": "Nearest passages (none of them answers the question)",
        "refused": "No answer in the documents.",
        "thinking": "Searching the passages and writing the answer…",
        "meta": "{total:.1f} s (first words {ttft:.1f} s) · {prompt} + {completion} tokens · {model}",
        "meta_no_model": "{total:.1f} s · model not called",
        "error": "Error:",
        "dropped": "{n} draft sentence(s) set aside: no passage supported them.",
        "docs": "Indexed documents",
        "docs_headers": "Title|File|Kind|Passages|Indexed|Problem",
        "corpus_info": "Corpus folder: `{corpus}` · index: `{index}`",
        "upload": "Add documents (PDF, Markdown, text)",
        "add": "Add to the corpus", "remove_doc": "Document to remove", "remove": "Remove from the corpus",
        "refresh": "Refresh",
        "indexing": "Indexing",
        "no_file": "Choose one or more files first.",
        "added": "Added: {names}. The index holds {passages} passages ({seconds:.1f} s).",
        "nothing_added": "No document added; the index is unchanged.",
        "refused_files": "Refused file(s):",
        "no_doc": "Choose the document to remove.",
        "removed": "“{name}” is removed from the index ({passages} passages left). The file is kept in `{trash}`.",
        "model": "Language model",
        "model_default": "Standard (Qwen2.5 1.5B): best answers",
        "model_fast": "Fast (Qwen2.5 0.5B)",
        "model_gguf": "GGUF file",
        "gguf": "Path of the .gguf file",
        "gguf_missing": "Give the path of the .gguf file in Settings, or choose a packaged model.",
        "k": "Passages consulted per answer",
        "answer_lang": "Answer language",
        "lang_auto": "Automatic (the question's)", "lang_fr": "French", "lang_en": "English",
        "settings_note": ("Settings apply from the next question. The conversation stays in this page's memory and "
                          "is never written to disk."),
        "purpose_intro": ("Describe the AI system you are developing: the assistant drafts the purpose of the "
                          "processing and checks it against the CNIL's criteria (Fiche 2), with the supporting "
                          "passages."),
        "description": "Description of the system and its use",
        "description_ph": ("E.g.: Development of a model that predicts the risk of readmission within 30 days from "
                           "patient records, to help care teams prioritise follow-up."),
        "case": "Fiche 2 case",
        "case_auto": "Let the assistant decide",
        "case_operational": "Operational use known",
        "case_general": "General-purpose AI system",
        "case_research": "Scientific research",
        "details": "Details (optional)",
        "research_field": "Research field",
        "capabilities": "Foreseeable functionalities and capabilities",
        "risky": "Riskiest capabilities",
        "excluded": "Functionalities excluded by design",
        "conditions": "Conditions of use",
        "draft": "Draft the purpose",
        "download": "Download (Markdown)",
        "statement": "Proposed purpose",
        "checklist": "CNIL criteria",
        "to_complete": "To complete",
        "warnings": "Warnings",
        "required": "required", "recommended": "recommended",
        "covered": "covered", "missing": "missing", "insufficient": "insufficient",
        "purpose_meta": "{total:.1f} s · wording: {model}",
        "template": "assembled by the program",
        "purpose_empty": "Describe the system first (at least one sentence).",
        "purpose_unavailable": "Purpose drafting is not available in this version.",
    },
}
UI_LANGS = [("Français", "fr"), ("English", "en")]

# System fonts: nothing to download, and every glyph of French text is there.
THEME = gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])

CSS = """
.gradio-container { max-width: 1400px !important; }
#sources { max-height: 70vh; overflow-y: auto; }
.src { border-left: 4px solid var(--color-accent); padding: .4rem .7rem; margin: .6rem 0;
       background: var(--background-fill-secondary); border-radius: 4px; scroll-margin-top: 1rem; }
.src:target { outline: 2px solid var(--color-accent); }
.src-head { font-weight: 600; }
.src-loc { font-size: .85em; opacity: .8; margin: .15rem 0 .35rem; }
.src-text { font-size: .92em; line-height: 1.45; white-space: pre-wrap; margin: 0; }
.src mark, .purpose mark { background: #fde68a; color: #1f2937; padding: 0 .1em; border-radius: 2px; }
.src-empty { opacity: .75; font-style: italic; }
#documents table, #documents td, #documents th, #documents span { font-family: var(--font) !important; }
.purpose-statement { font-size: 1.05em; border-left: 4px solid var(--color-accent); padding: .6rem .9rem;
                     background: var(--background-fill-secondary); border-radius: 4px; }
.checklist { width: 100%; border-collapse: collapse; }
.checklist td, .checklist th { border-bottom: 1px solid var(--border-color-primary); padding: .35rem .5rem;
                               vertical-align: top; text-align: left; }
.status { font-weight: 600; white-space: nowrap; }
.status-covered { color: #15803d; } .status-missing { color: #b91c1c; } .status-insufficient { color: #b45309; }
.dark .status-covered { color: #4ade80; } .dark .status-missing { color: #f87171; }
.dark .status-insufficient { color: #fbbf24; }
"""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


# -- rendering ------------------------------------------------------------------------------------------------
def linkify(text: str, anchor: str) -> str:
    """Turn each ``[n]`` of an answer into a link to its entry in the sources panel."""
    return re.sub(r"\[(\d+)\]", lambda m: f"[\\[{m.group(1)}\\]](#{anchor}-{m.group(1)})", text)


def _show(text: str) -> str:
    # Blank lines between slide bullets only stretch the panel; the words are shown exactly as indexed.
    return _esc(re.sub(r"\n\s*\n", "\n", text))


def marked_passage(passage: str, quote: str) -> str:
    """The passage as HTML with the quoted span in ``<mark>``. The quote is the passage's own words, maybe cut
    with …, maybe with its line breaks collapsed and Markdown markup dropped (extraction.plain)."""
    words = quote.strip().strip("…").split()
    found = re.search(r"(?:[\s*#]|-{3,})+".join(re.escape(w) for w in words), passage) if words else None
    if found is None:
        return _show(passage.strip())
    at, end = found.span()
    return _show(passage[:at].lstrip()) + "<mark>" + _show(passage[at:end]) + "</mark>" + _show(passage[end:].rstrip())


def citation_html(c: Citation, anchor: str) -> str:
    return (f'<div class="src" id="{anchor}-{c.n}"><div class="src-head">[{c.n}] {_esc(c.title)}</div>'
            f'<div class="src-loc">{_esc(c.doc)} · {_esc(c.location)}</div>'
            f'<p class="src-text">{marked_passage(c.text, c.quote)}</p></div>')


def hit_html(h: Hit, titles: dict[str, str], max_chars: int) -> str:
    p = h.passage
    text = p.text.strip()
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] + " …"
    return (f'<div class="src"><div class="src-head">{_esc(titles.get(p.doc, p.doc))}</div>'
            f'<div class="src-loc">{_esc(p.doc)} · {_esc(p.location)}</div>'
            f'<p class="src-text">{_show(text)}</p></div>')


def sources_html(answer: Answer, anchor: str, titles: dict[str, str], t: dict[str, str],
                 max_chars: int) -> str:
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
    tm = answer.timings
    if not tm.get("completion_tokens"):
        return t["meta_no_model"].format(total=tm.get("total_s", 0.0))
    return t["meta"].format(total=tm.get("total_s", 0.0), ttft=tm.get("ttft_s", 0.0), prompt=tm["prompt_tokens"],
                            completion=tm["completion_tokens"], model=answer.model)


def answer_markdown(answer: Answer, anchor: str, t: dict[str, str]) -> str:
    """The chat bubble: the verified answer with linked citations, then warnings and the frugality line."""
    parts = []
    if answer.refused:
        parts.append(f"**⚠️ {t['refused']}**")
    parts.append(linkify(answer.answer, anchor))
    parts += [f"> ⚠️ {w}" for w in answer.warnings]
    if answer.dropped and not answer.refused:
        parts.append(f"_{t['dropped'].format(n=len(answer.dropped))}_")
    parts.append(f"<small>{_esc(meta_line(answer, t))}</small>")
    return "\n\n".join(parts)


def plain_markdown(answer: Answer) -> str:
    """The answer for API clients: text with [n] markers, then the numbered sources with their quotes."""
    out = [answer.answer]
    if answer.citations:
        out.append("**Sources**")
        out.append("\n".join(f"{c.n}. {c.title} — {c.location} ({c.doc}): « {c.quote} »" for c in answer.citations))
    return "\n\n".join(out)


def documents_rows(docs: list[dict[str, Any]]) -> list[list[Any]]:
    return [[d["title"], d["doc"], d["kind"], d["passages"], d["indexed_at"], d["problem"]] for d in docs]


def _error_text(exc: Exception) -> str:
    return str(exc) or exc.__class__.__name__


# -- assistants ---------------------------------------------------------------------------------------------
class Assistants:
    """One :class:`Assistant` per language-model choice, built on first use (same corpus and index)."""

    def __init__(self, settings: Settings, base: Assistant | None = None) -> None:
        self.settings = settings
        self._cache: dict[str, Assistant] = {settings.llm: base or Assistant(settings)}
        self._lock = threading.Lock()

    @property
    def base(self) -> Assistant:
        return self._cache[self.settings.llm]

    def get(self, llm: str | None) -> Assistant:
        llm = llm or self.settings.llm
        with self._lock:
            if llm not in self._cache:
                self._cache[llm] = Assistant(self.settings.model_copy(update={"llm": llm}))
            return self._cache[llm]


def choose_llm(choice: str, gguf_path: str, t: dict[str, str]) -> str:
    if choice != "gguf":
        return choice
    if not (gguf_path or "").strip():
        raise ModelError(t["gguf_missing"])
    return gguf_path.strip()


def _optional(value: str | None) -> str | None:
    """An optional field: gradio sends None for the fields of a closed accordion, and "" once cleared."""
    return (value or "").strip() or None


def _lang(value: str | None) -> str | None:
    return value if value in ("fr", "en") else None


# -- the app --------------------------------------------------------------------------------------------------
class WebUI:
    def __init__(self, settings: Settings, assistant: Assistant | None = None) -> None:
        offline.protect(settings.allowed_hosts)  # idempotent; the UI must never run unguarded
        self.settings = settings
        self.assistants = Assistants(settings, assistant)
        self._downloads = tempfile.TemporaryDirectory(prefix="gdpr-assistant-ui-")
        # Components whose texts follow the interface language: (component, {property: TEXTS key, or a
        # function of the texts for the few that also show values}).
        self._i18n: list[tuple[Any, dict[str, str | Callable[[dict[str, str]], Any]]]] = []

    def tr(self, component: Any, **keys: str | Callable[[dict[str, str]], Any]) -> Any:
        self._i18n.append((component, keys))
        return component

    # -- chat ----------------------------------------------------------------------------------------------
    def chat(self, question: str, conv: dict[str, Any], choice: str, gguf_path: str, k: float, lang: str,
             ui_lang: str) -> Iterator[tuple[Any, ...]]:
        t = TEXTS[ui_lang]
        if not (question or "").strip():
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        messages: list[dict[str, str]] = conv["messages"]
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": f"_{t['thinking']}_"})
        index = len(messages) - 1
        anchor = f"src-{index}"
        yield conv, messages, "", gr.skip()
        history = [(q, a) for q, a in conv["history"]]
        answer: Answer | None = None
        text = ""
        try:
            assistant = self.assistants.get(choose_llm(choice, gguf_path, t))
            for event in assistant.ask_stream(question, history, int(k), _lang(lang)):
                if isinstance(event, Answer):
                    answer = event
                else:
                    text += event
                    messages[index]["content"] = linkify(text, anchor) + " …"
                    yield conv, messages, gr.skip(), gr.skip()
            assert answer is not None
            panel = sources_html(answer, anchor, assistant.titles(), t, self.settings.ui_passage_chars)
        except USER_ERRORS as exc:
            messages[index]["content"] = f"**⚠️ {t['error']}** {_esc(_error_text(exc))}"
            yield conv, messages, gr.skip(), gr.skip()
            return
        messages[index]["content"] = answer_markdown(answer, anchor, t)
        conv["panels"][str(index)] = panel
        conv["history"].append([answer.question, answer.answer])
        yield conv, messages, gr.skip(), panel

    @staticmethod
    def show_sources(conv: dict[str, Any], evt: gr.SelectData) -> Any:
        index = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        panel = conv["panels"].get(str(index))
        return panel if panel is not None else gr.skip()

    @staticmethod
    def new_conversation(ui_lang: str) -> tuple[dict[str, Any], list[Any], str, str]:
        return new_conv(), [], "", empty_sources(TEXTS[ui_lang])

    # -- API -------------------------------------------------------------------------------------------------
    def api_ask(self, question: str, history: list[list[str]] | None = None, model: str = "", k: int = 0,
                lang: str = "auto") -> tuple[str, dict[str, Any]]:
        """Answer a question from the corpus, with verified citations.

        Parameters:
            question: the question (French or English).
            history: earlier turns of the conversation as [question, answer] pairs, so follow-ups are understood.
            model: "default", "fast" or the path of a .gguf file; empty for the server's model.
            k: passages to consult; 0 for the server's setting.
            lang: "auto", "fr" or "en".
        Returns:
            The answer as Markdown (with its numbered sources), and the full answer as a dictionary (citations
            with document, title, location and quote; refused; timings; model; warnings).
        """
        try:
            assistant = self.assistants.get(model or None)
            pairs = [(str(p[0]), str(p[1])) for p in history or [] if len(p) >= 2]
            answer = assistant.ask(question, pairs, k or None, _lang(lang))
        except USER_ERRORS as exc:
            raise gr.Error(_error_text(exc)) from exc
        return plain_markdown(answer), answer.as_dict()

    def api_search(self, question: str, k: int = 0) -> list[dict[str, Any]]:
        """The passages that best match the question (no language model), best first."""
        try:
            hits = self.assistants.base.search(question, k or None)
        except USER_ERRORS as exc:
            raise gr.Error(_error_text(exc)) from exc
        return [h.as_dict() for h in hits]

    def api_documents(self) -> list[dict[str, Any]]:
        """The indexed documents: file, title, kind, passages, date indexed and any problem reading them."""
        return self.assistants.base.documents()

    # -- corpus -------------------------------------------------------------------------------------------
    def corpus_view(self, ui_lang: str) -> tuple[Any, Any]:
        t = TEXTS[ui_lang]
        docs = self.assistants.base.documents()
        table = gr.update(value=documents_rows(docs), headers=t["docs_headers"].split("|"))
        choices = [(f"{d['title']} ({d['doc']})", d["doc"]) for d in docs]
        return table, gr.update(choices=choices, value=None)

    def upload(self, files: Sequence[str] | None, ui_lang: str,
               progress: gr.Progress = gr.Progress()) -> tuple[str, Any, Any, Any]:  # noqa: B008 (gradio's idiom)
        t = TEXTS[ui_lang]
        if not files:
            return t["no_file"], gr.skip(), gr.skip(), gr.skip()
        paths = [Path(f) for f in files]
        progress(0.0, desc=t["indexing"])
        try:
            report, problems = self.assistants.base.add_files(
                paths, lambda fraction, label: progress(fraction, desc=f"{t['indexing']} · {label}"))
        except USER_ERRORS as exc:
            return f"**⚠️ {t['error']}** {_error_text(exc)}", gr.skip(), gr.skip(), gr.skip()
        lines = []
        added = report.added + report.updated
        if added:
            lines.append("✓ " + t["added"].format(names=", ".join(added), passages=report.passages,
                                                   seconds=report.seconds))
        else:
            lines.append(t["nothing_added"])
        if problems:
            lines.append(f"**⚠️ {t['refused_files']}**\n" + "\n".join(f"- {p}" for p in problems))
        table, choices = self.corpus_view(ui_lang)
        return "\n\n".join(lines), table, choices, None

    def remove(self, name: str | None, ui_lang: str,
               progress: gr.Progress = gr.Progress()) -> tuple[str, Any, Any]:  # noqa: B008
        t = TEXTS[ui_lang]
        if not name:
            return t["no_doc"], gr.skip(), gr.skip()
        try:
            report = self.assistants.base.remove_document(
                name, lambda fraction, label: progress(fraction, desc=f"{t['indexing']} · {label}"))
        except USER_ERRORS as exc:
            return f"**⚠️ {t['error']}** {_error_text(exc)}", gr.skip(), gr.skip()
        table, choices = self.corpus_view(ui_lang)
        trash = self.settings.index_dir / "removed"
        return "✓ " + t["removed"].format(name=name, passages=report.passages, trash=trash), table, choices

    # -- purpose ------------------------------------------------------------------------------------------
    def _draft(self, assistant: Assistant, description: str, case: str, research_field: str, capabilities: str,
               risky: str, excluded: str, conditions: str, lang: str) -> Any:
        from gdpr_assistant.purpose import PurposeRequest

        request = PurposeRequest(
            description=description or "",
            operational_use_known=True if case == "operational" else None,
            general_purpose=True if case == "general_purpose" else None,
            research=True if case == "research" else None,
            research_field=_optional(research_field), capabilities=_optional(capabilities),
            risky_capabilities=_optional(risky), excluded_functionalities=_optional(excluded),
            conditions_of_use=_optional(conditions), lang=_lang(lang))
        return assistant.draft_purpose(request)

    def purpose_form(self, description: str, case: str, research_field: str, capabilities: str, risky: str,
                excluded: str, conditions: str, choice: str, gguf_path: str, lang: str,
                ui_lang: str) -> tuple[str, Any]:
        t = TEXTS[ui_lang]
        if not (description or "").strip():
            return f"<p><strong>⚠️</strong> {_esc(t['purpose_empty'])}</p>", gr.update(visible=False)
        try:
            assistant = self.assistants.get(choose_llm(choice, gguf_path, t))
            draft = self._draft(assistant, description, case, research_field, capabilities, risky, excluded,
                                conditions, lang)
        except USER_ERRORS as exc:
            return (f"<p><strong>⚠️ {_esc(t['error'])}</strong> {_esc(_error_text(exc))}</p>",
                    gr.update(visible=False))
        path = Path(tempfile.mkdtemp(dir=self._downloads.name)) / (
            "finalite.md" if draft.lang == "fr" else "purpose.md")
        path.write_text(draft.to_markdown(), encoding="utf-8")
        return purpose_html(draft, t), gr.update(value=str(path), visible=True)

    def api_purpose(self, description: str, case: str = "auto", research_field: str = "", capabilities: str = "",
                    risky_capabilities: str = "", excluded_functionalities: str = "", conditions_of_use: str = "",
                    lang: str = "auto", model: str = "") -> tuple[str, dict[str, Any]]:
        """Draft the purpose of the processing behind an AI system and check it against CNIL Fiche 2.

        Parameters:
            description: the system and its use, in a few sentences.
            case: "auto", "operational", "general_purpose" or "research".
            lang: "auto", "fr" or "en".
            model: "default", "fast" or a .gguf path; empty for the server's model.
        Returns:
            The draft as Markdown (statement, checklist, sources) and as a dictionary.
        """
        try:
            draft = self._draft(self.assistants.get(model or None), description, case, research_field, capabilities,
                                risky_capabilities, excluded_functionalities, conditions_of_use, lang)
        except USER_ERRORS as exc:
            raise gr.Error(_error_text(exc)) from exc
        return draft.to_markdown(), draft.as_dict()

    # -- language -----------------------------------------------------------------------------------------
    def switch_language(self, ui_lang: str) -> list[Any]:
        t = TEXTS[ui_lang]
        updates: list[Any] = []
        for _component, keys in self._i18n:
            kwargs: dict[str, Any] = {}
            for prop, key in keys.items():
                if callable(key):
                    kwargs[prop] = key(t)
                elif prop == "choices":
                    kwargs["choices"] = [(t[k], v) for k, v in CHOICES[key]]
                else:
                    kwargs[prop] = t[key]
            updates.append(gr.update(**kwargs))
        return updates

    # -- layout -------------------------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        t = TEXTS["fr"]
        with gr.Blocks(title="Assistant RGPD", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
            with gr.Row(equal_height=True):
                with gr.Column(scale=5):
                    self.tr(gr.Markdown(t["title"]), value="title")
                    self.tr(gr.Markdown(t["subtitle"]), value="subtitle")
                ui_lang = self.tr(gr.Radio(UI_LANGS, value="fr", label=t["ui_lang"], scale=1, min_width=180,
                                           elem_id="ui-lang"), label="ui_lang")
            with gr.Tabs():
                with self.tr(gr.Tab(t["tab_chat"], id="chat", elem_id="tab-chat"), label="tab_chat"):
                    chat = self._chat_tab(t)
                with self.tr(gr.Tab(t["tab_purpose"], id="purpose", elem_id="tab-purpose"), label="tab_purpose"):
                    purpose = self._purpose_tab(t)
                with self.tr(gr.Tab(t["tab_corpus"], id="corpus", elem_id="tab-corpus"), label="tab_corpus"):
                    corpus = self._corpus_tab(t)
                with self.tr(gr.Tab(t["tab_settings"], id="settings", elem_id="tab-settings"), label="tab_settings"):
                    model, gguf, k, lang = self._settings_tab(t)

            # One model call at a time, whichever tab or API client asks: two would share 2 cores badly.
            model_calls: dict[str, Any] = {"concurrency_id": "model", "concurrency_limit": 1}
            private: dict[str, Any] = {"api_visibility": "private"}
            chat_inputs = [chat["question"], chat["conv"], model, gguf, k, lang, ui_lang]
            chat_outputs = [chat["conv"], chat["chatbot"], chat["question"], chat["sources"]]
            asked = [chat["send"].click(self.chat, chat_inputs, chat_outputs, **private, **model_calls),
                     chat["question"].submit(self.chat, chat_inputs, chat_outputs, **private, **model_calls)]
            chat["stop"].click(None, cancels=asked, **private)
            chat["new"].click(self.new_conversation, [ui_lang], chat_outputs, cancels=asked, **private)
            chat["chatbot"].select(self.show_sources, [chat["conv"]], [chat["sources"]], **private)
            # The chatbot's own trash button clears the display; the conversation must go with it.
            chat["chatbot"].clear(self.new_conversation, [ui_lang], chat_outputs, cancels=asked, **private)

            purpose["button"].click(self.purpose_form, [*purpose["inputs"], model, gguf, lang, ui_lang],
                                    [purpose["output"], purpose["download"]], **private, **model_calls)

            view = [corpus["docs"], corpus["remove_doc"]]
            corpus["add"].click(self.upload, [corpus["files"], ui_lang], [corpus["status"], *view, corpus["files"]],
                                api_name="upload")
            corpus["remove"].click(self.remove, [corpus["remove_doc"], ui_lang], [corpus["status"], *view],
                                   api_name="remove")
            corpus["refresh"].click(self.corpus_view, [ui_lang], view, **private)
            demo.load(self.corpus_view, [ui_lang], view, **private)
            model.change(lambda choice: gr.update(visible=choice == "gguf"), [model], [gguf], **private)

            gr.api(self.api_ask, api_name="ask", **model_calls)
            gr.api(self.api_purpose, api_name="purpose", **model_calls)
            gr.api(self.api_search, api_name="search")
            gr.api(self.api_documents, api_name="documents")

            ui_lang.change(self.switch_language, [ui_lang], [c for c, _ in self._i18n], **private)
        return demo

    def _chat_tab(self, t: dict[str, str]) -> dict[str, Any]:
        c: dict[str, Any] = {"conv": gr.State(new_conv())}
        with gr.Row():
            with gr.Column(scale=3, min_width=360):
                c["chatbot"] = self.tr(gr.Chatbot(label=t["chatbot"], elem_id="chatbot", height="56vh", min_height=320,
                                                  placeholder=t["chat_placeholder"], buttons=["copy"],
                                                  feedback_options=None, group_consecutive_messages=False),
                                       label="chatbot", placeholder="chat_placeholder")
                c["question"] = self.tr(gr.Textbox(label=t["question"], placeholder=t["question_ph"], lines=2,
                                                   max_lines=8, elem_id="question"),
                                        label="question", placeholder="question_ph")
                with gr.Row():
                    c["send"] = self.tr(gr.Button(t["send"], variant="primary", elem_id="send"), value="send")
                    c["stop"] = self.tr(gr.Button(t["stop"], variant="stop", elem_id="stop", size="md"),
                                        value="stop")
                    c["new"] = self.tr(gr.Button(t["new"], elem_id="new", size="md"), value="new")
            with gr.Column(scale=2, min_width=300):
                c["sources"] = gr.HTML(empty_sources(t), elem_id="sources", padding=True)
        return c

    def _corpus_tab(self, t: dict[str, str]) -> dict[str, Any]:
        s = self.settings

        def info(t: dict[str, str]) -> str:
            return t["corpus_info"].format(corpus=s.corpus_dir, index=s.index_dir)

        def headers(t: dict[str, str]) -> list[str]:
            return t["docs_headers"].split("|")

        c: dict[str, Any] = {}
        self.tr(gr.Markdown(info(t)), value=info)
        c["docs"] = self.tr(gr.Dataframe(documents_rows(self.assistants.base.documents()), headers=headers(t),
                                         label=t["docs"], interactive=False, wrap=True, elem_id="documents",
                                         column_widths=["34%", "22%", "14%", "8%", "12%", "10%"]),
                            label="docs", headers=headers)
        with gr.Row():
            with gr.Column(scale=3):
                c["files"] = self.tr(gr.File(label=t["upload"], file_count="multiple",
                                             file_types=list(SUPPORTED_SUFFIXES), elem_id="upload"), label="upload")
                c["add"] = self.tr(gr.Button(t["add"], variant="primary", elem_id="add"), value="add")
            with gr.Column(scale=2):
                c["remove_doc"] = self.tr(gr.Dropdown([], label=t["remove_doc"], elem_id="remove-doc"),
                                          label="remove_doc")
                c["remove"] = self.tr(gr.Button(t["remove"], variant="stop", elem_id="remove"), value="remove")
                c["refresh"] = self.tr(gr.Button(t["refresh"], size="sm"), value="refresh")
        c["status"] = gr.Markdown(elem_id="corpus-status")
        return c

    def _settings_tab(self, t: dict[str, str]) -> tuple[Any, Any, Any, Any]:
        s = self.settings
        choice = s.llm if s.llm in PACKAGED else "gguf"
        model = self.tr(gr.Radio([(t[k], v) for k, v in CHOICES["model"]], value=choice, label=t["model"],
                                 elem_id="model"), label="model", choices="model")
        gguf = self.tr(gr.Textbox(s.llm if choice == "gguf" else "", label=t["gguf"], elem_id="gguf",
                                  visible=choice == "gguf"), label="gguf")
        k = self.tr(gr.Slider(1, 12, value=s.answer_k, step=1, label=t["k"], elem_id="k"), label="k")
        lang = self.tr(gr.Radio([(t[k], v) for k, v in CHOICES["lang"]], value="auto", label=t["answer_lang"],
                                elem_id="answer-lang"), label="answer_lang", choices="lang")
        self.tr(gr.Markdown(t["settings_note"]), value="settings_note")
        return model, gguf, k, lang

    def _purpose_tab(self, t: dict[str, str]) -> dict[str, Any]:
        self.tr(gr.Markdown(t["purpose_intro"]), value="purpose_intro")
        c: dict[str, Any] = {}
        with gr.Row():
            with gr.Column(scale=2, min_width=340):
                description = self.tr(gr.Textbox(label=t["description"], placeholder=t["description_ph"], lines=5,
                                                 elem_id="purpose-description"),
                                      label="description", placeholder="description_ph")
                case = self.tr(gr.Radio([(t[k], v) for k, v in CHOICES["case"]], value="auto", label=t["case"],
                                        elem_id="purpose-case"), label="case", choices="case")
                with self.tr(gr.Accordion(t["details"], open=False), label="details"):
                    fields = [self.tr(gr.Textbox(label=t[key], lines=1, max_lines=4), label=key)
                              for key in ("research_field", "capabilities", "risky", "excluded", "conditions")]
                c["button"] = self.tr(gr.Button(t["draft"], variant="primary", elem_id="purpose-draft"),
                                      value="draft")
            with gr.Column(scale=3, min_width=340):
                c["download"] = self.tr(gr.DownloadButton(t["download"], visible=False, elem_id="purpose-download",
                                                          size="md"), label="download")
                c["output"] = gr.HTML(elem_id="purpose-output", padding=True)
        c["inputs"] = [description, case, *fields]
        return c


CHOICES: dict[str, list[tuple[str, str]]] = {
    "model": [("model_default", "default"), ("model_fast", "fast"), ("model_gguf", "gguf")],
    "lang": [("lang_auto", "auto"), ("lang_fr", "fr"), ("lang_en", "en")],
    "case": [("case_auto", "auto"), ("case_operational", "operational"), ("case_general", "general_purpose"),
             ("case_research", "research")],
}


def new_conv() -> dict[str, Any]:
    """A conversation: chat messages shown, (question, answer) pairs for follow-ups, sources per message."""
    return {"messages": [], "history": [], "panels": {}}


def purpose_html(draft: Any, t: dict[str, str]) -> str:
    """Statement, checklist with covered / missing criteria and their citations, questions, sources."""
    def cite(c: Citation | None) -> str:
        return f" [{c.n}]" if c else ""

    out = [f"<h3>{t['statement']}</h3>", f'<div class="purpose purpose-statement">{_esc(draft.statement)}</div>',
           f"<p><strong>{_esc(draft.case_label)}</strong>{cite(draft.case_citation)} — {_esc(draft.case_reason)}</p>",
           f"<h3>{t['checklist']}</h3>", '<table class="checklist">']
    icons = {"covered": "✓", "missing": "✗", "insufficient": "⚠"}  # in every system font, unlike emoji
    for c in draft.criteria:
        need = t["required"] if c.required else t["recommended"]
        out.append(f'<tr><td class="status status-{c.status}">{icons.get(c.status, "")} {t.get(c.status, c.status)}'
                   f"</td><td><strong>{_esc(c.label)}</strong> ({need}){cite(c.citation)}"
                   + (f"<br><small>{_esc(c.detail)}</small>" if c.detail else "") + "</td></tr>")
    out.append("</table>")
    if draft.questions:
        out.append(f"<h3>{t['to_complete']}</h3><ol>" + "".join(f"<li>{_esc(q)}</li>" for q in draft.questions)
                   + "</ol>")
    if draft.warnings:
        out.append(f"<h3>{t['warnings']}</h3><ul>" + "".join(f"<li>⚠️ {_esc(w)}</li>" for w in draft.warnings)
                   + "</ul>")
    if draft.citations:
        out.append(f"<h3>{t['sources']}</h3>" + "".join(citation_html(c, "purpose-src") for c in draft.citations))
    model = t["template"] if draft.model == "template" else draft.model
    out.append(f"<p><small>{_esc(t['purpose_meta'].format(total=draft.timings.get('total_s', 0.0), model=model))}"
               "</small></p>")
    return "\n".join(out)


def serve(settings: Settings, assistant: Assistant, host: str, port: int | None, open_browser: bool = False,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Build the UI and serve it until interrupted."""
    demo = WebUI(settings, assistant).build()
    demo.queue(default_concurrency_limit=2)
    # SSR needs Node and would fetch nothing useful; the footer drops the external "Built with Gradio" link.
    _, url, _ = demo.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True,
                            share=False, inbrowser=open_browser, show_error=False, ssr_mode=False, pwa=False,
                            mcp_server=False, enable_monitoring=False, footer_links=["api", "settings"],
                            css=CSS, theme=THEME)
    if on_ready:
        on_ready(url)
    try:
        demo.block_thread()
    finally:
        demo.close()
