"""The `policoder` command: argument parsing, printing and exit codes only.

Exit status: 0 = every input processed, 1 = the batch finished but some inputs were skipped, or
the project's state refused the request (a coding already there, another coder's coding, a sheet
with bad rows), 2 = usage or configuration error (an argument naming nothing valid: an unknown
document, code, coding or sample, a span outside the text, a coder name that cannot be used).
"""
from __future__ import annotations

import functools
import json
import sys
import warnings
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from . import batch, export, instrument_report, stats
from . import topics as topic_models
from .config import CONFIG_NAME, KIND_CHOICES, UNIT_CHOICES
from .errors import CodingWarning, ConfigError, PolicoderError, ProjectError
from .executors import EXECUTORS
from .project import IngestReport, init_project, open_project
from .sheets import listed
from .themes import SOURCES
from .triangulation import FITS, LABELS

# piped output (a file, a notebook cell) gets wide tables instead of 80 columns
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)
# library errors that mean the command line asked for something that does not exist or cannot be: exit 2
USAGE_CODES = {"unknown-table", "unknown-document", "unknown-group-field", "unknown-stage", "unknown-executor",
               "dask-no-scheduler", "unknown-sample", "unknown-coding", "unknown-code", "not-codable", "bad-span",
               "no-coder", "coder-invalid", "reserved-coder", "unknown-coder"}


class UsageProblem(click.UsageError):
    """A PolicoderError shown as one line, exit status 2."""

    def show(self, file=None) -> None:
        err.print(f"policoder: {self.message}", markup=False, highlight=False)


def project_options(command):
    """--project and --db on every command, and one-line errors instead of tracebacks."""

    @click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
                  show_default=True, help=f"Project folder (holds {CONFIG_NAME}).")
    @click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Project database (default: <project>/policoder.db).")
    @functools.wraps(command)
    def wrapper(project_dir, db_path, **kwargs):
        try:
            project = open_project(project_dir, db=db_path)
        except PolicoderError as error:
            raise UsageProblem(str(error)) from None
        if db_path is not None and not db_path.resolve().parent.is_dir():
            raise UsageProblem(f"--db {db_path}: folder {db_path.resolve().parent} does not exist")
        outputs = (project.root / project.config.project.outputs).resolve()
        if project.db_path.resolve().is_relative_to(outputs):
            raise UsageProblem(f"--db {db_path}: the database must not live under outputs/ (outputs can be deleted)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", CodingWarning)
                warnings.showwarning = _one_line_warnings(warnings.showwarning)
                return command(project, **kwargs)
        except PolicoderError as error:
            if isinstance(error, ConfigError) or error.code in USAGE_CODES:
                raise UsageProblem(str(error)) from None
            err.print(f"policoder: {error}", markup=False, highlight=False)
            sys.exit(1)
        finally:
            project.close()

    return wrapper


def _one_line_warnings(show):
    """``warnings.showwarning`` printing a coding warning as one line (``warning: …``), others by ``show``."""
    def shown(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, CodingWarning):
            err.print(f"warning: {message}", markup=False, highlight=False)
        else:
            show(message, category, filename, lineno, file, line)
    return shown


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="policoder")
def cli() -> None:
    """policoder: code policy documents, interview transcripts and surveys reproducibly."""


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Project name (default: the folder name).")
def init(directory: Path, name: str | None) -> None:
    """Create a new project skeleton in DIRECTORY."""
    try:
        init_project(directory, name)
    except PolicoderError as error:
        raise UsageProblem(str(error)) from None
    out.print(f"Created project in {directory}: put documents in {directory / 'corpus'} and run "
              f"`policoder run --project {directory}`.", markup=False, highlight=False)


def _progress_bar(label: str):
    """The bar of a one-stage command: advance(item, total)."""
    progress, advance = _stage_bars()
    return progress, functools.partial(advance, label)


def _problems(report: IngestReport) -> None:
    for problem, severity in report.problems:
        err.print(f"{'warning' if severity == 'warning' else 'skipped'}: {problem}", markup=False, highlight=False)


REVISIT = ("label-stale", "coding-review")  # problems of human work to do again, which no ingest line says
SHOWN = 10  # lines of them a command prints; more are counted, with where to read them


def _work_to_revisit(problems: list[dict], where: str) -> None:
    """Human labels gone stale and codings to review, as the ingest's warnings are printed: one line
    each (one per document), the first ``SHOWN`` when there are more, with where the rest are."""
    found = [problem for problem in problems if problem["code"] in REVISIT]
    for problem in found[:SHOWN]:
        err.print(f"{problem['severity']}: {problem['path']}: {problem['message']} [{problem['code']}]",
                  markup=False, highlight=False)
    if len(found) > SHOWN:
        err.print(f"warning: and {len(found) - SHOWN} more document(s) with labels or codings to revisit: see {where}",
                  markup=False, highlight=False)


def _report(report: IngestReport) -> None:
    _problems(report)
    table = Table(title="ingest", show_header=True, header_style="bold")
    for column in ("ingested", "unchanged", "moved", "missing", "skipped", "warnings", "seconds"):
        table.add_column(column, justify="right")
    warnings = len(report.problems) - len(report.skipped)
    table.add_row(*map(str, (len(report.ingested), len(report.unchanged), len(report.moved), len(report.missing),
                             len(report.skipped), warnings, f"{report.seconds:.1f}")))
    out.print(table)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(KIND_CHOICES), default=None,
              help="Document kind (default from config: auto = detect from the content).")
@click.option("--unit", type=click.Choice(UNIT_CHOICES), default=None, help="Coding-unit granularity.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes.")
@click.option("--force", is_flag=True, help="Re-read files even when unchanged.")
@project_options
def ingest(project, paths, kind, unit, workers, force) -> None:
    """Ingest PDF, DOCX, TXT, Markdown and HTML files or folders (default: the configured corpus)."""
    progress, advance = _progress_bar("ingest")
    with progress:
        report = project.ingest(list(paths) or None, kind=kind, unit=unit, workers=workers, force=force,
                                progress=advance)
    _report(report)
    sys.exit(report.exit_status)


