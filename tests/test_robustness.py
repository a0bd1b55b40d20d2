"""Bad input never breaks or corrupts anything: what the user sees for each, through the real `ask` command.

Every case checks three things: a clear message, a non-zero exit status where the command failed, and
afterwards an index whose manifest matches what Chroma holds and a corpus whose files are byte-for-byte
what the user put there. (In-process index failures, killed builds and uploads are in test_index.py;
instructions hidden in a document, in test_injection.py.)
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Built, ask_command, clean_env, make_corpus, manifest, run_ask
from filelock import FileLock
from fpdf import FPDF
from test_corpus_chunking import make_pdf

from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.index.store import Index
from gdpr_assistant.intake import question as safety
from gdpr_assistant.interfaces.doctor import index_integrity
from gdpr_assistant.retrieval.retriever import Retriever
from gdpr_assistant.settings import Settings

SANTE = "cnil-ia-sante-defis.md"
MODEL_CACHE = str(Settings().models.cache_dir)


def env_for(corpus: Path, index: Path, **extra: str) -> dict[str, str]:
    return clean_env(ASK_CORPUS_DIR=str(corpus), ASK_INDEX_DIR=str(index), ASK_LLM="fast",
                     ASK_CACHE_DIR=os.environ.get("ASK_CACHE_DIR", MODEL_CACHE), **extra)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its sha256: a user's files must come out of any failure intact."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_index_sound(settings: Settings, e5: Embedder) -> dict[str, object]:
    """The manifest matches the live Chroma collection, and a search works on it."""
    index = Index(settings, e5)
    assert index_integrity(index) == []
    m = index.manifest()
    assert m is not None
    assert set(m["files"]) == {p.relative_to(settings.corpus.corpus_dir).as_posix()
                               for p in settings.corpus.corpus_dir.rglob("*")
                               if p.is_file() and p.suffix in (".md", ".txt", ".pdf")}
    assert Retriever(index).search("données personnelles", 3)
    return m


# -- questions ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("question", "message"), [
    ("", "Empty question"),
    (" \t\n  \u3000 ", "Empty question"),
    (None, "Empty question"),
    (b"\x00\x01\x02\xff\xfe", "too few letters"),
    ("\x1b[2J\x07\x00\x08", "too few letters"),
    ("\u200b\u200b\ufeff", "Empty question"),
    ("\udcff\udcfe\udc80", "Empty question"),  # undecodable bytes of a command-line argument
    ("1234 5678 %%%% ???? ////", "too few letters"),
    pytest.param("x" * 100_000, "100,000 characters long; the limit is 2,000", id="100k-characters"),
    (12, "must be text"),
])
def test_bad_questions_are_refused_with_what_to_change(question: object, message: str) -> None:
    with pytest.raises(safety.QuestionError, match=message):
        safety.clean_question(question, 2000)


def test_control_characters_are_removed_and_the_question_kept() -> None:
    cleaned = safety.clean_question("Quelle\x00 base\x1b légale\u200b pour\x07 un\r\nmodèle ?\udcff", 2000)
    assert cleaned == "Quelle base légale pour un modèle ?"
    assert cleaned.encode("utf-8")  # no lone surrogate left for the embedder or the model to choke on


@pytest.mark.parametrize(("argv", "message"), [
    ([""], "Empty question"),
    (["   ", "\t"], "Empty question"),
    pytest.param(["x" * 100_000], "100,000 characters long", id="100k-characters"),
    ([b"\xde\xad\xbe\xef 1234 \x01\x02 %%"], "too few letters"),
    (["\x1b[2J\x1b[31m\x07"], "too few letters"),
    (["search", "  "], "Empty question"),
])
def test_cli_refuses_bad_questions_with_exit_status_2(argv: list[str | bytes], message: str, tmp_path: Path) -> None:
    # The question is checked before the corpus or the index is touched: neither needs to exist.
    env = env_for(tmp_path / "corpus", tmp_path / "index")
    proc = subprocess.run([*ask_command(), *argv], capture_output=True, env=env, timeout=300)
    stderr = proc.stderr.decode("utf-8", errors="replace")
    assert proc.returncode == 2, stderr
    assert f"Error: {message}" in stderr or message in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "index").exists()


def test_chat_reports_bad_questions_and_carries_on(tmp_path: Path) -> None:
    env = env_for(tmp_path / "corpus", tmp_path / "index")
    stdin = "\n".join(["", "\x01\x02\x03", "%%%% 1234", "Q" * 100_000, "/quit"]) + "\n"
    proc = subprocess.run([*ask_command(), "chat"], input=stdin, capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("Error: ") == 3  # the empty line is simply ignored, as in a shell
    assert "too few letters" in proc.stderr and "100,000 characters long" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_control_characters_in_a_real_question_still_find_the_passages(built_copy: Built) -> None:
    env = env_for(built_copy.corpus_dir, built_copy.index_dir)
    proc = run_ask(["search", "--json", "--k", "2", "Ekonom-IA\x1b[31m Nantes\x07 Métropole\u200b ?"], env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["doc"] == "cnil-collectivites-ia-environnement-2024.md"


# -- corpus files ---------------------------------------------------------------------------------------------------
def long_pdf(path: Path, pages: int, seed: int = 7) -> Path:
    """A real ``pages``-page PDF whose pages differ (identical pages would be merged as duplicates)."""
    rng = random.Random(seed)
    words = ["donnees", "responsable", "traitement", "finalite", "conservation", "minimisation", "securite",
             "registre", "analyse", "impact", "sous-traitant", "consentement", "interet", "legitime",
             "anonymisation", "pseudonymisation", "droit", "opposition", "effacement", "portabilite"]
    texts = [f"Annexe technique, page {n}. Registre n{n * 7919 % 100003}. "
             + " ".join(rng.choice(words) for _ in range(18)) + "." for n in range(1, pages + 1)]
    texts[136] = "Page 137 : la table de correspondance Ornithorynque-88 est conservee chiffree par le DPO."
    return make_pdf(path, texts)


def encrypted_pdf(path: Path) -> Path:
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")  # RC4: what fpdf2 can do unaided
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Document confidentiel sur les donnees de sante.")
    path.write_bytes(bytes(pdf.output()))
    return path


def aes_encrypted_pdf(path: Path) -> Path:
    """A PDF encrypted with AES-256 (the usual kind today), written by hand: pypdf needs an optional
    package to even open it, and its absence must still read as "encrypted", not as a crash."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length 10 >>\nstream\n0123456789\nendstream",
            b"<< /Filter /Standard /V 5 /R 6 /Length 256 /CF << /StdCF << /CFM /AESV3 /AuthEvent /DocOpen "
            b"/Length 32 >> >> /StmF /StdCF /StrF /StdCF /O <" + b"ab" * 48 + b"> /U <" + b"cd" * 48
            + b"> /OE <" + b"ef" * 32 + b"> /UE <" + b"01" * 32 + b"> /Perms <" + b"23" * 16 + b"> /P -4 >>"]
    out = b"%PDF-1.7\n"
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R /Encrypt 5 0 R /ID [<{'00' * 16}> <{'00' * 16}>] >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    path.write_bytes(out)
    return path


