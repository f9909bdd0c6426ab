"""`python -m bot [serve|playground|worker|migrate|check-config|export|outbox|version]` — the bot's one entry point.

Without a command it serves Slack, or, when no Slack token is configured at all, starts the
playground (a local workspace in the browser) and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import select
import signal
import socket
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, NoReturn

from bot import __version__
from bot.text.typed_input import ascii_int

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.settings import Settings
    from bot.web import Server

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


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = load_settings_or_exit()
    org = check_templates_or_exit(load_organization_or_exit(settings.config_path))
    checked = ""
    if not args.offline:
        from bot.channel_check import configured_channels

        check_channels_or_exit(settings, org)
        checked = f" The bot can post in all {len(configured_channels(org))} of its channels."
        if org.on_call_group is not None:
            checked += f" {check_on_call_group_or_exit(settings, org)}"
    print(
        f"koho: {settings.config_path} is valid: {org.name}, {len(org.departments)} departments, "
        f"{len(org.accounts)} accounts, locale {org.locale}.{checked}"
    )
    return 0


def check_channels_or_exit(settings, org) -> None:  # noqa: ANN001
    """Slack says the bot can post in every channel the organisation file names (bot/channel_check.py)."""
    from slack_sdk.errors import SlackApiError

    from bot.app import make_web_client
    from bot.channel_check import channel_problems

    try:
        problems = channel_problems(make_web_client(settings, timeout=5, retries=False), org)
    except OSError as e:
        fail("cannot reach Slack to check the channels.", [f"{settings.slack_api_url}: {e}. Check the network or "
                                                            "SLACK_API_URL, or run `check-config --offline`."])
    except SlackApiError as e:  # the token itself (a channel's own answer is one of the problems)
        fail("Slack refused the bot token.", [f"conversations.info answered {e.response.get('error')!r}: check "
                                              "SLACK_BOT_TOKEN."])
    if any(problem.reason == "missing_scope" for problem in problems):
        fail("cannot ask Slack about the channels (or run `check-config --offline`):",
             [problem.describe() for problem in problems])
    if problems:
        fail(f"the bot cannot post in {len(problems)} of the channels the organisation file names:",
             [problem.describe() for problem in problems])


def check_on_call_group_or_exit(settings, org) -> str:  # noqa: ANN001
    """Slack lists the on-call user group's members to the bot (bot/on_call_group.py)."""
    from bot.app import make_web_client
    from bot.on_call_group import group_problem

    try:
        problem = group_problem(make_web_client(settings, timeout=5, retries=False), org)
    except OSError as e:
        fail("cannot reach Slack to check the on-call group.", [f"{settings.slack_api_url}: {e}."])
    if problem is not None:
        fail("the on-call user group cannot be used:", [f"[emergency] on_call_group {org.on_call_group}: {problem}"])
    return f"The on-call group {org.on_call_group} can be read."


def cmd_migrate(_: argparse.Namespace) -> int:
    from bot import migrate

    settings = load_settings_or_exit()
    db = open_database_or_exit(settings, always_upgrade=True)
    print(f"koho: database at revision {migrate.current_revision(db)}.")
    return 0


