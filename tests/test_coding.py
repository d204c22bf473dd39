"""Coding through the library API on a real project: append-only history, re-anchoring after
re-ingestion, codebook restructuring, auto-coding, assignment, agreement and reconciliation."""
import math
import sqlite3

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from pipeline.agreement import _clusters, span_ratings
from pipeline.errors import ProjectError
from tests.conftest import coding_project

CODEBOOK = """\
id: study
name: 测试编码本
version: 1
codes:
  - id: subsidy
    name: 补贴
    definition: 谈到补贴或奖励资金。
    auto:
      keywords: [补贴, subsidy]
  - id: slow
    name: 拨付慢
    definition: 资金拨付慢。
    auto:
      regex: ['拨付.{0,4}慢']
      inside: subsidy
  - id: college
    name: 产业学院
    definition: 共建产业学院。
    auto:
      patterns: [[{LOWER: industry}, {LOWER: college}]]
      keywords: [产业学院]
"""
TRANSCRIPTS = {
    "e01.txt": "问：企业如何参与？\n答：我们和学院共建了产业学院。\n问：补贴到位吗？\n答：补贴拨付比较慢。\n问：还有呢？\n答：没有了。\n",
    "g01.txt": "问：政府做了什么？\n答：给企业发放补贴。\n问：效果如何？\n答：拨付很慢的问题也有。\n",
    "c01.txt": "Q: What did you build?\nA: An Industry College with two firms, no subsidy.\nQ: Anything else?\nA: Not really.\n",
}


@pytest.fixture
def project(project_dir):
    opened = coding_project(project_dir, TRANSCRIPTS, "file,participant,group,kind\ne01.txt,E01,enterprise,transcript\n"
                            "g01.txt,G01,government,transcript\nc01.txt,C01,college,transcript\n", CODEBOOK)
    yield opened
    opened.close()


def answers(project, path):
    return [u for u in project.coding_units() if u["document"].endswith(path)]


def test_auto_coding_uses_keywords_regex_patterns_and_scope(project):
    summary = project.autocode()
    coded = {(c["unit_id"], c["code"]): c for c in project.codings(coders=["auto"])}
    e01, g01, c01 = answers(project, "e01.txt"), answers(project, "g01.txt"), answers(project, "c01.txt")
    assert (e01[0]["unit_id"], "college") in coded  # Chinese keyword
    assert (e01[1]["unit_id"], "slow") in coded  # regex, inside a unit where subsidy fired
    assert (g01[1]["unit_id"], "slow") not in coded  # the regex matches, but no subsidy there: out of scope
    assert (c01[0]["unit_id"], "college") in coded  # spaCy token pattern, any case
    assert (c01[0]["unit_id"], "subsidy") in coded  # English keyword as a whole word
    assert coded[e01[1]["unit_id"], "slow"]["memo"] == "拨付比较慢"  # the cue that fired
    assert summary["codings"] == len(coded) and all(not c["document"].endswith("?") for c in coded.values())
    assert all(u["role"] != "interviewer" for u in project.coding_units())


def test_a_memo_is_replaced_only_by_a_memo_on_the_same_target(project):
    unit = answers(project, "e01.txt")[0]
    on_document = project.write_memo("document", "e01.txt", "企业访谈", "ann")
    with pytest.raises(ProjectError, match=f"memo {on_document} is on document"):
        project.write_memo("unit", unit["unit_id"], "招工难", "ann", replaces=on_document)
    other = project.write_memo("document", "g01.txt", "学院访谈", "ann")
    with pytest.raises(ProjectError, match=f"memo {on_document} is on document"):
        project.write_memo("document", "g01.txt", "v2", "ann", replaces=on_document)
    assert [(m["target_kind"], m["text"]) for m in project.memos()] == [("document", "企业访谈"), ("document", "学院访谈")]
    newer = project.write_memo("document", "e01.txt", "v2", "ann", replaces=on_document)
    assert [m["id"] for m in project.memos()] == [other, newer]
    with pytest.raises(ProjectError, match="memo target must be one of"):
        project.memos(target_kind="planet")


def test_a_memo_needs_a_target_that_exists(project):
    unit = answers(project, "e01.txt")[0]
    coded = project.code("e01.txt", unit["start"], unit["end"], "college", "ann")
    assert project.write_memo("unit", unit["unit_id"], "招工难", "ann")
    assert project.write_memo("coding", coded, "clear case", "ann")
    for kind, target, problem in [("unit", unit["unit_id"] + "-9", "no unit"), ("coding", coded + 1, "no coding"),
                                  ("coding", "first", "no coding"), ("code", "no-such-code", "not in the codebook")]:
        with pytest.raises(ProjectError, match=problem):
            project.write_memo(kind, target, "?", "ann")
    assert len(project.memos()) == 2


