"""The web UI as users and API clients meet it: `python app.py` really served on 127.0.0.1.

One server for the module (building its index is the slow part), started the way a user starts it, under the
network recorder of ``conftest``: every non-loopback attempt of the server process is logged and refused.
API tests go through ``gradio_client``; the browser test drives Debian's headless Chromium through
playwright and fails if the page requests anything that is not on this machine. The page's own behaviour (Enter
sends, the sources panel renders) is checked in seconds on a page served in this process over a scripted model.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from conftest import REPO, SITECUSTOMIZE, NetCheck, clean_env, make_corpus

# The deck holds CNIL Fiche 2 (purpose); with the Inserm note, the corpus and the question of the pipeline's own
# end-to-end test (tests/test_answer_e2e.py), so the UI tests ask what the pipeline is known to answer.
DOCS = ("cnil-webinaire-recommandations-ia-rgpd-2024.md", "inserm-recommandations-usage-ia.txt")
QUESTION = "Quelles qualités le consentement doit-il réunir pour fonder la collecte de données d'entraînement ?"
PURPOSE = ("Développement d'un modèle qui prédit le risque de réhospitalisation à 30 jours à partir des dossiers "
           "des patients, pour aider les équipes soignantes à prioriser le suivi après la sortie.")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 600  # first run indexes the corpus: about 20 s on an idle laptop, much more on a busy CI box
MODEL_TIMEOUT_S = 420


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[str]
    corpus_dir: Path
    index_dir: Path
    net: NetCheck
    output: list[str] = field(default_factory=list)

    def client(self) -> Any:
        from gradio_client import Client

        return Client(self.url, verbose=False)


def _drain(proc: subprocess.Popen[str], sink: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sink.append(line)


def start_app(args: list[str], env: dict[str, str], output: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), *args], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    threading.Thread(target=_drain, args=(proc, output), daemon=True).start()
    return proc


def wait_for(output: list[str], pattern: str, proc: subprocess.Popen[str], timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(output):
            if m := re.search(pattern, line):
                return m
        if proc.poll() is not None:
            time.sleep(0.5)  # let the reader thread collect the last lines
            pytest.fail(f"app.py exited with {proc.returncode}:\n{''.join(output)}")
        time.sleep(0.5)
    pytest.fail(f"no line matching {pattern!r} within {timeout:.0f} s:\n{''.join(output)}")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ui")
    corpus = make_corpus(root / "corpus", DOCS)
    hook = root / "netcheck"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    net = NetCheck(clean_env(PYTHONPATH=str(hook), NETCHECK_LOG=str(root / "net.jsonl"),
                             ASK_CORPUS_DIR=str(corpus), ASK_INDEX_DIR=str(root / "index"),
                             GRADIO_TEMP_DIR=str(root / "gradio")), root / "net.jsonl")
    output: list[str] = []
    proc = start_app(["--port", str(free_port())], net.env, output)  # the default model, as `python app.py`
    try:
        url = wait_for(output, r"prêt : (http://\S+)", proc, START_TIMEOUT_S).group(1)
        yield Server(url, proc, corpus, root / "index", net, output)
    finally:
        stop(proc)


# -- rendering (pure functions, fixed inputs) -----------------------------------------------------------------
def _marked(html_out: str) -> str:
    """The marked text of ``html_out``, whitespace collapsed. One span may be marked in several pieces (one per
    paragraph, list item or emphasis it crosses): pieces apart only by inline tags are joined as they read."""
    import html

    text = re.sub(r"</?(?:p|h\d|li|ul|ol|hr|br|blockquote)\b[^>]*>", " ", html_out)  # blocks: a space apart
    text = re.sub(r"</mark>(\s*)<mark>", r"\1", re.sub(r"<(?!/?mark>)[^>]*>", "", text))
    return " ".join(html.unescape(" ".join(re.findall(r"<mark>(.*?)</mark>", text, re.S))).split())


def _answer(refused: bool = False) -> Any:
    from gdpr_assistant.types import Answer, Citation, Hit, Passage

    text = "# Le consentement\n\n- Libre <b>\n- Univoque"
    passage = Passage("deck.md", 3, text, 0, len(text), ("Fiche 4",), 10, 14)
    cites = [] if refused else [Citation(1, "deck.md", "Fiches CNIL", passage.location, "- Libre <b>", text)]
    return Answer(question="q", answer="Le consentement doit être libre [1].", refused=refused, lang="fr",
                  citations=cites, passages=[Hit(passage, 0.5, 0.9, 1, 1)], model="qwen-test",
                  timings={"retrieval_s": 0.1, "ttft_s": 1.5, "total_s": 3.25, "prompt_tokens": 900,
                           "completion_tokens": 20})


def test_answer_bubble_links_each_citation_and_shows_time_tokens_and_model() -> None:
    from gdpr_assistant.interfaces import ui

    md = ui.answer_markdown(_answer(), "src-3", ui.TEXTS["fr"])
    assert "libre [\\[1\\]](#src-3-1)." in md
    assert "3.2 s" in md and "900 + 20 jetons" in md and "qwen-test" in md
    panel = ui.sources_html(_answer(), "src-3", {}, ui.TEXTS["fr"], 600)
    assert 'id="src-3-1"' in panel and "Fiches CNIL" in panel and "deck.md · Fiche 4, l. 10–14" in panel
    # The passage's Markdown is rendered, the cited item marked inside its list item, its <b> escaped.
    assert "<h1>Le consentement</h1>" in panel and "<li><mark>Libre &lt;b&gt;</mark></li>" in panel
    assert "<b>" not in panel and "# " not in panel


def test_a_quote_with_collapsed_line_breaks_is_still_marked_in_its_passage() -> None:
    # A quoted PDF sentence (verification/quotes.py) has its line breaks collapsed and Markdown bold dropped.
    from gdpr_assistant.interfaces import ui

    passage = "Intro.\n\nUn participant a **soulevé** qu'il pouvait être \n\ndifficile de vérifier.\nFin."
    quote = "Un participant a soulevé qu'il pouvait être difficile de vérifier."
    html_out = ui.marked_passage(passage, quote)
    assert _marked(html_out) == quote
    assert html_out.index("Intro.") < html_out.index("<mark>") and html_out.rindex("</mark>") < html_out.index("Fin.")
    assert "<strong><mark>soulevé</mark></strong>" in html_out and "**" not in html_out
    assert "<mark>" not in ui.marked_passage(passage, "Une phrase qui n'y est pas.")


def test_an_excerpt_quoted_without_its_markdown_is_marked_across_headings_and_rules() -> None:
    from gdpr_assistant.interfaces import ui
    from gdpr_assistant.text.markup import plain

    slide = "# Fiche 5\n\n---\n\n## Obligatoire\n\nPour les traitements à **haut risque**\n\n## Facultative\n\nFin."
    quote = plain(slide.rsplit("\n\n", 1)[0])
    assert quote == "Fiche 5 Obligatoire Pour les traitements à haut risque Facultative"
    html_out = ui.marked_passage(slide, quote)
    assert _marked(html_out) == quote
    assert html_out.startswith("<h1><mark>Fiche 5</mark></h1>\n<hr />\n<h2><mark>Obligatoire</mark></h2>")
    assert "<strong><mark>haut risque</mark></strong>" in html_out and html_out.endswith("<p>Fin.</p>\n")


# A slide of the kind the CNIL deck holds, with raw HTML a user's document could carry.
CONSENT = ("# Fiche 4 : le consentement\n\n## Le consentement\n\nLe consentement doit être **libre**, spécifique, "
           "éclairé et univoque.\n\n- Il peut être retiré à tout moment.\n- Le responsable doit pouvoir en apporter "
           "la preuve.\n\n<script>window.injected = 1</script>\n")
CONSENT_ANSWER = "Le consentement doit être libre, spécifique, éclairé et univoque"


def test_a_passage_is_shown_rendered_from_its_markdown_with_the_cited_span_marked() -> None:
    from gdpr_assistant.interfaces import ui
    from gdpr_assistant.text.markup import plain
    from gdpr_assistant.types import Hit, Passage

    quote = plain("Le consentement doit être **libre**, spécifique, éclairé et univoque.")
    html_out = ui.marked_passage(CONSENT, quote)
    assert "<h1>Fiche 4 : le consentement</h1>" in html_out and "<h2>Le consentement</h2>" in html_out
    assert "<li>Il peut être retiré à tout moment.</li>" in html_out
    assert "<strong><mark>libre</mark></strong>" in html_out and _marked(html_out) == quote
    assert "#" not in html_out and "**" not in html_out
    # The nearest passages of a refusal are rendered the same way, unmarked.
    passage = Passage("fiche.md", 0, CONSENT, 0, len(CONSENT), ("Fiche 4",), 1, 10)
    hit = ui.hit_html(Hit(passage, 0.5, 0.9, 1, 1), {}, 600)
    assert "<h2>Le consentement</h2>" in hit and "<strong>libre</strong>" in hit and "<mark>" not in hit


def test_a_passage_cannot_inject_markup_or_make_the_page_fetch_anything() -> None:
    from gdpr_assistant.interfaces import ui

    passage = ("Texte <script>alert('x')</script> puis <img src=x onerror=alert(1)> et <b>gras</b>.\n\n"
               "![pixel](http://tracker.example/p.png) [lien](javascript:alert(1)) <http://tracker.example/a>\n\n"
               "[ref]: http://tracker.example/r\n\n&#60;script&#62; \ufdd0\ufdd1")
    for quote in ("Texte <script>alert('x')</script> puis", "", "absent"):
        html_out = ui.marked_passage(passage, quote)
        tags = set(re.findall(r"</?([a-z0-9]+)", html_out))
        assert tags <= {"p", "br", "mark"}, html_out  # no script, img, b, a: the document's HTML is text
        assert "&lt;script&gt;alert" in html_out and "&lt;img src=x" in html_out and "\ufdd0" not in html_out
        assert "http://tracker.example/r" in html_out  # a link definition stays visible, not a hidden target
    assert _marked(ui.marked_passage(passage, "Texte <script>alert('x')</script> puis")) == (
        "Texte <script>alert('x')</script> puis")


def test_refused_answer_is_labelled_and_shows_the_nearest_passages() -> None:
    from gdpr_assistant.interfaces import ui

    t = ui.TEXTS["en"]
    md = ui.answer_markdown(_answer(refused=True), "src-1", t)
    assert md.startswith("**⚠️ No answer in the documents.**")
    panel = ui.sources_html(_answer(refused=True), "src-1", {"deck.md": "Fiches CNIL"}, t, 600)
    assert t["nearest"] in panel and "Fiches CNIL" in panel and "<mark>" not in panel


# -- the served app -------------------------------------------------------------------------------------------
def test_app_serves_on_loopback_and_builds_the_index_on_first_run(server: Server) -> None:
    assert urlparse(server.url).hostname == "127.0.0.1"
    log = "".join(server.output)
    assert "Indexation du corpus (première utilisation" in log
    assert re.search(r"indexation +\d+%", log)  # progress lines, since stdout is not a terminal here
    assert re.search(r"Index prêt : \d+ passages", log)
    assert "ATTENTION" not in log


def test_documents_endpoint_lists_the_indexed_documents(server: Server) -> None:
    docs = server.client().predict(api_name="/documents")
    assert sorted(d["doc"] for d in docs) == sorted(DOCS)
    for d in docs:
        assert d["passages"] > 0 and d["indexed_at"] and not d["problem"]
    by_name = {d["doc"]: d for d in docs}
    assert by_name["inserm-recommandations-usage-ia.txt"]["title"].startswith("Recommandations du Pôle IA")


@pytest.mark.slow
def test_off_topic_question_is_refused_with_the_nearest_passages(server: Server) -> None:
    markdown, answer = server.client().predict("Quelle est la meilleure recette de tarte tatin ?", None, "", 0,
                                               "auto", api_name="/ask")
    assert answer["refused"] is True
    assert answer["citations"] == [] and answer["passages"]
    assert "ne couvre pas" in markdown and "[1]" not in markdown


def test_empty_question_gets_a_clear_error(server: Server) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"(?i)empty question"):
        server.client().predict("   ", None, "", 0, "auto", api_name="/ask")


def _pdf(path: Path, lines: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    for line in lines:
        pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_uploaded_pdf_becomes_searchable_and_removal_takes_its_passages_away(server: Server,
                                                                              tmp_path: Path) -> None:
    from gradio_client import handle_file

    client = server.client()
    before = client.predict(api_name="/documents")
    pdf = _pdf(tmp_path / "registre-zorblax.pdf", [
        "Registre des traitements du projet Zorblax",
        "Le projet Zorblax conserve les journaux d'entraînement pendant dix-sept mois, puis les supprime.",
        "Le responsable du registre Zorblax est le service de la protection des données du laboratoire.",
    ])
    status, *_ = client.predict([handle_file(pdf)], api_name="/upload")
    assert "registre-zorblax.pdf" in status and "Ajouté" in status
    assert (server.corpus_dir / "registre-zorblax.pdf").is_file()
    hits = client.predict("Combien de temps le projet Zorblax conserve-t-il ses journaux ?", 3, api_name="/search")
    assert hits[0]["doc"] == "registre-zorblax.pdf" and "dix-sept mois" in hits[0]["text"]
    assert hits[0]["page"] == 1
    docs = {d["doc"]: d for d in client.predict(api_name="/documents")}
    assert docs["registre-zorblax.pdf"]["passages"] >= 1

    # A file that is not what its name says is refused with its reason; corpus and index stay as they were.
    fake = tmp_path / "rapport.pdf"
    fake.write_text("ceci n'est pas un PDF", encoding="utf-8")
    status, *_ = client.predict([handle_file(fake)], api_name="/upload")
    assert "rapport.pdf" in status and "PDF" in status and "Ajouté" not in status
    assert not (server.corpus_dir / "rapport.pdf").exists()
    assert sorted(d["doc"] for d in client.predict(api_name="/documents")) == sorted([*DOCS, "registre-zorblax.pdf"])

    status, *_ = client.predict("registre-zorblax.pdf", api_name="/remove")
    assert "registre-zorblax.pdf" in status
    hits = client.predict("Combien de temps le projet Zorblax conserve-t-il ses journaux ?", 3, api_name="/search")
    assert all(h["doc"] != "registre-zorblax.pdf" for h in hits)
    assert client.predict(api_name="/documents") == before
    assert list((server.index_dir / "removed").glob("*registre-zorblax.pdf"))  # moved aside, not destroyed


@pytest.mark.slow
def test_ask_answers_with_verified_citations(server: Server) -> None:
    markdown, answer = server.client().predict(QUESTION, None, "", 0, "auto", api_name="/ask")
    assert answer["refused"] is False, answer
    assert answer["citations"], answer
    docs = set(DOCS)
    for c in answer["citations"]:
        assert c["doc"] in docs and c["title"] and c["location"] and c["quote"]
        assert f"[{c['n']}]" in answer["answer"]
        assert c["quote"] in markdown
    assert "**Sources**" in markdown
    # The app's default model, as a user starting `python app.py` gets it: the four qualities its passage lists.
    assert "1.5b" in answer["model"] and answer["timings"]["completion_tokens"] > 0
    assert all(q in answer["answer"].lower() for q in ("libre", "spécifique", "éclairé", "univoque")), answer


@pytest.mark.slow
def test_purpose_endpoint_returns_a_checked_draft(server: Server) -> None:
    markdown, draft = server.client().predict(PURPOSE, "auto", "", "", "", "", "", "fr", "", api_name="/purpose")
    assert draft["statement"].strip()
    assert draft["case"] == "operational"
    assert {c["status"] for c in draft["criteria"]} <= {"covered", "missing", "insufficient"}
    assert any(c["citation"] for c in draft["criteria"])
    assert markdown.startswith("# Finalité du traitement")


def _browser_or_skip() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("ASK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{CHROMIUM} is missing and ASK_REQUIRE_BROWSER=1: install Debian's chromium package")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); set ASK_REQUIRE_BROWSER=1 to fail instead")


@pytest.mark.slow
def test_browser_chat_purpose_and_corpus(server: Server, tmp_path: Path) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    # ASK_SCREENSHOT_DIR=docs regenerates the README's screenshots.
    shots = Path(os.environ.get("ASK_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    foreign: list[str] = []

    def record(url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("data", "blob", "about") and parsed.hostname not in ("127.0.0.1", "localhost"):
            foreign.append(url)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="fr-FR")
            page.on("request", lambda r: record(r.url))
            page.set_default_timeout(60_000)
            page.goto(server.url)

            # Chat: streamed answer with linked citations, sources panel with the quoted span marked.
            page.locator("#question textarea").fill(QUESTION)
            page.locator("#send").click()
            page.locator("#sources .src mark").first.wait_for(timeout=MODEL_TIMEOUT_S * 1000)
            bot = page.locator("#chatbot .bot").last
            expect(bot).to_contain_text("jetons")  # the frugality line: time, tokens, model
            expect(bot.locator('a[href^="#src-"]').first).to_be_visible()
            expect(page.locator("#sources")).to_contain_text("cnil-")
            page.screenshot(path=str(shots / "ui-chat.png"))

            page.locator("#new").click()
            expect(page.locator("#chatbot .bot")).to_have_count(0)
            expect(page.locator("#sources .src")).to_have_count(0)

            # Purpose: form in, draft + checklist + citations + Markdown download out.
            page.locator("#tab-purpose-button").click()
            page.locator("#purpose-description textarea").fill(PURPOSE)
            page.locator("#purpose-draft").click()
            page.locator("#purpose-output .checklist").wait_for(timeout=MODEL_TIMEOUT_S * 1000)
            expect(page.locator("#purpose-output")).to_contain_text("Finalité proposée")
            expect(page.locator("#purpose-output .status-covered").first).to_be_visible()
            expect(page.locator("#purpose-download")).to_be_visible()
            page.screenshot(path=str(shots / "ui-purpose.png"), full_page=True)

            # Corpus: the indexed documents with their passages.
            page.locator("#tab-corpus-button").click()
            expect(page.locator("#documents")).to_contain_text("inserm-recommandations-usage-ia.txt")
            page.screenshot(path=str(shots / "ui-corpus.png"))

            # English switch.
            page.get_by_label("English").check()
            expect(page.locator("#tab-settings-button")).to_have_text("Settings")
            expect(page.locator("#add")).to_have_text("Add to the corpus")
        finally:
            browser.close()
    assert foreign == []
    for name in ("ui-chat.png", "ui-purpose.png", "ui-corpus.png"):
        assert (shots / name).stat().st_size > 10_000


@dataclass
class FakePage:
    url: str
    questions: list[str]  # the question of each prompt the fake model was given


@pytest.fixture(scope="module")
def fake_page(built: Any, e5: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakePage]:
    """The page served in this process over a scripted model (tests/fakes.py), the real index and verifier: the
    page's behaviour in seconds. The model answers from the CONSENT slide, added to a copy of the small corpus."""
    import shutil

    from conftest import make_settings
    from fakes import FakeBackend, FakeModels

    from gdpr_assistant.assistant import Assistant
    from gdpr_assistant.interfaces import ui
    from gdpr_assistant.models.backend import Message

    root = tmp_path_factory.mktemp("fake-page")
    shutil.copytree(built.corpus_dir, root / "corpus")
    shutil.copytree(built.index_dir, root / "index")
    (root / "corpus" / "fiche-consentement.md").write_text(CONSENT, encoding="utf-8")
    settings = make_settings(root / "corpus", root / "index")
    questions: list[str] = []

    def answer(messages: list[Message]) -> str:
        """Cite the excerpt that holds the slide, as the prompt numbers it."""
        user = messages[-1]["content"]
        questions.append(user.rsplit("\n", 2)[-2])
        for m in re.finditer(r"^\[(\d+)\] \(", user, re.M):
            if "consentement doit être" in user[m.end():].split("\n\n[", 1)[0]:
                return f"{CONSENT_ANSWER} [{m.group(1)}]."
        return "Aucun extrait ne le dit."

    assistant = Assistant(settings, models=FakeModels(FakeBackend(answer)), embedder=e5)
    assistant.update_index()
    demo, url = ui.launch(settings, assistant, "127.0.0.1", free_port())
    try:
        yield FakePage(url, questions)
    finally:
        demo.close()


