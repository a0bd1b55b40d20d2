"""Markdown marks, and text without them: what quotes show and the judge reads."""

from __future__ import annotations

import re

# Markdown markup: emphasis, heading marks, horizontal rules. The judge reads the quote as prose, and the
# markup made it say no more readily: read without it, every dev excerpt that had some was judged 0.04 to
# 0.56 nats more likely to answer, and no unanswerable item's excerpt came near the threshold (docs/answer-eval.md).
_EMPHASIS = re.compile(r"\*+")
_BLOCK_MARKS = re.compile(r"(?<!\S)(?:#{1,6}|-{3,})(?!\S)")


def plain(text: str) -> str:
    """The words of ``text`` without Markdown markup, whitespace collapsed: what a quote shows."""
    return " ".join(_BLOCK_MARKS.sub(" ", _EMPHASIS.sub("", text)).split())
