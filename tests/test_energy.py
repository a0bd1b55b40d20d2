"""The energy of each answer: measured (RAPL counters, else CPU time), shown beside the Inserm note's EcoLogits
figures for a hosted model, and carried by the answer, the purpose draft, the page and the evaluation report.

The meter is checked against work of known CPU time and against a fake powercap tree; the answers come from the
session's small e5 index and a scripted model (tests/fakes.py), so nothing here needs a language model.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import REPO, Built
from fakes import FakeBackend, FakeModels

from gdpr_assistant import energy
from gdpr_assistant.assistant import Assistant
from gdpr_assistant.energy import HOSTED_SUMMARY, Meter, comparison, summary_line
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.models.backend import Message
from gdpr_assistant.purpose import PurposeRequest
from gdpr_assistant.settings import EnergySettings, Settings
from gdpr_assistant.types import Answer, Energy

QUESTION = "Combien de personnes compte le SIA de la CNIL ?"
PURPOSE = ("Développement d'un modèle qui prédit le risque de réhospitalisation à 30 jours à partir des dossiers "
           "des patients, pour aider les équipes soignantes à prioriser le suivi après la sortie.")
UJ_PER_MWH = 3_600_000  # 1 mWh = 3.6 J


def cites_sia(messages: list[Message]) -> str:
    """A faithful draft: it cites the excerpt the prompt numbers for the SIA's creation."""
    for block in re.split(r"\n\n(?=\[\d+\] \()", messages[-1]["content"]):
        if (m := re.match(r"\[(\d+)\] \(", block)) and "Création d'un SIA" in block:
            return f"Le SIA créé en 2023 compte 5 personnes [{m.group(1)}]."
    return "Aucun extrait ne le dit."


