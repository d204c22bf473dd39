"""Word (.docx) → canonical text: paragraphs and table rows in document order."""
from __future__ import annotations

import zipfile
from pathlib import Path

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from ..clean import normalize
from ..errors import InputError
from ..records import SourceText


def _blocks(document) -> list[str]:
    lines = []
    # iter_inner_content keeps paragraphs and tables in the order the author wrote them
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            lines.append(block.text)
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
