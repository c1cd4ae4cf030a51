"""The JSON API's contract as an OpenAPI 3.1 document, served at /api/openapi.json.

Tests hold it true: every route under /api/ must be described here (and nothing else besides
Stripe's webhook), real responses must validate against it, and a fuzzer drives a live server
from it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from confapp import __version__
from confapp.checkin import bodies as door_bodies
from confapp.checkin.unpaid_at_door import UnpaidAtDoor
from confapp.models import OrderStatus, PaymentMethod, PaymentStatus, RegistrationStatus
from confapp.programme import documents
from confapp.registration import desk as registration_desk
from confapp.registration import form as registration_form
from confapp.registration import service as registration_service

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An object schema listing what is always present. Further properties may be added later
    without breaking clients, so they are not forbidden."""
    return {"type": "object", "required": required, "properties": properties, **extra}


def _all_required(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return _obj(list(properties), properties, **extra)


def _json_response(description: str, schema: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}, **extra}


def _responses(**by_status: dict[str, Any]) -> dict[str, Any]:
    """An operation's responses (keyword s200 for "200"), and the 400 any /api/ route may give."""
    responses = {"400": BAD_REQUEST} | {code[1:]: r for code, r in by_status.items()}
    return dict(sorted(responses.items()))


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INTEGER = {"type": ["integer", "null"]}
DATE = {"type": "string", "format": "date"}
DATE_TIME = {"type": "string", "format": "date-time"}
SLUG = {"type": "string", "examples": ["socialism-2027"]}

BAD_REQUEST = {"$ref": "#/components/responses/BadRequest"}
NOT_FOUND = {"$ref": "#/components/responses/NotFound"}
UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
FORBIDDEN = {"$ref": "#/components/responses/Forbidden"}
# Routes for organisers' scripts: an API token (`confapp token add`), or a signed-in browser.
BEARER: list[dict[str, list[str]]] = [{"bearerToken": []}]
PAYMENT_STATUSES = list(registration_desk.PAYMENT_CHOICES)
PAYMENT_METHODS = [method.value for method in PaymentMethod]
REGISTRATION_STATUSES = [status.value for status in RegistrationStatus]
REGISTRATION_STATUS = {
    "enum": REGISTRATION_STATUSES,
    "description": "`reserved`: the place is held while it is paid online (no ticket to admit "
    "yet); `active`: a ticket; `cancelled`; `expired`: the hold ended unpaid and the place "
    "went back.",
}

