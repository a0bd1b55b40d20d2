"""Logins of the shared web UI: a users file (Argon2id hashes) or a trusted proxy's header; only admins change the
documents; a conversation is shown to the user who started it only; an error is one log line, never the question.

The page runs in this process over the session's real index, with a scripted model (the point is who may do what).
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from conftest import REPO, Built, ask_command, clean_env, run_ask
from fakes import FakeBackend, FakeModels

from gdpr_assistant.assistant import Assistant
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.interfaces import ui
from gdpr_assistant.interfaces.serve import free_port
from gdpr_assistant.interfaces.ui.auth import add_user, load_users
from gdpr_assistant.interfaces.ui.layout import new_conv
from gdpr_assistant.settings import Settings

PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


@dataclass
class Page:
    url: str
    settings: Settings
    web: ui.WebUI | None = None

    def client(self, **kwargs: Any) -> Any:
        from gradio_client import Client

        return Client(self.url, verbose=False, **kwargs)


def _launch(settings: Settings, e5: Embedder) -> tuple[gr.Blocks, str]:
    assistant = Assistant(settings, models=FakeModels(FakeBackend("Le consentement doit être libre [1].")),
                          embedder=e5)
    return ui.launch(settings, assistant, "127.0.0.1", free_port())


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.toml"
    add_user(path, "alice", PASSWORDS["alice"], admin=True)
    add_user(path, "bob", PASSWORDS["bob"], admin=False)
    return path


@pytest.fixture
def page(built_copy: Built, e5: Embedder, users_file: Path) -> Iterator[Page]:
    settings = built_copy.settings.replace(users_file=users_file)
    demo, url = _launch(settings, e5)
    try:
        yield Page(url, settings)
    finally:
        demo.close()


def test_users_file_holds_argon2_hashes_readable_by_its_owner_only(users_file: Path) -> None:
    text = users_file.read_text(encoding="utf-8")
    assert "$argon2id$" in text and PASSWORDS["alice"] not in text
    assert stat.S_IMODE(os.stat(users_file).st_mode) == 0o600
    assert {u.name: u.role for u in load_users(users_file).values()} == {"alice": "admin", "bob": "user"}


def test_wrong_password_or_no_login_is_refused(page: Page) -> None:
    for name, password in (("alice", "not-her-password"), ("mallory", PASSWORDS["alice"]), ("bob", "")):
        login = httpx.post(f"{page.url}login", data={"username": name, "password": password})
        assert login.status_code != 200 or not login.json().get("success"), name
        with pytest.raises(Exception):  # noqa: B017 (gradio_client raises its own error types for a refused login)
            page.client(auth=(name, password))
    # Nothing is served without a login: not the page's configuration, not the API.
    assert httpx.get(f"{page.url}config").status_code == 401
    assert page.client(auth=("alice", PASSWORDS["alice"])).predict(api_name="/documents")


def test_only_admins_add_or_remove_documents(page: Page, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    note = tmp_path / "note-interne.md"
    note.write_text("# Note\n\nLe registre Zorblax est tenu par le délégué.\n", encoding="utf-8")
    bob = page.client(auth=("bob", PASSWORDS["bob"]))
    before = bob.predict(api_name="/documents")
    with pytest.raises(AppError, match="administrateurs"):
        bob.predict([handle_file(note)], api_name="/upload")
    with pytest.raises(AppError, match="administrateurs"):
        bob.predict(before[0]["doc"], api_name="/remove")
    assert bob.predict(api_name="/documents") == before
    assert not (page.settings.corpus.corpus_dir / note.name).exists()
    # Bob still asks questions; Alice, an admin, removes a document.
    assert bob.predict("Quelles qualités le consentement doit-il réunir ?", api_name="/search")
    alice = page.client(auth=("alice", PASSWORDS["alice"]))
    status, *_ = alice.predict(before[0]["doc"], api_name="/remove")
    assert "✓" in status
    assert [d["doc"] for d in alice.predict(api_name="/documents")] == [d["doc"] for d in before[1:]]


def test_a_user_never_sees_another_users_conversation(built_copy: Built, e5: Embedder, users_file: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    settings = built_copy.settings.replace(users_file=users_file)
    assistant = Assistant(settings, models=FakeModels(FakeBackend("Le consentement doit être libre [1].")),
                          embedder=e5)
    web = ui.WebUI(settings, assistant)
    alice, bob = gr.Request(username="alice"), gr.Request(username="bob")
    secret = "Quelles qualités le consentement de mon patient Jean Dupont doit-il réunir ?"
    conv = new_conv()
    *_, (alice_conv, messages, *_rest) = list(web.chat(secret, conv, "default", "", 3, "auto", "fr", alice))
    assert alice_conv["owner"] == "alice" and secret in str(messages)
    # Bob, with Alice's session state in hand (its id leaked), gets a conversation of his own, empty of hers.
    outputs = list(web.chat("Et la durée de conservation ?", alice_conv, "default", "", 3, "auto", "fr", bob))
    assert all(secret not in str(out) for out in outputs)
    bob_conv = outputs[-1][0]
    assert bob_conv["owner"] == "bob" and [m["role"] for m in bob_conv["messages"]] == ["user", "assistant"]
    select = gr.SelectData(None, {"index": 1, "value": ""})  # type: ignore[arg-type]
    assert alice_conv["panels"] and web.show_sources(alice_conv, select, alice) == alice_conv["panels"]["1"]
    assert web.show_sources(alice_conv, select, bob) == gr.skip()  # her sources panel is not shown to him
    # An error shown to a user is logged as one line, with its kind, never with the question.
    caplog.set_level(logging.INFO, logger="gdpr_assistant.interfaces.ui.web")
    caplog.clear()
    too_long = "Jean Dupont " * 400
    list(web.chat(too_long, new_conv(), "default", "", 3, "auto", "fr", bob))
    lines = [r for r in caplog.records if r.name == "gdpr_assistant.interfaces.ui.web"]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert "QuestionError" in lines[0].getMessage() and "Dupont" not in lines[0].getMessage()


def test_a_trusted_proxy_header_logs_in_and_an_untrusted_one_does_not(built_copy: Built, e5: Embedder,
                                                                      users_file: Path) -> None:
    from gradio_client.exceptions import AppError

    header = "X-Forwarded-User"
    trusted = built_copy.settings.replace(trusted_user_header=header, users_file=users_file)
    demo, url = _launch(trusted, e5)
    try:
        assert httpx.get(f"{url}config", headers={header: "bob"}).status_code == 200
        assert httpx.get(f"{url}config").status_code == 401  # no header: no user
        from gradio_client import Client

        bob = Client(url, verbose=False, headers={header: "bob"})
        with pytest.raises(AppError, match="administrateurs"):
            bob.predict("cnil-ia-sante-defis.md", api_name="/remove")
    finally:
        demo.close()
    # The same header from an address that is not a trusted proxy is ignored.
    untrusted = trusted.replace(trusted_proxies=["10.0.0.1"])
    demo, url = _launch(untrusted, e5)
    try:
        assert httpx.get(f"{url}config", headers={header: "alice"}).status_code == 401
    finally:
        demo.close()


def test_users_command_adds_a_user_without_the_password_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    env = clean_env()
    added = subprocess.run([*ask_command(), "users", "add", "carol", "--admin", "--password-stdin", "--file",
                            str(path)], input="carol-password\n", capture_output=True, text=True, env=env,
                           timeout=120, cwd=REPO)
    assert added.returncode == 0, added.stderr
    assert "carol (admin)" in added.stdout and "carol-password" not in path.read_text(encoding="utf-8")
    listed = run_ask(["users", "list", "--file", str(path)], env=env, timeout=120)
    assert listed.stdout.split() == ["carol", "admin"]
