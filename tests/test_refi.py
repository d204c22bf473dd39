"""REFI-QDA exchange on small real projects: the .qdc codebook, the .qdpx archive (validated
against the published Project.xsd when ../shared is present), round trips into a fresh project,
and archives made here the way NVivo, ATLAS.ti, MAXQDA, QualCoder and qc write them."""
import hashlib
import json
import re
import unicodedata
import uuid
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from tests.conftest import coding_project
from pipeline import init_project, open_project
from pipeline.cli import cli
from pipeline.refi import CODEBOOK_NS, PROJECT_NS, parse_description

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "refi-qda"
XSD = SHARED / "Project.xsd"
QC_DEMO = SHARED / "qc_demo.qdpx"
P = f"{{{PROJECT_NS}}}"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")  # the XSD's GUIDType

CODEBOOK = """\
id: study
name: 测试编码本
version: 1
codes:
  - id: policy
    name: 政策
    definition: 受访者谈到政策。
    codable: false
    color: "#2e7d32"
    children:
      - id: subsidy
        name: 补贴
        name_en: Subsidy
        definition: 谈到补贴或奖励资金。
        include: 具体的资金、补助。
        exclude: |-
          泛泛的支持。
          口号。
        examples: [政府给了一部分补贴, 有专项资金]
        atypical_examples: [免税]
        color: "#c62828"
        stance: positive
      - id: slow
        name: 拨付慢
        definition: 资金拨付慢。
  - id: college
    name: 产业学院
    definition: 共建产业学院。
"""
TRANSCRIPTS = {
    "e01.txt": "问：企业如何参与？\n答：我们和学院共建了产业学院。\n问：补贴到位吗？\n答：补贴拨付比较慢。\n",
    "g01.txt": "问：政府做了什么👍？\n答：给企业发放补贴。\n问：效果如何？\n答：拨付很慢的问题也有。\n",
}
METADATA = "file,participant,group,kind\ne01.txt,E01,enterprise,transcript\ng01.txt,G01,government,transcript\n"


def make_project(root: Path, transcripts=TRANSCRIPTS, metadata=METADATA):
    return coding_project(init_project(root, "refi test"), transcripts, metadata, CODEBOOK)


def span(project, doc: str, quote: str) -> tuple[int, int]:
    text = project.document(doc)["text"]
    start = text.index(quote)
    return start, start + len(quote)


@pytest.fixture
def project(tmp_path):
    opened = make_project(tmp_path / "p")
    e01, g01 = opened.document("e01.txt")["id"], opened.document("g01.txt")["id"]
    opened.code("e01.txt", *span(opened, "e01.txt", "共建了产业学院"), "college", "alice", memo="典型的合作")
    opened.code("e01.txt", *span(opened, "e01.txt", "补贴拨付比较慢"), "slow", "alice")
    opened.code("e01.txt", *span(opened, "e01.txt", "补贴拨付比较慢"), "subsidy", "bob")
    opened.code("g01.txt", *span(opened, "g01.txt", "发放补贴"), "subsidy", "bob")
    opened.write_memo("document", e01, "企业访谈，信息丰富。", "alice")
    opened.write_memo("code", "slow", "慢的含义要统一。", "bob")
    opened.write_memo("project", "", "第一轮编码。", "alice")
    unit = next(u for u in opened.coding_units() if u["doc_id"] == g01 and "拨付很慢" in u["text"])
    opened.write_memo("unit", unit["unit_id"], "这一句要再看。", "bob")
    yield opened
    opened.close()


def validate(xml: bytes) -> None:
    if not XSD.exists():
        pytest.skip(f"the REFI-QDA Project.xsd is not at {XSD} (../shared is absent)")
    import xmlschema

    xmlschema.XMLSchema(str(XSD)).validate(xml)