SCHEMAS: dict[str, Any] = {
    # Errors
    "Error": _all_required(
        {
            "error": {
                "type": "string",
                "description": "A short, stable word for the kind of error, "
                "such as `not found` or `invalid_json`.",
            },
            "detail": {"type": "string", "description": "What went wrong, in words for a person."},
        }
    ),
    "NotFound": _all_required(
        {"error": {"const": "not found"}, "detail": STRING},
        examples=[{"error": "not found", "detail": "There is no conference called “x”."}],
    ),
    "Conflict": _obj(
        ["error", "detail"],
        {
            "error": {"enum": ["sold_out", "registration_closed", "voucher_used_up"]},
            "detail": STRING,
            "ticket_type": STRING,
            "fields": {"type": "object", "additionalProperties": STRING},
        },
        description="Nothing was registered. `sold_out` names the `ticket_type` that sold out; "
        "`voucher_used_up` (its last use went to someone else a moment before) gives the "
        "reason in `fields.voucher`.",
    ),
    "TooLarge": _all_required({"error": {"const": "too_large"}, "detail": STRING}),
    "Invalid": _all_required(
        {
            "error": {"const": "invalid"},
            "fields": {
                "type": "object",
                "description": "A message a person can act on, per form field.",
                "additionalProperties": STRING,
                "examples": [{"email": "This does not look like an e-mail address."}],
            },
        }
    ),
    "Throttled": _all_required({"error": {"const": "throttled"}, "detail": STRING}),
    "PreconditionFailed": _all_required(
        {
            "error": {"const": "precondition_failed"},
            "detail": STRING,
            "fields": {"type": "object", "additionalProperties": STRING},
        }
    ),
    # The programme
    "Programme": _all_required(
        {
            "conference": ref("ProgrammeConference"),
            "rooms": {"type": "array", "items": ref("Room")},
            "tracks": {"type": "array", "items": ref("Track")},
            "speakers": {
                "type": "array",
                "items": ref("Speaker"),
                "description": "Only speakers billed for at least one session.",
            },
            "sessions": {
                "type": "array",
                "items": ref("Session"),
                "description": "Cancelled sessions stay in the list.",
            },
        },
        description="The public programme. No attendee data is ever included.",
    ),
    "ProgrammeConference": _all_required(
        {
            "slug": STRING,
            "name": STRING,
            "timezone": {"type": "string", "description": "IANA name, e.g. Australia/Sydney."},
            "venue": STRING,
            "venue_address": STRING,
            "start_date": DATE,
            "end_date": DATE,
            "days": {"type": "array", "items": DATE},
            "description": STRING,
            "url": {"type": "string", "description": "The absolute path of its home page."},
            "website": {"type": "string", "description": "Its own website, or empty."},
            "programme_version": {
                "type": "integer",
                "description": "Goes up whenever the programme changes.",
            },
        }
    ),
    # Registration
    "TicketTypes": _all_required(
        {
            "conference": STRING,
            "currency": {"type": "string", "examples": ["AUD"]},
            "payment_methods": {
                "type": "array",
                "items": {"enum": PAYMENT_METHODS},
                "uniqueItems": True,
                "minItems": 1,
                "description": "How a ticket that costs something may be paid here, the "
                "`payment_method` a registration names (needed when there is more than one): "
                "`stripe` (by card on Stripe's page), `bank_transfer`, `desk` (at the "
                "registration desk).",
            },
            "places_left": {
                **NULLABLE_INTEGER,
                "description": "For the whole conference; null: no overall limit.",
            },
            "solidarity_pool_places_funded": {
                "type": "integer",
                "description": "Free places the solidarity fund has paid for so far.",
            },
            "ticket_types": {"type": "array", "items": ref("TicketOffer")},
        }
    ),
    "TicketOffer": _all_required(
        {
            "code": STRING,
            "name": STRING,
            "description": STRING,
            "kind": {"enum": ["fixed", "pay_what_you_can", "free"]},
            "price_cents": INTEGER,
            "min_price_cents": INTEGER,
            "suggested_price_cents": NULLABLE_INTEGER,
            "from_solidarity_pool": {"type": "boolean"},
            "places_left": {**NULLABLE_INTEGER, "description": "null: no limit."},
            "sold_out": {"type": "boolean"},
            "voucher_price_cents": {
                **NULLABLE_INTEGER,
                "description": "With `?voucher=`: what this type costs with the code (for "
                "pay-what-you-can, the least one may pay); null when the code is not for it.",
            },
        }
    ),
    "TicketCreated": _obj(
        ["ticket"],
        {
            "ticket": ref("Ticket"),
            "order": {
                **ref("Order"),
                "description": "Only for a ticket paid online (`stripe` or `bank_transfer`): "
                "the place is held as `reserved` until `hold_until`, and the ticket is mailed "
                "once the money arrives.",
            },
        },
    ),
    "Order": _all_required(
        {
            "reference": {
                "type": "string",
                "examples": ["KX7Q-2MPD"],
                "description": "The order's reference, for a bank transfer's description.",
            },
            "status": {
                "enum": [status.value for status in OrderStatus],
                "description": "`reserved`: its places are held until `hold_until`, waiting "
                "for the money; `paid`; `expired`: the hold ended unpaid; `cancelled`.",
            },
            "payment_method": {"enum": PAYMENT_METHODS},
            "total_cents": {"type": "integer", "description": "Tickets and top-ups together."},
            "currency": STRING,
            "hold_until": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When the places go back if it is still unpaid (UTC); null "
                "when nothing is held (paid at the desk, or nothing to pay).",
            },
            "checkout_url": {
                "type": ["string", "null"],
                "format": "uri",
                "description": "For `stripe`: Stripe's page to pay on; null for other methods, "
                "or when Stripe could not be reached (the ticket's page then offers to pay).",
            },
            "bank_transfer": {
                "oneOf": [ref("BankTransfer"), {"type": "null"}],
                "description": "For `bank_transfer`: where to send the money; else null.",
            },
        },
        description="What a registration costs and how to pay it.",
    ),
    "BankTransfer": _all_required(
        {
            "account_name": STRING,
            "bsb": {"type": "string", "description": "An Australian BSB, or empty."},
            "account_number": {"type": "string", "description": "Or empty, with an IBAN."},
            "iban": {"type": "string", "description": "Or empty, with an account number."},
            "bic": {"type": "string", "description": "Or empty."},
            "reference": {
                "type": "string",
                "examples": ["KX7Q-2MPD"],
                "description": "What the transfer's description must carry, for it to be "
                "matched with the order.",
            },
        },
        description="The conference's account, and the reference to pay with.",
    ),
    # The registrations desk (organisers only)
    "RegistrationList": _all_required(
        {
            "conference": STRING,
            "page": INTEGER,
            "pages": INTEGER,
            "per_page": INTEGER,
            "matching": {"type": "integer", "description": "How many match, on all pages."},
            "registrations": {
                "type": "array",
                "items": ref("RegistrationRecord"),
                "description": "Newest first.",
            },
            "counts": ref("RegistrationCounts"),
        }
    ),
    "RegistrationRecord": _all_required(
        {
            "code": {"type": "string", "examples": ["ABCD-EFGH-IJKLM"]},
            "name": {"type": "string", "description": "Empty once erased."},
            "email": {"type": "string", "description": "Empty once erased, or if none given."},
            "ticket_type": STRING,
            "amount_cents": INTEGER,
            "solidarity_topup_cents": INTEGER,
            "currency": STRING,
            "payment_status": {"enum": PAYMENT_STATUSES},
            "status": REGISTRATION_STATUS,
            "erased": {"type": "boolean"},
            "email_consent": {"type": "boolean"},
            "created_at": DATE_TIME,
            "cancelled_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When it was cancelled, or its hold expired.",
            },
            "payment": {
                "oneOf": [ref("RegistrationPayment"), {"type": "null"}],
                "description": "Its order's payment; null when it has no order (one person "
                "registered to pay at the desk, or for nothing).",
            },
        },
        description="A registration as organisers see it. Access needs and childcare are not "
        "here: only the access team's reports show them.",
    ),
    "RegistrationPayment": _all_required(
        {
            "method": {"enum": PAYMENT_METHODS},
            "reference": {
                "type": "string",
                "examples": ["KX7Q-2MPD"],
                "description": "The order's reference.",
            },
            "paid_cents": {
                "type": "integer",
                "description": "What arrived for the order (a group's order pays for several "
                "registrations), refunds not taken off.",
            },
            "refunded_cents": INTEGER,
            "receipt_numbers": {
                "type": "array",
                "items": INTEGER,
                "description": "The order's receipts, cancellations included, in order.",
            },
        },
        description="How a registration's order is paid.",
    ),
    "RegistrationCounts": _all_required(
        {
            "places_left": {**NULLABLE_INTEGER, "description": "null: no overall limit."},
            "active": {
                "type": "integer",
                "description": "Tickets; places held while paid online (`reserved`) are not "
                "counted here, though they are taken from `places_left`.",
            },
            "cancelled": {
                "type": "integer",
                "description": "Holds that expired unpaid are not counted here.",
            },
            "paid": {"type": "integer", "description": "Active and paid."},
            "unpaid": {"type": "integer", "description": "Active and not yet paid."},
            "ticket_types": {"type": "array", "items": ref("TicketTypeCount")},
        },
        description="Every registration of the conference, whatever the filters.",
    ),
    "TicketTypeCount": _all_required(
        {
            "code": STRING,
            "name": STRING,
            "active": INTEGER,
            "cancelled": INTEGER,
            "paid": INTEGER,
            "unpaid": INTEGER,
            "places_left": {**NULLABLE_INTEGER, "description": "null: no limit."},
        }
    ),
    "Ticket": _all_required(
        {
            "code": {"type": "string", "description": "The ticket code read out at the door."},
            "conference": STRING,
            "ticket_type": STRING,
            "amount_cents": INTEGER,
            "solidarity_topup_cents": INTEGER,
            "currency": STRING,
            "payment_status": {"enum": ["unpaid", "paid", "waived"]},
            "status": REGISTRATION_STATUS,
            "url": {
                "type": "string",
                "format": "uri",
                "description": "The admission page (what the QR code holds).",
            },
            "manage_url": {
                "type": "string",
                "format": "uri",
                "description": "The attendee's secret link to manage, cancel or erase the "
                "registration. Shown once: keep it.",
            },
            "qr_svg_url": {"type": "string", "format": "uri"},
            "qr_png_url": {"type": "string", "format": "uri"},
            "agenda_feed_url": {"type": "string", "format": "uri"},
        }
    ),
    # For door devices
    "TicketKeys": _all_required(
        {
            "conference_id": {
                "type": "integer",
                "description": "The conference id signed into each admission token.",
            },
            "algorithm": {"const": "Ed25519"},
            "token_format": STRING,
            "keys": {"type": "array", "items": ref("PublicKey")},
        },
        description="The public keys that verify admission tokens offline. No secret here.",
    ),
    "PublicKey": _all_required(
        {
            "id": {"type": "integer", "description": "The key id carried in tokens."},
            "public_key": {"type": "string", "contentEncoding": "base64"},
        }
    ),
    "TicketRevocations": _all_required(
        {
            "conference": STRING,
            "conference_id": INTEGER,
            "revoked": {
                "type": "array",
                "items": STRING,
                "description": "Codes of tickets that must no longer be admitted, spelled as "
                "everywhere in the API: ABCD-EFGH-IJKLM.",
            },
        }
    ),
    "OpenAPIDocument": _obj(
        ["openapi", "info", "paths"],
        {"openapi": {"type": "string", "pattern": r"^3\.1\.\d+$"}},
        description="This document.",
    ),
}

