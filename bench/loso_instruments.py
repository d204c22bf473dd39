"""Evaluation: the trained model's recipe on each written set left out in turn.

    python bench/loso_instruments.py [--written 20] [--left-out 9..20] [--out bench/results/loso_instruments.json]

For each left-out set: a model is trained by the recipe of ``pipeline/instrument_model.py`` on the
demo labels and the labels of every other written set up to ``--written`` (``corpora/gold/``; the
sets after it are the held-out ones and are never read), and scored on the left-out set; then the
left-out sets are pooled.  This is how a recipe is chosen without the
held-out sets: the sets left out are those scored once as held out whose errors nobody has read
(``corpora/gold/README.md``), never the sets held out now.  Scores as in ``eval_instruments.py``.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_instruments import FLAGS, REPO, labelled_project, truth  # noqa: E402

from pipeline.instrument_model import _fit, evaluate, examples  # noqa: E402
from pipeline.instruments import rule_classifier  # noqa: E402
from pipeline.topics import k_range  # noqa: E402  (the same "a..b" ranges as the topic sweep)


def labelled_units(folder: Path, name: str) -> list[tuple[object, object, dict]]:
    """Every gold unit of a set: its model input, its rule prediction and its label."""
    project = labelled_project(folder / name, REPO / "corpora" / name)
    units = {(u["document"].removeprefix("corpus/"), u["unit_path"]): u for u in project.instrument_units()}
    with (REPO / "corpora" / "gold" / f"{name}_instruments.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    chosen = [units[row["document"], row["unit"]] for row in rows]
    settings = project.tokenizer_settings()
    built, ruled = examples(rule_classifier(project.scheme(), settings), [u["text"] for u in chosen],
                            [u["lead_in"] for u in chosen], settings, headings=[u["heading_path"] for u in chosen])
    project.close()
    return [(example, rule, truth(row)) for example, rule, row in zip(built, ruled, rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--written", type=int, default=20, help="the written sets 1 to N are read; later ones are held out")
    parser.add_argument("--left-out", default="9..20", help="the written sets left out in turn, e.g. 9..20")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "loso_instruments.json")
    args = parser.parse_args()
    names = ["demo", *(f"heldout{n if n > 1 else ''}" for n in range(1, args.written + 1))]
    left_out = [f"heldout{n}" for n in k_range(args.left_out)]
    if not set(left_out) <= set(names):
        parser.error(f"--left-out {args.left_out}: only the written sets 2 to --written ({args.written}) can be left out")
    with tempfile.TemporaryDirectory() as temporary:
        units = {name: labelled_units(Path(temporary), name) for name in names}
    results, pooled_gold, pooled_predicted = {}, [], []
    for name in left_out:
        began = time.perf_counter()
        training = [unit for other in names if other != name for unit in units[other]]
        model = _fit([u[0] for u in training], [u[2] for u in training], FLAGS, args.seed)
        predicted = [{"labels": p.labels, "primary": p.primary}
                     for p in model.predict([u[0] for u in units[name]], [u[1] for u in units[name]])]
        gold = [u[2] for u in units[name]]
        results[name] = evaluate(gold, predicted, FLAGS) | {"training_units": len(training),
                                                             "seconds": round(time.perf_counter() - began, 1)}
        pooled_gold += gold
        pooled_predicted += predicted
        print(f"{name:10} {len(gold):>5} trained on {len(training):>5}  macro-F1 {results[name]['macro_f1_flags']:.3f}"
              f"  primary {results[name]['primary_accuracy']:.3f}", flush=True)
    results["pooled"] = evaluate(pooled_gold, pooled_predicted, FLAGS)
    pooled = results["pooled"]
    print(f"{'pooled':10} {pooled['n']:>5}  macro-F1 {pooled['macro_f1_flags']:.3f}  primary "
          f"{pooled['primary_accuracy']:.3f}  (incentive F1 {pooled['flags']['incentive']['f1']:.3f}, "
          f"constraint F1 {pooled['flags']['constraint']['f1']:.3f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"left_out": left_out, "trained_on": names, "seed": args.seed, **results},
                                   ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
