"""Corpus statistics checked against hand-computed numbers and independent libraries."""
import math
import warnings

import networkx as nx
import pytest
from matplotlib.ft2font import FT2Font
from scipy.stats import chi2_contingency
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline import stats
from pipeline.errors import ConfigError, PolicoderError
from pipeline.stats import UnitTerms

A, B, C, D = "产教融合", "校企合作", "实训基地", "订单班"  # in code-point order: 产 < 实 < 校 < 订


def unit(doc_id, unit_id, terms, **groups):
    return UnitTerms(doc_id=doc_id, unit_id=unit_id, terms=tuple(terms), groups=groups)


# Two documents, nine terms: doc 1 (national) has A A B | B C, doc 2 (county) has A C C D.
SMALL = [
    unit(1, "1-1", [A, B, A], level="national"),
    unit(1, "1-2", [B, C], level="national"),
    unit(2, "2-1", [A, C, C, D], level="county"),
]


# --- term frequencies -----------------------------------------------------------------------

def test_stats_term_frequencies_overall():
    # per_10k = freq / 9 terms × 10,000
    assert stats.term_frequencies(SMALL) == [
        {"term": A, "freq": 3, "df": 2, "units": 2, "per_10k": pytest.approx(3 / 9 * 10_000)},
        {"term": C, "freq": 3, "df": 2, "units": 2, "per_10k": pytest.approx(3 / 9 * 10_000)},
        {"term": B, "freq": 2, "df": 1, "units": 2, "per_10k": pytest.approx(2 / 9 * 10_000)},
        {"term": D, "freq": 1, "df": 1, "units": 1, "per_10k": pytest.approx(1 / 9 * 10_000)},
    ]


def test_stats_term_frequencies_by_group_use_the_group_total():
    # county has 4 terms, national 5
    rows = stats.term_frequencies(SMALL, by="level")
    assert [(r["level"], r["term"], r["freq"], r["df"], r["units"], r["per_10k"]) for r in rows] == [
        ("county", C, 2, 1, 1, 5000.0), ("county", A, 1, 1, 1, 2500.0), ("county", D, 1, 1, 1, 2500.0),
        ("national", A, 2, 1, 1, 4000.0), ("national", B, 2, 1, 2, 4000.0), ("national", C, 1, 1, 1, 2000.0),
    ]
    assert list(rows[0]) == ["level", "term", "freq", "df", "units", "per_10k"]


def test_stats_term_frequencies_top_is_per_group():
    assert [(r["level"], r["term"]) for r in stats.term_frequencies(SMALL, by="level", top=2)] == [
        ("county", C), ("county", A), ("national", A), ("national", B)]
    assert [r["term"] for r in stats.term_frequencies(SMALL, top=2)] == [A, C]
    assert [r["term"] for r in stats.term_frequencies(SMALL, min_freq=2, top=5)] == [A, C, B]


def test_stats_term_frequencies_min_freq_and_doc_grouping():
    assert [r["term"] for r in stats.term_frequencies(SMALL, min_freq=2)] == [A, C, B]
    by_doc = stats.term_frequencies(SMALL + [unit(10, "10-1", [D])], by="doc", min_freq=2)
    # documents sort as numbers (2 before 10), and doc 10's single term is below min_freq
    assert [(r["doc"], r["term"]) for r in by_doc] == [(1, A), (1, B), (2, C)]


def test_stats_unknown_group_field_is_named():
    with pytest.raises(PolicoderError, match="levle.*known fields: doc, level") as caught:
        stats.term_frequencies(SMALL, by="levle")
    assert caught.value.code == "unknown-group-field"


# --- TF-IDF ---------------------------------------------------------------------------------

def test_stats_tfidf_matches_hand_numbers():
    # n = 2 documents; smoothed idf = ln((1 + n) / (1 + df)) + 1:
    #   A, C are in both: ln(3/3) + 1 = 1;  B, D in one: ln(3/2) + 1 = 1.4054651
    # doc 1 counts A 2, B 2, C 1 -> 2, 2.8109302, 1; L2 norm sqrt(4 + 7.9013276 + 1) = 3.5918420
    #   B 2.8109302 / 3.5918420 = 0.7825874, A 2 / 3.5918420 = 0.5568174, C 0.2784087
    # doc 2 counts A 1, C 2, D 1 -> 1, 2, 1.4054651; norm sqrt(1 + 4 + 1.9753324) = 2.6410854
    #   C 0.7572644, D 0.5321544, A 0.3786322
    rows = stats.tfidf_top(SMALL, per="doc", top=2)
    assert [(r["doc"], r["rank"], r["term"]) for r in rows] == [(1, 1, B), (1, 2, A), (2, 1, C), (2, 2, D)]
    assert [r["tfidf"] for r in rows] == pytest.approx([0.7825874, 0.5568174, 0.7572644, 0.5321544], abs=1e-7)


