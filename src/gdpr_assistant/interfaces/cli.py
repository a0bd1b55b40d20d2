"""The `ask` command: a thin Click layer over :class:`gdpr_assistant.assistant.Assistant`."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click_default_group import DefaultGroup

import gdpr_assistant
from gdpr_assistant.interfaces.options import (
    _GROUP_OPTIONS,
    _assistant,
    _errors,
    _fail,
    _settings,
    corpus_opt,
    embedder_opt,
    fast_opt,
    index_opt,
    json_opt,
    k_opt,
    lang_opt,
    model_opt,
    verbose_opt,
)
from gdpr_assistant.offline import protect
from gdpr_assistant.settings import get_settings

if TYPE_CHECKING:
    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.types import Answer

DEFAULT_COMMAND = "question"


class _DefaultGroup(DefaultGroup):
    """`ask "..."` runs the question command (click-default-group: a first word that names no command, options
    before the question included, goes to the default command); `ask index`, `ask search`… run theirs."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("ask", '[OPTIONS] "QUESTION"  |  ask COMMAND [ARGS]...')


@click.group(cls=_DefaultGroup, default=DEFAULT_COMMAND, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(gdpr_assistant.__version__, prog_name="ask")
@click.option("--chroma-url", help="Use the shared index on this Chroma server (http://host:port) instead of the "
              "index folder, for every command. Default: $ASK_CHROMA_URL.")
def cli(chroma_url: str | None) -> None:
    """Offline GDPR and AI-compliance assistant grounded in CNIL and Inserm guidance.

    \b
    Ask a question (French or English); the answer cites the passages it comes from:
      ask "Quelle base légale pour entraîner un modèle sur des données collectées en ligne ?"
      ask --fast --json "How long may I keep my training set?"

    Every citation is checked by the program against the passage it names; when the documents do not
    cover a question, the answer says so instead of guessing. Nothing leaves this computer: network
    access is blocked in-process, and questions are not written to disk.

    The index of ./corpus is built on first use and kept up to date automatically (`ask index` to do it
    now). Settings can also be given as environment variables: ASK_CORPUS_DIR, ASK_INDEX_DIR, ASK_LLM,
    ASK_EMBEDDER, ASK_ANSWER_K, ASK_N_THREADS, ASK_CACHE_DIR (where the model file is assembled).
    A team's instance uses servers instead: ASK_CHROMA_URL (the index), ASK_LLM_URL and ASK_LLM_MODEL (the
    model; its key in ASK_LLM_API_KEY); `ask serve --shared` tries it on one machine.
    """
    _GROUP_OPTIONS["chroma_url"] = chroma_url


@cli.command(DEFAULT_COMMAND, hidden=True)
@click.argument("question", nargs=-1, required=True)
@corpus_opt
@index_opt
@embedder_opt
@model_opt
@fast_opt
@k_opt
@lang_opt
@json_opt
@verbose_opt
def question_cmd(question: tuple[str, ...], corpus_dir: Path | None, index_dir: Path | None, embedder: str | None,
                 llm: str | None, fast: bool | None, k: int | None, lang: str, as_json: bool, verbose: bool) -> None:
    """Answer QUESTION with cited passages (the default command)."""
    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, embedder=embedder, llm=llm, fast=fast)
    assistant = _assistant(settings)
    try:
        assistant.check_model()  # a wrong --model is reported now, not after the search
        _answer(assistant, " ".join(question), [], k, None if lang == "auto" else lang, as_json, verbose)
    except _errors() as exc:
        _fail(str(exc), 2, as_json)


