"""`ask serve --shared`: the shared deployment on one machine, to try it (README, "Shared deployment").

Starts a Chroma server and a llama.cpp server (llama-cpp-python's, with the packaged model) on 127.0.0.1, then
the web UI using both, exactly as a team's instance would use servers on other machines. Ctrl-C or SIGTERM stops
the app, then the servers (SIGTERM, then SIGKILL after 10 s), so their ports are free again; the servers are
also told to end with this process if it is killed outright (Linux).

Run as ``python -m gdpr_assistant.interfaces.serve --llama-server …``, the module is the llama.cpp server itself,
with the weight-repacking decision of the in-process backend (models/llama.py: repacking crashes on AMX CPUs).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click
import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Child:
    """A server process of ours: started with its output in a log file, stopped for sure."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            # Its own session: a Ctrl-C in the terminal reaches this process only, which stops the app first.
            self.proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, env=env,
                                         preexec_fn=_die_with_parent if sys.platform == "linux" else None)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def wait_ready(child: Child, url: str, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail early, with the log's end, if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise click.ClickException(f"the {child.name} server stopped (exit {child.proc.returncode}); the end of "
                                       f"its log {child.log}:\n{child.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.5)
    raise click.ClickException(f"the {child.name} server did not answer at {url} within {timeout:.0f} s; see "
                               f"{child.log}")


def chroma_command(data: Path, port: int) -> list[str]:
    script = Path(sys.executable).parent / "chroma"
    return [str(script) if script.exists() else "chroma", "run", "--path", str(data), "--host", "127.0.0.1",
            "--port", str(port)]


def llama_server_command(model: Path, alias: str, port: int, n_ctx: int, n_threads: int,
                         repack: bool | None = None) -> list[str]:
    """llama-cpp-python's OpenAI-compatible server for one GGUF file, run through this module (repacking)."""
    flag = [] if repack is None else ["--repack", "on" if repack else "off"]
    return [sys.executable, "-m", "gdpr_assistant.interfaces.serve", "--llama-server", *flag, "--model", str(model),
            "--model_alias", alias, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
            "--n_threads", str(n_threads)]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.command("serve")
@click.option("--shared", is_flag=True, required=True, help="Start the shared deployment on this machine: a Chroma "
              "server, a llama.cpp server and the web UI using both (the only mode for now).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port of the web UI. Default: the first free one from "
              "7860.")
@click.option("--model", "llm", help="Model for the llama.cpp server: default (Qwen2.5 1.5B), fast (0.5B) or a .gguf.")
@click.option("--fast", is_flag=True, default=None, help="Serve the small model (0.5B).")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=Path("shared-index"),
              show_default=True, help="Folder where the Chroma server keeps the shared index.")
@click.option("--users", "users_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Logins from this users file (`ask users add NAME --admin`). Default: $ASK_USERS_FILE.")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), help="Folder of documents of this instance.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default web browser.")
def serve(shared: bool, port: int | None, llm: str | None, fast: bool | None, data: Path, users_file: Path | None,
          corpus_dir: Path | None, open_browser: bool) -> None:
    """Try the team deployment on one machine: every part is a separate server on 127.0.0.1.

    \b
      ask users add alice --admin --file users.toml
      ask serve --shared --fast --users users.toml

    Ctrl-C stops the app and both servers. For a real team, run the servers where they belong (README,
    "Shared deployment") and point the app at them with ASK_CHROMA_URL and ASK_LLM_URL.
    """
    from gdpr_assistant import offline
    from gdpr_assistant.models.packaged import resolve_model
    from gdpr_assistant.models.registry import model_name
    from gdpr_assistant.settings import build_settings

    settings = build_settings(fast=fast, llm=llm, corpus_dir=corpus_dir, users_file=users_file)
    say: Callable[[str], None] = lambda message: click.secho(message, err=True)  # noqa: E731
    model = resolve_model(settings.models.llm, settings.models.cache_dir)
    repack = {"on": True, "off": False}.get(settings.models.llama_repack)
    logs = data.resolve() / "logs"
    children: list[Child] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    try:
        chroma_port, llm_port = free_port(), free_port()
        say(f"Chroma server on 127.0.0.1:{chroma_port} (data in {data}, log {logs / 'chroma.log'})…")
        children.append(Child("Chroma", chroma_command(data.resolve() / "chroma", chroma_port), logs / "chroma.log"))
        alias = model_name(settings.models.llm)
        say(f"llama.cpp server on 127.0.0.1:{llm_port} ({alias}, log {logs / 'llm.log'})…")
        children.append(Child("llama.cpp", llama_server_command(model, alias, llm_port, settings.models.n_ctx,
                                                                 settings.models.n_threads, repack), logs / "llm.log"))
        wait_ready(children[0], f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", 60)
        wait_ready(children[1], f"http://127.0.0.1:{llm_port}/v1/models", 180)
        settings = settings.replace(chroma_url=f"http://127.0.0.1:{chroma_port}",
                                    llm_url=f"http://127.0.0.1:{llm_port}/v1", llm_model=alias)
        offline.protect(settings.privacy.allowed_hosts)
        from gdpr_assistant.interfaces.app import serve as serve_app

        serve_app(settings, "127.0.0.1", port, open_browser)
    except KeyboardInterrupt:
        say("Arrêt.")
    finally:
        for child in reversed(children):
            say(f"Stopping the {child.name} server…")
            child.stop()


def _llama_server_main(argv: list[str]) -> None:
    """llama-cpp-python's server, with weight repacking decided as for the in-process backend."""
    from gdpr_assistant.models.llama import _extra_buffers, repack_default

    repack: bool | None = None
    if "--repack" in argv:
        i = argv.index("--repack")
        repack = argv[i + 1] == "on"
        del argv[i:i + 2]
    from llama_cpp.server.__main__ import main as server_main

    sys.argv = ["llama_cpp.server", *argv]
    with _extra_buffers(repack_default() if repack is None else repack):
        server_main()


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--llama-server":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    _llama_server_main(sys.argv[2:])
