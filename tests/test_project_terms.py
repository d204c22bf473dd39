"""Tokens cached in the project store, and the statistics commands over them."""
import json

import pytest
from click.testing import CliRunner

from pipeline import open_project, stats
from pipeline import db as store
from pipeline.cli import cli
from pipeline.tokens import rows_from_storage, tokenize_rows

NATIONAL = """教育部关于深化产教融合的通知
各省、自治区、直辖市教育厅（教委）：
一、支持企业举办职业教育，对产教融合型企业给予税收优惠。
二、推进校企合作，建设产业学院。
三、专项资金不得挪用，违者限期整改。
教育部
2023年5月6日
"""
COUNTY = """宁阳县人民政府关于推进校企合作的通知
各乡镇人民政府：
一、推进校企合作，对订单班给予以奖代补。
二、建设实训基地，推进产教融合。
三、对弄虚作假的企业一票否决，取消资格。
宁阳县人民政府
2023年8月30日
"""


@pytest.fixture
def project(project_dir):
    (project_dir / "corpus" / "national.txt").write_text(NATIONAL, encoding="utf-8")
    (project_dir / "corpus" / "county.txt").write_text(COUNTY, encoding="utf-8")
    opened = open_project(project_dir)
    opened.ingest()
    yield opened
    opened.close()


def test_tokens_are_cached_and_only_changed_units_are_redone(project):
    first = project.tokenize()
    assert first.tokenized == len(project.rows("clauses")) and first.cached == 0
    assert project.tokenize().tokenized == 0
    county = project.root / "corpus" / "county.txt"
    county.write_text(COUNTY.replace("实训基地", "公共实训基地"), encoding="utf-8")
    project.ingest()
    # tokens depend on a unit's text alone: only the clause whose text changed is tokenized again
    again = project.tokenize()
    assert again.tokenized == 1 and again.cached == first.tokenized - 1
    assert "公共实训基地" in {t for u in project.unit_terms() for t in u.terms}


def test_kept_document_terms_count_what_the_units_count_and_stale_ones_are_made_again(project):
    """The corpus term table from the counts kept per document is the one counted from every unit;
    after an edit only the edited document's entry is made again, and a setting the terms depend on
    (keep_stopwords) makes every entry again: no stale entry is read."""
    entries = project.document_terms()
    assert project.corpus_term_frequencies() == stats.term_frequencies(project.unit_terms())
    kept = store.document_terms(project.db)
    assert set(kept) == set(entries) and len(entries) == 2
    county = project.root / "corpus" / "county.txt"
    county.write_text(COUNTY.replace("实训基地", "公共实训基地"), encoding="utf-8")
    project.ingest()
    edited = project.document("county.txt")["id"]
    again = project.document_terms()
    now = store.document_terms(project.db)
    assert {doc_id for doc_id in now if now[doc_id] != kept[doc_id]} == {edited}
    counted = project.corpus_term_frequencies()
    assert counted == stats.term_frequencies(project.unit_terms())
    assert "公共实训基地" in {row["term"] for row in counted}
    # an entry whose key is current but whose fingerprints were tampered with is read as kept (the
    # key is what is trusted); --force makes it again
    counts = store.document_term_counts(project.db, [edited])[edited][1]
    store.write_document_terms(project.db, [(edited, now[edited][0], counts,
                                             json.dumps({**json.loads(now[edited][1]), "text": "篡改"}))])
    assert project.document_terms()[edited]["text"] == "篡改"
    assert project.document_terms(force=True)[edited]["text"] == again[edited]["text"]
    config = project.root / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("keep_stopwords = false", "keep_stopwords = true"),
                      encoding="utf-8")
    reopened = open_project(project.root)
    try:
        reopened.document_terms()
        assert all(store.document_terms(reopened.db)[d][0] != now[d][0] for d in now)
        counted = reopened.corpus_term_frequencies()
        assert counted == stats.term_frequencies(reopened.unit_terms())
        assert "的" in {row["term"] for row in counted}  # a stop word, now kept
    finally:
        reopened.close()


