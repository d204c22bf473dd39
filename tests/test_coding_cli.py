"""Qualitative coding through the CLI, end to end, on a small real project of interview transcripts:
codebook checks and exports, coding sheets, agreement, the append-only store, reconciliation and
auto-coding."""
import json
import shutil

import krippendorff
import openpyxl
import pytest
from click.testing import CliRunner
from sklearn.metrics import cohen_kappa_score

from pipeline.cli import cli

CODEBOOK = """\
id: test_book
name: 测试编码本
version: 1
codes:
  - id: policy
    name: 政策
    definition: 受访者谈到政策及其落实。
    codable: false
    children:
      - id: subsidy
        name: 补贴
        definition: 谈到补贴或专项资金。
        auto:
          keywords: [补贴]
      - id: delay
        name: 拖延
        definition: 谈到拨付或落实得慢。
        auto:
          keywords: [慢]
  - id: cooperation
    name: 合作
    definition: 谈到校企合作的具体形式。
    auto:
      keywords: [产业学院, 实习]
"""
TRANSCRIPTS = {  # doc ids follow the paths: c01 = 1, e01 = 2, g01 = 3; answers are turns 2, 4, 6
    "c01.txt": "问：学院和企业合作多吗？\n答：我们有三个产业学院。\n问：有什么困难？\n答：企业积极性不高。\n",
    "e01.txt": "问：您所在企业如何参与职业教育？\n答：我们和学院共建了产业学院。\n问：补贴到位吗？\n答：补贴拨付比较慢。\n"
               "问：学生实习怎么样？\n答：实习安排得还可以。\n",
    "g01.txt": "问：政府怎么推动校企合作？\n答：我们出台了补贴政策。\n问：落实情况呢？\n答：有些区县落实得慢。\n",
}
METADATA = ("file,participant,group,role\nc01.txt,C01,college,院长\ne01.txt,E01,enterprise,HR经理\n"
            "g01.txt,G01,government,科长\n")
CODES = ("subsidy", "delay", "cooperation")
ANSWERS = ("1-2", "1-4", "2-2", "2-4", "2-6", "3-2", "3-4")  # interviewer questions are not units
# what each coder decides, per answer turn
ANN = {"1-2": {"cooperation"}, "1-4": set(), "2-2": {"cooperation"}, "2-4": {"subsidy", "delay"}, "2-6": set(),
       "3-2": {"subsidy"}, "3-4": {"delay"}}
BOB = {"1-2": {"cooperation"}, "1-4": {"delay"}, "2-2": {"cooperation"}, "2-4": {"subsidy"}, "2-6": {"cooperation"},
       "3-2": {"subsidy", "cooperation"}, "3-4": {"delay"}}
# the keywords: 产业学院 (1-2, 2-2), 补贴 (2-4, 3-2), 慢 (2-4, 3-4), 实习 (2-6); 补贴 and 实习 are in questions too
AUTO = {"1-2": {"cooperation"}, "1-4": set(), "2-2": {"cooperation"}, "2-4": {"subsidy", "delay"},
        "2-6": {"cooperation"}, "3-2": {"subsidy"}, "3-4": {"delay"}}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def as_json(root, *args):
    return json.loads(ok(*args, "--format", "json", "--project", root).stdout)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("base") / "p"
    ok("init", root)
    (root / "codebooks").mkdir(exist_ok=True)
    (root / "codebooks" / "test.yaml").write_text(CODEBOOK, encoding="utf-8")
    toml = (root / "policoder.toml").read_text(encoding="utf-8")
    assert 'codebook = "iei_interviews"' in toml
    toml = toml.replace('codebook = "iei_interviews"', 'codebook = "codebooks/test.yaml"')
    (root / "policoder.toml").write_text(toml, encoding="utf-8")
    for name, text in TRANSCRIPTS.items():
        (root / "corpus" / name).write_text(text, encoding="utf-8")
    (root / "corpus" / "metadata.csv").write_text(METADATA, encoding="utf-8")
    ok("ingest", "--project", root)
    return root


@pytest.fixture
def root(base, tmp_path):
    return shutil.copytree(base, tmp_path / "p")


def sheet_rows(path, name="coding"):
    """(workbook, worksheet, header, {unit_id: row number}) of an XLSX coding sheet."""
    workbook = openpyxl.load_workbook(path)
    sheet = workbook[name]
    header = [cell.value for cell in sheet[1]]
    rows = {sheet.cell(r, header.index("unit_id") + 1).value: r for r in range(2, sheet.max_row + 1)}
    return workbook, sheet, header, rows