BAD_FILES: dict[str, str] = {
    "vide.md": "vide.md: the file is empty",
    "blancs.txt": "blancs.txt: the file is empty",
    "binaire.txt": "binaire.txt: looks like a binary file",
    "chiffre.pdf": "chiffre.pdf: the PDF is encrypted",
    "chiffre-aes.pdf": "chiffre-aes.pdf: the PDF is encrypted",
    "tronque.pdf": "tronque.pdf: not a readable PDF",
    "faux.pdf": "faux.pdf: not a readable PDF",
    "scan.pdf": "scan.pdf: the PDF has no extractable text",
}


def write_bad_files(corpus: Path) -> None:
    (corpus / "vide.md").write_bytes(b"")
    (corpus / "blancs.txt").write_bytes(b" \n\t\r\n  ")
    (corpus / "binaire.txt").write_bytes(bytes(range(256)) * 8)
    encrypted_pdf(corpus / "chiffre.pdf")
    aes_encrypted_pdf(corpus / "chiffre-aes.pdf")
    good = make_pdf(corpus / ".tmp.pdf", ["Une page.", "Une autre page."]).read_bytes()
    (corpus / ".tmp.pdf").unlink()
    (corpus / "tronque.pdf").write_bytes(good[: len(good) // 2])
    (corpus / "faux.pdf").write_bytes(b"%PDF-1.4\n" + random.Random(3).randbytes(4096))
    pdf = FPDF()
    pdf.add_page()  # a page with no text at all: what a scan without OCR looks like to a text extractor
    (corpus / "scan.pdf").write_bytes(bytes(pdf.output()))
    # Windows-1252 notes: readable, with a warning, never refused.
    (corpus / "notes-windows.txt").write_bytes("Données de santé : l'équipe conserve les accès "
                                               "six mois, après accord du délégué.".encode("cp1252"))


@pytest.mark.slow
def test_bad_corpus_files_are_skipped_with_reasons_and_nothing_is_lost(tmp_path: Path, e5: Embedder) -> None:
    corpus = make_corpus(tmp_path / "corpus", [SANTE])
    write_bad_files(corpus)
    long_pdf(corpus / "annexe-200-pages.pdf", 200)
    before = snapshot(corpus)
    env = env_for(corpus, tmp_path / "index")

    t0 = time.perf_counter()
    proc = run_ask(["index"], env, timeout=900)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 1, proc.stderr  # something was skipped: a script must be able to tell
    assert "Traceback" not in proc.stderr
    for name, reason in BAD_FILES.items():
        assert f"Skipped: {reason}" in proc.stderr, name
    assert "Warning: notes-windows.txt: not valid UTF-8, read as Windows-1252" in proc.stderr
    assert "Rebuilt index" in proc.stdout and "3 added" in proc.stdout
    assert snapshot(corpus) == before

    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index").resolved()
    m = assert_index_sound(settings, e5)
    assert m["files"]["annexe-200-pages.pdf"]["passages"] > 0
    assert all("problem" in m["files"][n] for n in BAD_FILES)
    hits = json.loads(run_ask(["search", "--json", "--k", "3", "table de correspondance Ornithorynque-88"],
                              env).stdout)
    assert hits[0]["doc"] == "annexe-200-pages.pdf" and "p. 137" in hits[0]["location"]
    assert any(h["doc"] == "notes-windows.txt" for h in json.loads(
        run_ask(["search", "--json", "--k", "8", "équipe conserve les accès six mois"], env).stdout))

    # Unchanged bad files are reported again (and cost nothing); removing them gives a clean run.
    again = run_ask(["index"], env)
    assert again.returncode == 1 and "Index up to date" in again.stdout
    assert all(f"Skipped: {reason}" in again.stderr for reason in BAD_FILES.values())
    for name in BAD_FILES:
        (corpus / name).unlink()
    clean = run_ask(["index"], env)
    assert clean.returncode == 0 and "Skipped" not in clean.stderr and f"{len(BAD_FILES)} removed" in clean.stdout
    assert_index_sound(settings, e5)
    print(f"\n200-page PDF + bad files indexed in {seconds:.1f} s")


def test_missing_index_is_built_on_first_use_and_missing_corpus_is_explained(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus", [SANTE])
    env = env_for(corpus, tmp_path / "absent" / "index")
    proc = run_ask(["search", "--json", "--k", "1", "DATAJUST ministère de la Justice"], env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["doc"] == SANTE
    assert (tmp_path / "absent" / "index" / "manifest.json").exists()

    nowhere = env_for(tmp_path / "no-corpus", tmp_path / "index2")
    proc = run_ask(["index"], nowhere)
    assert proc.returncode == 2
    assert "Corpus folder not found" in proc.stderr and "--corpus PATH" in proc.stderr


def read_only(path: Path) -> list[str] | None:
    """A command prefix under which ``path`` is read-only even for root (None where that is impossible)."""
    if os.geteuid() != 0:
        for p in [path, *path.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return []
    prefix = ["unshare", "-m", "sh", "-c", f'mount --bind "{path}" "{path}" && mount -o remount,bind,ro "{path}" '
              '&& exec "$@"', "sh"]
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return prefix if ok else None


def test_read_only_index_is_explained_and_left_untouched(built_copy: Built) -> None:
    idx = built_copy.index_dir
    before = snapshot(idx)
    prefix = read_only(idx)
    if prefix is None:
        pytest.skip("cannot make a folder read-only for root here (no mount namespace)")
    env = env_for(built_copy.corpus_dir, idx)
    try:
        for args, expected in ((["search", "Ekonom-IA"], "read-only"),
                               (["Quelle base légale pour un modèle d'IA ?"], "read-only"),
                               (["index"], "Cannot write the index"),
                               (["search", "nouveau document"], "Cannot write the index")):
            if args == ["index"]:  # from here on the corpus has changed: the index would need an update
                (built_copy.corpus_dir / "nouveau.md").write_text("# Nouveau\n\nUn document ajouté.\n",
                                                                  encoding="utf-8")
            proc = subprocess.run([*prefix, *ask_command(), *args], capture_output=True, text=True, env=env,
                                  timeout=300)
            assert proc.returncode == 2, proc.stderr
            assert expected in proc.stderr and "--index PATH" in proc.stderr
            assert "Traceback" not in proc.stderr
    finally:
        for p in [idx, *idx.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
    assert snapshot(idx) == before


def test_model_that_is_not_a_gguf_is_refused_before_any_work(built_copy: Built, tmp_path: Path) -> None:
    env = env_for(built_copy.corpus_dir, built_copy.index_dir)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\x93NUMPY" + os.urandom(2048))
    question = "Quels défis l'IA pose-t-elle à la CNIL dans le domaine de la santé ?"
    cases = [(["--model", str(weights), question], "is not a GGUF model file"),
             (["--model", str(tmp_path), question], "Model file not found"),
             (["--model", str(tmp_path / "absent.gguf"), question], "Model file not found"),
             (["chat", "--model", str(weights)], "is not a GGUF model file")]
    for args, message in cases:
        proc = run_ask(args, env)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    doctor = run_ask(["doctor", "--model", str(weights)], env)
    assert doctor.returncode == 1 and "[FAIL] Model (custom)" in doctor.stdout and "is not a GGUF" in doctor.stdout
    # A file that starts like a GGUF but is not one gets as far as llama.cpp, which must fail cleanly too
    # (no evidence threshold, so that the question always reaches the model).
    fake = tmp_path / "tronque.gguf"
    fake.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + os.urandom(4096))
    proc = run_ask(["--model", str(fake), question], {**env, "ASK_REFUSE_BELOW_EVIDENCE": "0"})
    assert proc.returncode == 2 and "llama.cpp could not load" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_second_indexer_is_refused_while_searches_keep_answering(built_copy: Built, e5: Embedder) -> None:
    corpus, idx = built_copy.corpus_dir, built_copy.index_dir
    env = env_for(corpus, idx)
    before = manifest(idx)
    (corpus / "quokka.md").write_text("# Quokka\n\nLe laboratoire Quokka tient un registre.\n", encoding="utf-8")
    with FileLock(str(idx / ".lock")):  # held exactly as a running `ask index` holds it
        proc = run_ask(["index"], env)
        assert proc.returncode == 2
        assert "Another process is updating the index" in proc.stderr and "Traceback" not in proc.stderr
        search = run_ask(["search", "--json", "--k", "1", "Ekonom-IA Nantes Métropole"], env)
        assert search.returncode == 0, search.stderr  # the previous index answers meanwhile
        assert manifest(idx) == before
    proc = run_ask(["index"], env)
    assert proc.returncode == 0 and "1 added" in proc.stdout
    assert_index_sound(built_copy.settings, e5)


def test_doctor_reports_index_state_freshness_and_damage(built_copy: Built) -> None:
    from gdpr_assistant.interfaces import doctor

    corpus, idx = built_copy.corpus_dir, built_copy.index_dir
    report = doctor.run(built_copy.settings)
    checks = {c.name: c for c in report.checks}
    assert checks["Egress guard"].status == "ok" and checks["Question history"].status == "ok"
    assert checks["Index"].status == "ok" and "2 documents" in checks["Index"].detail
    assert report.index["passages"] == built_copy.report.passages
    assert checks["Index freshness"].status == "ok" and not report.problems

    (corpus / "nouveau.md").write_text("# Nouveau\n\nUn document ajouté.\n", encoding="utf-8")
    (corpus / SANTE).unlink()
    with (corpus / "cnil-collectivites-ia-environnement-2024.md").open("a", encoding="utf-8") as f:
        f.write("\nUne ligne de plus.\n")
    report = doctor.run(built_copy.settings)
    assert report.index["changes"] == {"added": ["nouveau.md"], "changed": ["cnil-collectivites-ia-environnement-"
                                                                           "2024.md"], "removed": [SANTE]}
    fresh = {c.name: c for c in report.checks}["Index freshness"]
    assert fresh.status == "warn" and "ask index" in fresh.fix and not report.problems

    m = manifest(idx)
    m["files"][SANTE]["passages"] += 1  # the manifest no longer matches what Chroma holds
    (idx / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    report = doctor.run(built_copy.settings)
    damaged = {c.name: c for c in report.checks}["Index"]
    assert damaged.status == "fail" and "inconsistent" in damaged.detail and "--force" in damaged.fix
    assert report.problems and "FAIL" in doctor.render(report)


# -- readers during a real `ask index` -------------------------------------------------------------------------------
def versioned_doc(tag: str, paragraphs: int) -> str:
    return "\n\n".join(f"# Section {n}\n\nParagraphe {n} de la version {tag} : le responsable du traitement "
                       f"documente la finalité {n}, la durée de conservation {n} et la base légale, version {tag}."
                       for n in range(1, paragraphs + 1))


@pytest.mark.slow
def test_readers_during_an_update_see_the_old_index_or_the_new_never_a_mix(tmp_path: Path, e5: Embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "registre.md").write_text(versioned_doc("ANCIENNE", 8), encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", embed_batch_size=2).resolved()
    Index(settings, e5).update()
    old = {p.text for p in Retriever(Index(settings, e5)).passages}
    new_docs = {"registre.md", "annexe-0.md", "annexe-1.md", "annexe-2.md"}

    # The update changes the document and adds others, so that any mix of generations would show.
    (corpus / "registre.md").write_text(versioned_doc("NOUVELLE", 8), encoding="utf-8")
    for n in range(3):
        (corpus / f"annexe-{n}.md").write_text(versioned_doc(f"NOUVELLE de l'annexe {n}", 6), encoding="utf-8")
    writer = subprocess.Popen([*ask_command(), "index"], env=env_for(corpus, settings.corpus.index_dir,
                                                                     ASK_EMBED_BATCH_SIZE="2"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    problems: list[str] = []

    def read_once() -> None:
        index = Index(settings, e5)  # a new reader each time, as each `ask` process is
        broken = index_integrity(index)
        retriever = Retriever(index)
        texts = {p.text for p in retriever.passages}
        docs = {p.doc for p in retriever.passages}
        hits = retriever.search("durée de conservation et base légale", 5)
        if broken or not hits:
            problems.append(f"integrity: {broken}, {len(hits)} hits")
        elif texts <= old:
            seen.append("old")
        elif not texts & old and docs == new_docs and all("NOUVELLE" in t for t in texts):
            seen.append("new")
        else:
            problems.append(f"a mix: {len(texts & old)} old passages among {len(texts)}, documents {sorted(docs)}")

    try:
        while writer.poll() is None:
            read_once()
        read_once()
    finally:
        if writer.poll() is None:
            writer.kill()
        _, err = writer.communicate()
    assert writer.returncode == 0, err
    assert problems == []
    assert seen[0] == "old" and seen[-1] == "new"
    assert seen == sorted(seen, key=lambda v: v == "new")  # once the new one is seen, never the old again
    print(f"\n{len(seen)} reads during the update: {seen.count('old')} old, {seen.count('new')} new")

