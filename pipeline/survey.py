"""Surveys: a schema YAML file and its data file (CSV or XLSX) → checked responses, descriptive tables,
group comparisons, scale reliability and the summaries triangulation uses.

    survey: enterprise_2025
    title: 企业参与产教融合问卷
    data: enterprise_survey.csv          # relative to this file; CSV (UTF-8) or XLSX (`sheet:` picks a sheet)
    respondent: respondent_id            # the id column
    attributes:                          # respondent attributes, for grouping
      ownership: {label: 所有制, values: {1: 国有, 2: 民营, 3: 外资}}
      region: {label: 地区}              # no `values`: any text
    items:
      q1: {text: 本单位与职业院校有合作, type: categorical, values: {1: 是, 0: 否}, support: [1]}
      q2: {text: 合作形式, type: multi_select, options: {order: 订单班, apprentice: 现代学徒制}}
      q3: {text: 了解激励政策, type: likert, points: 5, labels: {1: 非常不同意, 5: 非常同意},
           theme: incentives}
      q10: {text: 年接收实习学生人数, type: numeric, unit: 人}
    scales:
      incentive_perception: {label: 激励感知, items: [q3, q4, q5, q6], reverse: [q6], theme: incentives}
    compare_by: [ownership, size]

Every item has ``text`` and ``type`` and may have ``theme``, ``direction`` (positive: agreeing supports
the theme, the default; negative: it speaks against it) and ``column`` (the data column, default the
item id).  By type:

- ``categorical``: ``values`` (code → label, or a list of codes); ``ordinal``: the same with whole-number
  codes, ordered by code.  The data may hold a code or its label.  ``support`` (codes) makes the item
  usable by ``support``: the share of respondents answering one of them.
- ``likert``: ``points`` (answers 1..points), optional ``labels`` (code → label).
- ``numeric``: optional ``unit``.
- ``multi_select``: ``options`` (key → label); the chosen keys joined by ``separator`` (default ";") in one
  column, or with ``layout: columns`` one 0/1 column per option named ``<column>_<key>``; ``support``
  (option keys).  ``q2:order`` names one option as a yes/no item.

A scale (``label``, ``items``, ``reverse``, ``theme``, ``direction``, ``min_items``) is the mean of a
respondent's likert items (same number of points) after reversing those in ``reverse`` (points + 1 − x);
it needs ``min_items`` answers (default: all of them), else it is missing.  Attributes may name their
``column`` too.

An empty cell is a missing answer.  Every mistake in the schema (with its line) or the data (with its
column and row, the header being row 1) is collected; ``load_survey`` then raises one ``InputError``
listing them.
"""
from __future__ import annotations

import hashlib
import math
import re
import statistics
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats.contingency import association

from .errors import ConfigError, InputError, PolicoderError
from .sheets import cell_text, listed, read_rows
from .yamlfile import Node, known, read_yaml, strings, text

SCHEMA = "survey-schema"
INVALID = "survey-invalid"
TYPES = ("categorical", "ordinal", "likert", "numeric", "multi_select")
CODED = ("categorical", "ordinal")
TYPE_KEYS = {"categorical": {"values", "support"}, "ordinal": {"values", "support"}, "likert": {"points", "labels"},
             "numeric": {"unit"}, "multi_select": {"options", "separator", "layout", "support"}}
ITEM_KEYS = {"text", "type", "theme", "direction", "column"}
TOP_KEYS = {"survey", "title", "data", "sheet", "respondent", "attributes", "items", "scales", "compare_by"}
DIRECTIONS = {"positive": 1, "negative": -1}
MISSING = ("listwise", "pairwise")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # also a column name pandas can use
SHOWN = 20  # problems listed in one message; the rest are counted
ALL = "all"
OPTION_VALUES = {1: "已选", 0: "未选"}  # an option of a multi-select read as a yes/no item
DESCRIBE_COLUMNS = ("ref", "label", "type", "by", "group", "value", "value_label", "n", "missing", "count", "pct",
                    "mean", "sd", "median", "ci_low", "ci_high", "agree_pct", "disagree_pct", "note")
SEVERAL = "several answers allowed: percentages add up to more than 100"
TESTS = {"categorical": ("chi-square test of independence", "Cramér's V"),  # kind → (test, effect size)
         "option": ("chi-square test of independence", "Cramér's V"),
         "numeric": ("one-way ANOVA F", "eta²"),
         "likert": ("Kruskal-Wallis H", "eta² (H)"),
         "multi_select": ("Kruskal-Wallis H on the number of options chosen", "eta² (H)")}


