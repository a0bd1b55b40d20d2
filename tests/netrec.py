"""Independent network recorder for subprocesses: records every attempt to leave the machine.

It does not rely on the product's egress guard (which it is meant to check): ``RECORDER`` becomes a
``sitecustomize.py`` on the child's ``PYTHONPATH`` and installs a CPython audit hook, which sees every
Python-level connect, datagram and DNS lookup made through the real socket functions, and every heavy
library import (with whether the guard was active at that moment). Where ``strace`` works, the same commands
also run under it, which sees native code (llama.cpp, Chroma's Rust core) that Python hooks cannot.
An attempt that the product's guard refuses never reaches the real socket function: the guard's own error
line ("Blocked ...") on stderr is what shows it, so the tests check stderr too.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

RECORDER = r'''
import ipaddress, json, os, socket, sys

_OUT = os.environ["NETREC_OUT"]
_HEAVY = ("chromadb", "gradio", "sentence_transformers", "transformers", "huggingface_hub", "llama_cpp", "torch")
_seen = set()


def _local(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return True
    h = host.strip("[]").split("%")[0].lower()
    if h in ("localhost", ""):
        return True
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return False
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _literal(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


def _write(rec):
    with open(_OUT, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")


def _hook(event, args):
    try:
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            sock, addr = args[0], args[1]
            if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(addr, tuple) and addr \
                    and not _local(addr[0]):
                _write({"kind": event, "target": str(addr[0]), "pid": os.getpid()})
        elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
            # Resolving an IP literal sends no DNS query (the connect that follows is what counts); a
            # reverse lookup of one does.
            if args and args[0] is not None and not _local(args[0]) \
                    and (event == "socket.gethostbyaddr" or not _literal(args[0])):
                _write({"kind": event, "target": str(args[0]), "pid": os.getpid()})
        elif event == "import":
            top = str(args[0]).split(".")[0]
            if top in _HEAVY and top not in _seen:
                _seen.add(top)
                off = sys.modules.get("gdpr_assistant.offline")
                _write({"kind": "import", "module": top, "pid": os.getpid(),
                        "guard": bool(off is not None and off.egress_guard_active()),
                        "hub_offline": os.environ.get("HF_HUB_OFFLINE") == "1",
                        "telemetry_off": os.environ.get("ANONYMIZED_TELEMETRY") == "False"
                        and os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"})
    except Exception as exc:  # the recorder must never change the behaviour it observes
        try:
            _write({"kind": "recorder-error", "error": repr(exc)})
        except Exception:
            pass


sys.addaudithook(_hook)
'''

_STRACE_ADDR = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"')


def strace_usable() -> bool:
    if not shutil.which("strace"):
        return False
    try:
        return subprocess.run(["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect", "-o", os.devnull,
                               "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@dataclass
class Recorder:
    """One folder with the recorder's sitecustomize, its log, and strace logs of the commands run."""

    root: Path
    use_strace: bool = False
    traces: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "site").mkdir(parents=True, exist_ok=True)
        (self.root / "site" / "sitecustomize.py").write_text(RECORDER, encoding="utf-8")
        self.log = self.root / "netrec.jsonl"

    def env(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.root / "site"), base.get("PYTHONPATH", "")) if p)
        env["NETREC_OUT"] = str(self.log)
        return env

    def wrap(self, cmd: list[str]) -> list[str]:
        if not self.use_strace:
            return cmd
        trace = self.root / f"strace.{len(self.traces)}.txt"
        self.traces.append(trace)
        return ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace), *cmd]

    def records(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.strip()]

    def attempts(self) -> list[str]:
        """Every non-loopback attempt seen by the audit hook or by strace, as readable lines."""
        found = [f"{r['kind']} {r['target']} (pid {r['pid']})" for r in self.records()
                 if str(r["kind"]).startswith("socket.")]
        for trace in self.traces:
            if not trace.exists():
                continue
            for line in trace.read_text(encoding="utf-8", errors="replace").splitlines():
                for m in _STRACE_ADDR.finditer(line):
                    addr = m.group(1) or m.group(2)
                    ip = ipaddress.ip_address(addr)
                    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                        ip = ip.ipv4_mapped
                    if not (ip.is_loopback or ip.is_unspecified):
                        found.append(f"strace: {line.strip()}")
        return found

    def imports(self) -> list[dict[str, object]]:
        return [r for r in self.records() if r["kind"] == "import"]

    def errors(self) -> list[dict[str, object]]:
        return [r for r in self.records() if r["kind"] == "recorder-error"]
