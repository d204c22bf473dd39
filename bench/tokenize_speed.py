"""Benchmark: tokenization speed, policoder's stage against raw ``jieba.lcut``, in one run.

    python bench/tokenize_speed.py [--mb 3] [--repeat 3] [--out bench/results/tokenize_speed.json]

The corpus is the demo corpus (both languages, read with ``pipeline.ingest.read_source``) repeated to
``--mb`` million characters; each copy of a file is a document whose units are its non-blank lines.
Every figure runs the same per-document process pool as ``Project.tokenize`` (one task per
document, results sent back to the parent) with 1 and 2 workers, on the same units:

  - ``jieba.lcut`` on each unit: the raw Python segmenter, no offsets, no domain dictionary;
  - ``rjieba`` ``cut`` on each unit: the raw Rust segmenter, for scale;
  - the policoder stage (domain dictionary and place names, offsets, stop-word and punctuation flags,
    language per unit, jieba-rs cut like jieba), returning
      ``tokenize_texts`` → lists per token (what ``Project.tokenize``'s worker does today),
      ``tokenize_rows`` tuples, or
      ``tokenize_rows`` → one JSON string per unit, encoded in the worker (the stored form);
  - the last one again with the engine jieba.

"warm" figures start the clock once every worker has built its tokenizer (a long batch); "cold"
figures include starting the processes and building the tokenizers.  Each warm figure is the best
of ``--repeat`` runs, the one least disturbed by other load on the machine.  The stage's output is
checked afterwards: offsets point into the text, and no token boundary falls inside a domain term.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import jieba
import rjieba

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.tokens import TokenizerSettings, tokenize_rows, tokenize_texts, tokenizer_hash  # noqa: E402

jieba.setLogLevel(logging.WARNING)  # workers inherit it: no dictionary-loading chatter in the table

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"
TERMS = ("产教融合", "校企合作", "市域产教联合体", "产教融合型企业", "现代学徒制", "专项资金", "宁阳县", "慈溪市")


def make_corpus(million_chars: float) -> list[list[str]]:
    """Documents (lists of units) from the demo corpus, repeated to about ``million_chars`` M characters."""
    from pipeline.ingest import discover, read_source

    files, _ = discover([DEMO])
    demo = [[line for line in read_source(path).text.split("\n") if line.strip()] for path in files]
    size = sum(len(unit) for document in demo for unit in document)
    return demo * max(1, round(million_chars * 1e6 / size))


# --- what each worker runs on one document: (settings, units) → what goes back to the parent ---

def jieba_lcut(task):
    import jieba

    return [jieba.lcut(unit) for unit in task[1]]


def rjieba_cut(task):
    import rjieba

    return [rjieba.cut(unit) for unit in task[1]]


def stage_token_lists(task):
    settings, units = task
    return [[[t.start, t.end, t.norm, int(t.is_stop), int(t.is_punct)] for t in unit]
            for unit in tokenize_texts(settings, units)]


def stage_rows(task):
    settings, units = task
    return tokenize_rows(settings, units)


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def stage_json(task):
    settings, units = task
    return [_encode(rows) for rows in tokenize_rows(settings, units)]


def _warm(settings: TokenizerSettings) -> None:
    """Worker initializer: load what a worker keeps for the whole batch before the clock starts."""
    jieba.initialize()
    rjieba.cut("作为")
    # an English unit loads spaCy, as in a real corpus
    tokenize_rows(settings, ["产教融合", "Industry-education integration", "2023-2025年"])


def _pid_after_a_pause(_) -> int:
    time.sleep(0.2)  # long enough that one worker cannot take every probe
    return os.getpid()


def run_pool(function, documents, settings, workers: int, chunksize: int, warm: bool):
    tasks = [(settings, units) for units in documents]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_warm if warm else None, initargs=(settings,) if warm else ()) as pool:
        if warm:
            while len(set(pool.map(_pid_after_a_pause, range(workers)))) < workers:
                pass  # a worker answers only once its initializer is done: wait until all have
            started = time.perf_counter()
        results = list(pool.map(function, tasks, chunksize=chunksize))
        return results, time.perf_counter() - started


def check(documents, results) -> dict:
    """Offsets point into the text; no token boundary falls inside an occurrence of a domain term."""
    bad_offsets = split = present = 0
    for units, encoded in zip(documents, results):
        for unit, rows in zip(units, map(json.loads, encoded)):
            # norms are the text itself in Chinese units, lower-cased in English ones
            bad_offsets += sum(norm not in (unit[start:end], unit[start:end].lower()) for start, end, norm, _, _ in rows)
            boundaries = {offset for start, end, *_ in rows for offset in (start, end)}
            for term in TERMS:
                at = unit.find(term)
                while at >= 0:
                    present += 1
                    split += any(at < offset < at + len(term) for offset in boundaries)
                    at = unit.find(term, at + 1)
    return {"rows_with_wrong_offsets": bad_offsets, "terms_present": present, "terms_split": split}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=3.0, help="corpus size in million characters")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each warm figure is the best round")
    parser.add_argument("--chunksize", type=int, default=1, help="documents per task (Project.tokenize: 1)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/tokenize_speed.json"))
    args = parser.parse_args()
    documents = make_corpus(args.mb)
    chars = sum(len(unit) for document in documents for unit in document)
    fast, reference = TokenizerSettings(engine="rjieba"), TokenizerSettings(engine="jieba")
    plan = [("jieba.lcut (raw)", jieba_lcut, fast), ("rjieba cut (raw)", rjieba_cut, fast),
            ("policoder tokenize_texts -> lists", stage_token_lists, fast),
            ("policoder tokenize_rows", stage_rows, fast),
            ("policoder tokenize_rows -> JSON", stage_json, fast),
            ("policoder tokenize_rows -> JSON", stage_json, reference)]
    cases = [(name, function, settings, workers) for name, function, settings in plan for workers in (1, 2)]
    warm = dict.fromkeys(range(len(cases)), float("inf"))
    for _ in range(args.repeat):  # rounds, so that a noisy minute on the machine hurts every figure alike
        for index, (_, function, settings, workers) in enumerate(cases):
            seconds = run_pool(function, documents, settings, workers, args.chunksize, warm=True)[1]
            warm[index] = min(warm[index], seconds)
    runs, verified = [], None
    for index, (name, function, settings, workers) in enumerate(cases):
        results, cold = run_pool(function, documents, settings, workers, args.chunksize, warm=False)
        if function is stage_json and settings is fast and workers == 2:
            verified = check(documents, results)
        runs.append({"figure": name, "engine": settings.engine if name.startswith("policoder") else "-",
                     "workers": workers, "warm_seconds": round(warm[index], 3),
                     "warm_mchars_per_s": round(chars / warm[index] / 1e6, 3), "cold_seconds": round(cold, 3),
                     "cold_mchars_per_s": round(chars / cold / 1e6, 3)})
    baseline = next(r["warm_mchars_per_s"] for r in runs if r["figure"] == "jieba.lcut (raw)" and r["workers"] == 1)
    print(f"{chars / 1e6:.2f} M characters in {len(documents)} documents, "
          f"{sum(map(len, documents))} units; Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; {args.chunksize} document(s) per task")
    print(f"{'figure':36} {'engine':>7} {'workers':>7} {'M chars/s':>10} {'vs jieba.lcut':>14} {'cold':>6}")
    for run in runs:
        print(f"{run['figure']:36} {run['engine']:>7} {run['workers']:>7} {run['warm_mchars_per_s']:>10.2f} "
              f"{run['warm_mchars_per_s'] / baseline:>13.1f}x {run['cold_mchars_per_s']:>6.2f}")
    print(f"check of the stage's output (rjieba, 2 workers): {verified}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "characters": chars, "documents": len(documents), "units": sum(map(len, documents)),
        "chunksize": args.chunksize,
        "python": platform.python_version(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "tokenizer_hash": tokenizer_hash(fast), "check": verified, "runs": runs,
    }, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