_THROTTLED = _json_response(
    "Too many registrations from this address or for this e-mail address.",
    "Throttled",
    headers={
        "Retry-After": {
            "required": True,
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
)

CONFERENCE_PARAMETER = {
    "name": "conference",
    "in": "path",
    "required": True,
    "description": "The conference's slug.",
    "schema": SLUG,
}

PATHS: dict[str, Any] = {
    "/api/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": _responses(s200=_json_response("This document.", "OpenAPIDocument")),
        }
    },
    "/api/{conference}/programme": {
        "parameters": [CONFERENCE_PARAMETER],
        "get": {
            "operationId": "programme",
            "summary": "The programme: rooms, tracks, speakers and sessions",
            "responses": _responses(
                s200=_json_response("The programme.", "Programme"), s404=NOT_FOUND
            ),
        },
    },
    "/api/{conference}/ticket-types": {
        "parameters": [CONFERENCE_PARAMETER],
        "get": {
            "operationId": "ticketTypes",
            "summary": "Prices, places left, sold-out types and the funded solidarity places",
            "parameters": [
                {
                    "name": "voucher",
                    "in": "query",
                    "description": "A voucher code: the types it opens are listed too, with "
                    "`voucher_price_cents`.",
                    "schema": {"type": "string", "maxLength": 40},
                }
            ],
            "responses": _responses(
                s200=_json_response("The ticket types on offer.", "TicketTypes"),
                s404=NOT_FOUND,
                s422=_json_response(
                    "The voucher code cannot be used; why, in `fields.voucher`.", "Invalid"
                ),
            ),
        },
    },
    "/api/{conference}/registrations": {
        "parameters": [CONFERENCE_PARAMETER],
        "get": {
            "operationId": "listRegistrations",
            "summary": "Organisers: find registrations, with counts per ticket type",
            "security": BEARER,
            "parameters": [
                {
                    "name": "q",
                    "in": "query",
                    "description": "Part of a name or e-mail address, or a ticket code "
                    "(any case, dashes optional).",
                    "schema": {"type": "string", "maxLength": 200},
                },
                {
                    "name": "ticket_type",
                    "in": "query",
                    "description": "A ticket type's code.",
                    "schema": STRING,
                },
                {"name": "payment", "in": "query", "schema": {"enum": PAYMENT_STATUSES}},
                {
                    "name": "status",
                    "in": "query",
                    "schema": {"enum": list(registration_desk.STATUS_CHOICES)},
                },
                {
                    "name": "page",
                    "in": "query",
                    "description": "50 to a page.",
                    "schema": {"type": "integer", "minimum": 1},
                },
            ],
            "responses": _responses(
                s200=_json_response("A page of registrations, newest first.", "RegistrationList"),
                s401=UNAUTHORIZED,
                s403=FORBIDDEN,
                s404=NOT_FOUND,
                s422=_json_response("A filter cannot be used.", "Invalid"),
            ),
        },
        "post": {
            "operationId": "register",
            "summary": "Register for a place; the ticket comes back and goes out by e-mail",
            "description": "A ticket that costs something and is paid online (`payment_method` "
            "`stripe` or `bank_transfer`) holds its place as `reserved`: the answer's `order` "
            "says how to pay, and the ticket is mailed once the money arrives. Paid at the desk "
            "(or free), it is `active` at once.",
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": ref("Registration")}},
            },
            "responses": _responses(
                s201=_json_response(
                    "Registered. The place is taken (or held, while it is paid online); the "
                    "ticket's page is in `Location`.",
                    "TicketCreated",
                    headers={"Location": {"schema": {"type": "string", "format": "uri"}}},
                ),
                s400=_json_response("The body is not a JSON object.", "Error"),
                s404=NOT_FOUND,
                s409=_json_response(
                    "Sold out, the voucher was used up a moment before, or registration has "
                    "closed. Nothing was registered.",
                    "Conflict",
                ),
                s413=_json_response("The body is too large.", "TooLarge"),
                s422=_json_response("Some fields need fixing; nothing was registered.", "Invalid"),
                s429=_THROTTLED,
            ),
        },
    },
    "/api/{conference}/registrations/{code}": {
        "parameters": [
            CONFERENCE_PARAMETER,
            {
                "name": "code",
                "in": "path",
                "required": True,
                "description": "The ticket code, any case, dashes optional.",
                "schema": {"type": "string", "examples": ["ABCD-EFGH-IJKLM"]},
            },
        ],
        "patch": {
            "operationId": "changeRegistration",
            "summary": "Organisers: record payment, cancel, or correct a name or e-mail address",
            "security": BEARER,
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": ref("RegistrationChange")}},
            },
            "responses": _responses(
                s200=_json_response(
                    "Changed; the registration as it is now.", "RegistrationRecord"
                ),
                s401=UNAUTHORIZED,
                s403=FORBIDDEN,
                s404=_json_response("No such conference, or no such registration.", "NotFound"),
                s409=_json_response(
                    "Nothing changed: `erased`, the attendee's data was erased; or "
                    "`payment_refused`, a place held for an online payment takes only `paid` "
                    "(which pays its order, with a receipt) and a group's place not even that "
                    "(its order is paid as a whole, from the registration's page); `fields` "
                    "then says so under `payment_status`.",
                    "Error",
                ),
                s413=_json_response("The body is too large.", "TooLarge"),
                s422=_json_response("Some fields need fixing; nothing changed.", "Invalid"),
            ),
        },
    },
    "/api/{conference}/ticket-keys": {
        "parameters": [CONFERENCE_PARAMETER],
        "get": {
            "operationId": "ticketKeys",
            "summary": "The public keys a door device needs to check tickets offline",
            "responses": _responses(
                s200=_json_response("The accepted public keys.", "TicketKeys"), s404=NOT_FOUND
            ),
        },
    },
    "/api/{conference}/ticket-revocations": {
        "parameters": [CONFERENCE_PARAMETER],
        "get": {
            "operationId": "ticketRevocations",
            "summary": "Tickets a door device must refuse (cancelled or erased)",
            "parameters": [
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "description": "The ETag of the list the device already holds.",
                    "schema": STRING,
                }
            ],
            "responses": _responses(
                s200=_json_response(
                    "The revoked ticket codes.",
                    "TicketRevocations",
                    headers={"ETag": {"required": True, "schema": STRING}},
                ),
                s304={
                    "description": "Unchanged since the ETag in If-None-Match.",
                    "headers": {"ETag": {"required": True, "schema": STRING}},
                },
                s404=NOT_FOUND,
            ),
        },
    },
}

# --- The programme editor (organisers only) ---------------------------------------------------

