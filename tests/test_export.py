"""The file writers every export and run goes through, read back with independent readers."""
from __future__ import annotations

import csv

import openpyxl
import pandas

from pipeline import export


def test_workbook_keeps_text_as_text_types_headers_and_excels_cell_limit(tmp_path):
    rows = [{"unit_id": "3-2-4", "n": 7, "share": 0.25, "coded": True, "codes": ["激励", "约束"],
             "text": "=HYPERLINK(\"http://example.org\")", "long": "长" * 40_000, "missing": None},
            {"unit_id": "3-2-5", "n": 8, "share": float("nan"), "coded": False, "codes": [],
             "text": "第一行\n第二行\x0b", "long": "", "missing": None}]
    out = export.write_workbook({"clauses": rows, "empty": []}, tmp_path / "book.xlsx",
                                columns={"empty": ("doc_id", "theme")})
    book = openpyxl.load_workbook(out)
    sheet = book["clauses"]
    assert sheet.freeze_panes == "A2"
    header, first, second = [[cell for cell in row] for row in sheet.iter_rows()]
    assert [c.value for c in header] == list(rows[0])
    # a text that looks like a formula is stored as a string cell, not as a formula
    assert first[5].data_type == "s" and first[5].value == rows[0]["text"]
    assert first[4].value == "激励; 约束" and len(first[6].value) == 32_767
    assert first[1].value == 7 and first[2].value == 0.25 and first[3].value is True
    assert second[2].value is None  # NaN: an undefined statistic is a blank, not an error cell
    assert second[5].value.startswith("第一行\n第二行")
    assert [row for row in book["empty"].values] == [("doc_id", "theme")]
    frame = pandas.read_excel(out, sheet_name="clauses")
    assert frame["unit_id"].tolist() == ["3-2-4", "3-2-5"] and frame["n"].tolist() == [7, 8]


def test_a_workbook_has_the_kinds_of_the_parquet_copy_from_rows_or_their_arrow_table(tmp_path):
    """A column that mixes numbers and text is text in both (typed columns need one kind); a
    workbook given the rows' Arrow table (as a run hands it to its drawing process) is the same."""
    rows = [{"item": "q1", "value": 3, "note": "长" * 33_000}, {"item": "q2", "value": "三", "note": None}]

    def cells(path):
        return [[(cell.data_type, cell.value) for cell in row] for row in openpyxl.load_workbook(path)["t"].iter_rows()]

    from_rows = cells(export.write_workbook({"t": rows}, tmp_path / "rows.xlsx"))
    assert from_rows[1][1] == ("s", "3") and from_rows[2][1] == ("s", "三")
    assert len(from_rows[1][2][1]) == 32_767 and from_rows[2][2][1] is None
    assert cells(export.write_workbook({"t": export.arrow_table(rows)}, tmp_path / "arrow.xlsx")) == from_rows
    assert pandas.read_parquet(export.write_parquet(rows, tmp_path / "t.parquet"))["value"].tolist() == ["3", "三"]


def test_csv_has_a_bom_for_excel_and_lists_joined(tmp_path):
    out = export.write_table([{"unit_id": "1-1", "codes": ["甲", "乙"]}], "csv", tmp_path / "t.csv")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig", newline="") as stream:
        assert list(csv.DictReader(stream)) == [{"unit_id": "1-1", "codes": "甲; 乙"}]


def test_parquet_keeps_each_columns_kind_and_stores_mixed_columns_as_text(tmp_path):
    rows = [{"unit_id": "3-2-4", "n": 7, "share": 0.25, "topic": 1, "codes": ["激励", "约束"], "note": float("nan"),
             "mixed": 3, "empty": None},
            {"unit_id": "3-2-5", "n": None, "share": float("nan"), "topic": 0.5, "codes": [], "note": "待核",
             "mixed": "三", "empty": None}]
    frame = pandas.read_parquet(export.write_parquet(rows, tmp_path / "t.parquet"))
    assert list(frame.columns) == list(rows[0])
    assert frame["n"].tolist()[0] == 7 and pandas.isna(frame["n"][1])  # an integer column with a blank
    assert frame["share"][0] == 0.25 and pandas.isna(frame["share"][1])  # NaN: an undefined statistic, blank
    assert frame["topic"].tolist() == [1.0, 0.5]  # integers and floats are one kind: numbers
    assert frame["codes"].tolist() == ["激励; 约束", ""]
    assert frame["note"].tolist() == [None, "待核"]  # NaN beside text is a blank, not the text "nan"
    assert frame["mixed"].tolist() == ["3", "三"] and frame["empty"].isna().all()
    header_only = pandas.read_parquet(export.write_parquet([], tmp_path / "e.parquet", columns=("doc_id", "theme")))
    assert list(header_only.columns) == ["doc_id", "theme"] and len(header_only) == 0
    # rows whose keys differ from the first row's (order or presence): cells are looked up by name
    uneven = [{"a": 1, "b": "x"}, {"b": "y", "a": 2}, {"a": 3}]
    frame = pandas.read_parquet(export.write_parquet(uneven, tmp_path / "u.parquet"))
    assert frame["a"].tolist() == [1, 2, 3] and frame["b"].tolist() == ["x", "y", None]
