"""The batch run (``policoder run``): every stage in order, each redoing only what changed.

ingest → segment → tokenize work per document: they map over an executor (local processes or a
Dask cluster) and touch only new or changed documents.  The corpus-wide stages (instruments,
topics, autocode, reliability, triangulation) each hash what they read into an input key; a stage
whose key is the one it last completed with is up to date and is not run again; one that runs
reuses what still stands (the instruments stage the labels of unchanged documents, the topic stage
its model, every stage the charts whose numbers are unchanged).  Their files are
kept under ``outputs/.stages/<stage>/`` and linked into every run folder; ``report`` writes the
datasets, the workbook, a database copy, the HTML report and the manifest.

A run folder appears complete or not at all: it is built as ``outputs/.incomplete-<run id>/`` and
renamed when done, and ``outputs/latest`` then points at it.  A killed run leaves only hidden
leftovers, removed by the next run; the database holds no half-written stage (every write is a
transaction, and a stage's key is recorded only after its work).
"""
from __future__ import annotations

import functools
import gc
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

import orjson
from filelock import FileLock, Timeout

from . import db as store
from . import clause_dataset, export, instrument_report, instruments, run_report, stats, survey
from .charts import DIGESTS, Charts, Drawer, Drawing, link_or_copy
from .errors import PolicoderError, ProjectError
from .executors import make_executor
from .ingest import INGEST_VERSION, SEGMENT_VERSION
from .project_topics import MODEL_FILE, PREVALENCE_FILE
from .records import utc_now
from .tokens import tokenizer_hash

STAGES = ("ingest", "segment", "tokenize", "instruments", "topics", "autocode", "reliability", "triangulation",
          "report")
PER_DOCUMENT = ("ingest", "segment", "tokenize")
KEY_FILE = ".key"
# the instruments stage's labels per document (and their lines of instruments_units.csv), for the next run
INSTRUMENT_LABELS = ".instrument_labels.json"
MANIFEST_LIBRARIES = ("policoder", "jieba", "rjieba", "spacy", "scikit-learn", "gensim", "pdfplumber", "pypdfium2",
                      "sqlite-utils", "python-docx", "beautifulsoup4", "charset-normalizer", "cnloc", "cn2an",
                      "openpyxl", "numpy", "scipy", "pandas", "statsmodels", "jinja2", "matplotlib", "pyarrow",
                      "dask", "distributed")
# the datasets of a run, in the order of the workbook's sheets
DATASETS = ("documents", "clauses", "turns", "codings", "agreement", "survey_summary", "triangulation", "problems",
            "terms")
PROBLEM_COLUMNS = ("path", "code", "severity", "message")
WORKBOOK = "policoder.xlsx"

StageProgress = Callable[[str, str, int], None]  # (stage, item just done, items in the stage) → None


@dataclass
class RunOptions:
    """Which stages run and where their per-document work goes."""

    only: tuple[str, ...] = ()  # run just these stages
    start: str | None = None  # run this stage and every later one
    force: bool = False  # run the chosen stages even when up to date
    workers: int | None = None  # local worker processes (default: [ingest] workers)
    executor: str | None = None  # local | dask (default: [run] executor)
    scheduler: str | None = None  # a Dask scheduler address, for executor = dask (default: [run] scheduler)

    def selected(self) -> tuple[str, ...]:
        for stage in (*self.only, *([self.start] if self.start else [])):
            if stage not in STAGES:
                raise ProjectError(f"unknown stage {stage!r}; the stages are {', '.join(STAGES)}",
                                   code="unknown-stage")
        if self.only and self.start:
            raise ProjectError("give --only or --from, not both", code="unknown-stage")
        if self.only:
            return tuple(stage for stage in STAGES if stage in self.only)
        return STAGES[STAGES.index(self.start):] if self.start else STAGES


@dataclass
class StageResult:
    stage: str
    status: str  # ran | up to date | not selected | not configured | failed
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)  # what the stage did, or what it did when it last ran
    key: str | None = None


@dataclass
class RunReport:
    run_id: str
    folder: Path | None  # outputs/<run id>, or None when the report stage was not selected
    stages: list[StageResult]
    ingest: object  # IngestReport of this run, or None
    manifest: dict

    @property
    def exit_status(self) -> int:
        """0 when every input was ingested and every stage finished, else 1."""
        failed = any("error" in result.counts or "not_built" in result.counts for result in self.stages)
        return 1 if failed or (self.ingest is not None and self.ingest.exit_status) else 0


