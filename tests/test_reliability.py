"""Reliability statistics against published worked examples and independent implementations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline import reliability as r

N = None
# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for Communication
# Departmental Papers 43, example C: 4 observers, 12 units, missing values.  Gwet (2014, Handbook of
# Inter-Rater Reliability, 4th ed.) analyses the same table; the irrCAC package documents his results.
KRIPPENDORFF_2011 = [
    [1, 1, N, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
    [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [N, 5, 5, 5], [N, N, 1, 1], [N, 3, N, N],
]

# Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychological Bulletin 76(5),
# the 10 subjects × 14 raters × 5 categories example as reproduced in Wikipedia's "Fleiss' kappa": κ = 0.210.
FLEISS_COUNTS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def fleiss_ratings() -> list[list[str]]:
    return [[f"c{category}" for category, n in enumerate(counts) for _ in range(n)] for counts in FLEISS_COUNTS]


@pytest.mark.parametrize(("level", "published"), [
    ("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797),
])
def test_krippendorff_alpha_matches_krippendorff_2011(level, published):
    assert r.krippendorff_alpha(KRIPPENDORFF_2011, level) == pytest.approx(published, abs=5e-4)


def test_krippendorff_alpha_agrees_with_an_independent_implementation():
    import pandas as pd
    from irrCAC.raw import CAC

    table = pd.DataFrame([[np.nan if v is None else v for v in unit] for unit in KRIPPENDORFF_2011])
    independent = CAC(table).krippendorff()["est"]["coefficient_value"]
    assert r.krippendorff_alpha(KRIPPENDORFF_2011) == pytest.approx(independent, abs=1e-5)
    # categories as words give the same nominal alpha as numbers
    words = [[None if v is None else f"code{v}" for v in unit] for unit in KRIPPENDORFF_2011]
    assert r.krippendorff_alpha(words) == pytest.approx(r.krippendorff_alpha(KRIPPENDORFF_2011))


def test_gwet_ac1_brennan_prediger_and_fleiss_match_gwet_2014():
    assert r.gwet_ac1(KRIPPENDORFF_2011) == pytest.approx(0.7754, abs=1e-4)
    assert r.brennan_prediger(KRIPPENDORFF_2011) == pytest.approx(0.7727, abs=1e-4)
    assert r.fleiss_kappa(KRIPPENDORFF_2011) == pytest.approx(0.7612, abs=1e-4)


def test_fleiss_kappa_matches_fleiss_1971_and_statsmodels():
    from statsmodels.stats.inter_rater import fleiss_kappa

    assert r.fleiss_kappa(fleiss_ratings()) == pytest.approx(0.210, abs=5e-4)
    assert r.fleiss_kappa(fleiss_ratings()) == pytest.approx(fleiss_kappa(np.array(FLEISS_COUNTS)), abs=1e-5)


def test_cohen_kappa_matches_a_worked_example_and_statsmodels():
    from statsmodels.stats.inter_rater import cohens_kappa

    # Wikipedia's "Cohen's kappa" example: 50 proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15: κ = 0.4
    ratings = [["yes", "yes"]] * 20 + [["yes", "no"]] * 5 + [["no", "yes"]] * 10 + [["no", "no"]] * 15
    assert r.cohen_kappa(ratings) == pytest.approx(0.4)
    assert r.cohen_kappa(ratings) == pytest.approx(cohens_kappa(np.array([[20, 5], [10, 15]])).kappa)
    assert r.cohen_kappa(ratings + [["yes", None]]) == pytest.approx(0.4)  # a unit one coder skipped is dropped
    with pytest.raises(ValueError, match="exactly two coders"):
        r.cohen_kappa([["a", "b", "a"]])


def test_percent_agreement_by_hand():
    # unit 1: 3 of 3 pairs agree; unit 2: 1 of 3; unit 3 (one rating) does not count
    assert r.percent_agreement([["a", "a", "a"], ["a", "a", "b"], ["a", None, None]]) == pytest.approx((1 + 1 / 3) / 2)


def test_degenerate_data_give_nan_not_one():
    one_category = [["a", "a"], ["a", "a"], ["a", "a"]]
    for statistic in (r.cohen_kappa, r.fleiss_kappa, r.gwet_ac1, r.brennan_prediger, r.krippendorff_alpha):
        assert math.isnan(statistic(one_category)), statistic.__name__
        assert math.isnan(statistic([[None, None], [None, None]])), statistic.__name__
        assert math.isnan(statistic([["a", "b"]])), statistic.__name__  # a single unit
    assert r.percent_agreement(one_category) == 1.0
    assert math.isnan(r.percent_agreement([[None, "a"]]))
    with pytest.raises(ValueError, match="ordinal alpha needs numeric ratings"):
        r.krippendorff_alpha([["low", "high"], ["high", "high"]], "ordinal")
    with pytest.raises(ValueError, match="level 'fuzzy'"):
        r.krippendorff_alpha(KRIPPENDORFF_2011, "fuzzy")


def test_alpha_bootstrap_interval_holds_the_estimate_and_is_reproducible():
    estimate, low, high = r.krippendorff_alpha_ci(KRIPPENDORFF_2011, boot=300, seed=4)
    assert estimate == pytest.approx(0.743, abs=5e-4) and low < estimate < high <= 1
    assert r.krippendorff_alpha_ci(KRIPPENDORFF_2011, boot=300, seed=4) == (estimate, low, high)


@pytest.mark.parametrize("level", r.LEVELS)
def test_bootstrap_draws_equal_the_package_on_the_same_resamples(level):
    """The vectorised bootstrap (one matrix product) gives, draw for draw, what the krippendorff
    package computes on the same resampled units."""
    import krippendorff

    generator = np.random.default_rng(3)
    ratings = [[int(v) if generator.random() > 0.2 else None for v in generator.integers(1, 5, 4)] for _ in range(60)]
    data, domain = r._matrix(ratings, level)
    fast = r.bootstrap_alphas(data, domain, level, boot=40, seed=7)
    replay = np.random.default_rng(7)
    slow = [krippendorff.alpha(reliability_data=data[:, replay.integers(0, data.shape[1], data.shape[1])],
                               level_of_measurement=level, value_domain=domain) for _ in range(40)]
    assert fast == pytest.approx(slow, abs=1e-12)
    assert r.bootstrap_alphas(data, domain, level, boot=0, seed=7).size == 0
