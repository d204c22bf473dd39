"""The instrument gold sets that come with policoder's source: labelled clauses to train a model on.

``corpora/gold/<set>_instruments.csv`` labels every clause of ``corpora/<set>/`` (the demo corpus and
the written sets; how they were made: ``corpora/gold/README.md``) by ``codebooks/instruments/GUIDE.md``
under the ``default`` scheme.  ``gold_project`` ingests chosen sets into a throw-away project and
imports their labels as coder ``gold``; a scholar without labels of their own trains on them with
``policoder instruments train --shipped-gold``.  The sets ship with a source checkout, not with a
wheel: they are looked for beside the package (an editable install) and in the working directory (a
checkout installed with ``pip install .``, as the README does, and run from there).
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

from .errors import ProjectError

GOLD_CODER = "gold"


def corpora() -> Path:
    """The checkout's ``corpora/`` folder: beside the package, else in the working directory."""
    beside = Path(__file__).resolve().parent.parent / "corpora"
    return beside if (beside / "gold").is_dir() else Path.cwd() / "corpora"


def gold_sets() -> tuple[str, ...]:
    """The sets that have both their documents and their labels here, demo first."""
    folder = corpora()
    names = [path.name.removesuffix("_instruments.csv") for path in (folder / "gold").glob("*_instruments.csv")
             if (folder / path.name.removesuffix("_instruments.csv")).is_dir()]
    return tuple(sorted(names, key=lambda name: (name != "demo", len(name), name)))


def gold_project(folder: Path, names: tuple[str, ...] | None = None):
    """A project in ``folder`` holding the sets ``names`` (default: all), each under ``corpus/<set>/``,
    with their labels imported as coder ``gold``."""
    from .project import init_project, open_project

    available, source = gold_sets(), corpora()
    names = available if names is None else names
    missing = [name for name in names if name not in available]
    if not available or missing:
        raise ProjectError(f"shipped gold sets not found ({', '.join(missing) or 'none'} under {source}); they "
                           "come with a source checkout of policoder: run from it, or install it with pip install -e",
                           code="shipped-gold-missing")
    root = init_project(folder / "shipped-gold", "shipped gold sets")
    for name in names:
        shutil.copytree(source / name, root / "corpus" / name, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("manifest.csv", "README.md"))
    project = open_project(root)
    project.ingest()
    for name in names:  # the gold rows name documents inside their own corpus
        with (source / "gold" / f"{name}_instruments.csv").open(encoding="utf-8") as handle:
            rows = [{**row, "document": f"{name}/{row['document']}"} for row in csv.DictReader(handle)]
        sheet = folder / f"{name}_gold.csv"
        with sheet.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        project.import_instrument_sheet(sheet, GOLD_CODER)
    return project
