"""The energy and carbon of a piece of work on this computer, beside what a hosted model costs for a task.

The Inserm note in the corpus asks researchers to use AI frugally and to compare models with EcoLogits. Where
the system exposes the CPU's energy counters (RAPL, /sys/class/powercap, readable by this user), the package
energy used during the work is read from them: it includes whatever else the CPU did meanwhile. Elsewhere (most
laptops without root since Linux 5.10, virtual machines) it is estimated from the CPU time of this process
(every thread, llama.cpp's included) and a stated power per busy core; in a server answering several clients at
once, that CPU time includes the others' work too. Both are cheap: two reads of a counter per answer, no network
(bench/bench_energy.py).

CodeCarbon's offline tracker was the library to weigh: it samples power from a background thread every 15 s by
default (longer than most answers), writes a CSV unless told not to, and without RAPL estimates from CPU load and
the CPU's rated power, the method written small here.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from gdpr_assistant.settings import EnergySettings
from gdpr_assistant.types import Energy

_RAPL = Path("/sys/class/powercap")

# (CPU seconds at start, summed counters in µJ at start, or -1 when there is no counter reading to use)
Reading = tuple[float, int]


@dataclass(frozen=True)
class HostedTask:
    """One line of the EcoLogits comparison the Inserm note gives (inserm-recommandations-usage-ia.txt)."""

    model: str
    mwh: float
    mgco2eq: float


# "une comparaison pour la rédaction d'un résumé d'article" — Inserm, Pôle IA & Numérique, 2025: "Consommation
# électrique (mWh) 434 455 426 144 / Effet sur le réchauffement climatique (mgCO2eq) 181 184 169 8.13".
HOSTED_SUMMARY = (HostedTask("ChatGPT 5", 434, 181), HostedTask("Claude Sonnet 4.0", 455, 184),
                  HostedTask("Gemini 2.5", 426, 169), HostedTask("Mistral large", 144, 8.13))
HOSTED_SOURCE = "Inserm 2025, EcoLogits: one article summary"


def _rapl_domains() -> list[Path]:
    """Package-level counters (intel-rapl:N, also used for AMD CPUs), if this user may read them."""
    found = []
    for path in sorted(_RAPL.glob("intel-rapl:*/energy_uj")):
        zone = path.parent
        with contextlib.suppress(OSError):
            # Only the packages ("package-0"…): /sys/class/powercap also lists each package's subzones beside it
            # (intel-rapl:0:0 "core", "uncore", "dram"), and some laptops a "psys" zone for the whole platform;
            # their energy is already in, or includes, the package's. A zone without a name is taken as one.
            if not (zone / "name").read_text().strip().startswith("package"):
                continue
        with contextlib.suppress(OSError, ValueError):
            int(path.read_text())
            found.append(path)
    return found


def _rapl_uj(domains: list[Path]) -> int:
    return sum(int(p.read_text()) for p in domains)


class Meter:
    """Measures one piece of work: ``reading = meter.start()`` … ``meter.stop(reading)``. One meter serves
    concurrent pieces of work: the reading holds all the state of one measure."""

    def __init__(self, settings: EnergySettings) -> None:
        self.settings = settings
        self._domains = _rapl_domains() if settings.energy_use_rapl else []

    @property
    def method(self) -> str:
        return "rapl" if self._domains else "cpu-time"

    def _read_uj(self) -> int:
        if not self._domains:
            return -1
        try:
            return _rapl_uj(self._domains)
        except (OSError, ValueError):  # a counter that became unreadable: this measure is an estimate
            return -1

    def start(self) -> Reading:
        return time.process_time(), self._read_uj()

    def stop(self, reading: Reading) -> Energy:
        cpu0, uj0 = reading
        cpu_s = max(0.0, time.process_time() - cpu0)
        # Counters wrap at max_energy_range_uj (about an hour at full power): a wrapped one makes the sum go down
        # whatever the others did during one answer, and is read as no measure.
        if uj0 >= 0 and (uj1 := self._read_uj()) >= uj0:
            return self._energy((uj1 - uj0) / 3.6e9, cpu_s, "rapl")
        return self._energy(cpu_s * self.settings.energy_watts_per_core / 3600, cpu_s, "cpu-time")

    def _energy(self, wh: float, cpu_s: float, method: str) -> Energy:
        return Energy(wh=wh, gco2eq=wh / 1000 * self.settings.grid_gco2_per_kwh, cpu_s=cpu_s, method=method)


def total(energies: list[Energy]) -> Energy | None:
    """The energy of several pieces of work (a conversation's answers); the method is "mixed" if they differ."""
    if not energies:
        return None
    methods = {e.method for e in energies}
    return Energy(wh=sum(e.wh for e in energies), gco2eq=sum(e.gco2eq for e in energies),
                  cpu_s=sum(e.cpu_s for e in energies), method=methods.pop() if len(methods) == 1 else "mixed")


def _num(x: float) -> str:
    """Two significant figures at most, never in exponent form: 0.042, 4.3, 43, 434."""
    if x >= 9.95:
        return f"{x:.0f}"
    if x >= 0.995:
        return f"{x:.1f}"
    return f"{x:.2g}" if x > 0 else "0"


def amounts(energy: Energy) -> str:
    """``83 mWh, 4.3 mgCO2eq`` (``1.2 Wh`` from a thousand mWh on): the same in French and English."""
    mwh = energy.wh * 1000
    quantity = f"{_num(energy.wh)} Wh" if mwh >= 995 else f"{_num(mwh)} mWh"
    return f"{quantity}, {_num(energy.gco2eq * 1000)} mgCO2eq"


def hosted_median_mwh() -> float:
    return float(statistics.median(t.mwh for t in HOSTED_SUMMARY))


def share(mwh: float, lang: str) -> str:
    """``mwh`` beside the median hosted article summary: ``≈ 1/5 of an article summary by a hosted model``."""
    ratio = hosted_median_mwh() / mwh if mwh > 0 else float("inf")
    if ratio > 1000:
        amount = "< 1/1000"
    elif ratio >= 1.5:  # a fraction from 1/2 on; past 1/100, two significant figures are all it means
        amount = f"≈ 1/{float(f'{ratio:.2g}'):.0f}"
    else:
        amount = f"≈ {1 / ratio:.1f}×"
        return f"{amount} un résumé d'article par un modèle hébergé" if lang == "fr" else \
            f"{amount} an article summary by a hosted model"
    return f"{amount} d'un résumé d'article par un modèle hébergé" if lang == "fr" else \
        f"{amount} of an article summary by a hosted model"


def _range() -> str:
    hosted = [t.mwh for t in HOSTED_SUMMARY]
    return f"{min(hosted):.0f}–{max(hosted):.0f} mWh"


def comparison(energy: Energy, lang: str) -> str:
    """One line a user reads at a glance: this answer beside a hosted model's article summary."""
    sep = " :" if lang == "fr" else ":"
    return f"{amounts(energy)}{sep} {share(energy.wh * 1000, lang)} ({_range()}, EcoLogits, Inserm 2025)"


def summary_line(median_mwh: float, method: str | None) -> str:
    """The evaluation report's line: the median answer beside a hosted model's article summary."""
    how = {"rapl": "RAPL counters", "cpu-time": "cpu-time estimate"}.get(method or "", method or "unknown method")
    return (f"Energy: median {_num(median_mwh)} mWh per answer ({how}) {share(median_mwh, 'en')} ({_range()}, "
            "EcoLogits, Inserm 2025).")
