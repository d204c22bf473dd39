"""The library API over real files: incremental, safe ingestion of a batch."""
import shutil

import pytest

from pipeline import open_project
from pipeline import db as store
from tests.conftest import make_pdf

NOTICE = """宁波市教育局文件
甬教职成〔2024〕7号
宁波市教育局关于推进校企合作的通知
各区（县、市）教育局：
为推进产教融合，现将有关事项通知如下。
一、对新认定的产教融合型企业给予一次性奖励20万元。
二、专项资金不得挪用，违者限期整改并追究责任。
宁波市教育局
2024年3月5日
"""
INTERVIEW = "问：您所在企业如何参与职业教育？\n答：我们和学院共建了产业学院。\n问：补贴到位吗？\n答：拨付比较慢。\n"


@pytest.fixture
def project(project_dir):
    corpus = project_dir / "corpus"
    (corpus / "notice.txt").write_text(NOTICE, encoding="utf-8")
    (corpus / "interviews").mkdir()
    (corpus / "interviews" / "e01.txt").write_bytes(INTERVIEW.encode("gbk"))
    (corpus / "interviews" / "metadata.csv").write_text(
        "file,participant,group,role\ne01.txt,E01,enterprise,HR经理\n", encoding="utf-8")
    opened = open_project(project_dir)
    yield opened
    opened.close()


def test_project_ingest_reads_policy_and_transcript_with_sidecar(project):
    report = project.ingest()
    assert sorted(report.ingested) == ["corpus/interviews/e01.txt", "corpus/notice.txt"]
    assert report.exit_status == 0
    documents = {row["path"]: row for row in project.rows("documents")}
    notice = documents["corpus/notice.txt"]
    assert (notice["kind"], notice["doc_number"], notice["level"], notice["city"]) == (
        "policy", "甬教职成〔2024〕7号", "municipal", "宁波市")
    interview = documents["corpus/interviews/e01.txt"]
    assert interview["kind"] == "transcript" and interview["encoding"] == "gb18030"
    assert '"group": "enterprise"' in interview["attributes"]
    turns = [t for t in project.rows("turns") if t["doc_id"] == interview["id"]]
    assert [(t["role"], t["text"]) for t in turns][:2] == [("interviewer", "您所在企业如何参与职业教育？"),
                                                           ("participant", "我们和学院共建了产业学院。")]


def test_project_second_ingest_is_incremental_and_keeps_human_codings(project):
    project.ingest()
    notice_id = project.document("notice.txt")["id"]
    unit = project.rows("clauses")[1]
    store.add_codings(project.db, [{"doc_id": notice_id, "start": unit["start"], "end": unit["end"],
                                    "code": "incentive", "coder": "A", "unit_id": unit["unit_id"]}],
                      "2026-11-23T00:00:00+00:00")
    again = project.ingest()
    assert again.ingested == [] and len(again.unchanged) == 2
    notice = project.root / "corpus" / "notice.txt"
    notice.write_text(NOTICE.replace("20万元", "30万元"), encoding="utf-8")
    changed = project.ingest()
    assert changed.ingested == ["corpus/notice.txt"]
    assert project.document("notice.txt")["id"] == notice_id
    assert "30万元" in project.rows("clauses")[1]["text"]
    assert [c["code"] for c in project.rows("codings")] == ["incentive"]


def test_project_moved_file_keeps_its_number_and_missing_file_is_flagged(project):
    project.ingest()
    notice_id = project.document("notice.txt")["id"]
    corpus = project.root / "corpus"
    (corpus / "policy").mkdir()
    shutil.move(corpus / "notice.txt", corpus / "policy" / "notice.txt")
    report = project.ingest()
    assert report.moved == ["corpus/notice.txt → corpus/policy/notice.txt"]
    assert project.document("policy/notice.txt")["id"] == notice_id
    (corpus / "interviews" / "e01.txt").unlink()
    report = project.ingest()
    assert report.missing == ["corpus/interviews/e01.txt"]
    statuses = {r["path"]: r["status"] for r in project.rows("documents")}
    assert statuses["corpus/interviews/e01.txt"] == "missing"
    # a file that comes back unchanged is a document again, not missing for ever
    (corpus / "interviews" / "e01.txt").write_bytes(INTERVIEW.encode("gbk"))
    report = project.ingest()
    assert report.ingested == ["corpus/interviews/e01.txt"] and report.missing == []
    assert {r["path"]: r["status"] for r in project.rows("documents")}["corpus/interviews/e01.txt"] == "ok"


