"""Triangulation core: Farmer's convergence labels on constructed cases, prominence bands, the researchers'
files (append-only, validated, latest label per researcher) and the researcher comparison against
independent libraries."""
from __future__ import annotations

import csv

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from pipeline import triangulation as tri
from pipeline.errors import ConfigError, InputError
from pipeline.themes import load_themes


def evidence(source: str, *, present=True, share=0.5, prominence="medium", direction=1, theme="t") -> tri.Evidence:
    item = tri.Evidence(theme, source, mapped=True, present=present, n_units=5 if present else 0,
                        n_sources=2 if present else 0, n_total=4, share=share if present else None,
                        direction=direction)
    item.prominence = prominence if present else ""
    return item


@pytest.mark.parametrize("a, b, expected", [
    (dict(), dict(), "agreement"),
    (dict(prominence="high"), dict(prominence="low"), "partial_agreement"),
    (dict(direction=1), dict(direction=-1), "partial_agreement"),
    (dict(prominence="high", direction=1), dict(prominence="low", direction=-1), "dissonance"),
    (dict(direction=0), dict(direction=0), "agreement"),          # mixed views on both sides match
    (dict(direction=None), dict(), "partial_agreement"),         # meaning not comparable: never agreement
    (dict(present=False), dict(), "silence"),
    (dict(), dict(present=False), "silence"),
    (dict(present=False), dict(present=False), "silence"),
])
def test_convergence_suggestions_on_constructed_cases(a, b, expected):
    label, rule = tri.suggest(evidence("policy", **a), evidence("interviews", **b))
    assert label == expected
    assert rule


def test_silence_names_the_silent_data_set_and_is_never_agreement_or_dissonance():
    label, rule = tri.suggest(evidence("survey", present=False, direction=-1), evidence("interviews", direction=1))
    assert (label, rule) == ("silence", "survey is silent on the theme")


def test_presence_needs_min_sources_documents_or_participants():
    few = tri.Evidence("t", "interviews", mapped=True, n_units=3, n_sources=1, n_total=8)
    enough = tri.Evidence("u", "interviews", mapped=True, n_units=3, n_sources=2, n_total=8)
    unmapped = tri.Evidence("v", "interviews", mapped=False)
    tri.mark_presence([few, enough, unmapped], min_sources=2)
    assert (few.present, enough.present, unmapped.present) == (False, True, False)
    assert enough.share == 0.25 and few.share is None


def test_prominence_tertiles_within_a_data_set_and_fixed_cutoffs():
    items = [evidence("policy", share=s, theme=f"t{i}") for i, s in enumerate([0.1, 0.2, 0.4, 0.5, 0.8, 0.9])]
    used = tri.mark_prominence(items, None)
    assert [i.prominence for i in items] == ["low", "low", "medium", "medium", "high", "high"]
    assert used["policy"] == pytest.approx((float(np.quantile([.1, .2, .4, .5, .8, .9], 1 / 3)),
                                            float(np.quantile([.1, .2, .4, .5, .8, .9], 2 / 3))))
    tri.mark_prominence(items, (0.2, 0.5))
    assert [i.prominence for i in items] == ["low", "medium", "medium", "high", "high", "high"]
    same = [evidence("survey", share=0.3, theme=f"s{i}") for i in range(3)]
    tri.mark_prominence(same, None)
    assert {i.prominence for i in same} == {"medium"}


def test_final_label_consensus_agreement_and_dispute():
    row = lambda label: {"label": label, "rationale": ""}  # noqa: E731
    assert tri.final_label({}, "consensus") == ("", "unconfirmed")
    assert tri.final_label({"li": row("agreement")}, "consensus") == ("agreement", "confirmed")
    assert tri.final_label({"li": row("silence"), "wang": row("silence")}, "consensus") == ("silence", "agreed")
    assert tri.final_label({"li": row("silence"), "wang": row("dissonance")}, "consensus") == ("", "disputed")
    assert tri.final_label({"li": row("silence"), "wang": row("dissonance"), "consensus": row("dissonance")},
                           "consensus") == ("dissonance", "consensus")


THEMES = """\
version: 1
questions: {RQ1: 激励是否有效？}
themes:
  - id: incentives
    name: 激励政策的实际作用
    question: RQ1
    interviews: {codes: [incent]}
    policy: {instruments: [incentive], direction: positive}
  - id: teachers
    name: 师资流动
    question: RQ1
    interviews: {codes: [teach]}
    survey: {refs: [q1]}
"""


@pytest.fixture
def themes(tmp_path):
    path = tmp_path / "themes.yaml"
    path.write_text(THEMES, encoding="utf-8")
    return load_themes(path, codes={"incent", "teach"}, survey_refs={"q1"}, indicator_refs=set(),
                       instruments={"incentive", "constraint"})