def qde_bytes(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read("project.qde")


def qde(path: Path) -> etree._Element:
    return etree.fromstring(qde_bytes(path))


def exchanged(path: Path) -> set[tuple]:
    """(sha256 of the source text, start, end, code name, user name) of every coding in an archive."""
    root = qde(path)
    users = {u.get("guid"): u.get("name") for u in root.iter(P + "User")}
    codes = {c.get("guid"): c.get("name") for c in root.iter(P + "Code")}
    found = set()
    with zipfile.ZipFile(path) as archive:
        for source in root.iter(P + "TextSource"):
            text = archive.read("sources/" + source.get("plainTextPath").removeprefix("internal://")).decode("utf-8")
            digest = hashlib.sha256(text.encode()).hexdigest()
            for selection in source.iter(P + "PlainTextSelection"):
                for made in selection.iter(P + "Coding"):
                    start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
                    found.add((digest, start, end, text[start:end], codes[made[0].get("targetGUID")],
                               users[made.get("creatingUser")]))
    return found


def standing(project) -> set[tuple]:
    return {(c["document"].rsplit("/", 1)[-1], c["start"], c["end"], c["text"], c["code"], c["coder"])
            for c in project.codings(machine=False)}


# --- the codebook file ------------------------------------------------------------------------

def test_codebook_qdc_keeps_tree_colours_and_fields(project, tmp_path):
    out = project.refi_codebook(tmp_path / "codes.qdc")
    root = etree.parse(str(out)).getroot()
    assert root.tag == f"{{{CODEBOOK_NS}}}CodeBook" and root.get("origin").startswith("policoder ")
    assert [etree.QName(child).localname for child in root] == ["Codes"]  # no empty <Sets/>
    codes = {c.get("name"): c for c in root.iter(f"{{{CODEBOOK_NS}}}Code")}
    assert [c.get("name") for c in codes["政策"].findall(f"{{{CODEBOOK_NS}}}Code")] == ["补贴", "拨付慢"]
    assert codes["政策"].get("isCodable") == "false" and codes["补贴"].get("isCodable") == "true"
    assert codes["政策"].get("color") == "#2E7D32" and codes["产业学院"].get("color") is None
    assert all(GUID.match(c.get("guid")) and uuid.UUID(c.get("guid")).version == 5 for c in codes.values())
    for element in root.iter():  # Description first, then nested codes (the schema's order)
        tags = [etree.QName(child).localname for child in element]
        assert tags == sorted(tags, key=lambda t: t != "Description")
    fields = parse_description(codes["补贴"].find(f"{{{CODEBOOK_NS}}}Description").text)
    assert fields == {"name_en": "Subsidy", "definition": "谈到补贴或奖励资金。", "include": "具体的资金、补助。",
                      "exclude": "泛泛的支持。\n口号。", "examples": ["政府给了一部分补贴", "有专项资金"],
                      "atypical_examples": ["免税"], "stance": "positive", "id": "subsidy"}
    assert project.refi_codebook(tmp_path / "again.qdc").read_bytes() == out.read_bytes()
    # the schema of a project's CodeBook is the codebook file's, in the project namespace
    wrapper = etree.Element(P + "Project", nsmap={None: PROJECT_NS}, name="check")
    book = etree.SubElement(wrapper, P + "CodeBook")
    for element in root.iter():
        element.tag = P + etree.QName(element).localname
    book.append(root[0])
    validate(etree.tostring(wrapper))


# --- the project archive ----------------------------------------------------------------------

def test_export_is_a_valid_deterministic_archive(project, tmp_path):
    summary = project.refi_export(tmp_path / "a.qdpx")
    assert summary["codings"] == 4 and summary["users"] == 2 and summary["sources"] == 2
    first = (tmp_path / "a.qdpx").read_bytes()
    project.refi_export(tmp_path / "b.qdpx")
    assert (tmp_path / "b.qdpx").read_bytes() == first  # uuid5 GUIDs, fixed zip times and order
    with zipfile.ZipFile(tmp_path / "a.qdpx") as archive:
        names = archive.namelist()
        assert names[0] == "project.qde" and all(n.startswith("sources/") for n in names[1:])
        texts = {n: archive.read(n) for n in names[1:]}
        xml = archive.read("project.qde")
    assert all(not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data for data in texts.values())
    root = etree.fromstring(xml)
    sources = list(root.iter(P + "TextSource"))
    assert all(s.get("richTextPath") is None and s.get("plainTextPath").startswith("internal://") for s in sources)
    assert {s.get("plainTextPath").replace("internal://", "sources/") for s in sources} == set(texts)
    assert sorted(u.get("name") for u in root.iter(P + "User")) == ["alice", "bob"]
    assert ("", 0, 0, "共建了产业学院", "产业学院", "alice") not in exchanged(tmp_path / "a.qdpx")
    assert {(q, code, user) for _, _, _, q, code, user in exchanged(tmp_path / "a.qdpx")} == {
        ("共建了产业学院", "产业学院", "alice"), ("补贴拨付比较慢", "拨付慢", "alice"),
        ("补贴拨付比较慢", "补贴", "bob"), ("发放补贴", "补贴", "bob")}
    variables = {v.get("guid"): v.get("name") for v in root.iter(P + "Variable")}
    assert {"participant", "group", "kind"} <= set(variables.values())
    values = {variables[v[0].get("targetGUID")]: v[1].text for v in sources[0].findall(P + "VariableValue")}
    assert values["participant"] in ("E01", "G01") and values["kind"] == "transcript"
    cases = {c.get("name"): c for c in root.iter(P + "Case")}
    assert set(cases) == {"E01", "G01"} and len(cases["E01"].findall(P + "SourceRef")) == 1
    notes = {n.get("name"): n.find(P + "PlainTextContent").text for n in root.iter(P + "Note")}
    assert "典型的合作" in notes.values() and "慢的含义要统一。" in notes.values()
    assert "这一句要再看。" in notes.values() and "第一轮编码。" in notes.values()
    assert root.find(P + "NoteRef") is not None  # the project memo hangs on the project
    validate(xml)  # last: it skips when the schema is not at hand


def test_round_trip_through_a_fresh_project_keeps_every_span(project, tmp_path):
    project.refi_export(tmp_path / "out.qdpx")
    fresh = make_project(tmp_path / "fresh", transcripts={}, metadata=None)
    try:
        summary = fresh.refi_import(tmp_path / "out.qdpx")
        assert summary["imported"] and not summary["problems"], summary["problems"]
        assert (summary["sources"], summary["sources_added"], summary["codings"]) == (2, 2, 4)
        assert {row[1:] for row in standing(fresh)} == {row[1:] for row in standing(project)}
        added = fresh.document("e01.txt")
        assert added["path"] == "corpus/refi/out/e01.txt"
        assert json.loads(added["attributes"])["participant"] == "E01" and added["kind"] == "transcript"
        memos = {(m["target_kind"], m["text"]) for m in fresh.memos()}
        assert {("document", "企业访谈，信息丰富。"), ("code", "慢的含义要统一。"), ("project", "第一轮编码。"),
                ("unit", "这一句要再看。")} <= memos
        assert any(c["memo"] == "典型的合作" for c in fresh.codings())
        fresh.refi_export(tmp_path / "again.qdpx")
        assert exchanged(tmp_path / "again.qdpx") == exchanged(tmp_path / "out.qdpx")
        again = fresh.refi_import(tmp_path / "out.qdpx")  # idempotent: nothing twice
        assert (again["codings"], again["codings_present"], again["sources_added"], again["memos"]) == (0, 4, 0, 0)
    finally:
        fresh.close()
    back = project.refi_import(tmp_path / "out.qdpx")  # into the project it came from: all already there
    assert back["sources_matched"] == 2 and back["codings"] == 0 and back["codings_present"] == 4
    fresh = open_project(tmp_path / "fresh")  # another coder works there; her codings come back, nothing else
    try:
        fresh.code("e01.txt", *span(fresh, "e01.txt", "补贴到位"), "subsidy", "carol")
        fresh.refi_export(tmp_path / "carol.qdpx")
    finally:
        fresh.close()
    merged = project.refi_import(tmp_path / "carol.qdpx")
    assert (merged["codings"], merged["codings_present"], merged["coders"]) == (1, 4, ["carol"])
    assert ("e01.txt", *span(project, "e01.txt", "补贴到位"), "补贴到位", "subsidy", "carol") in standing(project)
    validate(qde_bytes(tmp_path / "again.qdpx"))  # last: it skips when the schema is not at hand


def test_codings_made_on_an_earlier_text_follow_the_document(project, tmp_path):
    """A transcript corrected and re-ingested after the export: the archive still matches it; its
    codings land where their text now is, and one whose text is gone is kept, flagged."""
    project.refi_export(tmp_path / "before.qdpx")
    fresh = make_project(tmp_path / "colleague", transcripts={}, metadata=None)
    try:
        fresh.refi_import(tmp_path / "before.qdpx")
        fresh.code("e01.txt", *span(fresh, "e01.txt", "补贴到位"), "subsidy", "carol")
        fresh.code("e01.txt", *span(fresh, "e01.txt", "产业学院"), "college", "carol")
        fresh.refi_export(tmp_path / "carol.qdpx")
    finally:
        fresh.close()
    corrected = E01.replace("我们和学院共建了产业学院。", "（录音不清）").replace("问：企业", "问：请问企业")
    (project.root / "corpus" / "e01.txt").write_text(corrected, encoding="utf-8")
    assert project.ingest().ingested == ["corpus/e01.txt"]
    summary = project.refi_import(tmp_path / "carol.qdpx")
    assert summary["imported"], summary["problems"]
    assert (summary["sources_matched"], summary["sources_added"], summary["codings"]) == (2, 0, 2)
    assert summary["codings_present"] == 4  # alice's gone 产业学院 coding too: it stands, unanchored
    assert any("kept on the earlier text and flagged unanchored" in p["message"] for p in summary["problems"])
    carol = {c["code"]: c for c in project.codings(coders=["carol"])}
    assert carol["subsidy"]["text"] == "补贴到位" and carol["subsidy"]["anchor"] == "current"  # on today's text
    assert (carol["subsidy"]["start"], carol["subsidy"]["end"]) == at(corrected, "补贴到位")
    assert carol["college"]["anchor"] == "unanchored" and "re-code it" in carol["college"]["review"]
    assert project.refi_import(tmp_path / "carol.qdpx")["codings"] == 0


# --- archives as other tools write them ---------------------------------------------------------

def make_qdpx(path: Path, files: dict[str, bytes], sources: list[dict], *, origin: str, codes=(("补贴", "c1"),),
              users=(("NVivo User", "u1"),), folder="sources", extra: dict[str, bytes] | None = None,
              cases: tuple[dict, ...] = (), base: str | None = None) -> Path:
    """A .qdpx the way another tool writes it: ``sources`` hold path/name/selections (start, end,
    name, code key, user key or None) and ``pdf`` for a PDFSource with its text as Representation;
    ``cases`` hold name, values {variable: text} and source numbers; GUIDs made here in upper case
    within braces, as NVivo writes them."""
    variables = sorted({name for case in cases for name in case["values"]})
    ids = {key: "{" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{path.name}:{key}")).upper() + "}"
           for key in [k for _, k in codes] + [k for _, k in users] + [f"s{i}" for i in range(99)] +
           [f"v:{name}" for name in variables] + [f"case:{case['name']}" for case in cases]}
    root = etree.Element(P + "Project", nsmap={None: PROJECT_NS}, name="vendor project", origin=origin,
                         **({"basePath": base} if base else {}))
    if users:
        holder = etree.SubElement(root, P + "Users")
        for name, key in users:
            etree.SubElement(holder, P + "User", guid=ids[key], name=name)
    book = etree.SubElement(etree.SubElement(root, P + "CodeBook"), P + "Codes")
    for name, key in codes:
        etree.SubElement(book, P + "Code", guid=ids[key], name=name, isCodable="true")
    if variables:
        holder = etree.SubElement(root, P + "Variables")
        for name in variables:
            etree.SubElement(holder, P + "Variable", guid=ids[f"v:{name}"], name=name, typeOfVariable="Text")
        holder = etree.SubElement(root, P + "Cases")
        for case in cases:
            element = etree.SubElement(holder, P + "Case", guid=ids[f"case:{case['name']}"], name=case["name"])
            for name, value in case["values"].items():
                given = etree.SubElement(element, P + "VariableValue")
                etree.SubElement(given, P + "VariableRef", targetGUID=ids[f"v:{name}"])
                etree.SubElement(given, P + "TextValue").text = value
            for number in case["sources"]:
                etree.SubElement(element, P + "SourceRef", targetGUID=ids[f"s{number}"])
    holder = etree.SubElement(root, P + "Sources")
    for number, source in enumerate(sources):
        paths = {k: v for k, v in source.items() if k in ("plainTextPath", "richTextPath")}
        if source.get("pdf"):
            pdf = etree.SubElement(holder, P + "PDFSource", guid=ids[f"s{number}"], name=source["name"],
                                   path="internal://original.pdf")
            etree.SubElement(pdf, P + "PDFSelection", guid=str(uuid.uuid4()), page="1", firstX="0", firstY="0",
                             secondX="10", secondY="10")
            element = etree.SubElement(pdf, P + "Representation", guid=str(uuid.uuid4()), **paths)
        else:
            element = etree.SubElement(holder, P + "TextSource", guid=ids[f"s{number}"], name=source["name"], **paths)
        for start, end, name, code, user in source["selections"]:
            chosen = etree.SubElement(element, P + "PlainTextSelection", guid=str(uuid.uuid4()), name=name,
                                      startPosition=str(start), endPosition=str(end))
            made = etree.SubElement(chosen, P + "Coding", guid=str(uuid.uuid4()),
                                    **({"creatingUser": ids[user]} if user else {}))
            etree.SubElement(made, P + "CodeRef", targetGUID=ids[code])
    xml = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    validate_quietly(xml)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", xml)
        for name, data in {**files, **(extra or {})}.items():
            archive.writestr(f"{folder}/{name}" if "/" not in name else name, data)
    return path


