"""Codebooks: validation with file and line, versions and recorded restructuring, documents, diff."""
import textwrap

import openpyxl
import pytest

from pipeline.codebook import load_codebook, shipped_codebooks
from pipeline.codebook_docs import diff, outline_numbers, to_markdown, to_xlsx
from pipeline.errors import ConfigError

BASE = """\
id: study
name: 测试编码本
version: 1
codes:
  - id: incentives
    name: 激励
    definition: 受访者谈到的激励。
    codable: false
    children:
      - id: subsidy
        name: 补贴
        definition: 谈到补贴或奖励资金。
        stance: positive
        color: "#1F77B4"
        auto:
          keywords: [补贴, subsidy]
      - id: tax
        name: 税收优惠
        definition: 谈到税收抵免。
  - id: burden
    name: 负担
    definition: 申报材料多、手续繁。
    stance: negative
"""


def write(tmp_path, text, name="codebook.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_shipped_codebooks_load_and_every_code_is_defined():
    assert set(shipped_codebooks()) >= {"iei_interviews", "performance_four_dimensions"}
    for name in ("iei_interviews", "performance_four_dimensions"):
        book = load_codebook(name)
        assert len(book.codes) >= 12 and all(code.definition for code in book.codes)
        assert all(book.by_id[code.parent] for code in book.codes if code.parent)
        assert sum(1 for code in book.codes if code.auto) >= len(book.codable) * 0.8
    interviews = load_codebook("iei_interviews")
    assert {"positive", "negative"} <= {code.stance for code in interviews.codes}


def test_tree_paths_depths_and_codable(tmp_path):
    book = load_codebook(write(tmp_path, BASE))
    assert [code.id for code in book.codes] == ["incentives", "subsidy", "tax", "burden"]
    assert book.path("subsidy") == "激励 / 补贴" and book.depth("subsidy") == 1
    assert book.codable == ["subsidy", "tax", "burden"]
    assert book.by_id["subsidy"].color == "#1f77b4"
    assert outline_numbers(book) == {"incentives": "1", "subsidy": "1.1", "tax": "1.2", "burden": "2"}


@pytest.mark.parametrize("change, line, message", [
    (("      - id: tax", "      - id: subsidy"), 17, "'subsidy' appears twice (first on line 10)"),
    (("  - id: burden\n", "  - id: burden\n    parent: nowhere\n"), 20, "unknown parent 'nowhere'"),
    (("        definition: 谈到税收抵免。\n", ""), 17, "'tax' has no definition"),
    (("        stance: positive", "        stance: happy"), 13, "stance must be one of"),
    (("        color: \"#1F77B4\"", "        color: blue"), 14, "color must look like"),
    (("          keywords: [补贴, subsidy]", "          regex: ['补贴(']"), 16, "not a valid regular expression"),
    (("          keywords: [补贴, subsidy]", "          patterns: [[{LOWERR: x}]]"), 16, "not a valid spaCy token pattern"),
    (("          keywords: [补贴, subsidy]", "          inside: ghost"), 16, "auto.inside names unknown code 'ghost'"),
    (("    stance: negative", "    stance: negative\n    weight: 2"), 24, "unknown key 'weight'"),
])
def test_mistakes_name_the_file_and_line(tmp_path, change, line, message):
    path = write(tmp_path, BASE.replace(*change))
    with pytest.raises(ConfigError) as caught:
        load_codebook(path)
    assert str(path) in str(caught.value) and f"line {line}" in str(caught.value)
    assert message in str(caught.value) and caught.value.code == "codebook-invalid"


def test_definitions_are_optional_when_the_project_says_so(tmp_path):
    path = write(tmp_path, BASE.replace("        definition: 谈到税收抵免。\n", ""))
    assert load_codebook(path, require_definitions=False).by_id["tax"].definition == ""


def test_cycles_among_flat_parents_are_refused(tmp_path):
    path = write(tmp_path, """\
        id: c
        name: c
        version: 1
        codes:
          - {id: a, name: A, definition: d, parent: b}
          - {id: b, name: B, definition: d, parent: a}
        """)
    with pytest.raises(ConfigError, match="cycle: a → b → a"):
        load_codebook(path)


def test_broken_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="line 2.*not valid YAML"):
        load_codebook(write(tmp_path, "id: x\n  name: [unclosed\n"))
    with pytest.raises(ConfigError, match="no such codebook"):
        load_codebook(tmp_path / "absent.yaml")


