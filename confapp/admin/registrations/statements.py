"""Bank statements, for organisers: upload a bank's CSV export, see what it paid, and decide
the lines no order could be matched to (assign one by its reference, or ignore the line).

The upload is a multipart form read here, not by confapp.request_body (which takes no files):
its Content-Length is checked first (a browser always sends one), the file may hold
MAX_STATEMENT_BYTES, and the form's CSRF token is noted on `request.state` as read_form_fields
notes it, for `organiser_conference` to check.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.background import BackgroundTasks
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.admin.routes import admin_page, organiser_conference
from confapp.models import Conference, OrderStatus, PaymentSettings
from confapp.money import format_money
from confapp.outbox import send_mail
from confapp.registration.bank_statements import (
    MAX_STATEMENT_BYTES,
    NOTE_ALREADY_PAID,
    NOTE_CURRENCY,
    NOTE_NO_PLACE,
    NOTE_NOTHING_TO_PAY,
    NOTE_ORDER_CANCELLED,
    NOTE_OTHER_METHOD,
    NOTE_OVERPAID,
    NOTE_SEVERAL_ORDERS,
    NOTE_UNDERPAID,
    PRESET_NAMES,
    PRESETS,
    ImportReport,
    LineToDecide,
    assign_line,
    ignore_line,
    import_statement,
    lines_to_decide,
    statement_layout,
    statements_of,
)
from confapp.registration.orders import display_reference, payment_settings
from confapp.request_body import CSRF_FIELD, BadRequestBody, read_form_fields, row_id
from confapp.request_context import app_settings, database, now
from confapp.translation import N_, _, ngettext

FILE_FIELD = "statement"
FORMAT_FIELD = "format"
FROM_SETTINGS = ""  # the format choice meaning "as the payment settings say"
# The rest of a multipart body beside the file: its boundaries, the token, the format.
FORM_OVERHEAD_BYTES = 64 * 1024
# The one POST with a file in it: the body limit lets it be this large (confapp.app).
UPLOAD_LIMIT = (r"/admin/[^/]+/payments/statements", MAX_STATEMENT_BYTES + FORM_OVERHEAD_BYTES)

DONE_MESSAGES = {
    "assigned": N_("Line assigned to the order."),
    "ignored": N_("Line set aside: it is no longer listed."),
}
NOTE_WORDS = {
    "": N_("No order's reference was found in it."),
    NOTE_UNDERPAID: N_("Less than the order's total: the order stays reserved until the rest."),
    NOTE_OVERPAID: N_(
        "More than the order's total: the order is paid; give the difference back or keep it."
    ),
    NOTE_ALREADY_PAID: N_("The order was paid already: this is a second payment to give back."),
    NOTE_NO_PLACE: N_("The order's hold had ended and its places have gone."),
    NOTE_ORDER_CANCELLED: N_("The order was cancelled."),
    NOTE_NOTHING_TO_PAY: N_("Every ticket of the order was cancelled."),
    NOTE_OTHER_METHOD: N_("The order was to be paid another way: assign it if it is right."),
    NOTE_CURRENCY: N_("In another currency than the order's."),
    NOTE_SEVERAL_ORDERS: N_("It names several orders: assign it to the one it pays."),
}
# One whole sentence per status, so a translator can make the words agree with "order".
ORDER_WORDS = {
    OrderStatus.reserved.value: N_(
        "Order %(reference)s, %(total)s: reserved, waiting for the money."
    ),
    OrderStatus.paid.value: N_("Order %(reference)s, %(total)s: paid."),
    OrderStatus.expired.value: N_("Order %(reference)s, %(total)s: its hold ended unpaid."),
    OrderStatus.cancelled.value: N_("Order %(reference)s, %(total)s: cancelled."),
}


def statements_path(conference: Conference) -> str:
    return f"/admin/{conference.slug}/payments/statements"


def line_path(conference: Conference, line_id: int) -> str:
    return f"{statements_path(conference)}/lines/{line_id}"


def _format_choices(settings: PaymentSettings) -> list[tuple[str, str]]:
    """The formats the upload form offers: the settings' first (when they name one)."""
    choices = [(code, _(name)) for code, name in PRESET_NAMES.items()]
    if statement_layout(settings) is None:
        return choices
    if settings.statement_preset in PRESET_NAMES and not any(settings.statement_columns.values()):
        setting = _("As in the payment settings: %(name)s") % {
            "name": _(PRESET_NAMES[settings.statement_preset])
        }
    else:
        setting = _("As in the payment settings: the conference's own columns")
    return [(FROM_SETTINGS, setting), *choices]


