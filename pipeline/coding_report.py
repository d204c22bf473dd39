"""Coding reports: code frequencies by document, participant, group or coder; code co-occurrence;
the coded-segment table (one row per coded span, with the document's attributes, the code's full
path, the coder and the memo) that a paper's qualitative appendix is made from."""
from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations

from .codebook import Codebook

BY = ("document", "participant", "group", "coder", "code")
COOCCURRENCE = ("unit", "overlap")


def frequencies(codings: list[dict], attributes: dict[int, dict], by: str) -> list[dict]:
    """Per code (and per value of ``by``): codings, distinct units, documents and coders."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for coding in codings:
        value = _value(coding, attributes, by)
        groups[(coding["code"], coding["code_path"], value)].append(coding)
    rows = []
    for (code, path, value), members in sorted(groups.items(), key=lambda item: (item[0][0], str(item[0][2]))):
        row = {"code": code, "code_path": path}
        if by != "code":
            row[by] = value
        rows.append({**row, "codings": len(members),
                     "units": len({c["unit_id"] for c in members if c["unit_id"]}),
                     "documents": len({c["doc_id"] for c in members}),
                     "coders": len({c["coder"] for c in members})})
    return rows


def _value(coding: dict, attributes: dict[int, dict], by: str):
    if by in ("code", "coder"):
        return coding[by] if by == "coder" else None
    if by == "document":
        return coding["document"]
    return attributes.get(coding["doc_id"], {}).get(by) or "(none)"


def cooccurrence(codings: list[dict], mode: str = "unit") -> list[dict]:
    """Pairs of codes one coder gave in the same unit (``unit``) or on overlapping spans
    (``overlap``): how often, and Jaccard (shared / either), as QDA tools' code-relations tables
    show.  Codes of different coders never co-occur (two coders' views of a unit are not one
    coding); with several coders a unit counts once per coder."""
    places: dict[str, set] = defaultdict(set)
    if mode == "unit":
        for coding in codings:
            if coding["unit_id"]:
                places[coding["code"]].add((coding["coder"], coding["unit_id"]))
        together = Counter()
        for code_a, code_b in combinations(sorted(places), 2):
            together[code_a, code_b] = len(places[code_a] & places[code_b])
    else:
        together = Counter()
        by_doc: dict[int, list[dict]] = defaultdict(list)
        for coding in codings:
            if coding["start"] is not None:
                by_doc[coding["doc_id"]].append(coding)
                places[coding["code"]].add(coding["id"] or (coding["doc_id"], coding["start"], coding["code"]))
        for spans in by_doc.values():
            spans.sort(key=lambda c: c["start"])
            seen = set()
            for i, a in enumerate(spans):
                for b in spans[i + 1:]:
                    if b["start"] >= a["end"]:
                        break
                    if a["coder"] != b["coder"]:
                        continue
                    pair = tuple(sorted((a["code"], b["code"])))
                    key = (pair, a["coder"], min(a["start"], b["start"]), max(a["end"], b["end"]))
                    if a["code"] != b["code"] and key not in seen:
                        seen.add(key)
                        together[pair] += 1
    rows = []
    for (code_a, code_b), count in sorted(together.items()):
        if count:
            either = len(places[code_a] | places[code_b]) if mode == "unit" else \
                len(places[code_a]) + len(places[code_b]) - count
            rows.append({"code_a": code_a, "code_b": code_b, "together": count,
                         "jaccard": round(count / either, 4) if either else None})
    return rows


def segments(codings: list[dict], attributes: dict[int, dict], units: dict[str, dict],
             codebook: Codebook | None) -> list[dict]:
    """One row per coded span: where, what text, which code (full path), who, memo, status."""
    keys = sorted({key for values in attributes.values() for key in values})
    rows = []
    for coding in sorted(codings, key=lambda c: (c["doc_id"], c["start"] if c["start"] is not None else -1,
                                                 c["code"], c["coder"])):
        unit = units.get(coding["unit_id"] or "", {})
        code = codebook.by_id.get(coding["code"]) if codebook else None
        rows.append({
            "coding_id": coding["id"], "doc_id": coding["doc_id"], "document": coding["document"],
            **{f"attr_{key}": attributes.get(coding["doc_id"], {}).get(key) for key in keys},
            "unit_id": coding["unit_id"], "speaker": unit.get("speaker"), "start": coding["start"],
            "end": coding["end"], "text": coding["text"], "code": coding["code"], "code_path": coding["code_path"],
            "stance": code.stance if code else None, "coder": coding["coder"], "kind": coding["kind"],
            "memo": coding["memo"], "codebook_version": coding["codebook_version"], "anchor": coding["anchor"],
            "review": coding["review"],
        })
    return rows
