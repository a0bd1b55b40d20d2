"""Reading documents and cutting them into located passages: pure logic on real files (no model, no index)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import CORPUS
from fpdf import FPDF

from gdpr_assistant.ingest.corpus import (
    CorpusError,
    Document,
    DocumentMeta,
    corpus_files,
    load_catalogue,
    load_document,
    load_documents,
    scan_corpus,
)
from gdpr_assistant.passages.chunking import chunk, chunk_document, drop_near_duplicates


def make_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    """A real PDF, one text per page (core font: Latin-1 only, which covers French)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    path.write_bytes(bytes(pdf.output()))
    return path


def doc_from_text(text: str, name: str = "note.md", fmt: str = "markdown",
                  page_starts: list[tuple[int, int]] | None = None) -> Document:
    return Document(name=name, text=text, format=fmt, sha256=hashlib.sha256(text.encode()).hexdigest(),
                    meta=DocumentMeta(title="t"), page_starts=page_starts or [])


def assert_located(doc: Document, passages: list) -> None:
    """Every passage is an exact slice of its document and its line numbers point at it."""
    lines = doc.text.split("\n")
    for p in passages:
        assert doc.text[p.start:p.end] == p.text
        assert p.text.strip()
        assert 1 <= p.line_start <= p.line_end <= len(lines)
        assert "\n".join(lines[p.line_start - 1:p.line_end]).strip().startswith(p.text.split("\n")[0].strip())
        assert p.text.rstrip().split("\n")[-1].strip() in lines[p.line_end - 1]


# -- chunking keeps locations ---------------------------------------------------------------------------------
GUIDE = """# Guide RGPD

Ce guide présente les règles applicables aux traitements de données personnelles en recherche.

## Base légale

Chaque traitement repose sur l'une des six bases légales de l'article 6.

### Intérêt légitime

L'intérêt légitime peut fonder l'entraînement d'un modèle lorsque les droits des personnes sont préservés.
Une mise en balance des intérêts doit être documentée.

### Consentement

Le consentement doit être libre, spécifique, éclairé et univoque.

## Conservation

La durée de conservation des données d'entraînement doit être définie à l'avance.
"""


def test_markdown_passages_carry_heading_path_and_lines() -> None:
    doc = doc_from_text(GUIDE)
    passages = chunk_document(doc, max_chars=300, min_chars=50)
    assert_located(doc, passages)
    legit = next(p for p in passages if "mise en balance" in p.text)
    assert legit.headings == ("Guide RGPD", "Base légale", "Intérêt légitime")
    assert (legit.line_start, legit.line_end) == (9, 12)  # from its heading to its last line
    assert legit.location == "Base légale › Intérêt légitime, l. 9–12"
    assert legit.page is None
    consent = next(p for p in passages if "univoque" in p.text)
    assert consent.headings[-1] == "Consentement" and consent.line_start == 14
    keep = next(p for p in passages if "durée de conservation" in p.text)
    assert keep.headings == ("Guide RGPD", "Conservation")  # the deeper headings closed with their section


def test_continuation_passages_are_embedded_with_their_heading_path() -> None:
    body = "Le délégué à la protection des données conseille le responsable de traitement. " * 12
    doc = doc_from_text(f"# Guide RGPD\n\n## Gouvernance\n\n{body}\n")
    passages = chunk_document(doc, max_chars=400, min_chars=50)
    later = passages[-1]
    assert not later.text.startswith("#") and later.headings == ("Guide RGPD", "Gouvernance")
    # A piece cut out of a long section does not show its heading: the embedded text gives it back.
    assert later.embedding_text() == f"Guide RGPD › Gouvernance\n{later.text}"
    assert passages[0].embedding_text() == passages[0].text  # already opens with its own heading


def test_over_long_paragraph_is_cut_at_sentence_ends_within_the_limit() -> None:
    sentence = "Le responsable de traitement documente chaque choix de conception du modèle. "
    doc = doc_from_text("# Long\n\n" + sentence * 60)
    passages = chunk_document(doc, max_chars=400, min_chars=100)
    assert len(passages) > 5
    assert_located(doc, passages)
    for p in passages:
        assert len(p.text) <= 400
        assert p.text.rstrip().endswith((".", "modèle")) or p is passages[-1]
        assert not p.text[0].isspace()