@dataclass(frozen=True)
class Attribute:
    id: str
    label: str
    column: str
    line: int
    values: dict = field(default_factory=dict)  # code → label; empty: free text


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    type: str
    column: str
    line: int
    theme: str = ""
    direction: int = 1  # +1: agreeing supports the theme, −1: it speaks against it
    values: dict = field(default_factory=dict)  # code → label (categorical, ordinal; likert labels)
    points: int = 0  # likert
    unit: str = ""  # numeric
    options: dict = field(default_factory=dict)  # key → label (multi_select)
    separator: str = ";"
    layout: str = "joined"  # multi_select: joined in one column, or one 0/1 column per option
    support: tuple = ()  # codes or option keys that count as agreeing

    def columns(self) -> list[str]:
        if self.layout == "columns":
            return [f"{self.column}_{key}" for key in self.options]
        return [self.column]


@dataclass(frozen=True)
class Scale:
    id: str
    label: str
    items: tuple[str, ...]
    reverse: tuple[str, ...]
    points: int
    min_items: int
    line: int
    theme: str = ""
    direction: int = 1


@dataclass
class Survey:
    id: str
    title: str
    path: Path
    data_path: Path
    respondent: str  # the id column; each response holds the id under this name
    attributes: dict[str, Attribute]
    items: dict[str, Item]
    scales: dict[str, Scale]
    compare_by: tuple[str, ...]
    responses: list[dict]  # per respondent: its id, and attribute, item and scale ids → code, number, set of options,
    # scale score or None
    digest: str  # sha256 of the schema and the data file

    def label(self, ref: str) -> str:
        item, option = _split(self, ref)
        if option:
            return f"{item.text}: {item.options[option]}"
        return item.text if item else self.scales[ref].label


# --- reading the schema and the data ------------------------------------------------------------

def load_survey(path: str | Path) -> Survey:
    """Read and check a survey schema and its data file; all mistakes are raised as one ``InputError``."""
    path = Path(path)
    root = schema_root(path, SCHEMA)
    problems: list[str] = []
    collect(problems, known, root, TOP_KEYS)
    ident = collect(problems, identifier, root, "survey")
    title = collect(problems, text, root, "title", "")
    data_path = collect(problems, data_file, root, path)
    respondent = collect(problems, text, root, "respondent")
    attributes = entries(root, "attributes", _attribute, problems, needed=False)
    items = entries(root, "items", _item, problems)
    scales = entries(root, "scales", lambda node, key: _scale(node, key, items), problems, needed=False)
    compare_by = collect(problems, _compare_by, root, attributes) or ()
    _check_names(root, respondent, attributes, items, scales, problems)
    refuse(path, problems, SCHEMA)

    header, rows = read_data(data_path, root, problems)
    responses = _responses(header, rows, respondent, attributes, items, problems)
    refuse(data_path, problems, INVALID)
    responses = [_with_scores(response, scales) for response in responses]
    digest = hashlib.sha256(path.read_bytes() + data_path.read_bytes()).hexdigest()
    return Survey(id=ident, title=title, path=path, data_path=data_path, respondent=respondent,
                  attributes=attributes, items=items, scales=scales, compare_by=tuple(compare_by),
                  responses=responses, digest=digest)


# shared with indicators.py: schema files whose mistakes are collected, and their data files

def schema_root(path: Path, code: str) -> Node:
    """The parsed YAML; a file that cannot be read or parsed is an ``InputError`` naming the line."""
    try:
        return read_yaml(path, code=code)
    except ConfigError as error:
        raise InputError(error.path, _where(error), code=code) from None


def collect(problems: list[str], check, *args):
    """Run one check; its mistake (with the line) is noted and the checks go on.  Returns None then."""
    try:
        return check(*args)
    except ConfigError as error:
        problems.append(_where(error))
        return None


def refuse(path: Path, problems: list[str], code: str) -> None:
    """All or nothing: any problem refuses the file, naming the first SHOWN of them on one line."""
    if problems:
        shown = listed(problems, SHOWN)
        raise InputError(str(path), f"{len(problems)} problems: {shown}" if len(problems) > 1 else shown, code=code)


def identifier(node: Node, key: str) -> str:
    value = text(node, key)
    if not IDENTIFIER.match(value):
        raise node[key].error(f"{key} {value!r} must start with a letter and hold only letters, digits and _")
    return value


def entries(root: Node, key: str, parse, problems: list[str], *, needed: bool = True) -> dict:
    """id → parsed entry of the mapping ``key`` (None for an entry with a mistake, which is noted)."""
    node = root.get(key)
    if node is None or node.value is None:
        if needed:
            problems.append(f"line {root.line}: missing {key!r}")
        return {}
    if not isinstance(node.value, dict) or not node.value:
        problems.append(f"line {node.line}: {key} must map each id to its description")
        return {}
    parsed = {}
    for name, child in node.children.items():
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            problems.append(f"line {child.line}: {key}: id {name!r} must start with a letter and hold only "
                            f"letters, digits and _")
            continue
        parsed[name] = collect(problems, parse, child, name)
    return parsed


