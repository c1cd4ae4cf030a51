"""The attendee's own ticket page at /my-ticket/{secret}: name, QR, agenda, cancel, erase."""

from __future__ import annotations

import secrets

from markupsafe import Markup
from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from confapp import urls
from confapp.accounts.audit import record
from confapp.agenda.cookie import agenda_from_cookie
from confapp.agenda.routes import agenda_feed
from confapp.agenda.service import (
    copy_stars,
    registration_agenda,
    set_star,
    starred_entries,
    starred_session_ids,
)
from confapp.db import Database
from confapp.errors import error_response
from confapp.http_cache import (
    PRIVATE_HEADERS,
    BodyCache,
    PersonalisedPage,
    app_body_cache,
    compressed_response,
)
from confapp.models import Agenda, Registration, RegistrationStatus
from confapp.outbox import mail_status, queue_mail, send_mail
from confapp.programme.published_state import (
    PublishedState,
    published_programme,
    read_published_state,
)
from confapp.programme.queries import Programme, public_session
from confapp.programme.visitor_stars import slots_of, star_buttons
from confapp.registration.mail import LINK_MAIL, TICKET_MAIL
from confapp.registration.manage import Ticket, ticket_for_secret
from confapp.registration.orders import ticket_payment
from confapp.registration.payment_routes import allow_forms_to_checkout
from confapp.registration.payments import cancellation_refund, refund_on_cancelling
from confapp.registration.privacy import erase_attendee
from confapp.registration.service import cancel_registration
from confapp.request_body import read_form_fields
from confapp.request_context import app_settings, database
from confapp.templating import render, templates
from confapp.throttle import Decision, Limit, Limits, take
from confapp.tickets.admission import admission_for_token
from confapp.times import utcnow
from confapp.translation import N_, _, ngettext, use_conference_language

NOT_YOUR_TICKET_LINK = N_(
    "This is not a valid ticket link. Check that the whole link was copied; if your ticket was "
    "erased at your request or after the conference, it no longer exists."
)


def _ticket(request: Request) -> Ticket:
    with database(request).read() as session:
        ticket = ticket_for_secret(session, request.path_params["secret"])
    if ticket is None:
        raise HTTPException(404, _(NOT_YOUR_TICKET_LINK), headers=PRIVATE_HEADERS)
    # Found by its secret, not through require_conference: its pages in one of the
    # conference's languages all the same.
    use_conference_language(ticket.conference.languages, ticket.conference.default_language)
    return ticket


def _private(response: Response) -> Response:
    response.headers.update(PRIVATE_HEADERS)
    return response


# Stands in for a ticket's secret in the part of its page built once for every ticket; random
# per process, so no session title can hold it.
_SECRET_MARKER = f"ticket-secret-{secrets.token_hex(12)}"
_STAR_MORE_HERE = f"<!--star-more-{secrets.token_hex(12)}-->"
HTML_TYPE = "text/html; charset=utf-8"


def _star_more(request: Request, state: PublishedState, programme: Programme) -> PersonalisedPage:
    """Every session with a star into a ticket's agenda: the bulk of a ticket's page, built
    once per programme version (it was most of the page's time, on a page every attendee
    opens right after registering)."""

    def build() -> PersonalisedPage:
        context = {
            "conference": programme.conference,
            "programme_sessions": programme.sessions,
            "manage_secret": _SECRET_MARKER,
        }
        marked = templates.get_template("registration/_star_more.html").render(
            {**context, "starred": set(), "star_slots": True}
        )
        plain, starred = star_buttons(
            programme.conference,
            programme.sessions,
            urls.manage_path(_SECRET_MARKER),
            lambda entry: urls.manage_star_path(_SECRET_MARKER, entry.slug),
        )
        return PersonalisedPage.of(
            marked, plain, starred, "text/html", programme.conference.updated_at
        )

    cache: BodyCache[PersonalisedPage] = app_body_cache(request)
    return cache.get_or_build(("ticket stars", state), build)


