"""The pages, feeds and exports everyone fetches at the busiest moments are built once per
programme version and served from that, compressed as the client asks, and revalidated with
304; yet each visitor still sees their own stars, and every change shows at once."""

from __future__ import annotations

import gzip
import re
from typing import Any
from urllib.parse import urlsplit

import brotli
import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from confapp.calendar import ical
from confapp.calendar.publish import Feed, build_feed
from confapp.db import Database
from confapp.http_cache import BuiltBody, preferred_encoding
from confapp.programme.queries import load_programme, require_conference
from confapp.times import utcnow
from tests.support import DEMO
from tests.support.accounts import api_token, make_organiser
from tests.support.programme import make_every_save_public

SATURDAY_LIST = f"/{DEMO}/programme?day=2027-07-10&view=list"
PROGRAMME_JSON = f"/api/{DEMO}/programme"
FEED = f"/{DEMO}/programme.ics"


@pytest.fixture
def organiser_token(db: Database, demo: object) -> str:
    """An organiser's script on the day itself: every save is public at once, so what these
    stories change reaches the cached pages without a "Publish changes"."""
    make_every_save_public(db)
    return api_token(db, make_organiser(db))


def raw_get(client: TestClient, url: str, **headers: str) -> Any:
    """The response as sent, not decoded: httpx would undo the compression."""
    with client.stream("GET", url, headers=headers) as response:
        response.raw_body = b"".join(response.iter_raw())
    return response


