"""People and invitations (organisers): who holds which role here, inviting by mail, and
taking a role away."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.accounts.links import invite
from confapp.accounts.people import (
    cancel_invitation,
    pending_invitations,
    people_at,
    revoke_role,
    role_descriptions,
    role_names,
)
from confapp.accounts.service import AccountError, Principal
from confapp.admin.routes import admin_page, organiser_conference
from confapp.models import Conference
from confapp.outbox import send_mail
from confapp.request_body import CSRF_FIELD, read_form_fields, row_id
from confapp.request_context import app_settings, database
from confapp.throttle import Limits
from confapp.translation import N_, _

# What the page says after a change: ?done=KEY. Translated where shown.
DONE = {
    "invited": N_("The invitation is on its way. The link in it works once, for 7 days."),
    "revoked": N_("The role is taken away."),
    "withdrawn": N_("The invitation is withdrawn: its link no longer works."),
}


def _people_path(conference: Conference) -> str:
    return f"/admin/{conference.slug}/people"


def _page(
    request: Request,
    conference: Conference,
    principal: Principal,
    *,
    error: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    assert conference.id is not None
    done = request.query_params.get("done", "")
    with database(request).read() as session:
        people = people_at(session, conference.id)
        invitations = pending_invitations(session, conference.id)
    return admin_page(
        request,
        "admin/people.html",
        {
            "conference": conference,
            "people": people,
            "invitations": invitations,
            "roles": role_descriptions(),
            "role_names": role_names(),
            "done": _(DONE[done]) if done in DONE else "",
            "error": error,
            "values": values or {},
        },
        status_code=status_code,
    )


async def _organiser_form(
    request: Request, *names: str
) -> tuple[Conference, Principal, dict[str, str]]:
    form = await read_form_fields(request, (*names, CSRF_FIELD))
    conference, principal = organiser_conference(request)
    return conference, principal, form


def people(request: Request) -> Response:
    conference, principal = organiser_conference(request)
    return _page(request, conference, principal)


async def invite_someone(request: Request) -> Response:
    conference, principal, form = await _organiser_form(request, "email", "role")
    limits: Limits = request.app.state.throttle_limits

    def queue() -> int:
        with database(request).transaction() as session:
            return invite(
                session,
                conference,
                form.get("email", ""),
                form.get("role", ""),
                principal,
                limits.mails_per_recipient,
            )

    try:
        mail_id = await run_in_threadpool(queue)
    except AccountError as exc:
        return _page(request, conference, principal, error=str(exc), values=form, status_code=422)
    # Sent after answering: a slow or dead mail server never holds up the organiser.
    send = BackgroundTask(send_mail, database(request), app_settings(request), mail_id)
    return RedirectResponse(
        _people_path(conference) + "?done=invited", status_code=303, background=send
    )


def _id(text: str) -> int | None:
    return row_id(text)


async def revoke(request: Request) -> Response:
    conference, principal, form = await _organiser_form(request, "user_id", "role")
    user_id = _id(form.get("user_id", ""))
    assert conference.id is not None
    conference_id = conference.id

    def take_away() -> None:
        if user_id is None:
            raise AccountError(_("Choose whose role to take away."))
        with database(request).transaction() as session:
            revoke_role(session, conference_id, user_id, form.get("role", ""), principal)

    try:
        await run_in_threadpool(take_away)
    except AccountError as exc:
        return _page(request, conference, principal, error=str(exc), status_code=422)
    return RedirectResponse(_people_path(conference) + "?done=revoked", status_code=303)


async def withdraw(request: Request) -> Response:
    conference, principal, form = await _organiser_form(request, "invitation")
    link_id = _id(form.get("invitation", ""))
    assert conference.id is not None
    conference_id = conference.id

    def cancel() -> bool:
        with database(request).transaction() as session:
            return link_id is not None and cancel_invitation(
                session, conference_id, link_id, principal
            )

    if not await run_in_threadpool(cancel):
        error = _("That invitation was already accepted, withdrawn or has expired.")
        return _page(request, conference, principal, error=error, status_code=422)
    return RedirectResponse(_people_path(conference) + "?done=withdrawn", status_code=303)


routes = [
    Route("/admin/{conference}/people", people, methods=["GET"]),
    Route("/admin/{conference}/people/invite", invite_someone, methods=["POST"]),
    Route("/admin/{conference}/people/revoke", revoke, methods=["POST"]),
    Route("/admin/{conference}/people/withdraw", withdraw, methods=["POST"]),
]
