"""Triangulation across data sets, after Farmer et al. (2006) and the mixed-methods joint display.

Plain data in, rows out.  For each theme and data set (policy texts, interviews, survey, indicators) the
evidence: how many units and sources speak to it, its prominence within that data set, the direction
its data take where they carry one, exemplars.  For each theme and pair of data sets a *suggested*
Farmer label: silence is computed (one side has no evidence), agreement / partial agreement /
dissonance compare prominence and direction.  A suggestion is never a finding: the researchers' labels,
kept in files that re-runs only read, are what the report calls final.

Sources for the method: ``../shared/research/triangulation-methods.md`` (Farmer et al. 2006 via the
PolyPrime and Implementation Science reproductions of its protocol; Fetters, Curry & Creswell 2013;
Guetterman, Fetters & Creswell 2015).
"""
from __future__ import annotations

import csv
import itertools
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import reliability
from .errors import InputError
from .records import utc_now
from .sheets import cell_text, read_rows
from .themes import SOURCES, Theme, Themes

LABELS = ("agreement", "partial_agreement", "silence", "dissonance")
FITS = ("confirmation", "expansion", "discordance")
DIRECTION_NAMES = {1: "supports", -1: "contradicts", 0: "mixed", None: "no direction"}
CONVERGENCE_FILE = "convergence.csv"
META_FILE = "meta_inferences.csv"
CONVERGENCE_COLUMNS = ("theme", "source_a", "source_b", "researcher", "label", "rationale", "recorded_at")
META_COLUMNS = ("theme", "researcher", "fit", "meta_inference", "recorded_at")
# a stance share at or beyond these leans one way; between them the views are mixed
LEAN = 0.6
# survey: agree minus disagree (shares of respondents) beyond this leans one way
SURVEY_MARGIN = 0.1


@dataclass
class Evidence:
    """What one data set says about one theme."""

    theme: str
    source: str
    mapped: bool
    present: bool = False
    n_units: int = 0          # clauses, coded segments, respondents answering, region-years
    n_sources: int = 0        # documents, participants, respondents agreeing, regions supporting
    n_total: int = 0          # the data set's documents, participants, respondents, regions
    share: float | None = None
    prominence: str = ""      # high / medium / low within the data set
    direction: int | None = None
    direction_basis: str = ""
    breakdown: dict = field(default_factory=dict)
    statistics: list[dict] = field(default_factory=list)
    exemplars: list[dict] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if not self.mapped:
            return "no strand"
        if not self.present:
            return "silent"
        share = f" ({self.share:.0%})" if self.share is not None else ""
        return (f"{self.n_sources}/{self.n_total} {_SOURCE_UNITS[self.source]}{share}, {self.n_units} "
                f"{_UNIT_WORDS[self.source]}; prominence {self.prominence}; {DIRECTION_NAMES[self.direction]}")


_SOURCE_UNITS = {"policy": "documents", "interviews": "participants", "survey": "respondents agree",
                 "indicators": "regions support"}
_UNIT_WORDS = {"policy": "clauses", "interviews": "coded segments", "survey": "answering",
               "indicators": "region-years"}


# --- evidence per source ----------------------------------------------------------------------------

