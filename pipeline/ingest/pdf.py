"""PDF → canonical text with a page map.

pypdfium2 (PDFium, shipped with pdfplumber) extracts the text: it is about 40× faster than
pdfplumber's layout analysis and keeps every Chinese character (see bench/ingest_speed.py).
One character-box lookup per line tells whether the line runs to the right margin, which is
what distinguishes a line broken by the page width from one the author ended.
``engine="pdfplumber"`` takes the same decisions from pdfplumber's line analysis instead.
"""
from __future__ import annotations

import ctypes
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ..clean import Line, clean_pages
from ..errors import InputError
from ..records import PDF_ENGINES as ENGINES, SourceText

# a line ending within this many character widths of the rightmost line is "full width"
MARGIN_CHARS = 2.5
# a line starting this many character widths right of the left margin is indented or aligned
# elsewhere (a new paragraph, a centred title, a right-aligned 落款): never a continuation
INDENT_CHARS = 0.8


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


def _has_no_pages(path: Path) -> bool:
    import pdfplumber

    try:
        with pdfplumber.open(path) as pdf:
            return not pdf.pages
    except Exception:  # noqa: BLE001 - any failure means "damaged", which the caller reports
        return False


def _open(path: Path) -> pdfium.PdfDocument:
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        # PDFium refuses a well-formed PDF with an empty page tree without setting an error
        # code, so the code it reports is then a stale one: ask pdfminer about pages first
        if _has_no_pages(path):
            raise InputError(path, "PDF has no pages", code="pdf-no-pages") from None
        code = getattr(error, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise InputError(path, "PDF is encrypted; remove the password and re-run", code="pdf-encrypted") from None
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise InputError(path, "PDF uses an unsupported security handler", code="pdf-encrypted") from None
        raise InputError(path, "not a readable PDF (damaged or truncated file)", code="pdf-corrupt") from None
    if len(document) == 0:
        document.close()
        raise InputError(path, "PDF has no pages", code="pdf-no-pages")
    return document


@dataclass(frozen=True, slots=True)
class _Printed:
    """A line as printed: text and, where known, where it starts and ends on the page."""

    text: str
    left: float | None = None
    right: float | None = None
    char_width: float | None = None


def _to_lines(pages: list[list[_Printed]]) -> list[list[Line]]:
    """Mark lines that run to the right margin and lines that start away from the left one.

    Margins come from the whole document, not page by page: a last page holding only the
    right-aligned 落款 must not make those lines look full-width.
    """
    printed = [line for page in pages for line in page if line.right is not None]
    if not printed:
        return [[Line(line.text) for line in page] for page in pages]
    widths = sorted(line.char_width for line in printed if line.char_width)
    char_width = widths[len(widths) // 2] if widths else 10.0
    right_margin = max(line.right for line in printed)
    # most lines start at the left margin; first lines of paragraphs are indented
    left_margin = Counter(round(line.left) for line in printed).most_common(1)[0][0]
    return [
        [Line(line.text,
              full_width=line.right is not None and line.right >= right_margin - MARGIN_CHARS * char_width,
              indented=line.left is not None and line.left > left_margin + INDENT_CHARS * char_width)
         for line in page]
        for page in pages
    ]


def _pdfium_pages(path: Path) -> list[list[Line]]:
    document = _open(path)
    try:
        pages = []
        for page in document:
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            pages.append(_pdfium_lines(textpage, text) if text.strip() else [])
            textpage.close()
            page.close()
        return _to_lines(pages)
    finally:
        document.close()


_BOX = [ctypes.c_double() for _ in range(4)]
_BOX_REFS = [ctypes.byref(value) for value in _BOX]


def _char_box(textpage_handle, index: int) -> tuple[float, float]:
    """(left, right) of one character: the raw call, as the helper's per-call cost dominated."""
    pdfium_c.FPDFText_GetCharBox(textpage_handle, index, *_BOX_REFS)
    return _BOX[0].value, _BOX[1].value


def _pdfium_lines(textpage: pdfium.PdfTextPage, text: str) -> list[_Printed]:
    # PDFium separates lines with generated "\r\n" characters that count as characters,
    # so a line's first and last character indexes are known without searching.
    aligned = len(text) == textpage.count_chars()
    handle = textpage.raw
    lines = []
    index = 0
    for raw in text.split("\r\n"):
        stripped = raw.strip()
        if stripped and aligned:
            first = index + len(raw) - len(raw.lstrip())
            last = index + len(raw.rstrip()) - 1
            left = _char_box(handle, first)[0]
            last_left, right = _char_box(handle, last)
            lines.append(_Printed(raw, left, right, right - last_left if right > last_left else None))
        elif stripped:
            lines.append(_Printed(raw))
        index += len(raw) + 2
    return lines


def _pdfplumber_pages(path: Path) -> list[list[Line]]:
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect
    from pdfplumber.utils.exceptions import PdfminerException

    try:
        pdf = pdfplumber.open(path)
        pdf.pages  # noqa: B018 - the page tree is parsed lazily; damage shows here
    except PdfminerException as error:
        if error.args and isinstance(error.args[0], PDFPasswordIncorrect):
            raise InputError(path, "PDF is encrypted; remove the password and re-run", code="pdf-encrypted") from None
        raise InputError(path, "not a readable PDF (damaged or truncated file)", code="pdf-corrupt") from None
    with pdf:
        if not pdf.pages:
            raise InputError(path, "PDF has no pages", code="pdf-no-pages")
        pages = []
        for page in pdf.pages:
            pages.append([
                _Printed(line["text"], line["x0"], line["x1"], line["chars"][-1]["x1"] - line["chars"][-1]["x0"])
                for line in page.extract_text_lines(return_chars=True) if line["text"].strip()
            ])
            page.close()
        return _to_lines(pages)
