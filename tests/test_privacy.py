"""Attendees' personal data: never public, never in tokens or logs, and erased when it is due.

Each story registers someone with a name and e-mail no page could contain by chance, then looks
for those strings where they must not be.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.migrate import upgrade_to_head
from confapp.models import ManageLink, OutboxMail, Registration, RegistrationStatus, TicketType
from confapp.programme.conference_file import (
    LoadReport,
    check_conference_data,
    load_conference_file,
    load_conference_spec,
)
from confapp.programme.queries import get_conference
from confapp.programme.synthetic import synthetic_conference_data
from confapp.registration.mail import ticket_message
from confapp.registration.manage import load_ticket, new_manage_secret
from confapp.registration.privacy import (
    PurgeReport,
    erase_due_date,
    purge_expired_personal_data,
)
from confapp.registration.service import cancel_registration
from confapp.resources import demo_seed_path
from confapp.tickets.admission import admission_for_token, admission_token
from confapp.tickets.tokens import CODE_BYTES, CONFERENCE_ID_BYTES, TOKEN_VERSION, display_code
from confapp.times import to_utc
from tests.support.qr import read_qr_codes
from tests.support.registrations import register_person
from tests.support.servers import LiveServer, live_settings

SLUG = "socialism-2027"
NAME = "Zephyrine Quillfeather"
EMAIL = "zephyrine.quillfeather@example.org"
ACCESS_NEEDS = "Hearing loop and a seat by the aisle (marker ZQX-ACCESS-7781)"
CHILD_AGES = "4 and 7 (marker ZQX-AGES-3304)"
PERSONAL = (NAME, EMAIL, ACCESS_NEEDS, CHILD_AGES)

ATTENDEE: dict[str, Any] = {
    "name": NAME,
    "email": EMAIL,
    "ticket_type": "waged",
    "solidarity_topup": "45",
    "access_needs": ACCESS_NEEDS,
    "childcare": {"children": 2, "ages": CHILD_AGES},
    "email_consent": True,
}


# ---- helpers --------------------------------------------------------------------------------


def register_by_api(client: TestClient, slug: str = SLUG, **fields: Any) -> dict[str, Any]:
    response = client.post(f"/api/{slug}/registrations", json={**ATTENDEE, **fields})
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


def token_in(url: str) -> str:
    """The secret a link ends with (a ticket's, a management page's, an agenda feed's)."""
    return url.rstrip("/").rsplit("/", 1)[1]


def token_for(db: Database, registration_id: int) -> str:
    """The admission token, as the ticket's QR code holds it."""
    with db.read() as session:
        registration = session.get(Registration, registration_id)
        assert registration is not None
        return admission_token(session, registration)


def load_ticket_code(db: Database, registration_id: int) -> str:
    """The code as printed on the ticket (ABCD-EFGH-IJKLM), as an organiser would type it."""
    with db.read() as session:
        registration = session.get(Registration, registration_id)
        assert registration is not None
        return display_code(registration.ticket_code)


def manage_links(db: Database, registration_id: int) -> int:
    with db.read() as session:
        return len(
            session.exec(
                select(ManageLink).where(ManageLink.registration_id == registration_id)
            ).all()
        )


def local_instant(day: date, hour: int, minute: int, zone: str) -> datetime:
    """The UTC instant of a wall-clock time in a conference's zone."""
    return to_utc(datetime(day.year, day.month, day.day, hour, minute), zone)


def load_small_conference(db: Database, slug: str, start: date, **conference: Any) -> None:
    """A one-day conference besides the demo, loaded the way conference files are."""
    data = synthetic_conference_data(
        slug=slug, sessions=4, rooms=1, tracks=1, days=1, start_date=start
    )
    data["conference"].update(conference)
    data["ticket_types"] = [{"code": "waged", "name": "Waged", "price": 60}]
    with db.transaction() as session:
        load_conference_spec(session, check_conference_data(data))


def registrations_of(db: Database, slug: str) -> list[Registration]:
    with db.read() as session:
        conference = get_conference(session, slug)
        assert conference is not None
        return list(
            session.exec(
                select(Registration)
                .where(Registration.conference_id == conference.id)
                .order_by(col(Registration.id))
            )
        )


def anonymous_counts(db: Database, slug: str) -> dict[str, Any]:
    """What erasure must leave alone: per-type counts, money, statuses, places."""
    with db.read() as session:
        conference = get_conference(session, slug)
        assert conference is not None
        types = session.exec(
            select(TicketType).where(TicketType.conference_id == conference.id)
        ).all()
        type_codes = {t.id: t.code for t in types}
        registrations = registrations_of(db, slug)
        return {
            "per_type": dict(Counter(type_codes[r.ticket_type_id] for r in registrations)),
            "rows": [
                (
                    r.id,
                    type_codes[r.ticket_type_id],
                    r.amount_cents,
                    r.solidarity_topup_cents,
                    r.payment_status,
                    r.status,
                    r.created_at,
                    r.cancelled_at,
                )
                for r in registrations
            ],
            "places_taken": {t.code: t.places_taken for t in types},
            "conference": (conference.places_taken, conference.solidarity_fund_cents),
        }


def mail_rows(db: Database, registration_ids: list[int]) -> int:
    with db.read() as session:
        return len(
            session.exec(
                select(OutboxMail).where(col(OutboxMail.registration_id).in_(registration_ids))
            ).all()
        )


def assert_erased(registration: Registration) -> None:
    assert (registration.name, registration.email, registration.access_needs) == ("", "", "")
    assert (registration.childcare_children, registration.childcare_ages) == (0, "")
    assert registration.email_consent is False
    assert registration.erased_at is not None


def personal_data_left_in_database(db: Database, needles: tuple[str, ...]) -> list[str]:
    """Every value in every table that still holds one of `needles`."""
    found = []
    with db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(sa_select(table)):
                for column, value in row._mapping.items():
                    if any(needle.lower() in str(value).lower() for needle in needles):
                        found.append(f"{table.name}.{column}")
    return found


def run_confapp(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFAPP_")}
    return subprocess.run(
        [sys.executable, "-m", "confapp.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def demo_sqlite(sqlite_url: str) -> Iterator[Database]:
    """The demo conference in a SQLite file, for the `confapp` command (one engine is enough)."""
    database = Database(sqlite_url)
    upgrade_to_head(database.engine)
    load_conference_file(database, demo_seed_path())
    yield database
    database.dispose()


# ---- nothing public shows who is coming -----------------------------------------------------


def test_public_pages_and_programme_json_never_show_attendees(client: TestClient) -> None:
    register_by_api(client)
    register_by_api(client, name=f"{NAME} Second", email=f"second.{EMAIL}", ticket_type="free")

    public = [
        "/",
        f"/{SLUG}/",
        f"/{SLUG}/programme",
        f"/{SLUG}/programme?view=grid",
        f"/{SLUG}/speakers",
        f"/{SLUG}/register",
        f"/api/{SLUG}/programme",
        f"/api/{SLUG}/ticket-types",
        f"/api/{SLUG}/ticket-keys",
        f"/api/{SLUG}/ticket-revocations",
        f"/{SLUG}/programme.ics",
        f"/{SLUG}/schedule.json",
        f"/{SLUG}/schedule.xml",
    ]
    for path in public:
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.text.lower()
        for secret in PERSONAL:
            assert secret.lower() not in body, f"{path} shows {secret!r}"
        assert "zephyrine" not in body and "quillfeather" not in body, path


def test_ticket_token_and_qr_carry_no_name_or_email(client: TestClient) -> None:
    ticket = register_by_api(client)
    token = token_in(ticket["url"])
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))

    # Version, key id, the conference's id, the 8 random bytes of the ticket code, a 64-byte
    # signature: nothing else.
    assert len(raw) == 2 + CONFERENCE_ID_BYTES + CODE_BYTES + 64
    assert raw[0] == TOKEN_VERSION
    conference_id = client.get(f"/api/{SLUG}/ticket-keys").json()["conference_id"]
    assert int.from_bytes(raw[2 : 2 + CONFERENCE_ID_BYTES], "big") == conference_id
    code = ticket["code"].replace("-", "")
    code_at = 2 + CONFERENCE_ID_BYTES
    assert raw[code_at : code_at + CODE_BYTES] == base64.b32decode(code + "=" * (-len(code) % 8))
    for secret in (NAME, EMAIL, *NAME.split(), EMAIL.split("@")[0]):
        for encoding in ("utf-8", "utf-16-le"):
            assert secret.encode(encoding) not in raw
            assert secret.lower().encode(encoding) not in raw

    png = client.get(ticket["qr_png_url"])
    assert png.status_code == 200
    found = read_qr_codes(png.content)
    assert found == [ticket["url"]]
    svg = client.get(ticket["qr_svg_url"])
    assert svg.status_code == 200
    for secret in PERSONAL:
        assert secret.lower() not in found[0].lower()
        assert secret.lower() not in svg.text.lower()
    # Nor does what the QR code opens.
    admission = client.get(found[0])
    assert admission.status_code == 200
    for secret in (*PERSONAL, "zephyrine", "quillfeather"):
        assert secret.lower() not in admission.text.lower()


def test_management_links_are_stored_only_as_hashes(client: TestClient, db: Database) -> None:
    ticket = register_by_api(client)
    secret = ticket["manage_url"].rsplit("/", 1)[1]
    registered = client.post(
        f"/{SLUG}/register",
        data={"name": NAME, "email": EMAIL, "ticket_type": "free"},
        follow_redirects=False,
    )
    from_form = registered.headers["location"].removesuffix("?new=1").rsplit("/", 1)[1]

    for each in (secret, from_form):
        assert client.get(f"/my-ticket/{each}").status_code == 200
        assert personal_data_left_in_database(db, (each,)) == []
    with db.read() as session:
        hashes = {link.secret_hash for link in session.exec(select(ManageLink))}
    assert hashes == {
        hashlib.sha256(secret.encode()).hexdigest(),
        hashlib.sha256(from_form.encode()).hexdigest(),
    }


# ---- ticket tokens stay out of the logs -----------------------------------------------------


def serve_like_confapp_serve(server: LiveServer) -> None:
    """uvicorn's logging as `confapp serve` sets it: INFO, and its own access log off."""
    config = server.server.config
    config.log_level = "info"
    config.access_log = False
    config.configure_logging()


@contextmanager
def capturing_uvicorn(caplog: pytest.LogCaptureFixture, *names: str) -> Iterator[None]:
    """uvicorn's loggers do not propagate to the root logger, where caplog listens."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(caplog.handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(caplog.handler)
            logger.setLevel(level)


def visit_tickets_over_http(base_url: str) -> list[str]:
    """Register (form and JSON); open the management pages, the admission pages, their QR codes,
    the cancel page and the agenda feed; ask for the link again; try a forgery. Returns every
    secret that was in an address: admission tokens, management secrets, agenda keys."""
    tickets: list[tuple[str, str]] = []  # (admission token, management secret)
    secrets = []
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30) as http:
        form = {"name": NAME, "email": EMAIL, "ticket_type": "waged"}
        registered = http.post(f"/{SLUG}/register", data=form)
        assert registered.status_code == 303, registered.text
        location = registered.headers["location"]
        welcome = http.get(location)
        assert welcome.status_code == 200
        token = re.search(r'src="/tickets/([A-Za-z0-9_-]+)/qr.svg"', welcome.text)
        assert token is not None
        tickets.append((token.group(1), token_in(location.removesuffix("?new=1"))))
        api = http.post(
            f"/api/{SLUG}/registrations",
            json={"name": NAME, "email": EMAIL, "ticket_type": "concession"},
        )
        assert api.status_code == 201, api.text
        ticket = api.json()["ticket"]
        assert http.get(ticket["manage_url"]).status_code == 200
        tickets.append((token_in(ticket["url"]), token_in(ticket["manage_url"])))
        assert http.get(ticket["agenda_feed_url"]).status_code == 200
        secrets.append(token_in(ticket["agenda_feed_url"]).removesuffix(".ics"))

        for token, manage_secret in tickets:
            for suffix in ("", "/qr.svg", "/qr.png"):
                assert http.get(f"/tickets/{token}{suffix}").status_code == 200, suffix
            assert http.get(f"/tickets/{token}/").status_code in (200, 307)
            assert http.get(f"/my-ticket/{manage_secret}/cancel").status_code == 200
            secrets += [token, manage_secret]
        assert http.post(f"/tickets/{tickets[0][0]}/send-link").status_code == 303
        forged = tickets[0][0][:-4] + ("AAAA" if not tickets[0][0].endswith("AAAA") else "BBBB")
        assert http.get(f"/tickets/{forged}").status_code == 404
        assert http.get("/tickets/not-a-ticket-at-all").status_code == 404
        secrets.append(forged)
    time.sleep(0.3)  # let the mails' background attempts finish and log
    return secrets


def assert_no_token_logged(caplog: pytest.LogCaptureFixture, tokens: list[str]) -> None:
    assert caplog.records, "nothing was captured"
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for token in tokens:
            assert token not in text, f"{record.name} logged a ticket token: {text}"
    for token in tokens:
        assert token not in caplog.text


def test_ticket_tokens_never_reach_the_logs(
    db: Database, demo: LoadReport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="confapp")
    server = LiveServer(live_settings(db.url))
    serve_like_confapp_serve(server)
    with capturing_uvicorn(caplog, "uvicorn", "uvicorn.error", "uvicorn.asgi"), server:
        tokens = visit_tickets_over_http(server.url)

    assert_no_token_logged(caplog, tokens)
    # uvicorn's own access line (full path and query) stays off, as under `confapp serve` ...
    assert not logging.getLogger("uvicorn.access").hasHandlers()
    # ... uvicorn's other loggers were heard ...
    assert any(r.name.startswith("uvicorn") for r in caplog.records)
    # ... and confapp's access log wrote every ticket request, with the token cut out.
    access = [r.getMessage() for r in caplog.records if r.name == "confapp.access"]
    assert "POST /socialism-2027/register 303" in " ".join(access)
    for line in (
        "GET /tickets/… 200",
        "GET /tickets/…/qr.svg 200",
        "GET /tickets/…/qr.png 200",
        "GET /my-ticket/… 200",
        "GET /my-ticket/…/cancel 200",
    ):
        assert sum(line in a for a in access) == 2, (line, access)
    assert sum("GET /tickets/… 404" in a for a in access) == 2, access
    assert sum("POST /tickets/…/send-link 303" in a for a in access) == 1, access
    assert sum("GET /agenda/… 200" in a for a in access) == 1, access


def test_ticket_tokens_stay_out_of_uvicorns_own_access_log(
    demo_sqlite: Database, caplog: pytest.LogCaptureFixture
) -> None:
    server = LiveServer(live_settings(demo_sqlite.url))
    with capturing_uvicorn(caplog, "uvicorn.access"), server:
        tokens = visit_tickets_over_http(server.url)
    assert any(r.name == "uvicorn.access" for r in caplog.records)
    assert_no_token_logged(caplog, tokens)


# ---- the form says what is kept and why -----------------------------------------------------


def privacy_section(html: str) -> str:
    start = html.index('<section class="privacy"')
    return html[start : html.index("</section>", start)]


def test_registration_form_says_what_is_kept_and_when_it_is_erased(
    client: TestClient, db: Database
) -> None:
    section = privacy_section(client.get(f"/{SLUG}/register").text)
    assert "What we keep, and why" in section
    for kept in ("name", "e-mail", "access needs", "childcare"):
        assert kept in section
    assert "erased 30 days after the conference ends" in section
    assert "QR code holds no name or e-mail" in section

    # The number comes from the conference, not from the template.
    load_small_conference(db, "kept-longer", date(2027, 9, 1), erase_after_days=45)
    section = privacy_section(client.get("/kept-longer/register").text)
    assert "erased 45 days after the conference ends" in section


# ---- automatic erasure after the conference -------------------------------------------------


def test_personal_data_is_erased_the_day_after_the_retention_period(
    client: TestClient, db: Database
) -> None:
    load_small_conference(db, "later-2027", date(2027, 9, 1))
    people = [
        register_person(
            db,
            SLUG,
            name=NAME,
            email=EMAIL,
            ticket_type="waged",
            solidarity_topup="20",
            access_needs=ACCESS_NEEDS,
            childcare_children="2",
            childcare_ages=CHILD_AGES,
            email_consent="yes",
        ),
        register_person(
            db, SLUG, name="Bo", email="bo@example.org", ticket_type="pay-what-you-can", amount="25"
        ),
        register_person(db, SLUG, name="Cy", email="cy@example.org", ticket_type="free"),
        register_person(db, SLUG, name="Di", email="di@example.org", ticket_type="concession"),
    ]
    cancel_registration(db, people[2].ticket.registration.id or 0)
    later = register_person(
        db, "later-2027", name="Ed", email="ed@example.org", ticket_type="waged"
    )
    ids = [p.ticket.registration.id or 0 for p in people]
    links = [f"/tickets/{token_for(db, i)}" for i in ids]
    links += [p.ticket.path for p in people]  # the attendees' own pages
    assert all(client.get(link).status_code == 200 for link in links)
    assert mail_rows(db, ids) == 4
    counts = anonymous_counts(db, SLUG)
    assert counts["per_type"] == {"waged": 1, "pay-what-you-can": 1, "free": 1, "concession": 1}

    conference = people[0].ticket.conference
    zone = conference.timezone
    assert zone == "Australia/Sydney"
    due = erase_due_date(conference)
    assert due == conference.end_date + timedelta(days=30) == date(2027, 8, 10)

    # Up to and on the last day of the retention period (in Sydney), nothing goes.
    for now in (
        local_instant(conference.end_date, 12, 0, zone),
        local_instant(due - timedelta(days=1), 12, 0, zone),
        local_instant(due, 0, 0, zone),
        local_instant(due, 23, 59, zone),
    ):
        assert purge_expired_personal_data(db, now=now) == PurgeReport([], 0)
    assert [r.name for r in registrations_of(db, SLUG)] == [NAME, "Bo", "Cy", "Di"]
    assert all(client.get(link).status_code == 200 for link in links)

    # The day after, every attendee of that conference is erased, and only them.
    report = purge_expired_personal_data(db, now=local_instant(due + timedelta(days=1), 0, 1, zone))
    assert report == PurgeReport([SLUG], 4)
    for registration in registrations_of(db, SLUG):
        assert_erased(registration)
    for link in links:
        assert client.get(link).status_code == 404
    assert mail_rows(db, ids) == 0
    assert all(manage_links(db, i) == 0 for i in ids)
    assert anonymous_counts(db, SLUG) == counts
    assert [r.name for r in registrations_of(db, "later-2027")] == ["Ed"]
    assert mail_rows(db, [later.ticket.registration.id or 0]) == 1
    assert personal_data_left_in_database(db, (NAME, EMAIL, ACCESS_NEEDS, CHILD_AGES)) == []

    # Running it again erases nothing more.
    again = local_instant(due + timedelta(days=2), 12, 0, zone)
    assert purge_expired_personal_data(db, now=again) == PurgeReport([], 0)
    assert anonymous_counts(db, SLUG) == counts


def test_purge_counts_the_retention_days_in_the_conferences_own_time_zone(
    db: Database, demo: LoadReport
) -> None:
    # The same dates on either side of the date line: Auckland is UTC+12 in June, Los Angeles
    # UTC-7. Each is due for erasure after 2 June 2027, its own 2 June.
    for slug, zone in (
        ("auckland-2027", "Pacific/Auckland"),
        ("los-angeles-2027", "America/Los_Angeles"),
    ):
        load_small_conference(db, slug, date(2027, 5, 3), timezone=zone)
        register_person(db, slug, name=NAME, email=EMAIL, ticket_type="waged")
    [auckland] = registrations_of(db, "auckland-2027")
    with db.read() as session:
        conference = get_conference(session, "auckland-2027")
        assert conference is not None
        due = erase_due_date(conference)
    assert due == date(2027, 6, 2)

    # 23:30 on the due date in Auckland: still the retention period there.
    assert purge_expired_personal_data(
        db, now=datetime(2027, 6, 2, 11, 30, tzinfo=UTC)
    ) == PurgeReport([], 0)

    # 00:30 on 3 June in Auckland, while it is still 2 June (the due date) in UTC: erased.
    now = datetime(2027, 6, 2, 12, 30, tzinfo=UTC)
    assert local_instant(due + timedelta(days=1), 0, 30, "Pacific/Auckland") == now
    assert now.date() == due
    assert purge_expired_personal_data(db, now=now) == PurgeReport(["auckland-2027"], 1)
    [auckland] = registrations_of(db, "auckland-2027")
    assert_erased(auckland)

    # 3 June in UTC but 20:00 on 2 June in Los Angeles: not yet there.
    now = datetime(2027, 6, 3, 3, 0, tzinfo=UTC)
    assert now.date() == due + timedelta(days=1)
    assert purge_expired_personal_data(db, now=now) == PurgeReport([], 0)
    assert [r.name for r in registrations_of(db, "los-angeles-2027")] == [NAME]

    # Once it is 3 June in Los Angeles too, that conference goes; the demo's time has not come.
    now = local_instant(due + timedelta(days=1), 0, 30, "America/Los_Angeles")
    assert purge_expired_personal_data(db, now=now) == PurgeReport(["los-angeles-2027"], 1)
    [los_angeles] = registrations_of(db, "los-angeles-2027")
    assert_erased(los_angeles)


# ---- the `confapp purge` command ------------------------------------------------------------


def test_confapp_purge_erases_conferences_past_their_retention_period(
    demo_sqlite: Database,
) -> None:
    db = demo_sqlite
    load_small_conference(db, "past-2020", date(2020, 3, 2))
    past = [
        register_person(db, "past-2020", name=NAME, email=EMAIL, ticket_type="waged"),
        register_person(db, "past-2020", name="Bo", email="bo@example.org", ticket_type="waged"),
    ]
    current = register_person(db, SLUG, name="Cy", email="cy@example.org", ticket_type="free")

    result = run_confapp("purge", "--database-url", db.url)
    assert result.returncode == 0, result.stderr
    assert "Erased the personal data of 2 attendee(s) (past-2020)." in result.stdout

    for registration in registrations_of(db, "past-2020"):
        assert_erased(registration)
    assert mail_rows(db, [p.ticket.registration.id or 0 for p in past]) == 0
    assert [r.name for r in registrations_of(db, SLUG)] == ["Cy"]
    assert mail_rows(db, [current.ticket.registration.id or 0]) == 1


def test_confapp_purge_ticket_erases_one_attendee_and_returns_the_place(
    demo_sqlite: Database,
) -> None:
    db = demo_sqlite
    before = anonymous_counts(db, SLUG)
    leaving = register_person(
        db,
        SLUG,
        name=NAME,
        email=EMAIL,
        ticket_type="waged",
        solidarity_topup="45",
        access_needs=ACCESS_NEEDS,
    )
    staying = register_person(db, SLUG, name="Bo", email="bo@example.org", ticket_type="waged")
    token = token_for(db, leaving.ticket.registration.id or 0)
    code = load_ticket_code(db, leaving.ticket.registration.id or 0)

    result = run_confapp("purge", "--database-url", db.url, "--ticket", code.lower())
    assert result.returncode == 0, result.stderr
    assert "Erased the attendee" in result.stdout and "cancelled" in result.stdout

    erased, kept = registrations_of(db, SLUG)
    assert_erased(erased)
    assert erased.status == RegistrationStatus.cancelled.value
    assert erased.cancelled_at is not None
    assert (erased.amount_cents, erased.solidarity_topup_cents) == (9500, 4500)
    assert kept.name == "Bo" and kept.status == RegistrationStatus.active.value
    with db.read() as session:
        assert admission_for_token(session, token) is None
    assert manage_links(db, leaving.ticket.registration.id or 0) == 0
    assert mail_rows(db, [leaving.ticket.registration.id or 0]) == 0
    assert mail_rows(db, [staying.ticket.registration.id or 0]) == 1
    # The place (and the top-up it brought to the solidarity fund) went back.
    after = anonymous_counts(db, SLUG)
    assert after["places_taken"]["waged"] == before["places_taken"]["waged"] + 1
    assert after["conference"] == (before["conference"][0] + 1, before["conference"][1])
    assert personal_data_left_in_database(db, (NAME, EMAIL, ACCESS_NEEDS)) == []


def test_confapp_purge_ticket_with_an_unknown_code_says_so(demo_sqlite: Database) -> None:
    db = demo_sqlite
    register_person(db, SLUG, name=NAME, email=EMAIL, ticket_type="waged")
    before = anonymous_counts(db, SLUG)

    result = run_confapp("purge", "--database-url", db.url, "--ticket", "ZZZZ-ZZZZ-ZZZZZ")
    assert result.returncode == 2
    assert "no ticket with code ZZZZ-ZZZZ-ZZZZZ" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Erased" not in result.stdout
    assert anonymous_counts(db, SLUG) == before
    assert [r.name for r in registrations_of(db, SLUG)] == [NAME]


# ---- self-service: cancel and erase from the ticket page ------------------------------------


def test_attendee_cancels_and_erases_their_own_details(client: TestClient, db: Database) -> None:
    before = anonymous_counts(db, SLUG)
    ticket = register_by_api(client)
    link = ticket["manage_url"]
    (registration,) = registrations_of(db, SLUG)
    assert registration.access_needs == ACCESS_NEEDS
    assert mail_rows(db, [registration.id or 0]) == 1
    assert manage_links(db, registration.id or 0) == 1

    confirm = client.get(f"{link}/cancel")
    assert confirm.status_code == 200
    assert 'name="erase"' in confirm.text
    erased = client.post(f"{link}/cancel", data={"erase": "yes"})
    assert erased.status_code == 200
    assert "your details are erased" in erased.text

    (registration,) = registrations_of(db, SLUG)
    assert_erased(registration)
    assert registration.status == RegistrationStatus.cancelled.value
    assert mail_rows(db, [registration.id or 0]) == 0
    assert manage_links(db, registration.id or 0) == 0
    assert personal_data_left_in_database(db, PERSONAL) == []
    assert client.get(link).status_code == 404
    assert client.get(ticket["url"]).status_code == 404
    assert client.post(f"{link}/cancel", data={"erase": "yes"}).status_code == 404
    # Only the random ticket code stays, for the doors' revocation list.
    revoked = client.get(f"/api/{SLUG}/ticket-revocations").json()["revoked"]
    assert revoked == [ticket["code"]]  # dashed, as everywhere in JSON
    after = anonymous_counts(db, SLUG)
    assert (after["places_taken"], after["conference"]) == (
        before["places_taken"],
        before["conference"],
    )


# ---- access needs go to the access team only ------------------------------------------------


def test_access_needs_are_not_on_the_ticket_or_in_the_confirmation_mail(
    client: TestClient, db: Database
) -> None:
    ticket = register_by_api(client)
    assert ACCESS_NEEDS not in str(ticket) and CHILD_AGES not in str(ticket)
    own_page = client.get(ticket["manage_url"])
    assert own_page.status_code == 200
    assert NAME in own_page.text
    admission = client.get(ticket["url"])
    assert admission.status_code == 200
    assert NAME not in admission.text
    for page in (own_page, admission, client.get(f"{ticket['manage_url']}/cancel")):
        for private in (ACCESS_NEEDS, CHILD_AGES, "ZQX-"):
            assert private not in page.text, page.url

    (registration,) = registrations_of(db, SLUG)
    with db.transaction() as session:
        loaded = load_ticket(
            session, registration, new_manage_secret(session, registration.id or 0)
        )
    message = ticket_message(loaded, "https://tickets.example.org", "tickets@example.org")
    texts = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    assert len(texts) == 2  # plain text and HTML
    assert NAME in texts[0] and loaded.path in texts[0]
    for text in [*texts, message.as_string()]:
        for private in (ACCESS_NEEDS, CHILD_AGES, "ZQX-"):
            assert private not in text
