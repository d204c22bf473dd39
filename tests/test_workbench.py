"""The workbench's HTTP interface, through a real app on a real project database (no browser)."""
from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from pipeline import open_project
from pipeline.workbench import create_app
from tests.conftest import WORKBENCH_TRANSCRIPTS as TRANSCRIPTS, codable, document_id

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
])
def test_bad_requests_get_a_4xx_with_a_message_and_write_nothing(workbench_project, method, path, body, status):
    client, csrf = signed_in(workbench_project)
    code = codable(workbench_project)[0]
    client.post("/api/codings", json={"doc_id": 1, "start": 0, "end": 2, "codes": [code]},
                headers={"X-CSRF-Token": csrf})  # coding 1, so edits of it can be tried
    if isinstance(body, dict) and body.get("codes") == "CODE":
        body = {**body, "codes": [code]}
    project = open_project(workbench_project)
    before = project.coding_history(1)
    project.close()
    kwargs = {"headers": {"X-CSRF-Token": csrf}}
    if body is not None:
        kwargs |= {"json": body} if isinstance(body, dict) else {"content": body}
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]
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