def fill_matrix(path, decisions):
    workbook, sheet, header, rows = sheet_rows(path)
    for unit_id, codes in decisions.items():
        for code in CODES:
            sheet.cell(rows[unit_id], header.index(code) + 1).value = int(code in codes) if isinstance(codes, set) \
                else codes.get(code, 0)
    workbook.save(path)


def fill_column(path, decisions):
    workbook, sheet, header, rows = sheet_rows(path)
    for unit_id, codes in decisions.items():
        value = codes if isinstance(codes, str) else ("; ".join(sorted(codes)) or "-")
        sheet.cell(rows[unit_id], header.index("codes") + 1).value = value
    workbook.save(path)


def code_ann_and_bob(root, tmp):
    ok("code", "sheet", "--coder", "ann", "-o", tmp / "ann.xlsx", "--project", root)
    _, sheet, header, rows = sheet_rows(tmp / "ann.xlsx")
    assert set(CODES) <= set(header) and sorted(rows) == sorted(ANSWERS)
    assert sheet.cell(rows["3-2"], header.index("group") + 1).value == "government"
    fill_matrix(tmp / "ann.xlsx", ANN)
    ok("code", "import", tmp / "ann.xlsx", "--coder", "ann", "--project", root)
    ok("code", "sheet", "--coder", "bob", "--layout", "column", "-o", tmp / "bob.xlsx", "--project", root)
    assert "codes" in sheet_rows(tmp / "bob.xlsx")[2]
    fill_column(tmp / "bob.xlsx", BOB)
    ok("code", "import", tmp / "bob.xlsx", "--coder", "bob", "--project", root)


def coded(root, coder):
    return {(c["unit_id"], c["code"]) for c in as_json(root, "export", "codings") if c["coder"] == coder}


def pairs(decisions):
    return {(unit, code) for unit, codes in decisions.items() for code in codes}


def check_agreement(report, first, second):
    for code in CODES:
        a = [int(code in first[u]) for u in ANSWERS]
        b = [int(code in second[u]) for u in ANSWERS]
        row = report["codes"][code]
        assert row["units"] == len(ANSWERS)
        assert row["percent_agreement"] == pytest.approx(sum(x == y for x, y in zip(a, b)) / len(a))
        assert row["cohen_kappa"] == pytest.approx(cohen_kappa_score(a, b)), code


def test_codebook_validate_names_file_and_line_of_each_mistake(root):
    books = {
        "dup.yaml": ("id: dup\nname: dup\nversion: 1\ncodes:\n  - id: a\n    name: A\n    definition: one\n"
                     "  - id: b\n    name: B\n    definition: two\n"
                     "  - id: a\n    name: A again\n    definition: three\n", 11),
        "orphan.yaml": ("id: orphan\nname: orphan\nversion: 1\ncodes:\n  - id: a\n    name: A\n    definition: d\n"
                        "  - id: b\n    name: B\n    parent: nowhere\n    definition: d\n", 8),
        "badre.yaml": ("id: badre\nname: badre\nversion: 1\ncodes:\n  - id: a\n    name: A\n    definition: d\n"
                       "    auto:\n      regex:\n        - '补贴'\n        - '(未闭合'\n", 11),
    }
    for name, (text, _) in books.items():
        (root / "codebooks" / name).write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["codebook", "validate", "codebooks/test.yaml", *[f"codebooks/{n}" for n in books],
                                      "--project", str(root)])
    assert result.exit_code != 0
    assert "ok: " in result.output and "test_book v1, 4 codes (3 codable" in result.output
    for name, (_, line) in books.items():
        mentions = [row for row in result.output.splitlines() if name in row]
        assert len(mentions) == 1, result.output
        assert f"{name}: line {line}: " in mentions[0], mentions[0]
    assert "appears twice" in result.output and "'nowhere'" in result.output and "'(未闭合'" in result.output
    assert "Traceback" not in result.output