def test_stats_tfidf_per_group_equals_a_direct_vectorizer_run():
    rows = stats.tfidf_top(SMALL, per="level", top=10)
    documents = [[A, C, C, D], [A, B, A, B, C]]  # county, national
    vectorizer = TfidfVectorizer(analyzer=lambda terms: terms)
    matrix = vectorizer.fit_transform(documents).toarray()
    vocabulary = list(vectorizer.get_feature_names_out())
    expected = {(level, term): matrix[i][vocabulary.index(term)]
                for i, level in enumerate(["county", "national"]) for term in documents[i]}
    assert {(r["level"], r["term"]): r["tfidf"] for r in rows} == pytest.approx(expected, rel=1e-12)
    assert [r["rank"] for r in rows] == [1, 2, 3, 1, 2, 3]


# --- keyness --------------------------------------------------------------------------------

def keyness_corpus():
    # target (county): 100 terms = 融合 10, 县 4, 其他 86
    # reference (national): 300 terms = 融合 5, 其他 295
    return [
        UnitTerms(1, "1-1", ("融合",) * 10 + ("县",) * 4 + ("其他",) * 86, {"level": "county"}),
        UnitTerms(2, "2-1", ("融合",) * 5 + ("其他",) * 295, {"level": "national"}),
        UnitTerms(3, "3-1", ("融合",) * 50, {"level": "provincial"}),  # neither side: must not count
    ]


def test_stats_keyness_hand_computed_example():
    # 融合: table [[10, 5], [90, 295]], N = 400, row totals 15 and 385, column totals 100 and 300
    #   E = 100·15/400 = 3.75, 300·15/400 = 11.25, 100·385/400 = 96.25, 300·385/400 = 288.75
    #   G² = 2 [10 ln(10/3.75) + 5 ln(5/11.25) + 90 ln(90/96.25) + 295 ln(295/288.75)]
    #      = 2 [10(0.9808293) + 5(−0.8109302) + 90(−0.0671393) + 295(0.0214141)]
    #      = 2 [9.808293 − 4.054651 − 6.042537 + 6.317158] = 2 (6.028263) = 12.056525
    #   p = P(χ²(1) > 12.056525) = 0.000516
    #   log ratio = log2((10/100) / (5/300)) = log2(6) = 2.5849625
    #   %DIFF = (1000 − 166.667) / 166.667 × 100 = 500;  norms per 10,000: 1000 and 166.667
    # 县: table [[4, 0], [96, 300]]; E = 1, 3, 99, 297
    #   G² = 2 [4 ln 4 + 0 + 96 ln(96/99) + 300 ln(300/297)]
    #      = 2 [5.545177 − 2.954079 + 3.015101] = 2 (5.606199) = 11.212398
    #   zero in the reference -> 0.5: log ratio = log2((4/100) / (0.5/300)) = log2(24) = 4.5849625
    #   %DIFF = (0.04 − 0.0016667) / 0.0016667 × 100 = 2300
    # 其他: table [[86, 295], [14, 5]]; E = 95.25, 285.75, 4.75, 14.25
    #   G² = 2 [86 ln(86/95.25) + 295 ln(295/285.75) + 14 ln(14/4.75) + 5 ln(5/14.25)]
    #      = 2 [−8.785564 + 9.398126 + 15.132778 − 5.236595] = 2 (10.508745) = 21.017490
    #   86/100 < 295/300, so it leans to the reference
    rows = stats.keyness(keyness_corpus(), field="level", target="county", reference="national", min_freq=1)
    by_term = {r["term"]: r for r in rows}
    fusion, county = by_term["融合"], by_term["县"]
    assert fusion["g2"] == pytest.approx(12.056525, abs=1e-6)
    assert fusion["p_value"] == pytest.approx(0.000516, abs=1e-6)
    assert fusion["log_ratio"] == pytest.approx(math.log2(6), abs=1e-12)
    assert fusion["percent_diff"] == pytest.approx(500.0, abs=1e-9)
    assert (fusion["norm_target"], fusion["norm_reference"]) == pytest.approx((1000.0, 500 / 3))
    assert (fusion["freq_target"], fusion["freq_reference"], fusion["direction"]) == (10, 5, "target")
    assert county["g2"] == pytest.approx(11.212398, abs=1e-6)
    assert county["log_ratio"] == pytest.approx(math.log2(24), abs=1e-12)
    assert county["percent_diff"] == pytest.approx(2300.0, abs=1e-9)
    assert (by_term["其他"]["g2"], by_term["其他"]["direction"]) == (pytest.approx(21.017490, abs=1e-6), "reference")
    assert [r["term"] for r in rows] == ["其他", "融合", "县"]  # g2 descending
    # Bonferroni over the 3 terms tested
    assert fusion["p_bonferroni"] == pytest.approx(3 * fusion["p_value"], rel=1e-12)
    assert list(fusion) == ["term", "freq_target", "freq_reference", "norm_target", "norm_reference", "g2",
                            "p_value", "p_bonferroni", "log_ratio", "percent_diff", "direction"]