CLASH_KINDS = [
    "room_double_booked",
    "person_double_booked",
    "outside_conference_days",
    "outside_conference_hours",
    "not_step_free",
    "room_too_small",
    "no_room",
    "no_speaker",
]
ETAG_HEADER = {
    "ETag": {
        "required": True,
        "description": 'The record\'s version, quoted: "3". Send it back as If-Match.',
        "schema": STRING,
    }
}
PRECONDITION_FAILED = _json_response(
    "The If-Match header names no version of this record; nothing was saved.",
    "PreconditionFailed",
)
IF_MATCH_PARAMETER = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The version the change starts from, as its ETag gave it ("3"), or * for '
    'whatever is current. A value naming no version (a weak tag like W/"3", an unquoted or '
    "non-numeric tag) can never match: 412. Without it (and without `version` in the body) the "
    "change is saved over whatever is there.",
    "schema": STRING,
}


def _answer(key: str, schema: str, **extra: Any) -> dict[str, Any]:
    return _obj(
        [key],
        {
            key: ref(schema),
            "changed": {
                "type": "array",
                "items": STRING,
                "description": "After a change: the fields that really changed (none: nothing "
                "was saved, and the version stayed).",
            },
            **extra,
        },
    )


def _conflict(schema: str) -> dict[str, Any]:
    return _all_required(
        {"error": {"const": "conflict"}, "detail": STRING, "current": ref(schema)},
        description="Someone saved the record since the version given; nothing was saved. "
        "`current` is the record as it now stands (its version is also the ETag).",
    )


SCHEMAS.update(
    {
        "Clash": _all_required(
            {
                "kind": {"enum": CLASH_KINDS},
                "session": {"type": "string", "description": "The slug of the session."},
                "other_session": {
                    **NULLABLE_STRING,
                    "description": "The slug of the session it clashes with (for a room or a "
                    "person booked twice), else null.",
                },
                "message": {"type": "string", "description": "What clashes with what, in words."},
            },
            description="A problem an organiser should sort out. Clashes never stop a change.",
        ),
        "WritesTo": {
            "enum": ["draft", "working-copy", "public"],
            "description": "Where session saves go now: the unpublished `draft`; the "
            "`working-copy` of a published programme, seen only by organisers until its "
            "pending changes are published (POST /api/{conference}/programme/publish); or "
            "the `public` programme at once, when the conference makes every save public.",
        },
        "SessionAnswer": _answer(
            "session",
            "OrganiserSession",
            clashes={
                "type": "array",
                "items": ref("Clash"),
                "description": "Every clash the session now takes part in (in the working "
                "copy, when that is where it was saved).",
            },
            writes_to=ref("WritesTo"),
        )
        | {"required": ["session", "clashes", "writes_to"]},
        "SpeakerAnswer": _answer("speaker", "OrganiserSpeaker"),
        "RoomAnswer": _answer("room", "OrganiserRoom"),
        "TrackAnswer": _answer("track", "OrganiserTrack"),
        "SessionList": _all_required(
            {
                "sessions": {
                    "type": "array",
                    "items": ref("OrganiserSession"),
                    "description": "In programme order, as the working copy has them (pending "
                    "changes and new sessions included); cancelled ones and, before the "
                    "programme is published, drafts too.",
                },
                "writes_to": ref("WritesTo"),
            }
        ),
        "SpeakerList": _all_required(
            {"speakers": {"type": "array", "items": ref("OrganiserSpeaker")}},
            description="Every speaker, by name, billed or not.",
        ),
        "RoomList": _all_required(
            {"rooms": {"type": "array", "items": ref("OrganiserRoom")}},
            description="By position.",
        ),
        "TrackList": _all_required(
            {"tracks": {"type": "array", "items": ref("OrganiserTrack")}},
            description="By position.",
        ),
        "SessionConflict": _conflict("OrganiserSession"),
        "SpeakerConflict": _conflict("OrganiserSpeaker"),
        "RoomConflict": _conflict("OrganiserRoom"),
        "TrackConflict": _conflict("OrganiserTrack"),
        "InUse": _all_required(
            {"error": {"const": "in_use"}, "detail": STRING},
            description="Sessions still use the record; nothing was deleted.",
        ),
        "Deleted": _all_required(
            {
                "result": {
                    "enum": ["deleted", "cancelled"],
                    "description": "Before the programme is published a session is deleted; "
                    "after, it is cancelled, so calendars that hold it are told (a new session "
                    "only in the working copy is deleted).",
                }
            }
        ),
        "SessionDeleted": _all_required(
            {
                "result": {
                    "enum": ["deleted", "cancelled"],
                    "description": "Before the programme is published a session is deleted; "
                    "after, it is cancelled, so calendars that hold it are told (a new session "
                    "only in the working copy is deleted).",
                },
                "writes_to": ref("WritesTo"),
            }
        ),
        "PublishRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "note": {
                    "type": "string",
                    "maxLength": 2000,
                    "description": "A note for the public changelog, shown with the release.",
                },
                "with_clashes": {
                    "type": "boolean",
                    "description": "Publish even though the changes make new clashes public.",
                },
            },
        },
        "Release": _all_required(
            {
                "id": INTEGER,
                "sessions": {**INTEGER, "description": "Sessions it added or changed."},
                "changes": {**INTEGER, "description": "Entries it made in the changelog."},
                "note": STRING,
            },
            description="Pending changes published together.",
        ),
        "PublishClashes": _all_required(
            {
                "error": {"const": "clashes"},
                "detail": STRING,
                "clashes": {"type": "array", "items": ref("Clash")},
            },
            description="The pending changes would make these clashes public; nothing was "
            'published. Send `"with_clashes": true` to publish anyway.',
        ),
        "PendingChanges": _all_required(
            {
                "writes_to": ref("WritesTo"),
                "pending": {
                    "type": "array",
                    "items": _all_required(
                        {
                            "session": STRING,
                            "title": STRING,
                            "kind": {"enum": ["added", "changed", "cancelled", "restored"]},
                            "fields": {
                                "type": "array",
                                "items": STRING,
                                "description": "What differs from the public programme.",
                            },
                            "by": STRING,
                            "at": DATE_TIME,
                        }
                    ),
                },
                "clashes": {
                    "type": "array",
                    "items": ref("Clash"),
                    "description": "Every clash in the working copy.",
                },
                "new_clashes": {
                    "type": "array",
                    "items": ref("Clash"),
                    "description": "Those that publishing would make public.",
                },
            }
        ),
        "Discarded": _all_required(
            {
                "discarded": {**INTEGER, "description": "Sessions reset."},
                "writes_to": ref("WritesTo"),
            }
        ),
        "Published": _all_required(
            {
                "published_at": {
                    **DATE_TIME,
                    "description": "When it was first published (publishing again changes "
                    "nothing).",
                },
                "programme_version": INTEGER,
                "release": {
                    "oneOf": [ref("Release"), {"type": "null"}],
                    "description": "The pending changes this published, if any.",
                },
            }
        ),
    }
)


def _editor_responses(**by_status: dict[str, Any]) -> dict[str, Any]:
    """What every editor route may answer besides its own: 401, 403, and 404."""
    return _responses(s401=UNAUTHORIZED, s403=FORBIDDEN, **by_status)


