"""Detection on every demo document, checked against the hand-made expectations."""
import csv
import re

import pytest

from pipeline.clean import is_page_number
from pipeline.ingest import load_sidecars, read_document
from tests.conftest import DEMO, REPO

with (REPO / "tests" / "fixtures" / "demo_expected.csv").open(encoding="utf-8") as stream:
    EXPECTED = list(csv.DictReader(stream))
SIDECARS, _ = load_sidecars([DEMO / row["file"] for row in EXPECTED])
ARTICLE = re.compile(r"第[一二三四五六七八九十百零]+条")
FIELDS = ("title", "doc_number", "issuer", "date", "level", "province", "city", "county")


def test_demo_expectations_cover_every_file():
    files = {p.relative_to(DEMO).as_posix() for p in DEMO.rglob("*")
             if p.is_file() and p.name not in ("README.md", "metadata.csv")}
    assert files == {row["file"] for row in EXPECTED}


@pytest.fixture(scope="module")
def documents():
    return {row["file"]: read_document(DEMO / row["file"], attributes=SIDECARS.get(DEMO / row["file"]))
            for row in EXPECTED}


@pytest.mark.parametrize("row", EXPECTED, ids=[row["file"] for row in EXPECTED])
def test_demo_document_is_read_as_expected(documents, row):
    document = documents[row["file"]]
    assert document.kind == row["kind"]
    assert document.language == row["language"]
    if row["kind"] == "policy":
        got = {f: getattr(document.metadata, f) or "" for f in FIELDS}
        assert got == {f: row[f] for f in FIELDS}
        assert not document.metadata.level_ambiguous
        body = [c for c in document.clauses if c.section == "body" and c.path[0] != "0"]
        # regulations count their articles (第X条, across chapters); notices their 一、-level items
        articles = {m.group(0) for c in body if (m := ARTICLE.match(c.text))}
        top = articles or {c.path.split("-")[0] for c in body}
        assert len(top) == int(row["top_units"])
        attachments = {c.path.split("-")[0] for c in document.clauses if c.section == "attachment"}
        assert len(attachments) == int(row["attachments"] or 0)
        if row["pages"]:
            assert document.source.page_count == int(row["pages"])
            lines = document.source.text.split("\n")
            assert not [line for line in lines if is_page_number(line)], "page numbers left in the text"
            assert all(c.page is not None for c in document.clauses)
        for clause in document.clauses:
            assert document.source.text[clause.start:clause.end] == clause.text
    else:
        assert len(document.turns) == int(row["turns"])
        for turn in document.turns:
            assert document.source.text[turn.start:turn.end] == turn.text
