"""Reconciling two coders' instrument labels on the demo corpus: the demo's two coders (their sheets in
corpora/gold/) differ on 52 of 347 clauses, and their reconciled gold set decides each of them; the
reconciled label stands over theirs whatever the import order, and agreement still measures them."""
from __future__ import annotations

import csv
import json
import shutil

import openpyxl
import pytest
from click.testing import CliRunner

from pipeline import open_project
from pipeline.cli import cli
from pipeline.errors import InputError, ProjectError

from tests.conftest import REPO, copy_demo

GOLD = REPO / "corpora" / "gold"
CODERS = {"a": GOLD / "demo_instruments_coder_a.csv", "b": GOLD / "demo_instruments_coder_b.csv"}
FLAGS = ("incentive", "constraint")


def _read(path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:  # as LibreOffice saves "CSV UTF-8"
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _view(row: dict) -> tuple:
    """A gold-set row as the sheet compares it: the flags marked and the primary label."""
    return tuple(flag for flag in FLAGS if row[flag] == "1"), row["primary"]


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    """The demo corpus ingested, nothing labelled: copied by each test that labels it."""
    root = copy_demo(tmp_path_factory.mktemp("reconcile") / "demo")
    project = open_project(root)
    project.ingest()
    project.classify_instruments()
    project.close()
    return root


@pytest.fixture
def demo(demo_folder, tmp_path):
    root = shutil.copytree(demo_folder, tmp_path / "demo")
    project = open_project(root)
    yield project
    project.close()


def _import_coders(project, order=("a", "b")) -> None:
    for coder in order:
        assert not project.import_instrument_sheet(CODERS[coder], coder).warnings


def _by_unit(project, rows: list[dict]) -> dict[str, dict]:
    """Gold-set rows (document, unit) → by the unit id of the project's clause."""
    ids = {(u["document"].removeprefix("corpus/"), u["unit_path"]): u["unit_id"] for u in project.instrument_units()}
    return {ids[row["document"], row["unit"]]: row for row in rows}


def _decide(path, decisions: dict[str, dict]) -> list[dict]:
    """Fill the decision columns of a CSV reconciliation sheet: unit id → gold row (and a reason)."""
    rows = _read(path)
    for row in rows:
        chosen = decisions.get(row["unit_id"])
        if chosen:
            row.update({flag: chosen[flag] for flag in FLAGS}, primary=chosen["primary"],
                       reason=chosen.get("reason", f"adjudicated: {chosen['primary']}"))
    _write(path, rows)
    return rows


def _standing(project) -> dict[str, tuple]:
    """Unit id → (source, flags, primary) of the label that stands in the clause rows."""
    return {row["unit_id"]: (row["instrument_source"], tuple(f for f in FLAGS if f in row["instruments"]),
                             row["primary_instrument"]) for row in project.instrument_rows()}


def test_the_sheet_lists_the_clauses_the_coders_labelled_differently(demo, tmp_path):
    _import_coders(demo)
    a, b = (_by_unit(demo, _read(CODERS[coder])) for coder in ("a", "b"))
    differing = {unit for unit in a if _view(a[unit]) != _view(b[unit])}
    assert len(a) == 347 and len(differing) == 52  # counted from the coders' files alone
    made = demo.instrument_reconciliation_sheet(tmp_path / "rec.xlsx", coders=["a", "b"])
    assert (made["coders"], made["differing"], made["agreed"], made["decided"]) == (["a", "b"], 52, 295, 0)
    sheet = openpyxl.load_workbook(tmp_path / "rec.xlsx")["coding"]
    header = [cell.value for cell in sheet[1]]
    assert header[:6] == ["unit_id", "document", "level", "year", "heading", "text"]
    assert header[header.index("text_hash") + 1:] == [
        "a: incentive", "a: constraint", "a: primary", "a: memo", "b: incentive", "b: constraint", "b: primary",
        "b: memo", "differs_on", *FLAGS, "primary", "confidence", "reason"]
    rows = [dict(zip(header, cells)) for cells in sheet.iter_rows(min_row=2, values_only=True)]
    assert {row["unit_id"] for row in rows} == differing
    for row in rows:  # each coder's label side by side, as their files have it, and what differs
        unit = row["unit_id"]
        for coder, labels in (("a", a), ("b", b)):
            assert (row[f"{coder}: incentive"], row[f"{coder}: constraint"], row[f"{coder}: primary"]) == \
                (int(labels[unit]["incentive"]), int(labels[unit]["constraint"]), labels[unit]["primary"])
        named = [part for part in ("incentive", "constraint", "primary") if a[unit][part] != b[unit][part]]
        assert row["differs_on"] == "; ".join(named)
        assert (row["primary"], row["incentive"], row["reason"]) == (None, None, None)  # for the decision


def test_decisions_stand_over_the_coders_and_agreement_still_measures_them(demo, tmp_path):
    _import_coders(demo)
    before = demo.instrument_agreement(boot=0)
    sheet = tmp_path / "rec.csv"
    demo.instrument_reconciliation_sheet(sheet)  # every coder but the reconciled one: a and b
    gold = _by_unit(demo, _read(GOLD / "demo_instruments.csv"))
    rows = _decide(sheet, gold)
    result = demo.reconcile_instruments(sheet)
    assert (result["coder"], result["coders"], result["decided"], result["undecided"], result["agreed"]) == \
        ("reconciled", ["a", "b"], 52, 0, 295)
    assert (result["added"], result["already_there"], result["warnings"]) == (347, 0, [])
    standing = _standing(demo)
    # every clause is now the reconciled gold set's label, recorded as the reconciled coder
    assert {unit: value[1:] for unit, value in standing.items()} == {unit: _view(row) for unit, row in gold.items()}
    assert {value[0] for value in standing.values()} == {"human:reconciled"}
    # training and evaluation read the same labels; the reasons are the decisions' memos
    labels = demo.human_instrument_labels()
    assert {u["coder"] for u in labels} == {"reconciled"} and len(labels) == 347
    memos = {(unit, source): memo for unit, source, memo in demo.db.execute(
        "SELECT unit_id, source, memo FROM instrument_codings WHERE coder = 'reconciled'").fetchall()}
    decided = {row["unit_id"] for row in rows}
    assert {unit for unit, source in memos if source == "reconcile:rec.csv"} == decided
    assert all(memos[unit, "reconcile:rec.csv"].startswith("adjudicated: ") for unit in decided)
    assert sum(source == "reconcile:agreed" for _, source in memos) == 295
    # agreement measures the coders who labelled independently, as before; nothing of theirs was touched
    after = demo.instrument_agreement(boot=0)
    assert after["coders"] == ["a", "b"] and after["variables"] == before["variables"]
    assert demo.db.execute("SELECT count(*) FROM instrument_codings WHERE coder IN ('a', 'b')").fetchone()[0] == 694
    # importing the decided sheet again adds nothing; a new sheet carries the decisions made
    again = demo.reconcile_instruments(sheet)
    assert (again["added"], again["already_there"], again["agreed"]) == (0, 52, 0)
    assert demo.instrument_reconciliation_sheet(tmp_path / "again.csv")["decided"] == 52


def test_the_reconciled_label_stands_whatever_the_import_order(demo_folder, tmp_path):
    """Coders first and the decisions after, or the decisions first and the coders after (b then a):
    the same labels stand, and a coder's later sheet does not displace a decision."""
    first = open_project(shutil.copytree(demo_folder, tmp_path / "first"))
    second = open_project(shutil.copytree(demo_folder, tmp_path / "second"))
    try:
        _import_coders(first)
        sheet = tmp_path / "rec.csv"
        first.instrument_reconciliation_sheet(sheet, coders=["a", "b"])
        gold = _by_unit(first, _read(GOLD / "demo_instruments.csv"))
        rows = _decide(sheet, gold)
        decided = {row["unit_id"] for row in rows}
        first.reconcile_instruments(sheet, agreed=False)
        assert second.reconcile_instruments(sheet, agreed=False)["decided"] == 52  # no coder there yet
        _import_coders(second, order=("b", "a"))
        one, two = _standing(first), _standing(second)
        assert {unit: one[unit] for unit in decided} == {unit: two[unit] for unit in decided}
        assert {one[unit][0] for unit in decided} == {"human:reconciled"}
        assert {unit: one[unit][1:] for unit in decided} == {unit: _view(gold[unit]) for unit in decided}
        # elsewhere the latest coder's label stands, as before: a and b agree there, so the labels match
        assert {unit: value[1:] for unit, value in one.items()} == {unit: value[1:] for unit, value in two.items()}
        # coder a labels a decided clause again, later than the decision: the decision still stands
        unit = sorted(decided)[0]
        other = "hortatory" if gold[unit]["primary"] != "hortatory" else "capacity"
        first.label_instruments(unit, [], other, "a")
        assert _standing(first)[unit] == one[unit]
        assert {u["unit_id"]: u["primary"] for u in first.human_instrument_labels(["a"])}[unit] == other
        assert {u["unit_id"]: u["coder"] for u in first.human_instrument_labels()}[unit] == "reconciled"
    finally:
        first.close()
        second.close()


def test_a_half_decided_sheet_takes_the_decided_rows_and_leaves_the_rest(demo, tmp_path):
    _import_coders(demo)
    sheet = tmp_path / "rec.csv"
    demo.instrument_reconciliation_sheet(sheet)
    gold = _by_unit(demo, _read(GOLD / "demo_instruments.csv"))
    units = [row["unit_id"] for row in _read(sheet)]
    half = {unit: gold[unit] for unit in units[:20]}
    _decide(sheet, half)
    result = demo.reconcile_instruments(sheet, agreed=False)
    assert (result["decided"], result["undecided"], result["agreed"], result["added"]) == (20, 32, 0, 20)
    standing = _standing(demo)
    assert {standing[unit][0] for unit in units[:20]} == {"human:reconciled"}
    assert {standing[unit][0] for unit in units[20:]} == {"human:b"}  # undecided: the latest coder's, as before
    # deciding the rest later completes it; the first twenty are not stored again
    _decide(sheet, {unit: gold[unit] for unit in units})
    assert demo.reconcile_instruments(sheet, agreed=False)["added"] == 32


def test_a_bad_decision_refuses_the_whole_sheet_with_the_row_named(demo, tmp_path):
    _import_coders(demo)
    sheet = tmp_path / "rec.csv"
    demo.instrument_reconciliation_sheet(sheet)
    gold = _by_unit(demo, _read(GOLD / "demo_instruments.csv"))
    rows = _read(sheet)
    _decide(sheet, {row["unit_id"]: gold[row["unit_id"]] for row in rows})
    count = "SELECT count(*) FROM instrument_codings"
    stored = demo.db.execute(count).fetchone()[0]
    rows = _read(sheet)
    rows[2]["primary"] = "carrot"
    _write(sheet, rows)
    with pytest.raises(InputError, match="row 4: unknown label 'carrot' in primary") as caught:
        demo.reconcile_instruments(sheet)
    assert "nothing imported" in str(caught.value)
    rows[2].update(primary="", incentive="1")  # a flag decided, the primary forgotten
    _write(sheet, rows)
    with pytest.raises(InputError, match="row 4: primary is empty"):
        demo.reconcile_instruments(sheet)
    assert demo.db.execute(count).fetchone()[0] == stored  # nothing half-imported, the agreed clauses neither
    # a clause whose text changed since the sheet was made: a warning, the decision kept for the old text
    rows[2].update(primary=gold[rows[2]["unit_id"]]["primary"], incentive=gold[rows[2]["unit_id"]]["incentive"],
                   text_hash="0000000000000000")
    _write(sheet, rows)
    result = demo.reconcile_instruments(sheet)
    assert len(result["warnings"]) == 1 and "row 4: the text of unit" in result["warnings"][0]
    assert _standing(demo)[rows[2]["unit_id"]][0] == "human:b"  # not applied to the current text
    # a coding sheet is no reconciliation sheet, and a reconciliation sheet no coder's coding sheet
    with pytest.raises(InputError, match="is not a reconciliation sheet"):
        demo.reconcile_instruments(CODERS["a"])
    with pytest.raises(InputError, match="is a reconciliation sheet; import its decisions with"):
        demo.import_instrument_sheet(sheet, "wang")


def test_reconciling_needs_two_independent_coders_and_the_reconciled_name_is_reserved(demo, tmp_path):
    assert demo.import_instrument_sheet(CODERS["a"], "a").codings
    with pytest.raises(ProjectError, match="needs two coders or more; found a") as caught:
        demo.instrument_reconciliation_sheet(tmp_path / "rec.csv")
    assert caught.value.code == "too-few-coders" and not (tmp_path / "rec.csv").exists()
    with pytest.raises(ProjectError, match="is the reconciled coder") as caught:
        demo.import_instrument_sheet(CODERS["b"], "reconciled")
    assert caught.value.code == "reserved-coder"
    with pytest.raises(ProjectError, match="is the reconciled coder"):
        demo.label_instruments(demo.instrument_units()[0]["unit_id"], [], "none", "reconciled")
    with pytest.raises(ProjectError, match="is the reconciled coder"):
        demo.instrument_reconciliation_sheet(tmp_path / "rec.csv", coders=["a", "reconciled"])
    with pytest.raises(ProjectError, match=r"no current instrument labels by zz \(coders: a\)") as caught:
        demo.instrument_reconciliation_sheet(tmp_path / "rec.csv", coders=["a", "zz"])
    assert caught.value.code == "unknown-coder"
    # two coders who agree everywhere: a sheet of no clauses, and importing it records every clause as agreed
    assert demo.import_instrument_sheet(CODERS["a"], "c").codings
    made = demo.instrument_reconciliation_sheet(tmp_path / "none.xlsx", coders=["a", "c"])
    assert (made["differing"], made["agreed"]) == (0, 347)
    assert demo.reconcile_instruments(tmp_path / "none.xlsx")["agreed"] == 347


def test_the_reconciled_coder_is_a_setting(demo, tmp_path):
    config = demo.root / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'reconciled_coder = "reconciled"', 'reconciled_coder = "王老师"'), encoding="utf-8")
    project = open_project(demo.root)
    try:
        _import_coders(project)
        sheet = tmp_path / "rec.csv"
        project.instrument_reconciliation_sheet(sheet)
        _decide(sheet, _by_unit(project, _read(GOLD / "demo_instruments.csv")))
        assert project.reconcile_instruments(sheet)["coder"] == "王老师"
        assert {value[0] for value in _standing(project).values()} == {"human:王老师"}
        assert project.instrument_agreement(boot=0)["coders"] == ["a", "b"]
        # named on purpose, the reconciled coder can be compared with a coder
        assert project.instrument_agreement(coders=["a", "王老师"], boot=0)["units"] == 347
    finally:
        project.close()


