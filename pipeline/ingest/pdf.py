"""PDF → canonical text with a page map.

pypdfium2 (PDFium, shipped with pdfplumber) extracts the text: it is about 40× faster than
pdfplumber's layout analysis and keeps every Chinese character (see bench/ingest_speed.py).
One character-box lookup per line tells whether the line runs to the right margin, which is
what distinguishes a line broken by the page width from one the author ended.
``engine="pdfplumber"`` takes the same decisions from pdfplumber's line analysis instead.
"""
from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ..clean import Line, clean_pages
from ..errors import InputError
from ..records import SourceText

ENGINES = ("pdfium", "pdfplumber")
# a line ending within this many character widths of the rightmost line is "full width"
MARGIN_CHARS = 2.5


def read(path: str | Path, *, engine: str = "pdfium") -> SourceText:
    """Read a PDF; raise InputError for encrypted, corrupt, empty or image-only files."""
    if engine not in ENGINES:
        raise ValueError(f"unknown PDF engine {engine!r}; choose one of {', '.join(ENGINES)}")
    path = Path(path)
    pages = _pdfium_pages(path) if engine == "pdfium" else _pdfplumber_pages(path)
    without_text = [number for number, lines in enumerate(pages, start=1) if not lines]
    if len(without_text) == len(pages):
        raise InputError(
            path,
            f"no text layer on any of its {len(pages)} page(s) (scanned?); run OCR first, e.g. ocrmypdf",
            code="pdf-no-text-layer",
        )
    text, spans, removed = clean_pages(pages)
    return SourceText(
        path=str(path),
        source_format="pdf",
        text=text,
        pages=spans,
        page_count=len(pages),
        running_headers=removed,
        pages_without_text=tuple(without_text),
    )


def _open(path: Path) -> pdfium.PdfDocument:
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        code = getattr(error, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise InputError(path, "PDF is encrypted; remove the password and re-run", code="pdf-encrypted") from None
        if code == pdfium_c.FPDF_ERR_SUCCESS:  # PDFium refuses a document without a page tree this way
            raise InputError(path, "PDF has no pages", code="pdf-no-pages") from None
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise InputError(path, "PDF uses an unsupported security handler", code="pdf-encrypted") from None
        raise InputError(path, "not a readable PDF (damaged or truncated file)", code="pdf-corrupt") from None
    if len(document) == 0:
        document.close()
        raise InputError(path, "PDF has no pages", code="pdf-no-pages")
    return document


def _mark_full_width(texts: list[str], rights: list[float | None], widths: list[float]) -> list[Line]:
    known = [right for right in rights if right is not None]
    if not known:
        return [Line(text) for text in texts]
    margin = max(known)
    tolerance = MARGIN_CHARS * (sorted(widths)[len(widths) // 2] if widths else 10.0)
    return [
        Line(text, full_width=right is not None and right >= margin - tolerance)
        for text, right in zip(texts, rights)
    ]


def _pdfium_pages(path: Path) -> list[list[Line]]:
    document = _open(path)
    try:
        pages = []
        for page in document:
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            lines = _pdfium_lines(textpage, text) if text.strip() else []
            textpage.close()
            page.close()
            pages.append(lines)
        return pages
    finally:
        document.close()


def _pdfium_lines(textpage: pdfium.PdfTextPage, text: str) -> list[Line]:
    # PDFium separates lines with generated "\r\n" characters that count as characters,
    # so a line's last character index is known without searching.
    aligned = len(text) == textpage.count_chars()
    texts, rights, widths = [], [], []
    index = 0
    for raw in text.split("\r\n"):
        right = None
        if aligned and raw.strip():
            last = index + len(raw.rstrip()) - 1
            left_x, _, right_x, _ = textpage.get_charbox(last)
            right = right_x
            if right_x > left_x:
                widths.append(right_x - left_x)
        texts.append(raw)
        rights.append(right)
        index += len(raw) + 2
    return [line for line in _mark_full_width(texts, rights, widths) if line.text.strip()]


def _pdfplumber_pages(path: Path) -> list[list[Line]]:
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError

    try:
        pdf = pdfplumber.open(path)
    except PDFPasswordIncorrect:
        raise InputError(path, "PDF is encrypted; remove the password and re-run", code="pdf-encrypted") from None
    except (PDFSyntaxError, ValueError, KeyError, TypeError):
        raise InputError(path, "not a readable PDF (damaged or truncated file)", code="pdf-corrupt") from None
    with pdf:
        if not pdf.pages:
            raise InputError(path, "PDF has no pages", code="pdf-no-pages")
        pages = []
        for page in pdf.pages:
            found = page.extract_text_lines(return_chars=True)
            texts = [line["text"] for line in found]
            rights = [line["x1"] for line in found]
            widths = [char["x1"] - char["x0"] for line in found for char in line["chars"][-1:]]
            pages.append([line for line in _mark_full_width(texts, rights, widths) if line.text.strip()])
            page.close()
        return pages
