"""The index at 10x and 100x the shipped corpus: build overhead over the embedder alone, no-op re-index, adding one
file, search latency and memory of a search process, disk size, recall@8 with the shipped corpus inside a large one,
and an interrupted build resumed.

The synthetic corpora are the shipped documents (all of them, unchanged) plus variants of their paragraphs:
recombined into new documents under numbered titles, with names, numbers and some words substituted, so that no two
passages are the same and no variant holds a dev question's gold quote (recall@8 still means "found the shipped
passage"). A benchmark, not a test: the numbers depend on the machine and its load, recorded with them.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_scale.py --sizes 1000 --out bench/results/scale.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: a busy-waiting pool steals the 2nd core

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.evaluation.harness import load_items, quote_rank, retrieval_metrics
from gdpr_assistant.evaluation.harness import run as run_eval
from gdpr_assistant.index.embedding import Embedder, get_embedder
from gdpr_assistant.index.store import Index
from gdpr_assistant.ingest.corpus import corpus_files, load_document
from gdpr_assistant.passages.chunking import chunk
from gdpr_assistant.settings import Settings, get_settings

sys.path.insert(0, str(Path(__file__).parent))
from scale_corpora import SHIPPED, make_corpus, make_other_corpus, norm, paragraphs, plain

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "eval" / "dev.jsonl"
TARGETS = {"build_overhead_ratio": 1.2, "noop_cli_s": 2.0, "search_p90_ms": 150.0, "search_peak_rss_mib": 1024.0}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def passage_texts(corpus_dir: Path, s: Settings) -> list[str]:
    return [p.embedding_text() for path in corpus_files(corpus_dir)
            for p in chunk(load_document(path, corpus_dir), s.corpus.chunk_max_chars, s.corpus.chunk_min_chars)]


def ask_cmd() -> list[str]:
    ask = Path(sys.executable).parent / "ask"
    return [str(ask)] if ask.exists() else [sys.executable, "-m", "gdpr_assistant.interfaces.cli"]


def env_for(s: Settings) -> dict[str, str]:
    return {**os.environ, "ASK_CORPUS_DIR": str(s.corpus.corpus_dir), "ASK_INDEX_DIR": str(s.corpus.index_dir),
            "ASK_EMBEDDER": s.corpus.embedder}


# A fresh search process, as `ask search` or the UI starts: open time, then the dev questions. Run under a small
# spawner so that its peak RSS is its own (a child forked from this benchmark would count the benchmark's memory).
SEARCH_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from gdpr_assistant.assistant import Assistant
a = Assistant()
a.retriever()
open_s = time.perf_counter() - t0
qs = [json.loads(line)["question"] for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
for q in qs[:3]:
    a.search(q, 8)
ms = []
for q in qs:
    t = time.perf_counter()
    a.search(q, 8)
    ms.append((time.perf_counter() - t) * 1000)
print(json.dumps({"open_s": open_s, "ms": ms}))
"""
SPAWNER = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def search_process(s: Settings) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", SPAWNER, sys.executable, "-c", SEARCH_SCRIPT, str(DEV)],
                          capture_output=True, text=True, env=env_for(s), timeout=1800, check=True)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"open_s": round(got["open_s"], 2), "p50_ms": round(statistics.median(got["ms"]), 1),
            "p90_ms": round(pct(got["ms"], 0.9), 1), "max_ms": round(max(got["ms"]), 1),
            "peak_rss_mib": round(int(proc.stderr.strip().splitlines()[-1]) / 1024, 1)}


def du_mib(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2 ** 20, 1)


def recall(s: Settings, embedder: Embedder, items: list[dict[str, Any]]) -> dict[str, Any]:
    report = run_eval(Assistant(s, embedder=embedder), items, retrieval_only=True, k=8)
    r = report["retrieval"]
    at5 = retrieval_metrics(report["items"], 5)["all"]["recall@5"]  # the passages an answer is drawn from
    return {"recall@8": r["all"]["recall@8"], "recall@8_fr": r["fr"]["recall@8"], "recall@8_en": r["en"]["recall@8"],
            "recall@5": at5, "mrr": r["all"]["mrr"], "in_process_p50_ms": r["latency_median_ms"],
            "in_process_p90_ms": r["latency_p90_ms"]}


