"""Smoke generation in a child process: load a model, generate a few tokens, report.

A llama.cpp crash (a segmentation fault in its first decode, as on AMX CPUs with weight repacking) kills the
process that hit it, with no Python error. Run in a child, the same crash becomes a failed check with its
signal, the CPU's features and the fix; `ask doctor` and the test suite use it.

    python -m gdpr_assistant.models.smoke default     # prints one JSON line
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from gdpr_assistant.models.backend import Generation, GenerationStats, ModelError
from gdpr_assistant.models.llama import cpu_summary, repack_default, repack_reason
from gdpr_assistant.settings import ModelSettings

_PROMPT = [{"role": "user", "content": "Réponds par un seul mot : quelle est la capitale de la France ?"}]


@dataclass
class SmokeResult:
    ok: bool
    detail: str  # what happened: the text generated and its time, or how the child died
    fix: str = ""
    system_info: str = ""


def _fix(repack: str) -> str:
    if repack != "off":
        return ("Turn llama.cpp's weight repacking off: ASK_LLAMA_REPACK=off (the AMX and repacked code paths of "
                "llama.cpp crash on some CPUs). If it still crashes, rebuild llama-cpp-python without pip's "
                "cache: pip install --no-cache-dir --force-reinstall llama-cpp-python==0.3.36")
    return ("Rebuild llama-cpp-python without pip's cache (a wheel built on another CPU may use instructions this "
            "one lacks): pip install --no-cache-dir --force-reinstall llama-cpp-python==0.3.36")


def run_smoke(choice: str, settings: ModelSettings, timeout: float = 300.0) -> SmokeResult:
    """Load ``choice`` in a child process and generate a few tokens; never raises for what the child does."""
    env = {**os.environ, "ASK_LLM": choice, "ASK_LLAMA_REPACK": settings.llama_repack,
           "ASK_N_THREADS": str(settings.n_threads), "ASK_CACHE_DIR": str(settings.cache_dir)}
    return run_child([sys.executable, "-m", "gdpr_assistant.models.smoke", choice], env, choice, settings.llama_repack,
                     timeout)


def run_child(command: list[str], env: dict[str, str], choice: str, repack: str, timeout: float) -> SmokeResult:
    """Run a smoke child and read what became of it: its JSON line, or the signal that killed it."""
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return SmokeResult(False, f"no answer from the model within {timeout:.0f} s", _fix(repack))
    lines = proc.stdout.strip().splitlines()
    if proc.returncode >= 0 and lines and lines[-1].startswith("{"):
        result = SmokeResult(**json.loads(lines[-1]))
        if not result.ok and not result.fix:
            result.fix = "See the message above."
        return result
    cpu = cpu_summary()
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return SmokeResult(False, f"llama.cpp crashed ({name}) loading or running {choice} "
                                  f"(ASK_LLAMA_REPACK={repack}); CPU: {cpu}",
                           _fix(repack))
    tail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
    return SmokeResult(False, f"exit status {proc.returncode} ({tail[:300]}); CPU: {cpu}", _fix(repack))


def _child(choice: str) -> SmokeResult:
    # The child is an entry point of its own: offline switches and egress guard before llama.cpp is imported.
    from gdpr_assistant.offline import protect

    protect()
    from gdpr_assistant.models.llama import system_info
    from gdpr_assistant.models.registry import local_backend

    settings = ModelSettings()
    t0 = time.perf_counter()
    try:
        backend = local_backend(choice, settings)
    except ModelError as exc:
        return SmokeResult(False, str(exc))
    stats = GenerationStats()
    text = "".join(backend.generate(Generation(messages=_PROMPT, max_tokens=4), stats))
    seconds = time.perf_counter() - t0
    on = {"on": True, "off": False}.get(settings.llama_repack, repack_default())
    repack = f"weight repacking {'on' if on else 'off'} ({repack_reason()}, "
    repack += f"ASK_LLAMA_REPACK={settings.llama_repack})"
    tokens = f"{stats.completion_tokens} token{'s' if stats.completion_tokens != 1 else ''}"
    return SmokeResult(True, f"{backend.name} generated {tokens} ({text.strip()!r}) in "
                             f"{seconds:.1f} s, load included; {repack}", system_info=system_info())


if __name__ == "__main__":
    result = _child(sys.argv[1] if len(sys.argv) > 1 else "default")
    print(json.dumps(asdict(result), ensure_ascii=False))
    sys.exit(0 if result.ok else 1)