def test_pdf_passages_never_span_pages_and_carry_their_page() -> None:
    pages = ["RAPPORT ANNUEL\n\nPremière page sur la gouvernance des données.",
             "ANALYSE D'IMPACT\n\nLa deuxième page traite de l'AIPD et des risques élevés.",
             "CONCLUSION\n\nTroisième page : synthèse et perspectives."]
    text, starts, offset = "", [], 0
    for number, page in enumerate(pages, start=1):
        starts.append((number, offset))
        text += page + "\n\n"
        offset = len(text)
    doc = doc_from_text(text.rstrip("\n"), name="rapport.pdf", fmt="pdf", page_starts=starts)
    passages = chunk_document(doc, max_chars=1400, min_chars=250)
    assert [p.page for p in passages] == [1, 2, 3]  # small pages would merge if pages did not cut
    assert "AIPD" in passages[1].text and passages[1].location.startswith("ANALYSE D'IMPACT, p. 2, l. ")
    assert_located(doc, passages)


def test_real_pdf_is_read_with_page_numbers(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "note-interne.pdf", [
        "Introduction générale sur la protection des données.",
        "Le registre des traitements recense chaque finalité et chaque durée de conservation.",
        "Annexe : contacts du délégué à la protection des données.",
    ])
    doc = load_document(path, tmp_path)
    assert doc.format == "pdf" and [n for n, _ in doc.page_starts] == [1, 2, 3]
    passages = chunk(doc)
    registre = next(p for p in passages if "registre des traitements" in p.text)
    assert registre.page == 2 and "p. 2" in registre.location
    assert {p.page for p in passages} == {1, 2, 3}
    assert_located(doc, passages)


def test_pdf_page_without_text_keeps_the_numbering_of_the_others(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "scan-partiel.pdf", ["Première page de texte.", "", "Troisième page de texte."])
    doc = load_document(path, tmp_path)
    assert [n for n, _ in doc.page_starts] == [1, 3]
    assert [p.page for p in chunk(doc)] == [1, 3]


# -- near-duplicate removal -----------------------------------------------------------------------------------
SLIDES = """# Minimisation

- Collecter uniquement les données nécessaires

# Minimisation

- Collecter uniquement les données nécessaires
- Documenter les choix de sélection des données

# Minimisation

- Collecter uniquement les données nécessaires
- Documenter les choix de sélection des données
- Réévaluer périodiquement le besoin

# Sécurité

- Chiffrer les sauvegardes
"""


def test_repeated_slides_keep_only_the_fullest_version() -> None:
    doc = doc_from_text(SLIDES)
    raw = chunk_document(doc, max_chars=1400, min_chars=10)
    assert sum("Collecter uniquement" in p.text for p in raw) == 3
    kept = drop_near_duplicates(raw)
    minim = [p for p in kept if "Collecter uniquement" in p.text]
    assert len(minim) == 1 and "Réévaluer périodiquement" in minim[0].text  # the fullest one survives
    assert any("Chiffrer les sauvegardes" in p.text for p in kept)
    assert [p.index for p in kept] == sorted(p.index for p in kept)


def test_identical_passages_keep_the_first_copy() -> None:
    doc = doc_from_text("# A\n\nTexte identique répété.\n\n# A\n\nTexte identique répété.\n")
    kept = chunk(doc, max_chars=1400, min_chars=10)
    assert len(kept) == 1 and kept[0].index == 0


def test_dedupe_on_the_real_slide_deck_loses_no_line() -> None:
    from gdpr_assistant.passages.chunking import line_set

    doc = load_document(CORPUS / "cnil-webinaire-recommandations-ia-rgpd-2024.md", CORPUS)
    raw = chunk_document(doc)
    kept = chunk(doc)
    assert 0 < len(kept) < len(raw)  # the deck repeats slides: some must go
    kept_lines = [line_set(p.text) for p in kept]
    for p in raw:
        if p not in kept:
            assert any(line_set(p.text) <= lines for lines in kept_lines), p.location


