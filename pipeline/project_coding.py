"""The coding half of the library API: codebook, codings, memos, assignments, coding sheets,
auto-coding, agreement and reconciliation, and coding reports.  ``Project`` inherits these methods;
the CLI (``policoder code``, ``policoder codebook``, ``policoder agreement``) and the workbench call
them, and so can a notebook.

Human work is only ever appended (``pipeline.db``); what stands now is computed by
``pipeline.coding.current``.
"""
from __future__ import annotations

import json
import sqlite3
import warnings
from collections import Counter, defaultdict
from pathlib import Path

from . import agreement as agreement_stats
from . import coding, coding_report, coding_sheets
from . import db as store
from .autocode import AutoCoder
from .codebook import Codebook, load_codebook
from .errors import CodingWarning, ProjectError
from .records import utc_now

MEMO_TARGETS = ("project", "document", "unit", "code", "coding")


class CodingMethods:
    """Mixed into ``Project`` (which gives ``db``, ``config``, ``root`` and ``tokenizer_settings``)."""

    # --- codebook ---------------------------------------------------------------------------

    def codebook(self, name_or_path: str | Path | None = None) -> Codebook:
        """The project's codebook (``[coding] codebook``), or another one by name or path."""
        chosen = name_or_path or self.config.coding.codebook
        if not chosen:
            raise ProjectError("no codebook: set [coding] codebook in policoder.toml (a YAML file, or a shipped "
                               "example: iei_interviews, performance_four_dimensions)", code="no-codebook")
        return load_codebook(chosen, root=self.root, require_definitions=self.config.coding.require_definitions)

    def _codebook_or_none(self) -> Codebook | None:
        return self.codebook() if self.config.coding.codebook else None

    # --- reading codings --------------------------------------------------------------------

    def _documents_now(self, doc_ids: list[int] | None = None) -> dict[int, dict]:
        """The documents (of ``doc_ids`` only, when given) with their current text and attributes."""
        sql, wanted = "SELECT id, path, kind, content_hash, text, attributes FROM documents", list(doc_ids or ())
        if doc_ids is not None:
            sql += f" WHERE id IN ({', '.join('?' * len(wanted))})"
        cursor = self.db.execute(sql, wanted)
        return {row[0]: {"path": row[1], "kind": row[2], "content_hash": row[3], "text": row[4],
                         "attributes": json.loads(row[5] or "{}")} for row in cursor}

    def coding_units(self) -> list[dict]:
        """Units coders code and agreement compares: transcript turns (interviewer questions aside)
        and policy clauses."""
        return [unit for unit in store.coding_units(self.db) if unit["role"] != "interviewer"]

    def codings(self, *, coders: list[str] | None = None, machine: bool = True,
                doc_ids: list[int] | None = None) -> list[dict]:
        """The codings that stand now, human and (with ``machine``) auto-coder ones; of some documents
        only with ``doc_ids`` (a coding's edits stay in its document, so only theirs are anchored)."""
        codebook = self._codebook_or_none()
        documents = self._documents_now(doc_ids)  # only theirs are read: their texts anchor the codings
        wanted = None if doc_ids is None else set(doc_ids)

        def of_documents(rows: list[dict]) -> list[dict]:
            return rows if wanted is None else [row for row in rows if row["doc_id"] in wanted]

        human = of_documents(store.coding_rows(self.db))
        units = coding.UnitIndex(of_documents(store.coding_units(self.db)) if human else [])  # only to place codings
        rows = coding.current(human, documents,
                              lambda doc_id, digest: store.version_text(self.db, doc_id, digest), units, codebook)
        if machine:
            rows += coding.machine(of_documents(store.machine_coding_rows(self.db)), documents, codebook)
        return [row for row in rows if coders is None or row["coder"] in coders]

    def coding_history(self, coding_id: int) -> list[dict]:
        chain = coding.history(store.coding_rows(self.db), coding_id)
        if not chain:
            raise ProjectError(f"no coding {coding_id}", code="unknown-coding")
        return chain

    # --- writing codings --------------------------------------------------------------------

    def code(self, document: str | int, start: int, end: int, code: str, coder: str, *,
             memo: str | None = None) -> int:
        """Code the span [start, end) (code points of the document's current text); returns the coding id."""
        return self.code_span(document, start, end, [code], coder, memo=memo)[0]

    def code_span(self, document: str | int, start: int, end: int, codes: list[str], coder: str, *,
                  memo: str | None = None, source: str = "api") -> list[int]:
        """Apply one or more codes to the span [start, end) in one transaction: all or none."""
        codebook = self.codebook()
        doc = self._document_row(document)
        self._check_span(doc, start, end)
        self._check_own_coder(coder)
        if not codes or len(set(codes)) != len(codes):
            raise ProjectError("give one or more different codes", code="unknown-code")
        for code in codes:
            _check_code(codebook, code)
        for row in self.codings(coders=[coder], machine=False, doc_ids=[doc["id"]]):
            if (row["start"], row["end"]) == (start, end) and row["code"] in codes:
                raise ProjectError(f"coding {row['id']} already codes {start}–{end} of document {doc['id']} with "
                                   f"{row['code']} for {coder}; nothing written", code="duplicate-coding")
        unit_id = self._unit_of(doc["id"], start, end)
        return self._append([{"doc_id": doc["id"], "start": start, "end": end, "code": code, "coder": coder,
                              "memo": memo, "codebook": codebook.id, "codebook_version": codebook.version,
                              "unit_id": unit_id, "source": source} for code in codes])

    def recode(self, coding_id: int, *, by: str, code: str | None = None, start: int | None = None,
               end: int | None = None, memo: str | None = None, as_lead: bool = False) -> int:
        """Change a coding (its code, span or memo): a new row supersedes it; the old one stays in history.
        Only its own coder changes it, unless ``as_lead``: a team lead correcting it (recorded)."""
        old = self._own(coding_id, by, as_lead)
        codebook = self.codebook()
        start = old["start"] if start is None else start
        end = old["end"] if end is None else end
        if start is None:
            raise ProjectError(f"coding {coding_id} lost its place in the text; give its new start and end",
                               code="coding-unanchored")
        doc = self._document_row(str(old["doc_id"]))
        self._check_span(doc, start, end)
        code = code or old["code"]
        _check_code(codebook, code)
        unit_id = self._unit_of(old["doc_id"], start, end, warn=(start, end) != (old["start"], old["end"]))
        return self._append([{"doc_id": old["doc_id"], "start": start, "end": end, "code": code,
                              "coder": old["coder"], "memo": old["memo"] if memo is None else memo,
                              "codebook": codebook.id, "codebook_version": codebook.version,
                              "unit_id": unit_id, "supersedes": coding_id,
                              "changed_by": by, "source": "lead-edit" if by != old["coder"] else "edit"}])[0]

    def uncode(self, coding_id: int, *, by: str, as_lead: bool = False) -> int:
        """Remove a coding: a deletion row supersedes it (history keeps it).  Only its own coder removes
        it, unless ``as_lead``: a team lead correcting it (recorded)."""
        standing = self._own(coding_id, by, as_lead)
        row = next(r for r in store.coding_rows(self.db) if r["id"] == standing["id"])
        return self._append([{**row, "supersedes": coding_id, "deleted": True, "changed_by": by,
                              "source": "lead-delete" if by != standing["coder"] else "delete"}])[0]

    def _own(self, coding_id: int, by: str, as_lead: bool) -> dict:
        """The standing coding ``by`` may change: their own, or anyone's when a lead corrects it."""
        _check_coder(by)
        standing = self._standing(coding_id)
        if standing["coder"] != by and not as_lead:
            case = " (the names differ only by case)" if standing["coder"].casefold() == by.casefold() else ""
            raise ProjectError(f"coding {coding_id} is {standing['coder']}'s: {by} may not change it{case} (a team "
                               f"lead correcting it says so: --as-lead, recorded in its history)",
                               code="not-your-coding")
        return standing

    def _check_own_coder(self, coder: str) -> None:
        """A human coder coding as themselves: not the consensus (``reconcile`` records it), and a warning
        when the name differs from a known coder's only by case."""
        _check_coder(coder)
        if coder == self.config.coding.consensus_coder:
            raise ProjectError(f"{coder!r} is the consensus coder: consensus is recorded by `policoder code reconcile` "
                               f"(or the workbench's agreement page); code as yourself", code="reserved-coder")
        alike = sorted(name for name in store.coder_names(self.db)
                       if name.casefold() == coder.casefold() and name != coder)
        if alike:
            warnings.warn(f"coder {coder!r} differs from {', '.join(map(repr, alike))} only by case: they count as "
                          f"different coders", CodingWarning, stacklevel=3)

    def _standing(self, coding_id: int) -> dict:
        for row in self.codings(machine=False):
            if row["id"] == coding_id:
                return row
        chain = coding.history(store.coding_rows(self.db), coding_id)
        if not chain:
            raise ProjectError(f"no coding {coding_id}", code="unknown-coding")
        last = chain[-1]
        state = "deleted" if last["deleted"] else f"replaced by coding {last['id']}"
        raise ProjectError(f"coding {coding_id} was already {state}; see `policoder code history {coding_id}`",
                           code="coding-superseded")

    def _append(self, rows: list[dict]) -> list[int]:
        try:
            return store.add_codings(self.db, rows, utc_now())
        except sqlite3.IntegrityError as error:
            raise ProjectError(f"nothing written: another change got there first ({error})",
                               code="coding-conflict") from None

    def _document_row(self, document: str | int) -> dict:
        found = store.find_document(self.db, str(document))
        if found is None:
            raise ProjectError(f"no single document matches {document!r}; see `policoder docs`",
                               code="unknown-document")
        return found

    @staticmethod
    def _check_span(doc: dict, start: int, end: int) -> None:
        if end <= start:
            raise ProjectError(f"span {start}–{end}: the end is not after the start (give START END, END the larger)",
                               code="bad-span")
        if not 0 <= start < end <= len(doc["text"]):
            raise ProjectError(f"span {start}–{end} is not inside document {doc['id']} "
                               f"(0–{len(doc['text'])} code points)", code="bad-span")

    def _unit_of(self, doc_id: int, start: int, end: int, *, warn: bool = True) -> str | None:
        """The unit holding the span, if one does; with ``warn``, a warning when the span crosses units or
        lies on an interviewer question (agreement counts it only for the units ``UnitIndex.counted``
        gives, never for questions)."""
        index = coding.UnitIndex([u for u in store.coding_units(self.db) if u["doc_id"] == doc_id])
        crossed = index.overlapping(doc_id, start, end) if warn else []
        question = lambda u: " (interviewer question)" if u["role"] == "interviewer" else ""  # noqa: E731
        if len(crossed) > 1:
            counted = [u["unit_id"] for u in index.counted(doc_id, start, end) if u["role"] != "interviewer"]
            names = ", ".join(u["unit_id"] + question(u) for u in crossed)
            warnings.warn(f"span {start}–{end} crosses units {names}; "
                          f"agreement counts it for {', '.join(counted) or 'none of them'} (a unit holding half of "
                          f"the span or half covered by it; never an interviewer question)", CodingWarning,
                          stacklevel=3)
        elif crossed and crossed[0]["role"] == "interviewer":
            warnings.warn(f"unit {crossed[0]['unit_id']} is an interviewer question: agreement and coding sheets "
                          f"leave questions out", CodingWarning, stacklevel=3)
        unit = index.holding(doc_id, start, end)
        return unit["unit_id"] if unit else None

    # --- memos ------------------------------------------------------------------------------

    def write_memo(self, target_kind: str, target: str | int, text: str, coder: str, *,
                   replaces: int | None = None, made_at: str | None = None) -> int:
        """A memo on the project, a document, a unit, a code or a coding (a new version with ``replaces``;
        ``made_at``: when it was made, if before now, as for a memo from another QDA tool)."""
        _check_memo_kind(target_kind)
        _check_coder(coder)
        if not text.strip():
            raise ProjectError("a memo needs text", code="bad-memo")
        target = self._memo_target(target_kind, target)
        if replaces is not None:
            replaced = next((row for row in store.memo_rows(self.db) if row["id"] == replaces), None)
            if replaced is None:
                raise ProjectError(f"no memo {replaces}", code="unknown-memo")
            if (replaced["target_kind"], replaced["target"]) != (target_kind, target):  # a new version, not a move
                raise ProjectError(f"memo {replaces} is on {replaced['target_kind']} {replaced['target']}; its new "
                                   f"version must be too, not on {target_kind} {target}", code="bad-memo")
        try:
            return store.add_memo(self.db, target_kind=target_kind, target=str(target), text=text, coder=coder,
                                  now=utc_now(), supersedes=replaces, made_at=made_at)
        except sqlite3.IntegrityError:
            raise ProjectError(f"memo {replaces} was already replaced", code="memo-superseded") from None

    def _memo_target(self, target_kind: str, target: str | int) -> str:
        """The memo's target as stored (a document by its number), refused when there is no such thing."""
        target = str(target)
        if target_kind == "document":
            return str(self._document_row(target)["id"])
        if target_kind == "unit" and not store.has_unit(self.db, target):
            raise ProjectError(f"no unit {target!r}; see `policoder show DOC`", code="unknown-unit")
        if target_kind == "code" and target not in self.codebook().by_id:
            raise ProjectError(f"code {target!r} is not in the codebook", code="unknown-code")
        if target_kind == "coding" and not (target.isdigit() and store.has_coding(self.db, int(target))):
            raise ProjectError(f"no coding {target}", code="unknown-coding")
        return target

    def memos(self, *, target_kind: str | None = None, target: str | int | None = None) -> list[dict]:
        if target_kind is not None:
            _check_memo_kind(target_kind)
        rows = store.memo_rows(self.db)
        standing = coding.current_rows(rows)
        return [row for row in standing if (target_kind is None or row["target_kind"] == target_kind)
                and (target is None or row["target"] == str(target))]

    # --- assignment and coverage ------------------------------------------------------------

    def assign(self, coders: list[str], n: int, *, sample: str, stratify: str | None = "group",
               kind: str = "transcript", blind: bool = True, seed: int | None = None) -> list[dict]:
        """Give every coder in ``coders`` the same sample of ``n`` units (stratified by a document
        attribute such as the participant group), so that their overlap for agreement is planned."""
        from sklearn.model_selection import train_test_split

        for coder in coders:
            self._check_own_coder(coder)
        documents = self._documents_now()
        pool = [u for u in self.coding_units() if u["kind"] == kind]
        if not 0 < n <= len(pool):
            raise ProjectError(f"cannot sample {n} of {len(pool)} {kind} units", code="bad-sample")
        seed = self.config.project.seed if seed is None else seed
        strata = [documents[u["doc_id"]]["attributes"].get(stratify) or "(none)" for u in pool] if stratify else None
        if n == len(pool):
            chosen = pool
        else:
            try:
                chosen, _ = train_test_split(pool, train_size=n, random_state=seed, stratify=strata)
            except ValueError as error:
                raise ProjectError(f"cannot stratify by {stratify!r}: {error}", code="bad-sample") from None
        rows = [{"sample": sample, "coder": coder, "doc_id": unit["doc_id"], "unit_id": unit["unit_id"],
                 "blind": blind} for coder in coders for unit in sorted(chosen, key=_unit_order)]
        store.add_assignments(self.db, rows, utc_now())
        return rows

    def assignments(self, coder: str | None = None) -> list[dict]:
        return [row for row in store.assignment_rows(self.db) if coder is None or row["coder"] == coder]

    def coverage(self, codings: list[dict] | None = None) -> dict[str, set[str]]:
        """Coder → the units they rated: units assigned to them (or rated on a sheet they imported);
        units their codings count for; every unit of a document they coded in where nothing was
        assigned to them (coding freely means reading it all); for the auto-coder, every unit it was
        run on."""
        units = self.coding_units()
        index = coding.UnitIndex(units)
        seen: dict[str, set[str]] = defaultdict(set)
        assigned_docs = set()
        for row in store.assignment_rows(self.db):
            seen[row["coder"]].add(row["unit_id"])
            assigned_docs.add((row["coder"], row["doc_id"]))
        for row in codings if codings is not None else self.codings():
            if coding.is_machine(row["coder"]):
                continue
            if (row["coder"], row["doc_id"]) not in assigned_docs:
                seen[row["coder"]] |= {unit["unit_id"] for unit in index.by_doc.get(row["doc_id"], ())}
            elif row["start"] is not None:
                counted = index.counted(row["doc_id"], row["start"], row["end"])
                seen[row["coder"]] |= {unit["unit_id"] for unit in counted}
        kinds = set(self.config.coding.auto_kinds)
        for coder in {row["coder"] for row in store.machine_coding_rows(self.db)} | (
                {coding.MACHINE_PREFIX} if self._auto_ran() else set()):
            seen[coder] |= {unit["unit_id"] for unit in units if unit["kind"] in kinds}
        known = {unit["unit_id"] for unit in units}
        return {coder: ids & known for coder, ids in seen.items()}

    def _auto_ran(self) -> bool:
        return self.db.execute("SELECT 1 FROM runs WHERE command = 'autocode' LIMIT 1").fetchone() is not None

    def blind_samples(self, coder: str) -> list[str]:
        """The samples ``coder`` was assigned blind (``assign``) that no one has released yet."""
        return sorted({row["sample"] for row in self.assignments(coder) if row["blind"] and not row["released_at"]})

    def codes_blind(self, coder: str) -> bool:
        """Whether ``coder`` has blind assignments not yet released: while they do, other coders' work is
        not shown to them (in sheets, the workbench and its disagreement list), so their codes stay
        independent."""
        return bool(self.blind_samples(coder))

    def check_sees_others(self, coder: str) -> None:
        samples = self.blind_samples(coder)
        if samples:
            raise ProjectError(f"{coder} has blind assignments (sample {', '.join(samples)}): other coders' work "
                               f"stays hidden until the sample is released, once agreement is measured "
                               f"(`policoder code release {samples[0]} --by LEAD`)", code="blind-assignment")

    def release(self, sample: str, *, by: str, coders: list[str] | None = None) -> dict:
        """End the blind phase of a sample (for some of its coders): they may see others' work from now
        on; who released it and when is recorded on its assignments."""
        _check_coder(by)
        rows = [row for row in store.assignment_rows(self.db) if row["sample"] == sample]
        if not rows:
            raise ProjectError(f"no sample {sample!r}; see `policoder code assign`", code="unknown-sample")
        unknown = sorted(set(coders or ()) - {row["coder"] for row in rows})
        if unknown:
            raise ProjectError(f"sample {sample!r} has no coder {', '.join(unknown)}", code="unknown-coder")
        store.release_assignments(self.db, sample, coders, by, utc_now())
        return {"sample": sample, "released_by": by,
                "coders": sorted({row["coder"] for row in rows if row["blind"] and not row["released_at"]
                                  and (not coders or row["coder"] in coders)}),
                "still_blind": sorted(coder for coder in {row["coder"] for row in rows} if self.codes_blind(coder))}

    # --- coding sheets ----------------------------------------------------------------------

    def coding_sheet(self, coder: str, out: str | Path, *, layout: str = "matrix", blind: bool = True,
                     assigned: bool = False) -> Path:
        """A sheet of units for ``coder``: the units assigned to them (``assigned``), or every unit of
        the auto-coded kinds; their current whole-unit codes filled in; others' hidden when ``blind``."""
        _check_coder(coder)
        if not blind:
            self.check_sees_others(coder)
        codebook = self.codebook()
        documents = self._documents_now()
        units = self.coding_units()
        if assigned:
            mine = {row["unit_id"] for row in self.assignments(coder)}
            if not mine:
                raise ProjectError(f"nothing is assigned to {coder}; see `policoder code assign`",
                                   code="no-assignment")
            units = [unit for unit in units if unit["unit_id"] in mine]
        else:
            units = [unit for unit in units if unit["kind"] in self.config.coding.auto_kinds]
        codings = self.codings(machine=False)
        whole = _whole_unit_codes(codings, {unit["unit_id"]: unit for unit in units})
        rated = self.coverage(codings).get(coder, set())
        rows = []
        for unit in units:
            row = {**_sheet_row(unit, documents),
                   "codes": whole.get((unit["unit_id"], coder), set()) if unit["unit_id"] in rated else None}
            if not blind:
                row[coding_sheets.OTHERS] = "; ".join(
                    f"{other}: {', '.join(sorted(codes))}" for (unit_id, other), codes in sorted(whole.items())
                    if unit_id == unit["unit_id"] and other != coder)
            rows.append(row)
        return coding_sheets.write_sheet(rows, codebook, Path(out), layout=layout)

    def import_coding_sheet(self, path: str | Path, coder: str, *, source: str = "sheet",
                            by: str | None = None) -> dict:
        """Read a filled sheet as ``coder``'s whole-unit codings: codes added or removed on the sheet
        become new rows (removals supersede); all or nothing.  ``by``: who decided, if not the coder
        (a reconciliation's)."""
        _check_coder(coder) if source == "reconcile" else self._check_own_coder(coder)
        path = Path(path)
        codebook = self.codebook()
        units = {unit["unit_id"]: unit for unit in self.coding_units()}
        sheet = coding_sheets.read_sheet(path, codebook, units)
        rows, added, removed = self._unit_code_changes(sheet.units, coder, f"{source}:{path.name}", codebook, units,
                                                       by=by)
        memos = [entry for entry in sheet.units + sheet.memos if entry["memo"]
                 and entry["memo"] not in {m["text"] for m in self.memos(target_kind="unit", target=entry["unit_id"])}]
        with store.transaction(self.db):
            self._append(rows)
            store.add_assignments(self.db, [{"sample": f"{source}:{path.name}", "coder": coder,
                                             "doc_id": units[e["unit_id"]]["doc_id"], "unit_id": e["unit_id"],
                                             "blind": False}  # what was rated: only `assign` blinds
                                            for e in sheet.units], utc_now())
            for entry in memos:
                self.write_memo("unit", entry["unit_id"], entry["memo"], by or coder)
        return {"coder": coder, "units": len(sheet.units), "added": added, "removed": removed,
                "memos": len(memos), "not_rated": sheet.not_rated,
                "blank": len(sheet.not_rated), "warnings": sheet.warnings}

    def _unit_code_changes(self, entries: list[dict], coder: str, source: str, codebook: Codebook,
                           units: dict[str, dict], *, by: str | None = None) -> tuple[list[dict], int, int]:
        """The rows that make ``coder``'s whole-unit codes of each entry's unit exactly its ``codes``:
        new codings, and deletions that supersede (``by``: who decided, if not the coder)."""
        whole = _whole_unit_codings(self.codings(coders=[coder], machine=False), units)
        stored = {row["id"]: row for row in store.coding_rows(self.db)}
        rows, added, removed = [], 0, 0
        for entry in entries:
            unit = units[entry["unit_id"]]
            have = {code: row for (unit_id, code), row in whole.items() if unit_id == entry["unit_id"]}
            for code in sorted(entry["codes"] - set(have)):
                rows.append({"doc_id": unit["doc_id"], "start": unit["start"], "end": unit["end"], "code": code,
                             "coder": coder, "codebook": codebook.id, "codebook_version": codebook.version,
                             "unit_id": unit["unit_id"], "source": source, "changed_by": by})
                added += 1
            for code in sorted(set(have) - entry["codes"]):
                old = stored[have[code]["id"]]
                rows.append({**old, "supersedes": old["id"], "deleted": True, "changed_by": by or coder,
                             "source": source})
                removed += 1
        return rows, added, removed

    # --- auto-coding ------------------------------------------------------------------------

    def autocode(self) -> dict:
        """Apply the codebook's rules to the configured kinds of units, as the machine coder ``auto``."""
        codebook = self.codebook()
        coder = AutoCoder(codebook, self.tokenizer_settings())
        units = [u for u in self.coding_units() if u["kind"] in self.config.coding.auto_kinds]
        by_id = {unit["unit_id"]: unit for unit in units}
        found = coder.code_units(units)
        store.write_machine_codings(self.db, coding.MACHINE_PREFIX, [
            {"doc_id": by_id[c.unit_id]["doc_id"], "content_hash": by_id[c.unit_id]["content_hash"],
             "unit_id": c.unit_id, "start": by_id[c.unit_id]["start"], "end": by_id[c.unit_id]["end"],
             "code": c.code, "codebook": codebook.id, "codebook_version": codebook.version,
             "rule_version": codebook.rule_version, "cues": list(c.cues)} for c in found])
        run_id = self._start_run("autocode")
        store.finish_run(self.db, run_id, utc_now())
        return {"coder": coding.MACHINE_PREFIX, "units": len(units), "codings": len(found),
                "units_coded": len({c.unit_id for c in found}), "rule_version": codebook.rule_version,
                "codes": dict(sorted(Counter(c.code for c in found).items()))}

    # --- agreement and reconciliation --------------------------------------------------------

    def _ratings(self, *, unit: str | None, coders: list[str] | None, depth: int | None, machine: bool | None,
                 codings: list[dict] | None = None):
        """``coders`` default: every human coder but the consensus, and (``machine``, default
        ``[agreement] include_machine``) the machine coder."""
        settings = self.config.agreement
        unit = unit or settings.unit
        if unit not in agreement_stats.UNIT_KINDS:
            raise ProjectError(f"unit must be one of {', '.join(agreement_stats.UNIT_KINDS)}", code="bad-unit")
        codebook = self._codebook_or_none()
        codings = self.codings() if codings is None else codings
        consensus = self.config.coding.consensus_coder
        machine = settings.include_machine if machine is None else machine
        coders = coders or sorted({c["coder"] for c in codings if c["coder"] != consensus
                                   and (machine or not coding.is_machine(c["coder"]))})
        if len(coders) < 2:
            raise ProjectError(f"agreement needs two coders or more; found {', '.join(coders) or 'none'}"
                               + ("" if machine else " among the human coders (the machine coder counts only when "
                                                     "asked: --machine, [agreement] include_machine)"),
                               code="too-few-coders")
        roll_up = (lambda code: _ancestor(codebook, code, depth)) if depth is not None and codebook else str
        coverage = self.coverage(codings)
        units = self.coding_units()
        doc_coverage = {coder: {u["doc_id"] for u in units if u["unit_id"] in ids} for coder, ids in coverage.items()}
        if unit == "unit":
            ratings = agreement_stats.unit_ratings(codings, units, coverage, coders, roll_up)
        elif unit == "segment":
            lengths = {doc_id: len(d["text"]) for doc_id, d in self._documents_now().items()
                       if any(doc_id in docs for docs in doc_coverage.values())}
            ratings = agreement_stats.segment_ratings(codings, lengths, doc_coverage, coders,
                                                      settings.segment_length, roll_up)
        else:
            ratings = agreement_stats.span_ratings(codings, doc_coverage, coders, settings.overlap, roll_up)
        codes = sorted({roll_up(c["code"]) for c in codings if c["coder"] in coders})
        return ratings, codes, unit

    def agreement(self, *, unit: str | None = None, coders: list[str] | None = None, codes: list[str] | None = None,
                  depth: int | None = None, boot: int | None = None, machine: bool | None = None,
                  codings: list[dict] | None = None) -> dict:
        """Agreement per code, overall, per coder pair and per document (see ``pipeline.agreement``).
        ``depth``: compare codes rolled up to their ancestor at that depth (0 = top level); ``machine``:
        count the machine coder too (default ``[agreement] include_machine``); ``machine_coders`` and
        each pair's ``machine`` say where it took part; ``codings``: ``codings()``, when the caller has
        them already."""
        ratings, found, unit = self._ratings(unit=unit, coders=coders, depth=depth, machine=machine, codings=codings)
        settings = self.config.agreement
        options = agreement_stats.Settings(unit=unit, segment_length=settings.segment_length,
                                           overlap=settings.overlap, boot=settings.boot if boot is None else boot,
                                           seed=self.config.project.seed)
        paths = {doc_id: d["path"] for doc_id, d in self._documents_now().items()}
        result = agreement_stats.report(ratings, codes or found, options, paths)
        result["depth"] = depth
        if unit == "span":  # every span unit holds a span: with none shared, κ and α say only that
            result["matched_spans"] = sum(sum(value == 1 for value in row) >= 2
                                          for rows in (ratings.by_code or {}).values() for row in rows)
            if not result["matched_spans"]:
                result["note"] = (f"no spans of two coders matched at overlap ≥ {settings.overlap} (intersection / "
                                  f"union, [agreement] overlap): every span unit holds one coder's span, so the "
                                  f"coefficients below only say that no span was shared")
        result["machine_coders"] = [coder for coder in ratings.coders if coding.is_machine(coder)]
        for pair in result["pairs"]:
            pair["machine"] = any(coding.is_machine(coder) for coder in pair["coders"])
        return result

    def disagreements(self, *, coders: list[str] | None = None, depth: int | None = None,
                      machine: bool | None = None, codings: list[dict] | None = None) -> list[dict]:
        """The units coders disagree on, with each coder's codes (``machine`` and ``codings`` as in
        ``agreement``)."""
        ratings, _, _ = self._ratings(unit="unit", coders=coders, depth=depth, machine=machine, codings=codings)
        texts = {unit["unit_id"]: unit["text"] for unit in self.coding_units()}
        return agreement_stats.disagreements(ratings, texts)

    def disagreement_sheet(self, out: str | Path, *, coders: list[str] | None = None, depth: int | None = None,
                           machine: bool | None = None) -> Path:
        """A sheet of the units coders disagree on, each coder's codes shown, a ``codes`` column for the
        consensus; import it with ``reconcile``."""
        rows = self.disagreements(coders=coders, depth=depth, machine=machine)
        documents = self._documents_now()
        units = {unit["unit_id"]: unit for unit in self.coding_units()}
        sheet_rows = []
        for row in rows:
            unit = units[row["unit_id"]]
            given = {k: v for k, v in row.items() if k not in ("doc_id", "unit_id", "text")}
            sheet_rows.append({**_sheet_row(unit, documents), "codes": None,
                               coding_sheets.OTHERS: " | ".join(f"{c}: {v or '-'}" for c, v in given.items())})
        return coding_sheets.write_sheet(sheet_rows, self.codebook(), Path(out), layout="column")

    def reconcile(self, sheet: str | Path | None = None, *, coders: list[str] | None = None,
                  agreed: bool = True, decisions: dict[str, list[str]] | None = None, by: str | None = None,
                  machine: bool | None = None) -> dict:
        """Record consensus codings as their own coder (``[coding] consensus_coder``), never touching
        the originals: units all coders agree on (``agreed``: two humans or more, and the machine
        coder too with ``machine``), the decisions of a filled disagreement sheet, and ``decisions``
        (unit id → its consensus codes) made by ``by``."""
        consensus = self.config.coding.consensus_coder
        codebook = self.codebook()
        summary = {"coder": consensus, "agreed_units": 0, "sheet": None, "decided": None, "by": by}
        if decisions or by is not None:
            _check_coder(by or "")
        if decisions:
            units = {unit["unit_id"]: unit for unit in self.coding_units()}
            for unit_id, codes in decisions.items():
                if unit_id not in units:
                    raise ProjectError(f"no unit {unit_id!r}; see `policoder show DOC`", code="unknown-unit")
                for code in codes:
                    _check_code(codebook, code)
            rows, added, removed = self._unit_code_changes(
                [{"unit_id": unit_id, "codes": set(codes)} for unit_id, codes in decisions.items()], consensus,
                f"reconcile:{by}", codebook, units, by=by)
            self._append(rows)
            summary["decided"] = {"units": len(decisions), "added": added, "removed": removed}
        if agreed:
            ratings, _, _ = self._ratings(unit="unit", coders=coders, depth=None, machine=machine)
            units = {unit["unit_id"]: unit for unit in self.coding_units()}
            have = _whole_unit_codings(self.codings(coders=[consensus], machine=False), units)
            rows = [{"doc_id": unit["doc_id"], "start": units[unit["unit_id"]]["start"],
                     "end": units[unit["unit_id"]]["end"], "code": code, "coder": consensus,
                     "codebook": codebook.id, "codebook_version": codebook.version, "unit_id": unit["unit_id"],
                     "source": "reconcile:agreed", "changed_by": by}
                    for unit, codes in agreement_stats.agreed(ratings, coding.is_machine) for code in sorted(codes)
                    if (unit["unit_id"], code) not in have and code in codebook.by_id]
            self._append(rows)
            summary["agreed_units"] = len({row["unit_id"] for row in rows})
        if sheet is not None:
            summary["sheet"] = self.import_coding_sheet(sheet, consensus, source="reconcile", by=by)
        return summary

    # --- reports ----------------------------------------------------------------------------

    def report_coders(self, coders: list[str] | None = None, *, machine: bool = True) -> list[str]:
        """The coders a coding report covers: ``coders``, or every coder but the consensus (the machine
        coder too, with ``machine``)."""
        return list(coders) if coders else self._report_coders(self.codings(machine=machine))

    def _report_coders(self, codings: list[dict]) -> list[str]:
        return sorted({row["coder"] for row in codings} - {self.config.coding.consensus_coder})

    def _report_codings(self, coders: list[str] | None, *, machine: bool = True) -> list[dict]:
        """The codings a report counts, read once: those of ``report_coders``."""
        codings = self.codings(machine=machine)
        chosen = set(coders or self._report_coders(codings))
        return [row for row in codings if row["coder"] in chosen]

    def coding_frequencies(self, by: str = "code", *, coders: list[str] | None = None) -> list[dict]:
        """Per code (and value of ``by``): ``codings`` (coded spans: a unit two coders coded counts
        twice), distinct ``units`` and ``documents``, and how many ``coders``, of ``report_coders``."""
        if by not in coding_report.BY:
            raise ProjectError(f"by must be one of {', '.join(coding_report.BY)}", code="bad-option")
        documents = self._documents_now()
        return coding_report.frequencies(self._report_codings(coders),
                                         {k: d["attributes"] for k, d in documents.items()}, by)

    def code_cooccurrence(self, mode: str = "unit", *, coders: list[str] | None = None) -> list[dict]:
        """Codes one coder gave in the same unit (or on overlapping spans), over ``report_coders``."""
        if mode not in coding_report.COOCCURRENCE:
            raise ProjectError(f"mode must be one of {', '.join(coding_report.COOCCURRENCE)}", code="bad-option")
        return coding_report.cooccurrence(self._report_codings(coders), mode)

    def coded_segments(self, *, coders: list[str] | None = None, machine: bool = True) -> list[dict]:
        documents = self._documents_now()
        units = {unit["unit_id"]: unit for unit in store.coding_units(self.db)}
        return coding_report.segments(self._report_codings(coders, machine=machine),
                                      {k: d["attributes"] for k, d in documents.items()}, units,
                                      self._codebook_or_none())


