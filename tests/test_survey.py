"""Surveys: reading and checking schema and data, descriptive tables, group comparisons and Cronbach's
alpha, checked against a published example, hand computations and independent implementations."""
import math
import statistics
import textwrap

import numpy as np
import openpyxl
import pandas as pd
import pytest
from scipy import stats
from scipy.stats import chi2_contingency
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from pipeline import survey
from pipeline.errors import InputError, PolicoderError
from pipeline.survey import cronbach_alpha, load_survey

from tests.conftest import DEMO

SCHEMA = """\
survey: tiny
title: 小问卷
data: tiny.csv
respondent: id
attributes:
  kind: {label: 类型, values: {1: 国有, 2: 民营}}
  region: {label: 地区}
items:
  coop: {text: 有合作, type: categorical, values: {1: 是, 0: 否}, support: [1], theme: participation_depth}
  forms: {text: 合作形式, type: multi_select, options: {order: 订单班, apprentice: 现代学徒制, base: 实训基地}}
  a: {text: 了解政策, type: likert, points: 5, labels: {1: 非常不同意, 5: 非常同意}, theme: incentives}
  b: {text: 享受激励, type: likert, points: 5, theme: incentives}
  c: {text: 没有吸引力, type: likert, points: 5, direction: negative}
  interns: {text: 实习生人数, type: numeric, unit: 人}
  level: {text: 合作层次, type: ordinal, values: {1: 浅, 2: 中, 3: 深}}
scales:
  incent: {label: 激励, items: [a, b, c], reverse: [c], theme: incentives}
compare_by: [kind]
"""
# R7 answers coop with a label (否); R8 leaves coop, forms, b and interns blank
DATA = """\
id,kind,region,coop,forms,a,b,c,interns,level
R1,1,浙江省,1,order;base,4,5,2,10,3
R2,1,江苏省,1,order,5,4,1,12,2
R3,1,浙江省,0,,3,3,3,0,1
R4,1,浙江省,1,apprentice;base;order,4,4,2,8,3
R5,2,江苏省,1,base,2,2,4,3,2
R6,2,浙江省,0,,1,2,5,0,1
R7,2,江苏省,否,,2,1,,0,
R8,2,,,,3,,4,,1
"""


def write(tmp_path, schema=SCHEMA, data=DATA, name="tiny"):
    (tmp_path / f"{name}.csv").write_text(textwrap.dedent(data), encoding="utf-8")
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(schema), encoding="utf-8")
    return path


@pytest.fixture
def tiny(tmp_path):
    return load_survey(write(tmp_path))


# --- loading ----------------------------------------------------------------------------------------

def test_responses_are_parsed_to_codes_numbers_sets_and_none(tiny):
    first, seventh, last = tiny.responses[0], tiny.responses[6], tiny.responses[7]
    assert first == {"id": "R1", "kind": 1, "region": "浙江省", "coop": 1, "forms": frozenset({"order", "base"}),
                     "a": 4, "b": 5, "c": 2, "interns": 10, "level": 3, "incent": pytest.approx((4 + 5 + 4) / 3)}
    assert seventh["coop"] == 0 and seventh["c"] is None and seventh["incent"] is None  # a scale needs every item
    assert last["coop"] is None and last["forms"] is None and last["region"] is None
    assert tiny.respondent == "id" and tiny.compare_by == ("kind",) and len(tiny.digest) == 64
    assert tiny.items["c"].direction == -1 and tiny.scales["incent"].points == 5
    assert survey.survey_themes(tiny) == {"participation_depth": ["coop"], "incentives": ["a", "b", "incent"]}


def test_min_items_scores_a_scale_from_the_answered_items(tmp_path):
    path = write(tmp_path, SCHEMA.replace("reverse: [c],", "reverse: [c], min_items: 2,"))
    assert load_survey(path).responses[6]["incent"] == pytest.approx((2 + 1) / 2)


