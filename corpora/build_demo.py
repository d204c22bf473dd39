#!/usr/bin/env python
"""Render the policoder demo corpus from its sources.

    python corpora/build_demo.py            # write the files into corpora/demo/
    python corpora/build_demo.py --check    # exit 1 when a committed file differs

Every file in ``corpora/demo_sources/`` is one fictional document.  It starts with
directive lines (``%key: value``), then a blank line, then the body.  Directives:

    %output   path below corpora/demo/, e.g. ``policy/zj_edu_2023_industry_college.pdf``
    %format   pdf | docx | gb18030 | gbk   (the last two write the body as legacy-encoded text)
    %header   running header printed on every PDF page
    %footer   page-number style of a PDF: ``dash`` (— 3 —), ``hyphen`` (-3-), ``of`` (第3页 共5页)
    %title    document title stored in the PDF/DOCX properties
    %author   issuing body stored in the PDF/DOCX properties
    %newline  ``crlf`` for legacy text files saved on Windows (default ``lf``)
    %headings ``styles`` to give DOCX headings the built-in Heading styles

Body lines of PDF and DOCX sources carry a layout mark; unmarked lines are body
paragraphs with a two-character first-line indent (blank lines are ignored):

    @org       发文机关标志 (large, red, centred)        @num     发文字号 (centred)
    @rule      the red separator line                    @title   a title line (one per printed line)
    @center    centred paragraph                         @noindent paragraph without indent (主送机关)
    @h         numbered heading line                     @right   right-aligned line (落款, 成文日期)
    @label     attachment label (附件1), flush left      @cc      版记 line, flush left, smaller
    @note      附注 such as （此件公开发布）
    @space     vertical space                            @pagebreak
    @table ... @endtable   rows written as ``| cell | cell |`` (DOCX only)

Legacy-encoded text sources are written out verbatim (no marks).

The output is deterministic: reportlab runs with ``invariant=1`` (fixed IDs and dates),
DOCX core properties are fixed and the DOCX zip is rewritten with fixed timestamps, so a
second run gives byte-identical files.  PDFs use reportlab's built-in CID font
STSong-Light (not embedded; viewers substitute a system Song/Ming font).
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "demo_sources"
OUTPUT = HERE / "demo"
FIXED_TIME = dt.datetime(2024, 1, 1, 0, 0, 0)
PRODUCER = "policoder demo corpus (corpora/build_demo.py)"


# --------------------------------------------------------------------------- sources


@dataclass
class Source:
    path: Path
    options: dict[str, str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> Path:
        return OUTPUT / self.options["output"]

    @property
    def format(self) -> str:
        return self.options["format"]


def load(path: Path) -> Source:
    text = path.read_text(encoding="utf-8")
    head, _, body = text.partition("\n\n")
    options = {}
    for line in head.splitlines():
        if not line.startswith("%"):
            raise SystemExit(f"{path}: directive lines must start with % (got {line!r})")
        key, _, value = line[1:].partition(":")
        options[key.strip()] = value.strip()
    for required in ("output", "format"):
        if required not in options:
            raise SystemExit(f"{path}: missing %{required}")
    return Source(path, options, body.rstrip("\n").split("\n"))


def marked(line: str) -> tuple[str, str]:
    """'@title 关于……' → ('title', '关于……'); an unmarked line is ('body', line)."""
    if line.startswith("@"):
        mark, _, rest = line[1:].partition(" ")
        return mark, rest.strip(" \t")  # keep leading full-width spaces (U+3000)
    return "body", line.strip(" \t")


# --------------------------------------------------------------------------- PDF

MM = 72 / 25.4
PAGE_W, PAGE_H = 210 * MM, 297 * MM
LEFT, RIGHT, TOP, BOTTOM = 28 * MM, 26 * MM, 37 * MM, 35 * MM
FRAME_W = PAGE_W - LEFT - RIGHT
FONT = "STSong-Light"
RED = (0.8, 0.0, 0.0)

# punctuation that may not begin a line (it hangs in the margin instead) or end one
CANNOT_START = set("，。、；：？！）》」』】〕］｝〉”’…%％·")
CANNOT_END = set("（《「『【〔［｛〈“‘")


@dataclass(frozen=True)
class Style:
    size: float
    leading: float
    align: str = "justify"  # justify | left | center | right
    indent: float = 0.0  # first-line indent in characters
    right_pad: float = 0.0  # characters kept free at the right (落款)
    before: float = 0.0
    after: float = 0.0
    color: tuple[float, float, float] = (0, 0, 0)


STYLES = {
    "org": Style(30, 44, "center", after=6, color=RED),
    "num": Style(16, 29, "center", before=14),
    "title": Style(22, 34, "center"),
    "center": Style(16, 29, "center"),
    "noindent": Style(16, 29, "justify"),
    "body": Style(16, 29, "justify", indent=2),
    "h": Style(16, 29, "justify", indent=2),
    "right": Style(16, 29, "right", right_pad=4),
    "label": Style(16, 29, "left"),
    "cc": Style(14, 26, "left", indent=1),
    "note": Style(16, 29, "left", indent=2),
}
# consecutive lines of the same group stay on one page
KEEP_TOGETHER = {"right": "signoff", "note": "signoff", "cc": "record"}


def register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _tokens(text: str) -> list[str]:
    """Characters, except that runs of ASCII letters/digits and a "——" pair stay whole."""
    out: list[str] = []
    for ch in text:
        if out and ch.isascii() and ch.isalnum() and out[-1][-1:].isascii() and out[-1][-1:].isalnum():
            out[-1] += ch
        elif out and ch in "—…" and out[-1] == ch:
            out[-1] += ch
        else:
            out.append(ch)
    return out


def wrap(text: str, style: Style) -> list[tuple[str, bool]]:
    """Break a paragraph into printed lines: [(text, is_last_line)] with simple kinsoku rules."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    register_font()
    size = style.size
    first_width = FRAME_W - style.indent * size - style.right_pad * size
    width = FRAME_W - style.right_pad * size
    lines: list[list[str]] = [[]]
    used = 0.0
    limit = first_width
    for token in _tokens(text):
        w = stringWidth(token, FONT, size)
        current = lines[-1]
        if used + w <= limit + 0.01 or not current:
            current.append(token)
            used += w
            continue
        if token[0] in CANNOT_START:  # hang the punctuation, then break
            current.append(token)
            lines.append([])
            used, limit = 0.0, width
            continue
        carried = []
        while len(current) > 1 and current[-1][-1] in CANNOT_END:
            carried.insert(0, current.pop())
        lines.append(carried + [token])
        used = sum(stringWidth(t, FONT, size) for t in lines[-1])
        limit = width
    lines = [line for line in lines if line]
    return [("".join(line), i == len(lines) - 1) for i, line in enumerate(lines)]


