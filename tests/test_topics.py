"""Topic models: planted topics are found and the right K wins the sweep, same seed same topics,
prevalence checked by hand, and the commands write their files."""
from __future__ import annotations

import csv
import random
import zlib

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline import db as store
from pipeline import open_project, topics
from pipeline.cli import cli
from pipeline.errors import ConfigError

VOCABULARY = [f"{prefix}{i}" for prefix in "甲乙丙丁" for i in range(12)]
PLANTED = [VOCABULARY[i * 12:(i + 1) * 12] for i in range(4)]


@pytest.fixture(scope="module")
def planted():
    """400 texts, each drawn from one of four disjoint word groups, with a little noise."""
    rng = random.Random(1)
    texts = [[rng.choice(PLANTED[i % 4]) for _ in range(40)] + [rng.choice(VOCABULARY) for _ in range(4)]
             for i in range(400)]
    return topics.build_corpus(texts, topics.CorpusSettings(no_above=0.9))


def test_the_planted_k_wins_the_sweep_and_topics_recover_the_groups(planted):
    rows = topics.sweep(planted, [2, 3, 4, 5, 6], seed=7, workers=2)
    assert [row["k"] for row in rows] == [2, 3, 4, 5, 6]
    chosen, reason = topics.choose_k(rows)
    assert chosen == 4 and "c_v" in reason
    described = topics.describe(topics.fit_topics(planted, topics.ModelSettings(k=4, seed=7)))
    groups = [{row["term"][0] for row in described if row["topic"] == topic} for topic in range(4)]
    assert sorted(map(tuple, groups)) == [("丁",), ("丙",), ("乙",), ("甲",)]  # each topic is one planted group
    assert all(0 < row["frex"] <= 1 for row in described)
    by_frex = topics.describe(topics.fit_topics(planted, topics.ModelSettings(k=4, seed=7)), by="frex")
    for topic in range(4):
        scores = [row["frex"] for row in by_frex if row["topic"] == topic]
        assert scores == sorted(scores, reverse=True) and len(scores) == topics.TOP_N


def test_same_seed_same_topics(planted):
    first = topics.describe(topics.fit_topics(planted, topics.ModelSettings(k=4, seed=11)))
    again = topics.describe(topics.fit_topics(planted, topics.ModelSettings(k=4, seed=11)))
    assert first == again
    same = topics.stability(planted, 4, [11, 11])
    assert all(row["mean_jaccard"] == 1.0 and not row["unstable"] for row in same)


def test_nmf_comparison_model_finds_the_same_planted_groups(planted):
    fitted = topics.fit_topics(planted, topics.ModelSettings(k=4, seed=7), method="nmf")
    assert fitted.method == "nmf" and np.allclose(fitted.shares.sum(axis=1), 1) and np.allclose(fitted.beta.sum(axis=1), 1)
    groups = [{row["term"][0] for row in topics.describe(fitted) if row["topic"] == topic} for topic in range(4)]
    assert sorted(map(tuple, groups)) == [("丁",), ("丙",), ("乙",), ("甲",)]


def test_prevalence_means_and_bootstrap_interval_by_hand():
    shares = np.array([[0.2, 0.8], [0.4, 0.6], [0.6, 0.4], [1.0, 0.0]])
    rows = {(r["group"], r["topic"]): r for r in topics.prevalence(shares, ["a", "a", "a", "b"], boot=2000, seed=3)}
    assert rows["a", 0]["mean_share"] == pytest.approx(0.4) and rows["a", 1]["mean_share"] == pytest.approx(0.6)
    assert rows["a", 0]["n"] == 3 and rows["b", 0]["mean_share"] == 1.0
    # a bootstrap mean of three values lies between their extremes, and the interval holds the mean
    assert 0.2 <= rows["a", 0]["ci_low"] < 0.4 < rows["a", 0]["ci_high"] <= 0.6
    assert rows["b", 0]["ci_low"] == rows["b", 0]["ci_high"] == 1.0  # one document: no spread
    # the interval is the percentiles of the resamples' means, drawn as a plain resampling does with
    # the group's own generator
    draws = np.random.default_rng([3, zlib.crc32(b"a")]).integers(0, 3, size=(2000, 3))
    means = shares[:3][draws].mean(axis=1)
    for topic in (0, 1):
        assert rows["a", topic]["ci_low"] == pytest.approx(np.quantile(means[:, topic], 0.025), abs=1e-6)
        assert rows["a", topic]["ci_high"] == pytest.approx(np.quantile(means[:, topic], 0.975), abs=1e-6)


def test_prevalence_of_a_group_depends_on_its_own_texts_and_is_reused_when_they_are_unchanged():
    rng = np.random.default_rng(0)
    shares = rng.dirichlet(np.ones(3), size=40)
    groups = ["国家"] * 15 + ["省级"] * 25
    kept: dict = {}
    first = topics.prevalence(shares, groups, seed=7, kept=kept)
    assert len(kept) == 2 and sorted(first, key=str) == sorted(sum(kept.values(), []), key=str)
    # one text of 省级 changes: 国家's rows are as before; 省级's are drawn again, as from scratch
    changed = shares.copy()
    changed[30] = [0.9, 0.05, 0.05]
    again = topics.prevalence(changed, groups, seed=7, earlier=kept)
    assert [r for r in again if r["group"] == "国家"] == [r for r in first if r["group"] == "国家"]
    assert again == topics.prevalence(changed, groups, seed=7)
    assert [r for r in again if r["group"] == "省级"] != [r for r in first if r["group"] == "省级"]
    # rows given as earlier ones are used only for the same shares: a stale entry is never read
    stale = {key: [{**row, "mean_share": -1.0} for row in rows] for key, rows in kept.items()}
    assert all(r["mean_share"] >= 0 for r in topics.prevalence(changed * 1.0 + 0.0, ["省级"] * 40, seed=7, earlier=stale))


