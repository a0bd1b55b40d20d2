"""The shared deployment: the index on a real Chroma server, the model on a real llama.cpp server (llama-cpp-python's,
with the packaged `fast` model), both started here on 127.0.0.1 and stopped at the end, even on failure.

The fast tests (no server, or a stub server of a few lines) check the error paths and the arithmetic; the slow
ones the guarantees end to end: a cited answer and a judged quote through the server, an update by one instance
seen by another (and never half-seen), one writer at a time, and `ask serve --shared` starting and stopping.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS, CountingEmbedder, ask_command, clean_env

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.drafting.prompt import NOT_COVERED
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.index.store import IndexLocked
from gdpr_assistant.interfaces.serve import Child, chroma_command, free_port, llama_server_command, wait_ready
from gdpr_assistant.models.backend import Generation, GenerationStats, ModelError
from gdpr_assistant.models.openai import ServerBackend, margin
from gdpr_assistant.models.packaged import resolve_model
from gdpr_assistant.settings import ModelSettings, Settings

DOCS = ("cnil-webinaire-recommandations-ia-rgpd-2024.md", "inserm-recommandations-usage-ia.txt")
CONSENT = "Quelles qualités le consentement doit-il réunir pour fonder la collecte de données d'entraînement ?"
ZORBLAX = ("# Registre Zorblax\n\nLe projet Zorblax conserve les journaux d'entraînement pendant dix-sept mois, puis "
           "les supprime.\n")


# -- without servers ---------------------------------------------------------------------------------------------
def test_margin_is_a_bound_when_a_side_is_not_listed() -> None:
    top = [("Le", -0.1), ("N", -2.6), ("La", -3.0), ("[", -4.0)]
    assert margin(top, ["NON_COUVERT"], None).value == pytest.approx(-2.5)  # type: ignore[union-attr]
    # The refusal absent from the top tokens: it is at most the smallest listed, so the margin is at most this.
    found = margin([("Le", -0.1), ("La", -3.0)], ["NON_COUVERT"], None)
    assert found is not None and found.bound == "upper" and found.value == pytest.approx(-2.9)
    yes_no = [("OUI", -0.2), ("Oui", -1.5), ("Le", -6.0)]
    judged = margin(yes_no, ["OUI", "Oui"], ["NON", "Non"])
    assert judged is not None and judged.bound == "lower" and judged.value == pytest.approx(5.8)
    assert margin([("Le", -0.1)], ["OUI"], ["NON"]) is None


def test_model_server_down_is_a_clear_error_quickly() -> None:
    port = free_port()  # nothing listens there
    backend = ServerBackend(ModelSettings(llm_url=f"http://127.0.0.1:{port}/v1", llm_retries=1,
                                          llm_api_key="sk-secret-never-shown"))
    t0 = time.perf_counter()
    with pytest.raises(ModelError) as err:
        list(backend.generate(Generation(messages=[{"role": "user", "content": "?"}], max_tokens=5), GenerationStats()))
    assert time.perf_counter() - t0 < 10
    message = str(err.value)
    assert f"127.0.0.1:{port}/v1" in message and "llama_cpp.server" in message and "ASK_LLM_URL" in message
    assert "sk-secret" not in message and "sk-secret" not in repr(backend.__dict__)
    with pytest.raises(ModelError, match="cannot be reached"):
        backend.check()


def test_doctor_reports_servers_that_are_down_with_their_fix(tmp_path: Path) -> None:
    # A team's instance: `ask doctor` checks the model server and the Chroma server it is pointed at, not the
    # packaged models it does not use, and fails with what to do.
    llm_port, chroma_port = free_port(), free_port()
    env = clean_env(ASK_CORPUS_DIR=str(CORPUS), ASK_INDEX_DIR=str(tmp_path / "index"), ASK_LLM_RETRIES="0",
                    ASK_LLM_URL=f"http://127.0.0.1:{llm_port}/v1", ASK_CHROMA_URL=f"http://127.0.0.1:{chroma_port}")
    proc = subprocess.run([*ask_command(), "doctor", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1, proc.stderr
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["Model server"]["status"] == "fail"
    assert f"127.0.0.1:{llm_port}" in checks["Model server"]["detail"] and "ASK_LLM_URL" in \
        checks["Model server"]["detail"]
    assert not any(name.startswith(("Model 'default'", "Generation with")) for name in checks), sorted(checks)
    assert checks["Index"]["status"] == "fail" and f"127.0.0.1:{chroma_port}" in checks["Index"]["detail"]


class _DroppingServer(http.server.BaseHTTPRequestHandler):
    """An OpenAI-style server that streams two tokens, then dies mid-answer (the connection cut)."""

    def do_POST(self) -> None:  # http.server calls it by this name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", "100000")  # promised, never delivered
        self.end_headers()
        for word in ("Le ", "consentement "):
            chunk = {"choices": [{"delta": {"content": word}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args: object) -> None:
        pass


def test_a_model_server_dying_mid_answer_is_a_clear_error() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DroppingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        backend = ServerBackend(ModelSettings(llm_url=url, llm_retries=0))
        got: list[str] = []
        with pytest.raises(ModelError, match="stopped in the middle of an answer") as err:
            got.extend(backend.generate(Generation(messages=[{"role": "user", "content": "?"}], max_tokens=20),
                                        GenerationStats()))
        assert url in str(err.value)
    finally:
        server.shutdown()


def test_egress_guard_opens_exactly_the_configured_hosts() -> None:
    # In a child process: the guard, once installed, stays for the life of the process. No packet is sent: the
    # guard's own decision is asked, for the servers' hosts and their neighbours.
    code = """