def data_file(root: Node, path: Path) -> Path:
    data = path.parent / text(root, "data")
    if not data.is_file():
        raise root["data"].error(f"data file {data} not found")
    return data


def read_data(path: Path, root: Node, problems: list[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (row number as the user sees it, cells as text) of the non-empty rows."""
    header, rows = read_rows(path, str(root.value.get("sheet") or ""))
    for name in sorted({name for name in header if name and header.count(name) > 1}):
        problems.append(f"column {name!r} appears more than once in the header")
    cells = [(row_number, {name: cell_text(value) for name, value in row.items() if name is not None})
             for row_number, row in rows]
    cells = [(row_number, row) for row_number, row in cells if any(row.values())]
    if not cells:
        problems.append("no data rows")
    return header, cells


def number(value: str) -> int | float:
    """A cell as a number (whole numbers as int); ValueError for text, NaN and infinity."""
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(value)
    return int(result) if result.is_integer() else result


def _where(error: ConfigError) -> str:
    return f"{error.key}: {error.message}" if error.key else error.message


def _codes(node: Node, key: str, *, whole: bool) -> dict:
    """code → label from a mapping, or from a list of codes that are their own labels."""
    child = node.get(key)
    if child is None:
        return {}
    pairs = (list(child.value.items()) if isinstance(child.value, dict)
             else [(value, value) for value in child.value] if isinstance(child.value, list) else [])
    if not pairs:
        raise child.error(f"{key} must map each code to its label (or list the codes)")
    seen = set()
    for code, label in pairs:
        if isinstance(code, bool) or isinstance(label, bool):
            raise child.error(f"{key}: YAML reads yes/no/on/off as true/false; put them in quotes")
        if not isinstance(code, (int, str)) or (whole and not isinstance(code, int)):
            raise child.error(f"{key}: code {code!r} must be {'a whole number' if whole else 'a number or a word'}")
        if not isinstance(label, (str, int)):
            raise child.error(f"{key}: code {code!r} needs a label")
        if str(code) in seen:
            raise child.error(f"{key}: code {code!r} appears twice")
        seen.add(str(code))
    return {code: str(label) for code, label in pairs}


def _direction(node: Node) -> int:
    child = node.get("direction")
    if child is None:
        return 1
    if child.value not in DIRECTIONS:
        raise child.error(f"direction must be positive or negative, got {child.value!r}")
    return DIRECTIONS[child.value]


def _attribute(node: Node, ident: str) -> Attribute:
    known(node, {"label", "values", "column"})
    return Attribute(id=ident, label=text(node, "label", ident), column=text(node, "column", ident), line=node.line,
                     values=_codes(node, "values", whole=False))


def _item(node: Node, ident: str) -> Item:
    kind = text(node, "type")
    if kind not in TYPES:
        raise node["type"].error(f"item {ident!r}: type must be one of {', '.join(TYPES)}, got {kind!r}")
    known(node, ITEM_KEYS | TYPE_KEYS[kind])
    common = dict(id=ident, text=text(node, "text"), type=kind, column=text(node, "column", ident), line=node.line,
                  theme=text(node, "theme", ""), direction=_direction(node))
    if kind == "likert":
        points = node.get("points")
        if points is None or not isinstance(points.value, int) or isinstance(points.value, bool) or points.value < 2:
            raise (points or node).error(f"item {ident!r}: a likert item needs points, a whole number of 2 or more")
        labels = _codes(node, "labels", whole=True)
        if any(not 1 <= code <= points.value for code in labels):
            raise node["labels"].error(f"item {ident!r}: labels must be for answers 1 to {points.value}")
        return Item(**common, values=labels, points=points.value)
    if kind == "numeric":
        return Item(**common, unit=text(node, "unit", ""))
    if kind == "multi_select":
        options = _codes(node, "options", whole=False)
        if not options:
            raise node.error(f"item {ident!r}: a multi_select item needs options")
        layout = text(node, "layout", "joined")
        if layout not in ("joined", "columns"):
            raise node["layout"].error(f"item {ident!r}: layout must be joined or columns")
        return Item(**common, options=options, separator=text(node, "separator", ";"), layout=layout,
                    support=_support(node, ident, options))
    values = _codes(node, "values", whole=kind == "ordinal")
    if not values:
        raise node.error(f"item {ident!r}: a {kind} item needs values")
    if kind == "ordinal":
        values = dict(sorted(values.items()))
    return Item(**common, values=values, support=_support(node, ident, values))


def _support(node: Node, ident: str, codes: dict) -> tuple:
    child = node.get("support")
    if child is None:
        return ()
    chosen = child.value if isinstance(child.value, list) else [child.value]
    unknown = [code for code in chosen if code not in codes]
    if unknown or not chosen:
        raise child.error(f"item {ident!r}: support must list codes of the item, not {unknown or chosen!r}")
    return tuple(chosen)


def _scale(node: Node, ident: str, items: dict) -> Scale:
    known(node, {"label", "items", "reverse", "theme", "direction", "min_items"})
    members = strings(node, "items")
    if len(members) < 2 or len(set(members)) < len(members):
        raise (node.get("items") or node).error(f"scale {ident!r}: items must list two different items or more")
    for member in members:
        if member not in items:
            raise node["items"].error(f"scale {ident!r}: unknown item {member!r}")
    parsed = [items[member] for member in members if items[member] is not None]
    if any(item.type != "likert" for item in parsed) or len({item.points for item in parsed}) > 1:
        raise node["items"].error(f"scale {ident!r}: items must be likert items with the same number of points")
    reverse = strings(node, "reverse")
    if set(reverse) - set(members):
        raise node["reverse"].error(f"scale {ident!r}: reverse names items not in the scale: "
                                    f"{', '.join(sorted(set(reverse) - set(members)))}")
    min_items = node.get("min_items")
    if min_items is not None and (not isinstance(min_items.value, int) or not 1 <= min_items.value <= len(members)):
        raise min_items.error(f"scale {ident!r}: min_items must be a whole number from 1 to {len(members)}")
    return Scale(id=ident, label=text(node, "label", ident), items=tuple(members), reverse=tuple(reverse),
                 points=parsed[0].points if parsed else 0,
                 min_items=min_items.value if min_items is not None else len(members), line=node.line,
                 theme=text(node, "theme", ""), direction=_direction(node))


def _compare_by(root: Node, attributes: dict) -> list[str]:
    names = strings(root, "compare_by")
    for name in names:
        if name not in attributes:
            raise root["compare_by"].error(f"compare_by: unknown attribute {name!r}")
    return names


def _check_names(root: Node, respondent, attributes: dict, items: dict, scales: dict, problems: list[str]) -> None:
    """Ids name response fields and refs, columns feed them: neither may be used twice."""
    ids: dict[str, str] = {respondent: "the respondent id"} if respondent else {}
    for kind, entries_ in (("attribute", attributes), ("item", items), ("scale", scales)):
        for name in entries_:
            if name in ids:
                problems.append(f"line {root[kind + 's'][name].line}: {kind} id {name!r} is also {ids[name]}")
            ids[name] = f"{kind} {name!r}"
    columns: dict[str, str] = {respondent: "the respondent id"} if respondent else {}
    for kind, entry in [("attribute", a) for a in attributes.values()] + [("item", i) for i in items.values()]:
        for column in (entry.columns() if kind == "item" else [entry.column]) if entry else []:
            if column in columns:
                problems.append(f"line {entry.line}: column {column!r} of {kind} {entry.id!r} is already read by "
                                f"{columns[column]}")
            columns[column] = f"{kind} {entry.id!r}"


class _Bad(Exception):
    """One cell that does not fit its item."""

    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column


@contextmanager
def _noted(problems: list[str], row_number: int):
    """A cell that does not fit is noted with its column and row, and reading goes on."""
    try:
        yield
    except _Bad as bad:
        problems.append(f"column {bad.column!r}, row {row_number}: {bad}")


def _lookup(codes: dict) -> dict[str, object]:
    # a cell may hold the code or its label; the code wins when a label looks like another code
    return {**{label: code for code, label in codes.items()}, **{str(code): code for code in codes}}


def _coded(column: str, cell: str, lookup: dict, allowed: str):
    if cell not in lookup:
        raise _Bad(column, f"unknown code {cell!r} (expected {allowed})")
    return lookup[cell]


def _attribute_value(attribute: Attribute, row: dict[str, str], lookup: dict):
    cell = row.get(attribute.column, "")
    if not cell or not attribute.values:
        return cell or None
    return _coded(attribute.column, cell, lookup, ", ".join(map(str, attribute.values)))


def _answer(item: Item, row: dict[str, str], lookup: dict):
    if item.layout == "columns":
        cells = {column: row.get(column, "") for column in item.columns()}
        for column, cell in cells.items():
            if cell not in ("", "0", "1"):
                raise _Bad(column, f"{cell!r} is not 0, 1 or empty")
        chosen = [key for key, cell in zip(item.options, cells.values()) if cell == "1"]
        return frozenset(chosen) if any(cells.values()) else None  # all empty: not answered
    cell = row.get(item.column, "")
    if not cell:
        return None
    if item.type in CODED:
        return _coded(item.column, cell, lookup, ", ".join(map(str, item.values)))
    if item.type == "multi_select":
        chosen = [piece.strip() for piece in cell.split(item.separator) if piece.strip()]
        return frozenset(_coded(item.column, piece, lookup, ", ".join(item.options)) for piece in chosen)
    if item.type == "likert" and cell in lookup:
        return lookup[cell]
    try:
        value = number(cell)
    except ValueError:
        raise _Bad(item.column, f"{cell!r} is not a number") from None
    if item.type == "likert" and (not isinstance(value, int) or not 1 <= value <= item.points):
        raise _Bad(item.column, f"{cell!r} is outside the Likert range 1..{item.points}")
    return value


def _responses(header: list[str], rows, respondent: str, attributes: dict, items: dict,
               problems: list[str]) -> list[dict]:
    needed = [(respondent, "the respondent id")]
    needed += [(a.column, f"attribute {a.id}") for a in attributes.values()]
    needed += [(column, f"item {i.id}") for i in items.values() for column in i.columns()]
    missing = {column for column, _ in needed if column not in header}
    problems += [f"column {column!r} ({what}) is not in the data file" for column, what in needed if column in missing]
    lookups = {**{a.id: _lookup(a.values) for a in attributes.values()},
               **{i.id: _lookup(i.options or i.values) for i in items.values()}}
    first_row: dict[str, int] = {}
    responses = []
    for row_number, row in rows:
        response = {}
        if respondent not in missing:
            ident = row.get(respondent, "")
            if not ident:
                problems.append(f"column {respondent!r}, row {row_number}: the respondent id is empty")
            elif ident in first_row:
                problems.append(f"column {respondent!r}, row {row_number}: respondent {ident!r} appears again "
                                f"(first in row {first_row[ident]})")
            first_row.setdefault(ident, row_number)
            response[respondent] = ident
        for attribute in attributes.values():
            with _noted(problems, row_number):
                response[attribute.id] = _attribute_value(attribute, row, lookups[attribute.id])
        for item in items.values():
            if not set(item.columns()) & missing:
                with _noted(problems, row_number):
                    response[item.id] = _answer(item, row, lookups[item.id])
        responses.append(response)
    return responses


def _with_scores(response: dict, scales: dict[str, Scale]) -> dict:
    for scale in scales.values():
        scored = [scale.points + 1 - response[i] if i in scale.reverse else response[i]
                  for i in scale.items if response[i] is not None]
        response[scale.id] = statistics.fmean(scored) if len(scored) >= scale.min_items else None
    return response


# --- what a ref stands for -----------------------------------------------------------------------

def _split(survey: Survey, ref: str) -> tuple[Item | None, str]:
    """(item, option) of an item or option ref ``q2:order``; (None, "") for a scale; else an error."""
    name, _, option = ref.partition(":")
    item = survey.items.get(name)
    if item is not None and (not option or (item.type == "multi_select" and option in item.options)):
        return item, option
    if ref in survey.scales:
        return None, ""
    raise PolicoderError(f"survey {survey.id} has no item, option or scale {ref!r}; items: "
                         f"{', '.join(survey.items)}; scales: {', '.join(survey.scales) or '(none)'}",
                         code="survey-unknown-ref")


def _kind(survey: Survey, ref: str) -> str:
    item, option = _split(survey, ref)
    return "option" if option else item.type if item else "scale"


def _answers(survey: Survey, ref: str, responses: list[dict] | None = None) -> list:
    """The ref's answer of each respondent (None: missing); an option is 1 when chosen, 0 when not."""
    item, option = _split(survey, ref)
    responses = survey.responses if responses is None else responses
    if option:
        return [None if r[item.id] is None else int(option in r[item.id]) for r in responses]
    return [r[ref] for r in responses]


def _points(survey: Survey, ref: str) -> int:
    item, _ = _split(survey, ref)
    return item.points if item else survey.scales[ref].points


def _attribute_of(survey: Survey, by: str) -> Attribute:
    if by not in survey.attributes:
        raise PolicoderError(f"survey {survey.id} has no attribute {by!r}; attributes: "
                             f"{', '.join(survey.attributes) or '(none)'}", code="survey-unknown-attribute")
    return survey.attributes[by]


def _groups(survey: Survey, by: str) -> list[tuple[str, list[dict]]]:
    """(group label, its respondents) per value of the attribute; respondents without one are left out."""
    attribute = _attribute_of(survey, by)
    present = {r[by] for r in survey.responses if r[by] is not None}
    order = [code for code in attribute.values if code in present] if attribute.values else sorted(present)
    return [(str(attribute.values.get(code, code)), [r for r in survey.responses if r[by] == code]) for code in order]


# --- descriptive tables ---------------------------------------------------------------------------

def describe(survey: Survey, ref: str, by: str | None = None) -> list[dict]:
    """Rows of a descriptive table for an item, an option (``q2:order``) or a scale; with ``by``, one
    block per group of that attribute (respondents without a value are only in the last block), then the
    block of all respondents.

    Coded items, likert items and options: count and % (of those answering) of each answer.  Multi-select
    items: count and % of those answering who chose each option.  Ordinal, likert, numeric items and
    scales: a summary row with n, mean, sd, median and the t-based 95 % interval of the mean; likert items
    and scales add the % agreeing and disagreeing (see ``agree_share``).
    """
    blocks = _groups(survey, by) if by else []
    rows = []
    for group, responses in blocks + [(ALL, survey.responses)]:
        rows += _describe_block(survey, ref, _answers(survey, ref, responses), by or "", group)
    return rows


def describe_all(survey: Survey, by: str | None = None) -> list[dict]:
    """``describe`` of every item, then every scale."""
    return [row for ref in (*survey.items, *survey.scales) for row in describe(survey, ref, by)]


def _describe_block(survey: Survey, ref: str, answers: list, by: str, group: str) -> list[dict]:
    kind = _kind(survey, ref)
    item, _ = _split(survey, ref)
    given = [a for a in answers if a is not None]
    base = dict(ref=ref, label=survey.label(ref), type=kind, by=by, group=group, n=len(given),
                missing=len(answers) - len(given))
    rows = []
    if kind == "multi_select":
        for key, label in item.options.items():
            rows.append(_row(base, value=key, value_label=label, count=sum(key in a for a in given),
                             note=SEVERAL))
    elif kind in (*CODED, "likert", "option"):
        codes = (OPTION_VALUES if kind == "option" else item.values if kind in CODED
                 else {point: item.values.get(point, str(point)) for point in range(1, item.points + 1)})
        rows += [_row(base, value=code, value_label=label, count=sum(a == code for a in given))
                 for code, label in codes.items()]
    if kind in ("ordinal", "likert", "numeric", "scale"):
        summary = _summary(given)
        if kind in ("likert", "scale"):
            agree, disagree = agree_share(given, _points(survey, ref))
            summary.update(agree_pct=_pct(agree), disagree_pct=_pct(disagree))
        rows.append(_row(base, value="", value_label="", **summary))
    return rows


def _row(base: dict, **values) -> dict:
    row = dict.fromkeys(DESCRIBE_COLUMNS)
    row.update(base, **values)
    if row["count"] is not None:
        row["pct"] = _pct(row["count"] / row["n"] if row["n"] else None)
    return row


def _pct(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 2)


def rounded(value, digits: int = 4):
    """Rounded for a table; None for a statistic that is undefined."""
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def _summary(values: list) -> dict:
    """mean, sd (n − 1), median and the t-based 95 % interval of the mean."""
    if not values:
        return dict.fromkeys(("mean", "sd", "median", "ci_low", "ci_high"))
    mean, median = statistics.fmean(values), statistics.median(values)
    if len(values) < 2:
        return dict(mean=rounded(mean), sd=None, median=rounded(median), ci_low=None, ci_high=None)
    sd = statistics.stdev(values)
    half = stats.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))
    return dict(mean=rounded(mean), sd=rounded(sd), median=rounded(median), ci_low=rounded(mean - half),
                ci_high=rounded(mean + half))


