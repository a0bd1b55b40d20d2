"""Speed and memory of the packaged models with llama.cpp's weight repacking on and off.

llama.cpp repacks Q4_K weights into CPU-specific layouts (its "extra buffer types": CPU_REPACK for AVX2 /
AVX-512, AMX on Sapphire Rapids). On AMX CPUs the AMX path crashes on our models (llama.cpp issue 20824),
so the product decides per CPU whether to repack (models/llama.py); this measures what repacking buys where
it does not crash. Each configuration runs in a fresh child process (peak RSS is per process), in turn, on
the same ~1,050-token prompt built from the corpus, greedy.

    .venv/bin/python bench/bench_repack.py --out bench/results/repack.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(model: str, repack: bool, threads: int, runs: int) -> dict[str, object]:
    from gdpr_assistant.models.llama import cpu_summary, load_llama
    from gdpr_assistant.models.packaged import resolve_model
    from gdpr_assistant.settings import get_settings

    s = get_settings()
    path = resolve_model(model, s.models.cache_dir)
    t0 = time.perf_counter()
    llm = load_llama(path, n_ctx=4096, n_threads=threads, seed=0, repack=repack)
    load_s = time.perf_counter() - t0
    text = (REPO / "corpus" / "cnil-webinaire-recommandations-ia-rgpd-2024.md").read_text(encoding="utf-8")
    prompt = text[:3600] + "\n\nQuestion : Quelles qualités doit réunir le consentement ?\nRéponse :"
    tokens = llm.tokenize(prompt.encode())
    prompt_tps, gen_tps = [], []
    for _ in range(runs):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        prompt_tps.append(len(tokens) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for _ in range(48):
            tok = llm.sample(temp=0.0, top_k=1)
            llm.eval([tok])
        gen_tps.append(48 / (time.perf_counter() - t0))
    peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    return {"model": model, "repack": repack, "load_s": round(load_s, 2), "prompt_tokens": len(tokens),
            "prompt_tok_s": round(statistics.median(prompt_tps), 1), "gen_tok_s": round(statistics.median(gen_tps), 1),
            "peak_rss_mib": round(peak / 1024), "cpu": cpu_summary()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="default,fast")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0: the settings' default (physical cores)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "REPACK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads == 0:
        from gdpr_assistant.settings import get_settings

        args.threads = get_settings().models.n_threads
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1] == "1", args.threads, args.runs)))
        return
    rows = []
    for model in args.models.split(","):
        for repack in (True, False):
            proc = subprocess.run([sys.executable, __file__, "--child", model, "1" if repack else "0",
                                   "--runs", str(args.runs), "--threads", str(args.threads)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                rows.append({"model": model, "repack": repack, "crashed": proc.returncode,
                             "stderr": proc.stderr[-400:]})
            else:
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