from gdpr_assistant import offline
from gdpr_assistant.settings import Settings
s = Settings(chroma_url="http://10.9.8.7:8000", llm_url="https://llm.lab.example/v1").resolved()
offline.protect(s.privacy.allowed_hosts)
print(s.privacy.allowed_hosts)
print([offline._is_local(h) for h in ("10.9.8.7", "10.9.8.8", "llm.lab.example", "lab.example", "127.0.0.1")])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    hosts, decisions = out.stdout.strip().splitlines()[-2:]
    assert hosts == "['10.9.8.7', 'llm.lab.example']"
    assert decisions == "[True, False, True, False, True]"


# -- with a Chroma server and a llama.cpp server -------------------------------------------------------------------
@dataclass
class Stack:
    chroma_url: str
    llm_url: str
    root: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("shared")
    model = resolve_model("fast", ModelSettings().cache_dir)  # the machine's model cache, assembled once
    chroma_port, llm_port = free_port(), free_port()
    children: list[Child] = []
    try:
        children.append(Child("Chroma", chroma_command(root / "chroma", chroma_port), root / "chroma.log"))
        children.append(Child("llama.cpp", llama_server_command(model, "fast", llm_port, 4096,
                                                                 ModelSettings().n_threads), root / "llm.log"))
        wait_ready(children[0], f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", 60)
        wait_ready(children[1], f"http://127.0.0.1:{llm_port}/v1/models", 300)
        yield Stack(f"http://127.0.0.1:{chroma_port}", f"http://127.0.0.1:{llm_port}/v1", root)
    finally:
        for child in children:
            child.stop()


def instance(stack: Stack, name: str, embedder: Embedder, docs: tuple[str, ...] = DOCS, **flat: object) -> Assistant:
    """One app instance: its own corpus folder (and local folder), the shared index and model server."""
    corpus = stack.root / name / "corpus"
    if not corpus.exists():
        corpus.mkdir(parents=True)
        for doc in (*docs, "catalogue.json"):
            shutil.copy2(CORPUS / doc, corpus / doc)
    settings = Settings(corpus_dir=corpus, index_dir=stack.root / name / "index", chroma_url=stack.chroma_url,
                        llm_url=stack.llm_url, llm_model="fast", llm="fast", **flat).resolved()
    return Assistant(settings, embedder=embedder)


@pytest.fixture(scope="module")
def first(stack: Stack, e5: Embedder) -> Assistant:
    a = instance(stack, "a", e5)
    report = a.update_index()
    assert report.added and not report.problems
    return a


@pytest.mark.slow
def test_index_lives_on_the_server_and_answers_come_from_the_model_server(first: Assistant, stack: Stack) -> None:
    assert not (first.settings.corpus.index_dir / "manifest.json").exists()
    manifest = first.index.manifest()
    assert manifest is not None and manifest["collection"].startswith("gdpr-assistant.g")
    assert {m["source"] for m in manifest["files"].values()} == {first.index.remote.source}  # type: ignore[union-attr]
    assert first.search(CONSENT, 3)[0].passage.doc == DOCS[0]
    server = first.models.answerer()
    assert isinstance(server, ServerBackend)
    requests: list[Generation] = []
    generate = server.generate

    def spy(request: Generation, stats: GenerationStats) -> Iterator[str]:
        requests.append(request)
        return generate(request, stats)

    server.generate = spy  # type: ignore[method-assign]
    try:
        answer = first.ask(CONSENT)
    finally:
        del server.generate
    # A cited answer, written or quoted (judged), from the consent slide.
    assert not answer.refused and answer.kind in ("answer", "extract"), (answer.refusal_reason, answer.raw)
    assert answer.model == "fast" and answer.refusal_margin is not None
    assert DOCS[0] in {c.doc for c in answer.citations}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)} == {c.n for c in answer.citations}
    # The server wrote what the same model in this process writes from the same request (grammar, greedy
    # sampling, refusal bias), and measured the same refusal margin from its top logprobs.
    from gdpr_assistant.models.registry import local_backend

    local, stats = local_backend("fast", first.settings.models), GenerationStats()
    assert "".join(local.generate(requests[0], stats)).strip() == answer.raw.strip()
    assert stats.refusal_margin == pytest.approx(answer.refusal_margin, abs=0.4)


