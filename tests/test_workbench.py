"""The workbench's HTTP interface, through a real app on a real project database (no browser)."""
from __future__ import annotations

import html
import json
import threading

import pytest
from fastapi.testclient import TestClient

from pipeline import open_project
from pipeline.workbench import create_app
from tests.conftest import WORKBENCH_TRANSCRIPTS as TRANSCRIPTS, codable, document_id

POLICY = "p01_notice.txt"


def human_rows(root) -> dict[str, int]:
    """How many rows each table of human work holds (they only ever grow)."""
    project = open_project(root)
    try:
        return {table: project.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("codings", "instrument_codings", "memos", "assignments")}
    finally:
        project.close()


def signed_in(root, coder: str = "王老师", **app_options) -> tuple[TestClient, str]:
    client = TestClient(create_app(root, secret="test-secret", **app_options))
    page = client.get("/", params={"coder": coder})
    assert page.status_code == 200
    return client, client.get("/api/session").json()["csrf"]


def test_start_page_lists_documents_and_coder_link_sets_the_coder(workbench_project):
    client = TestClient(create_app(workbench_project, secret="s"))
    anonymous = client.get("/")
    assert anonymous.status_code == 200 and "Who is coding?" in anonymous.text
    assert 'href="/documents/' not in anonymous.text  # document links need a coder
    page = client.get("/?coder=李四")
    assert "李四" in page.text
    for name in TRANSCRIPTS:
        doc_id = document_id(workbench_project, name)
        assert f'href="/documents/{doc_id}"' in page.text
    assert client.get("/api/session").json()["coder"] == "李四"
    assert client.get(f"/documents/{doc_id}").status_code == 200


def test_a_document_without_a_title_is_named_by_its_file_stem_on_its_page_as_in_the_list(workbench_project):
    client, _ = signed_in(workbench_project)
    doc_id = document_id(workbench_project, "e01_enterprise.txt")
    listed = {d["id"]: d["title"] for d in client.get("/api/documents").json()}
    assert listed[doc_id] == "e01_enterprise"
    page = client.get(f"/documents/{doc_id}").text
    assert '<h1 class="doc-title">e01_enterprise</h1>' in page and "<title>e01_enterprise" in page


