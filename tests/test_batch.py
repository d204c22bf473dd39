"""The batch run: stages, skipping what is unchanged, determinism, executors, crash safety."""
from __future__ import annotations

import csv
import gc
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pandas
import pytest

from pipeline import ProjectError, RunOptions, init_project, open_project
from pipeline.batch import DATASETS, STAGES

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"
POLICY = ["changxing_gov_2022_order_classes.txt", "js_edu_2021_training_bases.txt", "nb_gov_2023_shiyu_consortium.txt",
          "national_ndrc_2024_chanjiao_enterprise.txt", "suzhou_npc_2022_chanjiao_regulation.md",
          "hb_gov_2019_chanjiao_gb18030.txt"]
# columns that say when something happened, not what: the only ones two runs may differ in
CLOCK_COLUMNS = {"created_at"}


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    """Six policy texts and the eight demo interviews (with their participant sheet); two topics."""
    root = init_project(tmp_path / "small", "small")
    (root / "corpus" / "policy").mkdir()
    for name in POLICY:
        shutil.copy(DEMO / "policy" / name, root / "corpus" / "policy" / name)
    shutil.copytree(DEMO / "interviews", root / "corpus" / "interviews")
    config = root / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("k = 0 ", "k = 2 "), encoding="utf-8")
    return root


def statuses(report) -> dict[str, str]:
    return {stage.stage: stage.status for stage in report.stages}


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return [{k: v for k, v in row.items() if k not in CLOCK_COLUMNS} for row in csv.DictReader(stream)]


def datasets(folder: Path) -> dict[str, bytes]:
    """The bytes of every dataset (CSV and Parquet), clock columns blanked in the CSVs."""
    found = {}
    for name in DATASETS:
        rows = read_csv(folder / f"{name}.csv")
        found[f"{name}.csv"] = json.dumps(rows, ensure_ascii=False).encode()
        found[f"{name}.parquet"] = (folder / "parquet" / f"{name}.parquet").read_bytes()
    return found


def test_first_run_runs_every_stage_and_a_second_run_skips_them(small_project):
    project = open_project(small_project)
    first = project.run()
    assert gc.isenabled()  # paused for the corpus-wide stages only
    assert [s.stage for s in first.stages] == list(STAGES)
    assert all(status == "ran" for stage, status in statuses(first).items()
               if stage not in ("segment", "reliability", "triangulation")), statuses(first)
    # no two human coders yet: reliability ran and found nothing to measure
    assert statuses(first)["reliability"] == "nothing to do"
    # ingest segments in the same pass; the segment stage has nothing left to do
    assert statuses(first)["segment"] == "up to date"
    assert statuses(first)["triangulation"] == "not configured"
    folder = first.folder
    assert folder.name == first.run_id and (small_project / "outputs" / "latest").resolve() == folder
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert [s["stage"] for s in manifest["stages"]] == list(STAGES)
    assert manifest["seeds"]["project"] == manifest["seed"] and manifest["seeds"]["topics"] == manifest["seed"]
    assert set(manifest["timings_seconds"]) == set(STAGES)
    assert manifest["libraries"]["gensim"] != "not installed"

    second = open_project(small_project).run()
    assert statuses(second) == {**{stage: "up to date" for stage in STAGES}, "triangulation": "not configured"}
    # the skipped stages' files and the unchanged datasets are linked into the new run folder
    assert (second.folder / "topics" / "topics.csv").read_bytes() == (folder / "topics" / "topics.csv").read_bytes()
    assert datasets(second.folder) == datasets(folder)
    for name in ("clauses.csv", "policoder.xlsx", "parquet/codings.parquet"):
        assert os.path.samefile(second.folder / name, folder / name)
    assert second.manifest["counts"]["clauses"] == first.manifest["counts"]["clauses"]
    assert second.manifest["timings_seconds"]["instruments"] < first.manifest["timings_seconds"]["instruments"]
    # its own copy of the database, with this run in it
    with sqlite3.connect(second.folder / "policoder.db") as copy:
        assert copy.execute("SELECT count(*) FROM runs WHERE run_id = ?", [second.run_id]).fetchone()[0] == 1
    # written again with --force: byte for byte what the first run wrote
    forced = open_project(small_project).run(RunOptions(force=True))
    assert statuses(forced)["report"] == "ran" and not os.path.samefile(forced.folder / "clauses.csv",
                                                                         folder / "clauses.csv")
    assert datasets(forced.folder) == datasets(folder)


