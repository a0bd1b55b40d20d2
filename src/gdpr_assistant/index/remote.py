"""The index on a Chroma server (``ASK_CHROMA_URL``): its manifest and its writer's lease live with the data.

What ``index/manifest.json`` and ``index/.lock`` do on one disk, done with Chroma's own operations, since
clients on other machines must see them:

* **Manifest**: a collection ``<ns>.manifest`` holding one record per committed generation (the last two are
  kept); the live manifest is the record of the highest generation. Committing generation N is one ``add`` of
  the record ``g<N>``: Chroma ignores an ``add`` whose id exists (checked on chromadb 1.5.9's server), so
  when two writers race for the same N only the first lands; each reads the record back and the loser, who
  finds another writer's token in it, gives up. That is the only compare-and-set Chroma offers on records.
* **Lease** (one writer at a time across machines): a collection ``<ns>.writer-lease`` whose metadata names its
  owner and expiry. Creating a collection whose name exists fails on the server (a unique constraint of its
  catalogue), so taking a free lease is atomic. An expired lease (its owner crashed) is taken over by
  renaming *that* collection, by its id, out of the way, then creating a new one: two processes taking over
  at once both rename the same old collection, and only one of them creates the new lease. Expiry is read on
  the server's clock (its heartbeat), so clocks of the clients do not matter. The holder renews it every
  third of its duration and checks it still holds it before committing.

What remains: a holder paused longer than the lease (a suspended VM) may resume after another writer took
over. Its commit is then refused (lease check, then the generation compare-and-set), but until then its
clean-up could drop the new writer's half-built collection, which fails that build (no reader sees a mix:
readers only follow committed manifests). A retry fixes it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

from gdpr_assistant.settings import Settings

log = logging.getLogger(__name__)

KEEP_RECORDS = 2  # the live manifest and the one before it (a reader may still be on its collection)


class RemoteUnavailable(Exception):
    """The Chroma server cannot be reached (wrapped into the index's user errors by the caller)."""


def _server_now(client: Any) -> float:
    """The Chroma server's clock, in seconds: every lease time is read on it."""
    return float(client.heartbeat()) / 1e9


class RemoteStore:
    def __init__(self, settings: Settings) -> None:
        shared = settings.shared
        assert shared.chroma_url
        self.url = shared.chroma_url.rstrip("/")
        self.ns = shared.chroma_namespace
        self.lease_seconds = max(5.0, shared.chroma_lease_seconds)
        # Who writes: this process of this machine, and its corpus folder (each app instance indexes its own).
        self.source = f"{socket.gethostname()}:{settings.corpus.corpus_dir}"
        self._client: Any = None

    # -- connection ---------------------------------------------------------------------------------------------
    def client(self) -> Any:
        if self._client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            parts = urlsplit(self.url if "//" in self.url else f"http://{self.url}")
            try:
                self._client = chromadb.HttpClient(
                    host=parts.hostname or "127.0.0.1", port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https", settings=ChromaSettings(anonymized_telemetry=False))
                self._client.heartbeat()
            except Exception as exc:  # chromadb raises ValueError or httpx errors when nothing answers
                self._client = None
                raise RemoteUnavailable(self.unreachable(exc)) from exc
        return self._client

    def unreachable(self, exc: BaseException) -> str:
        return (f"The Chroma server at {self.url} cannot be reached ({exc.__class__.__name__}). Start it (`chroma "
                f"run --path DIR --host 127.0.0.1 --port 8000`), or set ASK_CHROMA_URL to where it runs.")

    def name(self, suffix: str) -> str:
        return f"{self.ns}.{suffix}"

    def generation_name(self, generation: int) -> str:
        """Unique per build: a build killed half-way leaves an orphan that never collides with the next one."""
        return self.name(f"g{generation:06d}.{uuid.uuid4().hex[:8]}")

    def owned(self, name: str) -> bool:
        """A passages collection of this index (never another application's collection on a shared server)."""
        return name.startswith(self.name("g")) or name.startswith(self.name("lease-"))

    def _manifests(self) -> Any:
        return self.client().get_or_create_collection(self.name("manifest"), embedding_function=None,
                                                      metadata={"gdpr-assistant": "manifest"})

    # -- manifest ------------------------------------------------------------------------------------------------
    def records(self) -> list[tuple[int, str, dict[str, Any]]]:
        """(generation, writer token, manifest) of each kept record, newest first."""
        import httpx

        try:
            got = self._manifests().get(include=["documents", "metadatas"])
        except httpx.TransportError as exc:  # the server went away since the client connected
            raise RemoteUnavailable(self.unreachable(exc)) from exc
        out = []
        for doc, meta in zip(got["documents"] or [], got["metadatas"] or [], strict=True):
            out.append((int(meta["generation"]), str(meta.get("writer", "")), json.loads(doc)))
        return sorted(out, key=lambda r: r[0], reverse=True)

    def read_manifest(self) -> dict[str, Any] | None:
        records = self.records()
        return records[0][2] if records else None

    def commit(self, manifest: dict[str, Any], lease: Lease) -> bool:
        """Make ``manifest`` live: one ``add`` of its generation's record, which only the first writer of that
        generation gets in. False when another writer's record is there (nothing was changed)."""
        generation = int(manifest["generation"])
        lease.check()
        col = self._manifests()
        record = f"g{generation:09d}"
        col.add(ids=[record], embeddings=[[1.0]], documents=[json.dumps(manifest, ensure_ascii=False)],
                metadatas=[{"generation": generation, "writer": lease.token}])
        got = col.get(ids=[record], include=["metadatas"])
        if not got["metadatas"] or got["metadatas"][0].get("writer") != lease.token:
            return False
        stale = [f"g{g:09d}" for g, _, _ in self.records()[KEEP_RECORDS:]]
        if stale:
            col.delete(ids=stale)
        return True

    def kept_collections(self) -> set[str]:
        """The collections the kept manifests name: never dropped (readers may be on them)."""
        return {str(m.get("collection")) for _, _, m in self.records()}

    def lease(self) -> Lease:
        return Lease(self)


class LeaseBusy(Exception):
    """Another writer holds the lease (the message says who and until when)."""


class LeaseLost(Exception):
    """This writer's lease expired or was taken over: its work must not be committed."""


class Lease:
    """The one-writer-at-a-time lease (module docstring). Use as a context manager around an update."""

    def __init__(self, store: RemoteStore) -> None:
        self.store = store
        self.name = store.name("writer-lease")
        self.token = uuid.uuid4().hex
        self._id: Any = None
        self._lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _metadata(self, now: float) -> dict[str, Any]:
        return {"owner": self.token, "host": socket.gethostname(), "pid": os.getpid(),
                "source": self.store.source, "expires": now + self.store.lease_seconds}

    def acquire(self) -> None:
        from chromadb.errors import ChromaError, NotFoundError

        client = self.store.client()
        for _ in range(2):
            try:
                self._id = client.create_collection(self.name, metadata=self._metadata(_server_now(client)),
                                                    embedding_function=None).id
                break
            except ChromaError as exc:
                if "already exists" not in str(exc) and exc.__class__.__name__ != "UniqueConstraintError":
                    raise
            try:
                held = client.get_collection(self.name, embedding_function=None)
            except NotFoundError:
                continue  # released meanwhile: try again
            meta = held.metadata or {}
            now = _server_now(client)
            if float(meta.get("expires", 0)) > now:
                raise LeaseBusy(f"{meta.get('host', '?')} (process {meta.get('pid', '?')}, corpus "
                                f"{meta.get('source', '?')}) is updating the shared index; its lease runs "
                                f"{float(meta.get('expires', now)) - now:.0f} s more")
            # Expired: its holder died. Rename that very collection (by id) away; whoever renames it second
            # renames the old one again, harmlessly, and then loses the race to create the new lease.
            log.warning("Taking over the expired index lease of %s (process %s).", meta.get("host"), meta.get("pid"))
            self._discard(held)
        else:
            raise LeaseBusy("another process took the expired lease of the shared index first")
        self._renewer = threading.Thread(target=self._renew, name="index-lease", daemon=True)
        self._renewer.start()

    def _discard(self, collection: Any) -> None:
        """Rename a lease collection by id to a unique name, then delete it: never touches a newer lease."""
        from chromadb.errors import ChromaError

        tomb = self.store.name(f"lease-{uuid.uuid4().hex[:12]}")
        try:
            collection.modify(name=tomb)
            self.store.client().delete_collection(tomb)
        except ChromaError as exc:
            log.info("Lease clean-up: %s", exc)

    def _current(self) -> Any:
        from chromadb.errors import NotFoundError

        try:
            held = self.store.client().get_collection(self.name, embedding_function=None)
        except NotFoundError:
            return None
        return held if held.id == self._id else None

    def _renew(self) -> None:
        while not self._stop.wait(self.store.lease_seconds / 3):
            try:
                held = self._current()
                if held is None:
                    self._lost = True
                    log.error("The shared index lease was taken over; this update will not be committed.")
                    return
                held.modify(metadata=self._metadata(_server_now(self.store.client())))
            except Exception as exc:  # the server unreachable for a moment: the next renewal may succeed
                log.warning("Could not renew the shared index lease (%s).", exc.__class__.__name__)

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless this writer still holds the lease, with time left to commit."""
        held = None if self._lost else self._current()
        if held is None:
            raise LeaseLost("this writer's lease on the shared index was lost (expired or taken over)")
        if float((held.metadata or {}).get("expires", 0)) - _server_now(self.store.client()) < 1.0:
            raise LeaseLost("this writer's lease on the shared index is about to expire")

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        try:
            held = self._current()
            if held is not None:
                self._discard(held)
        except Exception as exc:  # unreachable server: the lease expires by itself
            log.warning("Could not release the shared index lease (%s); it expires in %.0f s.",
                        exc.__class__.__name__, self.store.lease_seconds)

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