def test_code_a_chinese_span_change_it_and_remove_it_with_history(workbench_project):
    client, csrf = signed_in(workbench_project)
    doc_id = document_id(workbench_project, "e01_enterprise.txt")
    document = client.get(f"/api/documents/{doc_id}").json()
    start = document["text"].index("共建了产业学院")
    end = start + len("共建了产业学院")
    first, second = codable(workbench_project)[:2]
    made = client.post("/api/codings", json={"doc_id": doc_id, "start": start, "end": end, "codes": [first, second]},
                       headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    ids = made.json()["ids"]
    codings = client.get(f"/api/documents/{doc_id}").json()["codings"]
    assert {(c["code"], c["start"], c["end"], c["coder"], c["text"]) for c in codings} == {
        (first, start, end, "王老师", "共建了产业学院"), (second, start, end, "王老师", "共建了产业学院")}
    changed = client.patch(f"/api/codings/{ids[0]}", json={"memo": "产业学院：共建"}, headers={"X-CSRF-Token": csrf})
    assert changed.status_code == 200
    removed = client.delete(f"/api/codings/{ids[1]}", headers={"X-CSRF-Token": csrf})
    assert removed.status_code == 200
    standing = client.get(f"/api/documents/{doc_id}").json()["codings"]
    assert [(c["code"], c["memo"]) for c in standing] == [(first, "产业学院：共建")]
    history = client.get(f"/api/codings/{ids[1]}/history").json()
    assert [row["deleted"] for row in history] == [0, 1] or [row["deleted"] for row in history] == [False, True]
    # the library sees exactly what the browser did
    project = open_project(workbench_project)
    try:
        rows = [c for c in project.codings(machine=False) if c["doc_id"] == doc_id]
        assert [(c["code"], c["start"], c["end"], c["memo"]) for c in rows] == [(first, start, end, "产业学院：共建")]
    finally:
        project.close()


@pytest.mark.parametrize("method, path, body, status", [
    ("post", "/api/codings", {"doc_id": 1, "start": 5, "end": 3, "codes": ["x"]}, 400),  # span backwards
    ("post", "/api/codings", {"doc_id": 1, "start": 0, "end": 10_000, "codes": "CODE"}, 400),  # outside the text
    ("post", "/api/codings", {"doc_id": 999, "start": 0, "end": 2, "codes": "CODE"}, 404),
    ("post", "/api/codings", {"doc_id": 1, "start": 0, "end": 2, "codes": ["no-such-code"]}, 400),
    ("post", "/api/codings", {"doc_id": 1, "start": 0, "end": 2, "codes": []}, 422),
    ("post", "/api/codings", {"doc_id": "one", "start": 0, "end": 2, "codes": "CODE"}, 422),
    ("post", "/api/codings", "not json", 422),
    ("patch", "/api/codings/999", {"memo": "x"}, 404),
    ("patch", "/api/codings/1", {}, 422),
    ("delete", "/api/codings/999", None, 404),
    ("post", "/api/memos", {"target_kind": "planet", "target": "1", "text": "x"}, 400),
    ("post", "/api/memos", {"target_kind": "document", "target": "1", "text": ""}, 422),
    ("get", "/api/documents/999", None, 404),
    ("get", "/api/codings/999/history", None, 404),
    ("get", "/api/nowhere", None, 404),
    ("put", "/api/codings/1", {"memo": "x"}, 405),
    ("get", f"/api/codings/{2**63}/history", None, 422),  # past what SQLite holds
    ("post", "/api/memos", {"target_kind": "unit", "target": "no-such-unit", "text": "x"}, 404),
    ("post", "/api/memos", {"target_kind": "document", "target": "999", "text": "x"}, 404),
    ("post", "/api/memos", {"target_kind": "code", "target": "no-such-code", "text": "x"}, 400),
    ("post", "/api/memos", {"target_kind": "coding", "target": "999", "text": "x"}, 404),
    ("post", "/api/memos", {"target_kind": "document", "target": "1", "text": "x", "replaces": 999}, 404),
    ("post", "/api/memos", r'{"target_kind": "document", "target": "1", "text": "\ud800"}', 422),  # lone surrogate
    ("get", "/api/memos?target=" + "x" * 201, None, 422),
    ("get", "/api/memos?target_kind=planet", None, 400),
    # a new version of memo 1 (on document 1) cannot move to another target
    ("post", "/api/memos", {"target_kind": "unit", "target": "1-2", "text": "x", "replaces": 1}, 400),
    # the clause review (document 2 is the policy notice, 1 a transcript)
    ("get", "/api/documents/1/instruments", None, 400),
    ("get", "/api/documents/999/instruments", None, 404),
    ("post", "/api/instruments", {"unit_id": "no-such-unit", "labels": [], "primary": "incentive"}, 404),
    ("post", "/api/instruments", {"unit_id": "1-2", "labels": [], "primary": "incentive"}, 404),  # a turn
    ("post", "/api/instruments", {"unit_id": "2-1", "labels": ["bribery"], "primary": "incentive"}, 400),
    ("post", "/api/instruments", {"unit_id": "2-1", "labels": ["none"], "primary": "incentive"}, 400),
    ("post", "/api/instruments", {"unit_id": "2-1", "labels": [], "primary": "bribery"}, 400),
    ("post", "/api/instruments", {"unit_id": "2-1", "labels": ["incentive"], "primary": "none"}, 400),
    ("post", "/api/instruments", {"unit_id": "2-1", "labels": [], "primary": "incentive", "confidence": "sure"}, 400),
    ("post", "/api/instruments", {"unit_id": "2-1", "labels": "incentive", "primary": "incentive"}, 422),
    ("post", "/api/instruments", {"unit_id": "2-1", "labels": []}, 422),
    # agreement and consensus (one coder so far)
    ("get", "/api/agreement", None, 400),
    ("get", "/api/agreement?unit=sentence", None, 400),
    ("get", "/api/agreement?depth=-1", None, 422),
    ("get", "/api/disagreements", None, 400),
    ("post", "/api/consensus", {"unit_id": "no-such-unit", "codes": []}, 404),
    ("post", "/api/consensus", {"unit_id": "1-2", "codes": ["no-such-code"]}, 400),
    ("post", "/api/consensus", {"unit_id": "1-2", "codes": "part_deep"}, 422),
    ("post", "/api/consensus", {"codes": []}, 422),
])
def test_bad_requests_get_a_4xx_with_a_message_and_write_nothing(workbench_project, method, path, body, status):
    client, csrf = signed_in(workbench_project)
    code = codable(workbench_project)[0]
    client.post("/api/codings", json={"doc_id": 1, "start": 0, "end": 2, "codes": [code]},
                headers={"X-CSRF-Token": csrf})  # coding 1, so edits of it can be tried
    client.post("/api/memos", json={"target_kind": "document", "target": "1", "text": "访谈"},
                headers={"X-CSRF-Token": csrf})  # memo 1, so new versions of it can be tried
    if isinstance(body, dict) and body.get("codes") == "CODE":
        body = {**body, "codes": [code]}
    project = open_project(workbench_project)
    before = project.coding_history(1)
    project.close()
    written = human_rows(workbench_project)
    kwargs = {"headers": {"X-CSRF-Token": csrf}}
    if body is not None:
        kwargs |= {"json": body} if isinstance(body, dict) else {
            "content": body, "headers": {"X-CSRF-Token": csrf, "Content-Type": "application/json"}}
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]
    assert human_rows(workbench_project) == written
    project = open_project(workbench_project)
    try:
        assert project.coding_history(1) == before
        assert len(project.codings(machine=False)) == 1
    finally:
        project.close()