def test_stats_keyness_equals_scipy_on_every_2x2_table():
    rows = stats.keyness(keyness_corpus(), field="level", target="county", reference="national", min_freq=1)
    for row in rows:
        a, b = row["freq_target"], row["freq_reference"]
        table = [[a, b], [100 - a, 300 - b]]
        g2, p, _, _ = chi2_contingency(table, lambda_="log-likelihood", correction=False)
        assert row["g2"] == pytest.approx(g2, rel=1e-12)
        assert row["p_value"] == pytest.approx(p, rel=1e-9)


def test_stats_keyness_min_freq_counts_both_sides_and_empty_groups_are_named():
    rows = stats.keyness(keyness_corpus(), field="level", target="county", reference="national", min_freq=15)
    assert [r["term"] for r in rows] == ["其他", "融合"]  # 县 has 4 + 0 < 15
    with pytest.raises(PolicoderError, match="level = 'natinal'") as caught:
        stats.keyness(keyness_corpus(), field="level", target="county", reference="natinal")
    assert caught.value.code == "keyness-empty-group"


def test_stats_keyness_equal_proportions_have_no_direction():
    units = [UnitTerms(1, "1-1", ("甲", "乙"), {"level": "county"}),
             UnitTerms(2, "2-1", ("甲", "乙", "甲", "乙"), {"level": "national"})]
    rows = stats.keyness(units, field="level", target="county", reference="national", min_freq=1)
    assert [(r["term"], r["g2"], r["log_ratio"], r["percent_diff"], r["direction"]) for r in rows] == [
        ("乙", 0.0, 0.0, 0.0, "none"), ("甲", 0.0, 0.0, 0.0, "none")]


# --- KWIC -----------------------------------------------------------------------------------

TEXT = "一、推进产教融合，深化校企合作。\n支持产教融合型企业。"
# offsets: 推进 2–4, 产教融合 4–8, 深化 9–11, 校企合作 11–15, 支持 17–19, 产教融合型企业 19–26; length 27
KWIC_UNITS = [
    UnitTerms(2, "2-1", ("产教融合", "试点"), {"level": "county"}, text="开展产教融合试点", spans=((2, 6), (6, 8))),
    UnitTerms(1, "1-10", ("推进", "产教融合", "深化", "校企合作", "支持", "产教融合型企业"), {"level": "national"},
              text=TEXT, spans=((2, 4), (4, 8), (9, 11), (11, 15), (17, 19), (19, 26))),
    UnitTerms(1, "1-2", ("产教融合",), {"level": "national"}, text="产教融合", spans=((0, 4),)),
]


def test_stats_kwic_finds_every_occurrence_also_inside_longer_tokens():
    # 产教融合 is a token, and also part of the token 产教融合型企业: a concordance shows both
    rows = stats.kwic(KWIC_UNITS, "产教融合", window=5)
    assert [(r["unit_id"], r["left"], r["match"], r["right"], r["start"], r["match_type"]) for r in rows] == [
        ("1-2", "", "产教融合", "", 0, "text"), ("1-10", "一、推进", "产教融合", "，深化校企", 4, "text"),
        ("1-10", "作。 支持", "产教融合", "型企业。", 19, "text"), ("2-1", "开展", "产教融合", "试点", 2, "text")]


def test_stats_kwic_whole_tokens_clip_at_unit_edges():
    rows = stats.kwic(KWIC_UNITS, "产教融合", window=5, whole_tokens=True)
    # asked for whole tokens: the token 产教融合型企业 is a different term, so it is no hit
    assert rows == [
        {"doc_id": 1, "unit_id": "1-2", "left": "", "match": "产教融合", "right": "", "start": 0, "end": 4,
         "match_type": "token"},
        {"doc_id": 1, "unit_id": "1-10", "left": "一、推进", "match": "产教融合", "right": "，深化校企", "start": 4,
         "end": 8, "match_type": "token"},
        {"doc_id": 2, "unit_id": "2-1", "left": "开展", "match": "产教融合", "right": "试点", "start": 2, "end": 6,
         "match_type": "token"},
    ]