def test_the_corpus_term_counts_made_by_difference_are_those_counted_from_every_unit(project):
    """Each step changes the corpus (an edit, a document gone, one new, one back) and the kept totals
    take in and give up only the documents that changed; they are always the counts of every unit
    (the independent count, ``stats.term_frequencies``), and those summed afresh."""
    corpus = project.root / "corpus"

    def check():
        counted = project.corpus_term_frequencies()
        assert counted == stats.term_frequencies(project.unit_terms())
        summed = store.corpus_terms(project.db)
        assert summed[0] == {doc_id: key for doc_id, (key, _) in store.document_terms(project.db).items()
                             if doc_id in project.document_terms()}
        return counted

    first = check()
    assert "税收优惠" in {row["term"] for row in first}
    (corpus / "county.txt").write_text(COUNTY.replace("一票否决", "一票否决，通报批评"), encoding="utf-8")
    project.ingest()
    assert "通报批评" in {row["term"] for row in check()}
    (corpus / "national.txt").unlink()
    project.ingest()
    assert "税收优惠" not in {row["term"] for row in check()}  # only the national document had it
    (corpus / "city.txt").write_text(NATIONAL.replace("教育部", "苏州市人民政府").replace("税收优惠", "租金减免"),
                                     encoding="utf-8")
    project.ingest()
    assert "租金" in {row["term"] for row in check()}
    (corpus / "city.txt").unlink()
    (corpus / "national.txt").write_text(NATIONAL, encoding="utf-8")
    (corpus / "county.txt").write_text(COUNTY, encoding="utf-8")
    project.ingest()
    assert check() == first
    # an entry the totals took in is gone (its document deleted): the totals are summed afresh
    project.db.execute("DELETE FROM document_terms WHERE doc_id = ?", [project.document("county.txt")["id"]])
    (corpus / "county.txt").write_text(COUNTY.replace("订单班", "冠名班，通报批评"), encoding="utf-8")
    project.ingest()
    assert "通报批评" in {row["term"] for row in check()}


def test_a_metadata_sheet_changes_no_tokens(project):
    first = project.tokenize()
    (project.root / "corpus" / "metadata.csv").write_text(
        "file,region\ncounty.txt,东部\nnational.txt,全国\n", encoding="utf-8")
    assert len(project.ingest().ingested) == 2  # the documents' attributes changed
    assert (project.tokenize().tokenized, project.tokenize().cached) == (0, first.tokenized)
    assert {u.groups["region"] for u in project.unit_terms()} == {"东部", "全国"}


def test_stored_tokens_keep_offsets_into_the_canonical_text(project):
    report = project.tokenize()
    texts = {d["id"]: d["text"] for d in project.rows("documents", with_text=True)}
    units = list(store.tokenized_units(project.db, report.tokenizer_hash))
    assert len(units) == report.tokenized
    for unit in units:
        rows = rows_from_storage(unit["tokens"], unit["text"])
        assert rows == tokenize_rows(project.tokenizer_settings(), [unit["text"]])[0]
        for start, end, norm, _, _ in rows:
            assert texts[unit["doc_id"]][unit["start"] + start:unit["start"] + end] == norm


def test_a_changed_user_dictionary_retokenizes_everything(project):
    project.tokenize()
    (project.root / "mywords.txt").write_text("公共实训基地 10 n\n", encoding="utf-8")
    config = project.root / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("dictionaries = []", 'dictionaries = ["mywords.txt"]'),
                      encoding="utf-8")
    reopened = open_project(project.root)
    assert reopened.tokenize().tokenized == len(project.rows("clauses"))
    assert project.db.execute("SELECT count(DISTINCT tokenizer_hash) FROM unit_tokens").fetchone()[0] == 1
    reopened.close()


