"""The `confapp` command: serve, load, export, migrate, purge, keys, mail, user, token."""

from __future__ import annotations

import argparse
import copy
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlmodel import select

from confapp.db import Database
from confapp.migrate import upgrade_to_head
from confapp.models import User
from confapp.programme.conference_file import ConferenceFileError, load_conference_file
from confapp.programme.queries import list_conferences
from confapp.settings import Settings, SettingsError
from confapp.tickets.keys import ensure_signing_key
from confapp.translation import N_, _, ngettext, normal_tag, set_wanted_languages


def prepare_database(settings: Settings, *, seed: bool = True) -> Database:
    """Migrate the schema and, when the database holds no conference yet, load the demo seed."""
    db = Database(
        settings.database_url, settings.database_pool_size, settings.database_max_overflow
    )
    upgrade_to_head(db.engine)
    if seed and settings.seed_file:
        with db.read() as session:
            empty = not list_conferences(session)
        if empty:
            report = load_conference_file(db, settings.seed_file)
            print(_("Loaded the demo conference: %(summary)s") % {"summary": report.summary()})
    return db


def _settings_from(args: argparse.Namespace) -> Settings:
    return Settings.from_env().with_overrides(
        database_url=getattr(args, "database_url", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings_from(args)
    if args.no_seed:
        settings = settings.with_overrides(seed_file="")
    try:
        db = prepare_database(settings)
    except ConferenceFileError as exc:
        print(
            "confapp: " + _("cannot load the demo conference:\n%(error)s") % {"error": exc},
            file=sys.stderr,
        )
        return 2
    ensure_signing_key(db)
    with db.read() as session:
        conferences = list_conferences(session)
        nobody_can_sign_in = session.exec(select(User.id).limit(1)).first() is None
    db.dispose()

    # Worker processes build their app from the environment, so hand the settings over there.
    os.environ["CONFAPP_DATABASE_URL"] = settings.database_url
    os.environ["CONFAPP_SEED_FILE"] = settings.seed_file
    os.environ["CONFAPP_HOST"] = settings.host
    os.environ["CONFAPP_PORT"] = str(settings.port)
    base = f"http://{settings.host}:{settings.port}"
    path = f"/{conferences[0].slug}/" if len(conferences) == 1 else "/"
    print(
        _("confapp is serving at %(url)s  (database: %(database)s)")
        % {"url": f"{base}{path}", "database": database_shown(settings.database_url)}
    )
    if nobody_can_sign_in:
        print(
            first_organiser_hint(
                settings.database_url, conferences[0].slug if conferences else None
            )
        )
    uvicorn.run(
        "confapp.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_level="info",
        log_config=serve_log_config(),
    )
    return 0


def first_organiser_hint(database_url: str, conference: str | None) -> str:
    """What to run, from any folder, to make the first account: nobody can sign in yet."""
    command = (
        f"confapp user add you@example.org --role organiser"
        f" --conference {shlex.quote(conference or '<conference-slug>')}"
        f" --database-url {shlex.quote(database_url_for_elsewhere(database_url))}"
    )
    return _(
        "No one can sign in to the back office yet. Make the first organiser with:\n  %(command)s"
    ) % {"command": command}


def serve_log_config() -> dict[str, Any]:
    """uvicorn's logging, and confapp's own loggers beside it. With `--workers` 2 or more each
    worker process sets up logging from this alone, so without it confapp's lines (mail not
    sent, data erased) were lost, or printed with no level or name."""
    import uvicorn.config

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["confapp"] = {
        "()": "uvicorn.logging.DefaultFormatter",
        "fmt": "%(levelprefix)s %(name)s: %(message)s",
    }
    config["handlers"]["confapp"] = {
        "formatter": "confapp",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["confapp"] = {"handlers": ["confapp"], "level": "INFO", "propagate": False}
    return config


def cmd_load(args: argparse.Namespace) -> int:
    settings = _settings_from(args)
    db = prepare_database(settings, seed=False)
    try:
        report = load_conference_file(
            db, args.file, dry_run=args.dry_run, cancel_web_sessions=args.cancel_web_sessions
        )
    except ConferenceFileError as exc:
        print(
            "confapp load: " + _("nothing was changed.\n%(error)s") % {"error": exc},
            file=sys.stderr,
        )
        return 2
    finally:
        db.dispose()
    # What changes in a conference that exists already (perhaps edited on the web since the
    # file was last loaded) is always listed; a new conference is summed up.
    if report.dry_run or (report.changed and not report.created_the_conference):
        if report.dry_run:
            print(
                _("Loading %(file)s would make these changes (nothing was written):")
                % {"file": args.file}
            )
        else:
            print(_("Loading %(file)s made these changes:") % {"file": args.file})
        for line in report.change_lines() or [_("nothing")]:
            print(f"  {line}")
    for note in report.notes:
        print(_("Note: %(note)s") % {"note": note})
    print(report.summary())
    if report.kept_web_sessions:
        print(
            _(
                "Sessions made on the web that the file lacks are kept; "
                "load with --cancel-web-sessions to cancel them."
            )
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from confapp.programme.export import ConferenceExportError, export_conference

    db = prepare_database(_settings_from(args), seed=False)
    try:
        with db.read() as session:
            text = export_conference(session, args.slug)
    except ConferenceExportError as exc:
        print(f"confapp export: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8", newline="") as file:
            file.write(text)
    except OSError as exc:
        problem = _("cannot write %(file)s: %(reason)s") % {
            "file": args.output,
            "reason": exc.strerror,
        }
        print(f"confapp export: {problem}", file=sys.stderr)
        return 2
    print(_("Wrote %(slug)s to %(file)s.") % {"slug": args.slug, "file": args.output})
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    db = prepare_database(_settings_from(args), seed=False)
    db.dispose()
    print(_("The database schema is up to date."))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from confapp.registration.privacy import erase_attendee, purge_expired_personal_data
    from confapp.tickets.admission import registration_by_code
    from confapp.tickets.tokens import normalise_ticket_code

    db = prepare_database(_settings_from(args), seed=False)
    try:
        if args.ticket:
            code = normalise_ticket_code(args.ticket) or ""
            with db.read() as session:
                registration = registration_by_code(session, code)
            if registration is None or registration.id is None:
                problem = _("no ticket with code %(code)s") % {"code": args.ticket}
                print(f"confapp purge: {problem}", file=sys.stderr)
                return 2
            if not erase_attendee(db, registration.id):
                print(
                    _("The attendee with ticket %(code)s was already erased.")
                    % {"code": args.ticket}
                )
                return 0
            print(
                _("Erased the attendee with ticket %(code)s; the ticket is cancelled.")
                % {"code": args.ticket}
            )
            return 0
        report = purge_expired_personal_data(db)
    finally:
        db.dispose()
    where = ", ".join(report.conferences) or _("no conference past its retention period")
    print(
        ngettext(
            "Erased the personal data of %(count)d attendee(s) (%(where)s).",
            "Erased the personal data of %(count)d attendee(s) (%(where)s).",
            report.erased,
        )
        % {"count": report.erased, "where": where}
    )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from confapp.tickets.keys import ensure_signing_key, retire_signing_key, rotate_signing_key

    db = prepare_database(_settings_from(args), seed=False)
    try:
        if args.action == "rotate":
            ensure_signing_key(db)
            key_id = rotate_signing_key(db)
            print(
                _("New tickets are now signed with key %(key)s; older keys still verify.")
                % {"key": key_id}
            )
        elif args.action == "retire":
            if args.key_id is None or not retire_signing_key(db, args.key_id):
                problem = _("give the id of a key in use")
                print(f"confapp keys retire: {problem}", file=sys.stderr)
                return 2
            print(
                _("Key %(key)s is retired: tickets signed with it no longer verify.")
                % {"key": args.key_id}
            )
        else:
            key = ensure_signing_key(db)
            print(_("Tickets are signed with key %(key)s.") % {"key": key.key_id})
    finally:
        db.dispose()
    return 0


def cmd_mail(args: argparse.Namespace) -> int:
    import anyio

    from confapp import mail_registry  # noqa: F401 - so every kind of mail has its builder
    from confapp.outbox import send_due_mail
    from confapp.programme.change_mail import batch_programme_changes
    from confapp.times import utcnow

    settings = _settings_from(args)
    db = prepare_database(settings, seed=False)
    try:
        # Programme changes that have settled become mails first, as housekeeping does.
        batch_programme_changes(db, utcnow())
        sent = anyio.run(send_due_mail, db, settings)
    finally:
        db.dispose()
    print(
        ngettext("Sent %(count)d queued mail(s).", "Sent %(count)d queued mail(s).", sent)
        % {"count": sent}
    )
    return 0


def cmd_translations(args: argparse.Namespace) -> int:
    from confapp.catalogues import DOMAINS, check_catalogue, existing_languages, update_catalogues

    if args.action == "update":
        for path in update_catalogues(args.language):
            print(_("Updated %(path)s") % {"path": path})
        return 0
    problems = [
        problem
        for language in ([args.language] if args.language else existing_languages())
        for domain in DOMAINS
        for problem in check_catalogue(language, domain)
    ]
    for problem in problems:
        print(problem)
    print(
        ngettext("%(count)d problem.", "%(count)d problems.", len(problems))
        % {"count": len(problems)}
    )
    return 1 if problems else 0


def _terminal_languages() -> tuple[str, ...]:
    """The languages the person at the terminal reads, from the locale variables (LANGUAGE
    first, as gettext does): "es_AR.UTF-8" means es-AR."""
    wanted: list[str] = []
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for value in os.environ.get(name, "").split(":"):
            if tag := normal_tag(value.split(".")[0].split("@")[0]):
                wanted.append(tag)
    return tuple(dict.fromkeys(wanted))


def _read_password(prompt: str) -> str:
    """From a prompt on a terminal, else the first line of stdin: never from argv, where every
    user of the machine could read it."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(prompt)
        if getpass.getpass(_("Again: ")) != first:
            raise SystemExit("confapp: " + _("the two passwords differ"))
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user(args: argparse.Namespace) -> int:
    from confapp.accounts.passwords import password_problem
    from confapp.accounts.service import AccountError, add_user_role, find_user

    db = prepare_database(_settings_from(args), seed=False)
    try:
        with db.read() as session:
            exists = find_user(session, args.email) is not None
        password = None
        if not exists:
            password = _read_password(_("Password for %(email)s: ") % {"email": args.email})
            problem = password_problem(password)
            if problem:
                print(f"confapp user add: {problem}", file=sys.stderr)
                return 2
        try:
            user, created = add_user_role(db, args.email, args.role, args.conference, password)
        except AccountError as exc:
            print(f"confapp user add: {exc}", file=sys.stderr)
            return 2
    finally:
        db.dispose()
    where = database_shown(_settings_from(args).database_url)
    done = (
        _("Created %(email)s: %(role)s at %(conference)s (database: %(database)s).")
        if created
        else _("Updated %(email)s: %(role)s at %(conference)s (database: %(database)s).")
    )
    print(
        done
        % {"email": user.email, "role": args.role, "conference": args.conference, "database": where}
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from confapp.accounts.service import create_api_token, find_user

    db = prepare_database(_settings_from(args), seed=False)
    try:
        with db.transaction() as session:
            user = find_user(session, args.email)
            if user is None:
                problem = _("no user %(email)s") % {"email": args.email}
                print(f"confapp token add: {problem}", file=sys.stderr)
                return 2
            _token, secret = create_api_token(session, user, args.name or _("command line"))
    finally:
        db.dispose()
    print(
        _("A new API token for %(email)s (shown once; send it as Authorization: Bearer):")
        % {"email": user.email}
    )
    print(secret)
    return 0


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


def database_shown(database_url: str) -> str:
    """The database a command uses, as a person reads it: a SQLite file's absolute path (a
    relative one depends on the folder the command was run in), else the URL without its
    password."""
    url = make_url(database_url)
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        return str(sqlite_file)
    return url.render_as_string(hide_password=True)


def database_url_for_elsewhere(database_url: str) -> str:
    """The same database as a URL that means it from any folder (a SQLite path made absolute),
    its password hidden: it is printed."""
    url = make_url(database_url)
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        url = url.set(database=str(sqlite_file))
    return url.render_as_string(hide_password=True)


_VERBOSE_HELP = N_("also print the schema migrations' log lines (Alembic's)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="confapp",
        description=_(
            "The `confapp` command: serve, load, export, migrate, purge, keys, mail, user, token."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)

    parser.add_argument("--verbose", action="store_true", help=_(_VERBOSE_HELP))

    def with_database(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--database-url",
            help=_("SQLAlchemy URL (default: CONFAPP_DATABASE_URL or sqlite:///confapp.sqlite3)"),
        )
        # After the command as well as before it; SUPPRESS keeps a `--verbose` given before it.
        p.add_argument(
            "--verbose", action="store_true", default=argparse.SUPPRESS, help=_(_VERBOSE_HELP)
        )
        return p

    serve = with_database(commands.add_parser("serve", help=_("serve the app (demo by default)")))
    serve.add_argument("--host", help=_("address to listen on (default 127.0.0.1)"))
    serve.add_argument("--port", type=int, help=_("port (default 8000)"))
    serve.add_argument("--workers", type=int, help=_("worker processes (default 1)"))
    serve.add_argument(
        "--no-seed",
        action="store_true",
        help=_("do not load the demo conference into an empty database"),
    )
    serve.set_defaults(func=cmd_serve)

    load = with_database(commands.add_parser("load", help=_("import or update a conference file")))
    load.add_argument("file", help=_("a conference TOML file (see docs/conference-file.md)"))
    load.add_argument(
        "--dry-run",
        action="store_true",
        help=_("show what loading the file would change, and change nothing"),
    )
    load.add_argument(
        "--cancel-web-sessions",
        action="store_true",
        help=_(
            "also cancel sessions made on the web that the file lacks (by default they are kept)"
        ),
    )
    load.set_defaults(func=cmd_load)

    export = with_database(
        commands.add_parser("export", help=_("write a conference as a conference file"))
    )
    export.add_argument("slug", help=_("the conference's slug"))
    export.add_argument("--output", help=_("the file to write (default: standard output)"))
    export.set_defaults(func=cmd_export)

    migrate = with_database(commands.add_parser("migrate", help=_("create or upgrade the schema")))
    migrate.set_defaults(func=cmd_migrate)

    purge = with_database(
        commands.add_parser(
            "purge", help=_("erase attendees' personal data past the retention period")
        )
    )
    purge.add_argument("--ticket", help=_("erase one attendee now, by ticket code"))
    purge.set_defaults(func=cmd_purge)

    keys = with_database(commands.add_parser("keys", help=_("the ticket-signing keys")))
    keys.add_argument("action", choices=["show", "rotate", "retire"])
    keys.add_argument("key_id", nargs="?", type=int)
    keys.set_defaults(func=cmd_keys)

    mail = with_database(commands.add_parser("mail", help=_("send queued mail now")))
    mail.set_defaults(func=cmd_mail)

    user = commands.add_parser("user", help=_("back-office accounts"))
    user_actions = user.add_subparsers(dest="action", required=True)
    user_add = with_database(
        user_actions.add_parser(
            "add",
            help=_(
                "create a user or give one a role; the password is read from a prompt "
                "(or stdin), never from the command line"
            ),
        )
    )
    user_add.add_argument("email")
    user_add.add_argument(
        "--role", required=True, choices=["organiser", "access-coordinator", "steward"]
    )
    user_add.add_argument("--conference", required=True, help=_("the conference's slug"))
    user_add.set_defaults(func=cmd_user)

    token = commands.add_parser("token", help=_("API tokens for scripts and door devices"))
    token_actions = token.add_subparsers(dest="action", required=True)
    token_add = with_database(
        token_actions.add_parser("add", help=_("make a token; printed alone on the last line"))
    )
    token_add.add_argument("email")
    token_add.add_argument("--name", help=_("what the token is for (e.g. 'door phone 3')"))
    token_add.set_defaults(func=cmd_token)

    translations = commands.add_parser(
        "translations", help=_("keep the interface's translation catalogues in step with the code")
    )
    translation_actions = translations.add_subparsers(dest="action", required=True)
    for action, action_help in (
        ("update", _("extract the marked strings and merge them into the .po files")),
        ("check", _("list strings missing, fuzzy or with placeholders that differ")),
    ):
        command = translation_actions.add_parser(action, help=action_help)
        command.add_argument(
            "--language", help=_("one language (a new one is created by update), e.g. pt-BR")
        )
        command.set_defaults(func=cmd_translations)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    set_wanted_languages(_terminal_languages())
    args = build_parser().parse_args(argv)
    # Alembic says "Context impl SQLiteImpl" and every migration it runs: for --verbose only.
    logging.getLogger("alembic").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        status: int = args.func(args)
        return status
    except SettingsError as exc:
        print(f"confapp: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