def agree_share(values: list, points: int) -> tuple[float | None, float | None]:
    """Shares agreeing and disagreeing: the top two and bottom two answers (≥ points − 1, ≤ 2), never
    reaching the midpoint (so on 3 points only 3 agrees and 1 disagrees).  Scale scores use the same cuts."""
    if not values:
        return None, None
    middle = (points + 1) / 2
    agree = sum(v >= points - 1 and v > middle for v in values) / len(values)
    disagree = sum(v <= 2 and v < middle for v in values) / len(values)
    return agree, disagree


# --- comparing groups -----------------------------------------------------------------------------

def compare(survey: Survey, ref: str, by: str) -> dict:
    """Does the answer to ``ref`` differ between the groups of the attribute ``by``?

    Coded items and options: χ² test of independence (Yates' correction on a 2 × 2 table only) with
    Cramér's V; a warning when an expected count is below 5.  Multi-select items: Kruskal–Wallis on the
    number of options chosen.  Ordinal and likert items and scales: Kruskal–Wallis with
    η²(H) = (H − k + 1) / (n − k).  Numeric items: one-way ANOVA with η² = SS between / SS total.
    ``groups`` and ``group_n`` (parallel lists, so that a table cell can hold them) give the groups with
    answers and their sizes; ``df2`` is the residual df of the F test.
    """
    kind = _kind(survey, ref)
    groups = [(label, [a for a in _answers(survey, ref, responses) if a is not None])
              for label, responses in _groups(survey, by)]
    groups = [(label, answers) for label, answers in groups if answers]
    test, effect_name = TESTS.get(kind, TESTS["likert"])
    result = dict(ref=ref, by=by, test=test, statistic=None, df=None, df2=None, p=None, effect=None,
                  effect_name=effect_name, n=sum(len(answers) for _, answers in groups),
                  groups=[label for label, _ in groups], group_n=[len(a) for _, a in groups], warning="")
    if kind == "multi_select":
        groups = [(label, [len(a) for a in answers]) for label, answers in groups]
    if len(groups) < 2:
        result["warning"] = "needs answers from two groups or more"
        return result
    if kind in ("categorical", "option"):
        return _chi_square(result, groups)
    return _anova(result, groups) if kind == "numeric" else _kruskal(result, groups)


