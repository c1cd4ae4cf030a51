"""The HTTP edge: which host names are served, the headers on every response, how big a body may
be, hostile paths and cookies, what a server error logs, and that it keeps the connection."""

from __future__ import annotations

import http.client
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from confapp.agenda.cookie import cookie_name
from confapp.app import create_app
from confapp.db import Database
from confapp.hosts import allowed_host_names
from confapp.migrate import upgrade_to_head
from confapp.programme.conference_file import load_conference_file
from confapp.programme.queries import get_conference
from confapp.resources import demo_seed_path, templates_dir
from confapp.settings import Settings
from tests.support import DEMO
from tests.support.databases import fresh_postgres_database
from tests.support.servers import LiveServer, live_settings

REQUIRED_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src-elem": "'self'",
    "style-src-attr": "'unsafe-inline'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
OTHER_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
PERSON = {
    "name": "Xanthippe Quorrelby",
    "email": "xq-7781@example.org",
    "ticket_type": "waged",
    "access_needs": "a hearing loop, seat ZQ9",
}
CRASH = "/test-only/crash"


def load_demo(url: str) -> str:
    database = Database(url)
    upgrade_to_head(database.engine)
    load_conference_file(database, demo_seed_path())
    database.dispose()
    return url


@pytest.fixture
def demo_url(sqlite_url: str) -> str:
    """A SQLite file holding the demo conference, for what does not depend on the database."""
    return load_demo(sqlite_url)


def site_settings(url: str, **overrides: object) -> Settings:
    return Settings(
        database_url=url, seed_file="", base_url="http://testserver", housekeeping_seconds=0
    ).with_overrides(**overrides)


def crash(request: Request) -> Response:
    raise ValueError(f"cannot seat {PERSON['name']} <{PERSON['email']}>")


def crash_after_answering(request: Request) -> Response:
    return PlainTextResponse("answered", background=BackgroundTask(crash, request))


def with_crashing_routes(app: Any) -> Any:
    """The app with test-only routes that raise; the real app has none."""
    app.router.routes[:0] = [Route(CRASH, crash), Route(f"{CRASH}-later", crash_after_answering)]
    return app


