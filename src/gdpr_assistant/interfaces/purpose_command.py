"""`ask purpose`: draft the purpose (finalité) of an AI system's processing (the drafting is in purpose/)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gdpr_assistant.interfaces.options import (
    _assistant,
    _errors,
    _fail,
    _settings,
    corpus_opt,
    embedder_opt,
    fast_opt,
    index_opt,
    json_opt,
    lang_opt,
    model_opt,
)


@click.command("purpose")
@click.argument("description", nargs=-1)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the description from a UTF-8 text file (added to DESCRIPTION if both are given).")
@click.option("--operational-use/--no-operational-use", "operational_use", default=None,
              help="The operational use is (or is not) known during development. Default: inferred.")
@click.option("--general-purpose/--no-general-purpose", "general_purpose", default=None,
              help="It is (or is not) a general-purpose system. Default: inferred.")
@click.option("--research/--no-research", "research", default=None,
              help="It is (or is not) developed for scientific research. Default: inferred.")
@click.option("--field", "research_field", help="Research field, e.g. \"recherche médicale\".")
@click.option("--capabilities", help="Technically foreseeable functionalities and capabilities.")
@click.option("--risky-capabilities", help="The riskiest foreseeable capabilities.")
@click.option("--excluded", "excluded_functionalities", help="Functionalities excluded by design.")
@click.option("--conditions", "conditions_of_use", help="Conditions of use of the system.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the draft as Markdown to this file (e.g. finalite.md).")
@click.option("--no-model", is_flag=True, help="Assemble the statement from your own words, without the model.")
@corpus_opt
@index_opt
@embedder_opt
@model_opt
@fast_opt
@lang_opt
@json_opt
def purpose_cmd(description: tuple[str, ...], file: Path | None, operational_use: bool | None,
                general_purpose: bool | None, research: bool | None, research_field: str | None,
                capabilities: str | None, risky_capabilities: str | None, excluded_functionalities: str | None,
                conditions_of_use: str | None, out: Path | None, no_model: bool, corpus_dir: Path | None,
                index_dir: Path | None, embedder: str | None, llm: str | None, fast: bool | None, lang: str,
                as_json: bool) -> None:
    """Draft the purpose (finalité) of an AI system's processing, checked against CNIL Fiche 2.

    \b
      ask purpose "un modèle qui prédit le risque de réhospitalisation à 30 jours pour prioriser le suivi"
      ask purpose --file projet.txt --general-purpose --risky-capabilities "…" --out finalite.md

    The program decides which of Fiche 2's three cases applies (operational use known, general-purpose
    system, scientific research), which criteria follow and whether each is covered, citing the passage
    that states it; the model only words the statement, and its wording is checked against your facts.
    What is missing comes back as questions. Fields not given are inferred from the description.
    """
    from gdpr_assistant.purpose import PurposeRequest

    text = " ".join(description)
    if file is not None:
        try:
            text = (text + "\n" + file.read_text(encoding="utf-8")).strip()
        except (OSError, UnicodeDecodeError) as exc:
            _fail(f"cannot read {file} as UTF-8 text ({exc}).", 2, as_json)
    settings = _settings(corpus_dir=corpus_dir, index_dir=index_dir, embedder=embedder, llm=llm, fast=fast)
    assistant = _assistant(settings)
    request = PurposeRequest(
        description=text, operational_use_known=operational_use, general_purpose=general_purpose, research=research,
        research_field=research_field, capabilities=capabilities, risky_capabilities=risky_capabilities,
        excluded_functionalities=excluded_functionalities, conditions_of_use=conditions_of_use,
        lang=None if lang == "auto" else lang)
    try:
        if not no_model:
            assistant.check_model()  # a wrong --model is reported before the index is read
        draft = assistant.draft_purpose(request, use_model=not no_model)
    except _errors() as exc:
        _fail(str(exc), 2, as_json)
        return
    markdown = draft.to_markdown()
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.name}.tmp")
            tmp.write_text(markdown, encoding="utf-8")
            tmp.replace(out)  # a half-written draft never takes the name
        except OSError as exc:
            _fail(f"cannot write {out} ({exc.strerror or exc}).", 2, as_json)
        click.secho(f"Wrote {out}", dim=True, err=True)
    click.echo(json.dumps(draft.as_dict(), ensure_ascii=False, indent=2) if as_json else markdown, nl=as_json)
    if not as_json:  # the cost line, as for answers (on stderr: the draft on stdout stays clean to redirect)
        from gdpr_assistant.energy import comparison

        model = "template (no model)" if draft.model == "template" else draft.model
        line = f"{model} · {draft.timings.get('total_s', 0.0):.1f} s"
        if draft.energy:
            line += f" · {comparison(draft.energy, 'en')}"
        click.secho(line, dim=True, err=True)