def test_codings_are_append_only_with_history(project):
    unit = answers(project, "e01.txt")[0]
    first = project.code("e01.txt", unit["start"], unit["end"], "college", "ann", memo="clear case")
    with pytest.raises(ProjectError, match="is ann's: bob may not change it"):
        project.recode(first, by="bob", code="subsidy")
    second = project.recode(first, by="bob", code="subsidy", as_lead=True)
    current = project.codings(machine=False)
    assert [(c["id"], c["code"], c["coder"], c["memo"]) for c in current] == [(second, "subsidy", "ann", "clear case")]
    with pytest.raises(ProjectError, match=f"already replaced by coding {second}"):
        project.recode(first, by="bob", code="slow")
    project.uncode(second, by="ann")
    assert project.codings(machine=False) == []
    history = project.coding_history(first)
    assert [(h["code"], h["deleted"], h["changed_by"]) for h in history] == [
        ("college", 0, "ann"), ("subsidy", 0, "bob"), ("subsidy", 1, "ann")]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        project.db.execute("DELETE FROM codings")
    # a second row superseding the same version is refused by the store itself (no forked history)
    with pytest.raises(ProjectError, match="another change got there first"):
        project._append([{**history[0], "supersedes": first, "changed_by": "eve"}])
    for bad, message in ((("e01.txt", 5, 2, "college", "ann"), "the end is not after the start"),
                         (("e01.txt", 0, 10_000, "college", "ann"), "not inside"),
                         (("e01.txt", 0, 5, "nothing", "ann"), "not in codebook"),
                         (("e01.txt", 0, 5, "college", "auto"), "machine coder")):
        with pytest.raises(ProjectError, match=message):
            project.code(*bad)


def test_reingest_and_codebook_rename_lose_no_coding(project):
    e01 = answers(project, "e01.txt")
    kept = project.code("e01.txt", e01[1]["start"], e01[1]["end"], "subsidy", "ann")
    quote = project.code("e01.txt", e01[0]["start"] + 2, e01[0]["start"] + 6, "college", "ann")
    gone = project.code("e01.txt", e01[2]["start"], e01[2]["end"], "slow", "bob")
    before = {c["id"]: c["text"] for c in project.codings(machine=False)}
    # the transcript changes: a new answer first, and the last answer rewritten
    path = project.root / "corpus" / "e01.txt"
    path.write_text("问：先介绍一下？\n答：我们是制造企业。\n" + TRANSCRIPTS["e01.txt"].replace("没有了", "暂时没有别的"),
                    encoding="utf-8")
    assert project.ingest().ingested == ["corpus/e01.txt"]
    # and the codebook renames subsidy → funding (version 2)
    book = project.root / "codebooks" / "study.yaml"
    book.write_text(CODEBOOK.replace("version: 1", "version: 2").replace("id: subsidy", "id: funding")
                    .replace("inside: subsidy", "inside: funding")
                    + "changes:\n  - version: 2\n    rename: {from: subsidy, to: funding}\n", encoding="utf-8")
    now = {c["id"]: c for c in project.codings(machine=False)}
    assert set(now) == {kept, quote, gone}  # nothing lost
    assert now[kept]["code"] == "funding" and now[kept]["recorded_code"] == "subsidy"
    for coding_id in (kept, quote):
        assert now[coding_id]["anchor"] == "re-anchored" and now[coding_id]["text"] == before[coding_id]
    text = project.document("e01.txt")["text"]
    assert text[now[kept]["start"]:now[kept]["end"]] == before[kept]
    assert now[kept]["unit_id"] == answers(project, "e01.txt")[2]["unit_id"]  # the answer moved down one
    assert now[gone]["anchor"] == "unanchored" and now[gone]["start"] is None and "re-code" in now[gone]["review"]
    assert project.db.execute("SELECT count(*) FROM codings").fetchone()[0] == 3
    # one document's codings, anchored alone, are its codings among all (an edit stays in its document)
    project.recode(quote, by="ann", code="funding")
    g01 = answers(project, "g01.txt")
    project.code("g01.txt", g01[0]["start"], g01[0]["end"], "funding", "bob")
    every = project.codings()
    e01_id = project.document("e01.txt")["id"]
    assert project.codings(doc_ids=[e01_id]) == [c for c in every if c["doc_id"] == e01_id]
    assert {c["document"] for c in every} > {c["document"] for c in project.codings(doc_ids=[e01_id])}


