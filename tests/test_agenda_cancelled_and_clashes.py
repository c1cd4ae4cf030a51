"""A visitor's agenda and cancelled sessions: a cancelled session offers no "Add to my agenda"
(a star set before it was cancelled can still be taken off), and My agenda points out two
starred sessions at the same time, linking each to the other."""

from __future__ import annotations

import re
from typing import Any

from starlette.testclient import TestClient

from confapp.db import Database
from tests.support import DEMO
from tests.support.programme import LENIN, edit_session

SUNDAY_LIST = f"/{DEMO}/programme?day=2027-07-11&view=list"
CANCELLED = "brazil-left-in-power"  # cancelled in the demo: Sun 11:15–12:45
MARXISM = "marxism-and-oppression"  # Sun 13:45–15:15, Great Hall
AOTEAROA = "aotearoa-maori-struggle"  # Sun 13:45–15:15, The Refectory
MILITARISM = "europe-new-militarism"  # Sun 13:45–15:15, in place of a cancelled session


def star(client: TestClient, slug: str, starred: bool = True) -> Any:
    return client.post(
        f"/{DEMO}/sessions/{slug}/star",
        data={"starred": "yes" if starred else "no"},
        headers={"Accept": "application/json"},
    )


def star_form(page: str, slug: str) -> str | None:
    """The star form for this session on the page, or None."""
    found = re.search(
        rf'<form method="post" action="/{DEMO}/sessions/{slug}/star".*?</form>', page, re.DOTALL
    )
    return found.group(0) if found else None


def clash_note(agenda: str, slug: str) -> str:
    """The "Clashes with" line of this session's item on My agenda ("" if none)."""
    item = re.search(
        rf'<li class="session-item[^"]*"[^>]*>(?:(?!</li>).)*?'
        rf'class="session-title"><a href="/{DEMO}/sessions/{slug}">(?:(?!</li>).)*</li>',
        agenda,
        re.DOTALL,
    )
    assert item, f"{slug} is on My agenda"
    note = re.search(r'<p class="clash">(.*?)</p>', item.group(0), re.DOTALL)
    return note.group(1) if note else ""


def test_a_cancelled_session_offers_no_star_on_the_programme_or_its_own_page(
    client: TestClient,
) -> None:
    sunday = client.get(SUNDAY_LIST).text
    assert star_form(sunday, MARXISM) is not None
    assert star_form(sunday, CANCELLED) is None
    own_page = client.get(f"/{DEMO}/sessions/{CANCELLED}").text
    assert "This session is cancelled" in own_page
    assert star_form(own_page, CANCELLED) is None and "Add to my agenda" not in own_page

    # A page opened before the cancellation may still post: the star is not taken.
    assert star(client, CANCELLED).json() == {"starred": False, "count": 0}
    assert CANCELLED not in client.get(f"/{DEMO}/agenda").text


def test_a_star_set_before_the_session_was_cancelled_can_still_be_taken_off(
    client: TestClient, db: Database
) -> None:
    assert star(client, MARXISM).json() == {"starred": True, "count": 1}
    edit_session(db, MARXISM, status="cancelled")

    own_page = client.get(f"/{DEMO}/sessions/{MARXISM}").text
    form = star_form(own_page, MARXISM)
    assert form is not None and 'aria-pressed="true"' in form and "In my agenda" in form
    assert star_form(client.get(SUNDAY_LIST).text, MARXISM) is not None
    assert star(client, MARXISM, starred=False).json() == {"starred": False, "count": 0}
    assert star_form(client.get(f"/{DEMO}/sessions/{MARXISM}").text, MARXISM) is None


def test_my_agenda_points_out_starred_sessions_at_the_same_time(client: TestClient) -> None:
    for slug in (LENIN, MARXISM, AOTEAROA):
        star(client, slug)

    agenda = client.get(f"/{DEMO}/agenda").text
    assert "Some sessions you starred are at the same time" in agenda
    assert clash_note(agenda, LENIN) == ""
    marxism = clash_note(agenda, MARXISM)
    assert f'href="/{DEMO}/sessions/{AOTEAROA}"' in marxism
    assert "Clashes with" in marxism and "13:45–15:15" in marxism
    assert f'href="/{DEMO}/sessions/{MARXISM}"' in clash_note(agenda, AOTEAROA)

    star(client, MILITARISM)
    three_at_once = client.get(f"/{DEMO}/agenda").text
    assert re.findall(r'href="/[^"]+/sessions/([^"]+)"', clash_note(three_at_once, MARXISM)) == [
        AOTEAROA,
        MILITARISM,
    ]

    star(client, AOTEAROA, starred=False)
    star(client, MILITARISM, starred=False)
    alone = client.get(f"/{DEMO}/agenda").text
    assert clash_note(alone, MARXISM) == ""
    assert "at the same time" not in alone


def test_a_starred_session_that_is_cancelled_clashes_with_nothing(
    client: TestClient, db: Database
) -> None:
    star(client, MARXISM)
    star(client, AOTEAROA)
    edit_session(db, AOTEAROA, status="cancelled")

    agenda = client.get(f"/{DEMO}/agenda").text
    assert clash_note(agenda, MARXISM) == "" and clash_note(agenda, AOTEAROA) == ""
