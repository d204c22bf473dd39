"""Indicator tables: derived formulas, early-warning bands, change per region, yearly summaries, the
triangulation summary and the mistakes a schema or data file can hold."""
import textwrap

import pytest

from pipeline import indicators
from pipeline.errors import InputError, PolicoderError
from pipeline.indicators import load_indicators

from tests.conftest import DEMO

SCHEMA = """\
table: small
title: 小表
data: small.csv
region: 地区
year: 年份
columns:
  grads: {label: 毕业生, unit: 人}
  gdp: {label: 地区生产总值, unit: 亿元}
derived:
  ratio:
    label: 比率
    formula: grads / gdp
    theme: regional
    bands:
      - {band: red, below: 3}
      - {band: yellow, below: 5}
      - {band: green}
  share:
    formula: ratio * 100
    direction: lower
    theme: regional
"""
DATA = """\
地区,年份,grads,gdp
A,2020,200,100
A,2021,300,100
A,2022,400,100
B,2020,600,100
B,2021,500,100
B,2022,450,100
C,2020,100,50
C,2021,,50
C,2022,300,50
"""


def write(tmp_path, schema=SCHEMA, data=DATA):
    (tmp_path / "small.csv").write_text(textwrap.dedent(data), encoding="utf-8")
    path = tmp_path / "small.yaml"
    path.write_text(textwrap.dedent(schema), encoding="utf-8")
    return path


@pytest.fixture
def small(tmp_path):
    return load_indicators(write(tmp_path))


def test_derived_values_and_bands(small):
    rows = indicators.values(small)
    assert [(r["region"], r["year"], r["ratio"], r["ratio_band"]) for r in rows] == [
        ("A", 2020, 2.0, "red"), ("A", 2021, 3.0, "yellow"), ("A", 2022, 4.0, "yellow"),
        ("B", 2020, 6.0, "green"), ("B", 2021, 5.0, "green"), ("B", 2022, 4.5, "yellow"),
        ("C", 2020, 2.0, "red"), ("C", 2021, None, None), ("C", 2022, 6.0, "green")]
    assert [r["share"] for r in rows[:3]] == [200.0, 300.0, 400.0]  # a formula over an earlier derived one
    assert "share_band" not in rows[0] and rows[7]["grads"] is None and rows[7]["gdp"] == 50.0
    assert small.region == "地区" and list(small.derived) == ["ratio", "share"] and len(small.digest) == 64


def test_change_per_region_with_the_rank_in_the_latest_year(small):
    assert indicators.compare(small, "ratio") == [
        dict(region="A", first_year=2020, last_year=2022, first_value=2.0, last_value=4.0, change=2.0,
             change_pct=100.0, latest_band="yellow", rank=3),
        dict(region="B", first_year=2020, last_year=2022, first_value=6.0, last_value=4.5, change=-1.5,
             change_pct=-25.0, latest_band="yellow", rank=2),
        dict(region="C", first_year=2020, last_year=2022, first_value=2.0, last_value=6.0, change=4.0,
             change_pct=200.0, latest_band="green", rank=1)]
    assert [r["rank"] for r in indicators.compare(small, "share")] == [1, 2, 3]  # lower is better
    assert indicators.compare(small, "grads")[2]["latest_band"] is None


def test_summary_per_year(small):
    assert indicators.by_year(small, "ratio") == [
        dict(year=2020, n=3, median=2.0, min=2.0, max=6.0, band_red=2, band_yellow=0, band_green=1),
        dict(year=2021, n=2, median=4.0, min=3.0, max=5.0, band_red=0, band_yellow=1, band_green=1),
        dict(year=2022, n=3, median=4.5, min=4.0, max=6.0, band_red=0, band_yellow=2, band_green=1)]
    assert set(indicators.by_year(small, "gdp")[0]) == {"year", "n", "median", "min", "max"}


