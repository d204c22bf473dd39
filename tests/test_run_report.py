"""The batch run's HTML report, written from the folder of a real run of the demo corpus."""
from __future__ import annotations

import base64
import csv
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline import init_project, open_project
from pipeline.run_report import SECTIONS, TOTAL, write_run_report
from tests.conftest import DEMO

VOID = {"meta", "img", "br", "hr", "link", "input", "col", "wbr", "source"}


class Page(HTMLParser):
    """The parsed report: every end tag must close the element opened last; collects the section
    headings, each table's cells under the section it sits in, the images and the tags used."""

    def __init__(self, html: str):
        super().__init__()
        self.open: list[str] = []
        self.headings: list[tuple[str, str]] = []
        self.tables: dict[str, list[list[list[str]]]] = {}
        self.images: list[str] = []
        self.tags: set[str] = set()
        self.feed(html)
        self.close()
        assert not self.open, f"unclosed: {self.open}"

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "h2":
            self.headings.append((attrs["id"], ""))
        if tag == "table":
            self.tables.setdefault(self.headings[-1][0], []).append([])
        if tag == "tr":
            self._table().append([])
        if tag in ("td", "th"):
            self._table()[-1].append("")
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()

    def handle_data(self, data):
        if "h2" in self.open:
            key, text = self.headings[-1]
            self.headings[-1] = (key, text + data)
        if {"td", "th"} & set(self.open):
            self._table()[-1][-1] += data

    def _table(self) -> list[list[str]]:
        return self.tables[self.headings[-1][0]][-1]


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """One batch run of the demo corpus, shared by the module (the run takes ~15 s). This is the
    ``demo_project`` fixture's project, built here because a function-scoped fixture cannot feed a module's."""
    root = init_project(tmp_path_factory.mktemp("run_report") / "demo", "demo copy")
    shutil.copytree(DEMO, root / "corpus", dirs_exist_ok=True)
    project = open_project(root)
    yield project.run().folder
    project.close()


@pytest.fixture
def copied_run(run_folder, tmp_path) -> Path:
    """A copy of the run folder that a test may change."""
    return Path(shutil.copytree(run_folder, tmp_path / "run"))


def test_the_report_of_a_full_run_holds_every_section_and_no_external_reference(run_folder):
    out = write_run_report(run_folder)
    assert out == run_folder / "report.html" and out.exists()
    html = out.read_text(encoding="utf-8")
    page = Page(html)
    assert '<meta charset="utf-8">' in html and "Noto Sans CJK SC" in html
    assert 'src="http' not in html and "<link" not in html and "url(" not in html and "script" not in page.tags
    assert page.headings == list(SECTIONS.items())

    # policy documents by level × year: the grand total is the policy documents of documents.csv
    documents = read_csv(run_folder / "documents.csv")
    policy = [d for d in documents if d["kind"] == "policy" and d["status"] != "missing"]
    levels_by_year, document_list, transcripts = page.tables["corpus"]
    assert len(transcripts) - 1 == sum(d["kind"] == "transcript" for d in documents) == 8
    assert levels_by_year[-1][0] == TOTAL and int(levels_by_year[-1][-1]) == len(policy) == 16
    assert {row[0] for row in levels_by_year[1:-1]} == {"国家级", "省级", "市级", "县级"}
    assert document_list[0][:3] == ["编号", "名称", "文号"] and len(document_list) - 1 == len(policy)
    assert {row[1] for row in document_list[1:]} == {d["title"] for d in policy}

    # every clause has one primary instrument ('none' included), so each crosstab adds up to the clauses
    _, by_level, by_year = page.tables["instruments"]
    clauses = len(read_csv(run_folder / "clauses.csv"))
    assert int(by_level[-1][-1]) == int(by_year[-1][-1]) == clauses
    assert "激励型 incentive" in by_level[0]
    level = json.loads((run_folder / "instruments" / "instruments_summary.json").read_text("utf-8"))["tests"]["level"]
    assert f"χ²({level['dof']}) = {level['chi2']:.2f}" in html and f"Cramér's V = {level['cramers_v']:.3f}" in html
    assert "Pearson χ² (no continuity correction)" in html

    codings = read_csv(run_folder / "codings.csv")
    assert int(page.tables["coding"][0][-1][-1]) == len(codings) > 0
    assert "No agreement was measured in this run" in html  # the demo has one auto-coder, no two humans

    charts = [src for src in page.images if src.startswith("data:image/svg+xml;base64,")]
    assert len(charts) == 3 and b"<svg" in base64.b64decode(charts[0].split(",", 1)[1])
    assert any(src.startswith("data:image/png;base64,") for src in page.images)  # the topic charts
    assert all(src.startswith("data:") for src in page.images)

    topics = page.tables["topics"][0]
    assert topics[0] == ["topic", "label", "top terms 高频词"] and len(topics) - 1 == 6
    # a fresh project configures no survey and no themes
    assert "No survey was summarised in this run." in html and "No triangulation in this run." in html
    assert "No problems were met in this run." in html
    manifest = json.loads((run_folder / "manifest.json").read_text(encoding="utf-8"))
    stages = page.tables["manifest"][0]
    assert [row[0] for row in stages[1:]] == [stage["stage"] for stage in manifest["stages"]]


