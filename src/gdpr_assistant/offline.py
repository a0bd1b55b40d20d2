"""Offline switches and the process-wide egress guard.

Imported first by the package (see ``__init__``) so that the switches are in the environment before
chromadb, gradio, sentence-transformers or huggingface_hub read them at import time.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
import traceback
from collections.abc import Iterable

log = logging.getLogger("gdpr_assistant.egress")

OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "CHROMA_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def set_offline_env() -> None:
    """Force every library we use into offline, telemetry-free mode (overrides the user's env on purpose)."""
    os.environ.update(OFFLINE_ENV)


class EgressBlocked(ConnectionRefusedError):
    """Raised when code tries to reach a host that is not loopback and not explicitly allowed."""


_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex
_original_getaddrinfo = socket.getaddrinfo
_allowed_hosts: set[str] = set()
_installed = False


def _is_local(host: object) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths (bytes) and the like never leave the machine
    if host in ("localhost", "") or host in _allowed_hosts:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _caller() -> str:
    for frame in reversed(traceback.extract_stack()[:-3]):
        if "socket.py" not in frame.filename and __file__ not in frame.filename:
            return f"{frame.filename}:{frame.lineno} ({frame.name})"
    return "unknown"


def _check(address: object) -> None:
    if isinstance(address, tuple) and address and not _is_local(address[0]):
        caller = _caller()
        log.error("Blocked outbound connection to %s from %s", address[0], caller)
        raise EgressBlocked(f"gdpr-assistant is offline: blocked connection to {address[0]} (from {caller})")


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _original_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _original_connect_ex(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
    # Refusing the DNS lookup itself means no query ever leaves the machine either.
    if host is not None and isinstance(host, str | bytes):
        name = host.decode() if isinstance(host, bytes) else host
        if not _is_local(name) and not _resolves_literally(name):
            caller = _caller()
            log.error("Blocked DNS lookup of %s from %s", name, caller)
            raise EgressBlocked(f"gdpr-assistant is offline: blocked DNS lookup of {name} (from {caller})")
    return _original_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


def _resolves_literally(name: str) -> bool:
    """An IP literal needs no DNS; the connect check then decides on the address itself."""
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


def install_egress_guard(allowed_hosts: Iterable[str] = ()) -> None:
    """Refuse, process-wide, every connection to a non-loopback address not in ``allowed_hosts``."""
    global _installed
    _allowed_hosts.update(h for h in allowed_hosts if h)
    if _installed:
        return
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
    _installed = True


def egress_guard_active() -> bool:
    return _installed and socket.socket.connect is _guarded_connect  # type: ignore[comparison-overlap]


def uninstall_egress_guard() -> None:
    """Only for tests that must measure what happens without the guard."""
    global _installed
    socket.socket.connect = _original_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _original_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _original_getaddrinfo  # type: ignore[assignment]
    _allowed_hosts.clear()
    _installed = False


def already_imported_heavy_libraries() -> list[str]:
    """Libraries that read the offline switches at import time and were imported before us."""
    return [m for m in ("chromadb", "gradio", "sentence_transformers", "huggingface_hub") if m in sys.modules]
