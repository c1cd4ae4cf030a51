"""create_app(settings) -> Starlette: routes, middleware and error handlers; nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from confapp.access_log import AccessLogMiddleware
from confapp.db import Database
from confapp.errors import http_exception_handler, server_error_handler
from confapp.programme import routes as programme_routes
from confapp.resources import static_dir
from confapp.settings import Settings


def healthz(request: Request) -> Response:
    if request.app.state.db.is_reachable():
        return PlainTextResponse("ok")
    return PlainTextResponse("database unreachable", status_code=503)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    db = Database(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        db.dispose()

    routes = [
        Route("/healthz", healthz),
        Mount("/static", app=StaticFiles(directory=str(static_dir())), name="static"),
        *programme_routes.routes,
    ]
    app = Starlette(
        debug=False,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception_handler, 500: server_error_handler},
    )
    app.add_middleware(AccessLogMiddleware)
    app.state.settings = settings
    app.state.db = db
    return app


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` and for `confapp serve --workers N`."""
    return create_app(Settings.from_env())
