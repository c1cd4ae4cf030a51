"""Signing in and out, the second factor, and the back office's home pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.accounts.audit import record
from confapp.accounts.people import role_name
from confapp.accounts.service import (
    AccountError,
    Principal,
    complete_second_factor,
    end_web_session,
)
from confapp.accounts.sign_in import (
    SignedIn,
    TooManyAttempts,
    sign_in_with_password,
    use_code,
)
from confapp.admin.auth import (
    NotSignedIn,
    clear_session_cookie,
    current_principal,
    require_half_signed_in,
    require_role,
    require_user,
    safe_next,
    set_session_cookie,
)
from confapp.admin.menu import ORGANISER, ORGANISERS, MenuItem, menu_for
from confapp.agenda.service import star_counts
from confapp.checkin.service import door_stats
from confapp.http_cache import PRIVATE_HEADERS
from confapp.models import Conference
from confapp.programme.clashes import each_clash_once, programme_clashes
from confapp.programme.queries import load_programme, require_conference
from confapp.registration.desk import count_registrations
from confapp.request_body import CSRF_FIELD, read_form_fields
from confapp.request_context import database, now
from confapp.same_origin import sent_from_this_site
from confapp.templating import render
from confapp.translation import N_, _


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


async def login_submit(request: Request) -> Response:
    form = await read_form_fields(request, ("email", "password", "next"))
    next_path = safe_next(form.get("next"))
    email = form.get("email", "").strip()
    if not sent_from_this_site(request):
        error, status = _("This sign-in form was sent from another site."), 403
    elif not email or not form.get("password"):
        error, status = _("Enter your e-mail address and password."), 422
    else:
        try:
            signed_in = await run_in_threadpool(
                sign_in_with_password,
                database(request),
                email,
                form["password"],
                client_address(request),
                request.headers.get("user-agent", ""),
                now(request),
            )
        except AccountError as exc:
            error, status = str(exc), 429 if isinstance(exc, TooManyAttempts) else 401
        else:
            return signed_in_response(request, signed_in, next_path)
    return admin_page(
        request,
        "admin/login.html",
        {"next_path": next_path, "email": email, "error": error},
        status_code=status,
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def signed_in_response(request: Request, signed_in: SignedIn, next_path: str) -> Response:
    """Hand the browser its new session; on to the code first if the account has a factor."""
    target = (
        "/admin/login/second-factor?next=" + quote(next_path, safe="/")
        if signed_in.second_factor_next
        else next_path
    )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, signed_in.cookie_secret)
    return response


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
    principal = require_half_signed_in(request)  # CSRF token and Origin, as on every form
    next_path = safe_next(form.get("next"))
    db = database(request)

    def check() -> str | None:
        use_code(db, principal.user_id, form.get("code", ""), now(request))
        with db.transaction() as session:
            cookie = complete_second_factor(session, principal.session_id_hash or "")
            if cookie is not None:
                record(session, "signed in", user_id=principal.user_id, actor=principal.email)
            return cookie

    try:
        cookie = await run_in_threadpool(check)
    except AccountError as exc:
        error, status = str(exc), 429 if isinstance(exc, TooManyAttempts) else 401
    else:
        if cookie is None:  # signed out meanwhile (from another browser): start again
            raise NotSignedIn
        response = RedirectResponse(next_path, status_code=303)
        set_session_cookie(request, response, cookie)
        return response
    return admin_page(
        request,
        "admin/second_factor.html",
        {
            "csrf_token": principal.csrf_token,
            "next_path": next_path,
            "error": error,
            "principal": None,
        },
        status_code=status,
    )


async def logout(request: Request) -> Response:
    await read_form_fields(request, (CSRF_FIELD,))  # notes the CSRF token for the check
    principal = require_user(request)
    if principal.session_id_hash:
        await run_in_threadpool(end_web_session, database(request), principal.session_id_hash)
    response = RedirectResponse("/admin/login", status_code=303)
    clear_session_cookie(response)
    return response


def admin_home(request: Request) -> Response:
    principal = require_user(request)
    with database(request).read() as session:
        conferences = list(session.exec(select(Conference).order_by(col(Conference.start_date))))
    mine = []
    for conference in conferences:
        if conference.id in principal.roles:
            roles = sorted(principal.roles[conference.id])
            mine.append((conference, roles, ", ".join(role_name(role) for role in roles)))
    return admin_page(request, "admin/home.html", {"conferences": mine})


@dataclass(frozen=True)
class HomeCounts:
    """The conference at a glance, for its back-office home."""

    active: int  # registrations not cancelled
    paid: int  # active and paid
    unpaid: int  # active and not yet paid
    admitted: int  # standing check-ins at the door
    expected: int  # active tickets that could still come in
    problems: int  # programme problems, as the problems page lists them (each clash once)


def home_counts(session: Session, conference: Conference, now: datetime) -> HomeCounts:
    """The counts the conference's home shows, in a fixed number of queries however big the
    programme is (load_programme reads it whole in six)."""
    registrations = count_registrations(session, conference)
    door = door_stats(session, conference, now=now)
    programme = load_programme(session, conference, as_organiser=True)
    stars = star_counts(session, conference.id or 0)
    return HomeCounts(
        active=registrations.total("active"),
        paid=registrations.total("paid"),
        unpaid=registrations.total("unpaid"),
        admitted=door.admitted,
        expected=door.expected,
        problems=len(each_clash_once(programme_clashes(programme, stars=stars))),
    )


# The home's groups, in order; each menu item belongs to the group of its address's first part.
# Translated where shown.
HOME_GROUPS = (N_("Programme"), N_("Registrations"), N_("Door"), N_("Accounts"))
_GROUP_OF_SECTION = {"programme": 0, "door": 2, "people": 3, "audit": 3}


def home_group(item: MenuItem) -> str:
    """The group of the home a back-office page is listed under (Registrations unless said)."""
    return HOME_GROUPS[_GROUP_OF_SECTION.get(item.suffix.split("/", 1)[0], 1)]


def conference_home(request: Request) -> Response:
    conference, principal = conference_for(request, "organiser", "access-coordinator")
    roles = principal.roles.get(conference.id or 0, frozenset())
    base = f"/admin/{conference.slug}/"
    groups: dict[str, list[dict[str, str]]] = {name: [] for name in HOME_GROUPS}
    for item in menu_for(roles):
        groups[home_group(item)].append(
            {
                "label": _(item.label),
                "href": base + item.suffix,
                "hint": _(item.hint) if item.hint else "",
            }
        )
    counts = None
    if ORGANISER in roles:  # an access coordinator sees the reports, not payments or the door
        with database(request).read() as session:
            counts = home_counts(session, conference, now(request))
    return admin_page(
        request,
        "admin/conference_home.html",
        {
            "conference": conference,
            "groups": [(_(name), links) for name, links in groups.items() if links],
            "counts": counts,
            "is_organiser": ORGANISER in roles,
        },
    )


def admin_conference(request: Request) -> Conference:
    """The conference named in the path (404 if none): for every /admin/{conference}/ page."""
    with database(request).read() as session:
        return require_conference(session, request.path_params["conference"])


def conference_for(request: Request, *roles: str) -> tuple[Conference, Principal]:
    """The conference named in the path (404 if none) and who is asking, if they hold one of
    `roles` there (else NotSignedIn or Forbidden; CSRF and second-factor rules included)."""
    conference = admin_conference(request)
    return conference, require_role(request, conference, *roles)


def organiser_conference(request: Request) -> tuple[Conference, Principal]:
    """`conference_for` an organiser: the back office's programme, registrations and settings."""
    return conference_for(request, *ORGANISERS)


routes = [
    Route("/admin/login", login_form, methods=["GET"]),
    Route("/admin/login", login_submit, methods=["POST"]),
    Route("/admin/login/second-factor", second_factor_form, methods=["GET"]),
    Route("/admin/login/second-factor", second_factor_submit, methods=["POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin/", admin_home),
    Route("/admin/{conference}/", conference_home),
]
