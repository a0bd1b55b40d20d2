"""The freshness check of every question (Index.pending): from its second check on, a process watches the corpus
folder (Linux inotify) and walks it again only after a change, which is seen at the very next check."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable

import pytest
from conftest import Built

from gdpr_assistant.index import plan
from gdpr_assistant.index.embedding import Embedder
from gdpr_assistant.index.store import Index

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux's")

NOTE = "# Note interne\n\nLe registre des traitements du service Quokka est revu chaque trimestre par le délégué.\n"


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the corpus folder is walked (one entry per walk)."""
    count: list[int] = []
    real: Callable = plan.scan_corpus  # type: ignore[type-arg]

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        count.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(plan, "scan_corpus", counting)
    return count


def checked(index: Index, walks: list[int]) -> tuple[bool, int]:
    """(whether an update is pending, how many walks that check made)."""
    before = len(walks)
    return index.pending() is not None, len(walks) - before


def test_no_walk_while_nothing_changes_and_every_change_is_seen_at_once(built_copy: Built, e5: Embedder,
                                                                         walks: list[int]) -> None:
    index = Index(built_copy.settings, e5)
    corpus = built_copy.corpus_dir
    assert checked(index, walks) == (False, 1)
    assert checked(index, walks) == (False, 1)  # the second check opens the watch and walks once more
    assert checked(index, walks) == (False, 0)
    assert checked(index, walks) == (False, 0)

    (corpus / "note.md").write_text(NOTE, encoding="utf-8")  # no wait: the kernel queued it before this returned
    assert checked(index, walks) == (True, 1)
    assert checked(index, walks) == (True, 0)
    (corpus / "note.md").unlink()
    assert checked(index, walks) == (False, 1)

    doc = next(p for p in corpus.iterdir() if p.suffix == ".md")
    st = doc.stat()
    os.utime(doc, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: its date no longer the indexed one
    assert checked(index, walks) == (True, 1)
    os.utime(doc, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert checked(index, walks) == (False, 1)

    (corpus / "annexes").mkdir()
    assert checked(index, walks) == (False, 1)
    (corpus / "annexes" / "note.md").write_text(NOTE, encoding="utf-8")  # in a folder created after the watch
    assert checked(index, walks) == (True, 1)

    index.update()  # a new generation: checked again, whatever the watch says
    assert checked(index, walks) == (False, 1)
    assert checked(index, walks) == (False, 0)


def test_a_corpus_folder_replaced_under_the_same_name_is_seen(built_copy: Built, e5: Embedder,
                                                              walks: list[int]) -> None:
    index = Index(built_copy.settings, e5)
    corpus = built_copy.corpus_dir
    assert [checked(index, walks) for _ in range(3)] == [(False, 1), (False, 1), (False, 0)]
    shutil.move(corpus, corpus.with_name("ancien"))
    assert checked(index, walks) == (False, 1)  # no folder: nothing to index (the search says so)
    corpus.mkdir()  # a new folder under the old name, which no watch covers
    (corpus / "note.md").write_text(NOTE, encoding="utf-8")
    assert checked(index, walks) == (True, 1)


def test_without_the_watch_every_check_walks_the_folder(built_copy: Built, e5: Embedder, walks: list[int]) -> None:
    index = Index(built_copy.settings.replace(watch_corpus=False), e5)
    assert [checked(index, walks) for _ in range(3)] == [(False, 1)] * 3