def _answer(assistant: Assistant, question: str, history: list[tuple[str, str]], k: int | None, lang: str | None,
            as_json: bool, verbose: bool) -> Answer:
    from gdpr_assistant.types import Answer

    answer: Answer | None = None
    stream = sys.stdout.isatty() or not as_json
    for event in assistant.ask_stream(question, history, k, lang):
        if isinstance(event, Answer):
            answer = event
        elif stream and not as_json:
            click.echo(event, nl=False)
    assert answer is not None
    if as_json:
        click.echo(json.dumps(answer.as_dict(), ensure_ascii=False, indent=2))
        return answer
    click.echo()
    for w in answer.warnings:
        click.secho(w, fg="yellow", err=True)
    if answer.citations:
        click.secho("\nSources", bold=True)
        for c in answer.citations:
            click.echo(f"[{c.n}] {c.title} — {c.location}  ({c.doc})")
            click.secho(f"    « {c.quote} »", dim=True)
    elif answer.refused and answer.passages:
        click.secho("\nNearest passages:" if answer.lang == "en" else "\nPassages les plus proches :", bold=True)
        for h in answer.passages[:3]:
            click.echo(f"- {h.passage.doc} — {h.passage.location}")
    t = answer.timings
    # After an escalation the first token is the small model's, and the answer the judge's.
    model = f"{assistant.model_name} → {answer.model}" if answer.kind == "escalated" else answer.model
    line = (f"{model} · {t['total_s']:.1f} s (first token {t['ttft_s']:.1f} s) · "
            f"{t['prompt_tokens']} prompt + {t['completion_tokens']} answer tokens")
    if t.get("judge_s"):
        line += f" · quote check {t['judge_s']:.1f} s"
    if t.get("escalation_s"):
        line += f" · larger model's draft {t['escalation_s']:.1f} s"
    if answer.energy:
        from gdpr_assistant.energy import comparison

        line += f" · {comparison(answer.energy, 'en')}"
    click.secho(line, dim=True, err=True)
    if verbose:
        if answer.refused:
            click.secho(f"refused: {answer.refusal_reason}", dim=True, err=True)
        elif answer.kind == "extract":
            click.secho(f"passage quoted in place of the draft: {answer.refusal_reason}", dim=True, err=True)
        elif answer.kind == "escalated":
            click.secho(f"written by the judge model {assistant.settings.trust.quote_judge!r}, the first draft failed: "
                        f"{answer.refusal_reason}", dim=True, err=True)
        if answer.quote_margin is not None:
            click.secho(f"model's judgement that the best passage sentence answers: {answer.quote_margin:+.2f} "
                        f"nats (quoted from {assistant.settings.trust.quote_judge_min})",
                        dim=True, err=True)
        if answer.excerpt_margin is not None:
            click.secho(f"model's judgement that the best passage excerpt answers: {answer.excerpt_margin:+.2f} "
                        f"nats (quoted from {assistant.settings.trust.quote_excerpt_judge_min})",
                        dim=True, err=True)
        if answer.refusal_margin is not None:
            click.secho(f"model's first-token preference for refusing: {answer.refusal_margin:+.2f} nats "
                        f"(refuses above {assistant.settings.trust.refusal_bias})", dim=True, err=True)
        for d in answer.dropped:
            click.secho(f"dropped (no passage supports it): {d}", dim=True, err=True)
        label = "model drafts (the answering model's, then the judge's)" if t.get("escalation_s") else "model draft"
        click.secho(f"{label}: {answer.raw}", dim=True, err=True)
    return answer


@cli.command()
@click.argument("question", nargs=-1, required=True)
@corpus_opt
@index_opt
@embedder_opt
@k_opt
@json_opt
def search(question: tuple[str, ...], corpus_dir: Path | None, index_dir: Path | None, embedder: str | None,
           k: int | None, as_json: bool) -> None:
    """Print the passages that best match QUESTION (no language model involved)."""
    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, embedder=embedder)
    assistant = _assistant(settings)
    try:
        hits = assistant.search(" ".join(question), k)
        titles = assistant.titles()
    except _errors() as exc:
        _fail(str(exc), 2, as_json)
        return
    from gdpr_assistant.intake.question import question_warnings
    from gdpr_assistant.text.language import detect_language

    for w in question_warnings(" ".join(question), detect_language(" ".join(question))):
        click.secho(w, fg="yellow", err=True)
    if as_json:
        click.echo(json.dumps([{"doc": h.passage.doc, "location": h.passage.location, "text": h.passage.text,
                                "score": round(h.score, 6)} for h in hits], ensure_ascii=False, indent=2))
        return
    for n, h in enumerate(hits, start=1):
        click.secho(f"[{n}] {titles.get(h.passage.doc, h.passage.doc)}", bold=True)
        click.secho(f"    {h.passage.doc} — {h.passage.location} — score {h.score:.4f}", dim=True)
        click.echo("    " + h.passage.text.strip().replace("\n", "\n    ") + "\n")


@cli.command()
@corpus_opt
@index_opt
@embedder_opt
@click.option("--force", is_flag=True, help="Re-embed every file, even unchanged ones.")
def index(corpus_dir: Path | None, index_dir: Path | None, embedder: str | None, force: bool) -> None:
    """Build or update the search index of the corpus folder (only changed files are re-embedded)."""
    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, embedder=embedder)
    assistant = _assistant(settings)
    try:
        report = assistant.update_index(force=force)
    except _errors() as exc:
        _fail(str(exc), 2)
        return
    for p in report.problems:
        click.secho(f"Skipped: {p}", fg="yellow", err=True)
    for w in report.warnings:
        click.secho(f"Warning: {w}", fg="yellow", err=True)
    for i in report.ignored:  # the user put them there: say why they are not searchable
        click.secho(i, fg="yellow", err=True)
    if not report.changed:
        click.echo(f"Index up to date: {len(report.unchanged)} documents, {report.passages} passages "
                   f"({report.seconds:.2f} s).")
    else:
        what = "Rebuilt" if report.rebuilt else "Updated"
        energy = f", {report.energy.wh * 1000:.0f} mWh" if report.energy else ""
        click.echo(f"{what} index in {report.seconds:.1f} s{energy}: {len(report.added)} added, "
                   f"{len(report.updated)} updated, {len(report.removed)} removed, {len(report.unchanged)} unchanged; "
                   f"{report.passages} passages.")
    if report.problems:
        sys.exit(1)