def test_two_projects_with_the_same_inputs_give_identical_datasets(small_project, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(small_project, twin)
    one, two = open_project(small_project).run(), open_project(twin).run()
    assert datasets(one.folder) == datasets(two.folder)
    assert (one.folder / "instruments" / "instruments_by_level.csv").read_bytes() == \
           (two.folder / "instruments" / "instruments_by_level.csv").read_bytes()
    book_one, book_two = (openpyxl.load_workbook(r.folder / "policoder.xlsx", read_only=True) for r in (one, two))
    assert book_one.sheetnames == list(DATASETS)
    for sheet in DATASETS:
        assert [row for row in book_one[sheet].values] == [row for row in book_two[sheet].values] or sheet == "codings"


def test_a_changed_document_reruns_only_what_depends_on_it(small_project):
    open_project(small_project).run()
    changed = small_project / "corpus" / "policy" / "js_edu_2021_training_bases.txt"
    text = changed.read_text(encoding="utf-8")
    assert "补助资金必须专款专用" in text
    changed.write_text(text.replace("补助资金必须专款专用", "对成效突出的基地给予奖励；补助资金必须专款专用"),
                       encoding="utf-8")
    project = open_project(small_project)
    report = project.run()
    counts = {s.stage: s.counts for s in report.stages}
    assert counts["ingest"]["ingested"] == 1 and counts["ingest"]["unchanged"] == len(POLICY) + 8 - 1
    assert counts["tokenize"]["tokenized"] == 1  # only the edited clause: the others' texts are as they were
    assert counts["instruments"]["classified"] == {"rules": 1}  # the other units' texts are as they were
    assert statuses(report)["topics"] == "ran"  # the corpus changed, so its topic model does
    clauses = read_csv(report.folder / "clauses.csv")
    edited = [c for c in clauses if "成效突出的基地给予奖励" in c["text"]]
    assert len(edited) == 1 and edited[0]["topic_0"]
    assert {"incentive", "constraint"} <= set(edited[0]["instruments"].split("; "))
    assert counts["topics"]["fit"] == "fitted"  # one document of six is more than refit_after (0.1) allows
    # the codebook auto-codes transcripts only: an edited policy text leaves their machine codings be
    assert statuses(report)["autocode"] == "up to date"
    # what a run from scratch on the same state gives (the model was refitted, so no fold-in differs)
    forced = project.run(RunOptions(force=True))
    assert datasets(forced.folder) == datasets(report.folder)


def _edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / "corpus" / "policy" / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_rerun_after_one_change_writes_the_bytes_of_a_forced_run(small_project):
    """Every dataset and the instruments' units table after an edit (reusing what the last run
    kept: instrument labels, topic model, charts) is byte for byte what a run from scratch writes;
    after the edit is undone, the same again."""
    project = open_project(small_project)
    project.run()
    files = [*(f"{name}.csv" for name in DATASETS), *(f"parquet/{name}.parquet" for name in DATASETS),
             "instruments/instruments_units.csv"]
    for old, new in (("补助资金必须专款专用", "对成效突出的基地给予奖励；补助资金必须专款专用"), ("对成效突出的基地给予奖励；", "")):
        _edit(small_project, "js_edu_2021_training_bases.txt", old, new)
        rerun = project.run()
        assert statuses(rerun)["report"] == "ran"
        forced = project.run(RunOptions(force=True))
        for name in files:
            assert (rerun.folder / name).read_bytes() == (forced.folder / name).read_bytes(), name


def test_the_clauses_of_unchanged_documents_are_taken_from_the_pieces_the_last_run_kept(small_project):
    """A rerun after one edit makes only the edited document's rows of the clauses dataset: the
    others come from the table the last run kept (a kept cell, tampered with, shows through while
    its document's key stands), the files are byte for byte those of rows all made again, and
    ``--force`` makes every row again."""
    import pyarrow

    config = small_project / "policoder.toml"  # the edited text is folded into the kept topic model
    config.write_text(config.read_text(encoding="utf-8").replace("refit_after = 0.1 ", "refit_after = 1.0 "),
                      encoding="utf-8")
    project = open_project(small_project)
    project.run()
    kept = small_project / "outputs" / ".stages" / "report" / "clauses.arrow"

    def read() -> pyarrow.Table:
        return pyarrow.ipc.open_file(pyarrow.py_buffer(kept.read_bytes())).read_all()

    # an edit of a document not the first: the first rows come from the kept table, and the dataset
    # is byte for byte the one made again whole from the same inputs (the report alone, forced: the
    # kept topic model stands)
    _edit(small_project, "js_edu_2021_training_bases.txt", "补助资金必须专款专用", "补助资金须专款专用")
    rerun = project.run()
    made = project.run(RunOptions(only=("report",), force=True))
    for name in ("clauses.csv", "parquet/clauses.parquet"):
        assert (rerun.folder / name).read_bytes() == (made.folder / name).read_bytes(), name
    table = read()
    keys = [key for key, _ in json.loads(table.schema.metadata[b"policoder"])["keys"]]
    assert len(keys) == len({row["doc_id"] for row in read_csv(project.run().folder / "clauses.csv")})
    edited = project.document("js_edu_2021_training_bases.txt")["id"]
    other = next(i for i, doc_id in enumerate(table.column("doc_id").to_pylist()) if doc_id != edited)
    text = table.column("text").to_pylist()
    lines = table.column("_csv").to_pylist()
    text[other], lines[other] = "篡改", lines[other].replace(text[other], "篡改")
    table = table.set_column(table.schema.get_field_index("text"), "text", pyarrow.array(text))
    table = table.set_column(table.schema.get_field_index("_csv"), "_csv", pyarrow.array(lines))
    with pyarrow.OSFile(str(kept), "wb") as sink, pyarrow.ipc.new_file(sink, table.schema) as out:
        out.write_table(table)
    _edit(small_project, "js_edu_2021_training_bases.txt", "补助资金须专款专用", "对成效突出的基地给予奖励；补助资金须专款专用")
    rerun = project.run()
    now = [key for key, _ in json.loads(read().schema.metadata[b"policoder"])["keys"]]
    documents = list(dict.fromkeys(table.column("doc_id").to_pylist()))  # in the table's order, as the keys
    assert [documents[i] for i, (a, b) in enumerate(zip(keys, now)) if a != b] == [edited]
    rows = read_csv(rerun.folder / "clauses.csv")
    assert rows[other]["text"] == "篡改"
    assert pandas.read_parquet(rerun.folder / "parquet" / "clauses.parquet")["text"][other] == "篡改"
    assert any("对成效突出的基地给予奖励" in row["text"] for row in rows if row["doc_id"] == str(edited))
    forced = project.run(RunOptions(force=True))
    assert read_csv(forced.folder / "clauses.csv")[other]["text"] == text_of(project, rows[other]["unit_id"])
    # a kept table that cannot be read (cut short) is made again whole, and the run goes on
    kept.write_bytes(kept.read_bytes()[:1000])
    _edit(small_project, "js_edu_2021_training_bases.txt", "对成效突出的基地给予奖励；", "")
    again = project.run()
    assert again.exit_status == 0 and read().num_rows == len(read_csv(again.folder / "clauses.csv"))
    forced = project.run(RunOptions(force=True))  # which refits the topic model: its columns aside

    def untopical(folder: Path) -> list[dict]:
        return [{k: v for k, v in row.items() if not k.startswith(("topic_", "dominant_"))}
                for row in read_csv(folder / "clauses.csv")]

    assert untopical(again.folder) == untopical(forced.folder)


def text_of(project, unit_id: str) -> str:
    return project.db.execute("SELECT text FROM clauses WHERE unit_id = ?", [unit_id]).fetchone()[0]


def test_term_counts_kept_per_document_stand_only_while_their_units_and_settings_do(small_project):
    """The terms dataset and the topic texts come from term counts kept per document: after an edit
    and after a setting the terms depend on changed (keep_stopwords, which the topic stage's key
    now holds too), a rerun writes what a forced run, which makes every entry again, writes."""
    project = open_project(small_project)
    first = project.run()
    files = ["terms.csv", "parquet/terms.parquet", "clauses.csv", "topics/doc_topics.csv", "topics/topics.csv"]
    _edit(small_project, "js_edu_2021_training_bases.txt", "补助资金必须专款专用", "补助资金必须专款专用于实训")
    edited = project.run()
    assert (edited.folder / "terms.csv").read_bytes() != (first.folder / "terms.csv").read_bytes()
    forced = project.run(RunOptions(force=True))
    for name in files:
        assert (edited.folder / name).read_bytes() == (forced.folder / name).read_bytes(), name
    config = small_project / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("keep_stopwords = false", "keep_stopwords = true"),
                      encoding="utf-8")
    project = open_project(small_project)
    kept_words = project.run()
    assert statuses(kept_words)["topics"] == "ran"
    assert "的" in {row["term"] for row in read_csv(kept_words.folder / "terms.csv")}  # a stop word, now kept
    forced = project.run(RunOptions(force=True))
    for name in files:
        assert (kept_words.folder / name).read_bytes() == (forced.folder / name).read_bytes(), name


