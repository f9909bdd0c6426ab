"""`python -m bot [serve|migrate|check-config|version]` — the bot's one entry point."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import textwrap
from typing import NoReturn

from bot import __version__

EXIT_CONFIG = 2
log = logging.getLogger("bot")


def fail(title: str, problems: list[str]) -> NoReturn:
    """Stop with a message a person can act on: no traceback, exit code 2."""
    print(f"koho: {title}", file=sys.stderr)
    for problem in problems:
        print(textwrap.fill(problem, width=100, initial_indent="  - ", subsequent_indent="    "), file=sys.stderr)
    raise SystemExit(EXIT_CONFIG)


def load_settings_or_exit():  # noqa: ANN201
    from bot.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as e:
        fail("cannot start: the settings need attention (see .env.example).", e.problems)


def load_organization_or_exit(path):  # noqa: ANN001, ANN201
    from bot.organization import OrganizationError, load_organization

    try:
        return load_organization(path)
    except OrganizationError as e:
        fail(f"the organisation file {e.path} has {len(e.problems)} problem(s):", e.problems)


def check_templates_or_exit(org):  # noqa: ANN001, ANN201
    """The organisation's emergency post templates render (a broken one would fall back only at the worst time)."""
    from datetime import UTC, datetime

    from bot.workflows.emergencies.post_templates import template_problems

    problems = template_problems(org, datetime.now(UTC))
    if problems:
        fail(f"{len(problems)} emergency post template(s) of {org.emergency.templates_dir} need attention:", problems)
    return org


def cmd_check_config(_: argparse.Namespace) -> int:
    settings = load_settings_or_exit()
    org = check_templates_or_exit(load_organization_or_exit(settings.config_path))
    print(
        f"koho: {settings.config_path} is valid: {org.name}, {len(org.departments)} departments, "
        f"{len(org.accounts)} accounts, locale {org.locale}."
    )
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from bot import migrate
    from bot.db import Database

    settings = load_settings_or_exit()
    db = Database(settings.database_url)
    migrate.upgrade(db)
    print(f"koho: database at revision {migrate.current_revision(db)}.")
    return 0


def _database_or_exit(settings):  # noqa: ANN001, ANN202
    from bot import migrate
    from bot.db import Database

    db = Database(settings.database_url)
    if db.dialect == "sqlite":
        migrate.upgrade(db)  # one process, one file: keep the schema current by itself
    elif migrate.current_revision(db) != migrate.head_revision():
        fail("the PostgreSQL schema is not current.", ["Run `python -m bot migrate` (the Procfile's release step)."])
    return db


def cmd_serve(args: argparse.Namespace) -> int:
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError

    from bot import logs
    from bot.app import create_app

    settings = load_settings_or_exit()
    logs.configure(settings.log_level, settings.secrets())
    org = check_templates_or_exit(load_organization_or_exit(settings.config_path))
    db = _database_or_exit(settings)
    try:
        app = create_app(settings, org, db)
    except SlackApiError as e:
        fail("Slack refused the bot token.", [f"auth.test answered {e.response.get('error')!r}: check SLACK_BOT_TOKEN."])
    except BoltError as e:  # Bolt wraps auth.test's refusal in its own error
        fail("Slack refused the bot token.", [f"{e} Check SLACK_BOT_TOKEN."])
    except OSError as e:
        fail("cannot reach Slack.", [f"{settings.slack_api_url}: {e}. Check the network or SLACK_API_URL."])

    services = app.koho_services
    services.start_background()
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        log.info("koho %s: connecting to Slack in Socket Mode", __version__)
        SocketModeHandler(app, settings.slack_app_token).start()
        return 0

    from bot.web import KohoWeb, Server

    server = Server(KohoWeb(app, db), host=args.host, port=settings.port)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    log.info("koho %s: serving HTTP on %s:%s (POST /slack/events, GET /healthz)", __version__, args.host, server.port)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def cmd_worker(_: argparse.Namespace) -> int:
    """Delivery and timed sweeps without HTTP: for extra instances beside the web process."""
    import threading

    from bot import logs
    from bot.app import create_app

    settings = load_settings_or_exit()
    logs.configure(settings.log_level, settings.secrets())
    org = load_organization_or_exit(settings.config_path)
    db = _database_or_exit(settings)
    services = create_app(settings, org, db).koho_services
    services.start_background()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    log.info("koho %s: worker running (delivery and timed sweeps)", __version__)
    with contextlib.suppress(KeyboardInterrupt):
        stopping.wait()
    services.stop_background()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the record (for public-records requests) to stdout or a file."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.db import Database
    from bot.workflows.proposals import export

    settings = load_settings_or_exit()
    org = load_organization_or_exit(settings.config_path)
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            fail("--since is not a date.", [f"Got {args.since!r}; use YYYY-MM-DD or an ISO 8601 date-time."])
        if since.tzinfo is None:
            since = since.replace(tzinfo=ZoneInfo(org.timezone))  # a plain date means the city's day
    db = Database(settings.database_url)
    records = export.proposal_records(db, since)
    text = export.to_json(records) if args.format == "json" else export.to_csv(records)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Koho (広報): the city's social-media bot.")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the bot (default): HTTP on PORT, or Socket Mode with SLACK_APP_TOKEN")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    sub.add_parser("worker", help="run delivery and timed sweeps only (extra instances; serve runs them too)")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("check-config", help="validate the settings and the organisation file")
    export = sub.add_parser("export", help="export the record (proposals with versions and decisions)")
    export.add_argument("what", choices=["proposals"], help="what to export")
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument("--since", help="only what was created on or after this date (YYYY-MM-DD)")
    export.add_argument("--output", help="write to this file instead of standard output")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or [])])
    if args.command == "version":
        print(__version__)
        return 0
    handlers = {"serve": cmd_serve, "worker": cmd_worker, "export": cmd_export, "migrate": cmd_migrate, "check-config": cmd_check_config}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