def recall_without_copies(s: Settings, embedder: Embedder, items: list[dict[str, Any]],
                          copies: dict[str, set[int]], k: int = 8, depth: int = 96) -> dict[str, Any]:
    """recall@k once the variants holding a perturbed copy of the gold paragraph are set aside: what scale alone
    costs, apart from distractors that restate the gold passage with another actor or figure (which no retriever
    can tell from it by the question alone)."""
    pool = paragraphs()
    assistant = Assistant(s, embedder=embedder)
    scores, removed, found = [], [], 0
    for item in items:
        sources = item.get("sources", [])
        if not sources:
            continue
        gold = {i for i, para in enumerate(pool) for src in sources if plain(src["quote"]) in plain(para)}
        found += bool(gold)
        banned = {name for name, used in copies.items() if used & gold}
        removed.append(len(banned))
        hits = [h.as_dict() for h in assistant.search(item["question"], depth) if h.passage.doc not in banned][:k]
        ranks = [quote_rank(src["quote"], hits) for src in sources]
        scores.append(sum(1 for r in ranks if r is not None and r <= k) / len(ranks))
    return {f"recall@{k}": round(statistics.mean(scores), 4), "items": len(scores),
            "items_whose_gold_paragraph_has_variants": found,
            "variants_set_aside_median": statistics.median(removed), "variants_set_aside_max": max(removed),
            "search_depth": depth}


