"""Ingestion: a file (plus its sidecar row) → a ``Document`` record.

Readers are chosen by suffix; each turns a file into canonical text or raises ``InputError``.
Nothing here touches the database: ``pipeline.project`` decides what to (re)ingest and stores it.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import datetime
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import InputError
from ..language import detect_language
from ..metadata import detect_metadata
from ..records import KINDS, LEVELS, Clause, Document, PageSpan, PolicyMetadata, Problem, SourceText, Turn
from ..segment import segment_policy
from ..turns import split_turns, looks_like_transcript
from . import docx, html, pdf, text

READERS: dict[str, Callable[..., SourceText]] = {
    ".pdf": pdf.read,
    ".docx": docx.read,
    ".txt": text.read,
    ".md": text.read,
    ".markdown": text.read,
    ".html": html.read,
    ".htm": html.read,
}
SIDECAR_NAMES = ("metadata.csv", "metadata.xlsx")
# bump when reading or cleaning changes, so unchanged files are read again
INGEST_VERSION = "2"
# bump when segmenting changes, so every document is segmented again (from its stored text)
SEGMENT_VERSION = "1"
METADATA_FIELDS = tuple(f.name for f in dataclasses.fields(PolicyMetadata) if not f.name.startswith("level_"))
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _skipped_name(path: Path) -> bool:
    # sidecars and the corpus's own README describe the corpus; they are not part of it
    return path.name.startswith((".", "~$")) or path.name in SIDECAR_NAMES or path.stem.upper() == "README"


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Files under the given files/folders (recursive, sorted), and problems for the rest."""
    found: list[Path] = []
    problems: list[Problem] = []
    for given in map(Path, paths):
        if given.is_dir():
            candidates = [p for p in sorted(given.rglob("*")) if p.is_file()
                          and not any(part.startswith(".") for part in p.relative_to(given).parts)
                          and not _skipped_name(p)]
        elif given.is_file():
            candidates = [given]
        else:
            problems.append(Problem(str(given), "file-missing", "no such file or folder"))
            continue
        for path in candidates:
            if path.suffix.lower() in READERS:
                found.append(path)
            else:
                problems.append(Problem(str(path), "unsupported-type",
                                        f"unsupported file type {path.suffix or '(none)'!r}; "
                                        f"supported: {', '.join(sorted(READERS))}"))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, problems


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):  # Excel stores dates as datetimes: keep the date
        return value.date().isoformat()
    return str(value).strip()


def _sidecar_rows(path: Path) -> list[dict[str, str]]:
    if path.suffix == ".xlsx":
        import openpyxl

        try:
            sheet = openpyxl.load_workbook(path, read_only=True, data_only=True).active
            values = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
            raise InputError(path, f"metadata sheet is not a readable .xlsx ({type(error).__name__})",
                             code="sidecar-invalid") from None
        header, body = (values[0], values[1:]) if values else ([], [])
        return [dict(zip(header, row)) for row in body if any(row)]
    content, _ = text.decode(path.read_bytes(), path)  # scholars' CSVs are often GBK from Excel
    return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(io.StringIO(content))]


def load_sidecars(files: Iterable[Path], *, read: list[Path] | None = None, within: Iterable[Path] = ()
                  ) -> tuple[dict[Path, dict[str, str]], list[Problem]]:
    """Sidecar row for each file: from the nearest folder above it that has a metadata sheet, looking
    no higher than the folders ``within`` (the project and its corpus folders; all the way up when
    empty), so that a sheet elsewhere on the machine never applies; every sheet opened is appended
    to ``read`` (for the run's manifest).

    The ``file`` column holds a name or a path relative to the sheet's folder.  A sheet that
    cannot be read is a problem of its own and is skipped; so is a row with bad fields (every
    bad field named) or naming a file that is not there.  Every other row and sheet applies.
    """
    sheets: dict[Path, _Sheet] = {}
    result: dict[Path, dict[str, str]] = {}
    problems: list[Problem] = []
    tops = [Path(top).resolve() for top in within]

    @functools.cache
    def inside(folder: Path) -> bool:
        here = folder.resolve()
        return not tops or any(here == top or top in here.parents for top in tops)

    for file in files:
        for folder in file.parents:
            if not inside(folder):
                break  # above the project: not the project's sheet
            if folder not in sheets:
                sheets[folder] = _Sheet(None, {}, {})
                for name in SIDECAR_NAMES:
                    if (folder / name).is_file():
                        if read is not None:
                            read.append(folder / name)
                        try:
                            sheets[folder] = _read_sidecar(folder / name, problems)
                        except InputError as error:
                            problems.append(Problem(error.path, error.code, error.message))
                        break
            sheet = sheets[folder]
            if not sheet.rows:  # no sheet here (most folders): look further up
                continue
            key = file.relative_to(folder).as_posix()
            name = key if key in sheet.rows else file.name if file.name in sheet.rows else None
            if name is not None:
                result[file] = sheet.rows[name]
                sheet.used.add(name)
                break
    for folder, sheet in sheets.items():
        unused = [name for name in sheet.rows if name not in sheet.used]
        present = _names_under(folder) if unused else set()  # the files not ingested this time count too
        problems += [Problem(str(sheet.path), "sidecar-unmatched",
                             f"row {sheet.numbers[name]}: file {name!r} is not in the corpus; row ignored")
                     for name in unused if name not in present]
    return result, problems


