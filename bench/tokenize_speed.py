"""Benchmark: the tokenization stage against raw ``jieba.lcut`` on the same units, in one run.

    python bench/tokenize_speed.py [--mb 3] [--repeat 3] [--out bench/results/tokenize_speed.json]

A throw-away project is made from the demo corpus (every file's clean text, read with
``pipeline.ingest.read_source``, saved as TXT and repeated to ``--mb`` million characters, each copy
marked so that no two files are the same) and ingested.  Then, on the same units, with 1 and 2 workers:

  - ``jieba.lcut`` on each unit: the raw Python segmenter, no offsets, no domain dictionary;
  - ``rjieba`` ``cut`` on each unit: the raw Rust segmenter, for scale;
  - the stage, ``Project.tokenize``, with the engine rjieba and with the engine jieba: units read
    from the database, language per unit, segmented with the domain dictionary and place names,
    offsets, stop-word and punctuation flags, tokens encoded and written to the database.

The raw segmenters run in a process pool, one task per document, with each worker's dictionary
loaded before the clock starts ("warm") and, separately, with starting the pool and loading
included ("cold").  The stage is timed as a user runs it: in a fresh process (pool start, every
worker building its tokenizer, reading and writing the database included: "cold"), and run again in
that process ("warm"), stored tokens deleted before each run.  Each figure is the best of ``--repeat`` rounds.  The stored tokens are
checked afterwards: offsets point into the document text, no token boundary falls inside a
domain term.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import groupby
from pathlib import Path

import jieba
import rjieba

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import db as store  # noqa: E402
from pipeline.project import init_project, open_project  # noqa: E402
from pipeline.tokens import rows_from_storage, tokenizer_hash  # noqa: E402

jieba.setLogLevel(logging.WARNING)  # workers inherit it: no dictionary-loading chatter in the table

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"
TERMS = ("产教融合", "校企合作", "市域产教联合体", "产教融合型企业", "现代学徒制", "专项资金", "宁阳县", "慈溪市")


def make_project(root: Path, million_chars: float) -> int:
    """A project whose corpus is the demo corpus repeated to about ``million_chars``; returns characters."""
    from pipeline.ingest import discover, read_source

    files, _ = discover([DEMO])
    texts = {path: read_source(path).text for path in files}
    copies = max(1, round(million_chars * 1e6 / sum(map(len, texts.values()))))
    init_project(root)
    corpus = root / "corpus"
    for copy in range(copies):
        for path, text in texts.items():
            # the mark keeps every copy a distinct document (identical files are flagged as duplicates)
            (corpus / f"{path.stem}-{copy:04}.txt").write_text(f"{text}\n（副本{copy}）\n", encoding="utf-8")
    report = open_project(root).ingest(workers=2)
    assert not report.skipped, report.skipped
    return copies


def units_by_document(root: Path) -> list[list[str]]:
    units = store.units_without_tokens(open_project(root).db, "none")
    return [[u["text"] for u in group] for _, group in groupby(units, key=lambda u: u["doc_id"])]


# --- raw segmenters: what each worker runs on one document's units -----------------------------

def jieba_lcut(units: list[str]):
    return [jieba.lcut(unit) for unit in units]


def rjieba_cut(units: list[str]):
    return [rjieba.cut(unit) for unit in units]


def _load_dictionaries() -> None:
    jieba.initialize()
    rjieba.cut("作为")


def _pid_after_a_pause(_) -> int:
    time.sleep(0.2)  # long enough that one worker cannot take every probe
    return os.getpid()


def run_raw(function, documents: list[list[str]], workers: int, warm: bool) -> float:
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_load_dictionaries if warm else None) as pool:
        if warm:
            while len(set(pool.map(_pid_after_a_pause, range(workers)))) < workers:
                pass  # a worker answers only once its initializer is done: wait until all have
            started = time.perf_counter()
        for _ in pool.map(function, documents, chunksize=8):
            pass
        return time.perf_counter() - started


# --- the stage -----------------------------------------------------------------------------------

def set_engine(root: Path, engine: str) -> None:
    config = root / "policoder.toml"
    text = re.sub(r'(?m)^engine = "\w+"', f'engine = "{engine}"', config.read_text(encoding="utf-8"))
    config.write_text(text, encoding="utf-8")


_STAGE = """
import json, sys, time
from pipeline.project import open_project
project = open_project(sys.argv[1])
timings = []
for _ in range(int(sys.argv[3])):
    with project.db.atomic():
        project.db.execute("DELETE FROM unit_tokens")
    started = time.perf_counter()
    report = project.tokenize(workers=int(sys.argv[2]))
    timings.append((time.perf_counter() - started, report.characters))
