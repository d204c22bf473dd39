"""Shared fixtures: temporary projects and builders for small real input files.

Every input is a real file made here with real libraries (reportlab, pypdf, Pillow,
python-docx); nothing of policoder's own is mocked.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "corpora" / "demo"


def wrap(text: str, width: int) -> list[str]:
    """Break a paragraph every ``width`` characters, as a PDF producer breaks at the margin."""
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def make_pdf(path: Path, pages: list[list[str]], *, header: str | None = None, footer: str | None = "— {n} —",
             font_size: int = 14, wrap_at: int | None = None) -> Path:
    """A real A4 PDF with the built-in Chinese CID font.

    ``pages`` holds paragraphs per page; each paragraph is broken at the page width
    (``wrap_at`` characters, default: what fits between the margins).
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    width, height = A4
    per_line = wrap_at or int((width - 160) // font_size)
    pdf = canvas.Canvas(str(path), pagesize=A4, invariant=1)
    for number, paragraphs in enumerate(pages, start=1):
        if header:
            pdf.setFont("STSong-Light", 10)
            pdf.drawCentredString(width / 2, height - 40, header)
        pdf.setFont("STSong-Light", font_size)
        y = height - 90
        for paragraph in paragraphs:
            for line in wrap(paragraph, per_line):
                pdf.drawString(80, y, line)
                y -= font_size * 1.7
        if footer:
            pdf.setFont("STSong-Light", 10)
            pdf.drawCentredString(width / 2, 40, footer.format(n=number, total=len(pages)))
        pdf.showPage()
    pdf.save()
    return path


@pytest.fixture
def bad_inputs(tmp_path: Path) -> Path:
    """A folder of broken inputs, one per failure the ingester must name."""
    import pypdf
    from PIL import Image, ImageDraw

    folder = tmp_path / "bad"
    folder.mkdir()
    good = make_pdf(tmp_path / "plain.pdf", [["关于推进产教融合的通知", "一、给予奖励。"]])
    writer = pypdf.PdfWriter(clone_from=good)
    writer.encrypt("secret")
    writer.write(folder / "encrypted.pdf")
    (folder / "corrupt.pdf").write_bytes(good.read_bytes()[:400])
    (folder / "empty.pdf").write_bytes(b"")
    pypdf.PdfWriter().write(folder / "zero_pages.pdf")
    scan = Image.new("RGB", (620, 877), "white")
    ImageDraw.Draw(scan).text((60, 60), "scanned page without a text layer", fill="black")
    scan.save(folder / "scanned.pdf", save_all=True, append_images=[scan.copy()])
    (folder / "notes.rtf").write_text("{\\rtf1 not supported}", encoding="ascii")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "binary.txt").write_bytes(bytes(range(128, 256)) * 20)
    return folder


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A fresh project made by `init_project`, with an empty corpus folder."""
    from pipeline import init_project

    return init_project(tmp_path / "project", "test project")


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    """A copy of the repository's demo corpus as a project of its own."""
    from pipeline import init_project

    root = init_project(tmp_path / "demo", "demo copy")
    shutil.copytree(DEMO, root / "corpus", dirs_exist_ok=True)
    return root