@dataclass
class _Run:
    """What the stages of one run share."""

    project: object
    run_id: str
    options: RunOptions
    executor: object
    partial: Path  # the run folder being built
    cache: Path  # outputs/.stages
    progress: StageProgress | None
    drawer: Drawer  # the one process that draws every stage's charts
    reports: dict = field(default_factory=dict)  # per-document stages' reports
    keys: dict = field(default_factory=dict)
    digests: dict = field(default_factory=dict)
    instrument_rows: list[dict] | None = None  # as the instruments stage made them, when it ran
    instrument_labels: dict | None = None  # what they were made from (``Project.instrument_labels``)
    terms: dict | None = None  # every document's text fingerprints (see ``document_terms``)
    clauses: list[dict] | None = None  # the policy clauses (see ``instrument_units``)
    drawing: dict = field(default_factory=dict)  # stage → its Charts, drawn beside the later stages
    unfinished: list = field(default_factory=list)  # stages waiting for their charts (see ``_keyed``)
    problems: list[dict] | None = None  # made once (see ``_current_problems``)

    def digest(self, *parts: str, kinds: tuple[str, ...] = (), coded: bool = False) -> list[str]:
        """Content digests of parts of the project (of the documents of ``kinds`` only, or of the
        coded ones: see ``store.content_digest``).  The corpus-wide stages write none of the parts
        but machine codings (auto-coding), so the others are read once a run (after the per-document
        stages), machine codings every time, and the coded documents' parts once for each state of
        the machine codings (which say, with the human codings, which documents are coded)."""
        machine = store.content_digest(self.project.db, "machine_codings") if coded or "machine_codings" in parts \
            else None
        found = []
        for part in parts:
            key = (part, kinds, coded, machine if coded else None)
            if part == "machine_codings":
                self.digests[key] = machine
            elif key not in self.digests:
                self.digests[key] = store.content_digest(self.project.db, part, kinds, coded=coded)
            found.append(self.digests[key])
        return found

    def document_terms(self) -> dict[int, dict]:
        """Every document's ``Project.document_terms``, read once a run for the topics (and bringing
        the corpus's term counts, the terms dataset, up to date): no corpus-wide stage writes tokens."""
        if self.terms is None:
            self.terms = self.project.document_terms(force=self.options.force)
        return self.terms

    def instrument_units(self) -> list[dict]:
        """The policy clauses as ``Project.instrument_units`` gives them, read once a run (for the
        instruments stage, the clauses dataset and the stale labels): no corpus-wide stage writes them."""
        if self.clauses is None:
            self.clauses = self.project.instrument_units()
        return self.clauses

    def charts(self, stage: str, folder: Path) -> Charts:
        """The charts of a stage's fresh ``folder``, reusing those of its kept folder (none with
        ``--force``); the stage's folder takes its place once they are drawn (``finish``)."""
        kept = None if self.options.force else self.cache / stage
        self.drawing[stage] = Charts(folder, kept, self.drawer)
        return self.drawing[stage]

    def drawn(self, stage: str) -> str | None:
        """Wait for the charts of ``stage`` (if it has any being drawn) and record their digests;
        a chart that could not be drawn is said in one line (returned), the stage's tables stand."""
        if stage not in self.drawing:
            return None
        try:
            self.drawing.pop(stage).save()
        except Exception as error:  # noqa: BLE001 - whatever the drawing library raised, in the drawing process
            return " ".join(f"{type(error).__name__}: {error}".split())
        return None

    def finish(self) -> None:
        """The stages whose charts were still being drawn: each folder complete, then in place."""
        while self.unfinished:
            self.unfinished.pop(0)()

    def advance(self, stage: str) -> Callable[[str, int], None] | None:
        if self.progress is None:
            return None
        return lambda item, total: self.progress(stage, item, total)


def run(project, options: RunOptions | None = None, *, progress: StageProgress | None = None) -> RunReport:
    options = options or RunOptions()
    selected = options.selected()
    outputs = project.root / project.config.project.outputs
    outputs.mkdir(parents=True, exist_ok=True)
    lock = FileLock(outputs / ".run.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ProjectError(f"{outputs}: another `policoder run` is working on this project; wait for it to finish",
                           code="run-in-progress") from None
    collecting = gc.isenabled()
    try:
        return _run_locked(project, options, selected, outputs, progress)
    finally:
        # after the run's objects were freed with its frame: else the collector's first pass would walk them all
        if collecting:
            gc.enable()
        lock.release()


