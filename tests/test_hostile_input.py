"""Registering with whatever a careless client or a hostile one can send: every mistake is a
4xx that names the field, nothing is half-saved, and nothing reaches a 500."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select
from starlette.testclient import TestClient

from confapp.db import Database
from confapp.models import Registration
from confapp.registration.form import FIELDS
from tests.support import DEMO
from tests.support.pages import field_error, input_value

API = f"/api/{DEMO}/registrations"
FORM = f"/{DEMO}/register"
GOOD = {"name": "Rosa", "email": "rosa@example.org", "ticket_type": "waged"}
PAY_WHAT_YOU_CAN = {**GOOD, "ticket_type": "pay-what-you-can"}


def registrations(db: Database) -> int:
    with db.read() as session:
        return session.exec(select(func.count()).select_from(Registration)).one()


def post_raw_json(client: TestClient, body: Any) -> Any:
    """Sends `body` as JSON text, so lone surrogates, NaN and huge numbers go out as written."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(API, content=content, headers={"content-type": "application/json"})


def refused_field(response: Any, field: str) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in body["fields"], body
    return body["fields"][field]


TEXT_FIELDS = ["name", "email", "ticket_type", "access_needs"]


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("value", [42, 4.5, True, ["Rosa"], {"first": "Rosa"}])
def test_a_text_field_sent_as_a_number_list_or_object_is_refused_not_stringified(
    client: TestClient, db: Database, field: str, value: Any
) -> None:
    response = post_raw_json(client, {**GOOD, field: value})

    assert refused_field(response, field) == "This must be text."
    assert registrations(db) == 0


def test_childcare_must_be_an_object_with_text_ages(client: TestClient, db: Database) -> None:
    ages_as_number = post_raw_json(client, {**GOOD, "childcare": {"children": 1, "ages": 4}})
    assert refused_field(ages_as_number, "childcare_ages") == "This must be text."

    for not_an_object in (2, "2", [1, "4"], True):
        response = post_raw_json(client, {**GOOD, "childcare": not_an_object})
        assert "must be an object" in refused_field(response, "childcare")

    assert post_raw_json(client, {**GOOD, "childcare": None}).status_code == 201
    assert registrations(db) == 1


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("٤٠", "digits 0-9"),
        ("４０", "digits 0-9"),
        ("²", "digits 0-9"),
        ("40²", "digits 0-9"),
        ("1,000", "without commas"),
        ("1 000", "without commas"),
        ("1e3", "Enter what you will pay"),
        ("40.", "Enter what you will pay"),
        ("40.505", "Enter what you will pay"),
    ],
)
def test_an_amount_is_digits_only_and_nothing_is_guessed(
    client: TestClient, db: Database, typed: str, hint: str
) -> None:
    by_form = client.post(FORM, data={**PAY_WHAT_YOU_CAN, "amount": typed})
    assert by_form.status_code == 422
    assert hint in (field_error(by_form.text, "amount") or "")
    assert input_value(by_form.text, "amount") == typed, "what they typed is shown back"

    assert hint in refused_field(
        post_raw_json(client, {**PAY_WHAT_YOU_CAN, "amount": typed}), "amount"
    )
    topup = post_raw_json(client, {**GOOD, "solidarity_topup": typed})
    assert refused_field(topup, "solidarity_topup")
    assert registrations(db) == 0


@pytest.mark.parametrize(
    ("amount", "cents"), [("25", 2500), ("$25.5", 2550), (25, 2500), (25.5, 2550), (42.25, 4225)]
)
def test_an_amount_may_be_a_json_string_or_number(
    client: TestClient, amount: Any, cents: int
) -> None:
    response = post_raw_json(client, {**PAY_WHAT_YOU_CAN, "amount": amount})

    assert response.status_code == 201, response.text
    assert response.json()["ticket"]["amount_cents"] == cents