def test_text_from_the_files_is_escaped(copied_run, tmp_path):
    documents = read_csv(copied_run / "documents.csv")
    injected = next(d for d in documents if d["kind"] == "policy")
    injected["title"] = "<script>alert(1)</script>"
    write_csv(copied_run / "documents.csv", documents)
    (copied_run / "instruments" / "instruments_documents.csv").unlink()  # the list now comes from documents.csv

    (copied_run / "report.html").unlink(missing_ok=True)  # the run wrote one; ``out`` must go elsewhere
    out = write_run_report(copied_run, tmp_path / "elsewhere.html")
    html = out.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    document_list = Page(html).tables["corpus"][1]
    assert next(row for row in document_list if row[0] == injected["id"])[1] == "<script>alert(1)</script>"
    assert not (copied_run / "report.html").exists()


def test_sections_without_their_files_say_so_in_one_line(copied_run):
    shutil.rmtree(copied_run / "topics")
    (copied_run / "codings.csv").unlink()
    page_text = write_run_report(copied_run).read_text(encoding="utf-8")
    page = Page(page_text)
    assert page.headings == list(SECTIONS.items())
    assert '<p class="absent">No topic model was fitted in this run.</p>' in page_text
    assert '<p class="absent">No transcripts were coded in this run.</p>' in page_text
    assert "topics" not in page.tables and page.tables["instruments"]


def test_a_folder_with_only_its_manifest_still_gets_a_report(run_folder, tmp_path):
    shutil.copy(run_folder / "manifest.json", tmp_path / "manifest.json")
    html = write_run_report(tmp_path).read_text(encoding="utf-8")
    assert Page(html).headings == list(SECTIONS.items())
    for line in ("No documents.csv in this run.", "No policy documents are listed in this run.",
                 "No policy clauses were classified by instrument in this run.", "No topic model was fitted",
                 "No transcripts were coded in this run.", "No survey was summarised in this run.",
                 "No triangulation in this run."):
        assert line in html


