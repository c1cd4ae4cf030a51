"""Door devices: adding this phone as a door device and signing it out (at the door, under
/door/{conference}/, where its cookie is sent), and the back office's list of a conference's
devices with Revoke. The rules are confapp.checkin.devices'."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.accounts.service import Principal, end_web_session
from confapp.admin.auth import (
    DEVICE_COOKIE,
    Forbidden,
    NotSignedIn,
    clear_device_cookie,
    clear_session_cookie,
    door_device_on,
    require_door_role,
    set_device_cookie,
)
from confapp.admin.menu import ORGANISER, STEWARD
from confapp.admin.routes import admin_conference, admin_page, conference_for
from confapp.checkin.devices import (
    MAX_NAME_LENGTH,
    DeviceProblem,
    MayNotRevoke,
    add_door_device,
    conference_devices,
    find_device,
    may_revoke,
    revoke_door_device,
    sign_out_door_device,
)
from confapp.errors import error_response
from confapp.models import Conference
from confapp.request_body import CSRF_FIELD, read_form_fields, row_id
from confapp.request_context import database, now
from confapp.translation import _

DOOR_TEAM = (ORGANISER, STEWARD)


def scanner_path(conference_slug: str) -> str:
    return f"/door/{conference_slug}"


def add_device_path(conference_slug: str) -> str:
    return f"/door/{conference_slug}/device"


def sign_out_path(conference_slug: str) -> str:
    return f"/door/{conference_slug}/sign-out"


def devices_path(conference_slug: str) -> str:
    return f"/admin/{conference_slug}/door/devices"


def sign_in_again_path(conference_slug: str) -> str:
    """The way back in from any door screen: sign in, then straight back to the scanner."""
    return "/admin/login?next=" + quote(scanner_path(conference_slug), safe="")


# ---- at the door: add this phone, sign it out --------------------------------------------------


def _add_form(
    request: Request,
    conference: Conference,
    principal: Principal,
    *,
    name: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return admin_page(
        request,
        "admin/door/devices_add.html",
        {
            "conference": conference,
            "principal": principal,
            "name": name,
            "errors": errors or {},
            "max_name_length": MAX_NAME_LENGTH,
            "action": add_device_path(conference.slug),
            "scanner_path": scanner_path(conference.slug),
        },
        status_code=status_code,
    )


def add_device_form(request: Request) -> Response:
    # A person signed in on the phone adds it; a device does not make more devices.
    conference, principal = conference_for(request, *DOOR_TEAM)
    return _add_form(request, conference, principal)


async def add_device_submit(request: Request) -> Response:
    form = await read_form_fields(request, (CSRF_FIELD, "name"))
    return await run_in_threadpool(_add_device, request, form.get("name", ""))


def _add_device(request: Request, name: str) -> Response:
    conference, principal = conference_for(request, *DOOR_TEAM)
    moment = now(request)
    try:
        with database(request).transaction() as session:
            device, secret = add_door_device(
                session,
                conference,
                principal,
                name,
                moment,
                replacing_secret=request.cookies.get(DEVICE_COOKIE),
            )
    except DeviceProblem as problem:
        return _add_form(
            request,
            conference,
            principal,
            name=name,
            errors={problem.field: str(problem)},
            status_code=422,
        )
    response = RedirectResponse(scanner_path(conference.slug), status_code=303)
    set_device_cookie(request, response, conference.slug, secret, device.expires_at)
    return response


async def door_sign_out(request: Request) -> Response:
    await read_form_fields(request, (CSRF_FIELD,))  # notes the CSRF token for the check
    return await run_in_threadpool(_sign_out, request)


def _sign_out(request: Request) -> Response:
    """Sign this phone out of the door: its device is revoked (its secret is forgotten here)
    and a person's own sign-in on it ends. Admissions waiting in its offline queue stay on the
    phone and are sent once someone signs in on it again."""
    conference = admin_conference(request)  # 404 for none: only a real slug names cookie paths
    try:
        principal = require_door_role(request, conference, *DOOR_TEAM)
    except NotSignedIn:
        pass  # nothing live to end: only the cookies are left to clear
    else:
        device = door_device_on(request)
        db = database(request)
        if device is not None:
            with db.transaction() as session:
                sign_out_door_device(session, conference, device, now(request))
        if principal.session_id_hash:
            end_web_session(db, principal.session_id_hash)
    response = RedirectResponse(sign_in_again_path(conference.slug), status_code=303)
    clear_device_cookie(response, conference.slug)
    clear_session_cookie(response)
    return response


# ---- the back office: the list, revoking ---------------------------------------------------------


def devices_page(request: Request) -> Response:
    conference, principal = conference_for(request, *DOOR_TEAM)
    is_organiser = principal.has_role(conference.id, ORGANISER)
    with database(request).read() as session:
        rows = conference_devices(
            session, conference, user_id=None if is_organiser else principal.user_id
        )
    return admin_page(
        request,
        "admin/door/devices.html",
        {
            "conference": conference,
            "devices": rows,
            "now": now(request),
            "is_organiser": is_organiser,
            "devices_path": devices_path(conference.slug),
            "dashboard_path": f"/admin/{conference.slug}/door",
            "add_device_path": add_device_path(conference.slug),
        },
    )


async def revoke_submit(request: Request) -> Response:
    form = await read_form_fields(request, (CSRF_FIELD, "confirmed"))
    return await run_in_threadpool(_revoke, request, form.get("confirmed") == "yes")


def _revoke(request: Request, confirmed: bool) -> Response:
    """Revoke once confirmed: a Revoke button's first post (no JavaScript to ask) answers with
    a page that asks, whose button posts again, confirmed."""
    conference, principal = conference_for(request, *DOOR_TEAM)
    device_id = row_id(request.path_params["device"])
    db = database(request)
    if not confirmed:
        with db.read() as session:
            device = find_device(session, conference, device_id) if device_id else None
        if device is None:
            return error_response(request, 404, _("This conference has no such door device."))
        if not may_revoke(principal, conference, device):
            raise Forbidden(_("Only organisers revoke devices added by someone else."))
        return admin_page(
            request,
            "admin/door/devices_revoke.html",
            {
                "conference": conference,
                "device": device,
                "devices_path": devices_path(conference.slug),
            },
        )
    try:
        with db.transaction() as session:
            revoke_door_device(session, conference, device_id or 0, principal, now(request))
    except MayNotRevoke as problem:
        raise Forbidden(str(problem)) from None
    except DeviceProblem as problem:
        return error_response(request, 404, str(problem))
    return RedirectResponse(devices_path(conference.slug) + "#devices", status_code=303)


routes = [
    Route("/door/{conference}/device", add_device_form, methods=["GET"], name="door_device_add"),
    Route("/door/{conference}/device", add_device_submit, methods=["POST"]),
    Route("/door/{conference}/sign-out", door_sign_out, methods=["POST"], name="door_sign_out"),
    Route("/admin/{conference}/door/devices", devices_page, methods=["GET"]),
    Route("/admin/{conference}/door/devices/{device}/revoke", revoke_submit, methods=["POST"]),
]
