"""The file writers every export and run goes through, read back with independent readers."""
from __future__ import annotations

import csv

import openpyxl
import orjson
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


def test_csv_has_a_bom_for_excel_and_lists_joined(tmp_path):
    out = export.write_table([{"unit_id": "1-1", "codes": ["甲", "乙"]}], "csv", tmp_path / "t.csv")
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig", newline="") as stream:
        assert list(csv.DictReader(stream)) == [{"unit_id": "1-1", "codes": "甲; 乙"}]


def _parts_rows() -> list[dict]:
    return [{"doc_id": 1, "unit_id": "1-1", "share": 0.5, "codes": ["激励", "约束"], "text": "第一条，\"引号\""},
            {"doc_id": 1, "unit_id": "1-2", "share": None, "codes": [], "text": "第二条\n换行"},
            {"doc_id": 2, "unit_id": "2-1", "share": 1, "codes": ["能力"], "text": "=SUM(A1)"},
            {"doc_id": 3, "unit_id": "3-1", "share": float("nan"), "codes": [], "text": ""}]


def test_csv_parts_join_to_the_bytes_of_one_csv_and_are_reused_from_the_kept_file(tmp_path):
    rows, kept = _parts_rows(), tmp_path / "parts" / "clauses.json"
    whole = export.write_table(rows, "csv", tmp_path / "whole.csv").read_bytes()
    first = export.CsvParts(kept)
    assert export.write_table(rows, "csv", tmp_path / "parts.csv", parts=first).read_bytes() == whole
    first.save()
    saved = orjson.loads(kept.read_bytes())
    assert len(saved) == 3  # one part per document
    # a kept part is taken as it is: mark every part, change document 2's rows, and write again
    kept.write_bytes(orjson.dumps({key: f"kept {i}\r\n" for i, key in enumerate(saved)}))
    changed = [dict(row, share=1.0) if row["doc_id"] == 2 else row for row in rows]  # 1 → 1.0 is a change
    text = export.CsvParts(kept).dumps(changed)
    lines = text.splitlines()
    assert lines[1:] == ["kept 0", "2,2-1,1.0,能力,=SUM(A1)", "kept 2"]
    # without reading the kept file (--force), or with a damaged one: every part encoded again
    assert export.CsvParts(kept, read=False).dumps(rows) == export.dumps(rows, "csv")
    for damaged in (b"{not json", b"[1, 2]", orjson.dumps(dict.fromkeys(saved, 7))):
        kept.write_bytes(damaged)
        assert export.CsvParts(kept).dumps(rows) == export.dumps(rows, "csv")


def test_csv_parts_tell_values_apart_that_print_differently(tmp_path):
    kept = tmp_path / "parts.json"
    base = {"doc_id": 1, "value": None}
    parts = export.CsvParts(kept)
    for value in (None, float("nan"), 0, 0.0, False, "0", -0.0, ["0"]):
        row = dict(base, value=value)
        assert parts.dumps([row]) == export.dumps([row], "csv"), value
    parts.save()
    again = export.CsvParts(kept)
    for value in (None, float("nan"), 0, 0.0, False, "0", -0.0, ["0"]):
        row = dict(base, value=value)
        assert again.dumps([row]) == export.dumps([row], "csv"), value
    # only the parts used since it was opened are kept
    last = export.CsvParts(kept)
    last.dumps([dict(base, value=1)])
    last.save()
    assert len(orjson.loads(kept.read_bytes())) == 1