def validate_quietly(xml: bytes) -> None:
    """The hand-made files are valid REFI-QDA too (checked when the schema is at hand)."""
    if XSD.exists():
        import xmlschema

        xmlschema.XMLSchema(str(XSD)).validate(xml)


E01 = TRANSCRIPTS["e01.txt"]


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def at(text: str, quote: str) -> tuple[int, int]:
    start = text.index(quote)
    return start, start + len(quote)


@pytest.mark.parametrize("tool", ["nvivo", "atlas", "maxqda", "qualcoder", "qc"])
def test_vendor_quirks_land_on_the_same_characters(project, tmp_path, tool):
    """NVivo: ``Sources/``, a BOM, a .docx beside the .txt, \\r\\n counted as two; ATLAS.ti: \\r\\n
    counted as one, no quote to check against; MAXQDA: LF, no BOM; QualCoder: a BOM, quotes as
    names; qc: a bare file name."""
    quote = "补贴拨付比较慢"
    if tool == "nvivo":
        data, text, folder = b"\xef\xbb\xbf" + crlf(E01).encode(), crlf(E01), "Sources"
        selection = (*at(text, quote), quote)
    elif tool == "atlas":
        data, folder = crlf(E01).encode(), "sources"
        selection = (*at(E01, quote), "")
    elif tool == "maxqda":
        data, folder = E01.encode(), "sources"
        selection = (*at(E01, quote), "")
    else:
        data, folder = b"\xef\xbb\xbf" + E01.encode(), "sources"
        selection = (*at(E01, quote), quote)
    path_form = "e01.txt" if tool == "qc" else "internal://E01-GUID.txt"
    name = "e01.txt" if tool == "qc" else "E01-GUID.txt"
    origin = {"nvivo": "NVivo 14", "atlas": "ATLAS.ti 23", "maxqda": "MAXQDA 2022", "qualcoder": "QualCoder 3.5",
              "qc": "qc 1.3.2"}[tool]
    nvivo = tool == "nvivo"  # NVivo also writes the rich text (.docx) of each source, and sources/.root
    archive = make_qdpx(tmp_path / f"{tool}.qdpx", {name: data, **({"E01-GUID.docx": b"PK"} if nvivo else {})},
                        [{"name": "访谈 E01", "plainTextPath": path_form,
                          **({"richTextPath": "internal://E01-GUID.docx"} if nvivo else {}),
                          "selections": [(*selection, "c1", "u1")]}], origin=origin, folder=folder,
                        extra={"sources/.root": b""} if nvivo else None)
    summary = project.refi_import(archive, as_coder_prefix=f"{tool}:")
    assert summary["imported"], summary["problems"]
    assert (summary["sources_matched"], summary["sources_added"], summary["codings"]) == (1, 0, 1)
    if tool in ("nvivo", "atlas"):
        assert summary["readings"] == {"访谈 E01": "raw" if tool == "nvivo" else "lf"}
    (imported,) = project.codings(coders=[f"{tool}:NVivo User"])
    assert imported["text"] == quote and imported["document"] == "corpus/e01.txt"
    assert (imported["start"], imported["end"]) == span(project, "e01.txt", quote)
    assert imported["source"] == f"refi:{tool}.qdpx" and imported["unit_id"] is not None