def _run_locked(project, options: RunOptions, selected: tuple[str, ...], outputs: Path,
                progress: StageProgress | None) -> RunReport:
    """``run`` once it holds the project's run lock."""
    _remove_leftovers(outputs)
    config = project.config
    executor = make_executor(options.executor or config.run.executor, scheduler=options.scheduler
                             or config.run.scheduler, workers=options.workers
                             or max(config.ingest.workers, config.tokenize.workers))
    started_at, began = utc_now(), time.perf_counter()
    run_id = project._start_run("run")
    partial = outputs / f".incomplete-{run_id}"
    partial.mkdir()
    context = _Run(project, run_id, options, executor, partial, outputs / ".stages", progress, Drawer())
    results = []
    try:
        # the executor is closed (a Dask client's threads stopped) before the drawing process forks
        try:
            results += [_stage(context, stage) for stage in PER_DOCUMENT]
            executed = executor.describe()
        finally:
            executor.close()
        _pause_collector()
        results += [_stage(context, stage) for stage in STAGES[len(PER_DOCUMENT):-1]]
        if "report" in selected:
            stage_began = time.perf_counter()
            report_result = _report(context, results)
            report_result.seconds = round(time.perf_counter() - stage_began, 3)
            results.append(report_result)
        else:
            context.finish()
    finally:
        context.drawer.close()
    folder = None
    if "report" in selected:
        manifest = _manifest(context, results, started_at, executed)
        manifest["seconds"] = round(time.perf_counter() - began, 3)
        (partial / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2),
                                               encoding="utf-8")
        run_report.write_run_report(partial)
        folder = outputs / run_id
        partial.rename(folder)
        _point_latest(outputs, run_id)
        if report_result.status == "ran":  # this run's datasets stand until the report's inputs change
            store.record_stage(project.db, "report", report_result.key, run_id, utc_now(), report_result.counts)
    else:
        results.append(StageResult("report", "not selected"))
        shutil.rmtree(partial)
        manifest = _manifest(context, results, started_at, executed)
    store.finish_run(project.db, run_id, utc_now())
    return RunReport(run_id, folder, results, context.reports.get("ingest"), manifest)


def _stage(context: _Run, stage: str) -> StageResult:
    """One stage of the run, timed; or what it last did, when not selected."""
    if stage not in context.options.selected():
        return _not_selected(context, stage)
    began = time.perf_counter()
    result = STAGE_RUNNERS[stage](context)
    result.seconds = round(time.perf_counter() - began, 3)
    return result


def _pause_collector() -> None:
    """Pause Python's cyclic garbage collector until the run ends (reference counting still frees
    all that is in no cycle).  The corpus-wide stages and the report build hundreds of thousands of
    small objects (units, labels, rows, terms) that live to the run's end, and the collector would
    walk them all again each time they grow by a quarter: a sixth of a rerun after one document
    changed.  Not during the per-document stages, whose worker processes fork from this one."""
    gc.disable()


# --- per-document stages ---------------------------------------------------------------------

def _ingest(context: _Run) -> StageResult:
    report = context.project.ingest(force=context.options.force, run_id=context.run_id, executor=context.executor,
                                    progress=context.advance("ingest"))
    context.reports["ingest"] = report
    counts = {"inputs": len(report.inputs), "ingested": len(report.ingested), "unchanged": len(report.unchanged),
              "moved": len(report.moved), "missing": len(report.missing), "skipped": len(report.skipped),
              "warnings": len(report.problems) - len(report.skipped)}
    return StageResult("ingest", "ran" if report.ingested or report.moved or report.missing else "up to date",
                       counts=counts)


def _segment(context: _Run) -> StageResult:
    report = context.project.segment(force=context.options.force, executor=context.executor,
                                     progress=context.advance("segment"))
    return StageResult("segment", "ran" if report.segmented else "up to date",
                       counts={"segmented": report.segmented, "unchanged": report.unchanged, "units": report.units})


def _tokenize(context: _Run) -> StageResult:
    report = context.project.tokenize(force=context.options.force, executor=context.executor,
                                      progress=context.advance("tokenize"))
    return StageResult("tokenize", "ran" if report.tokenized else "up to date",
                       counts={"tokenized": report.tokenized, "cached": report.cached,
                               "characters": report.characters}, key=report.tokenizer_hash)


# --- corpus-wide stages: an input key each ---------------------------------------------------

