"""The pages behind links sent by mail: accepting an invitation, resetting a password; and the
form that asks for a reset. Anonymous, so their forms are checked to come from this site."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.accounts.links import (
    EXPIRED,
    INVITATION_PREFIX,
    PASSWORD_RESET_PREFIX,
    UNKNOWN,
    LinkProblem,
    accept_invitation,
    open_invitation,
    open_password_reset,
    request_password_reset,
    reset_password,
)
from confapp.accounts.people import role_description
from confapp.accounts.service import AccountError, end_web_session
from confapp.accounts.sign_in import TooManyAttempts
from confapp.admin.auth import (
    current_principal,
    require_user,
)
from confapp.admin.menu import ACCESS_TEAM
from confapp.admin.routes import admin_page, client_address, signed_in_response
from confapp.outbox import send_mail
from confapp.request_body import CSRF_FIELD, read_form_fields
from confapp.request_context import app_settings, database
from confapp.same_origin import sent_from_this_site
from confapp.throttle import Decision
from confapp.translation import N_, _

RESET_REQUEST_PATH = "/admin/password-reset"
# Translated where shown: _(NOT_FROM_THIS_SITE), _(PROBLEMS[reason]).
NOT_FROM_THIS_SITE = N_("This form was sent from another site.")

PROBLEMS = {
    UNKNOWN: N_("This link is not valid. Check it was copied whole from the mail."),
    EXPIRED: N_("This link has expired."),
    "used": N_("This link has already been used (or was withdrawn). Each link works once."),
}


def _problem(request: Request, template: str, problem: LinkProblem) -> Response:
    status = 404 if problem.reason == UNKNOWN else 410
    return admin_page(
        request, template, {"problem": _(PROBLEMS[problem.reason]), "error": ""}, status_code=status
    )


async def _end_current_session(request: Request) -> None:
    # Whoever was signed in on this browser before is signed out, not left behind.
    principal = current_principal(request, allow_half_signed_in=True)
    if principal is not None and principal.session_id_hash:
        await run_in_threadpool(end_web_session, database(request), principal.session_id_hash)


# ---- invitations ----------------------------------------------------------------------------


def _invitation_page(
    request: Request, secret: str, error: str = "", status_code: int = 200
) -> Response:
    try:
        invitation = open_invitation(database(request), secret)
    except LinkProblem as problem:
        return _problem(request, "admin/invitation.html", problem)
    principal = current_principal(request)
    return admin_page(
        request,
        "admin/invitation.html",
        {
            "invitation": invitation,
            "signed_in_as_invited": principal is not None
            and principal.session_id_hash is not None
            and principal.email == invitation.email,
            "role": role_description(invitation.role),
            "action": INVITATION_PREFIX + secret,
            "problem": "",
            "error": error,
        },
        status_code=status_code,
    )


def invitation_form(request: Request) -> Response:
    return _invitation_page(request, request.path_params["secret"])


async def invitation_accept(request: Request) -> Response:
    secret = request.path_params["secret"]
    form = await read_form_fields(request, ("password", "password_again", CSRF_FIELD))
    if not sent_from_this_site(request):
        return _invitation_page(request, secret, _(NOT_FROM_THIS_SITE), status_code=403)
    # Signed in, the browser may accept for its own account without the password; the page
    # then carries the session's CSRF token, which is checked like on any other form.
    principal = current_principal(request)
    signed_in_as = None
    if principal is not None and principal.session_id_hash is not None:
        signed_in_as = require_user(request).user_id
    try:
        signed_in, invitation = await run_in_threadpool(
            accept_invitation,
            database(request),
            secret,
            form.get("password", ""),
            form.get("password_again", ""),
            request.headers.get("user-agent", ""),
            address=client_address(request),
            signed_in_as=signed_in_as,
        )
    except LinkProblem as problem:
        return _problem(request, "admin/invitation.html", problem)
    except AccountError as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 422
        return _invitation_page(request, secret, str(exc), status_code=status)
    # Stewards have no conference home (the door is theirs); everyone else starts there.
    home = f"/admin/{invitation.conference.slug}/" if invitation.role in ACCESS_TEAM else "/admin/"
    if signed_in is None:  # the role went to the account signed in here
        return RedirectResponse(home, status_code=303)
    await _end_current_session(request)
    return signed_in_response(request, signed_in, home)


# ---- password reset -------------------------------------------------------------------------


def reset_request_form(request: Request) -> Response:
    return admin_page(
        request, "admin/password_reset.html", {"sent": False, "email": "", "error": ""}
    )


async def reset_request_submit(request: Request) -> Response:
    form = await read_form_fields(request, ("email",))
    email = form.get("email", "").strip()
    if not sent_from_this_site(request) or not email:
        error = _(NOT_FROM_THIS_SITE) if email else _("Enter the e-mail address of your account.")
        return admin_page(
            request,
            "admin/password_reset.html",
            {"sent": False, "email": email, "error": error},
            status_code=403 if email else 422,
        )
    address = request.client.host if request.client else "unknown"

    def ask() -> Decision | int | None:
        with database(request).transaction() as session:
            return request_password_reset(session, email, address)

    outcome = await run_in_threadpool(ask)
    if isinstance(outcome, Decision):
        response = admin_page(
            request,
            "admin/password_reset.html",
            {
                "sent": False,
                "email": email,
                "error": _(
                    "Many resets have been asked for from this connection just now. "
                    "Please try again in an hour."
                ),
            },
            status_code=429,
        )
        response.headers["Retry-After"] = str(outcome.retry_after_seconds)
        return response
    # The same answer whether or not the address has an account, and the mail goes after it.
    response = admin_page(
        request, "admin/password_reset.html", {"sent": True, "email": email, "error": ""}
    )
    if outcome is not None:
        response.background = BackgroundTask(
            send_mail, database(request), app_settings(request), outcome
        )
    return response


def _new_password_page(
    request: Request, secret: str, error: str = "", status_code: int = 200
) -> Response:
    try:
        email = open_password_reset(database(request), secret)
    except LinkProblem as problem:
        return _problem(request, "admin/password_reset_new.html", problem)
    return admin_page(
        request,
        "admin/password_reset_new.html",
        {"email": email, "action": PASSWORD_RESET_PREFIX + secret, "problem": "", "error": error},
        status_code=status_code,
    )


def reset_form(request: Request) -> Response:
    return _new_password_page(request, request.path_params["secret"])


async def reset_submit(request: Request) -> Response:
    secret = request.path_params["secret"]
    form = await read_form_fields(request, ("password", "password_again"))
    if not sent_from_this_site(request):
        return _new_password_page(request, secret, _(NOT_FROM_THIS_SITE), status_code=403)
    try:
        signed_in = await run_in_threadpool(
            reset_password,
            database(request),
            secret,
            form.get("password", ""),
            form.get("password_again", ""),
            request.headers.get("user-agent", ""),
        )
    except LinkProblem as problem:
        return _problem(request, "admin/password_reset_new.html", problem)
    except AccountError as exc:
        return _new_password_page(request, secret, str(exc), status_code=422)
    await _end_current_session(request)
    return signed_in_response(request, signed_in, "/admin/")


routes = [
    Route(INVITATION_PREFIX + "{secret}", invitation_form, methods=["GET"]),
    Route(INVITATION_PREFIX + "{secret}", invitation_accept, methods=["POST"]),
    Route(RESET_REQUEST_PATH, reset_request_form, methods=["GET"]),
    Route(RESET_REQUEST_PATH, reset_request_submit, methods=["POST"]),
    Route(PASSWORD_RESET_PREFIX + "{secret}", reset_form, methods=["GET"]),
    Route(PASSWORD_RESET_PREFIX + "{secret}", reset_submit, methods=["POST"]),
]