def test_rich_text_only_sources_are_reported_not_guessed(project, tmp_path):
    archive = make_qdpx(tmp_path / "rich.qdpx", {"X.docx": b"PK not read"},
                        [{"name": "rich", "richTextPath": "internal://X.docx", "selections": [(0, 3, "", "c1", "u1")]}],
                        origin="NVivo 14")
    summary = project.refi_import(archive)
    assert summary["imported"] and summary["codings"] == 0
    assert any("only rich text" in p["message"] for p in summary["problems"])


@pytest.mark.parametrize("form", ["absolute", "relative", "rich-txt"])
def test_sources_outside_the_archive_or_declared_as_rich_text(project, tmp_path, form):
    outside = tmp_path / "external" / "e01.txt"
    outside.parent.mkdir()
    outside.write_text(crlf(E01), encoding="utf-8")
    paths = {"absolute": {"plainTextPath": f"absolute://{outside}"},
             "relative": {"plainTextPath": "relative://external/e01.txt"},
             "rich-txt": {"richTextPath": "internal://e.txt"}}[form]
    archive = make_qdpx(tmp_path / "ext.qdpx", {"e.txt": E01.encode()} if form == "rich-txt" else {},
                        [{"name": "e", **paths, "selections": [(*at(crlf(E01), "产业学院"), "产业学院", "c1", "u1")]
                          if form != "rich-txt" else [(*at(E01, "产业学院"), "产业学院", "c1", "u1")]}],
                        origin="NVivo 14", base=str(tmp_path) if form == "relative" else None)
    summary = project.refi_import(archive)
    assert summary["imported"] and summary["codings"] == 1 and summary["sources_matched"] == 1, summary
    if form != "rich-txt":
        assert any("outside the archive" in p["message"] for p in summary["problems"])


def test_a_file_with_one_bad_span_imports_nothing(project, tmp_path):
    before = standing(project)
    archive = make_qdpx(tmp_path / "bad.qdpx", {"e.txt": E01.encode()},
                        [{"name": "e", "plainTextPath": "internal://e.txt",
                          "selections": [(*at(E01, "产业学院"), "", "c1", "u1"), (5, 5000, "", "c1", "u1")]}],
                        origin="MAXQDA 2022")
    summary = project.refi_import(archive)
    assert not summary["imported"] and summary["codings"] == 0
    assert any("5–5000 are not inside the text (0–" in p["message"] for p in summary["problems"])
    assert standing(project) == before


def vendor_codes_archive(tmp_path):
    text = "问：学校怎么看？\n答：师资不足是最大的问题。\n"
    return make_qdpx(tmp_path / "new.qdpx", {"n.txt": text.encode()},
                     [{"name": "c02 访谈", "plainTextPath": "internal://n.txt",
                       "selections": [(*at(text, "师资不足"), "师资不足", "t1", "u1"),
                                      (*at(text, "最大的问题"), "", "c1", "u1")]}],
                     origin="QualCoder 3.5", codes=(("补贴", "c1"), ("师资 Teachers", "t1")))


