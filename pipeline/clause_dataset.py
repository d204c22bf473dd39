"""The clauses dataset of a run, made by document and kept for the next run.

The clauses dataset is most of a run's datasets (one row per policy clause, tens of thousands in a
national database), and a run after one document changed would otherwise build, encode and write
every row again.  Each document's rows are a pure function of its clauses, its instrument labels
(their fingerprint: ``Project.instrument_labels``), its level and year, and its topic shares; their
digest keys the document's piece.  The run keeps its table (Arrow, with each row's CSV line) in
``outputs/.stages/report/clauses.arrow``; the next run takes the pieces whose key is unchanged from
it and makes only the others.  The columns have declared types, so that a table made of pieces is
the one made at once (a column's type never depends on which rows were made last).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import orjson

from . import db as store
from . import divisions, export
from .records import code_digest

KEPT = "clauses.arrow"
CSV_COLUMN = "_csv"  # each row's CSV line, kept beside its cells
TOPIC_COLUMNS = ("topic_shares_of", "dominant_topic")  # then topic_<k> per topic of the run's model
_INTEGERS = frozenset({"doc_id", "page", "start", "end", "dominant_topic"})


@dataclass
class ClauseDataset:
    header: list[str]
    table: object  # pyarrow.Table of the rows, in the header's columns
    pieces: object  # the table with each row's CSV line, as the next run reads it
    path: Path  # where it is kept

    def lines(self) -> list[str]:
        """The CSV lines of the rows (joined: the CSV file without its header)."""
        return self.pieces.column(CSV_COLUMN).to_pylist()

    def keep(self) -> None:
        """Keep the pieces for the next run (in one file, replaced whole)."""
        import pyarrow

        def write(temporary: Path) -> None:
            with pyarrow.OSFile(str(temporary), "wb") as sink, pyarrow.ipc.new_file(sink, self.pieces.schema) as out:
                out.write_table(self.pieces)

        export.atomic_write(self.path, write)


def build(project, units: list[dict], instrument_rows: list[dict], labels: dict[str, dict],
          topic_shares: list[dict], model_id: str | None, kept: Path, *, reuse: bool = True) -> ClauseDataset:
    """The clauses dataset of ``units`` (``Project.instrument_units``) with their ``instrument_rows``
    and the ``labels`` they were made from (none when the instruments could not be read), and the
    ``topic_shares`` of the run's model; pieces whose key is in the table ``kept`` are taken from it
    (unless not to ``reuse`` them: ``--force``), and ``ClauseDataset.keep`` keeps the new one there."""
    import pyarrow

    shares: dict[tuple[int, str], dict[int, float]] = {}
    for row in topic_shares:
        shares.setdefault((row["doc_id"], row["unit_id"]), {})[row["topic"]] = row["share"]
    topics = sorted({topic for found in shares.values() for topic in found})
    header = list(store.export_columns("clauses"))
    if model_id and units:
        header += [*TOPIC_COLUMNS, *(f"topic_{topic}" for topic in topics)]
    schema = pyarrow.schema([(name, _type(name)) for name in header] + [(CSV_COLUMN, pyarrow.string())])
    table_key = _digest([code_digest(build, _made, _with_topic_shares, type(project).clause_rows, export, divisions),
                         header])
    documents = [(doc_id, list(of_document)) for doc_id, of_document in groupby(units, key=itemgetter("doc_id"))]
    keys = {doc_id: _digest([table_key, [unit["clause"] for unit in of_document],
                             of_document[0]["level"], of_document[0]["year"],
                             (labels.get(str(doc_id)) or {}).get("fingerprint"),
                             [shares.get((doc_id, unit["unit_id"])) for unit in of_document], shares.get((doc_id, ""))])
            for doc_id, of_document in documents}
    earlier, at = _kept(kept, schema) if reuse else (None, {})
    todo = {doc_id for doc_id in keys if keys[doc_id] not in at}
    fresh, fresh_at = _made(project, [unit for doc_id, of_document in documents if doc_id in todo
                                      for unit in of_document], instrument_rows, shares, topics, header, schema,
                            model_id)
    pieces = []
    for doc_id, of_document in documents:  # consecutive rows from one table go as one slice
        source, first = (fresh, fresh_at[doc_id]) if doc_id in todo else (earlier, at[keys[doc_id]])
        if pieces and pieces[-1][0] is source and pieces[-1][1] + pieces[-1][2] == first:
            pieces[-1][2] += len(of_document)
        else:
            pieces.append([source, first, len(of_document)])
    table = pyarrow.concat_tables([source.slice(first, n) for source, first, n in pieces]) if pieces \
        else schema.empty_table()
    index = {"keys": [[keys[doc_id], len(of_document)] for doc_id, of_document in documents]}
    # in one piece, as a table made at once is: Parquet's bytes depend on how a column is cut
    # (without the kept table's index, which a first slice taken from it brings along)
    return ClauseDataset(header, table.drop_columns([CSV_COLUMN]).replace_schema_metadata(None).combine_chunks(),
                         table.replace_schema_metadata({"policoder": orjson.dumps(index)}), kept)


def _made(project, units: list[dict], instrument_rows: list[dict], shares: dict, topics: list[int],
          header: list[str], schema, model_id: str | None) -> tuple[object, dict[int, int]]:
    """The rows of ``units`` as a table of ``schema`` (with their CSV lines), and where each
    document's rows begin in it."""
    import pyarrow

    wanted = {unit["doc_id"] for unit in units}
    rows = project.clause_rows([row for row in instrument_rows if row["doc_id"] in wanted], units=units)
    if model_id:
        _with_topic_shares(rows, shares, topics)
    rows = [export.flat(row) for row in rows]
    at: dict[int, int] = {}
    for index, row in enumerate(rows):
        at.setdefault(row["doc_id"], index)
    lines = [export.csv_lines([row], header) for row in rows]
    cells = export.arrow_table(rows, columns=tuple(header), schema=schema.remove(schema.get_field_index(CSV_COLUMN)))
    return cells.append_column(schema.field(CSV_COLUMN), pyarrow.array(lines, pyarrow.string())), at