def test_an_xlsx_data_file_reads_like_the_csv(tmp_path, tiny):
    book = openpyxl.Workbook()
    for line in DATA.splitlines():
        book.active.append([int(cell) if cell.isdigit() else cell or None for cell in line.split(",")])
    book.save(tmp_path / "tiny.xlsx")
    path = write(tmp_path, SCHEMA.replace("tiny.csv", "tiny.xlsx"), name="book")
    assert load_survey(path).responses == tiny.responses


def test_multi_select_in_one_column_per_option(tmp_path, tiny):
    columns = DATA.replace(",forms,", ",forms_order,forms_apprentice,forms_base,")
    for joined, split in (("order;base", "1,0,1"), ("order", "1,0,0"), ("apprentice;base;order", "1,1,1"),
                          ("base", "0,0,1")):
        columns = columns.replace(f",{joined},", f",{split},", 1)
    columns = columns.replace(",0,,", ",0,,,,").replace("否,,", "否,,,,").replace(",,,,3,,4", ",,,,,,3,,4")
    path = write(tmp_path, SCHEMA.replace("options: {order", "layout: columns, options: {order"), columns)
    assert [r["forms"] for r in load_survey(path).responses] == [r["forms"] for r in tiny.responses]


# --- mistakes: one line naming the file, the column and the row --------------------------------------

@pytest.mark.parametrize("change, column, row, message", [
    (("R3,1,浙江省,0,", "R3,1,浙江省,2,"), "coop", 4, "unknown code '2' (expected 1, 0)"),
    (("0,1\nR7", "ten,1\nR7"), "interns", 7, "'ten' is not a number"),
    (("R5,2,江苏省,1,base,2,", "R5,2,江苏省,1,base,6,"), "a", 6, "'6' is outside the Likert range 1..5"),
    (("R2,1,江苏省,1,order,", "R2,1,江苏省,1,order;college,"), "forms", 3, "unknown code 'college'"),
    (("R8,", "R1,"), "id", 9, "respondent 'R1' appears again (first in row 2)"),
    (("R4,1,浙江省", "R4,3,浙江省"), "kind", 5, "unknown code '3' (expected 1, 2)"),
    (("R6,2,浙江省,0,,1,2,5,0,1", "R6,2,浙江省,0,,1,2,5,0,4"), "level", 7, "unknown code '4' (expected 1, 2, 3)"),
])
def test_bad_cells_name_the_file_column_and_row(tmp_path, change, column, row, message):
    path = write(tmp_path, data=DATA.replace(*change))
    with pytest.raises(InputError) as caught:
        load_survey(path)
    text = str(caught.value)
    assert "\n" not in text and text.startswith(str(tmp_path / "tiny.csv"))
    assert f"column '{column}', row {row}: {message}" in text and caught.value.code == "survey-invalid"


def test_every_problem_of_the_data_is_listed_at_once(tmp_path):
    data = DATA.replace(",b,", ",bb,").replace("R2,1,江苏省,1,order,5", "R2,1,江苏省,1,order,9")
    with pytest.raises(InputError) as caught:
        load_survey(write(tmp_path, data=data))
    text = str(caught.value)
    assert "2 problems" in text and "column 'b' (item b) is not in the data file" in text
    assert "column 'a', row 3: '9' is outside the Likert range 1..5" in text