@dataclass
class Placed:
    kind: str  # text | rule
    y: float
    text: str = ""
    style: Style | None = None
    last: bool = True
    first: bool = False


def layout(source: Source) -> list[list[Placed]]:
    pages: list[list[Placed]] = [[]]
    y = PAGE_H - TOP

    def new_page() -> None:
        nonlocal y
        pages.append([])
        y = PAGE_H - TOP

    items = [marked(raw) for raw in source.lines if raw.strip()]
    for index, (mark, text) in enumerate(items):
        if mark in KEEP_TOGETHER and (index == 0 or KEEP_TOGETHER[mark] != KEEP_TOGETHER.get(items[index - 1][0])):
            # the 落款 block and the 版记 block are never split across pages
            group = KEEP_TOGETHER[mark]
            height = 0.0
            for other_mark, other_text in items[index:]:
                if KEEP_TOGETHER.get(other_mark) != group:
                    break
                style = STYLES[other_mark]
                height += style.before + style.after + style.leading * len(wrap(other_text, style))
            if y - height < BOTTOM and y < PAGE_H - TOP:
                new_page()
        if mark == "pagebreak":
            new_page()
            continue
        if mark == "space":
            y -= 29 * (float(text) if text else 1)
            continue
        if mark == "rule":
            y -= 8
            pages[-1].append(Placed("rule", y))
            y -= 22
            continue
        if mark not in STYLES:
            raise SystemExit(f"{source.path}: unknown mark @{mark}")
        style = STYLES[mark]
        y -= style.before
        for i, (line, last) in enumerate(wrap(text, style)):
            if y - style.leading < BOTTOM:
                new_page()
            y -= style.leading
            pages[-1].append(Placed("text", y + (style.leading - style.size) * 0.35, line, style, last, i == 0))
        y -= style.after
    return [page for page in pages if page]


