"""REFI-QDA exchange: codebooks (``.qdc``) and projects (``.qdpx``) that NVivo, ATLAS.ti, MAXQDA
and QualCoder read and write.

Plain functions on plain rows: ``codebook_xml`` and ``project_xml`` build the XML from what the
project hands over, ``write_qdpx`` packs it; ``read_qdpx`` turns an archive from any of those tools
into a ``Package`` of plain rows, and ``source_view`` / ``canonical_map`` carry its text positions
onto canonical text.  ``pipeline.project_refi`` does the project's side.

Positions are Unicode code points, 0-based, end exclusive, in the plain-text file, as the standard
says and as we store them.  Vendors differ on files with ``\\r\\n``: most count each ``\\r\\n`` as two
characters (``raw``), ATLAS.ti as one (``lf``), and Qt-based tools count UTF-16 units;
``source_view`` chooses per source from the quoted text the selections carry, then from what
fits, then the exporting tool and the standard's reading.  GUIDs we write
are ``uuid5`` of stable keys, so the same project exports byte for byte the same archive.
"""
from __future__ import annotations

import re
import unicodedata
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from lxml import etree

from .clean import _INVISIBLE
from .codebook import Code, Codebook
from .errors import InputError
from .ingest.text import decode

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
# fixed for ever: every GUID we write derives from it
GUID_NAMESPACE = uuid.UUID("6f0e3c52-6a43-5b0e-9d1e-2c7a1f0b9e41")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
NAME_LENGTH = 100  # a selection's name: the start of its quote, as QualCoder and NVivo show it
# labelled sections of a code's Description (REFI has one Description per code)
LABELS = (("name_en", "English name"), ("definition", "Definition"), ("include", "Include"),
          ("exclude", "Exclude"), ("examples", "Example"), ("atypical_examples", "Atypical example"),
          ("stance", "Stance"), ("id", "policoder id"))
_LABEL = re.compile(r"^(" + "|".join(re.escape(label) for _, label in LABELS) + r"): ?(.*)$")


def guid(*key) -> str:
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join(map(str, key))))


def code_guid(codebook_id: str, code_id: str) -> str:
    return guid("code", codebook_id, code_id)


# --- codebooks --------------------------------------------------------------------------

def describe(code: Code) -> str:
    """A code's structured fields as labelled lines (``Definition: …``) that ``parse_description`` reads back."""
    lines = []
    for key, label in LABELS:
        value = code.id if key == "id" else getattr(code, key)
        for item in value if isinstance(value, tuple) else [value] if value else []:
            first, *rest = item.split("\n")
            lines += [f"{label}: {first}", *rest]
    return "\n".join(lines)


def parse_description(text: str) -> dict:
    """Labelled sections back into fields; text before any label is the definition."""
    fields: dict[str, list[str]] = {}
    current = "definition"
    for line in (text or "").replace("\r\n", "\n").split("\n"):
        found = _LABEL.match(line)
        if found:
            current = next(key for key, label in LABELS if label == found.group(1))
            fields.setdefault(current, []).append(found.group(2))
        elif current in fields:
            fields[current][-1] += "\n" + line
        elif line.strip():
            fields.setdefault(current, []).append(line)
    out = {key: "\n".join(values).strip() for key, values in fields.items()
           if key not in ("examples", "atypical_examples")}
    for key in ("examples", "atypical_examples"):
        if key in fields:
            out[key] = [value.strip() for value in fields[key] if value.strip()]
    return out


def _code_elements(parent, codebook: Codebook, code_id: str | None, ns: str, notes: dict[str, list[str]]) -> None:
    for code in codebook.children(code_id):
        attributes = {"guid": code_guid(codebook.id, code.id), "name": code.name,
                      "isCodable": "true" if code.codable else "false"}
        if code.color:
            attributes["color"] = code.color.upper()
        element = etree.SubElement(parent, f"{{{ns}}}Code", attributes)
        description = describe(code)
        if description:
            etree.SubElement(element, f"{{{ns}}}Description").text = description
        for note in notes.get(code.id, ()):
            etree.SubElement(element, f"{{{ns}}}NoteRef", targetGUID=note)
        _code_elements(element, codebook, code.id, ns, notes)


def _serialise(root) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def codebook_xml(codebook: Codebook, origin: str) -> bytes:
    """The codebook as a ``.qdc`` file: the tree, colours, and each code's fields in its Description."""
    root = etree.Element(f"{{{CODEBOOK_NS}}}CodeBook", nsmap={None: CODEBOOK_NS}, origin=origin)
    _code_elements(etree.SubElement(root, f"{{{CODEBOOK_NS}}}Codes"), codebook, None, CODEBOOK_NS, {})
    return _serialise(root)