@pytest.mark.parametrize("change, line, message", [
    (("items: [a, b, c]", "items: [a, b, zz]"), 17, "scale 'incent': unknown item 'zz'"),
    (("type: numeric", "type: number"), 14, "type must be one of"),
    (("points: 5, theme: incentives}", "points: 1, theme: incentives}"), 12, "needs points"),
    (("reverse: [c]", "reverse: [interns]"), 17, "reverse names items not in the scale"),
    (("support: [1]", "support: [2]"), 9, "support must list codes of the item"),
    (("compare_by: [kind]", "compare_by: [size]"), 18, "compare_by: unknown attribute 'size'"),
    (("direction: negative", "direction: against"), 13, "direction must be positive or negative"),
    (("data: tiny.csv", "data: nowhere.csv"), 3, "data file"),
    (("level: {text:", "level: {column: a, text:"), 15, "column 'a' of item 'level' is already read by item 'a'"),
])
def test_schema_mistakes_name_the_file_and_line(tmp_path, change, line, message):
    path = write(tmp_path, SCHEMA.replace(*change))
    with pytest.raises(InputError) as caught:
        load_survey(path)
    text = str(caught.value)
    assert "\n" not in text and text.startswith(str(path)) and f"line {line}: " in text and message in text
    assert caught.value.code == "survey-schema"


def test_all_schema_mistakes_are_listed(tmp_path):
    schema = SCHEMA.replace("items: [a, b, c]", "items: [a, b, zz]").replace("type: numeric", "type: number")
    with pytest.raises(InputError, match=r"2 problems: line 14: .*; line 17: scale 'incent': unknown item 'zz'"):
        load_survey(write(tmp_path, schema))


def test_malformed_yaml_names_the_line(tmp_path):
    path = write(tmp_path, SCHEMA.replace("  region: {label: 地区}", "  region: {label: 地区"))
    with pytest.raises(InputError, match=r"line \d+: not valid YAML") as caught:
        load_survey(path)
    assert str(path) in str(caught.value) and caught.value.code == "survey-schema"


def test_a_csv_saved_as_gbk_is_refused_with_advice(tmp_path):
    path = write(tmp_path)
    (tmp_path / "tiny.csv").write_bytes(DATA.encode("gbk"))
    with pytest.raises(InputError, match="is not UTF-8 text; save the CSV as UTF-8"):
        load_survey(path)


# --- describe ---------------------------------------------------------------------------------------

def test_describe_counts_a_categorical_item(tiny):
    rows = survey.describe(tiny, "coop")
    assert [(r["value"], r["value_label"], r["count"], r["pct"], r["n"], r["missing"]) for r in rows] == [
        (1, "是", 4, round(100 * 4 / 7, 2), 7, 1), (0, "否", 3, round(100 * 3 / 7, 2), 7, 1)]
    assert set(rows[0]) == set(survey.DESCRIBE_COLUMNS)


def test_describe_multi_select_shares_of_those_answering(tiny):
    rows = survey.describe(tiny, "forms")
    assert [(r["value_label"], r["count"], r["pct"]) for r in rows] == [
        ("订单班", 3, 75.0), ("现代学徒制", 1, 25.0), ("实训基地", 3, 75.0)]
    assert rows[0]["n"] == 4 and rows[0]["missing"] == 4 and "more than 100" in rows[0]["note"]
    option = survey.describe(tiny, "forms:base")
    assert [(r["value_label"], r["count"]) for r in option] == [("已选", 3), ("未选", 1)]


def test_describe_likert_numbers_against_the_statistics_module(tiny):
    rows = survey.describe(tiny, "a")
    frequencies, summary = rows[:-1], rows[-1]
    answers = [4, 5, 3, 4, 2, 1, 2, 3]
    assert [(r["value"], r["value_label"], r["count"]) for r in frequencies] == [
        (1, "非常不同意", 1), (2, "2", 2), (3, "3", 2), (4, "4", 2), (5, "非常同意", 1)]
    assert summary["mean"] == pytest.approx(statistics.mean(answers))
    assert summary["sd"] == pytest.approx(statistics.stdev(answers), abs=1e-4)
    assert summary["median"] == statistics.median(answers)
    low, high = stats.t.interval(0.95, len(answers) - 1, loc=statistics.mean(answers), scale=stats.sem(answers))
    assert (summary["ci_low"], summary["ci_high"]) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))
    assert summary["agree_pct"] == 37.5 and summary["disagree_pct"] == 37.5  # ≥ 4 and ≤ 2 of 8


