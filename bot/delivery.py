"""The dispatcher: delivers the outbox to Slack, in order per channel, until Slack has it.

- Normal case: a workflow commits, the handler calls `kick()`, the dispatcher thread wakes and
  hands what is due to its workers at once. It is pipelined, not in rounds: whenever a worker is
  free it claims again, so a slow call holds up only its own channel.
- Slack says 429: the channel waits `Retry-After` seconds; nothing is dropped.
- 5xx, timeouts, connection errors: retried with exponential backoff for at least an hour, then marked failed.
- Errors that retrying cannot fix (channel_not_found, not_in_channel, invalid_blocks): failed at once;
  an error we do not know (not a 5xx, not a 429) after `UNKNOWN_ERROR_ATTEMPTS`.
- Slack refusing the bot itself (a revoked token, an uninstalled app): nothing fails; delivery pauses
  and tries again now and then (`SlackRefusal`), and resumes by itself when Slack answers again.
- A DM queued after a channel's posts (to link to them) does not wait long behind a failing one:
  once the channel's head has failed twice, it goes to its recipient's own queue.
- Failed items are shown to the PR office: one message per channel and error, updated as more fail.
  A citizen comment's own message (or its surge digest) that a department channel can no longer take
  (archived, deleted, the bot removed) moves the comments it showed to the PR office's triage in the same
  transaction, so none waits unseen in a dead channel; the notice names them.
- Claims are leases (`claimed_until`): conditional updates make each item claimed by one
  dispatcher, even with several processes on one PostgreSQL; a crashed process's claims expire.
- Per channel only the oldest pending item is ever in flight, so messages keep their order and a
  channel's rate limit is never hammered.
- Posts carry their outbox id in Slack message metadata. When a post is tried again (a timeout, a
  crash between Slack's answer and our commit), the dispatcher first looks in the channel (or the
  thread) for a message with that id and records it instead of posting a second time. After a
  timeout it first waits twice the client timeout (wall clock), so a post Slack is still storing
  has landed before it is looked for; a restarted process waits out the lease anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import and_, bindparam, func, or_, select, update

from bot import blocks
from bot.business_time import BusinessCalendar, office_calendar
from bot.clock import Clock
from bot.db import Database, Turns, insert_for
from bot.doorbell import Doorbell
from bot.i18n import Translator
from bot.models import OutboxItem, SlackMessage
from bot.organization import Organization
from bot.views import RENDERERS, NothingToRender, RenderContext
from bot.workflows import outbox
from bot.workflows.comments.service import CommentService
from bot.workflows.outbox import DM, HOME, POST, REPLAY, UNUSABLE_CHANNEL_ERRORS, UPDATE, UPLOAD, failure_kind
from bot.workflows.preferences import LocaleResolver

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
METADATA_EVENT = "koho_outbox"
LOOKBACK_MESSAGES = 100  # a lost post is among the newest messages: only a channel's head item is in flight
MAX_ATTEMPTS = 8
# At most this many App Home publishes at once: a Home is the largest view to render, and a decision
# refreshes several people's; the message the clicker is looking at (its chat.update, the DM) must not
# wait behind them for the interpreter. A person's older pending refresh is skipped for the newest anyway.
HOME_LANES = 2
# And none starts while a message is being rendered (the approval card a click changed, the request it
# posts next): rendering is the interpreter's work, and three App Homes beside it made the card's
# update wait twice as long. Each waits no longer than this, so a stream of messages (a surge, an
# emergency's DMs) cannot starve them.
HOME_WAIT_SECONDS = 0.2
# Deliveries run Python (reading, rendering, recording the outcome) in turns, one at a time; their waits for
# Slack's answers still overlap. Python runs one thread at a time, so more at once rendered little sooner (a
# PostgreSQL round trip aside): eight delivery threads rendering a surge's digests together took the
# interpreter from the webhook's answers beside them (SQLite, one process) and, in a worker, spent CPU
# handing it round that the web process needed (PostgreSQL). A message (the card a click changed, a DM)
# goes before an App Home, which steps aside for it at most `Turns.YIELD_AT_MOST`. A click being worked (a
# replay) takes no turn: the person who clicked is waiting for it. Measured in `bench/findings.md`, eighth round.
RENDER_IN_TURNS = True
# A delivery that waited this long for its turn goes ahead anyway (turns are for speed, not correctness).
TURN_WAIT_AT_MOST = 10.0
# A web process started --with-workers delivers what no worker took within this long (none is running)
# and says so at most this often.
STANDBY_AFTER = timedelta(seconds=30)
STANDBY_WARN_EVERY = 60.0
# A failing item is given up only after MAX_ATTEMPTS *and* this long: a Slack incident of half an hour
# during a disaster must not turn every comment and approval request into a failure notice.
RETRY_WINDOW = timedelta(hours=1)
MAX_BACKOFF = timedelta(minutes=10)
# Answers about this message or its conversation that no retry changes (Slack's documented codes for
# chat.postMessage, chat.update, views.publish, conversations.open, files.*): failed at once, the queue moves on.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "channel_is_archived", "is_inactive",
    "invalid_blocks", "invalid_blocks_format", "invalid_arguments", "invalid_metadata_format",
    "invalid_metadata_schema", "metadata_too_large", "msg_too_long", "msg_blocks_too_long", "no_text",
    "too_many_attachments", "view_too_large", "not_enabled",
    "cant_update_message", "message_not_found", "edit_window_closed", "cannot_reply_to_message",
    "restricted_action", "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel", "restricted_action_thread_locked",
    "posting_to_general_channel_denied", "ekm_access_denied", "team_access_not_granted", "no_permission",
    "access_denied", "enterprise_is_restricted", "messages_tab_disabled",
    "user_not_found", "user_not_visible", "user_disabled", "cannot_dm_bot", "method_not_supported_for_channel_type",
})
# Slack refusing the bot itself, whatever the message: every call would fail alike. Delivery pauses
# (items stay pending, no attempt counted) instead of failing the whole queue on first sight.
WORKSPACE_ERRORS = frozenset({
    "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "not_allowed_token_type",
    "two_factor_setup_required", "org_login_required", "team_added_to_org", "accesslimited",
})
PAUSE_FIRST = timedelta(seconds=30)  # then doubled at each refused try, up to
PAUSE_AT_MOST = timedelta(minutes=5)
# `ok: false` answers that are Slack's own trouble, not the message's: retried like a 5xx.
TRANSIENT_ERRORS = frozenset({
    "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited", "rate_limited",
    "update_failed", "external_channel_migrating", "message_limit_exceeded", "streaming_state_conflict",
})
# Any other error (one we have not met) is failed after this many attempts, not retried for an hour
# while the channel's later messages wait behind it.
UNKNOWN_ERROR_ATTEMPTS = 3
# A DM queued after a channel (the emergency page, after the header it links to) waits for that
# channel's head at most this many failed attempts, then goes to its recipient on its own.
RELEASE_DMS_AFTER = 2


class SlackRefusal:
    """Delivery paused because Slack refuses the bot's token (`WORKSPACE_ERRORS`).

    One probe item is tried after `PAUSE_FIRST`, then after twice as long each time it is refused, at
    most `PAUSE_AT_MOST`; any answer that is not such a refusal ends the pause. Logged as an ERROR once
    per pause (an operator must act: reinstall the app or fix SLACK_BOT_TOKEN); `/healthz` shows it.
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self.since: Any = None
        self._until: Any = None
        self._wait = PAUSE_FIRST
        self._probe: int | None = None
        self._lock = threading.Lock()

    def probes_allowed(self, now: Any) -> int | None:
        """None: not paused; else how many items may be claimed now (0, or 1 probe)."""
        with self._lock:
            if self.reason is None:
                return None
            return 1 if self._probe is None and now >= self._until else 0

    def probing(self, item_id: int) -> None:
        with self._lock:
            self._probe = item_id

    def refused(self, item_id: int, code: str, now: Any) -> None:
        with self._lock:
            first = self.reason is None
            if first:
                self.since, self._wait = now, PAUSE_FIRST
            elif item_id == self._probe:
                self._wait = min(PAUSE_AT_MOST, self._wait * 2)
            else:
                return  # a call already under way when the pause began: the same news
            self.reason, self._until, self._probe = code, now + self._wait, None
            wait = self._wait.total_seconds()
        if first:
            log.error("Slack refuses the bot's token (%s): delivery is paused, nothing is failed or lost; trying "
                      "again in %g s, then at most every %g s. Reinstall the app or fix SLACK_BOT_TOKEN.",
                      code, wait, PAUSE_AT_MOST.total_seconds())
        else:
            log.info("Slack still refuses the bot's token (%s); trying again in %g s", code, wait)

    def finished(self, item_id: int) -> None:
        """The probe ended without Slack's verdict on the token (nothing to render): another may go."""
        with self._lock:
            if self._probe == item_id:
                self._probe = None

    def answered(self, now: Any) -> None:
        """Slack answered a call as itself: the token works (again)."""
        if self.reason is None:
            return
        with self._lock:
            reason, since = self.reason, self.since
            self.reason, self.since, self._until, self._probe = None, None, None, None
        if reason is not None:
            log.warning("Slack accepts the bot's token again: delivery resumed (paused %s for %s)",
                        reason, now - since)


