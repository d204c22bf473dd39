"""schemathesis against the workbench's OpenAPI spec, in-process: generated requests to every JSON
endpoint (valid ones, and invalid ones), signed in with a coder and the session's CSRF token, never
get a 500 and always get an answer the spec describes (a 4xx with its reason for bad input)."""
from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from pipeline.workbench import create_app

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install -e '.[test]')")
from schemathesis import GenerationMode  # noqa: E402

SESSION_COOKIE = "policoder_session"
EXAMPLES = 20  # per endpoint and mode: the whole test stays near half a minute


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_endpoint_answers_as_its_spec_says(workbench_project, mode):
    # schemathesis's pytest loader (from_fixture) does not run on pytest 9, so its Python API here
    app = create_app(workbench_project, secret="schema-test")
    browser = TestClient(app)
    browser.get("/", params={"coder": "王老师"})
    headers = {"X-CSRF-Token": browser.get("/api/session").json()["csrf"]}
    cookies = {SESSION_COOKIE: browser.cookies[SESSION_COOKIE]}
    # a schema-valid request may still name what is not there (404) or what the library refuses, such
    # as a code not in the codebook or a span past the text (400): not a rejection of valid data
    config = schemathesis.config.SchemathesisConfig.from_dict({"checks": {"positive_data_acceptance": {
        "expected-statuses": ["2xx", "400", "401", "403", "404", "409"]}}})
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 12
    statuses = Counter()

    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not any(
                len(part) for part in (operation.path_parameters, operation.query, operation.body)):
            continue  # nothing to send wrong
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def answers(case):
            statuses[case.call_and_validate(headers=headers, cookies=cookies).status_code] += 1

        answers()
    # the coder's session and CSRF token were taken: nothing was refused as a stranger's, and the
    # reads answered (random writes name codes and units the project does not have: 400 or 404)
    assert not statuses[401] and not statuses[403], statuses
    if mode == GenerationMode.POSITIVE:
        assert statuses[200], statuses
