"""The web UI (`python app.py`): a thin Gradio layer over :class:`gdpr_assistant.assistant.Assistant`.

Chat with verified citations and a sources panel, purpose drafting, corpus management and settings.

- :mod:`.texts`: every label, in French and English;
- :mod:`.passage`: a passage's Markdown rendered as HTML, the quoted span marked;
- :mod:`.render`: answers, sources panels and purpose drafts as the page shows them;
- :mod:`.assistants`: one assistant per model choice, the errors shown to users;
- :mod:`.layout`: the tabs, and the texts that follow the interface language;
- :mod:`.web`: the page's handlers and API endpoints, and the events that wire them;
- :mod:`.server`: its theme and style sheet, and the server.

Importing it guards the process first (offline switches, egress guard), as ``app.py`` and the pipeline do:
gradio reads its analytics switch at import time, and every submodule is imported after this line.
"""

from __future__ import annotations

from gdpr_assistant import offline

offline.protect()

from gdpr_assistant.interfaces.ui.assistants import USER_ERRORS, Assistants, choose_llm  # noqa: E402
from gdpr_assistant.interfaces.ui.layout import Conversation, new_conv  # noqa: E402
from gdpr_assistant.interfaces.ui.passage import marked_passage, quoted_span, render_passage  # noqa: E402
from gdpr_assistant.interfaces.ui.render import (  # noqa: E402
    answer_markdown,
    citation_html,
    conversation_energy,
    documents_rows,
    empty_sources,
    energy_line,
    hit_html,
    linkify,
    meta_line,
    plain_markdown,
    purpose_html,
    sources_html,
)
from gdpr_assistant.interfaces.ui.server import CSS, THEME, launch, serve  # noqa: E402
from gdpr_assistant.interfaces.ui.texts import CHOICES, TEXTS, UI_LANGS  # noqa: E402
from gdpr_assistant.interfaces.ui.web import WebUI  # noqa: E402

__all__ = [
    "CHOICES", "CSS", "TEXTS", "THEME", "UI_LANGS", "USER_ERRORS", "Assistants", "Conversation", "WebUI",
    "answer_markdown", "choose_llm", "citation_html", "conversation_energy", "documents_rows", "empty_sources",
    "energy_line", "hit_html", "launch",
    "linkify", "marked_passage", "meta_line", "new_conv", "plain_markdown", "purpose_html", "quoted_span",
    "render_passage", "serve", "sources_html",
]
