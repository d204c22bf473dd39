"""The REFI-QDA half of the library API: the codebook as ``.qdc``, the project as ``.qdpx``, and
codings from NVivo, ATLAS.ti, MAXQDA or QualCoder taken back (``pipeline.refi`` does the XML).

Import is all or nothing per file: every source is matched or read, every code mapped and every
span carried onto our text and checked before anything is written (codings of codes the codebook
lacks are left out and reported, unless the codes are added to it); the codings are then appended
as the coders the file names, in one transaction, never replacing one already there, and a file
imported twice adds nothing the second time.  A source whose text matches no document becomes a
new document: its text is written to ``<corpus>/refi/<file name>/`` with a metadata sheet of its
attributes and ingested, so the corpus folder keeps it as the tool had it.
"""
from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import re
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from . import coding, refi
from . import db as store
from .codebook import IDENTIFIER, add_codes
from .config import set_setting
from .errors import InputError, ProjectError
from .export import atomic_write
from .ingest import read_source
from .project_coding import _check_code
from .records import KINDS, LEVELS

DOCUMENT_FIELDS = ("kind", "title", "doc_number", "issuer", "date", "level")  # exported as variables too
_OUR_NOTE = re.compile(r"memo on (project|document|unit|code|coding) (.*)\Z", re.S)  # the names our export gives