def _editor_paths(
    many: str, one: str, what: str, schemas: str, deleted: str, delete_conflict: str
) -> dict[str, Any]:
    """GET/POST on a collection (sessions, speakers, rooms, tracks) and GET/PATCH/DELETE on one
    of its records. `schemas` is the stem of their schema names (Session: SessionList,
    SessionAnswer, SessionConflict...)."""
    title = one.capitalize()
    input_schema, change_schema = (
        ("NewSession", "SessionChange") if one == "session" else (f"{title}Input",) * 2
    )
    not_found = _json_response(f"No such conference, or no such {one}.", "NotFound")
    invalid = _json_response(
        "Some fields need fixing (`fields` says why, per field); nothing was saved.", "Invalid"
    )
    too_large = _json_response("The body is too large.", "TooLarge")
    conflict = _json_response(
        "Someone saved it since the version given (If-Match); nothing was saved. The answer "
        "holds it as it now stands.",
        f"{schemas}Conflict",
        headers=ETAG_HEADER,
    )
    answer = f"{schemas}Answer"
    return {
        f"/api/{{conference}}/{many}": {
            "parameters": [CONFERENCE_PARAMETER],
            "get": {
                "operationId": f"list{title}s",
                "summary": f"Organisers: every {one} {what}",
                "security": BEARER,
                "responses": _editor_responses(
                    s200=_json_response(f"The {many}.", f"{schemas}List"), s404=NOT_FOUND
                ),
            },
            "post": {
                "operationId": f"create{title}",
                "summary": f"Organisers: add a {one}",
                "security": BEARER,
                "requestBody": {"required": True, "content": {JSON: {"schema": ref(input_schema)}}},
                "responses": _editor_responses(
                    s201=_json_response(
                        "Made; its address in this API is in `Location`.",
                        answer,
                        headers={
                            "Location": {"required": True, "schema": STRING},
                            **ETAG_HEADER,
                        },
                    ),
                    s404=NOT_FOUND,
                    s413=too_large,
                    s422=invalid,
                ),
            },
        },
        f"/api/{{conference}}/{many}/{{{one}}}": {
            "parameters": [
                CONFERENCE_PARAMETER,
                {
                    "name": one,
                    "in": "path",
                    "required": True,
                    "description": f"The {one}'s slug.",
                    "schema": STRING,
                },
            ],
            "get": {
                "operationId": f"get{title}",
                "summary": f"Organisers: one {one}, with its version as the ETag",
                "security": BEARER,
                "responses": _editor_responses(
                    s200=_json_response(f"The {one}.", answer, headers=ETAG_HEADER),
                    s404=not_found,
                ),
            },
            "patch": {
                "operationId": f"change{title}",
                "summary": f"Organisers: change a {one}",
                "security": BEARER,
                "parameters": [IF_MATCH_PARAMETER],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref(change_schema)}},
                },
                "responses": _editor_responses(
                    s200=_json_response(
                        f"Saved (or nothing to change); the {one} as it is now.",
                        answer,
                        headers=ETAG_HEADER,
                    ),
                    s404=not_found,
                    s409=conflict,
                    s412=PRECONDITION_FAILED,
                    s413=too_large,
                    s422=invalid,
                ),
            },
            "delete": {
                "operationId": f"delete{title}",
                "summary": f"Organisers: delete a {one}",
                "security": BEARER,
                "parameters": [IF_MATCH_PARAMETER],
                "responses": _editor_responses(
                    s200=_json_response(
                        deleted, "SessionDeleted" if one == "session" else "Deleted"
                    ),
                    s404=not_found,
                    s409=_json_response(delete_conflict, f"{schemas}DeleteConflict"),
                    s412=PRECONDITION_FAILED,
                ),
            },
        },
    }


SCHEMAS.update(
    {
        "SessionDeleteConflict": ref("SessionConflict"),
        **{
            f"{stem}DeleteConflict": {"oneOf": [ref(f"{stem}Conflict"), ref("InUse")]}
            for stem in ("Speaker", "Room", "Track")
        },
    }
)
_IN_USE = "A version conflict (as for PATCH), or sessions still use it (`in_use`)."
PATHS.update(
    {
        **_editor_paths(
            "sessions",
            "session",
            "in programme order, drafts and cancelled ones included",
            "Session",
            "Before the programme is published the session is deleted; after, it is "
            "cancelled (`result` says which), so calendars that hold it are told.",
            "A version conflict (as for PATCH); nothing changed.",
        ),
        **_editor_paths(
            "speakers", "speaker", "by name, billed or not", "Speaker", "Deleted.", _IN_USE
        ),
        **_editor_paths("rooms", "room", "in column order", "Room", "Deleted.", _IN_USE),
        **_editor_paths("tracks", "track", "in order", "Track", "Deleted.", _IN_USE),
        "/api/{conference}/programme/publish": {
            "parameters": [CONFERENCE_PARAMETER],
            "post": {
                "operationId": "publishProgramme",
                "summary": "Organisers: publish the programme the first time; after that, publish "
                "its working copy's pending changes as one release",
                "security": BEARER,
                "requestBody": {
                    "required": False,
                    "content": {JSON: {"schema": ref("PublishRequest")}},
                },
                "responses": _editor_responses(
                    s200=_json_response(
                        "Published (`release` is null when nothing was pending).", "Published"
                    ),
                    s404=NOT_FOUND,
                    s409=_json_response(
                        "The changes would make new clashes public.", "PublishClashes"
                    ),
                    s422=_json_response("A field of the request needs fixing.", "Invalid"),
                ),
            },
        },
        "/api/{conference}/programme/pending": {
            "parameters": [CONFERENCE_PARAMETER],
            "get": {
                "operationId": "pendingChanges",
                "summary": "Organisers: what the working copy holds that is not public yet",
                "security": BEARER,
                "responses": _editor_responses(
                    s200=_json_response("The pending changes.", "PendingChanges"),
                    s404=NOT_FOUND,
                ),
            },
            "delete": {
                "operationId": "discardPendingChanges",
                "summary": "Organisers: discard every pending change (the public programme "
                "stays as it is)",
                "security": BEARER,
                "responses": _editor_responses(
                    s200=_json_response("Discarded.", "Discarded"),
                    s404=NOT_FOUND,
                ),
            },
        },
    }
)


# --- The door (stewards and organisers) ---------------------------------------------------------