VERSION_3 = BASE.replace("version: 1", "version: 3").replace("id: subsidy", "id: money").replace(
    "id: burden", "id: red_tape") + """\
changes:
  - version: 2
    rename: {from: subsidy, to: funding}
  - version: 3
    rename: {from: funding, to: money}
  - version: 3
    split: {from: tax, into: [red_tape, money]}
  - version: 3
    merge: {from: [burden], into: red_tape}
"""


def test_recorded_changes_are_replayed_on_old_codes(tmp_path):
    book = load_codebook(write(tmp_path, VERSION_3.replace("      - id: tax\n        name: 税收优惠\n"
                                                           "        definition: 谈到税收抵免。\n", "")))
    renamed = book.resolve("subsidy", 1)
    assert renamed.code == "money" and renamed.known and not renamed.needs_review and len(renamed.notes) == 2
    assert book.resolve("funding", 2).code == "money"
    assert book.resolve("money", 3).code == "money" and not book.resolve("money", 3).notes
    split = book.resolve("tax", 1)
    assert split.code == "red_tape" and split.needs_review and "split" in split.notes[0]
    assert book.resolve("burden", 2).code == "red_tape"
    unknown = book.resolve("vanished", 1)
    assert not unknown.known and unknown.needs_review


def test_changes_must_agree_with_the_tree(tmp_path):
    still_there = VERSION_3  # 'tax' was split but is still in the tree
    with pytest.raises(ConfigError, match="split: code 'tax' is still in the codebook"):
        load_codebook(write(tmp_path, still_there))
    future = BASE + "changes:\n  - version: 4\n    rename: {from: x, to: burden}\n"
    with pytest.raises(ConfigError, match="made in version 4, but the codebook is at version 1"):
        load_codebook(write(tmp_path, future))
    missing_target = BASE.replace("version: 1", "version: 2") + "changes:\n  - version: 2\n    rename: {from: x, to: y}\n"
    with pytest.raises(ConfigError, match="code 'y' is not in the codebook"):
        load_codebook(write(tmp_path, missing_target))
    wrong_move = BASE.replace("version: 1", "version: 2") + "changes:\n  - version: 2\n    move: {code: tax, to: burden}\n"
    with pytest.raises(ConfigError, match="should now stand under burden"):
        load_codebook(write(tmp_path, wrong_move))


def test_diff_shows_recorded_changes_additions_and_edits(tmp_path):
    old = load_codebook(write(tmp_path, BASE, "old.yaml"))
    new_text = BASE.replace("version: 1", "version: 2").replace("id: subsidy", "id: funding").replace(
        "申报材料多、手续繁。", "申报材料多。") + """\
  - id: safety
    name: 安全责任
    definition: 实习安全责任。
changes:
  - version: 2
    rename: {from: subsidy, to: funding}
"""
    rows = diff(old, load_codebook(write(tmp_path, new_text, "new.yaml")))
    kinds = {(row["change"], row["code"]) for row in rows}
    assert ("rename", "subsidy") in kinds and ("added", "safety") in kinds
    assert ("definition edited", "burden") in kinds
    assert not any(row["change"].startswith("removed") for row in rows)


def test_markdown_and_xlsx_documents_hold_every_code(tmp_path):
    book = load_codebook("iei_interviews")
    markdown = to_markdown(book)
    workbook = openpyxl.load_workbook(to_xlsx(book, tmp_path / "codebook.xlsx"))
    ids = [row[1] for row in workbook["codebook"].iter_rows(min_row=2, values_only=True)]
    assert ids == [code.id for code in book.codes]
    for code in book.codes:
        assert f"`{code.id}`" in markdown and code.definition in markdown
