"""Fuzzing (hypothesis) of what users type and of what they drop into the corpus.

Questions: any text or bytes either becomes a clean question or a :class:`QuestionError`, never a crash,
and search answers every clean question from the index. Corpus files: random bytes, random text in
random encodings, random and broken PDFs, written into the corpus or uploaded through the API; after each
case the index is checked (manifest against Chroma, manifest against the folder, a search that works) and
the user's files are checked byte for byte. Example counts are small: the whole suite has a time budget.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import unicodedata
from pathlib import Path

import pytest
from conftest import Built, make_corpus
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.ingest.corpus import SUPPORTED_SUFFIXES, corpus_files
from gdpr_assistant.intake import question as safety
from gdpr_assistant.interfaces.doctor import index_integrity
from gdpr_assistant.settings import Settings
from gdpr_assistant.text.language import detect_language

MAX = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff\ud800-\udfff]")

any_char = st.characters(codec=None, exclude_categories=())  # surrogates and controls included
words = st.sampled_from(["données", "santé", "RGPD", "consentement", "finalité", "modèle", "IA", "CNIL", "Inserm",
                         "durée", "conservation", "the", "data", "training", "Ekonom-IA", "DATAJUST", "?", "l'",
                         "\u200b", "\x1b[31m", "\x00", "\ud800", "jean@example.org", "06 12 34 56 78"])
questions = st.one_of(
    st.text(any_char, max_size=300),
    st.binary(max_size=300),
    st.lists(words, max_size=40).map(" ".join),
    st.text(any_char, min_size=MAX - 5, max_size=MAX + 50),
    st.none(),
)


@settings(max_examples=400, deadline=None, database=None)
@given(questions)
def test_any_input_becomes_a_clean_question_or_a_clear_error(raw: object) -> None:
    try:
        q = safety.clean_question(raw, MAX)
    except safety.QuestionError as exc:
        assert str(exc).strip()
        return
    assert 0 < len(q) <= MAX
    assert q == q.strip() and "  " not in q and not _CONTROL.search(q)
    assert unicodedata.is_normalized("NFC", q)
    q.encode("utf-8")  # no lone surrogate reaches the embedder or the model
    assert safety.clean_question(q, MAX) == q  # cleaning is idempotent: what is shown is what is asked
    assert detect_language(q) in ("fr", "en")
    assert isinstance(safety.personal_data_found(q), list)
    assert isinstance(safety.check_policy(q).decline, bool)


@pytest.fixture(scope="module")
def searcher(built: Built) -> Assistant:
    return Assistant(built.settings)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(questions)
def test_search_answers_any_clean_question_from_the_index(searcher: Assistant, raw: object) -> None:
    docs = {d["doc"] for d in searcher.documents()}
    try:
        hits = searcher.search(raw, 5)  # type: ignore[arg-type]
    except safety.QuestionError:
        return
    assert 0 < len(hits) <= 5
    for h in hits:
        assert h.passage.doc in docs and h.passage.text.strip() and math.isfinite(h.score)


# -- corpus files --------------------------------------------------------------------------------------------------
def pdf_of(text: str, pages: int) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    latin1 = text.encode("latin-1", errors="replace").decode("latin-1")
    for n in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 5, latin1[n::pages] or " ")
    return bytes(pdf.output())


text_content = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=2500)
contents = st.one_of(
    st.binary(max_size=3000),
    st.tuples(text_content, st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16", "latin-1"])).map(
        lambda t: t[0].encode(t[1], errors="replace")),
    st.tuples(st.lists(words, min_size=1, max_size=300).map(" ".join), st.integers(1, 4)).map(
        lambda t: pdf_of(*t)),
    st.binary(max_size=2000).map(lambda b: b"%PDF-1.4\n" + b),
    st.tuples(st.lists(words, min_size=5, max_size=100).map(" ".join), st.integers(1, 3), st.floats(0.05, 0.95))
    .map(lambda t: (lambda pdf: pdf[: int(len(pdf) * t[2])])(pdf_of(t[0], t[1]))),  # cut short
)
names = st.text(st.characters(categories=("Ll", "Lu", "Nd"), include_characters="-_ é"), min_size=1,
                max_size=24).filter(lambda n: n.strip() == n and not n.startswith("."))
files = st.lists(st.tuples(names, st.sampled_from(SUPPORTED_SUFFIXES), contents, st.booleans()), min_size=1,
                 max_size=4, unique_by=lambda t: (t[0] + t[1]).lower())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fuzz_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Assistant, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    corpus = make_corpus(root / "corpus", ["cnil-ia-sante-defis.md"])
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=root / "index"))
    assistant.update_index()
    (root / "uploads").mkdir()
    return assistant, root


@settings(max_examples=10, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files)
def test_random_corpus_files_never_break_or_corrupt_the_index(fuzz_corpus: tuple[Assistant, Path],
                                                              case: list[tuple[str, str, bytes, bool]]) -> None:
    assistant, root = fuzz_corpus
    corpus, uploads = assistant.settings.corpus.corpus_dir, root / "uploads"
    # Each case starts from the real document alone: the previous case's files are removed (by the update).
    for p in corpus.iterdir():
        if p.name not in ("cnil-ia-sante-defis.md", "catalogue.json"):
            p.unlink()
    shutil.rmtree(uploads)
    uploads.mkdir()
    written: dict[Path, str] = {}
    to_upload: list[Path] = []
    for stem, suffix, data, upload in case:
        path = (uploads if upload else corpus) / f"{stem}{suffix}"
        path.write_bytes(data)
        written[path] = sha(path)
        if upload:
            to_upload.append(path)

    report = assistant.update_index()
    _, upload_problems = assistant.add_files(to_upload)
    for message in [*report.problems, *report.warnings, *upload_problems]:
        assert re.match(r"^[^:]+: \S", message), message  # every message names its file, then says why

    # Nothing the user wrote or uploaded was changed, and uploads are either in the corpus, intact, or refused.
    assert {p: sha(p) for p in written} == written
    for p in to_upload:
        landed = corpus / p.name
        assert not landed.exists() or sha(landed) == written[p] or landed in written
    assert not [p for p in corpus.iterdir() if p.name.endswith(".upload")]

    index = assistant.index
    assert index_integrity(index) == []
    manifest = index.manifest()
    assert manifest is not None
    assert set(manifest["files"]) == {p.relative_to(corpus).as_posix() for p in corpus_files(corpus)}
    hits = assistant.search("algorithme du ministère pour l'indemnisation du préjudice corporel des victimes", 3)
    assert "cnil-ia-sante-defis.md" in {h.passage.doc for h in hits}
    assert assistant.update_index().changed is False  # a second pass finds nothing left to do
