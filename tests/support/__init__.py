"""Helpers the tests share, one home each; conftest.py holds only the fixtures built on them.

No test module imports another test module: what two of them need lives here.

- databases: SQLite and PostgreSQL databases, empty or copied from a migrated template; counts
- servers: free ports, the app on a live uvicorn, `confapp serve` processes, JSON over HTTP,
  calls released all at once
- browser: Chromium's flags and what the browser tests check on every page
- accounts: back-office users (an organiser, a team), signing in, CSRF tokens, second factors,
  API tokens, the audit log
- registrations: registering (through the API as an attendee does, or the service the desk
  uses), and reading a ticket (token, code, keys, the registration's id)
- mail: a real SMTP server that keeps what it is given
- stripe_standin: a local Stripe in its own process for the payment tests (localstripe with
  Checkout Sessions, idempotency keys, a hosted pay page and signed webhooks added)
- programme: the demo programme's sessions and times, and editing one as the editor does
- pages, qr, icaljs, openapi_contract, door_tokens: reading and checking what the app gives
"""

from __future__ import annotations

import os

DEMO = "socialism-2027"  # the demo conference (confapp/seed/), as the `demo` fixture loads it


def in_ci() -> bool:
    """Under CI a missing part (PostgreSQL, Chromium, node) fails the run instead of skipping."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
