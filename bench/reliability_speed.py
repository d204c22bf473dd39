"""Benchmark: reliability statistics on 50 coders × 5,000 units, policoder's functions and a baseline, in one run.

    python bench/reliability_speed.py [--coders 50] [--units 5000] [--out bench/results/reliability_speed.json]

Ratings are random categories a–e with 10 % missing.  Each of ``pipeline.reliability``'s statistics is
timed (best of three), and beside it, as the baseline, irrCAC's own Krippendorff's alpha (pandas-based),
the other implementation the tests compare against.  Then alpha's bootstrap interval: policoder's
vectorised draws (``--boot`` of them) beside the plain way, one ``krippendorff.alpha`` call per draw on
the same resamples (timed on ``--baseline-draws`` draws and reported per draw).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import reliability  # noqa: E402


def best_of(function, *args, runs: int = 3) -> tuple[float, float]:
    best, value = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        value = function(*args)
        best = min(best, time.perf_counter() - started)
    return best, value


def irrcac_alpha(ratings) -> float:
    import numpy as np
    import pandas as pd
    from irrCAC.raw import CAC

    table = pd.DataFrame([[np.nan if v is None else v for v in unit] for unit in ratings])
    return CAC(table).krippendorff()["est"]["coefficient_value"]


def package_draws(data, domain, draws: int) -> list[float]:
    """The baseline bootstrap: the krippendorff package on each resample (the same resamples as ours)."""
    import krippendorff
    import numpy as np

    rng = np.random.default_rng(0)
    return [krippendorff.alpha(reliability_data=data[:, rng.integers(0, data.shape[1], data.shape[1])],
                               level_of_measurement="nominal", value_domain=domain) for _ in range(draws)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coders", type=int, default=50)
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--baseline-draws", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("bench/results/reliability_speed.json"))
    args = parser.parse_args()
    rng = random.Random(0)
    ratings = [[rng.choice("abcde") if rng.random() > 0.1 else None for _ in range(args.coders)]
               for _ in range(args.units)]
    results = {}
    for name in ("percent_agreement", "krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "brennan_prediger"):
        seconds, value = best_of(getattr(reliability, name), ratings)
        results[name] = {"seconds": round(seconds, 3), "value": round(value, 5)}
    seconds, value = best_of(irrcac_alpha, ratings)
    results["baseline: irrCAC krippendorff"] = {"seconds": round(seconds, 3), "value": round(value, 5)}
    total = sum(row["seconds"] for name, row in results.items() if not name.startswith("baseline"))
    data, domain = reliability._matrix(ratings, "nominal")
    seconds, draws = best_of(lambda: reliability.bootstrap_alphas(data, domain, "nominal", boot=args.boot, seed=0),
                             runs=1)
    results[f"alpha bootstrap, {args.boot} draws"] = {"seconds": round(seconds, 3),
                                                      "value": round(float(draws.mean()), 5)}
    seconds, loop = best_of(lambda: package_draws(data, domain, args.baseline_draws), runs=1)
    results[f"baseline: krippendorff.alpha per draw, {args.baseline_draws} draws"] = {
        "seconds": round(seconds, 3), "value": round(float(sum(loop) / len(loop)), 5),
        "seconds_per_draw": round(seconds / args.baseline_draws, 4)}
    same = reliability.bootstrap_alphas(data, domain, "nominal", boot=args.baseline_draws, seed=0)
    results["draws identical to the package's"] = {"seconds": 0.0, "value": float(max(abs(same - loop)))}
    print(f"{args.coders} coders × {args.units} units, load average {os.getloadavg()[0]:.2f}")
    for name, row in results.items():
        print(f"{name:58} {row['seconds']:7.3f} s   {row['value']}")
    print(f"all five of pipeline.reliability: {total:.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"coders": args.coders, "units": args.units, "results": results,
                                    "total_seconds": round(total, 3)}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