def policy_evidence(theme: Theme, units: list[dict], texts: dict[int, str], n_documents: int,
                    exemplars: int) -> Evidence:
    """``units``: policy clauses with doc_id, document, unit_id, level, year, start, end, instruments and
    ``topics`` (the topics that hold at least TOPIC_SHARE of the clause or of its document)."""
    evidence = Evidence(theme.id, "policy", mapped=theme.policy is not None, n_total=n_documents)
    if theme.policy is None:
        return evidence
    query = theme.policy
    matched = [unit for unit in units
               if (not query.instruments or set(query.instruments) & set(unit["instruments"]))
               and (not query.keywords or any(word in unit["text"] for word in query.keywords))
               and (not query.topics or set(query.topics) & unit["topics"])]
    documents = {unit["doc_id"] for unit in matched}
    evidence.n_units, evidence.n_sources = len(matched), len(documents)
    evidence.breakdown = {
        "level": _count(unit["level"] or "unknown" for unit in matched),
        "documents_by_level": _count(next(u["level"] or "unknown" for u in matched if u["doc_id"] == doc)
                                     for doc in documents),
        "instrument": _count(unit["primary_instrument"] for unit in matched),
        "year": _count(unit["year"] or "unknown" for unit in matched),
    }
    evidence.direction = query.direction
    evidence.direction_basis = "declared in the themes file" if query.direction is not None else ""
    # the clause whose primary instrument is the one asked for, and that names most keywords, shows it best
    ranked = sorted(matched, key=lambda u: (-(u["primary_instrument"] in query.instruments),
                                            -sum(word in u["text"] for word in query.keywords), u["unit_id"]))
    evidence.exemplars = [_quote(unit, texts[unit["doc_id"]], query.keywords) for unit in _spread(ranked, exemplars)]
    return evidence


def interview_evidence(theme: Theme, codings: list[dict], participants: dict[int, dict],
                       descendants: dict[str, set[str]], stances: dict[str, str], texts: dict[int, str],
                       exemplars: int) -> Evidence:
    """``codings``: current codings of transcripts; ``participants``: doc_id → {participant, group}."""
    evidence = Evidence(theme.id, "interviews", mapped=bool(theme.interview_codes), n_total=len(participants))
    if not theme.interview_codes:
        return evidence
    codes = set().union(*(descendants[code] for code in theme.interview_codes))
    matched = [row for row in codings if row["code"] in codes and row["doc_id"] in participants]
    evidence.n_units = len(matched)
    evidence.n_sources = len({row["doc_id"] for row in matched})
    groups: dict[str, dict] = {}
    for group in sorted({p["group"] for p in participants.values()}):
        members = {doc for doc, p in participants.items() if p["group"] == group}
        rows = [row for row in matched if row["doc_id"] in members]
        positive, negative = _stance_counts(rows, stances)
        groups[group] = {"participants": len(members), "with_theme": len({row["doc_id"] for row in rows}),
                         "segments": len(rows), "positive": positive, "negative": negative,
                         "direction": _lean(positive, negative)}
    positive, negative = _stance_counts(matched, stances)
    evidence.direction = _lean(positive, negative)
    evidence.direction_basis = (f"stances of the codes: {positive} positive, {negative} negative"
                                if positive + negative else "no code of this theme carries a stance")
    evidence.breakdown = {"group": groups, "code": _count(row["code"] for row in matched),
                          "machine_share": (sum(row["kind"] == "machine" for row in matched) / len(matched))
                          if matched else 0.0}
    ranked = sorted(matched, key=lambda row: (row["kind"] == "machine", row["doc_id"], row["start"]))
    evidence.exemplars = [_coding_quote(row, texts[row["doc_id"]], participants[row["doc_id"]])
                          for row in _spread(ranked, exemplars, key="doc_id")]
    return evidence


def survey_evidence(theme: Theme, supports: list[dict], comparisons: list[dict], n_respondents: int) -> Evidence:
    """``supports``: ``survey.support`` rows for the theme's refs; ``comparisons``: ``survey.compare`` rows."""
    evidence = Evidence(theme.id, "survey", mapped=bool(theme.survey_refs), n_total=n_respondents)
    if not theme.survey_refs or not supports:
        return evidence
    answered = [row for row in supports if row["n"]]
    evidence.n_units = max((row["n"] for row in answered), default=0)
    if answered:
        evidence.share = float(np.mean([row["agree"] for row in answered]))
        evidence.n_sources = round(evidence.share * evidence.n_units)
    leans = [_survey_lean(row) for row in answered]
    evidence.direction = _combine(leans)
    evidence.direction_basis = "; ".join(
        f"{row['ref']}: agree {row['agree']:.0%}, disagree {row['disagree']:.0%}"
        f"{' (agreement speaks against)' if row['direction'] < 0 else ''}" for row in answered)
    evidence.statistics = supports + comparisons
    return evidence