def _stage_bars():
    """One progress bar per stage, added when the stage reports its first item."""
    progress = Progress(TextColumn("{task.fields[stage]:<9}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("{task.description}"), console=err,
                        disable=not err.is_terminal)
    bars = {}

    def advance(stage: str, item: str, total: int) -> None:
        if stage not in bars:
            bars[stage] = progress.add_task("", total=total, stage=stage)
        progress.update(bars[stage], advance=1, description=item)

    return progress, advance


def _stage_names(context, parameter, values) -> tuple[str, ...]:
    """--only ingest,tokenize or --only ingest --only tokenize."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def _run_summary(result) -> None:
    table = Table(title=f"run {result.run_id}", show_header=True, header_style="bold")
    for column in ("stage", "status", "seconds", "what"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for stage in result.stages:
        what = ", ".join(f"{k} {v}" for k, v in stage.counts.items() if isinstance(v, (int, float, str))
                         and k not in ("key", "model_id"))
        table.add_row(stage.stage, stage.status, f"{stage.seconds:.1f}", Text(_clip(what, 110)))
    out.print(table)
    counts = result.manifest["counts"]
    if result.folder is not None:
        out.print(f"{counts.get('documents', 0)} documents, {counts.get('clauses', 0)} clauses, "
                  f"{counts.get('turns', 0)} turns, {counts.get('codings', 0)} codings, "
                  f"{counts.get('problems', 0)} problems in {result.manifest.get('seconds', 0):.1f} s "
                  f"→ {result.folder}", markup=False, highlight=False)


@cli.command()
@click.option("--only", multiple=True, callback=_stage_names, metavar="STAGE[,STAGE]",
              help=f"Run just these stages ({', '.join(batch.STAGES)}).")
@click.option("--from", "start", type=click.Choice(batch.STAGES), default=None,
              help="Run this stage and every later one.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (local executor).")
@click.option("--force", is_flag=True, help="Run the chosen stages even when their inputs are unchanged.")
@click.option("--executor", type=click.Choice(EXECUTORS), default=None,
              help="Where per-document stages run (default: [run] executor).")
@click.option("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://10.0.0.5:8786.")
@project_options
def run(project, only, start, workers, force, executor, scheduler) -> None:
    """Run the pipeline: ingest → segment → tokenize → instruments → topics → autocode → reliability →
    triangulation → report; stages whose inputs are unchanged are skipped.  Writes outputs/<run id>/."""
    options = batch.RunOptions(only=only, start=start, force=force, workers=workers, executor=executor,
                               scheduler=scheduler)
    options.selected()  # an unknown stage is a usage error before anything runs
    progress, advance = _stage_bars()
    with progress:
        result = project.run(options, progress=advance)
    if result.ingest is not None:
        _problems(result.ingest)
    for stage in result.stages:
        if "error" in stage.counts:
            err.print(f"policoder: {stage.stage} skipped: {stage.counts['error']}", markup=False, highlight=False)
        for name, why in stage.counts.get("not_built", {}).items():
            what = f"dataset {name} left empty" if stage.stage == "report" else f"{stage.stage} {name} not drawn"
            err.print(f"policoder: {what}: {why}", markup=False, highlight=False)
    _work_to_revisit(result.manifest["problems"], str(result.folder / "problems.csv") if result.folder else
                     "problems.csv of a run with the report stage")
    _run_summary(result)
    sys.exit(result.exit_status)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback requires the access token it prints.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@project_options
def serve(project, host: str, port: int) -> None:
    """The coding workbench in the browser: code transcripts, review policy clauses, several coders at once."""
    from .workbench import serve as serve_workbench

    root, db = project.root, project.db_path
    project.close()  # the workbench opens one short connection per request
    serve_workbench(root, host=host, port=port, db=db, announce=lambda line: out.print(line, markup=False,
                                                                                       highlight=False))


@cli.command()
@project_options
def docs(project) -> None:
    """List the project's documents."""
    table = Table(show_header=True, header_style="bold")
    for column in ("id", "kind", "level", "date", "doc_number", "title", "path", "status"):
        table.add_column(column)
    for row in project.rows("documents"):
        table.add_row(*(Text("" if row[c] is None else str(row[c])) for c in
                        ("id", "kind", "level", "date", "doc_number", "title", "path", "status")))
    out.print(table)


@cli.command()
@click.argument("document")
@project_options
def show(project, document) -> None:
    """Print a document's metadata and its units (clauses or turns) with their IDs."""
    found = project.document(document)
    out.print(f"[{found['id']}] {found['title'] or found['path']}", markup=False, highlight=False)
    for key in ("path", "kind", "doc_number", "issuer", "date", "level", "province", "city", "county",
                "level_evidence"):
        if found[key]:
            out.print(f"  {key}: {found[key]}", markup=False, highlight=False)
    for clause in found["clauses"]:
        page = f" p.{clause['page']}" if clause["page"] else ""
        out.print(f"{clause['unit_id']}{page}\t{clause['text']}", markup=False, highlight=False)
    for turn in found["turns"]:
        out.print(f"{turn['turn_id']}\t{turn['speaker']} ({turn['role']})\t{turn['text']}",
                  markup=False, highlight=False)


@cli.command(name="export")
@click.argument("table")
@click.option("--format", "fmt", type=click.Choice(export.FORMATS), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (default: standard output; required for xlsx).")
@click.option("--text", "with_text", is_flag=True, help="Include each document's canonical text.")
@project_options
def export_command(project, table, fmt, output, with_text) -> None:
    """Export TABLE (documents, clauses, turns, codings, coding_history, memos, problems) as CSV, JSON or XLSX."""
    if output is None:
        if fmt == "xlsx":
            raise UsageProblem("xlsx needs an output file: add -o FILE.xlsx")
        click.echo(export.dumps(project.rows(table, with_text=with_text), fmt), nl=False)
        return
    project.export(table, fmt, output, with_text=with_text)
    err.print(f"wrote {output}", markup=False, highlight=False)


REPORT_FORMATS = ("table", *export.FORMATS)


def report_options(command):
    """--format and -o for every reporting command."""
    command = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                           help="Write to FILE instead of standard output (required for xlsx).")(command)
    return click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default="table", show_default=True,
                        help="Output format.")(command)