@pytest.fixture
def assistant(built: Built, e5: Embedder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Assistant:
    """An assistant over the session index whose meter can only estimate (no powercap tree), as on most
    machines: its figures then follow from CPU time alone, which the tests can check."""
    monkeypatch.setattr(energy, "_RAPL", tmp_path / "no-powercap")
    return Assistant(built.settings, models=FakeModels(FakeBackend(cites_sia)), embedder=e5)


def busy(cpu_s: float) -> float:
    """Spin this thread for ``cpu_s`` of CPU time; returns the CPU time this thread really spent."""
    t0 = time.thread_time()
    while time.thread_time() - t0 < cpu_s:
        sum(range(1000))
    return time.thread_time() - t0


# -- an answer carries its energy ----------------------------------------------------------------------------
def test_an_answer_carries_positive_figures_that_follow_from_its_cpu_time(assistant: Assistant) -> None:
    cpu0 = time.process_time()
    answer = assistant.ask(QUESTION)
    around = time.process_time() - cpu0
    assert answer.kind == "answer" and not answer.refused and answer.timings["completion_tokens"] > 0
    e = answer.energy
    assert e is not None and e.method == "cpu-time"
    assert e.wh > 0 and e.gco2eq > 0 and e.cpu_s > 0
    # The CPU time is the answer's own: within what the call took, and most of it (retrieval, e5, checks).
    assert 0.2 * around <= e.cpu_s <= around + 0.01
    s = assistant.settings.energy
    assert e.wh == pytest.approx(e.cpu_s * s.energy_watts_per_core / 3600, rel=1e-9)
    assert e.gco2eq == pytest.approx(e.wh / 1000 * s.grid_gco2_per_kwh, rel=1e-9)
    # The JSON of an answer (`ask --json`, the /ask endpoint, the evaluation's items) carries it.
    data = json.loads(json.dumps(answer.as_dict()))
    assert data["energy"]["method"] == "cpu-time" and data["energy"]["wh"] > 0 and data["energy"]["cpu_s"] > 0


def test_a_purpose_draft_carries_its_energy(assistant: Assistant) -> None:
    draft = assistant.draft_purpose(PurposeRequest(PURPOSE), use_model=False)
    assert draft.energy is not None and draft.energy.wh > 0 and draft.energy.method == "cpu-time"
    assert json.loads(json.dumps(draft.as_dict()))["energy"]["wh"] == round(draft.energy.wh, 5)


# -- the meter ---------------------------------------------------------------------------------------------------
def test_the_cpu_time_estimate_of_a_busy_loop_is_its_cpu_seconds_times_the_power_per_core(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(energy, "_RAPL", tmp_path)  # empty: no counter
    meter = Meter(EnergySettings(energy_watts_per_core=10.0))
    reading = meter.start()
    spent = busy(0.4)
    e = meter.stop(reading)
    assert e.method == "cpu-time"
    # Other threads of the test process (torch's, chroma's) may add a little CPU time; never less than the loop.
    assert spent <= e.cpu_s <= spent + 0.15
    assert e.wh == pytest.approx(spent * 10.0 / 3600, rel=0.4)
    assert e.wh == pytest.approx(e.cpu_s * 10.0 / 3600, rel=1e-9)


def test_time_spent_waiting_costs_nothing_in_the_estimate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(energy, "_RAPL", tmp_path)
    meter = Meter(EnergySettings())
    reading = meter.start()
    time.sleep(0.3)  # wall time, no CPU: a meter on the clock would count 0.3 s
    assert meter.stop(reading).cpu_s < 0.1


def rapl_tree(root: Path) -> Path:
    """A powercap tree as Linux lays it out: packages, a subzone listed beside them, a psys zone, a broken one."""
    for zone, name, uj in (("intel-rapl:0", "package-0", 1_000_000), ("intel-rapl:1", "package-1", 5_000_000),
                           ("intel-rapl:0:0", "core", 700_000), ("intel-rapl:2", "psys", 9_000_000)):
        (root / zone).mkdir(parents=True)
        (root / zone / "name").write_text(f"{name}\n")
        (root / zone / "energy_uj").write_text(f"{uj}\n")
    (root / "intel-rapl:3").mkdir()
    (root / "intel-rapl:3" / "energy_uj").mkdir()  # unreadable as a number (a directory: even root fails)
    return root


def add_uj(root: Path, zone: str, uj: int) -> None:
    path = root / zone / "energy_uj"
    path.write_text(f"{int(path.read_text()) + uj}\n")


def test_rapl_counters_are_read_package_by_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = rapl_tree(tmp_path / "powercap")
    monkeypatch.setattr(energy, "_RAPL", root)
    meter = Meter(EnergySettings(grid_gco2_per_kwh=52.0))
    assert meter.method == "rapl"
    reading = meter.start()
    add_uj(root, "intel-rapl:0", 30 * UJ_PER_MWH)
    add_uj(root, "intel-rapl:1", 12 * UJ_PER_MWH)
    # Already inside package 0, and the whole platform: counting them would count the same energy twice.
    add_uj(root, "intel-rapl:0:0", 20 * UJ_PER_MWH)
    add_uj(root, "intel-rapl:2", 50 * UJ_PER_MWH)
    e = meter.stop(reading)
    assert e.method == "rapl"
    assert e.wh == pytest.approx(0.042, rel=1e-9)
    assert e.gco2eq == pytest.approx(0.042 / 1000 * 52.0, rel=1e-9)


def test_a_wrapped_or_vanished_counter_falls_back_to_the_estimate(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    root = rapl_tree(tmp_path / "powercap")
    monkeypatch.setattr(energy, "_RAPL", root)
    near_max = 262_143_328_850  # a real max_energy_range_uj: about 73 Wh, an hour or so of a busy package
    (root / "intel-rapl:1" / "energy_uj").write_text(f"{near_max - 1_000_000}\n")
    meter = Meter(EnergySettings(energy_watts_per_core=10.0))
    reading = meter.start()
    (root / "intel-rapl:1" / "energy_uj").write_text("4000000\n")  # went past the maximum: started again at 0
    add_uj(root, "intel-rapl:0", 30 * UJ_PER_MWH)
    e = meter.stop(reading)
    assert e.method == "cpu-time" and e.wh == pytest.approx(e.cpu_s * 10.0 / 3600, rel=1e-9)

    reading = meter.start()
    (root / "intel-rapl:0" / "energy_uj").unlink()  # unreadable mid-measure: no error, an estimate
    assert meter.stop(reading).method == "cpu-time"
    assert meter.start()[1] == -1 and meter.stop(meter.start()).method == "cpu-time"


def test_no_readable_counter_or_rapl_off_means_the_estimate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    (broken / "intel-rapl:0" / "energy_uj").mkdir(parents=True)
    monkeypatch.setattr(energy, "_RAPL", broken)
    assert Meter(EnergySettings()).method == "cpu-time"
    monkeypatch.setattr(energy, "_RAPL", rapl_tree(tmp_path / "powercap"))
    assert Meter(EnergySettings()).method == "rapl"
    assert Meter(EnergySettings(energy_use_rapl=False)).method == "cpu-time"


def test_the_grid_factor_setting_sets_the_carbon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = rapl_tree(tmp_path / "powercap")
    monkeypatch.setattr(energy, "_RAPL", root)
    france, coal = Meter(EnergySettings()), Meter(Settings(grid_gco2_per_kwh=820.0).energy)
    readings = france.start(), coal.start()
    add_uj(root, "intel-rapl:0", 100 * UJ_PER_MWH)
    a, b = france.stop(readings[0]), coal.stop(readings[1])
    assert a.wh == b.wh == pytest.approx(0.1)
    assert a.gco2eq == pytest.approx(0.1 / 1000 * 52.0) and b.gco2eq == pytest.approx(0.1 / 1000 * 820.0)


# -- the comparison ------------------------------------------------------------------------------------------
def test_the_hosted_figures_are_the_inserm_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOSTED_SUMMARY is the table of the corpus passage, number for number and in its order."""
    text = (REPO / "corpus" / "inserm-recommandations-usage-ia.txt").read_text(encoding="utf-8")
    passage = text[text.index("comparaison pour la rédaction d’un résumé d’article"):]

    def row(heading: str) -> list[float]:
        after = passage[passage.index(heading) + len(heading):]
        line = next(x for x in after.splitlines() if re.fullmatch(r"[\d. ]+", x.strip() or "x"))
        return [float(n) for n in line.split()]

    assert row("Consommation électrique\n(mWh)") == [434, 455, 426, 144] == [t.mwh for t in HOSTED_SUMMARY]
    assert row("(mgCO2eq)") == [181, 184, 169, 8.13] == [t.mgco2eq for t in HOSTED_SUMMARY]
    assert passage.index("(mWh)") < passage.index("(mgCO2eq)")
    # The models, in the columns' order.
    heads = " ".join(passage[:passage.index("Consommation électrique")].split())
    places = [heads.index(m) for m in ("ChatGPT 5", "Claude Sonnet 4.0", "Gemini 2.5", "Mistral large")]
    assert places == sorted(places)
    assert [t.model for t in HOSTED_SUMMARY] == ["ChatGPT 5", "Claude Sonnet 4.0", "Gemini 2.5", "Mistral large"]


@pytest.mark.parametrize(("mwh", "fr", "en"), [
    (43.0, "43 mWh, 2.2 mgCO2eq : ≈ 1/10 d'un résumé d'article par un modèle hébergé",
     "43 mWh, 2.2 mgCO2eq: ≈ 1/10 of an article summary by a hosted model"),
    (860.0, "860 mWh, 45 mgCO2eq : ≈ 2.0× un résumé d'article", "860 mWh, 45 mgCO2eq: ≈ 2.0× an article summary"),
    (2150.0, "2.1 Wh, 112 mgCO2eq : ≈ 5.0×", "2.1 Wh, 112 mgCO2eq: ≈ 5.0×"),
    (0.25, "0.25 mWh, 0.013 mgCO2eq : < 1/1000 d'un", "0.25 mWh, 0.013 mgCO2eq: < 1/1000 of an"),
])
def test_the_comparison_cites_the_ecologits_range_and_the_inserm_note(mwh: float, fr: str, en: str) -> None:
    e = Energy(wh=mwh / 1000, gco2eq=mwh / 1e6 * 52, cpu_s=1.0, method="cpu-time")
    for lang, start in (("fr", fr), ("en", en)):
        line = comparison(e, lang)
        assert line.startswith(start), line
        assert line.endswith("(144–455 mWh, EcoLogits, Inserm 2025)")


def test_the_evaluation_summary_states_the_energy_its_method_and_the_comparison() -> None:
    from gdpr_assistant.evaluation.harness import markdown_summary

    part = {"items": 2, "recall@5": 1.0, "hit@5": 1.0, "mrr": 1.0}
    report = {"settings": {"items": 2, "embedder": "e5", "k": 5},
              "retrieval": {"all": part, "fr": part, "en": part, "latency_median_ms": 9, "latency_p90_ms": 12},
              "answers": {"answer_time_median_s": 9.5, "energy_median_mwh": 83.2, "energy_method": "cpu-time"},
              "items": []}
    md = markdown_summary(report)
    assert "| energy_median_mwh | 83.2 |" in md
    assert ("Energy: median 83 mWh per answer (cpu-time estimate) ≈ 1/5 of an article summary by a hosted model "
            "(144–455 mWh, EcoLogits, Inserm 2025).") in md.splitlines()
    report["answers"] = {"answer_time_median_s": 9.5, "energy_median_mwh": None, "energy_method": None}
    assert "Energy:" not in markdown_summary(report)
    assert summary_line(30.0, "rapl").startswith("Energy: median 30 mWh per answer (RAPL counters) ≈ 1/14 of")


# -- the page ------------------------------------------------------------------------------------------------
def test_the_answer_bubble_and_the_purpose_draft_show_the_energy_in_the_pages_language(
        assistant: Assistant) -> None:
    from gdpr_assistant.interfaces import ui

    answer = assistant.ask(QUESTION)
    assert answer.energy is not None
    fr = ui.answer_markdown(answer, "src-1", ui.TEXTS["fr"])
    en = ui.answer_markdown(answer, "src-1", ui.TEXTS["en"])
    assert re.search(r"<br>⚡ [\d.]+ m?Wh, [\d.]+ mgCO2eq : .* d&#x27;un résumé d&#x27;article .*"
                     r"\(144–455 mWh, EcoLogits, Inserm 2025\)</small>", fr), fr
    assert re.search(r"<br>⚡ [\d.]+ m?Wh, [\d.]+ mgCO2eq: .* of an article summary by a hosted model", en), en
    answer.energy = None  # not measured (an answer built elsewhere): no line, no error
    assert "⚡" not in ui.answer_markdown(answer, "src-1", ui.TEXTS["fr"])

    draft = assistant.draft_purpose(PurposeRequest(PURPOSE), use_model=False)
    assert re.search(r"<br>⚡ [\d.]+ m?Wh, [\d.]+ mgCO2eq : ", ui.purpose_html(draft, ui.TEXTS["fr"]))
    assert "of an article summary" in ui.purpose_html(draft, ui.TEXTS["en"])


def test_the_conversation_total_adds_up_its_answers_and_starts_again_with_a_new_conversation(
        assistant: Assistant) -> None:
    from gdpr_assistant.interfaces import ui

    page = ui.WebUI(assistant.settings, assistant)
    conv = ui.new_conv()

    def turn(question: str) -> tuple[object, ...]:
        """One turn of the page's chat handler, as the send button runs it: its last outputs."""
        return tuple(list(page.chat(question, conv, assistant.settings.models.llm, "", 4, "auto", "fr", None))[-1])

    first = turn(QUESTION)
    assert len(conv["energies"]) == 1 and "⚡ Cette conversation : 1 réponse(s)" in str(first[4])
    second = turn("Et combien d'experts comptait le AI HLEG ?")
    e1, e2 = conv["energies"]
    whole = energy.total([e1, e2])
    assert whole is not None and whole.wh == pytest.approx(e1.wh + e2.wh) and whole.method == "cpu-time"
    assert f"2 réponse(s), {energy.amounts(whole)}" in str(second[4]) and "d&#x27;un résumé" in str(second[4])
    assert "This conversation: 2 answer(s)" in page.conversation_energy(conv, "en")  # the language switch
    turn("   ")  # an empty question is no answer
    assert len(conv["energies"]) == 2

    fresh, messages, question, _sources, total = page.new_conversation("fr")
    assert fresh["energies"] == [] and messages == [] and question == "" and total == ""
    assert ui.conversation_energy([], ui.TEXTS["fr"]) == ""


def test_a_failed_answer_adds_nothing_to_the_total(assistant: Assistant) -> None:
    import gradio as gr

    from gdpr_assistant.interfaces import ui

    page = ui.WebUI(assistant.settings, assistant)
    conv = ui.new_conv()
    *_, last = page.chat(QUESTION, conv, "gguf", "", 4, "auto", "en", None)  # GGUF chosen, no path: a user error
    assert "Error:" in conv["messages"][-1]["content"] and conv["energies"] == []
    assert last[4] == gr.skip()  # the total shown stays as it was


def test_an_answer_object_built_by_hand_has_no_energy_until_measured() -> None:
    # The field defaults to None (hand-built answers, older history files): the JSON says so rather than 0.
    a = Answer(question="q", answer="a", refused=False, lang="fr", citations=[], passages=[], model="m", timings={})
    assert a.as_dict()["energy"] is None
