"""Serving the page: its look (theme and style sheet) and the Gradio server, on this computer only unless the
caller chose another interface (``app.py --host``)."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.interfaces.ui.auth import Auth
from gdpr_assistant.interfaces.ui.web import WebUI, model_concurrency
from gdpr_assistant.settings import Settings

# System fonts: nothing to download, and every glyph of French text is there.
THEME = gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"])

# .src-text holds a passage's rendered Markdown (passage.py): its headings and lists are a slide's or a
# document's, so they are kept near the size of the text around them, and the block margins small, so a
# passage reads as one excerpt in the narrow panel.
CSS = """
.gradio-container { max-width: 1400px !important; }
#sources { max-height: 70vh; overflow-y: auto; }
.src { border-left: 4px solid var(--color-accent); padding: .4rem .7rem; margin: .6rem 0;
       background: var(--background-fill-secondary); border-radius: 4px; scroll-margin-top: 1rem; }
.src:target { outline: 2px solid var(--color-accent); }
.src-head { font-weight: 600; }
.src-loc { font-size: .85em; opacity: .8; margin: .15rem 0 .35rem; }
.src-text { font-size: .92em; line-height: 1.45; }
.src-text > :first-child { margin-top: 0 !important; }
.src-text > :last-child { margin-bottom: 0 !important; }
.src-text h1, .src-text h2, .src-text h3, .src-text h4, .src-text h5, .src-text h6 {
    font-size: 1em !important; font-weight: 600; line-height: 1.35; margin: .55em 0 .2em !important; }
.src-text h1 { font-size: 1.1em !important; }
.src-text h2 { font-size: 1.05em !important; }
.src-text p, .src-text ul, .src-text ol, .src-text blockquote, .src-text table { margin: .3em 0 !important; }
.src-text ul, .src-text ol { padding-left: 1.3em !important; }
.src-text li { margin: .1em 0 !important; }
.src-text li > p { margin: 0 !important; }
.src-text hr { margin: .5em 0 !important; }
.src mark, .purpose mark { background: #fde68a; color: #1f2937; padding: 0 .1em; border-radius: 2px; }
.src-empty { opacity: .75; font-style: italic; }
.conv-energy { margin: .2rem 0 0 !important; opacity: .8; }
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


def launch(settings: Settings, assistant: Assistant, host: str, port: int | None,
           open_browser: bool = False) -> tuple[gr.Blocks, str]:
    """Build the UI and start serving it in the background; returns the Blocks (to close) and its URL."""
    auth = Auth(settings.shared)
    demo = WebUI(settings, assistant, auth).build()
    # Events without a model (search, documents, uploads) run this many at once; model calls have their own
    # limit (web.model_concurrency). Whoever waits sees their place in the queue.
    demo.queue(default_concurrency_limit=max(2, model_concurrency(settings)))
    # Logins (auth.py): Gradio's login page checks the users file; a trusted proxy's header replaces it.
    logins: dict[str, object] = {}
    if auth.password_mode:
        logins = {"auth": auth.login, "auth_message": "Assistant RGPD : identifiez-vous / please log in."}
    elif auth.header:
        logins = {"auth_dependency": auth.header_user}
    # SSR needs Node and would fetch nothing useful; the footer drops the external "Built with Gradio" link.
    _, url, _ = demo.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True,
                            share=False, inbrowser=open_browser, show_error=False, ssr_mode=False, pwa=False,
                            mcp_server=False, enable_monitoring=False, footer_links=["api", "settings"],
                            css=CSS, theme=THEME, **logins)  # type: ignore[arg-type]
    return demo, url


def serve(settings: Settings, assistant: Assistant, host: str, port: int | None, open_browser: bool = False,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Build the UI and serve it until interrupted."""
    demo, url = launch(settings, assistant, host, port, open_browser)
    if on_ready:
        on_ready(url)
    try:
        demo.block_thread()
    finally:
        demo.close()