CHECKIN_RESULTS = ["admitted", "already_admitted", "cancelled", "invalid", "wrong_conference"]
PAYMENT_STATUSES = [status.value for status in PaymentStatus]
UNPAID_AT_DOOR = [choice.value for choice in UnpaidAtDoor]
SCHEMAS.update(
    {
        "CheckinResult": _all_required(
            {
                "result": {
                    "enum": CHECKIN_RESULTS,
                    "description": "`admitted`: let them in. `already_admitted`: someone was "
                    "let in on this ticket before (`admitted_at`, `by`). `cancelled`: the "
                    "ticket was cancelled or its holder's data erased. `invalid`: not a ticket "
                    "(forged, tampered, truncated, unknown). `wrong_conference`: a genuine "
                    "ticket for another conference.",
                },
                "attendee": {
                    "oneOf": [
                        _all_required({"name": STRING, "ticket_type": STRING}),
                        {"type": "null"},
                    ],
                    "description": "Null when invalid, for another conference, or erased.",
                },
                "admitted_at": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "When the standing check-in let them in, in the "
                    "conference's zone.",
                },
                "by": {
                    "type": ["string", "null"],
                    "description": "Who let them in (an account's e-mail address).",
                },
                "ticket_code": {
                    "type": ["string", "null"],
                    "description": "The ticket code, grouped (ABCD-EFGH-IJKLM); null when "
                    "invalid or for another conference.",
                },
                "payment_status": {
                    "enum": [*PAYMENT_STATUSES, None],
                    "description": "The ticket's payment: `unpaid`, `paid`, `waived` (nothing "
                    "to pay) or `refunded`; null when invalid, for another conference, or "
                    "erased.",
                },
                "unpaid_at_door": {
                    "enum": UNPAID_AT_DOOR,
                    "description": "What the door says when it admits an unpaid ticket, as the "
                    "conference's organisers chose: `desk` (send them to the desk), `collect` "
                    "(take the payment now) or `silent` (nothing).",
                },
                "other_conference": {
                    "type": ["string", "null"],
                    "description": "For `wrong_conference`: the name of the conference the "
                    "ticket is for, when this server holds it; else null.",
                },
            }
        ),
        "DoorUnpaidTickets": _all_required(
            {
                "conference_id": INTEGER,
                "unpaid_at_door": {"enum": UNPAID_AT_DOOR},
                "unpaid": {
                    "type": "array",
                    "items": STRING,
                    "description": "Codes (ABCD-EFGH-IJKLM) of the active tickets not yet "
                    "paid; empty when `unpaid_at_door` is `silent`.",
                },
            }
        ),
        "CheckinSyncResults": _all_required(
            {
                "results": {
                    "type": "array",
                    "items": ref("CheckinResult"),
                    "description": "One per admission sent, in the same order.",
                }
            }
        ),
        "CheckinUndone": _all_required({"result": {"const": "undone"}}),
        "DoorSearch": _all_required(
            {
                "matches": {
                    "type": "array",
                    "maxItems": 20,
                    "items": _all_required(
                        {
                            "ticket_code": STRING,
                            "name": STRING,
                            "ticket_type": STRING,
                            "status": REGISTRATION_STATUS,
                            "admitted_at": {"type": ["string", "null"], "format": "date-time"},
                        }
                    ),
                }
            }
        ),
        "DoorStats": _all_required(
            {
                "admitted": INTEGER,
                "expected": {
                    "type": "integer",
                    "description": "Active tickets (not cancelled or erased).",
                },
                "ticket_types": {
                    "type": "array",
                    "items": _all_required(
                        {"code": STRING, "name": STRING, "admitted": INTEGER, "expected": INTEGER}
                    ),
                },
                "conflicts": {
                    "type": "integer",
                    "description": "Offline admissions of tickets already admitted (or "
                    "cancelled), not yet resolved.",
                },
                "updated_at": DATE_TIME,
            }
        ),
    }
)


def _door_responses(**by_status: dict[str, Any]) -> dict[str, Any]:
    return _responses(**({"s401": UNAUTHORIZED, "s403": FORBIDDEN, "s404": NOT_FOUND} | by_status))


_DOOR_BODY_REFUSED = {
    "s400": _json_response("The body is not a JSON object.", "Error"),
    "s413": _json_response("The body is too large.", "TooLarge"),
    "s422": _json_response("Some fields need fixing; nobody was admitted.", "Invalid"),
}
PATHS.update(
    {
        "/api/{conference}/checkins": {
            "parameters": [CONFERENCE_PARAMETER],
            "post": {
                "operationId": "admitTicket",
                "summary": "Stewards: admit the ticket a scan or a typed code names, once",
                "security": BEARER,
                "requestBody": {"required": True, "content": {JSON: {"schema": ref("Checkin")}}},
                "responses": _door_responses(
                    s200=_json_response(
                        "The answer for the door, whatever the ticket: read `result`.",
                        "CheckinResult",
                    ),
                    **_DOOR_BODY_REFUSED,
                ),
            },
        },
        "/api/{conference}/checkins/sync": {
            "parameters": [CONFERENCE_PARAMETER],
            "post": {
                "operationId": "syncOfflineAdmissions",
                "summary": "Stewards: the admissions a door device made offline; a ticket "
                "already admitted elsewhere is kept as a conflict for organisers and answered "
                "`already_admitted`; sending a batch again changes nothing",
                "security": BEARER,
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("CheckinSync")}},
                },
                "responses": _door_responses(
                    s200=_json_response("One answer per admission.", "CheckinSyncResults"),
                    **_DOOR_BODY_REFUSED,
                ),
            },
        },
        "/api/{conference}/checkins/{ticket_code}": {
            "parameters": [
                CONFERENCE_PARAMETER,
                {
                    "name": "ticket_code",
                    "in": "path",
                    "required": True,
                    "description": "The ticket code, any case, dashes optional.",
                    "schema": {"type": "string", "examples": ["ABCD-EFGH-IJKLM"]},
                },
            ],
            "delete": {
                "operationId": "undoCheckin",
                "summary": "Organisers: undo a ticket's check-in (audited), so it admits again",
                "security": BEARER,
                "responses": _door_responses(
                    s200=_json_response("Undone.", "CheckinUndone"),
                    s404=_json_response(
                        "No such conference, or no ticket of it with this code.", "NotFound"
                    ),
                    s409=_json_response("The ticket is not checked in; nothing changed.", "Error"),
                ),
            },
        },
        "/api/{conference}/door/search": {
            "parameters": [CONFERENCE_PARAMETER],
            "get": {
                "operationId": "doorSearch",
                "summary": "Stewards: find a ticket without the camera, by part of a name or "
                "the start of a code (erased records are not found)",
                "security": BEARER,
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 2, "maxLength": 100},
                    }
                ],
                "responses": _door_responses(
                    s200=_json_response("Up to 20 tickets, by name.", "DoorSearch"),
                    s422=_json_response("Too short or too long to search for.", "Invalid"),
                ),
            },
        },
        "/api/{conference}/door/unpaid-tickets": {
            "parameters": [CONFERENCE_PARAMETER],
            "get": {
                "operationId": "doorUnpaidTickets",
                "summary": "Stewards: the unpaid tickets a door device keeps, so that offline "
                "it says what the server would about payment",
                "security": BEARER,
                "responses": _door_responses(
                    s200=_json_response("The unpaid tickets now.", "DoorUnpaidTickets")
                ),
            },
        },
        "/api/{conference}/door/stats": {
            "parameters": [CONFERENCE_PARAMETER],
            "get": {
                "operationId": "doorStats",
                "summary": "Organisers: admitted against expected, in all and per ticket type",
                "security": BEARER,
                "responses": _door_responses(
                    s200=_json_response("The door's counts now.", "DoorStats")
                ),
            },
        },
    }
)


