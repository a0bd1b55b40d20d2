"""Whether the corpus folder changed, without walking it: the kernel's change notifications (Linux inotify,
through ``inotify_simple``).

Every question checks that the index is in step with the corpus folder (:meth:`Index.pending`). Walking the folder
and reading each file's size and date costs 25–35 ms at 2,800 files and grows with the corpus; with a watch, a
question reads the notifications queued since the last walk, and walks again only when there are some. The kernel
queues a notification before the call that changed the file returns, so a question asked right after a save sees
it: there is no delay to wait for, unlike a watcher thread's.

Where there is no inotify (macOS, Windows) or it cannot be set (the user's watch limit reached, a folder that
vanished), :func:`open_watch` gives None and every question walks the folder as before.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

try:  # Linux only; elsewhere the folder is walked at each question
    from inotify_simple import INotify
    from inotify_simple import flags as _flags

    _MASK = (_flags.CREATE | _flags.DELETE | _flags.MODIFY | _flags.CLOSE_WRITE | _flags.ATTRIB | _flags.MOVED_FROM
             | _flags.MOVED_TO | _flags.DELETE_SELF | _flags.MOVE_SELF)
except (ImportError, OSError):  # pragma: no cover - inotify_simple imports libc at import time
    INotify = None  # type: ignore[assignment,misc]
    _MASK = 0


class CorpusWatch:
    """Notifications for a folder and its subfolders. :meth:`arm` before each walk; :meth:`quiet` after it tells
    whether anything changed since."""

    def __init__(self, folder: Path) -> None:
        assert INotify is not None
        self.folder = folder
        self._inotify = INotify(nonblocking=True)
        self._identity: tuple[int, int] | None = None
        self._changed = True

    def arm(self) -> None:
        """Drop the notifications queued so far and watch every subfolder (new ones too; watching one again is a
        no-op): called right before the folder is walked, so that a change made during the walk shows at the next
        :meth:`quiet`."""
        self._drain()
        self._identity = self._folder_identity()
        for folder in self._folders():
            self._inotify.add_watch(folder, _MASK)
        self._changed = False

    def quiet(self) -> bool:
        """True when nothing in the folder changed since :meth:`arm` (a full queue counts as a change, and so does
        the folder itself removed or replaced: a new folder under the same name has no watch)."""
        if self._drain() or self._folder_identity() != self._identity:
            self._changed = True
        return not self._changed

    def _drain(self) -> bool:
        got = False
        while self._inotify.read(timeout=0):
            got = True
        return got

    def _folder_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.folder)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _folders(self) -> list[str]:
        """The folders the corpus scan reads: hidden ones left out, linked ones followed (each once)."""
        out: list[str] = []
        seen: set[tuple[int, int]] = set()
        for root, dirs, _ in os.walk(self.folder, followlinks=True):
            try:
                st = os.stat(root)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:  # a link back up the tree
                dirs[:] = []
                continue
            seen.add((st.st_dev, st.st_ino))
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            out.append(root)
        return out


def open_watch(folder: Path) -> CorpusWatch | None:
    """A watch on ``folder``, or None where notifications are not available (then the folder is walked)."""
    if INotify is None or not folder.is_dir():
        return None
    try:
        watch = CorpusWatch(folder)
        watch.arm()
    except OSError as exc:  # the per-user limit of watches or instances; a folder removed meanwhile
        log.info("Corpus folder not watched (%s): it is checked at each question instead.", exc)
        return None
    return watch
