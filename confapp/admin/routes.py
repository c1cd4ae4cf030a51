"""Signing in and out, the second factor, and the back office's home pages."""

from __future__ import annotations

import pyotp
from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.accounts.audit import record
from confapp.accounts.passwords import hash_password, needs_rehash, verify_password
from confapp.accounts.service import (
    complete_second_factor,
    end_web_session,
    find_user,
    start_web_session,
)
from confapp.admin.auth import (
    CSRF_FIELD,
    NotSignedIn,
    clear_session_cookie,
    current_principal,
    remember_csrf_form_token,
    require_role,
    require_user,
    safe_next,
    set_session_cookie,
)
from confapp.admin.menu import menu_for
from confapp.db import Database
from confapp.http_cache import PRIVATE_HEADERS
from confapp.models import Conference, User
from confapp.programme.queries import require_conference
from confapp.request_body import read_form_fields
from confapp.same_origin import sent_from_this_site
from confapp.templating import render
from confapp.throttle import HOUR, Limit, take

# Staff are tens of people: a handful of wrong passwords is normal, hundreds are an attack.
SIGN_IN_PER_ACCOUNT = Limit("signin-account", 10, HOUR // 4)
SIGN_IN_PER_ADDRESS = Limit("signin-address", 60, HOUR // 4)
WRONG_PASSWORD = "That e-mail address and password do not match an account."
TOO_MANY = "Too many attempts to sign in just now. Please wait a quarter of an hour and try again."


def _db(request: Request) -> Database:
    return request.app.state.db


def admin_page(
    request: Request, template: str, context: dict[str, object], status_code: int = 200
) -> Response:
    """A back-office page: never cached, never indexed, never referred onwards."""
    context.setdefault("principal", current_principal(request))
    response = render(request, template, context, status_code=status_code)
    response.headers.update(PRIVATE_HEADERS)
    return response


def login_form(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if current_principal(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return admin_page(
        request, "admin/login.html", {"next_path": next_path, "email": "", "error": ""}
    )


def _sign_in(
    db: Database, email: str, password: str, address: str, user_agent: str
) -> tuple[str | None, bool, str]:
    """(cookie secret or None, whether a second factor follows, error message)."""
    with db.transaction() as session:
        for limit, key in ((SIGN_IN_PER_ADDRESS, address), (SIGN_IN_PER_ACCOUNT, email.lower())):
            if not take(session, limit, key).allowed:
                return None, False, TOO_MANY
    with db.read() as session:
        user = find_user(session, email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        return None, False, WRONG_PASSWORD
    with db.transaction() as session:
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
            session.add(user)
        two_step = bool(user.totp_secret)
        secret = start_web_session(
            session, user, fully_signed_in=not two_step, user_agent=user_agent
        )
        if not two_step:
            record(session, "signed in", user_id=user.id, actor=user.email)
    return secret, two_step, ""


async def login_submit(request: Request) -> Response:
    form = await read_form_fields(request, ("email", "password", "next"))
    next_path = safe_next(form.get("next"))
    email = form.get("email", "").strip()
    if not sent_from_this_site(request):
        error, status = "This sign-in form was sent from another site.", 403
    elif not email or not form.get("password"):
        error, status = "Enter your e-mail address and password.", 422
    else:
        address = request.client.host if request.client else "unknown"
        secret, two_step, error = await run_in_threadpool(
            _sign_in,
            _db(request),
            email,
            form["password"],
            address,
            request.headers.get("user-agent", ""),
        )
        if secret is not None:
            target = "/admin/login/second-factor?next=" + next_path if two_step else next_path
            response = RedirectResponse(target, status_code=303)
            set_session_cookie(request, response, secret)
            return response
        status = 429 if error == TOO_MANY else 401
    return admin_page(
        request,
        "admin/login.html",
        {"next_path": next_path, "email": email, "error": error},
        status_code=status,
    )


def second_factor_form(request: Request) -> Response:
    principal = current_principal(request, allow_half_signed_in=True)
    if principal is None:
        raise NotSignedIn
    return admin_page(
        request,
        "admin/second_factor.html",
        {
            "csrf_token": principal.csrf_token,
            "next_path": safe_next(request.query_params.get("next")),
            "error": "",
            "principal": None,
        },
    )


async def second_factor_submit(request: Request) -> Response:
    form = await read_form_fields(request, ("code", "next", CSRF_FIELD))
    remember_csrf_form_token(request, form)
    principal = current_principal(request, allow_half_signed_in=True)
    if principal is None or principal.session_id_hash is None:
        raise NotSignedIn
    next_path = safe_next(form.get("next"))
    db = _db(request)

    def check() -> bool:
        with db.transaction() as session:
            if not take(session, SIGN_IN_PER_ACCOUNT, principal.email).allowed:
                return False
        with db.read() as session:
            user = session.get(User, principal.user_id)
        code = form.get("code", "").strip()
        if user is None or not user.totp_secret:
            return False
        if not pyotp.TOTP(user.totp_secret).verify(code, valid_window=1):
            return False
        complete_second_factor(db, principal.session_id_hash or "")
        with db.transaction() as session:
            record(session, "signed in", user_id=principal.user_id, actor=principal.email)
        return True

    if await run_in_threadpool(check):
        return RedirectResponse(next_path, status_code=303)
    return admin_page(
        request,
        "admin/second_factor.html",
        {
            "csrf_token": principal.csrf_token,
            "next_path": next_path,
            "error": "That code did not match. Codes change every 30 seconds; try the current one.",
            "principal": None,
        },
        status_code=401,
    )


async def logout(request: Request) -> Response:
    form = await read_form_fields(request, (CSRF_FIELD,))
    remember_csrf_form_token(request, form)
    principal = require_user(request)
    if principal.session_id_hash:
        await run_in_threadpool(end_web_session, _db(request), principal.session_id_hash)
    response = RedirectResponse("/admin/login", status_code=303)
    clear_session_cookie(response)
    return response


def admin_home(request: Request) -> Response:
    principal = require_user(request)
    with _db(request).read() as session:
        conferences = list(session.exec(select(Conference).order_by(Conference.start_date)))
    mine = [
        (conference, sorted(principal.roles.get(conference.id or 0, frozenset())))
        for conference in conferences
        if conference.id in principal.roles
    ]
    return admin_page(request, "admin/home.html", {"conferences": mine})


def conference_home(request: Request) -> Response:
    conference = admin_conference(request)
    principal = require_role(request, conference, "organiser", "access-coordinator")
    base = f"/admin/{conference.slug}/"
    menu = [
        {"label": item.label, "href": base + item.suffix, "hint": item.hint}
        for item in menu_for(principal.roles.get(conference.id or 0, frozenset()))
    ]
    return admin_page(
        request, "admin/conference_home.html", {"conference": conference, "menu": menu}
    )


def admin_conference(request: Request) -> Conference:
    """The conference named in the path (404 if none): for every /admin/{conference}/ page."""
    with _db(request).read() as session:
        return require_conference(session, request.path_params["conference"])


routes = [
    Route("/admin/login", login_form, methods=["GET"]),
    Route("/admin/login", login_submit, methods=["POST"]),
    Route("/admin/login/second-factor", second_factor_form, methods=["GET"]),
    Route("/admin/login/second-factor", second_factor_submit, methods=["POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin/", admin_home),
    Route("/admin/{conference}/", conference_home),
]
