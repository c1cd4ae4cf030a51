"""What anyone can see without logging in: the programme, sessions, speakers, and the errors."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.support import DEMO
from tests.support.pages import elements


def programme(client: TestClient) -> dict:
    return client.get(f"/api/{DEMO}/programme").json()


def test_the_only_conference_is_the_start_page(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == f"/{DEMO}/"


def test_home_page_says_what_when_and_where(client: TestClient) -> None:
    page = client.get(f"/{DEMO}/").text
    data = programme(client)["conference"]
    assert f'<h1 id="conf-title">{data["name"]}</h1>' in page
    assert data["venue"] in page
    assert "9–11 July 2027" in page
    assert f'href="/{DEMO}/programme"' in page
    assert "Pay what you can" in page


def test_programme_shows_one_day_with_every_session_of_that_day(client: TestClient) -> None:
    data = programme(client)
    saturday = [s for s in data["sessions"] if s["start"].startswith("2027-07-10")]
    page = client.get(f"/{DEMO}/programme?day=2027-07-10").text

    slots = elements(page, "slot")
    assert len(slots) == len(saturday)
    for session in saturday:
        assert f'href="{session["url"]}"' in page
    sunday_only = next(s for s in data["sessions"] if s["start"].startswith("2027-07-11"))
    assert f'href="{sunday_only["url"]}"' not in page
    assert 'aria-current="page">Sat 10 Jul<' in page


def test_programme_grid_has_a_column_per_room_in_use(client: TestClient) -> None:
    data = programme(client)
    saturday = [s for s in data["sessions"] if s["start"].startswith("2027-07-10")]
    rooms_in_use = [r["name"] for r in data["rooms"] if r["slug"] in {s["room"] for s in saturday}]
    page = client.get(f"/{DEMO}/programme?day=2027-07-10&view=grid").text
    heads = [str(e["text"]).strip() for e in elements(page, "room-name")]
    assert heads == rooms_in_use
    assert not elements(page, "session-list")  # grid only when asked for the grid


def test_programme_list_view_and_track_filter(client: TestClient) -> None:
    data = programme(client)
    track = data["tracks"][0]["slug"]
    expected = [
        s["title"]
        for s in data["sessions"]
        if s["start"].startswith("2027-07-11") and s["track"] == track
    ]
    page = client.get(f"/{DEMO}/programme?day=2027-07-11&track={track}&view=list").text

    items = elements(page, "session-item")
    assert expected and len(items) == len(expected)
    for title in expected:
        assert title.replace("'", "&#39;").replace('"', "&#34;") in page
    assert not elements(page, "programme-grid")


def test_cancelled_sessions_are_marked_and_struck_through(client: TestClient) -> None:
    cancelled = [s for s in programme(client)["sessions"] if s["status"] == "cancelled"]
    assert cancelled
    session = cancelled[0]
    day = session["start"][:10]
    page = client.get(f"/{DEMO}/programme?day={day}").text
    struck = [e for e in elements(page, "cancelled") if session["title"] in str(e["text"])]
    assert struck and all("Cancelled" in str(e["text"]) for e in struck)
    assert ".cancelled .session-title a" in client.get("/static/css/confapp.css").text
    detail = client.get(session["url"]).text
    assert "This session is cancelled." in detail


def test_session_page_shows_time_room_people_and_access_notes(client: TestClient) -> None:
    data = programme(client)
    rooms = {r["slug"]: r for r in data["rooms"]}
    session = next(
        s
        for s in data["sessions"]
        if s["room"] and rooms[s["room"]]["access_notes"] and len(s["people"]) >= 2
    )
    page = client.get(session["url"]).text
    room = rooms[session["room"]]
    assert session["title"].replace("'", "&#39;") in page
    assert f'<time datetime="{session["start"]}">{session["start"][11:16]}</time>' in page
    assert f"Access: {room['name']}" in page
    assert room["access_notes"].split("\n")[0].replace("'", "&#39;")[:40] in page
    for person in session["people"]:
        assert f'href="/{DEMO}/speakers/{person["speaker"]}"' in page


def test_speakers_list_and_speaker_page(client: TestClient) -> None:
    data = programme(client)
    page = client.get(f"/{DEMO}/speakers").text
    for speaker in data["speakers"]:
        assert f'href="{speaker["url"]}"' in page
    speaker = data["speakers"][0]
    their_sessions = [
        s for s in data["sessions"] if speaker["slug"] in {p["speaker"] for p in s["people"]}
    ]
    detail = client.get(speaker["url"]).text
    assert speaker["name"].replace("'", "&#39;") in detail
    for session in their_sessions:
        assert f'href="{session["url"]}"' in detail


def test_unknown_addresses_get_a_proper_404_page(client: TestClient) -> None:
    for path, message in [
        ("/no-such-conference/", "There is no conference called"),
        (f"/{DEMO}/sessions/no-such-session", "There is no session at this address"),
        (f"/{DEMO}/speakers/nobody", "There is no speaker at this address"),
        (f"/{DEMO}/programme?day=2031-01-01", "The programme has no sessions on 2031-01-01"),
        (f"/{DEMO}/programme?day=tuesday", "is not a date"),
        (f"/{DEMO}/programme?track=astrology", "There is no track called"),
        ("/api/no-such-conference/programme", "There is no conference called"),
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert message in response.text, path
        assert "Traceback" not in response.text
    assert client.get("/api/nope/programme").json()["error"] == "not found"
    assert "<h1>Not found</h1>" in client.get("/nope/sessions/x").text


def test_conference_without_trailing_slash_redirects(client: TestClient) -> None:
    response = client.get(f"/{DEMO}", follow_redirects=False)
    assert response.status_code in (301, 307, 308)
    assert response.headers["location"].endswith(f"/{DEMO}/")


def test_health_check_reports_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


def test_pages_are_accessible_landmarks_and_self_hosted(client: TestClient) -> None:
    for path in [f"/{DEMO}/", f"/{DEMO}/programme", f"/{DEMO}/speakers"]:
        page = client.get(path).text
        assert '<html lang="en-AU" dir="ltr">' in page
        assert '<main id="main"' in page and "<header" in page and "<footer" in page
        assert 'class="skip-link"' in page
        assert len(re.findall(r"<h1[ >]", page)) == 1
        assert not re.search(r'(src|href)="(https?:)?//', page.split("<main", 1)[0]), path
    css = client.get("/static/css/confapp.css")
    assert css.status_code == 200 and "position: sticky" in css.text


def test_every_page_finds_the_site_icon_without_a_redirect(client: TestClient) -> None:
    icon = client.get("/favicon.ico", follow_redirects=False)
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    assert "max-age=604800" in icon.headers["cache-control"]
    for path in [f"/{DEMO}/", "/admin/login"]:
        assert '<link rel="icon" href="/favicon.ico"' in client.get(path).text, path