def test_unmapped_codes_are_reported_then_added(project, tmp_path):
    archive = vendor_codes_archive(tmp_path)
    first = project.refi_import(archive)
    assert first["imported"] and (first["codings"], first["sources_added"]) == (1, 1)
    assert [p["message"] for p in first["problems"]] == [
        "1 code is not in codebook study: '师资 Teachers'; their 1 codings were not imported: add the codes with "
        "--add-codes (or to the codebook by hand) and import again to bring just those"]
    summary = project.refi_import(archive, add_missing_codes=True)
    assert summary["imported"], summary["problems"]
    assert (summary["codings"], summary["codings_present"], summary["sources_matched"]) == (1, 1, 1)
    assert summary["codes_added"] == ["refi_" + summary["codes_added"][0][5:]]
    assert (project.root / "codebooks" / "study.yaml").read_text(encoding="utf-8").startswith(CODEBOOK)
    book = project.codebook()
    (new,) = [c for c in book.codes if c.name == "师资 Teachers"]
    assert "Imported from QualCoder 3.5" in new.definition and book.by_id["subsidy"].include == "具体的资金、补助。"
    coded = {(c["text"], c["code"]) for c in project.codings(coders=["NVivo User"])}
    assert coded == {("师资不足", new.id), ("最大的问题", "subsidy")}
    assert project.document("c02_访谈.txt")["kind"] in ("transcript", "policy")


def test_a_shipped_codebook_is_copied_into_the_project_to_take_new_codes(tmp_path):
    root = init_project(tmp_path / "plain", "plain")  # the shipped example codebook, as `policoder init` sets it
    project = open_project(root)
    try:
        summary = project.refi_import(vendor_codes_archive(tmp_path), add_missing_codes=True)
        assert summary["imported"] and summary["codings"] == 2, summary["problems"]
        assert "copied to codebooks/iei_interviews.yaml" in summary["problems"][0]["message"]
        assert 'codebook = "codebooks/iei_interviews.yaml"' in (root / "policoder.toml").read_text(encoding="utf-8")
        assert project.codebook().source.endswith("codebooks/iei_interviews.yaml")
        assert {c.name for c in project.codebook().codes} >= {"补贴", "师资 Teachers"}
    finally:
        project.close()


def test_positions_that_miss_their_quote_are_refused(project, tmp_path):
    """A selection that quotes its text (QualCoder, NVivo) is checked against where it points."""
    archive = make_qdpx(tmp_path / "off.qdpx", {"e.txt": E01.encode()},
                        [{"name": "e", "plainTextPath": "internal://e.txt",
                          "selections": [(at(E01, "补贴拨付比较慢")[0] + 1, at(E01, "补贴拨付比较慢")[1] + 1, "补贴拨付比较慢",
                                          "c1", "u1")]}], origin="QualCoder 3.5")
    summary = project.refi_import(archive)
    assert not summary["imported"]
    assert "point at '贴拨付比较慢。', but the selection quotes '补贴拨付比较慢'" in summary["problems"][0]["message"]


def test_pdf_text_cases_and_unnamed_coders(project, tmp_path):
    """NVivo: a PDF's text as its Representation, participants' attributes on cases, codings
    without a user (recorded under the tool's name, with a warning)."""
    text = "关于深化产教融合的若干意见\n一、总体要求\n企业参与办学，给予补贴。\n"
    archive = make_qdpx(tmp_path / "nvivo.qdpx", {"p.txt": crlf(text).encode()},
                        [{"name": "国办发〔2017〕95号", "pdf": True, "plainTextPath": "internal://p.txt",
                          "selections": [(*at(crlf(text), "给予补贴"), "给予补贴", "c1", None)]}],
                        origin="NVivo 14", users=(), cases=({"name": "State Council", "sources": [0],
                                                            "values": {"issuer": "国务院办公厅", "level": "national",
                                                                       "date": "20 Dec 2017"}},))
    summary = project.refi_import(archive, as_coder_prefix="nv:")
    assert summary["imported"], summary["problems"]
    messages = " | ".join(p["message"] for p in summary["problems"])
    assert "page regions are not imported" in messages and "recorded as coder 'nv:NVivo 14'" in messages
    (made,) = project.codings(coders=["nv:NVivo 14"])
    assert made["text"] == "给予补贴"
    added = project.document(made["document"])
    assert added["path"].startswith("corpus/refi/nvivo/") and added["issuer"] == "国务院办公厅"
    assert added["level"] == "national" and json.loads(added["attributes"])["participant"] == "State Council"
    assert added["date"] != "20 Dec 2017"  # not a date our metadata sheet takes: left out, not an error


def test_schema_check_is_real(project, tmp_path):
    """The validation the other tests rely on refuses a file in the wrong order."""
    project.refi_export(tmp_path / "a.qdpx")
    root = qde(tmp_path / "a.qdpx")
    root.append(root.find(P + "Users"))  # Users must come first
    with pytest.raises(Exception, match="Users"):
        validate(etree.tostring(root))


def test_broken_archives_are_named(project, tmp_path):
    (tmp_path / "junk.qdpx").write_bytes(b"not a zip")
    summary = project.refi_import(tmp_path / "junk.qdpx")
    assert not summary["imported"] and "not a readable .qdpx" in summary["problems"][0]["message"]
    with zipfile.ZipFile(tmp_path / "noqde.qdpx", "w") as archive:
        archive.writestr("sources/a.txt", "x")
    assert "no project.qde" in project.refi_import(tmp_path / "noqde.qdpx")["problems"][0]["message"]
    for name, xml, message in [("bad.qdpx", b"<Project", "is not well-formed XML"),
                               ("typo.qdpx", b'<Project xmlns="urn:QDA-XML:project:1:0" name="x"/>',
                                "root is not a REFI-QDA <Project> in urn:QDA-XML:project:1.0")]:
        with zipfile.ZipFile(tmp_path / name, "w") as archive:
            archive.writestr("project.qde", xml)
        assert message in project.refi_import(tmp_path / name)["problems"][0]["message"]