def test_codebook_export_markdown_and_xlsx(root, tmp_path):
    ok("codebook", "export", "-o", tmp_path / "book.md", "--project", root)
    ok("codebook", "export", "-o", tmp_path / "book.xlsx", "--project", root)
    markdown = (tmp_path / "book.md").read_text(encoding="utf-8")
    rows = list(openpyxl.load_workbook(tmp_path / "book.xlsx")["codebook"].iter_rows(values_only=True))
    definitions = {row[rows[0].index("id")]: row[rows[0].index("definition")] for row in rows[1:]}
    expected = {"policy": "受访者谈到政策及其落实。", "subsidy": "谈到补贴或专项资金。", "delay": "谈到拨付或落实得慢。",
                "cooperation": "谈到校企合作的具体形式。"}
    assert definitions == expected
    for code, definition in expected.items():
        assert f"`{code}`" in markdown and definition in markdown


def test_sheets_import_and_agreement_match_sklearn(root, tmp_path):
    code_ann_and_bob(root, tmp_path)
    assert coded(root, "ann") == pairs(ANN) and coded(root, "bob") == pairs(BOB)
    report = as_json(root, "agreement", "--coder", "ann", "--coder", "bob")
    assert {"codes", "overall", "pairs"} <= set(report) and report["coders"] == ["ann", "bob"]
    assert sorted(report["codes"]) == sorted(CODES) and report["units"] == len(ANSWERS)
    check_agreement(report, ANN, BOB)
    nominal_a = ["+".join(sorted(ANN[u])) or "(none)" for u in ANSWERS]
    nominal_b = ["+".join(sorted(BOB[u])) or "(none)" for u in ANSWERS]
    assert report["pairs"][0]["coders"] == ["ann", "bob"]
    assert report["pairs"][0]["cohen_kappa"] == pytest.approx(cohen_kappa_score(nominal_a, nominal_b))
    assert report["overall"]["nominal"]["percent_agreement"] == pytest.approx(
        sum(a == b for a, b in zip(nominal_a, nominal_b)) / len(ANSWERS))


@pytest.mark.parametrize("layout, bad", [("column", "no_such_code"), ("matrix", "maybe")])
def test_import_is_all_or_nothing(root, tmp_path, layout, bad):
    ok("code", "add", "1", 15, 25, "cooperation", "--coder", "zoe", "--project", root)
    before = as_json(root, "export", "codings")
    sheet = tmp_path / "carl.xlsx"
    ok("code", "sheet", "--coder", "carl", "--layout", layout, "-o", sheet, "--project", root)
    row = sheet_rows(sheet)[3]
    if layout == "column":
        fill_column(sheet, {"1-2": "cooperation", "2-4": f"subsidy; {bad}"})
    else:
        fill_matrix(sheet, {"1-2": {"cooperation"}, "2-4": {"subsidy": bad}})
    result = CliRunner().invoke(cli, ["code", "import", str(sheet), "--coder", "carl", "--project", str(root)])
    assert result.exit_code != 0
    assert f"row {row['2-4']}:" in result.output and bad in result.output and "nothing imported" in result.output
    assert f"row {row['1-2']}:" not in result.output
    assert as_json(root, "export", "codings") == before
    # the same sheet, corrected, goes in whole
    fill_column(sheet, {"2-4": "subsidy"}) if layout == "column" else fill_matrix(sheet, {"2-4": {"subsidy"}})
    ok("code", "import", sheet, "--coder", "carl", "--project", root)
    assert coded(root, "carl") == {("1-2", "cooperation"), ("2-4", "subsidy")}


def test_add_edit_delete_keep_their_history(root):
    document = as_json(root, "export", "documents", "--text")[1]
    assert document["path"] == "corpus/e01.txt"
    start = document["text"].index("补贴拨付")
    added = ok("code", "add", "2", start, start + 2, "subsidy", "--coder", "ann", "--memo", "钱", "--project", root)
    first = int(added.stdout.split()[1])
    codings = as_json(root, "export", "codings")
    assert {"doc_id", "start", "end", "code", "coder"} <= set(codings[0])
    assert [(c["doc_id"], c["start"], c["end"], c["code"], c["coder"], c["text"], c["unit_id"]) for c in codings] == [
        (2, start, start + 2, "subsidy", "ann", "补贴", "2-4")]
    refused = fail("code", "edit", first, "--by", "bob", "--code", "delay", "--project", root)
    assert "is ann's: bob may not change it" in refused.output
    edited = ok("code", "edit", first, "--by", "bob", "--as-lead", "--code", "delay", "--project", root)
    second = int(edited.stdout.split()[-1])
    assert second != first
    codings = as_json(root, "export", "codings")
    assert [(c["id"], c["code"], c["coder"], c["start"]) for c in codings] == [(second, "delay", "ann", start)]
    history = as_json(root, "code", "history", first)
    assert [(h["id"], h["code"]) for h in history] == [(first, "subsidy"), (second, "delay")]
    assert as_json(root, "code", "history", second) == history and history[1]["supersedes"] == first
    refused = CliRunner().invoke(cli, ["code", "edit", str(first), "--by", "cy", "--code", "cooperation",
                                       "--project", str(root)])
    assert refused.exit_code == 1 and f"replaced by coding {second}" in refused.output
    ok("code", "delete", second, "--by", "ann", "--project", root)
    assert as_json(root, "export", "codings") == []
    every = as_json(root, "export", "coding_history")
    assert [(r["code"], r["supersedes"], bool(r["deleted"]), r["changed_by"], r["source"]) for r in every] == [
        ("subsidy", None, False, "ann", "api"), ("delay", first, False, "bob", "lead-edit"),
        ("delay", second, True, "ann", "delete")]