def _check_memo_kind(target_kind: str) -> None:
    if target_kind not in MEMO_TARGETS:
        raise ProjectError(f"memo target must be one of {', '.join(MEMO_TARGETS)}, got {target_kind!r}",
                           code="bad-memo")


def _check_coder(coder: str) -> None:
    """The rule for every human coder's name (text codings and instrument labels alike)."""
    if not coder or not coder.strip():
        raise ProjectError("a coder name is needed (--coder NAME)", code="no-coder")
    if coder != coder.strip():  # " alice " would be a second coder beside "alice"
        raise ProjectError(f"coder name {coder!r} has spaces around it; give {coder.strip()!r}", code="coder-invalid")
    if coding.is_machine(coder):
        raise ProjectError(f"{coder!r} is the machine coder's name; choose another", code="reserved-coder")


def _check_code(codebook: Codebook, code: str) -> None:
    if code not in codebook.by_id:
        raise ProjectError(f"code {code!r} is not in codebook {codebook.id} v{codebook.version}", code="unknown-code")
    if not codebook.by_id[code].codable:
        raise ProjectError(f"code {code!r} is a container; code with one of its children", code="not-codable")


def _ancestor(codebook: Codebook, code: str, depth: int) -> str:
    chain = codebook.ancestors(code)
    return chain[min(depth, len(chain) - 1)].id if chain else code


