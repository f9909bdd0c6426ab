"""SQLite: the writers of one process take their turns without "database is locked"."""

import threading

import sqlalchemy as sa

from bot.models import OutboxItem


def test_writers_of_one_process_take_turns_without_database_is_locked(database, clock):
    errors = []

    def write(n):
        try:
            for _ in range(20):
                with database.transaction() as session:
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