# Documents whose structure is visible in the file (the others are flat text extracted from slides).
WITH_HEADINGS = {"cnil-ia-sante-defis.md", "cnil-webinaire-recommandations-ia-rgpd-2024.md",
                 "inserm-recommandations-usage-ia.txt"}


def test_every_real_document_loads_and_chunks_with_locations() -> None:
    files = corpus_files(CORPUS)
    assert {f.name for f in files} >= {"cnil-ia-sante-defis.md", "inserm-recommandations-usage-ia.txt"}
    assert not {"catalogue.json", "SOURCES.md"} & {f.name for f in files}
    docs, problems = load_documents(files, CORPUS)
    assert problems == [] and len(docs) == len(files)
    catalogue = json.loads((CORPUS / "catalogue.json").read_text(encoding="utf-8"))
    for doc in docs:
        assert doc.meta.title == catalogue[doc.name]["title"]
        passages = chunk(doc)
        assert passages, doc.name
        assert_located(doc, passages)
        assert all(len(p.text) <= 1400 for p in passages)
        if doc.name in WITH_HEADINGS:
            assert sum(bool(p.headings) for p in passages) >= 0.9 * len(passages), doc.name


# -- reading files: metadata, bad files --------------------------------------------------------------------------
def test_document_without_metadata_gets_its_title_from_the_file(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(GUIDE, encoding="utf-8")
    (tmp_path / "notes-de-reunion.txt").write_text("Compte rendu sans titre ni métadonnées.\n", encoding="utf-8")
    make_pdf(tmp_path / "fiche_aipd.pdf", ["Analyse d'impact relative à la protection des données."])
    make_pdf(tmp_path / "declared.pdf", ["Texte."], title="Fiche pratique : la base légale")
    titles = {d.name: d.meta.title for d in load_documents(corpus_files(tmp_path), tmp_path)[0]}
    assert titles == {"guide.md": "Guide RGPD", "notes-de-reunion.txt": "notes de reunion",
                      "fiche_aipd.pdf": "fiche aipd", "declared.pdf": "Fiche pratique : la base légale"}


def test_malformed_catalogue_entry_does_not_cost_the_others_their_metadata(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Titre du fichier A\n\nTexte.\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Titre du fichier B\n\nTexte.\n", encoding="utf-8")
    (tmp_path / "c.md").write_text("# Titre du fichier C\n\nTexte.\n", encoding="utf-8")
    (tmp_path / "catalogue.json").write_text(json.dumps({
        "a.md": {"title": "Titre catalogué", "publisher": "CNIL", "kind": "guide"},
        "b.md": {"publisher": "Inserm"},  # no title
        "c.md": "not an object",
    }), encoding="utf-8")
    assert set(load_catalogue(tmp_path)) == {"a.md", "b.md"}
    docs = {d.name: d for d in load_documents(corpus_files(tmp_path), tmp_path)[0]}
    assert docs["a.md"].meta == DocumentMeta(title="Titre catalogué", publisher="CNIL", kind="guide")
    assert docs["b.md"].meta.title == "Titre du fichier B" and docs["b.md"].meta.publisher == "Inserm"
    assert docs["c.md"].meta.title == "Titre du fichier C"


def test_unreadable_catalogue_falls_back_to_file_titles(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Titre A\n\nTexte.\n", encoding="utf-8")
    (tmp_path / "catalogue.json").write_text("{not json", encoding="utf-8")
    docs, problems = load_documents(corpus_files(tmp_path), tmp_path)
    assert problems == [] and docs[0].meta.title == "Titre A"


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("vide.md", b"", "vide.md: the file is empty"),
    ("blanc.txt", b"  \n\n \t\n", "blanc.txt: the file is empty"),
    ("casse.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "casse.pdf: not a readable PDF"),
    ("faux.pdf", b"ceci n'est pas un PDF", "faux.pdf: not a readable PDF"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.txt: looks like a binary file"),
])
def test_bad_file_gives_a_clear_message(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CorpusError, match="^" + expected.replace(".", r"\.")) as info:
        load_document(tmp_path / name, tmp_path)
    assert len(str(info.value)) < 300 and "Traceback" not in str(info.value)


def test_truncated_and_textless_pdfs_give_a_clear_message(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", ["Une page de texte sur le RGPD."] * 3).read_bytes()
    (tmp_path / "tronque.pdf").write_bytes(good[: len(good) // 2])
    make_pdf(tmp_path / "scan.pdf", ["", ""])
    with pytest.raises(CorpusError, match=r"^tronque\.pdf: not a readable PDF"):
        load_document(tmp_path / "tronque.pdf", tmp_path)
    with pytest.raises(CorpusError, match=r"^scan\.pdf: the PDF has no extractable text .*OCR"):
        load_document(tmp_path / "scan.pdf", tmp_path)


def test_damaged_page_is_skipped_with_a_warning_and_the_others_kept(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import pypdf

    path = make_pdf(tmp_path / "rapport.pdf", ["Page une.", "Page deux, abîmée.", "Page trois."])
    real = pypdf.PageObject.extract_text

    def extract(page: pypdf.PageObject, *args: object, **kwargs: object) -> str:
        text = real(page, *args, **kwargs)
        if "deux" in text:  # pypdf fails this way on a broken content stream
            raise ValueError("could not decode the content stream")
        return text

    monkeypatch.setattr(pypdf.PageObject, "extract_text", extract)
    docs, problems = load_documents([path], tmp_path)
    assert [n for n, _ in docs[0].page_starts] == [1, 3]
    assert problems == ["rapport.pdf: page(s) 2 could not be read and were skipped."]


def test_encrypted_pdf_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("Helvetica")
    pdf.cell(text="Confidentiel")
    (tmp_path / "protege.pdf").write_bytes(bytes(pdf.output()))
    with pytest.raises(CorpusError, match=r"^protege\.pdf: the PDF is encrypted"):
        load_document(tmp_path / "protege.pdf", tmp_path)


def test_bad_files_do_not_stop_the_others(tmp_path: Path) -> None:
    shutil.copy2(CORPUS / "cnil-ia-sante-defis.md", tmp_path)
    (tmp_path / "vide.md").write_bytes(b"")
    (tmp_path / "casse.pdf").write_bytes(b"%PDF-1.7\ntruncated")
    make_pdf(tmp_path / "ok.pdf", ["Texte lisible."])
    docs, problems = load_documents(corpus_files(tmp_path), tmp_path)
    assert sorted(d.name for d in docs) == ["cnil-ia-sante-defis.md", "ok.pdf"]
    assert len(problems) == 2
    assert any(p.startswith("vide.md: the file is empty") for p in problems)
    assert any(p.startswith("casse.pdf: not a readable PDF") for p in problems)


def test_windows_1252_text_is_read_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "ancien.txt").write_bytes("Données de santé : durée de conservation.".encode("cp1252"))
    docs, problems = load_documents([tmp_path / "ancien.txt"], tmp_path)
    assert docs[0].text == "Données de santé : durée de conservation."
    assert problems == docs[0].warnings and "not valid UTF-8" in problems[0]


def test_hidden_and_unsupported_files_are_not_part_of_the_corpus(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n", encoding="utf-8")
    (tmp_path / ".a.md.swp").write_text("x", encoding="utf-8")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "b.md").write_text("# B\n", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.TXT").write_text("C\n", encoding="utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in corpus_files(tmp_path)] == ["a.md", "sub/c.TXT"]
    with pytest.raises(CorpusError, match="Corpus folder not found"):
        corpus_files(tmp_path / "missing")


def test_the_corpus_scan_is_sorted_survives_a_link_loop_and_carries_each_files_stat(tmp_path: Path) -> None:
    """Every question runs this scan to see whether the corpus changed: one walk, each file's size and mtime
    taken from it, in the order (and with the names) the index records."""
    for rel in ("b.md", "a/z.md", "a/b/y.txt", "a-b.md", "A.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(f"# {rel}\n", encoding="utf-8")
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)  # would never end if followed twice
    found = scan_corpus(tmp_path)
    names = [f.name for f in found]
    assert names == sorted(names, key=lambda n: tuple(n.split("/")))  # the order sorted Paths had
    assert set(names) == {"A.md", "a/b/y.txt", "a/z.md", "a-b.md", "b.md"}
    for f in found:
        assert (f.size, f.mtime_ns) == (f.path.stat().st_size, f.path.stat().st_mtime_ns)
        assert f.path == tmp_path / f.name
