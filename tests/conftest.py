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
    return copy_demo(tmp_path / "demo")


def copy_demo(root: Path) -> Path:
    """A new project at ``root`` whose corpus is a copy of the repository's demo corpus."""
    from pipeline import init_project

    init_project(root, "demo copy")
    shutil.copytree(DEMO, root / "corpus", dirs_exist_ok=True)
    return root


# --- the workbench's project (tests/test_workbench*.py) ---------------------------------------

WORKBENCH_TRANSCRIPTS = {
    "e01_enterprise.txt": "问：贵企业为什么参与产教融合？\n答：主要是招工难，我们和学院共建了产业学院，"
                          "政府给了一部分补贴，但拨付很慢。\n问：还有什么困难？\n答：学生实习的安全责任，企业压力很大。\n",
    "x01_script.txt": "问：请介绍一下。\n答：<script>window.hacked = 1</script>我们做订单班。\n",
}
# a policy notice for the clause review; its first clause names a <script> (escaping)
WORKBENCH_NOTICE = ("县人民政府关于支持企业参与职业教育的通知\n各乡镇人民政府：\n"
                    "一、对接收学生实习的企业，按每人每月500元给予补贴。<script>window.hacked = 2</script>\n"
                    "二、企业不得挪用实习补贴资金。\n三、鼓励企业参与职业教育。\n县人民政府\n2023年8月30日\n")
WORKBENCH_METADATA = ("file,participant,group,kind\ne01_enterprise.txt,E01,enterprise,transcript\n"
                      "x01_script.txt,X01,college,transcript\n")


@pytest.fixture
def workbench_project(tmp_path):
    """Two transcripts (one holding a <script> tag) with their participant groups, and a policy
    notice, ingested, with the shipped example codebook."""
    from pipeline import init_project, open_project

    root = init_project(tmp_path / "wb", "workbench test")
    for name, text in {**WORKBENCH_TRANSCRIPTS, "p01_notice.txt": WORKBENCH_NOTICE,
                       "metadata.csv": WORKBENCH_METADATA}.items():
        (root / "corpus" / name).write_text(text, encoding="utf-8")
    project = open_project(root)
    project.ingest()
    project.close()
    return root


@pytest.fixture
def workbench_server(workbench_project):
    """The workbench on the workbench project, served by a real uvicorn on a free port: its base URL and the project."""
    import socket
    import threading
    import time

    import uvicorn

    from pipeline.workbench import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(workbench_project, secret="server-test")
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not running.started:
        assert time.monotonic() < deadline, "the workbench did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", workbench_project
    running.should_exit = True
    thread.join(timeout=10)


def codable(root) -> list[str]:
    from pipeline import open_project

    project = open_project(root)
    try:
        return [code.id for code in project.codebook().codes if code.codable]
    finally:
        project.close()


def document_id(root, name: str) -> int:
    from pipeline import open_project

    project = open_project(root)
    try:
        return project.document(name)["id"]
    finally:
        project.close()


def coding_project(root: Path, transcripts: dict[str, str], metadata: str | None, codebook: str):
    """An initialised project folder given transcripts, a metadata sheet and the codebook
    ``codebooks/study.yaml`` (set in policoder.toml), ingested and open."""
    from pipeline import open_project

    for name, text in transcripts.items():
        (root / "corpus" / name).write_text(text, encoding="utf-8")
    if metadata:
        (root / "corpus" / "metadata.csv").write_text(metadata, encoding="utf-8")
    (root / "codebooks" / "study.yaml").write_text(codebook, encoding="utf-8")
    config = root / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('codebook = "iei_interviews"',
                                                                 'codebook = "codebooks/study.yaml"'), encoding="utf-8")
    project = open_project(root)
    project.ingest()
    return project
