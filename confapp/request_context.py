"""What a request handler may reach of the running app: its database, settings and clock.

`create_app` puts them on `app.state` once; route functions take them from here rather than
each reading `request.app.state` its own way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from starlette.requests import Request

from confapp.db import Database
from confapp.settings import Settings

# The app's clock: aware UTC now. Tests give the app a fixed one (TOTP codes, expiry).
Clock = Callable[[], datetime]


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def now(request: Request) -> datetime:
    """The app's current time (aware UTC), from the clock it was made with."""
    clock: Clock = request.app.state.clock
    return clock()