def test_describe_numeric_ordinal_and_scale(tiny):
    interns = survey.describe(tiny, "interns")
    assert len(interns) == 1 and interns[0]["n"] == 7 and interns[0]["missing"] == 1
    assert interns[0]["mean"] == pytest.approx(statistics.mean([10, 12, 0, 8, 3, 0, 0]), abs=1e-4)
    assert interns[0]["agree_pct"] is None
    level = survey.describe(tiny, "level")
    assert [r["count"] for r in level[:-1]] == [3, 2, 2] and level[-1]["median"] == 2
    scale = survey.describe(tiny, "incent")[0]
    scores = [(4 + 5 + 4) / 3, (5 + 4 + 5) / 3, 3, (4 + 4 + 4) / 3, (2 + 2 + 2) / 3, (1 + 2 + 1) / 3]
    assert scale["n"] == 6 and scale["mean"] == pytest.approx(statistics.mean(scores), abs=1e-4)
    assert scale["agree_pct"] == 50.0 and scale["disagree_pct"] == pytest.approx(100 * 2 / 6, abs=0.01)


def test_describe_by_an_attribute_gives_a_block_per_group_then_all(tiny):
    rows = survey.describe(tiny, "coop", by="kind")
    assert [(r["by"], r["group"], r["value"], r["count"]) for r in rows] == [
        ("kind", "国有", 1, 3), ("kind", "国有", 0, 1), ("kind", "民营", 1, 1), ("kind", "民营", 0, 2),
        ("kind", "all", 1, 4), ("kind", "all", 0, 3)]
    by_region = survey.describe(tiny, "a", by="region")
    assert [r["group"] for r in by_region if r["value"] == ""] == ["江苏省", "浙江省", "all"]  # R8 has no region
    everything = survey.describe_all(tiny)
    assert {r["ref"] for r in everything} == {*tiny.items, *tiny.scales}
    with pytest.raises(PolicoderError, match="no attribute 'size'"):
        survey.describe(tiny, "a", by="size")
    with pytest.raises(PolicoderError, match="no item, option or scale 'q9'"):
        survey.describe(tiny, "q9")


# --- compare ----------------------------------------------------------------------------------------