def open_database_or_exit(settings, *, always_upgrade: bool = False):  # noqa: ANN001, ANN202
    """The database, reachable and migrated — or a message saying why not.

    SQLite (one process, one file) keeps its schema current by itself; PostgreSQL is migrated by
    `python -m bot migrate` on release, and a process refuses an outdated schema.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from bot import migrate
    from bot.db import Database

    db = Database(settings.database_url)
    try:
        if always_upgrade or db.dialect == "sqlite":
            migrate.upgrade(db)
        elif migrate.current_revision(db) != migrate.head_revision():
            fail("the PostgreSQL schema is not current.", ["Run `python -m bot migrate` (the Procfile's release step)."])
    except (SQLAlchemyError, OSError) as e:
        where = db.url.render_as_string(hide_password=True)
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        fail("cannot open the database.", [f"{where}: {reason}. Check DATABASE_URL (does the server run? "
                                           "does the directory of a SQLite file exist?)."])
    return db


def serve_http_or_exit(app, db, host: str, port: int):  # noqa: ANN001, ANN201
    from bot.web import KohoWeb, Server

    try:
        return Server(KohoWeb(app, db), host=host, port=port)
    except OSError as e:
        fail(f"cannot listen on {host}:{port}.", [f"{e.strerror or e}. Is another program using PORT={port}? "
                                                 "Stop it or set PORT to a free port."])


def cmd_serve(args: argparse.Namespace) -> int:
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError

    from bot import logs
    from bot.app import create_app

    settings = load_settings_or_exit()
    logs.configure(settings.log_level, settings.secrets())
    org = check_templates_or_exit(load_organization_or_exit(settings.config_path))
    db = open_database_or_exit(settings)
    try:
        app = create_app(settings, org, db, with_workers=args.with_workers)
    except SlackApiError as e:
        fail("Slack refused the bot token.", [f"auth.test answered {e.response.get('error')!r}: check SLACK_BOT_TOKEN."])
    except BoltError as e:  # Bolt wraps auth.test's refusal in its own error
        fail("Slack refused the bot token.", [f"{e} Check SLACK_BOT_TOKEN."])
    except OSError as e:
        fail("cannot reach Slack.", [f"{settings.slack_api_url}: {e}. Check the network or SLACK_API_URL."])

    # HTTP in both modes: in Socket Mode Slack's requests come over the WebSocket, but the comment
    # webhook and /healthz still need a port.
    server = serve_http_or_exit(app, db, args.host, settings.port)
    if args.with_workers and db.dialect == "sqlite" and not settings.socket_mode:
        log.warning("--with-workers on SQLite: this process and the workers write one file, and wait for each other's "
                    "writes in SQLite's busy handler (answers can take tenths of a second). For more than one process "
                    "use PostgreSQL; with SQLite run one `python -m bot serve`.")
    services = app.koho_services
    settle_heap()
    services.start_background()
    check_channels_meanwhile(settings, org)
    try:
        serve(args, settings, app, server)
    finally:
        # Before the interpreter exits: deliveries in flight finish and nothing more is claimed (left to
        # itself, the dispatcher went on claiming while the interpreter shut its workers down, and what it
        # claimed then waited out its lease after the restart).
        services.stop_background()
        log.info("koho %s: stopped", __version__)
    return 0


def check_channels_meanwhile(settings: Settings, org) -> None:  # noqa: ANN001
    """Ask Slack about the configured channels beside serving (a slow Slack must not delay start-up)."""
    from bot.app import make_web_client
    from bot.channel_check import log_channel_problems

    client = make_web_client(settings, timeout=5, retries=False)
    threading.Thread(target=log_channel_problems, args=(client, org), name="channel-check", daemon=True).start()


def serve(args: argparse.Namespace, settings: Settings, app: App, server: Server) -> None:
    """Answer Slack until SIGTERM (or Ctrl-C): over HTTP, or in Socket Mode with HTTP for the rest."""
    from slack_sdk.errors import SlackApiError

    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        server.start()
        log.info("koho %s: connecting to Slack in Socket Mode; HTTP on %s:%s (POST /webhooks/comments, GET /healthz)",
                 __version__, args.host, server.port)
        handler = SocketModeHandler(app, settings.slack_app_token, proxy=settings.slack_proxy)
        # SIGTERM (a deploy, a restart) stops like Ctrl-C: left to its default it ended the process where it
        # stood, with requests half-answered and the dispatcher claiming.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            handler.connect()
            wait_for_interrupt()
        except KeyboardInterrupt:
            pass
        except SlackApiError as e:
            fail("Slack refused the app-level token.", [
                f"apps.connections.open answered {e.response.get('error')!r}: check SLACK_APP_TOKEN "
                "(Basic Information → App-Level Tokens, scope connections:write), or unset it for HTTP mode."])
        finally:
            # The WebSocket closes first (Slack sends what comes next to another connection, or again later);
            # the requests being answered finish; then the comment webhook stops.
            handler.close()
            server.stop()
        return

    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    log.info("koho %s: serving HTTP on %s:%s (POST /slack/events, GET /healthz)%s", __version__, args.host, server.port,
             "; delivery left to `python -m bot worker`" if args.with_workers else "")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def settle_heap() -> None:
    """What start-up built (modules, the app, the organisation, templates) lives as long as the process:
    take it out of the collector's full passes, so each of them walks only what came after. About 100,000
    objects: a full pass over them held the interpreter 67–101 ms on a 2-core AMD EPYC, answering nothing
    meanwhile (`bench/gctrace`; docs/benchmarks.md, twelfth round)."""
    gc.collect()
    gc.freeze()


def wait_for_interrupt() -> NoReturn:
    """Block the main thread until SIGTERM (`_interrupt`) or Ctrl-C raise KeyboardInterrupt in it.

    Not `threading.Event().wait()`: a signal the kernel hands to another thread only marks Python's handler
    as due, and a main thread asleep on a lock never ran it (the process went on after SIGTERM, in 2 of 4
    runs of the Socket Mode tests). Python writes every signal to the wakeup fd, whichever thread it lands
    on; waking to read it, the main thread runs the handler."""
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        while True:
            select.select([reader], [], [])
            reader.recv(64)
    finally:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()


def _interrupt(*_: object) -> None:
    """SIGTERM stops like Ctrl-C: it raises in the main thread (taking no lock the main thread may hold), once.
    A second SIGTERM while the process stops in order (a supervisor repeating itself) is ignored; left to
    raise, it cut the stop short where it stood, with deliveries in flight."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def cmd_playground(args: argparse.Namespace) -> int:
    """The bot and a local workspace in the browser, on loopback, with a database of its own."""
    from bot import logs
    from bot.organization import OrganizationError
    from bot.playground.server import Playground
    from bot.settings import LOG_LEVELS, playground_config_path

    level = (os.environ.get("LOG_LEVEL") or "INFO").strip().upper()
    logs.configure(level if level in LOG_LEVELS else "INFO", [])
    config = playground_config_path()
    if config is None:
        fail("the playground needs an organisation file.",
             ["Copy config/organization.example.toml to config/organization.toml, or set KOHO_CONFIG."])
    port = args.port
    bot_port = args.bot_port if args.bot_port is not None else (port + 1 if port else 0)
    try:
        # The bot's port is the page's business only: if the default (port + 1) is taken, any will do.
        playground = Playground(config, args.db, port=port, bot_port=bot_port, any_bot_port=args.bot_port is None)
    except OrganizationError as e:
        fail(f"the organisation file {e.path} has {len(e.problems)} problem(s):", e.problems)
    except OSError as e:
        fail("the playground cannot listen.", [f"127.0.0.1:{port} or :{bot_port}: {e}. "
                                               "Choose other ports with --port and --bot-port."])
    playground.start()
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"koho playground: open {playground.url} — a local sandbox, not Slack: the bot runs on "
          f"{playground.bot_url} with its own database {args.db} (organisation file {config}).", flush=True)
    try:
        wait_for_interrupt()
    except KeyboardInterrupt:
        pass
    finally:
        playground.stop()
    return 0


