"""Tables → CSV (UTF-8 with BOM, so Excel shows Chinese), JSON or XLSX files."""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path

FORMATS = ("csv", "json", "xlsx")
CELL_LIMIT = 32767  # characters in one Excel cell
# columns stored as JSON text in the database; JSON exports carry them as real lists/objects
_NESTED = ("heading_path", "attributes")


def json_ready(value):
    """NaN (an undefined statistic) becomes JSON null, at any depth."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def _plain(row: dict) -> dict:
    return {k: json.loads(v) if k in _NESTED and isinstance(v, str) else v for k, v in row.items()}


_PLAIN = frozenset({str, int, float, bool, type(None)})


def flat(row: dict) -> dict:
    """For CSV, XLSX and Parquet cells: a list (e.g. a unit's instruments) becomes "a; b".  A row
    without lists is returned as it is, so a caller writing rows in several formats flattens once."""
    if _PLAIN.issuperset(map(type, row.values())):  # rows from the database, or flattened already
        return row
    return {k: v if type(v) in _PLAIN else _cell(v) for k, v in row.items()}


def _cell(value):
    return "; ".join(map(str, value)) if isinstance(value, (list, tuple)) else value


def atomic_write(out: Path, write) -> Path:
    # a half-written export must never look like a finished one
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.partial")
    write(temporary)
    os.replace(temporary, out)
    return out


def write_table(rows: list[dict], fmt: str, out: Path, *, sheet: str = "table",
                columns: tuple[str, ...] = ()) -> Path:
    """Write rows; ``columns`` gives the header when there are no rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "xlsx":
        return write_workbook({sheet: rows}, out, columns={sheet: columns})
    text = dumps(rows, fmt, columns)
    # the BOM makes Excel open a UTF-8 CSV with its Chinese intact
    encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
    return atomic_write(out, lambda p: p.write_text(text, encoding=encoding, newline=""))


def write_csv_lines(header: list[str], lines: Iterable[str], out: Path) -> Path:
    """The CSV file ``write_table`` writes, from its header and the ``csv_lines`` of its rows, in parts."""
    text = dumps([], "csv", tuple(header)) + "".join(lines)
    return atomic_write(out, lambda p: p.write_text(text, encoding="utf-8-sig", newline=""))


def dumps(rows: list[dict], fmt: str, columns: tuple[str, ...] = ()) -> str:
    """csv or json as a string."""
    if fmt == "json":
        return json.dumps([json_ready(_plain(r)) for r in rows], ensure_ascii=False, indent=1) + "\n"
    header = list(rows[0]) if rows else list(columns)
    buffer = io.StringIO()
    csv.writer(buffer).writerow(header)
    return buffer.getvalue() + csv_lines(rows, header)


def csv_lines(rows: list[dict], header: list[str]) -> str:
    """The CSV lines of ``rows`` under ``header``, without it: rows encode one by one, so the
    lines of parts of a table, joined, are the lines of the whole."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(_cells(rows, header))
    return buffer.getvalue()


def _cells(rows: list[dict], header: list[str]):
    """Rows as csv.DictWriter writes them (a missing key is a blank cell, an unknown one an error),
    at a fraction of its cost: it turns the header into a set for every row.  A row whose keys are
    the header in order (most are) gives its values as they are."""
    known = set(header)
    for row in map(flat, rows):
        if list(row) == header:
            yield row.values()
            continue
        if not row.keys() <= known:
            raise ValueError(f"dict contains fields not in fieldnames: {', '.join(map(repr, row.keys() - known))}")
        yield list(map(row.get, header))


def arrow_table(rows: list[dict], *, columns: tuple[str, ...] = (), schema=None):
    """A table in Arrow's columns, as the Parquet copy and the workbook store it: lists become "a; b"
    as in CSV, NaN is null, and a column that mixes kinds of values (numbers and text) is text,
    which typed columns need; with ``schema`` (pyarrow's) the columns have its types instead.
    pyarrow builds it from the columns directly (a third of pandas' time); ``columns`` gives the
    header when there are no rows."""
    import pyarrow

    header = list(rows[0]) if rows else list(columns)
    if schema is None:
        return pyarrow.Table.from_arrays([_parquet_column(list(values)) for values in columns_of(rows, header)],
                                         names=header)
    return pyarrow.Table.from_arrays([pyarrow.array(list(values), type=schema.field(name).type, from_pandas=True)
                                      for name, values in zip(header, columns_of(rows, header))], schema=schema)


def write_parquet(rows, out: Path, *, columns: tuple[str, ...] = ()) -> Path:
    """A Parquet copy of a table: its rows, or their ``arrow_table``."""
    import pyarrow
    import pyarrow.parquet

    table = rows if isinstance(rows, pyarrow.Table) else arrow_table(rows, columns=columns)
    return atomic_write(out, lambda p: pyarrow.parquet.write_table(table, p))


def columns_of(rows: list[dict], header: list[str]) -> list[tuple]:
    """The table's columns, each a tuple of its cells: transposed by ``zip`` when every row has the
    header's keys in order, as rows of one query do, instead of a lookup per cell."""
    if not rows:
        return [() for _ in header]
    rows = list(map(flat, rows))
    if all(list(row) == header for row in rows):
        return list(zip(*(row.values() for row in rows)))
    return [tuple(row.get(name) for row in rows) for name in header]


def _parquet_column(values: list):
    import pyarrow

    kinds = set(map(type, values)) - {type(None)}
    if float in kinds:  # NaN is null, and a column whose floats are all NaN has no float in it
        values = [None if type(v) is float and v != v else v for v in values]
        kinds = set(map(type, values)) - {type(None)}
    if len(kinds) > 1 and kinds != {int, float}:  # ints and floats are one kind: numbers
        values = [None if v is None else str(v) for v in values]
    return pyarrow.array(values)


def write_workbook(tables: dict, out: Path, *, columns: dict[str, tuple[str, ...]] | None = None) -> Path:
    """One sheet per table (its rows, or their ``arrow_table``) under a frozen header row, each cell
    of the kind its Parquet column has.  Text is written as text, never as a formula (a transcript
    line starting with "=" stays a line), and cut at Excel's cell limit of 32,767 characters.
    rust_xlsxwriter (through rustpy-xlsxwriter) reads the tables' Arrow columns (as pandas frames
    backed by them): no Python object per cell, and a table passes to another process as its buffers.
    It writes the batch benchmark's 643,000 cells 14 times faster than openpyxl's streamed writer did
    (0.9 s against 12.7 s), from rows."""
    import pandas
    import pyarrow
    import rustpy_xlsxwriter

    columns = columns or {}
    sheets = []
    for name, table in tables.items():
        if not isinstance(table, pyarrow.Table):
            table = arrow_table(table, columns=columns.get(name, ()))
        sheets.append((name[:31], _within_cell_limit(table).to_pandas(types_mapper=pandas.ArrowDtype)))
    return atomic_write(out, lambda p: rustpy_xlsxwriter.write_worksheets(
        sheets, str(p), freeze_panes={"general": {"row": 1, "col": 0}}))


def _within_cell_limit(table):
    """``table`` with its text cut at Excel's cell limit (columns with no longer text as they are)."""
    import pyarrow
    import pyarrow.compute

    for index, column in enumerate(table.columns):
        if pyarrow.types.is_string(column.type) and (pyarrow.compute.max(pyarrow.compute.utf8_length(column)).as_py()
                                                     or 0) > CELL_LIMIT:
            table = table.set_column(index, table.field(index),
                                     pyarrow.compute.utf8_slice_codeunits(column, 0, CELL_LIMIT))
    return table
