"""Surges: one message per comment while a channel keeps up, digests while its queue builds up.

Slack takes about one message per second per channel. When a disaster brings hundreds of comments
a minute, a channel's outbox queue grows; from `BACKLOG_THRESHOLD` waiting posts on, new comments
go into a *digest*: one message listing up to `DIGEST_MAX` comments, each with its own actions.
While a digest is still waiting (or being sent), the next comments start another digest; when the
queue has drained, the next comment is posted on its own again.

Nothing is decided in memory, so a restart loses nothing: a comment joins a digest in the same
transaction that stores it, and the digest is rendered from the database when it is delivered.
A comment may only join a digest that is still the newest post waiting in that channel (so the
channel's order is kept) and that no dispatcher has claimed yet. Joining touches the digest's
outbox row with a conditional update (`… WHERE claimed_until IS NULL`): the dispatcher's claim is a
conditional update of the same row, so on PostgreSQL the two take turns on the row lock and on
SQLite they are serialised anyway: either the comment joined before the claim (and is rendered),
or the claim came first (and the comment starts a new digest). Never both, never neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from bot.db import one_at_a_time
from bot.models import OutboxItem
from bot.workflows import outbox
from bot.workflows.comments.models import CommentListing, CommentListingItem

BACKLOG_THRESHOLD = 3  # waiting posts in a channel from which new comments go into digests
DIGEST_MAX = 40  # comments per digest message: one block each, within Slack's 50 blocks
NOTICE_MAX = 40  # comments listed in one reminder or escalation message

DIGEST_VIEW = "comment_digest"  # surge digests (kinds "digest" and "emergency")
NOTICE_VIEW = "comment_notice"  # reminders and escalations (kinds "reminder" and "escalation", and these:)
URGENT_REMINDER = "urgent_reminder"  # 緊急 comments past their short target, mentioning on-call
URGENT_ESCALATION = "urgent_escalate"  # … and still not acknowledged later (the kind column holds 16)


def listing_key(listing_id: int) -> str:
    return f"comment-listing:{listing_id}"


def listing_view(kind: str) -> str:
    return DIGEST_VIEW if kind in ("digest", "emergency") else NOTICE_VIEW


# Built once: a surge runs these for every group of comments, so they should not be rebuilt each time.
_OUTBOX = OutboxItem.__table__
_LISTINGS = CommentListing.__table__
_WAITING_IN = (_OUTBOX.c.status == "pending") & (_OUTBOX.c.channel.in_(bindparam("channels", expanding=True))) \
    & (_OUTBOX.c.action == outbox.POST)
_QUEUES = (select(_OUTBOX.c.channel, func.max(_OUTBOX.c.id).label("newest"), func.count().label("waiting"))
           .where(_WAITING_IN).group_by(_OUTBOX.c.channel).subquery())
# Per channel with posts waiting: the newest of them, and how many there are.
_TAILS = (select(_OUTBOX.c.id, _OUTBOX.c.channel, _OUTBOX.c.view, _OUTBOX.c.ref, _OUTBOX.c.claimed_until,
                 _QUEUES.c.waiting).join(_QUEUES, _QUEUES.c.newest == _OUTBOX.c.id))
# Touching the rows takes their locks: a dispatcher's claim (a conditional update of them) waits for our commit.
_HOLD_UNCLAIMED = (update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("items", expanding=True)),
                                         _OUTBOX.c.status == "pending", _OUTBOX.c.claimed_until.is_(None))
                   .values(claimed_until=None).returning(_OUTBOX.c.id))
# Only a digest of the same kind: where the emergency channel is also a department's or the PR office's, a
# 緊急 alert (119/110 advice, on-call mentions) must not join a department digest, nor a comment (with its
# buttons) an emergency digest.
_GROW_ONE = (update(_LISTINGS).where(_LISTINGS.c.id == bindparam("listing"), _LISTINGS.c.size < DIGEST_MAX,
                                     _LISTINGS.c.kind == bindparam("listing_kind"))
             .values(size=_LISTINGS.c.size + 1).returning(_LISTINGS.c.size))
_GROW = (update(_LISTINGS).where(_LISTINGS.c.id == bindparam("listing"))
         .values(size=_LISTINGS.c.size + bindparam("by")))
_ADD_ITEMS = insert(CommentListingItem.__table__)
def _one_at_a_time(session: Session, channels: list[str]) -> None:
    """Place comments in a channel one transaction at a time.

    SQLite runs one writing transaction at a time anyway. On PostgreSQL, without this, several
    comments arriving together could each find the newest digest full and each start a digest of
    their own. A transaction-scoped advisory lock per channel makes the next one wait for the commit
    and then see the digest just started (`bot.db.one_at_a_time`: taken in one order, so two
    transactions placing in the same channels never wait for each other in a circle).
    """
    one_at_a_time(session, [f"koho.comments.place:{channel}" for channel in channels])


@dataclass
class _Tail:
    """The newest post waiting in a channel, as this transaction sees it."""

    view: str
    listing_id: int | None = None  # a digest this transaction may add comments to (held, or its own)
    kind: str | None = None  # of that digest; with `size`, None until it first grows, if stored before
    size: int | None = None
    listing: CommentListing | None = None  # the digest, when this transaction started it


@dataclass
class _Channel:
    tail: _Tail | None
    waiting: int  # posts waiting in the channel


@dataclass(frozen=True)
class Placement:
    view: str  # of the message that shows the comment: its own, or DIGEST_VIEW
    message_key: str
    new_post: bool  # False: it joined a digest already waiting (the dispatcher knows of it)


class Placements:
    """Shows the comments of one transaction in their channels: each as its own message, or in a digest.

    Use as a context manager around the placements, inside the transaction. The channels' queues are
    read once for all of them (`channels`; another is read when first named), then followed in memory:
    nothing else places in them until the commit (SQLite's single writer; the channel locks on
    PostgreSQL), and a waiting digest the comments may join is held against the dispatcher's claim.
    """

    def __init__(self, session: Session, channels: Iterable[str] = ()):
        self.session = session
        self._channels: dict[str, _Channel] = {}
        self._grown: dict[int, int] = {}  # digests stored before this transaction: comments added to each
        self._items: list[dict[str, int]] = []  # comments listed in digests, inserted together at the end
        self._read(list(dict.fromkeys(channels)))

    def __enter__(self) -> Placements:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.finish()

    def _read(self, channels: list[str]) -> None:
        channels = [c for c in channels if c not in self._channels]
        if not channels:
            return
        session = self.session
        session.flush()  # what this transaction enqueued so far is part of the queues read
        _one_at_a_time(session, channels)
        tails = {row.channel: row for row in session.execute(_TAILS, {"channels": channels})}
        open_digests = [row.id for row in tails.values() if row.view == DIGEST_VIEW and row.claimed_until is None]
        held = set(session.scalars(_HOLD_UNCLAIMED, {"items": open_digests})) if open_digests else set()
        for channel in channels:
            row = tails.get(channel)
            tail = None
            if row is not None:
                # A digest claimed meanwhile, or another message, is sent as it is.
                tail = _Tail(DIGEST_VIEW, int(row.ref["listing_id"])) if row.id in held else _Tail(row.view)
            self._channels[channel] = _Channel(tail, row.waiting if row is not None else 0)

    def _join(self, tail: _Tail, kind: str) -> bool:
        """Count one more comment in the channel's waiting digest, if it has room and is of this kind."""
        if tail.listing_id is None:
            return False
        if tail.size is None:  # stored before: it grows in the database, and its size is learnt
            size = self.session.scalar(_GROW_ONE, {"listing": tail.listing_id, "listing_kind": kind})
            if size is None:  # full, or of the other kind
                tail.listing_id = None
                return False
            tail.size, tail.kind = size, kind
            return True
        if tail.kind != kind or tail.size >= DIGEST_MAX:
            return False
        tail.size += 1
        if tail.listing is not None:
            tail.listing.size = tail.size
        else:  # held since it first grew: no one else grows it until the commit
            self._grown[tail.listing_id] = self._grown.get(tail.listing_id, 0) + 1
        return True

    def place(self, *, channel: str, comment_id: int, assignment: int, kind: str, now: datetime, view: str,
              ref: dict[str, Any], message_key: str) -> Placement:
        """Show a comment in `channel`: its own message (`view`, `ref`, `message_key`) or a digest."""
        self._read([channel])
        state = self._channels[channel]
        tail = state.tail
        if tail is not None and self._join(tail, kind):
            self._items.append({"listing_id": tail.listing_id, "comment_id": comment_id, "assignment": assignment})
            return Placement(DIGEST_VIEW, listing_key(tail.listing_id), new_post=False)
        # Digests start when the queue is long, and go on while one is still waiting or being sent.
        start_digest = (tail is not None and tail.view == DIGEST_VIEW) or state.waiting >= BACKLOG_THRESHOLD
        state.waiting += 1
        if start_digest:
            listing = CommentListing(kind=kind, channel=channel, size=1, more=0, created_at=now)
            self.session.add(listing)
            self.session.flush()
            self._items.append({"listing_id": listing.id, "comment_id": comment_id, "assignment": assignment})
            outbox.post(self.session, channel=channel, view=DIGEST_VIEW, ref={"listing_id": listing.id}, now=now,
                        message_key=listing_key(listing.id))
            state.tail = _Tail(DIGEST_VIEW, listing.id, kind, 1, listing)
            return Placement(DIGEST_VIEW, listing_key(listing.id), new_post=True)
        outbox.post(self.session, channel=channel, view=view, ref=ref, now=now, message_key=message_key)
        state.tail = _Tail(view)
        return Placement(view, message_key, new_post=True)

    def finish(self) -> None:
        """Write the digests' items, and how much the waiting ones grew after their first comment."""
        if self._items:
            self.session.execute(_ADD_ITEMS, self._items)
            self._items = []
        if self._grown:
            self.session.execute(_GROW, [{"listing": listing_id, "by": by} for listing_id, by in self._grown.items()])
            self._grown.clear()



