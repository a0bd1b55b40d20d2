"""Shared fixtures: small corpora copied from ``corpus/`` into temp folders, one real e5 index built once per
session (e5 embeds a few passages a second on 2 cores), and helpers to run the real `ask` CLI in a subprocess
with every non-loopback connection attempt recorded and refused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdpr_assistant.index.embedding import Embedder, get_embedder
from gdpr_assistant.index.store import Index, IndexReport
from gdpr_assistant.settings import Settings

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
# The two shortest documents of the real corpus (about 25 passages): enough structure, cheap to embed.
SMALL_DOCS = ("cnil-collectivites-ia-environnement-2024.md", "cnil-ia-sante-defis.md")
# A passage as pypdf gives it: lines broken inside sentences, bullets, a heading (sentence splitting and quotes).
PDF_PASSAGE = (
    "# Fiche 4 – Réutiliser des données\n\n"
    "Les participants ont suggéré :\n\n"
    "• La mise en place d'un mécanisme permettant de tracer les données \net le consentement ;  \n\n"
    "Un participant a toutefois soulevé qu'il pouvait être difficile pour un organisme de vérifier si les "
    "procédés tels \n\nque la confidentialité différentielle pouvaient être qualifiés d'anonymisation.  \n\n"
    "Comment vérifier l'anonymisation ?"
)


def make_corpus(dest: Path, names: Sequence[str] = SMALL_DOCS) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*names, "catalogue.json"):
        shutil.copy2(CORPUS / name, dest / name)
    return dest


def make_settings(corpus_dir: Path, index_dir: Path, **overrides: Any) -> Settings:
    return Settings(corpus_dir=corpus_dir, index_dir=index_dir, cache_dir=index_dir.parent / "cache",
                    **overrides).resolved()


@dataclass
class Built:
    settings: Settings
    report: IndexReport

    @property
    def corpus_dir(self) -> Path:
        return self.settings.corpus.corpus_dir

    @property
    def index_dir(self) -> Path:
        return self.settings.corpus.index_dir


class CountingEmbedder:
    """The real embedder, recording what it is asked to embed (to prove unchanged files are not re-embedded)."""

    def __init__(self, inner: Embedder, fail_on_call: int | None = None) -> None:
        self.inner = inner
        self.id = inner.id
        self.texts: list[str] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("injected failure half-way through the build")
        self.texts.extend(texts)
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


@pytest.fixture(scope="session")
def e5() -> Embedder:
    return get_embedder("e5")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, e5: Embedder) -> Built:
    """The two small documents indexed once with the real e5 model. Read it, never write it: copy it."""
    root = tmp_path_factory.mktemp("built")
    settings = make_settings(make_corpus(root / "corpus"), root / "index")
    report = Index(settings, e5).update()
    return Built(settings, report)


@pytest.fixture
def built_copy(built: Built, tmp_path: Path) -> Built:
    """A private copy of the session index and its corpus (mtimes kept, so the copy is up to date)."""
    shutil.copytree(built.corpus_dir, tmp_path / "corpus")
    shutil.copytree(built.index_dir, tmp_path / "index")
    return Built(make_settings(tmp_path / "corpus", tmp_path / "index"), built.report)


# -- Chroma, read directly (not through our Index) -------------------------------------------------------------
_READ_CHROMA = textwrap.dedent("""
    import collections, json, sys
    import chromadb
    from chromadb.config import Settings
    client = chromadb.PersistentClient(path=sys.argv[1], settings=Settings(anonymized_telemetry=False))
    out = {}
    for c in client.list_collections():
        got = client.get_collection(c.name).get(include=["metadatas"])
        out[c.name] = {"count": len(got["ids"]), "ids": sorted(got["ids"]),
                       "docs": dict(collections.Counter(m["doc"] for m in got["metadatas"]))}
    print(json.dumps(out))
