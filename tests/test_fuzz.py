"""Fuzzing against a real uvicorn server: the JSON API against its OpenAPI contract, hostile
input in the registration form and in path segments, and personal data kept out of the log.

Repeatable in CI: Hypothesis runs derandomized (the same examples on every run, no example
database), 150 examples per test and 100 per API operation: about 30 s in all. Set
CONFAPP_FUZZ_EXAMPLES for a deeper run by hand.
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes, urlencode, urlsplit

import pytest
import schemathesis
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from confapp.db import Database
from confapp.migrate import upgrade_to_head
from confapp.openapi import OPENAPI
from confapp.programme.conference_file import load_conference_file
from confapp.registration.form import FIELDS
from confapp.resources import demo_seed_path
from tests.support import DEMO
from tests.support.openapi_contract import assert_matches_contract
from tests.support.servers import LiveServer, free_port, live_settings

EXAMPLES = int(os.environ.get("CONFAPP_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # One live server serves every example; Hypothesis need not warn that it is not reset.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def demo_database(folder: Path) -> str:
    """A fresh SQLite file holding the demo conference, as `confapp serve` would load it."""
    url = f"sqlite:///{folder / 'confapp.sqlite3'}"
    database = Database(url)
    upgrade_to_head(database.engine)
    load_conference_file(database, demo_seed_path())
    database.dispose()
    return url


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Throttles off, so that fuzzed registrations get past them to the code behind (the
    # documented 429 is tested in test_openapi.py).
    server_settings = live_settings(
        demo_database(tmp_path_factory.mktemp("fuzz")),
        throttle_registrations_per_address_per_hour=0,
        throttle_registrations_per_email_per_hour=0,
        throttle_mails_per_recipient_per_hour=0,
    )
    with LiveServer(server_settings) as server:
        yield server


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]  # case-insensitive
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.text[:300]}"


class RawClient:
    """HTTP/1.1 to the live server with the request target sent exactly as given (no client
    library re-encodes or normalises it), reconnecting if the server closed the connection."""

    def __init__(self, server: LiveServer) -> None:
        self.port = server.port
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(
        self, method: str, target: str, body: bytes | None = None, headers: dict | None = None
    ) -> Answer:
        for attempt in (1, 2):
            try:
                self.connection.request(method, target, body=body, headers=headers or {})
                response = self.connection.getresponse()
                return Answer(response.status, response.headers, response.read())
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def raw(fuzz_server: LiveServer) -> Iterator[RawClient]:
    client = RawClient(fuzz_server)
    yield client
    client.connection.close()


# --- the JSON API against its contract -------------------------------------------------------


# Loaded from the module, not fetched from the server: schemathesis's lazy loader
# (`schemathesis.pytest.from_fixture`) does not run under pytest 9. The first test holds the
# served document to be this one.
schema = schemathesis.openapi.from_dict(OPENAPI)

CONTRACT_CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


def test_the_server_serves_the_document_the_fuzzer_reads(raw: RawClient) -> None:
    answer = raw.request("GET", "/api/openapi.json")
    assert answer.status_code == 200
    assert answer.json() == OPENAPI


@schema.parametrize()
@settings(FUZZ, max_examples=EXAMPLES * 2 // 3)
def test_the_api_keeps_its_contract(case: schemathesis.Case, fuzz_server: LiveServer) -> None:
    case.call_and_validate(base_url=fuzz_server.url, checks=CONTRACT_CHECKS)


# --- the registration form -------------------------------------------------------------------

# Text as people (and attackers) type it: any Unicode but lone surrogates, which cannot be sent
# as UTF-8, with NULs and other controls, and now and then something very long.
hostile_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x20)),
    st.builds(
        lambda part, times: part * times, st.text(min_size=1, max_size=4), st.integers(1, 40_000)
    ),
    st.sampled_from(["waged", "pay-what-you-can", "²", "1" * 5000, "10", "rosa@example.org"]),
)
form_fields = st.dictionaries(st.sampled_from(FIELDS), hostile_text, max_size=len(FIELDS))
REGISTER = f"/{DEMO}/register"
REGISTRATIONS = "/api/{conference}/registrations"
JSON_CONTENT = {"Content-Type": "application/json"}
FORM_CONTENT = {"Content-Type": "application/x-www-form-urlencoded"}
_registrations = itertools.count()


def valid_registration() -> dict[str, str]:
    """A registration that succeeds, each with its own address."""
    return {
        "name": "Rosa",
        "email": f"fuzz-{next(_registrations)}@example.org",
        "ticket_type": "pay-what-you-can",
        "amount": "25",
    }


@FUZZ
@given(fields=form_fields, over_a_valid_one=st.booleans(), as_multipart=st.booleans())
def test_the_register_form_survives_any_text(
    raw: RawClient, fields: dict[str, str], over_a_valid_one: bool, as_multipart: bool
) -> None:
    """Hostile text in any fields, alone or in place of some fields of a valid registration
    (so that it reaches the database)."""
    if over_a_valid_one:
        fields = valid_registration() | fields
    if as_multipart:
        boundary = uuid.uuid4().hex
        body = (
            b"".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                + value.encode("utf-8")
                + b"\r\n"
                for name, value in fields.items()
            )
            + f"--{boundary}--\r\n".encode()
        )
        content_type = f"multipart/form-data; boundary={boundary}"
    else:
        body = urlencode(fields).encode("ascii")
        content_type = "application/x-www-form-urlencoded"
    answer = raw.request("POST", REGISTER, body, {"Content-Type": content_type})
    assert answer.status_code < 500, answer


@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from(FIELDS), st.binary(), max_size=len(FIELDS)),
    as_file=st.booleans(),
)
def test_the_register_form_survives_bytes_in_its_fields(
    raw: RawClient, fields: dict[str, bytes], as_file: bool
) -> None:
    """Percent-encoded bytes that need not be UTF-8, or each field sent as an uploaded file."""
    if as_file:
        boundary = uuid.uuid4().hex
        body = (
            b"".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                + value
                + b"\r\n"
                for name, value in fields.items()
            )
            + f"--{boundary}--\r\n".encode()
        )
        content_type = f"multipart/form-data; boundary={boundary}"
    else:
        body = "&".join(f"{name}={quote_from_bytes(v, safe='')}" for name, v in fields.items())
        body = body.encode("ascii")
        content_type = "application/x-www-form-urlencoded"
    answer = raw.request("POST", REGISTER, body, {"Content-Type": content_type})
    assert answer.status_code < 500, answer


@FUZZ
@given(
    body=st.binary(max_size=5000),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
            "multipart/form-data",
            "application/json",
            "text/plain; charset=utf-8",
            "",
        ]
    ),
)
def test_the_register_form_survives_any_body(
    raw: RawClient, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = raw.request("POST", REGISTER, body, headers)
    assert answer.status_code < 500, answer


# --- the registration API with hostile JSON ----------------------------------------------


class RawJSON(str):
    """JSON text sent as it is."""


def encode(value: object) -> str:
    return str(value) if isinstance(value, RawJSON) else json.dumps(value)


def json_containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    json_containers,
    max_leaves=12,
)
# JSON text no encoder would write: lone surrogates, deep nesting, huge numbers, NaN, dupes.
nasty_json = st.sampled_from(
    [
        '"\\ud800"',
        '"a\\u0000b"',
        "[" * 5000 + "]" * 5000,
        '{"a":' * 3000 + "1" + "}" * 3000,
        "1" * 5000,
        "1e999999",
        "-0.0",
        "NaN",
        "Infinity",
        '"²"',
        '{"children": "²", "ages": "4"}',
    ]
)


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from([*FIELDS, "childcare"]), json_values | nasty_json.map(RawJSON)
    ),
    over_a_valid_one=st.booleans(),
)
def test_the_registration_api_survives_any_json(
    raw: RawClient, fields: dict[str, object], over_a_valid_one: bool
) -> None:
    if over_a_valid_one:
        fields = valid_registration() | fields
    body = "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in fields.items()) + "}"
    answer = raw.request("POST", REGISTRATIONS.format(conference=DEMO), body.encode(), JSON_CONTENT)
    assert answer.status_code < 500, answer
    assert_matches_contract("post", REGISTRATIONS, answer)


# --- path segments ---------------------------------------------------------------------------

PATHS_WITH_A_SEGMENT = [
    f"/{DEMO}/sessions/{{}}",
    f"/{DEMO}/speakers/{{}}",
    "/tickets/{}",
    "/agenda/{}.ics",
    "/api/{}/programme",
]
# Any text or bytes, percent-encoded whole: slashes, dots, NULs, invalid UTF-8 and all.
segments = st.one_of(
    st.text().map(lambda text: quote(text, safe="")),
    st.binary().map(lambda raw_bytes: quote_from_bytes(raw_bytes, safe="")),
    st.sampled_from(["%2e%2e", "..", ".", "%00", "%ff%fe", "%", "%zz", "a%2Fb", "~", "%C0%AF"]),
)


@pytest.mark.parametrize("template", PATHS_WITH_A_SEGMENT)
@FUZZ
@given(segment=segments)
def test_any_path_segment_is_answered_without_a_server_error(
    raw: RawClient, template: str, segment: str
) -> None:
    answer = raw.request("GET", template.format(segment))
    assert answer.status_code < 500, answer
    if template.startswith("/api/"):
        # Whatever the segment turns into, the answer is one the document lists.
        assert_matches_contract("get", "/api/{conference}/programme", answer)


# --- personal data never reaches the log -----------------------------------------------------

MARK = uuid.uuid4().hex[:10]
PERSON = {
    "name": f"Quockerwodger {MARK}",
    "email": f"quock.{MARK}@example.org",
    "access_needs": f"hearing loop please {MARK}",
    "childcare_ages": f"four and {MARK}",
}
TOO_LONG_NAME = f"Zbigniewa {MARK} " * 20
NOT_AN_EMAIL = f"not-an-address-{MARK}"


class Recorder(logging.Handler):
    """Keeps every record, formatted with its traceback, from every logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # aiosmtpd ("mail.log") is the test's own mail server, not the app.
        if not record.name.startswith("mail.log"):
            self.lines.append(self.format(record))