@cli.command()
@corpus_opt
@index_opt
@model_opt
@fast_opt
@k_opt
@lang_opt
@verbose_opt
def chat(corpus_dir: Path | None, index_dir: Path | None, llm: str | None, fast: bool | None, k: int | None,
         lang: str, verbose: bool) -> None:
    """Interactive session: follow-up questions are understood in the context of earlier turns."""
    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, llm=llm, fast=fast)
    assistant = _assistant(settings)
    try:
        assistant.check_model()  # a wrong --model is reported before the first question, not after it
    except _errors() as exc:
        _fail(str(exc), 2)
    history: list[tuple[str, str]] = []
    click.secho("Posez votre question (Ctrl-D pour quitter, /new pour une nouvelle conversation).", dim=True)
    while True:
        try:
            question = click.prompt(click.style("?", bold=True), prompt_suffix=" ", default="", show_default=False)
        except (EOFError, click.Abort):
            click.echo()
            return
        if question.strip() in ("/new", "/reset"):
            history.clear()
            click.secho("Nouvelle conversation.", dim=True)
            continue
        if question.strip() in ("/quit", "/exit"):
            return
        if not question.strip():
            continue
        try:
            answer = _answer(assistant, question, history, k, None if lang == "auto" else lang, False, verbose)
        except _errors() as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            continue
        history.append((answer.question, answer.answer))
        click.echo()


@cli.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the per-item results and metrics (JSON).")
@click.option("--retrieval-only", is_flag=True, help="Only measure retrieval (no language model).")
@click.option("--limit", type=int, help="Run only the first N items.")
@click.option("--ids", help="Comma-separated item ids to run (e.g. q001,q017).")
@corpus_opt
@index_opt
@embedder_opt
@model_opt
@fast_opt
@k_opt
def eval_cmd(file: Path, out: Path, retrieval_only: bool, limit: int | None, ids: str | None,
             corpus_dir: Path | None, index_dir: Path | None, embedder: str | None, llm: str | None,
             fast: bool | None, k: int | None) -> None:
    """Evaluate retrieval (and answers) on a JSONL question set such as shared/eval/dev.jsonl."""
    from gdpr_assistant.evaluation import harness as evaluation

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, embedder=embedder, llm=llm, fast=fast)
    assistant = _assistant(settings)
    try:
        items = evaluation.load_items(file, limit=limit, ids=ids.split(",") if ids else None)
        report = evaluation.run(assistant, items, retrieval_only=retrieval_only, k=k)
    except _errors() as exc:
        _fail(str(exc), 2)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    click.echo(evaluation.markdown_summary(report))
    click.secho(f"Wrote {out}", dim=True, err=True)


@cli.command()
@corpus_opt
@index_opt
@embedder_opt
@model_opt
@fast_opt
@click.option("--full", is_flag=True, help="Re-hash the model files instead of trusting their verification stamp.")
@click.option("--no-smoke", is_flag=True, help="Skip the smoke generation (each model the settings use generates a "
              "few tokens in a child process, a few seconds each).")
@json_opt
def doctor(corpus_dir: Path | None, index_dir: Path | None, embedder: str | None, llm: str | None,
           fast: bool | None, full: bool, no_smoke: bool, as_json: bool) -> None:
    """Check the installation: offline guard, models and their hashes, a smoke generation with each model (in a
    child process, so that a llama.cpp crash on this CPU is reported with its fix), index state, versions.

    Exits with status 1 when a problem is found; each problem comes with its fix.
    """
    from gdpr_assistant.interfaces import doctor as checks

    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, embedder=embedder, llm=llm, fast=fast)
    report = checks.run(settings, full_hash=full, smoke=not no_smoke)
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if as_json else checks.render(report))
    if report.problems:
        sys.exit(1)


def _add_shared_commands() -> None:
    """`ask purpose` (interfaces/purpose_command.py), `ask users` and `ask serve` (the shared deployment:
    interfaces/users.py, interfaces/serve.py)."""
    from gdpr_assistant.interfaces.purpose_command import purpose_cmd
    from gdpr_assistant.interfaces.serve import serve
    from gdpr_assistant.interfaces.users import users

    cli.add_command(purpose_cmd)
    cli.add_command(users)
    cli.add_command(serve)


_add_shared_commands()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError: a malformed ASK_* variable
        _fail(f"invalid setting in the environment: {exc}", as_json="--json" in sys.argv)
        return
    # Before any command can import chromadb, gradio, sentence-transformers or llama.cpp.
    protect(settings.privacy.allowed_hosts)
    cli()


if __name__ == "__main__":
    main()