def test_reconcile_round_trip_on_the_cli(demo, tmp_path):
    runner, root = CliRunner(), str(demo.root)
    for coder, path in CODERS.items():
        result = runner.invoke(cli, ["instruments", "import", str(path), "--coder", coder, "--project", root])
        assert result.exit_code == 0, result.output
    sheet = tmp_path / "rec.csv"
    result = runner.invoke(cli, ["instruments", "reconcile", "--coder", "a", "--coder", "b", "-o", str(sheet),
                                 "--project", root])
    assert result.exit_code == 0, result.output
    assert "52 clauses a and b labelled differently (0 decided already), 295 agreed" in result.output
    gold = _by_unit(demo, _read(GOLD / "demo_instruments.csv"))
    _decide(sheet, gold)
    result = runner.invoke(cli, ["instruments", "reconcile", str(sheet), "--project", root])
    assert result.exit_code == 0, result.output
    assert "347 labels recorded as reconciled (0 already there): 52 decided on" in result.output
    assert "295 agreed by a, b; 0 rows not decided yet" in result.output
    exported = json.loads(runner.invoke(cli, ["export", "clauses", "--format", "json", "--project", root]).output)
    assert {row["instrument_source"] for row in exported} == {"human:reconciled"}
    assert all(row["primary_instrument"] == gold[row["unit_id"]]["primary"] for row in exported)
    result = runner.invoke(cli, ["instruments", "agreement", "--format", "json", "--project", root])
    assert json.loads(result.output)["coders"] == ["a", "b"]
    for wrong in (["instruments", "reconcile"], ["instruments", "reconcile", str(sheet), "-o", str(sheet)],
                  ["instruments", "reconcile", str(sheet), "--coder", "a"]):
        result = runner.invoke(cli, [*wrong, "--project", root])
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_sheet_with_a_column_for_every_label_still_imports(demo, tmp_path):
    """A sheet made before default.yaml named its flags has a 0/1 column for every label: those of
    labels that are not flags are ignored with a warning; such a label still counts as the primary."""
    units = demo.instrument_units()[:3]
    columns = ["unit_id", "text_hash", "incentive", "constraint", "capacity", "hortatory", "system_change",
               "primary", "confidence", "memo"]
    from pipeline.sheets import text_hash

    rows = [dict.fromkeys(columns, "") | {"unit_id": u["unit_id"], "text_hash": text_hash(u["text"])} for u in units]
    rows[0].update(incentive="1", capacity="1", primary="incentive")
    rows[1].update(hortatory="1", primary="capacity")
    rows[2].update(system_change="1")  # no primary, no flag: nothing the sheet asks is filled
    _write(tmp_path / "old.csv", rows)
    result = demo.import_instrument_sheet(tmp_path / "old.csv", "wang")
    assert result.warnings == ["columns capacity, hortatory, system_change ignored: scheme default marks only "
                               "its flags (incentive, constraint) besides the primary label"]
    assert (len(result.codings), result.blank) == (2, 1)
    assert [(c["labels"], c["primary"]) for c in result.codings] == [({"incentive"}, "incentive"),
                                                                     ({"capacity"}, "capacity")]