print(json.dumps(timings))
"""


def run_stage(root: Path, workers: int, runs: int) -> list[tuple[float, int]]:
    """``Project.tokenize`` ``runs`` times in a fresh Python process, as a user's command or notebook runs
    it: the first run builds every tokenizer it uses ("cold"); a later one finds the process's own
    tokenizer built ("warm"), though a worker pool, new for every run, builds its tokenizers again."""
    done = subprocess.run([sys.executable, "-c", _STAGE, str(root), str(workers), str(runs)], check=True,
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    return [tuple(timing) for timing in json.loads(done.stdout)]


def check(root: Path) -> dict:
    """Stored offsets point into the document text; no token boundary falls inside a domain term."""
    project = open_project(root)
    document = {row["id"]: row["text"] for row in project.rows("documents", with_text=True)}
    bad_offsets = split = present = tokens = 0
    for unit in store.tokenized_units(project.db, tokenizer_hash(project.tokenizer_settings())):
        text, base = unit["text"], unit["start"]
        boundaries = set()
        for start, end, norm, _, _ in rows_from_storage(unit["tokens"], text):
            tokens += 1
            # offsets into the document: norms are its text, lower-cased in English units
            surface = document[unit["doc_id"]][base + start:base + end]
            bad_offsets += norm not in (surface, surface.lower())
            boundaries.update((start, end))
        for term in TERMS:
            at = text.find(term)
            while at >= 0:
                present += 1
                split += any(at < offset < at + len(term) for offset in boundaries)
                at = text.find(term, at + 1)
    return {"tokens": tokens, "tokens_with_wrong_offsets": bad_offsets, "terms_present": present, "terms_split": split}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=3.0, help="corpus size in million characters")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each figure is the best round")
    parser.add_argument("--out", type=Path, default=Path("bench/results/tokenize_speed.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        started = time.perf_counter()
        copies = make_project(root, args.mb)
        ingest_seconds = time.perf_counter() - started
        documents = units_by_document(root)
        chars = sum(len(unit) for units in documents for unit in units)
        cases = [(name, workers) for name in ("jieba.lcut", "rjieba cut", "stage rjieba", "stage jieba")
                 for workers in (1, 2)]
        best: dict[tuple[str, int, str], float] = {}

        def keep(key, seconds):
            best[key] = min(best.get(key, float("inf")), seconds)

        for _ in range(args.repeat):  # rounds, so that a noisy minute on the machine hurts every figure alike
            for name, workers in cases:
                if name.startswith("stage"):
                    set_engine(root, name.split()[1])
                    # the engine jieba is slow enough that its warm figure would only lengthen the run
                    timings = run_stage(root, workers, runs=2 if name == "stage rjieba" else 1)
                    assert all(stage_chars == chars for _, stage_chars in timings), (timings, chars)
                    for timing, (seconds, _) in zip(("cold", "warm"), timings):
                        keep((name, workers, timing), seconds)
                else:
                    function = jieba_lcut if name == "jieba.lcut" else rjieba_cut
                    keep((name, workers, "warm"), run_raw(function, documents, workers, warm=True))
                    keep((name, workers, "cold"), run_raw(function, documents, workers, warm=False))
        set_engine(root, "rjieba")
        run_stage(root, 2, runs=1)
        verified = check(root)

    baseline = chars / best[("jieba.lcut", 1, "warm")] / 1e6
    runs = [{"figure": name, "workers": workers, "timing": timing, "seconds": round(seconds, 3),
             "mchars_per_s": round(chars / seconds / 1e6, 3),
             "vs_jieba_lcut_1_worker_warm": round(chars / seconds / 1e6 / baseline, 2)}
            for (name, workers, timing), seconds in best.items()]
    print(f"{chars / 1e6:.2f} M characters in {len(documents)} documents ({copies} copies of the demo corpus), "
          f"{sum(map(len, documents))} units; ingested in {ingest_seconds:.0f} s; Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; best of {args.repeat}")
    print(f"{'figure':14} {'workers':>7} {'timing':>6} {'seconds':>8} {'M chars/s':>10} {'vs jieba.lcut':>14}")
    for run in runs:
        print(f"{run['figure']:14} {run['workers']:>7} {run['timing']:>6} {run['seconds']:>8.2f} "
              f"{run['mchars_per_s']:>10.2f} {run['vs_jieba_lcut_1_worker_warm']:>13.1f}x")
    print(f"check of the stored tokens (stage rjieba, 2 workers): {verified}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "characters": chars, "documents": len(documents), "units": sum(map(len, documents)),
        "python": platform.python_version(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "repeat": args.repeat, "check": verified, "runs": runs,
    }, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
