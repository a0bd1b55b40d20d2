"""What measuring the energy of an answer costs: ``Meter.start()`` + ``Meter.stop()`` against an answer's time.

Each answer is measured once (energy.py): two reads of this process's CPU time, plus, where the CPU's RAPL
counters are readable, two reads of each package's counter. This times the pair, median over many calls, for
both methods (RAPL on a fake powercap tree of regular files when the machine has none readable: a real sysfs
read asks the CPU's MSR, a few microseconds more), and divides it by the median answer time of an evaluation
run (``answer_time_median_s`` of ``ask evaluate --json``'s report) or by a number of seconds given.

    .venv/bin/python bench/bench_energy.py /tmp/base/def.json
    .venv/bin/python bench/bench_energy.py 15.5 --calls 10000 --out bench/results/energy.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gdpr_assistant import energy
from gdpr_assistant.energy import Meter
from gdpr_assistant.settings import EnergySettings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EVAL = Path("/tmp/base/def.json")


def answer_time(source: str) -> tuple[float, str, dict[str, Any]]:
    """The median answer time in seconds, where it came from, and the run's energy figures if it has them."""
    try:
        return float(source), "given", {}
    except ValueError:
        pass
    report = json.loads(Path(source).read_text(encoding="utf-8"))
    answers = report.get("answers") or {}
    if not answers.get("answer_time_median_s"):
        sys.exit(f"{source}: no answers.answer_time_median_s (an `ask evaluate` report with answers is needed)")
    figures = {k: answers[k] for k in ("energy_median_mwh", "energy_method") if answers.get(k) is not None}
    return float(answers["answer_time_median_s"]), source, figures


def fake_powercap(root: Path) -> Path:
    """A laptop's tree: one package, its subzones beside it, a psys zone (only the package is read)."""
    for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "core"), ("intel-rapl:0:1", "uncore"),
                       ("intel-rapl:1", "psys")):
        (root / zone).mkdir(parents=True)
        (root / zone / "name").write_text(f"{name}\n")
        (root / zone / "energy_uj").write_text("123456789\n")
    return root


def time_pairs(meter: Meter, calls: int) -> list[float]:
    """Seconds per start()+stop() pair, one value per call (a warm-up of 100 first: file caches, branches)."""
    for _ in range(100):
        meter.stop(meter.start())
    out = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        t0 = clock()
        meter.stop(meter.start())
        out.append((clock() - t0) / 1e9)
    return out


def summary(seconds: list[float], per_answer_s: float) -> dict[str, float]:
    ordered = sorted(seconds)
    median = statistics.median(ordered)
    return {"median_us": round(median * 1e6, 2), "p99_us": round(ordered[int(0.99 * (len(ordered) - 1))] * 1e6, 2),
            "max_us": round(ordered[-1] * 1e6, 1), "share_of_answer": float(f"{median / per_answer_s:.3g}")}


def run(args: argparse.Namespace) -> dict[str, Any]:
    per_answer_s, source, figures = answer_time(args.answer)
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {"calls": args.calls, "answer_time_median_s": per_answer_s, "answer_time_source": source,
                               **({"evaluation": figures} if figures else {})}
    results["cpu_time"] = summary(time_pairs(Meter(EnergySettings(energy_use_rapl=False)), args.calls), per_answer_s)
    real = Meter(EnergySettings())
    with tempfile.TemporaryDirectory(prefix="bench-energy-") as tmp:
        saved = energy._RAPL
        energy._RAPL = fake_powercap(Path(tmp))  # the module reads its tree from here: no test hook needed
        try:
            fake = Meter(EnergySettings())
            assert fake.method == "rapl"
            results["rapl_fake_tree"] = summary(time_pairs(fake, args.calls), per_answer_s)
        finally:
            energy._RAPL = saved
    if real.method == "rapl":  # this machine's own counters are readable: time them too
        results["rapl_sysfs"] = summary(time_pairs(real, args.calls), per_answer_s)
    results["machine"] = {"cpus": os.cpu_count(), "load_avg_1min_before": round(load_before, 2),
                          "load_avg_1min_after": round(os.getloadavg()[0], 2), "rapl_readable": real.method == "rapl",
                          "python": platform.python_version(), "platform": platform.platform()}
    results["command"] = " ".join([".venv/bin/python bench/bench_energy.py", *sys.argv[1:]])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("answer", nargs="?", default=str(DEFAULT_EVAL) if DEFAULT_EVAL.exists() else None,
                        help=f"An evaluation report (JSON) or the median answer time in seconds "
                             f"(default: {DEFAULT_EVAL} if it exists).")
    parser.add_argument("--calls", type=int, default=10_000, help="start()+stop() pairs timed per method.")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "energy.json",
                        help="Write the results as JSON here.")
    args = parser.parse_args()
    if args.answer is None:
        parser.error(f"give an evaluation report or a number of seconds ({DEFAULT_EVAL} does not exist)")
    results = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for method in ("cpu_time", "rapl_fake_tree", "rapl_sysfs"):
        if method in results:
            r = results[method]
            print(f"{method:15} start+stop median {r['median_us']:7.2f} µs (p99 {r['p99_us']:.2f} µs) = "
                  f"{r['share_of_answer']:.2g} of a {results['answer_time_median_s']:.2f} s answer")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