def test_disagreement_sheet_reconciles_into_consensus(root, tmp_path):
    code_ann_and_bob(root, tmp_path)
    sheet = tmp_path / "d.xlsx"
    ok("code", "disagreements", "--coder", "ann", "--coder", "bob", "-o", sheet, "--project", root)
    differ = sorted(u for u in ANSWERS if ANN[u] != BOB[u])
    assert sorted(sheet_rows(sheet)[3]) == differ
    decided = {"1-4": set(), "2-4": {"subsidy", "delay"}, "2-6": {"cooperation"}, "3-2": {"subsidy"}}
    assert sorted(decided) == differ
    fill_column(sheet, decided)
    before = [c["coder"] for c in as_json(root, "export", "codings")]
    ok("code", "reconcile", sheet, "--coder", "ann", "--coder", "bob", "--project", root)
    agreed = {u: ANN[u] for u in ANSWERS if ANN[u] == BOB[u]}
    assert coded(root, "consensus") == pairs(agreed) | pairs(decided)
    assert coded(root, "ann") == pairs(ANN) and coded(root, "bob") == pairs(BOB)
    after = [c["coder"] for c in as_json(root, "export", "codings")]
    assert after.count("ann") == before.count("ann") == len(pairs(ANN))
    assert after.count("bob") == before.count("bob") == len(pairs(BOB))
    assert as_json(root, "agreement")["coders"] == ["ann", "bob"]  # the consensus coder is left out


def test_autocode_takes_part_in_agreement(root, tmp_path):
    code_ann_and_bob(root, tmp_path)
    ok("code", "auto", "--project", root)
    auto = [c for c in as_json(root, "export", "codings") if c["coder"] == "auto"]
    assert {(c["unit_id"], c["code"]) for c in auto} == pairs(AUTO)
    keyword = {"subsidy": ("补贴",), "delay": ("慢",), "cooperation": ("产业学院", "实习")}
    assert all(any(word in c["text"] for word in keyword[c["code"]]) for c in auto)
    report = as_json(root, "agreement", "--coder", "ann", "--coder", "auto")
    assert report["coders"] == ["ann", "auto"] and report["units"] == len(ANSWERS)
    check_agreement(report, ANN, AUTO)


def fail(*args, code=1):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def test_a_sheet_import_or_reconciliation_blinds_no_one(root, tmp_path):
    code_ann_and_bob(root, tmp_path)
    ok("code", "reconcile", "--project", root)
    for coder in ("ann", "bob", "consensus"):
        ok("code", "sheet", "--coder", coder, "--show-others", "-o", tmp_path / f"{coder}-open.xlsx", "--project", root)
    _, sheet, header, rows = sheet_rows(tmp_path / "ann-open.xlsx")
    assert "bob: cooperation" in sheet.cell(rows["2-6"], header.index("other_coders") + 1).value
    from fastapi.testclient import TestClient

    from pipeline.workbench import create_app

    client = TestClient(create_app(root, secret="s"))
    client.get("/", params={"coder": "ann"})
    page = client.get("/agreement")
    assert page.status_code == 200 and 'id="blind-note"' not in page.text
    assert {u for u in ANSWERS if f'data-unit="{u}"' in page.text} == {u for u in ANSWERS if ANN[u] != BOB[u]}