def test_assignment_is_stratified_shared_and_seeded(project):
    rows = project.assign(["ann", "bob"], 3, sample="pilot", stratify="group", seed=7)
    ann = [r["unit_id"] for r in rows if r["coder"] == "ann"]
    assert ann == [r["unit_id"] for r in rows if r["coder"] == "bob"] and len(ann) == 3
    groups = {project.document(str(r["doc_id"]))["attributes"] for r in rows if r["coder"] == "ann"}
    assert len(groups) == 3  # one unit from each participant group
    again = project.assign(["cai"], 3, sample="pilot", stratify="group", seed=7)
    assert [r["unit_id"] for r in again] == ann
    with pytest.raises(ProjectError, match="cannot sample"):
        project.assign(["ann"], 99, sample="too-many")
    with pytest.raises(ProjectError, match="blind assignments"):
        project.coding_sheet("ann", project.root / "ann.xlsx", blind=False)
    project.assign(["dan"], 2, sample="open", stratify=None, blind=False)
    assert project.coding_sheet("dan", project.root / "dan.xlsx", blind=False, assigned=True).is_file()


def _code_units(project, coder, plan):
    units = project.coding_units()
    for index, codes in plan.items():
        for code in codes:
            project.code(str(units[index]["doc_id"]), units[index]["start"], units[index]["end"], code, coder)


def test_unit_agreement_matches_independent_computation(project):
    units = project.coding_units()
    project.assign(["ann", "bob"], len(units), sample="all", stratify=None)
    ann = {0: ["college"], 1: ["subsidy", "slow"], 2: ["subsidy"], 3: [], 4: ["college"], 5: []}
    bob = {0: ["college"], 1: ["subsidy"], 2: ["subsidy"], 3: ["slow"], 4: ["college", "subsidy"], 5: []}
    _code_units(project, "ann", ann)
    _code_units(project, "bob", bob)
    result = project.agreement(coders=["ann", "bob"], boot=200)
    assert result["units"] == len(units) == 7
    for code in ("subsidy", "slow", "college"):
        a = [int(code in ann.get(i, [])) for i in range(len(units))]
        b = [int(code in bob.get(i, [])) for i in range(len(units))]
        stats = result["codes"][code]
        assert stats["percent_agreement"] == pytest.approx(np.mean(np.array(a) == np.array(b)))
        assert stats["cohen_kappa"] == pytest.approx(cohen_kappa_score(a, b))
        assert stats["krippendorff_alpha"] == pytest.approx(
            krippendorff.alpha(reliability_data=[a, b], level_of_measurement="nominal"))
        low, high = stats["alpha_ci"]
        assert low <= stats["krippendorff_alpha"] <= high or math.isnan(low)
    nominal = result["overall"]["nominal"]
    as_sets = lambda plan: ["+".join(sorted(plan.get(i, []))) or "(none)" for i in range(len(units))]  # noqa: E731
    assert nominal["cohen_kappa"] == pytest.approx(cohen_kappa_score(as_sets(ann), as_sets(bob)))
    assert result["pairs"][0]["coders"] == ["ann", "bob"]
    assert result["pairs"][0]["per_code_kappa"]["college"] == pytest.approx(result["codes"]["college"]["cohen_kappa"])
    rolled = project.agreement(coders=["ann", "bob"], depth=0, boot=0)
    assert set(rolled["codes"]) == {"college", "subsidy", "slow"}  # flat codebook: depth 0 is the code itself
    disagreements = project.disagreements(coders=["ann", "bob"])
    assert [d["unit_id"] for d in disagreements] == [units[i]["unit_id"] for i in (1, 3, 4)]
    assert disagreements[0]["ann"] == "slow; subsidy" and disagreements[0]["bob"] == "subsidy"


def test_missing_is_not_the_same_as_no_code(project):
    units = project.coding_units()
    project.assign(["ann"], len(units), sample="all", stratify=None)
    project.assign(["bob"], 2, sample="part", stratify=None, seed=1)
    _code_units(project, "ann", {0: ["college"]})
    result = project.agreement(coders=["ann", "bob"], boot=0)
    assert result["units"] == 2  # only the units both coders rated


