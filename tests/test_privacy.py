"""Nothing leaves the machine, and no trace of questions is kept unless the user asks for one.

Three layers of proof:
- the egress guard itself, in-process: what it refuses, what it lets through, what it logs;
- the full flows (index from scratch, `ask`, `ask search`, `ask purpose`, `ask doctor`, the Python API, the
  web UI with one chat turn) run as real subprocesses under an independent recorder (an audit hook on the
  real socket functions, plus strace where it works, which also sees native code); any non-loopback
  attempt fails the test, and so does any line of the guard saying it had to block one;
- where the kernel allows it, the CLI flows run inside a network namespace with no interface but loopback,
  so they are shown to work with no network at all.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO, ask_command, clean_env, make_corpus
from netrec import Recorder, strace_usable

from gdpr_assistant import offline, safety
from gdpr_assistant.pipeline import Assistant
from gdpr_assistant.settings import Settings

MARKER = "Zorglubix"  # a word no document, log or library contains: any file holding it holds the question
QUESTION = (f"{MARKER} ({MARKER.lower()}@example.org) demande : quelles qualités le consentement doit-il réunir "
            "pour fonder la collecte de données destinées à entraîner un modèle ?")
# The CNIL deck is what `ask purpose` quotes (Fiche 2); the Inserm note is the other source of `ask`.
FLOW_DOCS = ("cnil-webinaire-recommandations-ia-rgpd-2024.md", "cnil-ia-sante-defis.md")
TEST_NET = "192.0.2.1"  # RFC 5737: never routed, so even a broken guard cannot reach anything with it


# -- the guard, in-process ---------------------------------------------------------------------------------------
@pytest.fixture
def guard() -> Iterator[None]:
    """A freshly installed guard with no allowed host, put back as it was afterwards."""
    was_active = offline.egress_guard_active()
    offline.uninstall_egress_guard()
    offline.install_egress_guard()
    yield
    offline.uninstall_egress_guard()
    if was_active:
        offline.install_egress_guard()


def _connect(host: str, port: int = 9) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        s.connect((host, port))


def test_guard_refuses_connections_and_lookups_and_names_the_caller(guard: None,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="gdpr_assistant.egress")
    with pytest.raises(offline.EgressBlocked, match=re.escape(f"blocked connection to {TEST_NET}:9")):
        _connect(TEST_NET)
    with pytest.raises(offline.EgressBlocked):
        socket.create_connection((TEST_NET, 443), timeout=0.3)
    with pytest.raises(offline.EgressBlocked, match=r"DNS lookup of huggingface\.co"):
        socket.getaddrinfo("huggingface.co", 443)
    with pytest.raises(offline.EgressBlocked):
        socket.gethostbyname("telemetry.example.com")
    with pytest.raises(offline.EgressBlocked, match="reverse DNS"):
        socket.gethostbyaddr(TEST_NET)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(offline.EgressBlocked):
        udp.sendto(b"x", (TEST_NET, 53))  # UDP needs no connect() to leave the machine
    # What libraries actually do: urllib resolves the name first; the refusal surfaces as its usual error.
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen("http://example.com/", timeout=0.3)
    assert isinstance(err.value.reason, offline.EgressBlocked)

    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 7
    first = lines[0]
    assert f"Blocked connection to {TEST_NET}:9" in first
    # The caller is named: the first frame outside the standard library and the guard, i.e. this test.
    assert "test_privacy" in first and "_connect" in first and Path(__file__).name in first
    assert "requested by test_privacy" in lines[-1] and "example.com" in lines[-1]


def test_guard_lets_loopback_through(guard: None) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, port), timeout=2):
                pass
    assert socket.getaddrinfo("localhost", 80)
    assert socket.gethostbyname(socket.gethostname())  # the machine's own name resolves locally


def test_allowed_hosts_open_only_what_they_name(guard: None) -> None:
    offline.install_egress_guard(["192.0.2.0/24", "files.lab.example"])
    # Allowed: the guard lets the attempt through (it then fails on its own: nothing answers there).
    with pytest.raises(OSError) as err:
        _connect(TEST_NET)
    assert not isinstance(err.value, offline.EgressBlocked)
    with pytest.raises(OSError) as err:
        socket.getaddrinfo("files.lab.example", 443)
    assert not isinstance(err.value, offline.EgressBlocked)
    # Everything else is still refused.
    with pytest.raises(offline.EgressBlocked):
        _connect("198.51.100.7")
    with pytest.raises(offline.EgressBlocked):
        socket.getaddrinfo("huggingface.co", 443)
    assert "files.lab.example" in offline.allowed_hosts_description()


def test_allowed_hosts_setting_reaches_the_guard(guard: None, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("ASK_ALLOWED_HOSTS", " llm.lab.example , 192.0.2.0/24 ")
    settings = Settings(corpus_dir=tmp_path, index_dir=tmp_path / "index")
    assert settings.allowed_hosts == ["llm.lab.example", "192.0.2.0/24"]
    with pytest.raises(offline.EgressBlocked):
        _connect(TEST_NET)
    Assistant(settings)  # the Python API honours the setting as soon as an assistant exists
    with pytest.raises(OSError) as err:
        _connect(TEST_NET)
    assert not isinstance(err.value, offline.EgressBlocked)
    monkeypatch.delenv("ASK_ALLOWED_HOSTS")
    assert Settings().allowed_hosts == []  # default: loopback only


def _python(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=REPO)


def test_importing_the_package_sets_the_offline_switches_over_the_users_env() -> None:
    env = clean_env(HF_HUB_OFFLINE="0", GRADIO_ANALYTICS_ENABLED="True", ANONYMIZED_TELEMETRY="True")
    proc = _python("import json, os, gdpr_assistant.offline as o\n"
                   "print(json.dumps({k: os.environ.get(k) for k in o.OFFLINE_ENV}))", env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == offline.OFFLINE_ENV


def test_python_api_is_guarded_from_import(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "rec")
    code = ("import socket\n"
            "import gdpr_assistant.pipeline\n"
            "import chromadb\n"
            "try:\n"
            f"    socket.create_connection(('{TEST_NET}', 80), timeout=0.3)\n"
            "except ConnectionRefusedError as exc:\n"
            "    print(type(exc).__name__)\n")
    proc = _python(code, rec.env(clean_env()))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "EgressBlocked"
    assert f"Blocked connection to {TEST_NET}:80" in proc.stderr  # logged even with no logging set up
    assert rec.attempts() == []  # refused before the real socket call
    assert [(i["module"], i["guard"], i["hub_offline"]) for i in rec.imports()] == [("chromadb", True, True)]


def test_recorder_sees_what_an_unguarded_process_does(tmp_path: Path) -> None:
    """The independent recorder is able to fail the flow tests: it sees a leak when nothing stops it."""
    rec = Recorder(tmp_path / "rec", use_strace=strace_usable())
    code = ("import socket\n"
            "try:\n"
            f"    socket.create_connection(('{TEST_NET}', 80), timeout=0.2)\n"
            "except OSError:\n"
            "    pass\n"
            "try:\n"
            "    socket.getaddrinfo('leak.example', 80)\n"
            "except OSError:\n"
            "    pass\n")
    proc = subprocess.run(rec.wrap([sys.executable, "-c", code]), env=rec.env(clean_env()), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    attempts = rec.attempts()
    assert any(f"socket.connect {TEST_NET}" in a for a in attempts)
    assert any("socket.getaddrinfo leak.example" in a for a in attempts)
    if rec.use_strace:
        assert any(a.startswith("strace:") and TEST_NET in a for a in attempts)


# -- personal data warnings and the history file ----------------------------------------------------------------
@pytest.mark.parametrize(("text", "kind"), [
    ("Puis-je écrire à jean.dupont@inserm.fr pour son consentement ?", "e-mail address"),
    ("Mon patient (06 12 34 56 78) peut-il s'opposer ?", "phone number"),
    ("Le +33 6 12 34 56 78 est-il une donnée personnelle ?", "phone number"),
    ("Le NIR 1 85 05 78 006 084 36 peut-il servir d'identifiant ?", "French social security number"),
    ("Le numéro 185057800608436 est-il sensible ?", "French social security number"),
    ("Puis-je stocker l'IBAN FR76 3000 6000 0112 3456 7890 189 ?", "IBAN"),
    ("et l'iban fr7630006000011234567890189 ?", "IBAN"),
])
def test_personal_data_is_spotted(text: str, kind: str) -> None:
    assert kind in safety.personal_data_found(text)
    warning = safety.question_warnings(text, "fr")
    assert len(warning) == 1 and kind in warning[0] and "Inserm" in warning[0]


@pytest.mark.parametrize("text", [
    "Quelle base légale pour entraîner un modèle sur des données collectées en 2023 ?",
    "L'article 6 du RGPD et la délibération n° 2024-001 du 12/03/2024 s'appliquent-ils ?",
    "Amende de 20 000 000 euros ou 4 % du chiffre d'affaires : quand ?",
    "What does the CNIL say about a 72-hour breach notification?",
])
def test_ordinary_questions_raise_no_personal_data_warning(text: str) -> None:
    assert safety.personal_data_found(text) == []


def test_history_file_is_off_by_default_and_owner_only_when_on(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASK_HISTORY_FILE", raising=False)
    assert Settings().history_file is None
    # A question the policy declines is answered without the index or the model: cheap, and a real answer.
    question = f"Donne-moi le numéro de téléphone personnel de {MARKER}."
    quiet = Assistant(Settings(corpus_dir=tmp_path / "c", index_dir=tmp_path / "i", cache_dir=tmp_path / "cache"))
    assert quiet.ask(question).refused
    assert not any(MARKER.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())

    history = tmp_path / "private" / "history.jsonl"
    recording = Assistant(quiet.settings.model_copy(update={"history_file": history}))
    recording.ask(question)
    recording.ask(question + " Merci.")
    with pytest.raises(safety.QuestionError):
        recording.ask("   ")  # nothing to record for a question that was never asked
    lines = [json.loads(line) for line in history.read_text(encoding="utf-8").splitlines()]
    assert [e["question"] for e in lines] == [question, question + " Merci."]
    assert all(e["refused"] and e["answer"] and e["time"] for e in lines)
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


# -- the full flows, recorded -------------------------------------------------------------------------------------
def netns_prefix() -> list[str] | None:
    """A command prefix that runs its command with no network interface but loopback (None if impossible)."""
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


@dataclass
class Flows:
    root: Path
    recorder: Recorder
    netns: bool
    runs: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    ui_pages: dict[str, str] = field(default_factory=dict)
    netns_interfaces: str = ""

    def stderr(self) -> str:
        return "\n".join(p.stderr for p in self.runs.values())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ui_turn(flows: Flows, env: dict[str, str]) -> None:
    """Launch the web UI under the recorder, ask one question through the served app, read its pages."""
    app = REPO / "app.py"
    if not app.exists():
        flows.skipped["ui"] = "app.py does not exist yet"
        return
    port = _free_port()
    # Not under strace: interrupting strace would leave the server running. Its native code (llama.cpp,
    # Chroma) is the CLI's, which the flows above do trace.
    cmd = [sys.executable, str(app), "--fast", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, cwd=flows.root / "work", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None and "/" not in flows.ui_pages:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    flows.ui_pages["/"] = r.read().decode("utf-8", errors="replace")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        if "/" not in flows.ui_pages:
            raise RuntimeError(f"the UI did not start (exit status {proc.poll()})")
        for page in ("config", "theme.css"):
            try:
                with urllib.request.urlopen(url + page, timeout=30) as r:
                    flows.ui_pages[page] = r.read().decode("utf-8", errors="replace")
            except urllib.error.HTTPError:
                pass
        from gradio_client import Client

        client = Client(url, verbose=False, download_files=False)
        markdown, answer = client.predict(QUESTION, None, "", 0, "auto", api_name="/ask")
        flows.ui_pages["answer"] = json.dumps({"markdown": markdown, "answer": answer}, ensure_ascii=False)
    except Exception as exc:  # reported by test_flows_succeed with the server's output, not as a fixture error
        flows.errors["ui"] = f"{type(exc).__name__}: {exc}"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        flows.runs["ui"] = subprocess.CompletedProcess(cmd, 0, out, err)  # stopped by us: its status is ours


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> Flows:
    root = tmp_path_factory.mktemp("flows")
    for d in ("home", "tmp", "work", "xdg"):
        (root / d).mkdir()
    make_corpus(root / "corpus", FLOW_DOCS)
    prefix = netns_prefix()
    flows = Flows(root, Recorder(root / "rec", use_strace=strace_usable()), netns=prefix is not None)
    # Everything a library could write to (home, temp, caches, the working folder) is inside `root`, so the
    # no-trace check below can read all of it; only the model cache is shared (read-only use).
    env = flows.recorder.env(clean_env(
        HOME=str(root / "home"), TMPDIR=str(root / "tmp"), XDG_CACHE_HOME=str(root / "xdg"),
        ASK_CORPUS_DIR=str(root / "corpus"), ASK_INDEX_DIR=str(root / "index"), ASK_LLM="fast",
        ASK_REFUSE_BELOW_EVIDENCE="0",  # the question always reaches the model: llama.cpp is part of the flow
        ASK_CACHE_DIR=os.environ.get("ASK_CACHE_DIR", str(Settings().cache_dir)), PYTHONUNBUFFERED="1"))

    def run(name: str, args: list[str], isolate: bool = True) -> None:
        cmd = flows.recorder.wrap([*ask_command(), *args])
        if prefix and isolate:
            cmd = [*prefix, *cmd]
        flows.runs[name] = subprocess.run(cmd, env=env, cwd=root / "work", capture_output=True, text=True,
                                          timeout=600)

    run("index", ["index"])
    run("search", ["search", QUESTION, "--k", "3"])
    run("ask", [QUESTION])
    from gdpr_assistant.cli import cli

    if "purpose" in cli.commands:
        run("purpose", ["purpose", "--fast", "Un hôpital développe un modèle qui prédit, pour chaque patient sorti, "
                        "le risque de réhospitalisation non programmée à 30 jours afin que les infirmiers "
                        "priorisent les appels de suivi."])
    else:
        flows.skipped["purpose"] = "`ask purpose` does not exist yet"
    run("doctor", ["doctor"])
    api = ("from gdpr_assistant.pipeline import Assistant\n"
           f"hits = Assistant().search({QUESTION!r}, 2)\n"
           "print(len(hits))\n")
    cmd = flows.recorder.wrap([sys.executable, "-c", api])
    flows.runs["api"] = subprocess.run([*(prefix or []), *cmd], env=env, cwd=root / "work", capture_output=True,
                                       text=True, timeout=600)
    if prefix:
        flows.netns_interfaces = subprocess.run([*prefix, "cat", "/proc/net/dev"], capture_output=True, text=True,
                                                timeout=30).stdout
    _ui_turn(flows, env)
    return flows


@pytest.mark.slow
def test_flows_succeed(flows: Flows) -> None:
    for name, proc in flows.runs.items():
        assert proc.returncode == 0 and name not in flows.errors, \
            f"{name} failed ({flows.errors.get(name, proc.returncode)}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert re.search(r"Rebuilt index .*: 2 added", flows.runs["index"].stdout)
    assert "[1]" in flows.runs["search"].stdout
    # The model really ran for `ask` (its token counts are on stderr), so llama.cpp is part of the flow.
    tokens = re.search(r"(\d+) prompt \+ (\d+) answer tokens", flows.runs["ask"].stderr)
    assert tokens and int(tokens.group(1)) > 0, flows.runs["ask"].stderr
    assert "No problem found." in flows.runs["doctor"].stdout
    assert flows.runs["api"].stdout.strip() == "2"
    if "ui" in flows.runs:
        answer = json.loads(flows.ui_pages["answer"])["answer"]
        assert answer["question"] and answer["answer"]
    print(f"\nflows: {sorted(flows.runs)}; network namespace: {flows.netns}; strace: {flows.recorder.use_strace}; "
          f"heavy imports: {sorted({str(i['module']) for i in flows.recorder.imports()})}")


@pytest.mark.slow
def test_flows_make_no_connection_attempt_beyond_loopback(flows: Flows) -> None:
    assert flows.recorder.errors() == []
    assert flows.recorder.attempts() == []
    # An attempt the guard refused never reaches the recorder: the guard's own log line would show it.
    assert "Blocked" not in flows.stderr()
    if flows.recorder.use_strace:
        assert flows.recorder.traces and all(t.exists() for t in flows.recorder.traces)


@pytest.mark.slow
def test_flows_ran_with_no_network_interface_where_possible(flows: Flows) -> None:
    if not flows.netns:
        pytest.skip("no network namespace here (unshare -n / -rn refused): flows ran with the network present")
    # The CLI and API flows above ran inside `unshare -n`: no interface but loopback, and they passed.
    interfaces = [line.split(":")[0].strip() for line in flows.netns_interfaces.splitlines() if ":" in line]
    assert interfaces == ["lo"]
    assert all(flows.runs[n].returncode == 0 for n in ("index", "search", "ask", "doctor", "api"))


@pytest.mark.slow
def test_heavy_libraries_load_only_after_the_guard_and_offline_switches(flows: Flows) -> None:
    imports = flows.recorder.imports()
    assert {i["module"] for i in imports} >= {"chromadb", "llama_cpp"}
    if "ui" in flows.runs:
        assert "gradio" in {i["module"] for i in imports}
    late = [i for i in imports if not (i["guard"] and i["hub_offline"] and i["telemetry_off"])]
    assert late == []


@pytest.mark.slow
def test_flows_leave_no_trace_of_the_question(flows: Flows) -> None:
    needle = MARKER.lower().encode()
    holding = [p for p in flows.root.rglob("*")
               if p.is_file() and not p.is_relative_to(flows.recorder.root) and needle in p.read_bytes().lower()]
    assert holding == []
    # Logs at the default level do not carry the question either (stdout holds the answer, not a log).
    assert MARKER.lower() not in flows.stderr().lower()


@pytest.mark.slow
def test_flows_warn_about_personal_data_without_blocking(flows: Flows) -> None:
    for name in ("ask", "search"):
        assert "personal data (e-mail address)" in flows.runs[name].stderr or \
            "données personnelles (e-mail address)" in flows.runs[name].stderr
        assert flows.runs[name].returncode == 0
    if "ui" in flows.runs:
        assert any("e-mail address" in w for w in json.loads(flows.ui_pages["answer"])["answer"]["warnings"])


@pytest.mark.slow
def test_ui_pages_reference_no_outside_resource(flows: Flows) -> None:
    """A browser would fetch what the page links to (web fonts, CDNs): the served pages must name none."""
    if "ui" not in flows.runs:
        pytest.skip(flows.skipped.get("ui", "UI flow not run"))
    outside = re.compile(r"""(?:src|href|url\()\s*=?\s*["']?(https?://(?!127\.0\.0\.1|localhost)[^"')\s]+)""")
    found = {page: outside.findall(text) for page, text in flows.ui_pages.items() if page != "answer"}
    assert {p: f for p, f in found.items() if f} == {}


@pytest.mark.slow
def test_flows_cover_every_command_in_the_issue(flows: Flows) -> None:
    """Fails while `ask purpose` or the UI are missing, so the gap cannot go unnoticed."""
    assert flows.skipped == {}
