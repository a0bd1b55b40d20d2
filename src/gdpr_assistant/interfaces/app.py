"""`python app.py`: the assistant in a web page, served on this computer only (see `python app.py --help`)."""

from __future__ import annotations

# First, before anything can import gradio: the package sets the offline switches (GRADIO_ANALYTICS_ENABLED
# among them), then the egress guard refuses every connection that is not loopback.
import gdpr_assistant
from gdpr_assistant import offline
from gdpr_assistant.settings import get_settings

offline.protect(get_settings().privacy.allowed_hosts)

import ipaddress  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import click  # noqa: E402

from gdpr_assistant.settings import Settings, build_settings  # noqa: E402

if TYPE_CHECKING:
    from gdpr_assistant.assistant import Assistant


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _say(message: str, **style: object) -> None:
    click.secho(message, err=True, **style)  # type: ignore[arg-type]


def _index_progress() -> Callable[[float, str], None] | None:
    """Progress lines for logs and non-terminal launchers; in a terminal the indexer's own bar is shown."""
    if sys.stderr.isatty():
        return None
    shown = -1

    def report(fraction: float, label: str) -> None:
        nonlocal shown
        step = int(fraction * 10)
        if step > shown:
            shown = step
            _say(f"  indexation {fraction:4.0%}  {label}")

    return report


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def prepare(settings: Settings) -> Assistant:
    """Index the corpus (first run: about 20 s) and check the model before the page opens."""
    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.index.store import IndexLocked

    assistant = Assistant(settings)
    if assistant.index.stale_files():
        first = assistant.index.manifest() is None
        _say("Indexation du corpus (première utilisation, environ 20 s)…" if first
             else "Mise à jour de l'index (documents modifiés)…")
        try:
            report = assistant.update_index(_index_progress())
        except IndexLocked as exc:
            if assistant.index.manifest() is None:
                raise
            _say(str(exc), fg="yellow")
        else:
            for problem in report.problems:
                _say(f"Document ignoré : {problem}", fg="yellow")
            _say(f"Index prêt : {report.passages} passages ({report.seconds:.1f} s).")
    _say("Préparation du modèle de langue…")
    assistant.check_model()  # assembles and checks the packaged model once; a bad --model fails here, clearly
    assistant.retriever()
    return assistant


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", help="Network interface to listen on. Default 127.0.0.1: only this computer can open "
              "the page. Another address (e.g. 0.0.0.0) exposes the assistant, and its documents, to the network; "
              "a warning is printed.")
@click.option("--port", type=click.IntRange(1, 65535), help="Port to listen on. Default: the first free one "
              "from 7860.")
@click.option("--fast", is_flag=True, help="Use the small, faster model (Qwen2.5 0.5B) by default.")
@click.option("--model", "llm", help="Language model: default (Qwen2.5 1.5B), fast, or the path of a .gguf file. "
              "Can also be changed in the page's settings.")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path),
              help="Folder of documents (.pdf, .docx, .odt, .html, .md, .txt). Default: ./corpus or $ASK_CORPUS_DIR.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path),
              help="Folder of the search index. Default: ./index or $ASK_INDEX_DIR.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default web browser.")
@click.option("--chroma-url", help="Use the index on this Chroma server (http://host:port) instead of the index "
              "folder; several instances can share it. Default: $ASK_CHROMA_URL.")
@click.option("--llm-url", help="Use the model served by this OpenAI-compatible server (http://host:port/v1: "
              "llama.cpp's server, vLLM, Ollama). Default: $ASK_LLM_URL; its key comes from $ASK_LLM_API_KEY.")
@click.option("--llm-model", help="The model name the server serves. Default: $ASK_LLM_MODEL.")
@click.option("--users", "users_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Logins from this users file (`ask users add NAME [--admin]`); only admins add or remove "
              "documents. Default: $ASK_USERS_FILE.")
@click.version_option(gdpr_assistant.__version__, prog_name="app.py")
def main(host: str | None, port: int | None, fast: bool, llm: str | None, corpus_dir: Path | None,
         index_dir: Path | None, open_browser: bool, chroma_url: str | None, llm_url: str | None,
         llm_model: str | None, users_file: Path | None) -> None:
    """Web interface of the offline GDPR and AI-compliance assistant.

    \b
    Ask questions and read the cited passages, draft the purpose of an AI project, add or remove the
    documents the answers come from. Everything runs on this computer: no network access, no telemetry,
    and the conversation is kept in the page's memory only.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = build_settings(fast=fast, corpus_dir=corpus_dir, index_dir=index_dir, llm=llm, chroma_url=chroma_url,
                              llm_url=llm_url, llm_model=llm_model, users_file=users_file)
    offline.protect(settings.privacy.allowed_hosts)  # the servers named by the options, and only them
    host = host or settings.ui.ui_host
    port = port or settings.ui.ui_port
    logins = settings.shared.users_file is not None or bool(settings.shared.trusted_user_header)
    if not is_loopback(host) and logins:
        _say(f"Écoute sur {host}, avec identification ; seuls les administrateurs gèrent les documents. Servez la "
             "page en HTTPS (derrière un proxy inverse) : les mots de passe passent sinon en clair.", fg="yellow")
    elif not is_loopback(host):
        _say(f"ATTENTION : écoute sur {host} : toute machine qui peut joindre cette adresse pourra poser des "
             "questions et ajouter ou retirer des documents, sans mot de passe. N'utilisez cette option que sur "
             "un réseau de confiance.", fg="red", bold=True)

    # A service manager's stop (SIGTERM), and Ctrl-C even where a launcher ignored it, end the program cleanly.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    try:
        serve(settings, host, port, open_browser)
    except KeyboardInterrupt:
        _say("Arrêt.")


def serve(settings: Settings, host: str, port: int | None, open_browser: bool) -> None:
    from gdpr_assistant.interfaces import ui

    try:
        assistant = prepare(settings)
    except ui.USER_ERRORS as exc:
        _say(f"Erreur : {exc}", fg="red")
        sys.exit(2)

    def ready(url: str) -> None:
        click.secho(f"Assistant RGPD prêt : {url}  (Ctrl-C pour arrêter)", bold=True)

    try:
        ui.serve(settings, assistant, host, port, open_browser, on_ready=ready)
    except OSError as exc:
        _say(f"Erreur : impossible d'écouter sur {host}:{port or 'auto'} ({exc}). Choisissez un autre port avec "
             "--port.", fg="red")
        sys.exit(2)


if __name__ == "__main__":
    main()