def test_themes_file_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(THEMES.replace("codes: [teach]", "codes: [teaching]"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.yaml: line 12: unknown code 'teaching'"):
        load_themes(path, codes={"incent", "teach"}, survey_refs={"q1"}, instruments={"incentive"})
    path.write_text(THEMES.replace("instruments: [incentive]", "instruments: [carrot]"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 8: unknown instrument 'carrot'"):
        load_themes(path, codes={"incent", "teach"}, survey_refs={"q1"}, instruments={"incentive"})
    path.write_text(THEMES.replace("    question: RQ1\n    interviews: {codes: [teach]}\n    survey: {refs: [q1]}\n",
                                   "    question: RQ1\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"theme 'teachers' names no evidence"):
        load_themes(path)


def test_judgements_are_appended_and_the_latest_per_researcher_counts(tmp_path, themes):
    folder = tmp_path / "triangulation"
    tri.append_judgements(folder, tri.CONVERGENCE_FILE, [
        {"theme": "incentives", "source_a": "policy", "source_b": "interviews", "researcher": "li",
         "label": "agreement", "rationale": "初判"}])
    tri.append_judgements(folder, tri.CONVERGENCE_FILE, [
        {"theme": "incentives", "source_a": "interviews", "source_b": "policy", "researcher": "li",
         "label": "dissonance", "rationale": "企业说激励有限"}])
    with (folder / tri.CONVERGENCE_FILE).open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 2  # the record of the change stays
    cells, _ = tri.read_judgements(folder, themes)
    # the pair is stored in the canonical order whichever way the researcher wrote it
    assert cells[("incentives", "policy", "interviews")]["li"]["label"] == "dissonance"


def test_a_bad_judgement_row_is_named_by_file_and_row(tmp_path, themes):
    folder = tmp_path / "triangulation"
    tri.append_judgements(folder, tri.CONVERGENCE_FILE, [
        {"theme": "incentives", "source_a": "policy", "source_b": "interviews", "researcher": "li", "label": "agreement"},
        {"theme": "incentives", "source_a": "policy", "source_b": "interviews", "researcher": "li", "label": "maybe"}])
    with pytest.raises(InputError, match=r"convergence.csv: row 3: label 'maybe' is not one of"):
        tri.read_judgements(folder, themes)


def test_researcher_comparison_matches_sklearn_and_krippendorff():
    labels_li = ["agreement", "silence", "dissonance", "partial_agreement", "silence", "agreement"]
    labels_wang = ["agreement", "silence", "partial_agreement", "partial_agreement", "silence", "dissonance"]
    judged = {(f"t{i}", "policy", "interviews"): {"li": {"label": a, "rationale": ""},
                                                  "wang": {"label": b, "rationale": ""}}
              for i, (a, b) in enumerate(zip(labels_li, labels_wang))}
    judged[("t2", "policy", "interviews")]["consensus"] = {"label": "dissonance", "rationale": "讨论后"}
    result = tri.researcher_comparison(judged, "consensus")
    assert result["double_labelled"] == 6
    assert result["percent_agreement"] == pytest.approx(4 / 6)
    assert result["cohen_kappa"] == pytest.approx(cohen_kappa_score(labels_li, labels_wang))
    codes = {label: i for i, label in enumerate(tri.LABELS)}
    expected = krippendorff.alpha(reliability_data=[[codes[x] for x in labels_li], [codes[x] for x in labels_wang]],
                                  level_of_measurement="nominal")
    assert result["krippendorff_alpha"] == pytest.approx(expected)
    assert [(d["theme"], d["resolved_as"]) for d in result["disagreements"]] == [("t2", "dissonance"), ("t5", "")]


def test_quotes_are_exact_substrings_at_their_offsets():
    text = "前言。" + "企业参与职业教育可以享受税费抵免，" * 20 + "结束。"
    unit = {"unit_id": "1-2", "document": "a.txt", "doc_id": 1, "start": 3, "end": len(text) - 3,
            "level": "county", "primary_instrument": "incentive"}
    quote = tri._quote(unit, text, ("抵免",))
    assert text[quote["start"]:quote["end"]] == quote["quote"]
    assert len(quote["quote"]) == tri.QUOTE_LENGTH and "抵免" in quote["quote"]
    assert unit["start"] <= quote["start"] and quote["end"] <= unit["end"]


def test_policy_evidence_needs_every_filter_the_theme_gives():
    from pipeline.themes import PolicyQuery, Theme

    text = "第一条 给予补贴。第二条 申报程序。第三条 给予补贴并简化申报。"
    units = [{"unit_id": f"1-{n}", "doc_id": 1, "document": "a.txt", "level": "county", "year": "2023",
              "start": start, "end": start + 9, "text": text[start:start + 9], "instruments": instruments,
              "primary_instrument": instruments[0], "topics": topics}
             for n, start, instruments, topics in ((1, 0, ["incentive"], {0}), (2, 9, ["none"], {1}),
                                                   (3, 18, ["incentive"], {1}))]
    for query, expected in ((PolicyQuery(instruments=("incentive",)), 2),
                            (PolicyQuery(instruments=("incentive",), topics=(1,)), 1),
                            (PolicyQuery(keywords=("申报",), topics=(0,)), 0),
                            (PolicyQuery(topics=(1,)), 2)):
        found = tri.policy_evidence(Theme("t", "t", policy=query), units, {1: text}, 1, exemplars=2)
        assert found.n_units == expected, query