def test_reconciliation_adds_a_consensus_coder_and_keeps_the_originals(project):
    units = project.coding_units()
    project.assign(["ann", "bob"], len(units), sample="all", stratify=None)
    _code_units(project, "ann", {0: ["college"], 1: ["subsidy"]})
    _code_units(project, "bob", {0: ["college"], 1: ["slow"]})
    before = len(project.codings(machine=False))
    summary = project.reconcile(coders=["ann", "bob"])
    consensus = project.codings(coders=["consensus"])
    assert summary["agreed_units"] == 1 and [(c["unit_id"], c["code"]) for c in consensus] == [
        (units[0]["unit_id"], "college")]
    assert len(project.codings(machine=False)) == before + 1
    assert project.reconcile(coders=["ann", "bob"])["agreed_units"] == 0  # idempotent
    assert "consensus" not in project.agreement(boot=0)["coders"]


def test_span_units_group_overlapping_codings():
    spans = [{"coder": "a", "start": 0, "end": 10, "code": "x", "doc_id": 1},
             {"coder": "b", "start": 2, "end": 10, "code": "x", "doc_id": 1},  # overlap 8/10
             {"coder": "b", "start": 30, "end": 40, "code": "x", "doc_id": 1},
             {"coder": "a", "start": 36, "end": 50, "code": "x", "doc_id": 1}]  # overlap 4/20: too little
    assert [len(group) for group in _clusters(spans, 0.5)] == [2, 1, 1]
    assert [len(group) for group in _clusters(spans, 0.2)] == [2, 2]
    ratings = span_ratings(spans, {"a": {1}, "b": {1}}, ["a", "b"], 0.5)
    assert ratings.for_code("x") == [[1, 1], [0, 1], [1, 0]]


def test_coding_reports(project):
    _code_units(project, "ann", {0: ["college", "subsidy"], 1: ["subsidy"], 3: ["subsidy"]})
    by_group = {(r["code"], r["group"]): r["codings"] for r in project.coding_frequencies("group", coders=["ann"])}
    # units 0 and 1 are the college answers (c01 is document 1), unit 3 an enterprise one
    assert by_group == {("college", "college"): 1, ("subsidy", "college"): 2, ("subsidy", "enterprise"): 1}
    pairs = project.code_cooccurrence("unit", coders=["ann"])
    assert pairs == [{"code_a": "college", "code_b": "subsidy", "together": 1, "jaccard": round(1 / 3, 4)}]
    segments = project.coded_segments(coders=["ann"])
    assert len(segments) == 4 and segments[0]["attr_group"] == "college" and segments[0]["code_path"] == "产业学院"
    assert all(s["text"] for s in segments)


def _fill_sheet(path, decisions):
    """Write each unit's codes ({unit_id: set}) into an XLSX matrix sheet; other rows stay empty."""
    import openpyxl

    workbook = openpyxl.load_workbook(path)
    sheet = workbook["coding"]
    header = [cell.value for cell in sheet[1]]
    for row in range(2, sheet.max_row + 1):
        unit_id = sheet.cell(row, 1).value
        if unit_id in decisions:
            for code in ("subsidy", "slow", "college"):
                sheet.cell(row, header.index(code) + 1).value = int(code in decisions[unit_id])
    workbook.save(path)


def test_a_unit_coded_outside_the_sheet_is_rated_and_the_rest_of_the_sheet_is_missing(project):
    e01 = answers(project, "e01.txt")
    sheet = project.coding_sheet("ann", project.root / "ann.xlsx")
    _fill_sheet(sheet, {e01[0]["unit_id"]: {"college"}, e01[1]["unit_id"]: set()})
    assert project.import_coding_sheet(sheet, "ann")["not_rated"] == [
        u["unit_id"] for u in project.coding_units() if u["unit_id"] not in (e01[0]["unit_id"], e01[1]["unit_id"])]
    project.code("e01.txt", e01[2]["start"], e01[2]["end"], "slow", "ann")  # coded in the workbench, say
    # bob codes in e01 freely (nothing assigned to him): its units he leaves alone count as "no code"
    project.code("e01.txt", e01[1]["start"], e01[1]["end"], "subsidy", "bob")
    coverage = project.coverage()
    assert coverage["ann"] == {u["unit_id"] for u in e01}
    assert coverage["bob"] == {u["unit_id"] for u in e01}
    result = project.agreement(coders=["ann", "bob"], boot=0)
    assert result["units"] == 3
    ann, bob = [0, 0, 0], [0, 1, 0]  # subsidy in e01's three answers
    assert result["codes"]["subsidy"]["percent_agreement"] == pytest.approx(np.mean(np.array(ann) == np.array(bob)))