def test_agreement_reruns_only_when_a_coded_document_changes(small_project):
    project = open_project(small_project)
    project.run()
    _edit(small_project, "js_edu_2021_training_bases.txt", "补助资金必须专款专用", "补助资金必须专门专用")
    assert statuses(project.run())["reliability"] == "up to date"  # nobody coded that document
    doc = project.document("nb_gov_2023_shiyu_consortium.txt")
    clause = doc["clauses"][0]
    project.code(doc["id"], clause["start"], clause["start"] + 4, project.codebook().codable[0], "li")
    # measured again (li is the only human coder, so there is nothing to measure yet; not up to date)
    assert statuses(project.run())["reliability"] == "nothing to do"
    edited = clause["text"][:4]
    _edit(small_project, "nb_gov_2023_shiyu_consortium.txt", edited, edited + "（修订）")
    assert statuses(project.run())["reliability"] == "nothing to do"  # a coded document changed
    _edit(small_project, "js_edu_2021_training_bases.txt", "补助资金必须专门专用", "补助资金必须专款专用")
    assert statuses(project.run())["reliability"] == "up to date"


PLACE_COLUMNS = ("path", "level", "province", "city", "county", "level_evidence", "level_ambiguous")
READ_AGAIN = """
import json, sys
from pipeline import open_project
project = open_project(sys.argv[1])
report = project.ingest()
print(json.dumps({"cnloc": "cnloc" in sys.modules, "ingested": report.ingested}))
"""


def test_a_changed_file_is_read_with_the_places_parsed_before_and_gets_the_same_level(small_project, tmp_path):
    open_project(small_project).ingest()
    with sqlite3.connect(small_project / "policoder.db") as connection:
        assert connection.execute("SELECT count(*) FROM places WHERE province IS NOT NULL").fetchone()[0] > 0
    changed = small_project / "corpus" / "policy" / "js_edu_2021_training_bases.txt"
    changed.write_text(changed.read_text(encoding="utf-8").replace("补助资金必须专款专用", "补助资金专款专用"),
                       encoding="utf-8")
    # a fresh process, as a user's rerun: the changed file's issuer is found without loading cnloc
    done = subprocess.run([sys.executable, "-c", READ_AGAIN, str(small_project)], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parent.parent, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"cnloc": False, "ingested": ["corpus/policy/js_edu_2021_training_bases.txt"]}
    # the same levels and regions as every file parsed afresh by cnloc
    fresh = init_project(tmp_path / "fresh", "fresh")
    shutil.rmtree(fresh / "corpus")
    shutil.copytree(small_project / "corpus", fresh / "corpus")
    levels = [[d[c] for c in PLACE_COLUMNS] for d in open_project(small_project).rows("documents")]
    fresh_project = open_project(fresh)
    fresh_project.ingest()
    assert levels == [[d[c] for c in PLACE_COLUMNS] for d in fresh_project.rows("documents")]
    assert any(level[1] == "provincial" and level[2] == "江苏省" for level in levels)


def test_an_edited_transcript_reruns_auto_coding(small_project):
    open_project(small_project).run(RunOptions(only=("ingest", "segment", "tokenize", "autocode")))
    transcript = sorted((small_project / "corpus" / "interviews").glob("*.txt"))[0]
    transcript.write_text(transcript.read_text(encoding="utf-8") + "\n问：还有补充吗？\n答：没有了。\n", encoding="utf-8")
    report = open_project(small_project).run(RunOptions(only=("ingest", "segment", "tokenize", "autocode")))
    assert statuses(report)["autocode"] == "ran"


