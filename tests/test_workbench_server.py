"""The workbench under a real uvicorn server with several keep-alive clients at once.

FastAPI runs a request's dependency setup, its handler and the dependency's teardown in
threadpool threads that need not be the same; the in-process TestClient, one request at a time,
does not show what that does to a per-request database connection."""
from __future__ import annotations

import threading

import httpx

from pipeline import open_project
from tests.conftest import codable, document_id

CLIENTS, ROUNDS = 8, 15


def test_concurrent_keep_alive_clients_all_get_answers_and_every_coding_is_stored_once(workbench_server):
    base, root = workbench_server
    code = codable(root)[0]
    doc_id = document_id(root, "e01_enterprise.txt")
    policy_id = document_id(root, "p01_notice.txt")
    failures: list[str] = []
    made: dict[str, list[int]] = {}
    start = threading.Barrier(CLIENTS, timeout=20)

    def work(coder: str) -> None:
        try:
            with httpx.Client(base_url=base, timeout=20) as client:
                client.get("/", params={"coder": coder}).raise_for_status()
                csrf = client.get("/api/session").json()["csrf"]
                start.wait()
                for offset in range(ROUNDS):
                    answer = client.post("/api/codings", json={"doc_id": doc_id, "start": offset, "end": offset + 2,
                                                               "codes": [code]}, headers={"X-CSRF-Token": csrf})
                    if answer.status_code != 201:
                        failures.append(f"{coder} POST: {answer.status_code} {answer.text}")
                        continue
                    made.setdefault(coder, []).extend(answer.json()["ids"])
                for _ in range(ROUNDS):
                    answer = client.get(f"/api/documents/{policy_id}")
                    if answer.status_code != 200:
                        failures.append(f"{coder} GET: {answer.status_code} {answer.text}")
        except (httpx.HTTPError, threading.BrokenBarrierError) as error:  # a dropped connection: the bug
            failures.append(f"{coder}: {type(error).__name__}: {error}")

    coders = [f"coder{n}" for n in range(CLIENTS)]
    threads = [threading.Thread(target=work, args=(coder,)) for coder in coders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures[:5]
    project = open_project(root)
    try:
        rows = [row for row in project.codings(machine=False) if row["doc_id"] == doc_id]
    finally:
        project.close()
    stored = sorted((row["coder"], row["start"]) for row in rows)
    assert stored == sorted((coder, offset) for coder in coders for offset in range(ROUNDS))
    assert sorted(row["id"] for row in rows) == sorted(i for ids in made.values() for i in ids)
