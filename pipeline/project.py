"""The library API a scholar calls from a notebook; the CLI is a thin layer over it.

    >>> from pipeline import open_project
    >>> project = open_project(".")
    >>> report = project.ingest()          # the corpus folders of policoder.toml
    >>> rows = project.rows("clauses")

A project is a folder with ``policoder.toml``; its database (human work included) lives in
the project folder, never under ``outputs/``, which every run regenerates.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path

from . import db as store
from . import export, stats
from .config import CONFIG_NAME, TEMPLATE, Config, load_config
from .errors import InputError, ProjectError
from .ingest import discover, file_hash, load_sidecars, read_document
from .records import Document, Problem
from .tokens import TokenizerSettings, tokenize_rows, tokenizer_hash

# bump when reading/cleaning/segmenting changes, so unchanged files are read again
INGEST_VERSION = "1"
MANIFEST_LIBRARIES = ("policoder", "jieba", "spacy", "scikit-learn", "gensim", "pdfplumber", "pypdfium2",
                      "sqlite-utils", "python-docx", "beautifulsoup4", "charset-normalizer", "cnloc", "cn2an",
                      "openpyxl")
TOKENIZE_TASK_CHARS = 50_000
RUN_TABLES = ("documents", "clauses", "turns", "problems")

Progress = Callable[[str, int], None]  # (path just finished, total) → None


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class IngestReport:
    """What one ingest did: which files were read, skipped as unchanged, moved, or refused."""

    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[tuple[Problem, str]] = field(default_factory=list)  # (problem, 'error' | 'warning')
    inputs: list[dict] = field(default_factory=list)  # path, sha256, bytes of every input seen
    seconds: float = 0.0

    @property
    def skipped(self) -> list[Problem]:
        return [p for p, severity in self.problems if severity == "error"]

    @property
    def exit_status(self) -> int:
        """0 when every input was ingested, 1 when some were skipped."""
        return 1 if self.skipped else 0


@dataclass
class RunReport:
    run_id: str
    folder: Path
    ingest: IngestReport
    manifest: dict


@dataclass
class TokenizeReport:
    tokenizer_hash: str
    tokenized: int = 0  # units tokenized now
    cached: int = 0  # units whose tokens were already stored for this configuration
    characters: int = 0
    seconds: float = 0.0


def _tokenize_units(task: dict) -> list[tuple[int, str, list]]:
    """Worker: a batch of units → (doc_id, unit_id, compact tokens with document offsets)."""
    units = task["units"]
    tokenized = tokenize_rows(task["settings"], [u["text"] for u in units])
    return [
        (u["doc_id"], u["unit_id"],
         [[u["start"] + start, u["start"] + end, norm, int(stop), int(punct)] for start, end, norm, stop, punct in rows])
        for u, rows in zip(units, tokenized)
    ]


def _read_one(task: dict) -> Document | Problem:
    """Worker: one file → Document, or the Problem that stopped it (runs in a subprocess)."""
    try:
        return read_document(task["path"], display_path=task["display"], kind=task["kind"], unit=task["unit"],
                             pdf_engine=task["pdf_engine"], attributes=task["attributes"],
                             content_hash=task["content_hash"])
    except InputError as error:
        return Problem(task["display"], error.code, error.message)
    except Exception as error:  # a bug must not cost the user the rest of the batch
        return Problem(task["display"], "internal-error",
                       f"unexpected {type(error).__name__}: {error} (please report this file)")


def init_project(root: str | Path, name: str | None = None) -> Path:
    """Create a project skeleton: policoder.toml, corpus/, codebooks/, outputs/."""
    root = Path(root)
    if (root / CONFIG_NAME).exists():
        raise ProjectError(f"{root / CONFIG_NAME}: already exists; not overwriting a project", code="project-exists")
    for folder in ("corpus", "codebooks", "outputs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / CONFIG_NAME).write_text(TEMPLATE.format(name=name or root.resolve().name), encoding="utf-8")
    (root / ".gitignore").write_text("outputs/\n*.db\n*.db-wal\n*.db-shm\n", encoding="utf-8")
    return root


def open_project(root: str | Path = ".", *, db: str | Path | None = None) -> "Project":
    config = load_config(root)
    return Project(config, Path(db) if db else config.root / config.project.database)


class Project:
    def __init__(self, config: Config, db_path: Path):
        self.config = config
        self.db_path = Path(db_path)
        self._db = None

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def db(self):
        if self._db is None:
            self._db = store.connect(self.db_path)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def display_path(self, path: Path) -> str:
        """Paths inside the project are stored relative to it, so a project can be moved."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path.resolve().as_posix()

    def corpus_paths(self) -> list[Path]:
        return [self.root / p for p in self.config.project.corpus]

    # --- ingest ----------------------------------------------------------------------------

    def ingest(self, paths: list[str | Path] | None = None, *, kind: str | None = None, unit: str | None = None,
               workers: int | None = None, force: bool = False, run_id: str | None = None,
               progress: Progress | None = None) -> IngestReport:
        """Ingest files or folders (default: the configured corpus); unchanged files are skipped."""
        started = time.perf_counter()
        settings = self.config.ingest
        kind, unit = kind or settings.kind, unit or settings.unit
        workers = workers or settings.workers
        roots = [Path(p) for p in paths] if paths else self.corpus_paths()
        report = IngestReport()
        now = utc_now()
        owns_run = run_id is None
        if owns_run:
            run_id = self._start_run("ingest")
        files, problems = discover(roots)
        sidecars, sheet_problems = load_sidecars(files)
        report.problems += [(Problem(self.display_path(Path(p.path)), p.code, p.message), "error")
                            for p in problems + sheet_problems]
        known = store.document_index(self.db)
        by_hash = {entry["content_hash"]: path for path, entry in known.items()}
        tasks = []
        for path in files:
            display = self.display_path(path)
            try:
                content_hash = file_hash(path)
            except OSError:
                report.problems.append((Problem(display, "file-missing", "file disappeared before it could be read"),
                                        "error"))
                continue
            report.inputs.append({"path": display, "sha256": content_hash, "bytes": path.stat().st_size})
            attributes = sidecars.get(path, {})
            key = hashlib.sha256(json.dumps(
                [content_hash, sorted(attributes.items()), kind, unit, settings.pdf_engine, INGEST_VERSION]
            ).encode()).hexdigest()
            entry = known.get(display)
            if entry is None and content_hash in by_hash and by_hash[content_hash] != display:
                other = by_hash[content_hash]
                if not (self.root / other).exists() and not Path(other).exists():
                    store.move_document(self.db, known[other]["id"], display, now)
                    report.moved.append(f"{other} → {display}")
                    entry = known[display] = known.pop(other)
                else:
                    report.problems.append((Problem(display, "duplicate-content",
                                                    f"same content as {other}; not ingested twice"), "warning"))
                    continue
            if entry and entry["ingest_key"] == key and not force:
                report.unchanged.append(display)
                continue
            tasks.append({"path": str(path), "display": display, "kind": kind, "unit": unit,
                          "pdf_engine": settings.pdf_engine, "attributes": attributes,
                          "content_hash": content_hash, "ingest_key": key})
        for task, result in zip(tasks, self._map(_read_one, tasks, workers)):
            if isinstance(result, Problem):
                report.problems.append((result, "error"))
            else:
                warnings = _warnings(result)
                store.write_document(self.db, result, ingest_key=task["ingest_key"], now=now,
                                     status="warning" if warnings else "ok")
                report.problems += [(w, "warning") for w in warnings]
                report.ingested.append(task["display"])
            if progress:
                progress(task["display"], len(tasks))
        scanned = [self.display_path(r) for r in roots if r.is_dir()]
        report.missing = [
            path for path, entry in known.items()
            if entry["status"] != "missing" and any(path.startswith(s.rstrip("/") + "/") for s in scanned)
            and not (self.root / path).exists()
        ]
        store.mark_missing(self.db, report.missing)
        store.record_problems(self.db, run_id, report.problems, now)
        if owns_run:
            store.finish_run(self.db, run_id, utc_now())
        report.seconds = time.perf_counter() - started
        return report

    def _start_run(self, command: str) -> str:
        """Every command that writes has a run id, so problems and outputs can be traced to it."""
        run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        store.start_run(self.db, run_id, command, self.config.as_dict(), utc_now())
        return run_id

    @staticmethod
    def _map(function, tasks: list[dict], workers: int) -> Iterator:
        if workers <= 1 or len(tasks) <= 1:
            return map(function, tasks)
        pool = ProcessPoolExecutor(max_workers=workers)

        def results():
            with pool:
                yield from pool.map(function, tasks, chunksize=1)

        return results()

    # --- tokens and corpus statistics --------------------------------------------------------

    def tokenizer_settings(self) -> TokenizerSettings:
        section = self.config.tokenize
        return TokenizerSettings(
            engine=section.engine,
            dictionaries=tuple(str(self.root / p) for p in section.dictionaries),
            stopwords=tuple(str(self.root / p) for p in section.stopwords),
            keep_stopwords=section.keep_stopwords,
        )

    def tokenize(self, *, workers: int | None = None, progress: Progress | None = None) -> TokenizeReport:
        """Tokenize every unit not yet stored under the current tokenizer configuration."""
        started = time.perf_counter()
        settings = self.tokenizer_settings()
        report = TokenizeReport(tokenizer_hash(settings))
        pending = store.units_without_tokens(self.db, report.tokenizer_hash)
        # whole documents, batched to ~50,000 characters per task: one small document per task
        # spends more on inter-process traffic than on segmenting (bench/tokenize_speed.py)
        tasks: list[dict] = []
        size = 0
        for index, unit in enumerate(pending):
            new_document = index == 0 or unit["doc_id"] != pending[index - 1]["doc_id"]
            if not tasks or (new_document and size >= TOKENIZE_TASK_CHARS):
                tasks.append({"settings": settings, "units": []})
                size = 0
            tasks[-1]["units"].append(unit)
            size += len(unit["text"])
        workers = workers or self.config.tokenize.workers
        for task, rows in zip(tasks, self._map(_tokenize_units, tasks, workers)):
            store.write_tokens(self.db, report.tokenizer_hash, rows)
            report.tokenized += len(rows)
            report.characters += sum(len(u["text"]) for u in task["units"])
            if progress:
                progress(str(task["units"][0]["doc_id"]), len(tasks))
        if not tasks:  # nothing new: still drop tokens of an older configuration
            store.write_tokens(self.db, report.tokenizer_hash, [])
        report.cached = self.db.execute("SELECT count(*) FROM unit_tokens").fetchone()[0] - report.tokenized
        report.seconds = time.perf_counter() - started
        return report

    def unit_terms(self, *, kind: str | None = None) -> list[stats.UnitTerms]:
        """Every unit as terms (stop words and punctuation dropped unless configured) with its groups."""
        self.tokenize()
        keep = self.config.tokenize.keep_stopwords
        units = []
        for row in store.tokenized_units(self.db, tokenizer_hash(self.tokenizer_settings())):
            if kind and row["kind"] != kind:
                continue
            kept = [t for t in row["tokens"] if not t[4] and (keep or not t[3])]
            groups = {
                "doc": str(row["doc_id"]), "kind": row["kind"], "year": (row["date"] or "")[:4],
                **{k: row[k] or "" for k in ("level", "issuer", "province", "city", "county")},
                **{k: str(v) for k, v in row["attributes"].items()},
            }
            units.append(stats.UnitTerms(
                doc_id=row["doc_id"], unit_id=row["unit_id"], terms=tuple(t[2] for t in kept), groups=groups,
                text=row["text"], spans=tuple((t[0] - row["start"], t[1] - row["start"]) for t in kept),
            ))
        return units

    def terms(self, *, by: str | None = None, min_freq: int = 1, kind: str | None = None) -> list[dict]:
        return stats.term_frequencies(self.unit_terms(kind=kind), by=by, min_freq=min_freq)

    def tfidf(self, *, per: str = "doc", top: int = 20, kind: str | None = None) -> list[dict]:
        return stats.tfidf_top(self.unit_terms(kind=kind), per=per, top=top)

    def keyness(self, field: str, target: str, reference: str, *, min_freq: int = 5,
                kind: str | None = None) -> list[dict]:
        return stats.keyness(self.unit_terms(kind=kind), field=field, target=target, reference=reference,
                             min_freq=min_freq)

    def kwic(self, term: str, *, window: int = 15, where: dict[str, str] | None = None,
             kind: str | None = None) -> list[dict]:
        return stats.kwic(self.unit_terms(kind=kind), term, window=window, where=where)

    def cooccurrence(self, *, top: int = 50, measure: str = "jaccard", min_count: int = 2, threshold: float = 0.0,
                     kind: str | None = None) -> tuple[list[dict], list[dict]]:
        return stats.cooccurrence(self.unit_terms(kind=kind), top=top, measure=measure, min_count=min_count,
                                  threshold=threshold)

    # --- reading and exporting -------------------------------------------------------------

    def rows(self, table: str, *, with_text: bool = False) -> list[dict]:
        if table not in store.EXPORT_COLUMNS:
            raise ProjectError(f"unknown table {table!r}; choose one of {', '.join(store.EXPORT_COLUMNS)}",
                               code="unknown-table")
        return list(store.rows(self.db, table, with_text=with_text))

    def document(self, reference: str) -> dict:
        found = store.find_document(self.db, reference)
        if found is None:
            raise ProjectError(f"no single document matches {reference!r}; see `policoder docs`",
                               code="unknown-document")
        found["clauses"] = list(store.rows(self.db, "clauses", doc_id=found["id"]))
        found["turns"] = list(store.rows(self.db, "turns", doc_id=found["id"]))
        return found

    def export(self, table: str, fmt: str, out: str | Path, *, with_text: bool = False) -> Path:
        columns = store.EXPORT_COLUMNS.get(table, ())
        return export.write_table(self.rows(table, with_text=with_text), fmt, Path(out), sheet=table,
                                  columns=columns)

    # --- the batch run ---------------------------------------------------------------------

    def run(self, *, workers: int | None = None, force: bool = False,
            progress: Progress | None = None) -> RunReport:
        """Ingest and tokenize the configured corpus; write this run's tables and manifest to outputs/<run-id>/.

        The folder appears complete or not at all: it is written under a temporary name and
        renamed; ``outputs/latest`` then points at it.
        """
        started_at = utc_now()
        run_id = self._start_run("run")
        timings: dict[str, float] = {}
        ingest_report = self.ingest(workers=workers, force=force, run_id=run_id, progress=progress)
        timings["ingest"] = round(ingest_report.seconds, 3)

        tokenize_report = self.tokenize(workers=workers)
        timings["tokenize"] = round(tokenize_report.seconds, 3)

        outputs = self.root / self.config.project.outputs
        outputs.mkdir(parents=True, exist_ok=True)
        partial = outputs / f".incomplete-{run_id}"
        partial.mkdir()
        began = time.perf_counter()
        tables = {name: self.rows(name) for name in RUN_TABLES}
        tables["problems"] = [r for r in tables["problems"] if r["run_id"] == run_id]
        # documents that left the corpus stay listed (status 'missing'); their units are not data
        missing = {d["id"] for d in tables["documents"] if d["status"] == "missing"}
        for name in ("clauses", "turns"):
            tables[name] = [r for r in tables[name] if r["doc_id"] not in missing]
        tables["terms"] = self.terms(min_freq=2)
        columns = {name: store.EXPORT_COLUMNS.get(name, ()) for name in tables}
        for name, table_rows in tables.items():
            export.write_table(table_rows, "csv", partial / f"{name}.csv", sheet=name, columns=columns[name])
        export.write_workbook(tables, partial / "policoder.xlsx", columns=columns)
        timings["export"] = round(time.perf_counter() - began, 3)
        store.finish_run(self.db, run_id, utc_now())
        manifest = {
            "run_id": run_id,
            "started_at": started_at,
            "finished_at": utc_now(),
            "project": str(self.root),
            "database": str(self.db_path),
            "config": self.config.as_dict(),
            "seed": self.config.project.seed,
            "tokenizer_hash": tokenize_report.tokenizer_hash,
            "inputs": ingest_report.inputs,
            "counts": {
                "inputs": len(ingest_report.inputs),
                "ingested": len(ingest_report.ingested),
                "unchanged": len(ingest_report.unchanged),
                "skipped": len(ingest_report.skipped),
                **{name: len(rows) for name, rows in tables.items()},
            },
            "timings_seconds": timings,
            "problems": [{"path": p.path, "code": p.code, "severity": s, "message": p.message}
                         for p, s in ingest_report.problems],
            "python": platform.python_version(),
            "libraries": _library_versions(),
            "ingest_version": INGEST_VERSION,
        }
        (partial / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        folder = outputs / run_id
        partial.rename(folder)
        _point_latest(outputs, run_id)
        return RunReport(run_id, folder, ingest_report, manifest)


def _warnings(document: Document) -> list[Problem]:
    pages = document.source.pages_without_text
    if not pages:
        return []
    listed = ", ".join(map(str, pages))
    return [Problem(document.path, "pdf-partial-text-layer",
                    f"page(s) {listed} have no text layer (scanned?); run OCR to include them")]


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in MANIFEST_LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _point_latest(outputs: Path, run_id: str) -> None:
    """outputs/latest → the last complete run (symlink; a text file where symlinks are refused)."""
    latest, temporary = outputs / "latest", outputs / f".latest-{run_id}"
    try:
        temporary.symlink_to(run_id, target_is_directory=True)
    except OSError:
        temporary.write_text(run_id + "\n", encoding="utf-8")
    if latest.is_dir() and not latest.is_symlink():
        shutil.rmtree(latest)
    os.replace(temporary, latest)
