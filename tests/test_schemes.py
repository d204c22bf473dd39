"""Instrument schemes are data: the shipped ones load, a malformed one is refused with file and line."""
from __future__ import annotations

import pytest

from pipeline.errors import ConfigError
from pipeline.schemes import load_scheme, shipped_schemes

from tests.conftest import REPO


def test_shipped_schemes_load_with_definitions():
    assert set(shipped_schemes()) >= {"default", "rothwell_zegveld"}
    default = load_scheme("default")
    assert default.label_ids == ("incentive", "constraint", "capacity", "hortatory", "system_change", "none")
    assert all(label.definition for label in default.labels)
    # a group without cues of its own is filled by a context rule
    targets = {rule.becomes for rule in default.context_rules}
    assert all(group.cues or group.id in targets for group in default.groups)
    assert {"negated_benefit", "named", "exhortation"} <= targets
    assert {cue.language for cue in default.cues} == {"zh", "en"}
    rz = load_scheme("rothwell_zegveld")
    assert rz.label_ids == ("supply", "environment", "demand", "none")
    subtools = {label: [g.id for g in rz.groups if g.label == label] for label in ("supply", "environment", "demand")}
    assert all(len(groups) >= 4 for groups in subtools.values()), subtools


GOOD = """\
scheme: mine
version: 2
labels:
  - id: carrot
    name: 激励
  - id: stick
    name: 约束
  - id: none
    name: 非工具
groups:
  - id: money
    label: carrot
    priority: 1
    weight: 3
    cues:
      zh: [补贴, 给予…奖励, {奖金: 2}]
  - id: rules
    label: stick
    priority: 2
    cues:
      zh: [不得]
      en: [shall not]
"""


def test_a_scheme_of_ones_own_is_read(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD, encoding="utf-8")
    scheme = load_scheme("mine.yaml", root=tmp_path)
    assert (scheme.id, scheme.version, scheme.threshold) == ("mine", "2", 2.0)
    cues = {cue.text: cue for cue in scheme.cues}
    assert cues["奖金"].weight == 2.0 and cues["补贴"].weight == 3.0 and cues["不得"].weight == 1.0
    assert cues["给予…奖励"].parts == ["给予", "奖励"]
    assert len(scheme.digest) == 64


def test_a_scheme_names_its_presence_flags_or_flags_every_label_but_none(tmp_path):
    assert load_scheme("default").flags == ("incentive", "constraint")  # what GUIDE.md asks a coder
    assert load_scheme("rothwell_zegveld").flags == ("supply", "environment", "demand")  # no flags key
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_scheme(path).flags == ("carrot", "stick")
    path.write_text(GOOD.replace("version: 2\n", "version: 2\nflags: [stick]\n"), encoding="utf-8")
    assert load_scheme(path).flags == ("stick",)


def test_a_scheme_file_is_parsed_again_only_when_it_changes(tmp_path):
    import hashlib

    path = tmp_path / "mine.yaml"
    path.write_text(GOOD, encoding="utf-8")
    first = load_scheme(path)
    assert load_scheme(path) is first  # the same bytes: parsed once
    path.write_text(GOOD.replace("version: 2", "version: 3\nthreshold: 4"), encoding="utf-8")
    edited = load_scheme(path)
    assert (edited.version, edited.threshold, first.version) == ("3", 4.0, "2")
    assert edited.digest == hashlib.sha256(path.read_bytes()).hexdigest() != first.digest
    path.write_text(GOOD.replace("groups:", "groups:\n  - oops"), encoding="utf-8")
    with pytest.raises(ConfigError, match="scheme-invalid"):  # a broken edit is refused, not the old one returned
        load_scheme(path)


