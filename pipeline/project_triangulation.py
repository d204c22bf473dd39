"""The triangulation half of the library API: surveys, indicator tables, themes, the convergence matrix
and the researchers' judgements, the report and member-checking packets.  ``Project`` inherits these
methods; ``policoder survey``, ``policoder indicators`` and ``policoder triangulate`` call them.

Researchers' labels and meta-inferences live in ``[triangulation] judgements`` (beside the project, never
under outputs/); a run only reads them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import indicators as indicator_tables
from . import survey as surveys
from . import triangulation as tri
from .config import prominence_cutoffs
from .errors import ConfigError, PolicoderError, ProjectError
from .records import utc_now
from .themes import SOURCES, Themes, load_themes


@dataclass
class Triangulation:
    """Everything the report shows, as plain rows."""

    themes: Themes
    evidence: list[tri.Evidence]
    convergence: list[dict]
    assessment: list[dict]
    researchers: dict
    presence: list[dict]
    completeness: list[dict]
    stakeholders: list[dict]
    joint_display: list[dict]
    header: dict
    surveys: list = field(default_factory=list)
    indicator_tables: list = field(default_factory=list)
    participants: dict[int, dict] = field(default_factory=dict)  # transcript doc_id → participant, group, role

    def item(self, theme: str, source: str) -> tri.Evidence:
        return next(e for e in self.evidence if e.theme == theme and e.source == source)


class TriangulationMethods:
    """Mixed into ``Project`` (which gives ``db``, ``config``, ``root`` and the coding methods)."""

    def surveys(self) -> list:
        return [surveys.load_survey(self._project_file(path, "survey.files")) for path in self.config.survey.files]

    def indicator_tables(self) -> list:
        return [indicator_tables.load_indicators(self._project_file(path, "indicators.files"))
                for path in self.config.indicators.files]

    def themes(self, loaded_surveys: list | None = None, tables: list | None = None) -> Themes:
        """The themes file, checked against what the project knows."""
        setting = self.config.triangulation.themes
        if not setting:
            raise ProjectError("no themes: set [triangulation] themes in policoder.toml to a themes YAML file",
                               code="no-themes")
        loaded_surveys = self.surveys() if loaded_surveys is None else loaded_surveys
        tables = self.indicator_tables() if tables is None else tables
        codebook = self._codebook_or_none()
        return load_themes(
            self._project_file(setting, "triangulation.themes"),
            codes={code.id for code in codebook.codes} if codebook else set(),
            survey_refs={ref for s in loaded_surveys for ref in (*s.items, *s.scales)},
            indicator_refs={name for t in tables for name in (*t.columns, *t.derived)},
            instruments={label.id for label in self.scheme().labels})

    def judgements_folder(self) -> Path:
        return self.root / self.config.triangulation.judgements

    def triangulation(self) -> Triangulation:
        """Evidence per theme and data set, the convergence matrix with suggestions and the researchers'
        labels, the assessment, completeness, stakeholder views and the joint display."""
        settings = self.config.triangulation
        loaded_surveys, tables = self.surveys(), self.indicator_tables()
        themes = self.themes(loaded_surveys, tables)
        documents = self._documents_now()
        texts = {doc_id: d["text"] for doc_id, d in documents.items()}
        policy_units = self._policy_units(topics=any(t.policy and t.policy.topics for t in themes.themes)) \
            if any(t.policy for t in themes.themes) else []
        n_policy = sum(d["kind"] == "policy" for d in documents.values())
        participants = {doc_id: {"participant": d["attributes"].get("participant") or Path(d["path"]).stem,
                                 "group": d["attributes"].get("group") or "unknown",
                                 "role": d["attributes"].get("role", ""), "document": d["path"]}
                        for doc_id, d in documents.items() if d["kind"] == "transcript"}
        codings, coding_basis = self._interview_codings(participants)
        codebook = self._codebook_or_none()
        descendants = _descendants(codebook) if codebook else {}
        stances = {code.id: code.stance for code in codebook.codes} if codebook else {}
        evidence = []
        for theme in themes.themes:
            supports, comparisons, n_respondents = self._survey_support(theme, loaded_surveys)
            evidence += [
                tri.policy_evidence(theme, policy_units, texts, n_policy, settings.exemplars),
                tri.interview_evidence(theme, codings, participants, descendants, stances, texts, settings.exemplars),
                tri.survey_evidence(theme, supports, comparisons, n_respondents),
                tri.indicator_evidence(theme, [indicator_tables.support(t, ref) for t in tables
                                               for ref in theme.indicator_refs if ref in (*t.columns, *t.derived)]),
            ]
        tri.mark_presence(evidence, settings.min_sources)
        cutoffs = tri.mark_prominence(evidence, prominence_cutoffs(settings.prominence))
        judged, meta = tri.read_judgements(self.judgements_folder(), themes)
        consensus = self.config.coding.consensus_coder
        convergence = tri.convergence(themes, evidence, judged, consensus)
        presence, completeness = tri.completeness(themes, evidence)
        result = Triangulation(
            themes=themes, evidence=evidence, convergence=convergence, assessment=tri.assessment(convergence),
            researchers=tri.researcher_comparison(judged, consensus), presence=presence,
            completeness=completeness, stakeholders=tri.stakeholders(evidence),
            joint_display=_joint_display(themes, evidence, convergence, meta, consensus),
            header={}, surveys=loaded_surveys, indicator_tables=tables, participants=participants)
        result.header = self._triangulation_header(result, codebook, coding_basis, cutoffs, participants, n_policy)
        return result

    def record_convergence(self, theme: str, source_a: str, source_b: str, label: str, researcher: str,
                           rationale: str = "") -> None:
        """A researcher's Farmer label for one cell, appended to the judgements file."""
        themes = self.themes()
        row = {"theme": theme, "source_a": source_a, "source_b": source_b, "researcher": researcher,
               "label": label, "rationale": rationale}
        _check_judgement(themes, row)
        tri.append_judgements(self.judgements_folder(), tri.CONVERGENCE_FILE, [row])

    def record_meta_inference(self, theme: str, researcher: str, *, fit: str = "", text: str = "") -> None:
        """A researcher's fit (confirmation / expansion / discordance) and meta-inference for a theme."""
        themes = self.themes()
        if theme not in {t.id for t in themes.themes}:
            raise ProjectError(f"unknown theme {theme!r}", code="judgement-invalid")
        if fit and fit not in tri.FITS:
            raise ProjectError(f"fit {fit!r} is not one of {', '.join(tri.FITS)}", code="judgement-invalid")
        tri.append_judgements(self.judgements_folder(), tri.META_FILE,
                              [{"theme": theme, "researcher": researcher, "fit": fit, "meta_inference": text}])

    def import_convergence(self, path: str | Path, researcher: str) -> int:
        """Read the ``final`` and ``rationale`` a researcher filled into an exported convergence.csv (or the
        workbook's convergence sheet saved as XLSX); all rows
        are checked before any is recorded, and only labels that differ from theirs now are added."""
        themes = self.themes()
        judged, _ = tri.read_judgements(self.judgements_folder(), themes)
        rows = []
        for line, row in tri.sheet_rows(Path(path), ("theme", "source_a", "source_b", "final", "rationale")):
            if not row["final"]:
                continue
            record = {"theme": row["theme"], "source_a": row["source_a"], "source_b": row["source_b"],
                      "researcher": researcher, "label": row["final"], "rationale": row["rationale"]}
            try:
                _check_judgement(themes, record)
            except ProjectError as error:
                raise ProjectError(f"{path}: row {line}: {error.message}", code="judgement-invalid") from None
            current = judged.get((row["theme"], row["source_a"], row["source_b"]), {}).get(researcher)
            if current is None or (current["label"], current["rationale"]) != (record["label"], record["rationale"]):
                rows.append(record)
        return tri.append_judgements(self.judgements_folder(), tri.CONVERGENCE_FILE, rows) if rows else 0

    def triangulation_report(self, out: str | Path, *, formats: tuple[str, ...] = ("html", "md", "xlsx")) -> dict:
        from .triangulation_report import write_report

        result = self.triangulation()
        files = write_report(result, Path(out), formats=formats)
        suggested = [row["suggested"] for row in result.convergence]
        return {"files": files, "themes": len(result.themes.themes), "cells": result.header["cells"],
                "confirmed": result.header["confirmed"], "silences": suggested.count("silence"),
                "dissonances": suggested.count("dissonance")}

    def member_check(self, out: str | Path, *, formats: tuple[str, ...] = ("md", "html", "docx"),
                     participants: list[str] | None = None) -> list[Path]:
        from .triangulation_report import write_member_packets

        result = self.triangulation()
        codings, _ = self._interview_codings(result.participants)
        return write_member_packets(result, codings, Path(out), formats=formats, participants=participants)

    def _run_triangulation(self, folder: Path) -> dict | None:
        """The batch run's triangulation report, when a themes file is configured.  A bad survey, indicator
        or themes file is reported (one line, in the manifest) and the rest of the run goes on."""
        if not self.config.triangulation.themes:
            return None
        settings = self.config
        inputs = {}
        for setting in (*settings.survey.files, *settings.indicators.files, settings.triangulation.themes):
            path = self.root / setting
            inputs[setting] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        try:
            summary = self.triangulation_report(folder)
        except PolicoderError as error:
            return {"error": str(error), "inputs": inputs}
        return {**summary, "files": sorted(path.name for path in summary["files"].values()), "inputs": inputs}

    # --- gathering ----------------------------------------------------------------------------

    def _project_file(self, setting: str, key: str) -> Path:
        path = Path(setting) if Path(setting).is_absolute() else self.root / setting
        if not path.exists():
            raise ConfigError(self.config.path, f"{setting}: no such file", key=key, code="file-missing")
        return path

    def _policy_units(self, *, topics: bool) -> list[dict]:
        offsets = {row[0]: (row[1], row[2]) for row in self.db.execute('SELECT unit_id, start, "end" FROM clauses')}
        held: dict[tuple[int, str], set[int]] = {}
        if topics:
            latest = self.db.execute("SELECT model_id FROM topic_models ORDER BY created_at DESC LIMIT 1").fetchone()
            if latest is None:
                raise ProjectError("the themes file selects policy clauses by topic, but no topic model has been "
                                   "fitted: run `policoder run` or `policoder topics`", code="no-topic-model")
            for doc_id, unit_id, topic in self.db.execute(
                    "SELECT doc_id, unit_id, topic FROM topic_shares WHERE model_id = ? AND share >= ?",
                    (latest[0], tri.TOPIC_SHARE)):
                held.setdefault((doc_id, unit_id), set()).add(topic)
        return [{**row, "start": offsets[row["unit_id"]][0], "end": offsets[row["unit_id"]][1],
                 "topics": held.get((row["doc_id"], row["unit_id"]), set()) | held.get((row["doc_id"], ""), set())}
                for row in self.instrument_rows()]

    def _interview_codings(self, participants: dict[int, dict]) -> tuple[list[dict], str]:
        """Human codings where anyone has coded (the consensus coder's where reconciled); the auto-coder's
        only for transcripts no human has coded, and the report says so."""
        rows = self.codings(doc_ids=list(participants))
        consensus = self.config.coding.consensus_coder
        human = [row for row in rows if row["kind"] != "machine"]
        reconciled = {row["doc_id"] for row in human if row["coder"] == consensus}
        chosen, seen = [], set()
        human_docs = {row["doc_id"] for row in human}
        for row in rows:
            doc = row["doc_id"]
            wanted = (row["coder"] == consensus if doc in reconciled
                      else row["kind"] != "machine" if doc in human_docs else True)
            key = (doc, row["start"], row["end"], row["code"])
            if wanted and key not in seen:
                seen.add(key)
                chosen.append(row)
        coders = sorted({row["coder"] for row in chosen})
        machine_docs = len({row["doc_id"] for row in chosen if row["kind"] == "machine"})
        basis = f"codings by {', '.join(coders) or 'nobody'}"
        if machine_docs:
            basis += f"; {machine_docs} transcript(s) coded by the auto-coder only (suggestions, not human codings)"
        return chosen, basis

    def _survey_support(self, theme, loaded_surveys) -> tuple[list[dict], list[dict], int]:
        supports, comparisons, respondents = [], [], 0
        for loaded in loaded_surveys:
            refs = [ref for ref in theme.survey_refs if ref in loaded.items or ref in loaded.scales]
            if not refs:
                continue
            respondents += len(loaded.responses)
            for ref in refs:
                supports.append({"survey": loaded.id, **surveys.support(loaded, ref)})
                comparisons += [{"survey": loaded.id, **surveys.compare(loaded, ref, by)} for by in loaded.compare_by]
        return supports, comparisons, respondents

    def _triangulation_header(self, result: Triangulation, codebook, coding_basis: str, cutoffs: dict,
                              participants: dict, n_policy: int) -> dict:
        levels = dict(self.db.execute("SELECT coalesce(level, 'unknown'), count(*) FROM documents "
                                      "WHERE kind = 'policy' GROUP BY 1 ORDER BY 2 DESC").fetchall())
        groups: dict[str, int] = {}
        for p in participants.values():
            groups[p["group"]] = groups.get(p["group"], 0) + 1
        cells = result.convergence
        confirmed = sum(bool(row["final"]) for row in cells)
        settings = self.config.as_dict()["triangulation"]
        return {
            "generated_at": utc_now(),
            "config_hash": hashlib.sha256(json.dumps(self.config.as_dict(), sort_keys=True).encode()).hexdigest()[:16],
            "themes_file": str(result.themes.path.relative_to(self.root)) if result.themes.path.is_relative_to(self.root)
            else str(result.themes.path),
            "themes_digest": result.themes.digest,
            "codebook": f"{codebook.id} v{codebook.version} ({codebook.digest[:12]})" if codebook else "",
            "policy": {"documents": n_policy, "clauses": self.db.execute(
                "SELECT count(*) FROM clauses JOIN documents ON documents.id = clauses.doc_id "
                "WHERE kind = 'policy'").fetchone()[0], "by_level": levels},
            "interviews": {"transcripts": len(participants), "by_group": groups, "codings": coding_basis},
            "surveys": [{"survey": s.id, "title": s.title, "respondents": len(s.responses),
                         "n_items": len(s.items), "n_scales": len(s.scales), "digest": s.digest[:16]}
                        for s in result.surveys],
            "indicators": [{"table": t.id, "title": t.title, "rows": len(t.rows), "digest": t.digest[:16]}
                           for t in result.indicator_tables],
            "unit_of_comparison": "documents (policy), participants (interviews), respondents (survey), "
                                  "regions (indicators)",
            "prominence": settings["prominence"], "prominence_cutoffs": {k: [round(v, 3) for v in pair]
                                                                         for k, pair in cutoffs.items()},
            "min_sources": settings["min_sources"],
            "cells": len(cells), "confirmed": confirmed,
            "confirmed_share": confirmed / len(cells) if cells else 0.0,
            "researchers": result.researchers["researchers"],
        }