def test_stats_kwic_text_matches_when_the_term_is_no_token():
    rows = stats.kwic(KWIC_UNITS, "融合型", window=5)
    # the left context crosses the line break, shown as a space; the right one stops at the end
    assert [(r["unit_id"], r["left"], r["match"], r["right"], r["start"], r["end"], r["match_type"])
            for r in rows] == [("1-10", " 支持产教", "融合型", "企业。", 21, 24, "text")]
    assert [(r["unit_id"], r["start"]) for r in stats.kwic(KWIC_UNITS, "融合", window=2)] == [
        ("1-2", 2), ("1-10", 6), ("1-10", 21), ("2-1", 4)]
    assert stats.kwic(KWIC_UNITS, "融合型", whole_tokens=True) == []


def test_stats_kwic_where_filters_on_groups():
    rows = stats.kwic(KWIC_UNITS, "产教融合", window=3, where={"level": "county"})
    assert [(r["doc_id"], r["left"], r["right"]) for r in rows] == [(2, "开展", "试点")]
    assert stats.kwic(KWIC_UNITS, "产教融合", where={"level": "county", "doc": "1"}) == []
    with pytest.raises(PolicoderError, match="'levl'"):
        stats.kwic(KWIC_UNITS, "产教融合", where={"levl": "county"})


# --- co-occurrence --------------------------------------------------------------------------

# five units; presence per unit: {A, B, C} (A twice), {A, B}, {A, C}, {B, D}, {D}
NETWORK_UNITS = [unit(1, "1-1", [A, A, B, C]), unit(1, "1-2", [A, B]), unit(2, "2-1", [A, C]),
                 unit(2, "2-2", [B, D]), unit(3, "3-1", [D])]
# N = 5; units containing: A 3, B 3, C 2, D 2; together: AB 2, AC 2, BC 1, BD 1
#   jaccard AB = 2 / (3 + 3 − 2) = 0.5      pmi AB = log2(2·5 / (3·3)) = log2(10/9) = 0.1520031
#   jaccard AC = 2 / (3 + 2 − 2) = 0.6667   pmi AC = log2(2·5 / (3·2)) = log2(5/3)  = 0.7369656
#   jaccard BC = 1 / (3 + 2 − 1) = 0.25     pmi BC = log2(1·5 / (3·2)) = log2(5/6)  = −0.2630344
#   jaccard BD = 1 / (3 + 2 − 1) = 0.25     pmi BD = log2(5/6)                        = −0.2630344


def edge(source, target, count, jaccard, pmi, weight):
    return {"source": source, "target": target, "count": count, "jaccard": pytest.approx(jaccard, abs=1e-7),
            "pmi": pytest.approx(pmi, abs=1e-7), "weight": pytest.approx(weight, abs=1e-7)}


def test_stats_cooccurrence_jaccard_edges_and_nodes():
    nodes, edges = stats.cooccurrence(NETWORK_UNITS, top=4, min_count=1)
    assert nodes == [{"term": A, "freq": 4, "units": 3}, {"term": B, "freq": 3, "units": 3},
                     {"term": C, "freq": 2, "units": 2}, {"term": D, "freq": 2, "units": 2}]
    assert edges == [
        edge(A, C, 2, 2 / 3, 0.7369656, 2 / 3),
        edge(A, B, 2, 0.5, 0.1520031, 0.5),
        edge(C, B, 1, 0.25, -0.2630344, 0.25),  # 实训基地 < 校企合作
        edge(B, D, 1, 0.25, -0.2630344, 0.25),
    ]
    assert [(e["source"], e["target"]) for e in stats.cooccurrence(NETWORK_UNITS, top=4)[1]] == [(A, C), (A, B)]


def test_stats_cooccurrence_pmi_threshold_and_top():
    _, edges = stats.cooccurrence(NETWORK_UNITS, top=4, measure="pmi", min_count=1)
    assert [(e["source"], e["target"], e["weight"]) for e in edges] == [
        (A, C, pytest.approx(0.7369656, abs=1e-7)), (A, B, pytest.approx(0.1520031, abs=1e-7))]
    _, edges = stats.cooccurrence(NETWORK_UNITS, top=4, measure="pmi", min_count=1, threshold=-1.0)
    assert [(e["source"], e["target"]) for e in edges] == [(A, C), (A, B), (C, B), (B, D)]
    # top 3: C and D tie on freq 2, 实训基地 sorts first, so D and its edge drop out
    nodes, edges = stats.cooccurrence(NETWORK_UNITS, top=3, min_count=1)
    assert [n["term"] for n in nodes] == [A, B, C] and [(e["source"], e["target"]) for e in edges] == [
        (A, C), (A, B), (C, B)]


