"""Agreement between coders (humans, and machine coders when asked) on the same material.

What is compared is declared, not implied:

- ``unit``: the turns of transcripts and clauses of policy documents.  A coder's value for a unit is
  the set of codes whose codings count for it (``UnitIndex.counted``: the unit holds half of the
  coding, or the coding covers half of the unit); a coder who did not rate a unit is *missing*
  there, which is not the same as coding nothing (who rated what: ``Project.coverage``).
- ``segment``: fixed-length segments of ``segment_length`` code points of each document (a coding
  counts for a segment by the same rule as for a unit).
- ``span``: per code, the coded spans of all coders in a document are grouped where they overlap
  by at least ``overlap`` (intersection over union); each group is a unit, and a coder's value is
  whether they have a span in it.  Every unit then holds at least one coding, so chance-corrected
  coefficients run low; Brennan–Prediger (as MAXQDA reports at segment level) is the usual figure.

Per code, the value is present (1) or absent (0); across codes, the nominal value of a unit is its
set of codes written ``a+b`` ("(none)" when empty).  Statistics come from ``pipeline.reliability``.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

from . import reliability
from .coding import UnitIndex, counts_for

UNIT_KINDS = ("unit", "segment", "span")
NOTHING = "(none)"


@dataclass
class Ratings:
    """Per unit, per coder: the set of codes (``None``: the coder did not rate the unit)."""

    coders: list[str]
    units: list[dict]  # doc_id, unit_id, start, end
    values: list[list[frozenset | None]]
    by_code: dict[str, list[list[int | None]]] | None = None  # span units differ per code

    def for_code(self, code: str) -> list[list[int | None]]:
        if self.by_code is not None:
            return self.by_code.get(code, [])
        return [[None if value is None else int(code in value) for value in row] for row in self.values]

    def nominal(self) -> list[list[str | None]]:
        return [[None if value is None else ("+".join(sorted(value)) or NOTHING) for value in row]
                for row in self.values]


@dataclass
class Settings:
    unit: str = "unit"
    segment_length: int = 200
    overlap: float = 0.5
    boot: int = 500  # bootstrap draws for alpha's interval
    seed: int = 0
    codes: list[str] = field(default_factory=list)  # the codes compared (default: every code coded)


def statistics(ratings: list[list], *, boot: int, seed: int) -> dict:
    """Every coefficient for one set of ratings; ``nan`` (JSON null) where it is undefined."""
    rated = [row for row in ratings if sum(value is not None for value in row) >= 2]
    coders = len(ratings[0]) if ratings else 0
    alpha, low, high = reliability.krippendorff_alpha_ci(rated, boot=boot, seed=seed) if rated else (math.nan,) * 3
    values = [value for row in rated for value in row if value is not None]
    return {
        "units": len(rated),
        "ratings": len(values),
        "percent_agreement": reliability.percent_agreement(rated) if rated else math.nan,
        "cohen_kappa": reliability.cohen_kappa(rated) if coders == 2 and rated else math.nan,
        "fleiss_kappa": reliability.fleiss_kappa(rated) if rated else math.nan,
        "krippendorff_alpha": alpha,
        "alpha_ci": [low, high],
        "gwet_ac1": reliability.gwet_ac1(rated) if rated else math.nan,
        "brennan_prediger": reliability.brennan_prediger(rated) if rated else math.nan,
        "prevalence": (sum(v == 1 for v in values) / len(values)) if values and set(values) <= {0, 1} else None,
    }


def unit_ratings(codings: list[dict], units: list[dict], coverage: dict[str, set[str]], coders: list[str],
                 roll_up: Callable[[str], str] = str) -> Ratings:
    """``coverage``: coder → the unit ids they rated.  ``roll_up`` maps a code to the code compared
    (e.g. its ancestor at some depth)."""
    index = UnitIndex(units)
    cells: dict[tuple[str, str], set[str]] = {}
    for coder in coders:
        for unit_id in coverage.get(coder, ()):
            cells[unit_id, coder] = set()
    for coding in codings:
        if coding["coder"] not in coders or coding["start"] is None:
            continue
        for unit in index.counted(coding["doc_id"], coding["start"], coding["end"]):
            if (unit["unit_id"], coding["coder"]) in cells:
                cells[unit["unit_id"], coding["coder"]].add(roll_up(coding["code"]))
    return _table(units, coders, cells)


def segment_ratings(codings: list[dict], lengths: dict[int, int], coverage: dict[str, set[int]],
                    coders: list[str], length: int, roll_up: Callable[[str], str] = str) -> Ratings:
    """``lengths``: doc_id → text length; ``coverage``: coder → the documents they rated."""
    units = [{"doc_id": doc, "unit_id": f"{doc}@{start}", "start": start, "end": min(start + length, size)}
             for doc, size in sorted(lengths.items()) for start in range(0, size, length)]
    cells: dict[tuple[str, str], set[str]] = {}
    for unit in units:
        for coder in coders:
            if unit["doc_id"] in coverage.get(coder, ()):
                cells[unit["unit_id"], coder] = set()
    for coding in codings:
        if coding["coder"] not in coders or coding["start"] is None:
            continue
        first, last = coding["start"] // length, max(coding["end"] - 1, coding["start"]) // length
        for number in range(first, last + 1):
            key = (f"{coding['doc_id']}@{number * length}", coding["coder"])
            if key in cells and counts_for(coding["start"], coding["end"], number * length,
                                           min((number + 1) * length, lengths[coding["doc_id"]])):
                cells[key].add(roll_up(coding["code"]))
    return _table(units, coders, cells)


def span_ratings(codings: list[dict], coverage: dict[str, set[int]], coders: list[str], overlap: float,
                 roll_up: Callable[[str], str] = str) -> Ratings:
    """Units made of overlapping spans, per code and document."""
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for coding in codings:
        if coding["coder"] in coders and coding["start"] is not None:
            groups[roll_up(coding["code"]), coding["doc_id"]].append(coding)
    by_code: dict[str, list[list[int | None]]] = defaultdict(list)
    units, values = [], []
    for (code, doc_id), spans in sorted(groups.items()):
        for cluster in _clusters(spans, overlap):
            present = {span["coder"] for span in cluster}
            row = [1 if coder in present else (0 if doc_id in coverage.get(coder, ()) else None) for coder in coders]
            by_code[code].append(row)
            start, end = min(s["start"] for s in cluster), max(s["end"] for s in cluster)
            units.append({"doc_id": doc_id, "unit_id": f"{doc_id}@{start}-{end}:{code}", "start": start, "end": end})
            values.append([None if v is None else frozenset({code} if v else ()) for v in row])
    return Ratings(coders, units, values, by_code=dict(by_code))


def _clusters(spans: list[dict], overlap: float) -> list[list[dict]]:
    """Connected groups of spans whose pairwise overlap (intersection over union) reaches ``overlap``."""
    parent = list(range(len(spans)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    order = sorted(range(len(spans)), key=lambda i: spans[i]["start"])
    for position, i in enumerate(order):
        for j in order[position + 1:]:
            if spans[j]["start"] >= spans[i]["end"]:
                break
            union = max(spans[i]["end"], spans[j]["end"]) - min(spans[i]["start"], spans[j]["start"])
            common = min(spans[i]["end"], spans[j]["end"]) - max(spans[i]["start"], spans[j]["start"])
            if union and common / union >= overlap:
                parent[find(i)] = find(j)
    clusters: dict[int, list[dict]] = defaultdict(list)
    for i in order:
        clusters[find(i)].append(spans[i])
    return list(clusters.values())


def _table(units: list[dict], coders: list[str], cells: dict) -> Ratings:
    kept, values = [], []
    for unit in units:
        row = [frozenset(cells[unit["unit_id"], c]) if (unit["unit_id"], c) in cells else None for c in coders]
        if sum(value is not None for value in row) >= 2:  # a unit one coder saw says nothing of agreement
            kept.append(unit)
            values.append(row)
    return Ratings(coders, kept, values)


def report(ratings: Ratings, codes: list[str], settings: Settings, documents: dict[int, str]) -> dict:
    """Overall, per code, per coder pair and per document statistics."""
    stats = lambda rows: statistics(rows, boot=settings.boot, seed=settings.seed)  # noqa: E731
    per_code = {code: stats(ratings.for_code(code)) for code in codes}
    alphas = [row["krippendorff_alpha"] for row in per_code.values() if not math.isnan(row["krippendorff_alpha"])]
    nominal = ratings.nominal() if ratings.by_code is None else []
    pairs = []
    for a, b in combinations(range(len(ratings.coders)), 2):
        shared = _pair(nominal, a, b)
        pairs.append({"coders": [ratings.coders[a], ratings.coders[b]], **shared, "units": shared["units"] or None,
                      "per_code_kappa": {code: _pair(ratings.for_code(code), a, b)["cohen_kappa"] for code in codes}})
    per_document = []
    for doc_id in sorted({unit["doc_id"] for unit in ratings.units}):
        rows = [row for unit, row in zip(ratings.units, nominal) if unit["doc_id"] == doc_id]
        per_document.append({"doc_id": doc_id, "document": documents.get(doc_id), "units": len(rows),
                             "percent_agreement": reliability.percent_agreement(rows) if rows else math.nan,
                             "krippendorff_alpha": reliability.krippendorff_alpha(rows) if rows else math.nan})
    return {
        "unit": settings.unit, "coders": ratings.coders, "units": len(ratings.units),
        "settings": {"segment_length": settings.segment_length, "overlap": settings.overlap,
                     "boot": settings.boot, "seed": settings.seed},
        "overall": {"nominal": stats(nominal) if nominal else None,
                    "mean_alpha_over_codes": sum(alphas) / len(alphas) if alphas else math.nan},
        "codes": per_code, "pairs": pairs, "documents": per_document,
    }


def variables_report(coders: list[str], variables: dict[str, list[list]], *, boot: int, seed: int) -> dict:
    """Agreement on named variables of the same units (an instrument flag, the primary label …), each a
    list of units with one value per coder (``None``: not rated): every coefficient per variable, and
    per coder pair the units both rated, % agreement and Cohen's κ."""
    pairs = []
    for a, b in combinations(range(len(coders)), 2):
        pairs.append({"coders": [coders[a], coders[b]], **{name: _pair(rows, a, b) for name, rows in variables.items()}})
    return {"coders": coders, "variables": {name: statistics(rows, boot=boot, seed=seed)
                                            for name, rows in variables.items()}, "pairs": pairs}


