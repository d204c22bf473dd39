"""Codebook documents a team prints for coder training (Markdown, XLSX), and the difference
between two codebooks (what a restructuring did)."""
from __future__ import annotations

from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment, Font

from .codebook import Codebook, Code

FIELDS = (("definition", "定义 Definition"), ("include", "何时使用 When to use"),
          ("exclude", "何时不用 When not to use"))


def outline_numbers(codebook: Codebook) -> dict[str, str]:
    """1, 1.1, 1.2, 2 … in tree order."""
    numbers: dict[str, str] = {}
    counters: dict[str | None, int] = {}
    for code in codebook.codes:
        counters[code.parent] = counters.get(code.parent, 0) + 1
        prefix = numbers[code.parent] + "." if code.parent else ""
        numbers[code.id] = f"{prefix}{counters[code.parent]}"
    return numbers


def to_markdown(codebook: Codebook) -> str:
    numbers = outline_numbers(codebook)
    lines = [f"# {codebook.name}", ""]
    if codebook.name_en:
        lines += [f"*{codebook.name_en}*", ""]
    lines += [f"Codebook `{codebook.id}`, version {codebook.version}, {len(codebook.codes)} codes "
              f"({len(codebook.codable)} codable).", ""]
    if codebook.description:
        lines += [codebook.description, ""]
    for code in codebook.codes:
        depth = min(codebook.depth(code.id) + 2, 6)
        title = f"{numbers[code.id]} {code.name}" + (f" / {code.name_en}" if code.name_en else "")
        lines += [f"{'#' * depth} {title}", "", _facts(code), ""]
        for key, heading in FIELDS:
            if getattr(code, key):
                lines += [f"**{heading}.** {getattr(code, key)}", ""]
        for key, heading in (("examples", "典型例子 Typical examples"), ("atypical_examples", "非典型例子 Atypical")):
            if getattr(code, key):
                lines += [f"**{heading}:**", "", *[f"- {example}" for example in getattr(code, key)], ""]
        rules = _rules(code)
        if rules:
            lines += [f"**自动编码 Auto-coding:** {rules}", ""]
    if codebook.changes:
        lines += ["## 修订记录 Changes", "", *[f"- {change.describe()}" for change in codebook.changes], ""]
    return "\n".join(lines)


def _facts(code: Code) -> str:
    facts = [f"`{code.id}`"]
    if not code.codable:
        facts.append("container (not codable)")
    if code.stance:
        facts.append(f"stance: {code.stance}")
    if code.color:
        facts.append(f"colour {code.color}")
    return " · ".join(facts)


def _rules(code: Code) -> str:
    parts = []
    if code.auto.keywords:
        parts.append("keywords " + ", ".join(code.auto.keywords))
    if code.auto.regex:
        parts.append("regex " + ", ".join(f"`{pattern}`" for pattern in code.auto.regex))
    if code.auto.patterns:
        parts.append(f"{len(code.auto.patterns)} token pattern(s)")
    if code.auto.inside:
        parts.append(f"only inside {code.auto.inside}")
    return "; ".join(parts)


def to_xlsx(codebook: Codebook, out: Path) -> Path:
    numbers = outline_numbers(codebook)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "codebook"
    header = ["number", "id", "name", "name_en", "parent", "path", "codable", "stance", "color", "definition",
              "include", "exclude", "examples", "atypical_examples", "auto_coding"]
    sheet.append(header)
    for code in codebook.codes:
        sheet.append([numbers[code.id], code.id, code.name, code.name_en, code.parent or "", codebook.path(code.id),
                      "yes" if code.codable else "no", code.stance, code.color, code.definition, code.include,
                      code.exclude, "\n".join(code.examples), "\n".join(code.atypical_examples), _rules(code)])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column in "JKLMN":
        sheet.column_dimensions[column].width = 45
        for cells in sheet.iter_rows(min_row=2, min_col=ord(column) - 64, max_col=ord(column) - 64):
            cells[0].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "C2"
    info = workbook.create_sheet("about")
    for row in (("codebook", codebook.id), ("name", codebook.name), ("version", codebook.version),
                ("description", codebook.description), *[("change", c.describe()) for c in codebook.changes]):
        info.append(list(row))
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return out


def diff(old: Codebook, new: Codebook) -> list[dict]:
    """What changed from ``old`` to ``new``: recorded operations first, then codes added, removed,
    moved or edited.  Each row: ``change``, ``code``, ``detail``."""
    rows = [{"change": change.operation, "code": ", ".join(change.sources), "detail": change.describe()}
            for change in new.changes if change.version > old.version]
    accounted = {source for change in new.changes if change.version > old.version for source in change.sources}
    for code in new.codes:
        if code.id not in old.by_id and not any(code.id in c.targets for c in new.changes if c.version > old.version):
            rows.append({"change": "added", "code": code.id, "detail": new.path(code.id)})
    for code in old.codes:
        if code.id not in new.by_id and code.id not in accounted:
            rows.append({"change": "removed (no recorded change: its codings will be flagged)", "code": code.id,
                         "detail": old.path(code.id)})
    for code in new.codes:
        before = old.by_id.get(code.id)
        if before is None:
            continue
        if before.parent != code.parent and code.id not in accounted:
            rows.append({"change": "moved", "code": code.id,
                         "detail": f"{old.path(code.id)} → {new.path(code.id)}"})
        for key in ("name", "name_en", "definition", "include", "exclude", "examples", "atypical_examples",
                    "stance", "color", "codable", "auto"):
            if getattr(before, key) != getattr(code, key):
                rows.append({"change": f"{key} edited", "code": code.id,
                             "detail": f"{_short(getattr(before, key))} → {_short(getattr(code, key))}"})
    return rows


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"