def embedder_rate(embedder: Embedder, texts: list[str], batch: int, n: int = 48) -> float:
    """Passages per second on a few of the corpus's texts (in the build's batches), to time an interruption at a
    share of the build."""
    sample = texts[:: max(1, len(texts) // n)][:n]
    t0 = time.perf_counter()
    for start in range(0, len(sample), batch):
        embedder.embed_passages(sample[start:start + batch])
    return len(sample) / (time.perf_counter() - t0)


def interrupted_build(s: Settings, embedder: Embedder, after_s: float, same_index: bool = False) -> dict[str, Any]:
    """`ask index` from scratch, stopped by SIGINT (Ctrl-C) after ``after_s``; then the next build, in process."""
    if not same_index:
        s = s.replace(index_dir=s.corpus.index_dir.parent / "index-interrupted")
    t0 = time.perf_counter()
    # SIGINT back to its default in the child: a benchmark started in the background (`nohup … &`) has it ignored,
    # and an ignored signal is inherited, so Ctrl-C would never reach `ask index`.
    proc = subprocess.Popen([*ask_cmd(), "index"], env=env_for(s), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    finished_first = proc.poll() is not None  # then there is nothing to resume: recorded, not hidden
    _, err = proc.communicate(timeout=300)
    stopped_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = Index(s, embedder).update()
    assert finished_first or (report.embedded and not report.problems), report
    return {"sigint_after_s": round(after_s, 1), "finished_before_the_signal": finished_first,
            "interrupted_exit": proc.returncode,
            "interrupted_run_s": round(stopped_s, 1), "interrupted_said": (err.strip().splitlines() or [""])[-1][:200],
            "next_build_embedded": report.embedded, "next_build_passages": report.passages,
            "resumed_passages": report.passages - report.embedded, "next_build_s": round(time.perf_counter() - t0, 1)}


def measure_search(s: Settings, embedder: Embedder, items: list[dict[str, Any]],
                   copies: dict[str, set[int]]) -> dict[str, Any]:
    """What a question meets on a built index: a fresh search process's latency and memory, and recall@8."""
    out: dict[str, Any] = {"load_before_search": load(), "search_process": search_process(s)}
    out["recall_large"] = recall(s, embedder, items)
    out["recall_large_without_gold_copies"] = recall_without_copies(s, embedder, items, copies)
    return out


def search_again(size: int, root: Path, base: Settings, embedder: Embedder,
                 items: list[dict[str, Any]]) -> dict[str, Any]:
    """The search measures alone, on a corpus and index kept by an earlier ``--keep`` run (same seed, same
    corpus): for a change to retrieval, without an hour of embedding again."""
    s = base.replace(corpus_dir=root / "corpus", index_dir=root / "index")
    copies = {k: set(v) for k, v in json.loads((root / "copies.json").read_text(encoding="utf-8")).items()}
    report = Index(s, embedder).update()
    assert report.embedded == 0, "the kept corpus changed since it was indexed"
    return {"target_passages": size, "passages": report.passages, "reused": str(root),
            **measure_search(s, embedder, items, copies)}


def measure(size: int, root: Path, base: Settings, embedder: Embedder, items: list[dict[str, Any]],
            embedder_sample: int, interrupt_in_build: bool, keep: bool = False,
            kind: str = "lookalike") -> dict[str, Any]:
    s = base.replace(corpus_dir=root / "corpus", index_dir=root / "index")
    quotes = [norm(src["quote"]) for it in items for src in it.get("sources", [])]
    summary, copies = make_corpus(root / "corpus", size, s, quotes) if kind == "lookalike" else \
        make_other_corpus(root / "corpus", size, s)
    out: dict[str, Any] = {"target_passages": size, "corpus": summary}
    texts = passage_texts(s.corpus.corpus_dir, s)
    out["load_before_build"] = load()

    batch = s.corpus.embed_batch_size
    rate = embedder_rate(embedder, texts, batch) if interrupt_in_build else 0.0
    out["embedder_rate_before_build"] = round(rate, 2)
    print(f"{time.strftime('%H:%M:%S')} {size}: {len(texts)} passages, {rate:.2f} passages/s before the build",
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    if interrupt_in_build:  # the build itself is stopped and resumed: one build's time instead of two
        out["interrupt"] = interrupted_build(s, embedder, after_s=0.3 * len(texts) / rate, same_index=True)
        report = Index(s, embedder).update()
        assert not report.changed, report
        report.passages = out["interrupt"]["next_build_passages"]
    else:
        report = Index(s, embedder).update()
        assert report.embedded == report.passages and not report.problems, report
    build_s = time.perf_counter() - t0
    out["load_before_embedder_alone"] = load()
    # The same texts in the same batches as the build; at large sizes an evenly spread sample of them.
    step = max(1, len(texts) // embedder_sample) if embedder_sample else 1
    sample = texts[::step]
    t0 = time.perf_counter()
    for start in range(0, len(sample), batch):
        embedder.embed_passages(sample[start:start + batch])
    embed_s = (time.perf_counter() - t0) * len(texts) / len(sample)
    # The build's own embedding time (its manifest's rate): the same load as the build, which two runs a few
    # minutes apart on a shared machine do not have.
    inside_s = report.passages / float((Index(s, embedder).manifest() or {})["embed_rate"])
    out.update(passages=report.passages, documents=len(corpus_files(s.corpus.corpus_dir)), build_s=round(build_s, 1),
               embedder_alone_s=round(embed_s, 1), embedder_alone_sample=len(sample),
               build_overhead_ratio=round(build_s / embed_s, 3),
               build_embedding_s=round(inside_s, 1), build_overhead_ratio_same_run=round(build_s / inside_s, 3),
               passages_per_s=round(report.passages / build_s, 2), load_after_embedder_alone=load())

    t0 = time.perf_counter()
    noop = Index(s, embedder).update()
    out["noop_in_process_s"] = round(time.perf_counter() - t0, 3)
    assert not noop.changed and noop.embedded == 0
    t0 = time.perf_counter()
    cli = subprocess.run([*ask_cmd(), "index"], capture_output=True, text=True, env=env_for(s), timeout=600)
    out["noop_cli_s"] = round(time.perf_counter() - t0, 2)
    out["noop_cli_output"] = cli.stdout.strip()
    assert "Index up to date" in cli.stdout, cli.stdout + cli.stderr

    shutil.copy2(REPO / "corpus" / "cnil-ia-sante-defis.md", s.corpus.corpus_dir / "ajout-un-fichier.md")
    t0 = time.perf_counter()
    added = Index(s, embedder).update()
    add_s = time.perf_counter() - t0
    kept = added.passages - added.embedded
    out["add_one_file"] = {"s": round(add_s, 2), "embedded": added.embedded, "passages": added.passages,
                           "embedding_share_s": round(added.embedded / (len(texts) / embed_s), 2),
                           "other_s_per_kept_passage": round(max(0.0, add_s - added.embedded / (len(texts) / embed_s))
                                                             / max(1, kept), 5)}
    out["index_disk_mib"] = du_mib(s.corpus.index_dir)
    out["index_disk_chroma_mib"] = du_mib(s.corpus.index_dir / "chroma")
    out["index_disk_derived_mib"] = du_mib(s.corpus.index_dir / "generations")
    out.update(measure_search(s, embedder, items, copies))
    if keep:
        (root / "copies.json").write_text(json.dumps({k: sorted(v) for k, v in copies.items()}), encoding="utf-8")
    if not interrupt_in_build:
        out["interrupt"] = interrupted_build(s, embedder, after_s=max(20.0, 0.45 * build_s))
    out["load_end"] = load()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="Target passage counts, comma-separated.")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.json")
    parser.add_argument("--max-minutes", type=float, default=35.0,
                        help="Skip a size whose projected run time (from the previous size) exceeds this.")
    parser.add_argument("--embedder-sample", type=int, default=0,
                        help="Time the embedder alone on about this many of the passages (0: all of them).")
    parser.add_argument("--interrupt-in-build", action="store_true",
                        help="Interrupt and resume the measured build itself instead of a second, separate build.")
    parser.add_argument("--keep", type=Path, default=None,
                        help="Build each size's corpus and index in KEEP/SIZE and leave them there.")
    parser.add_argument("--search-only", action="store_true",
                        help="With --keep: measure search and recall on the corpora and indexes kept there.")
    parser.add_argument("--kind", choices=["lookalike", "other"], default="lookalike",
                        help="lookalike: the shipped paragraphs perturbed (other names, figures, words); other: real "
                             "documents on other subjects (the machine's French manual pages and Vim's manual).")
    parser.add_argument("--items", type=Path, default=DEV,
                        help="The questions whose gold passages recall is measured on (default: the dev set).")
    parser.add_argument("--split", default=None, help="Only the items of this split (e.g. calib or test).")
    parser.add_argument("--merge", action="store_true",
                        help="Keep the sizes already in --out that this run does not measure.")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    items = [it for it in load_items(args.items) if args.split is None or it.get("split") == args.split]
    base = get_settings().replace(embedder="e5")
    embedder = get_embedder("e5", base.models.n_threads, base.retrieval.embed_query_threads)
    embedder.embed_passages(["échauffement du modèle"])  # loaded before anything is timed
    results: dict[str, Any] = {
        "command": " ".join([*(f"{k}={v}" for k, v in sorted(os.environ.items())
                               if k in ("OMP_WAIT_POLICY", "TMPDIR") or k.startswith("ASK_")),
                             sys.executable, *sys.argv]),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"), "targets": TARGETS, "embedder": embedder.id,
        "machine": {"cpus": os.cpu_count(), "threads": base.models.n_threads, "load_start": load(),
                    "note": "2 cores; the load average is recorded before each step"},
        "sizes": {}, "skipped": {}}
    if args.search_only:
        if args.keep is None:
            parser.error("--search-only needs --keep DIR")
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            shipped = base.replace(corpus_dir=SHIPPED, index_dir=Path(tmp) / "shipped-index")
            Index(shipped, embedder).update()
            results["recall_shipped_alone"] = recall(shipped, embedder, items)
        for size in sizes:
            key = str(size) if args.kind == "lookalike" else f"{size}-{args.kind}"
            results["sizes"][key] = search_again(size, args.keep / str(size), base, embedder, items)
            print(json.dumps(results["sizes"][key], ensure_ascii=False, indent=1), file=sys.stderr)
        write(args, results)
        return
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        shipped = base.replace(corpus_dir=SHIPPED, index_dir=Path(tmp) / "shipped-index")
        Index(shipped, embedder).update()
        results["recall_shipped_alone"] = recall(shipped, embedder, items)
        previous: dict[str, Any] | None = None
        for size in sizes:
            if previous is not None:
                per_passage = previous["wall_s"] / previous["passages"]
                projected = per_passage * size / 60
                if projected > args.max_minutes:
                    results["skipped"][str(size)] = {
                        "projected_minutes": round(projected, 1),
                        "why": f"projected from {previous['passages']} passages in {previous['wall_s']:.0f} s "
                               f"(build, embedder alone, interrupted build and its resume all scale with passages): "
                               f"over --max-minutes {args.max_minutes:g}",
                        "projected_build_minutes": round(previous["build_s"] / previous["passages"] * size / 60, 1)}
                    print(f"Skipping {size}: projected {projected:.0f} min.", file=sys.stderr)
                    continue
            t0 = time.perf_counter()
            root = args.keep / str(size) if args.keep else Path(tmp) / str(size)
            got = measure(size, root, base, embedder, items, args.embedder_sample, args.interrupt_in_build,
                          keep=args.keep is not None, kind=args.kind)
            got["wall_s"] = round(time.perf_counter() - t0, 1)
            results["sizes"][str(size) if args.kind == "lookalike" else f"{size}-{args.kind}"] = got
            previous = got
            print(json.dumps(got, ensure_ascii=False, indent=1), file=sys.stderr)
    write(args, results)


def write(args: argparse.Namespace, results: dict[str, Any]) -> None:
    results["machine"]["load_end"] = load()
    if args.merge and args.out.exists():
        old = json.loads(args.out.read_text(encoding="utf-8"))
        results["sizes"] = {**old.get("sizes", {}), **results["sizes"]}
        results["earlier_runs"] = [*old.get("earlier_runs", []), {k: old[k] for k in ("command", "time", "machine")
                                                                   if k in old}]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