def _stage_key(context: _Run, stage: str) -> str:
    """Everything ``stage`` reads, hashed: settings, files and the database rows it uses."""
    if stage not in context.keys:
        project, config = context.project, context.project.config
        tokenizer = tokenizer_hash(project.tokenizer_settings())
        corpus = ("documents", "clauses", "turns")
        if stage == "instruments":
            scheme = project.scheme()
            model = [project.root / config.instruments.model] if config.instruments.model else []
            parts = [scheme.digest, config.instruments.model, _files_digest(project.root, model),
                     config.instruments.reconciled_coder,  # whose labels stand over the coders'
                     tokenizer, context.digest(*corpus, "instrument_codings")]
        elif stage == "topics":
            parts = [asdict(config.topics), config.project.seed, tokenizer, config.tokenize.keep_stopwords,
                     context.digest(*corpus),
                     _files_digest(project.root, [project.root / "topic_labels"])]
        elif stage == "autocode":
            # the kinds of documents auto-coded: an edited policy text leaves transcripts' codings be
            parts = [project.codebook().digest, config.coding.auto_kinds, tokenizer,
                     context.digest(*corpus, kinds=tuple(sorted(config.coding.auto_kinds)))]
        elif stage == "reliability":
            # the coded documents only: an edit of a document nobody coded leaves agreement be
            parts = [project.codebook().digest, asdict(config.agreement), asdict(config.coding),
                     context.digest(*corpus, coded=True), context.digest("codings", "machine_codings", "assignments")]
        else:  # triangulation: the themes, surveys and indicator tables, the researchers' files, and the rest
            files = [*config.survey.files, *config.indicators.files, config.triangulation.themes]
            parts = [asdict(config.triangulation), asdict(config.survey), asdict(config.indicators),
                     _files_digest(project.root, [(project.root / f).parent for f in files]
                                   + [project.root / config.triangulation.judgements]),
                     *(_stage_key(context, s) for s in ("instruments", "topics") if _configured(context, s)),
                     context.digest("codings", "machine_codings", "memos")]
        context.keys[stage] = hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()
    return context.keys[stage]


def _configured(context: _Run, stage: str) -> str | None:
    """Why a corpus-wide stage has nothing to do in this project, or None when it has."""
    config = context.project.config
    if stage in ("autocode", "reliability") and not config.coding.codebook:
        return "no codebook ([coding] codebook)"
    if stage == "triangulation" and not config.triangulation.themes:
        return "no themes file ([triangulation] themes)"
    return None


def _keyed(stage: str, work: Callable[[_Run, Path], dict]) -> Callable[[_Run], StageResult]:
    """A corpus-wide stage: skipped while its key is the one it last completed with and its files
    are still there; otherwise ``work`` writes its files into a fresh folder, which then replaces
    the stage's folder under outputs/.stages, and the new key is recorded.  A stage with charts
    still being drawn (``_Run.charts``) is completed so once they are, by ``_Run.finish``: the
    later stages and the report's datasets go on meanwhile (none of them reads its folder)."""

    def runner(context: _Run) -> StageResult:
        reason = _configured(context, stage)
        if reason:
            return StageResult(stage, "not configured", counts={"reason": reason})
        try:
            return run_stage(context)
        except PolicoderError as error:  # a malformed codebook or scheme: said once, the other stages go on
            context.drawn(stage)
            shutil.rmtree(context.cache / f".tmp-{stage}-{context.run_id}", ignore_errors=True)
            return StageResult(stage, "failed", counts={"error": str(error)})

    def run_stage(context: _Run) -> StageResult:
        key = _stage_key(context, stage)
        state = store.stage_state(context.project.db, stage)
        kept = context.cache / stage
        if (not context.options.force and state and state["key"] == key
                and (kept / KEY_FILE).is_file() and (kept / KEY_FILE).read_text() == key):
            return StageResult(stage, "up to date", counts=state["summary"], key=key)
        context.drawer.warm()  # a stage that runs has charts to draw, and the report then its files
        fresh = context.cache / f".tmp-{stage}-{context.run_id}"
        fresh.mkdir(parents=True)
        summary = export.json_ready(work(context, fresh))
        # read again: a stage may write one of its own inputs (the topic labels template of a new model)
        del context.keys[stage]
        key = _stage_key(context, stage)

        # the stage ran and found nothing to do (a topic model of fewer than two documents)
        status = "failed" if "error" in summary else "nothing to do" if "skipped" in summary else "ran"
        result = StageResult(stage, status, counts=summary, key=key)

        def finish() -> None:
            undrawn = context.drawn(stage)
            if undrawn:  # the tables stand; without a key the stage runs again next time
                summary["not_built"] = {"charts": undrawn}
            else:
                (fresh / KEY_FILE).write_text(key)
            if kept.exists():
                old = context.cache / f".old-{stage}-{context.run_id}"
                kept.rename(old)
                fresh.rename(kept)
                shutil.rmtree(old)
            else:
                fresh.rename(kept)
            if not {"error", "not_built"} & summary.keys():  # a stage that failed on bad input runs again next time
                store.record_stage(context.project.db, stage, key, context.run_id, utc_now(), summary)

        if stage in context.drawing:
            context.unfinished.append(finish)
        else:
            finish()
        return result

    return runner


