"""Load on the shared stack: simulated users asking dev questions at once, through the web UI's API.

Starts, on 127.0.0.1 only, a Chroma server, a llama.cpp server (llama-cpp-python's, the packaged `fast` model:
the CPU is shared, 2 cores) and the app (`python app.py` with logins), then for each level of 4, 8, 16 users
has every user log in (`gradio_client`, its own account) and ask its questions from shared/eval/dev.jsonl,
recording per question: the time from submitting to the answer (latency) and to Gradio starting to process it
(queue wait; the page shows a waiting user their place), errors, and what came back (answer, quote, refusal).

During the first level an admin adds a document (an index update in the middle of the load): every question
must still be answered without error (a reader that saw a mix of generations fails its question), and the new
document must be found afterwards. Then the model server is killed in the middle of an answer: the question must
fail with a message naming the server, and once the server is back the next question is answered, without
restarting the app. Every server is stopped at the end.

    .venv/bin/python bench/bench_load.py --users 4 --out bench/results/load.json
    .venv/bin/python bench/bench_load.py --users 4,8,16 --questions 2 --out bench/results/load.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gdpr_assistant  # noqa: F401  (offline switches first)
from gdpr_assistant.interfaces.serve import Child, chroma_command, free_port, llama_server_command, wait_ready
from gdpr_assistant.interfaces.ui.auth import add_user
from gdpr_assistant.models.llama import cpu_summary
from gdpr_assistant.models.packaged import resolve_model
from gdpr_assistant.settings import ModelSettings

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "eval" / "dev.jsonl"
PASSWORD = "bench-password"
NEW_DOC = ("# Registre Zorblax\n\nLe projet Zorblax conserve les journaux d'entraînement pendant dix-sept mois, puis "
           "les supprime.\n")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def ask_one(client: Any, question: str) -> dict[str, Any]:
    """One question through `/ask`, its latency and its queue wait (until Gradio starts processing it)."""
    from gradio_client.utils import Status

    t0 = time.perf_counter()
    job = client.submit(question, [], "", 0, "auto", api_name="/ask")
    started: float | None = None
    positions: list[int] = []
    while not job.done():
        status = job.status()
        if status.code == Status.IN_QUEUE and status.rank is not None:
            positions.append(int(status.rank))
        if started is None and status.code in (Status.PROCESSING, Status.ITERATING, Status.PROGRESS):
            started = time.perf_counter()
        time.sleep(0.05)
    try:
        _, answer = job.result()
    except Exception as exc:  # the user sees this error; the bench counts it
        return {"error": f"{exc.__class__.__name__}: {exc}"[:300], "latency_s": time.perf_counter() - t0}
    end = time.perf_counter()
    return {"latency_s": end - t0, "queue_wait_s": (started or end) - t0,
            "max_queue_position": max(positions) if positions else 0,
            "kind": "refused" if answer.get("refused") else answer.get("kind", "answer")}


def run_level(url: str, users: int, questions: list[str], per_user: int,
              during: Any = None) -> dict[str, Any]:
    from gradio_client import Client

    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    clients = [Client(url, verbose=False, auth=(f"user{i:02d}", PASSWORD)) for i in range(users)]

    def user(i: int) -> None:
        for j in range(per_user):
            got = ask_one(clients[i], questions[(i * per_user + j) % len(questions)])
            with lock:
                results.append(got)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    extra = during() if during else None
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = [r for r in results if "error" not in r]
    kinds: dict[str, int] = {}
    for r in ok:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    level = {"users": users, "questions": len(results), "answered": len(ok), "errors": [r["error"] for r in results
                                                                                        if "error" in r],
             "latency_p50_s": percentile([r["latency_s"] for r in ok], 0.5),
             "latency_p90_s": percentile([r["latency_s"] for r in ok], 0.9),
             "queue_wait_p50_s": percentile([r["queue_wait_s"] for r in ok], 0.5),
             "queue_wait_p90_s": percentile([r["queue_wait_s"] for r in ok], 0.9),
             "max_queue_position": max((r["max_queue_position"] for r in ok), default=0),
             "throughput_per_min": round(60 * len(ok) / wall, 2), "wall_s": round(wall, 1), "kinds": kinds}
    if extra is not None:
        level["update_during_load"] = extra
    return level


def update_during_load(url: str, root: Path) -> Any:
    """An admin adds a document a few seconds into the load, while the users' questions run."""
    from gradio_client import Client, handle_file

    def go() -> dict[str, Any]:
        time.sleep(5)
        doc = root / "registre-zorblax.md"
        doc.write_text(NEW_DOC, encoding="utf-8")
        admin = Client(url, verbose=False, auth=("admin", PASSWORD))
        t0 = time.perf_counter()
        status, *_ = admin.predict([handle_file(doc)], api_name="/upload")
        seconds = time.perf_counter() - t0
        hits = admin.predict("Zorblax journaux dix-sept mois", 1, api_name="/search")
        return {"status": status.splitlines()[0][:200], "seconds": round(seconds, 1),
                "found_after": bool(hits) and hits[0]["doc"] == "registre-zorblax.md"}

    return go