@pytest.mark.skipif(not QC_DEMO.exists(), reason=f"QualCoder-style demo export not at {QC_DEMO} (../shared absent)")
def test_real_export_of_another_tool(tmp_path):
    project = make_project(tmp_path / "qc", transcripts={}, metadata=None)
    try:
        summary = project.refi_import(QC_DEMO, as_coder_prefix="qc:", add_missing_codes=True)
        assert summary["imported"], summary["problems"][:3]
        with zipfile.ZipFile(QC_DEMO) as archive:
            root = etree.fromstring(archive.read("project.qde"))
            texts = {s.get("plainTextPath"): archive.read("sources/" + s.get("plainTextPath")).decode("utf-8")
                     for s in root.iter(P + "TextSource")}
            expected = set()
            for source in root.iter(P + "TextSource"):
                for selection in source.iter(P + "PlainTextSelection"):
                    for made in selection.iter(P + "Coding"):
                        start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
                        expected.add((texts[source.get("plainTextPath")][start:end].rstrip(),
                                      made[0].get("targetGUID")))
        assert summary["sources_added"] == len(texts) == 2
        assert summary["codings"] == len(expected) and summary["coders"] == ["qc:cp"]
        codings = project.codings(coders=["qc:cp"])
        assert all(c["text"] and c["anchor"] == "current" for c in codings)
        assert sorted(c["text"].rstrip() for c in codings) == sorted(q for q, _ in expected)
        assert project.refi_import(QC_DEMO, as_coder_prefix="qc:")["codings"] == 0
        project.refi_export(tmp_path / "qc-again.qdpx")  # 260 codes added to the codebook: still valid
        validate(qde_bytes(tmp_path / "qc-again.qdpx"))
    finally:
        project.close()


def test_positions_carry_onto_canonical_text():
    """canonical_map makes what pipeline.clean.normalize makes, and says where each character went."""
    from pipeline.clean import normalize
    from pipeline.refi import canonical_map, source_view

    for raw in ["\ufeff问：你好  \r\n答：好的\u200b。\r\n", "a \tb\r\rc\u2028d  ", "👍补贴\n\n", ""]:
        text, positions = canonical_map(raw)
        assert text == normalize(raw) and len(positions) == len(raw) + 1
        assert positions == sorted(positions) and positions[-1] == len(text)
        for index, char in enumerate(raw):
            if char not in "\ufeff\u200b\r \t\u2028":
                assert text[positions[index]] == (char if char != "\n" else "\n")
    crlf_text = "问：一\r\n答：二三四五\r\n"
    lf_start = crlf_text.replace("\r\n", "\n").index("二三四五")
    quoted = [{"start": lf_start, "end": lf_start + 4, "name": "二三四五"}]
    assert source_view(crlf_text, quoted, "").convention == "lf"  # the quote decides, whatever the tool
    beyond = [{"start": len(crlf_text) - 2, "end": len(crlf_text), "name": ""}]
    assert source_view(crlf_text, beyond, "ATLAS.ti 9").convention == "raw"  # past the shorter text: only raw fits
    assert source_view(crlf_text, [], "ATLAS.ti 9").convention == "lf"
    assert source_view(crlf_text, [], "NVivo").convention == "raw"
    emoji = "👍𠀀好：补贴拨付比较慢。"  # an emoji and a CJK Extension B character: two UTF-16 units each
    start = len(emoji[:emoji.index("补贴")].encode("utf-16-le")) // 2
    utf16 = [{"start": start, "end": start + 7, "name": "补贴拨付比较慢"}]
    reading = source_view(emoji, utf16, "QualCoder 3.5")
    assert reading.convention == "raw, UTF-16 units" and reading.at(start) == emoji.index("补贴")
    assert reading.at(1) is None  # inside the emoji's surrogate pair
    start = len(emoji[:emoji.index("补贴")].encode("utf-8"))
    reading = source_view(emoji, [{"start": start, "end": start + 21, "name": "补贴拨付比较慢"}], "Taguette")
    assert reading.convention == "raw, UTF-8 bytes" and emoji[reading.at(start):reading.at(start + 21)] == "补贴拨付比较慢"
    assert source_view(emoji, [], "").convention == "raw"  # nothing says otherwise: code points


def test_decomposed_text_is_matched_and_spans_on_changed_characters_refused(tmp_path):
    """A source in NFD matches our NFC document; a span over a recomposed character cannot be
    placed exactly, so the file is refused with that span named (nothing guessed)."""
    text = "问：Cafe\u0301 如何？\n答：补贴拨付比较慢。\n"
    project = make_project(tmp_path / "nfc", transcripts={"cafe.txt": unicodedata.normalize("NFC", text)},
                           metadata=None)
    try:
        quote = "补贴拨付"
        good = make_qdpx(tmp_path / "nfd.qdpx", {"c.txt": text.encode()},
                         [{"name": "c", "plainTextPath": "internal://c.txt",
                           "selections": [(*at(text, quote), quote, "c1", "u1")]}], origin="MAXQDA 2022")
        summary = project.refi_import(good)
        assert summary["imported"] and summary["sources_matched"] == 1, summary["problems"]
        (made,) = project.codings(coders=["NVivo User"])
        assert made["text"] == quote
        bad = make_qdpx(tmp_path / "nfd-bad.qdpx", {"c.txt": text.encode()},
                        [{"name": "c", "plainTextPath": "internal://c.txt",
                          "selections": [(*at(text, "Cafe\u0301"), "", "c1", "u1")]}], origin="MAXQDA 2022")
        refused = project.refi_import(bad)
        assert not refused["imported"] and "is not in the document's text" in refused["problems"][0]["message"]
    finally:
        project.close()


