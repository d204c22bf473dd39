"""Writing a triangulation: the self-contained HTML page, Markdown, one XLSX workbook, the CSV tables
(``convergence.csv``, ``joint_display.csv`` …), and member-checking packets for interviewees.

Honesty rules from the method note (§4.10) hold in every format: silence is printed as silence, n stands
beside every share, a machine suggestion is always marked unconfirmed, and the header gives the share of
cells a researcher has confirmed.
"""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from . import indicators as indicator_tables
from . import survey as surveys
from .export import atomic_write, write_table, write_workbook
from .themes import SOURCES

SOURCE_NAMES = {"policy": "Policy texts 政策文本", "interviews": "Interviews 访谈", "survey": "Survey 问卷",
                "indicators": "Indicators 统计指标"}
CONVERGENCE_HEAD = ("theme", "source_a", "source_b", "suggested", "final", "rationale")
EXEMPLAR_COLUMNS = ("id", "document", "doc_id", "start", "end", "quote", "level", "instrument", "participant",
                    "group", "code", "coder")


def tables(result) -> dict[str, list[dict]]:
    """Every table of the report as rows (the CSV files and the workbook's sheets)."""
    sorting = []
    for source in SOURCES:
        present = sorted((e for e in result.evidence if e.source == source and e.present),
                         key=lambda e: -(e.share or 0))
        rank = {e.theme: number for number, e in enumerate(present, start=1)}
        sorting += [{"theme": e.theme, "question": result.themes.by_id(e.theme).question, "source": source,
                     "mapped": e.mapped, "present": e.present, "n_units": e.n_units, "n_sources_with_theme": e.n_sources,
                     "n_sources": e.n_total, "share_sources": round(e.share, 4) if e.share is not None else None,
                     "rank": rank.get(e.theme), "prominence_band": e.prominence,
                     "direction": e.direction, "direction_basis": e.direction_basis}
                    for e in result.evidence if e.source == source]
    exemplars = [{"theme": e.theme, "source": e.source, **{k: quote.get(k, "") for k in EXEMPLAR_COLUMNS}}
                 for e in result.evidence for quote in e.exemplars]
    out = {
        "joint_display": result.joint_display,
        "convergence": [{**{k: row[k] for k in CONVERGENCE_HEAD}, **row} for row in result.convergence],
        "assessment": result.assessment,
        "sorting": sorting,
        "presence": result.presence,
        "completeness": result.completeness,
        "stakeholders": result.stakeholders,
        "exemplars": exemplars,
        "researcher_disagreements": result.researchers["disagreements"],
    }
    for loaded in result.surveys:
        out[f"survey_{loaded.id}"] = surveys.describe_all(loaded)
        out[f"reliability_{loaded.id}"] = surveys.reliability_table(loaded)
        out[f"comparisons_{loaded.id}"] = [surveys.compare(loaded, ref, by) for ref in (*loaded.items, *loaded.scales)
                                           for by in loaded.compare_by]
    for table in result.indicator_tables:
        out[f"indicators_{table.id}"] = indicator_tables.values(table)
        out[f"indicator_change_{table.id}"] = [{"indicator": name, **row} for name in (*table.derived, *table.columns)
                                               for row in indicator_tables.compare(table, name)]
    return out


def write_report(result, out: Path, *, formats: tuple[str, ...] = ("html", "md", "xlsx")) -> dict:
    """Write the report files into ``out``; returns {name: path}."""
    out.mkdir(parents=True, exist_ok=True)
    rows = tables(result)
    written = {}
    for name in ("convergence", "joint_display", "sorting", "assessment", "presence", "completeness",
                 "stakeholders", "exemplars"):
        columns = CONVERGENCE_HEAD if name == "convergence" else ()
        written[name] = write_table(rows[name], "csv", out / f"{name}.csv", columns=columns)
    for name in rows:
        if name.startswith(("survey_", "reliability_", "comparisons_", "indicators_", "indicator_change_")):
            written[name] = write_table(rows[name], "csv", out / f"{name}.csv")
    if "xlsx" in formats:
        written["xlsx"] = write_workbook(rows, out / "triangulation.xlsx")
    context = _context(result, rows)
    for fmt, template in (("html", "triangulation.html"), ("md", "triangulation.md")):
        if fmt in formats:
            text = _environment(fmt).get_template(template).render(**context)
            written[fmt] = atomic_write(out / template, lambda p, t=text: p.write_text(t, encoding="utf-8"))
    return written


