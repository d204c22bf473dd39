"""Benchmark: a topic-model K sweep with c_v coherence, policoder's way against gensim's defaults, in one run.

    python bench/topics_speed.py [--documents 2000] [--k 5..15] [--out bench/results/topics_speed.json]

The corpus is generated: ``--documents`` texts of 120 terms drawn from 12 planted word groups (each
text mixes two groups) over a 3,000-word vocabulary, so every K has real structure to find.  Timed on
the same corpus in the same process:

  - baseline: each K fitted in turn with gensim's default ``chunksize=2000``, c_v computed serially;
  - policoder: ``pipeline.topics.sweep`` — ``chunksize=250``, the K values fitted in parallel
    processes (``--workers``), c_v, c_npmi and u_mass per model.

Both use the same passes, iterations and seed; the script prints seconds and the chosen K of each.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import topics  # noqa: E402


def make_texts(documents: int, seed: int = 1) -> list[list[str]]:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(3000)]
    groups = [vocabulary[i * 40:(i + 1) * 40] for i in range(12)]
    texts = []
    for _ in range(documents):
        first, second = rng.sample(range(12), 2)
        texts.append([rng.choice(groups[first if rng.random() < 0.7 else second]) for _ in range(100)]
                     + [rng.choice(vocabulary) for _ in range(20)])
    return texts


def baseline(corpus: topics.Corpus, ks: list[int], seed: int) -> list[dict]:
    rows = []
    for k in ks:
        model = topics.fit(corpus, topics.ModelSettings(k=k, seed=seed, chunksize=2000))
        rows.append({"k": k, "c_v": topics.coherence(model.get_topics(), corpus, "c_v")})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--k", default="5..15")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("bench/results/topics_speed.json"))
    args = parser.parse_args()
    first, last = map(int, args.k.split(".."))
    ks = list(range(first, last + 1))
    corpus = topics.build_corpus(make_texts(args.documents))
    started = time.perf_counter()
    base_rows = baseline(corpus, ks, seed=7)
    base_seconds = time.perf_counter() - started
    started = time.perf_counter()
    ours = topics.sweep(corpus, ks, seed=7, workers=args.workers)
    our_seconds = time.perf_counter() - started
    result = {
        "documents": args.documents, "terms": len(corpus.dictionary), "ks": ks, "workers": args.workers,
        "python": platform.python_version(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "baseline_seconds": round(base_seconds, 1), "baseline_chosen_k": topics.choose_k(base_rows)[0],
        "policoder_seconds": round(our_seconds, 1), "policoder_chosen_k": topics.choose_k(ours)[0],
        "policoder_rows": ours,
    }
    print(f"{args.documents} documents, {len(corpus.dictionary)} terms, K = {first}..{last}, {args.workers} workers, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"baseline (chunksize 2000, serial, c_v):           {base_seconds:7.1f} s, chosen K {result['baseline_chosen_k']}")
    print(f"policoder sweep (chunksize 250, parallel, c_v+c_npmi+u_mass): {our_seconds:7.1f} s, chosen K "
          f"{result['policoder_chosen_k']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
