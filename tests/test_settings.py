"""An operator's CONFAPP_* variables: each read, checked, and a mistake named plainly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from confapp.settings import Settings, SettingsError


@pytest.fixture(autouse=True)
def no_confapp_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("CONFAPP_"):
            monkeypatch.delenv(name)


def test_unset_variables_give_the_documented_defaults() -> None:
    settings = Settings.from_env()
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.database_url == "sqlite:///confapp.sqlite3"
    assert settings.seed_file.endswith("socialism-2027.toml")
    assert settings.housekeeping_seconds == 30
    assert settings.debug is False


def test_every_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "CONFAPP_DATABASE_URL": "postgresql+psycopg://confapp@db/confapp",
        "CONFAPP_DATABASE_POOL_SIZE": "3",
        "CONFAPP_DATABASE_MAX_OVERFLOW": "0",
        "CONFAPP_HOST": "0.0.0.0",
        "CONFAPP_PORT": "8080",
        "CONFAPP_WORKERS": "4",
        "CONFAPP_SEED_FILE": "",
        "CONFAPP_BASE_URL": "https://conference.example.org/",
        "CONFAPP_DEBUG": "yes",
        "CONFAPP_ALLOWED_HOSTS": " conference.example.org, www.example.org ,",
        "CONFAPP_MAX_BODY_BYTES": "1000",
        "CONFAPP_SMTP_HOST": "mail.example.org",
        "CONFAPP_SMTP_PORT": "587",
        "CONFAPP_SMTP_USERNAME": "tickets",
        "CONFAPP_SMTP_PASSWORD": "hunter2",
        "CONFAPP_SMTP_STARTTLS": "true",
        "CONFAPP_SMTP_TLS": "0",
        "CONFAPP_MAIL_FROM": "Socialism 2027 <tickets@example.org>",
        "CONFAPP_HOUSEKEEPING_SECONDS": "0",
        "CONFAPP_THROTTLE_REGISTRATIONS_PER_ADDRESS": "0",
        "CONFAPP_THROTTLE_REGISTRATIONS_PER_EMAIL": "2",
        "CONFAPP_THROTTLE_MAILS_PER_RECIPIENT": "7",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert settings.database_url == "postgresql+psycopg://confapp@db/confapp"
    assert (settings.database_pool_size, settings.database_max_overflow) == (3, 0)
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 8080, 4)
    assert settings.seed_file == "", "an empty CONFAPP_SEED_FILE means: load no conference"
    assert settings.base_url == "https://conference.example.org"
    assert settings.debug is True
    assert settings.allowed_hosts == ("conference.example.org", "www.example.org")
    assert settings.max_body_bytes == 1000
    assert (settings.smtp_host, settings.smtp_port) == ("mail.example.org", 587)
    assert (settings.smtp_username, settings.smtp_password) == ("tickets", "hunter2")
    assert (settings.smtp_starttls, settings.smtp_tls) == (True, False)
    assert settings.mail_from == "Socialism 2027 <tickets@example.org>"
    assert settings.housekeeping_seconds == 0
    assert settings.throttle_registrations_per_address_per_hour == 0
    assert settings.throttle_registrations_per_email_per_hour == 2
    assert settings.throttle_mails_per_recipient_per_hour == 7
    assert "hunter2" not in repr(settings), "the mail password is never printed"


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONFAPP_PORT", "CONFAPP_HOST", "CONFAPP_DATABASE_URL", "CONFAPP_MAIL_FROM"):
        monkeypatch.setenv(name, "")
    settings = Settings.from_env()
    assert (settings.port, settings.host) == (8000, "127.0.0.1")
    assert settings.database_url == "sqlite:///confapp.sqlite3"
    assert settings.mail_from == "confapp <tickets@localhost>"


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("CONFAPP_PORT", "80a", "valid integer"),
        ("CONFAPP_PORT", "70000", "less than or equal to 65535"),
        ("CONFAPP_DEBUG", "ture", "valid boolean"),
        ("CONFAPP_HOUSEKEEPING_SECONDS", "-5", "greater than or equal to 0"),
        ("CONFAPP_WORKERS", "0", "greater than or equal to 1"),
        ("CONFAPP_MAX_BODY_BYTES", "-1", "greater than or equal to 1"),
        ("CONFAPP_THROTTLE_MAILS_PER_RECIPIENT", "-1", "greater than or equal to 0"),
        ("CONFAPP_SMTP_STARTTLS", "maybe", "valid boolean"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_reason(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    message = str(raised.value)
    assert message.startswith(f"{variable}={value!r}: ")
    assert reason in message


def test_a_bad_secret_is_named_but_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFAPP_DATABASE_URL", "postgresql://confapp:s3cret@db/confapp")
    monkeypatch.setenv("CONFAPP_WORKERS", "many")
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    assert "CONFAPP_WORKERS='many'" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_settings_made_in_code_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFAPP_PORT", "9999")
    assert Settings().port == 8000
    assert Settings(port=8001).with_overrides(host="0.0.0.0", port=None).port == 8001


def test_confapp_serve_refuses_a_bad_variable_in_one_line() -> None:
    env = {"PATH": "/usr/bin:/bin", "CONFAPP_PORT": "80a"}
    run = subprocess.run(
        [sys.executable, "-m", "confapp.cli", "serve", "--no-seed"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "confapp: CONFAPP_PORT='80a': Input should be a valid integer, unable to parse string "
        "as an integer"
    ]