def test_a_coders_correction_reopens_a_clause_taken_as_agreed_but_not_a_decided_one(tmp_path):
    root = copy_demo(tmp_path / "demo")
    project = open_project(root)
    project.ingest()
    for coder in ("a", "b"):
        project.import_instrument_sheet(GOLD / f"demo_instruments_coder_{coder}.csv", coder)
    sheet = tmp_path / "rec.csv"
    project.instrument_reconciliation_sheet(sheet, coders=["a", "b"])
    rows = _read(sheet)
    decided = rows[0]["unit_id"]
    rows[0].update(primary="none", reason="the adjudicator's decision")
    _write(sheet, rows)
    project.reconcile_instruments(sheet)  # one decision; the clauses a and b labelled alike are agreed
    agreed_unit, agreed_primary = project.db.execute(
        "SELECT unit_id, primary_label FROM instrument_codings WHERE source = 'reconcile:agreed' LIMIT 1").fetchone()
    other = "incentive" if agreed_primary != "incentive" else "constraint"
    project.label_instruments(agreed_unit, [other], other, "a", memo="corrected after the meeting")
    project.label_instruments(decided, ["constraint"], "constraint", "b", memo="still disagrees")
    standing = {row["unit_id"]: row for row in project.instrument_rows()}
    assert standing[agreed_unit]["instrument_source"] == "human:a"  # the correction stands, reopened
    assert standing[decided]["instrument_source"] == "human:reconciled"  # a decision stands over b
    again = project.instrument_reconciliation_sheet(tmp_path / "again.csv", coders=["a", "b"])
    listed = {row["unit_id"]: row for row in _read(tmp_path / "again.csv")}
    assert listed[agreed_unit]["primary"] == "" and listed[decided]["primary"] == "none"
    assert again["decided"] == 1
    project.close()
