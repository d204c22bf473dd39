"""Codings: from the append-only rows of the store to the codings that stand now.

The store keeps every coding row ever written.  An edit or a deletion is a new row that supersedes
one older row; a coding is *current* when no row supersedes it and it is not a deletion.  A
coding's offsets point into the text version it was made on (Unicode code points, end exclusive).
When a document is re-ingested with a changed text, ``current`` re-anchors each coding by finding
its quoted text in the new version, nearest to where it was; a coding whose text is gone is
flagged ``unanchored`` and kept, never dropped.  Codes are resolved through the codebook's
recorded changes (``Codebook.resolve``): a coding of a renamed code counts for the new name.
"""
from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from .codebook import Codebook

ANCHORS = ("current", "re-anchored", "unanchored")
HUMAN = "human"
MACHINE_PREFIX = "auto"


@dataclass(frozen=True)
class Anchor:
    start: int | None
    end: int | None
    status: str  # one of ANCHORS


def reanchor(old_text: str, new_text: str, start: int, end: int) -> Anchor:
    """Find the span ``old_text[start:end]`` in ``new_text``, nearest to its old relative place."""
    quote = old_text[start:end]
    if not quote:
        return Anchor(None, None, "unanchored")
    expected = start * len(new_text) / max(len(old_text), 1)
    best, found = None, new_text.find(quote)
    while found != -1:
        if best is None or abs(found - expected) < abs(best - expected):
            best = found
        found = new_text.find(quote, found + 1)
    if best is None:
        return Anchor(None, None, "unanchored")
    return Anchor(best, best + len(quote), "re-anchored")


class UnitIndex:
    """The units of each document by offset: which unit holds a span."""

    def __init__(self, units: list[dict]):
        self.by_doc: dict[int, list[dict]] = defaultdict(list)
        for unit in units:
            self.by_doc[unit["doc_id"]].append(unit)
        for doc_units in self.by_doc.values():
            doc_units.sort(key=lambda u: u["start"])
        self._starts = {doc: [u["start"] for u in doc_units] for doc, doc_units in self.by_doc.items()}
        self.by_id = {unit["unit_id"]: unit for unit in units}

    def holding(self, doc_id: int, start: int, end: int) -> dict | None:
        """The unit that contains the whole span, if one does."""
        starts = self._starts.get(doc_id)
        if not starts:
            return None
        index = bisect_right(starts, start) - 1
        if index >= 0:
            unit = self.by_doc[doc_id][index]
            if unit["start"] <= start and end <= unit["end"]:
                return unit
        return None

    def counted(self, doc_id: int, start: int, end: int) -> list[dict]:
        """The units a coding of [start, end) counts for in agreement (``counts_for``)."""
        return [unit for unit in self.overlapping(doc_id, start, end)
                if counts_for(start, end, unit["start"], unit["end"])]

    def overlapping(self, doc_id: int, start: int, end: int) -> list[dict]:
        return [u for u in self.by_doc.get(doc_id, ()) if u["start"] < end and start < u["end"]
                or (start == end == u["start"])]


def counts_for(start: int, end: int, unit_start: int, unit_end: int) -> bool:
    """Whether a coding of [start, end) counts for the unit [unit_start, unit_end) in agreement: the
    unit holds at least half of the coding, or the coding covers at least half of the unit (a span
    running a few characters into the next answer does not code it; one covering two answers codes
    both)."""
    common = min(end, unit_end) - max(start, unit_start)
    return common > 0 and 2 * common >= min(end - start, unit_end - unit_start)


def superseded(rows: list[dict]) -> set[int]:
    return {row["supersedes"] for row in rows if row["supersedes"] is not None}


def current_rows(rows: list[dict]) -> list[dict]:
    """The rows that stand: not superseded by a later row, not deletions."""
    replaced = superseded(rows)
    return [row for row in rows if row["id"] not in replaced and not row["deleted"]]


