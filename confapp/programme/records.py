"""What a room, track, speaker and session may hold: each field's type and limits, written once.

The conference file's specs (`conference_file.py`) extend these models with their keys; the
editor's forms and the JSON API check what they are sent against them field by field
(`check_fields`, used by `editing.py`); the OpenAPI document's components are generated from
them (`model_json_schema`). So a record one of them accepts, the others accept too: a track
loaded from a file can be saved again unchanged in the back office.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from functools import cache
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from confapp.links import link_problem
from confapp.translation import (
    N_,
    _,
    has_catalogue,
    language_name_for_reader,
    normal_tag,
    shipped_languages,
)

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
# Bounds that keep places, positions and cents within the database's 32-bit integers.
MAX_PLACES = 1_000_000
MAX_TEXT = 20_000
MAX_LINK = 500
MAX_LINKS = 20
# The editor's day view and the programme's pages have a page a day: a month at most.
MAX_CONFERENCE_DAYS = 31
TOO_MANY_DAYS = N_("a conference may last at most a month")
SessionKind = Literal["talk", "panel", "debate", "workshop", "plenary", "social"]
SessionStatus = Literal["confirmed", "cancelled"]
SESSION_KINDS: tuple[str, ...] = get_args(SessionKind)
SESSION_STATUSES: tuple[str, ...] = get_args(SessionStatus)


DaysProblem = Literal["ends_before_it_starts", "too_many_days", "one_hour_only", "hours_backwards"]


def conference_days_problems(
    start_date: date, end_date: date, day_starts: time | None, day_ends: time | None
) -> dict[str, DaysProblem]:
    """What is wrong with a conference's days and daily hours, by the field to blame: the one
    rule the conference file and the editor both check (each words it for its reader). A lone
    daily hour is blamed on the one left out."""
    problems: dict[str, DaysProblem] = {}
    if end_date < start_date:
        problems["end_date"] = "ends_before_it_starts"
    elif (end_date - start_date).days > MAX_CONFERENCE_DAYS:
        problems["end_date"] = "too_many_days"
    if (day_starts is None) != (day_ends is None):
        problems["day_ends" if day_ends is None else "day_starts"] = "one_hour_only"
    elif day_starts is not None and day_ends is not None and day_ends <= day_starts:
        problems["day_ends"] = "hours_backwards"
    return problems


def _none_as_empty(value: Any) -> Any:
    # A JSON null for a text field means "nothing": the same as "".
    return "" if value is None else value


def _refuse_unsafe_link(url: str) -> str:
    problem = link_problem(url)
    if problem is not None:
        shown = url if len(url) <= 80 else url[:77] + "..."
        raise PydanticCustomError("unsafe_link", "{problem}", {"problem": f"{shown!r}: {problem}"})
    return url


def _refuse_unsafe_link_if_any(url: str) -> str:
    return _refuse_unsafe_link(url) if url else url


# "new" is the address of the back office's page that adds a record (…/rooms/new,
# …/ticket-types/new), so no record may be called that.
TAKEN_BY_PAGES = frozenset({"new"})


def _not_taken_by_a_page(slug: str) -> str:
    if slug in TAKEN_BY_PAGES:
        raise PydanticCustomError(
            "taken_by_a_page", "“{slug}” is the address of a back-office page", {"slug": slug}
        )
    return slug


Slug = Annotated[StrictStr, StringConstraints(pattern=SLUG_PATTERN, max_length=80)]
SessionSlug = Annotated[StrictStr, StringConstraints(pattern=SLUG_PATTERN, max_length=120)]
RecordKey = Annotated[Slug, AfterValidator(_not_taken_by_a_page)]
SessionKey = Annotated[SessionSlug, AfterValidator(_not_taken_by_a_page)]


# Free text; null counts as empty. Each length below is its own alias, so a type checker sees a
# type (a function returning Annotated[...] would be only a value to it).
_NullAsEmpty = Annotated[StrictStr, BeforeValidator(_none_as_empty)]
LongText = Annotated[_NullAsEmpty, StringConstraints(max_length=MAX_TEXT)]
Pronouns = Annotated[_NullAsEmpty, StringConstraints(max_length=50)]
Affiliation = Annotated[_NullAsEmpty, StringConstraints(max_length=200)]
# A name: something besides spaces, at most 200 characters (a session's title, 300).
Name = Annotated[
    _NullAsEmpty, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)
]
Title = Annotated[
    _NullAsEmpty, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)
]
Places = Annotated[StrictInt, Field(ge=0, le=MAX_PLACES)]
Position = Annotated[StrictInt, Field(ge=0, le=MAX_PLACES)]
Colour = Annotated[StrictStr, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
# Every address becomes a link on a page, so only http(s) and mailto ones are let in (the
# rule is confapp.links, shared with anything else that stores links).
Link = Annotated[
    StrictStr, StringConstraints(max_length=MAX_LINK), AfterValidator(_refuse_unsafe_link)
]
OptionalLink = Annotated[
    StrictStr, StringConstraints(max_length=MAX_LINK), AfterValidator(_refuse_unsafe_link_if_any)
]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoomPublicFields(Record):
    name: Name
    capacity: Places | None = Field(None, description="Seats; null: not known.")
    access_notes: LongText = ""


class RoomFields(RoomPublicFields):
    step_free: StrictBool | None = Field(
        None, description="Whether the room has step-free access; null: nobody has said."
    )


class TrackFields(Record):
    name: Name
    colour: Colour = Field("#555555", examples=["#b22222"])
    description: LongText = ""


class SpeakerPublicFields(Record):
    name: Name
    bio: LongText = ""
    pronouns: Pronouns = ""
    affiliation: Affiliation = ""
    links: Annotated[list[Link], Field(max_length=MAX_LINKS)] = []


NEEDS_STEP_FREE = (
    "Organisers' data only, never public: billed in a room that is not step-free, the session "
    "has a `not_step_free` clash."
)


class SpeakerFields(SpeakerPublicFields):
    # Organisers' data only: never on a public page, feed or the programme JSON.
    needs_step_free: StrictBool = Field(False, description=NEEDS_STEP_FREE)


class SessionFields(Record):
    """A session's own fields; its times, room, track and people are references the editor
    and the file each resolve their own way."""

    title: Title
    kind: SessionKind = "talk"
    abstract: LongText = ""
    language: Annotated[StrictStr, StringConstraints(min_length=2, max_length=20)] = "en"
    status: SessionStatus = "confirmed"


class ConferenceTexts(Record):
    """A conference's own words that may be given per language (the rest of it is in the
    conference file's spec)."""

    name: Name
    description: LongText = ""


