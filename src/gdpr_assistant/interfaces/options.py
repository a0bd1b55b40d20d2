"""What the `ask` commands share: settings from options and the environment, errors, and the common options."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gdpr_assistant.settings import Settings, build_settings

if TYPE_CHECKING:
    from gdpr_assistant.assistant import Assistant

# Options of the `ask` group itself, which apply to every command (`ask --chroma-url URL index`).
_GROUP_OPTIONS: dict[str, Any] = {}


def _settings(**overrides: Any) -> Settings:
    return build_settings(**{**overrides, **{k: v for k, v in _GROUP_OPTIONS.items() if v is not None}})


def _fail(message: str, code: int = 1, as_json: bool = False) -> None:
    """Exit with ``message``; with --json, the error is a JSON object on stdout too (scripts read stdout)."""
    if as_json:
        click.echo(json.dumps({"error": message, "exit_code": code}, ensure_ascii=False))
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(code)


def _assistant(settings: Settings) -> Assistant:
    from gdpr_assistant.assistant import Assistant

    return Assistant(settings)


def _errors() -> tuple[type[BaseException], ...]:
    from gdpr_assistant.index.embedding import EmbedderError
    from gdpr_assistant.index.store import IndexError_
    from gdpr_assistant.ingest.corpus import CorpusError
    from gdpr_assistant.intake.question import QuestionError
    from gdpr_assistant.models.backend import ModelError

    return (CorpusError, EmbedderError, IndexError_, ModelError, QuestionError)


corpus_opt = click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path),
                          help="Folder of documents (.pdf, .docx, .odt, .html, .md, .txt). Default: ./corpus or "
                          "$ASK_CORPUS_DIR.")
index_opt = click.option("--index", "index_dir", type=click.Path(path_type=Path),
                         help="Folder of the search index. Default: ./index or $ASK_INDEX_DIR.")
embedder_opt = click.option("--embedder", help="Embedding model: e5 (default), minilm, or a local "
                            "sentence-transformers folder. Changing it rebuilds the index.")
model_opt = click.option("--model", "llm", help="Language model: default (Qwen2.5 1.5B), fast (0.5B) or a .gguf path.")
fast_opt = click.option("--fast", is_flag=True, default=None,
                        help="Answer with the small, faster model (Qwen2.5 0.5B); the 1.5B still judges quotes and "
                             "rewrites an answer that fails verification before refusing.")
k_opt = click.option("--k", "k", type=click.IntRange(1, 20), help="Number of passages to retrieve.")
lang_opt = click.option("--lang", type=click.Choice(["auto", "fr", "en"]), default="auto", show_default=True,
                        help="Answer language; auto follows the question.")
json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
verbose_opt = click.option("--verbose", "-v", is_flag=True, help="Show timings, tokens and dropped claims.")