def _pair(rows: list[list], a: int, b: int) -> dict:
    """The units coders ``a`` and ``b`` both rated, their % agreement and Cohen's κ."""
    both = [[row[a], row[b]] for row in rows if row[a] is not None and row[b] is not None]
    return {"units": len(both), "percent_agreement": reliability.percent_agreement(both) if both else math.nan,
            "cohen_kappa": reliability.cohen_kappa(both) if both else math.nan}


def disagreements(ratings: Ratings, units_text: dict[str, str]) -> list[dict]:
    """Units where the coders who rated them did not give the same set of codes."""
    rows = []
    for unit, row in zip(ratings.units, ratings.values):
        given = {coder: value for coder, value in zip(ratings.coders, row) if value is not None}
        if len(set(given.values())) > 1:
            rows.append({"doc_id": unit["doc_id"], "unit_id": unit["unit_id"],
                         "text": units_text.get(unit["unit_id"], ""),
                         **{coder: "; ".join(sorted(value)) for coder, value in given.items()}})
    return rows


def agreed(ratings: Ratings, machine: Callable[[str], bool] = lambda coder: False) -> list[tuple[dict, frozenset]]:
    """Units where every coder who rated them gave the same set of codes and two humans or more
    rated them (the consensus is plain; a human and the rules agreeing is not a consensus)."""
    out = []
    for unit, row in zip(ratings.units, ratings.values):
        given = {value for value in row if value is not None}
        humans = sum(value is not None and not machine(coder) for coder, value in zip(ratings.coders, row))
        if len(given) == 1 and humans >= 2:
            out.append((unit, next(iter(given))))
    return out