@pytest.mark.parametrize(("change", "line", "message"), [
    (("  - id: stick\n", "  - id: carrot\n"), 6, "label id 'carrot' appears twice"),
    (("    label: stick\n", "    label: whip\n"), 18, "label 'whip' is not one of"),
    (("    weight: 3\n", "    weight: lots\n"), 14, "weight must be a number"),
    (("      en: [shall not]\n", "      fr: [ne doit pas]\n"), 22, "unknown cue language 'fr'"),
    (("      zh: [补贴, 给予…奖励, {奖金: 2}]\n", "      zh: [补贴, …奖励]\n"), 16, "must stand between two words"),
    (("version: 2\n", "version: 2\ncolour: red\n"), 3, "unknown key 'colour'"),
    (("    priority: 2\n", "    priority: 2\n    yields_to: [money, bribes]\n"), 20, "unknown group 'bribes'"),
    (("  - id: none\n    name: 非工具\n", "  - id: none\n    name: [非工具\n"), 10, "not valid YAML"),
    (("groups:\n", "context_rules:\n  - id: owed_pay\n    words: [实习学生]\n    applies_to: [money]\n"
                    "    becomes: wages\ngroups:\n"), 14, "context rule 'owed_pay' names unknown group 'wages'"),
    (("groups:\n", "context_rules:\n  - id: owed_pay\n    inside: yes please\n    applies_to: [money]\n"
                    "    becomes: rules\ngroups:\n"), 12, "inside must be true or false"),
    (("version: 2\n", "version: 2\nflags: [carrot, whip]\n"), 3, "flag 'whip' is not one of the scheme's labels"),
    (("version: 2\n", "version: 2\nflags: [none]\n"), 3, "'none' cannot be a flag"),
    (("version: 2\n", "version: 2\nflags:\n  - stick\n  - stick\n"), 5, "flag 'stick' appears twice"),
    (("version: 2\n", "version: 2\nflags: []\n"), 3, "flags must list one label or more of carrot, stick, none"),
    (("version: 2\n", "version: 2\nflags: stick\n"), 3, "flags must be a list of words"),
    (("groups:\n", "context_rules:\n  - id: owed_pay\n    applies_to: [money]\n    becomes: rules\n"
                    "  - id: owed_pay\n    applies_to: [money]\n    becomes: rules\ngroups:\n"), 14,
     "context rule id 'owed_pay' appears twice"),
])
def test_a_malformed_scheme_names_file_and_line(tmp_path, change, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scheme(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: line {line}: ") and message in text and "[scheme-invalid]" in text
    assert "\n" not in text


def test_missing_or_empty_scheme_files(tmp_path):
    with pytest.raises(ConfigError, match="no such scheme; shipped schemes: default, rothwell_zegveld"):
        load_scheme("nowhere.yaml", root=tmp_path)
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="is empty"):
        load_scheme(tmp_path / "empty.yaml")
    (tmp_path / "gbk.yaml").write_bytes("scheme: 政策".encode("gbk"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_scheme(tmp_path / "gbk.yaml")


def test_a_scheme_needs_none_and_anchors_only_in_text_groups(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("  - id: none\n    name: 非工具\n", ""), encoding="utf-8")
    with pytest.raises(ConfigError, match="line 4: the labels must include 'none'"):
        load_scheme(path)
    path.write_text(GOOD.replace("zh: [不得]", "zh: [^不得]"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 21: cue '\^不得': '\^' \(at the start of the unit\) needs"):
        load_scheme(path)


def test_a_sentence_wide_lead_in_rule_is_refused_with_its_line(tmp_path):
    # a lead-in rule reads the end of the lead-in, never a sentence: saying both is a scheme writer's slip
    text = (REPO / "codebooks" / "instruments" / "default.yaml").read_text(encoding="utf-8")
    wrong = text.replace("    window: 16\n    lead_in: true\n    words: [不得用于",
                         "    window: 16\n    lead_in: true\n    sentence: true\n    words: [不得用于", 1)
    assert wrong != text
    path = tmp_path / "mine.yaml"
    path.write_text(wrong, encoding="utf-8")
    # the line this test put in: the first difference from the shipped file
    line = next(n for n, (mine, shipped) in enumerate(zip(wrong.splitlines(), text.splitlines()), 1) if mine != shipped)
    with pytest.raises(ConfigError, match=f"line {line}.*'barred_uses': sentence does not apply to a lead_in rule"):
        load_scheme(str(path))
