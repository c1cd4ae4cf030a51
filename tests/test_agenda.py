"""A personal agenda: star sessions (with or without JavaScript), subscribe to just those."""

from __future__ import annotations

import re
from typing import Any

import icalendar
import pytest
from playwright.sync_api import Page
from sqlmodel import func, select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import Agenda, AgendaStar, Registration
from confapp.registration.privacy import erase_attendee
from tests.conftest import DEMO
from tests.icaljs import icaljs_folder, parse_with_icaljs


def sessions(client: TestClient) -> list[dict[str, Any]]:
    return client.get(f"/api/{DEMO}/programme").json()["sessions"]


def star(client: TestClient, slug: str, starred: bool = True) -> Any:
    return client.post(
        f"/{DEMO}/sessions/{slug}/star",
        data={"starred": "yes" if starred else "no", "next": f"/{DEMO}/programme"},
        follow_redirects=False,
    )


def agenda_feed_url(client: TestClient) -> str:
    page = client.get(f"/{DEMO}/agenda").text
    match = re.search(r'href="(http://testserver/agenda/[^"]+\.ics)"', page)
    assert match, "the agenda page offers its feed"
    return match.group(1)


def feed_uids(ics: bytes) -> set[str]:
    calendar = icalendar.Calendar.from_ical(ics)
    return {str(event["UID"]) for event in calendar.walk("VEVENT")}


def test_starring_without_javascript_builds_a_private_feed(client: TestClient) -> None:
    first, second, other = sessions(client)[4], sessions(client)[9], sessions(client)[12]

    answer = star(client, first["slug"])
    assert answer.status_code == 303 and answer.headers["location"] == f"/{DEMO}/programme"
    assert "HttpOnly" in answer.headers["set-cookie"]
    assert "Path=/;" in answer.headers["set-cookie"]
    star(client, second["slug"])

    session_page = client.get(first["url"]).text
    assert 'aria-pressed="true"' in session_page and "In my agenda" in session_page
    assert 'aria-pressed="false"' in client.get(other["url"]).text
    feed = client.get(agenda_feed_url(client))
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8; method=PUBLISH"
    assert "private" in feed.headers["cache-control"]
    assert feed_uids(feed.content) == {f"{first['uuid']}@confapp", f"{second['uuid']}@confapp"}

    events = parse_with_icaljs(feed.content, icaljs_folder())["events"]
    assert {e["uid"] for e in events} == feed_uids(feed.content)
    assert all(e["start_zone"] == "Australia/Sydney" for e in events)


def test_a_feed_changes_when_a_star_is_removed_and_not_otherwise(client: TestClient) -> None:
    first, second = sessions(client)[4], sessions(client)[9]
    star(client, first["slug"])
    star(client, second["slug"])
    url = agenda_feed_url(client)
    before = client.get(url)
    again = client.get(url)
    assert again.content == before.content
    assert client.get(url, headers={"If-None-Match": before.headers["etag"]}).status_code == 304

    star(client, second["slug"], starred=False)

    after = client.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert feed_uids(after.content) == {f"{first['uuid']}@confapp"}
    assert after.headers["etag"] != before.headers["etag"]