def _chi_square(result: dict, groups: list[tuple[str, list]]) -> dict:
    codes = sorted({a for _, answers in groups for a in answers}, key=str)
    table = np.array([[answers.count(code) for code in codes] for _, answers in groups])
    if len(codes) < 2:
        result["warning"] = "every respondent gave the same answer"
        return result
    test = stats.chi2_contingency(table)
    low = int((test.expected_freq < 5).sum())
    result.update(statistic=rounded(test.statistic), df=int(test.dof), p=float(test.pvalue),
                  effect=rounded(association(table, method="cramer")),
                  warning=f"{low} of {table.size} cells have an expected count below 5: the p-value is unreliable"
                  if low else "")
    if test.dof == 1:
        result["test"] += " (Yates' continuity correction)"
    return result


def _small(groups: list[tuple[str, list]]) -> str:
    small = [label for label, answers in groups if len(answers) < 5]
    return f"fewer than 5 answers in {', '.join(small)}" if small else ""


def _kruskal(result: dict, groups: list[tuple[str, list]]) -> dict:
    result["warning"] = _small(groups)
    n, k = result["n"], len(groups)
    try:
        h, p = stats.kruskal(*[answers for _, answers in groups])
    except ValueError:  # scipy refuses when every answer is the same
        result["warning"] = "every respondent gave the same answer"
        return result
    result.update(statistic=rounded(h), df=k - 1, p=float(p), effect=rounded((h - k + 1) / (n - k)) if n > k else None)
    return result


