"""Triangulation on a real small project: policy text, two transcripts coded by a human, a survey and an
indicator table; the report files, computed silence, exact quotes, researchers' labels kept across
runs, the spreadsheet round trip, member-checking packets and the CLI."""
from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner
from docx import Document

from pipeline import open_project
from pipeline.cli import cli
from pipeline.errors import ProjectError
from pipeline.export import write_workbook

POLICY = """关于支持企业参与职业教育的若干措施
第一条 对接收职业院校学生实习的企业，按每人每月500元给予实习补贴。
第二条 企业申报产教融合型企业的，由市发展改革委会同教育局受理认定。
第三条 企业违反实习管理规定的，责令改正。
"""
TRANSCRIPTS = {
    "e01.txt": "问：补贴有用吗？\n答：补贴太少，申报材料又多，作用有限。\n问：还有呢？\n答：<script>alert(1)</script>我们还是愿意合作。\n",
    "g01.txt": "问：政策效果如何？\n答：补贴发下去以后企业积极性明显提高了。\n",
}
CODEBOOK = """\
id: study
name: 测试编码本
version: 1
codes:
  - id: incentives
    name: 激励
    definition: 谈到激励。
    codable: false
    children:
      - {id: incent_effective, name: 激励有效, definition: 激励起作用。, stance: positive}
      - {id: incent_limited, name: 激励有限, definition: 激励作用有限。, stance: negative}
  - id: safety
    name: 安全责任
    definition: 谈到实习安全责任。
"""
SURVEY = """\
survey: s1
title: 测试问卷
data: s1.csv
respondent: id
attributes:
  ownership: {label: 所有制, values: {1: 国有, 2: 民营}}
items:
  q1: {text: 激励有吸引力, type: likert, points: 5}
  q2: {text: 激励足以弥补成本, type: likert, points: 5}
scales:
  attraction: {label: 激励吸引力, items: [q1, q2], theme: incentives}
compare_by: [ownership]
"""
SURVEY_DATA = "id,ownership,q1,q2\n" + "".join(
    f"R{i},{1 + i % 2},{a},{b}\n" for i, (a, b) in enumerate([(1, 2), (2, 2), (2, 1), (4, 3), (1, 1), (2, 3), (3, 2),
                                                            (1, 2), (5, 4), (2, 2)]))
INDICATORS = """\
table: t1
title: 测试指标
data: t1.csv
region: region
year: year
columns:
  graduates: {label: 毕业生, unit: 人}
  gdp: {label: GDP, unit: 亿元}
derived:
  ratio: {label: 协调指数, formula: graduates / gdp, direction: higher, bands: [{band: red, below: 1.0}, {band: green}]}
"""
INDICATOR_DATA = "region,year,graduates,gdp\nA,2020,100,50\nA,2021,120,50\nB,2020,40,50\nB,2021,35,50\n"
THEMES = """\
version: 1
questions: {RQ1: 激励是否有效？}
themes:
  - id: incentives
    name: 激励对企业有吸引力
    question: RQ1
    interviews: {codes: [incentives]}
    policy: {instruments: [incentive], direction: positive}
    survey: {refs: [attraction]}
  - id: safety
    name: 实习安全责任
    question: RQ1
    interviews: {codes: [safety]}
    policy: {keywords: [实习]}
  - id: coordination
    name: 规模协调
    question: RQ1
    indicators: {refs: [ratio]}
    policy: {keywords: [职业院校]}
"""


