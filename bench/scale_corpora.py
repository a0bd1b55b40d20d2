"""The corpora of bench_scale.py: the shipped corpus inside variants of its own paragraphs (look-alikes), or inside
other real documents found on the machine (its French manual pages and Vim's manual)."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from gdpr_assistant.ingest.corpus import corpus_files, load_document
from gdpr_assistant.passages.chunking import chunk
from gdpr_assistant.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "corpus"

# Substitutions that keep the text plausible but change what it says (who, what, which figures).
SWAPS = [("CNIL", ["ARPD", "autorité de contrôle", "DPC irlandaise", "AEPD"]), ("Inserm", ["Institut Hélios", "CHU"]),
         ("santé", ["assurance", "éducation", "emploi"]), ("données", ["informations", "traces"]),
         ("intelligence artificielle", ["apprentissage automatique", "analyse algorithmique"]),
         ("IA", ["SIA", "ML"]), ("personnes", ["usagers", "agents", "clients"]), ("RGPD", ["règlement", "texte"]),
         ("traitement", ["dispositif", "projet"]), ("recommandations", ["préconisations", "lignes directrices"]),
         ("collectivités", ["entreprises", "associations"]), ("data", ["records"]), ("AI", ["ML"]),
         ("personal", ["customer"]), ("health", ["insurance", "education"]), ("Nantes", ["Rennes", "Lille", "Metz"]),
         ("patients", ["assurés", "élèves"]), ("entraînement", ["apprentissage"]), ("modèle", ["système"])]


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def plain(text: str) -> str:
    """Text without its Markdown emphasis marks, as passages and gold quotes may differ by them."""
    return norm(re.sub(r"[*_`]", "", text))


def count_passages(path: Path, corpus_dir: Path, s: Settings) -> int:
    return len(chunk(load_document(path, corpus_dir), s.corpus.chunk_max_chars, s.corpus.chunk_min_chars))


def paragraphs() -> list[str]:
    out = []
    for path in corpus_files(SHIPPED):
        for para in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            if len(para) >= 150 and not para.lstrip().startswith("#"):
                out.append(para.strip())
    return out


def perturb(text: str, rng: random.Random, swaps: dict[str, str]) -> str:
    for word, repl in swaps.items():
        text = re.sub(rf"\b{re.escape(word)}\b", repl, text)
    # Figures change (another year, another count): a variant never states the shipped fact.
    return re.sub(r"\d+", lambda m: str(rng.randint(10 ** (len(m.group()) - 1), 10 ** len(m.group()) - 1)), text)


def make_corpus(dest: Path, target: int, s: Settings, quotes: list[str],
                seed: int = 7) -> tuple[dict[str, Any], dict[str, set[int]]]:
    """The shipped corpus plus synthetic variants, until ``target`` passages; and, per variant file, the indices
    (in :func:`paragraphs`) of the shipped paragraphs it holds a perturbed copy of."""
    shutil.copytree(SHIPPED, dest)
    total = sum(count_passages(p, dest, s) for p in corpus_files(dest))
    pool, rng, i, rejected = paragraphs(), random.Random(seed), 0, 0
    copies: dict[str, set[int]] = {}
    while total < target:
        i += 1
        swaps = {w: rng.choice(r) for w, r in SWAPS if rng.random() < 0.8}
        parts = [f"# Note {i:05d} : {rng.choice(['synthèse', 'rapport', 'fiche', 'compte rendu'])} "
                 f"({rng.choice(['version', 'variante', 'édition'])} {rng.randint(1, 40)})"]
        used: set[int] = set()
        for section in range(rng.randint(2, 4)):
            parts.append(f"## Partie {section + 1} — {rng.choice(['enjeux', 'méthode', 'cas pratiques', 'annexes'])}")
            for index in rng.sample(range(len(pool)), rng.randint(2, 5)):
                para = perturb(pool[index], rng, swaps)
                if any(q in norm(para) for q in quotes):  # would count as finding the gold passage
                    rejected += 1
                else:
                    parts.append(para)
                    used.add(index)
        text = "\n\n".join(parts) + "\n"
        if any(q in norm(text) for q in quotes):  # a quote across two paragraphs
            rejected += 1
            continue
        path = dest / f"variante-{i:05d}.md"
        path.write_text(text, encoding="utf-8")
        copies[path.name] = used
        total += count_passages(path, dest, s)
    return {"documents": len(corpus_files(dest)), "passages_estimated": total,
            "synthetic_files": len(list(dest.glob("variante-*.md"))),
            "paragraphs_rejected_for_gold_quotes": rejected}, copies


# Real text on other subjects, for the corpus of other documents (--kind other): the system's manuals in French
# (Debian's manpages-fr, rendered by groff) and Vim's documentation in English.
MANUALS = [Path("/usr/share/man/fr"), Path("/usr/share/vim/vim90/doc")]


def manual_texts() -> list[tuple[str, str]]:
    """(name, text) of each manual page found on this machine, as plain text."""
    out = []
    for root in MANUALS:
        for path in sorted(root.rglob("*.gz")) + sorted(root.glob("*.txt")):
            if path.suffix == ".gz":
                proc = subprocess.run(f"zcat '{path}' | groff -k -Tutf8 -man 2>/dev/null | col -bx", shell=True,
                                      capture_output=True, text=True, timeout=60)
                text = proc.stdout
            else:
                text = path.read_text(encoding="utf-8", errors="replace")
            if len(text) > 500:
                out.append((path.name.split(".")[0], text))
    return out


def make_other_corpus(dest: Path, target: int, s: Settings) -> tuple[dict[str, Any], dict[str, set[int]]]:
    """The shipped corpus plus other real documents (:data:`MANUALS`, cut into files of about 30 kB, each with a
    title), until ``target`` passages: what scale costs when the other documents are about other things."""
    shutil.copytree(SHIPPED, dest)
    total = sum(count_passages(p, dest, s) for p in corpus_files(dest))
    pages, n = manual_texts(), 0
    for name, text in pages:
        paragraphs = re.split(r"\n\s*\n", text)
        part, chunks = [], []
        for para in paragraphs:
            part.append(para)
            if sum(len(x) for x in part) > 30000:
                chunks.append(part)
                part = []
        chunks.append(part)
        for i, part in enumerate(c for c in chunks if c):
            if total >= target:
                break
            n += 1
            path = dest / f"manuel-{n:05d}.md"
            path.write_text(f"# Manuel {name} ({i + 1})\n\n" + "\n\n".join(part) + "\n", encoding="utf-8")
            total += count_passages(path, dest, s)
    if total < target:
        print(f"Only {total} passages of manuals on this machine (target {target}).", file=sys.stderr)
    return {"documents": len(corpus_files(dest)), "passages_estimated": total, "manual_files": n,
            "kind": "other documents (Debian's French manual pages, Vim's documentation)"}, {}