def _instruments(context: _Run, folder: Path) -> dict:
    project = context.project
    units = context.instrument_units()
    classified = project.classify_instruments(force=context.options.force, units=units)
    labels = project.instrument_labels(classify=False, units=units, earlier=_kept_labels(context))
    # the report stage's clauses dataset reads the same rows: nothing between writes them
    context.instrument_rows, context.instrument_labels = instrument_report.rows_of(units, labels), labels
    notes = (project.instruments_report(folder, rows=context.instrument_rows, labels=labels,
                                        drawing=context.charts("instruments", folder))["notes"]
             if classified["units"] else [])
    (folder / INSTRUMENT_LABELS).write_bytes(orjson.dumps(labels))  # after the report's list of its files
    return {**classified, "notes": notes}


def _kept_labels(context: _Run) -> dict | None:
    """The instrument labels per document the instruments stage last kept (none with ``--force``)."""
    kept = context.cache / "instruments" / INSTRUMENT_LABELS
    return orjson.loads(kept.read_bytes()) if kept.is_file() and not context.options.force else None


def _instrument_rows(context: _Run) -> tuple[list[dict], dict[str, dict]]:
    """The clauses' instruments and the labels they were made from: as the instruments stage made
    them in this run, or else (the stage up to date or not selected) from its kept labels where
    they still stand."""
    if context.instrument_rows is None:
        units = context.instrument_units()
        labels = context.project.instrument_labels(units=units, earlier=_kept_labels(context))
        context.instrument_rows, context.instrument_labels = instrument_report.rows_of(units, labels), labels
    return context.instrument_rows, context.instrument_labels


def _topics(context: _Run, folder: Path) -> dict:
    kept = context.cache / "topics"
    return context.project._run_topics(folder, workers=context.options.workers or 1,
                                       kept=None if context.options.force or not kept.is_dir() else kept,
                                       documents={doc_id: entry for doc_id, entry in context.document_terms().items()
                                                  if entry["groups"]["kind"] == "policy"},
                                       drawing=context.charts("topics", folder))


def _autocode(context: _Run, folder: Path) -> dict:
    return context.project.autocode()


def _reliability(context: _Run, folder: Path) -> dict:
    return context.project._run_agreement(folder) or {"skipped": "agreement needs two human coders or more"}


def _triangulation(context: _Run, folder: Path) -> dict:
    return context.project._run_triangulation(folder)


STAGE_RUNNERS = {
    "ingest": _ingest, "segment": _segment, "tokenize": _tokenize,
    "instruments": _keyed("instruments", _instruments), "topics": _keyed("topics", _topics),
    "autocode": _keyed("autocode", _autocode), "reliability": _keyed("reliability", _reliability),
    "triangulation": _keyed("triangulation", _triangulation),
}


def _not_selected(context: _Run, stage: str) -> StageResult:
    """A stage left out of this run: what it last did, if anything."""
    state = store.stage_state(context.project.db, stage) if stage not in PER_DOCUMENT else None
    return StageResult(stage, "not selected", counts=state["summary"] if state else {})


# --- the report stage ------------------------------------------------------------------------

def _report(context: _Run, results: list[StageResult]) -> StageResult:
    """The run folder's contents: each stage's files (linked), the datasets, a copy of the database.
    When nothing the datasets are made from has changed since a complete run, that run's dataset
    files are linked instead of written again."""
    project, folder = context.project, context.partial
    key = _report_key(context, results)
    state = store.stage_state(project.db, "report")
    previous = folder.parent / state["run_id"] if state else None
    if (not context.options.force and state and state["key"] == key
            and all((previous / f"{name}.csv").is_file() for name in DATASETS)
            and (previous / WORKBOOK).is_file()):
        for name in [*(f"{name}.csv" for name in DATASETS), WORKBOOK, "parquet"]:
            if (previous / name).is_dir():
                shutil.copytree(previous / name, folder / name, copy_function=link_or_copy)
            elif (previous / name).is_file():
                link_or_copy(str(previous / name), str(folder / name))
        result, workbook = StageResult("report", "up to date", counts=state["summary"], key=key), None
    else:
        counts, workbook = _write_datasets(context, results)
        result = StageResult("report", "ran", counts=counts, key=key)
    context.finish()  # the charts were drawn beside the datasets
    for stage in results:
        kept = context.cache / stage.stage
        # a stage that failed in this run has no files of this run: its last ones are not copied as if they were
        if stage.status != "failed" and kept.is_dir() and any(p.name != KEY_FILE for p in kept.iterdir()):
            shutil.copytree(kept, folder / stage.stage, copy_function=link_or_copy,
                            ignore=shutil.ignore_patterns(KEY_FILE, MODEL_FILE, DIGESTS, INSTRUMENT_LABELS,
                                                           PREVALENCE_FILE))
    _copy_database(project.db.conn, folder / project.db_path.name)
    if workbook is not None:  # written in the drawing process meanwhile
        workbook.result()
    return result


