"""The test side of the Stripe stand-in (tests/support/stripe_standin_server.py): a context
manager that starts it as its own process on a free port of loopback, a StripeClient for it, and
what a test does to Stripe from outside the app: pay on the hosted page, refund in the
dashboard, hold, replay and reorder webhooks, move Stripe's clock.

    with StripeStandIn(webhook_url=f"{live.url}/stripe/webhook") as stripe_standin:
        client = stripe_standin.client()
        ...
        stripe_standin.pay(session.id)          # the success_url, {CHECKOUT_SESSION_ID} filled in
        stripe_standin.deliveries(wait_for=3)   # what the app answered to each event
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import stripe

API_KEY = "sk_test_standin"
WEBHOOK_SECRET = "whsec_standin_0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]
CARD_PAYS = "4242424242424242"
CARD_DECLINED = "4000000000000002"


def event_payload(event: dict[str, Any]) -> bytes:
    """The body a webhook carries for this event (pretty JSON, as Stripe sends it)."""
    return json.dumps(event, indent=2).encode()


def signature_header(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    """Stripe-Signature for this body: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>, what
    stripe.Webhook.construct_event verifies."""
    moment = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256)
    return f"t={moment},v1={mac.hexdigest()}"


class StandInError(Exception):
    """The stand-in refused what the handle asked of it."""


class HostedPageError(StandInError):
    """The hosted page did not take the payer on: `status` and the text of its #error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class PaymentDeclined(HostedPageError):
    """The card was declined (402): the page is shown again with #error, the session stays
    open."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _open(
    request: urllib.request.Request, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body, also for an error status; never follows a redirect."""
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def error_text(page: str) -> str | None:
    """The text of the hosted page's #error, if it shows one."""
    found = re.search(r'<p id="error"[^>]*>(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else None


class StripeStandIn:
    """A local Stripe in its own process (localstripe plus Checkout, idempotency, refunds and
    signed webhooks); see tests/support/stripe_standin_server.py for what it answers."""

    api_key: str = API_KEY

    def __init__(
        self, webhook_url: str | None = None, webhook_secret: str = WEBHOOK_SECRET
    ) -> None:
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.api_base = ""
        self.port = 0
        self.folder: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    # --- Life ---------------------------------------------------------------------------------

    def __enter__(self) -> StripeStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, seconds: float = 30) -> None:
        # Its own folder as working directory: nothing of it is shared with another process.
        self.folder = Path(tempfile.mkdtemp(prefix="stripe-standin-"))
        port_file = self.folder / "port"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        command = [
            *(sys.executable, "-m", "tests.support.stripe_standin_server"),
            *("--port", "0", "--port-file", str(port_file)),
            *("--webhook-secret", self.webhook_secret, "--api-key", self.api_key),
            *(("--webhook-url", self.webhook_url) if self.webhook_url else ()),
        ]
        with (self.folder / "log").open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Stripe stand-in exited:\n{self.log()}")
            if port_file.exists():
                self.port = int(port_file.read_text())
                self.api_base = f"http://127.0.0.1:{self.port}"
                try:
                    status, _, body = _open(urllib.request.Request(self._at("/_standin/health")))
                except OSError:
                    status, body = 0, b""
                if status == 200 and body == b"ok":
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the Stripe stand-in did not answer in {seconds} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def log(self) -> str:
        """What the stand-in wrote (its errors, with tracebacks)."""
        if self.folder is None or not (self.folder / "log").exists():
            return ""
        return (self.folder / "log").read_text(errors="replace")

    # --- The API ------------------------------------------------------------------------------

    def client(self) -> stripe.StripeClient:
        """The official library's client, pointed at the stand-in; no retries, so a test sees
        each answer (the app's own client may retry: every write carries an idempotency key)."""
        return stripe.StripeClient(
            self.api_key, base_addresses={"api": self.api_base}, max_network_retries=0
        )

    def reset(self) -> None:
        """Forget every object, event, delivery and idempotency key; the webhook URL goes back
        to the one given at start, held webhooks, slow_down and set_clock are undone."""
        self._control("POST", "/_standin/reset")

    # --- Webhooks -----------------------------------------------------------------------------

    def send_webhooks_to(self, url: str | None) -> None:
        """Events are POSTed there as they happen (None: recorded only); stops holding."""
        self._control("POST", "/_standin/webhooks", {"url": url})

    def hold_webhooks(self) -> None:
        """From now on events are recorded and held, not delivered (until send_webhooks_to or
        reset); deliver / deliver_all send them when the test wants."""
        self._control("POST", "/_standin/hold")

    def held_events(self) -> list[dict[str, Any]]:
        """The events held, oldest first."""
        held: list[dict[str, Any]] = self._control("GET", "/_standin/held")
        return held

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Every event so far (of this type), oldest first, as delivered."""
        query = "?" + urllib.parse.urlencode({"type": type}) if type else ""
        events: list[dict[str, Any]] = self._control("GET", "/_standin/events" + query)
        return events

    def event(self, id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._control("GET", f"/_standin/events/{id}")
        return found

    def signed(self, event: dict[str, Any]) -> tuple[bytes, str]:
        """The body of a webhook for this event and its Stripe-Signature (timestamp now)."""
        payload = event_payload(event)
        return payload, signature_header(self.webhook_secret, payload)

    def deliver(
        self,
        event: dict[str, Any] | str,
        times: int = 1,
        to: str | Callable[[bytes, str], Any] | None = None,
    ) -> list[Any]:
        """Sign (afresh each time) and POST the event (or the event of this id) `times` times
        to `to` (default: the webhook URL), or call to(body, signature_header) — an in-process
        client of the app, say. The statuses, or what the callable returned; each attempt is
        in deliveries()."""
        found = self.event(event) if isinstance(event, str) else event
        target = self._webhook_url() if to is None else to
        results: list[Any] = []
        records: list[dict[str, Any]] = []
        for _ in range(times):
            body, signature = self.signed(found)
            record: dict[str, Any] = {
                "event_id": found.get("id"),
                "type": found.get("type"),
                "status": None,
                "error": None,
                "at": time.time(),
                "by": "handle",
            }
            if isinstance(target, str):
                record["url"] = target
                request = urllib.request.Request(
                    target,
                    data=body,
                    method="POST",
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                        "Stripe-Signature": signature,
                    },
                )
                try:
                    status, _, _ = _open(request)
                except OSError as error:
                    status, record["error"] = None, f"{type(error).__name__}: {error}"
                record["status"] = status
                results.append(status)
            else:
                record["url"] = getattr(target, "__qualname__", repr(target))
                result = target(body, signature)
                status = result if isinstance(result, int) else getattr(result, "status_code", None)
                record["status"] = status if isinstance(status, int) else None
                results.append(result)
            records.append(record)
        self._control("POST", "/_standin/deliveries", records)
        return results

    def deliver_all(
        self, reverse: bool = False, to: str | Callable[[bytes, str], Any] | None = None
    ) -> list[Any]:
        """Deliver every held event once (newest first if `reverse`: out of order), and empty
        the held list; holding goes on."""
        held: list[dict[str, Any]] = self._control("POST", "/_standin/held/take")
        if reverse:
            held.reverse()
        results: list[Any] = []
        for event in held:
            results.extend(self.deliver(event, to=to))
        return results

    def deliveries(self, wait_for: int = 0, timeout: float = 10) -> list[dict[str, Any]]:
        """Each delivery attempt, in order: event_id, type, url, status (None: no answer),
        error, at, by ("stand-in" as events happen, "handle" from deliver). With wait_for, wait
        until there are at least that many."""
        deadline = time.monotonic() + timeout
        while True:
            found: list[dict[str, Any]] = self._control("GET", "/_standin/deliveries")
            if len(found) >= wait_for:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(found)} webhook deliveries in {timeout} s, not {wait_for}: {found}"
                )
            time.sleep(0.02)

    # --- What happens at Stripe outside the app -----------------------------------------------

    def pay(self, session_id: str, card: str = CARD_PAYS, email: str = "payer@example.org") -> str:
        """What the hosted page's Pay does: the URL the payer is sent to (the success_url).
        Raises PaymentDeclined (a declined card: the session stays open) or HostedPageError (an
        expired or paid session, an invalid card number) with the page's #error text. `email`
        is typed only where the session has no customer_email."""
        form = urllib.parse.urlencode({"card_number": card, "email": email}).encode()
        request = urllib.request.Request(
            self._at(f"/checkout/{session_id}/pay"),
            data=form,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        status, headers, body = _open(request)
        if status == 303:
            return headers["Location"]
        message = error_text(body.decode(errors="replace")) or body.decode(errors="replace")
        if status == 402:
            raise PaymentDeclined(status, message)
        raise HostedPageError(status, message)

    def refund_in_dashboard(self, payment_intent: str, amount: int | None = None) -> dict[str, Any]:
        """A refund made at Stripe, not by the app (no metadata, no idempotency key), as in
        Stripe's dashboard: the rest of the payment unless an amount is given. Its events are
        sent like any other."""
        refund: dict[str, Any] = self._control(
            "POST",
            "/_standin/dashboard/refund",
            {"payment_intent": payment_intent, "amount": amount},
        )
        return refund

    def slow_down(self, seconds: float) -> None:
        """Every POST /v1/* takes this long (inside the idempotency key's lock, so a second
        request with the same key meanwhile gets 409); 0 to stop."""
        self._control("POST", "/_standin/delay", {"seconds": seconds})

    def set_clock(self, now: datetime | float | None) -> None:
        """Stripe's clock (sessions' `created` and expiry, objects' `created`) at this moment
        instead of the real one (None: the real one again). Sessions due expire at once, with
        their event. Webhook signatures keep real time: the library checks them against it."""
        moment = now.timestamp() if isinstance(now, datetime) else now
        self._control("POST", "/_standin/clock", {"now": moment})

    # --- Plumbing -----------------------------------------------------------------------------

    def _at(self, path: str) -> str:
        if not self.api_base:
            raise RuntimeError("the Stripe stand-in is not started")
        return self.api_base + path

    def _webhook_url(self) -> str:
        deliveries_to = self._control("GET", "/_standin/webhooks")
        if not deliveries_to:
            raise StandInError("no webhook URL: give one to deliver(to=) or send_webhooks_to")
        return str(deliveries_to)

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self._at(path), data=data, method=method, headers={"Content-Type": "application/json"}
        )
        status, _, answer = _open(request)
        if status >= 400:
            raise StandInError(f"{method} {path}: {status} {answer.decode(errors='replace')}")
        return json.loads(answer)
