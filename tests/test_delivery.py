"""The outbox and its dispatcher: everything committed reaches Slack once, in order, whatever Slack does."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import make_web_client
from bot.delivery import Dispatcher
from bot.models import OutboxItem, SlackMessage
from bot.settings import load_settings
from bot.views import RENDERERS, NothingToRender, renders
from bot.workflows import outbox
from bot.workflows.preferences import LocaleResolver
from tests.conftest import test_environ

if "test_note" not in RENDERERS:

    @renders("test_note")
    def _note(ctx, ref):
        if ref.get("gone"):
            raise NothingToRender("deleted")
        return {"text": f"note {ref['n']}", "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                                      "text": f"note {ref['n']}"}}]}


@pytest.fixture
def dispatcher(fake_slack, database, db_url, clock, org):
    settings = load_settings(test_environ(fake_slack, db_url))
    locales = LocaleResolver(database, clock, org.locale, lambda user_id: None)
    d = Dispatcher(database, make_web_client(settings, retries=False), clock, org, locales)
    d._pacer.burst = 1000  # these tests are about outcomes, not pacing
    yield d
    d.stop()


def enqueue_notes(database, clock, channel, numbers, **extra):
    with database.transaction() as session:
        for n in numbers:
            outbox.post(session, channel=channel, view="test_note", ref={"n": n, **extra}, now=clock.now(),
                        message_key=f"note:{channel}:{n}")


def posted_texts(fake, channel):
    return [c.args["text"] for c in fake.calls_to("chat.postMessage", channel=channel) if c.ok]


def statuses(database):
    with database.read() as session:
        return dict(session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status)).all())


def test_posts_arrive_in_order_and_are_remembered_for_updates(dispatcher, database, clock, fake_slack):
    enqueue_notes(database, clock, "C0PR", range(5))
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0PR") == [f"note {n}" for n in range(5)]
    with database.transaction() as session:
        outbox.update(session, channel="C0PR", view="test_note", ref={"n": "updated"}, now=clock.now(),
                      message_key="note:C0PR:3")
    dispatcher.drain()
    with database.read() as session:
        ts = session.get(SlackMessage, "note:C0PR:3").ts
    assert fake_slack.message("C0PR", ts)["text"] == "note updated"
    assert statuses(database) == {"delivered": 6}


def test_a_rolled_back_change_tells_nobody(dispatcher, database, clock, fake_slack):
    with pytest.raises(RuntimeError), database.transaction() as session:
        outbox.post(session, channel="C0PR", view="test_note", ref={"n": 1}, now=clock.now(), message_key="k")
        raise RuntimeError("the workflow failed")
    dispatcher.drain()
    assert fake_slack.calls_to("chat.postMessage") == []


def test_server_errors_are_retried_with_backoff_and_delivered_once(dispatcher, database, clock, fake_slack):
    fake_slack.fail("chat.postMessage", status=500, count=2)
    enqueue_notes(database, clock, "C0PR", [1])
    dispatcher.run_once()
    dispatcher.run_once()  # not due yet: backing off
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    for _ in range(3):
        clock.advance(timedelta(seconds=10))
        dispatcher.run_once()
    print("CALLS", [c.short() for c in fake_slack.calls], dispatcher._in_flight, clock.now())
    assert posted_texts(fake_slack, "C0PR") == ["note 1"]
    assert statuses(database) == {"delivered": 1}


def test_a_rate_limit_holds_the_whole_channel_for_retry_after(dispatcher, database, clock, fake_slack):
    fake_slack.rate_limit("chat.postMessage", retry_after=30, count=1)
    enqueue_notes(database, clock, "C0PR", [1, 2])
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0PR") == []
    enqueue_notes(database, clock, "C0KANKYO", [3])  # other channels are not held up
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0KANKYO") == ["note 3"]
    clock.advance(timedelta(seconds=29))
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0PR") == []
    clock.advance(timedelta(seconds=2))
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0PR") == ["note 1", "note 2"]


def test_errors_retrying_cannot_fix_fail_at_once_and_the_queue_moves_on(dispatcher, database, clock, fake_slack):
    fake_slack.fail("chat.postMessage", status=200, error="not_in_channel", count=1)
    enqueue_notes(database, clock, "C0PR", [1, 2])
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0PR") == ["note 2"]
    with database.read() as session:
        failed = session.scalars(select(OutboxItem).where(OutboxItem.status == "failed")).one()
    assert (failed.ref["n"], failed.last_error, failed.attempts) == (1, "not_in_channel", 1)


def test_giving_up_after_many_failures_is_recorded(dispatcher, database, clock, fake_slack):
    fake_slack.fail("chat.postMessage", status=503, count=100)
    enqueue_notes(database, clock, "C0PR", [1])
    for _ in range(20):
        dispatcher.run_once()
        clock.advance(timedelta(minutes=15))
    assert statuses(database) == {"failed": 1}


def test_vanished_records_are_skipped_not_retried(dispatcher, database, clock, fake_slack):
    enqueue_notes(database, clock, "C0PR", [1], gone=True)
    dispatcher.drain()
    assert fake_slack.calls_to("chat.postMessage") == [] and statuses(database) == {"delivered": 1}


def test_several_updates_of_one_message_collapse_into_the_newest(dispatcher, database, clock, fake_slack):
    enqueue_notes(database, clock, "C0PR", [1])
    dispatcher.drain()
    with database.transaction() as session:
        for n in ("a", "b", "c"):
            outbox.update(session, channel="C0PR", view="test_note", ref={"n": n}, now=clock.now(),
                          message_key="note:C0PR:1")
    dispatcher.drain()
    assert [c.args["text"] for c in fake_slack.calls_to("chat.update")] == ["note c"]


def test_duplicate_requests_for_one_notification_send_it_once(dispatcher, database, clock, fake_slack):
    for _ in range(2):
        with database.transaction() as session:
            outbox.direct_message(session, user_id="U0PR1", view="test_note", ref={"n": 1}, now=clock.now(),
                                  dedupe_key="reminder:1")
    dispatcher.drain()
    assert len(fake_slack.dms("U0PR1")) == 1


def test_two_dispatchers_deliver_each_item_exactly_once(dispatcher, database, clock, fake_slack, org):
    fake_slack.latency = 0.01
    channels = [f"C0CH{i}" for i in range(6)]
    for channel in channels:
        enqueue_notes(database, clock, channel, range(5))
    other = Dispatcher(database, dispatcher.client, clock, org, dispatcher.locales)
    other._pacer.burst = 1000
    threads = [threading.Thread(target=d.drain) for d in (dispatcher, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dispatcher.drain()
    for channel in channels:
        assert posted_texts(fake_slack, channel) == [f"note {n}" for n in range(5)]
    other.stop()


def test_a_crashed_claim_is_taken_over_after_its_lease(dispatcher, database, clock, fake_slack, org):
    enqueue_notes(database, clock, "C0PR", [1])
    crashed = Dispatcher(database, dispatcher.client, clock, org, dispatcher.locales)
    assert crashed._claim()  # claimed, then the process "dies" before delivering
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0PR") == []
    clock.advance(timedelta(seconds=61))
    dispatcher.drain()
    print("CALLS", [c.short() for c in fake_slack.calls], dispatcher._in_flight, clock.now())
    assert posted_texts(fake_slack, "C0PR") == ["note 1"]
    crashed.stop()


def test_pacing_keeps_a_channel_near_one_message_per_second(dispatcher, database, clock, fake_slack):
    dispatcher._pacer.burst = 3
    dispatcher._pacer._buckets.clear()
    enqueue_notes(database, clock, "C0PR", range(10))
    dispatcher.drain()
    assert len(posted_texts(fake_slack, "C0PR")) <= 4  # the burst, perhaps one refilled token


def test_in_the_background_a_slow_send_whose_lease_runs_out_is_not_sent_a_second_time(dispatcher, database,
                                                                                     clock, fake_slack):
    fake_slack.hang("chat.postMessage", seconds=1.0)  # Slack is slow to answer the first post
    enqueue_notes(database, clock, "C0PR", [1])
    dispatcher.start(poll_seconds=0.05)
    waiting = threading.Event()
    while not dispatcher._in_flight and not waiting.wait(0.01):
        pass
    clock.advance(timedelta(seconds=61))  # its lease has run out while it is still being sent
    assert dispatcher._claim() == []  # the dispatcher sending it does not claim it again
    fake_slack.wait_for("chat.postMessage", predicate=lambda c: c.ok, timeout=5)
    waiting.wait(0.3)
    assert posted_texts(fake_slack, "C0PR") == ["note 1"]
    assert statuses(database) == {"delivered": 1}