@pytest.fixture
def site(demo_url: str) -> Iterator[TestClient]:
    app = with_crashing_routes(create_app(site_settings(demo_url)))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def policy_of(response: Any) -> dict[str, str]:
    header = response.headers.get("content-security-policy", "")
    directives = (d.strip().split(None, 1) for d in header.split(";") if d.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


# ---- host names -----------------------------------------------------------------------------


def test_a_forged_host_header_is_refused_before_it_reaches_any_link(site: TestClient) -> None:
    evil = {"host": "evil.example"}
    page = site.get(f"/{DEMO}/programme", headers=evil)
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/plain")
    assert "evil.example" not in page.text

    api = site.post(f"/api/{DEMO}/registrations", json=PERSON, headers=evil)
    assert api.status_code == 400 and api.json()["error"] == "invalid_host"
    feed = site.get(f"/{DEMO}/programme.ics", headers={"host": "evil.example:8000"})
    assert feed.status_code == 400

    # The name the site is configured for still works, with or without a port.
    assert site.get(f"/{DEMO}/programme").status_code == 200
    assert site.get(f"/{DEMO}/programme", headers={"host": "TestServer:80"}).status_code == 200


def test_with_no_setting_at_all_only_loopback_names_are_served(demo_url: str) -> None:
    app = create_app(site_settings(demo_url, base_url=""))
    for origin in ("http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000"):
        with TestClient(app, base_url=origin) as client:
            ticket = client.post(f"/api/{DEMO}/registrations", json=PERSON)
            assert ticket.status_code == 201, origin
            assert ticket.json()["ticket"]["url"].startswith(f"{origin}/tickets/")
    for origin in ("http://testserver", "http://evil.example", "http://192.168.1.20:8000"):
        with TestClient(app, base_url=origin) as client:
            assert client.get(f"/{DEMO}/programme").status_code == 400, origin


def test_allowed_hosts_follow_the_settings() -> None:
    loopback = {"localhost", "127.0.0.1", "::1"}
    assert allowed_host_names(Settings()) == loopback
    public = Settings(base_url="https://Conference.example.org:8443")
    assert allowed_host_names(public) == loopback | {"conference.example.org"}
    # Serving on one LAN address (confapp serve --host 192.168.1.20) answers to that address.
    assert allowed_host_names(Settings(host="192.168.1.20")) == loopback | {"192.168.1.20"}
    assert allowed_host_names(Settings(host="0.0.0.0")) == loopback
    # CONFAPP_ALLOWED_HOSTS replaces the rule; "*" is only there when written down.
    chosen = Settings(base_url="https://x.example", allowed_hosts=("a.example", "[::1]"))
    assert allowed_host_names(chosen) == {"a.example", "::1"}


def test_allowed_hosts_and_body_limit_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONFAPP_ALLOWED_HOSTS", " conference.example.org, www.example.org ,")
    monkeypatch.setenv("CONFAPP_MAX_BODY_BYTES", "1000")
    settings = Settings.from_env()
    assert settings.allowed_hosts == ("conference.example.org", "www.example.org")
    assert settings.max_body_bytes == 1000
    monkeypatch.delenv("CONFAPP_ALLOWED_HOSTS")
    monkeypatch.delenv("CONFAPP_MAX_BODY_BYTES")
    assert Settings.from_env().allowed_hosts == ()
    assert Settings.from_env().max_body_bytes == 65536


def test_a_wildcard_answers_to_any_name_only_when_configured(demo_url: str) -> None:
    app = create_app(site_settings(demo_url, allowed_hosts=("*",)))
    with TestClient(app, base_url="http://anything.example") as client:
        assert client.get(f"/{DEMO}/programme").status_code == 200
    app = create_app(site_settings(demo_url, allowed_hosts=("conference.example.org",)))
    with TestClient(app, base_url="http://conference.example.org") as client:
        assert client.get(f"/{DEMO}/programme").status_code == 200
        assert client.get("/", headers={"host": "localhost"}).status_code == 400


# ---- security headers -----------------------------------------------------------------------


def test_every_response_carries_the_security_headers(site: TestClient) -> None:
    static = site.get("/static/css/confapp.css")
    responses = {
        "page": site.get(f"/{DEMO}/programme"),
        "json": site.get(f"/api/{DEMO}/programme"),
        "feed": site.get(f"/{DEMO}/programme.ics"),
        "static": static,
        "not modified": site.get(
            "/static/css/confapp.css", headers={"if-none-match": static.headers["etag"]}
        ),
        "head": site.head(f"/{DEMO}/programme"),
        "not found": site.get("/no/such/page"),
        "not found json": site.get("/api/no-such-conference/programme"),
        "wrong host": site.get("/", headers={"host": "evil.example"}),
        "bad path": site.get("/tickets/a%00b"),
        "too large": site.post(f"/api/{DEMO}/registrations", content=b"x" * 70_000),
        "server error": site.get(CRASH),
    }
    assert responses["not modified"].status_code == 304
    assert responses["server error"].status_code == 500
    for name, response in responses.items():
        policy = policy_of(response)
        for directive, value in REQUIRED_POLICY.items():
            assert policy.get(directive) == value, (name, directive, policy)
        assert "'unsafe-inline'" not in policy["script-src"], name
        for header, value in OTHER_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        assert len(response.headers.get_list("x-frame-options")) == 1, name


def test_headers_a_route_sets_itself_are_kept(demo_url: str) -> None:
    def framed(request: Request) -> Response:
        headers = {"X-Frame-Options": "SAMEORIGIN", "Cache-Control": "no-store"}
        return PlainTextResponse("mine", headers=headers)

    app = create_app(site_settings(demo_url))
    app.router.routes.insert(0, Route("/test-only/framed", framed))
    with TestClient(app) as client:
        response = client.get("/test-only/framed")
        feed = client.get(f"/{DEMO}/programme.ics")
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert feed.headers["cache-control"] == "public, max-age=300"


def test_templates_have_no_inline_script_or_event_handler() -> None:
    """What the policy forbids must not be in the pages: every script is a file of our own."""
    offending = []
    for template in sorted(templates_dir().rglob("*.html")):
        source = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", source, flags=re.IGNORECASE):
            # Data for a script (type="application/json") runs nothing: the policy allows it.
            if "src=" not in tag and 'type="application/json"' not in tag:
                offending.append(f"{template.name}: inline {tag}")
        for handler in re.findall(r"\son[a-z]+\s*=", source, flags=re.IGNORECASE):
            offending.append(f"{template.name}: event handler {handler.strip()}")
        if "javascript:" in source.lower():
            offending.append(f"{template.name}: javascript: URL")
    assert not offending, offending


@pytest.mark.browser
def test_programme_and_session_pages_run_under_the_policy_without_violations(
    phone: Any, live_server: Any
) -> None:
    messages: list[str] = []
    phone.on("console", lambda message: messages.append(message.text))
    phone.on("pageerror", lambda error: messages.append(str(error)))
    data = phone.request.get(f"{live_server.url}/api/{DEMO}/programme").json()
    with_track = next(s for s in data["sessions"] if s.get("track"))
    session_url = with_track["url"]
    if session_url.startswith("/"):
        session_url = live_server.url + session_url

    for url in (f"{live_server.url}/{DEMO}/programme", session_url):
        response = phone.goto(url)
        assert response is not None and response.ok, url
        assert policy_of(response)["script-src"] == "'self'"
        phone.wait_for_load_state("load")
        # Inline style attributes still apply (a track's colour, the grid's size).
        value = phone.locator("[style*='--']").first.evaluate(
            "e => getComputedStyle(e)"
            ".getPropertyValue(e.getAttribute('style').match(/--[\\w-]+/)[0])"
        )
        assert value.strip(), url

    # The site's own script runs: starring posts with fetch and updates the button in place.
    phone.evaluate("() => { window.samePage = true; }")
    phone.locator("form[data-star] button").first.click()
    phone.wait_for_function(
        "() => document.querySelector('form[data-star] button')"
        ".getAttribute('aria-pressed') === 'true'"
    )
    assert phone.evaluate("() => window.samePage") is True, "the page was reloaded, not scripted"

    assert not [m for m in messages if "Content Security Policy" in m], messages

    # And a violation would have been heard: an injected inline script is refused, and said so.
    with phone.expect_console_message(lambda m: "Content Security Policy" in m.text):
        phone.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.inlineRan = true'; document.head.append(s); }"
        )
    assert phone.evaluate("() => window.inlineRan") is None


