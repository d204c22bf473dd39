#!/usr/bin/env python
"""Write the fictional demo survey and yearbook data: ``survey/enterprise_survey.csv`` and
``indicators/yearbook.csv``.

    python corpora/build_survey.py            # write both files
    python corpora/build_survey.py --check    # exit 1 when a committed file differs

Every number is invented.  Answers come from latent traits, so that the two scales hang together
(Cronbach's alpha about 0.75–0.8) and groups differ as the demo interviews suggest: state-owned and
large enterprises know the incentives better, small ones carry more of the paperwork burden, and
incentives are felt as limited on the whole (scale mean just under the midpoint).  About 3 % of
answers are left blank; enterprises without cooperation skip the question on its forms.  A fixed seed
(numpy ``default_rng``) makes the files the same on every run.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SURVEY = HERE / "survey" / "enterprise_survey.csv"
YEARBOOK = HERE / "indicators" / "yearbook.csv"
SEED = 20250601
RESPONDENTS = 175
MISSING = 0.03

REGIONS = ("浙江省", "江苏省", "广东省", "湖北省", "重庆市", "陕西省")
REGION_SHARES = (0.22, 0.22, 0.18, 0.14, 0.12, 0.12)
INDUSTRIES = ("装备制造", "电子信息", "汽车及零部件", "化工新材料", "现代服务业", "建筑业")
INDUSTRY_SHARES = (0.28, 0.22, 0.16, 0.10, 0.14, 0.10)
OWNERSHIP_SHARES = (0.20, 0.65, 0.15)  # 1 国有, 2 民营, 3 外资
SIZE_SHARES = {1: (0.50, 0.35, 0.15), 2: (0.12, 0.35, 0.53), 3: (0.35, 0.45, 0.20)}  # 1 大型, 2 中型, 3 小微
# chance of each cooperation form for a cooperating enterprise, by size; deep forms are for the large ones
FORMS = {"order": (0.50, 0.35, 0.20), "apprentice": (0.45, 0.25, 0.10), "base": (0.55, 0.30, 0.12),
         "college": (0.30, 0.10, 0.03), "internship": (0.90, 0.80, 0.70), "teachers": (0.55, 0.30, 0.12)}
INTERNS = (40, 15, 5)  # mean interns a year for a cooperating enterprise, by size
TEACHERS = (6, 3, 1.5)  # mean staff teaching part-time where the enterprise sends any
# cut points of a standard-normal response into answers 1..5, shifted per item (higher shift: lower answers)
CUTS = np.array([-1.1, -0.3, 0.5, 1.3])
ITEMS = ("q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10", "q11", "q12")

# regions: (graduates 2019, their yearly growth, GDP 2019 in 亿元, its yearly growth, certified enterprises 2019)
PROVINCES = {
    "浙江省": (318_000, 0.012, 62_400, 0.070, 24),
    "江苏省": (402_000, -0.004, 98_700, 0.065, 31),
    "广东省": (455_000, 0.018, 107_800, 0.060, 28),
    "湖北省": (296_000, 0.070, 45_400, 0.055, 12),
    "重庆市": (214_000, 0.075, 23_600, 0.062, 8),
    "陕西省": (251_000, -0.010, 25_800, 0.068, 9),
}
YEARS = range(2019, 2024)


def likert(rng: np.random.Generator, trait: np.ndarray, loading: float, shift: float) -> np.ndarray:
    """Answers 1..5 of an item loading on ``trait`` (standardised) with the given weight."""
    latent = loading * trait + np.sqrt(1 - loading ** 2) * rng.standard_normal(trait.size)
    return 1 + np.searchsorted(CUTS + shift, latent)


def standardised(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


def survey_rows(rng: np.random.Generator) -> list[dict]:
    n = RESPONDENTS
    ownership = rng.choice([1, 2, 3], size=n, p=OWNERSHIP_SHARES)
    size = np.array([rng.choice([1, 2, 3], p=SIZE_SHARES[o]) for o in ownership])
    region = rng.choice(REGIONS, size=n, p=REGION_SHARES)
    industry = rng.choice(INDUSTRIES, size=n, p=INDUSTRY_SHARES)
    state, large, small = ownership == 1, size == 1, size == 3
    coastal = np.isin(region, REGIONS[:3])
    incentive = standardised(0.6 * state + 0.5 * large - 0.4 * small + 0.25 * coastal + rng.standard_normal(n))
    burden = standardised(0.5 * small - 0.3 * state - 0.2 * incentive + rng.standard_normal(n))
    cooperates = rng.random(n) < 1 / (1 + np.exp(-(0.6 + 1.4 * large - 0.7 * small + 0.5 * incentive)))
    answers = {
        "q3": likert(rng, incentive, 0.72, -0.05),   # 了解激励政策
        "q4": likert(rng, incentive, 0.70, 0.30),    # 享受过激励
        "q5": likert(rng, incentive, 0.68, 0.20),    # 激励足以弥补成本
        "q6": likert(rng, -incentive, 0.62, -0.15),  # 激励没有吸引力 (reversed)
        "q7": likert(rng, burden, 0.80, -0.90),      # 申报材料负担重
        "q8": likert(rng, burden, 0.78, -0.75),      # 程序和部门职责不清楚
        "q9": likert(rng, burden, 0.76, -0.70),      # 政策信息难以获取
        "q12": likert(rng, standardised(cooperates + rng.standard_normal(n)), 0.5, -0.9),  # 合作有助于招聘
    }
    rows = []
    for i in range(n):
        band = size[i] - 1
        forms = [key for key, chances in FORMS.items() if rng.random() < chances[band]] or ["internship"]
        interns = int(rng.poisson(INTERNS[band] * rng.lognormal(0, 0.5))) if cooperates[i] else 0
        teachers = 1 + int(rng.poisson(TEACHERS[band])) if cooperates[i] and "teachers" in forms else 0
        row = {"respondent_id": f"E{i + 1:03d}", "ownership": ownership[i], "size": size[i], "region": region[i],
               "industry": industry[i], "q1": int(cooperates[i]), "q2": ";".join(forms) if cooperates[i] else "",
               **{item: int(values[i]) for item, values in answers.items()}, "q10": interns, "q11": teachers}
        row = {key: row[key] for key in (*list(row)[:5], *ITEMS)}
        for item in ITEMS:
            if rng.random() < MISSING:
                row[item] = ""
        if row["q1"] == "":
            row["q2"] = ""  # who skipped the filter question was not asked about the forms
        rows.append(row)
    return rows


def yearbook_rows(rng: np.random.Generator) -> list[dict]:
    rows = []
    for region, (graduates, graduate_growth, gdp, gdp_growth, certified) in PROVINCES.items():
        for step, year in enumerate(YEARS):
            dip = 0.055 if year >= 2020 else 0  # the 2020 slump, felt everywhere
            rows.append({
                "region": region, "year": year,
                "vocational_graduates": int(graduates * (1 + graduate_growth) ** step * rng.normal(1, 0.01)),
                "gdp": round(gdp * (1 + gdp_growth) ** step * (1 - dip) * rng.normal(1, 0.005), 1),
                "certified_enterprises": int(certified * (1 + 0.85 * step) + rng.integers(0, 6)),
            })
    return rows


def as_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk; write nothing")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)
    files = {SURVEY: as_csv(survey_rows(rng)), YEARBOOK: as_csv(yearbook_rows(rng))}
    differing = [path for path, text in files.items()
                 if not path.is_file() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in differing:
            print(f"differs: {path.relative_to(HERE)}")
        return 1 if differing else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        print(f"wrote {path.relative_to(HERE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
