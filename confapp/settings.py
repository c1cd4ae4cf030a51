"""One typed settings object, read from CONFAPP_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from confapp.db import DEFAULT_MAX_OVERFLOW, DEFAULT_POOL_SIZE
from confapp.resources import demo_seed_path

DEFAULT_DATABASE_URL = "sqlite:///confapp.sqlite3"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _env_list(name: str) -> tuple[str, ...]:
    """A comma-separated variable: "a, b" -> ("a", "b"); unset or blank -> ()."""
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL connections per process: kept open, and more at busy moments. Every process
    # of every machine shares the server's max_connections (README, "Deployment").
    database_pool_size: int = DEFAULT_POOL_SIZE
    database_max_overflow: int = DEFAULT_MAX_OVERFLOW
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Loaded into an empty database at start; "" disables seeding.
    seed_file: str = field(default_factory=lambda: str(demo_seed_path()))
    # Public origin used in links that leave the site (emails, QR codes, feeds).
    base_url: str = ""
    debug: bool = False
    # Host names the site answers to (the Host header). Empty: base_url's host, and loopback.
    # "*" answers to any name: only behind a proxy that checks the name itself.
    allowed_hosts: tuple[str, ...] = ()
    # The largest request body (JSON or form) read; a bigger one gets 413 before it is read.
    max_body_bytes: int = 65536
    # Outgoing mail. With no smtp_host, mail is queued (and visible as queued), not sent.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_tls: bool = False
    mail_from: str = "confapp <tickets@localhost>"
    # Background work: send due mail, erase expired personal data. Each process has a turn
    # this often; a round runs in one process at a time.
    housekeeping_seconds: int = 30
    # Throttles, per hour, shared by every process through the database; 0 turns one off.
    # Per client address is generous: hundreds of people share one NAT on venue Wi-Fi.
    throttle_registrations_per_address_per_hour: int = 300
    throttle_registrations_per_email_per_hour: int = 5
    throttle_mails_per_recipient_per_hour: int = 5

    @classmethod
    def from_env(cls) -> Settings:
        defaults = cls()
        return cls(
            database_url=os.environ.get("CONFAPP_DATABASE_URL") or defaults.database_url,
            database_pool_size=_env_int("CONFAPP_DATABASE_POOL_SIZE", defaults.database_pool_size),
            database_max_overflow=_env_int(
                "CONFAPP_DATABASE_MAX_OVERFLOW", defaults.database_max_overflow
            ),
            host=os.environ.get("CONFAPP_HOST") or defaults.host,
            port=_env_int("CONFAPP_PORT", defaults.port),
            workers=_env_int("CONFAPP_WORKERS", defaults.workers),
            seed_file=os.environ.get("CONFAPP_SEED_FILE", defaults.seed_file),
            base_url=(os.environ.get("CONFAPP_BASE_URL") or "").rstrip("/"),
            debug=_env_bool("CONFAPP_DEBUG", False),
            allowed_hosts=_env_list("CONFAPP_ALLOWED_HOSTS"),
            max_body_bytes=_env_int("CONFAPP_MAX_BODY_BYTES", defaults.max_body_bytes),
            smtp_host=os.environ.get("CONFAPP_SMTP_HOST", defaults.smtp_host),
            smtp_port=_env_int("CONFAPP_SMTP_PORT", defaults.smtp_port),
            smtp_username=os.environ.get("CONFAPP_SMTP_USERNAME", ""),
            smtp_password=os.environ.get("CONFAPP_SMTP_PASSWORD", ""),
            smtp_starttls=_env_bool("CONFAPP_SMTP_STARTTLS", False),
            smtp_tls=_env_bool("CONFAPP_SMTP_TLS", False),
            mail_from=os.environ.get("CONFAPP_MAIL_FROM") or defaults.mail_from,
            housekeeping_seconds=_env_int("CONFAPP_HOUSEKEEPING_SECONDS", 30),
            throttle_registrations_per_address_per_hour=_env_int(
                "CONFAPP_THROTTLE_REGISTRATIONS_PER_ADDRESS",
                defaults.throttle_registrations_per_address_per_hour,
            ),
            throttle_registrations_per_email_per_hour=_env_int(
                "CONFAPP_THROTTLE_REGISTRATIONS_PER_EMAIL",
                defaults.throttle_registrations_per_email_per_hour,
            ),
            throttle_mails_per_recipient_per_hour=_env_int(
                "CONFAPP_THROTTLE_MAILS_PER_RECIPIENT",
                defaults.throttle_mails_per_recipient_per_hour,
            ),
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def public_origin(self) -> str:
        """Where people reach this site, for links made outside any request (mail)."""
        return self.base_url or f"http://{self.host}:{self.port}"
