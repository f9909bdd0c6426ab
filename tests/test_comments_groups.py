"""A webhook group is stored as if its comments had come one at a time.

`CommentService.receive_many` stores a group with a handful of statements (one insert for all the
comments, each channel's queue read once), where `receive` stores one comment. The same comments,
sent one at a time into one database and in groups into another that starts the same, must leave
the same comments, messages, digests and audit trail: which digest each comment joined, which
started a new one, the channels' order, duplicates answered as duplicates. Both SQLite and
PostgreSQL; the emergency channel is also a department's here, so the two kinds of digest meet.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.business_time import BusinessCalendar
from bot.db import Database
from bot.migrate import upgrade
from bot.models import AuditEvent, OutboxItem
from bot.organization import load_organization
from bot.workflows.comments.models import Comment, CommentListing, CommentListingItem
from bot.workflows.comments.service import CommentService, NewComment
from tests.conftest import TEST_ORG, TEST_START, ManualClock, fresh_database_url

SHARED = "C0KANKYO"  # 環境局's channel, here also the emergency channel
TEXTS = ["粗大ごみの収集日を教えてください", "道路が陥没しています", "街灯が消えています",
         "川で流されている人がいます、助けて", "リサイクルの日が変わりましたか", "公園のベンチが壊れています"]


def comments(prefix: str, count: int, texts: list[str] = TEXTS) -> list[NewComment]:
    at = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    return [NewComment(origin="webhook", source="x", external_id=f"{prefix}-{n}", account_id="city-x",
                       text=f"{texts[n * 7 % len(texts)]}（{n}）", received_at=at,
                       url=f"https://x.com/a/status/{n}") for n in range(count)]


def scenario() -> tuple[list[NewComment], list[list[NewComment]]]:
    """What is waiting before (stored one at a time in both), and the groups under test."""
    before = comments("before", 50)
    news = comments("new", 170)
    # Deliveries that come twice: again inside the same group, and again later for one stored before.
    news[5:5] = [news[3]]
    news[60:60] = [before[10], news[59]]
    sizes = [1, 7, 2, 50, 8, 40, 13, 1, 50]
    groups, at = [], 0
    for size in sizes:
        groups.append(news[at:at + size])
        at += size
    groups.append(news[at:])
    return before, groups


def state(db: Database) -> dict[str, Any]:
    """Everything the placements decide, with ids replaced by what they name (ids differ between servers)."""
    with db.read() as session:
        comment_of = dict(session.execute(select(Comment.id, Comment.external_id)).all())
        listings = session.execute(select(CommentListing).order_by(CommentListing.id)).scalars().all()
        listing_no = {listing.id: n for n, listing in enumerate(listings)}

        def key(message_key: str | None) -> str | None:
            if message_key is None:
                return None
            kind, _, rest = message_key.partition(":")
            if kind == "comment-listing":
                return f"listing#{listing_no[int(rest)]}"
            return f"{kind}:{comment_of[int(rest.split(':')[0])]}"

        items: dict[int, list[str]] = {}
        for item in session.scalars(select(CommentListingItem)):
            items.setdefault(item.listing_id, []).append(comment_of[item.comment_id])
        return {
            "comments": [(c.external_id, c.channel, c.category, c.status, c.message_view, key(c.message_key),
                          c.emergency_alerted_at is not None)
                         for c in session.scalars(select(Comment).order_by(Comment.id))],
            "listings": [(listing.kind, listing.channel, listing.size, sorted(items.get(listing.id, [])))
                         for listing in listings],
            "outbox": [(o.action, o.channel, o.view, key(o.message_key), o.status, o.claimed_until is not None)
                       for o in session.scalars(select(OutboxItem).order_by(OutboxItem.id))],
            "audit": [(a.action, comment_of[int(a.subject_id)]) for a in
                      session.scalars(select(AuditEvent).where(AuditEvent.subject_type == "comment")
                                      .order_by(AuditEvent.id))],
        }


def run(db: Database, *, grouped: bool) -> tuple[dict[str, Any], list[tuple[str, bool, bool]]]:
    org = dataclasses.replace(load_organization(TEST_ORG), emergency_channel=SHARED)
    clock = ManualClock(TEST_START)
    service = CommentService(db, org, BusinessCalendar(org.timezone), clock)
    before, groups = scenario()
    for new in before:
        service.receive(new)
    # A dispatcher has claimed 建設局's newest waiting post: nothing may join it any more.
    with db.transaction() as session:
        newest = session.scalar(select(OutboxItem.id).where(OutboxItem.channel == "C0KENSETSU")
                                .order_by(OutboxItem.id.desc()).limit(1))
        session.execute(update(OutboxItem).where(OutboxItem.id == newest).values(claimed_until=clock.now()))
    answers = []
    for group in groups:
        received = service.receive_many(group) if grouped else [service.receive(new) for new in group]
        answers += [(new.external_id, r.created, r.new_post) for new, r in zip(group, received, strict=True)]
    return state(db), answers


@pytest.fixture
def second_database(db_url: str, tmp_path: Path):
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    with fresh_database_url(backend, tmp_path / "second") as url:
        db = Database(url)
        upgrade(db)
        yield db
        db.dispose()


def test_comments_stored_in_groups_end_exactly_as_one_at_a_time(database, second_database):
    one_at_a_time, answers_one = run(second_database, grouped=False)
    in_groups, answers_grouped = run(database, grouped=True)
    assert answers_grouped == answers_one
    assert in_groups["listings"] == one_at_a_time["listings"]
    assert in_groups["comments"] == one_at_a_time["comments"]
    assert in_groups["outbox"] == one_at_a_time["outbox"]
    assert in_groups["audit"] == one_at_a_time["audit"]
    # The scenario reaches what it is meant to: digests of both kinds, full ones, duplicates, an alert.
    kinds = {kind for kind, *_ in in_groups["listings"]}
    assert kinds == {"digest", "emergency"}
    assert any(size == 40 for _, _, size, _ in in_groups["listings"])
    assert sum(not created for _, created, _ in answers_grouped) == 3
    assert any(view == "comment_emergency" for _, _, view, *_ in in_groups["outbox"])


def test_a_group_takes_a_handful_of_statements_however_large(database):
    """The write is a few statements for the whole group, not several per comment: with every channel's
    queue already long (comments join the waiting digests), 30 comments take as many as 10."""
    from sqlalchemy import event

    org = load_organization(TEST_ORG)
    service = CommentService(database, org, BusinessCalendar(org.timezone), ManualClock(TEST_START))
    routine = [text for text in TEXTS if "助けて" not in text]  # an emergency alert is a new post each time
    service.receive_many(comments("warm", 40, routine))
    counts = []
    for size in (10, 30):
        statements = []
        listener = lambda conn, cursor, statement, params, context, many, seen=statements: seen.append((statement, many))  # noqa: E731
        event.listen(database.engine, "before_cursor_execute", listener)
        try:
            answers = service.receive_many(comments(f"g{size}", size, routine))
        finally:
            event.remove(database.engine, "before_cursor_execute", listener)
        assert all(a.created and not a.new_post for a in answers)  # each joined a waiting digest
        # A batch (executemany; on SQLite SQLAlchemy runs its rows one by one in C) counts once.
        counts.append(len([s for s, many in statements if not many]) + len({s for s, many in statements if many}))
    assert counts[1] <= counts[0], counts


def test_two_processes_storing_groups_while_a_dispatcher_sends_lose_nothing_and_add_nothing_to_what_was_sent(
        database, db_url):
    """Two bots store groups in the same channels at once while a dispatcher claims and sends the queue:
    every comment is shown in exactly one message, and nothing joins a digest after it was claimed (its
    message was rendered then, so a late comment would never be seen)."""
    import threading

    from bot.clock import SystemClock
    from bot.workflows.comments.digest import DIGEST_MAX, DIGEST_VIEW

    org = load_organization(TEST_ORG)
    other = Database(db_url)
    services = [CommentService(db, org, BusinessCalendar(org.timezone), SystemClock()) for db in (database, other)]
    answers: list[Any] = []
    sent: dict[int, set[int]] = {}  # claimed digest -> the comments it held when it was rendered
    writing = [len(services)]
    failures: list[BaseException] = []

    def write(n: int, service: CommentService) -> None:
        try:
            for g in range(25):
                answers.extend(service.receive_many(comments(f"p{n}-g{g}", 8)))
        except BaseException as e:  # noqa: BLE001 - reported by the test below
            failures.append(e)
        finally:
            writing[0] -= 1

    def dispatch() -> None:
        try:
            while True:
                with database.transaction() as session:
                    item = session.execute(select(OutboxItem.id, OutboxItem.view, OutboxItem.ref)
                                           .where(OutboxItem.status == "pending", OutboxItem.claimed_until.is_(None))
                                           .order_by(OutboxItem.id).limit(1)).first()
                    if item is not None:
                        won = session.execute(update(OutboxItem).where(OutboxItem.id == item.id,
                                                                       OutboxItem.claimed_until.is_(None))
                                              .values(claimed_until=datetime.now(UTC))).rowcount
                if item is None:
                    if not writing[0]:
                        return
                    continue
                if not won:
                    continue
                if item.view == DIGEST_VIEW:  # rendered after the claim's commit, as the dispatcher does
                    with database.read() as session:
                        sent[item.ref["listing_id"]] = set(session.scalars(
                            select(CommentListingItem.comment_id)
                            .where(CommentListingItem.listing_id == item.ref["listing_id"])))
                with database.transaction() as session:
                    session.execute(update(OutboxItem).where(OutboxItem.id == item.id)
                                    .values(status="delivered", claimed_until=None))
        except BaseException as e:  # noqa: BLE001
            failures.append(e)

    threads = [threading.Thread(target=write, args=(n, s)) for n, s in enumerate(services)]
    threads.append(threading.Thread(target=dispatch))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    other.dispose()
    assert not failures, failures
    assert len(answers) == 400 and all(not isinstance(a, Exception) and a.created for a in answers)

    with database.read() as session:
        stored = session.scalars(select(Comment)).all()
        listings = {listing.id: listing for listing in session.scalars(select(CommentListing))}
        items: dict[int, list[int]] = {}
        for item in session.scalars(select(CommentListingItem)):
            items.setdefault(item.comment_id, []).append(item.listing_id)
        own_posts = set(session.scalars(select(OutboxItem.message_key).where(OutboxItem.view == "comment")))
        members: dict[int, set[int]] = {}
        for comment_id, listing_ids in items.items():
            for listing_id in listing_ids:
                members.setdefault(listing_id, set()).add(comment_id)
    assert len(stored) == 400
    for comment in stored:
        digests = [i for i in items.get(comment.id, []) if listings[i].kind == "digest"]
        own = f"comment:{comment.id}:1" in own_posts
        assert own + len(digests) == 1, (comment.id, own, digests)  # shown once, in one place
        assert comment.message_key == (f"comment:{comment.id}:1" if own else f"comment-listing:{digests[0]}")
    for listing_id, listing in listings.items():
        assert listing.size == len(members.get(listing_id, ())) <= DIGEST_MAX, listing_id
    for listing_id, held_when_sent in sent.items():
        assert members[listing_id] == held_when_sent, listing_id  # nothing joined after the claim
    assert sent, "the dispatcher sent no digest: the test did not reach a surge"


def test_the_same_comment_stored_by_two_processes_at_the_same_moment_is_stored_once(database, db_url):
    """Two bots receive one delivery at once: one stores it, the other (on PostgreSQL, after its insert
    meets the unique key and rolls back) answers with the stored comment."""
    import threading

    from bot.clock import SystemClock

    org = load_organization(TEST_ORG)
    other = Database(db_url)
    services = [CommentService(db, org, BusinessCalendar(org.timezone), SystemClock()) for db in (database, other)]
    try:
        for n in range(10):
            new = comments(f"race-{n}", 1)[0]
            start, answers = threading.Barrier(2), []

            def receive(service: CommentService, new: NewComment = new, start: threading.Barrier = start,
                        answers: list = answers) -> None:
                start.wait()
                answers.append(service.receive(new))

            threads = [threading.Thread(target=receive, args=(service,)) for service in services]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert sorted(a.created for a in answers) == [False, True], answers
            assert len({a.comment_id for a in answers}) == 1
    finally:
        other.dispose()
    with database.read() as session:
        assert len(session.scalars(select(Comment.id).where(Comment.external_id.like("race-%"))).all()) == 10