def _report_key(context: _Run, results: list[StageResult]) -> str:
    """Everything the datasets are made from: the settings, the corpus and the human work, and what
    each corpus-wide stage last completed with (or why it failed)."""
    project, config = context.project, context.project.config
    stages = []
    for result in results:
        if result.stage in PER_DOCUMENT:
            continue
        state = store.stage_state(project.db, result.stage)
        stages.append([result.stage, result.status if result.status in ("failed", "not configured") else "",
                       result.counts.get("error"), result.key or (state or {}).get("key")])
    parts = [DATASETS, importlib_metadata.version("policoder"), INGEST_VERSION, SEGMENT_VERSION, config.as_dict(),
             tokenizer_hash(project.tokenizer_settings()), stages,
             context.digest("documents", "clauses", "turns", "codings", "instrument_codings", "machine_codings",
                            "memos", "assignments"),
             _files_digest(project.root, [project.root / f for f in config.survey.files]),
             _current_problems(context)]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()


def _write_datasets(context: _Run, results: list[StageResult]) -> tuple[dict, Drawing]:
    """The run's datasets as CSV, one workbook and Parquet: their row counts, and the workbook being
    written in the drawing process (``result()`` waits for it)."""
    folder = context.partial
    missed: dict[str, str] = {}
    tables = _datasets(context, results, missed)
    clauses = _clauses(context, results, missed)
    columns = {name: _dataset_columns(name, tables[name]) for name in tables}
    tables = {name: [export.flat(row) for row in rows] for name, rows in tables.items()}  # once for CSV and Arrow
    arrow = {name: clauses.table if name == "clauses" else export.arrow_table(tables[name], columns=columns[name])
             for name in DATASETS}
    counts = {name: table.num_rows for name, table in arrow.items()} | ({"not_built": missed} if missed else {})
    # the workbook in the drawing process, on the other core, beside the CSV and Parquet files
    workbook = context.drawer.submit(export.write_workbook, arrow, folder / WORKBOOK)
    for name, table in arrow.items():
        if name == "clauses":
            export.write_csv_lines(clauses.header, clauses.lines(), folder / f"{name}.csv")
        else:
            export.write_table(tables[name], "csv", folder / f"{name}.csv", sheet=name, columns=columns[name])
        export.write_parquet(table, folder / "parquet" / f"{name}.parquet")
    clauses.keep()  # for the next run: its pieces are made of what their keys say, whenever this run ends
    return counts, workbook


def _datasets(context: _Run, results: list[StageResult], missed: dict[str, str]) -> dict[str, list[dict]]:
    """Every dataset but the clauses (``_clauses``); one that a malformed codebook or scheme keeps
    from being built is empty, and ``missed`` says why."""
    project = context.project

    def built(name: str, make: Callable[[], list[dict]]) -> list[dict]:
        try:
            return make()
        except PolicoderError as error:
            missed[name] = str(error)
            return []

    tables = {name: built(name, lambda name=name: project.rows(name)) for name in ("documents", "turns", "codings")}
    # documents that left the corpus stay listed (status 'missing'); their units are not data
    missing = {d["id"] for d in tables["documents"] if d["status"] == "missing"}
    tables["turns"] = [r for r in tables["turns"] if r["doc_id"] not in missing]
    tables["codings"] = _with_attributes(tables["codings"], tables["documents"], tables["turns"])
    tables["agreement"] = _stage_csv(context, "reliability", "agreement.csv")
    tables["survey_summary"] = _survey_summary(project, missed) if project.config.survey.files else []
    tables["triangulation"] = _stage_csv(context, "triangulation", "joint_display.csv")
    tables["problems"] = _current_problems(context) + _stage_problems(results)
    context.document_terms()  # the corpus's term counts brought up to date, once a run
    tables["terms"] = stats.total_term_frequencies(store.corpus_terms(project.db)[1], min_freq=2)
    return {name: tables[name] for name in DATASETS if name != "clauses"}


def _clauses(context: _Run, results: list[StageResult], missed: dict[str, str]) -> clause_dataset.ClauseDataset:
    """The clauses dataset (the present documents' clauses), each document's rows kept from the last
    run while what they are made of is unchanged; unlabelled when the instruments cannot be read."""
    try:
        labelled, labels = _instrument_rows(context)
    except PolicoderError as error:  # a malformed scheme or a stale model: the clauses go out unlabelled
        missed["clause instruments"] = str(error)
        labelled, labels = [], {}
    model_id = next((r.counts for r in results if r.stage == "topics"), {}).get("model_id")
    shares = store.topic_shares(context.project.db, model_id) if model_id else []
    return clause_dataset.build(context.project, context.instrument_units(), labelled, labels, shares, model_id,
                                context.cache / "report" / clause_dataset.KEPT, reuse=not context.options.force)