@contextmanager
def every_log_line() -> Iterator[Recorder]:
    # uvicorn's loggers do not propagate to the root: listen on them too.
    recorder = Recorder()
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.access")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(recorder)
        logger.setLevel(logging.DEBUG)
    try:
        yield recorder
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(recorder)
            logger.setLevel(level)


class RefuseRecipients:
    """An SMTP server that refuses every recipient, quoting the address back (as many do)."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.refused.append(address)
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_personal_data_never_reaches_the_log(tmp_path: Path) -> None:
    smtp = RefuseRecipients()
    controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        url = demo_database(tmp_path)
        server_settings = live_settings(url, smtp_host="127.0.0.1", smtp_port=controller.port)
        with every_log_line() as log, LiveServer(server_settings) as server:
            raw = RawClient(server)
            api = REGISTRATIONS.format(conference=DEMO)
            good = {
                "name": PERSON["name"],
                "email": PERSON["email"],
                "ticket_type": "pay-what-you-can",
                "amount": "25",
                "access_needs": PERSON["access_needs"],
                "childcare": {"children": 2, "ages": PERSON["childcare_ages"]},
                "email_consent": True,
            }
            attempts = [
                ("json", good),
                ("json", {**good, "email": NOT_AN_EMAIL}),
                ("json", {**good, "name": TOO_LONG_NAME}),
                ("json", {**good, "access_needs": PERSON["access_needs"] + "\x00"}),
                ("json", {**good, "ticket_type": f"no-such-{MARK}"}),
                ("json", {**good, "amount": f"{MARK}"}),
                ("form", {**good, "childcare": "", "childcare_children": "2"}),
                ("form", {**good, "childcare": "", "email": NOT_AN_EMAIL}),
                ("form", {**good, "childcare": "", "name": TOO_LONG_NAME}),
                ("form", {**good, "childcare": "", "childcare_ages": PERSON["childcare_ages"]}),
            ]
            statuses = []
            for kind, body in attempts:
                if kind == "json":
                    answer = raw.request("POST", api, json.dumps(body).encode(), JSON_CONTENT)
                else:
                    form = {k: str(v) for k, v in body.items() if k in FIELDS}
                    answer = raw.request("POST", REGISTER, urlencode(form).encode(), FORM_CONTENT)
                statuses.append(answer.status_code)
                assert answer.status_code < 500, answer
            assert 201 in statuses and 303 in statuses, statuses
            # Personal data in a query string, as a careless link might carry it.
            answer = raw.request("GET", f"{REGISTER}?{urlencode(good | {'childcare': ''})}")
            assert answer.status_code < 500, answer
            # The ticket's secret links are opened (their secrets must stay out of the log too).
            ticket = raw.request("POST", api, json.dumps(good).encode(), JSON_CONTENT).json()
            secret_links = [ticket["ticket"]["url"], ticket["ticket"]["manage_url"]]
            for link in secret_links:
                answer = raw.request("GET", urlsplit(link).path)
                assert answer.status_code == 200, answer
            # The confirmation mail is tried, and the SMTP server's refusal quotes the address.
            wait_for(lambda: PERSON["email"] in " ".join(smtp.refused))
            time.sleep(0.5)
            raw.connection.close()
    finally:
        controller.stop()

    assert any("/registrations" in line for line in log.lines), "the log was not captured"
    secrets = [*PERSON.values(), TOO_LONG_NAME.strip(), NOT_AN_EMAIL]
    secrets += [urlsplit(link).path.rsplit("/", 1)[-1] for link in secret_links]
    leaks = [line for line in log.lines if any(value in line for value in secrets)]
    leaks += [line for line in log.lines if MARK in line]
    assert not leaks, "\n".join(leaks)