# ---- body size ------------------------------------------------------------------------------


def registrations(url: str) -> int:
    database = Database(url)
    try:
        with database.read() as session:
            return session.execute(text("SELECT count(*) FROM registration")).scalar_one()
    finally:
        database.dispose()


def test_bodies_over_the_limit_get_413_and_nothing_is_registered(demo_url: str) -> None:
    app = create_app(site_settings(demo_url, max_body_bytes=1000))
    padded = {**PERSON, "access_needs": "x" * 1000}
    with TestClient(app) as client:
        api = client.post(f"/api/{DEMO}/registrations", json=padded)
        assert api.status_code == 413
        assert api.json()["error"] == "too_large" and "1000 bytes" in api.json()["detail"]
        form = client.post(f"/{DEMO}/register", data=padded)
        assert form.status_code == 413
        assert form.headers["content-type"].startswith("text/html")
        assert "1000 bytes" in form.text
        assert registrations(demo_url) == 0

        # Under the limit, the same request goes through.
        assert client.post(f"/api/{DEMO}/registrations", json=PERSON).status_code == 201
    assert registrations(demo_url) == 1


def test_the_default_limit_is_64_kib(site: TestClient) -> None:
    body = {**PERSON, "access_needs": "x" * 65_536}
    assert site.post(f"/api/{DEMO}/registrations", json=body).status_code == 413
    assert site.post(f"/{DEMO}/register", data=body).status_code == 413