# --- projects ---------------------------------------------------------------------------

def project_xml(*, name: str, origin: str, users: list[dict], codebook: Codebook, code_notes: dict[str, list[str]],
                variables: list[dict], cases: list[dict], sources: list[dict], notes: list[dict],
                project_notes: list[str]) -> bytes:
    """``project.qde`` from plain rows (every container left out when it would be empty).

    users: {guid, name}; variables: {guid, name}; cases: {guid, name, values: [(variable guid, text)],
    sources: [guid]}; sources: {guid, name, path, values, notes, selections: [{guid, start, end, name,
    notes, codings: [{guid, code, user, created, notes}]}]}; notes: {guid, name, user, created, text}.
    """
    def sub(parent, tag, attributes=None, text=None):
        element = etree.SubElement(parent, f"{{{PROJECT_NS}}}{tag}",
                                   {k: str(v) for k, v in (attributes or {}).items() if v not in (None, "")})
        if text is not None:
            element.text = text
        return element

    def values(parent, pairs):
        for variable, value in pairs:
            holder = sub(parent, "VariableValue")
            sub(holder, "VariableRef", {"targetGUID": variable})
            sub(holder, "TextValue", text=value)

    root = etree.Element(f"{{{PROJECT_NS}}}Project", nsmap={None: PROJECT_NS}, name=name, origin=origin)
    if users:
        holder = sub(root, "Users")
        for user in users:
            sub(holder, "User", {"guid": user["guid"], "name": user["name"]})
    if codebook.codes:
        _code_elements(sub(sub(root, "CodeBook"), "Codes"), codebook, None, PROJECT_NS, code_notes)
    if variables:
        holder = sub(root, "Variables")
        for variable in variables:
            sub(holder, "Variable", {"guid": variable["guid"], "name": variable["name"], "typeOfVariable": "Text"})
    if cases:
        holder = sub(root, "Cases")
        for case in cases:
            element = sub(holder, "Case", {"guid": case["guid"], "name": case["name"]})
            values(element, case["values"])
            for source in case["sources"]:
                sub(element, "SourceRef", {"targetGUID": source})
    if sources:
        holder = sub(root, "Sources")
        for source in sources:
            element = sub(holder, "TextSource", {"guid": source["guid"], "name": source["name"],
                                                 "plainTextPath": source["path"]})
            for selection in source["selections"]:
                chosen = sub(element, "PlainTextSelection", {
                    "guid": selection["guid"], "name": selection["name"], "startPosition": selection["start"],
                    "endPosition": selection["end"]})
                for coding in selection["codings"]:
                    made = sub(chosen, "Coding", {"guid": coding["guid"], "creatingUser": coding["user"],
                                                  "creationDateTime": coding["created"]})
                    sub(made, "CodeRef", {"targetGUID": coding["code"]})
                    for note in coding["notes"]:
                        sub(made, "NoteRef", {"targetGUID": note})
                for note in selection["notes"]:
                    sub(chosen, "NoteRef", {"targetGUID": note})
            for note in source["notes"]:
                sub(element, "NoteRef", {"targetGUID": note})
            values(element, source["values"])
    if notes:
        holder = sub(root, "Notes")
        for note in notes:
            element = sub(holder, "Note", {"guid": note["guid"], "name": note["name"], "creatingUser": note["user"],
                                           "creationDateTime": note["created"]})
            sub(element, "PlainTextContent", text=note["text"])
    for note in project_notes:
        sub(root, "NoteRef", {"targetGUID": note})
    return _serialise(root)


def write_qdpx(out: Path, qde: bytes, sources: dict[str, str]) -> None:
    """The archive: ``project.qde`` at the root, ``sources/<name>`` as UTF-8 without BOM; fixed
    timestamps and order, so equal projects give equal bytes."""
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in [("project.qde", qde), *((f"sources/{n}", t.encode("utf-8")) for n, t in sorted(sources.items()))]:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


# --- reading other tools' archives ------------------------------------------------------

@dataclass
class Package:
    """What a ``.qdpx`` holds, as plain rows."""

    name: str
    origin: str
    users: dict[str, str]  # guid → name
    codes: list[dict]  # guid, name, codable, color, description, parent (guid), path (names from the top)
    sources: list[dict]  # guid, name, text (decoded, BOM gone; unread: the path of a text not read), selections,
    # codings (whole source), notes, values
    notes: dict[str, dict]  # guid → {text, user, name, created}
    project_notes: list[str]
    variables: dict[str, str]  # guid → name
    cases: list[dict] = field(default_factory=list)  # name, values [(variable guid, text)], sources [guid]
    creating_user: str | None = None
    warnings: list[str] = field(default_factory=list)