def _descendants(codebook) -> dict[str, set[str]]:
    out = {}

    def walk(code_id: str) -> set[str]:
        if code_id not in out:
            out[code_id] = {code_id}.union(*(walk(child.id) for child in codebook.children(code_id)))
        return out[code_id]

    for code in codebook.codes:
        walk(code.id)
    return out


def _check_judgement(themes: Themes, row: dict) -> None:
    if row["theme"] not in {t.id for t in themes.themes}:
        raise ProjectError(f"unknown theme {row['theme']!r}", code="judgement-invalid")
    if row["source_a"] not in SOURCES or row["source_b"] not in SOURCES or row["source_a"] == row["source_b"]:
        raise ProjectError(f"data sets must be two of {', '.join(SOURCES)}", code="judgement-invalid")
    if row["label"] not in tri.LABELS:
        raise ProjectError(f"label {row['label']!r} is not one of {', '.join(tri.LABELS)}", code="judgement-invalid")
    if not row["researcher"]:
        raise ProjectError("name the researcher", code="judgement-invalid")


def _joint_display(themes: Themes, evidence: list[tri.Evidence], convergence: list[dict], meta: dict,
                   consensus: str) -> list[dict]:
    """One row per theme: each data set's evidence side by side, Farmer labels, fit and meta-inference."""
    rows = []
    for theme, row, items in tri.theme_rows(themes, evidence):
        for source, item in items.items():
            row[source] = item.summary
            row[f"{source}_quotes"] = " | ".join(f"[{e['id']}] {e['quote']}" for e in item.exemplars)
        cells = [c for c in convergence if c["theme"] == theme.id]
        row["farmer"] = "; ".join(f"{c['source_a']}↔{c['source_b']}: {c['final'] or c['suggested'] + ' (unconfirmed)'}"
                                  for c in cells)
        judged = meta.get(theme.id, {})
        chosen = judged.get(consensus) or (next(iter(judged.values())) if len(judged) == 1 else None)
        row["fit"] = chosen["fit"] if chosen else ""
        row["meta_inference"] = chosen["meta_inference"] if chosen else ""
        row["discordant"] = any((c["final"] or c["suggested"]) == "dissonance" for c in cells) or row["fit"] == "discordance"
        rows.append(row)
    return rows