@pytest.mark.slow
def test_doctor_finds_the_running_servers(first: Assistant, stack: Stack) -> None:
    env = clean_env(ASK_CORPUS_DIR=str(first.settings.corpus.corpus_dir), ASK_INDEX_DIR=str(stack.root / "doc"),
                    ASK_LLM_URL=stack.llm_url, ASK_LLM_MODEL="fast", ASK_CHROMA_URL=stack.chroma_url)
    proc = subprocess.run([*ask_command(), "doctor", "--json"], capture_output=True, text=True, env=env, timeout=300)
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["Model server"]["status"] == "ok" and stack.llm_url in checks["Model server"]["detail"]
    assert checks["Index"]["status"] == "ok", checks["Index"]


@pytest.mark.slow
def test_a_draft_forced_to_refuse_gives_way_to_a_quote_the_server_model_judged(first: Assistant,
                                                                              stack: Stack) -> None:
    # As in test_answer_e2e, with the model on the server: a refusal bias of -50 makes the first draft refuse,
    # and the judgement (one token's logprobs from the server) decides whether the passage is quoted.
    question = "Que revient à faire le fait de demander à ChatGPT de corriger les fautes de français d'un article ?"
    quoted = instance(stack, "a", first.embedder, refusal_bias=-50.0, quote_judge_min=-50.0).ask(question)
    rejected = instance(stack, "a", first.embedder, refusal_bias=-50.0, quote_judge_min=50.0,
                        quote_excerpt_judge_min=50.0).ask(question)
    assert quoted.raw == NOT_COVERED and not quoted.refused and quoted.kind == "extract", quoted.answer
    [cite] = quoted.citations
    assert cite.doc == DOCS[1] and "ChatGPT" in cite.quote
    assert rejected.refused and rejected.quote_margin is not None
    assert rejected.quote_margin == pytest.approx(quoted.quote_margin, abs=0.05)