def test_a_blind_sample_is_released_by_the_lead(root, tmp_path):
    ok("code", "assign", "--coder", "ann", "--coder", "bob", "--n", 3, "--sample", "pilot", "--stratify", "",
       "--project", root)
    refused = fail("code", "sheet", "--coder", "ann", "--show-others", "-o", tmp_path / "a.xlsx", "--project", root)
    assert "sample pilot" in refused.output and "policoder code release pilot" in refused.output
    fail("code", "release", "pilot-2", "--by", "lead", "--project", root, code=2)
    fail("code", "release", "pilot", "--by", "lead", "--coder", "cy", "--project", root, code=2)
    released = ok("code", "release", "pilot", "--by", "lead", "--coder", "ann", "--project", root)
    assert "released by lead for ann" in released.stdout
    ok("code", "sheet", "--coder", "ann", "--show-others", "-o", tmp_path / "a.xlsx", "--project", root)
    fail("code", "sheet", "--coder", "bob", "--show-others", "-o", tmp_path / "b.xlsx", "--project", root)
    ok("code", "release", "pilot", "--by", "lead", "--project", root)
    ok("code", "sheet", "--coder", "bob", "--show-others", "-o", tmp_path / "b.xlsx", "--project", root)
    from pipeline import open_project
    project = open_project(root)
    try:
        assert {(r["coder"], r["released_by"]) for r in project.assignments()} == {("ann", "lead"), ("bob", "lead")}
        assert all(r["released_at"] for r in project.assignments())
    finally:
        project.close()


def test_an_empty_row_is_not_rated_and_its_memo_is_kept(root, tmp_path):
    sheet = tmp_path / "ann.xlsx"
    ok("code", "sheet", "--coder", "ann", "-o", sheet, "--project", root)
    fill_matrix(sheet, {"1-2": {"cooperation"}, "1-4": set(), "2-2": {"cooperation"}})  # 1-4: rated, no code
    workbook, worksheet, header, rows = sheet_rows(sheet)
    worksheet.cell(rows["2-4"], header.index("memo") + 1).value = "补贴的事以后再编"  # a memo, no codes
    workbook.save(sheet)
    result = ok("code", "import", sheet, "--coder", "ann", "--project", root)
    assert "3 units read" in result.stdout and "1 memos" in result.stdout and "4 rows not rated yet" in result.stdout
    assert "not rated yet" in result.stderr and "2-4; 2-6; 3-2; 3-4" in result.stderr
    memos = as_json(root, "code", "memos")
    assert [(m["target"], m["text"], m["coder"]) for m in memos] == [("2-4", "补贴的事以后再编", "ann")]
    # bob rates every unit: agreement compares the three units ann rated, 1-4 among them as "no code"
    ok("code", "sheet", "--coder", "bob", "--layout", "column", "-o", tmp_path / "bob.xlsx", "--project", root)
    fill_column(tmp_path / "bob.xlsx", BOB)
    ok("code", "import", tmp_path / "bob.xlsx", "--coder", "bob", "--project", root)
    report = as_json(root, "agreement", "--coder", "ann", "--coder", "bob")
    assert report["units"] == 3
    a = [int("delay" in ANN[u]) for u in ("1-2", "1-4", "2-2")]
    b = [int("delay" in BOB[u]) for u in ("1-2", "1-4", "2-2")]
    assert report["codes"]["delay"]["percent_agreement"] == pytest.approx(sum(x == y for x, y in zip(a, b)) / 3)


def test_an_empty_row_naming_an_unknown_unit_is_refused_not_called_unrated(root, tmp_path):
    sheet = tmp_path / "ann.xlsx"
    ok("code", "sheet", "--coder", "ann", "-o", sheet, "--project", root)
    fill_matrix(sheet, {"1-2": {"cooperation"}})
    workbook, worksheet, header, rows = sheet_rows(sheet)
    worksheet.cell(rows["2-4"], header.index("unit_id") + 1).value = "9-9"  # mistyped, left empty
    workbook.save(sheet)
    refused = fail("code", "import", sheet, "--coder", "ann", "--project", root)
    assert "unknown unit '9-9'" in refused.output and "not rated yet: 9-9" not in refused.output