def answer_to(connection: http.client.HTTPConnection) -> tuple[int, dict[str, str], bytes]:
    response = connection.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def test_a_declared_length_over_the_limit_is_refused_without_waiting_for_the_body(
    demo_url: str,
) -> None:
    with LiveServer(live_settings(demo_url, max_body_bytes=1000)) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.putrequest("POST", f"/api/{DEMO}/registrations")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", "10000000")
        connection.endheaders()  # and not one byte of the ten megabytes
        status, headers, body = answer_to(connection)
        connection.close()
    assert status == 413
    assert json.loads(body)["error"] == "too_large"
    assert headers["x-content-type-options"] == "nosniff"


def test_a_chunked_body_is_stopped_as_soon_as_it_passes_the_limit(demo_url: str) -> None:
    chunk = b"x" * 600
    with LiveServer(live_settings(demo_url, max_body_bytes=1000)) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.putrequest("POST", f"/api/{DEMO}/registrations")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for _ in range(2):  # 1200 bytes, and the body never ends
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, _, body = answer_to(connection)
        connection.close()

        # A chunked body under the limit is read as usual.
        small = json.dumps(PERSON).encode()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request(
            "POST",
            f"/api/{DEMO}/registrations",
            body=iter([small[:20], small[20:]]),
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        small_status, _, _ = answer_to(connection)
        connection.close()
    assert status == 413 and json.loads(body)["error"] == "too_large"
    assert small_status == 201


# ---- hostile paths, queries and cookies -----------------------------------------------------

HOSTILE_SEGMENTS = {
    "a%00b": 400,  # NUL: PostgreSQL refuses it in text
    "%00": 400,
    "a%0Ab": 400,  # a line break would forge a line in the access log
    "%1B%5B31m": 400,  # a terminal escape
    "%ED%A0%80": 400,  # a lone surrogate, as UTF-8
    "%FF%FE": 400,  # not UTF-8 at all
    "%C0%AF": 400,  # an overlong encoding of "/"
    "a" * 3000: 404,
}
PUBLIC_ROUTES = [
    "/" + DEMO + "/sessions/{x}",
    "/" + DEMO + "/sessions/{x}.ics",
    "/" + DEMO + "/speakers/{x}",
    "/" + DEMO + "/tracks/{x}.ics",
    "/" + DEMO + "/rooms/{x}.ics",
    "/{x}/programme",
    "/{x}/",
    "/tickets/{x}",
    "/tickets/{x}/qr.svg",
    "/agenda/{x}.ics",
    "/api/{x}/programme",
    "/api/{x}/ticket-types",
]


def test_hostile_path_segments_are_refused_never_a_server_error(client: TestClient) -> None:
    wrong = []
    for route in PUBLIC_ROUTES:
        for segment, expected in HOSTILE_SEGMENTS.items():
            path = route.format(x=segment)
            response = client.get(path)
            if response.status_code != expected:
                wrong.append((path[:60], response.status_code))
            elif path.startswith("/api/"):
                assert response.headers["content-type"] == "application/json", path
    assert not wrong, wrong


def test_a_nul_in_the_query_string_is_refused(client: TestClient) -> None:
    for path in (
        f"/{DEMO}/programme?track=a%00b",
        f"/{DEMO}/programme?day=%00",
        f"/{DEMO}/register?ticket_type=%00",
        f"/api/{DEMO}/programme?x=%00",
    ):
        assert client.get(path).status_code == 400, path
    # Other control characters in a query are only text: no lookup fails on them.
    assert client.get(f"/{DEMO}/programme?track=a%0Ab").status_code in (200, 404)


def test_a_hostile_cookie_is_ignored_never_a_server_error(client: TestClient, db: Database) -> None:
    with db.read() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None
        name = cookie_name(conference)
    for value in ('"a\\000b"', "a\x00b", '"\\001\\002"'):
        client.cookies.clear()
        headers = {"cookie": f"other=kept; {name}={value}"}
        programme = client.get(f"/{DEMO}/programme", headers=headers)
        assert programme.status_code == 200, value
        agenda = client.get(f"/{DEMO}/agenda", headers=headers)
        assert agenda.status_code == 200, value
        session_slug = client.get(f"/api/{DEMO}/programme").json()["sessions"][0]["slug"]
        star = client.post(
            f"/{DEMO}/sessions/{session_slug}/star",
            data={"starred": "yes"},
            headers=headers,
            follow_redirects=False,
        )
        assert star.status_code == 303, value
        # The hostile cookie was left out; the browser gets a fresh agenda of its own.
        assert name in star.headers["set-cookie"]


# ---- logs and connections after a server error ----------------------------------------------


def test_sql_errors_carry_no_row_values(database_url: str) -> None:
    database = Database(database_url)
    try:
        with pytest.raises(DBAPIError) as raised, database.read() as session:
            session.execute(
                text("SELECT * FROM no_such_table WHERE email = :email"),
                {"email": PERSON["email"]},
            )
    finally:
        database.dispose()
    assert PERSON["email"] not in str(raised.value)


@pytest.fixture
def refusing_postgres(postgres_server_url: str) -> Iterator[str]:
    """The demo on PostgreSQL, where the database itself refuses every registration with an
    error that quotes the row: name, e-mail and access needs."""
    with fresh_postgres_database(postgres_server_url) as url:
        load_demo(url)
        database = Database(url)
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    "RAISE EXCEPTION 'refusing % <%> needing %', "
                    "NEW.name, NEW.email, NEW.access_needs; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON registration "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        database.dispose()
        yield url


def test_a_failed_registration_logs_no_personal_data(
    refusing_postgres: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(site_settings(refusing_postgres))
    with TestClient(app, raise_server_exceptions=False) as client:
        api = client.post(f"/api/{DEMO}/registrations", json=PERSON)
        form = client.post(f"/{DEMO}/register", data=PERSON)
    assert api.status_code == 500 and form.status_code == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "the failure was not logged"
    # The log says what failed and where...
    assert "sqlalchemy.exc." in caplog.text and "SQLSTATE P0001" in caplog.text
    assert "Traceback" in caplog.text
    assert "register" in caplog.text
    # ...and nothing about who.
    for value in (PERSON["name"], "Quorrelby", PERSON["email"], "ZQ9"):
        assert value not in caplog.text, value


def test_a_server_error_logs_its_type_and_traceback_but_not_its_message(
    site: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = site.get(CRASH)
    assert response.status_code == 500 and "Something went wrong" in response.text
    assert site.get(CRASH, headers={"accept": "application/json"}).json()["error"]
    assert "ValueError" in caplog.text and "in crash" in caplog.text
    assert PERSON["email"] not in caplog.text and "Quorrelby" not in caplog.text


def test_a_server_error_leaves_the_keep_alive_connection_working(demo_url: str) -> None:
    server = LiveServer(live_settings(demo_url))
    with_crashing_routes(server.server.config.app)
    with server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.connect()
        sock = connection.sock
        for path in (CRASH, f"{CRASH}-later", CRASH):
            connection.request("GET", path)
            status, headers, body = answer_to(connection)
            assert status in (500, 200), path
            assert len(body) == int(headers["content-length"]), path
            assert headers.get("connection", "").lower() != "close", path
            connection.request("GET", "/healthz")
            status, _, body = answer_to(connection)
            assert (status, body) == (200, b"ok"), path
        assert connection.sock is sock, "the connection was closed and opened again"
        connection.close()
