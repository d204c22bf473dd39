"""The tables and charts of a policy-tool study, from one row per coded unit.

Input rows (``Project.instrument_rows``) carry ``doc_id, level, year, issuer, instruments`` (the
unit's labels), ``primary_instrument`` and ``subtools`` (label → the cue group that speaks for it).
Outputs, each a list of plain rows:

- ``frequency_table``: instruments and their sub-tools, n, % within the instrument, % of all
  instrument codings (a unit with two instruments counts once under each, so the total is the number
  of codings, as in multi-label policy-tool tables), and ``primary_n``, units by primary instrument;
  ``none`` has a row of its own with its primary_n only, so that each column adds up to its total;
- ``crosstab``: primary instrument (column ``primary_instrument``, every label of the scheme; one
  no unit has as primary is kept with n = 0 and left out of the test, named in ``left_out``) × a
  second dimension (level, year …) with row and column %, and
  Pearson's χ² (without Yates' continuity correction, also on a 2 × 2 table) with Cramér's V =
  √(χ² / (n · (min(r, c) − 1))) of that χ² (scipy); ``none`` is a column like the others, so the test compares
  whole distributions of units;
- ``document_shares``: per-document normalised shares (units per primary instrument ÷ units of the
  document), averaged per group — long documents do not outvote short ones;
- ``document_list``: 编号, 名称, 文号, 发文机关, 年份, 层级, the first table of every such paper.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from itertools import groupby
from operator import itemgetter
from pathlib import Path

from . import export
from .charts import Charts, as_written
from .instruments import NONE
from .records import LEVELS
from .schemes import Scheme

PEARSON = "Pearson χ² (no continuity correction)"
UNKNOWN = "(unknown)"  # the group of clauses whose document has no level or year
LEVEL_NAMES = {"national": "国家级", "provincial": "省级", "municipal": "市级", "county": "县级"}


# the fields of an instrument unit that its row carries, and those Project.instrument_labels adds after its text
UNIT_FIELDS = ("doc_id", "unit_id", "document", "level", "year", "issuer", "text")
LABEL_FIELDS = ("instruments", "primary_instrument", "instrument_source", "rule_instruments", "rule_primary",
                "instrument_cues", "subtools")


def rows_of(units: list[dict], labels: dict[str, dict]) -> list[dict]:
    """``Project.instrument_rows`` from the units and their ``Project.instrument_labels``."""
    rows, of_document = [], {doc_id: iter(entry["units"]) for doc_id, entry in labels.items()}
    for unit in units:
        made = next(of_document[str(unit["doc_id"])])
        rows.append({"doc_id": unit["doc_id"], "unit_id": unit["unit_id"], "document": unit["document"],
                     "level": unit["level"], "addressed_levels": made["addressed_levels"], "year": unit["year"],
                     "issuer": unit["issuer"], "text": unit["text"], **{k: made[k] for k in LABEL_FIELDS}})
    return rows


def unit_lines(rows: list[dict], labels: dict[str, dict] | None = None) -> tuple[list[str], list[str]]:
    """The header and the lines (per document) of instruments_units.csv: every row but its sub-tools.
    With ``labels``, the ``Project.instrument_labels`` the rows were made from (``rows_of``), each
    document's lines are kept in its entry (``csv``): an entry reused from an earlier run, as its
    fingerprint (all its rows are made of) is unchanged, brings its lines along, and only the other
    documents' rows are encoded (a batch run after one document changed)."""
    header = [key for key in rows[0] if key != "subtools"] if rows else []
    lines = []
    for doc_id, of_document in groupby(rows, key=itemgetter("doc_id")):
        entry = labels[str(doc_id)] if labels is not None else {}
        if "csv" not in entry:
            entry["csv"] = export.csv_lines([{k: v for k, v in row.items() if k != "subtools"} for row in of_document],
                                            header)
        lines.append(entry["csv"])
    return header, lines


