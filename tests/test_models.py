"""Every model load works on this CPU, and a crash is a failed check with its signal and fix, never a dead process.

On Intel CPUs with AMX, llama.cpp's weight repacking crashes in the first decode on the packaged Q4_K models
(llama.cpp issue 20824): the loader turns repacking off there (models/llama.py). These tests load each packaged
model in a child process, as `ask doctor` does, so that a crash fails the test with its signal instead of
killing the test run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gdpr_assistant.models import llama
from gdpr_assistant.models.packaged import PACKAGED
from gdpr_assistant.models.smoke import SmokeResult, run_child, run_smoke
from gdpr_assistant.settings import ModelSettings


@pytest.mark.slow
@pytest.mark.parametrize("choice", sorted(PACKAGED))
def test_each_packaged_model_generates_in_a_child_process(choice: str) -> None:
    result = run_smoke(choice, ModelSettings())
    assert result.ok, f"{choice}: {result.detail}\nfix: {result.fix}"
    assert "generated" in result.detail and result.system_info.startswith("CPU :")


@pytest.mark.slow
def test_on_a_simulated_amx_cpu_the_model_runs_because_repacking_is_off() -> None:
    """This machine has no AMX. tests/amx_sim makes llama.cpp report AMX_INT8 and crash in a decode of a model
    loaded with repacking, as its AMX path does (issue 19): the automatic choice must avoid the crash, and a forced
    repacking must be reported with its signal and the fix, not kill the caller."""
    settings = ModelSettings()

    def smoke(repack: str) -> SmokeResult:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent / "amx_sim"), "ASK_LLAMA_REPACK": repack,
               "ASK_CACHE_DIR": str(settings.cache_dir)}
        return run_child([sys.executable, "-m", "gdpr_assistant.models.smoke", "fast"], env, "fast", repack, 300)

    forced = smoke("on")
    assert not forced.ok and "SIGSEGV" in forced.detail and "ASK_LLAMA_REPACK=off" in forced.fix, forced
    auto = smoke("auto")
    assert auto.ok and "weight repacking off (AMX CPU" in auto.detail, auto


def test_a_child_killed_by_a_signal_is_a_failed_check_naming_the_signal_and_the_fix() -> None:
    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    result = run_child(crash, dict(os.environ), "default", "auto", timeout=60)
    assert not result.ok
    assert "SIGSEGV" in result.detail and "CPU:" in result.detail
    assert "ASK_LLAMA_REPACK=off" in result.fix


def test_a_child_that_fails_quietly_reports_its_last_words() -> None:
    fails = [sys.executable, "-c", "import sys; print('llama.cpp could not load the model', file=sys.stderr); "
             "sys.exit(3)"]
    result = run_child(fails, dict(os.environ), "default", "off", timeout=60)
    assert not result.ok and "exit status 3" in result.detail and "could not load" in result.detail
    assert "ASK_LLAMA_REPACK" not in result.fix  # repacking is already off: the fix is the wheel


def test_repacking_is_off_on_amx_and_avx512_cpus_and_on_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama, "system_info", lambda: "CPU : AVX2 = 1 | AVX512 = 1 | REPACK = 1 |")
    monkeypatch.setattr(llama, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "amx_tile", "amx_int8"}))
    assert not llama.repack_default() and llama.repack_reason() == "AMX CPU"
    monkeypatch.setattr(llama, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert not llama.repack_default() and llama.repack_reason() == "AVX-512 CPU"
    monkeypatch.setattr(llama, "system_info", lambda: "CPU : AVX2 = 1 | REPACK = 1 |")
    monkeypatch.setattr(llama, "cpu_flags", lambda: frozenset({"avx2"}))
    assert llama.repack_default() and llama.repack_reason() == "neither AMX nor AVX-512"
    # A build that reports AMX through llama.cpp (an older kernel may not list the flags) counts as AMX too.
    monkeypatch.setattr(llama, "system_info", lambda: "CPU : AVX2 = 1 | AMX_INT8 = 1 | REPACK = 1 |")
    assert not llama.repack_default()


@pytest.mark.slow
def test_the_loader_applies_the_repacking_choice() -> None:
    """llama-cpp-python has no argument for it: the loader swaps its default parameters for one load. If a
    version built them otherwise, this catches it (load_llama raises too)."""
    settings = ModelSettings()
    from gdpr_assistant.models.packaged import resolve_model

    path = resolve_model("fast", settings.cache_dir)
    for repack in (False, True):
        llm = llama.load_llama(path, n_ctx=512, n_threads=settings.n_threads, repack=repack)
        assert bool(llm.model_params.use_extra_bufts) is repack
        del llm