def test_topic_commands_write_their_files(demo_project, tmp_path):
    open_project(demo_project).ingest()
    runner = CliRunner()
    result = runner.invoke(cli, ["topics", "--k", "3", "--seed", "5", "-o", str(tmp_path / "fit"),
                                 "--stability-seeds", "2", "--project", str(demo_project)])
    assert result.exit_code == 0, result.output
    with (tmp_path / "fit" / "topics.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["topic", "rank", "term", "weight", "frex", "label"] and len(rows) == 3 * topics.TOP_N
    with (tmp_path / "fit" / "doc_topics.csv").open(encoding="utf-8-sig") as handle:
        shares = list(csv.DictReader(handle))
    assert len(shares) == 16  # the demo's policy documents
    assert all(abs(sum(float(row[f"topic_{t}"]) for t in range(3)) - 1) < 1e-4 for row in shares)
    result = runner.invoke(cli, ["topics", "sweep", "--k", "2..4", "-o", str(tmp_path / "sweep"),
                                 "--project", str(demo_project)])
    assert result.exit_code == 0, result.output
    with (tmp_path / "sweep" / "coherence_by_k.csv").open(encoding="utf-8-sig") as handle:
        swept = list(csv.DictReader(handle))
    assert [int(row["k"]) for row in swept] == [2, 3, 4] and swept[0]["top_n"] == "10"
    assert {"c_v", "c_npmi", "u_mass", "perplexity", "windows"} <= set(swept[0])
    assert (tmp_path / "sweep" / "coherence_by_k.png").stat().st_size > 0
    assert {"topics_frex.csv", "prevalence_by_level.png", "prevalence_by_year.png", "representative.csv"} <= {
        p.name for p in (tmp_path / "fit").iterdir()}
    with (tmp_path / "fit" / "representative.csv").open(encoding="utf-8-sig") as handle:
        representative = list(csv.DictReader(handle))
    assert len(representative) == 3 * 5 and all(row["unit_id"].startswith(row["doc_id"] + "-") for row in representative)
    page = (tmp_path / "fit" / "topics.html").read_text(encoding="utf-8")
    assert page.count("<section>") == 3 and "FREX" in page
    nmf = runner.invoke(cli, ["topics", "--k", "3", "--method", "nmf", "-o", str(tmp_path / "nmf"),
                              "--stability-seeds", "1", "--project", str(demo_project)])
    assert nmf.exit_code == 0 and "3 NMF topics" in nmf.output
    bad = runner.invoke(cli, ["topics", "sweep", "--k", "9..3", "-o", str(tmp_path / "x"), "--project", str(demo_project)])
    assert bad.exit_code == 2 and "must not be empty" in bad.output


def test_topic_shares_are_stored_and_labels_survive_a_refit(demo_project, tmp_path):
    project = open_project(demo_project)
    project.ingest()
    first = project.topics(3, tmp_path / "one", seed=5, stability_seeds=1)
    labels = demo_project / first["labels_file"]
    assert labels.read_text(encoding="utf-8").count(': ""') == 3  # a template, one line per topic
    labels.write_text(labels.read_text(encoding="utf-8").replace('0: ""', "0: 校企合作"), encoding="utf-8")
    again = project.topics(3, tmp_path / "two", seed=5, stability_seeds=1)
    assert again["model_id"] == first["model_id"]
    with (tmp_path / "two" / "topics.csv").open(encoding="utf-8-sig") as handle:
        assert {row["label"] for row in csv.DictReader(handle) if row["topic"] == "0"} == {"校企合作"}
    stored = store.topic_shares(project.db, first["model_id"])
    assert len(stored) == 3 * 16 and len({row["doc_id"] for row in stored}) == 16
    for doc_id in {row["doc_id"] for row in stored}:  # each document's shares sum to 1
        assert sum(row["share"] for row in stored if row["doc_id"] == doc_id) == pytest.approx(1, abs=1e-4)
    other = project.topics(3, tmp_path / "three", seed=6, stability_seeds=1)  # another model: fresh template
    assert other["model_id"] != first["model_id"] and "校企合作" not in (demo_project / other["labels_file"]).read_text(
        encoding="utf-8")
    labels.write_text("labels:\n  7: 多余\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2: topic 7 is not a topic number 0–2"):
        project.topics(3, tmp_path / "four", seed=5, stability_seeds=1)
    project.close()


def test_topic_labels_are_drawn_as_written_not_as_formulas(tmp_path):
    # matplotlib reads $…$ as mathtext: 成本$$ would fail the chart and $5-$10 would lose its signs
    rows = [{"group": group, "topic": topic, "mean_share": 0.5, "ci_low": 0.4, "ci_high": 0.6}
            for group in ("national", "county") for topic in (0, 1)]
    path = tmp_path / "prevalence.png"
    topics.draw_prevalence(rows, {0: "成本$$", 1: "经费$5-$10"}, path)
    assert path.stat().st_size > 1000
