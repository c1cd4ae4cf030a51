"""Who is asking, and may they: sign-in cookies, Bearer tokens, roles, CSRF.

Every back-office page and every JSON route that touches attendee data calls `require_role`
(or `require_user`) first. A person signs in with a form and gets a cookie holding only a random
session id; a script or door device sends `Authorization: Bearer TOKEN`. Both end up as the same
`Principal` with the same permissions. Requests that change something with a cookie must carry
the session's CSRF token (a form field or the X-CSRF-Token header) and, when the browser sends
one, an Origin of this site; Bearer requests need neither, as no browser adds that header by
itself. The form reader (`request_body.read_form_fields`) notes the form's token as it reads,
and `require_role` checks it: a route needs no CSRF code of its own, and one that checks a
role before reading its form is refused (fails closed).

The door's pages and API (`require_door_role`) also take a door device's cookie: a phone added
as a door device of one conference, signed in as the account that added it, for that conference
only (confapp.checkin.devices).
"""

from __future__ import annotations

import contextlib
import hmac
from datetime import datetime
from typing import cast
from urllib.parse import quote

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from confapp.accounts.service import (
    ROLES_READING_ATTENDEE_DATA,
    Principal,
    principal_for,
    principal_for_api_token,
    web_session_for_cookie,
)
from confapp.checkin.devices import DeviceCredential, device_csrf_token, door_device_for
from confapp.errors import error_response, wants_json
from confapp.models import Conference
from confapp.programme.queries import require_conference
from confapp.request_context import app_settings, database, now
from confapp.same_origin import sent_from_this_site
from confapp.translation import _

SESSION_COOKIE = "confapp_admin"
DEVICE_COOKIE = "confapp_door_device"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UNKNOWN = object()


class NotSignedIn(Exception):
    """No valid session or token: the sign-in page for people, 401 for scripts."""


class Forbidden(Exception):
    """Signed in, but without the role (or a CSRF check failed): 403."""


class SecondFactorNeeded(Exception):
    """The conference requires a second factor and this account has none set up yet."""


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _space, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_principal(
    request: Request, *, allow_half_signed_in: bool = False, session: Session | None = None
) -> Principal | None:
    """The user behind this request, by Bearer token or sign-in cookie; None if anonymous.
    A session that has passed the password but not yet the second factor counts only where
    `allow_half_signed_in` (the second-factor page itself). A Bearer token is looked up in
    the caller's database `session` when one is given."""
    cache_key = "principal_half" if allow_half_signed_in else "principal"
    cached = getattr(request.state, cache_key, _UNKNOWN)
    if cached is not _UNKNOWN:
        return cast("Principal | None", cached)  # only this function keeps it there
    principal: Principal | None = None
    db = database(request)
    token = _bearer_token(request)
    if token is not None:
        principal = principal_for_api_token(db, token, session=session)
    else:
        found = web_session_for_cookie(db, request.cookies.get(SESSION_COOKIE))
        if found is not None and (found[0].fully_signed_in or allow_half_signed_in):
            web_session, user = found
            with db.read() as session:
                principal = principal_for(session, user, web_session)
    setattr(request.state, cache_key, principal)
    return principal


def require_user(request: Request, session: Session | None = None) -> Principal:
    principal = current_principal(request, session=session)
    if principal is None:
        raise NotSignedIn
    _check_csrf(request, principal)
    return principal


def require_role(
    request: Request, conference: Conference, *roles: str, session: Session | None = None
) -> Principal:
    """The principal, if they hold one of `roles` at the conference; else NotSignedIn or
    Forbidden. Also enforces CSRF on unsafe methods and the conference's second-factor rule,
    for API tokens as for browsers: a token is only as strong as the account behind it.
    `session`: the caller's read, for a route that reads everything in one."""
    principal = require_user(request, session)
    if not principal.has_role(conference.id, *roles):
        raise Forbidden
    if (
        conference.second_factor_required
        and not principal.has_second_factor
        and principal.has_role(conference.id, *ROLES_READING_ATTENDEE_DATA)
    ):
        raise SecondFactorNeeded
    return principal


def require_door_role(
    request: Request, conference: Conference, *roles: str, session: Session | None = None
) -> Principal:
    """`require_role` for the door: a person's sign-in or token, or else this conference's door
    device (its cookie), whose account must still hold one of `roles` there. The live device
    found, if any, is kept for `door_device_on` (check-ins are recorded under it), also when a
    person's sign-in is what authorises the request."""
    device_secret = request.cookies.get(DEVICE_COOKIE)
    device: DeviceCredential | None = None
    if device_secret:
        with (
            contextlib.nullcontext(session) if session is not None else database(request).read()
        ) as reading:
            device = door_device_for(
                database(request), reading, conference.id or 0, device_secret, now(request)
            )
        # The pages of a door device carry a token made from its secret: good proof of this
        # site's own page, whoever turns out to be signed in.
        request.state.door_csrf_token = device_csrf_token(device_secret)
    request.state.door_device = device
    if device is not None and current_principal(request, session=session) is None:
        request.state.principal = device.principal  # the request's principal from here on
    return require_role(request, conference, *roles, session=session)


