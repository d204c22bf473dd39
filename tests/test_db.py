"""The project store: schema, transactions, and human work surviving machine re-runs."""
import sqlite3

import pytest

from pipeline import db as store
from pipeline.records import Clause, Document, PolicyMetadata, SourceText

NOW = "2026-11-23T00:00:00+00:00"


def document(text: str, clauses: list[tuple[str, int, int]], content_hash: str, path="corpus/a.txt") -> Document:
    return Document(
        path=path, content_hash=content_hash, kind="policy",
        source=SourceText(path=path, source_format="txt", text=text),
        metadata=PolicyMetadata(title="关于推进产教融合的通知", level="provincial"),
        language="zh",
        clauses=tuple(Clause(p, "", (), text[s:e], s, e) for p, s, e in clauses),
    )


@pytest.fixture
def db(tmp_path):
    database = store.connect(tmp_path / "p.db")
    yield database
    database.close()


def test_db_schema_is_migrated_once_and_strict(db, tmp_path):
    assert store.schema_version(db) == ["m001_documents_units_problems", "m002_unit_tokens", "m003_instruments",
                                        "m004_topics", "m005_coding", "m006_stages",
                                        "m007_made_at", "m008_places", "m009_assignment_release",
                                        "m010_document_terms", "m011_corpus_terms"]
    again = store.connect(tmp_path / "p.db")  # reopening applies nothing twice
    assert store.schema_version(again) == store.schema_version(db)
    assert "STRICT" in db.execute("SELECT sql FROM sqlite_master WHERE name = 'clauses'").fetchone()[0]
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO clauses (unit_id, doc_id, position, path, heading, heading_path, section, text,"
                   ' start, "end") VALUES (\'9-1\', 9, 1, \'1\', \'\', \'[]\', \'body\', \'x\', 0, 1)')


def test_db_reingest_replaces_units_but_keeps_codings_and_versions(db):
    first = document("一、甲。\n二、乙。", [("1", 0, 4), ("2", 5, 9)], "h1")
    doc_id = store.write_document(db, first, ingest_key="k1", now=NOW)
    (coding,) = store.add_codings(db, [{"doc_id": doc_id, "start": 5, "end": 9, "code": "incentive", "coder": "A",
                                        "unit_id": f"{doc_id}-2"}], NOW)
    changed = document("一、甲。\n二、乙改。\n三、丙。", [("1", 0, 4), ("2", 5, 10), ("3", 11, 15)], "h2")
    assert store.write_document(db, changed, ingest_key="k2", now=NOW) == doc_id
    assert [r["unit_id"] for r in store.rows(db, "clauses")] == [f"{doc_id}-1", f"{doc_id}-2", f"{doc_id}-3"]
    kept = list(store.rows(db, "coding_history"))
    assert [(c["id"], c["content_hash"], c["start"], c["end"]) for c in kept] == [(coding, "h1", 5, 9)]
    # the coded span still reads the same on the text version it was made on
    old_text = db.execute("SELECT text FROM document_versions WHERE doc_id = ? AND content_hash = 'h1'",
                          [doc_id]).fetchone()[0]
    assert old_text[5:9] == "二、乙。"
    assert db.execute("SELECT count(*) FROM document_versions").fetchone()[0] == 2


def test_db_failed_write_leaves_nothing_half_done(db):
    doc_id = store.write_document(db, document("一、甲。", [("1", 0, 4)], "h1"), ingest_key="k1", now=NOW)
    duplicate_ids = document("一、甲。\n二、乙。", [("1", 0, 4), ("1", 5, 9)], "h2")
    with pytest.raises(sqlite3.IntegrityError):
        store.write_document(db, duplicate_ids, ingest_key="k2", now=NOW)
    row = db.execute("SELECT content_hash, ingest_key FROM documents WHERE id = ?", [doc_id]).fetchone()
    assert row == ("h1", "k1")
    assert [r["unit_id"] for r in store.rows(db, "clauses")] == [f"{doc_id}-1"]


def test_db_document_numbers_are_stable_and_never_reused(db):
    a = store.write_document(db, document("一、甲。", [("1", 0, 4)], "ha", path="a.txt"), ingest_key="a", now=NOW)
    b = store.write_document(db, document("一、乙。", [("1", 0, 4)], "hb", path="b.txt"), ingest_key="b", now=NOW)
    store.move_document(db, a, "moved/a.txt", NOW)
    c = store.write_document(db, document("一、丙。", [("1", 0, 4)], "hc", path="c.txt"), ingest_key="c", now=NOW)
    assert (a, b, c) == (1, 2, 3)
    assert store.find_document(db, "moved/a.txt")["id"] == a
    assert store.find_document(db, "a.txt")["id"] == a  # a path suffix is enough when unique


def test_db_migration_unblinds_what_sheet_imports_recorded_blind(tmp_path):
    """Before m009 a coding sheet import (and a reconciliation) recorded its rows as blind
    assignments: the migration lifts those, and keeps the blindness `code assign` gave."""
    path = tmp_path / "old.db"
    db = store.connect(path)
    doc_id = store.write_document(db, document("一、甲。\n二、乙。", [("1", 0, 4), ("2", 5, 9)], "h1"),
                                  ingest_key="k1", now=NOW)
    # the database as m008 left it: no release columns, and import rows written blind
    db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm009_assignment_release'")
    db.execute("ALTER TABLE assignments DROP COLUMN released_at")
    db.execute("ALTER TABLE assignments DROP COLUMN released_by")
    for sample in ("pilot", "sheet:ann.xlsx", "reconcile:d.xlsx"):
        db.execute("INSERT INTO assignments (sample, coder, doc_id, unit_id, blind, created_at)"
                   " VALUES (?, 'ann', ?, ?, 1, ?)", [sample, doc_id, f"{doc_id}-1", NOW])
    db.conn.commit()
    db.close()
    db = store.connect(path)
    try:
        assert {(row["sample"], row["blind"], row["released_at"]) for row in store.assignment_rows(db)} == {
            ("pilot", 1, None), ("sheet:ann.xlsx", 0, None), ("reconcile:d.xlsx", 0, None)}
    finally:
        db.close()