def test_a_file_ingested_from_outside_the_corpus_is_missing_when_gone(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "extra.txt").write_text(NOTICE.replace("7号", "8号"), encoding="utf-8")
    project.ingest([outside])
    (outside / "extra.txt").unlink()
    report = project.ingest()  # the configured corpus only, as `policoder run` reads it
    extra = project.display_path(outside / "extra.txt", resolved=True)
    assert report.missing == [extra]
    assert {r["path"]: r["status"] for r in project.rows("documents")}[extra] == "missing"


def test_project_bad_inputs_are_named_and_the_batch_goes_on(project, bad_inputs):
    make_pdf(bad_inputs / "good.pdf", [["关于加强实训基地建设的通知", "一、给予建设补助。", "二、不得挪用资金。"]])
    report = project.ingest([bad_inputs, project.root / "corpus"])
    codes = {problem.path.split("/")[-1]: problem.code for problem in report.skipped}
    assert codes == {
        "encrypted.pdf": "pdf-encrypted", "corrupt.pdf": "pdf-corrupt", "empty.pdf": "file-empty",
        "zero_pages.pdf": "pdf-no-pages", "scanned.pdf": "pdf-no-text-layer", "notes.rtf": "unsupported-type",
        "broken.docx": "docx-corrupt", "binary.txt": "text-undecodable",
    }
    assert report.exit_status == 1
    assert len(report.ingested) == 3  # good.pdf, the notice and the interview
    stored = {(r["path"].split("/")[-1], r["code"]) for r in project.rows("problems")}
    assert ("encrypted.pdf", "pdf-encrypted") in stored
    # the store is consistent: every document has its units, nothing half-written
    documents = project.rows("documents")
    with_units = {r["doc_id"] for r in project.rows("clauses")} | {r["doc_id"] for r in project.rows("turns")}
    assert {d["id"] for d in documents} == with_units


def test_project_two_workers_give_the_same_result_as_one(project_dir, tmp_path):
    corpus = project_dir / "corpus"
    for n in range(4):
        make_pdf(corpus / f"n{n}.pdf", [[f"关于第{n}批产业学院建设的通知", "一、给予每个产业学院建设补助。"]])
    one = open_project(project_dir, db=tmp_path / "one.db")
    two = open_project(project_dir, db=tmp_path / "two.db")
    one.ingest(workers=1)
    two.ingest(workers=2)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "id"} for r in rows]  # noqa: E731
    assert strip(one.rows("documents")) == strip(two.rows("documents"))
    assert one.rows("clauses") == two.rows("clauses")
    one.close(), two.close()


def test_project_a_broken_metadata_sheet_is_a_problem_and_other_sheets_still_apply(project_dir):
    import openpyxl

    corpus = project_dir / "corpus"
    (corpus / "a").mkdir()
    (corpus / "b").mkdir()
    (corpus / "a" / "x.txt").write_text(NOTICE, encoding="utf-8")
    (corpus / "b" / "y.txt").write_text(NOTICE.replace("20万元", "10万元"), encoding="utf-8")
    sheet = openpyxl.Workbook()
    sheet.active.append(["file", "group", "date"])
    import datetime
    sheet.active.append(["x.txt", "示范", datetime.datetime(2024, 3, 6)])
    sheet.save(corpus / "a" / "metadata.xlsx")
    (corpus / "b" / "metadata.csv").write_text("file,level\ny.txt,township\n", encoding="utf-8")
    opened = open_project(project_dir)
    report = opened.ingest()
    assert [(p.path, p.code) for p in report.skipped] == [("corpus/b/metadata.csv", "sidecar-invalid")]
    assert "row 2 (y.txt): level 'township'" in report.skipped[0].message
    x = opened.document("a/x.txt")
    assert x["date"] == "2024-03-06" and '"group": "示范"' in x["attributes"]
    assert len(report.ingested) == 2  # the documents themselves are fine
    stored = opened.rows("problems")
    assert len(stored) == 1 and stored[0]["run_id"]  # every problem belongs to a run
    opened.close()