def frequency_table(rows: list[dict], scheme: Scheme) -> list[dict]:
    total, carrying_of = 0, defaultdict(list)  # label → the rows carrying it, in one pass over the rows
    for row in rows:
        labels = set(row["instruments"]) - {NONE}
        total += len(labels)
        for label in labels:
            carrying_of[label].append(row)
    primary = Counter(row["primary_instrument"] for row in rows)
    table = []
    names = {label.id: label.name for label in scheme.labels}
    for label in scheme.label_ids:
        if label == NONE:  # no instrument coding, but a primary label: its row makes primary_n add up to the total
            table.append({"instrument": label, "name": names[label], "subtool": "", "n": "", "pct_within_instrument": "",
                          "pct_of_total": "", "primary_n": primary[label]})
            continue
        carrying = carrying_of.get(label, [])
        table.append({"instrument": label, "name": names[label], "subtool": "", "n": len(carrying),
                      "pct_within_instrument": 100.0 if carrying else 0.0,
                      "pct_of_total": _pct(len(carrying), total), "primary_n": primary[label]})
        subtools = Counter(row["subtools"].get(label, "(no cue)") for row in carrying)
        for subtool, n in sorted(subtools.items(), key=lambda item: (-item[1], item[0])):
            table.append({"instrument": label, "name": names[label], "subtool": subtool, "n": n,
                          "pct_within_instrument": _pct(n, len(carrying)), "pct_of_total": _pct(n, total),
                          "primary_n": ""})
    table.append({"instrument": "total", "name": "合计", "subtool": "", "n": total, "pct_within_instrument": "",
                  "pct_of_total": 100.0 if total else 0.0, "primary_n": len(rows)})
    return table


def crosstab(rows: list[dict], by: str, scheme: Scheme) -> tuple[list[dict], dict]:
    """Primary instrument (columns) × ``by`` (rows): counts with row and column shares, and the test."""
    from scipy.stats import chi2_contingency
    from scipy.stats.contingency import association

    columns = list(scheme.label_ids)  # every label, as the frequency table lists them
    groups = _ordered({row[by] or UNKNOWN for row in rows}, by)
    counts = {group: Counter() for group in groups}
    for row in rows:
        counts[row[by] or UNKNOWN][row["primary_instrument"]] += 1
    column_totals = {label: sum(counts[group][label] for group in groups) for label in columns}
    table = []
    for group in groups:
        row_total = sum(counts[group].values())
        for label in columns:
            n = counts[group][label]
            table.append({by: group, "primary_instrument": label, "n": n, "row_pct": _pct(n, row_total),
                          "col_pct": _pct(n, column_totals[label])})
    matrix = [[counts[group][label] for label in columns] for group in groups]
    # clauses whose document has no level (or year) are no category of it: shown, not tested
    unknown = sum(counts[UNKNOWN].values()) if UNKNOWN in counts else 0
    known = [r for group, r in zip(groups, matrix) if group != UNKNOWN]
    # a label no unit has as primary is an empty column: kept in the table, left out of χ² (its expected counts are 0)
    used = [index for index, label in enumerate(columns) if sum(r[index] for r in known)]
    left_out = [label for index, label in enumerate(columns) if index not in used]
    test = {"dimension": by, "test": PEARSON, "rows": groups, "columns": columns, "matrix": matrix,
            "n": len(rows) - unknown, "left_out": left_out}
    notes = [f"{unknown} clauses whose document has no {by} are left out of χ²"] if unknown else []
    usable = [[r[index] for index in used] for r in known if sum(r)]
    if len(usable) >= 2 and len(used) >= 2:
        # no Yates correction on a 2 × 2 table: policy-tool papers report Pearson's χ², and V is defined from it
        result = chi2_contingency(usable, correction=False)
        expected = result.expected_freq
        test.update(chi2=round(float(result.statistic), 4), dof=int(result.dof), p=float(result.pvalue),
                    cramers_v=round(float(association(usable, method="cramer")), 4),
                    cells_expected_below_5=int((expected < 5).sum()), cells=int(expected.size))
        if left_out:
            notes.append(f"left out of χ² as no unit has them as primary: {', '.join(left_out)}")
    else:
        test.update(chi2=None, dof=None, p=None, cramers_v=None)
        notes.append("χ² needs at least two groups and two instruments with units")
    if notes:
        test["note"] = "; ".join(notes)
    return table, test


def test_rows(tests: dict[str, dict]) -> list[dict]:
    """The crosstabs' tests as a table (one row per dimension), for the workbook's tests sheet."""
    return [{"dimension": by, "test": test["test"], "n": test["n"], "chi2": test["chi2"], "dof": test["dof"],
             "p": test["p"], "cramers_v": test["cramers_v"],
             "cells_expected_below_5": test.get("cells_expected_below_5", ""), "cells": test.get("cells", ""),
             "warning": low_expected_warning(test), "note": test.get("note", "")} for by, test in tests.items()]


def low_expected_warning(test: dict) -> str:
    """The run report's caution when some expected counts are below 5 (empty when none is)."""
    low = test.get("cells_expected_below_5")
    return f"{low} of {test['cells']} cells have an expected count below 5, so read p with care" if low else ""