def test_charts_whose_numbers_did_not_change_are_reused(small_project):
    first = open_project(small_project).run()
    changed = small_project / "corpus" / "policy" / "js_edu_2021_training_bases.txt"
    text = changed.read_text(encoding="utf-8")
    changed.write_text(text.replace("补助资金必须专款专用", "补助资金（见附件）必须专款专用"), encoding="utf-8")
    project = open_project(small_project)
    second = project.run()
    assert {s.stage: s.counts for s in second.stages}["instruments"]["classified"] == {"rules": 1}
    chart = Path("instruments") / "instruments_by_level.png"
    # the clause kept its instruments, so the tables' numbers and the chart drawn from them are as they were
    assert (second.folder / "instruments" / "instruments_by_level.csv").read_bytes() == \
           (first.folder / "instruments" / "instruments_by_level.csv").read_bytes()
    assert os.path.samefile(second.folder / chart, first.folder / chart)
    # the chart digests and the labels kept for the next run stay in the stage's folder
    assert not {".charts.json", ".instrument_labels.json"} & {p.name for p in (second.folder / "instruments").iterdir()}
    # drawn again from scratch: the same picture
    forced = project.run(RunOptions(only=("instruments", "report"), force=True))
    assert not os.path.samefile(forced.folder / chart, second.folder / chart)
    assert (forced.folder / chart).read_bytes() == (second.folder / chart).read_bytes()
    # the topic model was refitted (one document of six changed), so its charts were drawn again
    topics_chart = Path("topics") / "prevalence_by_level.png"
    assert not os.path.samefile(second.folder / topics_chart, first.folder / topics_chart)


def _draw_unless_forked(parent: int, path: Path) -> None:
    if os.getpid() != parent:  # the drawing process dies, as one killed by the system would
        os.kill(os.getpid(), signal.SIGKILL)
    path.write_text("drawn", encoding="utf-8")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="charts are drawn in a forked process on Linux only")
def test_charts_a_dead_drawing_process_left_are_drawn_in_the_run_itself(tmp_path):
    from pipeline.charts import Charts

    charts = Charts(tmp_path, None)
    charts.draw(_draw_unless_forked, os.getpid(), tmp_path / "chart.png")
    charts.save()
    assert (tmp_path / "chart.png").read_text(encoding="utf-8") == "drawn"


def _pid_into(path: Path) -> None:
    path.write_text(str(os.getpid()), encoding="utf-8")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="charts are drawn in a forked process on Linux only")
def test_the_charts_of_every_stage_are_drawn_in_one_process_a_run(tmp_path):
    from pipeline.charts import Charts, Drawer

    drawer, pids = Drawer(), []
    try:
        for stage in ("instruments", "topics"):
            charts = Charts(tmp_path, None, drawer)
            charts.draw(_pid_into, tmp_path / f"{stage}.pid")
            charts.save()  # the stage done: the run's drawing process stays for the next one
            pids.append((tmp_path / f"{stage}.pid").read_text(encoding="utf-8"))
    finally:
        drawer.close()
    assert pids[0] == pids[1] != str(os.getpid())


def test_a_chart_that_cannot_be_drawn_is_said_in_one_line_and_the_run_completes(small_project):
    """A matplotlib setting that cannot draw the chart (TeX typesetting, as a scholar's matplotlibrc
    may ask for, with no TeX that sets Chinese) fails it in the drawing process; the run completes,
    the topic tables stand, the chart is named as not drawn and the stage runs again next time."""
    import matplotlib

    project = open_project(small_project)
    first = project.run()
    doc = project.document("nb_gov_2023_shiyu_consortium.txt")
    clause = doc["clauses"][0]
    project.code(doc["id"], clause["start"], clause["start"] + 4, project.codebook().codable[0], "li")
    labels = small_project / "topic_labels" / f"{first.manifest['topics']['model_id']}.yaml"
    labels.write_text("labels:\n  0: 校企合作\n  1: 产教融合\n", encoding="utf-8")  # the chart must be drawn again
    with matplotlib.rc_context({"text.usetex": True}):  # the drawing process is forked inside the run
        report = project.run()
    topics = next(s for s in report.stages if s.stage == "topics")
    undrawn = topics.counts["not_built"]["charts"]
    assert "RuntimeError" in undrawn and "\n" not in undrawn
    assert report.exit_status == 1 and report.folder.is_dir()
    assert (report.folder / "topics" / "topics.csv").is_file()
    assert (report.folder / "manifest.json").is_file() and (report.folder / "clauses.csv").is_file()
    assert [row["coder"] for row in read_csv(report.folder / "codings.csv") if row["coder"] == "li"] == ["li"]
    assert statuses(project.run())["topics"] == "ran"  # not recorded as done: drawn again next time
    labels.write_text('labels:\n  0: "实训基地"\n  1: "产教融合"\n', encoding="utf-8")
    fixed = project.run()
    assert "not_built" not in next(s for s in fixed.stages if s.stage == "topics").counts and fixed.exit_status == 0
    assert statuses(project.run())["topics"] == "up to date"


def test_coded_digests_are_read_once_for_each_state_of_the_machine_codings(small_project):
    """The reliability stage's digest of the coded documents' texts is read once a run, and again
    after auto-coding (earlier in the same run) changed which documents are coded."""
    from pipeline import db as store
    from pipeline.batch import _Run

    project = open_project(small_project)
    project.ingest()  # the texts, and no machine codings yet
    context = _Run(project, "run", RunOptions(), None, small_project, small_project, None, None)
    statements = []
    project.db.conn.set_trace_callback(statements.append)
    digests = lambda: [s for s in statements if "FROM turns WHERE doc_id IN" in s]  # noqa: E731
    first = context.digest("turns", coded=True)
    assert context.digest("turns", coded=True) == first
    assert len(digests()) == 1
    project.autocode()  # codes the transcripts: now they are coded documents
    after = context.digest("turns", coded=True)
    project.db.conn.set_trace_callback(None)
    assert after != first and after == [store.content_digest(project.db, "turns", coded=True)]
    assert len(digests()) == 2