def test_browser_enter_sends_the_question_shift_enter_adds_a_line(fake_page: FakePage) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    foreign: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="fr-FR")
            page.on("request", lambda r: foreign.append(r.url) if urlparse(r.url).hostname not in (
                None, "127.0.0.1", "localhost") else None)
            page.set_default_timeout(60_000)
            page.goto(fake_page.url)
            box = page.locator("#question textarea")
            user = page.locator("#chatbot .message-row.user-row")

            # Shift+Enter starts a new line of the question and sends nothing.
            box.click()
            box.press_sequentially("Quelles qualités doit réunir")
            box.press("Shift+Enter")
            box.press_sequentially("le consentement ?")
            expect(box).to_have_value("Quelles qualités doit réunir\nle consentement ?")
            page.wait_for_timeout(1500)
            expect(user).to_have_count(0)
            assert fake_page.questions == []

            # Enter sends it: the question is shown, the box emptied, the answer and its sources come.
            box.press("Enter")
            expect(user).to_have_count(1)
            expect(user.first).to_contain_text("le consentement ?")
            expect(box).to_have_value("")
            bot = page.locator("#chatbot .message-row.bot-row").last
            expect(bot).to_contain_text(CONSENT_ANSWER)
            expect(bot).to_contain_text("jetons")
            assert len(fake_page.questions) == 1

            # The sources panel shows the slide rendered, the cited sentence marked, its <script> as text.
            sources = page.locator("#sources")
            expect(sources.locator(".src-text h2")).to_have_text("Le consentement")
            expect(sources.locator(".src-text strong mark")).to_have_text("libre")
            expect(sources.locator(".src-text mark").first).to_have_text("Le consentement doit être ")
            expect(sources).to_contain_text("<script>window.injected = 1</script>")
            expect(sources).not_to_contain_text("##")
            expect(sources).not_to_contain_text("**")
            expect(sources.locator("script")).to_have_count(0)
            assert page.evaluate("window.injected") is None

            # The button sends too.
            box.fill("Le consentement peut-il être retiré ?")
            page.locator("#send").click()
            expect(user).to_have_count(2)
            expect(page.locator("#chatbot .message-row.bot-row")).to_have_count(2)
            expect(page.locator("#chatbot .message-row.bot-row").last).to_contain_text("jetons")
        finally:
            browser.close()
    assert foreign == []