def _sheet_row(unit: dict, documents: dict[int, dict]) -> dict:
    """What a coding sheet shows of a unit: where it is, who speaks, the participant's group, its text."""
    attributes = documents[unit["doc_id"]]["attributes"]
    return {"unit_id": unit["unit_id"], "document": unit["document"], "speaker": unit["speaker"] or "",
            "participant": attributes.get("participant", ""), "group": attributes.get("group", ""),
            "text": unit["text"]}


def _whole_unit(codings: list[dict], units: dict[str, dict]) -> list[dict]:
    """The codings that cover exactly one unit (what coding sheets show and write)."""
    return [row for row in codings if (unit := units.get(row["unit_id"] or ""))
            and row["start"] == unit["start"] and row["end"] == unit["end"]]


def _whole_unit_codings(codings: list[dict], units: dict[str, dict]) -> dict[tuple[str, str], dict]:
    """(unit id, code) → one coder's coding that covers exactly that unit."""
    return {(row["unit_id"], row["code"]): row for row in _whole_unit(codings, units)}


def _whole_unit_codes(codings: list[dict], units: dict[str, dict]) -> dict[tuple[str, str], set[str]]:
    """(unit id, coder) → codes of whole-unit codings."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in _whole_unit(codings, units):
        out[row["unit_id"], row["coder"]].add(row["code"])
    return out


def _unit_order(unit: dict) -> tuple:
    return unit["doc_id"], unit["position"]