SCHEMAS.update(
    {
        "SessionDoor": _all_required(
            {
                "full": {"type": "boolean"},
                "full_since": {"type": ["string", "null"], "format": "date-time"},
                "headcount": INTEGER,
                "overflow_room": {
                    "oneOf": [_all_required({"slug": STRING, "name": STRING}), {"type": "null"}]
                },
            }
        ),
    }
)
PATHS.update(
    {
        "/api/{conference}/sessions/{session}/door": {
            "parameters": [
                CONFERENCE_PARAMETER,
                {
                    "name": "session",
                    "in": "path",
                    "required": True,
                    "description": "The session's id.",
                    "schema": {"type": "string"},
                },
            ],
            "post": {
                "operationId": "changeSessionDoor",
                "summary": "Stewards and organisers: mark a session's room full or not, "
                "and keep its headcount",
                "description": "Shown at once on the public programme and session page; never "
                "changes the programme's version or its feeds.",
                "security": BEARER,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("SessionDoorChange")}},
                },
                "responses": _door_responses(
                    s200=_json_response("The door now.", "SessionDoor"),
                    s400=_json_response("The body is not a JSON object.", "Error"),
                    s413=_json_response("The body is too large.", "TooLarge"),
                    s422=_json_response("Nothing to change, or a value out of range.", "Invalid"),
                ),
            },
        },
    }
)


# --- Group orders and Stripe's webhook ----------------------------------------------------------

_LONGEST_PAYER_NAME = 200  # as confapp.registration.group_form checks it
SCHEMAS.update(
    {
        "GroupRegistration": {
            "type": "object",
            "required": ["email", "attendees"],
            "additionalProperties": False,
            "properties": {
                "payer_name": {
                    "type": "string",
                    "maxLength": _LONGEST_PAYER_NAME,
                    "description": "Who pays, a person or an organisation (a union branch), as "
                    "the receipt names them; the first attendee's name if left out.",
                },
                "email": {
                    "type": "string",
                    "maxLength": registration_form.MAX_EMAIL,
                    "description": "The payer's address: the order's page and its payment mail "
                    "go there, and the ticket of any attendee given no address of their own.",
                },
                "payment_method": {
                    "enum": PAYMENT_METHODS,
                    "description": "How the order is paid, one of the conference's methods "
                    "(`payment_methods` in ticket-types); needed when the tickets cost something "
                    "and it offers more than one. `stripe` and `bank_transfer` hold every "
                    "attendee's place as `reserved` until paid.",
                },
                "attendees": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": registration_service.MOST_IN_A_GROUP,
                    "items": ref("GroupAttendee"),
                    "description": "One ticket each, all or none: if one type sells out, "
                    "nobody is registered. A refusal names an attendee's field by its path, "
                    "counting from 1: `attendees.2.email`.",
                },
            },
            "description": "Several people registered at once and paid for by one order.",
            "examples": [
                {
                    "payer_name": "CFMEU Victorian branch",
                    "email": "branch@example.org",
                    "payment_method": "desk",
                    "attendees": [
                        {"name": "Ana", "email": "ana@example.org", "ticket_type": "waged"},
                        {"name": "Chen", "ticket_type": "pay-what-you-can", "amount": "30"},
                    ],
                }
            ],
        },
        "GroupAttendee": {
            "type": "object",
            "required": ["name", "ticket_type"],
            "additionalProperties": False,
            "properties": {
                "name": {
                    "type": "string",
                    "maxLength": registration_form.MAX_NAME,
                    "description": "A first name or an alias is fine.",
                },
                "email": {
                    "type": "string",
                    "maxLength": registration_form.MAX_EMAIL,
                    "description": "Where their ticket is sent; the payer's address if left out.",
                },
                "ticket_type": {"type": "string", "description": "A `code` from ticket-types."},
                "amount": {
                    "type": ["string", "number"],
                    "description": "For pay-what-you-can tickets, like `25` or `42.50`.",
                },
            },
        },
        "GroupOrder": _all_required(
            {
                **SCHEMAS["Order"]["properties"],
                "url": {
                    "type": "string",
                    "format": "uri",
                    "description": "The payer's secret link to the order's page: its payment, "
                    "receipts and tickets. Shown once: keep it.",
                },
            },
            description="What the group costs and how to pay it. Paid at the desk it is "
            "`reserved` with no `hold_until`; with nothing to pay, `paid`.",
        ),
        "GroupRegistered": _all_required(
            {
                "order": ref("GroupOrder"),
                "tickets": {
                    "type": "array",
                    "items": ref("Ticket"),
                    "description": "One per attendee, in the order given; each goes to its "
                    "attendee by e-mail once the order is paid (at once, at the desk).",
                },
            }
        ),
        "StripeEvent": {
            "type": "object",
            "required": ["id", "type", "data"],
            "properties": {
                "id": STRING,
                "type": {"type": "string", "examples": ["checkout.session.completed"]},
                "data": _obj(["object"], {"object": {"type": "object"}}),
            },
            "description": "An event as Stripe sends it. Checkout sessions completed, "
            "failed or expired, and refunds, are acted on; any other is acknowledged.",
        },
        "StripeWebhookReceipt": _all_required(
            {
                "received": {
                    "type": "boolean",
                    "description": "Whether the event was taken (true with 200).",
                },
                "detail": {
                    "type": "string",
                    "description": "What became of it, for Stripe's log of deliveries: such as "
                    "`paid`, `duplicate`, `not ours`, `ignored`; `signature` for a bad "
                    "signature, `busy` or `stripe` for a delivery to try again.",
                },
            }
        ),
        "StripeWebhookRefused": {
            "anyOf": [ref("StripeWebhookReceipt"), ref("Error")],
            "description": "A bad signature (`received` false), or a request refused before "
            "the webhook read it.",
        },
    }
)