def manage_page(request: Request) -> Response:
    ticket = _ticket(request)
    db = database(request)
    state = read_published_state(db, ticket.conference.slug, with_doors=True)
    programme = published_programme(db, request.app.state.programme_cache, state)
    with db.read() as session:
        agenda_key = ticket.registration.agenda_key
        paying = ticket_payment(session, ticket.registration)
        starred = starred_session_ids(session, _ticket_agenda_or_none(session, ticket))
        in_browser = starred_session_ids(
            session, agenda_from_cookie(request, session, ticket.conference)
        )
    html = templates.get_template("registration/my_ticket.html").render(
        {
            "request": request,
            "conference": ticket.conference,
            "ticket": ticket,
            "just_registered": request.query_params.get("new") == "1",
            "paying": paying,
            "payment_news": request.query_params.get("payment", "")
            or ("paid" if request.query_params.get("paid") == "1" else ""),
            "manage_url": urls.absolute(urls.site_origin(request), ticket.path),
            "mail": mail_status(db, ticket.registration.id or 0, TICKET_MAIL),
            "agenda_entries": starred_entries(programme, starred),
            "agenda_feed_path": urls.agenda_key_feed_path(agenda_key) if agenda_key else None,
            "star_more": Markup(_STAR_MORE_HERE),
            "starred": starred,
            "browser_stars_to_add": len(in_browser - starred),
        }
    )
    # The list of every session goes in as bytes, encoded once for every ticket; only this
    # ticket's secret and stars are put into it.
    # (A cancelled ticket's page has no such list.)
    before, here, after = html.partition(_STAR_MORE_HERE)
    star_more = b""
    if here:
        star_more = _star_more(request, state, programme).for_visitor(slots_of(starred))
        star_more = star_more.replace(_SECRET_MARKER.encode(), ticket.manage_secret.encode())
    body = b"".join((before.encode("utf-8"), star_more, after.encode("utf-8")))
    response = compressed_response(request, body, HTML_TYPE, PRIVATE_HEADERS)
    paying_by_card = paying is not None and paying.order.method == "stripe" and ticket.reserved
    return allow_forms_to_checkout(response, app_settings(request), paying_by_card)


def _ticket_agenda_or_none(session: Session, ticket: Ticket) -> Agenda | None:
    key = ticket.registration.agenda_key
    return session.get(Agenda, key) if key else None


def _star_in_ticket_agenda(ticket: Ticket, db: Database, session_slug: str, starred: bool) -> int:
    with db.transaction() as session:
        programme_session = public_session(session, ticket.conference, session_slug)
        registration = session.get(Registration, ticket.registration.id)
        assert registration is not None
        agenda = registration_agenda(session, registration)
        set_star(session, agenda, programme_session, starred)
        return len(starred_session_ids(session, agenda))


async def manage_star(request: Request) -> Response:
    form = await read_form_fields(request, ("starred",))
    starred = form.get("starred", "yes") != "no"
    ticket = await run_in_threadpool(_ticket, request)
    count = await run_in_threadpool(
        _star_in_ticket_agenda, ticket, database(request), request.path_params["session"], starred
    )
    if "application/json" in request.headers.get("accept", ""):
        return _private(JSONResponse({"starred": starred, "count": count}))
    return _private(RedirectResponse(ticket.path + "#agenda-title", status_code=303))


def _copy_browser_stars(request: Request, ticket: Ticket) -> int:
    with database(request).transaction() as session:
        registration = session.get(Registration, ticket.registration.id)
        assert registration is not None
        target = registration_agenda(session, registration)
        return copy_stars(session, agenda_from_cookie(request, session, ticket.conference), target)


async def manage_copy_stars(request: Request) -> Response:
    ticket = await run_in_threadpool(_ticket, request)
    await run_in_threadpool(_copy_browser_stars, request, ticket)
    return _private(RedirectResponse(ticket.path + "#agenda-title", status_code=303))


def cancel_confirm(request: Request) -> Response:
    ticket = _ticket(request)
    with database(request).read() as session:
        refund = cancellation_refund(session, ticket.registration, utcnow())
    return _private(
        render(
            request,
            "registration/cancel.html",
            {"conference": ticket.conference, "ticket": ticket, "refund": refund},
        )
    )


