"""A simulated AMX CPU, for tests (tests/test_models.py): on PYTHONPATH, this makes llama.cpp report AMX_INT8 and
crash (SIGSEGV) in its first decode when the model was loaded with weight repacking, as llama.cpp's AMX path does on
Sapphire Rapids CPUs with our Q4_K models (llama.cpp issue 20824). This machine has no AMX: without the simulation
the crash cannot be shown here."""

import builtins
import os
import signal
import sys

_import = builtins.__import__
_state: dict[str, bool] = {}


def _patch(lc: object) -> None:
    load, decode, info = lc.llama_model_load_from_file, lc.llama_decode, lc.llama_print_system_info

    def load_(path: bytes, params: object) -> object:
        _state["repack"] = bool(params.use_extra_bufts)
        return load(path, params)

    def decode_(ctx: object, batch: object) -> int:
        if _state.get("repack"):
            os.kill(os.getpid(), signal.SIGSEGV)
        return decode(ctx, batch)

    lc.llama_model_load_from_file = load_
    lc.llama_decode = decode_
    lc.llama_print_system_info = _amx_info(info)


def _amx_info(info: object) -> object:
    def amx() -> bytes:
        # Added after "CPU : " whatever the real CPU reports: an AVX2-only CPU prints no "AVX512 = 1" to hang it on.
        return info().replace(b"CPU : ", b"CPU : AMX_INT8 = 1 | ", 1)

    amx.simulated = True
    return amx


def _hook(name: str, *args: object, **kwargs: object) -> object:
    module = _import(name, *args, **kwargs)
    lc = sys.modules.get("llama_cpp.llama_cpp")
    if lc is not None and "patched" not in _state and all(
            hasattr(lc, f) for f in ("llama_model_load_from_file", "llama_decode", "llama_print_system_info")):
        _state["patched"] = True
        _patch(lc)
    top = sys.modules.get("llama_cpp")  # `from .llama_cpp import *` copies the names into the package too
    if top is not None and "patched" in _state and hasattr(top, "llama_print_system_info") and \
            not hasattr(top.llama_print_system_info, "simulated"):
        top.llama_print_system_info = lc.llama_print_system_info
    return module


builtins.__import__ = _hook