def _with_attributes(codings: list[dict], documents: list[dict], turns: list[dict]) -> list[dict]:
    """Each coded segment with its speaker and role (for turns) and its document's attributes."""
    attributes = {d["id"]: json.loads(d["attributes"] or "{}") for d in documents}
    speakers = {t["turn_id"]: t for t in turns}
    names = sorted({name for values in attributes.values() for name in values})
    return [{**row, "speaker": speakers.get(row["unit_id"], {}).get("speaker"),
             "role": speakers.get(row["unit_id"], {}).get("role"),
             **{f"doc_{name}": attributes.get(row["doc_id"], {}).get(name) for name in names}} for row in codings]


def _stage_csv(context: _Run, stage: str, name: str) -> list[dict]:
    return run_report.read_csv(context.cache / stage / name) or []


def _survey_summary(project, missed: dict[str, str]) -> list[dict]:
    """Every item and scale of every configured survey, described (counts and %, or n, mean, sd …)."""
    try:
        return [{"survey": loaded.id, **row} for loaded in project.surveys() for row in survey.describe_all(loaded)]
    except PolicoderError as error:
        missed["survey_summary"] = str(error)
        return []


def _current_problems(context: _Run) -> list[dict]:
    """This run's refusals and warnings, and those still standing: warnings of documents read before,
    files refused when last read (when this run read no files), and coders' labels made on an
    earlier text of their clause."""
    if context.problems is not None:
        return context.problems
    project = context.project
    ingest = context.reports.get("ingest")
    found = [{"path": p.path, "code": p.code, "severity": s, "message": p.message}
             for p, s in getattr(ingest, "problems", [])]
    standing = store.standing_warnings(project.db)
    if ingest is None:
        standing += [row for row in store.standing_refusals(project.db) if (project.root / row["path"]).is_file()]
    seen = {row["path"] for row in found}
    found += [{column: row[column] for column in PROBLEM_COLUMNS} for row in standing if row["path"] not in seen]
    try:
        found += stale_label_problems(project.stale_instrument_labels(units=context.instrument_units()))
    except PolicoderError:  # a malformed scheme is the instruments stage's problem, said there
        pass
    found += _codings_to_review(project)
    context.problems = sorted(found, key=lambda row: (row["path"], row["code"], row["message"]))
    return context.problems


def stale_label_problems(stale: list[dict]) -> list[dict]:
    """``Project.stale_instrument_labels`` as problems, one per document."""
    by_path: dict[str, list[str]] = {}
    for label in stale:
        by_path.setdefault(label["path"], []).append(f"{label['unit_id']} ({label['coder']})")
    return [{"path": path, "code": "label-stale", "severity": "warning",
             "message": f"{len(units)} human instrument label(s) made on an earlier text of the clause no "
                        f"longer apply: {', '.join(units)}; label them again (`instruments sheet`; a reconciled "
                        f"label: `instruments reconcile`)"}
            for path, units in by_path.items()]


def _stage_problems(results: list[StageResult]) -> list[dict]:
    """Stages that failed, or left things not built, as problems of the run: a run with a broken scheme
    has a problem, not 0."""
    found = []
    for result in results:
        if "error" in result.counts:
            found.append({"path": f"stage {result.stage}", "code": "stage-failed", "severity": "error",
                          "message": result.counts["error"]})
        for what, why in result.counts.get("not_built", {}).items():
            found.append({"path": f"stage {result.stage}", "code": "not-built", "severity": "error",
                          "message": f"{what}: {why}"})
    return found


def _codings_to_review(project) -> list[dict]:
    """Human codings whose text left their document, or whose code the codebook no longer has (or
    split): kept as they were, and listed until someone re-codes them."""
    try:
        codings = project.codings(machine=False)
    except PolicoderError:  # a malformed codebook is the coding stages' problem, said there
        return []
    by_path: dict[str, list[str]] = {}
    for coding in codings:
        if coding["review"]:
            by_path.setdefault(coding["document"] or "(a removed document)", []).append(
                f"#{coding['id']} {coding['code']} ({coding['coder']}): {coding['review']}")
    return [{"path": path, "code": "coding-review", "severity": "warning",
             "message": f"{len(items)} human coding(s) need review (the review column of `policoder code list`): "
                        + "; ".join(items)}
            for path, items in by_path.items()]


