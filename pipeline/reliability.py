"""Inter-coder reliability statistics over plain ratings.

Every function takes ``ratings``: a list of units, each a list with one value per coder (``None`` where
that coder did not rate the unit).  Values may be strings or numbers; they are categories unless the
level of measurement says otherwise.  The statistics come from well-kept libraries, checked in
``tests/test_reliability.py`` against published worked examples:

- Cohen's kappa: scikit-learn (two coders; units one of them left out are dropped);
- Fleiss' kappa, Gwet's AC1, Brennan–Prediger: irrCAC (Gwet's formulas, which allow missing ratings);
- Krippendorff's alpha (nominal, ordinal, interval, ratio; missing allowed): the ``krippendorff``
  package, with a percentile bootstrap over units for its interval.

Degenerate data never give a silent 1.0: fewer than two rated units, or a single category used by
everyone, give ``nan`` (agreement beyond chance is undefined there); percent agreement is still
reported.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

LEVELS = ("nominal", "ordinal", "interval", "ratio")
Ratings = Sequence[Sequence[object]]


def percent_agreement(ratings: Ratings) -> float:
    """Mean over units (rated by two coders or more) of the share of coder pairs that agree."""
    shares = []
    for unit in ratings:
        values = [value for value in unit if value is not None]
        pairs = len(values) * (len(values) - 1) / 2
        if pairs:
            same = sum(count * (count - 1) / 2 for count in _counts(values).values())
            shares.append(same / pairs)
    return float(np.mean(shares)) if shares else math.nan


def cohen_kappa(ratings: Ratings) -> float:
    """Cohen's kappa of exactly two coders, on the units both rated."""
    from sklearn.metrics import cohen_kappa_score

    if any(len(unit) != 2 for unit in ratings):
        raise ValueError("Cohen's kappa compares exactly two coders: every unit needs two ratings (or None)")
    both = [(str(a), str(b)) for a, b in ratings if a is not None and b is not None]
    if len(both) < 2 or len({value for pair in both for value in pair}) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(cohen_kappa_score([a for a, _ in both], [b for _, b in both]))


def fleiss_kappa(ratings: Ratings) -> float:
    """Fleiss' kappa (any number of coders; with missing ratings, Gwet's generalisation)."""
    return _irr(ratings, "fleiss")


def gwet_ac1(ratings: Ratings) -> float:
    """Gwet's AC1 (first-order agreement coefficient; nominal categories)."""
    return _irr(ratings, "gwet")


def brennan_prediger(ratings: Ratings) -> float:
    """Brennan and Prediger's coefficient (chance agreement 1/q for q categories)."""
    return _irr(ratings, "bp")


def krippendorff_alpha(ratings: Ratings, level: str = "nominal") -> float:
    """Krippendorff's alpha at a level of measurement; ordinal, interval and ratio need numbers."""
    import krippendorff

    data, domain = _matrix(ratings, level)
    if data is None:
        return math.nan
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=domain))


def krippendorff_alpha_ci(ratings: Ratings, level: str = "nominal", *, boot: int = 1000, seed: int = 0,
                          confidence: float = 0.95) -> tuple[float, float, float]:
    """Alpha with a percentile bootstrap interval (units resampled with replacement): (alpha, low, high).

    The estimate is the ``krippendorff`` package's.  Each bootstrap draw reuses the per-unit
    coincidence counts (alpha's sums are sums over units), so all draws are one matrix product
    instead of ``boot`` calls; ``tests/test_reliability.py`` checks the draws against the package.
    """
    import krippendorff

    data, domain = _matrix(ratings, level)
    if data is None:
        return math.nan, math.nan, math.nan
    estimate = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=domain))
    draws = bootstrap_alphas(data, domain, level, boot=boot, seed=seed)
    draws = draws[~np.isnan(draws)]
    if not draws.size:
        return estimate, math.nan, math.nan
    tail = (1 - confidence) / 2
    return estimate, float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail))


