"""Word (.docx) and OpenDocument (.odt) files as Markdown: headings, list items and labelled table rows.

python-docx and odfdo parse the files; we walk their body in order ourselves because the structure
(heading levels, list depth, table header) is what the passages are cut by.
"""

from __future__ import annotations

import io
import re
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

# Table-of-contents entries repeat every heading with a page number: noise in a passage, and the
# headings themselves are kept where they stand.
_TOC_STYLE = re.compile(r"(?i)^(toc|table of contents|contents heading|index|table des mati|sommaire)")
_HEADING_STYLE = re.compile(r"(?i)^(heading|titre|t[ií]tulo|[uü]berschrift|titolo|kop)\s*(\d)\b")


class _Blocks:
    """Markdown blocks in reading order; consecutive list items and table rows stay in one block."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self._list: list[str] = []

    def _close_list(self) -> None:
        if self._list:
            self.blocks.append("\n".join(self._list))
            self._list = []

    def add(self, text: str) -> None:
        self._close_list()
        if text.strip():
            self.blocks.append(text)

    def item(self, text: str, depth: int) -> None:
        line = list_item(text, depth)
        if line:
            self._list.append(line)

    def text(self) -> str:
        self._close_list()
        return join_blocks(self.blocks)


def _unreadable(name: str, kind: str, exc: Exception) -> CorpusError:
    return CorpusError(f"{name}: not a readable {kind} file ({exc.__class__.__name__}: {str(exc)[:160]}). "
                       "Open it in its application and save it again, or export it as PDF.")


# -- Word ----------------------------------------------------------------------------------------------------
def _style_chain(paragraph: Any) -> list[Any]:
    """The paragraph's style and the styles it is based on (outline levels may be inherited)."""
    chain, style = [], None
    try:
        style = paragraph.style
    except Exception:  # a style id missing from styles.xml: treated as Normal
        return chain
    while style is not None and len(chain) < 10:
        chain.append(style)
        style = style.base_style
    return chain


def _outline_level(element: Any) -> int | None:
    from docx.oxml.ns import qn

    ppr = element.find(qn("w:pPr"))
    lvl = ppr.find(qn("w:outlineLvl")) if ppr is not None else None
    if lvl is None:
        return None
    value = int(lvl.get(qn("w:val"), "9"))
    return value + 1 if value < 9 else 0  # 9 is "body text"


def _docx_heading(paragraph: Any, styles: list[Any]) -> int:
    """Heading level from the style name (Heading 1, Titre 2…), Title, or an outline level; 0 for body."""
    for style in styles:
        name = style.name or ""
        m = _HEADING_STYLE.match(name)
        if m:
            return int(m.group(2))
        if name.lower() in ("title", "titre"):
            return 1
    for element in [paragraph._p, *[s.element for s in styles]]:
        level = _outline_level(element)
        if level is not None:
            return level
    return 0


def _docx_list_depth(paragraph: Any, styles: list[Any]) -> int | None:
    """List depth (0 = top) of a numbered or bulleted paragraph, None when it is not a list item."""
    from docx.oxml.ns import qn

    for element in [paragraph._p, *[s.element for s in styles]]:
        ppr = element.find(qn("w:pPr"))
        num = ppr.find(qn("w:numPr")) if ppr is not None else None
        if num is not None:
            num_id = num.find(qn("w:numId"))
            if num_id is not None and num_id.get(qn("w:val")) == "0":
                return None  # numbering explicitly removed
            ilvl = num.find(qn("w:ilvl"))
            return int(ilvl.get(qn("w:val"), "0")) if ilvl is not None else 0
    return 0 if any((s.name or "").lower().startswith(("list bullet", "list number")) for s in styles) else None


def _inside(element: Any, tags: set[str], stop: Any) -> bool:
    return any(a.tag in tags for a in element.iterancestors() if a is not stop and stop in a.iterancestors())


def _docx_text(p: Any) -> str:
    """A paragraph's text as it reads with tracked changes accepted: python-docx's ``Paragraph.text`` skips
    the runs of insertions, fields and inline content controls; deleted text and the second (fallback) copy
    of a text box are left out."""
    from docx.oxml.ns import qn

    skip = {qn("w:del"), qn("w:moveFrom"), qn("w:txbxContent"), "{http://schemas.openxmlformats.org/"
            "markup-compatibility/2006}Fallback"}
    return "".join(r.text for r in p.iter(qn("w:r")) if not _inside(r, skip, p))


def _docx_table(table: Any) -> str:
    from docx.oxml.ns import qn

    rows = []
    for row in table.rows:
        cells, seen = [], None
        for cell in row.cells:
            if seen is not None and cell._tc is seen:  # a merged cell is listed once per column it spans
                continue
            seen = cell._tc
            cells.append(" ".join(_docx_text(p) for p in cell._tc.iter(qn("w:p"))
                                  if not _inside(p, {qn("w:txbxContent")}, cell._tc)))
        rows.append(cells)
    return "\n".join(table_lines(rows))


