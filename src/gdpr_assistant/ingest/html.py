"""Saved web pages as Markdown: the main text only, with its headings, lists and labelled tables.

trafilatura finds the main content (menus, footers, cookie banners and "read also" boxes left out) and
gives it as a small XML tree (head/p/list/table); we write that tree as Markdown ourselves so that tables
keep their column labels on every row.
"""

from __future__ import annotations

import logging
from typing import Any

from gdpr_assistant.ingest.base import (
    CorpusError,
    heading_line,
    join_blocks,
    list_item,
    paragraph_text,
    table_lines,
    usable_title,
)

# trafilatura logs its own fallbacks ("not enough text", "discarding data"): our message is what counts.
logging.getLogger("trafilatura").setLevel(logging.ERROR)
logging.getLogger("htmldate").setLevel(logging.ERROR)


def _inline(element: Any) -> str:
    """Text of an element, a <lb/> as a line break; nested lists or tables are rendered by their parent."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == "lb":
            parts.append("\n")
        elif child.tag not in ("list", "table", "graphic"):
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _list(element: Any, depth: int, lines: list[str]) -> None:
    for item in element.iter("item"):
        if item.getparent() is not element:
            continue  # items of nested lists come with their own list
        line = list_item(_inline(item), depth)
        if line:
            lines.append(line)
        for sub in item:
            if sub.tag == "list":
                _list(sub, depth + 1, lines)


def _table(element: Any) -> str:
    rows = []
    for row in element.iter("row"):
        rows.append([" ".join(" ".join(cell.itertext()).split()) for cell in row if cell.tag == "cell"])
    return "\n".join(table_lines(rows))


def _blocks(element: Any, blocks: list[str]) -> None:
    for child in element:
        tag = child.tag
        if tag == "head":
            rend = child.get("rend", "h2")
            level = int(rend[1]) if len(rend) == 2 and rend[0] == "h" and rend[1].isdigit() else 2
            blocks.append(heading_line(level, _inline(child)))
        elif tag in ("p", "quote", "code"):
            blocks.append(paragraph_text(_inline(child)))
            for sub in child:  # a list or table trafilatura left inside a paragraph
                if sub.tag in ("list", "table"):
                    _blocks_of(sub, blocks)
        elif tag in ("list", "table"):
            _blocks_of(child, blocks)
        elif tag not in ("comments", "graphic", "lb"):
            _blocks(child, blocks)


def _blocks_of(element: Any, blocks: list[str]) -> None:
    if element.tag == "list":
        lines: list[str] = []
        _list(element, 0, lines)
        blocks.append("\n".join(lines))
    else:
        blocks.append(_table(element))


def read_html(data: bytes, name: str) -> tuple[str, str]:
    """(Markdown text of the main content, the page's title) of a saved web page."""
    import trafilatura
    from lxml import etree

    if b"\x00" in data[:8192]:
        raise CorpusError(f"{name}: looks like a binary file, not a web page. Remove it or save the page again.")
    options: dict[str, Any] = dict(output_format="xml", include_tables=True, include_formatting=True,
                                   include_links=False, include_images=False, include_comments=False,
                                   with_metadata=True, deduplicate=False)
    try:
        xml = trafilatura.extract(data, **options)
        if xml is None:  # short pages: the recall-oriented pass keeps more of what looks like boilerplate
            xml = trafilatura.extract(data, favor_recall=True, **options)
        root = etree.fromstring(xml.encode("utf-8")) if xml else None
    except Exception as exc:  # lxml and trafilatura errors on documents that are not HTML at all
        raise CorpusError(f"{name}: not a readable web page ({exc.__class__.__name__}: {str(exc)[:160]}). "
                          "Save the page again from the browser (Save as… › Web page, HTML only).") from exc
    blocks: list[str] = []
    title = ""
    if root is not None:
        title = usable_title(root.get("title"))
        main = root.find("main")
        _blocks(main if main is not None else root, blocks)
    text = join_blocks(blocks)
    if not text:
        raise CorpusError(f"{name}: no main text found in the web page (only menus, links or scripts?). "
                          "Save the article itself, or print it to PDF.")
    return text, title