def bootstrap_alphas(data: np.ndarray, domain: list, level: str, *, boot: int, seed: int) -> np.ndarray:
    """Alpha of ``boot`` resamples of the units (columns of ``data``, coders × units, nan = missing);
    nan where a resample holds a single value."""
    if boot < 1:
        return np.array([])
    rng = np.random.default_rng(seed)
    values = np.asarray(domain, dtype=float)
    units = data.shape[1]
    counts = np.stack([(data == value).sum(axis=0) for value in values], axis=1).astype(float)  # units × values
    pairable = counts.sum(axis=1)
    scale = np.where(pairable >= 2, 1 / np.maximum(pairable - 1, 1), 0.0)
    # each unit's coincidences: n_uc n_uk / (m_u - 1), without a value's pairing with itself
    per_unit = (counts[:, :, None] * counts[:, None, :]
                - counts[:, :, None] * np.eye(len(values))[None]) * scale[:, None, None]
    weights = np.stack([np.bincount(rng.integers(0, units, units), minlength=units) for _ in range(boot)])
    coincidences = np.einsum("bu,uck->bck", weights, per_unit)
    totals = coincidences.sum(axis=2)  # n_c per draw
    n = totals.sum(axis=1)
    delta = _delta(values, totals, level)
    observed = (coincidences * delta).sum(axis=(1, 2))
    expected = (totals[:, :, None] * totals[:, None, :] * delta).sum(axis=(1, 2)) / np.maximum(n - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected > 0, 1 - observed / expected, np.nan)


def _delta(values: np.ndarray, totals: np.ndarray, level: str) -> np.ndarray:
    """Squared distance between values (draws × values × values), as Krippendorff (2011) defines it."""
    c, k = values[:, None], values[None, :]
    if level == "nominal":
        return np.broadcast_to(1.0 - np.eye(len(values)), (len(totals), len(values), len(values)))
    if level == "interval":
        return np.broadcast_to((c - k) ** 2, (len(totals), len(values), len(values)))
    if level == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.nan_to_num(((c - k) / (c + k)) ** 2)
        return np.broadcast_to(ratio, (len(totals), len(values), len(values)))
    # ordinal: the frequencies of the values between the two, each end counted half
    cumulative = np.cumsum(totals, axis=1)
    low, high = np.minimum.outer(range(len(values)), range(len(values))), \
        np.maximum.outer(range(len(values)), range(len(values)))
    between = cumulative[:, high] - cumulative[:, low] + totals[:, low]
    return (between - (totals[:, low] + totals[:, high]) / 2) ** 2


# --- internals -------------------------------------------------------------------------------------

def _counts(values: list) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _usable(ratings: Ratings) -> bool:
    rated = [[v for v in unit if v is not None] for unit in ratings]
    values = {v for unit in rated for v in unit}
    return sum(len(unit) >= 2 for unit in rated) >= 2 and len(values) >= 2


def _matrix(ratings: Ratings, level: str) -> tuple[np.ndarray | None, list | None]:
    """Coders × units floats (nan = missing) for ``krippendorff``, and the category domain."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    if not _usable(ratings):
        return None, None
    coders = max(len(unit) for unit in ratings)
    values = sorted({v for unit in ratings for v in unit if v is not None}, key=str)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if level != "nominal" and not numeric:
        raise ValueError(f"{level} alpha needs numeric ratings; categories that are words are nominal")
    code = {value: (float(value) if numeric else float(index)) for index, value in enumerate(values)}
    data = np.full((coders, len(ratings)), np.nan)
    for column, unit in enumerate(ratings):
        for row, value in enumerate(unit):
            if value is not None:
                data[row, column] = code[value]
    return data, sorted(code.values())


def _irr(ratings: Ratings, method: str) -> float:
    import pandas as pd
    from irrCAC.raw import CAC

    if not _usable(ratings):
        return math.nan
    coders = max(len(unit) for unit in ratings)
    table = pd.DataFrame([[None if v is None else str(v) for v in list(unit) + [None] * (coders - len(unit))]
                          for unit in ratings], columns=[f"coder{i}" for i in range(coders)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = getattr(CAC(table), method)()
    return float(result["est"]["coefficient_value"])