def draw_line(canvas, item: Placed) -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    style = item.style
    size = style.size
    natural = stringWidth(item.text, FONT, size)
    x = LEFT + (style.indent * size if item.first else 0)
    avail = FRAME_W - (x - LEFT) - style.right_pad * size
    char_space = 0.0
    if style.align == "center":
        x = LEFT + (FRAME_W - natural) / 2
    elif style.align == "right":
        x = LEFT + FRAME_W - style.right_pad * size - natural
    elif style.align == "justify" and not item.last and len(item.text) > 1:
        char_space = (avail - natural) / (len(item.text) - 1)
    canvas.setFillColorRGB(*style.color)
    text = canvas.beginText(x, item.y)
    text.setFont(FONT, size)
    if char_space:
        text.setCharSpace(char_space)
    text.textOut(item.text)
    canvas.drawText(text)


def page_number(style: str, number: int, total: int) -> tuple[str, str, float]:
    """(text, alignment, size) of the footer."""
    if style == "dash":  # GB/T 9704: odd pages right, even pages left, one character in
        return f"— {number} —", ("right" if number % 2 else "left"), 14
    if style == "hyphen":
        return f"-{number}-", "center", 12
    if style == "of":
        return f"第{number}页 共{total}页", "center", 10.5
    raise SystemExit(f"unknown footer style {style!r}")


def build_pdf(source: Source) -> bytes:
    from reportlab import rl_config
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen.canvas import Canvas

    rl_config.invariant = 1
    register_font()
    pages = layout(source)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(PAGE_W, PAGE_H), invariant=1, pageCompression=1)
    canvas.setTitle(source.options.get("title", ""))
    canvas.setAuthor(source.options.get("author", ""))
    canvas.setSubject("policoder demo corpus: fictional document")
    canvas.setCreator(PRODUCER)
    canvas.setProducer(PRODUCER)
    header = source.options.get("header", "")
    footer = source.options.get("footer", "hyphen")
    for number, page in enumerate(pages, start=1):
        if header:
            canvas.setFillColorRGB(0.35, 0.35, 0.35)
            canvas.setFont(FONT, 10.5)
            canvas.drawCentredString(PAGE_W / 2, PAGE_H - 20 * MM, header)
            canvas.setStrokeColorRGB(0.5, 0.5, 0.5)
            canvas.setLineWidth(0.5)
            canvas.line(LEFT, PAGE_H - 22 * MM, PAGE_W - RIGHT, PAGE_H - 22 * MM)
        for item in page:
            if item.kind == "rule":
                canvas.setStrokeColorRGB(*RED)
                canvas.setLineWidth(1.2)
                canvas.line(LEFT, item.y, PAGE_W - RIGHT, item.y)
            else:
                draw_line(canvas, item)
        text, align, size = page_number(footer, number, len(pages))
        canvas.setFillColorRGB(0, 0, 0)
        canvas.setFont(FONT, size)
        y = 22 * MM
        if align == "center":
            canvas.drawCentredString(PAGE_W / 2, y, text)
        elif align == "right":
            canvas.drawString(PAGE_W - RIGHT - 14 - stringWidth(text, FONT, size), y, text)
        else:
            canvas.drawString(LEFT + 14, y, text)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --------------------------------------------------------------------------- DOCX


def _east_asian(run, name: str) -> None:
    from docx.oxml.ns import qn

    run.font.name = name
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)


def _bottom_border(paragraph) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "12"), ("w:space", "1"), ("w:color", "CC0000")):
        bottom.set(qn(key), value)
    borders.append(bottom)
    ppr.append(borders)


