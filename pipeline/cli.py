"""The `policoder` command: argument parsing, printing and exit codes only.

Exit status: 0 = every input processed, 1 = the batch finished but some inputs were skipped,
2 = usage or configuration error.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import export
from .config import CONFIG_NAME, KIND_CHOICES, UNIT_CHOICES
from .errors import ConfigError, PolicoderError
from .project import IngestReport, init_project, open_project

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


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
        try:
            return command(project, **kwargs)
        except PolicoderError as error:
            if isinstance(error, ConfigError):
                raise UsageProblem(str(error)) from None
            err.print(f"policoder: {error}", markup=False, highlight=False)
            sys.exit(1)
        finally:
            project.close()

    return wrapper


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
    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.description}"), console=err, transient=True,
                        disable=not err.is_terminal)
    task = progress.add_task("", total=None)

    def advance(path: str, total: int) -> None:
        progress.update(task, total=total, advance=1, description=path)

    return progress, advance


def _report(report: IngestReport) -> None:
    for problem, severity in report.problems:
        err.print(f"{'warning' if severity == 'warning' else 'skipped'}: {problem}", markup=False, highlight=False)
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


@cli.command()
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes.")
@click.option("--force", is_flag=True, help="Re-read every file even when unchanged.")
@project_options
def run(project, workers, force) -> None:
    """Run the pipeline on the configured corpus and write tables and a manifest to outputs/."""
    progress, advance = _progress_bar("ingest")
    with progress:
        result = project.run(workers=workers, force=force, progress=advance)
    _report(result.ingest)
    counts = result.manifest["counts"]
    out.print(f"run {result.run_id}: {counts['documents']} documents, {counts['clauses']} clauses, "
              f"{counts['turns']} turns → {result.folder}", markup=False, highlight=False)
    sys.exit(result.ingest.exit_status)


@cli.command()
@project_options
def docs(project) -> None:
    """List the project's documents."""
    table = Table(show_header=True, header_style="bold")
    for column in ("id", "kind", "level", "date", "doc_number", "title", "path", "status"):
        table.add_column(column)
    for row in project.rows("documents"):
        table.add_row(*("" if row[c] is None else str(row[c]) for c in
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
    """Export TABLE (documents, clauses, turns, problems, codings) as CSV, JSON or XLSX."""
    if output is None:
        if fmt == "xlsx":
            raise UsageProblem("xlsx needs an output file: add -o FILE.xlsx")
        click.echo(export.dumps(project.rows(table, with_text=with_text), fmt))
        return
    project.export(table, fmt, output, with_text=with_text)
    err.print(f"wrote {output}", markup=False, highlight=False)


def main() -> None:
    cli(prog_name="policoder")
