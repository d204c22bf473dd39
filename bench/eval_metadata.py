"""Evaluate metadata detection against the real public documents of the shared policy corpus.

Not a test: prints, for each file of ``manifest.csv``, the expected and detected level, 文号 and
title, then how many of each were right.

    python bench/eval_metadata.py [CORPUS_DIR]      # default: ../shared/corpora/policy

Scoring follows what the text can show: a manifest title marked ``[title not in excerpt]`` expects
no title, an empty 发文字号 expects none, and the manifest's own notes after a title
(``（2010年修正）``, ``（第1页片段）``) are not required.
"""
from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from pipeline.ingest.text import read  # noqa: E402
from pipeline.metadata import detect_metadata  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "policy"
NOT_IN_EXCERPT = "[title not in excerpt]"
_MANIFEST_NOTE = re.compile(r"（[^（）]*(?:年|页|片段)[^（）]*）$")  # the manifest's notes, not the document's
FIELDS = ("level", "doc_number", "title")


def expected_values(row: dict[str, str]) -> dict[str, set[str | None]]:
    """Acceptable detections per field (a set, since a title may come with or without a note)."""
    title = row["title"].strip()
    titles: set[str | None] = {None} if title.startswith(NOT_IN_EXCERPT) else {title, _MANIFEST_NOTE.sub("", title)}
    return {
        "level": {row["level"].strip() or None},
        "doc_number": {row["doc_number"].strip() or None},
        "title": titles,
    }


def evaluate(corpus: Path) -> int:
    with open(corpus / "manifest.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    right = dict.fromkeys(FIELDS, 0)
    for row in rows:
        source = read(corpus / row["file"])
        metadata = detect_metadata(source.text, running_headers=source.running_headers)
        print(f"\n{row['file']}")
        for field, accepted in expected_values(row).items():
            got = getattr(metadata, field)
            ok = got in accepted
            right[field] += ok
            shown = sorted(accepted, key=lambda value: -len(value or ""))[0]
            print(f"  {'ok ' if ok else 'XX '} {field:<10} expected {shown!s:<28} got {got}")
        print(f"      issuer     expected {row['issuing_body']:<28} got {metadata.issuer}")
        print(f"      date       expected {row['date'] or None!s:<28} got {metadata.date}")
        print(f"      evidence   {metadata.level_evidence}{' [ambiguous]' if metadata.level_ambiguous else ''}")
    total = len(rows)
    print("\n" + ", ".join(f"{field} {right[field]}/{total}" for field in FIELDS))
    return 0


def main(argv: list[str]) -> int:
    corpus = Path(argv[1]) if len(argv) > 1 else DEFAULT_CORPUS
    if not (corpus / "manifest.csv").is_file():
        print(f"no policy corpus at {corpus} (manifest.csv missing); pass its folder as the first argument")
        return 0
    return evaluate(corpus)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
