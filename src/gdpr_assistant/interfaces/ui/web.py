"""The page: the handlers behind its components, the API endpoints (`/ask`, `/search`, …), and the Blocks
that lay out the tabs of :mod:`.layout` and wire them to the handlers.

Every decision is the pipeline's; the handlers turn form values into :class:`Assistant` calls and results into
:mod:`.render` output. The conversation lives in the browser session's memory (``gr.State``) and is never
written to disk. With logins (:mod:`.auth`), a conversation belongs to the user who started it, and only admins
add or remove documents. An error shown to a user is logged as one line: its kind, never the question.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from gdpr_assistant import offline
from gdpr_assistant.assistant import Assistant
from gdpr_assistant.index.embedding import EmbedderError
from gdpr_assistant.index.store import IndexError_
from gdpr_assistant.interfaces.ui.assistants import (
    USER_ERRORS,
    Assistants,
    answer_lang,
    choose_llm,
    error_text,
    optional,
)
from gdpr_assistant.interfaces.ui.auth import LOCAL_USER, Auth
from gdpr_assistant.interfaces.ui.layout import (
    Conversation,
    Translations,
    chat_tab,
    corpus_tab,
    new_conv,
    purpose_tab,
    settings_tab,
)
from gdpr_assistant.interfaces.ui.render import (
    answer_markdown,
    conversation_energy,
    documents_rows,
    empty_sources,
    esc,
    linkify,
    plain_markdown,
    purpose_html,
    sources_html,
)
from gdpr_assistant.interfaces.ui.texts import TEXTS, UI_LANGS
from gdpr_assistant.models.backend import ModelError
from gdpr_assistant.purpose import PurposeDraft, PurposeRequest
from gdpr_assistant.settings import Settings
from gdpr_assistant.types import Answer

log = logging.getLogger(__name__)


class WebUI:
    """The page of one server: its handlers, and :meth:`build` to lay it out and wire them."""

    def __init__(self, settings: Settings, assistant: Assistant | None = None, auth: Auth | None = None) -> None:
        offline.protect(settings.privacy.allowed_hosts)  # idempotent; the UI must never run unguarded
        self.settings = settings
        self.assistants = Assistants(settings, assistant)
        self.auth = auth or Auth(settings.shared)
        self._downloads = tempfile.TemporaryDirectory(prefix="gdpr-assistant-ui-")
        self.tr = Translations()

    # -- users -----------------------------------------------------------------------------------------------
    @staticmethod
    def user(request: gr.Request | None) -> str:
        return str(getattr(request, "username", None) or LOCAL_USER)

    @staticmethod
    def failed(what: str, exc: Exception, user: str) -> None:
        """One log line per error shown to a user: no traceback, and never the question (a question error's
        message may quote it), only the message of a system's error (model server, index), which names the fix."""
        system = isinstance(exc, ModelError | IndexError_ | EmbedderError)
        log.warning("%s failed for %s: %s%s", what, user or "the local user", exc.__class__.__name__,
                    f": {error_text(exc)}" if system else "")

    def llm(self, choice: str | None, user: str, t: dict[str, str]) -> str | None:
        """The model a user may ask for: with logins, only admins name a GGUF file (a path on the server)."""
        if choice and choice not in ("default", "fast") and self.auth.enabled and not self.auth.is_admin(user):
            raise ModelError(t["admin_only"])
        return choice

    def own(self, conv: Conversation, user: str) -> Conversation:
        """The conversation if it is this user's; a new one otherwise (a session opened by someone else is never
        shown, even to a user who got hold of its id)."""
        if conv.get("owner", LOCAL_USER) not in (LOCAL_USER, user):
            log.warning("A conversation of another user was refused to %s.", user)
            conv = new_conv()
        conv["owner"] = user
        return conv

    # -- chat ----------------------------------------------------------------------------------------------
    def chat(self, question: str, conv: Conversation, choice: str, gguf_path: str, k: float, lang: str,
             ui_lang: str, request: gr.Request | None) -> Iterator[tuple[Any, ...]]:
        # Outputs: the conversation, the chat, the question box, the sources panel, the energy total.
        t = TEXTS[ui_lang]
        if not (question or "").strip():
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        user = self.user(request)
        conv = self.own(conv, user)
        messages = conv["messages"]
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": f"_{t['thinking']}_"})
        index = len(messages) - 1
        anchor = f"src-{index}"
        yield conv, messages, "", gr.skip(), gr.skip()
        history = [(q, a) for q, a in conv["history"]]
        answer: Answer | None = None
        text = ""
        try:
            assistant = self.assistants.get(self.llm(choose_llm(choice, gguf_path, t), user, t))
            for event in assistant.ask_stream(question, history, int(k), answer_lang(lang)):
                if isinstance(event, Answer):
                    answer = event
                else:
                    text += event
                    messages[index]["content"] = linkify(text, anchor) + " …"
                    yield conv, messages, gr.skip(), gr.skip(), gr.skip()
            assert answer is not None
            panel = sources_html(answer, anchor, assistant.titles(), t, self.settings.ui.ui_passage_chars)
        except USER_ERRORS as exc:
            self.failed("Question", exc, user)
            messages[index]["content"] = f"**⚠️ {t['error']}** {esc(error_text(exc))}"
            yield conv, messages, gr.skip(), gr.skip(), gr.skip()
            return
        messages[index]["content"] = answer_markdown(answer, anchor, t)
        conv["panels"][str(index)] = panel
        conv["history"].append([answer.question, answer.answer])
        # A stopped or failed answer adds nothing: its energy was never measured to the end.
        if answer.energy:
            conv["energies"].append(answer.energy)
        yield conv, messages, gr.skip(), panel, conversation_energy(conv["energies"], t)

    def show_sources(self, conv: Conversation, evt: gr.SelectData, request: gr.Request) -> Any:
        index = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        panel = self.own(conv, self.user(request))["panels"].get(str(index))
        return panel if panel is not None else gr.skip()

    @staticmethod
    def new_conversation(ui_lang: str) -> tuple[Conversation, list[Any], str, str, str]:
        return new_conv(), [], "", empty_sources(TEXTS[ui_lang]), ""  # the energy total starts again too

    @staticmethod
    def conversation_energy(conv: Conversation, ui_lang: str) -> str:
        """The energy total in the interface's language (it is switched in place)."""
        return conversation_energy(conv["energies"], TEXTS[ui_lang])

    # -- API -------------------------------------------------------------------------------------------------
    def api_ask(self, question: str, history: list[list[str]] | None = None, model: str = "", k: int = 0,
                lang: str = "auto", request: gr.Request = None) -> tuple[str, dict[str, Any]]:  # type: ignore[assignment]
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
        user = self.user(request)
        try:
            assistant = self.assistants.get(self.llm(model or None, user, TEXTS["en"]))
            pairs = [(str(p[0]), str(p[1])) for p in history or [] if len(p) >= 2]
            answer = assistant.ask(question, pairs, k or None, answer_lang(lang))
        except USER_ERRORS as exc:
            self.failed("API question", exc, user)
            raise gr.Error(error_text(exc), print_exception=False) from None
        return plain_markdown(answer), answer.as_dict()

    def api_search(self, question: str, k: int = 0,
                   request: gr.Request = None) -> list[dict[str, Any]]:  # type: ignore[assignment]
        """The passages that best match the question (no language model), best first."""
        try:
            hits = self.assistants.base.search(question, k or None)
        except USER_ERRORS as exc:
            self.failed("Search", exc, self.user(request))
            raise gr.Error(error_text(exc), print_exception=False) from None
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

    def admin_only(self, request: gr.Request | None, t: dict[str, str]) -> str:
        """The user, if they may add or remove documents; a refusal (an error for the page and the API) if not."""
        user = self.user(request)
        if not self.auth.is_admin(user):
            log.warning("Refused a change of the documents to %s (not an admin).", user or "?")
            raise gr.Error(t["admin_only"], print_exception=False)  # one log line above, no traceback
        return user

    def corpus_controls(self, request: gr.Request) -> tuple[Any, ...]:
        """Adding and removing documents shown to admins only (their handlers refuse the others anyway)."""
        admin = self.auth.is_admin(self.user(request))
        return tuple(gr.update(visible=admin) for _ in range(4))

    def upload(self, files: Sequence[str] | None, ui_lang: str, request: gr.Request,
               progress: gr.Progress = gr.Progress()) -> tuple[str, Any, Any, Any]:  # noqa: B008 (gradio's idiom)
        t = TEXTS[ui_lang]
        user = self.admin_only(request, t)
        if not files:
            return t["no_file"], gr.skip(), gr.skip(), gr.skip()
        paths = [Path(f) for f in files]
        progress(0.0, desc=t["indexing"])
        try:
            report, problems = self.assistants.base.add_files(
                paths, lambda fraction, label: progress(fraction, desc=f"{t['indexing']} · {label}"))
        except USER_ERRORS as exc:
            self.failed("Upload", exc, user)
            return f"**⚠️ {t['error']}** {error_text(exc)}", gr.skip(), gr.skip(), gr.skip()
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

    def remove(self, name: str | None, ui_lang: str, request: gr.Request,
               progress: gr.Progress = gr.Progress()) -> tuple[str, Any, Any]:  # noqa: B008
        t = TEXTS[ui_lang]
        user = self.admin_only(request, t)
        if not name:
            return t["no_doc"], gr.skip(), gr.skip()
        try:
            report = self.assistants.base.remove_document(
                name, lambda fraction, label: progress(fraction, desc=f"{t['indexing']} · {label}"))
        except USER_ERRORS as exc:
            self.failed("Removal", exc, user)
            return f"**⚠️ {t['error']}** {error_text(exc)}", gr.skip(), gr.skip()
        table, choices = self.corpus_view(ui_lang)
        trash = self.settings.corpus.index_dir / "removed"
        return "✓ " + t["removed"].format(name=name, passages=report.passages, trash=trash), table, choices

    # -- purpose ------------------------------------------------------------------------------------------
    @staticmethod
    def _draft(assistant: Assistant, description: str, case: str, research_field: str, capabilities: str,
               risky: str, excluded: str, conditions: str, lang: str) -> PurposeDraft:
        request = PurposeRequest(
            description=description or "",
            operational_use_known=True if case == "operational" else None,
            general_purpose=True if case == "general_purpose" else None,
            research=True if case == "research" else None,
            research_field=optional(research_field), capabilities=optional(capabilities),
            risky_capabilities=optional(risky), excluded_functionalities=optional(excluded),
            conditions_of_use=optional(conditions), lang=answer_lang(lang))
        return assistant.draft_purpose(request)

    def purpose_form(self, description: str, case: str, research_field: str, capabilities: str, risky: str,
                     excluded: str, conditions: str, choice: str, gguf_path: str, lang: str,
                     ui_lang: str, request: gr.Request) -> tuple[str, Any]:
        t = TEXTS[ui_lang]
        if not (description or "").strip():
            return f"<p><strong>⚠️</strong> {esc(t['purpose_empty'])}</p>", gr.update(visible=False)
        user = self.user(request)
        try:
            assistant = self.assistants.get(self.llm(choose_llm(choice, gguf_path, t), user, t))
            draft = self._draft(assistant, description, case, research_field, capabilities, risky, excluded,
                                conditions, lang)
        except USER_ERRORS as exc:
            self.failed("Purpose", exc, user)
            return (f"<p><strong>⚠️ {esc(t['error'])}</strong> {esc(error_text(exc))}</p>",
                    gr.update(visible=False))
        path = Path(tempfile.mkdtemp(dir=self._downloads.name)) / (
            "finalite.md" if draft.lang == "fr" else "purpose.md")
        path.write_text(draft.to_markdown(), encoding="utf-8")
        return purpose_html(draft, t), gr.update(value=str(path), visible=True)

    def api_purpose(self, description: str, case: str = "auto", research_field: str = "", capabilities: str = "",
                    risky_capabilities: str = "", excluded_functionalities: str = "", conditions_of_use: str = "",
                    lang: str = "auto", model: str = "",
                    request: gr.Request = None) -> tuple[str, dict[str, Any]]:  # type: ignore[assignment]
        """Draft the purpose of the processing behind an AI system and check it against CNIL Fiche 2.

        Parameters:
            description: the system and its use, in a few sentences.
            case: "auto", "operational", "general_purpose" or "research".
            lang: "auto", "fr" or "en".
            model: "default", "fast" or a .gguf path; empty for the server's model.
        Returns:
            The draft as Markdown (statement, checklist, sources) and as a dictionary.
        """
        user = self.user(request)
        try:
            draft = self._draft(self.assistants.get(self.llm(model or None, user, TEXTS["en"])), description, case,
                                research_field, capabilities, risky_capabilities, excluded_functionalities,
                                conditions_of_use, lang)
        except USER_ERRORS as exc:
            self.failed("API purpose", exc, user)
            raise gr.Error(error_text(exc), print_exception=False) from None
        return draft.to_markdown(), draft.as_dict()

    # -- language -----------------------------------------------------------------------------------------
    def switch_language(self, ui_lang: str) -> list[Any]:
        return self.tr.updates(ui_lang)

    # -- page -------------------------------------------------------------------------------------------
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
                    chat = chat_tab(self.tr, t)
                with self.tr(gr.Tab(t["tab_purpose"], id="purpose", elem_id="tab-purpose"), label="tab_purpose"):
                    purpose = purpose_tab(self.tr, t)
                with self.tr(gr.Tab(t["tab_corpus"], id="corpus", elem_id="tab-corpus"), label="tab_corpus"):
                    corpus = corpus_tab(self.tr, t, self.settings, self.assistants.base.documents())
                with self.tr(gr.Tab(t["tab_settings"], id="settings", elem_id="tab-settings"), label="tab_settings"):
                    prefs = settings_tab(self.tr, t, self.settings)

            # Model calls at once, whichever tab or API client asks (the others wait in the queue, which shows
            # their place): one with the in-process model (two would share the cores badly), more with a server.
            model_calls: dict[str, Any] = {"concurrency_id": "model", "concurrency_limit": model_concurrency(
                self.settings)}
            private: dict[str, Any] = {"api_visibility": "private"}
            chat_inputs = [chat.question, chat.conv, prefs.model, prefs.gguf, prefs.k, prefs.lang, ui_lang]
            chat_outputs = [chat.conv, chat.chatbot, chat.question, chat.sources, chat.energy]
            # The button, and Enter in the question box (layout.chat_tab), send the question.
            asked = [chat.send.click(self.chat, chat_inputs, chat_outputs, **private, **model_calls),
                     chat.question.submit(self.chat, chat_inputs, chat_outputs, **private, **model_calls)]
            chat.stop.click(None, cancels=asked, **private)
            chat.new.click(self.new_conversation, [ui_lang], chat_outputs, cancels=asked, **private)
            chat.chatbot.select(self.show_sources, [chat.conv], [chat.sources], **private)
            # The chatbot's own trash button clears the display; the conversation must go with it.
            chat.chatbot.clear(self.new_conversation, [ui_lang], chat_outputs, cancels=asked, **private)

            purpose.button.click(self.purpose_form,
                                 [*purpose.inputs, prefs.model, prefs.gguf, prefs.lang, ui_lang],
                                 [purpose.output, purpose.download], **private, **model_calls)

            view = [corpus.docs, corpus.remove_doc]
            corpus.add.click(self.upload, [corpus.files, ui_lang], [corpus.status, *view, corpus.files],
                             api_name="upload")
            corpus.remove.click(self.remove, [corpus.remove_doc, ui_lang], [corpus.status, *view], api_name="remove")
            corpus.refresh.click(self.corpus_view, [ui_lang], view, **private)
            demo.load(self.corpus_view, [ui_lang], view, **private)
            demo.load(self.corpus_controls, None, [corpus.files, corpus.add, corpus.remove_doc, corpus.remove],
                      **private)
            prefs.model.change(lambda choice: gr.update(visible=choice == "gguf"), [prefs.model], [prefs.gguf],
                               **private)

            gr.api(self.api_ask, api_name="ask", **model_calls)
            gr.api(self.api_purpose, api_name="purpose", **model_calls)
            gr.api(self.api_search, api_name="search")
            gr.api(self.api_documents, api_name="documents")

            ui_lang.change(self.switch_language, [ui_lang], self.tr.components, **private)
            ui_lang.change(self.conversation_energy, [chat.conv, ui_lang], [chat.energy], **private)
        return demo


def model_concurrency(settings: Settings) -> int:
    """``ui_concurrency``, or by default 1 with the in-process model and 2 with a model server: one request read
    by the server while the app retrieves and verifies another (llama.cpp's server serves one at a time; raise
    it for a server that batches, vLLM). More would only queue at the server, out of the users' sight."""
    return settings.shared.ui_concurrency or (2 if settings.models.llm_url else 1)