async def cancel_submit(request: Request) -> Response:
    form = await read_form_fields(request, ("erase",))
    ticket = await run_in_threadpool(_ticket, request)
    registration_id = ticket.registration.id or 0
    if form.get("erase") == "yes":
        if await run_in_threadpool(erase_attendee, database(request), registration_id):
            await run_in_threadpool(
                _audit_by_attendee, database(request), ticket, "erased by the attendee"
            )
        response = render(request, "registration/erased.html", {"conference": ticket.conference})
    else:
        if await run_in_threadpool(cancel_registration, database(request), registration_id):
            await run_in_threadpool(
                _audit_by_attendee, database(request), ticket, "cancelled by the attendee"
            )
            await run_in_threadpool(
                refund_on_cancelling,
                database(request),
                app_settings(request).stripe_api_base,
                registration_id,
            )
        response = RedirectResponse(ticket.path, status_code=303)
    return _private(response)


def _audit_by_attendee(db: Database, ticket: Ticket, action: str) -> None:
    """Organisers see in the audit log why a registration changed when they did nothing."""
    with db.transaction() as session:
        record(
            session,
            action,
            user_id=None,
            actor="the attendee",
            conference_id=ticket.conference.id,
            ticket_code=ticket.registration.ticket_code,
        )


def _queue_link_mail(db: Database, token: str, mail_limit: Limit) -> Decision | int | None:
    """Queue the management link for the ticket's holder: the mail's id, None if there is no
    one to mail, or the throttle's refusal when this ticket's link was mailed enough just now.
    The throttle counts before anything else is looked at, so a cancelled ticket is throttled
    exactly like an active one and the answer tells the QR's holder nothing."""
    with db.transaction() as session:
        admission = admission_for_token(session, token)
        if admission is None:
            return None
        decision = take(session, mail_limit, f"ticket:{admission.registration.ticket_code}")
        if not decision.allowed:
            return decision
        registration = admission.registration
        if registration.status != RegistrationStatus.active.value or not registration.email:
            return None
        return queue_mail(session, LINK_MAIL, registration.id).id


async def send_link(request: Request) -> Response:
    """From the admission page: mail the holder their link again, to the registered address
    only, so whoever holds the QR code learns nothing and can do nothing else."""
    token = request.path_params["token"]
    limits: Limits = request.app.state.throttle_limits
    mail_id = await run_in_threadpool(
        _queue_link_mail, database(request), token, limits.mails_per_recipient
    )
    if isinstance(mail_id, Decision):
        minutes = max(1, round(mail_id.retry_after_seconds / 60))
        message = ngettext(
            "This ticket's link has been e-mailed several times just now. Please look in the "
            "inbox (and the spam folder), or try again in about %(count)d minute.",
            "This ticket's link has been e-mailed several times just now. Please look in the "
            "inbox (and the spam folder), or try again in about %(count)d minutes.",
            minutes,
        ) % {"count": minutes}
        response = error_response(request, 429, message)
        response.headers["Retry-After"] = str(mail_id.retry_after_seconds)
        return _private(response)
    background = (
        BackgroundTask(send_mail, database(request), app_settings(request), mail_id)
        if mail_id
        else None
    )
    return _private(
        RedirectResponse(
            urls.ticket_path(token) + "?sent=1", status_code=303, background=background
        )
    )


def legacy_agenda_feed(request: Request) -> Response:
    """Agenda feeds subscribed to from a version-1 ticket keep working; newer tickets' agendas
    are at /agenda/{key}.ics, since an admission token opens nothing personal."""
    token = request.path_params["token"]
    with database(request).transaction() as session:
        admission = admission_for_token(session, token)
        if admission is None or not admission.legacy:
            raise HTTPException(404, _("There is no agenda at this address."))
        agenda = registration_agenda(session, admission.registration)
    return agenda_feed(request, agenda, admission.conference, urls.legacy_agenda_feed_path(token))


routes = [
    Route("/tickets/{token}/send-link", send_link, methods=["POST"]),
    Route("/tickets/{token}/agenda.ics", legacy_agenda_feed),
    Route("/my-ticket/{secret}", manage_page),
    Route("/my-ticket/{secret}/star/{session}", manage_star, methods=["POST"]),
    Route("/my-ticket/{secret}/copy-stars", manage_copy_stars, methods=["POST"]),
    Route("/my-ticket/{secret}/cancel", cancel_confirm, methods=["GET"]),
    Route("/my-ticket/{secret}/cancel", cancel_submit, methods=["POST"]),
]