def test_agreement_counts_human_coders_unless_the_machine_is_asked_for(root, tmp_path):
    code_ann_and_bob(root, tmp_path)
    ok("code", "auto", "--project", root)
    humans = as_json(root, "agreement")
    assert humans["coders"] == ["ann", "bob"] and humans["machine_coders"] == []
    check_agreement(humans, ANN, BOB)
    differ = {u for u in ANSWERS if ANN[u] != BOB[u]}
    assert {row["unit_id"] for row in as_json(root, "code", "disagreements")} == differ
    both = as_json(root, "agreement", "--machine")
    assert both["coders"] == ["ann", "auto", "bob"] and both["machine_coders"] == ["auto"]
    assert [(pair["coders"], pair["machine"]) for pair in both["pairs"]] == [
        (["ann", "auto"], True), (["ann", "bob"], False), (["auto", "bob"], True)]
    nominal = [["+".join(sorted(plan[u])) or "(none)" for u in ANSWERS] for plan in (ANN, AUTO, BOB)]
    values = {v: i for i, v in enumerate(sorted({v for row in nominal for v in row}))}
    assert both["overall"]["nominal"]["krippendorff_alpha"] == pytest.approx(krippendorff.alpha(
        reliability_data=[[values[v] for v in row] for row in nominal], level_of_measurement="nominal"))
    table = ok("agreement", "--machine", "--project", root).stdout
    assert "agreement of ann, bob and the machine coder auto on 7 units" in table and "ann × auto (machine)" in table
    toml = root / "policoder.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("include_machine = false", "include_machine = true"),
                    encoding="utf-8")
    assert as_json(root, "agreement")["coders"] == ["ann", "auto", "bob"]
    assert as_json(root, "agreement", "--humans-only")["coders"] == ["ann", "bob"]


def test_reconcile_needs_two_humans_not_a_human_and_the_rules(root, tmp_path):
    ok("code", "sheet", "--coder", "ann", "-o", tmp_path / "ann.xlsx", "--project", root)
    fill_matrix(tmp_path / "ann.xlsx", ANN)
    ok("code", "import", tmp_path / "ann.xlsx", "--coder", "ann", "--project", root)
    ok("code", "auto", "--project", root)
    fail("code", "reconcile", "--project", root)  # one human coder: nothing to reconcile
    ok("code", "reconcile", "--machine", "--project", root)
    assert coded(root, "consensus") == set()  # ann and the rules agree on most units: no consensus for that
    ok("code", "sheet", "--coder", "bob", "--layout", "column", "-o", tmp_path / "bob.xlsx", "--project", root)
    fill_column(tmp_path / "bob.xlsx", BOB)
    ok("code", "import", tmp_path / "bob.xlsx", "--coder", "bob", "--project", root)
    ok("code", "reconcile", "--machine", "--project", root)
    assert coded(root, "consensus") == pairs({u: ANN[u] for u in ANSWERS if ANN[u] == BOB[u] == AUTO[u]})
    ok("code", "reconcile", "--project", root)
    assert coded(root, "consensus") == pairs({u: ANN[u] for u in ANSWERS if ANN[u] == BOB[u]})


def test_code_list_and_report_leave_the_consensus_out_as_their_help_says(root, tmp_path):
    code_ann_and_bob(root, tmp_path)
    ok("code", "reconcile", "--project", root)
    assert "every coder but the consensus" in ok("code", "list", "--help").stdout
    assert {row["coder"] for row in as_json(root, "code", "list")} == {"ann", "bob"}
    frequencies = {row["code"]: row for row in as_json(root, "code", "report", "frequencies")}
    assert frequencies["cooperation"]["codings"] == len([u for u in ANSWERS if "cooperation" in ANN[u]]) + len(
        [u for u in ANSWERS if "cooperation" in BOB[u]])
    table = ok("code", "report", "frequencies", "--project", root).stdout
    assert "frequencies of ann, bob: codings = coded spans" in table
    ok("code", "report", "frequencies", "-o", tmp_path / "f.xlsx", "--project", root)
    assert openpyxl.load_workbook(tmp_path / "f.xlsx").sheetnames == ["frequencies"]