def test_a_stage_whose_charts_are_drawn_beside_later_stages_is_complete_when_the_run_ends(small_project):
    """Charts to draw are drawn in a forked process while the later stages and the datasets are
    written; the stage's folder takes its place (key recorded) only once they are drawn."""
    project = open_project(small_project)
    report = project.run(RunOptions(only=("ingest", "segment", "tokenize", "instruments", "topics")))
    stages = small_project / "outputs" / ".stages"
    assert not list(stages.glob(".tmp-*")) and not list(stages.glob(".old-*"))
    charts = json.loads((stages / "instruments" / ".charts.json").read_text(encoding="utf-8"))
    assert all((stages / "instruments" / name).stat().st_size > 0 for name in charts) and len(charts) == 6
    assert (stages / "topics" / "prevalence_by_level.png").is_file()
    assert (stages / "instruments" / ".key").read_text() == next(s.key for s in report.stages if s.stage == "instruments")
    summary = json.loads((stages / "instruments" / "instruments_summary.json").read_text(encoding="utf-8"))
    assert set(charts) <= set(summary["files"])
    assert set(summary["files"]) == {p.name for p in (stages / "instruments").iterdir()
                                     if not p.name.startswith(".")}
    with_report = project.run()
    assert statuses(with_report)["instruments"] == "up to date"
    assert {p.name for p in (with_report.folder / "instruments").iterdir()} >= set(charts)


def _label_capacity(project, unit_id: str, sheet: Path) -> None:
    """Coder wang labels one clause capacity building (primary), through a coding sheet."""
    sheet = project.instrument_sheet(sheet, units=[unit_id])
    workbook = openpyxl.load_workbook(sheet)
    header = [cell.value for cell in workbook["coding"][1]]
    row = next(workbook["coding"].iter_rows(min_row=2))
    row[header.index("primary")].value = "capacity"
    workbook.save(sheet)
    project.import_instrument_sheet(sheet, "wang")


def test_instrument_labels_kept_from_an_earlier_run_equal_labels_made_afresh(small_project, tmp_path):
    """The instruments stage keeps its labels per document; the next run takes those of documents
    whose units, predictions and human labels are unchanged and makes the others again."""
    import orjson

    from pipeline import instrument_report

    project = open_project(small_project)
    project.run(RunOptions(only=("ingest", "segment", "tokenize", "instruments")))
    kept = small_project / "outputs" / ".stages" / "instruments" / ".instrument_labels.json"
    earlier = orjson.loads(kept.read_bytes())
    assert len(earlier) == len(POLICY)
    # one text edited, and a human label on a clause of another document
    changed = small_project / "corpus" / "policy" / "js_edu_2021_training_bases.txt"
    text = changed.read_text(encoding="utf-8")
    changed.write_text(text.replace("补助资金必须专款专用", "对成效突出的基地给予奖励；补助资金必须专款专用"), encoding="utf-8")
    project.ingest()
    project.tokenize()
    project.classify_instruments()
    other = project.document("nb_gov_2023_shiyu_consortium.txt")
    _label_capacity(project, other["clauses"][1]["unit_id"], tmp_path / "coding.xlsx")
    units = project.instrument_units()
    labels = project.instrument_labels(classify=False, units=units, earlier=earlier)
    assert sorted(doc for doc in labels if labels[doc] is not earlier[doc]) == sorted(
        [str(project.document("js_edu_2021_training_bases.txt")["id"]), str(other["id"])])
    fresh = project.instrument_rows(classify=False)
    assert instrument_report.rows_of(units, labels) == fresh
    assert {r["unit_id"]: r["instrument_source"] for r in fresh}[other["clauses"][1]["unit_id"]] == "human:wang"


def test_kept_lines_of_the_instruments_units_table_are_used_only_while_their_document_is_unchanged(
        small_project, tmp_path):
    """instruments_units.csv is joined from each document's lines kept with its labels: after a
    human label on a clause of one document and an edit of another, those two documents' lines are
    made again (the label shows), the others' are the kept ones, and the file is a forced run's."""
    import orjson

    project = open_project(small_project)
    project.run()
    kept = small_project / "outputs" / ".stages" / "instruments" / ".instrument_labels.json"
    before = orjson.loads(kept.read_bytes())
    labelled = project.document("nb_gov_2023_shiyu_consortium.txt")
    unit = labelled["clauses"][1]["unit_id"]
    _label_capacity(project, unit, tmp_path / "coding.xlsx")
    _edit(small_project, "js_edu_2021_training_bases.txt", "补助资金必须专款专用", "对成效突出的基地给予奖励；补助资金必须专款专用")
    rerun = project.run()
    after = orjson.loads(kept.read_bytes())
    edited = str(project.document("js_edu_2021_training_bases.txt")["id"])
    remade = sorted(doc for doc in after if after[doc]["csv"] != before[doc]["csv"])
    assert remade == sorted([edited, str(labelled["id"])])
    units = {r["unit_id"]: r for r in read_csv(rerun.folder / "instruments" / "instruments_units.csv")}
    assert units[unit]["instrument_source"] == "human:wang" and units[unit]["primary_instrument"] == "capacity"
    forced = project.run(RunOptions(force=True))
    name = "instruments/instruments_units.csv"
    assert (rerun.folder / name).read_bytes() == (forced.folder / name).read_bytes()


def test_a_rerun_for_a_new_coding_takes_the_clauses_instruments_from_the_kept_labels(small_project):
    project = open_project(small_project)
    first = project.run()
    transcript = next(d for d in project.rows("documents") if d["kind"] == "transcript")
    turn = project.document(str(transcript["id"]))["turns"][1]
    project.code(transcript["id"], turn["start"], turn["start"] + 6, project.codebook().codable[0], "li")
    second = project.run()
    assert statuses(second)["instruments"] == "up to date" and statuses(second)["report"] == "ran"
    assert read_csv(second.folder / "clauses.csv") == read_csv(first.folder / "clauses.csv")
    assert len(read_csv(second.folder / "codings.csv")) == len(read_csv(first.folder / "codings.csv")) + 1