TicketKind = Literal["fixed", "pay_what_you_can", "free"]
TICKET_KINDS: tuple[str, ...] = get_args(TicketKind)
MAX_PRICE = 1_000_000  # in the currency's units: 100,000,000 cents


class TicketTypeFields(Record):
    """A ticket type's own fields; its prices are amounts a file gives in units and the back
    office's form as typed text, both within 0..MAX_PRICE."""

    code: Annotated[
        StrictStr,
        StringConstraints(pattern=SLUG_PATTERN, max_length=40),
        AfterValidator(_not_taken_by_a_page),
    ]
    name: Name
    kind: TicketKind = "fixed"
    capacity: Places | None = None
    description: LongText = ""
    from_solidarity_pool: StrictBool = False
    requires_voucher: StrictBool = False


class WithPosition(Record):
    """Rooms and tracks are ordered by position in the editor (a file orders them as listed)."""

    position: Position | None = Field(None, description="Orders the list; null counts as 0.")


def longest(model: type[BaseModel], field: str) -> int:
    """The most characters (or items) a field of `model` may hold."""
    schema = model.model_json_schema()["properties"][field]
    for option in (schema, *schema.get("anyOf", ())):
        for limit in ("maxLength", "maxItems"):
            if limit in option:
                return int(option[limit])
    raise LookupError(f"{model.__name__}.{field} has no length limit")


# ---- checking what the editor and the API are sent ----------------------------------------


class FieldReason(str):
    """A reason worded to follow its field's name ("must not be empty": "Title must not be
    empty."), as opposed to one that is a sentence of its own ("there is no room “x”"). A form
    tells the two apart by this type: their words, in the reader's language, cannot tell."""


def _reasons(field: str) -> str | None:
    """A reason per field where the generic one would not help the person who typed it."""
    if field == "colour":
        return FieldReason(_("must be a colour like #c0392b"))
    if field == "links":
        return FieldReason(
            _("must be a list of at most %(count)d web addresses starting with https://")
            % {"count": MAX_LINKS}
        )
    return None