def two_groups(tmp_path, table, kind="categorical"):
    """A survey whose item ``x`` against attribute ``g`` gives the contingency ``table`` (or the values)."""
    schema = textwrap.dedent(f"""\
        survey: cross
        data: cross.csv
        respondent: id
        attributes: {{g: {{label: 组}}}}
        items:
          x: {{text: 回答, type: {kind}{', values: [1, 0]' if kind == 'categorical' else ''}}}
        """)
    answers = [(group, value) for group, cells in table.items() for value in cells]
    lines = ["id,g,x"] + [f"R{number},{group},{value}" for number, (group, value) in enumerate(answers)]
    (tmp_path / "cross.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "cross.yaml").write_text(schema, encoding="utf-8")
    return load_survey(tmp_path / "cross.yaml")


def test_chi_square_on_a_2x2_table_by_hand(tmp_path):
    # table [[6, 2], [1, 7]]: N = 16, ad − bc = 40, margins 8, 8, 7, 9
    loaded = two_groups(tmp_path, {"A": [1] * 6 + [0] * 2, "B": [1] * 1 + [0] * 7})
    result = survey.compare(loaded, "x", "g")
    yates = 16 * (40 - 16 / 2) ** 2 / (8 * 8 * 7 * 9)
    plain = 16 * 40 ** 2 / (8 * 8 * 7 * 9)
    assert result["statistic"] == pytest.approx(yates, abs=1e-4) and result["df"] == 1
    assert result["p"] == pytest.approx(stats.chi2.sf(yates, 1))
    assert result["effect"] == pytest.approx(math.sqrt(plain / 16), abs=1e-4) and result["effect_name"] == "Cramér's V"
    assert "Yates" in result["test"] and result["warning"].startswith("4 of 4 cells")
    assert result["n"] == 16 and (result["groups"], result["group_n"]) == (["A", "B"], [8, 8])


def test_chi_square_on_a_larger_table_against_scipy(tmp_path):
    table = {"A": [1] * 20 + [0] * 10, "B": [1] * 12 + [0] * 18, "C": [1] * 9 + [0] * 21}
    result = survey.compare(two_groups(tmp_path, table), "x", "g")
    expected = chi2_contingency([[20, 10], [12, 18], [9, 21]])
    assert result["statistic"] == pytest.approx(expected.statistic, abs=1e-4) and result["df"] == 2
    assert result["p"] == pytest.approx(expected.pvalue) and result["warning"] == ""
    assert result["effect"] == pytest.approx(math.sqrt(expected.statistic / 90), abs=1e-4)


def test_kruskal_wallis_eta_squared_by_hand(tmp_path):
    groups = {"A": [1, 2, 2, 3, 3, 4], "B": [2, 3, 4, 4, 5, 5], "C": [4, 4, 5, 5, 5, 5]}
    loaded = two_groups(tmp_path, groups, kind="likert, points: 5")
    result = survey.compare(loaded, "x", "g")
    values = np.concatenate(list(groups.values()))
    ranks, n, k = stats.rankdata(values), len(values), len(groups)
    sums = [ranks[i * 6:(i + 1) * 6].sum() for i in range(3)]
    h = 12 / (n * (n + 1)) * sum(s ** 2 / 6 for s in sums) - 3 * (n + 1)
    ties = np.unique(values, return_counts=True)[1]
    h /= 1 - (ties ** 3 - ties).sum() / (n ** 3 - n)
    assert result["test"] == "Kruskal-Wallis H" and result["df"] == 2
    assert result["statistic"] == pytest.approx(h, abs=1e-4)
    assert result["effect"] == pytest.approx((h - k + 1) / (n - k), abs=1e-4) and result["effect_name"] == "eta² (H)"


def test_anova_eta_squared_against_statsmodels(tmp_path):
    groups = {"A": [3, 5, 4, 6, 2], "B": [8, 9, 7, 10, 6, 8], "C": [4, 6, 5, 7]}
    result = survey.compare(two_groups(tmp_path, groups, kind="numeric"), "x", "g")
    frame = pd.DataFrame([(g, v) for g, values in groups.items() for v in values], columns=["g", "x"])
    table = anova_lm(ols("x ~ C(g)", data=frame).fit())
    eta = table.loc["C(g)", "sum_sq"] / table["sum_sq"].sum()
    assert result["effect"] == pytest.approx(eta, abs=1e-4) and result["effect_name"] == "eta²"
    assert result["statistic"] == pytest.approx(table.loc["C(g)", "F"], abs=1e-4)
    assert (result["df"], result["df2"]) == (2, 12) and result["p"] == pytest.approx(table.loc["C(g)", "PR(>F)"])
    assert result["warning"] == "fewer than 5 answers in C"


def test_compare_every_kind_of_ref(tiny):
    assert survey.compare(tiny, "forms", "kind")["test"].endswith("number of options chosen")
    assert survey.compare(tiny, "forms:base", "kind")["test"].startswith("chi-square")
    assert survey.compare(tiny, "incent", "kind")["test"] == "Kruskal-Wallis H"
    keys = {"ref", "by", "test", "statistic", "df", "df2", "p", "effect", "effect_name", "n", "groups", "group_n",
            "warning"}
    assert all(set(survey.compare(tiny, ref, "kind")) == keys for ref in (*tiny.items, *tiny.scales))
    lonely = survey.compare(tiny, "coop", "region")
    assert lonely["n"] == 7 and lonely["statistic"] is not None


# --- Cronbach's alpha -------------------------------------------------------------------------------

# "Survey reliability", thinkdeeply.cc (CC BY 4.0), https://thinkdeeply.cc/posts/survey-reliability:
# 10 respondents × 4 Likert items; alpha 0.674 there, confirmed with R's psych::alpha.
PUBLISHED = [(3, 3, 3, 3), (3, 3, 4, 3), (3, 3, 3, 1), (5, 4, 4, 5), (2, 1, 4, 4), (4, 4, 4, 5), (3, 2, 3, 3),
             (3, 4, 3, 3), (4, 2, 2, 3), (3, 3, 2, 3)]
WITH_GAPS = [(1, 2, 2, 1), (2, 2, None, 2), (3, 4, 3, 3), (4, 4, 5, None), (5, 4, 4, 5), (2, 1, 2, 2),
             (None, 3, 3, 4), (4, 5, 4, 4), (3, 3, 2, 3), (1, 2, 1, None), (5, 5, 4, 5), (2, None, None, 1)]


def test_alpha_of_the_published_example():
    result = cronbach_alpha(PUBLISHED)
    assert round(result, 3) == 0.674 and isinstance(result, float) and result > 0.67
    assert type(result.alpha) is float and (result.n, result.k, result.missing) == (10, 4, "listwise")
    assert pd.DataFrame(PUBLISHED).cov().iloc[0, 1] == pytest.approx(0.478, abs=5e-4)  # published covariance X1, X2


def variance_formula(rows):
    """alpha = k/(k−1)·(1 − Σ item variances / variance of the total), on complete rows: another route."""
    data = np.array([row for row in rows if None not in row], dtype=float)
    k = data.shape[1]
    return k / (k - 1) * (1 - data.var(axis=0, ddof=1).sum() / data.sum(axis=1).var(ddof=1))


def pairwise_by_hand(rows):
    data = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
    k = data.shape[1]
    cov = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            both = ~np.isnan(data[:, i]) & ~np.isnan(data[:, j])
            cov[i, j] = np.cov(data[both, i], data[both, j])[0, 1]
    return k / (k - 1) * (1 - np.trace(cov) / cov.sum())


def test_listwise_and_pairwise_against_independent_computations():
    listwise, pairwise = cronbach_alpha(WITH_GAPS, "listwise"), cronbach_alpha(WITH_GAPS, "pairwise")
    assert listwise.n == 7 and pairwise.n == 12 and listwise != pairwise
    assert listwise == pytest.approx(variance_formula(WITH_GAPS))
    assert pairwise == pytest.approx(pairwise_by_hand(WITH_GAPS))
    assert cronbach_alpha(PUBLISHED) == pytest.approx(variance_formula(PUBLISHED))


def test_alpha_agrees_with_the_cronbach_package():
    cronbach = pytest.importorskip("cronbach")
    frame = pd.DataFrame(WITH_GAPS, dtype=float)
    for policy in ("listwise", "pairwise"):
        assert cronbach_alpha(WITH_GAPS, policy) == pytest.approx(cronbach.alpha(frame, nan_policy=policy)[0])
    value, interval = cronbach.alpha(pd.DataFrame(PUBLISHED))
    assert cronbach_alpha(PUBLISHED).ci == pytest.approx(tuple(interval), abs=5e-4)


@pytest.mark.parametrize("policy", ["listwise", "pairwise"])
def test_alpha_if_deleted_is_alpha_of_the_other_items(policy):
    result = cronbach_alpha(WITH_GAPS, policy)
    for dropped, value in enumerate(result.alpha_if_deleted):
        rest = [[v for i, v in enumerate(row) if i != dropped] for row in WITH_GAPS]
        assert value == pytest.approx(cronbach_alpha(rest, policy))
    assert cronbach_alpha([row[:2] for row in PUBLISHED]).alpha_if_deleted == [None, None]


def test_feldt_interval_and_item_total_correlations():
    result = cronbach_alpha(PUBLISHED)
    n, k = 10, 4
    low = 1 - (1 - result.alpha) * stats.f.isf(0.025, n - 1, (n - 1) * (k - 1))
    high = 1 - (1 - result.alpha) * stats.f.isf(0.975, n - 1, (n - 1) * (k - 1))
    assert result.ci == pytest.approx((low, high)) and low < result < high
    data = np.array(PUBLISHED, dtype=float)
    for i, r in enumerate(result.item_total):
        assert r == pytest.approx(np.corrcoef(data[:, i], np.delete(data, i, axis=1).sum(axis=1))[0, 1])


def test_alpha_refuses_too_few_items_or_respondents():
    with pytest.raises(ValueError, match="2 items or more"):
        cronbach_alpha([(1,), (2,), (3,)])
    with pytest.raises(ValueError, match="2 respondents or more"):
        cronbach_alpha([(1, 2), (None, 3)])
    with pytest.raises(ValueError, match="listwise or pairwise"):
        cronbach_alpha(PUBLISHED, "mean")


def test_scale_reliability_reverses_items_first(tiny):
    result = survey.scale_reliability(tiny, "incent")
    rows = [(4, 5, 4), (5, 4, 5), (3, 3, 3), (4, 4, 4), (2, 2, 2), (1, 2, 1)]  # c reversed: 6 − c
    assert result["alpha"] == pytest.approx(cronbach_alpha(rows), abs=1e-4) and result["n"] == 6
    assert set(result["alpha_if_deleted"]) == {"a", "b", "c"} and result["reversed"] == ["c"]
    table = survey.reliability_table(tiny)
    assert [row["item"] for row in table] == ["", "a", "b", "c"] and table[0]["alpha"] == result["alpha"]
    assert table[3]["reversed"] is True and table[3]["item_total"] == result["item_total"]["c"]


# --- support for triangulation ----------------------------------------------------------------------

def test_support_of_likert_scale_and_coded_items(tiny):
    scale = survey.support(tiny, "incent")
    assert (scale["n"], scale["agree"], scale["direction"], scale["theme"]) == (6, 0.5, 1, "incentives")
    negative = survey.support(tiny, "c")
    assert negative["direction"] == -1 and negative["agree"] == pytest.approx(3 / 7, abs=1e-4)
    coop = survey.support(tiny, "coop")
    assert coop["agree"] == pytest.approx(4 / 7, abs=1e-4) and coop["mean"] == coop["agree"]
    assert coop["disagree"] == pytest.approx(3 / 7, abs=1e-4)
    assert survey.support(tiny, "forms:order")["agree"] == 0.75
    with pytest.raises(PolicoderError, match="says nothing for or against"):
        survey.support(tiny, "interns")


# --- the demo survey --------------------------------------------------------------------------------

def test_the_demo_survey_loads_with_reliable_scales_and_group_differences():
    demo = load_survey(DEMO.parent / "survey" / "enterprise_survey.yaml")
    assert len(demo.responses) == 175 and demo.responses[-1]["respondent_id"] == "E175"
    for scale in ("incentive_perception", "implementation_burden"):
        assert 0.7 <= survey.scale_reliability(demo, scale)["alpha"] <= 0.85
    incentives = survey.support(demo, "incentive_perception")
    assert incentives["mean"] < 3 and incentives["agree"] < incentives["disagree"]  # incentives felt as limited
    burden = survey.support(demo, "implementation_burden")
    assert burden["direction"] == -1 and burden["agree"] > 0.4
    by_owner = {r["group"]: r["mean"] for r in survey.describe(demo, "incentive_perception", by="ownership")}
    assert by_owner["国有"] > by_owner["民营"]
    assert survey.compare(demo, "incentive_perception", "size")["p"] < 0.05
    missing = sum(r[i] is None for r in demo.responses for i in demo.items if i != "q2")
    assert 0.015 < missing / (175 * 11) < 0.05
    assert set(survey.survey_themes(demo)) == {"incentives", "implementation", "teachers", "participation_depth",
                                               "motives"}