def _set_refit_after(root: Path, share: float) -> None:
    config = root / "policoder.toml"
    text = config.read_text(encoding="utf-8")
    start = text.index("refit_after = ")
    config.write_text(text[:start] + f"refit_after = {share}" + text[text.index(" ", start + 14):], encoding="utf-8")


def test_a_changed_document_is_folded_into_the_kept_topic_model(small_project):
    """Within refit_after the model, its id (and so its labels file) stay; the changed document's shares
    are inferred and marked, the others' are as fitted; past it, or with --force, the model is refitted."""
    _set_refit_after(small_project, 0.2)
    first = open_project(small_project).run()
    fitted = {r["doc_id"]: r for r in read_csv(first.folder / "topics" / "doc_topics.csv")}
    assert {r["fitted"] for r in fitted.values()} == {"True"}
    changed = small_project / "corpus" / "policy" / "js_edu_2021_training_bases.txt"
    text = changed.read_text(encoding="utf-8")
    changed.write_text(text.replace("补助资金必须专款专用", "对成效突出的基地给予奖励；补助资金必须专款专用"),
                       encoding="utf-8")
    project = open_project(small_project)
    doc_id = str(project.document("js_edu_2021_training_bases.txt")["id"])
    report = project.run()
    topics = {s.stage: s.counts for s in report.stages}["topics"]
    assert topics["fit"] == "kept" and topics["folded_in"] == 1 and topics["changed_since_fit"] == 1
    assert topics["model_id"] == {s.stage: s.counts for s in first.stages}["topics"]["model_id"]
    folded = {r["doc_id"]: r for r in read_csv(report.folder / "topics" / "doc_topics.csv")}
    assert folded[doc_id]["fitted"] == "False"
    assert folded[doc_id]["topic_0"] != fitted[doc_id]["topic_0"]  # its new words moved its shares
    assert {d: r for d, r in folded.items() if d != doc_id} == {d: r for d, r in fitted.items() if d != doc_id}
    assert abs(float(folded[doc_id]["topic_0"]) + float(folded[doc_id]["topic_1"]) - 1) < 1e-5
    clause_shares = {(c["doc_id"], c["topic_0"]) for c in read_csv(report.folder / "clauses.csv")}
    assert (doc_id, folded[doc_id]["topic_0"]) in clause_shares  # the datasets carry the folded-in shares
    # a second changed document: two of six changed since the fit, past 0.2, so the model is refitted
    other = small_project / "corpus" / "policy" / "nb_gov_2023_shiyu_consortium.txt"
    text = other.read_text(encoding="utf-8")
    other.write_text(text.replace("（二）理事会治理。", "（二）理事会治理。严禁挪用专项资金。"), encoding="utf-8")
    refitted = {s.stage: s.counts for s in open_project(small_project).run().stages}["topics"]
    assert refitted["fit"] == "fitted" and refitted["model_id"] != topics["model_id"]
    forced = open_project(small_project).run(RunOptions(only=("topics", "report"), force=True))
    assert {s.stage: s.counts for s in forced.stages}["topics"]["fit"] == "fitted"


def test_a_new_unit_setting_resegments_stored_texts_without_reading_files(small_project):
    open_project(small_project).run(RunOptions(only=("ingest", "segment")))
    config = small_project / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('unit = "item"', 'unit = "sentence"'),
                      encoding="utf-8")
    project = open_project(small_project)
    before = len(project.rows("clauses"))
    report = project.run(RunOptions(only=("ingest", "segment")))
    counts = {s.stage: s.counts for s in report.stages}
    assert counts["ingest"]["ingested"] == 0 and counts["ingest"]["unchanged"] == len(POLICY) + 8
    assert counts["segment"]["segmented"] == len(POLICY) + 8
    assert len(project.rows("clauses")) > before
    assert report.folder is None  # no report stage: no run folder
    assert not any(p.name.startswith(".incomplete") for p in (small_project / "outputs").iterdir())


def test_only_from_and_force_choose_the_stages(small_project):
    project = open_project(small_project)
    report = project.run(RunOptions(only=("ingest", "segment", "tokenize", "topics")))
    assert statuses(report) == {"ingest": "ran", "segment": "up to date", "tokenize": "ran",
                                "instruments": "not selected", "topics": "ran", "autocode": "not selected",
                                "reliability": "not selected", "triangulation": "not selected",
                                "report": "not selected"}
    again = project.run(RunOptions(start="topics"))
    assert statuses(again)["ingest"] == "not selected" and statuses(again)["topics"] == "up to date"
    assert statuses(again)["autocode"] == "ran" and again.folder is not None
    forced = project.run(RunOptions(only=("topics", "report"), force=True))
    assert statuses(forced)["topics"] == "ran"
    with pytest.raises(ProjectError, match="unknown stage 'topic'"):
        project.run(RunOptions(only=("topic",)))