def _anova(result: dict, groups: list[tuple[str, list]]) -> dict:
    result["warning"] = _small(groups)
    values = [v for _, answers in groups for v in answers]
    grand = statistics.fmean(values)
    total = sum((v - grand) ** 2 for v in values)
    n, k = len(values), len(groups)
    if total == 0 or n <= k:
        result["warning"] = "every respondent gave the same answer" if total == 0 else "too few answers per group"
        return result
    between = sum(len(a) * (statistics.fmean(a) - grand) ** 2 for _, a in groups)
    f, p = stats.f_oneway(*[answers for _, answers in groups])
    result.update(statistic=rounded(f), df=k - 1, df2=n - k, p=float(p), effect=rounded(between / total))
    return result


# --- reliability ----------------------------------------------------------------------------------

class Alpha(float):
    """Cronbach's alpha: a float that carries how it was computed.

    ``alpha`` (plain float), ``n`` (respondents used), ``k`` (items), ``missing`` (listwise | pairwise),
    ``ci`` (95 % interval after Feldt, Woodruff & Salih 1987), ``alpha_if_deleted`` and ``item_total``
    (corrected item-total correlations), one per item.
    """

    def __new__(cls, value: float, **details):
        self = super().__new__(cls, value)
        self.__dict__.update(details, alpha=float(value))
        return self