def door_conference_for(request: Request, *roles: str) -> tuple[Conference, Principal]:
    """The conference in the path (404 if none) and who is asking at its door (see
    `require_door_role`)."""
    with database(request).read() as session:
        conference = require_conference(session, request.path_params["conference"])
    return conference, require_door_role(request, conference, *roles)


def door_device_on(request: Request) -> DeviceCredential | None:
    """The live door device this request came from, once `require_door_role` has looked."""
    return cast("DeviceCredential | None", getattr(request.state, "door_device", None))


def require_half_signed_in(request: Request) -> Principal:
    """The browser between password and code (the code form's own post), CSRF-checked."""
    principal = current_principal(request, allow_half_signed_in=True)
    if principal is None or principal.session_id_hash is None:
        raise NotSignedIn
    _check_csrf(request, principal)
    return principal


def _check_csrf(request: Request, principal: Principal) -> None:
    if request.method not in UNSAFE_METHODS or principal.csrf_token is None:
        return  # a safe method, or a Bearer token (no browser sends one by itself)
    if not sent_from_this_site(request):
        raise Forbidden(_("This request came from another site."))
    sent = request.headers.get(CSRF_HEADER) or getattr(request.state, "csrf_form_token", None)
    accepted = [principal.csrf_token, getattr(request.state, "door_csrf_token", None)]
    if not sent or not any(hmac.compare_digest(str(sent), token) for token in accepted if token):
        raise Forbidden(_("The form was out of date; please go back, reload it and try again."))


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    secure = request.url.scheme == "https" or app_settings(request).base_url.startswith("https:")
    response.set_cookie(
        SESSION_COOKIE, secret, httponly=True, samesite="lax", secure=secure, path="/"
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def door_cookie_paths(conference_slug: str) -> list[str]:
    """Where a door device's cookie is sent: the door's pages and API, nothing else."""
    return [
        f"/door/{conference_slug}",
        f"/api/{conference_slug}/checkins",
        f"/api/{conference_slug}/door",
        f"/api/{conference_slug}/sessions",  # .../sessions/{id}/door (the path allows no finer)
        f"/admin/{conference_slug}/door/sessions",
    ]


def set_device_cookie(
    request: Request, response: Response, conference_slug: str, secret: str, expires: datetime
) -> None:
    """The device's secret, kept by the phone until the conference ends: HttpOnly, Strict."""
    secure = request.url.scheme == "https" or app_settings(request).base_url.startswith("https:")
    for path in door_cookie_paths(conference_slug):
        response.set_cookie(
            DEVICE_COOKIE,
            secret,
            expires=expires,
            httponly=True,
            samesite="strict",
            secure=secure,
            path=path,
        )


def clear_device_cookie(response: Response, conference_slug: str) -> None:
    for path in door_cookie_paths(conference_slug):
        response.delete_cookie(DEVICE_COOKIE, path=path, httponly=True, samesite="strict")


def login_path_for(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return "/admin/login?next=" + quote(path, safe="")


def safe_next(value: str | None, fallback: str = "/admin/") -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return fallback


async def not_signed_in_handler(request: Request, exc: Exception) -> Response:
    if wants_json(request):
        return JSONResponse(
            {
                "error": "unauthorized",
                "detail": _("Sign in, or send Authorization: Bearer TOKEN."),
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return RedirectResponse(login_path_for(request), status_code=303)


async def forbidden_handler(request: Request, exc: Exception) -> Response:
    message = str(exc) or _("Your account does not have a role that may see this.")
    return error_response(request, 403, message)


async def second_factor_needed_handler(request: Request, exc: Exception) -> Response:
    message = _(
        "This conference requires a second factor for accounts that can read attendee data. "
        "Set one up under My account (/admin/account), then come back."
    )
    principal = getattr(request.state, "principal", None)
    if wants_json(request) or (principal is not None and principal.session_id_hash is None):
        # An API token: no one to send to a page; it works again once the account has one.
        return error_response(request, 403, message, {"error": "second_factor_required"})
    return RedirectResponse("/admin/account?second_factor=required", status_code=303)


exception_handlers = {
    NotSignedIn: not_signed_in_handler,
    Forbidden: forbidden_handler,
    SecondFactorNeeded: second_factor_needed_handler,
}
