"""The persistent Chroma index: incremental updates, rebuilds, bad files, failed builds (a build killed
half-way by a signal: test_index_killed.py).

Real components throughout: the packaged e5 (and MiniLM) models and a Chroma store in a temp folder, checked
by reading Chroma directly in a fresh process.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    Built,
    CountingEmbedder,
    chroma_state,
    clean_env,
    live_rows,
    manifest,
    run_ask,
)
from test_corpus_chunking import make_pdf

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.index.embedding import Embedder, get_embedder, minilm_dir, model_id
from gdpr_assistant.index.store import Index, IndexDamaged, IndexLocked
from gdpr_assistant.ingest.corpus import load_document
from gdpr_assistant.passages.chunking import CHUNKING_VERSION, chunk
from gdpr_assistant.retrieval.retriever import Retriever

SANTE = "cnil-ia-sante-defis.md"
COLLECTIVITES = "cnil-collectivites-ia-environnement-2024.md"

NEW_DOC = """# Registre des traitements

Le registre des traitements du laboratoire Quokka recense chaque finalité, chaque catégorie de données et
chaque durée de conservation. Il est tenu à jour par le délégué à la protection des données.

# Sous-traitants

Tout sous-traitant du laboratoire Quokka signe un contrat conforme à l'article 28 du RGPD avant le premier
transfert de données.
"""


def expected_passages(corpus_dir: Path, name: str) -> int:
    return len(chunk(load_document(corpus_dir / name, corpus_dir)))


def test_first_build_indexes_every_passage_with_its_location(built: Built) -> None:
    r = built.report
    assert r.rebuilt and sorted(r.added) == sorted([COLLECTIVITES, SANTE]) and not r.problems
    m = manifest(built.index_dir)
    assert m["embedder"] == get_embedder("e5").id and m["chunking"].startswith(
        CHUNKING_VERSION + "/")
    rows = live_rows(built.index_dir)
    expected = {n: expected_passages(built.corpus_dir, n) for n in (COLLECTIVITES, SANTE)}
    assert rows["docs"] == expected and r.passages == sum(expected.values())
    assert {n: f["passages"] for n, f in m["files"].items()} == expected


def test_chroma_runs_without_telemetry_and_only_with_our_embedding_function(built: Built, e5: Embedder) -> None:
    index = Index(built.settings, e5)
    assert index.client().get_settings().anonymized_telemetry is False
    collection = index.collection(manifest(built.index_dir))
    ef = collection.configuration_json["embedding_function"]
    assert ef["name"] == "gdpr-assistant" and ef["config"]["embedder"] == e5.id
    # A text query makes Chroma embed by itself: it must use our model, never its downloading default.
    res = collection.query(query_texts=["projet Ekonom-IA de Nantes Métropole"], n_results=1)
    assert res["ids"][0][0].startswith(COLLECTIVITES)


def test_search_returns_exact_located_passages(built: Built, e5: Embedder) -> None:
    assistant = Assistant(built.settings)
    hits = assistant.search("Combien de personnes ont participé au débat public du rapport éthique de la CNIL en "
                            "2017 ?", k=5)
    assert hits and hits[0].passage.doc == SANTE and "3000 personnes" in hits[0].passage.text
    for h in hits:
        text = (built.corpus_dir / h.passage.doc).read_text(encoding="utf-8")
        assert text[h.passage.start:h.passage.end] == h.passage.text  # a quote is always in the source
        assert f"l. {h.passage.line_start}" in h.passage.location
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    english = assistant.search("Ekonom-IA project of Nantes Métropole", k=3)
    assert english[0].passage.doc == COLLECTIVITES


def test_incremental_update_embeds_only_what_changed(built_copy: Built, e5: Embedder) -> None:
    corpus, idx = built_copy.corpus_dir, built_copy.index_dir
    emb = CountingEmbedder(e5)
    index = Index(built_copy.settings, emb)
    before = live_rows(idx)

    # Nothing changed: no embedding, no new generation.
    report = index.update()
    assert not report.changed and emb.texts == [] and manifest(idx)["generation"] == 1

    # Added file: only its passages are embedded; the others are copied with their vectors.
    (corpus / "quokka.md").write_text(NEW_DOC, encoding="utf-8")
    n_new = expected_passages(corpus, "quokka.md")
    progress: list[tuple[float, str]] = []
    report = index.update(progress=lambda fraction, label: progress.append((fraction, label)))
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and progress[0][1] == "quokka.md"
    assert report.added == ["quokka.md"] and sorted(report.unchanged) == sorted([COLLECTIVITES, SANTE])
    assert len(emb.texts) == n_new and all("Quokka" in t for t in emb.texts)
    rows = live_rows(idx)
    assert rows["docs"] == {**before["docs"], "quokka.md": n_new}
    assert set(before["ids"]) < set(rows["ids"])

    # Modified file: replaced, none of its old text survives.
    emb.texts.clear()
    (corpus / "quokka.md").write_text(NEW_DOC.split("# Sous-traitants")[0].replace("Quokka", "Wombat"),
                                      encoding="utf-8")
    report = index.update()
    assert report.updated == ["quokka.md"] and not report.added and not report.removed
    assert len(emb.texts) == expected_passages(corpus, "quokka.md") == 1
    rows = live_rows(idx)
    assert rows["docs"]["quokka.md"] == 1
    passages, _ = index.passages()
    quokka = [p for p in passages if p.doc == "quokka.md"]
    assert len(quokka) == 1 and "Wombat" in quokka[0].text and "Quokka" not in quokka[0].text

    # Deleted file: its passages are gone.
    emb.texts.clear()
    (corpus / COLLECTIVITES).unlink()
    report = index.update()
    assert report.removed == [COLLECTIVITES] and emb.texts == []
    rows = live_rows(idx)
    assert COLLECTIVITES not in rows["docs"] and rows["count"] == before["docs"][SANTE] + 1
    assert COLLECTIVITES not in manifest(idx)["files"]

    # Touched, same content: the cheap check is refreshed, nothing is embedded.
    os.utime(corpus / SANTE, ns=(time.time_ns(), time.time_ns()))
    assert index.stale_files()
    report = index.update()
    assert not report.changed and emb.texts == [] and not index.stale_files()

    # Old generations do not pile up: the live one and the one before it (for readers mid-query).
    state = chroma_state(idx)
    assert len(state) <= 2 and manifest(idx)["collection"] in state


def test_pdf_is_indexed_with_pages_and_bad_files_are_skipped(built_copy: Built, e5: Embedder) -> None:
    corpus = built_copy.corpus_dir
    make_pdf(corpus / "note-dpo.pdf", [
        "Note interne du DPO sur la pseudonymisation.",
        "La table de correspondance Hippocampe-42 est conservée séparément, chiffrée, par le DPO.",
        "Contacts et annexes.",
    ])
    (corpus / "vide.md").write_bytes(b"")
    (corpus / "casse.pdf").write_bytes(b"%PDF-1.5\n%broken download")
    catalogue = json.loads((corpus / "catalogue.json").read_text(encoding="utf-8"))
    catalogue["note-dpo.pdf"] = {"publisher": "DPO", "kind": "note"}  # metadata, but no title
    (corpus / "catalogue.json").write_text(json.dumps(catalogue), encoding="utf-8")
    assistant = Assistant(built_copy.settings)
    report = assistant.update_index()
    assert report.added == ["note-dpo.pdf"]
    assert sorted(p.split(":")[0] for p in report.problems) == ["casse.pdf", "vide.md"]
    assert any(p.startswith("casse.pdf: not a readable PDF") for p in report.problems)
    assert any(p.startswith("vide.md: the file is empty") for p in report.problems)

    rows = live_rows(built_copy.index_dir)
    assert rows["docs"]["note-dpo.pdf"] == 3 and "casse.pdf" not in rows["docs"]
    hit = assistant.search("Où est conservée la table de correspondance Hippocampe-42 ?", k=3)[0]
    assert hit.passage.doc == "note-dpo.pdf" and hit.passage.page == 2 and "p. 2" in hit.passage.location
    docs = {d["doc"]: d for d in assistant.documents()}
    assert docs["note-dpo.pdf"]["title"] == "note dpo"  # no title anywhere: named after the file
    assert docs["note-dpo.pdf"]["kind"] == "note"
    assert docs["casse.pdf"]["problem"].startswith("casse.pdf: not a readable PDF")

    # Unchanged bad files are reported again but not re-read; fixing one indexes it.
    report = assistant.update_index()
    assert not report.changed and len(report.problems) == 2
    (corpus / "vide.md").write_text("# Désormais rempli\n\nLe fichier a reçu du texte.\n", encoding="utf-8")
    report = assistant.update_index()
    assert report.added == ["vide.md"] and [p.split(":")[0] for p in report.problems] == ["casse.pdf"]


def test_embedder_change_rebuilds_the_index(built_copy: Built) -> None:
    minilm = get_embedder("minilm")
    (built_copy.corpus_dir / SANTE).unlink()  # fewer passages to embed twice more
    n = expected_passages(built_copy.corpus_dir, COLLECTIVITES)
    settings = built_copy.settings.replace(embedder="minilm")
    assistant = Assistant(settings)
    assert assistant.index.stale_files()  # recorded embedder differs
    hits = assistant.search("Ekonom-IA Nantes Métropole", k=3)  # rebuilds on first use
    m = manifest(built_copy.index_dir)
    assert m["embedder"] == minilm.id != get_embedder("e5").id and m["generation"] == 2
    assert hits and hits[0].passage.doc == COLLECTIVITES
    # The stored vectors are MiniLM's, not e5's left over.
    retriever = assistant.retriever()
    p = retriever.passages[0]
    stored = np.asarray(retriever.stored_embeddings([p.id])[0])
    assert float(stored @ minilm.embed_passages([p.embedding_text()])[0]) > 0.999
    assert live_rows(built_copy.index_dir)["docs"] == {COLLECTIVITES: n}

    # A chunking change rebuilds too (the chunking settings are part of the recorded chunking id).
    rechunked = Index(settings.replace(chunk_max_chars=700), minilm)
    report = rechunked.update()
    assert report.rebuilt and manifest(built_copy.index_dir)["chunking"].endswith("/700/250")
    assert live_rows(built_copy.index_dir)["count"] == report.passages > n


def test_local_models_get_ids_that_tell_them_apart(tmp_path: Path) -> None:
    def install(root: Path, dropout: float | None = None) -> Path:
        dest = root / "pkg" / "model"  # packaged models all sit in a folder named "model"
        for src in minilm_dir().rglob("*"):
            target = dest / src.relative_to(minilm_dir())
            if src.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif src.suffix in (".safetensors", ".bin"):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(src)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
        if dropout is not None:
            config = json.loads((dest / "config.json").read_text())
            (dest / "config.json").write_text(json.dumps({**config, "hidden_dropout_prob": dropout}))
        return dest

    same_a, same_b, other = install(tmp_path / "a"), install(tmp_path / "b"), install(tmp_path / "c", 0.3)
    assert model_id(same_a) == model_id(same_b)  # the same model wherever it is installed: no rebuild
    assert model_id(other) != model_id(same_a)  # a different model under the same names: rebuild
    assert model_id(same_a).startswith("sentence-transformers/pkg-")


ZORGLUB = "# Comité\n\nLe comité Zorglub valide chaque entrepôt de données de santé avant sa mise en service.\n"


def test_failure_half_way_leaves_the_previous_index_answering(built_copy: Built, e5: Embedder) -> None:
    corpus, idx = built_copy.corpus_dir, built_copy.index_dir
    before = manifest(idx)
    rows_before = live_rows(idx)
    (corpus / "quokka.md").write_text(NEW_DOC, encoding="utf-8")
    (corpus / "zorglub.md").write_text(ZORGLUB, encoding="utf-8")
    settings = built_copy.settings.replace(embed_batch_size=1)
    flaky = CountingEmbedder(e5, fail_on_call=2)
    with pytest.raises(RuntimeError, match="injected failure"):
        Index(settings, flaky).update()
    assert manifest(idx) == before
    orphan = chroma_state(idx)[f"passages_g{before['generation'] + 1}"]
    assert orphan["count"] == rows_before["count"] + 1  # it did fail half-way through the new generation
    # A reader that opens the index now sees exactly the previous generation.
    retriever = Retriever(Index(settings, e5))
    assert sorted(p.id for p in retriever.passages) == rows_before["ids"]
    assert all("Quokka" not in h.passage.text for h in retriever.search("laboratoire Quokka", k=5))

    # The lock was released and the next run repairs.
    report = Index(settings, CountingEmbedder(e5)).update()
    assert report.added == ["quokka.md", "zorglub.md"]
    rows = live_rows(idx)
    assert rows["docs"]["quokka.md"] == expected_passages(corpus, "quokka.md") and rows["docs"]["zorglub.md"] == 1
    assert rows["count"] == sum(f["passages"] for f in manifest(idx)["files"].values()) == len(set(rows["ids"]))
    assert set(chroma_state(idx)) == {before["collection"], manifest(idx)["collection"]}


def test_a_second_writer_is_refused_while_readers_keep_working(built_copy: Built, e5: Embedder) -> None:
    from filelock import FileLock

    with FileLock(str(built_copy.index_dir / ".lock")):
        (built_copy.corpus_dir / "quokka.md").write_text(NEW_DOC, encoding="utf-8")
        with pytest.raises(IndexLocked, match="Another process is updating the index"):
            Index(built_copy.settings, e5).update()
        assistant = Assistant(built_copy.settings)
        hits = assistant.search("Ekonom-IA Nantes Métropole", k=2)  # stale, locked: previous index answers
        assert hits[0].passage.doc == COLLECTIVITES


@pytest.mark.parametrize("damage", ["collection dropped", "rows deleted"])
def test_store_altered_behind_our_back_is_rebuilt_on_next_use(built_copy: Built, damage: str) -> None:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    (built_copy.corpus_dir / SANTE).unlink()  # fewer passages to re-embed
    Index(built_copy.settings, get_embedder("e5")).update()
    name = manifest(built_copy.index_dir)["collection"]
    client = chromadb.PersistentClient(path=str(built_copy.index_dir / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))
    if damage == "collection dropped":
        client.delete_collection(name)
    else:
        client.get_collection(name).delete(ids=[f"{COLLECTIVITES}#0", f"{COLLECTIVITES}#1"])
    with pytest.raises(IndexDamaged, match="ask index --force"):
        Index(built_copy.settings, get_embedder("e5")).passages()
    assistant = Assistant(built_copy.settings)
    assert not assistant.index.stale_files()  # the cheap check cannot see it; reading the passages does
    hits = assistant.search("Ekonom-IA Nantes Métropole", k=2)
    assert hits[0].passage.doc == COLLECTIVITES
    assert manifest(built_copy.index_dir)["generation"] == 3
    assert live_rows(built_copy.index_dir)["docs"] == {COLLECTIVITES: expected_passages(built_copy.corpus_dir,
                                                                                         COLLECTIVITES)}


def test_uploaded_files_are_checked_before_entering_the_corpus(built_copy: Built, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    make_pdf(uploads / "charte.pdf", ["Charte informatique.", "Les journaux d'accès sont gardés six mois."])
    (uploads / "coupe.pdf").write_bytes(b"%PDF-1.4\nfichier coupe pendant le telechargement")
    (uploads / "notes.docx").write_bytes(b"PK\x03\x04")  # a Word file cut short
    (uploads / "tableau.xlsx").write_bytes(b"PK\x03\x04")  # a spreadsheet: not a type the corpus reads
    report, problems = Assistant(built_copy.settings).add_files(
        [uploads / "charte.pdf", uploads / "coupe.pdf", uploads / "notes.docx", uploads / "tableau.xlsx"])
    assert report.added == ["charte.pdf"]
    assert [p.split(":")[0] for p in problems] == ["coupe.pdf", "notes.docx", "tableau.xlsx"]
    assert problems[0].startswith("coupe.pdf: not a readable PDF")
    assert problems[1].startswith("notes.docx: not a readable Word") and "unsupported type" in problems[2]
    assert sorted(p.name for p in built_copy.corpus_dir.iterdir()) == sorted(
        ["catalogue.json", "charte.pdf", COLLECTIVITES, SANTE])  # no upload left half-way
    assert live_rows(built_copy.index_dir)["docs"]["charte.pdf"] == 2


@pytest.mark.slow
def test_running_assistant_follows_an_update_made_by_another_process(built_copy: Built) -> None:
    # The UI keeps one Assistant (and one Chroma client) open while `ask index` runs in a terminal.
    assistant = Assistant(built_copy.settings)
    first = assistant.retriever()
    (built_copy.corpus_dir / "quokka.md").write_text(NEW_DOC, encoding="utf-8")
    env = clean_env(ASK_CORPUS_DIR=str(built_copy.corpus_dir), ASK_INDEX_DIR=str(built_copy.index_dir),
                    ASK_EMBEDDER="e5")
    proc = run_ask(["index"], env)
    assert proc.returncode == 0 and "1 added" in proc.stdout, proc.stdout + proc.stderr
    retriever = assistant.retriever()
    assert retriever is not first and retriever.generation == first.generation + 1
    hit = retriever.search("Qui signe un contrat avec le laboratoire Quokka ?", k=1)[0]
    assert hit.passage.doc == "quokka.md" and hit.dense_rank == 1  # its vectors, written elsewhere, are seen
