"""Coding sheets for transcripts and other units: code in Excel, import back all or nothing.

Two layouts:

- ``matrix``: one row per unit and one column per codable code (headed by the code id); a coder
  marks 1 (or x) where a code applies and 0 where it does not.
- ``column``: one row per unit with a ``codes`` column holding code ids separated by ``;`` (or
  ``,``, ``，``, ``、``, ``；``, spaces); ``-`` means "none of the codes".

A row whose code cells are all empty is a unit the coder has not rated yet; 0 in every code column
(or ``-``) is a unit rated as holding none of the codes.  Agreement counts the second and leaves the
first out (missing data is not a zero); a memo on a row not rated is kept all the same.  The sheet
carries the coder's current whole-unit codings, so a sheet can be exported, extended and imported
again; other coders' codings are shown only when the sheet is not blind.  A second sheet lists the
codebook (in an XLSX sheet; a CSV sheet holds the coding sheet's columns only).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment

from .codebook import Codebook
from .sheets import MARKS, cell_text, read_rows, refuse, sheet_format, style_header, text_hash, tick, write_csv_sheet

LAYOUTS = ("matrix", "column")
SHEET = "coding"
INFO_COLUMNS = ("unit_id", "document", "participant", "group", "speaker", "text", "text_hash")
OTHERS = "other_coders"
NO_CODES = {"-", "none", "无"}
SEPARATORS = re.compile(r"[;,，、；\s]+")


def write_sheet(rows: list[dict], codebook: Codebook, out: Path, *, layout: str = "matrix") -> Path:
    """``rows``: units with ``unit_id, document, participant, group, speaker, text``, the coder's
    codes (``codes``: a set, ``None`` when not rated yet) and, unless blind, ``other_coders``.
    ``out`` ending in .xlsx: a workbook with the codebook on a second sheet; in .csv: the coding
    sheet's columns as UTF-8 CSV, which ``read_sheet`` reads back."""
    fmt = sheet_format(out, "with the codebook on a second sheet")
    others = any(OTHERS in row for row in rows)
    codes = codebook.codable
    coder_columns = [*codes, "memo"] if layout == "matrix" else ["codes", "memo"]
    info = [*INFO_COLUMNS, *([OTHERS] if others else [])]
    lines = []
    for row in rows:
        values = [row.get(column, "") for column in INFO_COLUMNS[:-1]] + [text_hash(row["text"])]
        values += [row.get(OTHERS, "")] if others else []
        given = row.get("codes")
        if layout == "matrix":
            values += [("" if given is None else int(code in given)) for code in codes]
        else:
            values += ["" if given is None else ("; ".join(sorted(given)) or "-")]
        lines.append([*values, row.get("memo") or ""])
    if fmt == "csv":
        return write_csv_sheet([*info, *coder_columns], lines, out)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    sheet.append([*info, *coder_columns])
    for line in lines:
        sheet.append(line)
    style_header(sheet, len(info) + 1)
    letter = openpyxl.utils.get_column_letter
    sheet.column_dimensions["F"].width = 70
    for cells in sheet.iter_rows(min_row=2, min_col=6, max_col=6):
        cells[0].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.column_dimensions[letter(INFO_COLUMNS.index("text_hash") + 1)].hidden = True
    sheet.freeze_panes = "G2"
    book = workbook.create_sheet("codebook")
    book.append(["id", "path", "definition", "include", "exclude", "examples"])
    for code in codebook.codes:
        book.append([code.id, codebook.path(code.id), code.definition, code.include, code.exclude,
                     " | ".join(code.examples)])
    style_header(book, 99)
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return out


@dataclass
class SheetCodes:
    """What a sheet says, checked: per rated unit, its codes; and warnings."""

    units: list[dict] = field(default_factory=list)  # unit_id, codes (set), memo
    not_rated: list[str] = field(default_factory=list)  # the units of rows left empty
    memos: list[dict] = field(default_factory=list)  # unit_id, memo of rows not rated that hold a memo
    warnings: list[str] = field(default_factory=list)


def read_sheet(path: Path, codebook: Codebook, units: dict[str, dict]) -> SheetCodes:
    """Read and check a filled sheet; any bad row refuses the whole sheet."""
    header, rows = read_rows(path, SHEET)
    if "unit_id" not in header:
        refuse(path, ["no 'unit_id' column; make sheets with `policoder code sheet`"])
    layout = "column" if "codes" in header else "matrix"
    known_columns = {*INFO_COLUMNS, OTHERS, "memo", "codes"}
    code_columns = [column for column in header if column and column not in known_columns]
    errors = [f"column {column!r} is not a codable code of codebook {codebook.id}"
              for column in code_columns if column not in codebook.codable]
    if layout == "matrix" and not code_columns:
        errors.append("no code columns and no 'codes' column")
    refuse(path, errors)
    result = SheetCodes()
    for number, row in rows:
        unit_id = cell_text(row.get("unit_id"))
        codes, problem = (_column_codes(cell_text(row.get("codes")), codebook) if layout == "column"
                          else _matrix_codes(row, code_columns))
        memo = cell_text(row.get("memo")) or None
        if problem:
            errors.append(f"row {number}: {problem}")
            continue
        if not unit_id and codes is None and not memo:  # a blank line
            continue
        if unit_id not in units:
            errors.append(f"row {number}: unknown unit {unit_id or '(empty)'!r}")
            continue
        if codes is None:  # not rated yet; a memo on it is kept
            result.not_rated.append(unit_id)
            if memo:
                result.memos.append({"unit_id": unit_id, "memo": memo})
            continue
        made_on = cell_text(row.get("text_hash"))
        if made_on and made_on != text_hash(units[unit_id]["text"]):
            result.warnings.append(f"row {number}: the text of unit {unit_id} changed since the sheet was made; "
                                   f"its codes were not imported (code it again on a new sheet)")
            continue
        result.units.append({"unit_id": unit_id, "codes": codes, "memo": memo})
    refuse(path, errors)
    return result


def _matrix_codes(row: dict, columns: list[str]) -> tuple[set | None, str | None]:
    if not any(cell_text(row.get(column)) for column in columns):
        return None, None
    marks = {column: tick(row.get(column)) for column in columns}
    for column, mark in marks.items():
        if mark is None:
            return None, f"{column} must be a mark ({MARKS}), got {cell_text(row.get(column))!r}"
    return {column for column, mark in marks.items() if mark}, None


def _column_codes(value: str, codebook: Codebook) -> tuple[set | None, str | None]:
    if not value:
        return None, None
    if value.lower() in NO_CODES:
        return set(), None
    codes = {code for code in SEPARATORS.split(value) if code}
    containers = sorted(code for code in codes if code in codebook.by_id and code not in codebook.codable)
    if containers:
        return None, f"{', '.join(map(repr, containers))} only groups other codes; use one of its children"
    unknown = sorted(code for code in codes if code not in codebook.codable)
    if unknown:
        return None, f"unknown code {', '.join(map(repr, unknown))} (see the codebook sheet for the ids)"
    return codes, None