def indicator_evidence(theme: Theme, supports: list[dict]) -> Evidence:
    """``supports``: ``indicators.support`` rows for the theme's indicators."""
    evidence = Evidence(theme.id, "indicators", mapped=bool(theme.indicator_refs))
    if not theme.indicator_refs or not supports:
        return evidence
    evidence.n_total = max(row["n_regions"] for row in supports)
    evidence.n_units = sum(row.get("n_values", row["n_regions"]) for row in supports)
    shares = [row["share_latest_in_best_band"] if row.get("share_latest_in_best_band") is not None
              else row["share_regions_improving"] for row in supports]
    evidence.share = float(np.mean(shares))
    evidence.n_sources = round(evidence.share * evidence.n_total)
    evidence.direction = _combine([_lean_share(row["share_regions_improving"]) for row in supports])
    evidence.direction_basis = "; ".join(f"{row['indicator']}: {row['share_regions_improving']:.0%} of regions "
                                         f"moved the supporting way" for row in supports)
    evidence.statistics = supports
    return evidence


def mark_presence(evidence: list[Evidence], min_sources: int) -> None:
    for item in evidence:
        needed = min_sources if item.source in ("policy", "interviews") else 1
        item.present = item.mapped and (item.n_sources if item.source in ("policy", "interviews")
                                        else item.n_units) >= needed
        if item.present and item.share is None:
            item.share = item.n_sources / item.n_total if item.n_total else 0.0


def mark_prominence(evidence: list[Evidence], cutoffs: tuple[float, float] | None) -> dict[str, tuple[float, float]]:
    """Band each present theme within its data set; returns the cut-offs used per source (for the report)."""
    used = {}
    for source in SOURCES:
        items = [item for item in evidence if item.source == source and item.present]
        if not items:
            continue
        shares = np.array([item.share for item in items], dtype=float)
        low, high = cutoffs or (float(np.quantile(shares, 1 / 3)), float(np.quantile(shares, 2 / 3)))
        used[source] = (low, high)
        for item in items:
            if cutoffs is None and math.isclose(low, high):
                item.prominence = "medium"  # tertiles of equal shares say nothing about prominence
            else:
                item.prominence = "low" if item.share < low else "high" if item.share > high or (
                    cutoffs is not None and item.share >= high) else "medium"
    return used


# --- convergence -----------------------------------------------------------------------------------

def suggest(a: Evidence, b: Evidence) -> tuple[str, str]:
    """Farmer's label for one theme and pair of data sets, and the rule that gave it."""
    if not a.present and not b.present:
        return "silence", "neither data set has evidence"
    if not a.present or not b.present:
        silent = a if not a.present else b
        return "silence", f"{silent.source} is silent on the theme"
    same_prominence = a.prominence == b.prominence
    prominence = f"prominence {a.prominence} vs {b.prominence}"
    if a.direction is None or b.direction is None:
        return "partial_agreement", f"{prominence}; meaning not comparable (a data set carries no direction)"
    same_meaning = a.direction == b.direction
    meaning = f"{DIRECTION_NAMES[a.direction]} vs {DIRECTION_NAMES[b.direction]}"
    matches = same_prominence + same_meaning
    label = ("dissonance", "partial_agreement", "agreement")[matches]
    return label, f"{prominence}; {meaning}"


