"""The batch run's report: one self-contained HTML page, ``outputs/<run-id>/report.html``.

It reads only the files of the finished run folder, so an archived run can be reported without its
database. Every file but ``manifest.json`` may be missing; its section then says so in one line.
Charts are embedded as data URIs, so the page opens anywhere, offline, as a single file.
"""
from __future__ import annotations

import base64
import csv
import json
import re
from collections import Counter
from pathlib import Path

from .export import atomic_write
from .instrument_report import LEVEL_NAMES, document_list
from .triangulation_report import _environment

MAX_ROWS = 100  # a longer table is cut here; the whole of it stays in its file
TOTAL = "合计 total"
SECTIONS = {"run": "1. Run 运行", "corpus": "2. Corpus overview 语料概览", "instruments": "3. Policy instruments 政策工具",
            "topics": "4. Topics 主题", "coding": "5. Coding and agreement 编码与一致性", "survey": "6. Survey 问卷",
            "triangulation": "7. Triangulation 三角互证", "problems": "8. Problems 问题",
            "manifest": "9. Run manifest 运行清单"}
SHORT_HASH = 12  # hex digits of a hash shown, as git shortens: enough to tell files and runs apart
SEVERITIES = ("error", "warning")  # errors (files skipped) first
# levels from national down, in both spellings the run's files use ('national' and '国家级')
_LONG_DECIMAL = re.compile(r"-?\d+\.\d{4,}")
LEVEL_RANK = {name: rank for rank, pair in enumerate(LEVEL_NAMES.items()) for name in pair}


def write_run_report(folder: Path, out: Path | None = None) -> Path:
    """Write the report of the run in ``folder`` to ``out`` (default ``folder/report.html``); returns its path."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    context = {"sections": SECTIONS, "total": TOTAL, "manifest": manifest, **_corpus(folder), **_instruments(folder),
               **_topics(folder), **_coding(folder), **_survey(folder), **_triangulation(folder),
               **_manifest_tables(manifest)}
    html = _environment("html").get_template("run_report.html").render(**context)
    return atomic_write(out or folder / "report.html", lambda p: p.write_text(html, encoding="utf-8"))


# --- sections: each returns the template's values; a table is None when its file is absent ---------

def _corpus(folder: Path) -> dict:
    documents = read_csv(folder / "documents.csv")
    policy = None if documents is None else document_list(documents)  # policy documents still in the corpus
    listed = csv_table(folder, "instruments/instruments_documents.csv") or table(policy, "documents.csv")
    return {"kinds": Counter(d["kind"] for d in documents or ()),
            "levels_by_year": crosstab(policy, "层级", "年份", source="documents.csv", order=_in_order),
            "document_list": listed, "transcripts": table(_transcripts(folder, documents), "documents.csv")}


def _transcripts(folder: Path, documents: list[dict] | None) -> list[dict] | None:
    """The interviews: file, date, the participant's attributes from the metadata sheet, and turns."""
    interviews = [d for d in documents or () if d["kind"] == "transcript" and d["status"] != "missing"]
    if not interviews:
        return None
    turns = Counter((row["doc_id"], row["role"]) for row in read_csv(folder / "turns.csv") or ())
    # the sheet's attributes never overwrite the fixed columns, whatever they are called
    return [{**{"编号": d["id"], "file": d["path"], "date": d["date"]},
             **{k: v for k, v in json.loads(d["attributes"] or "{}").items() if k not in ("编号", "file", "date")},
             "participant turns": turns[d["id"], "participant"], "interviewer turns": turns[d["id"], "interviewer"]}
            for d in interviews]


