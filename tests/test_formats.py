"""Users' own documents: scanned PDFs read by OCR (real Tesseract), Word, OpenDocument and saved web pages
turned into Markdown whose headings, lists and tables chunking follows, and files of other types named.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import NetCheck, run_ask
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from gdpr_assistant.ingest.base import IngestOptions, page_ranges, table_lines
from gdpr_assistant.ingest.corpus import (
    SUPPORTED_SUFFIXES,
    CorpusError,
    corpus_files,
    ingest_fingerprint,
    load_document,
    load_documents,
)
from gdpr_assistant.ingest.tables import recover_tables
from gdpr_assistant.passages.chunking import chunk

# CI installs Tesseract (.ci/run): there a missing one fails these tests instead of skipping them.
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None and not os.environ.get("CI"),
                                     reason="Tesseract is not installed (apt install tesseract-ocr tesseract-ocr-fra)")
OCR = IngestOptions()
NO_TESSERACT = IngestOptions(tesseract_cmd="/nonexistent/bin/tesseract")

SCAN_1 = ["Registre des traitements", "Le responsable tient un registre ecrit.",
          "La duree de conservation est de cinq ans."]
SCAN_2 = ["Analyse d'impact", "Une AIPD est requise pour les donnees de sante.",
          "Le delegue est consulte avant la mise en oeuvre."]
TYPED = "Charte informatique. Les journaux d'acces sont gardes six mois."


def scan_image(lines: list[str]) -> Image.Image:
    """A page as a scanner gives it: a grey image of text, no text layer (300 dpi, 210 x 100 mm)."""
    image = Image.new("L", (2480, 1180), 250)
    draw = ImageDraw.Draw(image)
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    font = ImageFont.truetype(str(dejavu), 52) if dejavu.exists() else ImageFont.load_default(size=52)
    for i, line in enumerate(lines):
        draw.text((180, 160 + i * 110), line, font=font, fill=20)
    return image


def make_pdf(path: Path, pages: list[str | list[str]]) -> Path:
    """A PDF whose pages are typed text (a str) or a scanned image of some lines (a list)."""
    pdf = FPDF(format=(210, 100))
    pdf.set_font("Helvetica", size=11)
    for page in pages:
        pdf.add_page()
        if isinstance(page, str):
            pdf.multi_cell(0, 6, page)
        else:
            pdf.image(scan_image(page), x=0, y=0, w=210, h=100)
    path.write_bytes(bytes(pdf.output()))
    return path


def words(text: str) -> str:
    return " ".join(text.casefold().split())


# -- scanned PDFs --------------------------------------------------------------------------------------------
@needs_tesseract
def test_scanned_pdf_is_read_by_ocr_with_its_page_numbers(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "scan.pdf", [SCAN_1, SCAN_2])
    t0 = time.perf_counter()
    doc = load_document(path, tmp_path, options=OCR)
    per_page = (time.perf_counter() - t0) / 2
    text = words(doc.text)
    assert "registre des traitements" in text and "conservation" in text and "aipd" in text
    assert doc.format == "pdf" and doc.ocr_pages == [1, 2] and [n for n, _ in doc.page_starts] == [1, 2]
    assert doc.page_at(doc.text.index("AIPD")) == 2 and doc.page_at(doc.text.lower().index("registre")) == 1
    passages = chunk(doc)
    assert {p.page for p in passages if "AIPD" in p.text} == {2}
    assert per_page < 30, f"OCR took {per_page:.1f} s a page"


@needs_tesseract
def test_pdf_mixing_typed_and_scanned_pages_ocrs_only_the_scanned_ones(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "mixte.pdf", [TYPED, SCAN_2])
    doc = load_document(path, tmp_path, options=OCR)
    typed = load_document(path, tmp_path, options=IngestOptions(ocr=False))
    assert doc.ocr_pages == [2] and [n for n, _ in doc.page_starts] == [1, 2]
    assert doc.text.startswith(typed.text + "\n\n")  # the text layer exactly as without OCR
    assert "aipd" in words(doc.text[len(typed.text):])
    assert typed.warnings == ["mixte.pdf: page 2 has no text layer (scanned?) and was skipped because OCR is off "
                              "(ASK_OCR=0). Set ASK_OCR=1 to read scanned pages with Tesseract."]
    assert doc.warnings == []


def test_missing_tesseract_names_the_fix_and_the_other_files_are_loaded(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    make_pdf(tmp_path / "scan.pdf", [SCAN_1, SCAN_2, SCAN_1])
    make_pdf(tmp_path / "mixte.pdf", [TYPED, SCAN_2])
    (tmp_path / "note.md").write_text("# Note\n\nLe registre est tenu par le DPO.\n", encoding="utf-8")
    # Through the setting, as a user would point at a Tesseract elsewhere (ASK_TESSERACT_CMD).
    monkeypatch.setenv("ASK_TESSERACT_CMD", str(NO_TESSERACT.tesseract_cmd))
    docs, problems = load_documents(corpus_files(tmp_path), tmp_path)
    assert sorted(d.name for d in docs) == ["mixte.pdf", "note.md"]
    fix = "apt install tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng, or set ASK_OCR=0 to skip them."
    assert problems == [
        f"mixte.pdf: page 2 has no text layer and Tesseract is not installed at /nonexistent/bin/tesseract: {fix}",
        f"scan.pdf: pages 1–3 have no text layer and Tesseract is not installed at /nonexistent/bin/tesseract: {fix}",
    ]
    mixte = next(d for d in docs if d.name == "mixte.pdf")
    assert "Charte informatique" in mixte.text and mixte.ocr_pages == []
    assert ingest_fingerprint(NO_TESSERACT).endswith("ocr:unavailable")


def test_ocr_turned_off_reports_the_scanned_pages_as_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_pdf(tmp_path / "scan.pdf", [SCAN_1])
    monkeypatch.setenv("ASK_OCR", "0")
    with pytest.raises(CorpusError, match=r"^scan\.pdf: page 1 has no text layer \(scanned\?\) and was skipped "
                                          r"because OCR is off \(ASK_OCR=0\)"):
        load_document(tmp_path / "scan.pdf", tmp_path)
    assert ingest_fingerprint() == "ingest2-ocr:off"


def test_blank_pages_are_not_taken_for_scans(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, TYPED)
    pdf.add_page()  # an empty separator page: nothing to OCR, nothing to report
    (tmp_path / "blanc.pdf").write_bytes(bytes(pdf.output()))
    doc = load_document(tmp_path / "blanc.pdf", tmp_path, options=NO_TESSERACT)
    assert doc.warnings == [] and [n for n, _ in doc.page_starts] == [1]


# -- Word, OpenDocument, web pages -------------------------------------------------------------------------
TABLE = [["Modèle", "Consommation électrique (mWh)", "Émissions (mgCO2eq)"],
         ["ChatGPT 5", "434", "181"], ["Mistral large", "144", "8.13"]]
TABLE_LINES = ["Modèle: ChatGPT 5 ; Consommation électrique (mWh): 434 ; Émissions (mgCO2eq): 181",
               "Modèle: Mistral large ; Consommation électrique (mWh): 144 ; Émissions (mgCO2eq): 8.13"]
EXPECTED = "\n\n".join([
    "# Politique d'usage de l'IA",
    "Cette politique encadre l'usage des outils d'IA par les équipes de recherche.",
    "## Règles",
    "- Ne jamais saisir de données de santé identifiantes.\n- Préférer les modèles exécutés localement.",
    "## Consommation des modèles",
    "\n".join(TABLE_LINES),
    "Source : EcoLogits, pour une requête de rédaction.",
])


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = "Politique IA"
    d.add_heading("Politique d'usage de l'IA", level=1)
    d.add_paragraph("Cette politique encadre l'usage des outils d'IA par les équipes de recherche.")
    d.add_heading("Règles", level=2)
    d.add_paragraph("Ne jamais saisir de données de santé identifiantes.", style="List Bullet")
    d.add_paragraph("Préférer les modèles exécutés localement.", style="List Bullet")
    d.add_heading("Consommation des modèles", level=2)
    table = d.add_table(rows=len(TABLE), cols=len(TABLE[0]))
    for i, row in enumerate(TABLE):
        for j, value in enumerate(row):
            table.cell(i, j).text = value
    d.add_paragraph("Source : EcoLogits, pour une requête de rédaction.")
    d.save(str(path))
    return path


def make_odt(path: Path) -> Path:
    from odfdo import Document, Header, List, Paragraph, Table

    d = Document("text")
    d.body.append(Header(1, "Politique d'usage de l'IA"))
    d.body.append(Paragraph("Cette politique encadre l'usage des outils d'IA par les équipes de recherche."))
    d.body.append(Header(2, "Règles"))
    d.body.append(List(["Ne jamais saisir de données de santé identifiantes.",
                        "Préférer les modèles exécutés localement."]))
    d.body.append(Header(2, "Consommation des modèles"))
    table = Table("conso", width=len(TABLE[0]), height=len(TABLE))
    table.set_values([list(row) for row in TABLE])
    d.body.append(table)
    d.body.append(Paragraph("Source : EcoLogits, pour une requête de rédaction."))
    d.save(str(path))
    return path


HTML = """<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Politique | Intranet</title></head>
<body>
<div id="cookie-banner" class="cookie-consent"><p>Nous utilisons des cookies pour mesurer l'audience.
<button>Accepter</button> <button>Refuser</button></p></div>
<header><nav class="menu"><ul><li><a href="/">Accueil</a></li><li><a href="/t">Thématiques</a></li>
<li><a href="/c">Contact</a></li></ul></nav></header>
<main><article>
<h1>Politique d'usage de l'IA</h1>
<p>Cette politique encadre l'usage des outils d'IA par les équipes de recherche.</p>
<h2>Règles</h2>
<ul><li>Ne jamais saisir de données de santé identifiantes.</li><li>Préférer les modèles exécutés localement.</li></ul>
<h2>Consommation des modèles</h2>
<table><thead><tr>TH</tr></thead><tbody>TD</tbody></table>
<p>Source : EcoLogits, pour une requête de rédaction.</p>
</article>
<aside class="related"><h2>À lire aussi</h2><ul><li><a href="/x">Bac à sable IA</a></li></ul></aside></main>
<footer><ul><li><a href="/m">Mentions légales</a></li><li><a href="/a">Accessibilité</a></li></ul></footer>
</body></html>""".replace("TH", "".join(f"<th>{c}</th>" for c in TABLE[0])).replace(
    "TD", "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in TABLE[1:]))


@pytest.mark.parametrize("suffix", [".docx", ".odt", ".html"])
def test_office_files_and_web_pages_become_markdown_with_headings_lists_and_labelled_tables(
        tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"politique{suffix}"
    if suffix == ".docx":
        make_docx(path)
    elif suffix == ".odt":
        make_odt(path)
    else:
        path.write_text(HTML, encoding="utf-8")
    doc = load_document(path, tmp_path)
    assert doc.text == EXPECTED
    assert doc.format == "markdown" and doc.meta.kind == suffix.strip(".")
    assert doc.meta.title == ("Politique IA" if suffix == ".docx" else "Politique d'usage de l'IA")
    passages = chunk(doc, max_chars=200, min_chars=50)
    table = next(p for p in passages if "434" in p.text)
    assert table.headings == ("Politique d'usage de l'IA", "Consommation des modèles")
    assert "Consommation électrique (mWh): 434" in table.text and "Modèle: ChatGPT 5" in table.text


def test_a_saved_web_page_keeps_its_main_text_only(tmp_path: Path) -> None:
    (tmp_path / "page.htm").write_text(HTML, encoding="utf-8")
    text = load_document(tmp_path / "page.htm", tmp_path).text
    for boilerplate in ("cookies", "Accepter", "Accueil", "Thématiques", "Mentions légales", "À lire aussi",
                        "Bac à sable"):
        assert boilerplate not in text


def test_word_paragraph_starting_with_a_hash_is_not_a_heading(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("#1 priorité : la confidentialité des patients.")
    d.save(str(tmp_path / "note.docx"))
    doc = load_document(tmp_path / "note.docx", tmp_path)
    assert doc.text == "\\#1 priorité : la confidentialité des patients."
    assert chunk(doc)[0].headings == ()


def test_word_tracked_changes_read_as_accepted(tmp_path: Path) -> None:
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    d = docx.Document()
    p = d.add_paragraph("Les données sont gardées ")
    p._p.append(parse_xml(f'<w:ins {nsdecls("w")} w:id="1" w:author="DPO"><w:r><w:t xml:space="preserve">cinq '
                          '</w:t></w:r></w:ins>'))
    p._p.append(parse_xml(f'<w:del {nsdecls("w")} w:id="2" w:author="DPO"><w:r><w:delText>trois </w:delText>'
                          '</w:r></w:del>'))
    p._p.append(parse_xml(f'<w:r {nsdecls("w")}><w:t>ans.</w:t></w:r>'))
    d.save(str(tmp_path / "suivi.docx"))
    assert load_document(tmp_path / "suivi.docx", tmp_path).text == "Les données sont gardées cinq ans."


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("abime.docx", b"PK\x03\x04 not a zip", "abime.docx: not a readable Word (.docx) file"),
    ("abime.odt", b"PK\x03\x04 not a zip", "abime.odt: not a readable OpenDocument (.odt) file"),
    ("binaire.html", bytes(range(256)) * 8, "binaire.html: looks like a binary file"),
    ("vide.html", b"<html><body><nav><a href='/'>Accueil</a></nav></body></html>",
     "vide.html: no main text found in the web page"),
])
def test_damaged_files_give_a_clear_message(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CorpusError, match="^" + expected.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        load_document(tmp_path / name, tmp_path)


def test_files_of_other_types_are_named_not_silently_ignored(tmp_path: Path) -> None:
    for name in ("note.md", "notes.pages", "vieux.doc", "sans-extension", "Thumbs.db", "~$brouillon.docx",
                 ".cache.bin", "README.md"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "page.html").write_text(HTML, encoding="utf-8")
    (tmp_path / "page_files").mkdir()  # what a browser's "Save as… complete page" writes beside it
    for name in ("app.js", "style.css", "logo.png", "frame.html"):
        (tmp_path / "page_files" / name).write_bytes(b"x")
    ignored: list[str] = []
    assert [p.name for p in corpus_files(tmp_path, ignored)] == ["note.md", "page.html"]
    assert ignored == ["notes.pages: ignored (unsupported type .pages): export it as PDF or Word.",
                       "sans-extension: ignored (no file extension): convert it to PDF, Word (.docx), OpenDocument "
                       "(.odt), web pages (.html), Markdown or text to add it.",
                       "vieux.doc: ignored (unsupported type .doc): save it as .docx."]
    assert {".docx", ".odt", ".html", ".htm", ".pdf"} <= set(SUPPORTED_SUFFIXES)


# -- table rendering, page ranges ----------------------------------------------------------------------------
def test_table_rows_carry_their_column_labels() -> None:
    assert table_lines(TABLE) == TABLE_LINES
    # No header (a first row of figures): cells joined, nothing invented.
    assert table_lines([["2023", "434"], ["2024", "455"]]) == ["2023 ; 434", "2024 ; 455"]
    # Empty cells are left out rather than labelled with nothing; a row label column works the same way.
    assert table_lines([["", "ChatGPT 5", "Mistral"], ["Eau (mL)", "1.88", ""]]) == ["Eau (mL) ; ChatGPT 5: 1.88"]


EXTRACTED_TABLE = """Le tableau compare trois modèles pour un résumé d'article.