@pytest.mark.parametrize("amount", [True, False, 25.555, -20, [25], {"dollars": 25}, None])
def test_an_amount_that_is_not_a_plain_number_is_refused(
    client: TestClient, db: Database, amount: Any
) -> None:
    response = post_raw_json(client, {**PAY_WHAT_YOU_CAN, "amount": amount})

    assert refused_field(response, "amount")
    assert registrations(db) == 0


@pytest.mark.parametrize("consent", ["maybe", "2", "yes please"])
def test_consent_that_is_neither_yes_nor_no_is_asked_again(
    client: TestClient, db: Database, consent: str
) -> None:
    by_form = client.post(FORM, data={**GOOD, "email_consent": consent})
    assert by_form.status_code == 422
    assert "Tick the box" in by_form.text
    assert refused_field(post_raw_json(client, {**GOOD, "email_consent": consent}), "email_consent")
    assert refused_field(post_raw_json(client, {**GOOD, "email_consent": 1}), "email_consent")
    assert registrations(db) == 0


def test_consent_is_kept_from_a_checkbox_or_a_json_boolean(
    client: TestClient, db: Database
) -> None:
    checkbox = client.post(FORM, data={**GOOD, "email_consent": "on"}, follow_redirects=False)
    assert checkbox.status_code == 303
    assert post_raw_json(client, {**GOOD, "email_consent": False}).status_code == 201
    with db.read() as session:
        assert session.exec(select(Registration.email_consent)).all() == [True, False]


@pytest.mark.parametrize("children", ["²", "١", "２", "-1", "1.0", "11"])
def test_a_count_of_children_in_superscript_or_other_digits_is_refused(
    client: TestClient, db: Database, children: str
) -> None:
    sent = {**GOOD, "childcare_children": children, "childcare_ages": "4"}
    by_form = client.post(FORM, data=sent)
    assert by_form.status_code == 422
    assert "from 0 to 10" in (field_error(by_form.text, "childcare_children") or "")

    by_json = post_raw_json(client, {**GOOD, "childcare": {"children": children, "ages": "4"}})
    assert "from 0 to 10" in refused_field(by_json, "childcare_children")
    assert registrations(db) == 0


def test_numbers_thousands_of_digits_long_are_refused_not_crashed_on(
    client: TestClient, db: Database
) -> None:
    huge = "9" * 5000
    as_number = '{"name": "Rosa", "email": "rosa@example.org", "ticket_type": '
    as_number += f'"pay-what-you-can", "amount": {huge}}}'
    assert "30 characters" in refused_field(post_raw_json(client, as_number.encode()), "amount")
    children = post_raw_json(client, f'{{"childcare": {{"children": {huge}}}}}'.encode())
    assert refused_field(children, "childcare.children")
    long_float = post_raw_json(client, f'{{"amount": 1.{huge}}}'.encode())
    assert refused_field(long_float, "amount")

    as_text = post_raw_json(client, {**PAY_WHAT_YOU_CAN, "amount": huge})
    assert refused_field(as_text, "amount")
    by_form = client.post(FORM, data={**GOOD, "childcare_children": huge})
    assert by_form.status_code == 422
    assert field_error(by_form.text, "childcare_children")
    assert registrations(db) == 0


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_not_amounts(client: TestClient, db: Database, constant: str) -> None:
    body = json.dumps(PAY_WHAT_YOU_CAN)[:-1] + f', "amount": {constant}}}'

    assert refused_field(post_raw_json(client, body.encode()), "amount")
    assert registrations(db) == 0


def test_json_nested_thousands_deep_is_refused_before_it_is_parsed(
    client: TestClient, db: Database
) -> None:
    hundred_thousand = "[" * 100_000 + "]" * 100_000
    assert post_raw_json(client, hundred_thousand.encode()).status_code == 413  # past the size cap
    deep = "[" * 30_000 + "]" * 30_000  # within the size cap: the depth check refuses it
    for body in (deep, f'{{"name": {deep}}}', f'{{"childcare": {{"ages": {deep}}}}}'):
        response = post_raw_json(client, body.encode())
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_json"
        assert "deeper than 20" in response.json()["detail"]
    # Brackets inside strings are text, not nesting.
    brackets = post_raw_json(client, {**GOOD, "access_needs": '[{"' * 30})
    assert brackets.status_code == 201, brackets.text
    assert registrations(db) == 1