def test_a_span_across_units_is_warned_of_and_counts_where_it_mostly_lies(root, tmp_path):
    document = as_json(root, "export", "documents", "--text")[1]["text"]  # e01: answers 2-2, 2-4, 2-6
    turns = {t["turn_id"]: t for t in as_json(root, "export", "turns") if t["doc_id"] == 2}
    answer, question, following = turns["2-2"], turns["2-3"], turns["2-4"]
    across = ok("code", "add", "2", answer["start"] + 2, following["end"] - 1, "subsidy", "--coder", "carol",
                "--project", root)
    assert "warning: span" in across.stderr and "crosses units 2-2, 2-3 (interviewer question), 2-4" in across.stderr
    assert "agreement counts it for 2-2, 2-4" in across.stderr
    # a span running one character into the next answer counts only for its own
    spill = ok("code", "add", "2", answer["start"], question["start"] + 1, "cooperation", "--coder", "dan",
               "--project", root)
    assert "crosses units 2-2, 2-3 (interviewer question)" in spill.stderr and "counts it for 2-2 (" in spill.stderr
    spill = ok("code", "add", "2", question["start"], following["start"] + 1, "delay", "--coder", "dan",
               "--project", root)
    assert "agreement counts it for none of them" in spill.stderr
    asked = ok("code", "add", "2", question["start"], question["end"], "subsidy", "--coder", "dan", "--project", root)
    assert "unit 2-3 is an interviewer question" in asked.stderr
    inside = ok("code", "add", "2", answer["start"], answer["end"], "delay", "--coder", "carol", "--project", root)
    assert "warning" not in inside.stderr
    from pipeline import open_project
    project = open_project(root)
    try:
        ratings = project.disagreements(coders=["carol", "dan"])
    finally:
        project.close()
    # dan's one-character spill and question codings count nowhere: dan has cooperation in 2-2 only
    by_unit = {row["unit_id"]: (row["carol"], row["dan"]) for row in ratings}
    assert by_unit["2-2"] == ("delay; subsidy", "cooperation") and by_unit["2-4"] == ("subsidy", "")
    assert document[answer["start"]:answer["end"]] == turns["2-2"]["text"]


def test_a_csv_coding_sheet_is_utf8_csv_and_imports(root, tmp_path):
    import csv

    sheet = tmp_path / "hank.csv"
    ok("code", "sheet", "--coder", "hank", "--layout", "column", "-o", sheet, "--project", root)
    raw = sheet.read_bytes()
    assert raw.startswith("\ufeffunit_id,".encode("utf-8")) and "企业积极性不高" in raw.decode("utf-8-sig")
    with sheet.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["unit_id"] for row in rows] == list(ANSWERS)
    for row in rows:
        row["codes"] = "; ".join(sorted(BOB[row["unit_id"]])) or "-"
    with sheet.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    ok("code", "import", sheet, "--coder", "hank", "--project", root)
    assert coded(root, "hank") == pairs(BOB)
    refused = fail("code", "sheet", "--coder", "hank", "-o", tmp_path / "hank.txt", "--project", root)
    assert "written as .xlsx" in refused.output and not (tmp_path / "hank.txt").exists()


def test_codings_are_protected_from_other_coders_duplicates_and_the_consensus_name(root):
    start = 15
    made = ok("code", "add", "1", start, start + 10, "cooperation", "--coder", "ann", "--project", root)
    first = int(made.stdout.split()[1])
    again = fail("code", "add", "1", start, start + 10, "cooperation", "--coder", "ann", "--project", root)
    assert f"coding {first} already codes {start}–{start + 10} of document 1 with cooperation for ann" in again.output
    ok("code", "add", "1", start, start + 10, "cooperation", "--coder", "bob", "--project", root)  # another coder's
    refused = fail("code", "delete", first, "--by", "bob", "--project", root)
    assert f"coding {first} is ann's: bob may not change it" in refused.output and "--as-lead" in refused.output
    fail("code", "edit", first, "--by", "bob", "--code", "delay", "--project", root)
    assert "differ only by case" in fail("code", "delete", first, "--by", "Ann", "--project", root).output
    ok("code", "delete", first, "--by", "lead", "--as-lead", "--project", root)
    history = as_json(root, "code", "history", first)
    assert [(h["coder"], h["changed_by"], h["source"], h["deleted"]) for h in history][-1] == (
        "ann", "lead", "lead-delete", 1)
    consensus = fail("code", "add", "1", start, start + 10, "delay", "--coder", "consensus", "--project", root, code=2)
    assert "consensus is recorded by `policoder code reconcile`" in consensus.output
    alike = ok("code", "add", "1", start, start + 10, "delay", "--coder", "Ann", "--project", root)
    assert "warning: coder 'Ann' differs from 'ann' only by case" in alike.stderr
    assert {c["coder"] for c in as_json(root, "export", "codings")} == {"bob", "Ann"}