def test_cli_run_only_and_its_usage_errors(small_project):
    command = [sys.executable, "-m", "pipeline", "run", "--project", str(small_project)]
    done = subprocess.run([*command, "--only", "ingest,segment"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "ingest" in done.stdout and "not selected" in done.stdout
    wrong = subprocess.run([*command, "--only", "topcs"], capture_output=True, text=True, timeout=300)
    assert wrong.returncode == 2 and "unknown stage 'topcs'" in wrong.stderr
    both = subprocess.run([*command, "--only", "topics", "--from", "report"], capture_output=True, text=True)
    assert both.returncode == 2 and "not both" in both.stderr


def test_run_folder_holds_workbook_parquet_database_copy_and_report(small_project):
    import pandas

    project = open_project(small_project)
    project.run(RunOptions(only=("ingest",)))
    transcript = next(d for d in project.rows("documents") if d["kind"] == "transcript")
    turn = project.document(str(transcript["id"]))["turns"][1]
    project.code(transcript["id"], turn["start"], turn["start"] + 8, project.codebook().codable[0], "li")
    report = project.run()
    folder = report.folder

    for name in DATASETS:
        assert len(pandas.read_parquet(folder / "parquet" / f"{name}.parquet")) == len(read_csv(folder / f"{name}.csv"))
    copy = sqlite3.connect(folder / "policoder.db")
    assert copy.execute("SELECT count(*) FROM documents").fetchone()[0] == len(POLICY) + 8
    assert copy.execute("SELECT count(*) FROM codings WHERE coder = 'li'").fetchone()[0] == 1
    assert copy.execute("SELECT count(*) FROM clauses").fetchone()[0] == len(read_csv(folder / "clauses.csv"))
    copy.close()
    assert (folder / "report.html").stat().st_size > 10_000
    human = [row for row in read_csv(folder / "codings.csv") if row["coder"] == "li"]
    assert len(human) == 1 and human[0]["unit_id"] == turn["turn_id"] and human[0]["speaker"] == turn["speaker"]
    assert human[0]["doc_participant"] == "C01" and human[0]["doc_group"] == "college"


def test_a_malformed_codebook_fails_its_stages_in_one_line_and_the_run_goes_on(small_project):
    (small_project / "codebooks" / "broken.yaml").write_text("id: broken\ncodes:\n  - id: [unclosed\n",
                                                               encoding="utf-8")
    config = small_project / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('codebook = "iei_interviews"',
                                                                 'codebook = "codebooks/broken.yaml"'),
                      encoding="utf-8")
    report = open_project(small_project).run()
    assert statuses(report)["autocode"] == statuses(report)["reliability"] == "failed"
    assert statuses(report)["instruments"] == statuses(report)["topics"] == "ran"
    error = next(s.counts["error"] for s in report.stages if s.stage == "autocode")
    assert "broken.yaml" in error and "\n" not in error
    assert report.exit_status == 1 and (report.folder / "clauses.csv").is_file()
    assert "codings" in next(s.counts for s in report.stages if s.stage == "report")["not_built"]


def test_a_failed_instruments_stage_leaves_the_clauses_unlabelled_and_no_stale_tables(small_project):
    project = open_project(small_project)
    first = project.run()
    clauses = len(read_csv(first.folder / "clauses.csv"))
    project.close()
    (small_project / "codebooks" / "broken_scheme.yaml").write_text("scheme: broken\nlabels: [\n", encoding="utf-8")
    config = small_project / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('scheme = "default"',
                                                                 'scheme = "codebooks/broken_scheme.yaml"'),
                      encoding="utf-8")
    report = open_project(small_project).run()
    assert statuses(report)["instruments"] == "failed" and report.exit_status == 1
    rows = read_csv(report.folder / "clauses.csv")
    assert len(rows) == clauses and {row["primary_instrument"] for row in rows} == {""}
    assert not (report.folder / "instruments").exists()  # the last run's tables are not this run's
    missed = next(s.counts for s in report.stages if s.stage == "report")["not_built"]
    assert "broken_scheme.yaml" in missed["clause instruments"]
    problems = read_csv(report.folder / "problems.csv")  # the run's problems say so; it has not 0
    assert [row["code"] for row in problems if row["path"] == "stage instruments"] == ["stage-failed"]
    assert all("broken_scheme.yaml" in row["message"] for row in problems if row["path"].startswith("stage "))


