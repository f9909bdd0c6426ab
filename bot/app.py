"""Wiring: settings + organisation + database -> a Bolt app with every handler registered."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot import logs
from bot.business_time import BusinessCalendar, office_calendar
from bot.clock import Clock, SystemClock
from bot.db import Database, mark_answering
from bot.delivery import STANDBY_AFTER, Dispatcher
from bot.doorbell import Doorbell
from bot.i18n import Translator, normalize_locale
from bot.on_call_group import OnCallSync
from bot.organization import Organization
from bot.settings import Settings
from bot.slack_transport import KeptAliveWebClient
from bot.views import load_all as load_views
from bot.worker import Sweeper
from bot.workflows.emergencies.roster import RosterCache
from bot.workflows.preferences import LocaleResolver, LookupFailed
from bot.workflows.sweeps import SweepContext
from bot.workflows.sweeps import load_all as load_sweeps

log = logging.getLogger(__name__)
LISTENER_THREADS = 16


class _HandledElsewhere(logging.Filter):
    """slack_sdk logs every failed attempt as an ERROR. The look-up and delivery clients' callers handle
    each failure and report it themselves (a warning with the reason; an error only when an outbox item
    finally fails), so those clients' ERROR lines would only repeat it, louder than it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


# Under "slack_sdk", so the level `bot.logs` gives slack_sdk's loggers applies to it too.
HANDLED_FAILURES = logging.getLogger(logs.HANDLED_FAILURES)
HANDLED_FAILURES.addFilter(_HandledElsewhere())


@dataclass
class Services:
    """What handlers need, passed explicitly (no globals, nothing mutated per request)."""

    settings: Settings
    org: Organization
    db: Database
    clock: Clock
    locales: LocaleResolver
    dispatcher: Dispatcher
    sweeper: Sweeper
    calendar: BusinessCalendar
    slack_clients: tuple[KeptAliveWebClient, ...] = ()  # each keeps its connections to Slack open
    on_call_sync: OnCallSync | None = None  # with `[emergency] on_call_group`: its members from Slack

    def start_background(self, *, sweeps: bool = True, poll_seconds: float = 1.0) -> None:
        """Delivery and timed sweeps for this process (tests run sweeps by hand instead). `poll_seconds`:
        how often the dispatcher looks for work nobody kicked it for (a worker: `worker_poll_seconds`)."""
        self.dispatcher.start(poll_seconds=poll_seconds)
        if sweeps:
            self.sweeper.start()
            if self.on_call_sync is not None:
                self.on_call_sync.start()

    def stop_background(self) -> None:
        if self.on_call_sync is not None:
            self.on_call_sync.stop()
        self.sweeper.stop()
        self.dispatcher.stop()

    def close_connections(self) -> None:
        """Close the kept connections to Slack (a bot stopped while its process goes on: the playground's reset)."""
        for client in self.slack_clients:
            client.pool.close()

    def notify(self) -> None:
        """A workflow committed outbox items: deliver them now (here, or in the workers)."""
        self.dispatcher.kick()

    def translator_for(self, user_id: str | None) -> Translator:
        return Translator(self.locales.locale_for(user_id), self.org.timezone)

    def answering_translator_for(self, user_id: str | None) -> Translator:
        """For answering a modal submission (Slack's 3 seconds): the language stored, however old (opening
        the modal learnt it); Slack is asked only when nothing is known about the person yet."""
        return Translator(self.locales.locale_for(user_id, stale_ok=True), self.org.timezone)

    def cached_translator_for(self, user_id: str | None) -> Translator:
        """The person's language as already known (no Slack call): for opening a modal in time."""
        return Translator(self.locales.cached_locale_for(user_id), self.org.timezone)

    def org_translator(self) -> Translator:
        """For channel messages many people read: the organisation's language."""
        return Translator(self.org.locale, self.org.timezone)


def make_web_client(settings: Settings, *, timeout: int = 10, retries: bool = True,
                    logger: logging.Logger | None = None) -> WebClient:
    handlers = (
        [
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ]
        if retries
        else []
    )
    return KeptAliveWebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=timeout, retry_handlers=handlers,
        logger=logger, proxy=settings.slack_proxy,
    )


