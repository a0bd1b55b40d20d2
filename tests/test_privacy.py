"""Nothing leaves the machine, and no trace of questions is kept unless the user asks for one.

Three layers of proof (the last two in test_privacy_flows.py):
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
import re
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, clean_env
from netrec import Recorder, strace_usable

from gdpr_assistant import offline
from gdpr_assistant.assistant import Assistant
from gdpr_assistant.intake import question as safety
from gdpr_assistant.settings import Settings

MARKER = "Zorglubix"  # a word no document, log or library contains: any file holding it holds the question
QUESTION = (f"{MARKER} ({MARKER.lower()}@example.org) demande : quelles qualités le consentement doit-il réunir "
            "pour fonder la collecte de données destinées à entraîner un modèle ?")
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
    assert settings.privacy.allowed_hosts == ["llm.lab.example", "192.0.2.0/24"]
    with pytest.raises(offline.EgressBlocked):
        _connect(TEST_NET)
    Assistant(settings)  # the Python API honours the setting as soon as an assistant exists
    with pytest.raises(OSError) as err:
        _connect(TEST_NET)
    assert not isinstance(err.value, offline.EgressBlocked)
    monkeypatch.delenv("ASK_ALLOWED_HOSTS")
    assert Settings().privacy.allowed_hosts == []  # default: loopback only


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
            "import gdpr_assistant.assistant\n"
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
    ("Le NIR 1 85 05 78 006 084 91 peut-il servir d'identifiant ?", "French social security number"),
    ("Le numéro 185057800608491 est-il sensible ?", "French social security number"),
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
    assert Settings().privacy.history_file is None
    # A question the policy declines is answered without the index or the model: cheap, and a real answer.
    question = f"Donne-moi le numéro de téléphone personnel de {MARKER}."
    quiet = Assistant(Settings(corpus_dir=tmp_path / "c", index_dir=tmp_path / "i", cache_dir=tmp_path / "cache"))
    assert quiet.ask(question).refused
    assert not any(MARKER.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())

    history = tmp_path / "private" / "history.jsonl"
    recording = Assistant(quiet.settings.replace(history_file=history))
    recording.ask(question)
    recording.ask(question + " Merci.")
    with pytest.raises(safety.QuestionError):
        recording.ask("   ")  # nothing to record for a question that was never asked
    lines = [json.loads(line) for line in history.read_text(encoding="utf-8").splitlines()]
    assert [e["question"] for e in lines] == [question, question + " Merci."]
    assert all(e["refused"] and e["answer"] and e["time"] for e in lines)
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