def test_starring_with_javascript_answers_json(client: TestClient) -> None:
    slug = sessions(client)[7]["slug"]
    answer = client.post(
        f"/{DEMO}/sessions/{slug}/star",
        data={"starred": "yes"},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200
    assert answer.json() == {"starred": True, "count": 1}
    undone = client.post(
        f"/{DEMO}/sessions/{slug}/star",
        data={"starred": "no"},
        headers={"Accept": "application/json"},
    )
    assert undone.json() == {"starred": False, "count": 0}


def test_an_attendees_agenda_follows_their_ticket(client: TestClient, db: Database) -> None:
    chosen = sessions(client)[11]
    # Starred before registering, in this browser...
    star(client, chosen["slug"])
    ticket = client.post(
        f"/api/{DEMO}/registrations",
        json={"name": "Rosa", "email": "rosa@example.org", "ticket_type": "waged"},
    ).json()["ticket"]

    # ...and opening the ticket page brings those stars into the ticket's agenda.
    page = client.get(ticket["url"])
    assert chosen["title"].replace("'", "&#39;") in page.text
    assert ticket["agenda_feed_url"] in page.text
    feed = client.get(ticket["agenda_feed_url"])
    assert feed.status_code == 200
    assert feed_uids(feed.content) == {f"{chosen['uuid']}@confapp"}
    assert b"Rosa" not in feed.content and b"rosa@example.org" not in feed.content

    # Later stars in the same browser land in the ticket's agenda too.
    more = sessions(client)[20]
    star(client, more["slug"])
    assert f"{more['uuid']}@confapp" in feed_uids(client.get(ticket["agenda_feed_url"]).content)

    # Erasing the attendee erases what they chose to attend, too.
    with db.read() as session:
        registration = session.exec(select(Registration)).one()
    erase_attendee(db, registration.id or 0)
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(Agenda)).one() == 0
        assert session.exec(select(func.count()).select_from(AgendaStar)).one() == 0
    assert client.get(ticket["agenda_feed_url"]).status_code == 404


def test_unknown_agenda_and_session_addresses(client: TestClient) -> None:
    assert client.get("/agenda/not-a-key.ics").status_code == 404
    assert star(client, "no-such-session").status_code == 404
    assert client.get("/tickets/forged/agenda.ics").status_code == 404
    # An outside address is never followed after starring.
    slug = sessions(client)[0]["slug"]
    answer = client.post(
        f"/{DEMO}/sessions/{slug}/star",
        data={"starred": "yes", "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == f"/{DEMO}/sessions/{slug}"


@pytest.mark.browser
def test_visitor_stars_two_sessions_and_sees_them_in_the_agenda_feed(
    phone: Page, live_server: Any
) -> None:
    programme = phone.request.get(f"{live_server.url}/api/{DEMO}/programme").json()
    saturday = [s for s in programme["sessions"] if s["start"].startswith("2027-07-10")]
    chosen = [saturday[1], saturday[8]]

    phone.goto(f"{live_server.url}/{DEMO}/programme?day=2027-07-10&view=list")
    for session in chosen:
        item = phone.locator("li.session-item", has_text=session["title"])
        button = item.get_by_role("button", name=re.compile("Add to my agenda"))
        button.click()
        # With JavaScript the page does not reload: the button itself turns into "In my agenda".
        item.get_by_role("button", name=re.compile("In my agenda")).wait_for()
    assert phone.url.endswith("view=list")

    phone.get_by_role("link", name="My agenda").click()
    listed = phone.locator("li.session-item h2").all_inner_texts()
    assert sorted(listed) == sorted(s["title"] for s in chosen)
    phone.get_by_text("Subscribe in your calendar").click()
    plain_address = f"details.subscribe a[href^='{live_server.url}/agenda/']"
    feed_link = phone.locator(plain_address).first
    feed = phone.request.get(feed_link.get_attribute("href") or "")
    assert feed.status == 200
    assert feed_uids(feed.body()) == {f"{s['uuid']}@confapp" for s in chosen}


def test_an_attendee_can_star_sessions_from_the_ticket_page(client: TestClient) -> None:
    ticket = client.post(
        f"/api/{DEMO}/registrations",
        json={"name": "Rosa", "email": "rosa@example.org", "ticket_type": "waged"},
    ).json()["ticket"]
    page = client.get(ticket["url"]).text
    chosen = sessions(client)[15]
    # Every session has a star toggle on the ticket page that comes back to the ticket.
    assert page.count("data-star") == len(sessions(client))
    token_path = ticket["url"].removeprefix("http://testserver")
    answer = client.post(
        f"/{DEMO}/sessions/{chosen['slug']}/star",
        data={"starred": "yes", "next": token_path},
        follow_redirects=False,
    )
    assert answer.headers["location"] == token_path
    assert feed_uids(client.get(ticket["agenda_feed_url"]).content) == {f"{chosen['uuid']}@confapp"}