def _dataset_columns(name: str, rows: list[dict]) -> tuple[str, ...]:
    """The header of a dataset: the export's columns, then what this run added (topics, attributes)."""
    base = PROBLEM_COLUMNS if name == "problems" else store.export_columns(name)
    extra = [key for row in rows[:1] for key in row if key not in base]
    return tuple(base) + tuple(extra)


def _copy_database(connection: sqlite3.Connection, path: Path) -> None:
    """A consistent snapshot of the project database (SQLite's backup API), human work included."""
    target = sqlite3.connect(path)
    try:
        connection.backup(target)
    finally:
        target.close()


# --- manifest, leftovers, latest -------------------------------------------------------------

def _manifest(context: _Run, results: list[StageResult], started_at: str, executed: dict) -> dict:
    project = context.project
    config = project.config
    by_stage = {result.stage: result for result in results}
    ingest = context.reports.get("ingest")
    # without an ingest stage in this run: the documents as the database has them
    inputs = ingest.inputs if ingest else [
        {"path": d["path"], "sha256": d["content_hash"], "bytes": _size(project.root / d["path"])}
        for d in project.rows("documents") if d["status"] != "missing"]
    files = [*config.survey.files, *config.indicators.files, config.triangulation.themes, config.coding.codebook,
             config.instruments.model, config.instruments.scheme,
             *(project.display_path(sheet) for sheet in sorted(ingest.sheets if ingest else project.metadata_sheets()))]
    return {
        "run_id": context.run_id,
        "started_at": started_at,
        "finished_at": utc_now(),
        "project": str(project.root),
        "database": str(project.db_path),
        "options": {**asdict(context.options), "stages": list(context.options.selected())},
        "executor": executed,
        "config": config.as_dict(),
        "seed": config.project.seed,
        "seeds": {"project": config.project.seed, "topics": (by_stage.get("topics") or StageResult("")).counts.get(
            "seed")},
        "inputs": inputs,
        "other_inputs": [{"path": f, "sha256": _files_digest(project.root, [project.root / f])} for f in files
                         if f and (project.root / f).is_file()],
        "scheme": _read_from(project.scheme),
        "codebook": _read_from(project.codebook) if config.coding.codebook else None,
        "stages": [asdict(result) for result in results],
        "timings_seconds": {result.stage: result.seconds for result in results},
        "counts": {**(by_stage["report"].counts if "report" in by_stage else {}),
                   **({"inputs": len(ingest.inputs), "ingested": len(ingest.ingested),
                       "unchanged": len(ingest.unchanged), "skipped": len(ingest.skipped)} if ingest else {})},
        **{stage: by_stage[stage].counts for stage in STAGES[3:-1] if stage in by_stage},
        "agreement": by_stage["reliability"].counts if "reliability" in by_stage else None,
        "problems": _current_problems(context),
        "python": platform.python_version(),
        "libraries": dict(_library_versions()),
        "versions": {"schema": store.schema_version(project.db)[-1], "ingest": INGEST_VERSION,
                     "segment": SEGMENT_VERSION, "rules": instruments.RULES_SOURCE},
    }


def _size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None


def _read_from(load: Callable) -> dict:
    """The scheme or codebook a run read, shipped ones too: its id, version, file and the file's sha256."""
    try:
        found = load()
    except PolicoderError as error:
        return {"error": str(error)}
    source = Path(found.source)
    return {"id": found.id, "version": found.version, "path": str(source),
            "sha256": hashlib.sha256(source.read_bytes()).hexdigest() if source.is_file() else None}


def _files_digest(root: Path, paths: list[Path]) -> str:
    """sha256 over the names and bytes of files (folders: every file inside); absent paths count too.
    Names are taken relative to the project folder ``root``, so a moved project keeps its keys."""
    hasher = hashlib.sha256()
    for path in paths:
        hasher.update(os.path.relpath(path, root).encode())
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.is_file() else []
        for file in found:
            hasher.update(file.relative_to(path.parent).as_posix().encode())
            hasher.update(hashlib.sha256(file.read_bytes()).digest())
    return hasher.hexdigest()


@functools.cache
def _library_versions() -> dict[str, str]:
    """Read once a process: each read scans the installed packages."""
    versions = {}
    for name in MANIFEST_LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _remove_leftovers(outputs: Path) -> None:
    """What a killed run left behind (it holds the run lock no longer): half-built folders."""
    for leftover in [*outputs.glob(".incomplete-*"), *outputs.glob(".latest-*"),
                     *(outputs / ".stages").glob(".tmp-*"), *(outputs / ".stages").glob(".old-*")]:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()


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