@pytest.mark.slow
def test_an_update_by_one_instance_is_seen_by_another_at_its_next_question(first: Assistant, stack: Stack,
                                                                           e5: Embedder) -> None:
    # A second instance, with its own corpus folder holding the same documents: nothing to embed for it.
    counting_b = CountingEmbedder(e5)
    second = instance(stack, "b", counting_b)  # type: ignore[arg-type]
    assert second.search("Zorblax journaux dix-sept mois", 1)[0].passage.doc != "registre-zorblax.md"
    assert counting_b.texts == []
    before = first.index.manifest()
    assert before is not None
    # While the first instance adds a document, the second keeps reading: it sees the old index or the new one,
    # never a mix (its reader checks that the passages it reads are exactly those its manifest lists).
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                second.retriever()
            except BaseException as exc:  # any failure of a reader is the finding
                errors.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    upload = stack.root / "registre-zorblax.md"
    upload.write_text(ZORBLAX, encoding="utf-8")
    counting_a = CountingEmbedder(e5)
    writer = Assistant(first.settings, embedder=counting_a)  # type: ignore[arg-type]
    report, problems = writer.add_files([upload])
    stop.set()
    reader.join(60)
    assert not errors, errors
    assert not problems and report.added == ["registre-zorblax.md"]
    assert counting_a.texts and all("Zorblax" in t for t in counting_a.texts)  # only the new file was embedded
    after = first.index.manifest()
    assert after is not None and after["generation"] == before["generation"] + 1
    hit = second.search("Zorblax journaux dix-sept mois", 1)[0]
    assert hit.passage.doc == "registre-zorblax.md"
    assert counting_b.texts == []  # the second instance re-embedded nothing, and kept the first one's document
    assert not second.index.stale_files()
    # Removing is the instance's that holds the file; the other is told where it lives.
    from gdpr_assistant.ingest.corpus import CorpusError

    with pytest.raises(CorpusError, match="another instance"):
        second.remove_document("registre-zorblax.md")
    writer.remove_document("registre-zorblax.md")
    assert "registre-zorblax.md" not in second.titles()


@pytest.mark.slow
def test_one_writer_at_a_time_and_a_dead_writers_lease_expires(first: Assistant, stack: Stack) -> None:
    other = instance(stack, "c", first.embedder, chroma_lease_seconds=5.0)
    assert other.index.remote is not None
    held = other.index.remote.lease()
    held.acquire()
    try:
        with pytest.raises(IndexLocked, match="is updating the shared index"):
            first.update_index(force=True)
    finally:
        held.release()
    # A writer that dies holding the lease: its renewals stop; the next writer waits for the expiry, then takes over.
    crashed = other.index.remote.lease()
    crashed.acquire()
    crashed._stop.set()  # the process is gone: no more renewals, no release
    with pytest.raises(IndexLocked):
        other.update_index()
    time.sleep(6)
    report = other.update_index()
    assert not report.problems
    assert first.index.manifest() is not None


@pytest.mark.slow
def test_a_generation_is_committed_by_one_writer_only(first: Assistant) -> None:
    store = first.index.remote
    assert store is not None
    live = first.index.manifest()
    assert live is not None
    with store.lease() as lease:
        candidate = {**live, "generation": live["generation"] + 1}
        assert store.commit(candidate, lease)
        lease.token = "another-writer"  # a second writer that built the same generation
        assert not store.commit({**candidate, "collection": "gdpr-assistant.g-other"}, lease)
    assert first.index.manifest() == candidate  # the first commit stands, whole


@pytest.mark.slow
def test_serve_shared_starts_the_stack_and_stops_it_cleanly(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.md").write_text("# Note\n\nLa durée de conservation des journaux est de six mois.\n",
                                    encoding="utf-8")
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*ask_command(), "serve", "--shared", "--fast", "--corpus", str(corpus), "--data",
                                 str(tmp_path / "data"), "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                env=clean_env(), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        text = log.read_text()
        assert proc.poll() is None, text
        ports = [int(p) for p in re.findall(r"server on 127\.0\.0\.1:(\d+)", text)]
        assert len(ports) == 2, text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0 or "Arrêt" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    for p in (port, *ports):  # every port free again: nothing of the stack is left running
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", p)) != 0, (p, log.read_text())