@dataclass(frozen=True)
class ShownLine:
    item: LineToDecide
    note: str  # why it is listed
    order: str  # the order it was found for, its total and where it stands; "" if none


def _shown(item: LineToDecide) -> ShownLine:
    order = item.order
    words = ""
    if order is not None:
        words = _(ORDER_WORDS.get(order.status, ORDER_WORDS[OrderStatus.reserved.value])) % {
            "reference": display_reference(order.reference),
            "total": format_money(order.total_cents, order.currency),
        }
    return ShownLine(item, _(NOTE_WORDS.get(item.line.note, NOTE_WORDS[""])), words)


def _report_words(report: ImportReport) -> list[str]:
    words = []
    if report.already_uploaded_at is not None:
        words.append(_("This statement was uploaded already: nothing changed."))
    words.append(
        ngettext("%(num)d credit in the file", "%(num)d credits in the file", report.credits)
        % {"num": report.credits}
        + "; "
        + ngettext("%(num)d debit skipped.", "%(num)d debits skipped.", report.debits_skipped)
        % {"num": report.debits_skipped}
    )
    if report.known and report.already_uploaded_at is None:
        words.append(
            ngettext(
                "%(num)d line was in an earlier statement and was skipped.",
                "%(num)d lines were in an earlier statement and were skipped.",
                report.known,
            )
            % {"num": report.known}
        )
    if report.matched or report.partial or report.unmatched:
        words.append(
            ngettext("%(num)d order paid", "%(num)d orders paid", report.orders_paid)
            % {"num": report.orders_paid}
            + "; "
            + ngettext(
                "%(num)d line for a person to look at.",
                "%(num)d lines for a person to look at.",
                report.partial + report.unmatched,
            )
            % {"num": report.partial + report.unmatched}
        )
    return words


def _statements_view(
    request: Request,
    conference: Conference,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    report: ImportReport | None = None,
    status_code: int = 200,
    background: BackgroundTasks | None = None,
) -> Response:
    with database(request).read() as session:
        settings = payment_settings(session, conference.id or 0)
        statements = statements_of(session, conference.id or 0)
        lines = [_shown(item) for item in lines_to_decide(session, conference.id or 0)]
    choices = _format_choices(settings)
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    response = admin_page(
        request,
        "admin/statements.html",
        {
            "conference": conference,
            "statements": statements,
            "lines": lines,
            "format_choices": choices,
            "values": {FORMAT_FIELD: choices[0][0]} | (values or {}),
            "errors": errors or {},
            "report": report,
            "report_words": _report_words(report) if report else [],
            "message": _(done) if done else "",
            "statements_path": statements_path(conference),
            "line_path": lambda line_id: line_path(conference, line_id),
            "max_megabytes": MAX_STATEMENT_BYTES // (1024 * 1024),
        },
        status_code=status_code,
    )
    response.background = background
    return response


