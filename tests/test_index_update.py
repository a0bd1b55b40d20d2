"""Updates of the index at scale: files over the size limit, files of unsupported types, updates run in the
background while answers use the previous generation, builds resumed after an interruption, uploads read once, and
the derived files a search process opens instead of reading Chroma.

Real components: the packaged e5 model and a Chroma store in a temp folder. Corpora are a few short documents
written here, so that each test embeds a handful of passages.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Built, CountingEmbedder, clean_env, live_rows, make_settings, manifest, run_ask
from test_index import NEW_DOC, SANTE, ZORGLUB, expected_passages

from gdpr_assistant.index import derived
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.index.store import Index, UpdateCancelled
from gdpr_assistant.ingest import corpus as corpus_mod
from gdpr_assistant.ingest.corpus import load_document
from gdpr_assistant.library import Library
from gdpr_assistant.passages.chunking import chunk
from gdpr_assistant.retrieval.retriever import Retriever
from gdpr_assistant.settings import Settings

SUBJECTS = ("la vidéoprotection", "le recrutement", "la paie", "la messagerie", "les badges", "la télémédecine",
            "les cookies", "la géolocalisation")
# Eight sections, one passage each: several batches of two.
GUIDE = "# Guide des fiches\n\n" + "\n\n".join(
    f"## Fiche {i + 1} : {s}\n\nPour {s}, le responsable du traitement n° {i + 1} fixe une durée de conservation de "
    f"{(i + 2) * 3} mois, informe les personnes concernées et tient à jour le registre. Le délégué à la protection "
    f"des données vérifie {s} chaque année et consigne ses constats dans un rapport numéroté {100 + i}. Les "
    f"sous-traitants chargés de {s} signent un contrat conforme à l'article 28."
    for i, s in enumerate(SUBJECTS)) + "\n"
# 123 kB on disk, one passage once read (every repeat is a duplicate of the first): over a limit of 0.05 MB, yet
# cheap to embed when the limit is raised.
BIG = "# Gros registre\n\n" + "\n\n".join(
    ["Le registre annuel du service Quokka recense les traitements de données du laboratoire et leurs durées de "
     "conservation."] * 1000) + "\n"


def small_corpus(root: Path, docs: dict[str, str]) -> Path:
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    for name, text in docs.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


def setup(tmp_path: Path, docs: dict[str, str], **overrides: Any) -> Settings:
    return make_settings(small_corpus(tmp_path, docs), tmp_path / "index", **overrides)


# -- files over the size limit --------------------------------------------------------------------------------------
def test_file_over_the_limit_is_named_with_its_size_and_indexed_once_the_limit_is_raised(tmp_path: Path,
                                                                                        e5: Embedder) -> None:
    settings = setup(tmp_path, {"quokka.md": NEW_DOC, "big.md": BIG}, max_file_mb=0.05)
    report = Index(settings, e5).update()
    assert report.added == ["quokka.md"] and len(report.problems) == 1
    problem = report.problems[0]
    # Its name, its size, the time it would take and the setting to raise.
    assert problem.startswith("big.md (0.1 MB, about ") and " to embed)" in problem, problem
    assert "ASK_MAX_FILE_MB (now 0.05 MB)" in problem
    assert "big.md" not in live_rows(settings.corpus.index_dir)["docs"]
    assert manifest(settings.corpus.index_dir)["files"]["big.md"]["problem"] == problem

    # Same limit: said again, not read again, nothing embedded.
    emb = CountingEmbedder(e5)
    again = Index(settings, emb).update()
    assert again.problems == [problem] and not again.changed and emb.calls == 0

    # A raised limit: the file is read and embedded, and only it.
    raised = settings.replace(max_file_mb=1.0)
    emb = CountingEmbedder(e5)
    report = Index(raised, emb).update()
    big_passages = expected_passages(raised.corpus.corpus_dir, "big.md")
    assert report.added == ["big.md"] and not report.problems
    assert report.embedded == big_passages == len(emb.texts)
    assert all("registre annuel du service Quokka" in t for t in emb.texts)  # not quokka.md's passages again
    assert report.unchanged == ["quokka.md"]
    assert live_rows(raised.corpus.index_dir)["docs"] == {"big.md": big_passages,
                                                          "quokka.md": expected_passages(raised.corpus.corpus_dir,
                                                                                         "quokka.md")}


def test_an_office_file_whose_text_is_over_the_limit_is_named_and_not_read_again(tmp_path: Path,
                                                                                  e5: Embedder) -> None:
    """A .docx is small on disk (zipped) but its text can be large: the limit applies to the text once read."""
    import docx

    settings = setup(tmp_path, {"quokka.md": NEW_DOC}, max_file_mb=0.05)
    d = docx.Document()
    d.add_heading("Gros registre", level=1)
    for _ in range(800):
        d.add_paragraph("Le registre annuel du service Quokka recense les traitements de données du laboratoire.")
    d.save(str(settings.corpus.corpus_dir / "registre.docx"))
    assert (settings.corpus.corpus_dir / "registre.docx").stat().st_size < 50_000  # under the limit on disk

    report = Index(settings, e5).update()
    assert report.added == ["quokka.md"] and len(report.problems) == 1
    problem = report.problems[0]
    assert problem.startswith("registre.docx (0.1 MB, about ") and "ASK_MAX_FILE_MB (now 0.05 MB)" in problem
    assert "registre.docx" not in live_rows(settings.corpus.index_dir)["docs"]

    reads: list[str] = []
    real = corpus_mod.load_document

    def counting(path: Path, *args: Any, **kwargs: Any) -> Any:
        reads.append(Path(path).name)
        return real(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corpus_mod, "load_document", counting)
        again = Index(settings, e5).update()
    assert again.problems == [problem] and not again.changed and reads == []


# -- files of unsupported types -------------------------------------------------------------------------------------
def test_unsupported_files_are_listed_by_the_update_ask_index_and_the_doctor(tmp_path: Path, e5: Embedder) -> None:
    settings = setup(tmp_path, {"zorglub.md": ZORGLUB})
    corpus = settings.corpus.corpus_dir
    (corpus / "budget.xlsx").write_bytes(b"PK\x03\x04 tableur")
    (corpus / "notes.pages").write_bytes(b"not a document")
    report = Index(settings, e5).update()
    assert report.added == ["zorglub.md"] and not report.problems
    assert [m.split(":")[0] for m in report.ignored] == ["budget.xlsx", "notes.pages"]
    assert "ignored (unsupported type .xlsx)" in report.ignored[0]
    again = Index(settings, e5).update()  # the index is up to date: they are still named
    assert not again.changed and [m.split(":")[0] for m in again.ignored] == ["budget.xlsx", "notes.pages"]

    env = clean_env(ASK_CORPUS_DIR=str(corpus), ASK_INDEX_DIR=str(settings.corpus.index_dir), ASK_EMBEDDER="e5")
    proc = run_ask(["index"], env)
    assert proc.returncode == 0 and "Index up to date" in proc.stdout, proc.stdout + proc.stderr
    assert "budget.xlsx: ignored (unsupported type .xlsx)" in proc.stderr
    assert "notes.pages: ignored (unsupported type .pages)" in proc.stderr
    doctor = run_ask(["doctor", "--no-smoke"], env)
    assert "[note] Corpus file budget.xlsx: ignored (unsupported type .xlsx)" in doctor.stdout, doctor.stdout


# -- updates in the background ----------------------------------------------------------------------------------------
class GatedEmbedder(CountingEmbedder):
    """The real embedder, held at its ``hold_on``-th batch of passages until the test opens the gate."""

    def __init__(self, inner: Embedder, hold_on: int) -> None:
        super().__init__(inner)
        self.hold_on = hold_on
        self.reached = threading.Event()
        self.gate = threading.Event()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if self.calls + 1 == self.hold_on:
            self.reached.set()
            assert self.gate.wait(120), "the test never opened the gate"
        return super().embed_passages(texts)


def test_long_update_runs_in_the_background_while_answers_use_the_previous_index(tmp_path: Path,
                                                                                 e5: Embedder) -> None:
    # Any update is "long" with a budget of 0 s; the first index is built before answering all the same.
    settings = setup(tmp_path, {"zorglub.md": ZORGLUB}, update_budget_s=0.0, embed_batch_size=2)
    emb = GatedEmbedder(e5, hold_on=3)  # call 1: the first build; 2 and 3: batches of the background update
    library = Library(settings, emb)
    first = library.retriever()
    assert first.generation == 1 and not library.updating and library.index_warnings("en") == []

    (settings.corpus.corpus_dir / "guide.md").write_text(GUIDE, encoding="utf-8")
    retriever = library.retriever()  # returns at once, from the previous generation
    try:
        assert library.updating and emb.reached.wait(120)
        assert retriever is first and library.retriever().generation == 1
        assert all(h.passage.doc == "zorglub.md" for h in retriever.search("durée de conservation des badges", k=3))
        [en] = library.index_warnings("en")
        assert re.search(r"The index is being updated \(1 new or changed file\(s\), \d+% done, about \d+ (s|min) "
                         r"left\): this answer comes from its previous version", en), en
        [fr] = library.index_warnings("fr")
        assert re.search(r"Mise à jour de l'index en cours \(1 fichier\(s\) nouveau\(x\) ou modifié\(s\), \d+%, encore "
                         r"\d+ (s|min) environ\) : cette réponse s'appuie sur la version précédente", fr), fr
    finally:
        emb.gate.set()
        assert library._background is not None
        library._background.join(300)
    assert not library.updating and library.index_warnings("en") == [] == library.index_warnings("fr")
    now = library.retriever()
    assert now.generation == 2 and manifest(settings.corpus.index_dir)["files"]["guide.md"]["passages"] == 8
    hit = now.search("Quelle durée de conservation pour les badges ?", k=1)[0]
    assert hit.passage.doc == "guide.md" and "les badges" in hit.passage.text


# -- an interrupted build resumes -------------------------------------------------------------------------------------
def test_interrupted_update_resumes_embedding_only_the_rest(tmp_path: Path, e5: Embedder) -> None:
    settings = setup(tmp_path, {"zorglub.md": ZORGLUB}, embed_batch_size=2)
    Index(settings, e5).update()
    corpus, idx = settings.corpus.corpus_dir, settings.corpus.index_dir
    before = manifest(idx)
    (corpus / "guide.md").write_text(GUIDE, encoding="utf-8")
    total = expected_passages(corpus, "guide.md")
    assert total == 8

    stop = threading.Event()
    calls: list[float] = []

    def stop_after_two_batches(fraction: float, label: str) -> None:
        if fraction > 0:  # a batch was embedded (0.0: reading files)
            calls.append(fraction)
        if len(calls) == 2:
            stop.set()  # what the program's exit does to a background update

    first = CountingEmbedder(e5)
    with pytest.raises(UpdateCancelled, match="stopped after 4 of 8 passages"):
        Index(settings, first).update(progress=stop_after_two_batches, stop=stop)
    assert len(first.texts) == 4 and manifest(idx) == before  # the previous generation stays live

    second = CountingEmbedder(e5)
    report = Index(settings, second).update()
    assert report.added == ["guide.md"] and report.embedded == total - 4 == len(second.texts)
    assert not set(first.texts) & set(second.texts)  # the rest, not the same passages again
    m = manifest(idx)
    rows = live_rows(idx)
    # What a clean build holds: every passage of both files, once.
    assert rows["docs"] == {"guide.md": total, "zorglub.md": 1} and rows["count"] == len(set(rows["ids"]))
    assert report.passages == rows["count"] == sum(f["passages"] for f in m["files"].values())
    # The resumed vectors are the model's for those passages.
    retriever = Retriever(Index(settings, e5))
    resumed = [p for p in retriever.passages if p.embedding_text() in set(first.texts)]
    stored = np.asarray(retriever.stored_embeddings([p.id for p in resumed]))
    fresh = e5.embed_passages([p.embedding_text() for p in resumed])
    assert len(resumed) == 4 and np.allclose((stored * fresh).sum(axis=1), 1.0, atol=1e-3)


def test_background_update_stopped_at_exit_is_resumed_by_the_next_update(tmp_path: Path, e5: Embedder) -> None:
    settings = setup(tmp_path, {"zorglub.md": ZORGLUB}, update_budget_s=0.0, embed_batch_size=2)
    emb = GatedEmbedder(e5, hold_on=3)
    library = Library(settings, emb)
    library.retriever()
    first = len(emb.texts)  # the first build's
    (settings.corpus.corpus_dir / "guide.md").write_text(GUIDE, encoding="utf-8")
    library.retriever()
    assert emb.reached.wait(120)
    # What the program's exit does (atexit): stop between two batches. The held batch ends after the stop is asked.
    threading.Timer(0.5, emb.gate.set).start()
    library.stop_background(120)
    assert not library.updating and len(emb.texts) - first == 4
    assert manifest(settings.corpus.index_dir)["generation"] == 1  # the previous generation stays live

    # The same library (the UI kept running) updates again: not cancelled, and only the rest is embedded.
    report = library.update_index()
    assert report.added == ["guide.md"] and report.embedded == 4 and len(emb.texts) - first == 8
    assert live_rows(settings.corpus.index_dir)["docs"] == {"guide.md": 8, "zorglub.md": 1}


# -- uploads ----------------------------------------------------------------------------------------------------------
def test_upload_is_read_once_and_a_corrupt_one_leaves_nothing_behind(tmp_path: Path, e5: Embedder,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = setup(tmp_path, {"zorglub.md": ZORGLUB})
    library = Library(settings, e5)
    library.update_index()
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "quokka.md").write_text(NEW_DOC, encoding="utf-8")
    (uploads / "coupe.pdf").write_bytes(b"%PDF-1.4\nfichier coupe pendant le telechargement")

    reads: Counter[str] = Counter()
    real_read = corpus_mod._read

    def counting_read(data: bytes, name: str, *args: Any, **kwargs: Any) -> Any:
        reads[name] += 1
        return real_read(data, name, *args, **kwargs)

    monkeypatch.setattr(corpus_mod, "_read", counting_read)  # every reader of every file goes through it
    report, problems = library.add_files([uploads / "quokka.md", uploads / "coupe.pdf"])
    assert reads == {"quokka.md": 1, "coupe.pdf": 1}  # checked once; the index embeds what the check read
    assert report.added == ["quokka.md"] and report.embedded == expected_passages(settings.corpus.corpus_dir,
                                                                                 "quokka.md")
    assert len(problems) == 1 and problems[0].startswith("coupe.pdf: not a readable PDF")
    corpus = settings.corpus.corpus_dir
    assert sorted(p.name for p in corpus.iterdir()) == ["quokka.md", "zorglub.md"]  # no .upload-* folder left
    assert live_rows(settings.corpus.index_dir)["docs"] == {"quokka.md": report.embedded, "zorglub.md": 1}


# -- derived files ----------------------------------------------------------------------------------------------------
QUERIES = ("Combien de personnes ont participé au débat public du rapport éthique de la CNIL en 2017 ?",
           "projet Ekonom-IA de Nantes Métropole", "Qui signe un contrat avec le laboratoire Quokka ?",
           "entrepôt de données de santé", "sobriété énergétique des algorithmes")


def results(retriever: Retriever) -> list[list[tuple[str, float]]]:
    return [[(h.passage.id, round(h.score, 4)) for h in retriever.search(q, k=8)] for q in QUERIES]


def test_search_opens_from_derived_files_with_the_same_results_as_from_chroma(built_copy: Built, e5: Embedder,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    settings, idx = built_copy.settings, built_copy.index_dir
    # An update: its hubness is computed incrementally from the previous generation's neighbours. A near copy of a
    # passage is among that passage's nearest neighbours: the old rows must meet the new passages.
    corpus = built_copy.corpus_dir
    (corpus / "quokka.md").write_text(NEW_DOC, encoding="utf-8")
    original = chunk(load_document(corpus / SANTE, corpus))[3].text
    (corpus / "copie.md").write_text(f"# Copie de travail\n\n{original}\n\nAnnoté par le laboratoire.\n",
                                     encoding="utf-8")
    assert Index(settings, e5).update().added == ["copie.md", "quokka.md"]
    m = manifest(idx)
    target = derived.generation_dir(idx, m["collection"])
    meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
    assert meta["count"] == live_rows(idx)["count"] and meta["hubness_k"] == settings.retrieval.hubness_k
    assert sorted(p.name for p in idx.joinpath(derived.FOLDER).iterdir()) == sorted(
        [m["collection"], f"passages_g{m['generation'] - 1}"])  # the previous generation's files stay one round

    # A fresh process reads the saved files: nothing recomputed from all of Chroma's embeddings.
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("recomputed from Chroma instead of reading the derived files")

    with monkeypatch.context() as mp:
        mp.setattr(Index, "_derive", refuse)
        mp.setattr(Retriever, "_hub_scores", refuse)
        files, _, _ = Index(settings, e5).generation()
        assert files.hub is not None and isinstance(files.hub, np.memmap) and files.bm25 is not None
        saved = Retriever(Index(settings, e5))
        expected = results(saved)
        hub = np.array(saved._hubness)

    # The fallback (files deleted: an index written by an older version) gives the same search, and saves them.
    shutil.rmtree(target)
    rebuilt = Retriever(Index(settings, e5))
    assert results(rebuilt) == expected
    assert np.allclose(np.asarray(rebuilt._hubness), hub, atol=1e-5)  # incremental hubness = computed from all
    assert derived.read_meta(target) is not None
    assert any(h[0].startswith("quokka.md") for h in expected[2][:1])
