"""Ticket types and registration settings, for organisers: open or close online registration,
the conference's capacity, the second-factor rule, what the door says about unpaid tickets, and
ticket types (add, edit, hide, show)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from confapp.admin.programme.audit_trail import audit_programme_edit
from confapp.admin.routes import admin_page, organiser_conference
from confapp.checkin.unpaid_at_door import (
    UNPAID_AT_DOOR_FIELD,
    check_unpaid_at_door,
    set_unpaid_at_door,
)
from confapp.models import Conference, TicketType
from confapp.programme import editing, records
from confapp.programme.queries import list_ticket_types
from confapp.programme.records import FormFields
from confapp.registration.places import places_left, registration_is_open
from confapp.registration.setup import (
    KIND_CHOICES,
    SETTINGS_FIELDS,
    CapacityTooLow,
    CodeTaken,
    capacity_too_low_message,
    check_code,
    check_settings,
    check_ticket_type,
    create_ticket_type,
    edit_ticket_type,
    find_ticket_type,
    save_settings,
    set_on_sale,
    settings_values,
    ticket_type_codes,
    ticket_type_form_fields,
    ticket_type_values,
    typed_ticket_type,
)
from confapp.request_body import CSRF_FIELD, BadRequestBody, read_form_fields
from confapp.request_context import database
from confapp.times import local_today
from confapp.translation import (
    N_,
    _,
    catalogued_languages,
    language_name_for_reader,
    normal_tag,
)

# Marked here, translated where they are shown (`_(...)`, in the reader's language).
DONE_MESSAGES = {
    "saved": N_("Settings saved."),
    "door_saved": N_("Saved: the door says this about unpaid tickets from its next scan."),
    "languages_saved": N_("Languages saved: pages, feeds and mail follow them from now on."),
    "unchanged": N_("Nothing to save: the settings were already so."),
    "created": N_("Ticket type added; it is on sale now."),
    "edited": N_("Ticket type saved."),
    "hidden": N_(
        "Ticket type hidden: it is no longer offered, and tickets already issued stay valid."
    ),
    "shown": N_("Ticket type on sale again."),
}
UNPAID_AT_DOOR_WORDS = {
    "desk": N_("Send them to the desk: the door says “Unpaid: send them to the desk”"),
    "collect": N_("Take the payment at the door: the door says “Unpaid: take the payment now”"),
    "silent": N_("Say nothing: the door does not mention payment"),
}
KIND_WORDS = {
    "fixed": N_("Fixed price"),
    "pay_what_you_can": N_("Pay what you can"),
    "free": N_("Free"),
}


def settings_path(conference: Conference) -> str:
    return f"/admin/{conference.slug}/settings"


def door_settings_path(conference: Conference) -> str:
    return f"{settings_path(conference)}/door"


def ticket_type_path(conference: Conference, code: str) -> str:
    return f"{settings_path(conference)}/ticket-types/{code}"


def _done(path: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?done={what}", status_code=303)


def _done_message(request: Request) -> str:
    """What the page says about the change just made (`?done=`), or nothing."""
    message = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return _(message) if message else ""


def _kind_words() -> dict[str, str]:
    return {kind: _(words) for kind, words in KIND_WORDS.items()}


async def _read_form(
    request: Request,
    names: Collection[str],
    apply: Callable[[Request, dict[str, str]], Response],
    refused_view: Callable[[Request, BadRequestBody], Response],
) -> Response:
    """Read the form (CSRF token first), then apply it; a field that cannot be taken as it is
    shows the form again with the message beside it and everything else kept."""
    wanted = (
        replace(names, fields=(CSRF_FIELD, *names.fields))
        if isinstance(names, FormFields)
        else (CSRF_FIELD, *names)
    )
    try:
        form = await read_form_fields(request, wanted)
    except BadRequestBody as refused:
        if not refused.fields:
            raise
        return await run_in_threadpool(refused_view, request, refused)
    return await run_in_threadpool(apply, request, form)


# ---- registration settings and the list of ticket types ------------------------------------


def _settings_view(
    request: Request,
    conference: Conference,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with database(request).read() as session:
        ticket_types = [
            (t, places_left(conference, t)) for t in list_ticket_types(session, conference)
        ]
    return admin_page(
        request,
        "admin/settings.html",
        {
            "conference": conference,
            # Two forms: the one refused shows what was typed, the other what is stored.
            "values": settings_values(conference)
            | {UNPAID_AT_DOOR_FIELD: conference.unpaid_at_door}
            | language_values(conference)
            | (values or {}),
            "languages_path": languages_path(conference),
            "shipped_languages": ", ".join(
                f"{language_name_for_reader(language)} ({language})"
                for language in catalogued_languages()
            ),
            "unpaid_at_door_words": {
                choice: _(words) for choice, words in UNPAID_AT_DOOR_WORDS.items()
            },
            "door_settings_path": door_settings_path(conference),
            "errors": errors or {},
            "message": _done_message(request),
            "ticket_types": ticket_types,
            "kind_words": _kind_words(),
            "is_open": registration_is_open(conference),
            "conference_over": local_today(conference.timezone) > conference.end_date,
            "settings_path": settings_path(conference),
            "new_path": ticket_type_path(conference, "new"),
        },
        status_code=status_code,
    )


def settings_page(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    return _settings_view(request, conference)


def _typed(form: dict[str, str], names: Collection[str]) -> dict[str, str]:
    return {name: form.get(name, "") for name in names}


def _save_settings(request: Request, form: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    values = _typed(form, SETTINGS_FIELDS)
    wanted, errors = check_settings(form, conference, principal)
    if wanted is None:
        return _settings_view(request, conference, values=values, errors=errors, status_code=422)
    try:
        changed = save_settings(database(request), conference, wanted, principal)
    except CapacityTooLow as refused:
        errors = {"capacity": capacity_too_low_message(refused.places_taken)}
        return _settings_view(request, conference, values=values, errors=errors, status_code=409)
    return _done(settings_path(conference), "saved" if changed else "unchanged")


def _refused_settings(request: Request, refused: BadRequestBody) -> Response:
    conference, _principal = organiser_conference(request)
    values = _typed(refused.values, SETTINGS_FIELDS)
    return _settings_view(
        request, conference, values=values, errors=refused.fields, status_code=422
    )


async def settings_submit(request: Request) -> Response:
    return await _read_form(request, SETTINGS_FIELDS, _save_settings, _refused_settings)


def _save_door_settings(request: Request, form: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    typed = form.get(UNPAID_AT_DOOR_FIELD, "")
    choice, problem = check_unpaid_at_door(typed)
    if choice is None:
        return _settings_view(
            request,
            conference,
            values={UNPAID_AT_DOOR_FIELD: typed},
            errors={UNPAID_AT_DOOR_FIELD: problem},
            status_code=422,
        )
    with database(request).transaction() as session:
        changed = set_unpaid_at_door(session, conference, choice, principal)
    return _done(settings_path(conference), "door_saved" if changed else "unchanged")


def languages_path(conference: Conference) -> str:
    return f"{settings_path(conference)}/languages"


LANGUAGE_FIELDS = records.FormFields(("languages", "default_language"), Conference.TRANSLATED)
LANGUAGE_LABELS = {
    "languages": N_("Languages offered"),
    "default_language": N_("Default language"),
    "name": N_("Name"),
    "description": N_("Description"),
}


def language_values(conference: Conference) -> dict[str, str]:
    return {
        "languages": ", ".join(conference.languages),
        "default_language": conference.default_language,
        **records.translation_values(conference, conference.other_languages()),
    }


def _language_errors(refused: Mapping[str, str]) -> dict[str, str]:
    """The editing service's reasons as sentences beside their fields."""
    errors = {}
    for key, reason in refused.items():
        if isinstance(reason, records.FieldReason):
            label = (
                records.translated_field_label(key, LANGUAGE_LABELS)
                if key.startswith("translations.")
                else _(LANGUAGE_LABELS.get(key, key))
            )
            errors[key] = records.field_and_reason(label, reason) + "."
        else:
            errors[key] = reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")
    return errors


