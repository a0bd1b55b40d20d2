"""A real `ask index` interrupted while it embeds (Ctrl-C, then SIGKILL): readers keep the previous index, and
the next run repairs it. Real components: the packaged e5, Chroma, the `ask` command in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import Built, chroma_state, clean_env, live_rows, make_corpus, manifest, run_ask
from test_index import COLLECTIVITES, NEW_DOC, SANTE, ZORGLUB, expected_passages

from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.index.store import Index
from gdpr_assistant.retrieval.retriever import Retriever

KILLABLE_INDEX = textwrap.dedent("""
    import sys, time
    from gdpr_assistant.index import embedding
    real = embedding.E5Embedder.embed_passages
    calls = 0

    def embed_then_hang(self, texts):
        global calls
        calls += 1
        if calls == 3:  # two batches of the new generation are in Chroma: the build is half-way
            print("MID-BUILD", flush=True)
            # Short sleeps, not one long one: the kernel may hand SIGINT to one of torch's or Chroma's threads,
            # and a single sleep(600) in the main thread would not wake until it ends (seen once in a full run).
            for _ in range(6000):
                time.sleep(0.1)
        return real(self, texts)

    embedding.E5Embedder.embed_passages = embed_then_hang
    from gdpr_assistant.interfaces.cli import main
    sys.argv = ["ask", "index"]
    main()
""")


def kill_mid_build(env: dict[str, str], sig: signal.Signals = signal.SIGKILL) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE_INDEX], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line.strip() == "MID-BUILD", (line, proc.stderr.read() if proc.poll() is not None else "")
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow
def test_killed_update_keeps_answering_and_next_run_repairs(built_copy: Built, e5: Embedder) -> None:
    corpus, idx = built_copy.corpus_dir, built_copy.index_dir
    before = manifest(idx)
    rows_before = live_rows(idx)
    with (corpus / COLLECTIVITES).open("a", encoding="utf-8") as f:
        f.write("\n\n" + ZORGLUB)
    # Enough new passages for two interrupted builds of two batches each (a build resumes what the last one embedded).
    sections = "\n\n".join(f"# Traitement {i}\n\n" + f"Le laboratoire Quokka conserve les données du traitement {i} "
                             "pendant une durée fixée par son délégué à la protection des données, puis les "
                             "supprime ou les anonymise selon la procédure interne. " * 3 for i in range(1, 6))
    (corpus / "quokka.md").write_text(NEW_DOC + "\n\n" + sections, encoding="utf-8")
    env = clean_env(ASK_CORPUS_DIR=str(corpus), ASK_INDEX_DIR=str(idx), ASK_EMBEDDER="e5", ASK_EMBED_BATCH_SIZE="1")

    # Ctrl-C: a clean stop, with the lock released.
    interrupted = kill_mid_build(env, signal.SIGINT)
    assert interrupted.returncode == 1 and "Aborted" in interrupted.stderr
    assert "Traceback" not in interrupted.stderr and manifest(idx) == before
    # SIGKILL: no clean-up at all.
    kill_mid_build(env)
    assert manifest(idx) == before
    state = chroma_state(idx, fresh_process=True)
    orphan = state[f"passages_g{before['generation'] + 1}"]
    # The unchanged file copied, then two new passages per run: the second run resumed the first's, none twice.
    assert orphan["count"] == rows_before["docs"][SANTE] + 4
    # What a reader sees meanwhile: the previous generation, whole and alone.
    retriever = Retriever(Index(built_copy.settings, e5))
    assert sorted(p.id for p in retriever.passages) == rows_before["ids"]
    assert all("Zorglub" not in h.passage.text for h in retriever.search("comité Zorglub", k=5))

    # The next `ask search` notices the stale index, builds the generation again and answers from it.
    proc = run_ask(["search", "--json", "--k", "3", "Que valide le comité Zorglub ?"], env)
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert hits[0]["doc"] == COLLECTIVITES and "Zorglub" in hits[0]["text"]
    m = manifest(idx)
    assert m["generation"] == before["generation"] + 1
    state = chroma_state(idx, fresh_process=True)
    rows = state[m["collection"]]
    assert rows["count"] == sum(f["passages"] for f in m["files"].values()) == len(set(rows["ids"]))
    assert rows["docs"] == {n: expected_passages(corpus, n) for n in (COLLECTIVITES, SANTE, "quokka.md")}
    assert set(state) == {before["collection"], m["collection"]}
    again = run_ask(["index"], env)
    assert again.returncode == 0 and "Index up to date" in again.stdout


@pytest.mark.slow
def test_killed_first_build_is_redone_on_first_use(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus", [COLLECTIVITES])
    idx = tmp_path / "index"
    env = clean_env(ASK_CORPUS_DIR=str(corpus), ASK_INDEX_DIR=str(idx), ASK_EMBEDDER="e5", ASK_EMBED_BATCH_SIZE="2")
    kill_mid_build(env)
    assert not (idx / "manifest.json").exists()
    assert [c["count"] for c in chroma_state(idx, fresh_process=True).values()] == [4]  # two batches of two

    proc = run_ask(["search", "--json", "--k", "2", "Ekonom-IA Nantes Métropole"], env)
    assert proc.returncode == 0, proc.stderr
    assert '"doc": "cnil-collectivites-ia-environnement-2024.md"' in proc.stdout
    state = chroma_state(idx, fresh_process=True)
    assert list(state) == [manifest(idx)["collection"]]
    assert state[manifest(idx)["collection"]]["count"] == expected_passages(corpus, COLLECTIVITES)
