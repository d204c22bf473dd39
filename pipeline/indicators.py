"""Indicator tables: region × year series (statistical yearbooks) from a schema YAML file and its data file
(CSV or XLSX), with derived indicators and early-warning bands.

    table: provincial_yearbook
    title: 分省职业教育与经济指标
    data: yearbook.csv                 # relative to this file; `sheet:` picks a sheet of an XLSX
    region: region                     # the region column
    year: year                         # the year column (whole numbers)
    columns:                           # the data columns used
      vocational_graduates: {label: 中高职毕业生数, unit: 人}
      gdp: {label: 地区生产总值, unit: 亿元}
    derived:
      coordination_index:
        label: 规模协调指数
        formula: vocational_graduates / gdp   # pandas DataFrame.eval over the columns and earlier derived ones
        unit: 人/亿元
        direction: higher              # higher values support the theme (lower: the reverse)
        theme: regional
        bands:                         # the first band whose `below` the value is under; the last may be open
          - {band: red, below: 3.0}
          - {band: yellow, below: 5.0}
          - {band: green}

Columns take the same keys as derived indicators except ``formula``.  An empty cell is missing; a
formula that cannot give a finite value (division by zero) gives a missing value.  "Latest" is the last
year in which any region has a value of the indicator; a region's change runs from its first to its
last value.  Mistakes in the schema (with the line) and the data (with column and row) are collected and
raised as one ``InputError``.
"""
from __future__ import annotations

import hashlib
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PolicoderError
from .survey import collect, data_file, entries, identifier, number, read_data, refuse, rounded, schema_root
from .yamlfile import Node, known, text

SCHEMA = "indicators-schema"
INVALID = "indicators-invalid"
DIRECTIONS = {"higher": 1, "lower": -1}
KEYS = {"label", "unit", "theme", "direction", "bands"}
RESERVED = ("region", "year")  # keys of every row, so no indicator may take these names


@dataclass(frozen=True)
class Band:
    name: str
    below: float | None  # None: no upper bound (only the last band)


@dataclass(frozen=True)
class Indicator:
    name: str
    label: str
    line: int
    unit: str = ""
    formula: str = ""  # derived indicators only
    theme: str = ""
    direction: int = 1  # +1: higher values support the theme, −1: lower ones do
    bands: tuple[Band, ...] = ()

    def band(self, value: float | None) -> str | None:
        if value is None:
            return None
        return next((b.name for b in self.bands if b.below is None or value < b.below), None)


@dataclass
class IndicatorTable:
    id: str
    title: str
    path: Path
    data_path: Path
    region: str  # the region column of the data file
    year: str  # the year column
    columns: dict[str, Indicator]
    derived: dict[str, Indicator]
    rows: list[dict]  # per region and year, data order: region, year, each column and derived value (None: missing)
    digest: str  # sha256 of the schema and the data file

    def indicator(self, name: str) -> Indicator:
        found = self.columns.get(name) or self.derived.get(name)
        if found is None:
            raise PolicoderError(f"indicator table {self.id} has no indicator {name!r}; it has "
                                 f"{', '.join([*self.columns, *self.derived])}", code="indicator-unknown")
        return found


def load_indicators(path: str | Path) -> IndicatorTable:
    """Read and check an indicator table's schema and data; all mistakes are raised as one ``InputError``."""
    path = Path(path)
    root = schema_root(path, SCHEMA)
    problems: list[str] = []
    collect(problems, known, root, {"table", "title", "data", "sheet", "region", "year", "columns", "derived"})
    ident = collect(problems, identifier, root, "table")
    title = collect(problems, text, root, "title", "")
    data_path = collect(problems, data_file, root, path)
    region, year = collect(problems, text, root, "region"), collect(problems, text, root, "year")
    columns = entries(root, "columns", lambda node, name: _indicator(node, name, None), problems)
    order = list(root.value.get("derived") or {}) if isinstance(root.value, dict) else []

    def derived_indicator(node: Node, name: str) -> Indicator:  # its formula may use the columns and those above
        return _indicator(node, name, [*columns, *order[:order.index(name)]])

    derived = entries(root, "derived", derived_indicator, problems, needed=False)
    problems += [f"line {root[key][name].line}: {name!r} is a reserved name; call it something else"
                 for key, group in (("columns", columns), ("derived", derived)) for name in group if name in RESERVED]
    problems += [f"line {root['derived'][name].line}: derived {name!r} has the name of a column" for name in derived
                 if name in columns]
    refuse(path, problems, SCHEMA)

    header, cells = read_data(data_path, root, problems)
    problems += [f"column {column!r} is not in the data file" for column in (region, year, *columns)
                 if column not in header]
    rows = _rows(cells, region, year, [c for c in columns if c in header], problems)
    refuse(data_path, problems, INVALID)
    frame = pd.DataFrame([{name: np.nan if row[name] is None else row[name] for name in columns} for row in rows],
                         columns=list(columns), dtype=float)
    for name, indicator in derived.items():
        try:
            frame[name] = _evaluate(frame, indicator)
        except ValueError as error:
            refuse(path, [f"line {indicator.line}: {error}"], SCHEMA)
        for row, value in zip(rows, frame[name]):
            row[name] = float(value) if math.isfinite(value) else None
    digest = hashlib.sha256(path.read_bytes() + data_path.read_bytes()).hexdigest()
    return IndicatorTable(id=ident, title=title, path=path, data_path=data_path, region=region, year=year,
                          columns=columns, derived=derived, rows=rows, digest=digest)