def kill_model_server_mid_answer(url: str, llm: Child, restart: Any, llm_url: str) -> dict[str, Any]:
    """Kill the model server while a question is being answered; the question fails clearly; after a restart of
    the server (same port), the next question is answered by the same app."""
    from gradio_client import Client
    from gradio_client.utils import Status

    client = Client(url, verbose=False, auth=("user00", PASSWORD))
    job = client.submit("Quelles qualités le consentement doit-il réunir ?", [], "", 0, "auto", api_name="/ask")
    while job.status().code not in (Status.PROCESSING, Status.ITERATING, Status.FINISHED):
        time.sleep(0.05)
    time.sleep(1.0)  # the app is now retrieving or waiting on the model server
    os.killpg(llm.proc.pid, signal.SIGKILL)
    llm.proc.wait(10)
    t0 = time.perf_counter()
    try:
        job.result()
        failed = ""
    except Exception as exc:
        failed = str(exc)
    error_s = time.perf_counter() - t0
    new_llm = restart()
    wait_ready(new_llm, f"{llm_url}/models", 300)
    t1 = time.perf_counter()
    after = ask_one(client, "Quelles qualités le consentement doit-il réunir ?")
    return {"error_message": failed[:400], "error_after_kill_s": round(error_s, 2),
            "names_the_server": llm_url in failed, "answered_after_restart": "error" not in after,
            "after_restart": after, "recovery_question_s": round(time.perf_counter() - t1, 1), "llm": new_llm}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="4", help="comma-separated levels of concurrent users (4,8,16)")
    parser.add_argument("--questions", type=int, default=2, help="questions per user at each level")
    parser.add_argument("--model", default="fast")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "load.json")
    parser.add_argument("--no-kill", action="store_true", help="skip the model-server kill test")
    args = parser.parse_args()
    levels = [int(n) for n in args.users.split(",")]
    questions = [json.loads(line)["question"] for line in DEV.read_text(encoding="utf-8").splitlines() if line]

    root = Path(tempfile.mkdtemp(prefix="bench-load-"))
    shutil.copytree(REPO / "corpus", root / "corpus")
    users_file = root / "users.toml"
    add_user(users_file, "admin", PASSWORD, admin=True)
    for i in range(max(levels)):
        add_user(users_file, f"user{i:02d}", PASSWORD, admin=False)
    model = resolve_model(args.model, ModelSettings().cache_dir)
    threads = ModelSettings().n_threads
    chroma_port, llm_port, app_port = free_port(), free_port(), free_port()
    llm_url = f"http://127.0.0.1:{llm_port}/v1"
    children: list[Child] = []

    def start_llm() -> Child:
        child = Child("llama.cpp", llama_server_command(model, args.model, llm_port, 4096, threads), root / "llm.log")
        children.append(child)
        return child

    out: dict[str, Any] = {"machine": cpu_summary(), "cores": os.cpu_count(), "model": args.model,
                           "model_server": "llama-cpp-python 0.3.36 server (one request at a time)",
                           "questions_from": "shared/eval/dev.jsonl", "levels": []}
    try:
        children.append(Child("Chroma", chroma_command(root / "chroma", chroma_port), root / "chroma.log"))
        llm = start_llm()
        wait_ready(children[0], f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", 60)
        wait_ready(llm, f"{llm_url}/models", 300)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASK_")}
        env.update(ASK_CHROMA_URL=f"http://127.0.0.1:{chroma_port}", ASK_LLM_URL=llm_url, ASK_LLM_MODEL=args.model,
                   ASK_USERS_FILE=str(users_file), ASK_CORPUS_DIR=str(root / "corpus"),
                   ASK_INDEX_DIR=str(root / "index"))
        t0 = time.perf_counter()
        app = Child("app", [sys.executable, str(REPO / "app.py"), "--port", str(app_port)], root / "app.log", env)
        children.append(app)
        url = f"http://127.0.0.1:{app_port}/"
        wait_ready(app, url, 1800)
        out["app_ready_s"] = round(time.perf_counter() - t0, 1)  # includes indexing the corpus on the server
        for n, users in enumerate(levels):
            during = update_during_load(url, root) if n == 0 else None
            level = run_level(url, users, questions, args.questions, during)
            print(json.dumps(level, ensure_ascii=False), flush=True)
            out["levels"].append(level)
        if not args.no_kill:
            killed = kill_model_server_mid_answer(url, llm, start_llm, llm_url)
            killed.pop("llm")
            out["model_server_killed"] = killed
            print(json.dumps(killed, ensure_ascii=False), flush=True)
        log = (root / "app.log").read_text(encoding="utf-8", errors="replace")
        out["app_log_tracebacks"] = log.count("Traceback")
        out["app_log_lines_with_a_question"] = sum(q[:40] in log for q in questions)
    finally:
        for child in reversed(children):
            child.stop()
        shutil.rmtree(root, ignore_errors=True)
    out["latency_p50_all_s"] = statistics.median([lv["latency_p50_s"] for lv in out["levels"]
                                                  if lv["latency_p50_s"] is not None] or [0])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
