"""One typed settings object, read from CONFAPP_* environment variables (pydantic-settings).

`Settings(...)` in code takes only what it is given; `Settings.from_env()` reads the environment,
and a bad value there raises SettingsError naming the variable and the reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from confapp.resources import demo_seed_path

ENV_PREFIX = "CONFAPP_"
DEFAULT_DATABASE_URL = "sqlite:///confapp.sqlite3"
# PostgreSQL connections each app process may hold: `pool_size` kept open, and up to
# `max_overflow` more at busy moments. SQLAlchemy's own defaults; docs/deployment.md has the sums.
DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 10

# Variables whose name is not CONFAPP_ + the field's name.
_ENV_NAMES = {
    "throttle_registrations_per_address_per_hour": "CONFAPP_THROTTLE_REGISTRATIONS_PER_ADDRESS",
    "throttle_registrations_per_email_per_hour": "CONFAPP_THROTTLE_REGISTRATIONS_PER_EMAIL",
    "throttle_mails_per_recipient_per_hour": "CONFAPP_THROTTLE_MAILS_PER_RECIPIENT",
}
# Fields where an empty variable means what it says rather than "use the default".
_EMPTY_MEANS_EMPTY = {"seed_file"}
# Never repeated in an error message.
_SECRET_FIELDS = {"smtp_password", "database_url"}


class SettingsError(ValueError):
    """A CONFAPP_* variable that cannot be used: the message names it and says why."""


def env_name(field_name: str) -> str:
    return _ENV_NAMES.get(field_name, ENV_PREFIX + field_name.upper())


def _renamed(field_name: str) -> AliasChoices:
    return AliasChoices(field_name, _ENV_NAMES[field_name])


Port = Annotated[int, Field(ge=1, le=65535)]
Count = Annotated[int, Field(ge=0)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", populate_by_name=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL connections per process: kept open, and more at busy moments. Every process
    # of every machine shares the server's max_connections (docs/deployment.md).
    database_pool_size: int = Field(default=DEFAULT_POOL_SIZE, ge=1)
    database_max_overflow: Count = DEFAULT_MAX_OVERFLOW
    host: str = "127.0.0.1"
    port: Port = 8000
    workers: int = Field(default=1, ge=1)
    # Loaded into an empty database at start; "" disables seeding.
    seed_file: str = Field(default_factory=lambda: str(demo_seed_path()))
    # Public origin used in links that leave the site (emails, QR codes, feeds).
    base_url: str = ""
    debug: bool = False
    # Offers the made-up language "qps" (accented, longer, right to left) for finding words
    # left unmarked and layouts that break: for tests and translators, never for attendees.
    pseudo_language: bool = False
    # Host names the site answers to (the Host header). Empty: base_url's host, and loopback.
    # "*" answers to any name: only behind a proxy that checks the name itself.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    # The largest request body (JSON or form) read; a bigger one gets 413 before it is read.
    max_body_bytes: int = Field(default=65536, ge=1)
    # Outgoing mail. With no smtp_host, mail is queued (and visible as queued), not sent.
    smtp_host: str = ""
    smtp_port: Port = 25
    smtp_username: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_starttls: bool = False
    smtp_tls: bool = False
    mail_from: str = "confapp <tickets@localhost>"
    # Where Stripe's API is: only a test stand-in changes it (each conference keeps its own keys).
    stripe_api_base: str = "https://api.stripe.com"
    # Background work: send due mail, erase expired personal data. Each process has a turn
    # this often (0: never); a round runs in one process at a time.
    housekeeping_seconds: Count = 30
    # Throttles, per hour, shared by every process through the database; 0 turns one off.
    # Per client address is generous: hundreds of people share one NAT on venue Wi-Fi.
    throttle_registrations_per_address_per_hour: Count = Field(
        default=300, validation_alias=_renamed("throttle_registrations_per_address_per_hour")
    )
    throttle_registrations_per_email_per_hour: Count = Field(
        default=5, validation_alias=_renamed("throttle_registrations_per_email_per_hour")
    )
    throttle_mails_per_recipient_per_hour: Count = Field(
        default=5, validation_alias=_renamed("throttle_mails_per_recipient_per_hour")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Settings made in code (tests, `with_overrides`) are exactly what they say.
        return (init_settings,)

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any, info: ValidationInfo) -> Any:
        if value == "" and info.field_name not in _EMPTY_MEANS_EMPTY:
            return cls.model_fields[str(info.field_name)].get_default(call_default_factory=True)
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """ "a, b" -> ("a", "b"); blank items are dropped."""
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @classmethod
    def from_env(cls) -> Settings:
        """The settings the CONFAPP_* environment variables give, or SettingsError."""
        try:
            read = _FromEnvironment()
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None
        return cls(**read.model_dump())

    def with_overrides(self, **changes: object) -> Settings:
        given = {name: value for name, value in changes.items() if value is not None}
        return Settings(**(self.model_dump() | given))

    @property
    def public_origin(self) -> str:
        """Where people reach this site, for links made outside any request (mail)."""
        return self.base_url or f"http://{self.host}:{self.port}"


class _FromEnvironment(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings,)


def _explain(error: ValidationError) -> str:
    """One line per bad variable: `CONFAPP_PORT='80a': Input should be a valid integer`."""
    lines = []
    for problem in error.errors():
        location = str(problem["loc"][0]) if problem["loc"] else ""
        field_name = next(
            (name for name in Settings.model_fields if location in {name, _ENV_NAMES.get(name)}),
            location,
        )
        variable = env_name(field_name)
        shown = "" if field_name in _SECRET_FIELDS else f"={problem.get('input')!r}"
        lines.append(f"{variable}{shown}: {problem['msg']}")
    return "; ".join(lines)
