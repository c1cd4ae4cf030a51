"""Load-test confapp's public endpoints beside a bare Starlette app and a naive .ics endpoint.

Builds a synthetic conference in a fresh SQLite file or PostgreSQL database, serves it with
uvicorn workers, loads each endpoint with `wrk` and prints (and appends to bench/RESULTS.md) one
table with each endpoint's ratio to "hello world" and to the naive icalendar baseline, all
measured in the same run. See bench/README.md.

    .venv/bin/python bench/run.py --database both --sessions 300 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import stripe as stripe_library
from sqlalchemy import create_engine, func, text, update
from sqlalchemy.engine import make_url
from sqlmodel import col, select

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from confapp.accounts.service import add_user_role, create_api_token, find_user  # noqa: E402
from confapp.db import Database  # noqa: E402
from confapp.migrate import upgrade_to_head  # noqa: E402
from confapp.models import (  # noqa: E402
    Conference,
    Order,
    OrderItem,
    OrderStatus,
    Registration,
    RegistrationStatus,
    TicketType,
)
from confapp.programme.conference_file import (  # noqa: E402
    check_conference_data,
    load_conference_spec,
)
from confapp.programme.editing import conference_for_update, update_session  # noqa: E402
from confapp.programme.synthetic import synthetic_conference_data  # noqa: E402
from confapp.registration.form import CleanRegistration  # noqa: E402
from confapp.registration.orders import save_payment_settings  # noqa: E402
from confapp.registration.payments import release_ended_holds  # noqa: E402
from confapp.registration.service import register  # noqa: E402
from confapp.tickets.keys import ensure_signing_key  # noqa: E402
from confapp.times import utcnow  # noqa: E402
from tests.support.stripe_standin import StripeStandIn  # noqa: E402

SLUG = "bench"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:54329/postgres"
# Each run its own database, so two runs on one server (two people benchmarking) never collide.
BENCH_DATABASE = f"confapp_bench_{os.getpid()}"
BROWSER_HTML = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
BROWSER_ENCODING = "gzip, deflate, br, zstd"
# Ticket pages and scans cycle through at most this many tickets (each a Lua table entry).
MAX_TICKETS_IN_SCRIPT = 2000
# The door's target is set at 64 stewards' devices scanning at once, whatever --connections says.
CHECKIN_CONNECTIONS = 64
# Registration opening: this many people press "register" at the same instant for RUSH_PLACES.
RUSH_REGISTRATIONS = 1000
RUSH_PLACES = 300
RUSH_TICKET_TYPE = "rush"
# The checkout rush: as many at once for CHECKOUT_PLACES places of a paid ticket type, paid by
# card (Stripe Checkout, at a local stand-in): each place is held while its Stripe page is open.
CHECKOUT_PLACES = 300
CHECKOUT_TICKET_TYPE = "checkout"
# The visitor with stars has starred this many of day 1's sessions.
STARS = 10


# ---- building the data -----------------------------------------------------------------------


@dataclass
class BenchData:
    url: str
    session_slug: str
    speaker_slug: str
    first_day: str
    api_token: str
    day_one_sessions: list[str] = field(default_factory=list)
    admission_tokens: list[str] = field(default_factory=list)
    manage_secrets: list[str] = field(default_factory=list)
    registrations_per_second: float = 0.0


def postgres_url(base: str) -> str:
    return make_url(base).set(database=BENCH_DATABASE).render_as_string(hide_password=False)


def create_postgres_database(base: str) -> str:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {BENCH_DATABASE}"))
    admin.dispose()
    return postgres_url(base)


def drop_postgres_database(base: str) -> None:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"))
    admin.dispose()


def build_conference(url: str, sessions: int, rooms: int, registrations: int) -> BenchData:
    db = Database(url)
    try:
        upgrade_to_head(db.engine)
        data = synthetic_conference_data(slug=SLUG, sessions=sessions, rooms=rooms, days=3)
        # The generator makes no ticket types; registration needs one with no cap, the rush
        # (RUSH_REGISTRATIONS at once) one with RUSH_PLACES places, and the checkout rush one
        # of its own with CHECKOUT_PLACES.
        data["ticket_types"] = [
            {"code": "waged", "name": "Waged", "kind": "fixed", "price": 95},
            {"code": RUSH_TICKET_TYPE, "name": "Rush", "kind": "fixed", "price": 95,
             "capacity": RUSH_PLACES},
            {"code": CHECKOUT_TICKET_TYPE, "name": "Checkout", "kind": "fixed", "price": 95,
             "capacity": CHECKOUT_PLACES},
        ]  # fmt: skip
        # Two languages, as a multilingual conference has them: every session's title in
        # Spanish too, so the Spanish page is built from translated content.
        data["conference"]["languages"] = ["en-AU", "es"]
        for item in data["sessions"]:
            item["title"] = {"en-AU": item["title"], "es": "Sesión: " + item["title"]}
        spec = check_conference_data(data, source="<bench>")
        with db.transaction() as session:
            load_conference_spec(session, spec)
        ensure_signing_key(db)
        with db.read() as session:
            conference = session.exec(select(Conference).where(Conference.slug == SLUG)).one()
            ticket_type = session.exec(
                select(TicketType).where(
                    TicketType.conference_id == conference.id, TicketType.code == "waged"
                )
            ).one()
        assert conference.id is not None and ticket_type.id is not None
        bench = BenchData(
            url=url,
            session_slug=data["sessions"][len(data["sessions"]) // 2]["key"],
            speaker_slug=data["speakers"][0]["key"],
            first_day=data["conference"]["start_date"].isoformat(),
            api_token=_door_token(db),
            day_one_sessions=_spread(
                [item["key"] for item in data["sessions"]
                 if item["start"].date() == data["conference"]["start_date"]],
                STARS,
            ),
        )  # fmt: skip
        started = time.perf_counter()
        for n in range(registrations):
            registered = register(
                db,
                conference.id,
                CleanRegistration(
                    name=f"Attendee {n}",
                    email=f"attendee-{n}@bench.example.org",
                    ticket_type_id=ticket_type.id,
                    amount_cents=9500,
                    solidarity_topup_cents=0,
                    access_needs="",
                    childcare_children=0,
                    childcare_ages="",
                    email_consent=False,
                ),
            )
            if len(bench.admission_tokens) < MAX_TICKETS_IN_SCRIPT:
                bench.admission_tokens.append(registered.ticket.token)
                bench.manage_secrets.append(registered.ticket.manage_secret)
        if registrations:
            bench.registrations_per_second = registrations / (time.perf_counter() - started)
        return bench
    finally:
        db.dispose()


def _spread(values: list[str], n: int) -> list[str]:
    """n of the values, evenly spread (a visitor stars sessions across the day)."""
    step = max(1, len(values) // n)
    return values[::step][:n]


def _door_token(db: Database) -> str:
    add_user_role(db, "door@bench.example.org", "steward", SLUG, "a long bench password")
    with db.transaction() as session:
        user = find_user(session, "door@bench.example.org")
        assert user is not None
        _, secret = create_api_token(session, user, "bench")
    return secret


# ---- serving ---------------------------------------------------------------------------------


class Servers:
    """Subprocesses, each in its own process group, all killed on exit however it happens."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str], port: int) -> str:
        log = open(Path(tempfile.gettempdir()) / f"confapp-bench-{name}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited at start; see {log.name}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return base
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not start listening within 60 s; see {log.name}")

    def stop_all(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def uvicorn_args(app: str, port: int, workers: int, *extra: str) -> list[str]:
    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    return [
        uvicorn, app, *extra, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def start_all(
    servers: Servers, bench: BenchData, workers: int, stripe_api_base: str = ""
) -> dict[str, str]:
    base_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    confapp_port, hello_port, naive_port = free_port(), free_port(), free_port()
    confapp_env = {
        **base_env,
        "CONFAPP_DATABASE_URL": bench.url,
        "CONFAPP_SEED_FILE": "",
        "CONFAPP_HOST": "127.0.0.1",
        "CONFAPP_PORT": str(confapp_port),
        # No mail server and no background work competing with the load.
        "CONFAPP_HOUSEKEEPING_SECONDS": "0",
        # wrk is one client address registering hundreds of times a second.
        "CONFAPP_THROTTLE_REGISTRATIONS_PER_ADDRESS": "0",
        "CONFAPP_THROTTLE_REGISTRATIONS_PER_EMAIL": "0",
        "CONFAPP_THROTTLE_MAILS_PER_RECIPIENT": "0",
    }
    if stripe_api_base:  # the checkout rush's Stripe: the stand-in the run started
        confapp_env["CONFAPP_STRIPE_API_BASE"] = stripe_api_base
    naive_env = {**base_env, "BENCH_DATABASE_URL": bench.url, "BENCH_CONFERENCE": SLUG}
    return {
        "hello": servers.start(
            "hello", uvicorn_args("hello:app", hello_port, workers, "--app-dir", str(HERE)),
            base_env, hello_port,
        ),
        "naive": servers.start(
            "naive", uvicorn_args("naive_ics:app", naive_port, workers, "--app-dir", str(HERE)),
            naive_env, naive_port,
        ),
        "confapp": servers.start(
            "confapp",
            uvicorn_args("confapp.app:app_from_env", confapp_port, workers, "--factory"),
            confapp_env, confapp_port,
        ),
    }  # fmt: skip


# ---- loading with wrk ------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    base: str  # which server: hello, naive or confapp
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    lua: str = ""  # a request() function of its own (cycling tokens, unique e-mails)
    probe_path: str = ""  # for a scripted target: one request like those the script makes
    expect: int = 200
    connections: int | None = None  # wrk's -c for this row; None: the run's --connections


@dataclass
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    bytes: int
    status: int
    connections: int | None = None  # when the row ran at other than --connections


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII is a valid Lua string literal


def lua_table(values: list[str]) -> str:
    return "{" + ",".join(lua_string(v) for v in values) + "}"


# Every script reports its figures as one JSON line (wrk's own --latency text is kept too).
LUA_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_script(target: Target) -> str:
    lines = [f"wrk.method = {lua_string(target.method)}"]
    for name, value in target.headers.items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    if target.body:
        lines.append(f"wrk.body = {lua_string(target.body)}")
    return "\n".join(lines) + "\n" + target.lua + LUA_DONE


def probe(url: str, target: Target) -> tuple[int, int]:
    """One request as wrk will send it: its status and body size (as sent, maybe compressed)."""
    body = target.body.encode() if target.body else None
    request = urllib.request.Request(url, data=body, method=target.method, headers=target.headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, len(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, len(exc.read())


def run_wrk(base: str, target: Target, args: argparse.Namespace, workdir: Path) -> Result:
    url = base + target.path
    # A script makes each path or body itself; the probe sends one made the same way.
    status, size = probe(base + (target.probe_path or target.path), target)
    script = workdir / f"{target.name.replace(' ', '_').replace('/', '_')}.lua"
    script.write_text(wrk_script(target))
    connections = target.connections or args.connections
    command = [
        "wrk", f"-t{args.threads}", f"-c{connections}", f"-d{args.duration}s",
        "--latency", "--timeout", "30s", "-s", str(script), url,
    ]  # fmt: skip
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=args.duration + 60, check=False
    ).stdout
    if args.verbose:
        print(output)
    figures = next(
        (json.loads(line[len("BENCH_JSON ") :]) for line in output.splitlines()
         if line.startswith("BENCH_JSON ")),
        None,
    )  # fmt: skip
    if figures is None:
        raise RuntimeError(f"wrk gave no figures for {target.name}:\n{output}")
    requests = figures["requests"]
    errors = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    if status != target.expect:
        errors = max(errors, requests)  # every answer was the wrong one
    return Result(
        name=target.name,
        requests_per_second=requests / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=errors,
        bytes=size,
        status=status,
        connections=target.connections,
    )


def targets(bench: BenchData, bases: dict[str, str], run_id: str) -> list[Target]:
    html = {"Accept": BROWSER_HTML, "Accept-Encoding": BROWSER_ENCODING}
    feed = {"Accept": "text/calendar, */*", "Accept-Encoding": "gzip, deflate"}
    json_accept = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate, br"}
    etag = current_etag(bases["confapp"] + f"/{SLUG}/programme.ics", feed)
    found = [
        Target("hello world", "hello", "/"),
        Target("naive programme.ics", "naive", f"/{SLUG}/programme.ics", headers=feed),
        Target(
            "programme page (day 1)", "confapp", f"/{SLUG}/programme?day={bench.first_day}",
            headers=html,
        ),
        Target(
            "programme page (day 1), visitor with stars", "confapp",
            f"/{SLUG}/programme?day={bench.first_day}",
            headers={**html, "Cookie": agenda_cookie(bases["confapp"], bench.day_one_sessions)},
        ),
        Target(
            "programme page (day 1), in Spanish", "confapp",
            f"/{SLUG}/programme?day={bench.first_day}",
            headers={**html, "Accept-Language": "es-ES,es;q=0.9"},
        ),
        Target("session page", "confapp", f"/{SLUG}/sessions/{bench.session_slug}", headers=html),
        Target("speaker page", "confapp", f"/{SLUG}/speakers/{bench.speaker_slug}", headers=html),
        Target("programme JSON", "confapp", f"/api/{SLUG}/programme", headers=json_accept),
        Target("programme.ics", "confapp", f"/{SLUG}/programme.ics", headers=feed),
        Target(
            "programme.ics 304", "confapp", f"/{SLUG}/programme.ics",
            headers={**feed, "If-None-Match": etag}, expect=304,
        ),
        Target("schedule.xml", "confapp", f"/{SLUG}/schedule.xml", headers=feed),
        Target("schedule.json", "confapp", f"/{SLUG}/schedule.json", headers=json_accept),
    ]  # fmt: skip
    if bench.manage_secrets:
        found.append(
            Target(
                "ticket page", "confapp", "/my-ticket/", headers=html,
                lua=cycling_paths("/my-ticket/", bench.manage_secrets),
                probe_path="/my-ticket/" + bench.manage_secrets[-1],
            )
        )  # fmt: skip
    found.append(
        Target(
            "registration (JSON POST)", "confapp", f"/api/{SLUG}/registrations", method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            lua=unique_registrations(f"/api/{SLUG}/registrations", run_id), expect=201,
            body=json.dumps({"name": "Probe", "email": f"probe-{run_id}@bench.example.org",
                             "ticket_type": "waged"}),
        )
    )  # fmt: skip
    if bench.admission_tokens:
        found.append(
            Target(
                "check-in scan", "confapp", f"/api/{SLUG}/checkins", method="POST",
                headers={
                    "Content-Type": "application/json", "Accept": "application/json",
                    "Authorization": f"Bearer {bench.api_token}",
                },
                lua=cycling_scans(f"/api/{SLUG}/checkins", bench.admission_tokens),
                body=json.dumps({"scan": bench.admission_tokens[-1], "device": "bench"}),
                connections=CHECKIN_CONNECTIONS,
            )
        )  # fmt: skip
    return found


# Each wrk thread runs its own Lua state; setup() numbers them so threads never collide.
LUA_THREAD_IDS = """
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
"""


def cycling_paths(prefix: str, values: list[str]) -> str:
    return f"""
local values = {lua_table(values)}
local n = 0
{LUA_THREAD_IDS}
function request()
  n = n + 1
  local i = ((n * 7 + (id or 0) * 101) % #values) + 1
  return wrk.format(nil, {lua_string(prefix)} .. values[i])
end
"""


def cycling_scans(path: str, tokens: list[str]) -> str:
    return f"""
local tokens = {lua_table(tokens)}
local n = 0
{LUA_THREAD_IDS}
function request()
  n = n + 1
  local i = ((n + (id or 0) * 997) % #tokens) + 1
  local body = '{{"scan":"' .. tokens[i] .. '","device":"bench"}}'
  return wrk.format(nil, {lua_string(path)}, nil, body)
end
"""


def unique_registrations(path: str, run_id: str) -> str:
    return f"""
local n = 0
{LUA_THREAD_IDS}
function request()
  n = n + 1
  local email = "wrk-{run_id}-" .. (id or 0) .. "-" .. n .. "@bench.example.org"
  local body = '{{"name":"Wrk ' .. n .. '","email":"' .. email .. '","ticket_type":"waged"}}'
  return wrk.format(nil, {lua_string(path)}, nil, body)
end
"""


def agenda_cookie(base: str, session_slugs: list[str]) -> str:
    """The agenda cookie of a visitor who starred these sessions, made as their browser does:
    a same-site form post to each session's star button, sending back the cookie it got."""
    cookie = ""
    for slug in session_slugs:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "Origin": base,
        }
        if cookie:
            headers["Cookie"] = cookie
        request = urllib.request.Request(
            f"{base}/{SLUG}/sessions/{slug}/star", data=b"starred=yes", headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
            for header in response.headers.get_all("Set-Cookie") or []:
                cookie = header.split(";", 1)[0]
    if not cookie or answer["count"] != len(session_slugs):
        raise RuntimeError(f"starring {len(session_slugs)} sessions gave {answer} and {cookie!r}")
    return cookie


def current_etag(url: str, headers: dict[str, str]) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
        etag: str | None = r.headers.get("ETag")
    if not etag:
        raise RuntimeError(f"{url} sent no ETag")
    return etag


# ---- just after a change: no load generator can change the programme between requests --------


def timed_get(url: str, headers: dict[str, str]) -> tuple[float, int, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
        size = len(r.read())
        return time.perf_counter() - started, r.status, size


def sequential_result(name: str, timings: list[tuple[float, int, int]], expect: int) -> Result:
    seconds = sorted(t for t, _, _ in timings)
    p50 = seconds[len(seconds) // 2]
    return Result(
        name=name,
        requests_per_second=1 / p50,
        p50_ms=p50 * 1000,
        p99_ms=seconds[min(len(seconds) - 1, round(len(seconds) * 0.99))] * 1000,
        errors=sum(1 for _, status, _ in timings if status != expect),
        bytes=timings[-1][2],
        status=timings[-1][1],
    )


def after_change(bench: BenchData, bases: dict[str, str], rounds: int) -> list[Result]:
    """Change a session's title through the editing service, then fetch programme.ics once:
    every fetch is a first build. One request at a time, so req/s here is 1 / p50; the naive
    endpoint is timed the same way, one request at a time, for the ratio."""
    feed = {"Accept": "text/calendar, */*"}
    db = Database(bench.url)
    changed = []
    try:
        for n in range(rounds):
            with db.transaction() as session:
                conference = conference_for_update(session, SLUG)
                title = f"Session retitled for the benchmark, {n}"
                update_session(
                    session, conference, bench.session_slug, {"title": title},
                    expected_version=None,
                )  # fmt: skip
            changed.append(timed_get(f"{bases['confapp']}/{SLUG}/programme.ics", feed))
    finally:
        db.dispose()
    naive = [timed_get(f"{bases['naive']}/{SLUG}/programme.ics", feed) for _ in range(rounds)]
    return [
        sequential_result("naive programme.ics, one at a time", naive, 200),
        sequential_result("programme.ics after a change, one at a time", changed, 200),
    ]


# ---- registration opening: a thousand people press "register" at once ------------------------


# One rush registration's answer: (status, its JSON, seconds); status 0 when none came.
Answer = tuple[int, dict[str, Any], float]


@dataclass
class Rush:
    seconds: float  # from the first request sent to the last answer
    tickets: int  # answered 201
    sold_out: int  # answered 409 sold_out
    errors: int  # anything else: 5xx, other 4xx, connection errors, timeouts
    registered: int  # registrations of the rush ticket type in the database afterwards
    latencies: list[float]

    @property
    def oversold(self) -> int:
        return max(0, self.registered - RUSH_PLACES)


async def _register_once(host: str, port: int, path: str, body: bytes) -> Answer:
    """One JSON registration on its own connection: (status, the JSON answer, seconds); status
    0 when no answer came."""
    started = time.perf_counter()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(head.encode() + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=60)
        writer.close()
        status = int(response.split(b" ", 2)[1])
        answer = json.loads(response.split(b"\r\n\r\n", 1)[1])
    except (OSError, TimeoutError, ValueError, IndexError):
        return 0, {}, time.perf_counter() - started
    return status, answer if isinstance(answer, dict) else {}, time.perf_counter() - started


async def _rush(host: str, port: int, bodies: list[dict[str, str]]) -> tuple[float, list[Answer]]:
    """Every registration sent at the same instant: the wall time until the last answer, and
    each answer."""
    path = f"/api/{SLUG}/registrations"
    encoded = [json.dumps(body).encode() for body in bodies]
    started = time.perf_counter()
    answers = await asyncio.gather(*(_register_once(host, port, path, b) for b in encoded))
    return time.perf_counter() - started, answers


def rush_at_once(base: str, bodies: list[dict[str, str]]) -> tuple[float, list[Answer]]:
    address = urllib.parse.urlsplit(base)
    assert address.hostname is not None and address.port is not None
    return asyncio.run(_rush(address.hostname, address.port, bodies))


def is_sold_out(status: int, answer: dict[str, Any]) -> bool:
    return status == 409 and answer.get("error") == "sold_out"


def percentile(ordered: list[float], fraction: float) -> float:
    """The value at this fraction of an ascending list (0.5: the median)."""
    return ordered[min(len(ordered) - 1, round(len(ordered) * fraction))]


def registration_rush(bench: BenchData, base: str, run_id: str) -> Rush:
    """RUSH_REGISTRATIONS registrations sent at once for a ticket type with RUSH_PLACES
    places, each on its own connection; then the database is asked how many were sold."""
    bodies = [
        {"name": f"Rush {n}", "email": f"rush-{run_id}-{n}@bench.example.org",
         "ticket_type": RUSH_TICKET_TYPE}
        for n in range(RUSH_REGISTRATIONS)
    ]  # fmt: skip
    seconds, answers = rush_at_once(base, bodies)
    db = Database(bench.url)
    try:
        with db.read() as session:
            registered = session.exec(
                select(func.count())
                .select_from(Registration)
                .join(TicketType, col(TicketType.id) == Registration.ticket_type_id)
                .where(TicketType.code == RUSH_TICKET_TYPE)
            ).one()
    finally:
        db.dispose()
    tickets = sum(1 for status, _, _ in answers if status == 201)
    sold_out = sum(1 for status, answer, _ in answers if is_sold_out(status, answer))
    return Rush(
        seconds=seconds,
        tickets=tickets,
        sold_out=sold_out,
        errors=len(answers) - tickets - sold_out,
        registered=registered,
        latencies=sorted(t for _, _, t in answers),
    )


def rush_result(rush: Rush) -> Result:
    return Result(
        name=RUSH_NAME,
        requests_per_second=RUSH_REGISTRATIONS / rush.seconds,
        p50_ms=percentile(rush.latencies, 0.5) * 1000,
        p99_ms=percentile(rush.latencies, 0.99) * 1000,
        errors=rush.errors,
        bytes=0,
        status=201,
    )


def rush_summary(rush: Rush) -> str:
    return (
        f"{RUSH_REGISTRATIONS:,} registrations at once for {RUSH_PLACES} places: "
        f"all answered in {rush.seconds:.1f} s; {rush.tickets} tickets, {rush.sold_out} sold out "
        f"(409), {rush.errors} errors; {rush.registered} in the database, "
        f"{rush.oversold} oversold"
    )


RUSH_NAME = f"registration rush ({RUSH_REGISTRATIONS:,} at once, {RUSH_PLACES} places)"


# ---- checkout opening: the same rush for a ticket paid by card -------------------------------


@dataclass
class CheckoutRush:
    seconds: float  # from the first request sent to the last answer
    held: int  # answered 201: a place held as reserved while its Stripe page is open
    sold_out: int  # answered 409 sold_out
    errors: int  # anything else: 5xx, other 4xx, connection errors, timeouts
    without_checkout: int  # of the 201s: the ticket not "reserved", or no checkout_url
    latencies: list[float]
    places_before: int  # the ticket type's places_taken before the rush
    places_after: int  # and after it
    reserved: int  # registrations of the ticket type held as reserved afterwards
    orders: int  # orders for the ticket type in the database
    checkouts: int  # Checkout Sessions made at the stand-in
    orders_with_one_checkout: int  # orders whose reference is on exactly one of them
    released: int = 0  # holds release_ended_holds ended
    paid_at_the_end: int = 0  # holds it found paid instead (none here: nobody pays)
    release_seconds: float = 0.0
    places_after_release: int = 0
    checkouts_expired: int = 0  # Checkout Sessions closed at the stand-in afterwards

    @property
    def oversold(self) -> int:
        return max(0, self.places_after - CHECKOUT_PLACES, self.reserved - CHECKOUT_PLACES)


def accept_cards(db: Database, stripe: StripeStandIn) -> None:
    """The conference takes cards, at the stand-in (and still money at the desk), as the
    payment settings page saves it."""
    with db.transaction() as session:
        conference = session.exec(select(Conference).where(Conference.slug == SLUG)).one()
        assert conference.id is not None
        save_payment_settings(
            session,
            conference.id,
            methods=["stripe", "desk"],
            stripe_secret_key=stripe.api_key,
            stripe_webhook_secret=stripe.webhook_secret,
        )


def checkout_places_taken(db: Database) -> int:
    with db.read() as session:
        return session.exec(
            select(TicketType.places_taken).where(TicketType.code == CHECKOUT_TICKET_TYPE)
        ).one()


def checkout_registrations(db: Database, status: str) -> int:
    with db.read() as session:
        return session.exec(
            select(func.count())
            .select_from(Registration)
            .join(TicketType, col(TicketType.id) == Registration.ticket_type_id)
            .where(TicketType.code == CHECKOUT_TICKET_TYPE, Registration.status == status)
        ).one()


def checkout_order_references(db: Database) -> list[str]:
    with db.read() as session:
        return list(
            session.exec(
                select(Order.reference)
                .join(OrderItem, col(OrderItem.order_id) == col(Order.id))
                .join(Registration, col(Registration.id) == col(OrderItem.registration_id))
                .join(TicketType, col(TicketType.id) == col(Registration.ticket_type_id))
                .where(TicketType.code == CHECKOUT_TICKET_TYPE)
            ).all()
        )


def stand_in_checkouts(stripe: StripeStandIn) -> list[stripe_library.checkout.Session]:
    """Every Checkout Session at the stand-in, paged through as Stripe's list is."""
    listed = stripe.client().v1.checkout.sessions.list({"limit": 100})
    return list(listed.auto_paging_iter())


def end_all_holds(db: Database, api_base: str) -> tuple[int, int, float]:
    """Every hold over at once, as if its time had run out, then ended as housekeeping ends
    them (closing each Stripe page first): (ended, found paid, seconds to end them)."""
    with db.transaction() as session:
        session.execute(
            update(Order)
            .where(col(Order.status) == OrderStatus.reserved.value)
            .values(hold_until=utcnow() - timedelta(minutes=1))
            .execution_options(synchronize_session=False)
        )
    ended = paid = 0
    started = time.perf_counter()
    while True:  # a round takes at most 500 orders
        released = release_ended_holds(db, api_base)
        ended += released.expired
        paid += released.paid_at_the_last_moment
        if not released.expired and not released.paid_at_the_last_moment:
            return ended, paid, time.perf_counter() - started


def checkout_rush(bench: BenchData, base: str, run_id: str, stripe: StripeStandIn) -> CheckoutRush:
    """RUSH_REGISTRATIONS registrations paid by card sent at once for CHECKOUT_PLACES places,
    each on its own connection: each 201 holds a place and carries its Stripe page. Then the
    database and the stand-in are asked what was held and which pages were made; then every
    hold is ended and the places must all come back."""
    db = Database(bench.url)
    try:
        accept_cards(db, stripe)
        places_before = checkout_places_taken(db)
        bodies = [
            {"name": f"Checkout {n}", "email": f"checkout-{run_id}-{n}@bench.example.org",
             "ticket_type": CHECKOUT_TICKET_TYPE, "payment_method": "stripe"}
            for n in range(RUSH_REGISTRATIONS)
        ]  # fmt: skip
        seconds, answers = rush_at_once(base, bodies)
        held = [answer for status, answer, _ in answers if status == 201]
        sold_out = sum(1 for status, answer, _ in answers if is_sold_out(status, answer))
        references = checkout_order_references(db)
        per_order = Counter(c.client_reference_id for c in stand_in_checkouts(stripe))
        rush = CheckoutRush(
            seconds=seconds,
            held=len(held),
            sold_out=sold_out,
            errors=len(answers) - len(held) - sold_out,
            without_checkout=sum(
                1 for answer in held
                if (answer.get("ticket") or {}).get("status") != "reserved"
                or not (answer.get("order") or {}).get("checkout_url")
            ),
            latencies=sorted(t for _, _, t in answers),
            places_before=places_before,
            places_after=checkout_places_taken(db),
            reserved=checkout_registrations(db, RegistrationStatus.reserved.value),
            orders=len(references),
            checkouts=sum(per_order.values()),
            orders_with_one_checkout=sum(1 for r in references if per_order[r] == 1),
        )  # fmt: skip
        rush.released, rush.paid_at_the_end, rush.release_seconds = end_all_holds(
            db, stripe.api_base
        )
        rush.places_after_release = checkout_places_taken(db)
        rush.checkouts_expired = sum(1 for c in stand_in_checkouts(stripe) if c.status == "expired")
        return rush
    finally:
        db.dispose()


def checkout_result(rush: CheckoutRush) -> Result:
    return Result(
        name=CHECKOUT_NAME,
        requests_per_second=RUSH_REGISTRATIONS / rush.seconds,
        p50_ms=percentile(rush.latencies, 0.5) * 1000,
        p99_ms=percentile(rush.latencies, 0.99) * 1000,
        errors=rush.errors,
        bytes=0,
        status=201,
    )


def checkout_summary(rush: CheckoutRush) -> str:
    ms = [percentile(rush.latencies, q) * 1000 for q in (0.5, 0.95, 1.0)]
    back = "as before the rush" if rush.places_after_release == rush.places_before else (
        f"NOT the {rush.places_before} before the rush"
    )  # fmt: skip
    return (
        f"{RUSH_REGISTRATIONS:,} registrations paid by card at once for {CHECKOUT_PLACES} "
        f"places: all answered in {rush.seconds:.1f} s (p50 {ms[0]:,.0f} ms, p95 {ms[1]:,.0f} ms, "
        f"max {ms[2]:,.0f} ms); {rush.held} held (201), {rush.sold_out} sold out (409), "
        f"{rush.errors} other; {rush.without_checkout} of the 201s without a reserved ticket "
        f"and a checkout_url; places taken {rush.places_after} of {CHECKOUT_PLACES}, "
        f"{rush.oversold} oversold; {rush.reserved} reserved registrations in the database; "
        f"{rush.checkouts} Checkout Sessions at the stand-in, {rush.orders_with_one_checkout} of "
        f"{rush.orders} orders with exactly one. Ending every hold "
        f"(`release_ended_holds`): {rush.released} ended in {rush.release_seconds:.1f} s "
        f"({rush.paid_at_the_end} found paid), {rush.checkouts_expired} Checkout Sessions "
        f"expired at the stand-in, places taken back to {rush.places_after_release}, {back}"
    )


CHECKOUT_NAME = f"checkout rush ({RUSH_REGISTRATIONS:,} at once, {CHECKOUT_PLACES} places, by card)"


# ---- reporting -------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} CPUs ({model}), {memory} RAM, {system}"


def ratio(value: float, baseline: float, digits: int) -> str:
    # A baseline that answered nothing in the run (the naive .ics of 1,000 sessions takes
    # longer than a short --duration) gives no ratio.
    return f"{value / baseline:.{digits}f}" if baseline else "n/a"


def table(results: list[Result]) -> str:
    hello = next(r for r in results if r.name == "hello world").requests_per_second
    naive = next(r for r in results if r.name == "naive programme.ics").requests_per_second
    naive_one = next(
        (r for r in results if r.name == "naive programme.ics, one at a time"), None
    )  # fmt: skip
    rows = [
        "| endpoint | req/s | p50 ms | p99 ms | errors | bytes | / hello | / naive ics |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        one_at_a_time = r.name.endswith("one at a time") and naive_one is not None
        baseline = naive_one.requests_per_second if one_at_a_time and naive_one else naive
        name = f"{r.name}, {r.connections} connections" if r.connections else r.name
        rows.append(
            f"| {name} | {r.requests_per_second:,.0f} | {r.p50_ms:,.1f} | {r.p99_ms:,.1f} "
            f"| {r.errors:,} | {r.bytes:,} | {ratio(r.requests_per_second, hello, 4)} "
            f"| {ratio(r.requests_per_second, baseline, 2)} |"
        )
    return "\n".join(rows)


def report(
    args: argparse.Namespace,
    database: str,
    bench: BenchData,
    results: list[Result],
    load_before: str,
    rush: Rush | None = None,
    checkout: CheckoutRush | None = None,
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout
    wrk_version = wrk.split("\n")[0].split(" Copyright")[0]
    lines = [
        f"## {when}: {database}, {args.sessions} sessions",
        "",
        f"- machine: {machine()}; load average before this database: {load_before}",
        f"- database: {database}; {args.sessions} sessions in {args.rooms} rooms over 3 days; "
        f"{args.registrations} registrations made beforehand "
        f"({bench.registrations_per_second:,.0f}/s through the registration service, "
        "one at a time)",
        f"- servers: uvicorn, {args.workers} workers each; load: `wrk -t{args.threads} "
        f"-c{args.connections} -d{args.duration}s --latency` ({wrk_version.strip()}); "
        f"the check-in scan at -c{CHECKIN_CONNECTIONS}",
        '- rows marked "one at a time": sequential requests, no wrk; req/s is 1 / p50, and '
        "the ratio is to the naive endpoint timed the same way",
        "- bytes: the body of one response as sent (compressed if the server compressed it), "
        "from one request with the same headers made before the load",
        f'- "visitor with stars": the agenda cookie of a visitor who starred {STARS} of day 1\'s '
        "sessions through the star button",
        "",
        table(results),
        "",
    ]
    if rush is not None:
        client = "each on its own connection, from a Python asyncio client"
        lines += [f"Registration rush ({client}): {rush_summary(rush)}.", ""]
    if checkout is not None:
        client = (
            "each on its own connection, from a Python asyncio client; Stripe is the local "
            "stand-in, tests/support/stripe_standin.py, on the same machine"
        )
        lines += [f"Checkout rush ({client}): {checkout_summary(checkout)}.", ""]
    return "\n".join(lines)


# ---- the run ---------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, args: argparse.Namespace, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    url = create_postgres_database(args.postgres_url)
    try:
        yield url
    finally:
        drop_postgres_database(args.postgres_url)


def wanted(target: Target, only: list[str] | None) -> bool:
    """--only words pick endpoints; the two baselines always run (the ratios need them)."""
    if not only or target.base in ("hello", "naive"):
        return True
    return any(word in target.name for word in only)


def bench_one(kind: str, args: argparse.Namespace) -> str:
    workdir = Path(tempfile.mkdtemp(prefix=f"confapp-bench-{kind}-"))
    # Other work on the machine (a CI run) skews every row; the report says how busy it was.
    load_before = " ".join(f"{n:.2f}" for n in os.getloadavg())
    servers = Servers()
    try:
        with database(kind, args, workdir) as url:
            print(f"[{kind}] building {args.sessions} sessions, {args.registrations} registrations")
            started = time.perf_counter()
            bench = build_conference(url, args.sessions, args.rooms, args.registrations)
            print(
                f"[{kind}] built in {time.perf_counter() - started:.1f} s "
                f"({bench.registrations_per_second:,.0f} registrations/s)"
            )
            rush = checkout = None
            stripe = None
            try:
                if wanted(Target(CHECKOUT_NAME, "confapp", ""), args.only):
                    stripe = StripeStandIn()  # its own process; stopped in `finally` below
                    stripe.start()
                bases = start_all(servers, bench, args.workers, stripe.api_base if stripe else "")
                results = []
                run_id = secrets.token_hex(3)
                for target in targets(bench, bases, run_id):
                    if not wanted(target, args.only):
                        continue
                    result = run_wrk(bases[target.base], target, args, workdir)
                    print(
                        f"[{kind}] {result.name:42} {result.requests_per_second:9,.0f}/s  "
                        f"p50 {result.p50_ms:8.1f} ms  p99 {result.p99_ms:8.1f} ms  "
                        f"errors {result.errors}  status {result.status}  {result.bytes:,} B"
                    )
                    results.append(result)
                if wanted(Target(RUSH_NAME, "confapp", ""), args.only):
                    rush = registration_rush(bench, bases["confapp"], run_id)
                    print(f"[{kind}] {rush_summary(rush)}")
                    results.append(rush_result(rush))
                if stripe is not None:
                    checkout = checkout_rush(bench, bases["confapp"], run_id, stripe)
                    print(f"[{kind}] {checkout_summary(checkout)}")
                    results.append(checkout_result(checkout))
                if wanted(Target("programme.ics after a change", "confapp", ""), args.only):
                    for result in after_change(bench, bases, args.change_rounds):
                        print(
                            f"[{kind}] {result.name:26} {result.requests_per_second:9,.1f}/s  "
                            f"p50 {result.p50_ms:8.1f} ms  p99 {result.p99_ms:8.1f} ms"
                        )
                        results.append(result)
            finally:
                servers.stop_all()
                if stripe is not None:
                    stripe.stop()
        return report(args, kind, bench, results, load_before, rush, checkout)
    finally:
        servers.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--rooms", type=int, default=None, help="default: 6, or 20 from 1,000")
    parser.add_argument("--registrations", type=int, default=5000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--change-rounds", type=int, default=15, help="programme changes for the first-build row"
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per server")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help=f"a server to create the {BENCH_DATABASE} database on (dropped after)",
    )
    parser.add_argument(
        "--only", nargs="*", default=None, help="run only endpoints whose name holds a word"
    )
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output")
    args = parser.parse_args(argv)
    if args.rooms is None:
        args.rooms = 20 if args.sessions >= 1000 else 6
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    # Ctrl-C (even when started in the background, where SIGINT comes ignored), SIGTERM and
    # SIGHUP all unwind through every `finally` that stops a server and drops the database.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    sections = []
    try:
        for kind in kinds:
            section = bench_one(kind, args)
            print("\n" + section)
            sections.append(section)
    except KeyboardInterrupt:
        print("bench: interrupted; the servers are stopped", file=sys.stderr)
        return 130
    if not args.no_results:
        results_file = HERE / "RESULTS.md"
        if not results_file.exists():
            results_file.write_text(
                "# Benchmark results\n\nAppended by `bench/run.py`; see bench/README.md.\n\n"
            )
        with results_file.open("a") as file:
            file.write("\n".join(sections) + "\n")
        print(f"Appended to {results_file.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
