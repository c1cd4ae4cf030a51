"""The OpenAPI document at /api/openapi.json is valid, complete, and what the API really does."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from confapp.app import create_app
from confapp.openapi import OPENAPI
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.openapi_contract import assert_matches_contract

# Starlette answers HEAD wherever it answers GET; the document describes the GET.
IMPLIED_METHODS = {"HEAD"}


def api_operations(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route under /api/, walking into mounts."""
    for route in routes:
        if isinstance(route, Mount):
            yield from api_operations(route.routes, prefix + route.path)
        elif isinstance(route, Route) and (prefix + route.path).startswith("/api/"):
            for method in sorted((route.methods or set()) - IMPLIED_METHODS):
                yield method.lower(), prefix + route.path


def documented_operations() -> set[tuple[str, str]]:
    http_methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {
        (method, path)
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in http_methods
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(OPENAPI, cls=OpenAPIV31SpecValidator)
    assert OPENAPI["openapi"].startswith("3.1.")


def test_every_api_route_is_described_and_nothing_else(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        seed_file="",
        housekeeping_seconds=0,
    )
    served = set(api_operations(create_app(settings).routes))
    documented = documented_operations()
    assert served - documented == set(), "served under /api/ but not in the document"
    assert documented - served == set(), "in the document but not served"


def test_the_document_is_served_as_it_is_written(client: TestClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json() == OPENAPI
    assert_matches_contract("get", "/api/openapi.json", response)


def get_paths(*, secured: bool | None = None) -> list[str]:
    """Paths with a GET; `secured` picks those that need an account (True) or not (False)."""
    return sorted(
        path
        for path, item in OPENAPI["paths"].items()
        if "get" in item and secured in (None, "security" in item["get"])
    )


@pytest.mark.parametrize("path", get_paths(secured=False))
def test_each_get_answers_the_demo_conference_as_documented(client: TestClient, path: str) -> None:
    response = client.get(path.replace("{conference}", DEMO))
    assert response.status_code == 200, response.text[:300]
    assert_matches_contract("get", path, response)


@pytest.mark.parametrize("path", [p for p in get_paths() if "{conference}" in p])
def test_each_get_answers_an_unknown_conference_with_the_documented_404(
    client: TestClient, path: str
) -> None:
    response = client.get(path.replace("{conference}", "no-such-conference"))
    assert response.status_code == 404
    assert_matches_contract("get", path, response)
    assert response.json()["error"] == "not found"


@pytest.mark.parametrize("path", get_paths(secured=True))
def test_each_get_for_organisers_answers_anonymous_requests_with_the_documented_401(
    client: TestClient, path: str
) -> None:
    response = client.get(path.replace("{conference}", DEMO))
    assert response.status_code == 401, response.text[:300]
    assert_matches_contract("get", path, response)


def test_revocations_answer_304_to_the_etag_they_gave(client: TestClient) -> None:
    path = "/api/{conference}/ticket-revocations"
    first = client.get(path.replace("{conference}", DEMO))
    assert_matches_contract("get", path, first)
    again = client.get(
        path.replace("{conference}", DEMO), headers={"If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304
    assert_matches_contract("get", path, again)


REGISTRATIONS = "/api/{conference}/registrations"


def test_a_registration_answers_201_with_the_documented_ticket(client: TestClient) -> None:
    example = OPENAPI["components"]["schemas"]["Registration"]["examples"][0]
    response = client.post(REGISTRATIONS.replace("{conference}", DEMO), json=example)
    assert response.status_code == 201, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)
    ticket = response.json()["ticket"]
    assert ticket["url"] != ticket["manage_url"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "", "email": "not an address", "ticket_type": "waged"}, 422),
        ({"name": "Rosa", "email": "rosa@example.org", "ticket_type": "no-such-type"}, 422),
        (["not", "an", "object"], 400),
        ("{not json", 400),
    ],
)
def test_a_refused_registration_answers_as_documented(
    client: TestClient, body: object, status: int
) -> None:
    url = REGISTRATIONS.replace("{conference}", DEMO)
    if isinstance(body, str):
        response = client.post(url, content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(url, json=body)
    assert response.status_code == status, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)


def test_a_sold_out_ticket_type_answers_the_documented_409(client: TestClient) -> None:
    # The solidarity places exist only as far as top-ups have paid for them: none yet.
    body = {"name": "Rosa", "email": "rosa@example.org", "ticket_type": "solidarity-place"}
    response = client.post(REGISTRATIONS.replace("{conference}", DEMO), json=body)
    assert response.status_code == 409, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)
    assert response.json()["error"] == "sold_out"


def test_a_body_too_large_answers_the_documented_413(client: TestClient) -> None:
    body = {"name": "Rosa", "email": "rosa@example.org", "access_needs": "x" * 100_000}
    response = client.post(REGISTRATIONS.replace("{conference}", DEMO), json=body)
    assert response.status_code == 413, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)


def test_too_many_registrations_answer_the_documented_429(client: TestClient) -> None:
    example = OPENAPI["components"]["schemas"]["Registration"]["examples"][0]
    url = REGISTRATIONS.replace("{conference}", DEMO)
    for _ in range(client.app.state.settings.throttle_registrations_per_email_per_hour):
        assert client.post(url, json=example).status_code == 201
    response = client.post(url, json=example)
    assert response.status_code == 429, response.text[:300]
    assert_matches_contract("post", REGISTRATIONS, response)
    assert int(response.headers["Retry-After"]) >= 1


def test_a_registration_for_an_unknown_conference_answers_404(client: TestClient) -> None:
    example = OPENAPI["components"]["schemas"]["Registration"]["examples"][0]
    response = client.post(
        REGISTRATIONS.replace("{conference}", "no-such-conference"), json=example
    )
    assert response.status_code == 404
    assert_matches_contract("post", REGISTRATIONS, response)


def test_a_forged_host_header_answers_the_documented_400(client: TestClient) -> None:
    path = "/api/{conference}/programme"
    response = client.get(path.replace("{conference}", DEMO), headers={"Host": "evil.example"})
    assert response.status_code == 400, response.text[:300]
    assert_matches_contract("get", path, response)
