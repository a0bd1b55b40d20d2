"""The page's tabs, and the registry of texts that follow the interface language.

Each tab builder creates its components in the open Blocks and returns them; :class:`.web.WebUI` wires the
events. Every component whose texts are translated goes through a :class:`Translations`, so switching the
language is one event that updates them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

import gradio as gr

from gdpr_assistant.ingest.corpus import SUPPORTED_SUFFIXES
from gdpr_assistant.interfaces.ui.render import documents_rows, empty_sources
from gdpr_assistant.interfaces.ui.texts import CHOICES, TEXTS
from gdpr_assistant.models.packaged import PACKAGED
from gdpr_assistant.settings import Settings
from gdpr_assistant.types import Energy

B = TypeVar("B", bound=gr.blocks.Block)
# A translated property: a TEXTS key, or a function of the texts for the few that also show values.
TextKey = str | Callable[[dict[str, str]], Any]


class Translations:
    """The components whose texts follow the interface language, with the TEXTS key of each property."""

    def __init__(self) -> None:
        self._items: list[tuple[gr.blocks.Block, dict[str, TextKey]]] = []

    def __call__(self, component: B, **keys: TextKey) -> B:
        self._items.append((component, keys))
        return component

    @property
    def components(self) -> list[gr.blocks.Block]:
        return [c for c, _ in self._items]

    def updates(self, ui_lang: str) -> list[Any]:
        """One ``gr.update`` per component, in the order of :attr:`components`."""
        t = TEXTS[ui_lang]
        updates: list[Any] = []
        for _component, keys in self._items:
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


class Conversation(TypedDict):
    """The chat tab's ``gr.State``: one per browser session, in memory only."""

    messages: list[dict[str, str]]  # the chat as shown, in gradio's "messages" format
    history: list[list[str]]  # [question, answer] pairs, so follow-up questions are understood
    panels: dict[str, str]  # sources panel per assistant message index, shown again when it is clicked
    energies: list[Energy]  # what each answer cost, for the conversation's total under the chat
    owner: str  # the logged-in user who started it ("" without logins): nobody else is shown it


@dataclass
class ChatTab:
    conv: gr.State
    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    stop: gr.Button
    new: gr.Button
    sources: gr.HTML
    energy: gr.HTML  # the conversation's total (render.conversation_energy)


@dataclass
class PurposeTab:
    inputs: list[gr.components.Component]  # description, case, then the optional details
    button: gr.Button
    download: gr.DownloadButton
    output: gr.HTML


@dataclass
class CorpusTab:
    docs: gr.Dataframe
    files: gr.File
    add: gr.Button
    remove_doc: gr.Dropdown
    remove: gr.Button
    refresh: gr.Button
    status: gr.Markdown


@dataclass
class SettingsTab:
    model: gr.Radio
    gguf: gr.Textbox
    k: gr.Slider
    lang: gr.Radio


def new_conv() -> Conversation:
    return {"messages": [], "history": [], "panels": {}, "energies": [], "owner": ""}


def chat_tab(tr: Translations, t: dict[str, str]) -> ChatTab:
    conv = gr.State(new_conv())
    with gr.Row():
        with gr.Column(scale=3, min_width=360):
            chatbot = tr(gr.Chatbot(label=t["chatbot"], elem_id="chatbot", height="56vh", min_height=320,
                                    placeholder=t["chat_placeholder"], buttons=["copy"], feedback_options=None,
                                    group_consecutive_messages=False),
                         label="chatbot", placeholder="chat_placeholder")
            # lines=1: gradio's textarea then submits on Enter and inserts a line on Shift+Enter, growing up to
            # max_lines. With lines > 1 it is the other way round, which nobody expects of a chat.
            question = tr(gr.Textbox(label=t["question"], placeholder=t["question_ph"], lines=1, max_lines=8,
                                     elem_id="question"),
                          label="question", placeholder="question_ph")
            with gr.Row():
                send = tr(gr.Button(t["send"], variant="primary", elem_id="send"), value="send")
                stop = tr(gr.Button(t["stop"], variant="stop", elem_id="stop", size="md"), value="stop")
                new = tr(gr.Button(t["new"], elem_id="new", size="md"), value="new")
            energy = gr.HTML("", elem_id="conv-energy", padding=False)
        with gr.Column(scale=2, min_width=300):
            sources = gr.HTML(empty_sources(t), elem_id="sources", padding=True)
    return ChatTab(conv, chatbot, question, send, stop, new, sources, energy)