def document_shares(rows: list[dict], scheme: Scheme, by: str = "level") -> list[dict]:
    """Mean over documents of (units with primary instrument ÷ units in the document), per group."""
    per_document: dict[int, Counter] = defaultdict(Counter)
    group_of = {}
    for row in rows:
        per_document[row["doc_id"]][row["primary_instrument"]] += 1
        group_of[row["doc_id"]] = row[by] or UNKNOWN
    table = []
    for group in _ordered(set(group_of.values()), by):
        documents = [doc for doc, g in group_of.items() if g == group]
        for label in scheme.label_ids:
            shares = [per_document[doc][label] / sum(per_document[doc].values()) for doc in documents]
            table.append({by: group, "primary_instrument": label, "documents": len(documents),
                          "mean_share_pct": round(100 * sum(shares) / len(shares), 2)})
    return table


def document_list(documents: list[dict]) -> list[dict]:
    return [{"编号": d["id"], "名称": d["title"] or "", "文号": d["doc_number"] or "", "发文机关": d["issuer"] or "",
             "年份": (d["date"] or "")[:4], "层级": LEVEL_NAMES.get(d["level"] or "", d["level"] or "")}
            for d in documents if d["kind"] == "policy" and d["status"] != "missing"]


def draw_charts(tests: dict[str, dict], scheme: Scheme, folder: Path, charts: Charts, *,
                font_path: str | None = None) -> list[Path]:
    """Stacked bars of instruments by level and by year, and a level × instrument heatmap, as PNG and
    SVG, from the crosstabs' ``tests`` by level and by year; one whose numbers are unchanged is reused
    from ``charts``' last folder instead of drawn, and the others are drawn beside the caller's work
    (``charts.wait`` waits for them)."""
    from .stats import find_cjk_font

    font_file = find_cjk_font(font_path)
    names = {label.id: f"{label.name}" for label in scheme.labels}
    written = []
    for by, title in (("level", "政策工具 × 层级"), ("year", "政策工具 × 年份")):
        test = tests[by]
        if not test["rows"]:
            continue
        drawn_from = [title, test["rows"], test["columns"], test["matrix"], names, font_file]
        files = [f"instruments_by_{by}{suffix}" for suffix in (".png", ".svg")]
        if by == "level":
            files += [f"instruments_level_heatmap{suffix}" for suffix in (".png", ".svg")]
        if not charts.reuse(files, *drawn_from):
            charts.draw(_draw_crosstab, by, title, test, names, font_file, folder)
        written += [folder / name for name in files]
    return written


@as_written
def _draw_crosstab(by: str, title: str, test: dict, names: dict[str, str], font_file: str, folder: Path) -> None:
    """The stacked bars of one crosstab (and for levels, its heatmap)."""
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    font = FontProperties(fname=font_file)
    figure = Figure(figsize=(max(7, 0.8 * len(test["rows"]) + 4), 4.5), dpi=150)
    axes = figure.add_subplot()
    bottoms = [0] * len(test["rows"])
    labels = [LEVEL_NAMES.get(group, group) for group in test["rows"]]
    for index, label in enumerate(test["columns"]):
        heights = [test["matrix"][r][index] for r in range(len(test["rows"]))]
        axes.bar(labels, heights, bottom=bottoms, label=names[label])
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    axes.set_title(title, fontproperties=font)
    axes.set_ylabel("单元数", fontproperties=font)
    for tick in axes.get_xticklabels():
        tick.set_fontproperties(font)
    axes.legend(prop=font, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.tight_layout()
    for suffix in (".png", ".svg"):
        figure.savefig(folder / f"instruments_by_{by}{suffix}")
    if by == "level":
        heat = Figure(figsize=(7, 4), dpi=150)
        axes = heat.add_subplot()
        image = axes.imshow(test["matrix"], cmap="Blues", aspect="auto")
        # instrument names run long (约束型（强制型）): slanted, they do not overlap
        axes.set_xticks(range(len(test["columns"])), [names[c] for c in test["columns"]], fontproperties=font,
                        rotation=30, ha="right")
        axes.set_yticks(range(len(labels)), labels, fontproperties=font)
        for r, values in enumerate(test["matrix"]):
            for c, value in enumerate(values):
                axes.text(c, r, str(value), ha="center", va="center", fontsize=8)
        heat.colorbar(image)
        axes.set_title(title, fontproperties=font)
        heat.tight_layout()
        for suffix in (".png", ".svg"):
            heat.savefig(folder / f"instruments_level_heatmap{suffix}")


def _pct(n: float, total: float) -> float:
    return round(100 * n / total, 2) if total else 0.0


def _ordered(groups: set[str], by: str) -> list[str]:
    if by == "level":
        return [level for level in (*LEVELS, UNKNOWN) if level in groups] + sorted(groups - {*LEVELS, UNKNOWN})
    return sorted(groups)
