"""Use cases of the comment flow: receive, route, acknowledge, reply, reassign, close, reopen, hide. One
transaction each.

Every change is a conditional update (`… WHERE status = :expected AND row_version = :seen`), so of
two clicks on the same message exactly one wins; it records an audit event and enqueues the Slack
updates in the same transaction. Refusals change nothing but are recorded too.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.business_time import BusinessCalendar
from bot.clock import Clock
from bot.db import Database, lock_rows
from bot.organization import PR_OFFICE_ID, Account, Organization
from bot.text.categories import Category, Suggestion, suggest_category
from bot.text.japanese import route_by_keywords
from bot.text.masking import MaskResult, mask_personal_data
from bot.workflows import audit, outbox
from bot.workflows.accounts.directory import account_for
from bot.workflows.comments import digest
from bot.workflows.comments.links import find_published_posts, urls_in
from bot.workflows.comments.models import Comment, HidingRequest
from bot.workflows.comments.rules import (
    ANSWERING_STATUSES,
    REOPENABLE_STATUSES,
    WAITING_STATUSES,
    Action,
    HidingCriterion,
    Status,
    Who,
    answer_due,
    available_actions,
    can_escalate,
    channel_for,
    may,
    may_see_original,
    on_call_may,
    rule_for,
)

log = logging.getLogger(__name__)

SUBJECT = "comment"
ACK_TARGET_BUSINESS_DAYS = 1
# After the reminder (at the target), the PR office hears of it this many office hours later.
ESCALATE_AFTER_BUSINESS_HOURS = 4.0
MAX_NOTE = 2000
MAX_DESTINATION = 200


class Outcome(StrEnum):
    DONE = "done"
    REFUSED = "refused"  # the person may not do this (recorded)
    STALE = "stale"  # someone changed it first, or it no longer allows this
    NOT_FOUND = "not_found"
    INVALID = "invalid"  # e.g. an unknown department


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    comment_id: int | None = None
    status: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DONE


@dataclass(frozen=True)
class NewComment:
    """A comment as it arrives, from the webhook or forwarded by staff in Slack."""

    origin: str  # webhook | shortcut | command
    source: str
    external_id: str
    text: str
    received_at: datetime
    account_id: str | None = None
    author: str | None = None
    author_handle: str | None = None
    url: str | None = None
    forwarded_by: str | None = None
    slack_ref: str | None = None
    department_id: str | None = None  # staff's override of the routing
    category: Category | None = None  # staff's choice; otherwise suggested


@dataclass(frozen=True)
class _Prepared:
    """A comment's routing and the rest of what storing it needs, worked out before the write turn."""

    now: datetime
    suggestion: Suggestion
    category: Category
    routing: Routing
    masked: MaskResult
    channel: str
    ack_due: datetime
    escalate_at: datetime | None


@dataclass(frozen=True)
class Received:
    comment_id: int
    created: bool  # False: the same (source, external_id) or Slack message was received before
    department_id: str | None
    channel: str
    category: str
    status: str
    new_post: bool = False  # a new Slack message was enqueued (not only a place in a waiting digest)
    updated: bool = False  # a re-delivery with edited text (or author, link): the stored comment took it


@dataclass(frozen=True)
class Routing:
    department_id: str | None
    reason: str
    scores: dict[str, int]


def route_comment(org: Organization, text: str, account_id: str | None = None,
                  override: str | None = None, *, lookup: Callable[[str], Account | None] | None = None) -> Routing:
    """Which department a comment goes to: the override, else the keywords, else the account's owner.

    Most keyword matches wins. On a tie or no match the account's department decides when it is one of
    the leaders (or nobody matched); otherwise the PR office triages it (department None).
    `lookup` finds the account (default: the organisation file; the service passes the register's).
    """
    if override and org.department(override) is not None:
        return Routing(override, "override", {})
    keywords = {d.id: d.keywords for d in org.departments}
    routed = route_by_keywords(text, keywords)
    scores = {k: v for k, v in routed.scores.items() if v}
    if routed.department_id is not None:
        return Routing(routed.department_id, "matched", scores)
    account = (lookup or org.account)(account_id) if account_id else None
    owner = account.department if account is not None and account.department != PR_OFFICE_ID else None
    if owner is not None and (routed.reason == "no_match" or scores.get(owner) == max(scores.values())):
        return Routing(owner, "account", scores)
    return Routing(None, routed.reason, scores)


_COMMENTS = Comment.__table__
_STORED = select(_COMMENTS.c.id, _COMMENTS.c.source, _COMMENTS.c.external_id, _COMMENTS.c.slack_ref,
                 _COMMENTS.c.department_id, _COMMENTS.c.channel, _COMMENTS.c.category, _COMMENTS.c.status,
                 _COMMENTS.c.text, _COMMENTS.c.author, _COMMENTS.c.author_handle, _COMMENTS.c.url)
# Each column IN its own list: the (source, external_id) index is searched for every pair of the two, and the
# rows that are not one of the keys are dropped by the caller. A row-value `(source, external_id) IN (VALUES
# …)` made SQLite scan every comment ever received, for every webhook group (2.5 ms at 20,000 comments).
_STORED_UNDER = _STORED.where(_COMMENTS.c.source.in_(bindparam("sources", expanding=True)),
                              _COMMENTS.c.external_id.in_(bindparam("external_ids", expanding=True)))
_STORED_FROM_SLACK = _STORED.where(_COMMENTS.c.slack_ref.in_(bindparam("refs", expanding=True))).order_by(_COMMENTS.c.id)
# Where each new comment of a group is shown, in one batch.
_SHOWN = (update(_COMMENTS).where(_COMMENTS.c.id == bindparam("comment"))
          .values(message_view=bindparam("view"), message_key=bindparam("key"),
                  emergency_alerted_at=bindparam("alerted", type_=_COMMENTS.c.emergency_alerted_at.type)))


