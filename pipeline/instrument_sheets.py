"""Coding sheets: how Chinese policy-tool studies are really coded, in Excel.

``write_sheet`` makes a workbook (or a UTF-8 CSV file of the same columns) with one row per unit
(ID, document, level, heading, text, the machine's suggestion and its cues) and empty columns for a
coder: one 0/1 column per presence flag of the scheme (``Scheme.flags``), ``primary``, ``confidence``
and ``memo``; in the workbook, drop-down lists refuse any other value typed in, and a second sheet
(``labels``) defines each label.  A sheet made before the scheme named its flags may have a column
for every label: the columns of labels that are not flags are ignored, with a warning (such a label
still counts as the primary).  ``read_sheet`` reads a filled sheet (XLSX, or CSV with the same
columns, such as the demo gold set) and checks every row before anything is stored.  What coders
write is read as they mean it: a flag cell takes the usual tick marks (1, x, ✓, 是, TRUE …; 0, 否,
blank), ``primary`` a label's id or any of its names (激励型, Incentive).  An unknown unit or label,
an ambiguous name or a mark that is none of these is an error naming the row, and one bad row
refuses the whole sheet.  A unit whose text changed since the sheet was made is a warning: the
label is kept with the text it was made on, and does not count for the changed unit.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment

from .errors import InputError
from .instruments import NONE
from .schemes import Scheme, shipped_schemes
from .sheets import MARKS, drop_down, read_rows, refuse, sheet_format, style_header, text_hash, tick, write_csv_sheet
from .sheets import cell_text as _text

CONFIDENCE = ("high", "medium", "low")
CONFIDENCE_NAMES = {"高": "high", "中": "medium", "低": "low"}  # what a Chinese coder writes instead
INFO_COLUMNS = ("unit_id", "document", "level", "year", "heading", "text", "suggested_primary", "suggested_labels",
                "cues", "text_hash")
SHEET = "coding"
LABELS_SHEET = "labels"  # the definitions; reading a workbook reads only SHEET
GUIDE = "codebooks/instruments/GUIDE.md"  # the labelling guide of the default scheme
CUES_SHOWN = 8  # Chinese cues per label on the labels sheet (and half as many English ones)
_NAME_PARTS = re.compile(r"[/()、,;]")  # 约束型（强制型） is also 约束型 and 强制型; "incentive / inducement" both


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
    letter = openpyxl.utils.get_column_letter

    def cells(offset: int) -> str:
        return f"{letter(coder_start + offset)}2:{letter(coder_start + offset)}{last}"

    for offset, _ in enumerate(flags):
        drop_down(sheet, cells(offset), ["0", "1"], "1 = 有 present, 0 = 无 absent")
    # the primary's list: each label's id and, for coders who think in them, its Chinese name
    names = _label_names(scheme)
    choices = [written for label in scheme.labels for written in dict.fromkeys((label.id, label.name))
               if written and names.get(_folded(written)) == {label.id} and not set(written) & set(',"')]
    drop_down(sheet, cells(len(flags)), choices,
              f"主要标签：id 或名称，见 {LABELS_SHEET} 表。The primary label: its id or name (see the {LABELS_SHEET} sheet).",
              source=f"{LABELS_SHEET}!$A$2:$A${len(scheme.labels) + 1}")
    drop_down(sheet, cells(len(flags) + 1), list(CONFIDENCE), "Confidence: high (高), medium (中) or low (低).")
    style_header(sheet, coder_start)
    sheet.column_dimensions["F"].width = 80
    for row_cells in sheet.iter_rows(min_row=2, min_col=6, max_col=6):
        row_cells[0].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.column_dimensions[letter(len(INFO_COLUMNS))].hidden = True  # text_hash: for the import check
    sheet.freeze_panes = "G2"
    _labels_sheet(workbook.create_sheet(LABELS_SHEET), scheme)
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return out


def _labels_sheet(book, scheme: Scheme) -> None:
    """What each label means, beside the sheet: id, names, definition, notes, a few of its cues; and
    where the labelling guide is."""
    book.append(["id", "name", "name_en", "definition", "notes", "cues"])
    for label in scheme.labels:
        book.append([label.id, label.name, label.name_en, label.definition, label.notes, _some_cues(scheme, label.id)])
    style_header(book, 99)
    for column, width in zip("ABCDEF", (16, 18, 22, 70, 50, 60)):
        book.column_dimensions[column].width = width
    for cells in book.iter_rows(min_row=2, min_col=4, max_col=6):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    book.append([])
    if Path(scheme.source).resolve() == shipped_schemes()["default"].resolve():
        book.append([f"编码指南 Labelling guide: {GUIDE} (in policoder): the unit, each label, choosing the "
                     f"primary, the traps"])
    else:
        book.append([f"标签定义来自 Labels from: {Path(scheme.source).name} "
                     f"(scheme {scheme.id}, version {scheme.version})"])


def _some_cues(scheme: Scheme, label_id: str) -> str:
    """The label's strongest cues: Chinese ones, then a few English ones ("^": at the start of the unit)."""
    cues = sorted((cue for group in scheme.groups if group.label == label_id and group.weight > 0
                   for cue in group.cues), key=lambda cue: -cue.weight)
    shown = {language: list(dict.fromkeys(cue.text.lstrip("^") for cue in cues if cue.language == language))
             for language in ("zh", "en")}
    english = " | " + ", ".join(shown["en"][:CUES_SHOWN // 2]) if shown["en"] else ""
    return "、".join(shown["zh"][:CUES_SHOWN]) + english


def _label_names(scheme: Scheme) -> dict[str, set[str]]:
    """What a coder may write in ``primary`` for a label (its id, its names and each part of a name,
    compared case-folded) → the labels it names: more than one is an ambiguous name."""
    names: dict[str, set[str]] = {}
    for label in scheme.labels:
        for name in (label.id, label.name, label.name_en):
            folded = _folded(name)
            for written in (folded, *_NAME_PARTS.split(folded)):
                if written.strip():
                    names.setdefault(written.strip(), set()).add(label.id)
    return names


def _folded(text: str) -> str:
    """NFKC (full-width （ and Ａ are ( and A), case folding and _ as a space: Incentive is incentive,
    System change is system_change."""
    return unicodedata.normalize("NFKC", text).replace("_", " ").strip().casefold()


def _primary(written: str, scheme: Scheme, names: dict[str, set[str]]) -> tuple[str, str | None]:
    """The label a ``primary`` cell names, or a problem."""
    if not written or written in scheme.label_ids:
        return written, None
    found = names.get(_folded(written), set())
    if len(found) == 1:
        return next(iter(found)), None
    if found:
        return written, f"primary {written!r} is a name of several labels ({', '.join(sorted(found))}); give the id"
    known = ", ".join(f"{label.id} {label.name}".strip() for label in scheme.labels)
    return written, f"unknown label {written!r} in primary (give a label's id or name: {known})"


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
    names = _label_names(scheme)
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
        values["confidence"] = CONFIDENCE_NAMES.get(values["confidence"], values["confidence"])
        values["memo"] = _text(row.get(memo))
        if not any(values.values()):
            result.blank += 1
            continue
        unit_id = _text(row.get("unit_id")) or (by_document or {}).get((_text(row.get("document")),
                                                                        _text(row.get("unit"))), "")
        labels, primary, problem = _check(row, values, flags, scheme, names, unit_id, units)
        if problem:
            errors.append(f"row {number}: {problem}")
            continue
        unit = units[unit_id]
        current, made_on = text_hash(unit["text"]), _text(row.get("text_hash"))
        begins = _text(row.get("text_begins"))  # the gold set's check instead of a hash (line breaks as spaces)
        if (made_on and made_on != current) or (begins and not unit["text"].replace("\n", " ").startswith(begins)):
            result.warnings.append(f"row {number}: the text of unit {unit_id} changed since the sheet was made; "
                                   f"the label is kept for the old text and does not count for the new one")
        else:
            made_on = current
        result.codings.append({"unit_id": unit_id, "labels": labels, "primary": primary,
                               "confidence": values["confidence"] or None, "memo": values["memo"] or None,
                               "unit_text_hash": made_on or "unknown"})
    refuse(path, errors)
    return result


def _check(row: dict, values: dict, flags: list[str], scheme: Scheme, names: dict[str, set[str]], unit_id: str,
           units: dict) -> tuple[set[str], str, str | None]:
    """A row's labels (the primary's among them) and primary label id, or what is wrong with it."""
    if not unit_id or unit_id not in units:
        return set(), "", f"unknown unit {unit_id or '(empty)'!r}"
    marks = {flag: tick(row.get(flag)) for flag in flags}
    wrong = next((flag for flag, mark in marks.items() if mark is None), None)
    if wrong:
        return set(), "", f"{wrong} must be a mark ({MARKS}), got {values[wrong]!r}"
    marked = {flag for flag, mark in marks.items() if mark}
    primary, problem = _primary(values["primary"], scheme, names)
    problem = problem or label_problem(marked, primary, values["confidence"], scheme)
    if not problem and primary in flags and values[primary] and not marks[primary]:
        problem = f"primary is {primary!r} but its column says {values[primary]}"
    return marked | {primary}, primary, problem


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
