"""The real `ask index` / `ask search` commands in subprocesses: output contract, no-op re-index, bad files,
and no network: every non-loopback connection attempt is recorded and refused by a harness that does not
rely on the product's own egress guard.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from conftest import CORPUS, REPO, NetCheck, ask_command, chroma_state, make_corpus, manifest, run_ask

COLLECTIVITES = "cnil-collectivites-ia-environnement-2024.md"


def run_ask_on_a_terminal(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`ask` with its stderr on a pseudo-terminal (where progress bars are drawn) and stdout on a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 0-column terminal shows nothing
    proc = subprocess.Popen([*ask_command(), *args], stdout=subprocess.PIPE, stderr=slave, env=env, cwd=REPO)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.wait(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, b"".join(chunks).decode(errors="replace"))


def test_network_harness_records_and_refuses_attempts_even_behind_our_guard(netcheck: NetCheck) -> None:
    # Without this the test below could pass because the harness never saw anything.
    code = (
        "import socket\n"
        "from gdpr_assistant.offline import install_egress_guard\n"
        "install_egress_guard()\n"
        "for target in (lambda: socket.create_connection(('192.0.2.7', 443), timeout=1),\n"
        "               lambda: socket.getaddrinfo('pypi.org', 443),\n"
        "               lambda: socket.create_connection(('127.0.0.1', 9), timeout=1)):\n"
        "    try:\n"
        "        target()\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__, exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=netcheck.env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [(a["attempt"], a["host"]) for a in netcheck.attempts()] == [
        ("connect", "192.0.2.7"), ("getaddrinfo", "pypi.org")]  # loopback is not an attempt
    assert proc.stdout.count("NETCHECK") == 2  # refused by the harness, before our guard could hide it
    assert len(netcheck.loaded_pids()) == 1


@pytest.mark.slow
def test_index_and_search_commands_offline(tmp_path: Path, netcheck: NetCheck) -> None:
    corpus = make_corpus(tmp_path / "corpus", [COLLECTIVITES])
    (corpus / "vide.txt").write_bytes(b"")
    (corpus / "casse.pdf").write_bytes(b"%PDF-1.4\n%%incomplete")
    idx = tmp_path / "index"
    env = {**netcheck.env, "ASK_CORPUS_DIR": str(corpus), "ASK_INDEX_DIR": str(idx), "ASK_EMBEDDER": "e5"}

    first = run_ask_on_a_terminal(["index"], env)
    assert "Indexing: " in first.stderr and "passage" in first.stderr  # the progress bar, on a terminal
    assert first.returncode == 1, first.stderr  # bad files are reported in the exit status...
    assert "Rebuilt index" in first.stdout and "1 added" in first.stdout  # ...but did not stop the others
    assert "Skipped: casse.pdf: not a readable PDF" in first.stderr
    assert "Skipped: vide.txt: the file is empty" in first.stderr
    assert "Traceback" not in first.stderr
    built = manifest(idx)
    state = chroma_state(idx, fresh_process=True)

    second = run_ask(["index"], env)
    assert "Index up to date: 1 documents" in second.stdout, second.stdout + second.stderr
    assert manifest(idx) == built and chroma_state(idx, fresh_process=True) == state  # a true no-op

    search = run_ask(["search", "--json", "--k", "3", "Quel est le projet Ekonom-IA de Nantes Métropole ?"], env)
    assert search.returncode == 0, search.stderr
    hits = json.loads(search.stdout)
    assert isinstance(hits, list) and 1 <= len(hits) <= 3
    source = (CORPUS / COLLECTIVITES).read_text(encoding="utf-8")
    for hit in hits:
        assert set(hit) == {"doc", "location", "text", "score"}
        assert hit["doc"] == COLLECTIVITES  # the file name in corpus/
        assert isinstance(hit["location"], str) and hit["location"].startswith("l. ")
        assert isinstance(hit["text"], str) and hit["text"] in source
        assert isinstance(hit["score"], float) and hit["score"] > 0
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert "Ekonom-IA" in hits[0]["text"]

    # Three processes ran with the harness loaded, and none tried to reach the network.
    assert len(netcheck.loaded_pids()) == 3
    assert netcheck.attempts() == []
    for proc in (first, second, search):
        assert "Blocked" not in proc.stderr and "NETCHECK" not in proc.stderr


def test_search_without_corpus_gives_a_clear_error(tmp_path: Path, netcheck: NetCheck) -> None:
    env = {**netcheck.env, "ASK_CORPUS_DIR": str(tmp_path / "nothing-here"), "ASK_INDEX_DIR": str(tmp_path / "idx")}
    proc = run_ask(["search", "registre des traitements"], env)
    assert proc.returncode == 2
    assert "Error: Corpus folder not found" in proc.stderr and "Traceback" not in proc.stderr
    assert netcheck.attempts() == []