@cache
def _adapter(model: type[Record], field: str) -> TypeAdapter[Any]:
    info: FieldInfo = model.model_fields[field]
    annotation = info.annotation
    assert annotation is not None  # a model's fields all have one once it is built
    if not info.metadata:
        return TypeAdapter(annotation)
    # A type made at run time, which a type checker cannot follow: hence Any.
    with_metadata: Any = Annotated[annotation, *info.metadata]
    return TypeAdapter(with_metadata)


def _nullable(model: type[Record], field: str) -> bool:
    try:
        _adapter(model, field).validate_python(None)
    except ValidationError:
        return False
    return True


def _reason(model: type[Record], field: str, refused: ValidationError) -> str:
    """The first problem with a field's value, as the fragment the editor shows after its
    label ("must be at most 200 characters")."""
    special = _reasons(field)
    if special is not None:
        return special
    error = refused.errors()[0]
    kind, ctx = error["type"], error.get("ctx", {})
    nullable = _nullable(model, field)
    if kind == "string_type":
        return FieldReason(_("must be text"))
    if kind in {"string_too_short", "too_short"}:
        least = ctx.get("min_length", 1)
        if least == 1:
            return FieldReason(_("must not be empty"))
        return FieldReason(_("must be at least %(count)d characters") % {"count": least})
    if kind in {"string_too_long", "too_long"}:
        return FieldReason(_("must be at most %(count)d characters") % {"count": ctx["max_length"]})
    if kind == "bool_type":
        if nullable:
            return FieldReason(_("must be true or false or null"))
        return FieldReason(_("must be true or false"))
    if kind in {"int_type", "int_parsing", "greater_than_equal", "less_than_equal"}:
        if nullable:
            return FieldReason(
                _("must be a whole number from 0 to %(most)d, or null") % {"most": MAX_PLACES}
            )
        return FieldReason(_("must be a whole number from 0 to %(most)d") % {"most": MAX_PLACES})
    if kind == "literal_error":
        return FieldReason(
            _("must be one of: %(choices)s") % {"choices": ", ".join(_choices(model, field))}
        )
    if kind == "string_pattern_mismatch":
        return FieldReason(_("must be lower-case letters, digits and dashes"))
    return str(error["msg"])


def _choices(model: type[Record], field: str) -> tuple[str, ...]:
    annotation = model.model_fields[field].annotation
    return tuple(getattr(annotation, "__args__", ()))


def check_fields(
    model: type[Record], data: dict[str, Any], *, creating: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values of the fields given, checked against `model` one by one (a change sends
    only some), and a reason per refused field. Creating, a required field left out is refused
    too. Fields the model does not hold are left for the caller."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field, value in data.items():
        if field not in model.model_fields:
            continue
        try:
            values[field] = _adapter(model, field).validate_python(value)
        except ValidationError as refused:
            errors[field] = _reason(model, field, refused)
    if creating:
        for field, info in model.model_fields.items():
            if info.is_required() and field not in data:
                errors[field] = FieldReason(_("is required"))
    return values, errors


# ---- organisers' words in the conference's other languages --------------------------------

Translations = dict[str, dict[str, str]]


def translation_key(language: str, field: str) -> str:
    """What a translated text is called in a form and in a refusal: "translations.es.title"."""
    return f"translations.{language}.{field}"


@dataclass(frozen=True)
class FormFields(Collection[str]):
    """The names a form may send: `fields`, and a per-language field (`translation_key`) of
    each of `translated` in any language, since which languages a conference has is known
    only once its form is read. A language it does not have is refused by check_translations."""

    fields: tuple[str, ...]
    translated: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ("",)  # ("", "was_"): a form that also echoes what it showed

    def __contains__(self, name: object) -> bool:
        if name in self.fields:
            return True
        if not isinstance(name, str):
            return False
        for prefix in self.prefixes:
            key = prefix + "translations."
            if name.startswith(key):
                language, _dot, field = name.removeprefix(key).rpartition(".")
                return field in self.translated and 0 < len(language) <= 20
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)


def translation_keys(translated: Sequence[str], languages: Sequence[str]) -> list[str]:
    return [translation_key(language, field) for language in languages for field in translated]


