"""Mail attendees, for organisers: write a short notice, preview it with the number of people
who will get it, then send it (a second POST with `confirm=send`) through the outbox."""

from __future__ import annotations

from babel.numbers import format_decimal
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.admin.routes import admin_page, organiser_conference
from confapp.dates import time_of_day
from confapp.models import Conference, Notice
from confapp.notices.service import (
    ESSENTIAL,
    EVERYONE,
    MAX_BODY_CHARS,
    MAX_SUBJECT_CHARS,
    NOTICE_FIELDS,
    AlreadySent,
    NoticeDraft,
    check_notice,
    count_recipients,
    notice_form_fields,
    notice_text,
    past_notices,
    send_notice,
)
from confapp.programme.queries import list_ticket_types
from confapp.programme.records import translation_key, translation_keys
from confapp.request_body import CSRF_FIELD, BadRequestBody, read_form_fields
from confapp.request_context import database
from confapp.translation import babel_locale, ngettext

CONFIRM = "send"


def notices_path(conference: Conference) -> str:
    return f"/admin/{conference.slug}/notices"


def _notices_view(
    request: Request,
    conference: Conference,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    preview: NoticeDraft | None = None,
    status_code: int = 200,
) -> Response:
    db = database(request)
    with db.read() as session:
        ticket_types = list_ticket_types(session, conference)
    past = past_notices(db, conference)
    sent = request.query_params.get("sent", "")
    just_sent = next((p for p in past if str(p.notice.id) == sent), None)
    return admin_page(
        request,
        "admin/notices.html",
        {
            "conference": conference,
            "values": values or {"subject": "", "body": "", "audience": EVERYONE, "essential": ""},
            "languages": conference.other_languages(),
            "errors": errors or {},
            "ticket_types": ticket_types,
            "everyone": EVERYONE,
            "essential": ESSENTIAL,
            "preview": preview,
            "preview_text": (
                notice_text(conference.name, preview.body, preview.essential) if preview else ""
            ),
            "recipients": count_recipients(db, conference, preview) if preview else 0,
            "confirm": CONFIRM,
            "past": past,
            "just_sent": just_sent,
            "max_subject": MAX_SUBJECT_CHARS,
            "max_body": MAX_BODY_CHARS,
            "max_body_shown": format_decimal(MAX_BODY_CHARS, locale=babel_locale()),
            "notices_path": notices_path(conference),
        },
        status_code=status_code,
    )


def notices_page(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    return _notices_view(request, conference)


def _typed(form: dict[str, str], conference: Conference) -> dict[str, str]:
    keys = translation_keys(Notice.TRANSLATED, conference.other_languages())
    return {name: form.get(name, "") for name in (*NOTICE_FIELDS, *keys)}


def _preview_or_send(request: Request, form: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    db = database(request)
    with db.read() as session:
        ticket_types = list_ticket_types(session, conference)
    draft, errors = check_notice(form, ticket_types, conference.other_languages())
    if draft is None:
        return _notices_view(
            request, conference, values=_typed(form, conference), errors=errors, status_code=422
        )
    values = {
        "subject": draft.subject,
        "body": draft.body,
        "audience": draft.audience,
        "essential": ESSENTIAL if draft.essential else "",
        **{
            translation_key(language, name): draft.translations.get(language, {}).get(name, "")
            for language in conference.other_languages()
            for name in Notice.TRANSLATED
        },
    }
    if form.get("confirm") != CONFIRM:
        return _notices_view(request, conference, values=values, preview=draft)
    try:
        notice = send_notice(db, conference, draft, principal)
    except AlreadySent as already:
        when = time_of_day(already.sent_at, conference.timezone)
        errors = {
            "form": ngettext(
                "This notice already went to %(count)d person at %(time)s; it was not sent again.",
                "This notice already went to %(count)d people at %(time)s; it was not sent again.",
                already.recipients,
            )
            % {"count": already.recipients, "time": when}
        }
        return _notices_view(request, conference, values=values, errors=errors, status_code=409)
    return RedirectResponse(f"{notices_path(conference)}?sent={notice.id}", status_code=303)


def _refused(request: Request, refused: BadRequestBody) -> Response:
    conference, _principal = organiser_conference(request)
    return _notices_view(
        request,
        conference,
        values=_typed(refused.values, conference),
        errors=refused.fields,
        status_code=422,
    )


async def notices_submit(request: Request) -> Response:
    try:
        form = await read_form_fields(request, notice_form_fields(CSRF_FIELD, "confirm"))
    except BadRequestBody as refused:
        if not refused.fields:
            raise
        return await run_in_threadpool(_refused, request, refused)
    return await run_in_threadpool(_preview_or_send, request, form)


routes = [
    Route("/admin/{conference}/notices", notices_page, methods=["GET"]),
    Route("/admin/{conference}/notices", notices_submit, methods=["POST"]),
]