# The webhook is not under /api/: what refuses a request before it (a bad Host header, a body
# too large) answers JSON only to a request that accepts it, else a page or plain text.
_PAGE = {"schema": STRING}
PATHS.update(
    {
        "/api/{conference}/orders": {
            "parameters": [CONFERENCE_PARAMETER],
            "post": {
                "operationId": "registerGroup",
                "summary": "Register several people at once, paid for by one order; each "
                "attendee gets their own ticket",
                "description": "Paid online (`stripe` or `bank_transfer`) every place is held "
                "as `reserved` until the order is paid, and the tickets are mailed then; paid "
                "at the desk (or free), the tickets are `active` and mailed at once.",
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("GroupRegistration")}},
                },
                "responses": _responses(
                    s201=_json_response(
                        "Registered. The order's page is in `Location`.",
                        "GroupRegistered",
                        headers={
                            "Location": {
                                "required": True,
                                "schema": {"type": "string", "format": "uri"},
                            }
                        },
                    ),
                    s400=_json_response("The body is not a JSON object.", "Error"),
                    s404=NOT_FOUND,
                    s409=_json_response(
                        "A ticket type sold out (`sold_out`), or registration has closed "
                        "(`registration_closed`). Nobody was registered.",
                        "Conflict",
                    ),
                    s413=_json_response("The body is too large.", "TooLarge"),
                    s422=_json_response(
                        "Some fields need fixing, named by path (`attendees.2.email`); nobody "
                        "was registered.",
                        "Invalid",
                    ),
                    s429=_THROTTLED,
                ),
            },
        },
        "/payments/stripe/webhook": {
            "post": {
                "operationId": "stripeWebhook",
                "summary": "For Stripe only: the events of the conferences' Stripe accounts",
                "description": "Set in each conference's Stripe account as its webhook "
                "endpoint; no use to anyone else. Only events signed with a conference's "
                "webhook secret are read. A payment settled here confirms its places and mails "
                "the tickets; an event delivered again changes nothing.",
                "parameters": [
                    {
                        "name": "Stripe-Signature",
                        "in": "header",
                        "required": True,
                        "description": "Stripe's signature of the body, with a webhook secret.",
                        "schema": STRING,
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("StripeEvent")}},
                },
                "responses": {
                    "200": _json_response(
                        "Taken (or already had, or not ours).", "StripeWebhookReceipt"
                    ),
                    "400": {
                        "description": "The signature is not a conference's (`received` "
                        "false); or a bad Host header (plain text), or a malformed request.",
                        "content": {
                            JSON: {"schema": ref("StripeWebhookRefused")},
                            "text/plain": _PAGE,
                            "text/html": _PAGE,
                        },
                    },
                    "413": {
                        "description": "The body is too large.",
                        "content": {JSON: {"schema": ref("TooLarge")}, "text/html": _PAGE},
                    },
                    "503": _json_response(
                        "Busy, or Stripe could not be asked about the event: Stripe delivers "
                        "it again later.",
                        "StripeWebhookReceipt",
                        headers={
                            "Retry-After": {
                                "required": True,
                                "description": "Seconds.",
                                "schema": {"type": "integer", "minimum": 1},
                            }
                        },
                    ),
                },
            },
        },
    }
)


# --- Components generated from the models that check input (confapp.programme.documents) ----


def tidy_schema(schema: Any, in_properties: bool = False) -> Any:
    """A pydantic schema without the titles it gives every model and field (the component's
    name says it), nor the `"default": null` of fields one may leave out (not every such
    field may be null)."""
    if isinstance(schema, list):
        return [tidy_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: tidy_schema(value, in_properties=key == "properties" and not in_properties)
        for key, value in schema.items()
        if in_properties
        or not ((key == "title" and isinstance(value, str)) or (key == "default" and value is None))
    }


def generated_components(*models: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
    """Each model's JSON schema as a component, with the models it holds beside it."""
    components: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode=mode)
        for name, nested in schema.pop("$defs", {}).items():
            components[name] = tidy_schema(nested)
        components[model.__name__] = tidy_schema(schema)
    return components


REF_TEMPLATE = "#/components/schemas/{model}"
SCHEMAS.update(
    generated_components(
        documents.Room,
        documents.Track,
        documents.Speaker,
        documents.Session,
        documents.OrganiserRoom,
        documents.OrganiserTrack,
        documents.OrganiserSpeaker,
        documents.OrganiserSession,
        mode="serialization",
    )
)
SCHEMAS.update(
    generated_components(
        documents.NewSession,
        documents.SpeakerInput,
        documents.RoomInput,
        documents.TrackInput,
        mode="validation",
    )
)
_NEW_SESSION = SCHEMAS["NewSession"]
SCHEMAS["SessionChange"] = {
    **{key: value for key, value in _NEW_SESSION.items() if key != "required"},
    "properties": {
        **{key: value for key, value in _NEW_SESSION["properties"].items() if key != "slug"},
        "version": SCHEMAS["SpeakerInput"]["properties"]["version"],
    },
    "description": "Any of the fields; those left out stay as they are.",
    "examples": [{"start": "2027-07-10T14:00:00+10:00", "end": "2027-07-10T15:30:00+10:00"}],
}
_NEW_SESSION["examples"] = [
    {
        "title": "Organising the unorganised",
        "start": "2027-07-10T09:30:00+10:00",
        "end": "2027-07-10T11:00:00+10:00",
        "room": "main-hall",
        "people": [{"speaker": "rosa-luxemburg", "role": "speaker"}],
    }
]
for _input in ("SpeakerInput", "RoomInput", "TrackInput"):
    del SCHEMAS[_input]["required"]  # creating needs a name; a change takes any of the fields
SCHEMAS.update(
    generated_components(
        registration_form.RegistrationInput,
        registration_desk.RegistrationChange,
        door_bodies.Checkin,
        door_bodies.CheckinSync,
        door_bodies.SessionDoorChange,
        mode="validation",
    )
)
SCHEMAS["Checkin"]["examples"] = [
    {"scan": "https://example.org/tickets/AgE...", "device": "door-3"}
]
SCHEMAS["Registration"] = SCHEMAS.pop("RegistrationInput")
SCHEMAS["Registration"]["examples"] = [
    {
        "name": "Rosa",
        "email": "rosa@example.org",
        "ticket_type": "pay-what-you-can",
        "amount": "25",
        "solidarity_topup": "10",
        "access_needs": "",
        "childcare": {"children": 1, "ages": "4"},
        "email_consent": True,
    },
    {
        "name": "Ana",
        "email": "ana@example.org",
        "ticket_type": "waged",
        "payment_method": "bank_transfer",
    },
]
SCHEMAS["SpeakerInput"]["examples"] = [{"name": "Rosa Luxemburg", "pronouns": "she/her"}]
SCHEMAS["RoomInput"]["examples"] = [{"name": "Main hall", "capacity": 400, "step_free": True}]
SCHEMAS["TrackInput"]["examples"] = [{"name": "Climate", "colour": "#2e7d32"}]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "confapp",
        "version": __version__,
        "description": "The JSON API of a confapp site: the programme, ticket types, "
        "registration (one person, or a group paid for by one order), and what door devices "
        "need to check tickets offline; and, for organisers, the registrations desk and the "
        "programme editor. Stripe's webhook is here too, for Stripe only. "
        "Errors are JSON objects with an `error` word and, mostly, a `detail` for people.",
        "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": {
            "BadRequest": _json_response(
                "A malformed request, such as a bad Host header.", "Error"
            ),
            "NotFound": _json_response("There is no conference with this slug.", "NotFound"),
            "Unauthorized": _json_response(
                "No valid API token or signed-in session.",
                "Error",
                headers={"WWW-Authenticate": {"required": True, "schema": STRING}},
            ),
            "Forbidden": _json_response(
                "Signed in, but without a role that may do this at this conference (or, from "
                "a browser, without the X-CSRF-Token header).",
                "Error",
            ),
        },
        "securitySchemes": {
            "bearerToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token from `confapp token add EMAIL`, with its user's "
                "roles. A signed-in browser's session works too; its POST, PATCH and DELETE "
                "requests must send the session's CSRF token as X-CSRF-Token.",
            }
        },
    },
}


def openapi_json(request: Request) -> Response:
    return JSONResponse(OPENAPI)


routes = [Route("/api/openapi.json", openapi_json, name="openapi")]
