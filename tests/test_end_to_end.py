"""The demo corpus through the installed `policoder` command, as a scholar runs it."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO

pytestmark = pytest.mark.slow


def policoder(*args, cwd):
    # the console script installed beside this interpreter (CI does not activate the venv)
    beside = Path(sys.executable).parent / "policoder"
    command = str(beside) if beside.exists() else shutil.which("policoder")
    if command is None:
        pytest.fail("the `policoder` console script is not installed: pip install .")
    return subprocess.run([command, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def test_end_to_end_run_on_the_demo_corpus(demo_project):
    first = policoder("run", "--project", demo_project, cwd=demo_project)
    assert first.returncode == 0, first.stderr
    latest = demo_project / "outputs" / "latest"
    manifest = json.loads((latest / "manifest.json").read_text(encoding="utf-8"))
    documents, clauses = read_csv(latest / "documents.csv"), read_csv(latest / "clauses.csv")
    turns = read_csv(latest / "turns.csv")
    demo_files = [p for p in DEMO.rglob("*") if p.is_file() and p.name not in ("README.md", "metadata.csv")]
    assert len(documents) == len(demo_files) == manifest["counts"]["documents"]
    assert {d["level"] for d in documents if d["kind"] == "policy"} >= {"national", "provincial", "municipal", "county"}
    assert all(d["status"] == "ok" for d in documents)
    assert len(clauses) >= 12 * 5 and len(turns) >= 6 * 8
    assert manifest["counts"]["clauses"] == len(clauses)
    assert {i["path"] for i in manifest["inputs"]} == {f"corpus/{p.relative_to(DEMO).as_posix()}" for p in demo_files}
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert manifest["libraries"]["jieba"] != "not installed" and manifest["seed"] == 20261123
    assert (latest / "policoder.xlsx").stat().st_size > 0
    # every clause carries its instruments, from the rules (no human labels yet)
    assert {c["instrument_source"] for c in clauses} == {"rules"} and all(c["primary_instrument"] for c in clauses)
    assert manifest["instruments"]["units"] == len(clauses)
    assert (latest / "instruments" / "instruments_by_level.csv").exists()
    # the topic model: K chosen by the sweep, and why, in the manifest
    assert manifest["topics"]["k"] in range(3, 9) and "c_v" in manifest["topics"]["reason"]
    assert (latest / "topics" / "coherence_by_k.csv").exists() and (latest / "topics" / "topics.csv").exists()
    # the database lives in the project, not under outputs/: deleting outputs loses nothing
    assert (demo_project / "policoder.db").exists()

    second = policoder("run", "--project", demo_project, cwd=demo_project)
    assert second.returncode == 0, second.stderr
    manifest2 = json.loads((latest / "manifest.json").read_text(encoding="utf-8"))
    assert manifest2["run_id"] != manifest["run_id"]
    assert manifest2["counts"]["ingested"] == 0 and manifest2["counts"]["unchanged"] == len(demo_files)
    assert read_csv(latest / "clauses.csv") == clauses

    shutil.rmtree(demo_project / "outputs")
    listed = policoder("docs", "--project", demo_project, cwd=demo_project)
    assert listed.returncode == 0 and "national" in listed.stdout


def test_end_to_end_module_entry_point_and_bad_batch(tmp_path, bad_inputs):
    result = subprocess.run([sys.executable, "-m", "pipeline", "init", tmp_path / "p"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    batch = policoder("ingest", bad_inputs, "--project", tmp_path / "p", cwd=tmp_path)
    assert batch.returncode == 1
    problem_lines = [line for line in batch.stderr.splitlines() if line.startswith("skipped:")]
    assert len(problem_lines) == 8 and all("[" in line for line in problem_lines)
