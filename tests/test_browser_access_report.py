"""An access coordinator reads the access report on a 360-px phone: every row's access needs,
however long, lie inside the screen (rows stack as cards), and the page does not scroll
sideways."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from confapp.db import Database
from tests.support import DEMO
from tests.support.accounts import COORDINATOR, PASSWORD, make_user
from tests.support.browser import assert_no_sideways_scroll

LONG_NEEDS = (
    "Wheelchair user: step-free routes between every room, a space at the end of a row, "
    "an accessible toilet nearby and a quiet room for breaks; Auslan interpreting please."
)


@pytest.mark.browser
def test_the_access_needs_column_lies_inside_a_phones_screen(
    phone: Page, live_server: Any, sqlite_url: str
) -> None:
    for name, needs in (("Rosa Luxemburg", LONG_NEEDS), ("Clara Zetkin", "Ramp")):
        answer = phone.request.post(
            f"{live_server.url}/api/{DEMO}/registrations",
            data={
                "name": name,
                "email": f"{name.split()[0].lower()}@example.org",
                "ticket_type": "waged",
                "access_needs": needs,
            },
        )
        assert answer.status == 201, answer.text()
    make_user(Database(sqlite_url), COORDINATOR, "access-coordinator", DEMO)
    report = f"/admin/{DEMO}/reports/access"
    phone.goto(f"{live_server.url}/admin/login?next={report}")
    phone.get_by_label("E-mail address").fill(COORDINATOR)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    phone.wait_for_url(f"{live_server.url}{report}")

    needs = phone.locator("td.report-text")
    assert needs.count() == 2
    width = phone.evaluate("document.documentElement.clientWidth")
    for cell in needs.all():
        box = cell.bounding_box()
        assert box is not None and box["width"] > 0
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)
    long_cell = phone.locator("td.report-text", has_text="Auslan interpreting please.")
    text_right = long_cell.evaluate(
        "cell => { const r = document.createRange(); r.selectNodeContents(cell);"
        " return Math.max(...[...r.getClientRects()].map(b => b.right)); }"
    )
    assert text_right <= width, f"the text reaches {text_right}px on a {width}px screen"
    # Each cell still says what it is, now that the column headings are off screen.
    assert phone.get_by_text("Access needs", exact=True).first.is_visible()
    assert_no_sideways_scroll(phone)