def translation_values(row: Any, languages: Sequence[str]) -> dict[str, str]:
    """A record's texts in `languages` as its form's per-language fields hold them."""
    stored: Translations = row.translations or {}
    return {
        translation_key(language, field): stored.get(language, {}).get(field, "")
        for language in languages
        for field in row.TRANSLATED
    }


def field_and_reason(label: str, reason: str) -> str:
    """A field's name and a reason worded to follow it, as one sentence ("Title must not be
    empty"): a message of its own, so that a language can put the two its own way."""
    # Translators: a field's name, then what is wrong with its value ("Title" "must not be
    # empty", "The first day" "must be on or after..."). The reason is worded to follow it.
    return _("%(field)s %(reason)s") % {"field": label, "reason": reason}


def translated_field_label(key: str, labels: Mapping[str, str]) -> str:
    """What a per-language field is called, "Access notes in Spanish" for the key
    "translations.es.access_notes", from what the form calls its fields (marked N_)."""
    language, _dot, field = key.removeprefix("translations.").rpartition(".")
    if field not in labels or not language:
        return _("Translations")
    return _("%(field)s in %(language)s") % {
        "field": _(labels[field]),
        "language": language_name_for_reader(language),
    }


def translations_in_form(
    form: Mapping[str, str], translated: Sequence[str], languages: Sequence[str]
) -> Translations:
    """The texts of a form's per-language fields (`translation_key` names them), as the
    `translations` value an edit takes: every language, a left-empty field as ""."""
    return {
        language: {field: form.get(translation_key(language, field), "") for field in translated}
        for language in languages
    }


def check_translations(
    model: type[Record], translated: Sequence[str], value: Any, languages: Sequence[str]
) -> tuple[Translations, dict[str, str]]:
    """A record's `translations` as sent, {language: {field: text}}: each text checked as its
    field is (a title's length), in the conference's other languages only. An empty text (or
    null) is kept as "": it takes that text away (`merge_translations`). Returns the texts and a
    reason per refused key."""
    errors: dict[str, str] = {}
    if not isinstance(value, dict):
        return {}, {
            "translations": FieldReason(_("must be an object of languages, each of fields"))
        }
    stored: Translations = {}
    for language, texts in value.items():
        if language not in languages:
            errors[f"translations.{language}"] = _(
                "%(language)s is not one of the conference's other languages (%(others)s)"
            ) % {"language": repr(language), "others": ", ".join(languages) or "—"}
            continue
        if not isinstance(texts, dict):
            errors[f"translations.{language}"] = FieldReason(_("must be an object of fields"))
            continue
        kept: dict[str, str] = {}
        for field, text in texts.items():
            key = translation_key(language, field)
            if field not in translated:
                errors[key] = FieldReason(_("is not a text given per language"))
                continue
            if text is None or (isinstance(text, str) and not text.strip()):
                kept[field] = ""
                continue
            try:
                kept[field] = _adapter(model, field).validate_python(
                    text.strip() if isinstance(text, str) else text
                )
            except ValidationError as refused:
                errors[key] = _reason(model, field, refused)
        stored[language] = kept
    return stored, errors


def merge_translations(current: Translations, sent: Translations) -> Translations:
    """A record's translations with the texts sent put in: each text given replaces that one,
    an empty one takes it away (readers then get the default language's), others stay."""
    merged = {language: dict(texts) for language, texts in (current or {}).items()}
    for language, texts in sent.items():
        merged.setdefault(language, {}).update(texts)
    return {
        language: {field: text for field, text in texts.items() if text}
        for language, texts in sorted(merged.items())
        if any(texts.values())
    }


def language_tags(typed: str) -> list[str]:
    """The language tags typed in a list ("en-AU, es" or "en-au es"), as confapp writes them;
    what is not a tag at all is kept as typed, for `offered_language_problem` to name."""
    return [normal_tag(tag) or tag for tag in typed.replace(",", " ").split()]


def offered_language_problem(language: str) -> str | None:
    """Why a conference cannot offer an interface language, or None: the one rule the
    conference file and the settings page both keep (a tag as confapp writes it, served by a
    shipped catalogue, its own or its base language's)."""
    if normal_tag(language) == language and has_catalogue(language):
        return None
    return _("%(language)s is not a language confapp has a catalogue for (%(shipped)s)") % {
        "language": repr(language),
        "shipped": ", ".join(shipped_languages()),
    }