def history(rows: list[dict], coding_id: int) -> list[dict]:
    """Every row of the coding ``coding_id`` belongs to, from its first version to its last."""
    by_id = {row["id"]: row for row in rows}
    successor = {row["supersedes"]: row["id"] for row in rows if row["supersedes"] is not None}
    if coding_id not in by_id:
        return []
    first = coding_id
    while by_id[first]["supersedes"] is not None:
        first = by_id[first]["supersedes"]
    chain = [by_id[first]]
    while chain[-1]["id"] in successor:
        chain.append(by_id[successor[chain[-1]["id"]]])
    return chain


def current(rows: list[dict], documents: dict[int, dict], old_text: Callable[[int, str], str | None],
            units: UnitIndex, codebook: Codebook | None) -> list[dict]:
    """Resolve the current codings: anchored on each document's current text, codes as they are now.

    ``documents``: doc_id → {content_hash, text, path, attributes}; ``old_text(doc_id, hash)`` gives
    an earlier text version (the store keeps them all).
    """
    out = []
    for row in current_rows(rows):
        document = documents.get(row["doc_id"])
        anchor = Anchor(row["start"], row["end"], "current")
        if document is None:
            anchor = Anchor(None, None, "unanchored")
        elif row["content_hash"] != document["content_hash"]:
            before = old_text(row["doc_id"], row["content_hash"])
            anchor = reanchor(before, document["text"], row["start"], row["end"]) if before is not None \
                else Anchor(None, None, "unanchored")
        unit = units.holding(row["doc_id"], anchor.start, anchor.end) if anchor.start is not None else None
        resolved = codebook.resolve(row["code"], row["codebook_version"]) \
            if codebook is not None and row["codebook"] in (None, codebook.id) else None
        code = resolved.code if resolved else row["code"]
        review = list(resolved.notes if resolved and resolved.needs_review else [])
        if resolved is not None and not resolved.known:
            review.append(f"code {code!r} is not in codebook {codebook.id} v{codebook.version}")
        if anchor.status == "unanchored":
            review.append("its text is no longer in the document: re-code it")
        out.append({
            "id": row["id"], "doc_id": row["doc_id"], "document": document["path"] if document else None,
            "start": anchor.start, "end": anchor.end, "code": code,
            "code_path": codebook.path(code) if codebook is not None and resolved and resolved.known else code,
            "coder": row["coder"], "unit_id": unit["unit_id"] if unit else None,
            "text": document["text"][anchor.start:anchor.end] if document and anchor.start is not None else None,
            "memo": row["memo"], "codebook": row["codebook"], "codebook_version": row["codebook_version"],
            "recorded_code": row["code"], "anchor": anchor.status, "review": "; ".join(review),
            "source": row["source"], "created_at": row["created_at"], "made_at": row["made_at"], "kind": HUMAN,
        })
    return out


def machine(rows: list[dict], documents: dict[int, dict], codebook: Codebook | None) -> list[dict]:
    """Auto-coder rows in the same shape as ``current`` (they are remade, so always anchored)."""
    out = []
    for row in rows:
        document = documents.get(row["doc_id"])
        if document is None or row["content_hash"] != document["content_hash"]:
            continue  # made on an older text: the next auto-coding run remakes it
        known = codebook is not None and row["code"] in codebook.by_id
        out.append({
            "id": None, "doc_id": row["doc_id"], "document": document["path"], "start": row["start"],
            "end": row["end"], "code": row["code"], "code_path": codebook.path(row["code"]) if known else row["code"],
            "coder": row["coder"], "unit_id": row["unit_id"], "text": document["text"][row["start"]:row["end"]],
            "memo": "; ".join(row["cues"]), "codebook": row["codebook"], "codebook_version": row["codebook_version"],
            "recorded_code": row["code"], "anchor": "current", "review": "", "source": f"rules:{row['rule_version']}",
            "created_at": None, "made_at": None, "kind": "machine",
        })
    return out


def is_machine(coder: str) -> bool:
    return coder == MACHINE_PREFIX or coder.startswith(MACHINE_PREFIX + ":")