@dataclasses.dataclass
class _Sheet:
    path: Path | None
    rows: dict[str, dict[str, str]]  # file as written → its fields
    numbers: dict[str, int]  # file as written → row number in the sheet
    used: set[str] = dataclasses.field(default_factory=set)


def _names_under(folder: Path) -> set[str]:
    """Paths (relative to ``folder``) and names of the files below it: what a sheet's row may name."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {p.relative_to(folder).as_posix() for p in files} | {p.name for p in files}


def _read_sidecar(path: Path, problems: list[Problem]) -> _Sheet:
    """The sheet's valid rows; a problem for each row with bad fields (appended to ``problems``)."""
    rows = _sidecar_rows(path)
    if rows and "file" not in rows[0]:
        raise InputError(path, "metadata sheet has no 'file' column", code="sidecar-invalid")
    sheet = _Sheet(path, {}, {})
    for number, row in enumerate(rows, start=2):
        file = row["file"].replace("\\", "/")
        bad = _bad_fields(row)
        if bad:
            problems.append(Problem(str(path), "sidecar-invalid", f"row {number} ({file}): {'; '.join(bad)}; row ignored"))
            continue
        sheet.rows[file] = {k: v for k, v in row.items() if k != "file" and v}
        sheet.numbers[file] = number
    return sheet


def _bad_fields(row: dict[str, str]) -> list[str]:
    kind, level, date = row.get("kind", ""), row.get("level", ""), row.get("date", "")
    bad = []
    if kind and kind not in KINDS:
        bad.append(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if level and level not in LEVELS:
        bad.append(f"level {level!r} is not one of {', '.join(LEVELS)}")
    if date and not _is_date(date):
        bad.append(f"date {date!r} is not a date (yyyy-mm-dd)")
    return bad


def _is_date(value: str) -> bool:
    try:
        return bool(_ISO_DATE.match(value)) and bool(datetime.date.fromisoformat(value))
    except ValueError:
        return False


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_source(path: Path, *, pdf_engine: str = "pdfium") -> SourceText:
    """Canonical text of one file, or InputError with a stable code."""
    try:
        if path.stat().st_size == 0:
            raise InputError(path, "file is empty (0 bytes)", code="file-empty")
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            raise InputError(path, f"unsupported file type {path.suffix!r}", code="unsupported-type")
        return reader(path, engine=pdf_engine) if reader is pdf.read else reader(path)
    except FileNotFoundError:
        raise InputError(path, "file disappeared before it could be read", code="file-missing") from None
    except PermissionError:
        raise InputError(path, "file cannot be read (permission denied)", code="file-unreadable") from None


def _override(metadata: PolicyMetadata, attributes: dict[str, str]) -> PolicyMetadata:
    given = {k: attributes[k] for k in METADATA_FIELDS if attributes.get(k)}
    if not given:
        return metadata
    if "level" in given:  # the scholar decided the level: it is no longer ambiguous
        given |= {"level_evidence": "metadata sheet", "level_ambiguous": False}
    return dataclasses.replace(metadata, **given)


def segment_text(path: str | Path, kind: str, text: str, pages: tuple[PageSpan, ...], unit: str
                 ) -> tuple[tuple[Clause, ...], tuple[Turn, ...]]:
    """A document's coding units: numbered clauses of a policy text, speaker turns of a transcript."""
    if kind == "policy":
        return segment_policy(text, pages=pages, unit=unit), ()
    turns = split_turns(text)
    if not turns:
        raise InputError(path, "no speaker turns found (expected labels such as 问：/答： or Q:/A:)",
                         code="transcript-no-turns")
    return (), turns


def segment_key(content_hash: str, kind: str, unit: str) -> str:
    """What a document's units depend on: its text (by the file's hash), its kind and the unit setting."""
    return hashlib.sha256(json.dumps([content_hash, kind, unit, SEGMENT_VERSION]).encode()).hexdigest()


def read_document(path: str | Path, *, display_path: str | None = None, kind: str = "auto", unit: str = "item",
                  pdf_engine: str = "pdfium", attributes: dict[str, str] | None = None,
                  content_hash: str | None = None) -> Document:
    """Read, clean, describe and segment one file."""
    path = Path(path)
    attributes = dict(attributes or {})
    source = read_source(path, pdf_engine=pdf_engine)
    kind = attributes.get("kind") or kind
    if kind == "auto":
        kind = "transcript" if looks_like_transcript(source.text) else "policy"
    if kind == "policy":
        metadata = _override(detect_metadata(source.text, running_headers=source.running_headers), attributes)
    else:
        metadata = _override(PolicyMetadata(), attributes)
    clauses, turns = segment_text(path, kind, source.text, source.pages, unit)
    extra = {k: v for k, v in attributes.items() if k not in METADATA_FIELDS and k != "kind"}
    return Document(
        path=display_path or str(path),
        content_hash=content_hash or file_hash(path),
        kind=kind,
        source=source,
        metadata=metadata,
        language=detect_language(source.text),
        clauses=clauses,
        turns=turns,
        attributes=extra,
    )