def _local(element) -> str:
    return etree.QName(element).localname


def _children(element, name: str) -> list:
    return [child for child in element if isinstance(child.tag, str) and _local(child) == name]


def _child(element, name: str):
    found = _children(element, name)
    return found[0] if found else None


def _key(value: str | None) -> str | None:
    """GUIDs compare without braces and case (vendors write both)."""
    return value.strip("{}").lower() if value else None


def _note_refs(element) -> list[str]:
    return [_key(ref.get("targetGUID")) for ref in _children(element, "NoteRef")]


def read_qdpx(path: Path) -> Package:
    """Read an archive from any REFI-QDA tool; ``InputError`` names what makes it unreadable."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_archive(archive, path)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
        raise InputError(path, f"not a readable .qdpx (zip) archive ({error})", code="refi-invalid") from None


def _read_archive(archive: zipfile.ZipFile, path: Path) -> Package:
    entries = {name.lower(): name for name in archive.namelist() if not name.endswith("/")}
    qde = next((entries[name] for name in sorted(entries) if name.endswith(".qde") and "/" not in name), None)
    if qde is None:
        raise InputError(path, "no project.qde at the root of the archive", code="refi-invalid")
    try:
        root = etree.fromstring(archive.read(qde), etree.XMLParser(resolve_entities=False, no_network=True,
                                                                   huge_tree=True))
    except etree.XMLSyntaxError as error:
        raise InputError(path, f"{qde} is not well-formed XML ({error})", code="refi-invalid") from None
    if _local(root) != "Project" or etree.QName(root).namespace != PROJECT_NS:
        raise InputError(path, f"{qde}: root is not a REFI-QDA <Project> in {PROJECT_NS}", code="refi-invalid")
    package = Package(name=root.get("name", ""), origin=root.get("origin", ""), users={}, codes=[], sources=[],
                      notes={}, project_notes=_note_refs(root), variables={},
                      creating_user=_key(root.get("creatingUserGUID")))
    users = _child(root, "Users")
    for user in _children(users, "User") if users is not None else []:
        package.users[_key(user.get("guid"))] = user.get("name") or user.get("id") or ""
    codebook = _child(root, "CodeBook")
    codes = _child(codebook, "Codes") if codebook is not None else None
    if codes is not None:
        _read_codes(codes, None, [], package.codes)
    for variable in _descendants(root, "Variable"):
        package.variables[_key(variable.get("guid"))] = variable.get("name", "")
    for case in _descendants(root, "Case"):
        package.cases.append({"name": case.get("name") or "", "values": _values(case),
                              "sources": [_key(ref.get("targetGUID")) for ref in _children(case, "SourceRef")]})
    notes = _child(root, "Notes")
    for note in _children(notes, "Note") if notes is not None else []:
        content = _child(note, "PlainTextContent")
        text = content.text if content is not None and content.text else _read_path(
            archive, entries, root, note.get("plainTextPath"), path, package.warnings) or ""
        package.notes[_key(note.get("guid"))] = {"text": text.strip(), "user": _key(note.get("creatingUser")),
                                                 "name": note.get("name", ""),
                                                 "created": _moment(note.get("creationDateTime"))}
    sources = _child(root, "Sources")
    for source in sources if sources is not None else []:
        if not isinstance(source.tag, str):
            continue
        label = source.get("name") or source.get("guid")
        text = source if _local(source) == "TextSource" else _child(source, "Representation")
        if text is None:  # pictures, audio, video, and PDFs without their text
            package.warnings.append(f"{_local(source)} {label}: only text (and the text of PDFs) is imported")
            continue
        if _children(source, "PDFSelection"):
            package.warnings.append(f"PDFSource {label}: its codings of page regions are not imported, "
                                    f"only those of its text")
        read = _read_source(archive, entries, root, text, path, package.warnings)
        if text is not source:  # cases and variables point at the PDF, not its representation
            read |= {"guid": _key(source.get("guid")), "name": source.get("name") or read["name"],
                     "values": _values(source) or read["values"]}
        package.sources.append(read)
    return package


def _descendants(root, name: str) -> list:
    return [element for element in root.iter(f"{{{PROJECT_NS}}}{name}")]


def _read_codes(parent, parent_guid: str | None, path: list[str], out: list[dict]) -> None:
    for code in _children(parent, "Code"):
        description = _child(code, "Description")
        row = {"guid": _key(code.get("guid")), "name": code.get("name", ""), "parent": parent_guid,
               "codable": code.get("isCodable", "true").strip().lower() in ("true", "1"),
               "color": (code.get("color") or "").lower(), "path": [*path, code.get("name", "")],
               "description": description.text or "" if description is not None else "",
               "notes": _note_refs(code)}
        out.append(row)
        _read_codes(code, row["guid"], row["path"], out)


def _read_path(archive, entries: dict[str, str], root, reference: str | None, qdpx: Path,
               warnings: list[str]) -> str | None:
    """A source file's text from ``internal://``, ``relative://``, ``absolute://`` or a bare name; the
    ``sources/`` folder in any case (MAXQDA and ATLAS.ti write ``sources``, NVivo ``Sources``)."""
    if not reference:
        return None
    scheme, _, rest = reference.partition("://")
    if not rest:
        scheme, rest = "internal", reference
    if scheme == "internal":
        name = PurePosixPath(rest.replace("\\", "/")).name.lower()
        entry = entries.get(f"sources/{name}") or entries.get(name)
        if entry is None:
            warnings.append(f"{reference}: not in the archive")
            return None
        data = archive.read(entry)
    else:
        base = root.get("basePath") or ""
        base = Path(base.partition("://")[2] or base) if base else qdpx.parent  # no basePath: beside the file
        file = base / rest if scheme == "relative" else Path(rest)
        if not file.is_file():
            warnings.append(f"{reference}: file not found")
            return None
        warnings.append(f"{reference}: read from {file}, outside the archive")
        data = file.read_bytes()
    text, _ = decode(data, f"{qdpx}:{reference}")
    return text


def _read_source(archive, entries, root, source, qdpx: Path, warnings: list[str]) -> dict:
    content = _child(source, "PlainTextContent")
    text = content.text if content is not None and content.text is not None else _read_path(
        archive, entries, root, source.get("plainTextPath"), qdpx, warnings)
    rich = source.get("richTextPath") or ""
    if text is None and rich.lower().endswith(".txt"):  # a plain file declared as rich text
        text = _read_path(archive, entries, root, rich, qdpx, warnings)
    if text is None and rich:
        warnings.append(f"source {source.get('name') or source.get('guid')}: only rich text "
                        f"({source.get('richTextPath')}); its codings count on plain text, not imported")
    selections = []
    for selection in _children(source, "PlainTextSelection"):
        selections.append({
            "guid": _key(selection.get("guid")), "name": selection.get("name") or "",
            "start": _integer(selection.get("startPosition")), "end": _integer(selection.get("endPosition")),
            "given": (selection.get("startPosition"), selection.get("endPosition")),
            "user": _key(selection.get("creatingUser")), "notes": _note_refs(selection),
            "codings": [_coding(c) for c in _children(selection, "Coding")]})
    return {"guid": _key(source.get("guid")), "name": source.get("name") or PurePosixPath(
        (source.get("plainTextPath") or "source").partition("://")[2] or source.get("plainTextPath") or "source").stem,
            "text": text.lstrip("\ufeff") if text is not None else None, "selections": selections,
            "unread": (source.get("plainTextPath") or (rich if rich.lower().endswith(".txt") else None))
            if text is None else None,  # the plain text it names, when that cannot be read
            "codings": [_coding(c) for c in _children(source, "Coding")], "notes": _note_refs(source),
            "values": _values(source), "user": _key(source.get("creatingUser"))}


def _values(element) -> list[tuple[str, str]]:
    values = []
    for value in _children(element, "VariableValue"):
        ref = _child(value, "VariableRef")
        given = next((child.text for child in value if isinstance(child.tag, str) and _local(child) != "VariableRef"),
                     None)
        if ref is not None and given is not None:
            values.append((_key(ref.get("targetGUID")), given.strip()))
    return values


def _coding(element) -> dict:
    ref = _child(element, "CodeRef")
    return {"guid": _key(element.get("guid")), "code": _key(ref.get("targetGUID")) if ref is not None else None,
            "user": _key(element.get("creatingUser")), "notes": _note_refs(element),
            "created": _moment(element.get("creationDateTime"))}


def _moment(value: str | None) -> str | None:
    """An ``xsd:dateTime`` as we record times (UTC, to the second); None when absent or unreadable
    (a time without a zone is taken as UTC)."""
    try:
        moment = datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _integer(value: str | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- text positions ---------------------------------------------------------------------

UNITS = ("code points", "UTF-16 units", "UTF-8 bytes")


@dataclass(frozen=True)
class Reading:
    """How a source's positions count: in the file's text with ``\\r\\n`` as two characters
    (``raw``) or one (``lf``), in code points (the standard), UTF-16 units (Qt) or UTF-8 bytes."""

    view: str  # the text the positions count in, as code points
    line_ends: str
    unit: str
    table: tuple[int, ...] | None  # offset in ``unit`` → code point (−1 inside a character); None: code points

    def at(self, position: int | None) -> int | None:
        """A position as a code point of ``view``; None when it is outside or splits a character."""
        if position is None or position < 0:
            return None
        if self.table is None:
            return position if position <= len(self.view) else None
        found = self.table[position] if position < len(self.table) else -1
        return found if found >= 0 else None

    @property
    def convention(self) -> str:
        return self.line_ends if self.unit == UNITS[0] else f"{self.line_ends}, {self.unit}"


def _unit_table(view: str, unit: str) -> tuple[int, ...] | None:
    if unit == UNITS[0]:
        return None
    table: list[int] = []
    for index, char in enumerate(view):
        width = (2 if ord(char) > 0xFFFF else 1) if unit == UNITS[1] else len(char.encode("utf-8"))
        table += [index] + [-1] * (width - 1)
    return tuple(table + [len(view)])


def source_view(text: str, selections: list[dict], origin: str) -> Reading:
    """The reading of a source's positions that fits it best.

    In doubt only for a file with ``\\r\\n`` (ATLAS.ti counts it as one character, the others and
    the standard as two) or with characters that UTF-16 or UTF-8 count differently.  Selections
    whose name is the start of their quote (as QualCoder, NVivo and our own files write) decide;
    then that every position lands inside the text on a character; then code points before the
    other units, and ATLAS.ti's line ends for an ATLAS.ti file, the standard's for any other."""
    readings = []
    for line_ends in ("raw", "lf") if "\r\n" in text else ("raw",):
        view = text if line_ends == "raw" else text.replace("\r\n", "\n")
        for unit in UNITS:
            if unit == UNITS[1] and all(ord(char) <= 0xFFFF for char in view) or unit == UNITS[2] and view.isascii():
                continue  # counts the same as code points
            readings.append(Reading(view, line_ends, unit, _unit_table(view, unit)))
    atlas = "atlas" in origin.lower()
    readings.sort(key=lambda r: (UNITS.index(r.unit), (r.line_ends == "lf") != atlas))

    def fit(reading: Reading) -> tuple[int, bool]:
        points = [(reading.at(s["start"]), reading.at(s["end"])) for s in selections]
        quoted = sum(1 for s, (a, b) in zip(selections, points) if quotes(reading.view, {**s, "start": a, "end": b}))
        return quoted, all(a is not None and b is not None for a, b in points)

    return max(readings, key=fit)  # the first of the best, in the order of preference


def quotes(view: str, selection: dict) -> bool | None:
    """Whether a selection's positions point at the text its name quotes; None when its name is
    no quote of this text (qc writes ``line:6``, others nothing)."""
    name, start, end = selection["name"], selection["start"], selection["end"]
    if len(name) < 4 or name not in view or start is None or end is None:
        return None
    return view[start:end].startswith(name) or name.startswith(view[start:end]) and end - start >= 4


def canonical_map(text: str) -> tuple[str, list[int]]:
    """Our canonical text as ``pipeline.clean.normalize`` makes it (invisible characters and BOM gone,
    LF line ends, trailing spaces trimmed; its removal of pinyin glosses is not mapped here) and, for every position 0…len(text) of ``text``, its position in it.
    NFC composition, which can merge characters, is left to the caller (rare in Chinese)."""
    out: list[str] = []
    positions: list[int] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        index += 1
        if ord(char) in _INVISIBLE or (char == "\r" and index < length and text[index] == "\n"):
            positions.append(len(out))
            continue
        if char in "\r\u2028\n":
            while out and out[-1] in " \t":  # trailing spaces go
                out.pop()
            char = "\n"
        positions.append(len(out))
        out.append(char)
    while out and out[-1] in " \t":
        out.pop()
    positions.append(len(out))
    # a position that pointed into trimmed spaces now points at the end of its line
    for i in range(len(positions) - 2, -1, -1):
        positions[i] = min(positions[i], positions[i + 1])
    return "".join(out), positions


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
