"""The programme JSON: the contract that feeds, apps and the door build on."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from starlette.testclient import TestClient

from confapp.programme.conference_file import read_conference_file
from confapp.resources import demo_seed_path
from tests.support import DEMO

OFFSET_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def test_programme_json_has_the_documented_shape(client: TestClient) -> None:
    response = client.get(f"/api/{DEMO}/programme")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    assert set(data) == {"conference", "rooms", "tracks", "speakers", "sessions"}
    assert data["conference"]["slug"] == DEMO
    assert data["conference"]["timezone"] == "Australia/Sydney"
    room_slugs = {r["slug"] for r in data["rooms"]}
    track_slugs = {t["slug"] for t in data["tracks"]}
    speaker_slugs = {s["slug"] for s in data["speakers"]}
    for session in data["sessions"]:
        for key in (
            "id",
            "uuid",
            "slug",
            "title",
            "kind",
            "start",
            "end",
            "room",
            "track",
            "status",
            "url",
            "people",
        ):
            assert key in session, key
        uuid.UUID(session["uuid"])
        assert OFFSET_ISO.match(session["start"]) and OFFSET_ISO.match(session["end"])
        assert datetime.fromisoformat(session["end"]) > datetime.fromisoformat(session["start"])
        assert session["status"] in {"confirmed", "cancelled"}
        assert session["kind"] in {"talk", "panel", "debate", "workshop", "plenary", "social"}
        assert session["url"] == f"/{DEMO}/sessions/{session['slug']}"
        assert session["room"] in room_slugs
        assert session["track"] is None or session["track"] in track_slugs
        for person in session["people"]:
            assert person["speaker"] in speaker_slugs
            assert person["role"] in {"speaker", "chair"}


def test_times_are_sydney_wall_clock_with_offset(client: TestClient) -> None:
    spec = read_conference_file(demo_seed_path())
    expected = {s.key: s.start.strftime("%Y-%m-%dT%H:%M:%S+10:00") for s in spec.sessions}
    data = client.get(f"/api/{DEMO}/programme").json()
    assert {s["slug"]: s["start"] for s in data["sessions"]} == expected


def test_people_keep_their_billing_order_and_roles(client: TestClient) -> None:
    spec = read_conference_file(demo_seed_path())
    data = {s["slug"]: s for s in client.get(f"/api/{DEMO}/programme").json()["sessions"]}
    panel = next(s for s in spec.sessions if s.chairs and len(s.speakers) >= 2)
    people = data[panel.key]["people"]
    assert [p["speaker"] for p in people] == [*panel.speakers, *panel.chairs]
    assert [p["role"] for p in people] == ["speaker"] * len(panel.speakers) + ["chair"] * len(
        panel.chairs
    )


def test_cancelled_sessions_stay_in_the_json(client: TestClient) -> None:
    spec = read_conference_file(demo_seed_path())
    cancelled = {s.key for s in spec.sessions if s.status == "cancelled"}
    data = client.get(f"/api/{DEMO}/programme").json()
    assert {s["slug"] for s in data["sessions"] if s["status"] == "cancelled"} == cancelled