def test_problems_that_still_stand_are_listed_by_runs_that_read_no_files(small_project):
    (small_project / "corpus" / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    project = open_project(small_project)
    project.run()
    unit = next(u for u in project.instrument_units() if u["document"].endswith("js_edu_2021_training_bases.txt"))
    project.label_instruments(unit["unit_id"], ["incentive"], "incentive", "alice")
    later = project.run(RunOptions(only=("topics", "report")))
    problems = read_csv(later.folder / "problems.csv")
    assert [row["code"] for row in problems if row["path"] == "corpus/broken.pdf"] == ["pdf-corrupt"]
    manifest = json.loads((later.folder / "manifest.json").read_text(encoding="utf-8"))
    assert [row["code"] for row in manifest["problems"]] == [row["code"] for row in problems]
    # alice labelled a clause whose text then changed: her label is kept, not applied, and said so
    path = small_project / "corpus" / "policy" / "js_edu_2021_training_bases.txt"
    path.write_text(path.read_text(encoding="utf-8").replace(unit["text"][:12], unit["text"][:12] + "（修订）", 1),
                    encoding="utf-8")
    (small_project / "corpus" / "broken.pdf").unlink()
    edited = project.run()
    problems = read_csv(edited.folder / "problems.csv")
    assert [row["code"] for row in problems] == ["label-stale"]
    assert f"{unit['unit_id']} (alice)" in problems[0]["message"] and problems[0]["severity"] == "warning"
    assert project.stale_instrument_labels() == [{"unit_id": unit["unit_id"], "coder": "alice",
                                                  "path": "corpus/policy/js_edu_2021_training_bases.txt"}]
    project.label_instruments(unit["unit_id"], ["incentive"], "incentive", "alice")  # on the clause's new text
    assert project.stale_instrument_labels() == []
    project.close()


def test_the_manifest_names_metadata_sheets_and_the_scheme_and_codebook_read(small_project):
    # a sheet in a folder above the corpus applies to the files it names: read, so listed
    (small_project / "metadata.csv").write_text("file,level\ncorpus/policy/js_edu_2021_training_bases.txt,provincial\n",
                                                encoding="utf-8")
    report = open_project(small_project).run()
    manifest = json.loads((report.folder / "manifest.json").read_text(encoding="utf-8"))
    assert {row["path"] for row in manifest["other_inputs"] if row["path"].endswith("metadata.csv")} == {
        "corpus/interviews/metadata.csv", "metadata.csv"}
    # a run that reads no files still names the sheets the documents were described with
    later = open_project(small_project).run(RunOptions(only=("report",)))
    manifest = json.loads((later.folder / "manifest.json").read_text(encoding="utf-8"))
    assert {row["path"] for row in manifest["other_inputs"] if row["path"].endswith("metadata.csv")} == {
        "corpus/interviews/metadata.csv", "metadata.csv"}
    scheme = manifest["scheme"]
    assert scheme["id"] == "default" and scheme["path"].endswith("default.yaml")
    assert scheme["sha256"] == hashlib.sha256(Path(scheme["path"]).read_bytes()).hexdigest()
    assert manifest["codebook"]["id"] == "iei_interviews" and len(manifest["codebook"]["sha256"]) == 64


def test_a_second_run_is_refused_while_another_holds_the_project(small_project):
    from filelock import FileLock

    (small_project / "outputs").mkdir(exist_ok=True)
    with FileLock(small_project / "outputs" / ".run.lock"):
        with pytest.raises(ProjectError, match="another `policoder run`"):
            open_project(small_project).run()


def test_dask_local_cluster_gives_the_same_datasets_as_local_processes(small_project, tmp_path):
    distributed = pytest.importorskip("distributed")
    twin = tmp_path / "twin"
    shutil.copytree(small_project, twin)
    local = open_project(small_project).run(RunOptions(workers=2))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = open_project(twin).run(RunOptions(executor="dask", scheduler=cluster.scheduler_address))
    assert on_dask.manifest["executor"]["executor"] == "dask" and on_dask.manifest["executor"]["workers"] == 2
    assert datasets(on_dask.folder) == datasets(local.folder)


def test_dask_executor_without_a_scheduler_is_a_clear_error(small_project):
    with pytest.raises(Exception, match="needs a scheduler address"):
        open_project(small_project).run(RunOptions(executor="dask"))


def _human_work(root: Path) -> tuple:
    project = open_project(root)
    codings = sorted((c["doc_id"], c["start"], c["end"], c["code"], c["coder"])
                     for c in project.codings(machine=False))
    memos = sorted((m["target_kind"], m["target"], m["text"]) for m in project.memos())
    project.close()
    return codings, memos


# where the kill lands: reading files, inside two corpus-wide stages, writing the datasets
@pytest.mark.parametrize("marker", [".incomplete-*", ".stages/.tmp-instruments-*", ".stages/.tmp-topics-*",
                                    ".incomplete-*/clauses.csv"])
def test_a_killed_run_loses_nothing_and_the_next_run_completes(small_project, marker):
    project = open_project(small_project)
    project.run(RunOptions(only=("ingest", "segment")))
    transcript = next(d for d in project.rows("documents") if d["kind"] == "transcript")
    turn = project.document(str(transcript["id"]))["turns"][0]
    project.code(transcript["id"], turn["start"], turn["end"], project.codebook().codable[0], "wang", memo="why")
    project.write_memo("document", transcript["id"], "an interview to compare with the bureau's", "wang")
    project.close()
    before = _human_work(small_project)
    outputs = small_project / "outputs"
    # a real policoder process, killed without warning as soon as it reaches the marked point
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--project", str(small_project), "--force"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while not list(outputs.glob(marker)) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, f"the run ended before reaching {marker}"
    outputs = small_project / "outputs"
    for folder in outputs.iterdir():  # whatever the kill left, no visible run folder is half-written
        if not folder.name.startswith(".") and folder.name != "latest":
            assert (folder / "manifest.json").is_file()
    assert _human_work(small_project) == before
    report = open_project(small_project).run()
    assert report.exit_status == 0 and (report.folder / "manifest.json").is_file()
    assert (outputs / "latest").resolve() == report.folder
    assert not [p for p in outputs.iterdir() if p.name.startswith(".incomplete")]
    assert _human_work(small_project) == before
    assert read_csv(report.folder / "clauses.csv") and read_csv(report.folder / "codings.csv")


def test_human_codings_that_need_review_are_listed_as_problems_and_kept(small_project):
    project = open_project(small_project)
    project.run()
    path = small_project / "corpus" / "interviews" / "c02_chongqing_program_leader.txt"
    text = path.read_text(encoding="utf-8")
    turn = next(t for t in project.rows("turns") if t["role"] == "participant"
                and t["doc_id"] == next(d["id"] for d in project.rows("documents") if d["path"].endswith(path.name)))
    project.code(turn["doc_id"], turn["start"], turn["end"], "motives", "alice")
    assert read_csv(project.run().folder / "problems.csv") == []
    path.write_text(text.replace(turn["text"], "（此段录音缺失）"), encoding="utf-8")  # the coded answer is gone
    problems = [row for row in read_csv(project.run().folder / "problems.csv") if row["code"] == "coding-review"]
    assert len(problems) == 1 and problems[0]["path"].endswith(path.name) and problems[0]["severity"] == "warning"
    assert "motives (alice)" in problems[0]["message"] and "re-code it" in problems[0]["message"]
    assert [c["anchor"] for c in project.codings(machine=False)] == ["unanchored"]  # kept, never dropped
    project.close()


def test_a_metadata_sheet_above_the_project_never_applies(small_project):
    (small_project.parent / "metadata.csv").write_text(
        "file,level\nsmall/corpus/policy/js_edu_2021_training_bases.txt,county\n", encoding="utf-8")
    report = open_project(small_project).run()
    documents = {row["path"]: row for row in read_csv(report.folder / "documents.csv")}
    assert documents["corpus/policy/js_edu_2021_training_bases.txt"]["level"] == "provincial"
    manifest = json.loads((report.folder / "manifest.json").read_text(encoding="utf-8"))
    assert not any(row["path"].startswith("..") for row in manifest["other_inputs"])