def convergence(themes: Themes, evidence: list[Evidence], judged: dict, consensus: str) -> list[dict]:
    """One row per theme and pair of data sets that both map the theme."""
    index = {(item.theme, item.source): item for item in evidence}
    rows = []
    for theme in themes.themes:
        for source_a, source_b in itertools.combinations(SOURCES, 2):
            a, b = index[theme.id, source_a], index[theme.id, source_b]
            if not (a.mapped and b.mapped):
                continue
            suggested, rule = suggest(a, b)
            labels = judged.get((theme.id, source_a, source_b), {})
            final, status = final_label(labels, consensus)
            rows.append({
                "theme": theme.id, "source_a": source_a, "source_b": source_b, "suggested": suggested,
                "final": final,
                "rationale": "; ".join(f"{who}: {row['rationale']}" for who, row in sorted(labels.items())
                                       if row["rationale"]),
                "status": status, "question": theme.question, "rule": rule, "machine_suggested": not final,
                "prominence_a": a.prominence, "prominence_b": b.prominence,
                "direction_a": DIRECTION_NAMES[a.direction] if a.present else "",
                "direction_b": DIRECTION_NAMES[b.direction] if b.present else "",
                "labelled_by": ", ".join(sorted(labels)),
                "exemplars_a": " | ".join(e["id"] for e in a.exemplars),
                "exemplars_b": " | ".join(e["id"] for e in b.exemplars),
            })
    return rows


def final_label(labels: dict[str, dict], consensus: str) -> tuple[str, str]:
    """The researchers' label for a cell: the consensus row if any, else the one label they all gave."""
    if consensus in labels:
        return labels[consensus]["label"], "consensus"
    given = {row["label"] for row in labels.values()}
    if not given:
        return "", "unconfirmed"
    if len(given) == 1:
        return given.pop(), "confirmed" if len(labels) == 1 else "agreed"
    return "", "disputed"


def assessment(rows: list[dict]) -> list[dict]:
    """Farmer step 3: the final labels tallied per pair of data sets and overall; unconfirmed apart."""
    out = []
    pairs = sorted({(row["source_a"], row["source_b"]) for row in rows}, key=_pair_order)
    for pair in [*pairs, None]:
        cells = [row for row in rows if pair is None or (row["source_a"], row["source_b"]) == pair]
        tally = Counter(row["final"] for row in cells if row["final"])
        out.append({"pair": "overall" if pair is None else f"{pair[0]}↔{pair[1]}", "cells": len(cells),
                    **{label: tally[label] for label in LABELS},
                    "unconfirmed": sum(not row["final"] for row in cells),
                    "disputed": sum(row["status"] == "disputed" for row in cells)})
    return out


def researcher_comparison(judged: dict, consensus: str) -> dict:
    """Farmer step 5: how far researchers who labelled the same cells agree (reliability module)."""
    researchers = sorted({who for labels in judged.values() for who in labels if who != consensus})
    cells = [(cell, labels) for cell, labels in judged.items()
             if sum(who != consensus for who in labels) >= 2]
    ratings = [[labels.get(who, {}).get("label") for who in researchers] for _, labels in cells]
    result = {"researchers": researchers, "double_labelled": len(cells), "percent_agreement": None,
              "cohen_kappa": None, "krippendorff_alpha": None, "disagreements": []}
    if not cells:
        return result
    result["percent_agreement"] = reliability.percent_agreement(ratings)
    if len(researchers) == 2:
        result["cohen_kappa"] = reliability.cohen_kappa(ratings)
    result["krippendorff_alpha"] = reliability.krippendorff_alpha(ratings)
    for (theme, source_a, source_b), labels in cells:
        given = {who: row["label"] for who, row in labels.items() if who != consensus}
        if len(set(given.values())) > 1:
            resolved = labels.get(consensus)
            result["disagreements"].append({
                "theme": theme, "pair": f"{source_a}↔{source_b}",
                **{who: label for who, label in sorted(given.items())},
                "resolved_as": resolved["label"] if resolved else "",
                "resolution_note": resolved["rationale"] if resolved else ""})
    return result


# --- completeness and stakeholders ------------------------------------------------------------------

def theme_rows(themes: Themes, evidence: list[Evidence]):
    """Per theme in file order: the theme, the first columns of its table row, its evidence per data set."""
    index = {(item.theme, item.source): item for item in evidence}
    for theme in themes.themes:
        yield (theme, {"theme": theme.id, "name": theme.name, "question": theme.question},
               {source: index[theme.id, source] for source in SOURCES})