def cronbach_alpha(rows, missing: str = "listwise") -> Alpha:
    """Cronbach's alpha of ``rows`` (one list of item scores per respondent, None for missing).

    ``listwise`` uses the respondents who answered every item; ``pairwise`` the covariance of each pair of
    items over the respondents who answered both (``DataFrame.cov``), n then counting everyone who answered
    any item.  alpha = k / (k − 1) · (1 − trace(C) / sum(C)).  Alpha if deleted is recomputed on the other
    items under the same policy.
    """
    if missing not in MISSING:
        raise ValueError(f"missing must be listwise or pairwise, got {missing!r}")
    frame = pd.DataFrame([list(row) for row in rows], dtype=float)
    k = frame.shape[1]
    if k < 2:
        raise ValueError(f"Cronbach's alpha needs 2 items or more, got {k}")
    value, cov, n = _alpha(frame, missing)
    total, variances, sums = cov.sum(), np.diag(cov), cov.sum(axis=0)
    rest = total - 2 * sums + variances  # variance of the sum of the other items
    with np.errstate(divide="ignore", invalid="ignore"):
        item_total = [float(r) if math.isfinite(r) else None for r in (sums - variances) / np.sqrt(variances * rest)]
    dropped = [None if k == 2 else _alpha(frame.drop(columns=column), missing)[0] for column in frame.columns]
    df1, df2 = n - 1, (n - 1) * (k - 1)
    ci = (1 - (1 - value) * stats.f.ppf(0.975, df1, df2), 1 - (1 - value) * stats.f.ppf(0.025, df1, df2))
    return Alpha(value, n=n, k=k, missing=missing, ci=tuple(map(float, ci)), alpha_if_deleted=dropped,
                 item_total=item_total)