def statements_page(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    return _statements_view(request, conference)


# ---- the upload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes | None  # None: no file chosen, or one too large
    too_large: bool
    format: str


def _too_large_message() -> str:
    return _("The file is larger than %(megabytes)d MB: export a shorter period.") % {
        "megabytes": MAX_STATEMENT_BYTES // (1024 * 1024)
    }


async def read_upload(request: Request) -> Upload:
    """The statement form: its file (at most MAX_STATEMENT_BYTES), the format chosen, and its
    CSRF token noted for the auth layer. BadRequestBody for a body that is not such a form or
    is larger than a statement's form can be."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise BadRequestBody(415, "unsupported_media_type", _("Send the statement as a file."))
    declared = request.headers.get("content-length", "")
    if not (declared.isascii() and declared.isdigit()) or len(declared) > 15:
        raise BadRequestBody(411, "length_required", _("The upload must say its length."))
    if int(declared) > MAX_STATEMENT_BYTES + FORM_OVERHEAD_BYTES:
        raise BadRequestBody(413, "too_large", _too_large_message())
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=FORM_OVERHEAD_BYTES)
    except MultiPartException as error:
        raise BadRequestBody(400, "invalid_form", _("The form could not be read.")) from error
    try:
        token = form.get(CSRF_FIELD)
        if isinstance(token, str) and token:
            request.state.csrf_form_token = token
        chosen = form.get(FORMAT_FIELD)
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile) or not upload.filename:
            return Upload("", None, False, chosen if isinstance(chosen, str) else "")
        data = await upload.read(MAX_STATEMENT_BYTES + 1)
        too_large = len(data) > MAX_STATEMENT_BYTES
        return Upload(
            upload.filename,
            None if too_large else data,
            too_large,
            chosen if isinstance(chosen, str) else "",
        )
    finally:
        await form.close()


def _mails(request: Request, mail_ids: list[int] | tuple[int, ...]) -> BackgroundTasks:
    # After the response: a slow mail server never holds up the page.
    tasks = BackgroundTasks()
    for mail_id in mail_ids:
        tasks.add_task(send_mail, database(request), app_settings(request), mail_id)
    return tasks


def _import(request: Request, upload: Upload) -> Response:
    conference, principal = organiser_conference(request)
    values = {FORMAT_FIELD: upload.format}
    if upload.format != FROM_SETTINGS and upload.format not in PRESETS:
        errors = {FORMAT_FIELD: _("Choose one of the formats listed.")}
        return _statements_view(request, conference, errors=errors, values=values, status_code=422)
    if upload.too_large:
        errors = {FILE_FIELD: _too_large_message()}
        return _statements_view(request, conference, errors=errors, values=values, status_code=413)
    if upload.data is None:
        errors = {FILE_FIELD: _("Choose the statement's file (CSV).")}
        return _statements_view(request, conference, errors=errors, values=values, status_code=422)
    report = import_statement(
        database(request),
        conference.id or 0,
        upload.filename,
        upload.data,
        principal.email,
        preset=upload.format or None,
        user_id=principal.user_id,
        now=now(request),
    )
    if report.problems:
        errors = {FILE_FIELD: " ".join(report.problems)}
        return _statements_view(request, conference, errors=errors, values=values, status_code=422)
    return _statements_view(
        request,
        conference,
        values=values,
        report=report,
        background=_mails(request, report.mail_ids),
    )


async def statements_upload(request: Request) -> Response:
    try:
        upload = await read_upload(request)
    except BadRequestBody:
        # Who is asking comes first: someone signed out is sent to sign in, not told the form.
        await run_in_threadpool(organiser_conference, request)
        raise
    return await run_in_threadpool(_import, request, upload)


# ---- a person's decision on one line -------------------------------------------------------


def _decide(request: Request, form: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    line_id = row_id(request.path_params["line"])
    action = form.get("action", "")
    reference = form.get("reference", "")
    key = f"reference-{line_id}"
    if line_id is None:
        errors = {"form": _("There is no such statement line.")}
        return _statements_view(request, conference, errors=errors, status_code=404)
    db = database(request)
    if action == "assign":
        decision = assign_line(
            db,
            line_id,
            reference,
            principal.email,
            conference_id=conference.id or 0,
            user_id=principal.user_id,
            now=now(request),
        )
    elif action == "ignore":
        decision = ignore_line(
            db,
            line_id,
            principal.email,
            conference_id=conference.id or 0,
            user_id=principal.user_id,
            now=now(request),
        )
    else:
        errors = {"form": _("Choose what to do: assign the line to an order, or ignore it.")}
        return _statements_view(request, conference, errors=errors, status_code=422)
    if not decision.done:
        return _statements_view(
            request,
            conference,
            errors={key: decision.problem},
            values={key: reference},
            status_code=422,
        )
    done = "assigned" if action == "assign" else "ignored"
    return RedirectResponse(
        f"{statements_path(conference)}?done={done}",
        status_code=303,
        background=_mails(request, decision.mail_ids),
    )


async def line_decision(request: Request) -> Response:
    try:
        form = await read_form_fields(request, (CSRF_FIELD, "action", "reference"))
    except BadRequestBody as refused:
        if not refused.fields:
            raise
        conference, _principal = await run_in_threadpool(organiser_conference, request)
        errors = {"form": " ".join(refused.fields.values())}
        return await run_in_threadpool(
            lambda: _statements_view(request, conference, errors=errors, status_code=422)
        )
    return await run_in_threadpool(_decide, request, form)


routes = [
    Route("/admin/{conference}/payments/statements", statements_page, methods=["GET"]),
    Route("/admin/{conference}/payments/statements", statements_upload, methods=["POST"]),
    Route("/admin/{conference}/payments/statements/lines/{line}", line_decision, methods=["POST"]),
]
