"""Reconciling coders' instrument labels, as scholars do: the clauses two coders or more labelled
differently go on a sheet beside each other (each coder's flags and primary label), with empty
columns for the decision and its reason; the clauses they labelled alike are agreed as they stand.

A label is compared by what the coding sheet asks: the scheme's presence flags and the primary
label (``Scheme.flags``).  The decisions and the agreed labels are recorded as one more human
coder, the reconciled coder (``[instruments] reconciled_coder``), whose label stands over the
single coders' on a clause; the coders' own labels stay in the store as they were.
"""
from __future__ import annotations

PRIMARY = "primary"
MEMO = "memo"
REASON = "reason"  # the decision's memo column on a reconciliation sheet
DIFFERS = "differs_on"
SEPARATOR = ": "  # a coder's column: "<coder>: <flag>", "<coder>: primary", "<coder>: memo"


def column(coder: str, field: str) -> str:
    return f"{coder}{SEPARATOR}{field}"


def coder_columns(coders: list[str], flags: tuple[str, ...]) -> tuple[str, ...]:
    """The columns that show each coder's label, coder by coder, then which parts differ."""
    return (*[column(coder, field) for coder in coders for field in (*flags, PRIMARY, MEMO)], DIFFERS)


def coders_of(header: list[str]) -> list[str]:
    """The coders a reconciliation sheet shows, from its columns."""
    suffix = SEPARATOR + PRIMARY
    return [name[:-len(suffix)] for name in header if name.endswith(suffix) and len(name) > len(suffix)]


def view(label: dict, flags: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """What two labels are compared on: the flags marked, and the primary label."""
    return tuple(flag for flag in flags if flag in label["labels"]), label["primary"]


def compare(given: dict[str, dict[str, dict]], coders: list[str], units: list[str], flags: tuple[str, ...]
            ) -> tuple[list[dict], list[dict]]:
    """``given``: coder → unit id → their current label.  Of the ``units`` (in order) two of ``coders``
    or more labelled: (the differing ones, each ``{unit_id, labels: coder → label, differs_on}``;
    the agreed ones, each ``{unit_id, labels, primary}`` as the coders gave it)."""
    differing, agreed = [], []
    for unit_id in units:
        labels = {coder: given[coder][unit_id] for coder in coders if unit_id in given.get(coder, {})}
        if len(labels) < 2:
            continue
        views = [view(label, flags) for label in labels.values()]
        if len(set(views)) == 1:
            marked, primary = views[0]
            agreed.append({"unit_id": unit_id, "labels": set(marked) | {primary}, "primary": primary})
            continue
        differs = [flag for flag in flags if len({flag in marked for marked, _ in views}) > 1]
        differs += [PRIMARY] if len({primary for _, primary in views}) > 1 else []
        differing.append({"unit_id": unit_id, "labels": labels, "differs_on": differs})
    return differing, agreed


def shown(entry: dict, coders: list[str], flags: tuple[str, ...]) -> dict:
    """A differing clause's coder columns: each coder's flags as 0/1, primary and memo (empty for a
    coder who did not label it)."""
    values = {DIFFERS: "; ".join(entry["differs_on"])}
    for coder in coders:
        label = entry["labels"].get(coder)
        for flag in flags:
            values[column(coder, flag)] = "" if label is None else int(flag in label["labels"])
        values[column(coder, PRIMARY)] = "" if label is None else label["primary"]
        values[column(coder, MEMO)] = "" if label is None else label.get("memo") or ""
    return values


def decision(label: dict | None, flags: tuple[str, ...]) -> dict:
    """The decision columns of a clause, filled with the reconciled label that stands (empty without one)."""
    if label is None:
        return {}
    return {**{flag: 1 for flag in flags if flag in label["labels"]}, PRIMARY: label["primary"],
            "confidence": label.get("confidence") or "", REASON: label.get("memo") or ""}
