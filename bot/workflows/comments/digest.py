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

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from bot.models import OutboxItem
from bot.workflows import outbox
from bot.workflows.comments.models import CommentListing, CommentListingItem

BACKLOG_THRESHOLD = 3  # waiting posts in a channel from which new comments go into digests
DIGEST_MAX = 40  # comments per digest message: one block each, within Slack's 50 blocks
NOTICE_MAX = 40  # comments listed in one reminder or escalation message

DIGEST_VIEW = "comment_digest"  # surge digests (kinds "digest" and "emergency")
NOTICE_VIEW = "comment_notice"  # reminders and escalations (kinds "reminder" and "escalation")


def listing_key(listing_id: int) -> str:
    return f"comment-listing:{listing_id}"


def listing_view(kind: str) -> str:
    return DIGEST_VIEW if kind in ("digest", "emergency") else NOTICE_VIEW


# Built once: a surge runs these for every comment, so they should not be rebuilt each time.
_OUTBOX = OutboxItem.__table__
_LISTINGS = CommentListing.__table__
_WAITING = (_OUTBOX.c.status == "pending") & (_OUTBOX.c.channel == bindparam("channel")) \
    & (_OUTBOX.c.action == outbox.POST)
_COUNT_WAITING = select(func.count()).select_from(_OUTBOX).where(_WAITING)
_NEWEST_WAITING = (select(_OUTBOX.c.id, _OUTBOX.c.view, _OUTBOX.c.ref, _OUTBOX.c.claimed_until)
                   .where(_WAITING).order_by(_OUTBOX.c.id.desc()).limit(1))
# Touching the row takes its lock: a dispatcher's claim (a conditional update of it) waits for our commit.
_HOLD_UNCLAIMED = (update(_OUTBOX).where(_OUTBOX.c.id == bindparam("item"), _OUTBOX.c.status == "pending",
                                         _OUTBOX.c.claimed_until.is_(None))
                   .values(claimed_until=None))
# Only a digest of the same kind: where the emergency channel is also a department's or the PR office's, a
# 緊急 alert (119/110 advice, on-call mentions) must not join a department digest, nor a comment (with its
# buttons) an emergency digest.
_GROW = (update(_LISTINGS).where(_LISTINGS.c.id == bindparam("listing"), _LISTINGS.c.size < DIGEST_MAX,
                                 _LISTINGS.c.kind == bindparam("listing_kind"))
         .values(size=_LISTINGS.c.size + 1))
_ADD_ITEM = insert(CommentListingItem.__table__)
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def _one_at_a_time(session: Session, channel: str) -> None:
    """Place comments in a channel one transaction at a time.

    SQLite runs one writing transaction at a time anyway. On PostgreSQL, without this, several
    comments arriving together could each find the newest digest full and each start a digest of
    their own. A transaction-scoped advisory lock per channel makes the next one wait for the commit
    and then see the digest just started.
    """
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.blake2b(f"koho.comments.place:{channel}".encode(), digest_size=8).digest()
        session.execute(_PG_LOCK, {"key": int.from_bytes(digest, "big", signed=True)})


def waiting_posts(session: Session, channel: str) -> int:
    return session.execute(_COUNT_WAITING, {"channel": channel}).scalar_one()


def _join_open_digest(session: Session, tail: Any, comment_id: int, assignment: int, kind: str) -> int | None:
    """The digest the comment joined, if the channel's newest waiting post is an unclaimed digest of the same
    kind with room."""
    if tail is None or tail.view != DIGEST_VIEW or tail.claimed_until is not None:
        return None
    listing_id = int(tail.ref["listing_id"])
    if session.execute(_HOLD_UNCLAIMED, {"item": tail.id}).rowcount != 1:
        return None  # a dispatcher claimed it meanwhile: it is being sent as it is
    if session.execute(_GROW, {"listing": listing_id, "listing_kind": kind}).rowcount != 1:
        return None  # full, or of the other kind: a new digest starts
    session.execute(_ADD_ITEM, {"listing_id": listing_id, "comment_id": comment_id, "assignment": assignment})
    return listing_id


@dataclass(frozen=True)
class Placement:
    view: str  # of the message that shows the comment: its own, or DIGEST_VIEW
    message_key: str
    new_post: bool  # False: it joined a digest already waiting (the dispatcher knows of it)


def place(
    session: Session, *, channel: str, comment_id: int, assignment: int, kind: str, now: datetime,
    view: str, ref: dict[str, Any], message_key: str,
) -> Placement:
    """Show a comment in `channel`: its own message (`view`, `ref`, `message_key`) or a digest."""
    _one_at_a_time(session, channel)
    tail = session.execute(_NEWEST_WAITING, {"channel": channel}).first()
    listing_id = _join_open_digest(session, tail, comment_id, assignment, kind)
    if listing_id is not None:
        return Placement(DIGEST_VIEW, listing_key(listing_id), new_post=False)
    # Digests start when the queue is long, and go on while one is still waiting or being sent.
    if (tail is not None and tail.view == DIGEST_VIEW) or waiting_posts(session, channel) >= BACKLOG_THRESHOLD:
        listing = CommentListing(kind=kind, channel=channel, size=1, more=0, created_at=now)
        session.add(listing)
        session.flush()
        session.add(CommentListingItem(listing_id=listing.id, comment_id=comment_id, assignment=assignment))
        outbox.post(session, channel=channel, view=DIGEST_VIEW, ref={"listing_id": listing.id}, now=now,
                    message_key=listing_key(listing.id))
        return Placement(DIGEST_VIEW, listing_key(listing.id), new_post=True)
    outbox.post(session, channel=channel, view=view, ref=ref, now=now, message_key=message_key)
    return Placement(view, message_key, new_post=True)


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


def listings_showing(session: Session, comment_id: int) -> list[tuple[int, str, str]]:
    """(listing id, kind, channel) of every listing message the comment appears in."""
    return [tuple(row) for row in session.execute(
        select(CommentListing.id, CommentListing.kind, CommentListing.channel)
        .join(CommentListingItem, CommentListingItem.listing_id == CommentListing.id)
        .where(CommentListingItem.comment_id == comment_id)
        .order_by(CommentListing.id)
    )]
