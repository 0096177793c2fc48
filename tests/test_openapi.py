"""The OpenAPI schema tells the truth about errors: every error a route can answer is declared, with our error body."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar.testing import TestClient

pytestmark = pytest.mark.unit

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _readme_errors() -> dict[tuple[str, str], set[str]]:
    """(METHOD, path) -> the status codes the README's endpoint table names in its errors column."""
    rows = re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|.*\|([^|]*)\|$", README, re.M)
    return {(method, path): set(re.findall(r"\b[45]\d\d\b", errors)) for method, path, errors in rows}


@pytest.fixture
def operations(client: TestClient) -> dict[tuple[str, str], dict]:
    paths = client.get("/schema/openapi.json").json()["paths"]
    return {(method.upper(), path): op for path, ops in paths.items() for method, op in ops.items()}


def test_every_error_the_readme_names_is_declared_in_the_schema(operations: dict[tuple[str, str], dict]) -> None:
    documented = _readme_errors()
    for key, op in operations.items():
        assert key in documented, f"{key} is not in the README's endpoint table"
        missing = documented[key] - set(op["responses"])
        assert not missing, f"{key} answers {sorted(missing)} (README) but the schema does not declare it"


def test_every_declared_error_has_the_error_body(operations: dict[tuple[str, str], dict]) -> None:
    for key, op in operations.items():
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (key, status)


def test_routes_behind_the_token_declare_401_and_the_health_check_does_not(
    operations: dict[tuple[str, str], dict],
) -> None:
    for key, op in operations.items():
        assert ("401" in op["responses"]) == (key != ("GET", "/health")), key


@pytest.mark.parametrize(
    ("request_args", "status"),
    [
        (("POST", "/datasets", {"content": b"{broken", "headers": {"content-type": "application/json"}}), 400),
        (("GET", "/datasets/nope", {}), 404),
        (("GET", "/jobs/not-a-uuid", {}), 422),
        (("POST", "/train", {"json": {"dataset": "nope"}}), 404),
    ],
    ids=["broken_json", "unknown_dataset", "bad_id", "unknown_dataset_to_train"],
)
def test_an_error_answered_is_one_the_route_declares(
    client: TestClient, operations: dict[tuple[str, str], dict], request_args: tuple, status: int
) -> None:
    method, path, kwargs = request_args
    response = client.request(method, path, **kwargs)
    assert response.status_code == status
    template = re.sub(r"/(nope|not-a-uuid)$", lambda m: "/{name}" if m[1] == "nope" else "/{job_id}", path)
    assert str(status) in operations[(method, template)]["responses"]
    assert set(response.json()) >= {"status_code", "detail"}


def test_uploads_declare_their_multipart_body_and_names_their_pattern(operations: dict[tuple[str, str], dict]) -> None:
    upload = operations[("POST", "/datasets/{name}/recordings")]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["files", "label"]
    assert form["properties"]["files"]["items"] == {"type": "string", "format": "binary"}
    assert form["properties"]["label"]["enum"] == ["positive", "negative", "noise"]
    for (_, path), op in operations.items():
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] == "name" and path.startswith("/datasets/"):
                assert parameter["schema"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,63}$", path
            if parameter["in"] == "path" and parameter["name"] in ("clip_id", "job_id"):
                assert parameter["schema"]["format"] == "uuid", path
