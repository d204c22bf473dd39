"""Word (.docx) → canonical text: paragraphs and table rows in document order."""
from __future__ import annotations

import zipfile
from pathlib import Path

import cn2an
import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from ..clean import normalize
from ..errors import InputError
from ..records import SourceText


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _format_number(value: int, fmt: str) -> str:
    """Word's numFmt values as printed; unknown formats fall back to Arabic digits."""
    if fmt in ("chineseCounting", "chineseCountingThousand", "ideographTraditional", "chineseLegalSimplified"):
        return cn2an.an2cn(value, "low")
    if fmt == "decimalEnclosedCircle" and 1 <= value <= 20:
        return chr(ord("①") + value - 1)
    if fmt in ("lowerLetter", "upperLetter") and 1 <= value <= 26:
        letter = chr(ord("a") + value - 1)
        return letter.upper() if fmt == "upperLetter" else letter
    return str(value)


def _setting(level, tag: str) -> str | None:
    found = level.find(f"{_W}{tag}")
    return found.get(f"{_W}val") if found is not None else None


class _AutoNumbering:
    """Renders Word's automatic list numbers ("%1、", "（%2）") that python-docx leaves out of
    ``paragraph.text``, so numbered items keep their printed numbering in the canonical text."""

    def __init__(self, document):
        self.levels: dict[tuple[str, int], tuple[str, str, int]] = {}
        self.counters: dict[str, list[int]] = {}
        try:
            numbering = document.part.numbering_part.element
        except (KeyError, NotImplementedError):
            return
        abstract = {a.get(f"{_W}abstractNumId"): a for a in numbering.iter(f"{_W}abstractNum")}
        for num in numbering.iter(f"{_W}num"):
            ref = num.find(f"{_W}abstractNumId")
            definition = abstract.get(ref.get(f"{_W}val")) if ref is not None else None
            for lvl in definition.iter(f"{_W}lvl") if definition is not None else ():
                self.levels[(num.get(f"{_W}numId"), int(lvl.get(f"{_W}ilvl")))] = (
                    _setting(lvl, "numFmt") or "decimal", _setting(lvl, "lvlText") or "",
                    int(_setting(lvl, "start") or 1))

    def label(self, paragraph: Paragraph) -> str:
        num_pr = paragraph._p.pPr.numPr if paragraph._p.pPr is not None else None
        if num_pr is None and paragraph.style is not None and paragraph.style.element.pPr is not None:
            num_pr = paragraph.style.element.pPr.numPr
        if num_pr is None or num_pr.numId is None:
            return ""
        num_id = str(num_pr.numId.val)
        level = int(num_pr.ilvl.val) if num_pr.ilvl is not None else 0
        if (num_id, level) not in self.levels:
            return ""
        counters = self.counters.setdefault(num_id, [])
        while len(counters) <= level:
            counters.append(self.levels.get((num_id, len(counters)), ("", "", 1))[2] - 1)
        counters[level] += 1
        del counters[level + 1:]  # a new item restarts its sub-levels
        fmt, text, _ = self.levels[(num_id, level)]
        for depth, value in enumerate(counters, start=1):
            depth_fmt = self.levels.get((num_id, depth - 1), (fmt, "", 1))[0]
            text = text.replace(f"%{depth}", _format_number(value, depth_fmt))
        return text if fmt != "bullet" else ""


def _blocks(document) -> list[str]:
    lines = []
    numbering = _AutoNumbering(document)
    # iter_inner_content keeps paragraphs and tables in the order the author wrote them
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            lines.append(numbering.label(block) + block.text)
        elif isinstance(block, Table):
            for row in block.rows:
                cells = []
                for cell in row.cells:  # merged cells repeat; keep each text once per row
                    if not cells or cells[-1] != cell.text:
                        cells.append(cell.text)
                lines.append("\t".join(c.replace("\n", " ") for c in cells))
    return lines


def read(path: str | Path) -> SourceText:
    path = Path(path)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise InputError(path, f"not a readable .docx file ({type(error).__name__})", code="docx-corrupt") from None
    text = normalize("\n".join(_blocks(document)))
    text = "\n".join(line.strip() for line in text.split("\n") if line.strip())
    if not text:
        raise InputError(path, "document has no text", code="file-empty")
    return SourceText(path=str(path), source_format="docx", text=text)