def notice(
    session: Session, *, kind: str, channel: str, entries: list[tuple[int, int]], total: int, now: datetime,
) -> int:
    """Post a reminder or escalation listing `entries` [(comment id, assignment)] of `total` comments."""
    listing = CommentListing(kind=kind, channel=channel, size=len(entries), more=total - len(entries),
                             created_at=now)
    session.add(listing)
    session.flush()
    session.add_all(CommentListingItem(listing_id=listing.id, comment_id=c, assignment=a) for c, a in entries)
    outbox.post(session, channel=channel, view=NOTICE_VIEW, ref={"listing_id": listing.id}, now=now,
                message_key=listing_key(listing.id))
    return listing.id


def listed(session: Session, listing_id: int, *, kind: str) -> list[tuple[int, int]]:
    """(comment id, assignment) of each comment a listing of this kind shows (none if it is of another kind)."""
    return [(comment_id, assignment) for comment_id, assignment in session.execute(
        select(CommentListingItem.comment_id, CommentListingItem.assignment)
        .join(CommentListing, CommentListing.id == CommentListingItem.listing_id)
        .where(CommentListingItem.listing_id == listing_id, CommentListing.kind == kind)
        .order_by(CommentListingItem.comment_id)
    )]


def listings_showing(session: Session, comment_id: int) -> list[tuple[int, str, str]]:
    """(listing id, kind, channel) of every listing message the comment appears in."""
    return [tuple(row) for row in session.execute(
        select(CommentListing.id, CommentListing.kind, CommentListing.channel)
        .join(CommentListingItem, CommentListingItem.listing_id == CommentListing.id)
        .where(CommentListingItem.comment_id == comment_id)
        .order_by(CommentListing.id)
    )]
