"""Who is using a shared web UI, and what they may do.

Two ways to log in, chosen by settings (``SharedSettings``):

* a users file (``ASK_USERS_FILE``), TOML, one table per user with an Argon2id hash of the password (argon2-cffi,
  the reference implementation's bindings) and a role, written by ``ask users add NAME [--admin]``::

      [users.alice]
      password_hash = "$argon2id$v=19$m=65536,t=3,p=4$…"
      role = "admin"

  Gradio's own login page asks for the name and password; the file is read again when it changes, so a user
  added while the app runs can log in at once.
* a reverse proxy that authenticates users itself (SSO) and passes the name in a header
  (``ASK_TRUSTED_USER_HEADER``, e.g. ``X-Forwarded-User``), believed only from ``ASK_TRUSTED_PROXIES``
  addresses; roles then come from the users file when there is one (entries without a password).

Without either, the UI is the laptop's: one user, who may do everything. With logins, only admins add or
remove documents.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gdpr_assistant.settings import SharedSettings

if TYPE_CHECKING:
    import fastapi

log = logging.getLogger(__name__)

Role = Literal["admin", "user"]
LOCAL_USER = ""  # the one user of a UI without logins
_hasher = PasswordHasher()  # argon2id with the library's current recommended costs
# Verified when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class UsersFileError(ValueError):
    """A users file that cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role = "user"
    password_hash: str = ""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def load_users(path: Path) -> dict[str, User]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsersFileError(f"The users file {path} cannot be read ({exc}). Fix it, or add users again with "
                             "`ask users add NAME`.") from exc
    users: dict[str, User] = {}
    for name, entry in (data.get("users") or {}).items():
        if not isinstance(entry, dict):
            continue
        role: Role = "admin" if entry.get("role") == "admin" else "user"
        users[str(name)] = User(str(name), role, str(entry.get("password_hash", "")))
    return users


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for these characters)."""
    import json

    return json.dumps(text, ensure_ascii=False)


def save_users(path: Path, users: dict[str, User]) -> None:
    """Write the file whole, readable by its owner only (it holds password hashes), by atomic rename."""
    lines = ["# Users of the shared web UI (`ask users add NAME [--admin]`). Passwords are Argon2id hashes.", ""]
    for user in sorted(users.values(), key=lambda u: u.name):
        lines += [f"[users.{_toml_string(user.name)}]", f"role = {_toml_string(user.role)}"]
        if user.password_hash:
            lines.append(f"password_hash = {_toml_string(user.password_hash)}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    os.replace(tmp, path)


def add_user(path: Path, name: str, password: str, admin: bool) -> User:
    """Add a user, or change an existing one's password and role."""
    name = name.strip()
    if not name or any(c in name for c in "\n\r\t") or len(name) > 64:
        raise UsersFileError("A user name is 1 to 64 characters, on one line.")
    if len(password) < 8:
        raise UsersFileError("A password has at least 8 characters.")
    users = load_users(path)
    users[name] = User(name, "admin" if admin else "user", hash_password(password))
    save_users(path, users)
    return users[name]


class Auth:
    """The logins of one web UI, and the role of each user."""

    def __init__(self, settings: SharedSettings) -> None:
        self.file = settings.users_file
        self.header = settings.trusted_user_header.strip()
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        self._users: dict[str, User] = {}
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        if self.file is not None:
            self.users()  # a broken file fails at start, not at the first login

    @property
    def enabled(self) -> bool:
        return bool(self.header) or self.file is not None

    @property
    def password_mode(self) -> bool:
        """Gradio's login page with the users file (a proxy header, when set, replaces it)."""
        return self.file is not None and not self.header

    def users(self) -> dict[str, User]:
        """The users file, read again when it changed."""
        if self.file is None:
            return {}
        with self._lock:
            try:
                st = self.file.stat()
                stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                stamp = None
            if stamp != self._stamp:
                self._users = load_users(self.file)
                self._stamp = stamp
            return self._users

    def check_password(self, name: str, password: str) -> bool:
        user = self.users().get(name)
        try:
            ok = _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        ok = ok and user is not None and bool(user.password_hash)
        log.info("Login %s for %s.", "accepted" if ok else "refused", name if user else "an unknown name")
        return ok

    async def login(self, name: str, password: str) -> bool:
        """Gradio's ``auth`` callable. Argon2 takes tens of milliseconds on purpose: off the event loop, so a
        login never stalls the pages of the others."""
        return await asyncio.to_thread(self.check_password, name, password)

    def header_user(self, request: fastapi.Request) -> str | None:
        """Gradio's ``auth_dependency``: the proxy's user header, from a trusted proxy only (anyone else could
        send it); None refuses the request."""
        client = request.client.host if request.client else ""
        try:
            trusted = any(ipaddress.ip_address(client) in net for net in self.proxies)
        except ValueError:
            trusted = False
        name = (request.headers.get(self.header) or "").strip() if trusted else ""
        if not name and not trusted:
            log.warning("Refused a request from %s: not a trusted proxy (ASK_TRUSTED_PROXIES).", client or "?")
        return name or None

    def role(self, name: str | None) -> Role:
        if not self.enabled:
            return "admin"  # the laptop's UI: its one user manages the documents
        user = self.users().get(name or "")
        return user.role if user else "user"

    def is_admin(self, name: str | None) -> bool:
        return self.role(name) == "admin"