def test_the_workbench_refuses_changing_another_coders_coding(root):
    from fastapi.testclient import TestClient

    from pipeline.workbench import create_app

    made = ok("code", "add", "1", 15, 25, "cooperation", "--coder", "ann", "--project", root)
    coding_id = int(made.stdout.split()[1])
    client = TestClient(create_app(root, secret="s"))
    client.get("/", params={"coder": "bob"})
    csrf = client.get("/api/session").json()["csrf"]
    refused = client.delete(f"/api/codings/{coding_id}", headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403 and "is ann's" in refused.json()["error"]
    twice = client.post("/api/codings", json={"doc_id": 1, "start": 15, "end": 25, "codes": ["delay"]},
                        headers={"X-CSRF-Token": csrf})
    assert twice.status_code == 201
    twice = client.post("/api/codings", json={"doc_id": 1, "start": 15, "end": 25, "codes": ["delay"]},
                        headers={"X-CSRF-Token": csrf})
    assert twice.status_code == 409 and "already codes" in twice.json()["error"]


def test_code_add_refusals_say_what_is_wrong_and_exit_2(root):
    backwards = fail("code", "add", "1", 100, 90, "cooperation", "--coder", "ann", "--project", root, code=2)
    assert "span 100–90: the end is not after the start" in backwards.output
    outside = fail("code", "add", "1", 0, 9999, "cooperation", "--coder", "ann", "--project", root, code=2)
    assert "is not inside document 1" in outside.output
    fail("code", "add", "99", 0, 5, "cooperation", "--coder", "ann", "--project", root, code=2)
    fail("code", "add", "1", 0, 5, "nothing", "--coder", "ann", "--project", root, code=2)
    fail("code", "add", "1", 0, 5, "policy", "--coder", "ann", "--project", root, code=2)  # a container
    fail("code", "add", "1", 0, 5, "cooperation", "--coder", "auto", "--project", root, code=2)
    fail("code", "edit", "99", "--by", "ann", "--code", "delay", "--project", root, code=2)
    assert as_json(root, "export", "codings") == []


def test_span_agreement_says_when_no_spans_matched(root):
    turns = {t["turn_id"]: t for t in as_json(root, "export", "turns") if t["doc_id"] == 2}
    answer = turns["2-2"]
    ok("code", "add", "2", answer["start"], answer["start"] + 4, "cooperation", "--coder", "ann", "--project", root)
    ok("code", "add", "2", answer["start"] + 6, answer["end"], "cooperation", "--coder", "bob", "--project", root)
    result = ok("agreement", "--unit", "span", "--format", "json", "--project", root)
    report = json.loads(result.stdout)
    assert report["matched_spans"] == 0 and "no spans of two coders matched at overlap ≥ 0.5" in result.stderr
    assert report["codes"]["cooperation"]["percent_agreement"] == 0
    ok("code", "add", "2", answer["start"], answer["start"] + 4, "cooperation", "--coder", "bob", "--project", root)
    result = ok("agreement", "--unit", "span", "--format", "json", "--project", root)
    assert json.loads(result.stdout)["matched_spans"] == 1 and "note" not in result.stderr


def test_reconcile_records_who_decided_and_memos_export(root, tmp_path):
    code_ann_and_bob(root, tmp_path)
    sheet = tmp_path / "d.xlsx"
    ok("code", "disagreements", "-o", sheet, "--project", root)
    fill_column(sheet, {"1-4": set(), "2-4": {"subsidy", "delay"}, "2-6": {"cooperation"}, "3-2": {"subsidy"}})
    workbook, worksheet, header, rows = sheet_rows(sheet)
    worksheet.cell(rows["2-6"], header.index("memo") + 1).value = "实习算合作"
    workbook.save(sheet)
    ok("code", "reconcile", sheet, "--by", "lead", "--project", root)
    history = [row for row in as_json(root, "export", "coding_history") if row["coder"] == "consensus"]
    assert history and {row["changed_by"] for row in history} == {"lead"}
    assert {row["source"].split(":")[0] for row in history} == {"reconcile"}
    memos = as_json(root, "export", "memos")
    assert [(m["target_kind"], m["target"], m["text"], m["coder"]) for m in memos] == [
        ("unit", "2-6", "实习算合作", "lead")]
    ok("export", "memos", "--format", "xlsx", "-o", tmp_path / "memos.xlsx", "--project", root)
    assert openpyxl.load_workbook(tmp_path / "memos.xlsx")["memos"].max_row == 2