def _indicator(node: Node, name: str, known_names: list[str] | None) -> Indicator:
    """A column (``known_names`` None) or a derived indicator, whose formula may use ``known_names``."""
    known(node, KEYS if known_names is None else KEYS | {"formula"})
    direction = text(node, "direction", "higher")
    if direction not in DIRECTIONS:
        raise node["direction"].error(f"{name}: direction must be higher or lower, got {direction!r}")
    indicator = Indicator(name=name, label=text(node, "label", name), line=node.line, unit=text(node, "unit", ""),
                          formula=text(node, "formula") if known_names is not None else "",
                          theme=text(node, "theme", ""), direction=DIRECTIONS[direction], bands=_bands(node, name))
    if known_names is not None:
        try:  # unknown names and bad syntax show before any data is read
            _evaluate(pd.DataFrame(columns=known_names, dtype=float), indicator)
        except ValueError as error:
            raise node["formula"].error(str(error)) from None
    return indicator


def _evaluate(frame: pd.DataFrame, indicator: Indicator) -> pd.Series:
    """The formula over ``frame`` with pandas' own expression evaluator (no Python ``eval``); ValueError
    naming the formula when it cannot be computed."""
    formula = indicator.formula
    try:
        if "@" in formula:  # '@' would reach into policoder's own variables
            raise ValueError("'@' is not allowed")
        with np.errstate(divide="ignore", invalid="ignore"):
            result = frame.eval(formula)
    except Exception as error:  # pandas raises many kinds for a formula it cannot read
        raise ValueError(f"derived {indicator.name!r}: formula {formula!r} fails: "
                         f"{' '.join(str(error).split())}") from None
    if not isinstance(result, pd.Series) or not pd.api.types.is_numeric_dtype(result):
        raise ValueError(f"derived {indicator.name!r}: formula {formula!r} must compute one number per row "
                         f"from the columns")
    return result.astype(float)


def _bands(node: Node, name: str) -> tuple[Band, ...]:
    child = node.get("bands")
    if child is None:
        return ()
    if not isinstance(child.value, list) or not child.value:
        raise child.error(f"{name}: bands must be a list of {{band: name, below: number}}")
    bands = []
    for position, entry in enumerate(child.children, start=1):
        known(entry, {"band", "below"})
        below = entry.get("below")
        last = position == len(child.children)
        if below is None and not last:
            raise entry.error(f"{name}: only the last band may have no 'below'")
        if below is not None and (isinstance(below.value, bool) or not isinstance(below.value, (int, float))):
            raise below.error(f"{name}: below must be a number")
        if below is not None and bands and below.value <= bands[-1].below:
            raise below.error(f"{name}: bands must be in increasing order of 'below'")
        bands.append(Band(text(entry, "band"), float(below.value) if below is not None else None))
    if len({b.name for b in bands}) < len(bands):
        raise child.error(f"{name}: band names must differ")
    return tuple(bands)


def _rows(cells, region: str, year: str, columns: list[str], problems: list[str]) -> list[dict]:
    rows, first = [], {}
    for row_number, cell in cells:
        row = {"region": cell.get(region, ""), "year": None}
        try:
            row["year"] = number(cell.get(year, ""))
            if not isinstance(row["year"], int):
                raise ValueError
        except ValueError:
            problems.append(f"column {year!r}, row {row_number}: {cell.get(year, '')!r} is not a year")
        if not row["region"]:
            problems.append(f"column {region!r}, row {row_number}: the region is empty")
        key = (row["region"], row["year"])
        if key in first:
            problems.append(f"columns {region!r} and {year!r}, row {row_number}: {key[0]} {key[1]} appears again "
                            f"(first in row {first[key]})")
        first.setdefault(key, row_number)
        for column in columns:
            value = cell.get(column, "")
            try:
                row[column] = float(number(value)) if value else None
            except ValueError:
                problems.append(f"column {column!r}, row {row_number}: {value!r} is not a number")
        rows.append(row)
    return rows