def test_reports_leave_the_consensus_out_and_never_pool_coders(project):
    units = project.coding_units()
    _code_units(project, "ann", {0: ["college"], 1: ["subsidy", "slow"]})
    _code_units(project, "bob", {0: ["subsidy"], 1: ["subsidy"]})
    project.reconcile(decisions={units[0]["unit_id"]: ["college"]}, agreed=False, by="lead")
    assert project.report_coders() == ["ann", "bob"]
    frequencies = {row["code"]: row for row in project.coding_frequencies()}
    assert (frequencies["college"]["codings"], frequencies["college"]["coders"]) == (1, 1)  # not the consensus's
    assert (frequencies["subsidy"]["codings"], frequencies["subsidy"]["units"]) == (3, 2)  # spans vs units
    # ann's college and bob's subsidy in unit 0 are not a co-occurrence; ann's subsidy + slow in unit 1 is
    assert project.code_cooccurrence("unit") == [
        {"code_a": "slow", "code_b": "subsidy", "together": 1, "jaccard": round(1 / 3, 4)}]
    assert [(r["code_a"], r["code_b"], r["together"]) for r in project.code_cooccurrence("overlap")] == [
        ("slow", "subsidy", 1)]
    assert {row["coder"] for row in project.coded_segments()} == {"ann", "bob"}
    assert {row["coder"] for row in project.coded_segments(coders=["consensus"])} == {"consensus"}


def test_the_runs_agreement_dataset_counts_human_coders_unless_configured(project, tmp_path):
    import json

    units = project.coding_units()
    project.assign(["ann", "bob"], len(units), sample="all", stratify=None, blind=False)
    _code_units(project, "ann", {0: ["college"], 1: ["subsidy"]})
    _code_units(project, "bob", {0: ["college"], 2: ["subsidy"]})
    project.autocode()
    summary = project._run_agreement(tmp_path)
    assert summary["coders"] == ["ann", "bob"]
    written = json.loads((tmp_path / "agreement.json").read_text(encoding="utf-8"))
    a = [int("subsidy" in {1: ["subsidy"]}.get(i, [])) for i in range(len(units))]
    b = [int("subsidy" in {2: ["subsidy"]}.get(i, [])) for i in range(len(units))]
    assert written["codes"]["subsidy"]["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=[a, b], level_of_measurement="nominal"))
    toml = project.root / "policoder.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("include_machine = false", "include_machine = true"),
                    encoding="utf-8")
    from pipeline import open_project
    reopened = open_project(project.root)
    try:
        assert reopened._run_agreement(tmp_path)["coders"] == ["ann", "auto", "bob"]
        assert json.loads((tmp_path / "agreement.json").read_text(encoding="utf-8"))["machine_coders"] == ["auto"]
    finally:
        reopened.close()


def test_a_coding_counts_for_the_units_and_segments_it_substantially_covers():
    from pipeline.agreement import segment_ratings
    from pipeline.coding import UnitIndex

    units = [{"doc_id": 1, "unit_id": f"1-{n}", "start": start, "end": end}
             for n, (start, end) in enumerate(((0, 100), (100, 110), (110, 300)), start=1)]
    index = UnitIndex(units)
    counted = lambda start, end: [u["unit_id"] for u in index.counted(1, start, end)]  # noqa: E731
    assert counted(10, 20) == ["1-1"]  # a short quote inside one answer
    assert counted(0, 101) == ["1-1"]  # one character into the next unit does not code it
    assert counted(95, 120) == ["1-2"]  # covers all of a short unit, little of the others
    assert counted(40, 200) == ["1-1", "1-2", "1-3"]  # half of 1-1 and of 1-3 covered, all of 1-2
    codings = [{"coder": "a", "doc_id": 1, "start": 0, "end": 101, "code": "x"},
               {"coder": "a", "doc_id": 1, "start": 150, "end": 250, "code": "y"},
               {"coder": "b", "doc_id": 1, "start": 90, "end": 160, "code": "x"}]
    ratings = segment_ratings(codings, {1: 300}, {"a": {1}, "b": {1}}, ["a", "b"], 100)
    assert ratings.for_code("x") == [[1, 0], [0, 1], [0, 0]]
    assert ratings.for_code("y") == [[0, 0], [1, 0], [1, 0]]