def paused_by_slack(db: Database) -> str | None:
    """Why delivery waits for Slack to accept the bot at all, as any process's dispatcher recorded it
    (the refused item stays pending with the error), else None. For `/healthz`."""
    with db.read() as session:
        return session.scalar(
            select(OutboxItem.last_error)
            .where(OutboxItem.status == "pending", OutboxItem.last_error.in_(sorted(WORKSPACE_ERRORS)))
            .limit(1)
        )


class ChannelPacer:
    """Slack allows about one message per second per channel, with short bursts: keep below it.

    A token bucket per channel (in this process; 429 handling covers what several processes do).
    """

    def __init__(self, per_second: float = 1.0, burst: int = 3):
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, channel: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(channel, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
            if tokens < 1:
                self._buckets[channel] = (tokens, now)
                return False
            self._buckets[channel] = (tokens - 1, now)
            return True

    def next_token_in(self, channel: str) -> float:
        """Seconds until `channel` has a token again (how long its refused item waits)."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(channel, (float(self.burst), now))
        deficit = 1 - min(float(self.burst), tokens + (now - last) * self.per_second)
        return max(0.01, deficit / self.per_second)


# Built once, in Core: the pipelined loop claims after every delivery, and every delivery records its outcome.
# Built anew each time through the ORM, a claim's statements took more of the interpreter than running them
# did (bench/findings.md, eighteenth round). Parameters: `now`, and the claiming dispatcher's identity `by`.
_OUTBOX = OutboxItem.__table__
# Not held by a live lease (a crashed process's claim has run out).
_UNCLAIMED = or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < bindparam("now"))
# The head (oldest pending item) of every channel's queue that is due and not claimed; `limit`: how many.
_DUE = (
    select(_OUTBOX.c.id, _OUTBOX.c.channel, _OUTBOX.c.action, _OUTBOX.c.ref)
    .where(
        _OUTBOX.c.id.in_(select(func.min(_OUTBOX.c.id)).where(_OUTBOX.c.status == "pending")
                         .group_by(_OUTBOX.c.channel)),
        _OUTBOX.c.next_attempt_at <= bindparam("now"),
        _UNCLAIMED,
    )
    .order_by(_OUTBOX.c.id)
    .limit(bindparam("limit"))
)
# Lease `ids` until `until`: one conditional statement, so of several dispatchers exactly one gets each item.
_TAKE = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)), _OUTBOX.c.status == "pending", _UNCLAIMED)
    .values(claimed_until=bindparam("until"), claimed_by=bindparam("by"), attempts=_OUTBOX.c.attempts + 1)
    .returning(_OUTBOX.c.id)
)
# Of the people in `channels` ("home:<user>"), each one's newest App Home refresh waiting.
_NEWEST_HOMES = (
    select(_OUTBOX.c.channel, func.max(_OUTBOX.c.id))
    .where(_OUTBOX.c.channel.in_(bindparam("channels", expanding=True)), _OUTBOX.c.action == HOME,
           _OUTBOX.c.status == "pending")
    .group_by(_OUTBOX.c.channel)
)
# A person's refreshes older than `latest`, not claimed by another dispatcher: done, by the newest one.
_SUPERSEDE_HOMES = (
    update(_OUTBOX)
    .where(_OUTBOX.c.channel == bindparam("home"), _OUTBOX.c.action == HOME, _OUTBOX.c.status == "pending",
           _OUTBOX.c.id < bindparam("latest"), or_(_OUTBOX.c.claimed_by == bindparam("by"), _UNCLAIMED))
    .values(status="delivered", delivered_at=bindparam("now"), result={"superseded": True}, claimed_until=None)
)
# Item `item`, while the claim of dispatcher `by` on it stands. A claim is a lease: one held past it (Slack slow
# for a minute, say) may have been taken by another dispatcher, whose outcome must not be overwritten by this
# one's (marked delivered or failed over its claim, or set free for a third).
_MINE = and_(_OUTBOX.c.id == bindparam("item"), _OUTBOX.c.claimed_by == bindparam("by"),
             _OUTBOX.c.status == "pending")
_DELIVERED = (update(_OUTBOX).where(_MINE)
              .values(status="delivered", delivered_at=bindparam("now"), result=bindparam("outcome"),
                      claimed_until=None, last_error=None))
_DELIVERED_KEEPING = _DELIVERED.values(ref=bindparam("kept"))  # the ref replaced by what is kept of it
# A newer pending item of the same action for the same message (or App Home) in the same channel.
_NEWER = (select(_OUTBOX.c.id)
          .where(_OUTBOX.c.status == "pending", _OUTBOX.c.action == bindparam("action"),
                 _OUTBOX.c.id > bindparam("item"), _OUTBOX.c.channel == bindparam("channel"))
          .limit(1))
_NEWER_FOR_MESSAGE = _NEWER.where(_OUTBOX.c.message_key == bindparam("key"))
_NEWER_FOR_HOME = _NEWER.where(_OUTBOX.c.message_key.is_(None))


class Dispatcher:
    """`standby_after`: set in a web process that runs beside `python -m bot worker` processes. It leaves
    delivery to them and takes an item only when it has been due that long unclaimed (no worker is
    running), so its interpreter is kept for answering Slack; its kicks only ring the workers."""

    def __init__(self, db: Database, client: WebClient, clock: Clock, org: Organization, locales: LocaleResolver,
                 *, workers: int = 8, batch: int = 50, lease: timedelta = LEASE,
                 doorbell: Doorbell | None = None, standby_after: timedelta | None = None,
                 render_in_turns: bool = RENDER_IN_TURNS, calendar: BusinessCalendar | None = None):
        self.db = db
        self.lease = lease
        self.doorbell = doorbell
        self.standby_after = standby_after
        self._standby_warned_at = float("-inf")
        self._standby_seen: dict[int, float] = {}  # due heads, and when this standby first saw each
        self.client = client
        self.clock = clock
        self.org = org
        self.locales = locales
        # A comment a department channel refuses goes to triage, with the office's deadlines (`_tell_pr_office`).
        self.comments = CommentService(db, org, calendar or office_calendar(org), clock)
        self.batch = batch
        self.workspace_url = ""  # https://<team>.slack.com/, learnt from auth.test, for permalinks
        # Works an accepted click (`bot/handlers/deferred.py`); a dispatcher without one leaves them alone.
        self.replayer: Callable[[dict[str, Any]], int] | None = None
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._pacer = ChannelPacer()
        self.refusal = SlackRefusal()
        # Posts whose last attempt timed out: Slack may still be storing them. Not retried (and so
        # not looked for) until this wall-clock moment, or the lookup could miss a post about to land.
        self._unsure: dict[int, float] = {}
        self._unsure_lock = threading.Lock()
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deliver")
        self._turns = Turns() if render_in_turns else None  # see RENDER_IN_TURNS
        self._in_flight: dict[int, str] = {}  # id -> action, claimed by this dispatcher and not finished: never claimed again
        self._rendering: set[int] = set()  # messages (not App Homes) claimed and not rendered yet
        self._held_homes: dict[int, float] = {}  # App Home item -> when it was first held back for messages
        self._paced_for = float("inf")  # seconds until the soonest item refused by the pacer may go
        self._in_flight_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running -------------------------------------------------------------------------------

    def kick(self) -> None:
        """Something was enqueued: deliver now rather than at the next poll (the workers, in standby)."""
        if self.standby_after is None:
            self._wake.set()
        if self.doorbell is not None:
            self.doorbell.ring()

    def start(self, poll_seconds: float = 1.0) -> None:
        """Deliver in the background, pipelined: whenever a worker is free, claim what is due.

        Not in rounds: one slow call (a DM to a person whose conversation must first be opened, a
        chart upload) must not hold back the next channel's head item, such as an emergency's
        checklist, until the whole round is through.
        """
        def loop() -> None:
            while not self._stopping.is_set():
                self._wake.clear()  # before claiming: a kick that comes while we claim is not lost
                try:
                    started = self._fill()
                except Exception:
                    log.exception("claiming deliveries failed; retrying shortly")
                    started = 0
                if not started:
                    self._wake.wait(min(poll_seconds, self._paced_for))

        self._thread = threading.Thread(target=loop, name="dispatcher", daemon=True)
        self._thread.start()
        if self.doorbell is not None and self.standby_after is None:
            self.doorbell.listen(self._wake.set)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self.doorbell is not None:
            self.doorbell.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)

    def _fill(self) -> int:
        """Hand due items to the free workers; each finished one wakes the loop for the next."""
        with self._in_flight_lock:
            free = self.workers - len(self._in_flight)
        if free <= 0:
            return 0
        claimed = self._claim(limit=free)
        for item_id in claimed:
            self._pool.submit(self._deliver, item_id).add_done_callback(lambda _: self._wake.set())
        return len(claimed)

    def run_once(self) -> int:
        """Claim what is due (the head of each channel's queue) and deliver it, waiting. Returns how many."""
        claimed = self._claim()
        if not claimed:
            return 0
        list(self._pool.map(self._deliver, claimed))
        return len(claimed)

    def drain(self, max_rounds: int = 100) -> None:
        """Deliver until nothing is due (tests, the CLI)."""
        for _ in range(max_rounds):
            if not self.run_once():
                return

    # -- claiming ------------------------------------------------------------------------------

    def _claim(self, limit: int | None = None) -> list[int]:
        now = self.clock.now()
        # Looking is a read: on SQLite the one write turn is taken only when there is something to claim
        # (the pipelined loop looks after every delivery, while webhooks wait to store comments).
        with self.db.read() as session:
            due = session.execute(_DUE, {"now": now, "limit": self.batch}).all()
        if self.standby_after is not None:
            due = self._left_by_the_workers(due)
        with self._in_flight_lock:
            busy = dict(self._in_flight)  # its lease may have run out while we are still sending it
            rendering = bool(self._rendering)
        homes = sum(1 for action in busy.values() if action == HOME)
        probes = self.refusal.probes_allowed(now)  # None unless Slack refuses the token
        wanted: dict[int, str] = {}
        home_channels: dict[int, str] = {}
        self._paced_for = float("inf")
        waiting_homes: list[tuple[int, str]] = []
        moment = time.monotonic()

        def take_home(item_id: int, channel: str) -> None:
            nonlocal homes
            homes += 1
            home_channels[item_id] = channel
            wanted[item_id] = HOME

        for item_id, channel, action, ref in due:
            if limit is not None and len(wanted) >= limit:
                break
            if item_id in busy or self._still_unsure(item_id) or (action == REPLAY and self.replayer is None):
                continue
            if probes is not None and action != REPLAY:  # paused: a click is worked by its listener, not this client
                if not probes:
                    continue
                probes -= 1
                wanted[item_id] = action
                continue
            if action == HOME:
                held_since = self._held_homes.get(item_id)
                if held_since is None or moment - held_since < HOME_WAIT_SECONDS:
                    waiting_homes.append((item_id, channel))
                elif homes < HOME_LANES:  # waited long enough: it goes in its turn, before later messages
                    take_home(item_id, channel)
                continue
            # Paced by where the message lands: a DM queued behind a department channel's posts
            # (to link to them) is the recipient's conversation, not a share of that channel's.
            destination = ref.get("to", channel) if action == DM else channel
            if action in (POST, DM, UPLOAD) and not self._pacer.take(destination):
                # This conversation had its share for now: it comes round when its next token is due.
                self._paced_for = min(self._paced_for, self._pacer.next_token_in(destination))
                continue
            wanted[item_id] = action
        # The other App Homes after the messages; while messages are rendered, each waits up to HOME_WAIT_SECONDS.
        messages = rendering or any(action != HOME for action in wanted.values())
        due_ids = {item_id for item_id, _, _, _ in due}
        self._held_homes = {item_id: since for item_id, since in self._held_homes.items() if item_id in due_ids}
        for item_id, channel in waiting_homes if probes is None else ():
            if messages:
                left = HOME_WAIT_SECONDS - (moment - self._held_homes.setdefault(item_id, moment))
                if left > 0:  # a render's end wakes the loop sooner than this
                    self._paced_for = min(self._paced_for, left)
                    continue
            if homes >= HOME_LANES or (limit is not None and len(wanted) >= limit):
                continue  # a lane frees when a publish ends, and that wakes the loop
            self._held_homes.pop(item_id, None)
            take_home(item_id, channel)
        if not wanted:
            return []
        with self.db.transaction() as session:
            won = self._take(session, wanted, now)
            claimed = [item_id for item_id in wanted if item_id in won]
            if any(item_id in home_channels for item_id in claimed):
                claimed = self._newest_homes(session, claimed, home_channels, now)
        if probes is not None:
            probe = next((item_id for item_id in claimed if wanted.get(item_id, HOME) != REPLAY), None)
            if probe is not None:
                self.refusal.probing(probe)
        with self._in_flight_lock:
            self._in_flight.update((item_id, wanted.get(item_id, HOME)) for item_id in claimed)
            self._rendering.update(item_id for item_id in claimed if wanted.get(item_id, HOME) != HOME)
        return claimed

    def _left_by_the_workers(self, due: list[Any]) -> list[Any]:
        """Of the due heads, those this standby has seen due and unclaimed for `standby_after`: no worker is
        taking them. Counted from when it first saw each one, not from when it was enqueued: a head that
        waited its turn behind others in its channel (a surge, paced at one message a second) is still young."""
        moment = time.monotonic()
        seen = {row[0]: self._standby_seen.get(row[0], moment) for row in due}
        self._standby_seen = seen
        wait = self.standby_after.total_seconds()
        left = [row for row in due if moment - seen[row[0]] >= wait]
        if left and moment - self._standby_warned_at >= STANDBY_WARN_EVERY:
            self._standby_warned_at = moment
            log.warning("%d outbox item(s) were due for %g s with no worker taking them: this web process delivers "
                        "them itself. Is `python -m bot worker` running?", len(left), wait)
        return left  # the others are looked at again at the next poll

    def _rendered(self, item_id: int) -> None:
        with self._in_flight_lock:
            if item_id not in self._rendering:
                return
            self._rendering.discard(item_id)
            last = not self._rendering
        if last:
            self._wake.set()  # App Homes held back for it may start

    def _take(self, session: Any, ids: Iterable[int], now: Any) -> set[int]:
        """Lease these items to this dispatcher; returns the ids it got. One conditional statement: of
        several dispatchers, exactly one gets each item (what was read may be stale)."""
        return set(session.scalars(_TAKE, {"ids": list(ids), "now": now, "until": now + self.lease,
                                           "by": self.identity}))

    def _newest_homes(self, session: Any, claimed: list[int], home_channels: dict[int, str], now: Any) -> list[int]:
        """A person's App Home is rendered from what is true when it is delivered: of their refreshes still
        waiting, the newest is published once, in place of the one just claimed, and the others skipped.

        Under load a person's refreshes pile up behind the App Home lanes. One look for all the people
        claimed, in the claim's transaction; a refresh asked for after it is a new row, published later.
        """
        heads = {home_channels[i]: i for i in claimed if i in home_channels}
        newest = dict(session.execute(_NEWEST_HOMES, {"channels": list(heads)}).all())
        instead: dict[int, int] = {}
        for channel, head in heads.items():
            latest = newest.get(channel, head)
            if latest == head:
                continue
            if not self._take(session, [latest], now):
                continue  # someone else holds it
            session.execute(_SUPERSEDE_HOMES, {"home": channel, "latest": latest, "by": self.identity, "now": now})
            instead[head] = latest
        return [instead.get(item_id, item_id) for item_id in claimed]

    def _still_unsure(self, item_id: int) -> bool:
        with self._unsure_lock:
            until = self._unsure.get(item_id)
            if until is None:
                return False
            if time.monotonic() < until:
                return True
            del self._unsure[item_id]
            return False

    # -- delivering ----------------------------------------------------------------------------

    def _deliver(self, item_id: int) -> None:
        try:
            self._deliver_claimed(item_id)
        finally:
            self._rendered(item_id)
            self.refusal.finished(item_id)
            with self._in_flight_lock:
                self._in_flight.pop(item_id, None)

    def _deliver_claimed(self, item_id: int) -> None:
        try:
            with self.db.read() as session:
                item = session.get(OutboxItem, item_id)
            if item is None or item.status != "pending" or item.claimed_by != self.identity:
                return
            if item.action == REPLAY:
                self._replay(item_id, item.ref)
                return
            locale = self._locale_of(item)  # may ask Slack (once a while per person): not in its turn
            with self._turn(item), self.db.read() as session:
                if self._superseded(session, item):
                    self._finish(item_id, result={"superseded": True})
                    return
                rendered = self._render(session, item, locale)
                target = self._target(session, item)
            self._rendered(item_id)
            found = self._already_posted(item, target) if item.action in (POST, DM) and item.attempts > 1 else None
            if found is not None:
                log.info("outbox item %s was posted before an interruption; recorded, not posted again", item_id)
                self.refusal.answered(self.clock.now())
                with self._turn(item):
                    self._finish(item_id, result={**found, "recovered": True},
                                 posted=(item.message_key, found) if item.message_key else None)
                return
            result = self._send(item, rendered, target)
        except NothingToRender as e:
            self._finish(item_id, result={"skipped": str(e) or "nothing to render"})
        except SlackApiError as e:
            self._failed_attempt(item_id, e)
        except OSError as e:  # timeouts, refused connections
            with self._unsure_lock:
                self._unsure[item_id] = time.monotonic() + 2 * (self.client.timeout or 10)
            self._retry_later(item_id, f"{type(e).__name__}: {e}", None)
        except Exception as e:  # a bug in a renderer must not stop the queue
            log.exception("delivering outbox item %s failed", item_id)
            self._give_up(item_id, f"{type(e).__name__}: {e}")
        else:
            self.refusal.answered(self.clock.now())
            with self._turn(item):
                self._finish(item_id, result=result, posted=(item.message_key, result) if item.action in (POST, DM)
                             and item.message_key else None)

    @contextlib.contextmanager
    def _turn(self, item: OutboxItem) -> Iterator[None]:
        """This delivery's turn to run Python (see RENDER_IN_TURNS): a message's before an App Home's."""
        if self._turns is None:
            yield
            return
        with self._turns.taken(timeout=TURN_WAIT_AT_MOST, answering=item.action != HOME):
            yield

    def _replay(self, item_id: int, payload: dict[str, Any]) -> None:
        """Work an accepted click through its listener (which commits, notifies and answers the person itself),
        then keep only what says whose click it was: the payload (the message clicked on) is not kept."""
        status = self.replayer(payload)
        actions = payload.get("actions") or [{}]
        self._finish(item_id, result={"replayed": status},
                     ref={"user": (payload.get("user") or {}).get("id"), "action_id": actions[0].get("action_id")})

    def _superseded(self, session: Any, item: OutboxItem) -> bool:
        """A newer pending update or home publish makes this one pointless."""
        if item.action not in (UPDATE, HOME):
            return False
        newer = _NEWER_FOR_MESSAGE if item.message_key else _NEWER_FOR_HOME
        return session.scalar(newer, {"action": item.action, "item": item.id, "channel": item.channel,
                                      "key": item.message_key}) is not None

    @staticmethod
    def _recipient(item: OutboxItem) -> str | None:
        return item.ref["to"] if item.action == DM else item.ref.get("user_id") if item.action == HOME else None

    def _locale_of(self, item: OutboxItem) -> str:
        """The language to render in: the recipient's (which may be asked of Slack), else the organisation's."""
        recipient = self._recipient(item)
        return self.locales.locale_for(recipient) if recipient else self.org.locale

    def _render(self, session: Any, item: OutboxItem, locale: str) -> dict[str, Any]:
        recipient = self._recipient(item)
        ctx = RenderContext(session=session, tr=Translator(locale, self.org.timezone), org=self.org,
                            now=self.clock.now(), recipient=recipient, workspace_url=self.workspace_url)
        try:
            renderer = RENDERERS[item.view]
        except KeyError:
            raise NothingToRender(f"no renderer for view {item.view!r}") from None
        rendered = renderer(ctx, item.ref)
        # Whatever a renderer made, Slack must not refuse it for its length: retrying would not help.
        return blocks.fit_message(rendered) if item.action in (POST, DM, UPDATE) else rendered

    def _target(self, session: Any, item: OutboxItem) -> dict[str, Any]:
        target: dict[str, Any] = {}
        if item.action == UPDATE:
            message = session.get(SlackMessage, item.message_key)
            if message is None:
                raise NothingToRender(f"message {item.message_key} was never posted")
            target = {"channel": message.channel, "ts": message.ts}
        if item.thread_key:
            parent = session.get(SlackMessage, item.thread_key)
            if parent is not None:
                target["thread_ts"] = parent.ts
        return target

    def _already_posted(self, item: OutboxItem, target: dict[str, Any]) -> dict[str, Any] | None:
        """Where an earlier, interrupted attempt posted this item, if it did (found by its metadata).

        Slack has no idempotency key for chat.postMessage: a timeout or a crash after Slack stored
        the message but before we committed its ts would otherwise post it twice.
        """
        try:
            channel = item.channel
            if item.action == DM:
                channel = self.client.conversations_open(users=item.ref["to"])["channel"]["id"]
            if "thread_ts" in target:
                response = self.client.conversations_replies(channel=channel, ts=target["thread_ts"],
                                                             include_all_metadata=True, limit=LOOKBACK_MESSAGES)
            else:
                response = self.client.conversations_history(channel=channel, include_all_metadata=True,
                                                             limit=LOOKBACK_MESSAGES)
        except SlackApiError as e:
            code = e.response.get("error") if isinstance(e.response.data, dict) else None
            if code in ("missing_scope", "not_in_channel", "channel_not_found"):
                log.warning("cannot look for an earlier post of outbox item %s (%s); posting", item.id, code)
                return None
            raise
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (metadata.get("event_type") == METADATA_EVENT
                    and (metadata.get("event_payload") or {}).get("outbox_id") == item.id):
                return {"channel": channel, "ts": message["ts"]}
        return None

    def _send(self, item: OutboxItem, rendered: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
        if item.action == HOME:
            self.client.views_publish(user_id=item.ref["user_id"], view=rendered)
            return {}
        if item.action == UPLOAD:
            # files.getUploadURLExternal, the upload itself, files.completeUploadExternal (slack_sdk).
            response = self.client.files_upload_v2(
                channel=item.channel, file=rendered["file"], filename=rendered["filename"], title=rendered["title"],
                alt_txt=rendered.get("alt_txt"), initial_comment=rendered.get("initial_comment"),
            )
            return {"files": [f.get("id") for f in response.get("files") or []]}
        if item.action == UPDATE:
            response = self.client.chat_update(channel=target["channel"], ts=target["ts"], **rendered)
            return {"channel": response["channel"], "ts": response["ts"]}
        kwargs = {**rendered, "metadata": {"event_type": METADATA_EVENT, "event_payload": {"outbox_id": item.id}}}
        if "thread_ts" in target:
            kwargs["thread_ts"] = target["thread_ts"]
        destination = item.ref["to"] if item.action == DM else item.channel
        response = self.client.chat_postMessage(channel=destination, **kwargs)
        return {"channel": response["channel"], "ts": response["ts"]}

    # -- outcomes ------------------------------------------------------------------------------

    def _mine(self, item_id: int) -> dict[str, Any]:
        """The parameters of `_MINE` for this item and this dispatcher."""
        return {"item": item_id, "by": self.identity}

    def _taken_over(self, item_id: int) -> None:
        log.warning("outbox item %s was taken over by another dispatcher (this one's lease ran out); its outcome "
                    "is that one's", item_id)

    def _finish(self, item_id: int, *, result: dict[str, Any], posted: tuple[str, dict[str, Any]] | None = None,
                ref: dict[str, Any] | None = None) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            done = session.execute(_DELIVERED if ref is None else _DELIVERED_KEEPING,
                                   {**self._mine(item_id), "now": now, "outcome": result, "kept": ref}).rowcount
            if done != 1:  # the other dispatcher finds this one's post by its metadata, and records it
                self._taken_over(item_id)
                return
            if posted is not None:
                key, where = posted
                session.execute(
                    insert_for(session)(SlackMessage)
                    .values(message_key=key, channel=where["channel"], ts=where["ts"], posted_at=now)
                    .on_conflict_do_update(index_elements=[SlackMessage.message_key],
                                           set_={"channel": where["channel"], "ts": where["ts"]})
                )

    def _failed_attempt(self, item_id: int, error: SlackApiError) -> None:
        code = error.response.get("error") if isinstance(error.response.data, dict) else None
        status = error.response.status_code
        if status == 429:
            retry_after = int(error.response.headers.get("Retry-After", error.response.headers.get("retry-after", 1)))
            self._retry_later(item_id, "ratelimited", timedelta(seconds=max(1, retry_after)), count_attempt=False)
            return
        if status >= 500:
            self._retry_later(item_id, f"HTTP {status}", None)
            return
        if code in WORKSPACE_ERRORS:
            self._refused(item_id, code)
            return
        self.refusal.answered(self.clock.now())  # Slack knew who was asking: the token works
        if code == "missing_scope":
            # Specific to the method: this item cannot succeed until the app is given the scope and
            # reinstalled (then `python -m bot outbox retry-failed`); the others go on.
            needed = error.response.get("needed") or "?"
            log.error("Slack refused outbox item %s: the app lacks the OAuth scope %s. Add it (OAuth & Permissions), "
                      "reinstall the app, then run `python -m bot outbox retry-failed`.", item_id, needed)
            self._give_up(item_id, f"missing_scope: {needed}")
        elif code in PERMANENT_ERRORS:
            self._give_up(item_id, code or f"HTTP {status}")
        elif code in TRANSIENT_ERRORS:
            self._retry_later(item_id, code, None)
        else:
            self._retry_later(item_id, code or f"HTTP {status}", None, give_up_after=UNKNOWN_ERROR_ATTEMPTS)

    def _refused(self, item_id: int, code: str) -> None:
        """Slack refuses the bot itself: the item waits, uncounted, and delivery pauses (`SlackRefusal`)."""
        with self.db.transaction() as session:
            if session.execute(
                update(_OUTBOX).where(_MINE).values(attempts=_OUTBOX.c.attempts - 1, claimed_until=None, last_error=code),
                self._mine(item_id),
            ).rowcount != 1:
                self._taken_over(item_id)
        self.refusal.refused(item_id, code, self.clock.now())

    def _retry_later(self, item_id: int, reason: str, delay: timedelta | None, *, count_attempt: bool = True,
                     give_up_after: int | None = None) -> None:
        now = self.clock.now()
        with self.db.transaction() as session:
            item = session.scalar(select(OutboxItem).where(_MINE).with_for_update(key_share=True), self._mine(item_id))
            if item is None:
                self._taken_over(item_id)
                return
            if count_attempt and ((item.attempts >= MAX_ATTEMPTS and now - item.created_at >= RETRY_WINDOW)
                                  or (give_up_after is not None and item.attempts >= give_up_after)):
                item.status, item.last_error, item.claimed_until = "failed", reason, None
                self._tell_pr_office(session, item)
                log.error("outbox item %s failed after %s attempts: %s", item_id, item.attempts, reason)
                return
            if not count_attempt:
                item.attempts -= 1  # a rate limit is Slack pacing us, not a failure
            backoff = delay or min(MAX_BACKOFF, timedelta(seconds=2 ** max(0, item.attempts - 1)))
            item.next_attempt_at, item.claimed_until, item.last_error = now + backoff, None, reason
            if delay is not None:  # the whole channel waits, not just this item
                session.execute(
                    update(OutboxItem)
                    .where(and_(OutboxItem.channel == item.channel, OutboxItem.status == "pending",
                                OutboxItem.next_attempt_at < now + backoff))
                    .values(next_attempt_at=now + backoff)
                )
            elif count_attempt and item.attempts >= RELEASE_DMS_AFTER:
                self._release_dms(session, item.channel)
        log.warning("outbox item %s will be retried: %s", item_id, reason)

    @staticmethod
    def _release_dms(session: Any, channel: str) -> None:
        """DMs queued after `channel` (`outbox.direct_message(after=...)`) leave its queue for their
        recipients' own: the on-call officer's page must not wait an hour behind a failing header."""
        waiting = session.scalars(
            select(OutboxItem).where(OutboxItem.channel == channel, OutboxItem.status == "pending",
                                     OutboxItem.action == DM)
        ).all()
        released = [dm for dm in waiting if dm.ref.get("to") not in (None, channel)]
        for dm in released:
            dm.channel = dm.ref["to"]
        if released:
            log.warning("%d DM(s) queued after %s's messages go on their own: its oldest keeps failing",
                        len(released), channel)

    def _give_up(self, item_id: int, reason: str) -> None:
        with self.db.transaction() as session:
            if session.execute(
                update(_OUTBOX).where(_MINE).values(status="failed", last_error=reason, claimed_until=None),
                self._mine(item_id),
            ).rowcount != 1:
                self._taken_over(item_id)
                return
            item = session.get(OutboxItem, item_id)
            if item is not None:
                self._tell_pr_office(session, item)
        log.error("outbox item %s failed: %s", item_id, reason)

    def _tell_pr_office(self, session: Any, item: OutboxItem) -> None:
        """A failed delivery is shown to the PR office (in the same transaction that marks it failed)."""
        if item.view == "delivery_failed":
            return  # the PR office channel itself is unreachable: the log and the outbox row remain
        now, kind = self.clock.now(), failure_kind(item.last_error)
        moved: list[int] = []
        if item.action == POST and kind in UNUSABLE_CHANNEL_ERRORS:
            moved = self.comments.move_undeliverable(session, view=item.view, ref=item.ref, channel=item.channel,
                                                     reason=kind, now=now)
        outbox.notice_failure(session, failed=item, channel=self.org.pr_office.channel, now=now, moved=moved)