def test_utf16_positions_of_a_qt_tool_land_on_the_same_characters(project, tmp_path):
    """Positions after an emoji counted in UTF-16 units (as Qt counts) are recognised by their quotes."""
    text = TRANSCRIPTS["g01.txt"]
    quote = "发放补贴"
    start = len(text[:text.index(quote)].encode("utf-16-le")) // 2
    archive = make_qdpx(tmp_path / "qt.qdpx", {"g.txt": text.encode()},
                        [{"name": "g01", "plainTextPath": "internal://g.txt",
                          "selections": [(start, start + len(quote), quote, "c1", "u1")]}], origin="Qt tool")
    summary = project.refi_import(archive, as_coder_prefix="qt:")
    assert summary["imported"] and summary["readings"] == {"g01": "raw, UTF-16 units"}, summary
    (made,) = project.codings(coders=["qt:NVivo User"])
    assert made["text"] == quote and (made["start"], made["end"]) == span(project, "g01.txt", quote)


def test_two_sources_with_one_text_are_one_document(project, tmp_path):
    text = "问：学校怎么看？\n答：师资不足是最大的问题。\n"
    archive = make_qdpx(tmp_path / "twice.qdpx", {"a.txt": text.encode(), "b.txt": crlf(text).encode()},
                        [{"name": "a", "plainTextPath": "internal://a.txt",
                          "selections": [(*at(text, "师资不足"), "师资不足", "c1", "u1")]},
                         {"name": "b", "plainTextPath": "internal://b.txt",
                          "selections": [(*at(crlf(text), "最大的问题"), "最大的问题", "c1", "u1")]}],
                        origin="MAXQDA 2022")
    summary = project.refi_import(archive)
    assert summary["imported"], summary["problems"]
    assert (summary["sources"], summary["sources_added"], summary["codings"]) == (2, 1, 2)
    assert {c["document"] for c in project.codings(coders=["NVivo User"])} == {"corpus/refi/twice/a.txt"}


# --- the commands ------------------------------------------------------------------------------

def test_refi_commands(project, tmp_path):
    runner = CliRunner()
    root = str(project.root)
    result = runner.invoke(cli, ["refi", "export-codebook", "-o", str(tmp_path / "c.qdc"), "--project", root])
    assert result.exit_code == 0 and (tmp_path / "c.qdc").exists()
    result = runner.invoke(cli, ["refi", "export", "-o", str(tmp_path / "p.qdpx"), "--coder", "bob",
                                 "--project", root])
    assert result.exit_code == 0, result.output
    assert {user for *_, user in exchanged(tmp_path / "p.qdpx")} == {"bob"}
    root_xml = qde(tmp_path / "p.qdpx")
    assert [u.get("name") for u in root_xml.iter(P + "User")] == ["bob"]  # alice's memos stay home too
    assert {n.find(P + "PlainTextContent").text for n in root_xml.iter(P + "Note")} == {"慢的含义要统一。", "这一句要再看。"}
    result = runner.invoke(cli, ["refi", "import", str(tmp_path / "p.qdpx"), "--as-coder-prefix", "copy:",
                                 "--format", "json", "--project", root])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert {"sources", "codes", "codings", "problems"} <= set(summary)
    assert (summary["sources"], summary["codings"], summary["problems"]) == (2, 2, [])
    result = runner.invoke(cli, ["refi", "import", str(tmp_path / "p.qdpx"), "--as-coder-prefix", "copy:",
                                 "--project", root])
    assert result.exit_code == 0 and "0 codings imported (2 already there)" in result.output
    (tmp_path / "junk.qdpx").write_bytes(b"junk")
    result = runner.invoke(cli, ["refi", "import", str(tmp_path / "junk.qdpx"), "--project", root])
    assert result.exit_code == 1 and "nothing imported" in result.output
    validate(qde_bytes(tmp_path / "p.qdpx"))  # last: it skips when the schema is not at hand


# --- what a round trip keeps: times, memo targets, every selection checked ----------------------

def rewrite_qdpx(source: Path, out: Path, edit=None, drop: str | None = None) -> Path:
    """A copy of an archive with ``edit(root)`` applied to its project.qde and the entry ``drop`` left out."""
    root = qde(source)
    if edit:
        edit(root)
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(out, "w") as copy:
        for name in archive.namelist():
            if name != drop:
                copy.writestr(name, etree.tostring(root, xml_declaration=True, encoding="utf-8")
                              if name == "project.qde" else archive.read(name))
    return out


def test_coding_and_note_times_survive_a_round_trip(project, tmp_path):
    project.refi_export(tmp_path / "out.qdpx")

    def long_ago(root):
        for element in [*root.iter(P + "Coding"), *root.iter(P + "Note")]:
            element.set("creationDateTime", "2020-05-01T16:00:00+08:00")
    rewrite_qdpx(tmp_path / "out.qdpx", tmp_path / "old.qdpx", long_ago)
    fresh = make_project(tmp_path / "fresh", transcripts={}, metadata=None)
    try:
        assert fresh.refi_import(tmp_path / "old.qdpx")["imported"]
        rows = fresh.codings(machine=False)
        assert {c["made_at"] for c in rows} == {"2020-05-01T08:00:00+00:00"}  # as the file had it, in UTC
        assert all(c["created_at"] > "2026" for c in rows)  # the row itself: when it was written here
        assert {m["made_at"] for m in fresh.memos()} == {"2020-05-01T08:00:00+00:00"}
        fresh.refi_export(tmp_path / "again.qdpx")
    finally:
        fresh.close()
    again = qde(tmp_path / "again.qdpx")
    assert {e.get("creationDateTime") for e in [*again.iter(P + "Coding"), *again.iter(P + "Note")]} == \
        {"2020-05-01T08:00:00+00:00"}


