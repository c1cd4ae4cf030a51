"""A personal agenda: star sessions (with or without JavaScript), subscribe to just those."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import icalendar
import pytest
from playwright.sync_api import Page, Route
from sqlalchemy import text
from sqlmodel import func, select
from starlette.testclient import TestClient

from confapp.agenda.service import (
    claim_agenda,
    copy_stars,
    create_agenda,
    new_agenda_key,
    registration_agenda,
    set_star,
    starred_session_ids,
)
from confapp.db import Database
from confapp.migrate import upgrade_to_head
from confapp.models import Agenda, AgendaStar, ProgrammeSession, Registration
from confapp.programme.conference_file import LoadReport, load_conference_file
from confapp.programme.queries import require_conference
from confapp.programme.synthetic import load_synthetic_conference
from confapp.registration.privacy import erase_attendee
from confapp.resources import demo_seed_path
from tests.support import DEMO
from tests.support.databases import fresh_postgres_database
from tests.support.icaljs import icaljs_folder, parse_with_icaljs
from tests.support.servers import LiveServer, live_settings

SATURDAY_LIST = f"/{DEMO}/programme?day=2027-07-10&view=list"


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


def page_agenda_key(html: str) -> str:
    """The candidate agenda key the page's star forms post: the page is the same for every
    visitor (it is cached), so its forms carry an empty field, and static/js/agenda.js fills
    in one key of the server's shape per page load (tests/test_browser_programme.py)."""
    assert 'name="agenda" value=""' in html
    assert not re.search(r'name="agenda" value="[^"]', html), "no key is shared by every visitor"
    return new_agenda_key()


def cookie_agenda_key(response: Any) -> str:
    """The agenda key a star post's answer puts in the browser's cookie."""
    match = re.search(r"confapp_agenda_\d+=([^;]+)", response.headers.get("set-cookie") or "")
    assert match, "a star post remembers the agenda in a cookie"
    return match.group(1)


def browser_agenda_key(client: TestClient) -> str:
    return next(v for k, v in client.cookies.items() if k.startswith("confapp_agenda_"))


def agenda_keys(db: Database) -> list[str]:
    with db.read() as session:
        return list(session.exec(select(Agenda.key)))


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


def test_unknown_agenda_and_session_addresses(client: TestClient) -> None:
    assert client.get("/agenda/not-a-key.ics").status_code == 404
    assert star(client, "no-such-session").status_code == 404
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


def test_two_cookieless_star_posts_from_one_page_make_one_agenda(
    db: Database, demo: LoadReport
) -> None:
    """A visitor with no agenda yet presses several stars before the first answer is back
    (eight presses at once, to make the race certain): one agenda holds them all."""
    with LiveServer(live_settings(db.url)) as server:
        with urllib.request.urlopen(f"{server.url}{SATURDAY_LIST}") as page:
            key = page_agenda_key(page.read().decode())
        with urllib.request.urlopen(f"{server.url}/api/{DEMO}/programme") as api:
            slugs = [s["slug"] for s in json.load(api)["sessions"][:8]]
        together = threading.Barrier(len(slugs))

        def press(slug: str) -> Any:
            form = {"starred": "yes", "next": SATURDAY_LIST, "agenda": key}
            post = urllib.request.Request(
                f"{server.url}/{DEMO}/sessions/{slug}/star",
                data=urlencode(form).encode(),
                headers={"Accept": "application/json", "Origin": server.url},
                method="POST",
            )
            together.wait()
            with urllib.request.urlopen(post, timeout=60) as answer:
                answer.read()
                return answer

        with ThreadPoolExecutor(len(slugs)) as pool:
            answers = list(pool.map(press, slugs))

    assert [a.status for a in answers] == [200] * len(slugs)
    assert {cookie_agenda_key(a) for a in answers} == {key}
    assert agenda_keys(db) == [key]
    with db.read() as session:
        assert len(starred_session_ids(session, session.get(Agenda, key))) == len(slugs)