def test_the_files_a_run_adds_are_shown(copied_run):
    """Stages and problems in the manifest, survey_summary.csv, reliability/agreement.csv, the triangulation's
    tables; and where a newer file is missing, the older place of the same table."""
    manifest = json.loads((copied_run / "manifest.json").read_text(encoding="utf-8"))
    manifest["stages"] = [{"stage": "ingest", "status": "ran", "seconds": 3.2, "key": "ab12",
                           "counts": {"documents": 24, "classified": {"rules": 347}}},
                          {"stage": "topics", "status": "up to date", "seconds": 0.0, "key": "cd34", "counts": {}}]
    manifest["problems"] = [
        {"path": "corpus/a.pdf", "code": "pdf-partial-text-layer", "severity": "warning", "message": "page 2: no text"},
        {"path": "corpus/b.pdf", "code": "pdf-encrypted", "severity": "error", "message": "the PDF is encrypted"}]
    (copied_run / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    write_csv(copied_run / "survey_summary.csv",
              [{"item": f"q{i}", "label": "本单位了解本地产教融合激励政策", "n": 170, "mean": 3.1} for i in range(130)])
    (copied_run / "agreement.csv").unlink(missing_ok=True)  # the top level comes first; this tests the other place
    (copied_run / "reliability").mkdir()
    write_csv(copied_run / "reliability" / "agreement.csv",
              [{"code": "motives", "units": 40, "percent_agreement": 0.9, "krippendorff_alpha": 0.78}])
    (copied_run / "triangulation").mkdir(exist_ok=True)
    write_csv(copied_run / "triangulation" / "joint_display.csv",
              [{"theme": "incentives", "policy": "16/16 documents", "policy_quotes": "[10-3-1] 给予企业一次性补助"}])
    write_csv(copied_run / "triangulation" / "survey_enterprise.csv", [{"ref": "q1", "n": 168}])

    html = write_run_report(copied_run).read_text(encoding="utf-8")
    page = Page(html)
    stages = page.tables["manifest"][0]
    assert stages[0] == ["stage", "status", "seconds", "key", "counts"]
    assert stages[1] == ["ingest", "ran", "3.2", "ab12", 'documents 24 · classified {"rules": 347}']
    [survey] = page.tables["survey"]  # survey_summary.csv stands for the triangulation's survey tables
    assert len(survey) - 1 == 100 and "… 30 more rows in survey_summary.csv" in html
    assert page.tables["coding"][1][1] == ["motives", "40", "0.9", "0.78"]
    assert page.tables["triangulation"][0] == [["theme", "policy"], ["incentives", "16/16 documents"]]
    assert "The quote columns (policy_quotes) are left out here" in html
    error, warning = page.tables["problems"]
    assert html.index("error: 1") < html.index("warning: 1")
    assert error[1] == ["corpus/b.pdf", "pdf-encrypted", "the PDF is encrypted"]
    assert warning[1][1] == "pdf-partial-text-layer"

    (copied_run / "survey_summary.csv").unlink()
    (copied_run / "triangulation" / "joint_display.csv").unlink()
    write_csv(copied_run / "triangulation.csv", [{"theme": "incentives", "fit": "discordance"}])
    page = Page(write_run_report(copied_run).read_text(encoding="utf-8"))
    assert page.tables["triangulation"][0] == [["theme", "fit"], ["incentives", "discordance"]]
    assert page.tables["survey"] == [[["ref", "n"], ["q1", "168"]]]


def test_a_run_of_transcripts_only_lists_them_says_why_there_is_no_triangulation_and_rounds(copied_run):
    documents = read_csv(copied_run / "documents.csv")
    write_csv(copied_run / "documents.csv", [d for d in documents if d["kind"] == "transcript"])
    manifest = json.loads((copied_run / "manifest.json").read_text(encoding="utf-8"))
    manifest["triangulation"] = {"reason": "no themes file ([triangulation] themes)"}
    (copied_run / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    (copied_run / "reliability").mkdir(exist_ok=True)
    write_csv(copied_run / "agreement.csv", [{"code": "motives", "units": 9, "krippendorff_alpha": 0.9259259259259258,
                                              "p": 0.0000321}])
    html = write_run_report(copied_run).read_text(encoding="utf-8")
    page = Page(html)
    transcripts = next(t for t in page.tables["corpus"] if t[0][:2] == ["编号", "file"])
    interviews = [d for d in documents if d["kind"] == "transcript"]
    assert len(transcripts) == 1 + len(interviews) and "participant turns" in transcripts[0]
    assert "No policy documents in documents.csv." in html  # no empty level × year table
    assert "No triangulation in this run. Reason: no themes file ([triangulation] themes)." in html
    assert " themes,  convergence cells" not in html
    cells = [cell for table in page.tables["coding"] for row in table for cell in row]
    assert "0.926" in cells and "3.21e-05" in cells and "0.9259259259259258" not in html