def test_writes_need_the_session_csrf_token_and_a_coder(workbench_project):
    client, csrf = signed_in(workbench_project)
    body = {"doc_id": 1, "start": 0, "end": 2, "codes": codable(workbench_project)[:1]}
    assert client.post("/api/codings", json=body).status_code == 403
    assert client.post("/api/codings", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    stranger = TestClient(create_app(workbench_project, secret="test-secret"))
    stranger_csrf = stranger.get("/api/session").json()["csrf"]
    assert stranger.post("/api/codings", json=body, headers={"X-CSRF-Token": stranger_csrf}).status_code == 401
    assert client.post("/api/codings", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201


def test_a_machine_coder_name_or_an_unprintable_one_is_refused(workbench_project):
    client = TestClient(create_app(workbench_project, secret="s"))
    assert client.get("/", params={"coder": "auto"}).status_code == 400
    assert client.get("/", params={"coder": "a\nb"}).status_code == 400
    assert client.get("/api/session").json()["coder"] is None


def test_beyond_loopback_every_request_needs_the_access_token(workbench_project):
    client = TestClient(create_app(workbench_project, secret="s", token="open-sesame"))
    assert client.get("/").status_code == 401
    assert client.get("/api/documents", headers={"X-Policoder-Token": "wrong"}).status_code == 401
    assert client.get("/?token=open-sesame&coder=张三").status_code == 200
    assert client.get("/api/documents").status_code == 200  # the session remembers the token


def test_document_and_codebook_text_is_escaped(workbench_project):
    client, _ = signed_in(workbench_project)
    doc_id = document_id(workbench_project, "x01_script.txt")
    page = client.get(f"/documents/{doc_id}")
    assert "<script>window.hacked" not in page.text
    listing = client.get("/")
    assert "<script>window" not in listing.text
    # the API returns it as data; the page puts it in the DOM with textContent (browser test)
    assert "<script>window.hacked = 1</script>" in client.get(f"/api/documents/{doc_id}").json()["text"]


def test_two_coders_writing_at_once_both_keep_their_codings(workbench_project):
    code = codable(workbench_project)[0]
    doc_id = document_id(workbench_project, "e01_enterprise.txt")
    coders = [signed_in(workbench_project, coder) for coder in ("甲", "乙")]
    failures = []

    def code_spans(client, csrf):
        for start in range(0, 40, 2):
            response = client.post("/api/codings", json={"doc_id": doc_id, "start": start, "end": start + 2,
                                                          "codes": [code]}, headers={"X-CSRF-Token": csrf})
            if response.status_code != 201:
                failures.append(response.text)

    threads = [threading.Thread(target=code_spans, args=pair) for pair in coders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    project = open_project(workbench_project)
    try:
        by_coder = {}
        for row in project.codings(machine=False):
            by_coder.setdefault(row["coder"], []).append(row["start"])
        assert {coder: sorted(starts) for coder, starts in by_coder.items()} == {
            "甲": list(range(0, 40, 2)), "乙": list(range(0, 40, 2))}
    finally:
        project.close()


# --- policy clause review ----------------------------------------------------------------------

def test_clause_review_shows_the_machines_instruments_and_one_click_makes_a_human_label(workbench_project):
    client, csrf = signed_in(workbench_project)
    doc_id = document_id(workbench_project, POLICY)
    review = client.get(f"/api/documents/{doc_id}/instruments").json()
    project = open_project(workbench_project)
    try:  # what the review shows is what `policoder instruments classify` stored for the rules
        rules = {row["unit_id"]: row for row in project.instrument_rows()}
    finally:
        project.close()
    assert review["machine"] == "rules" and [u["unit_id"] for u in review["units"]] == list(rules)
    for unit in review["units"]:
        assert (unit["labels"], unit["primary"]) == (rules[unit["unit_id"]]["rule_instruments"],
                                                     rules[unit["unit_id"]]["rule_primary"])
        assert [cue["text"] for cue in unit["cues"]] == rules[unit["unit_id"]]["instrument_cues"]
        assert unit["mine"] is None
    subsidy = review["units"][0]  # 按每人每月500元给予补贴: an incentive, by its cue 给予补贴
    assert subsidy["primary"] == "incentive" and {"text": "给予补贴", "label": "incentive", "group": "grant",
                                                   "in_lead_in": False} in subsidy["cues"]
    # accept: the machine's labels become the coder's own
    accepted = client.post("/api/instruments", json={"unit_id": subsidy["unit_id"], "labels": [],
                                                     "primary": subsidy["primary"]}, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201, accepted.text
    # correct another: the coder adds capacity building and makes it the primary instrument
    other = review["units"][1]
    corrected = client.post("/api/instruments", json={"unit_id": other["unit_id"], "labels": ["constraint"],
                                                      "primary": "capacity", "confidence": "medium"},
                            headers={"X-CSRF-Token": csrf})
    assert corrected.json()["labels"] == ["constraint", "capacity"]
    again = client.get(f"/api/documents/{doc_id}/instruments").json()["units"]
    assert again[0]["mine"] == {"labels": subsidy["labels"], "primary": "incentive"}
    assert again[1]["mine"] == {"labels": ["constraint", "capacity"], "primary": "capacity"}
    assert again[1]["primary"] == other["primary"]  # the machine's suggestion stays beside the coder's label
    project = open_project(workbench_project)
    try:  # the labels the classifier trains on, and the clause table, have them under the coder's name
        human = {u["unit_id"]: u for u in project.human_instrument_labels()}
        assert {unit_id: (u["labels"], u["primary"], u["coder"]) for unit_id, u in human.items()} == {
            subsidy["unit_id"]: (set(subsidy["labels"]), "incentive", "王老师"),
            other["unit_id"]: ({"constraint", "capacity"}, "capacity", "王老师")}
        rows = {row["unit_id"]: row for row in project.instrument_rows()}
        assert rows[other["unit_id"]]["instrument_source"] == "human:王老师"
        stored = project.db.execute("SELECT coder, source, confidence FROM instrument_codings ORDER BY id").fetchall()
        assert stored == [("王老师", "workbench", None), ("王老师", "workbench", "medium")]
    finally:
        project.close()


def test_a_second_label_is_appended_and_the_latest_stands(workbench_project):
    client, csrf = signed_in(workbench_project)
    unit_id = client.get(f"/api/documents/{document_id(workbench_project, POLICY)}/instruments").json()["units"][2]["unit_id"]
    for primary in ("hortatory", "system_change"):
        assert client.post("/api/instruments", json={"unit_id": unit_id, "primary": primary},
                           headers={"X-CSRF-Token": csrf}).status_code == 201
    project = open_project(workbench_project)
    try:
        assert [u["primary"] for u in project.human_instrument_labels()] == ["system_change"]
        assert project.db.execute("SELECT count(*) FROM instrument_codings").fetchone()[0] == 2
    finally:
        project.close()


def test_labelling_needs_a_coder_and_the_csrf_token(workbench_project):
    client, csrf = signed_in(workbench_project)
    body = {"unit_id": f"{document_id(workbench_project, POLICY)}-1", "primary": "incentive"}
    assert client.post("/api/instruments", json=body).status_code == 403
    stranger = TestClient(create_app(workbench_project, secret="test-secret"))
    stranger_csrf = stranger.get("/api/session").json()["csrf"]
    assert stranger.post("/api/instruments", json=body, headers={"X-CSRF-Token": stranger_csrf}).status_code == 401
    assert stranger.get("/api/documents/2/instruments").status_code == 401
    assert human_rows(workbench_project)["instrument_codings"] == 0


def test_the_policy_page_escapes_its_text(workbench_project):
    client, _ = signed_in(workbench_project)
    doc_id = document_id(workbench_project, POLICY)
    page = client.get(f"/documents/{doc_id}")
    assert page.status_code == 200 and "<script>window.hacked" not in page.text
    assert 'data-kind="policy"' in page.text and "Clause review" in page.text


# --- agreement, disagreements and consensus ------------------------------------------------------

@pytest.fixture
def two_coders(workbench_project):
    """甲 and 乙 code the same turns: they agree on one and differ on two (one holding a <script> tag)."""
    first, second, third = codable(workbench_project)[:3]
    project = open_project(workbench_project)
    try:
        turns = [u for u in project.coding_units() if u["kind"] == "transcript"]
        for number, unit in enumerate(turns):
            project.code(unit["doc_id"], unit["start"], unit["end"], first if number else third, "甲")
            project.code(unit["doc_id"], unit["start"], unit["end"], second if number else third, "乙")
        return workbench_project, turns, (first, second, third)
    finally:
        project.close()


def test_agreement_is_what_policoder_agreement_reports(two_coders):
    from click.testing import CliRunner

    from pipeline.cli import cli

    root, turns, _ = two_coders
    client, _ = signed_in(root)
    api = client.get("/api/agreement").json()
    printed = CliRunner().invoke(cli, ["agreement", "--format", "json", "--project", str(root)])
    assert printed.exit_code == 0, printed.output
    assert api == json.loads(printed.output)
    assert api["coders"] == ["乙", "甲"] and api["units"] == len(turns) == 3
    # per unit: one agreement in three, for the nominal value of each turn
    assert api["overall"]["nominal"]["percent_agreement"] == pytest.approx(1 / 3)
    assert client.get("/api/agreement?unit=segment").json()["unit"] == "segment"


def test_the_agreement_page_lists_disagreements_linked_to_their_units(two_coders):
    root, turns, (first, second, _) = two_coders
    client, _ = signed_in(root)
    page = client.get("/agreement")
    assert page.status_code == 200
    assert "乙 × 甲" in page.text and 'id="per-code"' in page.text
    disagreements = client.get("/api/disagreements").json()
    assert [row["unit_id"] for row in disagreements] == [u["unit_id"] for u in turns[1:]]
    for row in disagreements:
        assert f'href="/documents/{row["doc_id"]}#u-{row["unit_id"]}"' in page.text
        assert row["甲"] == first and row["乙"] == second
    # the turn with the <script> tag is listed as text
    assert "<script>window.hacked" not in page.text and "&lt;script&gt;window.hacked" in page.text


def test_agreement_and_disagreements_of_codings_read_once_are_those_read_anew(two_coders):
    root, _, _ = two_coders
    project = open_project(root)
    try:
        project.reconcile(decisions={project.disagreements()[0]["unit_id"]: []}, agreed=False, by="王老师")
        codings = project.codings()
        for depth in (None, 0):
            assert project.agreement(depth=depth, boot=50, codings=codings) == project.agreement(depth=depth, boot=50)
            assert project.disagreements(depth=depth, codings=codings) == project.disagreements(depth=depth)
        assert project.agreement(unit="span", boot=0, codings=codings) == project.agreement(unit="span", boot=0)
    finally:
        project.close()


def test_consensus_is_recorded_as_the_consensus_coder_and_can_be_decided_again(two_coders):
    root, turns, (first, second, _) = two_coders
    client, csrf = signed_in(root, "王老师")
    unit = turns[1]
    made = client.post("/api/consensus", json={"unit_id": unit["unit_id"], "codes": [first, second]},
                       headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    assert made.json()["decided"] == {"units": 1, "added": 2, "removed": 0}
    changed = client.post("/api/consensus", json={"unit_id": unit["unit_id"], "codes": [second]},
                          headers={"X-CSRF-Token": csrf}).json()
    assert changed["decided"] == {"units": 1, "added": 0, "removed": 1}
    project = open_project(root)
    try:
        standing = [(c["coder"], c["code"], c["unit_id"]) for c in project.codings(machine=False)]
        assert [row for row in standing if row[0] == "consensus"] == [("consensus", second, unit["unit_id"])]
        assert len([row for row in standing if row[0] in ("甲", "乙")]) == 6  # the coders' own stay as they were
        rows = project.db.execute("SELECT changed_by, source, deleted FROM codings WHERE coder = 'consensus'"
                                  " ORDER BY id").fetchall()
        assert rows == [("王老师", "reconcile:王老师", 0)] * 2 + [("王老师", "reconcile:王老师", 1)]
    finally:
        project.close()
    assert "recorded:" in client.get("/agreement").text


@pytest.mark.parametrize("query, message", [
    ("unit=planet", "unit must be one of unit, segment, span"),
    ("depth=deep", "depth must be a whole number from 0 to 20, got 'deep'"),
    ("depth=-1", "depth must be a whole number from 0 to 20, got '-1'"),
    ("depth=21", "depth must be a whole number from 0 to 20, got '21'"),  # the API's cap
    ("depth=99999999999999999999", "depth must be a whole number from 0 to 20"),
])
def test_a_bad_choice_on_the_agreement_page_is_a_400_saying_why(two_coders, query, message):
    client, _ = signed_in(two_coders[0])
    page = client.get(f"/agreement?{query}")
    assert page.status_code == 400 and message in html.unescape(page.text) and 'id="per-code"' not in page.text
    assert client.get("/agreement?depth=20").status_code == 200


def test_with_one_coder_the_agreement_page_says_why_it_is_empty(workbench_project):
    client, _ = signed_in(workbench_project)
    page = client.get("/agreement")
    assert page.status_code == 200 and "agreement needs two coders or more" in page.text


# --- memos and document filters ------------------------------------------------------------------

def test_memos_on_a_document_its_units_and_codes(workbench_project):
    client, csrf = signed_in(workbench_project)
    doc_id = document_id(workbench_project, "e01_enterprise.txt")
    unit_id = client.get(f"/api/documents/{doc_id}").json()["units"][0]["unit_id"]
    code = codable(workbench_project)[0]
    for kind, target, text in (("document", str(doc_id), "企业访谈 <b>1</b>"), ("unit", unit_id, "招工难"),
                               ("code", code, "用于校企深度合作")):
        made = client.post("/api/memos", json={"target_kind": kind, "target": target, "text": text},
                           headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
    shown = client.get(f"/api/documents/{doc_id}").json()["memos"]
    assert [(m["target_kind"], m["target"], m["text"], m["coder"]) for m in shown] == [
        ("document", str(doc_id), "企业访谈 <b>1</b>", "王老师"), ("unit", unit_id, "招工难", "王老师")]
    assert [m["text"] for m in client.get("/api/memos", params={"target_kind": "code"}).json()] == ["用于校企深度合作"]
    other = document_id(workbench_project, "x01_script.txt")
    assert client.get(f"/api/documents/{other}").json()["memos"] == []
    # a new version replaces the memo; the old one stays in the database
    first = shown[0]["id"]
    assert client.post("/api/memos", json={"target_kind": "document", "target": str(doc_id), "text": "v2",
                                           "replaces": first}, headers={"X-CSRF-Token": csrf}).status_code == 201
    assert [m["text"] for m in client.get(f"/api/documents/{doc_id}").json()["memos"]] == ["招工难", "v2"]
    assert client.post("/api/memos", json={"target_kind": "document", "target": str(doc_id), "text": "v3",
                                           "replaces": first}, headers={"X-CSRF-Token": csrf}).status_code == 409
    assert human_rows(workbench_project)["memos"] == 4


def test_document_list_filters_by_group_and_by_assignment(workbench_project):
    client, _ = signed_in(workbench_project)
    ids = {name: document_id(workbench_project, name) for name in (*TRANSCRIPTS, POLICY)}
    listed = lambda page: {int(part.split('"')[0]) for part in page.text.split('href="/documents/')[1:]}  # noqa: E731
    assert listed(client.get("/")) == set(ids.values())
    assert listed(client.get("/", params={"group": "enterprise"})) == {ids["e01_enterprise.txt"]}
    assert listed(client.get("/", params={"group": "college"})) == {ids["x01_script.txt"]}
    assert listed(client.get("/", params={"assigned": "true"})) == set()
    project = open_project(workbench_project)
    try:
        project.assign(["王老师", "李四"], 1, sample="pilot", stratify=None)
        assigned = {row["doc_id"] for row in project.assignments("王老师")}
    finally:
        project.close()
    assert listed(client.get("/", params={"assigned": "true"})) == assigned
    assert {d["id"]: d["group"] for d in client.get("/api/documents").json()} == {
        ids["e01_enterprise.txt"]: "enterprise", ids["x01_script.txt"]: "college", ids[POLICY]: ""}


def test_a_coder_coding_blind_never_sees_the_others_codes(two_coders):
    root, turns, (first, _, _) = two_coders
    project = open_project(root)
    try:
        project.assign(["甲"], 1, sample="pilot", stratify=None)
    finally:
        project.close()
    client, csrf = signed_in(root, "甲")
    page = client.get("/agreement")
    assert 'id="blind-note"' in page.text and "#u-" not in page.text and 'id="per-code"' in page.text
    # nor how many units the others disagree on: the page does not build the list at all
    assert "<h1>Disagreements</h1>" in page.text and "units</small></h1>" not in page.text.split('id="disagreements"')[1]
    # as in `code sheet --show-others`, asking does not lift it (the old ?others=true is ignored)
    assert "#u-" not in client.get("/agreement", params={"others": "true"}).text
    assert client.get("/api/disagreements").status_code == 403
    refused = client.get(f"/api/documents/{turns[0]['doc_id']}", params={"others": "true"})
    assert refused.status_code == 403 and refused.json()["code"] == "blind-assignment"
    own = client.get(f"/api/documents/{turns[0]['doc_id']}").json()
    assert own["codings"] and {c["coder"] for c in own["codings"]} == {"甲"}
    assert 'id="show-others" disabled' in client.get(f"/documents/{turns[0]['doc_id']}").text
    decided = client.post("/api/consensus", json={"unit_id": turns[1]["unit_id"], "codes": [first]},
                          headers={"X-CSRF-Token": csrf})
    assert decided.status_code == 403
    # a coder with no blind assignments sees them all
    other, _ = signed_in(root, "乙")
    assert len(other.get("/api/disagreements").json()) == 2
    assert "Disagreements <small>2 units</small>" in other.get("/agreement").text
    assert {c["coder"] for c in other.get(f"/api/documents/{turns[0]['doc_id']}",
                                          params={"others": "true"}).json()["codings"]} == {"甲", "乙"}