def test_two_concurrent_stars_of_one_session_both_succeed_on_postgresql(
    postgres_server_url: str,
) -> None:
    """Two tabs star the same session at the same moment: the second finds it starred."""
    with fresh_postgres_database(postgres_server_url) as url:
        db = Database(url)
        try:
            upgrade_to_head(db.engine)
            load_conference_file(db, demo_seed_path())
            with db.transaction() as session:
                agenda = create_agenda(session, require_conference(session, DEMO))
                chosen = session.exec(select(ProgrammeSession)).first()
                assert chosen is not None
                key, chosen_id = agenda.key, chosen.id
            outcome: list[object] = []

            def second_tab() -> None:
                try:
                    with db.transaction() as session:
                        agenda = session.get(Agenda, key)
                        chosen = session.get(ProgrammeSession, chosen_id)
                        assert agenda is not None and chosen is not None
                        outcome.append(set_star(session, agenda, chosen, True))
                except Exception as error:  # the old code raised IntegrityError here
                    outcome.append(error)

            with db.transaction() as session:
                agenda = session.get(Agenda, key)
                chosen = session.get(ProgrammeSession, chosen_id)
                assert agenda is not None and chosen is not None
                assert set_star(session, agenda, chosen, True)
                other = threading.Thread(target=second_tab)
                other.start()
                wait_until_a_transaction_waits_for_a_lock(db)  # the second tab's star
            other.join(timeout=30)

            assert outcome == [False]  # no error: it was already starred
            with db.read() as session:
                assert starred_session_ids(session, session.get(Agenda, key)) == {chosen_id}
        finally:
            db.dispose()


def wait_until_a_transaction_waits_for_a_lock(db: Database) -> None:
    deadline = time.monotonic() + 15
    with db.engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            connection.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the second transaction never waited for the first")


def test_copy_stars_copies_and_never_deletes(db: Database, demo: LoadReport) -> None:
    """'Add this browser's stars to this ticket's agenda': the ticket's agenda gains what it
    lacked, keeps what it had, and the browser keeps all of its own."""
    with db.transaction() as session:
        conference = require_conference(session, DEMO)
        a, b, c = (s.id for s in session.exec(select(ProgrammeSession).limit(3)))
        browser, ticket = create_agenda(session, conference), create_agenda(session, conference)
        for session_id in (a, b):
            set_star(session, browser, session.get(ProgrammeSession, session_id), True)
        for session_id in (b, c):
            set_star(session, ticket, session.get(ProgrammeSession, session_id), True)
        browser_key, ticket_key, before = browser.key, ticket.key, ticket.updated_at

    with db.transaction() as session:
        added = copy_stars(
            session, session.get(Agenda, browser_key), session.get(Agenda, ticket_key)
        )
    assert added == 1
    with db.read() as session:
        browser, ticket = session.get(Agenda, browser_key), session.get(Agenda, ticket_key)
        assert starred_session_ids(session, browser) == {a, b}
        assert starred_session_ids(session, ticket) == {a, b, c}
        assert ticket is not None and ticket.updated_at > before
        copied_at = ticket.updated_at

    # Pressing the button again, or with nothing to copy, changes nothing at all.
    with db.transaction() as session:
        browser, ticket = session.get(Agenda, browser_key), session.get(Agenda, ticket_key)
        assert ticket is not None
        assert copy_stars(session, browser, ticket) == 0
        assert copy_stars(session, None, ticket) == 0
        assert copy_stars(session, ticket, ticket) == 0
    with db.read() as session:
        ticket = session.get(Agenda, ticket_key)
        assert ticket is not None and ticket.updated_at == copied_at
        assert starred_session_ids(session, ticket) == {a, b, c}
    assert sorted(agenda_keys(db)) == sorted([browser_key, ticket_key])


def test_a_cross_site_post_cannot_choose_the_agenda_key(client: TestClient, db: Database) -> None:
    slug = sessions(client)[3]["slug"]
    key = page_agenda_key(client.get(SATURDAY_LIST).text)

    def post_star(agenda: str, headers: dict[str, str]) -> Any:
        client.cookies.clear()  # a browser with no agenda yet
        return client.post(
            f"/{DEMO}/sessions/{slug}/star",
            data={"starred": "yes", "next": SATURDAY_LIST, "agenda": agenda},
            headers=headers,
            follow_redirects=False,
        )

    # Another site's page posting a key it knows is refused, and no agenda or cookie is made...
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        answer = post_star(key, headers)
        assert answer.status_code == 403
        assert "set-cookie" not in answer.headers
    assert key not in agenda_keys(db)
    # ...and a key new_agenda_key could not have made gets a fresh agenda instead.
    for malformed in (key[:-1], key + "A", key[:-1] + "=", "x" * 43):
        assert cookie_agenda_key(post_star(malformed, {"Origin": "http://testserver"})) != malformed
    assert len(agenda_keys(db)) == 4

    # This site's own page (or a client that sends no Origin at all) does use its key.
    assert cookie_agenda_key(post_star(key, {"Origin": "http://testserver"})) == key
    assert cookie_agenda_key(post_star(key, {"Sec-Fetch-Site": "same-origin"})) == key
    # Under Referrer-Policy: no-referrer Chromium sends "Origin: null" from our own pages too.
    assert (
        cookie_agenda_key(post_star(key, {"Origin": "null", "Sec-Fetch-Site": "same-origin"}))
        == key
    )
    assert len(agenda_keys(db)) == 5