# users.info answers about the person asked for, not about Slack or the bot: no reason to stop asking about others.
ABOUT_THE_PERSON = frozenset({"user_not_found", "user_not_visible", "user_disabled"})


def _slack_locale_fetcher(client: WebClient):  # noqa: ANN202
    def fetch(user_id: str) -> str | None:
        try:
            user = client.users_info(user=user_id, include_locale=True)["user"]
        except SlackApiError as e:
            code = e.response.get("error")
            raise LookupFailed(code, about_the_person=e.response.status_code == 200 and code in ABOUT_THE_PERSON) from e
        except OSError as e:  # a timeout, a refused connection
            raise LookupFailed(f"{type(e).__name__}: {e}") from e
        return normalize_locale(user.get("locale"), default="") or None

    return fetch


def create_app(settings: Settings, org: Organization, db: Database, *, clock: Clock | None = None,
               with_workers: bool = False) -> App:
    """A ready Bolt app. Calls Slack's `auth.test` once, as Bolt does, to learn the bot's identity.

    `with_workers`: this process answers Slack beside `python -m bot worker` processes and leaves delivery
    to them (its dispatcher stands by, for when none is running)."""
    clock = clock or SystemClock()
    client = make_web_client(settings)
    # A short, retry-free client for look-ups made while a person waits.
    lookup_client = make_web_client(settings, timeout=2, retries=False, logger=HANDLED_FAILURES)
    locales = LocaleResolver(db, clock, org.locale, _slack_locale_fetcher(lookup_client))
    # Delivery retries through the outbox itself, so its client must not sleep on a 429.
    # Its timeout stays well inside the claim's lease, so a slow Slack never lets a second process
    # take over an item that is still being posted.
    lease = timedelta(seconds=settings.delivery_lease_seconds)
    delivery_client = make_web_client(settings, retries=False, logger=HANDLED_FAILURES,
                                      timeout=max(1, min(10, settings.delivery_lease_seconds // 2)))
    load_views()
    load_sweeps()
    from bot.workflows.accounts.service import seed as seed_accounts

    seed_accounts(db, org, clock)  # the organisation file's accounts into the register, once per id
    calendar = office_calendar(org)
    dispatcher = Dispatcher(db, delivery_client, clock, org, locales, lease=lease, doorbell=Doorbell(db),
                            standby_after=STANDBY_AFTER if with_workers else None, calendar=calendar)
    on_call_sync = None
    if org.on_call_group is not None:
        # Every on-call check reads the group's members as last stored; this process asks Slack too.
        members = RosterCache(db, org.on_call_group)
        org.on_call_group_members.read_from(members)
        on_call_sync = OnCallSync(lookup_client, db, clock, org, members)
    services = Services(
        settings=settings,
        org=org,
        db=db,
        clock=clock,
        locales=locales,
        dispatcher=dispatcher,
        sweeper=Sweeper(SweepContext(db=db, org=org, clock=clock, calendar=calendar), dispatcher),
        calendar=calendar,
        slack_clients=(client, lookup_client, delivery_client),
        on_call_sync=on_call_sync,
    )
    app = App(
        signing_secret=settings.slack_signing_secret or None,
        client=client,
        logger=logging.getLogger(logs.BOLT),
        # Listeners answer people (a submission stored before its answer, a modal opened in time).
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener",
                                             initializer=mark_answering),
    )
    # Bolt has called auth.test with this client already; the workspace URL makes permalinks.
    dispatcher.workspace_url = client.auth_test().get("url", "") or ""
    from bot.handlers import deferred, register_all
    from bot.handlers.in_place import answer_submissions_in_place

    register_all(app, services)
    answer_submissions_in_place(app)  # a modal submission is answered when stored, not at Bolt's next 10 ms look
    # The same listeners, for the clicks accepted at once and worked by a dispatcher (handlers/deferred.py):
    # run in the dispatcher's thread, the payload replayed as Socket Mode delivers one (checked on arrival).
    replay_app = App(client=client, logger=logging.getLogger(logs.BOLT_REPLAY), process_before_response=True,
                     request_verification_enabled=False)
    register_all(replay_app, services, answering=False)
    dispatcher.replayer = deferred.replayer(replay_app)
    app.koho_services = services  # type: ignore[attr-defined]  # for the web layer and tests
    return app