def write_member_packets(result, codings: list[dict], out: Path, *, formats: tuple[str, ...] = ("md", "html", "docx"),
                         participants: list[str] | None = None) -> list[Path]:
    """One packet per interviewee: their coded segments and a summary of each theme drawn from them."""
    out.mkdir(parents=True, exist_ok=True)
    theme_codes = {}
    interview = {e.theme: e for e in result.evidence if e.source == "interviews" and e.mapped}
    for theme in result.themes.themes:
        if theme.id in interview:
            theme_codes[theme.id] = set(interview[theme.id].breakdown.get("code", {})) | set(theme.interview_codes)
    written = []
    packets = _packets(result, codings, theme_codes)
    for packet in packets:
        if participants and packet["participant"] not in participants:
            continue
        stem = out / f"member_check_{packet['participant']}"
        for fmt in formats:
            if fmt == "docx":
                written.append(_docx(packet, stem.with_suffix(".docx")))
            else:
                text = _environment(fmt).get_template(f"member_check.{fmt}").render(packet=packet)
                written.append(atomic_write(stem.with_suffix(f".{fmt}"),
                                             lambda p, t=text: p.write_text(t, encoding="utf-8")))
    return written


def _packets(result, codings: list[dict], theme_codes: dict[str, set[str]]) -> list[dict]:
    joint = {row["theme"]: row for row in result.joint_display}
    by_doc: dict[int, list[dict]] = {}
    for row in codings:
        by_doc.setdefault(row["doc_id"], []).append(row)
    packets = []
    for doc_id, rows in sorted(by_doc.items()):
        attributes = result.participants.get(doc_id)
        if attributes is None:
            continue  # a policy document coded with the codebook has no interviewee
        rows.sort(key=lambda r: (r["start"], r["code"]))
        themes = []
        for theme in result.themes.themes:
            mine = [r for r in rows if r["code"] in theme_codes.get(theme.id, ())]
            if mine:
                themes.append({"id": theme.id, "name": theme.name, "segments": mine,
                               "across_sources": {s: joint[theme.id][s] for s in SOURCES if s != "interviews"},
                               "meta_inference": joint[theme.id]["meta_inference"]})
        packets.append({**attributes, "doc_id": doc_id, "segments": rows, "themes": themes,
                        "generated_at": result.header["generated_at"]})
    return packets


def _docx(packet: dict, path: Path) -> Path:
    from docx import Document

    document = Document()
    document.add_heading(f"访谈核对材料 Member check — {packet['participant']}", level=1)
    document.add_paragraph("请核对以下我们从您的访谈中整理出的片段与主题概要，如有误读或需要补充之处，请直接在文中批注。"
                           " Please check the passages we coded from your interview and the themes we drew from them; "
                           "mark anything we misread or that you wish to add.")
    for theme in packet["themes"]:
        document.add_heading(theme["name"], level=2)
        for segment in theme["segments"]:
            document.add_paragraph(segment["text"], style="Intense Quote")
            document.add_paragraph(f"[{segment['unit_id'] or ''}] {segment['code_path']}")
        for source, summary in theme["across_sources"].items():
            document.add_paragraph(f"{SOURCE_NAMES[source]}: {summary}", style="List Bullet")
        if theme["meta_inference"]:
            document.add_paragraph(f"Researchers' reading: {theme['meta_inference']}")
    return atomic_write(path, lambda p: document.save(str(p)))


def _context(result, rows: dict) -> dict:
    evidence = {(e.theme, e.source): e for e in result.evidence}
    return {"result": result, "header": result.header, "themes": result.themes.themes,
            "questions": result.themes.questions, "sources": SOURCES, "source_names": SOURCE_NAMES,
            "evidence": evidence, "rows": rows,
            "discordant": [row for row in result.joint_display if row["discordant"]],
            "survey_tables": [(s, rows[f"survey_{s.id}"], rows[f"reliability_{s.id}"], rows[f"comparisons_{s.id}"])
                              for s in result.surveys],
            "indicator_tables": [(t, rows[f"indicators_{t.id}"], rows[f"indicator_change_{t.id}"])
                                 for t in result.indicator_tables]}


def _environment(fmt: str) -> Environment:
    environment = Environment(loader=PackageLoader("pipeline", "data/templates"),
                              autoescape=select_autoescape(["html"]) if fmt == "html" else False,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    environment.filters["pct"] = lambda v: "" if v is None else f"{v:.0%}"
    environment.filters["num"] = _number
    environment.filters["pvalue"] = lambda p: "" if p is None else "< 0.0001" if p < 0.0001 else f"{p:.4f}"
    return environment


def _number(value, digits: int = 2) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