def test_support_for_triangulation(small):
    assert indicators.support(small, "ratio") == dict(
        indicator="ratio", label="比率", theme="regional", direction=1, n_regions=3, n_values=8,
        share_regions_improving=pytest.approx(2 / 3, abs=1e-4),
        share_latest_in_best_band=pytest.approx(1 / 3, abs=1e-4), latest_year=2022, latest_median=4.5)
    lower = indicators.support(small, "share")
    assert lower["direction"] == -1 and lower["share_regions_improving"] == pytest.approx(1 / 3, abs=1e-4)
    assert lower["share_latest_in_best_band"] is None
    assert indicators.indicator_themes(small) == {"regional": ["ratio", "share"]}
    with pytest.raises(PolicoderError, match="no indicator 'gpd'"):
        indicators.support(small, "gpd")


def test_a_division_by_zero_is_a_missing_value(tmp_path):
    table = load_indicators(write(tmp_path, data=DATA.replace("A,2020,200,100", "A,2020,200,0")))
    assert table.rows[0]["ratio"] is None and indicators.values(table)[0]["ratio_band"] is None


@pytest.mark.parametrize("change, line, message", [
    (("formula: grads / gdp", "formula: grads / gpd"), 12,
     "derived 'ratio': formula 'grads / gpd' fails: name 'gpd' is not defined"),
    (("formula: ratio * 100", "formula: share2 * 100"), 19, "name 'share2' is not defined"),
    (("formula: grads / gdp", "formula: grads /"), 12, "formula 'grads /' fails"),
    (("formula: grads / gdp", "formula: '@grads'"), 12, "'@' is not allowed"),
    (("formula: grads / gdp", "formula: '1 + 2'"), 12, "must compute one number per row"),
    (("{band: yellow, below: 5}", "{band: yellow, below: 2}"), 16, "bands must be in increasing order"),
    (("{band: red, below: 3}", "{band: red}"), 15, "only the last band may have no 'below'"),
    (("direction: lower", "direction: down"), 20, "direction must be higher or lower"),
    (("  share:", "  gdp:"), 19, "derived 'gdp' has the name of a column"),
])
def test_schema_mistakes_name_the_file_and_line(tmp_path, change, line, message):
    path = write(tmp_path, SCHEMA.replace(*change))
    with pytest.raises(InputError) as caught:
        load_indicators(path)
    text = str(caught.value)
    assert "\n" not in text and text.startswith(str(path)) and f"line {line}: " in text and message in text
    assert caught.value.code == "indicators-schema"


@pytest.mark.parametrize("change, message", [
    (("B,2021,500,100", "B,2021,五百,100"), "column 'grads', row 6: '五百' is not a number"),
    (("C,2022,300,50", "C,2022,300,n/a"), "column 'gdp', row 10: 'n/a' is not a number"),
    (("B,2022", "B,2021"), "columns '地区' and '年份', row 7: B 2021 appears again (first in row 6)"),
    (("A,2021", "A,2021.5"), "column '年份', row 3: '2021.5' is not a year"),
    (("地区,年份,grads,gdp", "地区,年份,grads,gdp_total"), "column 'gdp' is not in the data file"),
])
def test_data_mistakes_name_the_column_and_row(tmp_path, change, message):
    with pytest.raises(InputError) as caught:
        load_indicators(write(tmp_path, data=DATA.replace(*change)))
    text = str(caught.value)
    assert "\n" not in text and text.startswith(str(tmp_path / "small.csv")) and message in text
    assert caught.value.code == "indicators-invalid"


def test_the_demo_yearbook_spreads_over_all_bands():
    table = load_indicators(DEMO.parent / "indicators" / "yearbook.yaml")
    assert len(table.rows) == 30 and {r["year"] for r in table.rows} == set(range(2019, 2024))
    latest = [r["latest_band"] for r in indicators.compare(table, "coordination_index")]
    assert set(latest) == {"red", "yellow", "green"}
    regional = indicators.support(table, "coordination_index")
    assert regional["theme"] == "regional" and regional["n_regions"] == 6
    assert 0 < regional["share_regions_improving"] < 1
    assert indicators.indicator_themes(table)["regional"] == ["coordination_index"]