def test_a_coded_source_missing_from_the_archive_refuses_the_file(project, tmp_path):
    project.refi_export(tmp_path / "out.qdpx")
    e01 = next(s for s in qde(tmp_path / "out.qdpx").iter(P + "TextSource") if s.get("name").endswith("e01.txt"))
    entry = "sources/" + e01.get("plainTextPath").removeprefix("internal://")
    rewrite_qdpx(tmp_path / "out.qdpx", tmp_path / "gone.qdpx", drop=entry)
    fresh = make_project(tmp_path / "fresh", transcripts={}, metadata=None)
    try:
        summary = fresh.refi_import(tmp_path / "gone.qdpx")
        assert not summary["imported"] and fresh.codings() == [] and fresh.memos() == []
        errors = [p["message"] for p in summary["problems"] if p["severity"] == "error"]
        assert errors == [f"source corpus/e01.txt: its text {e01.get('plainTextPath')} cannot be read, "
                          f"and it holds 3 codings and 2 notes"]
    finally:
        fresh.close()
    # a source with nothing on it may go missing: a warning, the rest comes in
    archive = make_qdpx(tmp_path / "bare.qdpx", {"e.txt": E01.encode()},
                        [{"name": "e", "plainTextPath": "internal://e.txt",
                          "selections": [(*at(E01, "产业学院"), "产业学院", "c1", "u1")]},
                         {"name": "blank", "plainTextPath": "internal://blank.txt", "selections": []}],
                        origin="MAXQDA 2022")
    summary = project.refi_import(archive)
    assert summary["imported"] and summary["codings"] == 1
    assert any(p["severity"] == "warning" and "blank" in p["message"] for p in summary["problems"])


def test_memo_targets_round_trip_and_own_export_adds_nothing(project, tmp_path):
    project.write_memo("project", "x", "项目备忘", "alice")
    college = next(c for c in project.codings() if c["code"] == "college")
    project.write_memo("coding", college["id"], "这条编码要讨论。", "bob")
    before = sorted((m["target_kind"], m["target"], m["text"]) for m in project.memos())
    project.refi_export(tmp_path / "out.qdpx")
    back = project.refi_import(tmp_path / "out.qdpx")
    assert back["imported"] and back["memos"] == 0, back
    assert sorted((m["target_kind"], m["target"], m["text"]) for m in project.memos()) == before
    fresh = make_project(tmp_path / "fresh", transcripts={}, metadata=None)
    try:
        assert fresh.refi_import(tmp_path / "out.qdpx")["memos"] == 6
        memos = {(m["target_kind"], m["text"]): m["target"] for m in fresh.memos()}
        assert memos[("project", "项目备忘")] == "x" and memos[("project", "第一轮编码。")] == ""
        on_coding = int(memos[("coding", "这条编码要讨论。")])
        assert next(c for c in fresh.codings() if c["id"] == on_coding)["code"] == "college"
        assert fresh.refi_import(tmp_path / "out.qdpx")["memos"] == 0
    finally:
        fresh.close()


def test_a_note_only_selection_is_checked_and_goes_back_to_its_unit(project, tmp_path):
    e01 = project.document("e01.txt")["id"]
    unit = next(u for u in project.coding_units() if u["doc_id"] == e01 and "补贴拨付比较慢" in u["text"])
    project.write_memo("unit", unit["unit_id"], "问得太宽。", "bob")
    project.refi_export(tmp_path / "out.qdpx")
    fresh = make_project(tmp_path / "fresh", transcripts={}, metadata=None)
    try:
        assert fresh.refi_import(tmp_path / "out.qdpx")["imported"]
        assert [m["target"] for m in fresh.memos() if m["text"] == "问得太宽。"] == [unit["unit_id"]]
    finally:
        fresh.close()
    noted = lambda root: next(s for s in root.iter(P + "PlainTextSelection")  # noqa: E731
                              if s.get("name") == unit["text"][:100])

    def moved(root):
        for side in ("startPosition", "endPosition"):
            noted(root).set(side, str(int(noted(root).get(side)) - 1))
    rewrite_qdpx(tmp_path / "out.qdpx", tmp_path / "moved.qdpx", moved)
    fresh = make_project(tmp_path / "moved", transcripts={}, metadata=None)
    try:
        summary = fresh.refi_import(tmp_path / "moved.qdpx")
        assert not summary["imported"] and fresh.memos() == []
        guid, (start, end) = noted(qde(tmp_path / "moved.qdpx")).get("guid"), (unit["start"] - 1, unit["end"] - 1)
        assert [p["message"] for p in summary["problems"] if p["severity"] == "error"] == [
            f"source corpus/e01.txt, selection {guid}: positions {start}–{end} point at {E01[start:end][:30]!r}, "
            f"but the selection quotes {unit['text'][:30]!r}"]
    finally:
        fresh.close()


def test_a_reserved_user_is_reported_once_with_a_count(project, tmp_path):
    archive = make_qdpx(tmp_path / "auto.qdpx", {"e.txt": E01.encode()},
                        [{"name": "e", "plainTextPath": "internal://e.txt",
                          "selections": [(*at(E01, quote), quote, "c1", "u1") for quote in ("产业学院", "补贴", "企业")]}],
                        origin="policoder 0.1", users=(("auto", "u1"),))
    summary = project.refi_import(archive)
    assert not summary["imported"]
    assert [p["message"] for p in summary["problems"] if p["severity"] == "error"] == [
        "user 'auto' cannot be a coder here (reserved or empty), and 3 codings are theirs: import with "
        "--as-coder-prefix (e.g. policoder:) to record them under other names"]
    renamed = project.refi_import(archive, as_coder_prefix="policoder:")
    assert renamed["imported"] and renamed["coders"] == ["policoder:auto"]


def test_a_position_that_is_no_number_is_named(project, tmp_path):
    archive = make_qdpx(tmp_path / "abc.qdpx", {"e.txt": E01.encode()},
                        [{"name": "e", "plainTextPath": "internal://e.txt", "selections": [(0, 5, "", "c1", "u1")]}],
                        origin="MAXQDA 2022")
    rewrite_qdpx(archive, tmp_path / "bad.qdpx", lambda root: next(root.iter(P + "PlainTextSelection")).set(
        "startPosition", "abc"))  # not valid REFI-QDA: written by hand
    summary = project.refi_import(tmp_path / "bad.qdpx")
    assert not summary["imported"]
    assert any(p["message"].endswith(": startPosition 'abc' is not a number") for p in summary["problems"])