ChatGPT 5
Claude Sonnet 4.0
Mistral large

Consommation électrique
(mWh)

434 455 144

Consommation d'eau (mL) 1.88 1.91 1.02

Ces données sont des estimations.
"""


def test_tables_flattened_by_pdf_extraction_get_labelled_rows_beside_the_text() -> None:
    (table,) = recover_tables(EXTRACTED_TABLE)
    assert table.lines == (
        "Consommation électrique (mWh) — ChatGPT 5: 434; Claude Sonnet 4.0: 455; Mistral large: 144",
        "Consommation d'eau (mL) — ChatGPT 5: 1.88; Claude Sonnet 4.0: 1.91; Mistral large: 1.02")
    assert EXTRACTED_TABLE[table.start:table.end].startswith("ChatGPT 5\nClaude")
    assert EXTRACTED_TABLE[table.start:table.end].endswith("1.02")
    # Column names that cannot be read without guessing (a header that is not one line per column): nothing.
    assert recover_tables(EXTRACTED_TABLE.replace("Claude Sonnet 4.0\n", "Claude\nSonnet 4.0\n")) == []
    # One row of figures is not a table; prose with numbers is left alone.
    assert recover_tables("ChatGPT 5\nMistral\n\nEau (mL) 1.88 1.02\n") == []
    assert recover_tables("Les articles 5 6 et 9 du RGPD.\nVoir les pages 12 14.\n") == []


def test_no_table_is_invented_in_the_shipped_corpus() -> None:
    # Its one flattened table (Inserm's EcoLogits comparison) has 7 header fragments for 4 columns:
    # recovering it would mean guessing which fragments make a name, so it is left as it is.
    corpus = Path(__file__).resolve().parents[1] / "corpus"
    for path in sorted(corpus.glob("*.md")) + sorted(corpus.glob("*.txt")):
        assert recover_tables(path.read_text(encoding="utf-8")) == [], path.name


def test_page_ranges_read_as_a_person_writes_them() -> None:
    assert page_ranges([3]) == "page 3"
    assert page_ranges([1, 2, 3, 7, 9, 10]) == "pages 1–3, 7, 9–10"


# -- end to end ------------------------------------------------------------------------------------------------
@needs_tesseract
@pytest.mark.slow
def test_ask_search_finds_the_scanned_page_with_its_page_number(tmp_path: Path, netcheck: NetCheck) -> None:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    make_pdf(corpus / "registre-scanne.pdf", [TYPED, SCAN_2])
    make_docx(corpus / "politique.docx")
    (corpus / "politique.html").write_text(HTML, encoding="utf-8")
    (corpus / "notes.pages").write_bytes(b"x")
    env = {**netcheck.env, "ASK_CORPUS_DIR": str(corpus), "ASK_INDEX_DIR": str(index)}
    result = run_ask(["search", "--json", "--k", "3", "AIPD requise pour les données de santé"], env)
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits[0]["doc"] == "registre-scanne.pdf" and "p. 2" in hits[0]["location"], hits
    assert "AIPD" in hits[0]["text"]
    assert netcheck.attempts() == []  # OCR and reading stay on this computer
