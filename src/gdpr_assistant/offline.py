"""Offline switches and the process-wide egress guard.

Imported first by the package (see ``__init__``) so that the switches are in the environment before
chromadb, gradio, sentence-transformers or huggingface_hub read them at import time. Every entry point
(CLI ``main``, the UI's ``app.py``, and the Python API through ``gdpr_assistant.pipeline``) then calls
:func:`protect`, which installs the guard: from then on any attempt to resolve or reach a host that is not
loopback (or explicitly allowed in ``ASK_ALLOWED_HOSTS``) fails with :class:`EgressBlocked` and an error
log line that names the library and the line of code that tried.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
import sysconfig
import traceback
from collections.abc import Iterable
from pathlib import Path

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

# Libraries that read the switches above when they are imported.
HEAVY_LIBRARIES = ("chromadb", "gradio", "sentence_transformers", "transformers", "huggingface_hub")


def set_offline_env() -> None:
    """Force every library we use into offline, telemetry-free mode (overrides the user's env on purpose)."""
    os.environ.update(OFFLINE_ENV)


def offline_env_set() -> bool:
    return all(os.environ.get(k) == v for k, v in OFFLINE_ENV.items())


class EgressBlocked(ConnectionRefusedError):
    """Raised when code tries to reach a host that is not loopback and not explicitly allowed."""


_original = {
    "connect": socket.socket.connect,
    "connect_ex": socket.socket.connect_ex,
    "sendto": socket.socket.sendto,
    "sendmsg": socket.socket.sendmsg,
    "getaddrinfo": socket.getaddrinfo,
    "gethostbyname": socket.gethostbyname,
    "gethostbyname_ex": socket.gethostbyname_ex,
    "gethostbyaddr": socket.gethostbyaddr,
}
_allowed_names: set[str] = set()
_allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
_installed = False
_INET = (socket.AF_INET, socket.AF_INET6)
_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.split("%")[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _is_local(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", errors="replace")
    if not isinstance(host, str):
        return True  # not an internet address (AF_UNIX paths and the like never leave the machine)
    host = host.strip("[]").lower()
    # The machine's own name resolves through /etc/hosts; connecting to what it resolves to is checked anyway.
    if host in ("localhost", "", socket.gethostname().lower()) or host in _allowed_names:
        return True
    ip = _ip(host)
    if ip is None:
        return False
    return ip.is_loopback or ip.is_unspecified or any(ip in net for net in _allowed_networks)


def _caller() -> str:
    """The innermost frame outside the standard library and this module: the code that wanted the network."""
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename)
        if frame.filename == __file__ or frame.filename.startswith("<"):
            continue
        try:
            in_stdlib = path.resolve().is_relative_to(_STDLIB) and "-packages" not in frame.filename
        except OSError:
            in_stdlib = False
        if in_stdlib:
            continue
        parts = path.parts
        where = next((parts[i + 1] for i, p in enumerate(parts[:-1]) if p.endswith("-packages")), path.name)
        return f"{where.removesuffix('.py')} ({frame.filename}:{frame.lineno} in {frame.name})"
    return "unknown caller"


def _refuse(what: str, target: str) -> EgressBlocked:
    caller = _caller()
    log.error("Blocked %s %s requested by %s: gdpr-assistant works offline (allow a host with "
              "ASK_ALLOWED_HOSTS).", what, target, caller)
    return EgressBlocked(f"gdpr-assistant is offline: blocked {what} {target} (requested by {caller})")


def _check_address(sock: socket.socket, address: object, what: str) -> None:
    if sock.family in _INET and isinstance(address, tuple) and address and not _is_local(address[0]):
        port = f":{address[1]}" if len(address) > 1 else ""
        raise _refuse(what, f"{address[0]}{port}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check_address(self, address, "connection to")
    return _original["connect"](self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check_address(self, address, "connection to")
    return _original["connect_ex"](self, address)


def _guarded_sendto(self: socket.socket, data: object, *args: object) -> int:
    # sendto(data, address) or sendto(data, flags, address): UDP needs no connect to leave the machine.
    _check_address(self, args[-1] if args else None, "datagram to")
    return _original["sendto"](self, data, *args)


def _guarded_sendmsg(self: socket.socket, buffers: object, *args: object) -> int:
    if len(args) >= 3:
        _check_address(self, args[2], "datagram to")
    return _original["sendmsg"](self, buffers, *args)


def _check_name(host: object, what: str) -> None:
    # Refusing the lookup itself means no DNS query ever leaves the machine either. An IP literal needs
    # no DNS: the connect check then decides on the address itself.
    if isinstance(host, bytes):
        host = host.decode("ascii", errors="replace")
    if isinstance(host, str) and not _is_local(host) and _ip(host.strip("[]")) is None:
        raise _refuse(what, host)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
    _check_name(host, "DNS lookup of")
    found = _original["getaddrinfo"](host, *args, **kwargs)
    if isinstance(host, str) and host.lower() in _allowed_names:
        # An allowed name is reached at the addresses it resolves to: allow those too.
        for info in found:
            ip = _ip(str(info[4][0]))
            if ip is not None:
                _allowed_networks.append(ipaddress.ip_network(ip))
    return found


def _guarded_gethostbyname(host: str) -> str:
    _check_name(host, "DNS lookup of")
    return _original["gethostbyname"](host)


def _guarded_gethostbyname_ex(host: str) -> tuple[str, list[str], list[str]]:
    _check_name(host, "DNS lookup of")
    return _original["gethostbyname_ex"](host)


def _guarded_gethostbyaddr(host: str) -> tuple[str, list[str], list[str]]:
    # A reverse lookup of a remote address is a DNS query too.
    if not _is_local(host):
        raise _refuse("reverse DNS lookup of" if _ip(host) else "DNS lookup of", host)
    return _original["gethostbyaddr"](host)


def _add_allowed(hosts: Iterable[str]) -> None:
    for host in hosts:
        host = host.strip().strip("[]").lower()
        if not host:
            continue
        try:
            _allowed_networks.append(ipaddress.ip_network(host, strict=False))
        except ValueError:
            _allowed_names.add(host)


def url_hosts(urls: Iterable[str | None]) -> list[str]:
    """The hosts of the servers a shared deployment talks to (``ASK_CHROMA_URL``, ``ASK_LLM_URL``), to open in
    the guard: each host alone, not its network; loopback ones are left out (always open)."""
    from urllib.parse import urlsplit

    hosts: list[str] = []
    for url in urls:
        host = (urlsplit(url if "//" in url else f"//{url}").hostname or "") if url else ""
        if host and not (host == "localhost" or ((ip := _ip(host)) is not None and ip.is_loopback)) \
                and host not in hosts:
            hosts.append(host)
    return hosts


def install_egress_guard(allowed_hosts: Iterable[str] = ()) -> None:
    """Refuse, process-wide, every connection to a non-loopback address not in ``allowed_hosts``.

    ``allowed_hosts`` entries are host names, IP addresses or networks (``10.0.0.0/8``). Calling it again
    adds hosts; it never removes the guard.
    """
    global _installed
    _add_allowed(allowed_hosts)
    if _installed:
        return
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = _guarded_sendto  # type: ignore[method-assign, assignment]
    socket.socket.sendmsg = _guarded_sendmsg  # type: ignore[method-assign, assignment]
    socket.getaddrinfo = _guarded_getaddrinfo
    socket.gethostbyname = _guarded_gethostbyname
    socket.gethostbyname_ex = _guarded_gethostbyname_ex
    socket.gethostbyaddr = _guarded_gethostbyaddr
    _installed = True
    log.debug("Egress guard installed (allowed beyond loopback: %s).", allowed_hosts_description())


def egress_guard_active() -> bool:
    return (_installed and socket.socket.connect is _guarded_connect  # type: ignore[comparison-overlap]
            and socket.getaddrinfo is _guarded_getaddrinfo)


def allowed_hosts_description() -> str:
    entries = sorted(_allowed_names) + [str(n) for n in _allowed_networks]
    return ", ".join(entries) if entries else "none"


def uninstall_egress_guard() -> None:
    """Only for tests that must measure what happens without the guard."""
    global _installed
    socket.socket.connect = _original["connect"]  # type: ignore[method-assign]
    socket.socket.connect_ex = _original["connect_ex"]  # type: ignore[method-assign]
    socket.socket.sendto = _original["sendto"]  # type: ignore[method-assign]
    socket.socket.sendmsg = _original["sendmsg"]  # type: ignore[method-assign]
    socket.getaddrinfo = _original["getaddrinfo"]  # type: ignore[assignment]
    socket.gethostbyname = _original["gethostbyname"]  # type: ignore[assignment]
    socket.gethostbyname_ex = _original["gethostbyname_ex"]  # type: ignore[assignment]
    socket.gethostbyaddr = _original["gethostbyaddr"]  # type: ignore[assignment]
    _allowed_names.clear()
    _allowed_networks.clear()
    _installed = False


def already_imported_heavy_libraries() -> list[str]:
    """Libraries that read the offline switches at import time and were imported before us."""
    return [m for m in HEAVY_LIBRARIES if m in sys.modules]


def protect(allowed_hosts: Iterable[str] = ()) -> None:
    """What every entry point does first: offline switches, then the egress guard."""
    early = already_imported_heavy_libraries()
    if early and not _installed:
        # Their import-time telemetry switches may have been read before ours were set: say so once.
        log.warning("%s imported before gdpr_assistant: import gdpr_assistant first so that its offline "
                    "switches apply (the egress guard still blocks any connection).", ", ".join(early))
    set_offline_env()
    install_egress_guard(allowed_hosts)