def test_a_lone_surrogate_is_refused_wherever_it_is(client: TestClient, db: Database) -> None:
    for field in TEXT_FIELDS:
        response = post_raw_json(client, {**GOOD, field: "Ro\ud800sa"})
        assert "broken character" in refused_field(response, field)
    in_a_key = post_raw_json(client, {**GOOD, "\udfff": "x"})
    assert in_a_key.status_code == 422 and "broken character" in json.dumps(in_a_key.json())
    nested = post_raw_json(client, {**GOOD, "childcare": {"children": 1, "ages": "\ud83d"}})
    assert refused_field(nested, "childcare.ages")

    encoded_surrogate = b'{"name": "\xed\xa0\x80"}'
    assert post_raw_json(client, encoded_surrogate).status_code == 400
    by_form = client.post(
        FORM,
        content=b"name=Ro%ED%A0%80sa&email=rosa%40example.org&ticket_type=waged",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert by_form.status_code == 422
    assert "not UTF-8" in (field_error(by_form.text, "name") or "")
    assert input_value(by_form.text, "email") == "rosa@example.org"
    assert registrations(db) == 0


FORM_TEXT_FIELDS = list(FIELDS)  # every field the form has is text


@pytest.mark.parametrize("field", FORM_TEXT_FIELDS)
def test_a_nul_byte_in_any_form_field_is_shown_beside_that_field(
    client: TestClient, db: Database, field: str
) -> None:
    sent = {**PAY_WHAT_YOU_CAN, "amount": "40", "childcare_ages": "4", field: "Ro\x00sa"}

    response = client.post(FORM, data=sent)

    assert response.status_code == 422
    assert "control character" in (field_error(response.text, field) or response.text)
    if field != "name":
        assert input_value(response.text, "name") == "Rosa", "the rest of the form is kept"
    assert registrations(db) == 0


@pytest.mark.parametrize("field", TEXT_FIELDS + ["amount", "solidarity_topup"])
def test_a_nul_byte_or_control_character_in_json_names_the_field(
    client: TestClient, db: Database, field: str
) -> None:
    for control in ("\x00", "\x07", "\x1b", "\x85"):
        response = post_raw_json(client, {**PAY_WHAT_YOU_CAN, field: f"Ro{control}sa"})
        assert "control character" in refused_field(response, field)
    in_childcare = post_raw_json(client, {**GOOD, "childcare": {"children": 1, "ages": "4\x00"}})
    assert refused_field(in_childcare, "childcare.ages")
    assert registrations(db) == 0


def test_newlines_are_fine_in_access_needs_but_not_in_a_name(
    client: TestClient, db: Database
) -> None:
    multiline = client.post(
        FORM,
        data={**GOOD, "access_needs": "Step-free seating\r\nA hearing loop"},
        follow_redirects=False,
    )
    assert multiline.status_code == 303
    assert "one line" in refused_field(post_raw_json(client, {**GOOD, "name": "Ro\nsa"}), "name")
    with db.read() as session:
        kept = session.exec(select(Registration.access_needs)).one()
    assert kept == "Step-free seating\r\nA hearing loop"


def test_a_file_sent_in_a_text_field_is_refused_not_stored_as_its_repr(
    client: TestClient, db: Database
) -> None:
    response = client.post(
        FORM,
        data={"email": "rosa@example.org", "ticket_type": "waged"},
        files={"name": ("name.txt", b"Rosa", "text/plain")},
    )

    assert response.status_code == 422
    assert field_error(response.text, "name") == "This field takes text, not a file."
    assert input_value(response.text, "email") == "rosa@example.org"
    assert "UploadFile" not in response.text
    assert registrations(db) == 0


def test_a_file_in_a_field_the_form_does_not_have_is_refused_whole(
    client: TestClient, db: Database
) -> None:
    response = client.post(
        FORM, data=GOOD, files={"cv": ("cv.pdf", b"%PDF-1.7", "application/pdf")}
    )

    assert response.status_code == 400 and "takes no files" in response.text
    assert registrations(db) == 0


def test_a_multipart_form_without_files_registers(client: TestClient, db: Database) -> None:
    # Some clients send every form as multipart; text parts are as good as urlencoded ones.
    response = client.post(
        FORM,
        data=GOOD,
        files={"access_needs": (None, "Step-free seating")},  # a text part, no filename
        follow_redirects=False,
    )

    assert response.status_code == 303, response.text
    assert registrations(db) == 1


def test_a_body_larger_than_the_limit_is_refused(client: TestClient, db: Database) -> None:
    big = json.dumps({**GOOD, "access_needs": "a" * 100_000}).encode()
    assert post_raw_json(client, big).status_code == 413
    by_form = client.post(FORM, data={**GOOD, "access_needs": "a" * 100_000})
    assert by_form.status_code == 413
    assert registrations(db) == 0


@pytest.mark.parametrize(
    "body", [b"", b"null", b"[]", b'"Rosa"', b"{", b"\xff\xfe{}", b'{"name": "Rosa",}']
)
def test_a_body_that_is_not_a_json_object_is_a_400(
    client: TestClient, db: Database, body: bytes
) -> None:
    response = post_raw_json(client, body)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    assert registrations(db) == 0


def test_text_that_is_just_unusual_is_welcome(client: TestClient, db: Database) -> None:
    name = "Rosa 🌹 Łuksemburg-محمد"
    response = post_raw_json(client, {**GOOD, "name": name, "access_needs": "Tab\tseparated"})

    assert response.status_code == 201, response.text
    with db.read() as session:
        assert session.exec(select(Registration.name)).one() == name


# --- whatever JSON can hold, in any field: a 4xx or a registration, never a 500 -----------------

_hostile_text = st.text(
    st.one_of(
        st.characters(exclude_categories=()),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),
        st.sampled_from("0123456789٤４²,.$ \x00\t\n"),
    ),
    max_size=30,
)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _hostile_text
    | st.sampled_from(["", "25", "25.50", "waged", "pay-what-you-can", "rosa@example.org"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            _hostile_text | st.sampled_from(["children", "ages"]), children, max_size=3
        )
    ),
    max_leaves=8,
)
_BODY_FIELDS = [
    "name",
    "email",
    "ticket_type",
    "amount",
    "solidarity_topup",
    "access_needs",
    "childcare",
    "email_consent",
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.dictionaries(st.sampled_from(_BODY_FIELDS), _json_values, max_size=4),
    children=_json_values,
)
def test_any_json_value_in_any_field_gets_an_answer_never_a_server_error(
    client: TestClient, changes: dict[str, Any], children: Any
) -> None:
    body = {**PAY_WHAT_YOU_CAN, "amount": "25", **changes}
    if "childcare" not in changes:
        body["childcare"] = {"children": children, "ages": "4"}

    response = post_raw_json(client, body)

    # 429: the per-address and per-e-mail throttles answer once the valid examples pile up.
    assert response.status_code in (201, 400, 409, 422, 429), response.text
    assert response.headers["content-type"].startswith("application/json")
    if response.status_code != 201:
        assert response.json()["error"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=st.dictionaries(st.sampled_from(FORM_TEXT_FIELDS), st.binary(max_size=30)))
def test_any_bytes_in_any_form_field_get_a_page_never_a_server_error(
    client: TestClient, changes: dict[str, bytes]
) -> None:
    fields = {**{k: v.encode() for k, v in GOOD.items()}, **changes}
    body = "&".join(f"{name}={quote_from_bytes(value)}" for name, value in fields.items())

    response = client.post(
        FORM,
        content=body.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )

    assert response.status_code in (303, 409, 422, 429), response.text
