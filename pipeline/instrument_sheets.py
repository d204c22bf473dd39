"""Coding sheets: how Chinese policy-tool studies are really coded, in Excel.

``write_sheet`` makes a workbook (or a UTF-8 CSV file of the same columns) with one row per unit
(ID, document, level, heading, text, the machine's suggestion and its cues) and empty columns for a
coder: one 0/1 column per presence flag of the scheme (``Scheme.flags``), ``primary``, ``confidence`` and
``memo``; in the workbook, drop-down lists guard the values.  A sheet made before the scheme named
its flags may have a column for every label: the columns of labels that are not flags are ignored,
with a warning (such a label still counts as the primary).  ``read_sheet`` reads a filled sheet
(XLSX, or CSV with the same columns, such as the demo gold set) and checks every row before anything is stored: an unknown unit or label is an
error naming the row, and one bad row refuses the whole sheet.  A unit whose text changed since the
sheet was made is a warning: the label is kept with the text it was made on, and does not count
for the changed unit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment
from openpyxl.worksheet.datavalidation import DataValidation

from .errors import InputError
from .instruments import NONE
from .schemes import Scheme
from .sheets import cell_text as _text
from .sheets import read_rows, refuse, sheet_format, style_header, text_hash, write_csv_sheet

CONFIDENCE = ("high", "medium", "low")
INFO_COLUMNS = ("unit_id", "document", "level", "year", "heading", "text", "suggested_primary", "suggested_labels",
                "cues", "text_hash")
SHEET = "coding"


def coder_columns(scheme: Scheme, memo: str = "memo") -> tuple[str, ...]:
    return (*scheme.flags, "primary", "confidence", memo)


def write_sheet(rows: list[dict], scheme: Scheme, out: Path, *, shown: tuple[str, ...] = (),
                memo: str = "memo") -> Path:
    """``rows``: units with ``unit_id, document, level, year, heading, text, suggested_primary,
    suggested_labels, cues``, and the ``shown`` columns (after those, before the coder's; a
    reconciliation sheet's coders' labels); a row's ``given`` (column → value) fills the coder's
    columns, whose memo column is named ``memo``.  ``out`` ending in .xlsx: a workbook with drop-down
    lists; in .csv: the same columns as UTF-8 CSV (for coders in WPS or LibreOffice), which
    ``read_sheet`` reads back."""
    fmt = sheet_format(out, "with drop-down lists")
    filled = coder_columns(scheme, memo)
    header = [*INFO_COLUMNS, *shown, *filled]
    values = [[row.get(column, "") for column in INFO_COLUMNS[:-1]] + [text_hash(row["text"])]
              + [row.get(column, "") for column in shown] + [row.get("given", {}).get(column, "") for column in filled]
              for row in rows]
    values = [["; ".join(v) if isinstance(v, (list, tuple)) else v for v in row] for row in values]
    if fmt == "csv":
        return write_csv_sheet(header, values, out)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    sheet.append(header)
    for row in values:
        sheet.append(row)
    last = max(len(rows), 1) + 1  # a reconciliation sheet may have no rows: the drop-downs need one
    coder_start = len(INFO_COLUMNS) + len(shown) + 1
    flags = scheme.flags
    yes_no = DataValidation(type="list", formula1='"0,1"', allow_blank=True)
    primary = DataValidation(type="list", formula1=f'"{",".join(scheme.label_ids)}"', allow_blank=True)
    confidence = DataValidation(type="list", formula1=f'"{",".join(CONFIDENCE)}"', allow_blank=True)
    for validation in (yes_no, primary, confidence):
        sheet.add_data_validation(validation)
    letter = openpyxl.utils.get_column_letter
    for offset, _ in enumerate(flags):
        yes_no.add(f"{letter(coder_start + offset)}2:{letter(coder_start + offset)}{last}")
    primary.add(f"{letter(coder_start + len(flags))}2:{letter(coder_start + len(flags))}{last}")
    confidence.add(f"{letter(coder_start + len(flags) + 1)}2:{letter(coder_start + len(flags) + 1)}{last}")
    style_header(sheet, coder_start)
    sheet.column_dimensions["F"].width = 80
    for row_cells in sheet.iter_rows(min_row=2, min_col=6, max_col=6):
        row_cells[0].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.column_dimensions[letter(len(INFO_COLUMNS))].hidden = True  # text_hash: for the import check
    sheet.freeze_panes = "G2"
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return out


@dataclass
class SheetCodings:
    """What a sheet holds, checked: codings ready to store, and warnings."""

    codings: list[dict] = field(default_factory=list)  # unit_id, labels, primary, confidence, memo, text_hash
    blank: int = 0  # rows the coder left empty
    already_there: int = 0  # codings the same as the coder's current label of the unit's text: not stored again
    warnings: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the sheet's header


def read_sheet(path: Path, scheme: Scheme, units: dict[str, dict], *,
               by_document: dict[tuple[str, str], str] | None = None, memo: str = "memo") -> SheetCodings:
    """Read and check a filled sheet.  ``units``: unit_id → unit (with ``text``); ``by_document``:
    (document path, unit path) → unit_id, for sheets that name units that way (the gold set);
    ``memo``: the name of the memo column."""
    header, rows = read_rows(path, SHEET)
    flags = list(scheme.flags)
    if "primary" not in header:
        raise InputError(str(path), "has no 'primary' column; make sheets with `policoder instruments sheet`",
                         code="sheet-invalid")
    if "unit_id" not in header and not {"document", "unit"} <= set(header):
        raise InputError(str(path), "needs a 'unit_id' column (or 'document' and 'unit')", code="sheet-invalid")
    if NONE in header:
        raise InputError(str(path), "has a 'none' column; 'none' is a primary label only", code="sheet-invalid")
    result = SheetCodings(columns=header)
    ignored = [label for label in scheme.label_ids if label in header and label not in flags]  # none: refused above
    if ignored:  # a sheet made before the scheme named its flags
        result.warnings.append(f"columns {', '.join(ignored)} ignored: scheme {scheme.id} marks only its flags "
                               f"({', '.join(flags)}) besides the primary label")
    errors: list[str] = []
    for number, row in rows:
        values = {key: _text(row.get(key)) for key in (*flags, "primary", "confidence")}
        values["memo"] = _text(row.get(memo))
        if not any(values.values()):
            result.blank += 1
            continue
        unit_id = _text(row.get("unit_id")) or (by_document or {}).get((_text(row.get("document")),
                                                                        _text(row.get("unit"))), "")
        problem = _check(values, flags, scheme, unit_id, units)
        if problem:
            errors.append(f"row {number}: {problem}")
            continue
        unit = units[unit_id]
        labels = {flag for flag in flags if values[flag] == "1"} | {values["primary"]}
        current, made_on = text_hash(unit["text"]), _text(row.get("text_hash"))
        begins = _text(row.get("text_begins"))  # the gold set's check instead of a hash (line breaks as spaces)
        if (made_on and made_on != current) or (begins and not unit["text"].replace("\n", " ").startswith(begins)):
            result.warnings.append(f"row {number}: the text of unit {unit_id} changed since the sheet was made; "
                                   f"the label is kept for the old text and does not count for the new one")
        else:
            made_on = current
        result.codings.append({"unit_id": unit_id, "labels": labels, "primary": values["primary"],
                               "confidence": values["confidence"] or None, "memo": values["memo"] or None,
                               "unit_text_hash": made_on or "unknown"})
    refuse(path, errors)
    return result


def _check(values: dict, flags: list[str], scheme: Scheme, unit_id: str, units: dict) -> str | None:
    if not unit_id or unit_id not in units:
        return f"unknown unit {unit_id or '(empty)'!r}"
    for flag in flags:
        if values[flag] not in ("", "0", "1"):
            return f"{flag} must be 0 or 1, got {values[flag]!r}"
    marked = {flag for flag in flags if values[flag] == "1"}
    problem = label_problem(marked, values["primary"], values["confidence"], scheme)
    if problem:
        return problem
    if values["primary"] in flags and values[values["primary"]] == "0":
        return f"primary is {values['primary']!r} but its column says 0"
    return None


def label_problem(labels: set[str], primary: str, confidence: str | None, scheme: Scheme) -> str | None:
    """What is wrong with one human label (labels besides the primary, the primary, a confidence), or None."""
    flags = [label for label in scheme.label_ids if label != NONE]
    if NONE in labels:
        return f"{NONE!r} is a primary label only"
    unknown = sorted(labels - set(flags))
    if unknown:
        return f"unknown label {unknown[0]!r} (labels: {', '.join(flags)})"
    if not primary:  # flags ticked, the primary left empty
        return f"primary is empty; give one of {', '.join(scheme.label_ids)}"
    if primary not in scheme.label_ids:
        return f"unknown label {primary!r} in primary (labels: {', '.join(scheme.label_ids)})"
    if primary == NONE and labels:  # "no instrument" and an instrument at once
        return f"primary {NONE!r} cannot go with other labels ({', '.join(sorted(labels))})"
    if confidence and confidence not in CONFIDENCE:
        return f"confidence must be one of {', '.join(CONFIDENCE)}, got {confidence!r}"
    return None