def _docx_body(container: Any, parent: Any, out: _Blocks) -> None:
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in container.iterchildren():
        if child.tag == qn("w:p"):
            paragraph = Paragraph(child, parent)
            styles = _style_chain(paragraph)
            if any(_TOC_STYLE.match(s.name or "") for s in styles):
                continue
            level = _docx_heading(paragraph, styles)
            depth = None if level else _docx_list_depth(paragraph, styles)
            text = _docx_text(child)
            if level:
                out.add(heading_line(level, text))
            elif depth is not None:
                out.item(text, depth)
            else:
                out.add(paragraph_text(text))
        elif child.tag == qn("w:tbl"):
            out.add(_docx_table(Table(child, parent)))
        elif child.tag == qn("w:sdt"):  # content controls (cover pages, forms) hold ordinary paragraphs
            gallery = child.find(".//" + qn("w:docPartGallery"))
            if gallery is not None and "contents" in (gallery.get(qn("w:val")) or "").lower():
                continue  # a table of contents
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                _docx_body(content, parent, out)


def read_docx(data: bytes, name: str) -> tuple[str, str]:
    """(Markdown text, declared title) of a Word file."""
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
        out = _Blocks()
        _docx_body(document.element.body, document._body, out)
        title = usable_title(document.core_properties.title)
    except CorpusError:
        raise
    except Exception as exc:  # python-docx raises zip, XML and key errors on damaged files
        raise _unreadable(name, "Word (.docx)", exc) from exc
    return out.text(), title


# -- OpenDocument --------------------------------------------------------------------------------------------
_ODF_SKIP = {"text:note", "office:annotation", "office:annotation-end", "text:bookmark-ref", "draw:frame",
             "text:tracked-changes", "text:deletion"}


def _odf_inline(element: Any, notes: list[str]) -> str:
    """A paragraph's text: spaces, tabs and line breaks kept; footnote bodies collected in ``notes``."""
    parts = [element.text or ""]
    for child in element.children:
        tag = child.tag
        if tag == "text:s":
            parts.append(" " * int(child.get_attribute("text:c") or 1))
        elif tag == "text:tab":
            parts.append("\t")
        elif tag == "text:line-break":
            parts.append("\n")
        elif tag == "text:note":
            body = child.get_element("text:note-body")
            cite = child.get_element("text:note-citation")
            mark = (cite.text_recursive if cite is not None else "").strip()
            if body is not None:
                notes.append(f"[{mark}] " + " ".join(_odf_inline(p, notes) for p in body.children))
            parts.append(f"[{mark}]" if mark else "")
        elif tag not in _ODF_SKIP:
            parts.append(_odf_inline(child, notes))
        parts.append(child.tail or "")
    return "".join(parts)


def _odf_cell(cell: Any, notes: list[str]) -> str:
    return " ".join(_odf_inline(child, notes) for child in cell.children)


def _odf_list(element: Any, depth: int, out: _Blocks, notes: list[str]) -> None:
    for item in element.children:
        if item.tag not in ("text:list-item", "text:list-header"):
            continue
        for child in item.children:
            if child.tag == "text:list":
                _odf_list(child, depth + 1, out, notes)
            elif child.tag in ("text:p", "text:h"):
                out.item(_odf_inline(child, notes), depth)


def _odf_body(element: Any, out: _Blocks, notes: list[str]) -> None:
    for child in element.children:
        tag = child.tag
        if tag == "text:h":
            out.add(heading_line(int(child.get_attribute("text:outline-level") or 1), _odf_inline(child, notes)))
        elif tag == "text:p":
            style = (child.get_attribute("text:style-name") or "").lower()
            text = _odf_inline(child, notes)
            out.add(heading_line(1, text) if style in ("title", "titre") else paragraph_text(text))
        elif tag == "text:list":
            _odf_list(child, 0, out, notes)
        elif tag == "table:table":
            rows = [[_odf_cell(cell, notes) for cell in row.traverse()] for row in child.traverse()]
            out.add("\n".join(table_lines(rows)))
        elif tag in ("text:section", "text:index-body", "table:table-header-rows"):
            _odf_body(child, out, notes)
        # Tables of contents, declarations and forms are skipped: no running text of their own.


def read_odt(data: bytes, name: str) -> tuple[str, str]:
    """(Markdown text, declared title) of an OpenDocument text file."""
    try:
        from odfdo import Document

        document = Document(io.BytesIO(data))
        if document.get_type() not in ("text", "text-template"):
            raise CorpusError(f"{name}: an OpenDocument {document.get_type()} file, not a text document. "
                              "Export it as PDF to add it.")
        out, notes = _Blocks(), []
        _odf_body(document.body, out, notes)
        if notes:  # footnotes after the text, under their own heading, so they never split a sentence
            out.add(heading_line(2, "Notes"))
            for note in notes:
                out.add(paragraph_text(note))
        title = usable_title(document.meta.title)
    except CorpusError:
        raise
    except Exception as exc:  # odfdo raises zip, XML and key errors on damaged files
        raise _unreadable(name, "OpenDocument (.odt)", exc) from exc
    return out.text(), title