def completeness(themes: Themes, evidence: list[Evidence]) -> tuple[list[dict], list[dict]]:
    """Farmer step 4: the theme × data-set presence grid, and per question what is unique and shared."""
    grid = []
    for theme, row, items in theme_rows(themes, evidence):
        for source, item in items.items():
            row[source] = "" if not item.mapped else int(item.present)
            row[f"{source}_n"] = item.n_units if item.mapped else ""
        grid.append(row)
    summary = []
    for question in sorted({theme.question for theme in themes.themes}):
        rows = [row for row in grid if row["question"] == question]
        unique, shared_all, shared_some = [], [], []
        for row in rows:
            mapped = [s for s in SOURCES if row[s] != ""]
            speaking = [s for s in mapped if row[s] == 1]
            if len(speaking) == 1 and len(mapped) > 1:
                unique.append(f"{row['theme']} ({speaking[0]} only)")
            elif speaking and len(speaking) == len(mapped):
                shared_all.append(row["theme"])
            elif len(speaking) > 1:
                shared_some.append(f"{row['theme']} ({', '.join(speaking)})")
        summary.append({"question": question, "question_text": themes.questions.get(question, ""),
                        "unique_to_one_source": "; ".join(unique), "shared_by_all": "; ".join(shared_all),
                        "shared_by_some": "; ".join(shared_some)})
    return grid, summary


def stakeholders(evidence: list[Evidence]) -> list[dict]:
    """Per theme and stakeholder group: who raises it and which way their coded views lean."""
    rows = []
    for item in evidence:
        if item.source != "interviews" or not item.present:
            continue
        directions = {g["direction"] for g in item.breakdown["group"].values() if g["segments"]}
        for group, values in item.breakdown["group"].items():
            rows.append({"theme": item.theme, "group": group, **{k: v for k, v in values.items() if k != "direction"},
                         "direction": DIRECTION_NAMES[values["direction"]] if values["segments"] else "",
                         "groups_differ": len(directions - {None}) > 1})
    return rows


# --- the researchers' files -------------------------------------------------------------------------

def read_judgements(folder: Path, themes: Themes) -> tuple[dict, dict]:
    """(convergence labels per cell and researcher, meta-inferences per theme and researcher).

    Append-only files: a later row by the same researcher for the same cell is their current label,
    earlier rows stay as the record of how it changed.
    """
    known = {theme.id for theme in themes.themes}
    cells: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for line, row in sheet_rows(folder / CONVERGENCE_FILE, CONVERGENCE_COLUMNS):
        pair = tuple(sorted((row["source_a"], row["source_b"]), key=SOURCES.index)) \
            if {row["source_a"], row["source_b"]} <= set(SOURCES) else None
        problem = (f"unknown theme {row['theme']!r}" if row["theme"] not in known
                   else f"unknown data sets {row['source_a']!r}/{row['source_b']!r}" if pair is None
                   else f"label {row['label']!r} is not one of {', '.join(LABELS)}" if row["label"] not in LABELS
                   else "no researcher named" if not row["researcher"] else "")
        if problem:
            raise InputError(folder / CONVERGENCE_FILE, f"row {line}: {problem}", code="judgement-invalid")
        cells[(row["theme"], *pair)][row["researcher"]] = row
    meta: dict[str, dict[str, dict]] = defaultdict(dict)
    for line, row in sheet_rows(folder / META_FILE, META_COLUMNS):
        problem = (f"unknown theme {row['theme']!r}" if row["theme"] not in known
                   else f"fit {row['fit']!r} is not one of {', '.join(FITS)}" if row["fit"] and row["fit"] not in FITS
                   else "no researcher named" if not row["researcher"] else "")
        if problem:
            raise InputError(folder / META_FILE, f"row {line}: {problem}", code="judgement-invalid")
        meta[row["theme"]][row["researcher"]] = row
    return dict(cells), dict(meta)