""")


def chroma_state(index_dir: Path, fresh_process: bool = False) -> dict[str, Any]:
    """Collections and per-document row counts, read with chromadb's own client.

    ``fresh_process`` after another process wrote the index: Chroma caches state per path within a process.
    """
    if fresh_process:
        proc = subprocess.run([sys.executable, "-c", _READ_CHROMA, str(index_dir / "chroma")], capture_output=True,
                              text=True, timeout=120, env=clean_env())
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(index_dir / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))
    out = {}
    for c in client.list_collections():
        got = client.get_collection(c.name).get(include=["metadatas"])
        out[c.name] = {"count": len(got["ids"]), "ids": sorted(got["ids"]),
                       "docs": dict(Counter(str(m["doc"]) for m in got["metadatas"]))}
    return out


def manifest(index_dir: Path) -> dict[str, Any]:
    return json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))


def live_rows(index_dir: Path, fresh_process: bool = False) -> dict[str, Any]:
    """The collection the manifest points at, as Chroma holds it."""
    return chroma_state(index_dir, fresh_process)[manifest(index_dir)["collection"]]


# -- the real CLI in a subprocess, with network attempts recorded ---------------------------------------------
SITECUSTOMIZE = '''
"""Test harness: record and refuse every non-loopback network attempt of this process.

Independent of the product's own egress guard: the wrappers are put back on top whenever the guard installs
itself, so an attempt is recorded before the guard could hide it, and an audit hook sees anything that
reaches the C socket layer some other way.
"""
import ipaddress, json, os, socket, sys

_LOG = os.environ["NETCHECK_LOG"]


def _write(entry):
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\\n")


def _local(host):
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return True  # AF_UNIX paths
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0].strip("[]"))
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _literal(host):
    try:
        ipaddress.ip_address((host.decode() if isinstance(host, bytes) else str(host)).split("%")[0])
    except ValueError:
        return False
    return True


def _refuse(kind, host):
    _write({"attempt": kind, "host": str(host), "pid": os.getpid()})
    raise OSError(f"NETCHECK: {kind} to non-loopback {host!r} refused by the test harness")


def _host(address):
    return address[0] if isinstance(address, tuple) and address else address


def _wrap():
    cur_connect, cur_connect_ex = socket.socket.connect, socket.socket.connect_ex
    cur_gai, cur_ghbn = socket.getaddrinfo, socket.gethostbyname

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(_host(address)):
            _refuse("connect", _host(address))
        return cur_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(_host(address)):
            _refuse("connect", _host(address))
        return cur_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        # An IP literal needs no DNS query: the connect that follows is the attempt.
        if host is not None and not _local(host) and not _literal(host):
            _refuse("getaddrinfo", host)
        return cur_gai(host, *args, **kwargs)

    def gethostbyname(host):
        if not _local(host):
            _refuse("gethostbyname", host)
        return cur_ghbn(host)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname


def _audit(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg") and len(args) > 1 and args[1] is not None \
            and not _local(_host(args[1])):
        _refuse(event + " (C level)", _host(args[1]))
    elif event == "socket.gethostbyaddr" and args and not _local(args[0]):
        _refuse(event + " (C level)", args[0])
    elif event in ("socket.getaddrinfo", "socket.gethostbyname") and args and not _local(args[0]) \
            and not _literal(args[0]):
        _refuse(event + " (C level)", args[0])


_wrap()
sys.addaudithook(_audit)
try:
    import gdpr_assistant.offline as _offline
except ImportError:
    pass
else:
    _install = _offline.install_egress_guard

    def _install_then_rewrap(*args, **kwargs):
        _install(*args, **kwargs)
        _wrap()

    _offline.install_egress_guard = _install_then_rewrap
_write({"loaded": os.getpid(), "argv": sys.argv})
'''


def clean_env(**extra: str) -> dict[str, str]:
    """The parent environment without the user's ASK_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASK_") and k not in ("PYTHONPATH",)}
    env.update(extra)
    return env


@dataclass
class NetCheck:
    env: dict[str, str]
    log: Path

    def entries(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line]

    def attempts(self) -> list[dict[str, Any]]:
        return [e for e in self.entries() if "attempt" in e]

    def loaded_pids(self) -> list[int]:
        return [e["loaded"] for e in self.entries() if "loaded" in e]


@pytest.fixture
def netcheck(tmp_path: Path) -> NetCheck:
    hook = tmp_path / "netcheck"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    log = tmp_path / "net-attempts.jsonl"
    return NetCheck(clean_env(PYTHONPATH=str(hook), NETCHECK_LOG=str(log)), log)


def ask_command() -> list[str]:
    """The installed `ask` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "ask"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gdpr_assistant.interfaces.cli"]


def run_ask(args: Sequence[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ask_command(), *args], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=REPO)