# --- tables -------------------------------------------------------------------------------------

def values(table: IndicatorTable) -> list[dict]:
    """One row per region and year: the columns, the derived indicators and ``<name>_band`` of banded ones."""
    banded = [i for i in (*table.columns.values(), *table.derived.values()) if i.bands]
    return [{**row, **{f"{i.name}_band": i.band(row[i.name]) for i in banded}} for row in table.rows]


def _series(table: IndicatorTable, name: str) -> dict[str, list[tuple[int, float]]]:
    """region → [(year, value)] of its non-missing values, by year; regions in data order."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in table.rows:
        series.setdefault(row["region"], [])
        if row[name] is not None:
            series[row["region"]].append((row["year"], row[name]))
    return {region: sorted(points) for region, points in series.items()}


def _latest(series: dict[str, list[tuple[int, float]]]) -> tuple[int | None, dict[str, float]]:
    years = [year for points in series.values() for year, _ in points]
    latest = max(years, default=None)
    return latest, {region: dict(points)[latest] for region, points in series.items() if latest in dict(points)}


def compare(table: IndicatorTable, name: str) -> list[dict]:
    """Per region: first and last year with a value, the values, the change (absolute and %), the band in the
    latest year and the rank then (1 = the value that best supports the theme)."""
    indicator = table.indicator(name)
    series = _series(table, name)
    _, latest = _latest(series)
    ranks = pd.Series(latest, dtype=float).rank(method="min", ascending=indicator.direction < 0)
    rows = []
    for region, points in series.items():
        (first_year, first), (last_year, last) = (points[0], points[-1]) if points else ((None, None), (None, None))
        change = last - first if points else None
        rows.append(dict(region=region, first_year=first_year, last_year=last_year, first_value=rounded(first),
                         last_value=rounded(last), change=rounded(change),
                         change_pct=round(100 * change / first, 2) if points and first else None,
                         latest_band=indicator.band(latest.get(region)) if indicator.bands else None,
                         rank=int(ranks[region]) if region in latest else None))
    return rows


def by_year(table: IndicatorTable, name: str) -> list[dict]:
    """Per year: regions with a value, median, minimum, maximum and, for banded indicators, regions per band."""
    indicator = table.indicator(name)
    years = sorted({row["year"] for row in table.rows})
    out = []
    for year in years:
        found = [row[name] for row in table.rows if row["year"] == year and row[name] is not None]
        row = dict(year=year, n=len(found), median=rounded(statistics.median(found)) if found else None,
                   min=rounded(min(found, default=None)), max=rounded(max(found, default=None)))
        row.update({f"band_{band.name}": sum(indicator.band(v) == band.name for v in found)
                    for band in indicator.bands})
        out.append(row)
    return out


def support(table: IndicatorTable, name: str) -> dict:
    """For triangulation: the share of regions whose value moved the supporting way from their first to their
    last year, the share in the best band (the top one for ``higher``) in the latest year, and the median then."""
    indicator = table.indicator(name)
    series = _series(table, name)
    latest_year, latest = _latest(series)
    moved = [(points[-1][1] - points[0][1]) * indicator.direction for points in series.values() if len(points) > 1]
    best = (indicator.bands[-1] if indicator.direction > 0 else indicator.bands[0]).name if indicator.bands else None
    return dict(indicator=name, label=indicator.label, theme=indicator.theme, direction=indicator.direction,
                n_regions=sum(bool(points) for points in series.values()),
                n_values=sum(len(points) for points in series.values()),
                share_regions_improving=rounded(sum(m > 0 for m in moved) / len(moved)) if moved else None,
                share_latest_in_best_band=rounded(sum(indicator.band(v) == best for v in latest.values()) / len(latest))
                if best and latest else None,
                latest_year=latest_year, latest_median=rounded(statistics.median(latest.values())) if latest else None)


def indicator_themes(table: IndicatorTable) -> dict[str, list[str]]:
    """theme → its columns, then its derived indicators."""
    themes: dict[str, list[str]] = {}
    for indicator in (*table.columns.values(), *table.derived.values()):
        if indicator.theme:
            themes.setdefault(indicator.theme, []).append(indicator.name)
    return themes
