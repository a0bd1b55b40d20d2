"""`ask users`: the logins of a shared web UI (the users file of ``ASK_USERS_FILE``, see ``ui/auth.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gdpr_assistant.settings import get_settings

users_file_opt = click.option(
    "--file", "path", type=click.Path(dir_okay=False, path_type=Path),
    help="The users file. Default: $ASK_USERS_FILE, else ./users.toml.")


def _path(path: Path | None) -> Path:
    return path or get_settings().shared.users_file or Path("users.toml")


@click.group("users")
def users() -> None:
    """Logins of the shared web UI (`python app.py --users FILE`, or ASK_USERS_FILE).

    Passwords are stored as Argon2id hashes, in a file only its owner can read. The running app reads the
    file again when it changes: a user added now can log in at once.
    """


@users.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May add and remove documents (and choose a model file).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input "
              "(scripts) instead of asking for it twice.")
@users_file_opt
def add(name: str, admin: bool, password_stdin: bool, path: Path | None) -> None:
    """Add user NAME, or change their password and role. The password is asked for, never given as an argument
    (it would stay in the shell's history and the process list)."""
    from gdpr_assistant.interfaces.ui.auth import UsersFileError, add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    target = _path(path)
    try:
        user = add_user(target, name, password, admin)
    except UsersFileError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(2)
    click.echo(f"{user.name} ({user.role}) saved in {target}.")


@users.command("list")
@users_file_opt
def list_users(path: Path | None) -> None:
    """The users and their roles (never their password hashes)."""
    from gdpr_assistant.interfaces.ui.auth import UsersFileError, load_users

    try:
        found = load_users(_path(path))
    except UsersFileError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(2)
    for user in sorted(found.values(), key=lambda u: u.name):
        note = "" if user.password_hash else "  (no password: proxy logins only)"
        click.echo(f"{user.name}\t{user.role}{note}")


@users.command("remove")
@click.argument("name")
@users_file_opt
def remove(name: str, path: Path | None) -> None:
    """Remove user NAME (a session already open ends when its login expires or the app restarts)."""
    from gdpr_assistant.interfaces.ui.auth import UsersFileError, load_users, save_users

    target = _path(path)
    try:
        found = load_users(target)
        if name not in found:
            raise UsersFileError(f"no user {name!r} in {target}.")
        del found[name]
        save_users(target, found)
    except UsersFileError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(2)
    click.echo(f"{name} removed from {target}.")