class CommentService:
    def __init__(self, db: Database, org: Organization, calendar: BusinessCalendar, clock: Clock):
        self.db = db
        self.org = org
        self.calendar = calendar
        self.clock = clock

    # -- reading (for handlers: modals and permission checks before opening them) ---------------

    def get(self, comment_id: int) -> Comment | None:
        with self.db.read() as session:
            return session.get(Comment, comment_id)

    def show_original(self, comment_id: int, actor: str) -> Result:
        """原文を表示: the comment as the citizen wrote it, for the entitled; recorded either way."""
        now = self.clock.now()
        with self.db.transaction() as session:
            comment = session.get(Comment, comment_id)
            if comment is None:
                return Result(Outcome.NOT_FOUND)
            if not may_see_original(self.org, actor, comment.department_id):
                audit.record(session, at=now, actor=actor, action="comment.original_refused", subject_type=SUBJECT,
                             subject_id=comment.id, reason="not on call, PR office or department approver")
                return Result(Outcome.REFUSED, comment.id, comment.status, {"original": True})
            audit.record(session, at=now, actor=actor, action="comment.original_shown", subject_type=SUBJECT,
                         subject_id=comment.id)
            return Result(Outcome.DONE, comment.id, comment.status, {
                "text": comment.text, "author": comment.author, "author_handle": comment.author_handle,
                "url": comment.url})

    def find_forwarded(self, slack_ref: str) -> Comment | None:
        with self.db.read() as session:
            return session.scalar(select(Comment).where(Comment.slack_ref == slack_ref))

    def get_hiding_request(self, request_id: int) -> HidingRequest | None:
        with self.db.read() as session:
            return session.get(HidingRequest, request_id)

    # -- intake ----------------------------------------------------------------------------------

    def receive(self, new: NewComment) -> Received:
        """Store a comment, route it and enqueue its messages, in one transaction; idempotent."""
        try:
            return self._store_all([new])[0]
        except IntegrityError:
            # The same comment was delivered twice at the same moment (PostgreSQL): the other delivery
            # stored it; this one rolled back whole and is stored again as a second delivery (a duplicate,
            # or an edit when its text differs).
            with self.db.read() as session:
                existing = _stored_as(self._existing_many(session, [new]), new)
            if existing is None:
                raise
            return self._store_all([new])[0]

    def receive_many(self, news: Sequence[NewComment]) -> list[Received | Exception]:
        """Store several comments in one transaction (one disk flush for all: webhook group commit).

        Each is stored, or found already stored, exactly as `receive` would, in the order given. If the
        group cannot be stored (a conflict with another process, one comment the database or its driver
        refuses, an outage), each comment is tried on its own, so one bad comment never fails the others:
        the answer for each is its `Received` or the error that stopped it. Any error, not only the
        database's: a value the driver cannot encode raises a plain `UnicodeEncodeError`, say.
        """
        try:
            return self._store_all(news)
        except Exception:
            if len(news) == 1:
                raise
        answers: list[Received | Exception] = []
        for new in news:
            try:
                answers.append(self.receive(new))
            except Exception as e:  # noqa: BLE001 - this comment's sender hears of it
                answers.append(e)
        return answers

    def _store_all(self, news: Sequence[NewComment]) -> list[Received]:
        """Route (a read), then store in one write: the comments, their audit events and their messages.

        A handful of statements for the whole group, not several per comment: the earlier deliveries and
        the published posts are looked up for all at once, the comments inserted together, and each
        channel's queue read once for the placements.
        """
        with self.db.read() as session:
            accounts = functools.cache(lambda account_id: account_for(session, self.org, account_id))
            prepared = [self._prepare(new, accounts) for new in news]
        with self.db.transaction() as session:
            found = self._existing_many(session, news)
            linked = find_published_posts(session, [([new.url] if new.url else []) + urls_in(new.text) for new in news])
            stored: list[tuple[Any, bool]] = []  # each comment (or its row), and whether this delivery stored it
            fresh: list[tuple[Comment, NewComment, _Prepared]] = []
            edits: list[tuple[int, NewComment, _Prepared]] = []  # second deliveries that may be edits
            for new, ready, link in zip(news, prepared, linked, strict=True):
                comment = _stored_as(found, new)
                if comment is None:  # stored now (a second delivery in the same group finds this one)
                    comment = self._new_comment(new, ready, link)
                    fresh.append((comment, new, ready))
                    found[_external_key(new)] = comment
                    if new.slack_ref:
                        found[_slack_key(new)] = comment
                    stored.append((comment, True))
                else:
                    if new.origin == "webhook" and _edited(comment, new):
                        edits.append((len(stored), new, ready))
                    stored.append((comment, False))
            session.add_all(comment for comment, _, _ in fresh)
            session.flush()  # the unique keys decide between two simultaneous deliveries
            channels = [comment.channel for comment, _, _ in fresh]
            if any(ready.category is Category.EMERGENCY for _, _, ready in fresh):
                channels.insert(0, self.org.emergency_channel)
            if edits:  # their rows before any channel's lock, as every change takes them; an edit may alert
                lock_rows(session, Comment.id, [stored[index][0].id for index, _, _ in edits])
                channels.append(self.org.emergency_channel)
            new_posts: set[int] = set()
            shown: list[dict[str, Any]] = []
            with audit.Batch(session) as events, digest.Placements(session, channels) as placements:
                for comment, new, ready in fresh:
                    where, new_post = self._place(events, placements, comment, new, ready)
                    shown.append(where)
                    if new_post:
                        new_posts.add(comment.id)
            if shown:  # one batch for all; these comment objects are not read again
                session.execute(_SHOWN, shown)
            updated: set[int] = set()
            for index, new, ready in edits:
                edited = self._edit(session, stored[index][0].id, new, ready)
                if edited is not None:
                    stored[index] = (edited, False)
                    updated.add(index)
            return [self._received(comment, created=created, new_post=created and comment.id in new_posts,
                                   updated=index in updated)
                    for index, (comment, created) in enumerate(stored)]

    def _prepare(self, new: NewComment, accounts: Callable[[str], Account | None]) -> _Prepared:
        """What needs no write (`accounts` looks up the register): routing, category, masking."""
        now = self.clock.now()
        suggestion = suggest_category(new.text)
        routing = route_comment(self.org, new.text, new.account_id, new.department_id, lookup=accounts)
        category = new.category or suggestion.category
        ack_due, escalate_at = self._targets(now, routing.department_id, category)
        return _Prepared(now, suggestion, category, routing,
                         mask_personal_data(new.text), channel_for(self.org, routing.department_id), ack_due,
                         escalate_at)

    @staticmethod
    def _new_comment(new: NewComment, ready: _Prepared, linked: tuple[int, str] | None) -> Comment:
        now, routing, masked = ready.now, ready.routing, ready.masked
        return Comment(
            origin=new.origin, source=new.source, external_id=new.external_id, account_id=new.account_id,
            author=new.author, author_handle=new.author_handle, text=new.text, masked_text=masked.text,
            masked_kinds=list(masked.found), url=new.url, received_at=new.received_at, created_at=now,
            forwarded_by=new.forwarded_by, slack_ref=new.slack_ref, category=str(ready.category),
            suggested_category=str(ready.suggestion.category),
            status=str(Status.ROUTED if routing.department_id else Status.NEW),
            department_id=routing.department_id, routed_reason=routing.reason, routing_scores=routing.scores,
            proposal_id=linked[0] if linked else None, linked_url=linked[1] if linked else None,
            assignment=1, channel=ready.channel, routed_at=now, ack_due_at=ready.ack_due, escalate_at=ready.escalate_at,
            updated_at=now, row_version=1,
        )

    def _place(self, events: audit.Batch, placements: digest.Placements, comment: Comment, new: NewComment,
               ready: _Prepared) -> tuple[dict[str, Any], bool]:
        """A stored comment's audit event and messages: where it is shown (for `_SHOWN`), and whether a new
        Slack message was enqueued (not only a place in a waiting digest)."""
        now, routing, category = ready.now, ready.routing, ready.category
        events.record(
            at=now, actor=new.forwarded_by or audit.SYSTEM, action="comment.received",
            subject_type=SUBJECT, subject_id=comment.id, to_state=comment.status, reason=routing.reason,
            origin=new.origin, source=new.source, department=routing.department_id, category=str(category),
            suggested=str(ready.suggestion.category), masked=list(ready.masked.found), proposal_id=comment.proposal_id,
        )
        alerted = category is Category.EMERGENCY and self._alert_emergency(events, placements, comment, now)
        placed = self._show(placements, comment, now)
        return ({"comment": comment.id, "view": placed.view, "key": placed.message_key,
                 "alerted": now if alerted else None}, placed.new_post or alerted)

    def _edit(self, session: Session, comment_id: int, new: NewComment, ready: _Prepared) -> Comment | None:
        """A second delivery whose text, author or link differs from the stored comment's (the citizen
        edited the post, or the tool re-sent a corrected body): the comment takes it, and the audit record
        (`comment.edited`) keeps what it replaced. Masking, the category suggestion and the 緊急 check run on
        the new text (a category staff chose by hand stays); every message showing it is re-rendered.

        The row is locked and re-read first: of two re-deliveries at once, the second sees the first's
        text (a duplicate of it, or a further edit recorded after it), and the update is conditional.
        None when nothing differs any more (the same edit delivered twice at once)."""
        now = ready.now
        comment = session.get(Comment, comment_id, with_for_update={"key_share": True}, populate_existing=True)
        previous = _edited(comment, new)
        if not previous:
            return None
        suggested = str(ready.suggestion.category)
        chosen_by_staff = comment.category != comment.suggested_category
        category = comment.category if chosen_by_staff else suggested
        before_category = comment.category
        changed = self._change(session, comment, now, **{name: getattr(new, name) for name in previous},
                               masked_text=ready.masked.text, masked_kinds=list(ready.masked.found),
                               suggested_category=suggested, category=category,
                               **self._category_clock(comment, category, now))
        if not changed:  # not under the row lock; the sender is answered 500 and sends it again
            raise RuntimeError(f"comment {comment_id} changed while its edit was being stored")
        with audit.Batch(session) as events, digest.Placements(session, [self.org.emergency_channel]) as placements:
            events.record(at=now, actor=audit.SYSTEM, action="comment.edited", subject_type=SUBJECT,
                          subject_id=comment.id, from_state=comment.status, to_state=comment.status,
                          reason="redelivered", previous=previous, masked=list(ready.masked.found),
                          from_category=before_category, to_category=category, suggested=suggested,
                          kept_staff_category=chosen_by_staff and category != suggested)
            # Someone may be in danger now: on-call hears of it as of a new 緊急 comment (once per comment),
            # even if staff had chosen another category for the text before the edit.
            if ready.suggestion.category is Category.EMERGENCY and self._alert_emergency(events, placements,
                                                                                        comment, now):
                comment.emergency_alerted_at = now
        self._refresh_messages(session, comment, now)  # its 緊急 alert too, if it had one
        return comment

    @staticmethod
    def _existing_many(session: Session, news: Sequence[NewComment]) -> dict[tuple[str, ...], Any]:
        """What `Received` says of the comments already stored under any of these (source, external id)s
        or Slack messages (rows, not loaded comments: most groups find none, and nothing more is read)."""
        found: dict[tuple[str, ...], Any] = {}
        keys = {_external_key(new) for new in news}
        sources = list(dict.fromkeys(new.source for new in news))
        external_ids = list(dict.fromkeys(new.external_id for new in news))
        for row in session.execute(_STORED_UNDER, {"sources": sources, "external_ids": external_ids}):
            key = _external_key(row)
            if key in keys:  # not another source's comment of the same id
                found[key] = row
        refs = list(dict.fromkeys(new.slack_ref for new in news if new.slack_ref))
        if refs:
            for row in session.execute(_STORED_FROM_SLACK, {"refs": refs}):
                found.setdefault(_slack_key(row), row)
        return found

    @staticmethod
    def _received(comment: Any, *, created: bool, new_post: bool = False, updated: bool = False) -> Received:
        """From a comment, or a row of the same columns."""
        return Received(comment.id, created, comment.department_id, comment.channel, comment.category,
                        comment.status, new_post, updated)

    def _targets(self, routed_at: datetime, department_id: str | None,
                 category: str) -> tuple[datetime, datetime | None]:
        """When it is due (then reminded) and escalated. 緊急 runs on the clock, day or night, and is escalated
        wherever it waits (on-call must hear of it); the rest on the office's calendar."""
        if category == Category.EMERGENCY:
            minutes = timedelta(minutes=self.org.emergency.comment_ack_minutes)
            return routed_at + minutes, routed_at + 2 * minutes
        ack_due = self.calendar.add_business_days(routed_at, ACK_TARGET_BUSINESS_DAYS)
        escalate_at = (self.calendar.add_business_hours(ack_due, ESCALATE_AFTER_BUSINESS_HOURS)
                       if can_escalate(department_id) else None)
        return ack_due, escalate_at

    @staticmethod
    def _show(placements: digest.Placements, comment: Comment, now: datetime) -> digest.Placement:
        """Its message in its channel: on its own, or in a digest while the channel is busy."""
        return placements.place(
            channel=comment.channel, comment_id=comment.id, assignment=comment.assignment,
            kind="digest", now=now, view="comment", ref={"comment_id": comment.id, "assignment": comment.assignment},
            message_key=f"comment:{comment.id}:{comment.assignment}",
        )

    def _alert_emergency(self, events: audit.Batch, placements: digest.Placements, comment: Comment,
                         now: datetime) -> bool:
        """Someone may be in danger: the emergency channel hears of it at once (once per comment; the
        caller records `emergency_alerted_at`). False when it had been alerted already."""
        if comment.emergency_alerted_at is not None:
            return False
        placements.place(
            channel=self.org.emergency_channel, comment_id=comment.id, assignment=comment.assignment,
            kind="emergency", now=now, view="comment_emergency", ref={"comment_id": comment.id},
            message_key=self._alert_key(comment),
        )
        events.record(at=now, actor=audit.SYSTEM, action="comment.emergency_alerted", subject_type=SUBJECT,
                     subject_id=comment.id, to_state=comment.status, channel=self.org.emergency_channel)
        return True

    @staticmethod
    def _alert_key(comment: Comment) -> str:
        return f"comment-emergency:{comment.id}"

    def _refresh_messages(self, session: Session, comment: Comment, now: datetime,
                          previous: tuple[str, str, str, dict[str, Any]] | None = None) -> None:
        """Re-render in place every message that shows the comment.

        After a reassignment `previous` is the old department's message; the new one was just
        enqueued and will be rendered as it is now, so it needs no update. The 緊急 alert follows too
        (status, department, category): on-call must not be sent to the wrong channel, nor told a
        comment being handled is unacknowledged.
        """
        targets: dict[str, tuple[str, str, dict[str, Any]]] = {}
        if previous is not None:
            channel, view, key, ref = previous
            targets[key] = (channel, view, ref)
        elif comment.message_view == "comment":
            targets[comment.message_key] = (comment.channel, "comment",
                                            {"comment_id": comment.id, "assignment": comment.assignment})
        listings = digest.listings_showing(session, comment.id)
        if comment.emergency_alerted_at is not None and not any(kind == "emergency" for _, kind, _ in listings):
            # Alerted on its own (not in an emergency digest, which is a listing like the others).
            targets[self._alert_key(comment)] = (self.org.emergency_channel, "comment_emergency",
                                                 {"comment_id": comment.id})
        for listing_id, kind, channel in listings:
            key = digest.listing_key(listing_id)
            if previous is not None and key == comment.message_key:
                continue
            targets[key] = (channel, digest.listing_view(kind), {"listing_id": listing_id})
        for key, (channel, view, ref) in targets.items():
            outbox.update(session, channel=channel, view=view, ref=ref, now=now, message_key=key)

    @staticmethod
    def _primary(comment: Comment) -> tuple[str, str, str, dict[str, Any]]:
        ref = ({"comment_id": comment.id, "assignment": comment.assignment} if comment.message_view == "comment"
               else {"listing_id": int(comment.message_key.rsplit(":", 1)[1])})
        return comment.channel, comment.message_view, comment.message_key, ref

    # -- permission and state ------------------------------------------------------------------

    def may_act(self, user_id: str, comment: Comment, action: Action) -> bool:
        rule = rule_for(comment.status, action)
        who = rule.who if rule is not None else Who.DEPARTMENT_OR_PR
        return may(self.org, user_id, who, comment.department_id) or on_call_may(self.org, user_id, action,
                                                                                 comment.category)

    def _refuse(self, session: Session, comment: Comment, actor: str, action: Action, now: datetime,
                reason: str = "not_authorized") -> Result:
        audit.record(session, at=now, actor=actor, action="comment.refused", subject_type=SUBJECT,
                     subject_id=comment.id, from_state=comment.status, to_state=comment.status,
                     reason=reason, attempted=str(action))
        log.info("refused %s on comment %s for %s (%s)", action, comment.id, actor, reason)
        rule = rule_for(comment.status, action)
        pr_only = comment.department_id is None or (rule is not None and rule.who is Who.PR_OFFICE)
        # An on-call officer on a 緊急 comment is told what they may do instead.
        on_call = self.org.is_on_call(actor) and comment.category == Category.EMERGENCY
        return Result(Outcome.REFUSED, comment.id, comment.status,
                      {"department_id": comment.department_id, "pr_only": pr_only, "reason": reason,
                       "on_call": on_call})

    def check(self, comment_id: int, actor: str, action: Action, seen_version: int | None) -> Result:
        """May `actor` start `action` (before a modal asks for details)? A refusal is recorded."""
        now = self.clock.now()
        with self.db.transaction() as session:
            comment, refused = self._begin(session, comment_id, actor, action, seen_version, now)
            if refused is not None:
                return refused
            if action is Action.REQUEST_HIDING and self.pending_hiding_request(session, comment.id) is not None:
                return Result(Outcome.STALE, comment.id, comment.status, {"already_requested": True})
            return Result(Outcome.DONE, comment.id, comment.status)

    def _begin(self, session: Session, comment_id: int, actor: str, action: Action, seen_version: int | None,
               now: datetime) -> tuple[Comment | None, Result | None]:
        """Load, authorise and check the state; a Result when the action cannot go ahead."""
        comment = session.get(Comment, comment_id)
        if comment is None:
            return None, Result(Outcome.NOT_FOUND, comment_id)
        if not self.may_act(actor, comment, action):
            return None, self._refuse(session, comment, actor, action, now)
        stale = Result(Outcome.STALE, comment.id, comment.status)
        if rule_for(comment.status, action) is None:
            return None, stale
        if seen_version is not None and seen_version != comment.row_version:
            return None, stale
        return comment, None

    def _change(self, session: Session, comment: Comment, now: datetime, **values: Any) -> bool:
        """The conditional update: only if nobody changed the comment since we read it."""
        done = session.execute(
            update(Comment)
            .where(Comment.id == comment.id, Comment.status == comment.status,
                   Comment.row_version == comment.row_version)
            .values(**values, updated_at=now, row_version=Comment.row_version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done == 1:
            session.refresh(comment)
        return done == 1

    @staticmethod
    def _lost(session: Session, comment_id: int) -> Result:
        """Someone else's change committed between our read and our write: say what it is now."""
        status = session.scalar(select(Comment.status).where(Comment.id == comment_id))
        return Result(Outcome.STALE, comment_id, status)

    # -- department actions ----------------------------------------------------------------------

    def acknowledge(self, comment_id: int, actor: str, seen_version: int | None) -> Result:
        return self._simple(comment_id, actor, seen_version, Action.ACKNOWLEDGE)

    def no_action(self, comment_id: int, actor: str, seen_version: int | None, note: str | None = None) -> Result:
        return self._simple(comment_id, actor, seen_version, Action.NO_ACTION, note=_note(note))

    def done(self, comment_id: int, actor: str, seen_version: int | None, note: str) -> Result:
        return self._simple(comment_id, actor, seen_version, Action.DONE, note=note.strip()[:MAX_NOTE])

    def interim_reply(self, comment_id: int, actor: str, seen_version: int | None, note: str) -> Result:
        """中間回答: what the citizen was told so far; the formal answer is due 14 days from now."""
        return self._simple(comment_id, actor, seen_version, Action.INTERIM_REPLY, note=note.strip()[:MAX_NOTE])

    def transfer(self, comment_id: int, actor: str, seen_version: int | None, destination: str,
                 note: str) -> Result:
        """所管外・移ちょう: another body's business (千葉県, 警察, …); closed here, passed on to it."""
        return self._simple(comment_id, actor, seen_version, Action.TRANSFER, note=note.strip()[:MAX_NOTE],
                            transferred_to=destination.strip()[:MAX_DESTINATION])

    def mark_duplicate(self, comment_id: int, actor: str, seen_version: int | None, original_id: int,
                       note: str | None = None) -> Result:
        """重複: closed as a repeat of `original_id`, which must exist, be another comment and not itself a
        duplicate (then the one it repeats is named)."""
        return self._simple(comment_id, actor, seen_version, Action.DUPLICATE, note=_note(note),
                            duplicate_of=original_id)

    def reopen(self, comment_id: int, actor: str, seen_version: int | None, reason: str) -> Result:
        """A wrong close undone: back to 対応中 with a new answer target (to triage if no department has it)."""
        return self._simple(comment_id, actor, seen_version, Action.REOPEN, note=reason.strip()[:MAX_NOTE])

    def _simple(self, comment_id: int, actor: str, seen_version: int | None, action: Action,
                note: str | None = None, **extra: Any) -> Result:
        now = self.clock.now()
        with self.db.transaction() as session:
            comment, refused = self._begin(session, comment_id, actor, action, seen_version, now)
            if refused is not None:
                return refused
            if action is Action.DUPLICATE:
                # Both rows, in id order: "A duplicates B" and "B duplicates A" at once must not both pass
                # the check below (a cycle); the second waits, then finds its original a duplicate.
                lock_rows(session, Comment.id, [comment.id, extra["duplicate_of"]])
                invalid = self._not_an_original(session, comment, extra["duplicate_of"])
                if invalid is not None:
                    return invalid
            before, was_duplicate_of = comment.status, comment.duplicate_of
            values = self._step_values(comment, action, actor, now)
            values.update(extra)
            if action is not Action.ACKNOWLEDGE:  # acknowledging keeps a reassignment's note in view
                values["note"] = note
            if not self._change(session, comment, now, **values):
                return self._lost(session, comment_id)
            details = {k: v for k, v in (("destination", comment.transferred_to),
                                          ("original", comment.duplicate_of)) if v is not None}
            audit.record(session, at=now, actor=actor, action=f"comment.{action}", subject_type=SUBJECT,
                         subject_id=comment.id, from_state=before, to_state=comment.status, reason=note, **details)
            self._refresh_messages(session, comment, now)
            # The original's messages count its duplicates.
            for original_id in {comment.duplicate_of, was_duplicate_of} - {None}:
                original = session.get(Comment, original_id)
                if original is not None:
                    self._refresh_messages(session, original, now)
            return Result(Outcome.DONE, comment.id, comment.status)

    def _step_values(self, comment: Comment, action: Action, actor: str, now: datetime) -> dict[str, Any]:
        """The columns a step changes besides its note."""
        target = rule_for(comment.status, action).to
        if action is Action.REOPEN and comment.department_id is None:
            target = Status.NEW  # closed from triage: back to the PR office's triage
        values: dict[str, Any] = {"status": str(target)}
        if comment.acknowledged_at is None and target not in WAITING_STATUSES:  # closing it says "seen" as well
            values.update(acknowledged_at=now, acknowledged_by=actor)
        if target in REOPENABLE_STATUSES:
            values.update(closed_at=now, closed_by=actor)
        if target in ANSWERING_STATUSES:  # acknowledged, replied to or reopened: the answer is due in 14 days
            values.update(answer_due_at=answer_due(self.calendar, now), answer_reminded_at=None)
        if action is Action.INTERIM_REPLY:
            values.update(replied_at=now, replied_by=actor)
        if action is Action.REOPEN:
            values.update(reopened_at=now, reopened_by=actor, closed_at=None, closed_by=None, transferred_to=None,
                          duplicate_of=None)
        return values

    def _not_an_original(self, session: Session, comment: Comment, original_id: int) -> Result | None:
        """Why `original_id` cannot be the comment's original (None: it can)."""
        original = session.get(Comment, original_id, populate_existing=True) if original_id != comment.id else None
        if original is None:
            return Result(Outcome.INVALID, comment.id, comment.status,
                          {"original": original_id, "self": original_id == comment.id})
        if original.duplicate_of is not None:
            return Result(Outcome.INVALID, comment.id, comment.status,
                          {"original": original_id, "original_of": original.duplicate_of})
        return None

    def reassign(self, comment_id: int, actor: str, seen_version: int | None, department_id: str,
                 note: str | None = None) -> Result:
        """To another department (or, from triage, to the first one): a new message in its channel."""
        now = self.clock.now()
        if self.org.department(department_id) is None:
            return Result(Outcome.INVALID, comment_id, detail={"department_id": department_id})
        with self.db.transaction() as session:
            comment, refused = self._begin(session, comment_id, actor, Action.REASSIGN, seen_version, now)
            if refused is not None:
                return refused
            before, from_department = comment.status, comment.department_id
            if department_id == from_department:
                return Result(Outcome.INVALID, comment_id, comment.status, {"department_id": department_id,
                                                                             "same": True})
            previous = self._primary(comment)
            ack_due, escalate_at = self._targets(now, department_id, comment.category)
            changed = self._change(
                session, comment, now, status=str(Status.ROUTED), department_id=department_id,
                routed_reason="triage" if before == Status.NEW else "reassigned",
                channel=channel_for(self.org, department_id), assignment=comment.assignment + 1,
                routed_at=now, ack_due_at=ack_due, escalate_at=escalate_at, acknowledged_at=None,
                acknowledged_by=None, reminded_at=None, escalated_at=None, answer_due_at=None,
                answer_reminded_at=None, reopened_at=None, reopened_by=None,
                note=_note(note),
            )
            if not changed:
                return self._lost(session, comment_id)
            with digest.Placements(session, [comment.channel]) as placements:
                placed = self._show(placements, comment, now)
            comment.message_view, comment.message_key = placed.view, placed.message_key
            audit.record(session, at=now, actor=actor, action=f"comment.{Action.REASSIGN}", subject_type=SUBJECT,
                         subject_id=comment.id, from_state=before, to_state=comment.status, reason=comment.note,
                         from_department=from_department, to_department=department_id)
            self._refresh_messages(session, comment, now, previous=previous)
            return Result(Outcome.DONE, comment.id, comment.status, {"department_id": department_id,
                                                                     "channel": comment.channel})

    def change_category(self, comment_id: int, actor: str, seen_version: int | None, category: Category) -> Result:
        now = self.clock.now()
        with self.db.transaction() as session:
            comment, refused = self._begin(session, comment_id, actor, Action.CHANGE_CATEGORY, seen_version, now)
            if refused is not None:
                return refused
            before = comment.category
            if before == category:
                return Result(Outcome.DONE, comment.id, comment.status)
            values: dict[str, Any] = {"category": str(category), **self._category_clock(comment, category, now)}
            if not self._change(session, comment, now, **values):
                return self._lost(session, comment_id)
            audit.record(session, at=now, actor=actor, action="comment.category_changed", subject_type=SUBJECT,
                         subject_id=comment.id, from_state=before, to_state=str(category))
            if category is Category.EMERGENCY:
                with audit.Batch(session) as events, digest.Placements(session, [self.org.emergency_channel]) as placements:
                    if self._alert_emergency(events, placements, comment, now):
                        comment.emergency_alerted_at = now
            self._refresh_messages(session, comment, now)
            return Result(Outcome.DONE, comment.id, comment.status)

    def _category_clock(self, comment: Comment, category: str, now: datetime) -> dict[str, Any]:
        """The deadlines a waiting comment gets when its category changes into or out of 緊急: into it, the
        short clock from now; out of it, the ordinary one, from when it was routed."""
        if comment.status not in WAITING_STATUSES or comment.category == category \
                or Category.EMERGENCY not in (comment.category, category):
            return {}
        start = now if category == Category.EMERGENCY else comment.routed_at
        ack_due, escalate_at = self._targets(start, comment.department_id, category)
        return {"ack_due_at": ack_due, "escalate_at": escalate_at, "reminded_at": None, "escalated_at": None}

    # -- hiding ----------------------------------------------------------------------------------

    def with_actions(self, comment_id: int) -> tuple[Comment | None, list[Action]]:
        """The comment and what it offers now (`rules.available_actions`)."""
        with self.db.read() as session:
            comment = session.get(Comment, comment_id)
            if comment is None:
                return None, []
            pending = self.pending_hiding_request(session, comment_id) is not None
            return comment, available_actions(comment.status, pending)

    def pending_hiding_request(self, session: Session, comment_id: int) -> HidingRequest | None:
        return session.scalar(select(HidingRequest).where(HidingRequest.comment_id == comment_id,
                                                          HidingRequest.status == "pending"))

    def request_hiding(self, comment_id: int, actor: str, seen_version: int | None, criterion: HidingCriterion,
                       note: str | None = None) -> Result:
        """Ask the PR office to hide or delete the comment on its platform; it confirms or declines."""
        now = self.clock.now()
        with self.db.transaction() as session:
            comment, refused = self._begin(session, comment_id, actor, Action.REQUEST_HIDING, seen_version, now)
            if refused is not None:
                return refused
            if self.pending_hiding_request(session, comment.id) is not None:
                return Result(Outcome.STALE, comment.id, comment.status, {"already_requested": True})
            # Bumping the comment's version makes two simultaneous requests conflict: one wins.
            if not self._change(session, comment, now):
                return self._lost(session, comment_id)
            request = HidingRequest(comment_id=comment.id, criterion=str(criterion),
                                    note=_note(note), status="pending", requested_by=actor, requested_at=now,
                                    row_version=1)
            session.add(request)
            session.flush()
            audit.record(session, at=now, actor=actor, action="comment.hiding_requested", subject_type=SUBJECT,
                         subject_id=comment.id, from_state=comment.status, to_state=comment.status,
                         reason=request.note, criterion=str(criterion), request_id=request.id)
            outbox.post(session, channel=self.org.pr_office.channel, view="comment_hiding_request",
                        ref={"request_id": request.id}, now=now, message_key=f"comment-hiding:{request.id}")
            self._refresh_messages(session, comment, now)
            return Result(Outcome.DONE, comment.id, comment.status, {"request_id": request.id})

    def decide_hiding(self, request_id: int, actor: str, seen_version: int | None, *, confirm: bool) -> Result:
        """The PR office confirms (the comment is hidden) or declines a hiding request."""
        try:
            return self._decide_hiding(request_id, actor, seen_version, confirm=confirm)
        except _LostRace as lost:
            return Result(Outcome.STALE, lost.comment_id)

    def _decide_hiding(self, request_id: int, actor: str, seen_version: int | None, *, confirm: bool) -> Result:
        now = self.clock.now()
        action = Action.CONFIRM_HIDING if confirm else Action.DECLINE_HIDING
        with self.db.transaction() as session:
            request = session.get(HidingRequest, request_id)
            if request is None:
                return Result(Outcome.NOT_FOUND, None)
            comment, refused = self._begin(session, request.comment_id, actor, action, None, now)
            if refused is not None:
                return refused
            if confirm and actor == request.requested_by:
                # Four eyes: whoever asked for it does not also decide it.
                return self._refuse(session, comment, actor, action, now, reason="own_request")
            if request.status != "pending" or (seen_version is not None and seen_version != request.row_version):
                return Result(Outcome.STALE, comment.id, comment.status)
            decided = session.execute(
                update(HidingRequest)
                .where(HidingRequest.id == request.id, HidingRequest.status == "pending",
                       HidingRequest.row_version == request.row_version)
                .values(status="confirmed" if confirm else "declined", decided_by=actor, decided_at=now,
                        row_version=HidingRequest.row_version + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            if decided != 1:
                return Result(Outcome.STALE, comment.id, comment.status)
            before = comment.status
            values: dict[str, Any] = {}
            if confirm:
                values = {"status": str(Status.HIDDEN), "closed_at": now, "closed_by": actor}
            if not self._change(session, comment, now, **values):
                raise _LostRace(comment.id)  # the comment changed meanwhile: roll the decision back too
            audit.record(session, at=now, actor=actor, action=f"comment.{action}", subject_type=SUBJECT,
                         subject_id=comment.id, from_state=before, to_state=comment.status,
                         reason=request.criterion, request_id=request.id)
            outbox.update(session, channel=self.org.pr_office.channel, view="comment_hiding_request",
                          ref={"request_id": request.id}, now=now, message_key=f"comment-hiding:{request.id}")
            self._refresh_messages(session, comment, now)
            return Result(Outcome.DONE, comment.id, comment.status)

    # -- a department channel that cannot take the comment's message ----------------------------

    def move_undeliverable(self, session: Session, *, view: str, ref: dict[str, Any], channel: str, reason: str,
                           now: datetime) -> list[int]:
        """Slack refused a comment's own message (or the surge digest listing it) in a department channel for
        good (archived, deleted, the bot removed): nobody there will ever see it. Each comment it showed that
        still waits there goes to the PR office's triage (new, no department, reason `undeliverable`), with
        its message in the PR office channel. In the delivery's transaction (`session`); returns the ids moved.

        Conditional like every change: a comment acknowledged, reassigned or closed meanwhile stays."""
        if channel == self.org.pr_office.channel:
            return []  # nowhere else to go: the failure notice and the log remain
        if view == "comment":
            shown = [(int(ref["comment_id"]), int(ref.get("assignment", 1)))]
        elif view == digest.DIGEST_VIEW:
            shown = digest.listed(session, int(ref["listing_id"]), kind="digest")
        else:
            return []
        # The comments' rows first (in id order), then the PR office channel's place once: the order every
        # change takes them (a reassignment locks its comment, then its new channel).
        moved: list[tuple[Comment, str | None, str | None]] = []
        for comment_id, assignment in sorted(shown):
            comment = session.get(Comment, comment_id)
            if comment is None or (comment.status, comment.channel, comment.assignment) != (
                    Status.ROUTED, channel, assignment):
                continue
            from_department, previous = comment.department_id, self._primary(comment)
            ack_due, escalate_at = self._targets(now, None, comment.category)
            changed = self._change(
                session, comment, now, status=str(Status.NEW), department_id=None, routed_reason="undeliverable",
                channel=self.org.pr_office.channel, assignment=comment.assignment + 1, routed_at=now,
                ack_due_at=ack_due, escalate_at=escalate_at, acknowledged_at=None, acknowledged_by=None,
                reminded_at=None, escalated_at=None, answer_due_at=None, answer_reminded_at=None,
            )
            if changed:
                moved.append((comment, from_department, previous))
        if not moved:
            return []
        with digest.Placements(session, [self.org.pr_office.channel]) as placements:
            for comment, _, _ in moved:
                placed = self._show(placements, comment, now)
                comment.message_view, comment.message_key = placed.view, placed.message_key
        for comment, from_department, previous in moved:
            audit.record(session, at=now, actor=audit.SYSTEM, action="comment.undeliverable", subject_type=SUBJECT,
                         subject_id=comment.id, from_state=str(Status.ROUTED), to_state=comment.status,
                         reason=reason, from_department=from_department, channel=channel)
            # Listings showing it elsewhere (a 緊急 digest) and its alert now point to the PR office; what was
            # never posted in the dead channel is skipped by the dispatcher, not tried.
            self._refresh_messages(session, comment, now, previous=previous)
        return [comment.id for comment, _, _ in moved]

    # -- targets (sweeps) ------------------------------------------------------------------------

    def remind_overdue(self, limit: int = 2000) -> int:
        """Comments nobody acknowledged by the target: one reminder message per channel (and one more for
        its 緊急 comments, which mentions on-call)."""
        now = self.clock.now()
        waiting = [str(s) for s in WAITING_STATUSES]
        late = (Comment.status.in_(waiting), Comment.reminded_at.is_(None), Comment.ack_due_at <= now)
        return self._remind(Comment.reminded_at, late, action="comment.reminded", now=now, limit=limit,
                            kind_of=lambda category: (digest.URGENT_REMINDER if category == Category.EMERGENCY
                                                      else "reminder"))

    def remind_answers_overdue(self, limit: int = 2000) -> int:
        """Comments acknowledged but not answered (nor replied to in the meantime) 14 days on: one reminder
        per channel, once per answer target (an interim reply or a reopening sets a new one)."""
        now = self.clock.now()
        answering = [str(s) for s in ANSWERING_STATUSES]
        late = (Comment.status.in_(answering), Comment.answer_reminded_at.is_(None), Comment.answer_due_at <= now)
        return self._remind(Comment.answer_reminded_at, late, action="comment.answer_reminded", now=now,
                            limit=limit, kind_of=lambda _: "answer_reminder")

    def _remind(self, reminded: Any, late: tuple[Any, ...], *, action: str, now: datetime, limit: int,
                kind_of: Callable[[str], str]) -> int:
        """The comments `late` selects, each claimed once by setting `reminded`, listed per channel and kind of
        reminder (`kind_of` a comment's category: 緊急 ones mention on-call)."""
        with self.db.transaction() as session:
            due = session.execute(
                select(Comment.id, Comment.channel, Comment.assignment, Comment.category).where(*late)
                .order_by(Comment.id).limit(limit)
            ).all()
            by_channel: dict[tuple[str, str], list[tuple[int, int]]] = {}
            for comment_id, channel, assignment, category in due:
                # Conditional, so two sweepers at once remind each comment once (and a change since, not at all).
                claimed = session.execute(
                    update(Comment).where(Comment.id == comment_id, Comment.assignment == assignment, *late)
                    .values({reminded: now}).execution_options(synchronize_session=False)
                ).rowcount
                if claimed == 1:
                    by_channel.setdefault((channel, kind_of(category)), []).append((comment_id, assignment))
                    audit.record(session, at=now, actor=audit.SYSTEM, action=action,
                                 subject_type=SUBJECT, subject_id=comment_id, channel=channel)
            for (channel, kind), entries in by_channel.items():
                digest.notice(session, kind=kind, channel=channel, entries=entries[:digest.NOTICE_MAX],
                              total=len(entries), now=now)
            return sum(len(e) for e in by_channel.values())

    def escalate_overdue(self, limit: int = 2000) -> int:
        """Still not acknowledged some hours after the reminder: the PR office is told, in one message.
        緊急 comments (also those waiting for triage, the only ones with an escalation time there) are told
        in one more, mentioning on-call, in the PR office's channel and the emergency channel."""
        now = self.clock.now()
        with self.db.transaction() as session:
            due = session.execute(
                select(Comment.id, Comment.assignment, Comment.category)
                .where(Comment.status.in_([str(s) for s in WAITING_STATUSES]),
                       Comment.reminded_at.is_not(None),
                       Comment.escalated_at.is_(None), Comment.escalate_at.is_not(None), Comment.escalate_at <= now)
                .order_by(Comment.id).limit(limit)
            ).all()
            entries, urgent = [], []
            for comment_id, assignment, category in due:
                claimed = session.execute(  # still waiting: one acknowledged since the read is not escalated
                    update(Comment).where(Comment.id == comment_id, Comment.escalated_at.is_(None),
                                          Comment.assignment == assignment,
                                          Comment.status.in_([str(s) for s in WAITING_STATUSES]))
                    .values(escalated_at=now).execution_options(synchronize_session=False)
                ).rowcount
                if claimed == 1:
                    (urgent if category == Category.EMERGENCY else entries).append((comment_id, assignment))
                    audit.record(session, at=now, actor=audit.SYSTEM, action="comment.escalated",
                                 subject_type=SUBJECT, subject_id=comment_id, channel=self.org.pr_office.channel)
            if entries:
                digest.notice(session, kind="escalation", channel=self.org.pr_office.channel,
                              entries=entries[:digest.NOTICE_MAX], total=len(entries), now=now)
            if urgent:
                for channel in dict.fromkeys((self.org.pr_office.channel, self.org.emergency_channel)):
                    digest.notice(session, kind=digest.URGENT_ESCALATION, channel=channel,
                                  entries=urgent[:digest.NOTICE_MAX], total=len(urgent), now=now)
            return len(entries) + len(urgent)


def _note(note: str | None) -> str | None:
    """An optional note as stored: None when blank."""
    return note.strip()[:MAX_NOTE] if note and note.strip() else None


def _external_key(comment: NewComment | Comment) -> tuple[str, ...]:
    return ("external", comment.source, comment.external_id)


def _slack_key(comment: NewComment | Comment) -> tuple[str, ...]:
    return ("slack", comment.slack_ref or "")


def _stored_as(found: dict[tuple[str, ...], Any], new: NewComment) -> Any:
    """The comment (or row) in `found` that `new` is a second delivery of: same (source, external id),
    else same Slack message."""
    return found.get(_external_key(new)) or (found.get(_slack_key(new)) if new.slack_ref else None)


# What a re-delivery may change: the text always comes; an author or link it leaves out is kept as stored
# (a tool that sends less the second time has not seen the citizen remove their name).
EDITABLE = ("text", "author", "author_handle", "url")


def _edited(stored: Any, new: NewComment) -> dict[str, str | None]:
    """What a second delivery changes of the stored comment (or row): {field: the stored value}."""
    return {name: getattr(stored, name) for name in EDITABLE
            if getattr(new, name) is not None and getattr(new, name) != getattr(stored, name)}


class _LostRace(Exception):  # noqa: N818 - internal signal, never leaves this module
    """Rolls a transaction back when a second conditional update in it lost a race."""

    def __init__(self, comment_id: int):
        super().__init__(comment_id)
        self.comment_id = comment_id