def test_project_sheet_rows_report_every_bad_field_and_unknown_files_and_the_rest_applies(project_dir):
    corpus = project_dir / "corpus"
    for name in ("x.txt", "y.txt", "z.txt"):
        (corpus / name).write_text(NOTICE.replace("20万元", f"{len(name) + ord(name[0])}万元"), encoding="utf-8")
    (corpus / "metadata.csv").write_text(
        "file,level,date,group\nx.txt,city,2024-13-40,甲\nnosuch.txt,county,,乙\ny.txt,county,2024-02-29,丙\n"
        "z.txt,,2023-02-29,丁\n", encoding="utf-8")
    opened = open_project(project_dir)
    report = opened.ingest()
    problems = sorted((p.path, p.code, p.message) for p in report.skipped)
    assert problems == [
        ("corpus/metadata.csv", "sidecar-invalid",
         "row 2 (x.txt): level 'city' is not one of national, provincial, municipal, county; "
         "date '2024-13-40' is not a date (yyyy-mm-dd); row ignored"),
        ("corpus/metadata.csv", "sidecar-invalid", "row 5 (z.txt): date '2023-02-29' is not a date (yyyy-mm-dd); row ignored"),
        ("corpus/metadata.csv", "sidecar-unmatched", "row 3: file 'nosuch.txt' is not in the corpus; row ignored"),
    ]
    y = opened.document("y.txt")  # the good row applies
    assert (y["level"], y["date"], '"group": "丙"' in y["attributes"]) == ("county", "2024-02-29", True)
    x = opened.document("x.txt")  # the bad row does not: detection stands
    assert (x["level"], x["date"], x["attributes"]) == ("municipal", "2024-03-05", "{}")
    assert len(report.ingested) == 3
    assert sorted(p["code"] for p in opened.rows("problems")) == ["sidecar-invalid", "sidecar-invalid", "sidecar-unmatched"]
    opened.close()


def test_project_sheet_rows_for_files_outside_the_ingested_paths_are_not_unmatched(project_dir):
    corpus = project_dir / "corpus"
    (corpus / "sub").mkdir()
    (corpus / "x.txt").write_text(NOTICE, encoding="utf-8")
    (corpus / "sub" / "y.txt").write_text(NOTICE.replace("20万元", "10万元"), encoding="utf-8")
    (corpus / "metadata.csv").write_text("file,group\nx.txt,甲\ny.txt,乙\n", encoding="utf-8")
    opened = open_project(project_dir)
    report = opened.ingest([corpus / "x.txt"])  # y.txt (matched by name, in sub/) exists: no problem
    assert report.problems == [] and len(report.ingested) == 1
    opened.close()


def test_an_uncertain_government_level_is_a_warning_until_a_sheet_gives_it(project_dir):
    # 宁政发 alone is the prefix of 宁夏, 宁阳 and 南京: the instrument × level table would count it as unknown
    corpus = project_dir / "corpus"
    (corpus / "n.txt").write_text("宁政发〔2023〕18号\n关于推进职业教育产教融合发展的实施意见\n为推进产教融合，提出如下意见。\n"
                                  "一、对认定的企业给予奖励。\n", encoding="utf-8")
    opened = open_project(project_dir)
    report = opened.ingest()
    warned = [(problem.code, severity) for problem, severity in report.problems]
    assert warned == [("level-ambiguous", "warning")]
    message = str(report.problems[0][0])
    assert message.startswith("corpus/n.txt: no sure government level (ambiguous: 文号 宁政发") and "metadata.csv" in message
    (corpus / "metadata.csv").write_text("file,level\nn.txt,county\n", encoding="utf-8")
    again = opened.ingest()
    assert again.ingested == ["corpus/n.txt"] and again.problems == []
    assert opened.document("n.txt")["level"] == "county"
    opened.close()