@pytest.fixture
def project(project_dir):
    corpus = project_dir / "corpus"
    (corpus / "policy.txt").write_text(POLICY, encoding="utf-8")
    for name, text in TRANSCRIPTS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    (corpus / "metadata.csv").write_text("file,participant,group,kind\ne01.txt,E01,enterprise,transcript\n"
                                         "g01.txt,G01,government,transcript\npolicy.txt,,,policy\n", encoding="utf-8")
    files = {"codebooks/study.yaml": CODEBOOK, "data/s1.yaml": SURVEY, "data/s1.csv": SURVEY_DATA,
             "data/t1.yaml": INDICATORS, "data/t1.csv": INDICATOR_DATA, "themes.yaml": THEMES}
    for name, text in files.items():
        (project_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (project_dir / name).write_text(text, encoding="utf-8")
    config = project_dir / "policoder.toml"
    text = config.read_text(encoding="utf-8").replace('codebook = "iei_interviews"', 'codebook = "codebooks/study.yaml"')
    text = text.replace('files = []                   # survey', 'files = ["data/s1.yaml"]  # survey')
    text = text.replace('files = []                   # indicator', 'files = ["data/t1.yaml"]  # indicator')
    text = text.replace('themes = ""', 'themes = "themes.yaml"')
    config.write_text(text, encoding="utf-8")
    opened = open_project(project_dir)
    opened.ingest()
    document = {d["path"].split("/")[-1]: d["id"] for d in opened.rows("documents")}
    for name, phrase, code in (("e01.txt", "补贴太少，申报材料又多，作用有限。", "incent_limited"),
                               ("g01.txt", "补贴发下去以后企业积极性明显提高了。", "incent_effective"),
                               ("e01.txt", "<script>alert(1)</script>我们还是愿意合作。", "incent_effective")):
        start = TRANSCRIPTS[name].index(phrase)
        opened.code(document[name], start, start + len(phrase), code, "li")
    yield opened
    opened.close()


def cell(result, theme, a, b):
    return next(row for row in result.convergence if (row["theme"], row["source_a"], row["source_b"]) == (theme, a, b))


def test_evidence_silence_and_suggestions(project):
    result = project.triangulation()
    incentives = result.item("incentives", "interviews")
    assert (incentives.n_sources, incentives.n_total, incentives.n_units) == (2, 2, 3)
    assert incentives.breakdown["group"]["enterprise"]["negative"] == 1
    assert incentives.direction == 1  # two positive codings of three
    assert result.item("incentives", "policy").n_units == 1
    survey = result.item("incentives", "survey")
    assert survey.n_total == 10 and survey.direction == -1  # most respondents disagree: contradicts
    # nobody coded safety: the interviews are silent while the policy speaks of 实习
    assert cell(result, "safety", "policy", "interviews")["suggested"] == "silence"
    assert cell(result, "incentives", "policy", "interviews")["final"] == ""
    assert {row["theme"] for row in result.convergence} == {"incentives", "safety", "coordination"}
    # a source a theme does not map is no strand, not a silence
    assert not result.item("coordination", "interviews").mapped
    assert result.item("coordination", "indicators").direction == 0  # A rose, B fell
    grid = {row["theme"]: row for row in result.presence}
    assert (grid["safety"]["policy"], grid["safety"]["interviews"], grid["safety"]["survey"]) == (1, 0, "")


def test_report_files_quotes_and_escaping(project, tmp_path):
    out = tmp_path / "report"
    summary = project.triangulation_report(out)
    assert summary["cells"] == 5 and summary["silences"] == 1
    for name in ("triangulation.html", "triangulation.md", "triangulation.xlsx", "convergence.csv",
                 "joint_display.csv", "exemplars.csv"):
        assert (out / name).stat().st_size > 0
    with (out / "convergence.csv").open(encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames[:6] == ["theme", "source_a", "source_b", "suggested", "final", "rationale"]
    texts = {d["id"]: project.document(str(d["id"]))["text"] for d in project.rows("documents")}
    with (out / "exemplars.csv").open(encoding="utf-8-sig") as handle:
        quotes = list(csv.DictReader(handle))
    assert quotes
    for quote in quotes:
        assert texts[int(quote["doc_id"])][int(quote["start"]):int(quote["end"])] == quote["quote"]
    html = (out / "triangulation.html").read_text(encoding="utf-8")
    assert "<script" not in html
    assert "0 of 5 convergence cells" in html and "unconfirmed" in html
    # a transcript holding markup is shown as text wherever a passage of it is printed
    project.member_check(out, formats=("html",), participants=["E01"])
    packet = (out / "member_check_E01.html").read_text(encoding="utf-8")
    assert "<script" not in packet and "&lt;script&gt;alert(1)&lt;/script&gt;" in packet


def test_researchers_labels_survive_reruns_and_the_sheet_round_trip(project, tmp_path):
    project.record_convergence("incentives", "interviews", "policy", "dissonance", "li", "企业说补贴太少")
    project.record_meta_inference("incentives", "li", fit="discordance", text="政策承诺与企业感受不一致")
    with pytest.raises(ProjectError, match="label 'agree' is not one of"):
        project.record_convergence("incentives", "policy", "survey", "agree", "li")
    out = tmp_path / "report"
    project.triangulation_report(out)
    result = project.triangulation()
    assert cell(result, "incentives", "policy", "interviews")["final"] == "dissonance"
    row = next(r for r in result.joint_display if r["theme"] == "incentives")
    assert (row["fit"], row["meta_inference"], row["discordant"]) == ("discordance", "政策承诺与企业感受不一致", True)
    # a second researcher fills the exported sheet: their labels are added, li's stay
    with (out / "convergence.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    for r in rows:
        r["final"] = "silence" if r["suggested"] == "silence" else "partial_agreement"
        r["rationale"] = "王的判断"
    sheet = tmp_path / "wang.csv"
    with sheet.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert project.import_convergence(sheet, "wang") == 5
    assert project.import_convergence(sheet, "wang") == 0  # nothing changed: nothing appended
    workbook = tmp_path / "zhao.xlsx"  # the same sheet saved from Excel
    write_workbook({"convergence": rows}, workbook)
    assert project.import_convergence(workbook, "zhao") == 5
    result = project.triangulation()
    disputed = cell(result, "incentives", "policy", "interviews")
    assert (disputed["final"], disputed["status"]) == ("", "disputed")
    assert result.researchers["double_labelled"] == 5
    assert result.researchers["disagreements"] == [
        {"theme": "incentives", "pair": "policy↔interviews", "li": "dissonance", "wang": "partial_agreement",
         "zhao": "partial_agreement", "resolved_as": "", "resolution_note": ""}]
    project.record_convergence("incentives", "policy", "interviews", "dissonance", "consensus", "讨论后")
    assert cell(project.triangulation(), "incentives", "policy", "interviews")["final"] == "dissonance"


def test_member_check_packets_hold_the_participants_own_passages(project, tmp_path):
    written = project.member_check(tmp_path / "packets")
    assert sorted(p.name for p in written) == sorted(f"member_check_{p}.{f}" for p in ("E01", "G01")
                                                      for f in ("md", "html", "docx"))
    markdown = (tmp_path / "packets" / "member_check_E01.md").read_text(encoding="utf-8")
    assert "补贴太少，申报材料又多，作用有限。" in markdown and "激励对企业有吸引力" in markdown
    assert "积极性明显提高" not in markdown  # another interviewee's words never reach this packet
    docx_text = "\n".join(p.text for p in Document(str(tmp_path / "packets" / "member_check_G01.docx")).paragraphs)
    assert "补贴发下去以后企业积极性明显提高了。" in docx_text


def test_cli_triangulate_and_run(project):
    root = project.root
    runner = CliRunner()
    result = runner.invoke(cli, ["triangulate", "-o", str(root / "tri"), "--project", str(root)])
    assert result.exit_code == 0, result.output
    assert {"triangulation.html", "convergence.csv", "joint_display.csv"} <= {p.name for p in (root / "tri").iterdir()}
    labelled = runner.invoke(cli, ["triangulate", "label", "safety", "policy", "interviews", "silence",
                                   "--researcher", "li", "--project", str(root)])
    assert labelled.exit_code == 0, labelled.output
    bad = runner.invoke(cli, ["triangulate", "label", "nosuch", "policy", "interviews", "silence",
                              "--researcher", "li", "--project", str(root)])
    assert bad.exit_code == 1 and "unknown theme 'nosuch'" in bad.output
    alpha = runner.invoke(cli, ["survey", "alpha", "--format", "json", "--project", str(root)])
    assert json.loads(alpha.output)[0]["scale"] == "attraction"
    run = runner.invoke(cli, ["run", "--project", str(root)])
    assert run.exit_code == 0, run.output
    manifest = json.loads((root / "outputs" / "latest" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["triangulation"]["confirmed"] == 1
    assert (root / "triangulation" / "convergence.csv").exists()  # the researchers' file, beside outputs/


def test_a_topic_query_without_a_topic_model_is_a_clear_error(project):
    themes = project.root / "themes.yaml"
    themes.write_text(THEMES.replace("policy: {keywords: [职业院校]}", "policy: {topics: [0, 2]}"), encoding="utf-8")
    with pytest.raises(ProjectError, match="no topic model has been fitted"):
        project.triangulation()