def test_non_loopback_host_needs_the_option_and_prints_a_warning(server: Server) -> None:
    output: list[str] = []
    env = {**server.net.env, "NETCHECK_LOG": str(server.net.log.with_name("net-host.jsonl"))}
    proc = start_app(["--host", "0.0.0.0", "--port", str(free_port()), "--fast"], env, output)
    try:
        wait_for(output, r"ATTENTION : écoute sur 0\.0\.0\.0", proc, 120)
    finally:
        stop(proc)


def test_help_explains_the_options() -> None:
    out = subprocess.run([sys.executable, str(REPO / "app.py"), "--help"], capture_output=True, text=True,
                         timeout=120, env=clean_env(), cwd=REPO)
    assert out.returncode == 0, out.stderr
    for option in ("--port", "--host", "--fast", "--model", "127.0.0.1"):
        assert option in out.stdout


def test_server_made_no_connection_attempt_beyond_loopback(server: Server) -> None:
    # Last in the module: covers everything the server did for the tests above.
    assert server.proc.pid in server.net.loaded_pids()  # the recorder really watched the server
    assert server.net.attempts() == []
    assert "Blocked" not in "".join(server.output)


def test_screenshots_are_committed_and_referenced() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("ui-chat.png", "ui-purpose.png", "ui-corpus.png"):
        assert (REPO / "docs" / name).stat().st_size > 10_000
        assert f"docs/{name}" in readme