def _save_languages(request: Request, form: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    languages = records.language_tags(form.get("languages", ""))
    typed_default = form.get("default_language", "").strip()
    default = normal_tag(typed_default) or typed_default
    # Texts come only for the languages whose fields the page showed.
    shown = [
        language
        for language in languages
        if language != default and records.translation_key(language, "name") in form
    ]
    translations = records.translations_in_form(
        {k: v.replace("\r\n", "\n") for k, v in form.items()}, Conference.TRANSLATED, shown
    )
    try:
        with database(request).transaction() as session:
            locked = editing.conference_for_update(session, conference.slug)
            changed = editing.set_languages(session, locked, languages, default, translations)
            if changed:
                audit_programme_edit(
                    session,
                    principal,
                    locked,
                    "conference_languages_changed",
                    ", ".join(sorted(changed)),
                )
    except editing.EditRefused as refused:
        typed = {name: form.get(name, "") for name in ("languages", "default_language")}
        keys = records.translation_keys(Conference.TRANSLATED, conference.other_languages())
        typed |= {key: form.get(key, "") for key in keys}
        return _settings_view(
            request,
            conference,
            values=typed,
            errors=_language_errors(refused.fields),
            status_code=422,
        )
    return _done(settings_path(conference), "languages_saved" if changed else "unchanged")


def _refused_languages(request: Request, refused: BadRequestBody) -> Response:
    conference, _principal = organiser_conference(request)
    return _settings_view(
        request, conference, values=refused.values, errors=refused.fields, status_code=422
    )


async def languages_submit(request: Request) -> Response:
    return await _read_form(request, LANGUAGE_FIELDS, _save_languages, _refused_languages)


def _refused_door_settings(request: Request, refused: BadRequestBody) -> Response:
    conference, _principal = organiser_conference(request)
    values = {UNPAID_AT_DOOR_FIELD: refused.values.get(UNPAID_AT_DOOR_FIELD, "")}
    return _settings_view(
        request, conference, values=values, errors=refused.fields, status_code=422
    )


async def door_settings_submit(request: Request) -> Response:
    return await _read_form(
        request, (UNPAID_AT_DOOR_FIELD,), _save_door_settings, _refused_door_settings
    )


# ---- one ticket type ------------------------------------------------------------------------


def _ticket_type_view(
    request: Request,
    conference: Conference,
    ticket_type: TicketType | None,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    code = ticket_type.code if ticket_type else "new"
    return admin_page(
        request,
        "admin/ticket_type.html",
        {
            "conference": conference,
            "ticket_type": ticket_type,
            "places_left": places_left(conference, ticket_type) if ticket_type else None,
            "values": values or ticket_type_values(ticket_type, conference),
            "errors": errors or {},
            "kinds": [(kind, _(KIND_WORDS[kind])) for kind in KIND_CHOICES],
            "has_pool": bool(conference.solidarity_place_cents),
            "self_path": ticket_type_path(conference, code),
            "settings_path": settings_path(conference),
        },
        status_code=status_code,
    )


def new_ticket_type_page(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    return _ticket_type_view(request, conference, None)


def _create(request: Request, form: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    db = database(request)
    values = typed_ticket_type(form, conference)
    choice, errors = check_ticket_type(form, conference)
    code, code_problem = check_code(form.get("code", ""), ticket_type_codes(db, conference))
    if code_problem:
        errors = {"code": code_problem, **errors}
    if choice is None or code_problem:
        return _ticket_type_view(
            request, conference, None, values=values, errors=errors, status_code=422
        )
    try:
        create_ticket_type(db, conference, code, choice, principal)
    except CodeTaken:
        errors = {"code": _("Another ticket type already has this code.")}
        return _ticket_type_view(
            request, conference, None, values=values, errors=errors, status_code=409
        )
    return _done(settings_path(conference), "created")


def _refused_new(request: Request, refused: BadRequestBody) -> Response:
    conference, _principal = organiser_conference(request)
    values = typed_ticket_type(refused.values, conference)
    return _ticket_type_view(
        request, conference, None, values=values, errors=refused.fields, status_code=422
    )


async def new_ticket_type_submit(request: Request) -> Response:
    return await _read_form(request, ticket_type_form_fields(), _create, _refused_new)


def ticket_type_page(request: Request) -> Response:
    conference, _principal = organiser_conference(request)
    ticket_type = find_ticket_type(database(request), conference, request.path_params["code"])
    return _ticket_type_view(request, conference, ticket_type)


def _change(request: Request, form: dict[str, str]) -> Response:
    conference, principal = organiser_conference(request)
    db = database(request)
    ticket_type = find_ticket_type(db, conference, request.path_params["code"])
    code = ticket_type.code
    action = form.get("action", "")
    if action in ("hide", "show"):
        set_on_sale(db, conference, code, action == "show", principal)
        return _done(settings_path(conference), "shown" if action == "show" else "hidden")
    values = typed_ticket_type(form, conference) | {"code": code}
    if action != "save":
        errors = {"action": _("Choose what to do: save, hide or show.")}
        return _ticket_type_view(
            request, conference, ticket_type, values=values, errors=errors, status_code=422
        )
    choice, errors = check_ticket_type(form, conference, ticket_type.places_taken)
    if choice is None:
        return _ticket_type_view(
            request, conference, ticket_type, values=values, errors=errors, status_code=422
        )
    try:
        edit_ticket_type(db, conference, code, choice, principal)
    except CapacityTooLow as refused:
        errors = {"capacity": capacity_too_low_message(refused.places_taken)}
        return _ticket_type_view(
            request, conference, ticket_type, values=values, errors=errors, status_code=409
        )
    return _done(settings_path(conference), "edited")


def _refused_change(request: Request, refused: BadRequestBody) -> Response:
    conference, _principal = organiser_conference(request)
    ticket_type = find_ticket_type(database(request), conference, request.path_params["code"])
    values = typed_ticket_type(refused.values, conference) | {"code": ticket_type.code}
    return _ticket_type_view(
        request, conference, ticket_type, values=values, errors=refused.fields, status_code=422
    )


async def ticket_type_submit(request: Request) -> Response:
    fields = ticket_type_form_fields()
    return await _read_form(
        request, replace(fields, fields=(*fields.fields, "action")), _change, _refused_change
    )


routes = [
    Route("/admin/{conference}/settings", settings_page, methods=["GET"]),
    Route("/admin/{conference}/settings", settings_submit, methods=["POST"]),
    Route("/admin/{conference}/settings/door", door_settings_submit, methods=["POST"]),
    Route("/admin/{conference}/settings/languages", languages_submit, methods=["POST"]),
    Route("/admin/{conference}/settings/ticket-types/new", new_ticket_type_page, methods=["GET"]),
    Route(
        "/admin/{conference}/settings/ticket-types/new", new_ticket_type_submit, methods=["POST"]
    ),
    Route("/admin/{conference}/settings/ticket-types/{code}", ticket_type_page, methods=["GET"]),
    Route("/admin/{conference}/settings/ticket-types/{code}", ticket_type_submit, methods=["POST"]),
]
