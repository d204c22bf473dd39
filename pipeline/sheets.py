"""What every coding sheet shares: its format from its file name (XLSX, or a UTF-8 CSV of the same
columns for WPS or LibreOffice), reading a sheet back with the row numbers a user sees, cell values
as text, the tick marks a coder may write for "present" and "absent", drop-down lists that refuse
other values, the header style of the columns a coder fills, and the hash that tells whether a
unit's text changed since the sheet was made."""
from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from pathlib import Path

import openpyxl
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from . import export
from .errors import InputError, ProjectError

CODER_FILL = PatternFill("solid", fgColor="FFF2CC")  # the columns a coder fills stand out
# what coders write in a yes/no cell, compared after NFKC (full-width １ and ｘ from a Chinese input
# method are 1 and x) and case folding; TRUE/FALSE are Excel's booleans (a cell typed as a boolean
# reads back as True/False, and as TRUE/FALSE in a CSV Excel saved)
PRESENT = frozenset({"1", "x", "✓", "✔", "√", "yes", "y", "是", "有", "true"})
ABSENT = frozenset({"0", "no", "n", "否", "无", "false"})
MARKS = "1, x, ✓, √, 是, 有, yes or TRUE for present; 0, 否, 无, no, FALSE or blank for absent"
_WHOLE_NUMBER = re.compile(r"([01])\.0*")  # 1.0: a number cell written back as text by a spreadsheet
LIST_LIMIT = 255  # Excel's limit on the characters of a drop-down list written in its formula, and of its message


def sheet_format(out: Path, xlsx_gives: str) -> str:
    """``xlsx`` or ``csv``, by the sheet's file name; any other name is refused (``xlsx_gives``: what
    the workbook has that the CSV has not)."""
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ProjectError(f"{out}: a coding sheet is written as .xlsx ({xlsx_gives}) or .csv (UTF-8); "
                           f"give one of those names", code="sheet-format")
    return suffix[1:]


def write_csv_sheet(header: list[str], values: list[list], out: Path) -> Path:
    """The sheet's columns as UTF-8 CSV (with a BOM, so that Excel keeps the Chinese), read back by ``read_rows``."""
    return export.write_table([dict(zip(header, row)) for row in values], "csv", out, columns=tuple(header))


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():  # Excel gives numbers back as floats
        value = int(value)
    return str(value).strip()


def tick(value) -> bool | None:
    """A yes/no cell: True (present), False (absent or blank), None (not a mark: the caller says so)."""
    if isinstance(value, bool):
        return value
    mark = unicodedata.normalize("NFKC", cell_text(value)).casefold()
    if whole := _WHOLE_NUMBER.fullmatch(mark):
        mark = whole.group(1)
    if not mark or mark in ABSENT:
        return False
    return True if mark in PRESENT else None


def drop_down(sheet, cells: str, choices: list[str], what: str, *, source: str | None = None) -> None:
    """A drop-down list on ``cells`` that refuses anything else typed in, with an error saying, in
    Chinese and English, ``what`` the column takes.  ``source``: a range holding the choices
    (``labels!$A$2:$A$7``), for a list too long to write in the formula."""
    listed_choices = ",".join(choices)
    formula = f'"{listed_choices}"' if len(listed_choices) + 2 <= LIST_LIMIT else source
    message = f"请从下拉列表中选择，或留空。Pick from the list, or leave the cell empty. {what}"
    validation = DataValidation(type="list", formula1=formula, allow_blank=True, showErrorMessage=True,
                                errorStyle="stop", errorTitle="无效的值 Invalid value", error=message[:LIST_LIMIT])
    validation.add(cells)
    sheet.add_data_validation(validation)


def style_header(sheet, coder_start: int) -> None:
    """Bold header; the coder's columns (from ``coder_start``, 1-based) shaded."""
    for column in range(1, sheet.max_column + 1):
        cell = sheet.cell(row=1, column=column)
        cell.font = Font(bold=True)
        if column >= coder_start:
            cell.fill = CODER_FILL


def read_rows(path: Path, sheet_name: str) -> tuple[list[str], list[tuple[int, dict]]]:
    """(header, [(row number as the user sees it, row)]) of an XLSX sheet or a CSV file."""
    if not path.is_file():
        raise InputError(str(path), "file not found", code="file-missing")
    if path.suffix.lower() == ".csv":
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle)
                return list(reader.fieldnames or []), [(number, row) for number, row in enumerate(reader, start=2)]
        except UnicodeDecodeError:
            raise InputError(str(path), "is not UTF-8 text; save the CSV as UTF-8", code="sheet-invalid") from None
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        raise InputError(str(path), f"cannot be read as an XLSX workbook ({type(error).__name__})",
                         code="sheet-invalid") from None
    sheet = workbook[sheet_name] if sheet_name in workbook.sheetnames else workbook.worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    workbook.close()
    if not values:
        raise InputError(str(path), "is empty", code="sheet-invalid")
    header = [cell_text(cell) for cell in values[0]]
    return header, [(number, dict(zip(header, row))) for number, row in enumerate(values[1:], start=2)]


def listed(problems: list[str], limit: int) -> str:
    """The first ``limit`` problems on one line, the rest counted."""
    more = len(problems) - limit
    return "; ".join(problems[:limit]) + (f"; and {more} more" if more > 0 else "")


def refuse(path: Path, errors: list[str]) -> None:
    """All or nothing: any bad row refuses the whole sheet, naming the first few."""
    if errors:
        raise InputError(str(path), f"nothing imported: {listed(errors, 5)}", code="sheet-invalid")
