"""A bounded schemathesis run over the whole schema, on SQLite and Postgres: whatever a client sends, the API
answers no 500, only status codes the schema declares for the route, and bodies that match the schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

import migrations
from tests.conftest import BACKENDS
from tests.processes import Server, clean_env

pytestmark = pytest.mark.integration

# Enough to reach every route's error paths a few times; the budget of the whole suite is 10 minutes.
EXAMPLES_PER_ROUTE = 6
# The event streams never end by design: their errors are covered in test_jobs_api.py and test_streaming.py.
UNBOUNDED = re.compile(r"/events$")
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _fuzz(operation: Any, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_server_error_and_every_answer_is_documented(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = {
        "WAKE_TRAINING_DATA_DIR": str(tmp_path / "volume"),
        # A fuzzed synthesize request that passes must not start minutes of work beside the rest of the suite.
        "WAKE_TRAINING_MAX_SYNTHESIS_CLIPS": "3",
    }
    if backend == "postgres":
        url = request.getfixturevalue("make_postgres_database")()
        migrations.upgrade(url)
        env["WAKE_TRAINING_DATABASE_URL"] = url
    server = Server(clean_env(**env), tmp_path / "serve.log")
    failures: list[str] = []
    try:
        # One dataset, so that requests under /datasets/{name} can get past a 404 when they name it.
        httpx.post(f"{server.url}/datasets", json={"name": "kitchen", "wake_phrase": "hey jarvis"}, timeout=10)
        schema = schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 20
        for operation in operations:
            if UNBOUNDED.search(operation.path):
                continue
            # Requests the schema allows, then requests it does not (wrong types, missing fields, bad values).
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _fuzz(operation, mode)
                except Unsatisfiable:  # nothing of the route can be sent wrong (no parameters, only path names)
                    continue
                except Exception as exc:  # every route's findings are gathered, then reported together
                    failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
    finally:
        server.stop()
    assert not failures, "\n\n".join(failures)