@pytest.mark.parametrize("url", [FEED, f"/{DEMO}/schedule.xml", PROGRAMME_JSON, SATURDAY_LIST])
def test_a_phone_that_asks_for_brotli_or_gzip_gets_it_and_the_same_document(
    client: TestClient, url: str
) -> None:
    plain = raw_get(client, url, **{"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert "Accept-Encoding" in plain.headers["vary"]

    as_br = raw_get(client, url, **{"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert as_br.headers["content-encoding"] == "br"
    assert brotli.decompress(as_br.raw_body) == plain.raw_body
    assert len(as_br.raw_body) < len(plain.raw_body) / 3

    as_gzip = raw_get(client, url, **{"Accept-Encoding": "gzip"})
    assert as_gzip.headers["content-encoding"] == "gzip"
    assert gzip.decompress(as_gzip.raw_body) == plain.raw_body

    # Each coding is its own representation with its own validator, and each revalidates.
    etags = {r.headers["etag"] for r in (plain, as_br, as_gzip)}
    assert len(etags) == 3
    for answer, coding in ((plain, "identity"), (as_br, "br"), (as_gzip, "gzip")):
        again = client.get(
            url, headers={"If-None-Match": answer.headers["etag"], "Accept-Encoding": coding}
        )
        assert again.status_code == 304 and again.content == b""


def test_a_body_is_compressed_once_however_many_clients_ask() -> None:
    built = BuiltBody.of(b"BEGIN:VCALENDAR\r\n" * 500, "text/calendar", utcnow())
    first = built.encoded("br")
    assert built.encoded("br") is first
    assert built.encoded("gzip") is built.encoded("gzip")
    assert built.encoded("identity") is built.body


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("br;q=0, gzip;q=0", "identity"),
        ("*", "br"),
        ("", "identity"),
        ("identity", "identity"),
        ("nonsense;q=x, gzip", "gzip"),
    ],
)
def test_the_coding_follows_accept_encoding_and_its_refusals(accept: str, chosen: str) -> None:
    assert preferred_encoding(accept) == chosen


def test_the_programme_json_has_an_etag_and_answers_304_until_the_programme_changes(
    client: TestClient, organiser_token: str
) -> None:
    first = client.get(PROGRAMME_JSON)
    etag = first.headers["etag"]
    assert client.get(PROGRAMME_JSON, headers={"If-None-Match": etag}).status_code == 304
    slug = first.json()["sessions"][0]["slug"]
    renamed = client.patch(
        f"/api/{DEMO}/sessions/{slug}",
        json={"title": "Renamed at the last minute"},
        headers={"Authorization": f"Bearer {organiser_token}"},
    )
    assert renamed.status_code == 200, renamed.text
    after = client.get(PROGRAMME_JSON, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert "Renamed at the last minute" in after.text


def star_buttons(html: str) -> dict[str, bool]:
    """Each star form's session address, and whether it shows as starred."""
    found = re.findall(
        r'<form method="post" action="/[^/"]+/sessions/([^/"]+)/star"'
        r'.*?aria-pressed="(true|false)"',
        html,
        flags=re.DOTALL,
    )
    return {slug: pressed == "true" for slug, pressed in found}


def test_each_visitor_sees_their_own_stars_on_the_one_cached_page(client: TestClient) -> None:
    anonymous = client.get(SATURDAY_LIST).text
    buttons = star_buttons(anonymous)
    assert len(buttons) > 3 and not any(buttons.values())
    chosen = sorted(buttons)[:2]
    for slug in chosen:
        starred = client.post(
            f"/{DEMO}/sessions/{slug}/star",
            data={"starred": "yes", "next": SATURDAY_LIST, "agenda": ""},
            headers={"Origin": "http://testserver"},
            follow_redirects=False,
        )
        assert starred.status_code == 303

    mine = client.get(SATURDAY_LIST)
    assert star_buttons(mine.text) == {slug: slug in chosen for slug in buttons}
    assert mine.headers["cache-control"] == "private, no-cache"
    assert "Cookie" in mine.headers["vary"]
    # The same page as it was cached for everyone else: no stars, no trace of this visitor.
    client.cookies.clear()
    assert client.get(SATURDAY_LIST).text == anonymous
    # The starred page revalidates like any other.
    with_cookie_etag = mine.headers["etag"]
    assert with_cookie_etag != client.get(SATURDAY_LIST).headers["etag"]


def test_a_session_renamed_shows_at_once_on_every_cached_page(
    client: TestClient, organiser_token: str
) -> None:
    slug = client.get(PROGRAMME_JSON).json()["sessions"][0]["slug"]
    speaker = client.get(PROGRAMME_JSON).json()["sessions"][0]["people"][0]["speaker"]
    pages = [
        f"/{DEMO}/sessions/{slug}",
        f"/{DEMO}/programme?view=list",
        f"/{DEMO}/speakers/{speaker}",
    ]
    for page in pages:
        assert client.get(page).status_code == 200  # built and cached
    renamed = client.patch(
        f"/api/{DEMO}/sessions/{slug}",
        json={"title": "A title nobody has seen"},
        headers={"Authorization": f"Bearer {organiser_token}"},
    )
    assert renamed.status_code == 200, renamed.text
    for page in pages:
        assert "A title nobody has seen" in client.get(page).text, page


def test_after_a_change_only_the_changed_event_is_written_again_and_the_feed_is_the_same(
    client: TestClient, db: Database, organiser_token: str
) -> None:
    client.get(FEED)  # every event written once, and kept
    before = ical._event_bytes.cache_info()
    slug = client.get(PROGRAMME_JSON).json()["sessions"][0]["slug"]
    renamed = client.patch(
        f"/api/{DEMO}/sessions/{slug}",
        json={"title": "Moved to the big hall"},
        headers={"Authorization": f"Bearer {organiser_token}"},
    )
    assert renamed.status_code == 200, renamed.text
    served = client.get(FEED, headers={"Accept-Encoding": "identity"}).content
    assert b"Moved to the big hall" in served
    assert ical._event_bytes.cache_info().misses - before.misses == 1

    # The same bytes as a feed written afresh, every event anew.
    ical._event_bytes.cache_clear()
    ical._vtimezone_bytes.cache_clear()
    with db.read() as session:
        conference = require_conference(session, DEMO)
        programme = load_programme(session, conference)
    assert build_feed(programme, Feed("ics"), "http://testserver").body == served


def test_two_tickets_pages_share_one_built_programme_yet_each_shows_only_its_own(
    client: TestClient,
) -> None:
    def register(name: str, email: str) -> str:
        body = {"name": name, "email": email, "ticket_type": "waged"}
        answer = client.post(f"/api/{DEMO}/registrations", json=body)
        assert answer.status_code == 201, answer.text
        return urlsplit(answer.json()["ticket"]["manage_url"]).path

    first, second = (
        register("Ada Firstticket", "ada@example.org"),
        register("Bo Secondticket", "bo@example.org"),
    )
    slug = client.get(PROGRAMME_JSON).json()["sessions"][2]["slug"]
    starred = client.post(f"{first}/star/{slug}", data={"starred": "yes"}, follow_redirects=False)
    assert starred.status_code == 303

    for own, other, stars in ((first, second, {slug}), (second, first, set())):
        page = client.get(own).text
        assert other not in page  # no trace of the other ticket's secret
        forms = re.findall(
            r'<form method="post" action="(/my-ticket/[^"]+)/star/([^"]+)" class="star-form"'
            r'.*?aria-pressed="(true|false)"',
            page,
            flags=re.DOTALL,
        )
        assert len(forms) > 20 and {path for path, _, _ in forms} == {own}
        assert {session for _, session, pressed in forms if pressed == "true"} == stars
        assert ("Ada Firstticket" in page) == (own == first)


def test_connections_the_server_dropped_cost_no_failed_request(
    client: TestClient, db: Database
) -> None:
    """PostgreSQL restarted, or a connection killed by an administrator: the next poll of a
    feed and the next page still answer, on fresh connections."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a server that drops connections is PostgreSQL's case")
    assert client.get(FEED).status_code == 200
    assert client.get(SATURDAY_LIST).status_code == 200
    with db.engine.connect() as admin:
        killed = admin.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert killed >= 1
    assert client.get(FEED).status_code == 200
    assert client.get(SATURDAY_LIST).status_code == 200
    assert client.get(f"/{DEMO}/speakers").status_code == 200