def test_a_candidate_key_in_use_at_another_conference_gets_a_fresh_agenda(
    client: TestClient, db: Database
) -> None:
    load_synthetic_conference(db, slug="another-conference", sessions=5)
    key = page_agenda_key(client.get(SATURDAY_LIST).text)
    with db.transaction() as session:
        claim_agenda(session, require_conference(session, "another-conference"), key)

    answer = client.post(
        f"/{DEMO}/sessions/{sessions(client)[0]['slug']}/star",
        data={"starred": "yes", "agenda": key},
        headers={"Accept": "application/json"},
    )

    assert answer.status_code == 200 and cookie_agenda_key(answer) != key
    with db.read() as session:
        theirs = session.get(Agenda, key)
        assert theirs is not None and starred_session_ids(session, theirs) == set()


def test_a_browsers_stars_reach_a_ticket_only_when_asked(client: TestClient, db: Database) -> None:
    chosen, later = sessions(client)[11], sessions(client)[20]
    star(client, chosen["slug"])
    registered = client.post(
        f"/api/{DEMO}/registrations",
        json={"name": "Rosa", "email": "rosa@example.org", "ticket_type": "waged"},
    )
    assert registered.status_code == 201
    browser_key = browser_agenda_key(client)

    # The management page's "Add this browser's stars" button does this:
    with db.transaction() as session:
        registration = session.exec(select(Registration)).one()
        ticket_agenda = registration_agenda(session, registration)
        assert copy_stars(session, session.get(Agenda, browser_key), ticket_agenda) == 1
        ticket_key, registration_id = ticket_agenda.key, registration.id or 0
    ticket_feed = f"/agenda/{ticket_key}.ics"
    feed = client.get(ticket_feed)
    assert feed_uids(feed.content) == {f"{chosen['uuid']}@confapp"}
    assert b"Rosa" not in feed.content and b"rosa@example.org" not in feed.content

    # Later stars stay in the browser's own agenda, which the cookie still names.
    star(client, later["slug"])
    assert browser_agenda_key(client) == browser_key
    assert feed_uids(client.get(ticket_feed).content) == {f"{chosen['uuid']}@confapp"}

    # Erasing the attendee erases what they chose to attend; the browser's agenda is its own.
    erase_attendee(db, registration_id)
    assert client.get(ticket_feed).status_code == 404
    assert agenda_keys(db) == [browser_key]
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(AgendaStar)).one() == 2


@pytest.mark.browser
def test_two_stars_pressed_quickly_on_the_programme_both_stay_starred(
    phone: Page, live_server: Any, sqlite_url: str
) -> None:
    programme = phone.request.get(f"{live_server.url}/api/{DEMO}/programme").json()
    saturday = [s for s in programme["sessions"] if s["start"].startswith("2027-07-10")]
    chosen = [saturday[2], saturday[5]]
    phone.goto(f"{live_server.url}{SATURDAY_LIST}")
    items = [phone.locator("li.session-item", has_text=s["title"]) for s in chosen]

    # Hold the answers back, so the second press happens before the first is answered.
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    phone.route("**/star", hold)
    for item in items:
        item.get_by_role("button", name=re.compile("Add to my agenda")).click()
    # A second press on a star still waiting for its answer sends nothing more.
    items[0].locator("form[data-star]").evaluate("form => form.requestSubmit()")
    deadline = time.monotonic() + 10
    while len(held) < 2 and time.monotonic() < deadline:
        phone.wait_for_timeout(50)
    phone.wait_for_timeout(300)
    assert len(held) == 2
    for route in held:
        route.continue_()
    for item in items:
        item.get_by_role("button", name=re.compile("In my agenda")).wait_for()

    phone.reload()
    for item in items:
        assert item.get_by_role("button", name=re.compile("In my agenda")).is_visible()
    database = Database(sqlite_url)
    try:
        assert len(agenda_keys(database)) == 1
        with database.read() as session:
            assert session.exec(select(func.count()).select_from(AgendaStar)).one() == 2
    finally:
        database.dispose()