def _alpha(frame: pd.DataFrame, missing: str) -> tuple[float, np.ndarray, int]:
    used = frame.dropna(how="any" if missing == "listwise" else "all")
    if len(used) < 2:
        raise ValueError(f"Cronbach's alpha needs 2 respondents or more ({missing}), got {len(used)}")
    cov = used.cov().to_numpy()
    if np.isnan(cov).any() or cov.sum() == 0:
        raise ValueError("Cronbach's alpha is undefined: some items are never answered together or nobody's "
                         "answers vary")
    k = frame.shape[1]
    return float(k / (k - 1) * (1 - np.trace(cov) / cov.sum())), cov, len(used)


def scale_reliability(survey: Survey, scale_id: str, missing: str = "listwise") -> dict:
    """Cronbach's alpha of a scale (reversed items reversed first), its 95 % interval, alpha if each item
    is deleted and the corrected item-total correlations."""
    if scale_id not in survey.scales:
        raise PolicoderError(f"survey {survey.id} has no scale {scale_id!r}; scales: "
                             f"{', '.join(survey.scales) or '(none)'}", code="survey-unknown-ref")
    scale = survey.scales[scale_id]
    rows = [[None if r[i] is None else scale.points + 1 - r[i] if i in scale.reverse else r[i] for i in scale.items]
            for r in survey.responses]
    alpha = cronbach_alpha(rows, missing)
    return dict(scale=scale_id, label=scale.label, items=list(scale.items), reversed=list(scale.reverse), k=alpha.k,
                n=alpha.n, missing=missing, alpha=rounded(alpha.alpha), ci_low=rounded(alpha.ci[0]),
                ci_high=rounded(alpha.ci[1]),
                alpha_if_deleted={i: rounded(a) for i, a in zip(scale.items, alpha.alpha_if_deleted)},
                item_total={i: rounded(r) for i, r in zip(scale.items, alpha.item_total)})


def reliability_table(survey: Survey, missing: str = "listwise") -> list[dict]:
    """Per scale: a row with alpha and its interval, then a row per item with alpha if deleted and the
    corrected item-total correlation."""
    rows = []
    for scale_id, scale in survey.scales.items():
        result = scale_reliability(survey, scale_id, missing)
        head = dict(scale=scale_id, label=scale.label, item="", text="", reversed=None, k=result["k"], n=result["n"],
                    missing=missing, alpha=result["alpha"], ci_low=result["ci_low"], ci_high=result["ci_high"],
                    alpha_if_deleted=None, item_total=None)
        rows.append(head)
        rows += [{**head, "item": i, "text": survey.items[i].text, "reversed": i in scale.reverse, "k": None,
                  "n": None, "alpha": None, "ci_low": None, "ci_high": None,
                  "alpha_if_deleted": result["alpha_if_deleted"][i], "item_total": result["item_total"][i]}
                 for i in scale.items]
    return rows


# --- for triangulation ----------------------------------------------------------------------------

def support(survey: Survey, ref: str) -> dict:
    """How far the respondents agree with a likert item or scale, or chose an item's ``support`` codes (or an
    option): n, mean (for chosen codes: the share), sd, 95 % interval, shares agreeing and disagreeing, and the
    direction (+1: agreeing supports the theme, −1: it speaks against it) and theme from the schema."""
    item, option = _split(survey, ref)
    source = item or survey.scales[ref]
    answers = [a for a in _answers(survey, ref) if a is not None]
    if option or (item and item.support):
        chosen = {1} if option else set(item.support)
        answers = [int(bool(chosen & a)) if isinstance(a, frozenset) else int(a in chosen) for a in answers]
        agree = statistics.fmean(answers) if answers else None
        disagree = None if agree is None else 1 - agree
    elif item is None or item.type == "likert":
        agree, disagree = agree_share(answers, source.points)
    else:
        raise PolicoderError(f"survey {survey.id}: item {ref!r} ({item.type}) says nothing for or against its theme; "
                             f"name a likert item, a scale, an option, or give the item `support` codes",
                             code="survey-no-support")
    return dict(ref=ref, label=survey.label(ref), n=len(answers), **_summary(answers), agree=rounded(agree),
                disagree=rounded(disagree), direction=source.direction, theme=source.theme)


def survey_themes(survey: Survey) -> dict[str, list[str]]:
    """theme → its items, then its scales."""
    themes: dict[str, list[str]] = {}
    for ref, entry in (*survey.items.items(), *survey.scales.items()):
        if entry.theme:
            themes.setdefault(entry.theme, []).append(ref)
    return themes