def _emit(rows: list[dict], fmt: str, output: Path | None, title: str) -> None:
    if output is not None:
        if fmt == "table":
            fmt = output.suffix.lstrip(".").lower() if output.suffix.lstrip(".").lower() in export.FORMATS else "csv"
        export.write_table(rows, fmt, output, sheet=title)
        err.print(f"wrote {len(rows)} rows to {output}", markup=False, highlight=False)
    elif fmt == "xlsx":
        raise UsageProblem("xlsx needs an output file: add -o FILE.xlsx")
    elif fmt == "table":
        table = Table(title=title, show_header=True, header_style="bold")
        for column in rows[0] if rows else ():
            table.add_column(column, overflow="fold")
        for row in rows:
            # cells are text, never rich markup: "[triangulation] themes" keeps its brackets
            table.add_row(*(Text("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v))
                            for v in row.values()))
        out.print(table)
    else:
        click.echo(export.dumps(rows, fmt), nl=False)


def _clip(text: str, width: int) -> str:
    """Text cut to ``width`` characters for a table cell, with "…" where it was cut."""
    return text if len(text) <= width else text[:width - 1] + "…"


def _where(pairs: tuple[str, ...]) -> dict[str, str]:
    where = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep:
            raise UsageProblem(f"--where expects FIELD=VALUE, got {pair!r}")
        where[field] = value
    return where


KIND_OPTION = click.option("--kind", type=click.Choice(("policy", "transcript")), default=None,
                           help="Only units of this document kind.")


@cli.command()
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes.")
@project_options
def tokenize(project, workers) -> None:
    """Tokenize every unit (cached per tokenizer configuration; a changed dictionary re-tokenizes)."""
    progress, advance = _progress_bar("tokenize")
    with progress:
        report = project.tokenize(workers=workers, progress=advance)
    rate = report.characters / report.seconds / 1e6 if report.seconds and report.characters else 0.0
    out.print(f"tokenized {report.tokenized} units ({report.characters:,} characters, {rate:.2f} M chars/s), "
              f"{report.cached} cached; tokenizer {report.tokenizer_hash[:12]}", markup=False, highlight=False)


@cli.command()
@click.option("--by", default=None, help="Count per group: level, year, issuer, kind, doc, group, …")
@click.option("--min-freq", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=None,
              help="Only the N most frequent terms; with --by, of each group; with --tfidf, of each document or group; "
                   "with --keyness, the first N rows.")
@click.option("--tfidf", "tfidf_per", default=None, metavar="PER",
              help="TF-IDF top terms per document (doc) or per group (level, year, …) instead of frequencies.")
@click.option("--keyness", nargs=3, default=None, metavar="FIELD TARGET REFERENCE",
              help="Log-likelihood keyness of TARGET against REFERENCE, e.g. --keyness level county national.")
@KIND_OPTION
@report_options
@project_options
def terms(project, by, min_freq, top, tfidf_per, keyness, kind, fmt, output) -> None:
    """Term frequencies (freq, df, units, per_10k = occurrences per 10,000 terms of the corpus or group),
    TF-IDF top terms, or keyness between two groups."""
    if tfidf_per:
        rows, title = project.tfidf(per=tfidf_per, top=top or 20, kind=kind), "tf-idf"
    elif keyness:
        field, target, reference = keyness
        rows = project.keyness(field, target, reference, min_freq=min_freq, kind=kind)
        rows, title = rows[:top] if top else rows, f"keyness {target} vs {reference}"
    else:
        rows, title = project.terms(by=by, min_freq=min_freq, top=top, kind=kind), "terms"
    _emit(rows, fmt, output, title)


@cli.command()
@click.argument("term")
@click.option("--window", type=click.IntRange(min=1), default=15, show_default=True,
              help="Characters of context on each side.")
@click.option("--where", multiple=True, metavar="FIELD=VALUE", help="Only units whose group matches, e.g. level=county.")
@click.option("--whole-tokens", is_flag=True,
              help="Only tokens equal to TERM (产教融合 then misses 产教融合型企业).")
@KIND_OPTION
@report_options
@project_options
def kwic(project, term, window, where, whole_tokens, kind, fmt, output) -> None:
    """Keyword in context: every occurrence of the string TERM, also inside longer words, with its
    document and unit IDs."""
    _emit(project.kwic(term, window=window, where=_where(where), kind=kind, whole_tokens=whole_tokens), fmt, output,
          f"kwic {term}")


@cli.command()
@click.option("--top", type=click.IntRange(min=2), default=50, show_default=True, help="Most frequent N terms.")
@click.option("--measure", type=click.Choice(("jaccard", "pmi")), default="jaccard", show_default=True)
@click.option("--min-count", type=click.IntRange(min=1), default=2, show_default=True,
              help="Units in which both terms must occur.")
@click.option("--threshold", type=float, default=0.0, show_default=True, help="Minimum value of the measure.")
@click.option("--graphml", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write GraphML.")
@click.option("--draw", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw the network to a PNG or SVG file.")
@click.option("--font", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CJK font file for the drawing (default: one found on the system).")
@KIND_OPTION
@report_options
@project_options
def cooccur(project, top, measure, min_count, threshold, graphml, draw, font, kind, fmt, output) -> None:
    """Co-occurrence network of the top terms within units: edge list, GraphML, drawing."""
    nodes, edges = project.cooccurrence(top=top, measure=measure, min_count=min_count, threshold=threshold,
                                        kind=kind)
    if graphml:
        stats.write_graphml(nodes, edges, graphml)
        err.print(f"wrote {graphml}", markup=False, highlight=False)
    if draw:
        stats.draw_network(nodes, edges, draw, font_path=font, seed=project.config.project.seed)
        err.print(f"wrote {draw}", markup=False, highlight=False)
    _emit(edges, fmt, output, f"co-occurrence ({measure})")


def _k_range(value: str) -> list[int]:
    try:
        return topic_models.k_range(value)
    except ValueError as error:
        raise UsageProblem(f"--k {error}") from None


PER_OPTION = click.option("--per", type=click.Choice(("document", "unit")), default="document", show_default=True,
                          help="Model whole documents or single units.")


@cli.group(invoke_without_command=True)
@click.option("--k", "k", type=click.IntRange(min=2), default=None, help="Number of topics.")
@click.option("--seed", type=int, default=None, help="Random seed (default: the project's seed).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for topics.csv, doc_topics.csv, stability.csv, prevalence.csv.")
@click.option("--stability-seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Fit this many seeds to measure how stable the topics are.")
@click.option("--method", type=click.Choice(("lda", "nmf")), default="lda", show_default=True,
              help="gensim LDA, or scikit-learn NMF on TF-IDF as a robustness check.")
@PER_OPTION
@project_options
def topics(project, k, seed, output, stability_seeds, method, per) -> None:
    """Topic models (gensim LDA): `policoder topics --k K -o DIR` fits one; `policoder topics sweep` chooses K."""
    if click.get_current_context().invoked_subcommand is not None:
        return
    if k is None or output is None:
        raise UsageProblem("policoder topics needs --k K and -o DIR (or use `policoder topics sweep`)")
    summary = project.topics(k, output, seed=seed, per=per, stability_seeds=stability_seeds, method=method)
    unstable = ", ".join(map(str, summary["unstable_topics"])) or "none"
    out.print(f"{summary['k']} {method.upper()} topics on {summary['texts']} {per}s ({summary['terms']} terms), seed {summary['seed']}; "
              f"unstable topics: {unstable} → {output}", markup=False, highlight=False)


@topics.command(name="sweep")
@click.option("--k", "k_range", required=True, help="Range of K, e.g. 4..20.")
@click.option("--seed", type=int, default=None, help="Random seed (default: the project's seed).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for coherence_by_k.csv and its plot.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Fit K values in parallel.")
@PER_OPTION
@project_options
def topics_sweep(project, k_range, seed, output, workers, per) -> None:
    """Fit each K, score it (c_v and u_mass coherence, perplexity), and choose K."""
    summary = project.topic_sweep(_k_range(k_range), output, seed=seed, per=per, workers=workers)
    out.print(f"chosen K = {summary['chosen_k']}: {summary['reason']} → {output}", markup=False, highlight=False)


@cli.group()
def instruments() -> None:
    """Policy instruments of clauses: classify, coding sheets, training, evaluation and the paper's tables."""


@instruments.command(name="classify")
@click.option("--force", is_flag=True, help="Classify every unit again, even unchanged ones.")
@report_options
@project_options
def instruments_classify(project, force, fmt, output) -> None:
    """Label every policy clause (rules, or the configured model) and list the labels with their cues."""
    result = project.classify_instruments(force=force)
    err.print(f"scheme {result['scheme']}: {result['units']} units; newly classified: "
              + ", ".join(f"{coder} {n}" for coder, n in result["classified"].items()), markup=False, highlight=False)
    rows = [{k: row[k] for k in ("unit_id", "level", "year", "instruments", "primary_instrument", "instrument_source",
                                 "instrument_cues", "text")} for row in project.instrument_rows(classify=False)]
    if fmt == "table" and output is None:
        rows = [{**row, "instruments": ", ".join(row["instruments"]), "instrument_cues": " ".join(row["instrument_cues"]),
                 "text": _clip(row["text"], 40)} for row in rows]
    _emit(rows, fmt, output, "instruments")


@instruments.command(name="sheet")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The coding sheet to write: .xlsx (drop-down lists) or .csv (UTF-8, for WPS or LibreOffice).")
@click.option("--units", "unit_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Only the units listed in this file (one unit ID per line, or a CSV with a unit_id column).")
@project_options
def instruments_sheet(project, output, unit_file) -> None:
    """Export a coding sheet: units, the machine's suggestion and cues, and empty columns for a coder."""
    units = _unit_ids(unit_file) if unit_file else None
    if units == []:
        raise ProjectError(f"{unit_file} lists no unit ids", code="unknown-unit")
    project.instrument_sheet(output, units=units)
    err.print(f"wrote {output}", markup=False, highlight=False)


@instruments.command(name="import")
@click.argument("sheet", type=click.Path(path_type=Path))
@click.option("--coder", required=True, help="The coder whose labels these are.")
@project_options
def instruments_import(project, sheet, coder) -> None:
    """Import a filled coding sheet (XLSX, or CSV with the same columns) as CODER's labels: all or nothing."""
    result = project.import_instrument_sheet(sheet, coder)
    for warning in result.warnings:
        err.print(f"warning: {sheet}: {warning}", markup=False, highlight=False)
    # the coder's other labels made on an earlier text (this sheet's rows are warned about above)
    on_sheet = {coding["unit_id"] for coding in result.codings}
    _work_to_revisit(batch.stale_label_problems([label for label in project.stale_instrument_labels()
                                                 if label["coder"] == coder and label["unit_id"] not in on_sheet]),
                     "problems.csv of the next `policoder run`")
    out.print(f"{len(result.codings) - result.already_there} labels imported, {result.already_there} already there, "
              f"by {coder} from {sheet} ({result.blank} rows left blank)", markup=False, highlight=False)


@instruments.command(name="reconcile")
@click.argument("sheet", type=click.Path(path_type=Path), required=False)
@click.option("--coder", "coders", multiple=True,
              help="With -o: the coders to reconcile (repeat; default: every coder but the reconciled one).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the reconciliation sheet (.xlsx or .csv) of the clauses the coders labelled differently.")
@click.option("--no-agreed", is_flag=True, help="With SHEET: do not record the clauses the coders agree on.")
@project_options
def instruments_reconcile(project, sheet, coders, output, no_agreed) -> None:
    """-o FILE: a sheet of the clauses coders labelled differently, to decide; SHEET: import the decisions
    (and the agreed clauses) as the reconciled coder's labels, which stand over the coders'."""
    if (sheet is None) == (output is None):
        raise UsageProblem("policoder instruments reconcile needs -o FILE (write the sheet) or SHEET (import it), "
                           "not both")
    if output is not None:
        made = project.instrument_reconciliation_sheet(output, coders=list(coders) or None)
        err.print(f"wrote {output}: {made['differing']} clauses {' and '.join(made['coders'])} labelled differently "
                  f"({made['decided']} decided already), {made['agreed']} agreed", markup=False, highlight=False)
        return
    if coders:
        raise UsageProblem("--coder goes with -o; an imported sheet names its coders in its columns")
    result = project.reconcile_instruments(sheet, agreed=not no_agreed)
    for warning in result["warnings"]:
        err.print(f"warning: {sheet}: {warning}", markup=False, highlight=False)
    out.print(f"{result['added']} labels recorded as {result['coder']} ({result['already_there']} already there): "
              f"{result['decided']} decided on {sheet}, {result['agreed']} agreed by {', '.join(result['coders'])}; "
              f"{result['undecided']} rows not decided yet", markup=False, highlight=False)


@instruments.command(name="train")
@click.option("--coder", "coders", multiple=True, help="Train on these coders' labels only (default: all human labels).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model file (default: models/instruments-<id>.joblib).")
@click.option("--shipped-gold", is_flag=True,
              help="Also train on the gold sets that come with policoder (scheme default; a source checkout).")
@project_options
def instruments_train(project, coders, output, shipped_gold) -> None:
    """Train the classifier on human labels; print its document-grouped cross-validation."""
    model, path = project.train_instruments(coders=list(coders) or None, out=output, shipped_gold=shipped_gold)
    _print_evaluation(model.evaluation, f"model {model.id}: {model.n_units} units in {model.n_documents} documents, "
                                        f"{model.evaluation['protocol']}")
    out.print(f"saved {path}; use it with [instruments] model = \"{project.display_path(path)}\" in {CONFIG_NAME}",
              markup=False, highlight=False)


@instruments.command(name="evaluate")
@click.option("--coder", "coders", multiple=True, help="Compare with these coders' labels (default: all humans).")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@project_options
def instruments_evaluate(project, coders, fmt) -> None:
    """Precision, recall and F1 of the configured classifier against human labels."""
    report = project.evaluate_instruments(coders=list(coders) or None)
    if fmt == "json":
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        title = f"{report['classifier']} against {report['n']} human-labelled units"
        cross_validated = report.get("cross_validated")
        if report["in_sample"]:
            title += " (in-sample: the model learned from these labels)"
            err.print(f"note: these are in-sample figures of a model trained on these labels; quote its cross-validated "
                      f"ones (CV columns: {cross_validated['protocol']})", markup=False, highlight=False)
        _print_evaluation(report, title, cross_validated)


@instruments.command(name="agreement")
@click.option("--coder", "coders", multiple=True, help="Only these coders (default: every human who labelled clauses).")
@click.option("--machine", is_flag=True, help="Add the rules and the configured model as coders.")
@click.option("--boot", type=click.IntRange(min=0), default=None, help="Bootstrap draws for alpha's interval.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@project_options
def instruments_agreement(project, coders, machine, boot, fmt) -> None:
    """Agreement between coders on each instrument flag and the primary label (κ, α, AC1 …, and per pair)."""
    result = export.json_ready(project.instrument_agreement(coders=list(coders) or None, machine=machine, boot=boot))
    if fmt == "json":
        click.echo(json.dumps(result, ensure_ascii=False, indent=1))
        return
    columns = ("units", "percent_agreement", "cohen_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")
    _emit([{"variable": name, **{k: row[k] for k in columns}, "alpha_ci": _interval(row["alpha_ci"])}
           for name, row in result["variables"].items()], "table", None,
          f"instrument agreement of {', '.join(result['coders'])} on {result['units']} clauses (scheme {result['scheme']})")
    _emit([{"coders": " × ".join(pair["coders"]), "units": pair["primary"]["units"],
            **{f"{name} κ": pair[name]["cohen_kappa"] for name in result["variables"]}} for pair in result["pairs"]],
          "table", None, "coder pairs (Cohen's κ)")


@instruments.command(name="suggest")
@click.option("--n", "count", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a coding sheet of these units (.xlsx or .csv) instead of listing them.")
@project_options
def instruments_suggest(project, count, output) -> None:
    """The uncoded units the classifier is least sure of: code these next.

    uncertainty_margin, smallest first, is how near a unit's least certain call is to going the other
    way.  With a trained model configured: the distance of a label's presence probability from 0.5
    (0 = a coin toss, 0.5 = certain).  With the rules (no model): the distance, in cue weight, of a
    label's cue score (the weights of its cues that fired) from the scheme's threshold, at or above
    which the label is given (2 in the shipped schemes; 0 = exactly at it); a unit where no cue fired
    has the threshold as its margin.
    """
    rows = project.suggest_instruments(count)
    if output:
        project.instrument_sheet(output, units=[row["unit_id"] for row in rows])
        err.print(f"wrote {len(rows)} units to {output}", markup=False, highlight=False)
        return
    _emit([{k: row[k] for k in ("unit_id", "uncertainty_margin", "primary_instrument")} | {"text": _clip(row["text"], 50)}
           for row in rows], "table", None, "least certain units")
    if rows and rows[0]["instrument_source"] == "rules":
        why = (f"the distance of a label's cue score from the scheme's threshold ({project.scheme().threshold:g}) "
               f"at which the rules give it")
    else:
        why = "the distance of a label's presence probability from 0.5 (0 = a coin toss, 0.5 = certain)"
    err.print(f"uncertainty_margin: {why}; smallest first", markup=False, highlight=False)


@instruments.command(name="report")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the tables (CSV, XLSX) and charts (PNG, SVG).")
@click.option("--font", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CJK font file for the charts (default: one found on the system).")
@project_options
def instruments_report(project, output, font) -> None:
    """Instrument frequencies, instrument × level and × year with χ² and Cramér's V, per-document shares, charts."""
    summary = project.instruments_report(output, font_path=font)
    for by, test in summary["tests"].items():
        if test.get("chi2") is not None:
            out.print(f"instrument × {by}: χ²={test['chi2']:.2f}, df={test['dof']}, p={test['p']:.3g}, "
                      f"Cramér's V={test['cramers_v']:.3f} (n={test['n']}; {test['test']})", markup=False, highlight=False)
        for caution in (instrument_report.low_expected_warning(test), test.get("note")):
            if caution:
                err.print(f"warning: instrument × {by}: {caution}", markup=False, highlight=False)
    out.print(f"wrote {len(summary['files'])} files to {output}", markup=False, highlight=False)


def _print_evaluation(report: dict, title: str, cross_validated: dict | None = None) -> None:
    """Precision, recall and F1 per label; with ``cross_validated`` (a model's stored figures), its CV ones beside."""
    scores = ("precision", "recall", "f1", "support")
    table = Table(title=title, show_header=True, header_style="bold")
    for column in ("label", "precision", "recall", "F1", "support", *(("CV precision", "CV recall", "CV F1", "CV support")
                                                                       if cross_validated else ())):
        table.add_column(column, justify="right")
    for kind in ("flags", "primary"):
        beside = (cross_validated or {}).get(kind, {})
        for name in dict.fromkeys([*report[kind], *beside]):
            row, other = report[kind].get(name, {}), beside.get(name, {})
            table.add_row(f"{name} ({'flag' if kind == 'flags' else 'primary'})", *(str(row.get(k, "")) for k in scores),
                          *((str(other.get(k, "")) for k in scores) if cross_validated else ()))
    out.print(table)
    for prefix, figures in (("", report), ("cross-validated ", cross_validated)):
        if figures:
            out.print(f"{prefix}macro-F1 over the flags {figures['macro_f1_flags']}; primary accuracy "
                      f"{figures['primary_accuracy']}, primary macro-F1 {figures['primary_macro_f1']}",
                      markup=False, highlight=False)


# --- codebook, coding, agreement -------------------------------------------------------------

CODER_OPTION = click.option("--coder", "coders", multiple=True,
                            help="Only these coders (repeat the option; default: every coder but the consensus).")
AGREEMENT_CODERS = click.option("--coder", "coders", multiple=True,
                                help="Only these coders (repeat the option; default: every human coder but the "
                                     "consensus).")
MACHINE_OPTION = click.option("--machine/--humans-only", "machine", default=None,
                              help="Count the machine coder (auto) as a coder too, marked apart (default: "
                                   "[agreement] include_machine, humans only).")


@cli.group()
def codebook() -> None:
    """Codebooks: show, validate, compare and print them for coder training."""


@codebook.command(name="show")
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@project_options
def codebook_show(project, name, fmt) -> None:
    """The codebook's tree (NAME: a file or a shipped codebook; default: the project's)."""
    book = project.codebook(name)
    counts = {}
    if not name:
        for row in project.coding_frequencies("code"):
            counts[row["code"]] = row["codings"]
    if fmt == "json":
        click.echo(json.dumps({"id": book.id, "name": book.name, "version": book.version,
                               "codes": [{"id": c.id, "name": c.name, "name_en": c.name_en, "parent": c.parent,
                                          "definition": c.definition, "stance": c.stance, "codable": c.codable,
                                          "codings": counts.get(c.id, 0)} for c in book.codes],
                               "changes": [c.describe() for c in book.changes]}, ensure_ascii=False, indent=1))
        return
    out.print(f"{book.name}  ({book.id} v{book.version}, {len(book.codes)} codes)", markup=False, highlight=False)
    for code in book.codes:
        facts = [code.id] + ([code.stance] if code.stance else []) + ([] if code.codable else ["container"])
        count = f"  [{counts[code.id]}]" if code.id in counts else ""
        out.print(f"{'  ' * book.depth(code.id)}- {code.name} ({', '.join(facts)}){count}", markup=False,
                  highlight=False)


@codebook.command(name="validate")
@click.argument("files", nargs=-1)
@project_options
def codebook_validate(project, files) -> None:
    """Check codebook files (default: the project's); errors name the file and line."""
    failed = False
    for name in files or (None,):
        try:
            book = project.codebook(name)
        except ConfigError as error:
            err.print(f"policoder: {error}", markup=False, highlight=False)
            failed = True
            continue
        out.print(f"ok: {book.source}: {book.id} v{book.version}, {len(book.codes)} codes "
                  f"({len(book.codable)} codable, {sum(1 for c in book.codes if c.auto)} with auto-coding rules)",
                  markup=False, highlight=False)
    if failed:
        sys.exit(1)


@codebook.command(name="diff")
@click.argument("old")
@click.argument("new", required=False)
@report_options
@project_options
def codebook_diff(project, old, new, fmt, output) -> None:
    """What changed from codebook OLD to NEW (default: the project's)."""
    from .codebook_docs import diff

    _emit(diff(project.codebook(old), project.codebook(new)), fmt, output, "codebook changes")


@codebook.command(name="export")
@click.argument("name", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="FILE.md (Markdown) or FILE.xlsx.")
@project_options
def codebook_export(project, name, output) -> None:
    """Write the codebook as a document for coder training (Markdown or XLSX)."""
    from .codebook_docs import to_markdown, to_xlsx

    book = project.codebook(name)
    if output.suffix.lower() == ".xlsx":
        to_xlsx(book, output)
    elif output.suffix.lower() in (".md", ".markdown", ".txt"):
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(to_markdown(book), encoding="utf-8")
    else:
        raise UsageProblem("-o must end in .md or .xlsx")
    err.print(f"wrote {output}", markup=False, highlight=False)


@cli.group()
def code() -> None:
    """Code transcripts and documents against the codebook: spans, sheets, auto-coding, memos, reports."""


@code.command(name="add")
@click.argument("document")
@click.argument("start", type=click.IntRange(min=0))
@click.argument("end", type=click.IntRange(min=1))
@click.argument("code_id", metavar="CODE")
@click.option("--coder", required=True)
@click.option("--memo", default=None)
@project_options
def code_add(project, document, start, end, code_id, coder, memo) -> None:
    """Code the span START–END (code points of DOCUMENT's text) with CODE."""
    coding_id = project.code(document, start, end, code_id, coder, memo=memo)
    out.print(f"coding {coding_id}", markup=False, highlight=False)


LEAD_OPTION = click.option("--as-lead", is_flag=True,
                           help="A team lead correcting another coder's coding (recorded in its history).")


@code.command(name="edit")
@click.argument("coding_id", type=int)
@click.option("--by", "by", required=True, help="Who makes the change.")
@click.option("--code", "code_id", default=None)
@click.option("--start", type=click.IntRange(min=0), default=None)
@click.option("--end", type=click.IntRange(min=1), default=None)
@click.option("--memo", default=None)
@LEAD_OPTION
@project_options
def code_edit(project, coding_id, by, code_id, start, end, memo, as_lead) -> None:
    """Change a coding (your own, or anyone's --as-lead); the old version stays in its history."""
    new_id = project.recode(coding_id, by=by, code=code_id, start=start, end=end, memo=memo, as_lead=as_lead)
    out.print(f"coding {coding_id} → {new_id}", markup=False, highlight=False)


@code.command(name="delete")
@click.argument("coding_id", type=int)
@click.option("--by", "by", required=True, help="Who removes it.")
@LEAD_OPTION
@project_options
def code_delete(project, coding_id, by, as_lead) -> None:
    """Remove a coding (your own, or anyone's --as-lead; recorded as a deletion, its history stays)."""
    project.uncode(coding_id, by=by, as_lead=as_lead)
    out.print(f"coding {coding_id} removed", markup=False, highlight=False)


@code.command(name="history")
@click.argument("coding_id", type=int)
@report_options
@project_options
def code_history(project, coding_id, fmt, output) -> None:
    """Every version of a coding, oldest first."""
    _emit(project.coding_history(coding_id), fmt, output, f"history of coding {coding_id}")


@code.command(name="list")
@CODER_OPTION
@click.option("--no-machine", is_flag=True, help="Human codings only.")
@report_options
@project_options
def code_list(project, coders, no_machine, fmt, output) -> None:
    """The codings that stand now (re-anchored after re-ingestion; flagged ones say why)."""
    rows = project.coded_segments(coders=list(coders) or None, machine=not no_machine)
    if fmt == "table" and output is None:
        rows = [{k: row[k] for k in ("coding_id", "unit_id", "start", "end", "code", "coder", "anchor", "review")}
                | {"text": _clip(row["text"] or "", 30)} for row in rows]
    _emit(rows, fmt, output, "codings")


@code.command(name="sheet")
@click.option("--coder", required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The coding sheet to write: .xlsx (with the codebook sheet) or .csv (UTF-8, for WPS or "
                   "LibreOffice).")
@click.option("--layout", type=click.Choice(("matrix", "column")), default="matrix", show_default=True,
              help="matrix: a 0/1 column per code; column: one 'codes' column.")
@click.option("--assigned", is_flag=True, help="Only the units assigned to the coder.")
@click.option("--show-others", is_flag=True, help="Show other coders' codes (sheets are blind by default).")
@project_options
def code_sheet(project, coder, output, layout, assigned, show_others) -> None:
    """Export a coding sheet for CODER (XLSX or CSV): units, the codebook, the coder's current codes."""
    project.coding_sheet(coder, output, layout=layout, blind=not show_others, assigned=assigned)
    err.print(f"wrote {output}", markup=False, highlight=False)


@code.command(name="import")
@click.argument("sheet", type=click.Path(path_type=Path))
@click.option("--coder", required=True)
@project_options
def code_import(project, sheet, coder) -> None:
    """Import a filled coding sheet as CODER's codings: validated, all or nothing."""
    result = project.import_coding_sheet(sheet, coder)
    for warning in result["warnings"]:
        err.print(f"warning: {sheet}: {warning}", markup=False, highlight=False)
    out.print(f"{coder}: {result['units']} units read, {result['added']} codings added, {result['removed']} removed, "
              f"{result['memos']} memos, {result['blank']} rows not rated yet", markup=False, highlight=False)
    if result["not_rated"]:
        err.print(f"not rated yet (no code cell filled; agreement leaves them out, 0 or '-' means no code): "
                  f"{listed(result['not_rated'], 20)}", markup=False, highlight=False)


@code.command(name="auto")
@project_options
def code_auto(project) -> None:
    """Apply the codebook's auto-coding rules (stored as the machine coder 'auto')."""
    result = project.autocode()
    out.print(f"auto ({result['rule_version']}): {result['codings']} codings on {result['units_coded']} of "
              f"{result['units']} units", markup=False, highlight=False)


@code.command(name="assign")
@click.option("--coder", "coders", multiple=True, required=True, help="Coders who get the same sample.")
@click.option("--n", "count", type=click.IntRange(min=1), required=True, help="Units in the sample.")
@click.option("--sample", required=True, help="A name for the sample (e.g. pilot-1).")
@click.option("--stratify", default="group", show_default=True,
              help="Document attribute to stratify by ('' for a simple random sample).")
@click.option("--kind", type=click.Choice(("transcript", "policy")), default="transcript", show_default=True)
@click.option("--seed", type=int, default=None, help="Random seed (default: the project's seed).")
@click.option("--not-blind", is_flag=True, help="Let these coders see each other's work on their sheets.")
@project_options
def code_assign(project, coders, count, sample, stratify, kind, seed, not_blind) -> None:
    """Give coders the same sample of units, so that their overlap for agreement is planned (blind by default)."""
    rows = project.assign(list(coders), count, sample=sample, stratify=stratify or None, kind=kind, seed=seed,
                          blind=not not_blind)
    out.print(f"sample {sample}: {len(rows) // len(coders)} units for {', '.join(coders)}", markup=False,
              highlight=False)


@code.command(name="release")
@click.argument("sample")
@click.option("--by", "by", required=True, help="Who releases it (the team lead).")
@click.option("--coder", "coders", multiple=True, help="Only these coders of the sample (default: all of them).")
@project_options
def code_release(project, sample, by, coders) -> None:
    """End the blind phase of SAMPLE (after agreement is measured): its coders may see others' work."""
    result = project.release(sample, by=by, coders=list(coders) or None)
    out.print(f"sample {sample} released by {by} for {', '.join(result['coders']) or 'no one still blind'}",
              markup=False, highlight=False)
    for coder in result["still_blind"]:
        err.print(f"note: {coder} is still blind through another sample ({', '.join(project.blind_samples(coder))})",
                  markup=False, highlight=False)


@code.command(name="memo")
@click.argument("target_kind", type=click.Choice(("project", "document", "unit", "code", "coding")))
@click.argument("target")
@click.argument("text")
@click.option("--coder", required=True)
@click.option("--replaces", type=int, default=None, help="A memo this one is a new version of.")
@project_options
def code_memo(project, target_kind, target, text, coder, replaces) -> None:
    """Write a memo on a document, unit, code, coding or the project."""
    memo_id = project.write_memo(target_kind, target, text, coder, replaces=replaces)
    out.print(f"memo {memo_id}", markup=False, highlight=False)


@code.command(name="memos")
@report_options
@project_options
def code_memos(project, fmt, output) -> None:
    """All memos that stand (older versions stay in the database)."""
    _emit(project.memos(), fmt, output, "memos")


@code.command(name="report")
@click.argument("what", type=click.Choice(("frequencies", "cooccurrence", "segments")))
@click.option("--by", type=click.Choice(("code", "document", "participant", "group", "coder")), default="code",
              show_default=True, help="frequencies: per code and ...")
@click.option("--mode", type=click.Choice(("unit", "overlap")), default="unit", show_default=True,
              help="cooccurrence: codes in the same unit, or overlapping spans.")
@CODER_OPTION
@report_options
@project_options
def code_report(project, what, by, mode, coders, fmt, output) -> None:
    """Code frequencies, code co-occurrence, or the coded-segment table (one row per coded span)."""
    coders = project.report_coders(list(coders) or None)
    title = f"{what} of {', '.join(coders) or 'no coder'}"
    if what == "frequencies":
        rows = project.coding_frequencies(by, coders=coders)
        title += ": codings = coded spans (a unit two coders coded counts twice), units = distinct units"
    elif what == "cooccurrence":
        rows = project.code_cooccurrence(mode, coders=coders)
        title += ": codes the same coder gave (a unit counts once per coder)"
    else:
        rows = project.coded_segments(coders=coders)
    _emit(rows, fmt, output, title if output is None else what)  # a file's sheet is named by what it holds


@code.command(name="disagreements")
@AGREEMENT_CODERS
@MACHINE_OPTION
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Compare codes rolled up to their ancestor at this depth (0 = top level).")
@report_options
@project_options
def code_disagreements(project, coders, machine, depth, fmt, output) -> None:
    """Units where coders differ; with -o FILE.xlsx, a sheet to reconcile (fill its 'codes' column)."""
    if output is not None and output.suffix.lower() == ".xlsx":
        project.disagreement_sheet(output, coders=list(coders) or None, depth=depth, machine=machine)
        err.print(f"wrote {output}", markup=False, highlight=False)
        return
    _emit(project.disagreements(coders=list(coders) or None, depth=depth, machine=machine), fmt, output,
          "disagreements")


@code.command(name="reconcile")
@click.argument("sheet", type=click.Path(path_type=Path), required=False)
@AGREEMENT_CODERS
@MACHINE_OPTION
@click.option("--no-agreed", is_flag=True, help="Do not copy the units all coders agree on.")
@click.option("--by", "by", default=None,
              help="Who decides (recorded on each consensus coding, as the workbench does).")
@project_options
def code_reconcile(project, sheet, coders, machine, no_agreed, by) -> None:
    """Record consensus codings (as their own coder): units two human coders or more agree on (and, with
    --machine, the machine coder too), and a filled disagreement SHEET."""
    result = project.reconcile(sheet, coders=list(coders) or None, agreed=not no_agreed, machine=machine, by=by)
    decided = result["sheet"]["units"] if result["sheet"] else 0
    out.print(f"{result['coder']}: {result['agreed_units']} agreed units copied, {decided} units decided on the sheet",
              markup=False, highlight=False)


@cli.group()
def refi() -> None:
    """Exchange with NVivo, ATLAS.ti, MAXQDA and QualCoder (REFI-QDA .qdc and .qdpx files)."""


@refi.command(name="export-codebook")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="FILE.qdc")
@project_options
def refi_export_codebook(project, output) -> None:
    """Write the codebook as a REFI-QDA codebook (.qdc): tree, colours, definitions in each Description."""
    project.refi_codebook(output)
    err.print(f"wrote {output}", markup=False, highlight=False)


@refi.command(name="export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="FILE.qdpx")
@click.option("--coder", "--coders", "coders", multiple=True,
              help="Only these coders (repeat, or separate by commas; 'auto' adds the machine coder's codings).")
@project_options
def refi_export(project, output, coders) -> None:
    """Write the project as a REFI-QDA archive (.qdpx): texts, codebook, codings, coders, attributes, memos."""
    chosen = [name.strip() for value in coders for name in value.split(",") if name.strip()]
    result = project.refi_export(output, coders=chosen or None)
    for skipped in result["skipped"]:
        err.print(f"warning: not exported: {skipped}", markup=False, highlight=False)
    err.print(f"wrote {output}: {result['sources']} sources, {result['codings']} codings by {result['users']} "
              f"users, {result['notes']} notes", markup=False, highlight=False)


@refi.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as-coder-prefix", default="", help="Put this before every user name (e.g. nvivo:).")
@click.option("--add-codes", is_flag=True, help="Add the file's codes that are not in the codebook to its file.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@project_options
def refi_import(project, file, as_coder_prefix, add_codes, fmt) -> None:
    """Import codings, memos and new sources from a .qdpx (all or nothing; exit 1 if refused)."""
    result = project.refi_import(file, as_coder_prefix=as_coder_prefix, add_missing_codes=add_codes)
    if fmt == "json":
        click.echo(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        for problem in result["problems"]:
            err.print(f"{problem['severity']}: {file}: {problem['message']}", markup=False, highlight=False)
        for source, convention in result["readings"].items():
            err.print(f"{source}: positions read as {convention}", markup=False, highlight=False)
        if result["imported"]:
            out.print(f"{file}: {result['sources']} sources ({result['sources_added']} new), {result['codes']} codes "
                      f"({len(result['codes_added'])} added), {result['codings']} codings imported "
                      f"({result['codings_present']} already there), {result['memos']} memos; coders: "
                      f"{', '.join(result['coders']) or '-'}", markup=False, highlight=False)
        else:
            err.print(f"policoder: {file}: nothing imported", markup=False, highlight=False)
    if not result["imported"]:
        sys.exit(1)


@cli.command()
@click.option("--unit", type=click.Choice(("unit", "segment", "span")), default=None,
              help="What is compared (default: [agreement] unit).")
@AGREEMENT_CODERS
@MACHINE_OPTION
@click.option("--code", "codes", multiple=True, help="Only these codes.")
@click.option("--depth", type=click.IntRange(min=0), default=None,
              help="Compare codes rolled up to their ancestor at this depth (0 = top level).")
@click.option("--boot", type=click.IntRange(min=0), default=None, help="Bootstrap draws for alpha's interval.")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON report to FILE.")
@project_options
def agreement(project, unit, coders, machine, codes, depth, boot, fmt, output) -> None:
    """Inter-coder agreement per code, overall, per coder pair and per document (human coders unless
    --machine or named with --coder)."""
    result = export.json_ready(project.agreement(unit=unit, coders=list(coders) or None, codes=list(codes) or None,
                                                 depth=depth, boot=boot, machine=machine))
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}", markup=False, highlight=False)
    if result.get("note"):
        err.print(f"note: {result['note']}", markup=False, highlight=False)
    if fmt == "json":
        click.echo(text)
        return
    columns = ("units", "percent_agreement", "cohen_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1",
               "brennan_prediger")
    overall = result["overall"]["nominal"]
    rows = ([{"code": "(all codes, nominal)", **{k: overall[k] for k in columns},
              "alpha_ci": _interval(overall["alpha_ci"])}] if overall else [])
    rows += [{"code": code, **{k: row[k] for k in columns}, "alpha_ci": _interval(row["alpha_ci"])}
             for code, row in result["codes"].items()]
    machines = result["machine_coders"]
    humans = [coder for coder in result["coders"] if coder not in machines]
    who = ", ".join(humans) + (f" and the machine coder {', '.join(machines)}" if machines else "")
    _emit(rows, "table", None, f"agreement of {who} on {result['units']} {result['unit']}s")
    _emit([{"coders": " × ".join(pair["coders"]) + (" (machine)" if pair["machine"] else ""), "units": pair["units"],
            "percent_agreement": pair["percent_agreement"], "cohen_kappa": pair["cohen_kappa"]}
           for pair in result["pairs"]],
          "table", None, "coder pairs (nominal)")


def _interval(bounds) -> str:
    low, high = bounds
    return "" if low is None else f"[{low:.3f}, {high:.3f}]"


def _unit_ids(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if lines and "unit_id" in lines[0].split(","):
        column = lines[0].split(",").index("unit_id")
        return [line.split(",")[column] for line in lines[1:]]
    return lines


# --- surveys, indicators and triangulation ----------------------------------------------------------

@cli.group()
def survey() -> None:
    """Survey data ([survey] files): descriptives, group comparisons, Cronbach's alpha."""


def _surveys(project, wanted: str | None) -> list:
    loaded = project.surveys()
    if not loaded:
        raise UsageProblem("no survey: list survey schema files in [survey] files of policoder.toml")
    chosen = [s for s in loaded if wanted in (None, s.id)]
    if not chosen:
        raise UsageProblem(f"no survey {wanted!r}; the project has {', '.join(s.id for s in loaded)}")
    return chosen


SURVEY_OPTION = click.option("--survey", "survey_id", default=None, help="Only this survey (its id).")


@survey.command(name="describe")
@click.argument("refs", nargs=-1)
@click.option("--by", default=None, help="A respondent attribute: one block of rows per group.")
@SURVEY_OPTION
@report_options
@project_options
def survey_describe(project, refs, by, survey_id, fmt, output) -> None:
    """Counts and shares, or mean, sd, median and 95% CI, per item or scale (all when none is named)."""
    from . import survey as surveys

    for loaded in _surveys(project, survey_id):
        rows = ([row for ref in refs for row in surveys.describe(loaded, ref, by=by)] if refs
                else surveys.describe_all(loaded, by=by))
        _emit(rows, fmt, output, f"{loaded.title} (n = {len(loaded.responses)})")


@survey.command(name="alpha")
@SURVEY_OPTION
@report_options
@project_options
def survey_alpha(project, survey_id, fmt, output) -> None:
    """Cronbach's alpha of every scale, with its 95% interval and alpha if an item is deleted."""
    from . import survey as surveys

    for loaded in _surveys(project, survey_id):
        _emit(surveys.reliability_table(loaded), fmt, output, f"{loaded.title}: scale reliability")


@survey.command(name="compare")
@click.argument("refs", nargs=-1, required=True)
@click.option("--by", required=True, help="The respondent attribute that makes the groups.")
@SURVEY_OPTION
@report_options
@project_options
def survey_compare(project, refs, by, survey_id, fmt, output) -> None:
    """Group comparison: chi-square with Cramér's V, Kruskal–Wallis or ANOVA with their effect sizes."""
    from . import survey as surveys

    for loaded in _surveys(project, survey_id):
        _emit([surveys.compare(loaded, ref, by) for ref in refs], fmt, output, f"{loaded.title}: by {by}")


@cli.command(name="indicators")
@click.argument("names", nargs=-1)
@click.option("--table", "table_id", default=None, help="Only this indicator table (its id).")
@click.option("--by-year", is_flag=True, help="Per year across regions instead of per region.")
@click.option("--values", "all_values", is_flag=True, help="Every region-year with derived values and bands.")
@report_options
@project_options
def indicators_command(project, names, table_id, by_year, all_values, fmt, output) -> None:
    """Indicator tables ([indicators] files): derived indicators, bands, change per region or per year."""
    from . import indicators as indicator_tables

    tables = [t for t in project.indicator_tables() if table_id in (None, t.id)]
    if not tables:
        raise UsageProblem("no indicator table: list schema files in [indicators] files of policoder.toml"
                           + (f" (or check --table {table_id})" if table_id else ""))
    for table in tables:
        if all_values:
            _emit(indicator_tables.values(table), fmt, output, table.title)
            continue
        chosen = names or tuple(table.derived) or tuple(table.columns)
        view = indicator_tables.by_year if by_year else indicator_tables.compare
        _emit([{"indicator": name, **row} for name in chosen for row in view(table, name)], fmt, output, table.title)


@cli.group(invoke_without_command=True)
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder (default: <outputs>/triangulation).")
@click.option("--format", "formats", default="html,md,xlsx", show_default=True,
              help="Comma-separated: html, md, xlsx (the CSV tables are always written).")
@click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Project folder (holds {CONFIG_NAME}).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Project database (default: <project>/policoder.db).")
@click.pass_context
def triangulate(context, output, formats, project_dir, db_path) -> None:
    """Triangulate policy texts, interviews, survey and indicators theme by theme (Farmer et al. 2006):
    the joint display, convergence matrix, completeness and stakeholder tables."""
    if context.invoked_subcommand is None:
        context.invoke(_triangulate_report, project_dir=project_dir or Path("."), db_path=db_path, output=output,
                       formats=formats)
    elif project_dir is not None or db_path is not None:
        raise UsageProblem(f"put --project/--db after the subcommand: policoder triangulate "
                           f"{context.invoked_subcommand} … --project DIR")


@project_options
def _triangulate_report(project, output, formats) -> None:
    chosen = tuple(f.strip() for f in formats.split(",") if f.strip())
    unknown = set(chosen) - {"html", "md", "xlsx"}
    if unknown:
        raise UsageProblem(f"--format: unknown {', '.join(sorted(unknown))}; choose from html, md, xlsx")
    folder = output or project.root / project.config.project.outputs / "triangulation"
    report = project.triangulation_report(folder, formats=chosen)
    err.print(f"wrote {len(report['files'])} files to {folder}: {report['themes']} themes, {report['cells']} "
              f"convergence cells, {report['confirmed']} confirmed by a researcher, {report['silences']} silences "
              f"suggested, {report['dissonances']} dissonances suggested", markup=False, highlight=False)


RESEARCHER_OPTION = click.option("--researcher", required=True, help="Who makes this judgement.")


@triangulate.command(name="label")
@click.argument("theme")
@click.argument("source_a", type=click.Choice(SOURCES))
@click.argument("source_b", type=click.Choice(SOURCES))
@click.argument("label", type=click.Choice(LABELS))
@RESEARCHER_OPTION
@click.option("--rationale", default="", help="Why: the meaning, prominence and examples compared.")
@project_options
def triangulate_label(project, theme, source_a, source_b, label, researcher, rationale) -> None:
    """Record a researcher's Farmer label for one theme and pair of data sets (kept across runs)."""
    project.record_convergence(theme, source_a, source_b, label, researcher, rationale)
    err.print(f"recorded {label} for {theme} ({source_a}↔{source_b}) by {researcher}", markup=False, highlight=False)


@triangulate.command(name="meta")
@click.argument("theme")
@RESEARCHER_OPTION
@click.option("--fit", type=click.Choice(FITS), default=None, help="How the strands cohere (Fetters et al. 2013).")
@click.option("--text", "text", default="", help="The meta-inference: the integrated conclusion for the theme.")
@project_options
def triangulate_meta(project, theme, researcher, fit, text) -> None:
    """Record a researcher's fit and meta-inference for a theme (the joint display's last columns)."""
    if not fit and not text:
        raise UsageProblem("give --fit, --text or both")
    project.record_meta_inference(theme, researcher, fit=fit or "", text=text)
    err.print(f"recorded the meta-inference for {theme} by {researcher}", markup=False, highlight=False)


@triangulate.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@RESEARCHER_OPTION
@project_options
def triangulate_import(project, file, researcher) -> None:
    """Read the final labels and rationales a researcher filled into an exported convergence.csv."""
    added = project.import_convergence(file, researcher)
    err.print(f"recorded {added} label(s) by {researcher} from {file}", markup=False, highlight=False)


@triangulate.command(name="member-check")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Packet folder (default: <outputs>/member_check).")
@click.option("--participant", "participants", multiple=True, help="Only these participants (e.g. E01).")
@click.option("--format", "formats", default="md,html,docx", show_default=True, help="Comma-separated: md, html, docx.")
@project_options
def triangulate_member_check(project, output, participants, formats) -> None:
    """Per-interviewee packets: their coded passages and the themes drawn from them, to send back."""
    chosen = tuple(f.strip() for f in formats.split(",") if f.strip())
    if set(chosen) - {"md", "html", "docx"}:
        raise UsageProblem("--format: choose from md, html, docx")
    folder = output or project.root / project.config.project.outputs / "member_check"
    written = project.member_check(folder, formats=chosen, participants=list(participants) or None)
    err.print(f"wrote {len(written)} packet files to {folder}", markup=False, highlight=False)


def main() -> None:
    cli(prog_name="policoder")