def _origin() -> str:
    return f"policoder {importlib.metadata.version('policoder')}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RefiMethods:
    """Mixed into ``Project``."""

    # --- export -----------------------------------------------------------------------------

    def refi_codebook(self, out: str | Path) -> Path:
        """The project's codebook as a REFI-QDA codebook file (``.qdc``)."""
        xml = refi.codebook_xml(self.codebook(), _origin())
        return atomic_write(Path(out), lambda p: p.write_bytes(xml))

    def refi_export(self, out: str | Path, *, coders: list[str] | None = None) -> dict:
        """The project as a REFI-QDA archive (``.qdpx``): every document as plain text, the codebook,
        the human codings (``coders``: only theirs; name ``auto`` to add the machine coder's), the
        coders as users, document attributes as variables, participants as cases, memos as notes."""
        codebook = self.codebook()
        documents = [row for row in store.rows(self.db, "documents", with_text=True) if row["status"] != "missing"]
        for row in documents:
            row["attributes"] = json.loads(row["attributes"] or "{}")
            row["digest"] = _digest(row["text"])
        by_doc = {row["id"]: row for row in documents}
        machine = coders is not None and any(coding.is_machine(c) for c in coders)
        codings = self.codings(coders=coders, machine=machine, doc_ids=list(by_doc))
        unplaced = [c["start"] is None or c["code"] not in codebook.by_id for c in codings]
        skipped = [c for c, out in zip(codings, unplaced) if out]
        codings = [c for c, out in zip(codings, unplaced) if not out]
        user = lambda name: refi.guid("coder", name)  # noqa: E731
        notes: dict[str, dict] = {}

        def note(key: tuple, name: str, memo: dict) -> str:
            made = refi.guid("memo", *key, memo["coder"], memo["text"])  # the same memo twice is one note
            notes.setdefault(made, {"guid": made, "name": name, "user": user(memo["coder"]),
                                    "created": memo.get("made_at") or memo["created_at"], "text": memo["text"],
                                    "coder": memo["coder"]})
            return made

        selections: dict[tuple, dict] = {}

        def selection(doc: dict, start: int, end: int) -> dict:
            key = (doc["id"], start, end)
            if key not in selections:
                selections[key] = {"guid": refi.guid("selection", doc["digest"], start, end), "start": start,
                                   "end": end, "name": doc["text"][start:end][:refi.NAME_LENGTH], "codings": [],
                                   "notes": []}
            return selections[key]

        entries, by_coding_id = {}, {}  # coding GUID → its Coding; our coding id → the same
        for row in sorted(codings, key=lambda c: (c["doc_id"], c["start"], c["end"], c["code"], c["coder"])):
            doc = by_doc[row["doc_id"]]
            made = refi.guid("coding", doc["digest"], row["start"], row["end"], row["code"], row["coder"])
            if made not in entries:  # the same code on the same span by the same coder is one coding
                memo_notes = [note(("coding-memo", made), f"memo on coding {row['code']}",
                                   {"coder": row["coder"], "text": row["memo"], "created_at": row["created_at"],
                                    "made_at": row["made_at"]})] \
                    if row["memo"] and row["kind"] == coding.HUMAN else []
                entries[made] = {"guid": made, "code": refi.code_guid(codebook.id, row["code"]),
                                 "user": user(row["coder"]), "created": row["made_at"] or row["created_at"],
                                 "notes": memo_notes}
                selection(doc, row["start"], row["end"])["codings"].append(entries[made])
            if row["id"] is not None:
                by_coding_id[str(row["id"])] = entries[made]
        units = {unit["unit_id"]: unit for unit in store.coding_units(self.db)}
        source_notes, code_notes, project_notes = defaultdict(list), defaultdict(list), []
        for memo in self.memos():
            if coders is not None and memo["coder"] not in coders:
                continue
            kind, target = memo["target_kind"], memo["target"]
            if kind == "document" and target.isdigit() and int(target) in by_doc:
                doc = by_doc[int(target)]
                source_notes[doc["id"]].append(note(("document", doc["digest"]), f"memo on {doc['path']}", memo))
            elif kind == "code" and target in codebook.by_id:
                code_notes[target].append(note(("code", target), f"memo on code {target}", memo))
            elif kind == "coding" and target in by_coding_id:
                entry = by_coding_id[target]
                entry["notes"].append(note(("coding", entry["guid"]), f"memo on coding {target}", memo))
            elif kind == "unit" and target in units and units[target]["doc_id"] in by_doc:
                unit = units[target]
                doc = by_doc[unit["doc_id"]]
                if unit["start"] < unit["end"]:
                    selection(doc, unit["start"], unit["end"])["notes"].append(
                        note(("unit", doc["digest"], unit["start"], unit["end"]), f"memo on unit {target}", memo))
            else:  # the project, or a target that is not in the file
                project_notes.append(note(("project", kind, target), f"memo on {kind} {target}", memo))
        names = sorted({k for row in documents for k in row["attributes"]} |
                       {k for row in documents for k in DOCUMENT_FIELDS if row[k]})
        variables = [{"guid": refi.guid("variable", name), "name": name} for name in names]

        def values(row: dict) -> list[tuple[str, str]]:
            given = {**{k: str(row[k]) for k in DOCUMENT_FIELDS if row[k]}, **row["attributes"]}
            return [(refi.guid("variable", name), str(given[name])) for name in names if name in given]

        sources, files = [], {}
        for row in documents:
            source_guid = refi.guid("source", row["digest"])
            files[f"{source_guid}.txt"] = row["text"]
            sources.append({"guid": source_guid, "name": row["path"], "path": f"internal://{source_guid}.txt",
                            "values": values(row), "notes": source_notes[row["id"]],
                            "selections": sorted((s for k, s in selections.items() if k[0] == row["id"]),
                                                 key=lambda s: (s["start"], s["end"]))})
        cases = _cases(documents, values)
        assigned = {row["coder"] for row in self.assignments() if coders is None or row["coder"] in coders}
        coders_seen = sorted({c["coder"] for c in codings} | {n["coder"] for n in notes.values()} | assigned)
        users = [{"guid": user(name), "name": name} for name in coders_seen]
        xml = refi.project_xml(name=self.config.project.name, origin=_origin(), users=users, codebook=codebook,
                               code_notes=code_notes, variables=variables, cases=cases, sources=sources,
                               notes=sorted(notes.values(), key=lambda n: n["guid"]), project_notes=project_notes)
        atomic_write(Path(out), lambda p: refi.write_qdpx(p, xml, files))
        return {"file": str(out), "sources": len(sources), "codes": len(codebook.codes), "codings": len(codings),
                "users": len(users), "notes": len(notes), "cases": len(cases), "variables": len(variables),
                "skipped": [f"coding {c['id']}: {c['review'] or 'not anchored'}" for c in skipped]}

    # --- import -----------------------------------------------------------------------------

    def refi_import(self, path: str | Path, *, as_coder_prefix: str = "", add_missing_codes: bool = False) -> dict:
        """Take codings, memos and new sources from a ``.qdpx`` of another tool (see the module's note)."""
        path = Path(path)
        summary = {"file": str(path), "imported": False, "sources": 0, "sources_matched": 0, "sources_added": 0,
                   "codes": 0, "codes_added": [], "codings": 0, "codings_present": 0, "memos": 0, "coders": [],
                   "readings": {}, "problems": []}
        problem = lambda message, severity="error": summary["problems"].append(  # noqa: E731
            {"severity": severity, "message": message})
        try:
            package = refi.read_qdpx(path)
        except InputError as error:
            problem(error.message)
            return summary
        for warning in package.warnings:
            problem(warning, "warning")
        codebook = self.codebook()
        mapping, new_codes = self._map_codes(package, codebook, problem, add_missing_codes)
        coder_of = lambda *guids: next(  # noqa: E731
            (as_coder_prefix + package.users[g] for g in guids if g in package.users and package.users[g]), None)
        unnamed = as_coder_prefix + (package.origin or "refi")
        texts = self._texts()
        plans, unanchored, unnamed_codings, refused = [], 0, 0, Counter()
        for source in package.sources:
            plan = self._plan(source, package, texts, summary, problem)
            if plan is not None:
                found, nameless = self._spans(plan, package, mapping, coder_of, unnamed, problem, refused)
                unanchored, unnamed_codings = unanchored + found, unnamed_codings + nameless
                plans.append(plan)
        refused_notes = Counter(coder for coder in (coder_of(note["user"], package.creating_user) or unnamed
                                                    for note in package.notes.values()) if coding.is_machine(coder))
        for coder in sorted(set(refused) | set(refused_notes)):  # once per user: an export with --coders auto
            held = [f"{n} {what}" for n, what in ((refused[coder], "codings"), (refused_notes[coder], "notes")) if n]
            problem(f"user {coder!r} cannot be a coder here (reserved or empty), and {' and '.join(held)} are "
                    f"theirs: import with --as-coder-prefix (e.g. {package.origin.split(' ')[0] or 'refi'}:) to "
                    f"record them under other names")
        if unanchored:
            problem(f"{unanchored} codings quote text the document no longer has (it was re-ingested since): "
                    f"kept on the earlier text and flagged unanchored", "warning")
        if unnamed_codings:
            problem(f"{unnamed_codings} codings name no user of the file; recorded as coder {unnamed!r}", "warning")
        if any(p["severity"] == "error" for p in summary["problems"]):
            return summary
        # every check passed: now write, codes first, then new documents, then codings and memos at once
        if new_codes:
            codebook, copied = self._own_codebook(codebook)
            if copied:
                problem(f"the shipped codebook {codebook.id} was copied to {copied} (now [coding] codebook) to "
                        f"take the new codes", "warning")
            codebook = add_codes(codebook, new_codes, root=self.root)
            summary["codes_added"] = [code["id"] for code in new_codes]
        new, first = [p for p in plans if p["doc_id"] is None], {}
        for plan in new:
            first.setdefault(plan["canonical"], plan)
        added = self._add_sources(path, list(first.values()), package)
        for plan in new:  # two sources with one text are one document
            plan["doc_id"] = added[plan["canonical"]]
        written = self._write_imported(path, plans, package, codebook, mapping,
                                       lambda *guids: coder_of(*guids) or unnamed)
        summary.update(imported=True, sources=len(plans), sources_added=len(added),
                       sources_matched=len(plans) - len(new), codes=len(set(mapping.values())), **written)
        return summary

    def _texts(self) -> dict:
        """What sources are matched against: today's texts, and the texts documents had before."""
        documents = {row["id"]: row for row in store.rows(self.db, "documents", with_text=True)
                     if row["status"] != "missing"}
        current = {row["text"]: row["id"] for row in documents.values()}
        earlier = {v["text"]: v for v in store.document_versions(self.db)
                   if v["doc_id"] in documents and v["text"] not in current}
        return {"documents": documents, "current": current, "earlier": earlier}

    def _plan(self, source: dict, package: refi.Package, texts: dict, summary: dict, problem) -> dict | None:
        """A source's text read the way its positions count, made canonical, and matched to a
        document (today's text or an earlier one), or read as it will be once ingested."""
        label = source["name"] or source["guid"]
        codings, notes = _attached(source)
        if source["text"] is None:
            if source["unread"] and (codings or notes):
                problem(f"source {label}: its text {source['unread']} cannot be read, and it holds {codings} "
                        f"codings and {notes} notes")
            else:
                problem(f"source {label}: no plain text in the archive; not imported", "warning")
            return None
        reading = refi.source_view(source["text"], source["selections"], package.origin)
        if "\r\n" in source["text"] or reading.unit != refi.UNITS[0]:
            summary["readings"][label] = reading.convention
        canonical, positions = refi.canonical_map(reading.view)
        if not canonical.strip():
            problem(f"source {label}: empty; not imported", "error" if codings or notes else "warning")
            return None
        doc_id = texts["current"].get(refi.nfc(canonical))
        ingested = None if doc_id else self._read_as_ingested(canonical, label, problem)
        version = None if doc_id else texts["earlier"].get(refi.nfc(canonical)) or texts["earlier"].get(ingested)
        doc_id = doc_id or texts["current"].get(ingested) or (version["doc_id"] if version else None)
        text = texts["documents"][doc_id]["text"] if doc_id else ingested
        if text is None:
            return None
        return {"source": source, "label": label, "reading": reading, "canonical": canonical,
                "positions": positions, "doc_id": doc_id, "text": text, "version": version, "spans": [],
                "carried": {}}

    @staticmethod
    def _spans(plan: dict, package: refi.Package, mapping: dict, coder_of, unnamed: str, problem,
               refused: Counter) -> tuple[int, int]:
        """Each selection of a source (with codings or notes) checked and carried onto the document's
        text (``plan["carried"]``: selection GUID → span and the earlier text's hash, if on one), its
        codings into ``plan["spans"]``; codings of a reserved user are counted in ``refused``.
        Returns how many codings were kept on an earlier text and how many name no user."""
        source, reading, positions, version = plan["source"], plan["reading"], plan["positions"], plan["version"]
        view = reading.view
        chosen_ones = [s for s in source["selections"] if s["codings"] or s["notes"]]
        if source["codings"]:
            chosen_ones.append({"guid": None, "notes": [], "name": "", "user": None, "start": 0,
                                "end": len(reading.table) - 1 if reading.table else len(view),
                                "codings": source["codings"]})
        unanchored = nameless = 0
        for chosen in chosen_ones:
            where = f"source {plan['label']}, selection {chosen['guid'] or '(whole source)'}"
            unread = [f"{side}Position {given!r} is not a number" if given is not None else f"no {side}Position"
                      for side, given, number in zip(("start", "end"), chosen.get("given", (0, 0)),
                                                     (chosen["start"], chosen["end"])) if number is None]
            if unread:
                problem(f"{where}: {'; '.join(unread)}")
                continue
            start, end = reading.at(chosen["start"]), reading.at(chosen["end"])
            if start is None or end is None or start >= end:
                problem(f"{where}: positions {chosen['start']}–{chosen['end']} are not inside the text "
                        f"(0–{len(view)} {reading.unit}, or split a character)")
                continue
            if refi.quotes(view, {**chosen, "start": start, "end": end}) is False:
                problem(f"{where}: positions {start}–{end} point at {view[start:end][:30]!r}, but the selection "
                        f"quotes {chosen['name'][:30]!r}")
                continue
            span, content_hash = _carry(plan["canonical"], plan["text"], positions[start], positions[end]), None
            if span is None and version:  # gone from today's text: kept on the earlier one, flagged unanchored
                span = _carry(plan["canonical"], version["text"], positions[start], positions[end])
                content_hash = version["content_hash"]
                unanchored += len(chosen["codings"]) if span is not None else 0
            if span is None:
                problem(f"{where}: the quoted text {view[start:end][:40]!r} is not in the document's text")
                continue
            plan["carried"][chosen["guid"]] = (span, content_hash)
            for made in chosen["codings"]:
                code = mapping.get(made["code"])
                if code is None:
                    continue  # reported for each code by _map_codes
                coder = coder_of(made["user"], chosen["user"], source["user"], package.creating_user)
                if coder is None:
                    coder, nameless = unnamed, nameless + 1
                if not coder.strip() or coding.is_machine(coder):
                    refused[coder] += 1
                    continue
                # our memos on a coding come back as memos on it; other notes on a coding are its memo
                kept = [n for n in made["notes"] if _our_target(package, n)[0] == "coding"]
                memo = "\n\n".join(package.notes[n]["text"] for n in made["notes"]
                                    if n in package.notes and n not in kept) or None
                plan["spans"].append({"start": span[0], "end": span[1], "code": code, "coder": coder, "memo": memo,
                                      "selection": chosen["guid"], "content_hash": content_hash,
                                      "made_at": made["created"], "notes": kept})
        return unanchored, nameless

    def _project_note_target(self, package: refi.Package, note: str) -> tuple[str, str]:
        """Where a note on the project of our own export goes back to: the project memo's target, or
        the memo whose target was not in the file (kept on the project, as "kind target", when that
        target is not here either)."""
        kind, target = _our_target(package, note)
        if kind in (None, "project"):
            return "project", target or ""
        if self.memos(target_kind=kind, target=target):
            return kind, target
        try:
            return kind, self._memo_target(kind, target)
        except ProjectError:
            return "project", f"{kind} {target}"

    def _map_codes(self, package: refi.Package, codebook, problem, add_missing: bool) -> tuple[dict, list[dict]]:
        """Their code GUID → our code id: by GUID (ours, when the file came from policoder), by the id
        our Description carries, by the path of names, then by a unique name.  Codes that map to
        nothing are new codes with ``add_missing``; else their codings are left out, and reported."""
        ours = {refi.code_guid(codebook.id, code.id): code.id for code in codebook.codes}
        by_path = {tuple(c.name for c in codebook.ancestors(code.id)): code.id for code in codebook.codes}
        names = defaultdict(set)  # a name alone never maps onto a container
        for code in codebook.codes:
            for name in (code.id, code.name, code.name_en):
                if name and code.codable:
                    names[name].add(code.id)
        used = Counter(c["code"] for s in package.sources for sel in s["selections"] for c in sel["codings"])
        used.update(c["code"] for s in package.sources for c in s["codings"])
        mapping, missing = {}, []
        for row in package.codes:
            fields = refi.parse_description(row["description"])
            found = ours.get(row["guid"]) or (fields.get("id") if fields.get("id") in codebook.by_id else None) \
                or by_path.get(tuple(row["path"])) or (next(iter(names[row["name"]])) if len(names[row["name"]]) == 1
                                                        else None)
            if found:
                mapping[row["guid"]] = found
            else:
                missing.append((row, fields))
        new_codes = []
        taken = set(codebook.by_id)
        for row, fields in missing if add_missing else []:
            ident = _new_id(row, fields, taken)
            taken.add(ident)
            mapping[row["guid"]] = ident
            new_codes.append({"id": ident, "row": row, "fields": fields})
        for coded in (True, False) if not add_missing else ():
            rows = [row for row, _ in missing if (row["guid"] in used) == coded]
            if rows:
                listed = ", ".join(repr(" / ".join(row["path"])) for row in rows[:5])
                more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
                counted = "1 code is" if len(rows) == 1 else f"{len(rows)} codes are"
                skipped = sum(used[row["guid"]] for row in rows)
                problem(f"{counted} not in codebook {codebook.id}: {listed}{more}; " + (
                    f"their {skipped} codings were not imported: add the codes with --add-codes (or to the "
                    f"codebook by hand) and import again to bring just those" if coded else "no codings use them"),
                    "warning")
        for ref in sorted(str(c) for c in used if c not in {row["guid"] for row in package.codes}):
            problem(f"a coding refers to code {ref}, which the file's codebook does not hold" if ref != "None"
                    else "a coding has no CodeRef")
        for new in new_codes:
            row = new["row"]
            parent = mapping.get(row["parent"]) if row["parent"] else None
            new["parent"] = parent
            new["codable"] = row["codable"] or row["guid"] in used  # what was coded with is codable here
        for guid, ident in mapping.items():
            if ident in codebook.by_id and guid in used:
                try:
                    _check_code(codebook, ident)
                except ProjectError as error:
                    problem(f"{error} (mapped from the file's code {guid})")
        return mapping, [_yaml_code(new, package.origin) for new in new_codes]

    def _own_codebook(self, codebook) -> tuple:
        """The codebook as a file of the project's: a shipped one is copied to ``codebooks/`` and set
        in ``policoder.toml`` (returns the codebook and where it was copied, if it was)."""
        source = Path(codebook.source)
        if source.resolve().is_relative_to(self.root.resolve()):
            return codebook, None
        copy = self.root / "codebooks" / f"{codebook.id}.yaml"
        if copy.exists() and copy.read_bytes() != source.read_bytes():
            raise ProjectError(f"{copy} exists and differs from the shipped codebook {codebook.id}; set [coding] "
                               f"codebook to it or move it away", code="refi-codebook")
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(source.read_bytes())
        relative = copy.relative_to(self.root).as_posix()
        self.config = set_setting(self.root, "coding", "codebook", relative)
        return self.codebook(), relative

    def _read_as_ingested(self, canonical: str, label: str, problem) -> str | None:
        """The text a new source will have once ingested (read as a file, in a scratch folder)."""
        with tempfile.TemporaryDirectory() as scratch:
            file = Path(scratch) / "source.txt"
            file.write_text(canonical, encoding="utf-8")
            try:
                return read_source(file).text
            except InputError as error:
                problem(f"source {label}: {error.message}")
                return None

    def _add_sources(self, path: Path, plans: list[dict], package: refi.Package) -> dict[str, int]:
        """Write new sources' texts and a metadata sheet of their attributes under the corpus, and
        ingest them; returns canonical text → document number."""
        if not plans:
            return {}
        folder = self.corpus_paths()[0] / "refi" / _safe_name(path.stem)
        folder.mkdir(parents=True, exist_ok=True)
        sheet = folder / "metadata.csv"
        rows = list(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8")))) if sheet.exists() else []
        files, written = {}, []
        for plan in plans:
            source = plan["source"]
            stem, number = _safe_name(Path(plan["label"]).stem) or "source", 1
            name = f"{stem}.txt"
            while (folder / name).exists() or name in files.values():
                number += 1
                name = f"{stem}-{number}.txt"
            (folder / name).write_text(plan["canonical"], encoding="utf-8")
            files[plan["canonical"]] = name
            written.append(folder / name)
            rows.append({"file": name, **_attributes(source, package)})
        columns = ["file", *sorted({k for row in rows for k in row} - {"file"})]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sheet.write_text(text.getvalue(), encoding="utf-8")
        report = self.ingest(written)
        found = {text: store.find_document(self.db, self.display_path(folder / name)) for text, name in files.items()}
        if report.skipped or None in found.values():
            raise ProjectError(f"{path}: new sources could not be ingested: "
                               + "; ".join(str(p) for p, _ in report.problems), code="refi-ingest")
        return {text: row["id"] for text, row in found.items()}

    def _write_imported(self, path: Path, plans: list[dict], package: refi.Package, codebook, mapping: dict,
                        coder_of) -> dict:
        """Append the codings and memos no earlier import or coder has already put there, in one
        transaction; ``coder_of(user GUIDs…)`` names a note's coder."""
        source = f"refi:{path.name}"
        content = {row["id"]: row["content_hash"] for row in store.rows(self.db, "documents")}
        history = store.coding_rows(self.db)
        key = lambda r: (r["doc_id"], r["content_hash"], r["start"], r["end"], r["code"], r["coder"])  # noqa: E731
        # what stands, where it stands now and where it was made; what an import ever brought
        standing = {(c["doc_id"], content[c["doc_id"]], c["start"], c["end"], c["code"], c["coder"])
                    for c in self.codings(machine=False) if c["start"] is not None}
        standing |= {key(r) for r in coding.current_rows(history)}
        before = {key(r) for r in history if (r["source"] or "").startswith("refi:")}
        units = coding.UnitIndex(store.coding_units(self.db))
        rows, present, memos, noted = [], 0, [], []
        for plan in plans:
            doc_id = plan["doc_id"]
            for span in plan["spans"]:
                made = key({**span, "doc_id": doc_id, "content_hash": span["content_hash"] or content[doc_id]})
                if made in standing or made in before:
                    present += 1
                    continue
                standing.add(made)
                unit = None if span["content_hash"] else units.holding(doc_id, span["start"], span["end"])
                rows.append({"doc_id": doc_id, "content_hash": span["content_hash"], "start": span["start"],
                             "end": span["end"], "code": span["code"],
                             "coder": span["coder"], "memo": span["memo"], "codebook": codebook.id,
                             "codebook_version": codebook.version, "unit_id": unit["unit_id"] if unit else None,
                             "source": source, "made_at": span["made_at"], "selection": span["selection"],
                             "notes": span["notes"]})
            memos += [("document", str(doc_id), note) for note in plan["source"]["notes"]]
            noted += [(plan, selection) for selection in plan["source"]["selections"] if selection["notes"]]
        memos += [("code", row["guid"], note) for row in package.codes for note in row["notes"]]
        memos += [(*self._project_note_target(package, note), note) for note in package.project_notes]
        with store.transaction(self.db):
            ids = self._append([{k: v for k, v in row.items() if k not in ("selection", "notes")} for row in rows])
            coded = defaultdict(list)
            for row, coding_id in zip(rows, ids):
                coded[row["selection"]].append(str(coding_id))
                memos += [("coding", str(coding_id), note) for note in row["notes"]]
            # a note on a selection: on the unit when the selection is one, else on its codings, else the document
            for plan, selection in noted:
                span, earlier = plan["carried"][selection["guid"]]
                unit = None if earlier else units.holding(plan["doc_id"], *span)
                if unit and (unit["start"], unit["end"]) == span:
                    memos += [("unit", unit["unit_id"], note) for note in selection["notes"]]
                elif coded[selection["guid"]]:
                    memos += [("coding", i, note) for i in coded[selection["guid"]] for note in selection["notes"]]
                else:
                    memos += [("document", str(plan["doc_id"]), note) for note in selection["notes"]]
            written = 0
            for kind, target, note in memos:
                if note not in package.notes or not package.notes[note]["text"]:
                    continue
                if kind == "code":
                    target = mapping.get(target)
                    if target is None:
                        continue
                entry = package.notes[note]
                coder = coder_of(entry["user"], package.creating_user)
                if any(m["text"] == entry["text"] for m in self.memos(target_kind=kind, target=target)):
                    continue
                self.write_memo(kind, target, entry["text"], coder, made_at=entry["created"])
                written += 1
        return {"codings": len(rows), "codings_present": present, "memos": written,
                "coders": sorted({row["coder"] for row in rows})}


def _our_target(package: refi.Package, note: str) -> tuple[str | None, str | None]:
    """The memo target our export names a note by (``memo on unit u3``); (None, None) for another
    tool's, and for a coding's own memo (``memo on coding subsidy``: by code, not by coding number)."""
    found = _OUR_NOTE.match(package.notes.get(note, {}).get("name", "")) \
        if package.origin.startswith("policoder") else None
    if not found or found.group(1) == "coding" and not found.group(2).isdigit():
        return None, None
    return found.group(1), found.group(2)


def _attached(source: dict) -> tuple[int, int]:
    """How many codings and notes a source holds."""
    codings = source["codings"] + [c for s in source["selections"] for c in s["codings"]]
    notes = len(source["notes"]) + sum(len(s["notes"]) for s in source["selections"]) + sum(len(c["notes"])
                                                                                          for c in codings)
    return len(codings), notes


def _carry(canonical: str, text: str, start: int, end: int) -> tuple[int, int] | None:
    """A span of the source's canonical text on the document's text: the same offsets when the
    texts are equal, else where its quote is found nearest (``coding.reanchor``)."""
    if start >= end:
        return None
    if canonical == text:
        return start, end
    anchor = coding.reanchor(canonical, text, start, end)
    return (anchor.start, anchor.end) if anchor.start is not None else None


def _cases(documents: list[dict], values) -> list[dict]:
    """One case per participant: the documents they speak in, and the attributes all of them share."""
    by_participant = defaultdict(list)
    for row in documents:
        if row["attributes"].get("participant"):
            by_participant[row["attributes"]["participant"]].append(row)
    cases = []
    for participant, rows in sorted(by_participant.items()):
        shared = set(values(rows[0])).intersection(*(set(values(row)) for row in rows[1:]))
        cases.append({"guid": refi.guid("case", participant), "name": participant,
                      "values": [pair for pair in values(rows[0]) if pair in shared],
                      "sources": [refi.guid("source", row["digest"]) for row in rows]})
    return cases


def _attributes(source: dict, package: refi.Package) -> dict[str, str]:
    """A new source's metadata-sheet row: the values of its cases (NVivo keeps participants'
    attributes there; a single case names the participant), then its own; values our sheet would
    refuse (a kind, level or date of another form) are left out."""
    cases = [case for case in package.cases if source["guid"] in case["sources"]]
    given = {"participant": cases[0]["name"]} if len(cases) == 1 and cases[0]["name"] else {}
    for guid, value in [pair for case in cases for pair in case["values"]] + source["values"]:
        name = package.variables.get(guid)
        if name and name != "file" and value:
            given[name] = value
    checks = {"kind": lambda v: v in KINDS, "level": lambda v: v in LEVELS,
              "date": lambda v: re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) is not None}
    return {k: v for k, v in given.items() if checks.get(k, bool)(v)}


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._")[:80]