def test_terms_keep_domain_words_whole_and_drop_stop_words(project):
    rows = {r["term"]: r for r in project.terms()}
    assert rows["校企合作"]["freq"] == 2 and rows["校企合作"]["df"] == 2
    # the titles are not units; 产教融合型企业 is a term of its own
    assert rows["产教融合"]["df"] == 1 and rows["产教融合型企业"]["freq"] == 1
    assert "以奖代补" in rows and "一票否决" in rows
    assert "推进" not in rows and "，" not in rows  # policy boilerplate and punctuation


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_terms_kwic_cooccur_formats(project, tmp_path):
    root = project.root
    terms = json.loads(invoke("terms", "--format", "json", "--project", root).output)
    assert {"term", "freq", "df"} <= set(terms[0])
    hits = json.loads(invoke("kwic", "校企合作", "--window", "4", "--format", "json", "--project", root).output)
    # documents are numbered in path order: county.txt is 1, national.txt is 2
    assert [(h["unit_id"], h["left"], h["match"], h["right"]) for h in hits] == [
        ("1-1", "一、推进", "校企合作", "，对订单"), ("2-2", "二、推进", "校企合作", "，建设产")]
    county_only = json.loads(invoke("kwic", "校企合作", "--where", "level=county", "--format", "json",
                                    "--project", root).output)
    assert len(county_only) == 1
    assert invoke("terms", "--keyness", "level", "county", "national", "--min-freq", "1", "--format", "xlsx",
                  "-o", tmp_path / "k.xlsx", "--project", root).exit_code == 0
    result = invoke("cooccur", "--top", "10", "--min-count", "1", "--graphml", tmp_path / "n.graphml",
                    "--draw", tmp_path / "n.png", "--format", "csv", "--project", root)
    assert result.exit_code == 0 and "source" in result.output
    assert (tmp_path / "n.graphml").stat().st_size > 0 and (tmp_path / "n.png").stat().st_size > 1000


def test_two_tokenize_workers_store_the_same_tokens_as_one(project, monkeypatch):
    import pipeline.project

    # one task per document, so that both documents go to worker processes (forked after the
    # tokenizer was built here)
    monkeypatch.setattr(pipeline.project, "TOKENIZE_TASK_CHARS", 1)
    (project.root / "corpus" / "english.txt").write_text(
        "Notice on apprenticeships\nTo all colleges:\n1. Colleges shall sign agreements with firms.\n", encoding="utf-8")
    project.ingest()
    two = project.tokenize(workers=2)
    stored_two = project.db.execute("SELECT unit_id, tokens FROM unit_tokens ORDER BY unit_id").fetchall()
    project.db.execute("DELETE FROM unit_tokens")
    one = project.tokenize(workers=1)
    stored_one = project.db.execute("SELECT unit_id, tokens FROM unit_tokens ORDER BY unit_id").fetchall()
    assert two.tokenized == one.tokenized == len(stored_one) and stored_two == stored_one


def test_cli_kwic_finds_a_token_also_inside_a_longer_token(project):
    root = project.root
    # 产教融合 is a term (county 2-2) and part of the term 产教融合型企业 (national 2-1)
    hits = json.loads(invoke("kwic", "产教融合", "--window", "2", "--format", "json", "--project", root).output)
    assert [(h["unit_id"], h["match"], h["right"]) for h in hits] == [("1-2", "产教融合", "。"), ("2-1", "产教融合", "型企")]
    tokens = json.loads(invoke("kwic", "产教融合", "--whole-tokens", "--format", "json", "--project", root).output)
    assert [(h["unit_id"], h["match_type"]) for h in tokens] == [("1-2", "token")]
    assert "every occurrence of the string" in invoke("kwic", "--help").output


def test_cli_terms_top_with_by_gives_the_top_terms_of_each_group(project):
    rows = json.loads(invoke("terms", "--by", "level", "--top", "2", "--format", "json", "--project", project.root).output)
    assert [r["level"] for r in rows] == ["county", "county", "national", "national"]
    county = [r for r in project.terms(by="level") if r["level"] == "county"]
    assert [r["term"] for r in rows[:2]] == [r["term"] for r in county[:2]]
    assert "per_10k" in rows[0] and "each group" in invoke("terms", "--help").output