def corpus_tab(tr: Translations, t: dict[str, str], settings: Settings, docs: list[dict[str, Any]]) -> CorpusTab:
    def info(t: dict[str, str]) -> str:
        return t["corpus_info"].format(corpus=settings.corpus.corpus_dir, index=settings.corpus.index_dir)

    def headers(t: dict[str, str]) -> list[str]:
        return t["docs_headers"].split("|")

    tr(gr.Markdown(info(t)), value=info)
    table = tr(gr.Dataframe(documents_rows(docs), headers=headers(t), label=t["docs"], interactive=False, wrap=True,
                            elem_id="documents", column_widths=["34%", "22%", "14%", "8%", "12%", "10%"]),
               label="docs", headers=headers)
    with gr.Row():
        with gr.Column(scale=3):
            files = tr(gr.File(label=t["upload"], file_count="multiple", file_types=list(SUPPORTED_SUFFIXES),
                               elem_id="upload"), label="upload")
            add = tr(gr.Button(t["add"], variant="primary", elem_id="add"), value="add")
        with gr.Column(scale=2):
            # Any name is let through to the handler, which checks it against the corpus: an API client (`/remove`)
            # has no page load to fill the choices in its session.
            remove_doc = tr(gr.Dropdown([], label=t["remove_doc"], elem_id="remove-doc", allow_custom_value=True),
                            label="remove_doc")
            remove = tr(gr.Button(t["remove"], variant="stop", elem_id="remove"), value="remove")
            refresh = tr(gr.Button(t["refresh"], size="sm"), value="refresh")
    status = gr.Markdown(elem_id="corpus-status")
    return CorpusTab(table, files, add, remove_doc, remove, refresh, status)


def settings_tab(tr: Translations, t: dict[str, str], settings: Settings) -> SettingsTab:
    llm = settings.models.llm
    choice = llm if llm in PACKAGED else "gguf"
    # With a model server (ASK_LLM_URL) there is one model, the server's: nothing to choose.
    model = tr(gr.Radio([(t[k], v) for k, v in CHOICES["model"]], value=choice, label=t["model"], elem_id="model",
                        visible=not settings.models.llm_url),
               label="model", choices="model")
    gguf = tr(gr.Textbox(llm if choice == "gguf" else "", label=t["gguf"], elem_id="gguf", visible=choice == "gguf"),
              label="gguf")
    k = tr(gr.Slider(1, 12, value=settings.retrieval.answer_k, step=1, label=t["k"], elem_id="k"), label="k")
    lang = tr(gr.Radio([(t[k], v) for k, v in CHOICES["lang"]], value="auto", label=t["answer_lang"],
                       elem_id="answer-lang"), label="answer_lang", choices="lang")
    tr(gr.Markdown(t["settings_note"]), value="settings_note")
    return SettingsTab(model, gguf, k, lang)


def purpose_tab(tr: Translations, t: dict[str, str]) -> PurposeTab:
    tr(gr.Markdown(t["purpose_intro"]), value="purpose_intro")
    with gr.Row():
        with gr.Column(scale=2, min_width=340):
            description = tr(gr.Textbox(label=t["description"], placeholder=t["description_ph"], lines=5,
                                        elem_id="purpose-description"),
                             label="description", placeholder="description_ph")
            case = tr(gr.Radio([(t[k], v) for k, v in CHOICES["case"]], value="auto", label=t["case"],
                               elem_id="purpose-case"), label="case", choices="case")
            with tr(gr.Accordion(t["details"], open=False), label="details"):
                fields = [tr(gr.Textbox(label=t[key], lines=1, max_lines=4), label=key)
                          for key in ("research_field", "capabilities", "risky", "excluded", "conditions")]
            button = tr(gr.Button(t["draft"], variant="primary", elem_id="purpose-draft"), value="draft")
        with gr.Column(scale=3, min_width=340):
            download = tr(gr.DownloadButton(t["download"], visible=False, elem_id="purpose-download", size="md"),
                          label="download")
            output = gr.HTML(elem_id="purpose-output", padding=True)
    return PurposeTab([description, case, *fields], button, download, output)
