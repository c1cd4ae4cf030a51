"""A script that sends a field the API does not take (a typo, a read-only slug) is told so,
by name, with a 422, and nothing is saved: on every write the API's contract lists."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.openapi import OPENAPI
from tests.support import DEMO
from tests.support.accounts import api_token, make_organiser
from tests.support.openapi_contract import assert_matches_contract
from tests.support.programme import LENIN
from tests.support.registrations import register

WRITES = [
    (method.upper(), path)
    for path, item in OPENAPI["paths"].items()
    for method, operation in item.items()
    if method in ("post", "put", "patch")
    and "requestBody" in operation
    # Stripe's webhook takes Stripe's events, not a record of ours.
    and path.startswith("/api/")
]


def test_the_contract_lists_writes_to_check() -> None:
    assert ("PATCH", "/api/{conference}/sessions/{session}") in WRITES
    assert ("POST", "/api/{conference}/registrations") in WRITES
    assert len(WRITES) >= 10


@pytest.mark.parametrize(("method", "template"), WRITES)
def test_a_field_the_api_does_not_take_is_refused_by_name(
    client: TestClient, db: Database, method: str, template: str
) -> None:
    token = api_token(db, make_organiser(db))
    code = register(client, "Rosa")["code"]
    names = {
        "conference": DEMO,
        "session": LENIN,
        "speaker": "liam-farrelly",
        "room": "refectory",
        "track": next(iter(client.get(f"/api/{DEMO}/programme").json()["tracks"]))["slug"],
        "code": code,
    }
    path = template.format(**names)
    body: dict[str, Any] = {"not_a_field": 1}
    answer = client.request(method, path, json=body, headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 422, answer.text
    assert "not_a_field" in answer.json().get("fields", {}), answer.text
    assert_matches_contract(method.lower(), template, answer)


@pytest.mark.parametrize(
    ("template", "names"),
    [
        ("/api/{conference}/sessions/{session}", {"session": LENIN}),
        ("/api/{conference}/rooms/{room}", {"room": "refectory"}),
        ("/api/{conference}/speakers/{speaker}", {"speaker": "liam-farrelly"}),
    ],
)
def test_a_slug_cannot_be_changed_and_saying_so_is_not_ignored(
    client: TestClient, db: Database, template: str, names: dict[str, str]
) -> None:
    token = api_token(db, make_organiser(db))
    path = template.format(conference=DEMO, **names)
    answer = client.patch(
        path, json={"slug": "a-new-address"}, headers={"authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 422, answer.text
    assert "slug" in answer.json()["fields"]
