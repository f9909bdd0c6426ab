"""SQLite: the writers of one process take their turns without "database is locked"."""

import threading
import time

import pytest
import sqlalchemy as sa

from bot.db import Turns, answering
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


# -- whose turn: those answering someone first (bot.db.Turns) ---------------------------------------


def waiter(turns, order, name, *, answering):
    def take():
        assert turns.acquire(timeout=10, answering=answering)
        order.append(name)
        turns.release()

    thread = threading.Thread(target=take)
    thread.start()
    return thread


def wait_until_waiting(turns, answering, count=1):
    deadline = time.monotonic() + 10
    while turns.waiting(answering=answering) < count:
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_a_writer_answering_someone_goes_before_background_writers_that_waited_longer():
    turns, order = Turns(), []
    assert turns.acquire(timeout=1)
    background = waiter(turns, order, "delivery", answering=False)
    wait_until_waiting(turns, False)
    answering = waiter(turns, order, "click", answering=True)
    wait_until_waiting(turns, True)
    turns.release()
    for thread in (background, answering):
        thread.join()
    assert order == ["click", "delivery"]


def test_background_writers_step_aside_for_a_while_only(monkeypatch):
    # Under a flood of requests, delivery that has waited YIELD_AT_MOST goes next, before those answering.
    monkeypatch.setattr(Turns, "YIELD_AT_MOST", 0.05)
    turns, order = Turns(), []
    assert turns.acquire(timeout=1, answering=True)
    background = waiter(turns, order, "delivery", answering=False)
    wait_until_waiting(turns, False)
    answering = waiter(turns, order, "click", answering=True)
    wait_until_waiting(turns, True)
    time.sleep(0.06)
    turns.release()
    for thread in (background, answering):
        thread.join()
    assert order == ["delivery", "click"]


def test_a_writer_in_a_tight_loop_cannot_take_the_turn_again_before_those_waiting():
    # A release hands the turn over: without that, a dispatcher's claim loop kept a writer waiting minutes.
    turns, order, stop, looping_now = Turns(), [], threading.Event(), threading.Event()

    def loop():
        while not stop.is_set():
            assert turns.acquire(timeout=10)
            # Whether the other writer waits for the turn now, as this one gives it up (read in the turn).
            order.append(("loop", turns.waiting(answering=False) > 0))
            looping_now.set()
            turns.release()

    def handed_over():
        return [i for i, (who, waited) in enumerate(order) if who == "loop" and waited]

    looping = threading.Thread(target=loop)
    looping.start()
    try:
        # The other starts once the loop runs (else, between two GIL switches, it could take all its turns
        # before the loop took one: CI saw that), and goes on until the loop has given it the turn often.
        assert looping_now.wait(10)
        deadline = time.monotonic() + 10
        while len(handed_over()) < 20:
            assert time.monotonic() < deadline, order[-40:]
            assert turns.acquire(timeout=10)
            order.append(("other", False))
            turns.release()
    finally:
        stop.set()
        looping.join()
    # `order` is the order of the turns. Every time the loop gave up its turn while the other waited, the
    # very next turn was the other's. (Between its own turns the other may not be waiting yet: then the
    # loop may go on, and that is no queue-jumping.)
    assert all(i + 1 < len(order) and order[i + 1][0] == "other" for i in handed_over()), order


def test_turns_are_reentrant_and_time_out():
    turns = Turns()
    assert turns.acquire(timeout=1) and turns.acquire(timeout=1, answering=True)
    other = []
    thread = threading.Thread(target=lambda: other.append(turns.acquire(timeout=0.05)))
    thread.start()
    thread.join()
    assert other == [False]
    turns.release()
    turns.release()
    assert turns.acquire(timeout=0.05)
    turns.release()


def test_request_and_listener_threads_are_marked_as_answering(koho):
    from bot.app import Services

    seen = []
    original = Services.translator_for

    def spy(self, user_id):
        seen.append(answering())
        return original(self, user_id)

    with_spy = pytest.MonkeyPatch()
    with_spy.setattr(Services, "translator_for", spy)
    try:
        assert koho.slack.command("/koho", "help", user_id="U0STAFF1").status == 200
        koho.fake.wait_for("response_url")
    finally:
        with_spy.undo()
    assert seen and all(seen)
    assert not answering()  # this test's own thread answers nobody
