"""create_app(settings) -> Starlette: routes, middleware and error handlers; nothing else."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from confapp import language_choice, openapi
from confapp.access_log import AccessLogMiddleware, redact_uvicorn_access_log
from confapp.admin import auth as admin_auth
from confapp.admin import routes as admin_routes
from confapp.admin.accounts import audit_log as admin_audit_log
from confapp.admin.accounts import mail_links as admin_account_links
from confapp.admin.accounts import my_account as admin_account
from confapp.admin.accounts import people as admin_people
from confapp.admin.door import api as admin_door_api
from confapp.admin.door import dashboard as admin_door_dashboard
from confapp.admin.door import devices as admin_door_devices
from confapp.admin.door import scanner as admin_door_page
from confapp.admin.programme import api as admin_programme_api
from confapp.admin.programme import editor as admin_programme_editor
from confapp.admin.programme import pending as admin_programme_pending
from confapp.admin.programme import problems as admin_programme_problems
from confapp.admin.programme import records as admin_programme_records
from confapp.admin.registrations import desk as admin_registrations
from confapp.admin.registrations import notices as admin_notices
from confapp.admin.registrations import payment_settings as admin_payment_settings
from confapp.admin.registrations import reports as admin_reports
from confapp.admin.registrations import settings as admin_registration_settings
from confapp.admin.registrations import statements as admin_statements
from confapp.admin.registrations import vouchers as admin_vouchers
from confapp.agenda import routes as agenda_routes
from confapp.body_limit import BodyLimitMiddleware
from confapp.calendar import routes as calendar_routes
from confapp.clean_requests import CleanRequestMiddleware
from confapp.db import Database
from confapp.errors import (
    CatchServerErrors,
    bad_body_handler,
    http_exception_handler,
    not_found_handler,
    server_error_handler,
)
from confapp.hosts import AllowedHostsMiddleware, allowed_host_names
from confapp.housekeeping import run_housekeeping
from confapp.http_cache import BodyCache
from confapp.language_choice import LanguageMiddleware
from confapp.programme import changelog
from confapp.programme import routes as programme_routes
from confapp.programme.published_state import programme_cache
from confapp.programme.queries import NotFound
from confapp.registration import group_routes, manage_routes, payment_routes, receipt_routes
from confapp.registration import routes as registration_routes
from confapp.request_body import BadRequestBody
from confapp.request_context import Clock
from confapp.resources import static_dir
from confapp.routing import FirstSegmentRouter
from confapp.security_headers import SecurityHeadersMiddleware
from confapp.settings import Settings
from confapp.templating import templates
from confapp.throttle import limits_from
from confapp.tickets import routes as ticket_routes
from confapp.times import utcnow
from confapp.translation import offer_pseudo_language


def healthz(request: Request) -> Response:
    if request.app.state.db.is_reachable():
        return PlainTextResponse("ok")
    return PlainTextResponse("database unreachable", status_code=503)


def favicon(request: Request) -> Response:
    # Browsers ask for /favicon.ico on every page whatever the <link rel="icon"> says.
    return FileResponse(
        static_dir() / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=604800"},
    )


def create_app(settings: Settings | None = None, clock: Clock = utcnow) -> Starlette:
    """The app; `clock` gives the time its routes go by (tests pass a fixed one)."""
    settings = settings or Settings.from_env()
    db = Database(
        settings.database_url, settings.database_pool_size, settings.database_max_overflow
    )
    if settings.debug:
        templates.env.auto_reload = True  # edit templates and see them without a restart

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as background:
            if settings.housekeeping_seconds > 0:
                background.start_soon(run_housekeeping, db, settings)
            yield
            background.cancel_scope.cancel()
        await db.close_for_this_loop()
        db.dispose()

    routes = [
        Route("/healthz", healthz),
        Route("/favicon.ico", favicon),
        *language_choice.routes,
        Mount("/static", app=StaticFiles(directory=str(static_dir())), name="static"),
        *openapi.routes,
        *admin_registrations.routes,
        *admin_account.routes,
        *admin_account_links.routes,
        *admin_people.routes,
        *admin_registration_settings.routes,
        *admin_payment_settings.routes,
        *admin_statements.routes,
        *admin_reports.routes,
        *admin_notices.routes,
        *admin_vouchers.routes,
        *admin_audit_log.routes,
        *admin_programme_problems.routes,
        *admin_programme_records.routes,
        *admin_programme_editor.routes,
        *admin_programme_pending.routes,
        *admin_door_dashboard.routes,
        *admin_door_devices.routes,
        *admin_routes.routes,
        *admin_door_page.routes,
        *agenda_routes.routes,
        *payment_routes.routes,
        *receipt_routes.routes,
        *group_routes.routes,
        *manage_routes.routes,
        *ticket_routes.routes,
        *registration_routes.routes,
        *calendar_routes.routes,
        *changelog.routes,
        *admin_programme_api.routes,
        *admin_door_api.routes,
        *programme_routes.routes,
    ]
    app = Starlette(
        debug=False,
        exception_handlers={
            HTTPException: http_exception_handler,
            NotFound: not_found_handler,
            BadRequestBody: bad_body_handler,
            **admin_auth.exception_handlers,
            500: server_error_handler,
        },
    )
    # Starlette's router, trying only the routes that can match a path's first segment.
    app.router = FirstSegmentRouter(routes, lifespan=lifespan)
    # Each added one wraps the ones before: the last is the outermost.
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        larger_limits=[admin_statements.UPLOAD_LIMIT],
    )
    app.add_middleware(AllowedHostsMiddleware, allowed=allowed_host_names(settings))
    app.add_middleware(AccessLogMiddleware)
    # Outside the access log, so a control character in a path never reaches a log line.
    app.add_middleware(CleanRequestMiddleware)
    app.add_middleware(CatchServerErrors)
    # Outside everything that answers a request itself, so that every answer is in the reader's
    # language.
    app.add_middleware(LanguageMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    redact_uvicorn_access_log()
    app.state.settings = settings
    offer_pseudo_language(settings.pseudo_language)
    app.state.throttle_limits = limits_from(settings)
    app.state.body_cache = BodyCache()
    app.state.programme_cache = programme_cache()
    app.state.db = db
    app.state.clock = clock
    return app


def app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` and for `confapp serve --workers N`."""
    app = create_app(Settings.from_env())
    # Everything made so far (modules, routes, the ORM's mappers) lives as long as the serving
    # process: take it out of the garbage collector's view. Otherwise every full collection
    # walks it all again, and a request that makes many short-lived objects (loading a
    # 300-session programme after a change) spent most of its time there: 0.2 to 1.4 s
    # against 30 to 130 ms for the first .ics after a change, on the same busy machine.
    gc.collect()
    gc.freeze()
    return app