def _instruments(folder: Path) -> dict:
    frequency = read_csv(folder / "instruments/instruments_frequency.csv")
    names = {row["instrument"]: f"{row['name']} {row['instrument']}" for row in frequency or ()}

    def by(dimension: str) -> dict | None:
        name = f"instruments/instruments_by_{dimension}.csv"
        rows = read_csv(folder / name)
        named = None if rows is None else [
            {**row, dimension: LEVEL_NAMES.get(row[dimension], row[dimension]),
             "primary_instrument": names.get(row["primary_instrument"], row["primary_instrument"])} for row in rows]
        # the file's own order: levels from national down, instruments in the scheme's order
        return crosstab(named, dimension, "primary_instrument", count="n", source=name)

    summary = read_json(folder / "instruments/instruments_summary.json") or {}
    return {"instrument_frequency": table(frequency, "instruments/instruments_frequency.csv"),
            "instrument_crosstabs": {"level": by("level"), "year": by("year")},
            "instrument_tests": summary.get("tests", {}), "instrument_notes": summary.get("notes", []),
            "instrument_charts": charts(folder, "instruments/instruments_*")}


def _topics(folder: Path) -> dict:
    terms = read_csv(folder / "topics/topics.csv")
    if terms and "term" in terms[0]:  # one row per topic × term: one row per topic, its terms in rank order
        by_topic: dict[str, list[dict]] = {}
        for row in terms:
            by_topic.setdefault(row["topic"], []).append(row)
        terms = [{"topic": topic, "label": rows[0].get("label", ""), "top terms 高频词": "、".join(r["term"] for r in rows)}
                 for topic, rows in by_topic.items()]
    return {"topic_table": table(terms, "topics/topics.csv"),
            "topic_summary": read_json(folder / "topics/topics_summary.json"),
            "topic_charts": charts(folder, "topics/*")}


def _coding(folder: Path) -> dict:
    agreement = first_existing(folder, "agreement.csv", "reliability/agreement.csv")
    return {"codes_by_coder": crosstab(read_csv(folder / "codings.csv"), "code", "coder", source="codings.csv",
                                       order=_in_order),
            "agreement": agreement and csv_table(folder, agreement)}


def _survey(folder: Path) -> dict:
    # survey_summary.csv where the run writes one; else the triangulation's descriptives per survey
    names = (["survey_summary.csv"] if (folder / "survey_summary.csv").exists()
             else [p.relative_to(folder).as_posix() for p in sorted(folder.glob("triangulation/survey_*.csv"))])
    # a run without surveys writes an empty survey_summary.csv
    return {"surveys": [t for t in (csv_table(folder, name) for name in names) if t["rows"]]}


def _triangulation(folder: Path) -> dict:
    name = first_existing(folder, "triangulation/joint_display.csv", "triangulation.csv")
    rows = read_csv(folder / name) if name else None
    # the quotes run to pages; triangulation.html prints them in full
    quotes = [column for column in (rows or [{}])[0] if column.endswith("_quotes")]
    shown = None if rows is None else [{k: v for k, v in row.items() if k not in quotes} for row in rows]
    return {"joint_display": table(shown, name), "quotes_left_out": quotes,
            "triangulation_page": first_existing(folder, "triangulation/triangulation.html")}


def _manifest_tables(manifest: dict) -> dict:
    problems: dict[str, list[dict]] = {}
    for problem in sorted(manifest.get("problems", ()), key=lambda p: _severity_rank(p["severity"])):
        problems.setdefault(problem["severity"], []).append({k: problem[k] for k in ("path", "code", "message")})
    stages = manifest.get("stages")
    if stages is not None:
        stages = [{**stage, "key": (stage.get("key") or "")[:SHORT_HASH]} for stage in stages]
    inputs = [{"path": i["path"], "sha256": i["sha256"][:SHORT_HASH], "bytes": i["bytes"]}
              for i in manifest.get("inputs", ())]
    return {"counts": table([manifest["counts"]], "manifest.json") if manifest.get("counts") else None,
            "problems": {severity: table(rows, "manifest.json") for severity, rows in problems.items()},
            "stages": table(stages, "manifest.json"),
            "timings": table(pairs(manifest.get("timings_seconds"), "stage", "seconds"), "manifest.json"),
            "inputs": table(inputs, "manifest.json"),
            "libraries": table(pairs(manifest.get("libraries"), "library", "version"), "manifest.json"),
            "config_json": json.dumps(manifest.get("config", {}), ensure_ascii=False, indent=2)}


