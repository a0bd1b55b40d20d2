"""A passage as the sources panel shows it: its Markdown rendered (headings, lists, emphasis), the span the
answer quotes in ``<mark>``.

The quote is found in the passage's source text, where the verifier found it, then carried through the
rendering by two sentinel characters; the rendered HTML gets the ``<mark>`` elements where they ended up.
Matching on the source keeps the tolerance the verifier has (collapsed line breaks, dropped ``**`` and ``#``)
without having to map rendered text back to its source.

Documents are data, not page markup: raw HTML in a passage is shown escaped, and images, links and
autolinks stay text, so a document can neither inject script nor make the page fetch anything.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

# Unicode noncharacters, reserved for a program's internal use: no document should hold them, and any that
# does has them removed before they are inserted.
_START, _END = "\ufdd0", "\ufdd1"

# "breaks": a passage's line breaks are shown, as they were when the panel printed the text verbatim (PDF
# lines, slide bullets). "code" off: indented PDF lines are prose, not code blocks. "reference" off: with
# links off, a link definition would only vanish from the text.
_MARKDOWN = (MarkdownIt("commonmark", {"html": False, "breaks": True})
             .enable(["table", "strikethrough"])
             .disable(["code", "image", "link", "autolink", "reference", "html_block", "html_inline"]))

# What may separate two quoted words in the passage: whitespace, and the Markdown marks plain() dropped.
_GAP = r"(?:[\s*#]|-{3,})+"
# Block marks at the start of a line (heading, bullet, number, quote): a sentinel before them would turn the
# line into a plain paragraph, so the mark starts after them.
_BLOCK_START = re.compile(r"(?:(?:#{1,6}|[-*+>]|\d{1,9}[.)])[ \t]+)+")
_RUNS = re.compile(r"\w+|[^\w\s]+")
_TAG = re.compile(r"(<[^>]*>)")
_SENTINEL = re.compile(f"([{_START}{_END}])")


def quoted_span(passage: str, quote: str) -> tuple[int, int] | None:
    """Where ``quote`` lies in ``passage``: the passage's own words, maybe cut with …, maybe with its line
    breaks collapsed and Markdown marks dropped (text.markup.plain). None if it is not there."""
    words = quote.strip().strip("…").split()
    found = re.search(_GAP.join(_word(w) for w in words), passage) if words else None
    if found is None:
        return None
    at, end = found.span()
    if not passage[passage.rfind("\n", 0, at) + 1:at].strip():
        lead = _BLOCK_START.match(passage, at, end)
        if lead is not None and lead.end() < end:
            at = lead.end()
    return at, end


def _word(word: str) -> str:
    """A quoted word as it may be written in the passage: emphasis marks may sit between its letters and its
    punctuation ("**libre**," quoted "libre,")."""
    return r"\**".join(re.escape(run) for run in _RUNS.findall(word))


def render_passage(passage: str) -> str:
    """The passage's Markdown as HTML, every character of the document escaped."""
    return _MARKDOWN.render(passage.strip())


def marked_passage(passage: str, quote: str) -> str:
    """The passage rendered as HTML, with the quoted span in ``<mark>`` (no mark if the quote is not found)."""
    passage = passage.replace(_START, "").replace(_END, "").strip()
    span = quoted_span(passage, quote) if quote else None
    if span is None:
        return render_passage(passage)
    at, end = span
    return _marks(render_passage(passage[:at] + _START + passage[at:end] + _END + passage[end:]))


def _marks(rendered: str) -> str:
    """Replace the sentinels by ``<mark>`` elements. A span may cross paragraphs, list items and emphasis,
    and a ``<mark>`` must not straddle an element: each run of text between two tags gets its own."""
    out: list[str] = []
    inside = False
    for piece in _TAG.split(rendered):
        if piece.startswith("<"):
            # A sentinel inside a tag (an attribute value) only says where the span starts or ends.
            inside = (inside or _START in piece) and _END not in piece
            out.append(piece.replace(_START, "").replace(_END, ""))
            continue
        for part in _SENTINEL.split(piece):
            if part in (_START, _END):
                inside = part == _START
            elif inside and part.strip("\n"):  # newlines alone are the gaps between blocks: left unmarked
                out.append(f"<mark>{part}</mark>")
            else:
                out.append(part)
    return "".join(out)