def cmd_worker(_: argparse.Namespace) -> int:
    """Delivery and timed sweeps without HTTP: for extra instances beside the web process."""
    from bot import logs
    from bot.app import create_app
    from bot.doorbell import worker_poll_seconds

    settings = load_settings_or_exit()
    logs.configure(settings.log_level, settings.secrets())
    org = load_organization_or_exit(settings.config_path)
    db = open_database_or_exit(settings)
    services = create_app(settings, org, db).koho_services
    settle_heap()
    signal.signal(signal.SIGTERM, _interrupt)  # before anything starts: from here on SIGTERM stops in order
    try:
        services.start_background(poll_seconds=worker_poll_seconds(db))
        log.info("koho %s: worker running (delivery and timed sweeps)", __version__)
        wait_for_interrupt()
    except KeyboardInterrupt:
        pass
    finally:
        services.stop_background()
    log.info("koho %s: worker stopped", __version__)
    return 0


def parse_since_or_exit(value, timezone: str):  # noqa: ANN001, ANN201
    """`--since`: a date (the city's day) or an ISO 8601 date-time; None when not given."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if not value:
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        fail("--since is not a date.", [f"Got {value!r}; use YYYY-MM-DD or an ISO 8601 date-time."])
    if since.tzinfo is None:
        since = since.replace(tzinfo=ZoneInfo(timezone))  # a plain date means the city's day
    return since


def cmd_export(args: argparse.Namespace) -> int:
    """Write the record (for public-records requests) to stdout or a file: CSV for Excel (UTF-8 with a BOM,
    formula-safe cells), JSON as stored; times in the organisation's time zone (`bot.workflows.export_format`)."""
    from bot.db import Database
    from bot.workflows.export import EXPORTS
    from bot.workflows.export_format import encode, to_csv, to_json
    from bot.workflows.proposals import export

    settings = load_settings_or_exit()
    org = load_organization_or_exit(settings.config_path)
    since = parse_since_or_exit(args.since, org.timezone)
    db = Database(settings.database_url)
    if args.what == "proposals":
        records = export.proposal_records(db, org, since)
        text = to_json(records) if args.format == "json" else export.to_csv(records)
    else:
        read, columns = EXPORTS[args.what]
        records = read(db, org, since)
        text = to_json(records) if args.format == "json" else to_csv(records, columns)
    data = encode(text, args.format)
    if args.output:
        with open(args.output, "wb") as f:
            f.write(data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    """`outbox retry-failed`: failed deliveries back to pending, for the running dispatchers to send."""
    from bot import logs
    from bot.clock import SystemClock
    from bot.doorbell import Doorbell
    from bot.workflows import outbox

    settings = load_settings_or_exit()
    logs.configure(settings.log_level, settings.secrets())
    org = load_organization_or_exit(settings.config_path)
    since = parse_since_or_exit(args.since, org.timezone)
    db = open_database_or_exit(settings)
    with db.transaction() as session:
        ids = outbox.retry_failed(session, now=SystemClock().now(), since=since)
    Doorbell(db).ring_now()  # workers on PostgreSQL start at once, not at their next look
    log.info("outbox: %d failed deliveries put back to pending by `outbox retry-failed`%s: %s", len(ids),
             f" (since {since.isoformat()})" if since else "", ids)
    print(f"koho: {len(ids)} failed deliveries are pending again" + (f" (ids {ids[0]}–{ids[-1]})" if ids else "")
          + "; a running bot (or `python -m bot worker`) sends them.")
    return 0


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    number = ascii_int(value)
    return default if number is None else number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Koho (広報): the city's social-media bot.")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the bot (default): HTTP on PORT, or Socket Mode with SLACK_APP_TOKEN")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    serve.add_argument("--with-workers", action="store_true",
                       help="leave delivery to `python -m bot worker` processes (the Procfile's web): this process "
                            "answers Slack, and delivers only what no worker has taken for 30 s")
    playground = sub.add_parser("playground", help="run the bot with a local workspace in the browser (no Slack)")
    playground.add_argument("--port", type=int, default=_int_env("KOHO_PLAYGROUND_PORT", 3000),
                            help="the workspace's port on 127.0.0.1 (default 3000; KOHO_PLAYGROUND_PORT)")
    playground.add_argument("--bot-port", type=int, default=None, help="the bot's port (default: --port + 1)")
    playground.add_argument("--db", default=os.environ.get("KOHO_PLAYGROUND_DB") or "playground.db",
                            help="the playground's own SQLite file (default playground.db; KOHO_PLAYGROUND_DB)")
    sub.add_parser("worker", help="run delivery and timed sweeps only (beside `serve --with-workers`, or extra "
                   "instances; a plain serve runs them too)")
    sub.add_parser("migrate", help="bring the database schema up to date")
    check = sub.add_parser("check-config", help="validate the settings and the organisation file, and ask Slack "
                           "whether the bot can post in every channel it names")
    check.add_argument("--offline", action="store_true", help="do not ask Slack (the files only)")
    export = sub.add_parser("export", help="export the record: proposals (versions and decisions), the account "
                            "register, citizen comments (masked) or the audit events")
    export.add_argument("what", choices=["proposals", "accounts", "comments", "audit"], help="what to export")
    export.add_argument("--format", choices=["csv", "json"], default="csv",
                        help="csv (default): for Excel — UTF-8 with a BOM, a cell Excel would read as a formula "
                        "prefixed with '; json: the record as stored. Times are in the organisation's time zone")
    export.add_argument("--since", help="only what was created (comments: received; accounts: changed; audit: "
                        "recorded) on or after this date (YYYY-MM-DD)")
    export.add_argument("--output", help="write to this file instead of standard output")
    outbox_cmd = sub.add_parser("outbox", help="look after the delivery queue")
    outbox_sub = outbox_cmd.add_subparsers(dest="outbox_command", required=True)
    retry = outbox_sub.add_parser("retry-failed", help="put failed deliveries back to pending (after fixing the "
                                  "cause: the bot invited, a scope granted, the token replaced); audited")
    retry.add_argument("--since", help="only items enqueued on or after this date (YYYY-MM-DD) or date-time")
    sub.add_parser("version", help="print the version")
    args = parser.parse_args(argv)
    if args.command is None:
        from bot.settings import SLACK_TOKENS, slack_tokens_configured

        if slack_tokens_configured():
            args = parser.parse_args(["serve", *(argv or [])])
        else:
            print(f"koho: no Slack tokens are configured ({', '.join(SLACK_TOKENS)} are all empty), so this starts "
                  "the local playground instead of connecting to Slack. Put the tokens into .env to use Slack.",
                  flush=True)
            args = parser.parse_args(["playground"])
    if args.command == "version":
        print(__version__)
        return 0
    handlers = {"serve": cmd_serve, "playground": cmd_playground, "worker": cmd_worker, "export": cmd_export, "outbox": cmd_outbox, "migrate": cmd_migrate, "check-config": cmd_check_config}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