def build_docx(source: Source) -> bytes:
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt, RGBColor

    document = docx.Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    normal = document.styles["Normal"]
    normal.font.size = Pt(16)
    use_styles = source.options.get("headings") == "styles"

    def paragraph(text: str, *, align=None, size=16, bold=False, color=None, indent=False, font="仿宋_GB2312", style=None):
        p = document.add_paragraph(style=style)
        if align is not None:
            p.alignment = align
        if indent:
            p.paragraph_format.first_line_indent = Pt(size * 2)
        run = p.add_run(text)
        if style is None:
            run.font.size = Pt(size)
            _east_asian(run, font)
        run.bold = bold or None
        if color:
            run.font.color.rgb = RGBColor(*color)
        return p

    table_rows: list[list[str]] | None = None
    for raw in source.lines:
        if not raw.strip():
            continue
        mark, text = marked(raw)
        if table_rows is not None:
            if mark == "endtable":
                table = document.add_table(rows=len(table_rows), cols=len(table_rows[0]))
                table.style = "Table Grid"
                for r, row in enumerate(table_rows):
                    for c, cell in enumerate(row):
                        table.cell(r, c).text = cell
                table_rows = None
            else:
                table_rows.append([cell.strip() for cell in raw.strip().strip("|").split("|")])
            continue
        if mark == "table":
            table_rows = []
        elif mark == "org":
            paragraph(text, align=WD_ALIGN_PARAGRAPH.CENTER, size=30, color=(0xCC, 0, 0), font="方正小标宋简体")
        elif mark == "num":
            paragraph(text, align=WD_ALIGN_PARAGRAPH.CENTER)
        elif mark == "rule":
            _bottom_border(document.add_paragraph())
        elif mark == "title":
            if use_styles:
                paragraph(text, align=WD_ALIGN_PARAGRAPH.CENTER, style="Title")
            else:
                paragraph(text, align=WD_ALIGN_PARAGRAPH.CENTER, size=22, bold=True, font="方正小标宋简体")
        elif mark == "h":
            if use_styles:
                paragraph(text, style="Heading 2")
            else:
                paragraph(text, indent=True, bold=True, font="黑体")
        elif mark in ("center",):
            paragraph(text, align=WD_ALIGN_PARAGRAPH.CENTER)
        elif mark == "noindent":
            paragraph(text)
        elif mark == "note":
            paragraph(text, indent=True)
        elif mark == "right":
            paragraph(text, align=WD_ALIGN_PARAGRAPH.RIGHT)
        elif mark == "label":
            paragraph(text, font="黑体")
        elif mark == "cc":
            paragraph(text, size=14)
        elif mark == "space":
            document.add_paragraph()
        elif mark == "pagebreak":
            document.add_page_break()
        elif mark == "body":
            paragraph(text, indent=True, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
        else:
            raise SystemExit(f"{source.path}: unknown mark @{mark}")

    props = document.core_properties
    props.title = source.options.get("title", "")
    props.author = source.options.get("author", "")
    props.last_modified_by = source.options.get("author", "")
    props.subject = "policoder demo corpus: fictional document"
    props.comments = PRODUCER
    props.keywords = ""
    props.category = ""
    props.revision = 1
    props.created = FIXED_TIME
    props.modified = FIXED_TIME
    props.last_printed = FIXED_TIME
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip(buffer.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed member timestamps and attributes (python-docx stamps 'now')."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            fixed.create_system = 3
            dst.writestr(fixed, src.read(info.filename), compresslevel=9)
    return out.getvalue()


# --------------------------------------------------------------------------- legacy text


def build_text(source: Source, encoding: str) -> bytes:
    newline = "\r\n" if source.options.get("newline") == "crlf" else "\n"
    text = newline.join(line.rstrip() for line in source.lines) + newline
    return text.encode(encoding)  # strict: a character the encoding lacks is an error


# --------------------------------------------------------------------------- main

BUILDERS = {
    "pdf": build_pdf,
    "docx": build_docx,
    "gb18030": lambda source: build_text(source, "gb18030"),
    "gbk": lambda source: build_text(source, "gbk"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk; write nothing")
    args = parser.parse_args(argv)
    differing = []
    for path in sorted(SOURCES.glob("*.txt")):
        source = load(path)
        if source.format not in BUILDERS:
            raise SystemExit(f"{path}: unknown %format {source.format!r}")
        data = BUILDERS[source.format](source)
        target = source.output
        if args.check:
            if not target.exists() or target.read_bytes() != data:
                differing.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"{target.relative_to(HERE.parent)}  ({len(data):,} bytes)")
    if args.check:
        for target in differing:
            print(f"differs: {target.relative_to(HERE.parent)}", file=sys.stderr)
        return 1 if differing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
