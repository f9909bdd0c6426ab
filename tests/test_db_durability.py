"""Changes and comments commit durably; only the dispatcher's bookkeeping may skip waiting for the disk."""

import threading

import sqlalchemy as sa

from bot.models import OutboxItem


def durability(session, dialect):
    if dialect == "sqlite":
        return {1: "relaxed", 2: "durable"}[session.execute(sa.text("PRAGMA synchronous")).scalar_one()]
    return {"off": "relaxed", "on": "durable"}[session.execute(sa.text("SHOW synchronous_commit")).scalar_one()]


def test_only_bookkeeping_transactions_are_relaxed_and_the_next_durable_one_is_durable_again(database):
    relaxed = "relaxed" if database.dialect == "sqlite" else "durable"  # PostgreSQL: always durable (bot/db.py)
    for _ in range(3):  # the same pooled connection serves both kinds, in turn
        with database.transaction(durable=False) as session:
            assert durability(session, database.dialect) == relaxed
        with database.transaction() as session:
            assert durability(session, database.dialect) == "durable"


def test_a_bookkeeping_commit_is_seen_by_others_at_once(database, clock):
    with database.transaction() as session:
        session.add(OutboxItem(created_at=clock.now(), action="post", channel="C1", view="v", ref={},
                               next_attempt_at=clock.now()))
    with database.transaction(durable=False) as session:
        session.execute(sa.update(OutboxItem).values(status="delivered"))
    with database.read() as session:
        assert session.scalar(sa.select(OutboxItem.status)) == "delivered"


def test_writers_of_one_process_take_turns_without_database_is_locked(database, clock):
    errors = []

    def write(n):
        try:
            for i in range(20):
                with database.transaction(durable=bool(i % 2)) as session:
                    session.add(OutboxItem(created_at=clock.now(), action="post", channel=f"C{n}", view="v",
                                           ref={}, next_attempt_at=clock.now()))
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(OutboxItem)) == 160