def _new_id(row: dict, fields: dict, taken: set[str]) -> str:
    """An id for a code from another tool: its name when that is a valid id, else from its GUID."""
    base = fields.get("id") or row["name"].strip().replace(" ", "_")
    if not IDENTIFIER.match(base or ""):
        base = "refi_" + row["guid"].replace("-", "")[:8]
    ident, number = base, 1
    while ident in taken:
        number += 1
        ident = f"{base}_{number}"
    return ident


def _yaml_code(new: dict, origin: str) -> dict:
    row, fields = new["row"], new["fields"]
    code = {"id": new["id"], "name": row["name"] or new["id"]}
    if new["parent"]:
        code["parent"] = new["parent"]
    code["definition"] = fields.get("definition") or f"Imported from {origin or 'another QDA tool'} (REFI-QDA); " \
                                                      f"no definition was given."
    for key in ("name_en", "include", "exclude", "examples", "atypical_examples", "stance"):
        if fields.get(key):
            code[key] = fields[key]
    if re.fullmatch(r"#[0-9a-f]{6}", row["color"]):
        code["color"] = row["color"]
    elif re.fullmatch(r"#[0-9a-f]{3}", row["color"]):
        code["color"] = "#" + "".join(ch * 2 for ch in row["color"][1:])
    if not new["codable"]:
        code["codable"] = False
    return code