def append_judgements(folder: Path, name: str, rows: list[dict]) -> int:
    """Add rows to a researchers' file (created with its header); never rewrites what is there."""
    columns = CONVERGENCE_COLUMNS if name == CONVERGENCE_FILE else META_COLUMNS
    path = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    stamp = utc_now()
    with path.open("a", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerows({**{c: row.get(c, "") for c in columns}, "recorded_at": row.get("recorded_at") or stamp}
                         for row in rows)
    return len(rows)


def sheet_rows(path: Path, columns: tuple[str, ...]):
    """(row number as the user sees it, the named cells as text) of a researchers' CSV or XLSX file;
    nothing when the file does not exist yet."""
    if not path.exists():
        return
    header, rows = read_rows(path, "")
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(path, f"missing columns {', '.join(missing)}", code="judgement-invalid")
    for line, row in rows:
        yield line, {c: cell_text(row.get(c)) for c in columns}


# --- helpers ---------------------------------------------------------------------------------------

def _count(values) -> dict:
    return dict(sorted(Counter(values).items(), key=lambda kv: (-kv[1], str(kv[0]))))


def _stance_counts(rows: list[dict], stances: dict[str, str]) -> tuple[int, int]:
    found = Counter(stances.get(row["code"], "") for row in rows)
    return found["positive"], found["negative"]


def _lean(positive: int, negative: int) -> int | None:
    if positive + negative == 0:
        return None
    return _lean_share(positive / (positive + negative))


def _lean_share(share: float) -> int:
    return 1 if share >= LEAN else -1 if share <= 1 - LEAN else 0


def _survey_lean(row: dict) -> int:
    margin = row["agree"] - row["disagree"]
    return (1 if margin >= SURVEY_MARGIN else -1 if margin <= -SURVEY_MARGIN else 0) * row["direction"]


def _combine(leans: list[int]) -> int | None:
    if not leans:
        return None
    return leans[0] if len(set(leans)) == 1 else 0


def _spread(rows: list[dict], n: int, *, key: str = "doc_id") -> list[dict]:
    """The first ``n`` rows, taken from different documents while there are any."""
    chosen, seen = [], set()
    for row in rows:
        if row[key] not in seen and len(chosen) < n:
            chosen.append(row)
            seen.add(row[key])
    return chosen + [row for row in rows if row not in chosen][:n - len(chosen)]


QUOTE_LENGTH = 160
TOPIC_SHARE = 0.3


def _window(text: str, start: int, end: int, words: tuple[str, ...]) -> tuple[int, int]:
    """A stretch of at most QUOTE_LENGTH code points of text[start:end], around the first keyword in it."""
    if end - start <= QUOTE_LENGTH:
        return start, end
    hits = [pos for word in words if (pos := text.find(word, start, end)) >= 0]
    if not hits:
        return start, start + QUOTE_LENGTH
    begin = max(start, min(hits) - 40)
    # start at a sentence rather than mid-phrase when one begins before the keyword
    sentence = max(text.rfind(mark, begin, min(hits)) for mark in "。；;！？")
    begin = sentence + 1 if sentence >= 0 else begin
    return begin, min(end, begin + QUOTE_LENGTH)


def _quote(unit: dict, text: str, words: tuple[str, ...]) -> dict:
    start, end = _window(text, unit["start"], unit["end"], words)
    return {"id": unit["unit_id"], "document": unit["document"], "doc_id": unit["doc_id"], "start": start,
            "end": end, "quote": text[start:end], "level": unit["level"] or "",
            "instrument": unit["primary_instrument"]}


def _coding_quote(row: dict, text: str, participant: dict) -> dict:
    start, end = _window(text, row["start"], row["end"], ())
    return {"id": row["unit_id"] or f"{row['doc_id']}:{row['start']}-{row['end']}", "document": row["document"],
            "doc_id": row["doc_id"], "start": start, "end": end, "quote": text[start:end], "code": row["code"],
            "participant": participant["participant"], "group": participant["group"], "coder": row["coder"]}


def _pair_order(pair: tuple[str, str]) -> tuple[int, int]:
    return SOURCES.index(pair[0]), SOURCES.index(pair[1])