# --- reading the run's files and shaping tables ------------------------------------------------------

def read_csv(path: Path) -> list[dict] | None:
    if not path.exists():
        return None
    with path.open(encoding="utf-8-sig", newline="") as f:  # the run writes CSV with a BOM for Excel
        return list(csv.DictReader(f))


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def first_existing(folder: Path, *names: str) -> str | None:
    return next((name for name in names if (folder / name).exists()), None)


def csv_table(folder: Path, name: str) -> dict | None:
    return table(read_csv(folder / name), name)


def table(rows: list[dict] | None, source: str) -> dict | None:
    """The template's table: column names, the first MAX_ROWS rows as text cells, each column's CSS class,
    and how many rows ``source`` holds beyond those shown; None for no file."""
    if rows is None:
        return None
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_text(row.get(column)) for column in columns] for row in rows[:MAX_ROWS]]
    return {"columns": columns, "rows": cells, "classes": [_column_class(column) for column in zip(*cells)],
            "more": len(rows) - len(cells), "source": source}


def crosstab(rows: list[dict] | None, down: str, across: str, *, source: str, count: str | None = None,
             order=None) -> dict | None:
    """Counts of ``down`` × ``across`` with a total row and column. ``count`` names a column that holds
    counts (a long table such as instruments_by_level.csv); else each row counts once. Values keep the
    order they first appear in, or are sorted by ``order``."""
    if not rows:
        return None
    cells: Counter = Counter()
    for row in rows:
        cells[row[down] or "—", row[across] or "—"] += int(row[count]) if count else 1

    def axis(i: int) -> list[str]:
        values = [key[i] for key in cells]
        return sorted(set(values), key=order) if order else list(dict.fromkeys(values))

    downs, acrosses = axis(0), axis(1)
    corner = f"{down} \\ {across}"
    out = [{corner: d, **{a: cells[d, a] for a in acrosses}, TOTAL: sum(cells[d, a] for a in acrosses)} for d in downs]
    out.append({corner: TOTAL, **{a: sum(cells[d, a] for d in downs) for a in acrosses}, TOTAL: sum(cells.values())})
    return table(out, source)


def pairs(mapping: dict | None, key: str, value: str) -> list[dict] | None:
    return None if mapping is None else [{key: k, value: v} for k, v in mapping.items()]


def charts(folder: Path, pattern: str) -> list[tuple[str, str]]:
    """(name, data URI) per chart matching ``pattern``: the SVG where the run drew one (sharp at any zoom;
    matplotlib draws its text as paths, so Chinese needs no font), else the PNG. As an <img> source an
    SVG cannot run scripts, which inlining its markup would allow."""
    found = []
    for stem in sorted({p.with_suffix("") for suffix in (".svg", ".png") for p in folder.glob(pattern + suffix)}):
        svg = stem.with_suffix(".svg")
        path, mime = (svg, "image/svg+xml") if svg.exists() else (stem.with_suffix(".png"), "image/png")
        found.append((stem.name, f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"))
    return found


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):  # a stage's counts; what a count holds in turn is shown as JSON
        return " · ".join(f"{k} {v if isinstance(v, (str, int, float)) else json.dumps(v, ensure_ascii=False)}"
                          for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(map(str, value))
    text = str(value)
    if _LONG_DECIMAL.fullmatch(text):  # a statistic shown to three places (a tiny p, in e notation); the CSV
        number = float(text)           # keeps every digit
        return f"{number:.3f}" if abs(number) >= 0.001 else f"{number:.2e}"
    return text


def _column_class(values: tuple[str, ...]) -> str:
    """'num' (right-aligned) for numbers; 'long' for prose, kept wide enough that Chinese, which may break
    after any character, is not squeezed into one character per line."""
    if all(map(_is_number, filter(None, values))):
        return "num"
    return "long" if any(len(value) > 10 for value in values) else ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _in_order(value: str) -> tuple:
    """Levels from national down, then anything else (years, codes, coders) sorted."""
    return LEVEL_RANK.get(value, len(LEVEL_RANK)), value


def _severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