def test_stats_cooccurrence_unknown_measure_lists_choices():
    with pytest.raises(ValueError, match="choose one of jaccard, pmi"):
        stats.cooccurrence(NETWORK_UNITS, measure="dice")


def test_stats_graphml_round_trip(tmp_path):
    nodes, edges = stats.cooccurrence(NETWORK_UNITS, top=4, min_count=1)
    path = tmp_path / "network.graphml"
    stats.write_graphml(nodes, edges, path)
    graph = nx.read_graphml(path)
    assert sorted(graph.nodes) == sorted([A, B, C, D])
    assert graph.nodes[A] == {"freq": 4, "units": 3}
    assert graph.edges[A, C]["count"] == 2 and graph.edges[A, C]["jaccard"] == pytest.approx(2 / 3, rel=1e-12)
    assert graph.edges[B, D]["pmi"] == pytest.approx(math.log2(5 / 6), rel=1e-12)
    assert graph.number_of_edges() == 4


# --- drawing and fonts ----------------------------------------------------------------------

def test_stats_draw_png_with_a_font_covering_the_labels(tmp_path):
    nodes, edges = stats.cooccurrence(NETWORK_UNITS, top=4, min_count=1)
    path = tmp_path / "network.png"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        font_file = stats.draw_network(nodes, edges, path, seed=7)
    assert not [w for w in caught if "missing from font" in str(w.message)]
    font = FT2Font(font_file)
    assert all(font.get_char_index(ord(ch)) != 0 for node in nodes for ch in node["term"])
    content = path.read_bytes()
    assert content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 10_000
    again = tmp_path / "again.png"
    stats.draw_network(nodes, edges, again, seed=7)
    assert again.read_bytes() == content  # fixed seed, same picture


def test_stats_draw_svg_stores_glyphs_as_paths(tmp_path):
    nodes, edges = stats.cooccurrence(NETWORK_UNITS, top=4, min_count=1)
    path = tmp_path / "network.svg"
    stats.draw_network(nodes, edges, path, font_path=stats.find_cjk_font())
    svg = path.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<text" not in svg and "<dc:date>" not in svg


def test_stats_draw_refuses_other_formats(tmp_path):
    with pytest.raises(ConfigError, match="png or .svg") as caught:
        stats.draw_network([], [], tmp_path / "network.pdf")
    assert caught.value.code == "draw-format"


@pytest.mark.parametrize("name, content", [("missing.ttf", None), ("notafont.ttf", "plain text")])
def test_stats_bad_font_path_gives_one_clear_line(tmp_path, name, content):
    font_path = tmp_path / name
    if content is not None:
        font_path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        stats.find_cjk_font(str(font_path))
    message = str(caught.value)
    assert caught.value.code == "font-missing" and "\n" not in message
    assert message.startswith(str(font_path)) and "apt-get install fonts-wqy-microhei" in message


def test_stats_latin_only_font_is_refused():
    from matplotlib import font_manager

    dejavu = font_manager.findfont("DejaVu Sans", fallback_to_default=False)
    with pytest.raises(ConfigError, match="glyphs for Chinese"):
        stats.find_cjk_font(dejavu)


def test_stats_no_cjk_font_installed(monkeypatch):
    from pathlib import Path

    import matplotlib
    from matplotlib import font_manager

    dejavu = font_manager.findfont("DejaVu Sans", fallback_to_default=False)
    # matplotlib's own Last Resort font "has" every character, as placeholder boxes: not a Chinese font
    last_resort = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "LastResortHE-Regular.ttf")
    fonts = [dejavu] + ([last_resort] if Path(last_resort).exists() else [])
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [font_manager.FontEntry(fname=f, name=f) for f in fonts])
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *args, **kwargs: fonts)
    with pytest.raises(ConfigError, match="no installed font has glyphs for Chinese") as caught:
        stats.find_cjk_font()
    assert caught.value.code == "font-missing" and "apt-get install fonts-wqy-microhei" in str(caught.value)


def test_stats_finds_the_installed_cjk_font():
    found = stats.find_cjk_font()
    assert FT2Font(found).family_name in stats.CJK_FAMILIES