def _with_topic_shares(clauses: list[dict], shares: dict, topics: list[int]) -> None:
    """Each clause with the topic shares of the run's model: its own when the model reads units,
    its document's when the model reads whole documents (``topic_shares_of`` says which)."""
    columns: dict[tuple[int, str], dict] = {}  # a text's topic columns, made once (a document's serve its clauses)

    def of(key: tuple[int, str], whose: str) -> dict:
        if key not in columns:
            found = shares.get(key, {})
            columns[key] = {"topic_shares_of": whose if found else "",
                            "dominant_topic": max(found, key=found.get) if found else None,
                            **{f"topic_{topic}": found.get(topic) for topic in topics}}
        return columns[key]

    for clause in clauses:  # ``clause_rows``' own rows: their columns are added in place
        own = (clause["doc_id"], clause["unit_id"])
        clause.update(of(own, "unit") if own in shares else of((clause["doc_id"], ""), "document"))


def _kept(path: Path, schema) -> tuple[object | None, dict[str, int]]:
    """The kept table (when it has ``schema``) and where each of its pieces, by key, begins."""
    import pyarrow

    at, start = {}, 0
    try:  # read whole, not mapped: a mapped file cut short under the reader ends the process
        table = pyarrow.ipc.open_file(pyarrow.py_buffer(path.read_bytes())).read_all()
        for key, rows in orjson.loads(table.schema.metadata[b"policoder"])["keys"]:
            at.setdefault(key, start)
            start += rows
    except (OSError, KeyError, TypeError, ValueError, pyarrow.ArrowInvalid):
        return None, {}  # none yet, or unreadable: every piece is made
    return (table, at) if start == table.num_rows and table.schema.remove_metadata().equals(schema) else (None, {})


def _type(column: str):
    import pyarrow

    if column in _INTEGERS:
        return pyarrow.int64()
    return pyarrow.float64() if column.startswith("topic_") and column not in TOPIC_COLUMNS else pyarrow.string()


def _digest(parts: list) -> str:
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_NON_STR_KEYS, default=str)).hexdigest()
