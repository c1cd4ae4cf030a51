"""Days and times in the reader's language (confapp.dates): what pages show through the `hm`,
`day_name`, `short_day` and `date_range` filters, and what the back office builds in code (a
clash's day, a pending change's times, the day an hour is skipped, a change someone else made),
in Australian English as before, in Spanish, and pseudo-translated."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from confapp.dates import (
    day_and_time,
    day_name,
    day_range,
    short_date,
    short_day,
    time_of_day,
    weekday_and_times,
)
from confapp.db import Database
from confapp.programme.editing import conference_for_update, set_days_and_hours
from confapp.translation import PSEUDO_CLOSE, PSEUDO_OPEN, in_language, offer_pseudo_language
from tests.support import DEMO
from tests.support.accounts import another_browser, make_organiser, make_user, sign_in
from tests.support.languages import offer_languages
from tests.support.pages import form_on, message_beside
from tests.support.programme import LENIN, STATE, TZ, make_every_save_public, sydney

EDITOR = f"/admin/{DEMO}/programme"
# Days in words do not depend on the database engine.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SATURDAY_9_30, SATURDAY_11 = sydney(10, 9, 30), sydney(10, 11)


def test_in_australian_english_days_and_times_read_as_they_always_have() -> None:
    with in_language("en-AU"):
        assert time_of_day(SATURDAY_9_30, TZ) == "09:30"
        assert day_name(date(2027, 7, 10)) == "Saturday 10 July"
        assert day_name(date(2027, 10, 3), year=True, in_sentence=True) == "Sunday 3 October 2027"
        assert short_day(date(2027, 7, 10)) == "Sat 10 Jul"
        assert short_date(date(2027, 7, 9)) == "9 Jul"
        assert short_date(date(2027, 7, 12), weekday=True, year=True) == "Mon 12 Jul 2027"
        assert day_and_time(SATURDAY_9_30, TZ) == "Sat 10 Jul 09:30"
        assert weekday_and_times(SATURDAY_9_30, SATURDAY_11, TZ) == "Sat 09:30–11:00"
        assert day_range(date(2027, 7, 9), date(2027, 7, 11)) == "9–11 July 2027"


def test_in_spanish_days_and_times_are_written_the_spanish_way() -> None:
    with in_language("es"):
        assert time_of_day(SATURDAY_9_30, TZ) == "9:30"
        assert day_name(date(2027, 7, 10)) == "Sábado, 10 de julio"
        # Inside a sentence a weekday keeps its small letter.
        assert (
            day_name(date(2027, 10, 3), year=True, in_sentence=True)
            == "domingo, 3 de octubre de 2027"
        )
        assert short_day(date(2027, 7, 10)) == "sáb, 10 jul"
        assert short_date(date(2027, 7, 12), weekday=True, year=True) == "lun, 12 jul 2027"
        assert day_and_time(SATURDAY_9_30, TZ) == "sáb, 10 jul 9:30"
        assert weekday_and_times(SATURDAY_9_30, SATURDAY_11, TZ) == "sáb, 9:30–11:00"
        assert day_range(date(2027, 7, 9), date(2027, 7, 11)) == "9–11 de julio de 2027"


def test_a_moment_is_written_on_the_conference_clocks() -> None:
    # 23:30 UTC on Friday is Saturday morning in Sydney.
    with in_language("en-AU"):
        assert day_and_time(datetime.fromisoformat("2027-07-09T23:30:00+00:00"), TZ) == (
            "Sat 10 Jul 09:30"
        )


@pytest.fixture
def pseudo_offered() -> Iterator[None]:
    offer_pseudo_language(True)
    yield
    offer_pseudo_language(False)


def test_in_the_pseudo_language_words_of_a_date_are_pseudo_and_times_stay_digits(
    pseudo_offered: None,
) -> None:
    with in_language("qps"):
        assert time_of_day(SATURDAY_9_30, TZ) == "09:30"
        for words in (
            day_name(date(2027, 7, 10)),
            short_day(date(2027, 7, 10)),
            short_date(date(2027, 7, 12), year=True),
            weekday_and_times(SATURDAY_9_30, SATURDAY_11, TZ),
            day_range(date(2027, 7, 9), date(2027, 7, 11)),
        ):
            assert words.startswith(PSEUDO_OPEN) and words.endswith(PSEUDO_CLOSE), words
            assert "Sat" not in words and "Jul" not in words
        assert day_and_time(SATURDAY_9_30, TZ).endswith(" 09:30")


# ---- the back office, in Spanish ---------------------------------------------------------------


@pytest.fixture
def spanish_organiser(client: TestClient, db: Database) -> TestClient:
    """An organiser of the demo, which offers Spanish, reading the back office in Spanish."""
    offer_languages(db, ["en-AU", "es"])
    sign_in(client, make_organiser(db))
    client.headers["Accept-Language"] = "es"
    return client


def save_form(client: TestClient, slug: str, **changes: str) -> Any:
    path = f"{EDITOR}/sessions/{slug}"
    fields = form_on(client.get(path).text, path)
    fields.update(changes)
    return client.post(path, data=fields, follow_redirects=False)


def text_of(page: str) -> str:
    return " ".join(html.unescape(page).split())


@SQLITE_ONLY
def test_a_spanish_organiser_reads_a_double_booking_with_its_weekday_in_spanish(
    spanish_organiser: TestClient,
) -> None:
    # The Refectory has Lenin at the same time: Saturday 09:30–11:00.
    saved = save_form(spanish_organiser, STATE, room="refectory", confirm_clashes="1")
    assert saved.status_code == 303, saved.text
    page = text_of(spanish_organiser.get(f"{EDITOR}/sessions/{STATE}").text)
    assert re.search(
        r"The Refectory también está reservada para “Lenin and the 1903 congress[^”]*” "
        r"\(sáb, 9:30–11:00\)\.",
        page,
    )


@SQLITE_ONLY
def test_a_spanish_organiser_sees_the_clash_s_day_in_spanish(
    spanish_organiser: TestClient, db: Database
) -> None:
    # The conference is cut to Friday and Saturday: Sunday's sessions fall outside its days.
    with db.transaction() as session:
        conference = conference_for_update(session, DEMO)
        set_days_and_hours(session, conference, date(2027, 7, 9), date(2027, 7, 10), None, None)
    page = text_of(spanish_organiser.get(f"{EDITOR}/problems").text)
    assert (
        "Es el dom, 11 jul 2027, fuera de los días de la conferencia (del 9 jul al 10 jul 2027)."
        in page
    )
    assert "Sun 11 Jul" not in page


@SQLITE_ONLY
def test_a_spanish_organiser_reads_the_times_of_a_pending_change_in_spanish(
    spanish_organiser: TestClient,
) -> None:
    moved = save_form(spanish_organiser, LENIN, room="foyer", start="14:00", end="15:30")
    assert moved.status_code == 303, moved.text
    review = spanish_organiser.get(f"{EDITOR}/changes").text
    listed = text_of(review.split('id="pending-changes"')[1].split("</ul>")[0])
    assert "sáb, 10 jul 9:30" in listed and "sáb, 10 jul 14:00" in listed
    assert "Sat" not in listed


@SQLITE_ONLY
def test_a_time_the_clocks_skip_is_refused_naming_the_day_in_spanish(
    spanish_organiser: TestClient, db: Database
) -> None:
    # Daylight saving starts in Sydney on Sunday 3 October 2027: 02:00 becomes 03:00.
    with db.transaction() as session:
        conference = conference_for_update(session, DEMO)
        set_days_and_hours(session, conference, date(2027, 10, 1), date(2027, 10, 4), None, None)
    path = f"{EDITOR}/sessions/new"
    fields = form_on(spanish_organiser.get(f"{path}?day=2027-10-03").text, path)
    fields.update(title="Night owls", start="02:30", end="03:30")
    answer = spanish_organiser.post(path, data=fields)
    assert answer.status_code == 422
    assert "no existen el domingo, 3 de octubre de 2027 en Australia/Sydney" in (
        message_beside(answer.text, "start")
    )


@SQLITE_ONLY
def test_a_day_someone_else_changed_is_named_in_spanish(
    spanish_organiser: TestClient, db: Database
) -> None:
    make_every_save_public(db)
    path = f"{EDITOR}/sessions/{LENIN}"
    mine = form_on(spanish_organiser.get(path).text, path)
    make_user(db, "comrade@example.org", "organiser", DEMO)
    other = another_browser(spanish_organiser)
    sign_in(other, "comrade@example.org")
    # Saturday's session moves to Sunday, clashes or not.
    theirs = save_form(other, LENIN, day="2027-07-11", confirm_clashes="1")
    assert theirs.status_code == 303, theirs.text

    mine.update(title="Lenin in 1903")
    refused = spanish_organiser.post(path, data=mine)
    assert refused.status_code == 409
    conflict = text_of(refused.text.split('id="conflict"')[1].split("</section>")[0])
    assert "de “Sábado, 10 de julio” a “Domingo, 11 de julio”" in conflict
