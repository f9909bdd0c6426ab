"""The outbox and its dispatcher: everything committed reaches Slack once, in order, whatever Slack does."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import make_web_client
from bot.delivery import HOME_LANES, HOME_WAIT_SECONDS, RENDER_IN_TURNS, Dispatcher, paused_by_slack
from bot.models import AuditEvent, OutboxItem, SlackMessage
from bot.settings import load_settings
from bot.views import RENDERERS, NothingToRender, renders
from bot.views import load_all as load_views
from bot.workflows import outbox
from bot.workflows.preferences import LocaleResolver
from tests.conftest import test_environ
from tests.harness.db_hold import Hold, beside
from tests.harness.waiting import wait_until

if "test_note" not in RENDERERS:

    @renders("test_note")
    def _note(ctx, ref):
        if ref.get("gone"):
            raise NothingToRender("deleted")
        return {"text": f"note {ref['n']}", "blocks": [{"type": "section", "text": {"type": "mrkdwn",
                                                                                      "text": f"note {ref['n']}"}}]}


@pytest.fixture
def dispatcher(fake_slack, database, db_url, clock, org):
    load_views()  # what create_app does: the dispatcher's own views (the PR office's failure notice)
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
    # C0PR is also the PR office's channel: after note 2 comes the notice that note 1 failed.
    posted = posted_texts(fake_slack, "C0PR")
    assert [t for t in posted if t.startswith("note")] == ["note 2"]
    assert len(posted) == 2 and "送信に失敗しました" in posted[1]
    with database.read() as session:
        failed = session.scalars(select(OutboxItem).where(OutboxItem.status == "failed")).one()
    assert (failed.ref["n"], failed.last_error, failed.attempts) == (1, "not_in_channel", 1)


def test_giving_up_after_many_failures_is_recorded(dispatcher, database, clock, fake_slack):
    fake_slack.fail("chat.postMessage", status=503, count=100)
    enqueue_notes(database, clock, "C0PR", [1])
    for _ in range(20):
        dispatcher.run_once()
        clock.advance(timedelta(minutes=15))
    with database.read() as session:
        note = session.scalars(select(OutboxItem).where(OutboxItem.view == "test_note")).one()
    assert (note.status, note.attempts) == ("failed", 8)
    assert statuses(database).get("pending") is None  # nothing left retrying


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
    assert posted_texts(fake_slack, "C0PR") == ["note 1"]
    crashed.stop()


def test_a_claim_held_past_its_lease_does_not_overwrite_the_dispatcher_that_took_it_over(dispatcher, database,
                                                                                       clock, fake_slack, org):
    """A dispatcher kept past its lease (Slack slow for a minute) finishes, fails or reschedules an item that
    another one has taken over meanwhile: its outcome is dropped, and the other's stands."""
    enqueue_notes(database, clock, "C0PR", [1])
    slow = Dispatcher(database, dispatcher.client, clock, org, dispatcher.locales)
    assert slow._claim()
    clock.advance(timedelta(seconds=61))
    with database.transaction() as session:  # the other dispatcher claims it: the lease has run out
        (item_id,) = dispatcher._take(session, [item_id_of(database)], clock.now())
    slow._give_up(item_id, "channel_not_found")  # …and the slow one comes back
    slow._retry_later(item_id, "HTTP 503", None)
    slow._finish(item_id, result={"ts": "1.1"})
    with database.read() as session:
        item = session.get(OutboxItem, item_id)
        assert (item.status, item.claimed_by, item.last_error) == ("pending", dispatcher.identity, None)
    assert fake_slack.calls_to("chat.postMessage", channel="C0PR") == []  # the PR office was told of no failure
    dispatcher._finish(item_id, result={"ts": "1.2"})
    with database.read() as session:
        assert session.get(OutboxItem, item_id).status == "delivered"
    slow.stop()


def item_id_of(database):
    with database.read() as session:
        return session.scalar(select(OutboxItem.id))


def test_pacing_keeps_a_channel_near_one_message_per_second(dispatcher, database, clock, fake_slack):
    dispatcher._pacer.burst = 3
    dispatcher._pacer._buckets.clear()
    enqueue_notes(database, clock, "C0PR", range(10))
    dispatcher.drain()
    assert len(posted_texts(fake_slack, "C0PR")) <= 4  # the burst, perhaps one refilled token


def test_a_dm_waiting_behind_a_channel_is_paced_as_the_recipients_conversation(dispatcher, database, clock,
                                                                             fake_slack):
    # The DM links to the channel's posts, so it goes after them; but it lands in the person's own
    # conversation, so the channel's spent budget must not hold it back.
    dispatcher._pacer.burst = 3
    dispatcher._pacer._buckets.clear()
    enqueue_notes(database, clock, "C0PR", range(3))
    with database.transaction() as session:
        outbox.direct_message(session, user_id="U0STAFF1", view="test_note", ref={"n": "dm"}, now=clock.now(),
                              after="C0PR")
    dispatcher.drain()
    assert len(posted_texts(fake_slack, "C0PR")) == 3
    assert [c.args["text"] for c in fake_slack.calls_to("chat.postMessage", channel="U0STAFF1") if c.ok] == ["note dm"]
    assert statuses(database) == {"delivered": 4}


@pytest.mark.parametrize("kind", ["channel", "dm", "thread"])
def test_a_post_slack_stored_but_we_never_heard_of_is_found_not_posted_twice(dispatcher, database, clock,
                                                                              fake_slack, db_url, kind):
    # Slack stores the message after our client gave up waiting: the answer (its ts) is lost.
    settings = load_settings(test_environ(fake_slack, db_url))
    dispatcher.client = make_web_client(settings, retries=False, timeout=0.5)
    if kind == "thread":
        enqueue_notes(database, clock, "C0PR", ["parent"])
        dispatcher.drain()
    fake_slack.hang("chat.postMessage", seconds=0.8)
    with database.transaction() as session:
        if kind == "dm":
            outbox.direct_message(session, user_id="U0PR1", view="test_note", ref={"n": 1}, now=clock.now(),
                                  message_key="note:dm:1")
        else:
            outbox.post(session, channel="C0PR", view="test_note", ref={"n": 1}, now=clock.now(),
                        message_key="note:C0PR:1", thread_key="note:C0PR:parent" if kind == "thread" else None)
    dispatcher.run_once()
    channel = "D0PR1" if kind == "dm" else "C0PR"  # the fake's DM channel with U0PR1
    wait_until(lambda: any(m["text"] == "note 1" for m in fake_slack.messages(channel)))
    assert statuses(database).get("pending") == 1  # we do not know it arrived
    clock.advance(timedelta(seconds=5))
    dispatcher.drain()
    assert statuses(database).get("pending") == 1  # not yet looked for: Slack might still be storing it
    wait_until(lambda: (dispatcher.drain(), statuses(database).get("pending") is None)[1])
    assert [m["text"] for m in fake_slack.messages(channel)].count("note 1") == 1
    assert len([c for c in fake_slack.calls_to("chat.postMessage") if c.args.get("text") == "note 1"]) == 1
    with database.read() as session:
        item = session.scalars(select(OutboxItem).where(OutboxItem.message_key.like("note:%:1"))).one()
        recorded = session.get(SlackMessage, item.message_key)
    assert item.status == "delivered" and item.result["recovered"] is True
    assert fake_slack.message(channel, recorded.ts)["text"] == "note 1"


def test_a_retry_after_a_plain_failure_still_posts(dispatcher, database, clock, fake_slack):
    fake_slack.fail("chat.postMessage", status=503, count=1)
    enqueue_notes(database, clock, "C0PR", [1])
    dispatcher.run_once()
    clock.advance(timedelta(seconds=5))
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0PR") == ["note 1"]
    assert len(fake_slack.calls_to("conversations.history")) == 1  # looked first, found nothing


def test_a_half_hour_slack_outage_delays_deliveries_but_fails_none(dispatcher, database, clock, fake_slack):
    fake_slack.fail("chat.postMessage", status=503, count=10_000)
    enqueue_notes(database, clock, "C0PR", [1])
    for _ in range(60):  # 30 minutes of Slack answering 503, the dispatcher trying every 30 s
        dispatcher.run_once()
        clock.advance(timedelta(seconds=30))
    assert statuses(database) == {"pending": 1}  # many attempts, still waiting: not failed, nobody alarmed
    fake_slack.recover()
    clock.advance(timedelta(minutes=10))
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0PR") == ["note 1"]
    assert statuses(database) == {"delivered": 1}


def test_a_delivery_that_failed_for_good_is_shown_to_the_pr_office(dispatcher, database, clock, fake_slack):
    fake_slack.fail("chat.postMessage", status=200, error="channel_not_found", count=1)
    enqueue_notes(database, clock, "C0KANKYO", [1])
    dispatcher.drain()
    (notice,) = [c for c in fake_slack.calls_to("chat.postMessage", channel="C0PR") if c.ok]
    shown = notice.args["blocks"][0]["text"]["text"]
    assert "送信に失敗しました" in shown and "<#C0KANKYO>" in shown and "channel_not_found" in shown
    # If the PR office channel itself cannot be reached, the notice does not beget notices.
    fake_slack.fail("chat.postMessage", status=200, error="not_in_channel", count=2)
    enqueue_notes(database, clock, "C0KANKYO", [2])
    dispatcher.drain()
    assert statuses(database) == {"delivered": 1, "failed": 3}  # note 1 told; note 2 and its notice failed, no more


def test_a_slow_call_holds_up_only_its_own_channel_not_the_next_messages(dispatcher, database, clock, fake_slack):
    # Delivering in rounds, the emergency channel's next message waited for the whole round, here a
    # chat.update that takes two seconds. Pipelined, a free worker takes it at once.
    enqueue_notes(database, clock, "C0PR", ["slow"])
    dispatcher.drain()
    with database.transaction() as session:
        outbox.update(session, channel="C0PR", view="test_note", ref={"n": "slow, edited"}, now=clock.now(),
                      message_key="note:C0PR:slow")
    fake_slack.hang("chat.update", seconds=2)
    dispatcher.start(poll_seconds=0.05)
    fake_slack.wait_for_arrival("chat.update", timeout=5)  # the slow one is under way
    enqueue_notes(database, clock, "C0EMERG", ["checklist"])
    dispatcher.kick()
    fake_slack.wait_for("chat.postMessage", predicate=lambda c: c.ok, channel="C0EMERG", timeout=1.5)
    assert not [c for c in fake_slack.calls_to("chat.update") if c.ok], "the slow call was still under way"
    wait_until(lambda: statuses(database) == {"delivered": 3})


def test_an_item_still_being_delivered_is_not_claimed_again_when_its_lease_runs_out(dispatcher, database, clock,
                                                                                  fake_slack, db_url):
    # A slow call outlives the claim's lease (here the clock runs fast, as in tests/test_faults.py; in
    # life Slack hangs): the same dispatcher must not hand the item to a second worker and post it twice.
    settings = load_settings(test_environ(fake_slack, db_url))
    dispatcher.client = make_web_client(settings, retries=False, timeout=0.5)
    fake_slack.hang("chat.postMessage", seconds=0.8, count=2)
    enqueue_notes(database, clock, "C0PR", ["slow"])
    dispatcher.start(poll_seconds=0.05)

    def delivered():
        clock.advance(timedelta(seconds=30))
        dispatcher.kick()
        return statuses(database) == {"delivered": 1}

    wait_until(delivered, timeout=20)
    time.sleep(2)  # a second post, had there been one, lands after the hang
    in_slack = [m for m in fake_slack.messages("C0PR") if m.get("text") == "note slow"]
    assert len(in_slack) == 1, f"posted {len(in_slack)} times"


def test_app_home_publishes_take_at_most_their_lanes_and_messages_pass_them(dispatcher, database, clock, fake_slack):
    # A decision refreshes several people's App Home; rendering them all at once kept the message the
    # clicker was looking at waiting for the interpreter. Here every publish hangs: two are under way,
    # the others wait for a lane, and a post enqueued meanwhile goes at once.
    people = [f"U0HOME{n}" for n in range(5)]
    with database.transaction() as session:
        for person in people:
            outbox.home(session, user_id=person, now=clock.now())
    fake_slack.hang("views.publish", seconds=1, count=len(people))
    dispatcher.start(poll_seconds=0.05)
    fake_slack.wait_for_arrival("views.publish", count=HOME_LANES, timeout=5)
    enqueue_notes(database, clock, "C0PR", ["meanwhile"])
    dispatcher.kick()
    fake_slack.wait_for("chat.postMessage", predicate=lambda c: c.ok, channel="C0PR", timeout=0.9)
    assert fake_slack.arrivals("views.publish") == HOME_LANES, "more App Homes than lanes were under way"
    wait_until(lambda: statuses(database) == {"delivered": len(people) + 1})
    assert sorted(c.args["user_id"] for c in fake_slack.calls_to("views.publish") if c.ok) == people


class RenderLog:
    """When each render started and ended, by view (monotonic seconds)."""

    def __init__(self, monkeypatch, *, slow: float = 0.0):
        self.spans: dict[str, list[tuple[float, float]]] = {"test_note": [], "home": []}
        self._lock = threading.Lock()
        for view in self.spans:
            monkeypatch.setitem(RENDERERS, view, self._wrap(view, RENDERERS[view], slow if view == "test_note" else 0))

    def _wrap(self, view, render, slow):
        def timed(ctx, ref):
            started = time.monotonic()
            time.sleep(slow)  # a message that takes the interpreter a while to render
            out = render(ctx, ref)
            with self._lock:
                self.spans[view].append((started, time.monotonic()))
            return out
        return timed


def test_app_homes_wait_while_the_message_a_click_changed_is_rendered(dispatcher, database, clock, fake_slack,
                                                                      monkeypatch):
    # A decision enqueues the card's update, the next request, DMs and App Homes together; rendered at
    # once, the Homes kept the card (what the clicker watches) waiting for the interpreter.
    renders = RenderLog(monkeypatch, slow=0.05)  # well inside HOME_WAIT_SECONDS, even on a slow machine
    with database.transaction() as session:
        for person in ("U0HOME1", "U0HOME2"):  # enqueued first: still not before the message
            outbox.home(session, user_id=person, now=clock.now())
        outbox.post(session, channel="C0PR", view="test_note", ref={"n": 1}, now=clock.now(), message_key="note:1")
    dispatcher.start(poll_seconds=0.05)
    wait_until(lambda: statuses(database) == {"delivered": 3})
    [(_, note_rendered)] = renders.spans["test_note"]
    assert len(renders.spans["home"]) == 2
    assert all(started >= note_rendered for started, _ in renders.spans["home"])


@pytest.mark.parametrize("in_turns", [RENDER_IN_TURNS, False])
def test_deliveries_render_one_at_a_time_and_wait_for_slack_together(
        in_turns, dispatcher, fake_slack, database, clock, org, monkeypatch):
    # Python runs one thread at a time: eight deliveries rendering a surge's digests at once took the
    # interpreter from the webhook's answers (intake p99 on SQLite 80 -> 55 ms in turns). Only the Python
    # work is done in turns: the waits for Slack still overlap, so a slow Slack is not serialised.
    # `False` (all at once) shows what the test would see without turns.
    delivering = Dispatcher(database, dispatcher.client, clock, org, dispatcher.locales, render_in_turns=in_turns)
    delivering._pacer.burst = 1000
    renders = RenderLog(monkeypatch, slow=0.05)
    channels = [f"C0LANE{n}" for n in range(4)]
    for channel in channels:
        enqueue_notes(database, clock, channel, [1])
    fake_slack.hang("chat.postMessage", seconds=3, count=len(channels))
    try:
        delivering.start(poll_seconds=0.05)
        # Every post reached Slack while the first was still hanging: no turn is held while Slack answers.
        fake_slack.wait_for_arrival("chat.postMessage", count=len(channels), timeout=2.5)
        spans = sorted(renders.spans["test_note"])
        overlapping = any(later_start < earlier_end
                          for (_, earlier_end), (later_start, _) in zip(spans, spans[1:], strict=False))
        assert len(spans) == len(channels)
        assert overlapping is not in_turns, spans
        wait_until(lambda: statuses(database) == {"delivered": len(channels)})
    finally:
        delivering.stop()


def test_a_message_takes_its_turn_to_render_before_an_app_home_that_waited_longer(dispatcher):
    # The card a click changed waited behind the previous click's App Homes for its turn (click-to-update
    # on PostgreSQL, a traced click: 16 ms of its 78).
    def item(action):
        return OutboxItem(action=action, channel="C0PR", view="test_note", ref={})

    order, held, release = [], threading.Event(), threading.Event()

    def render(action, name):
        with dispatcher._turn(item(action)):
            held.set()
            if name == "holder":
                assert release.wait(10)
            order.append(name)

    holder = threading.Thread(target=render, args=("post", "holder"))
    holder.start()
    assert held.wait(10)
    home = threading.Thread(target=render, args=("home", "home"))
    home.start()
    wait_until(lambda: dispatcher._turns.waiting(answering=False) == 1)
    message = threading.Thread(target=render, args=("update", "message"))
    message.start()
    wait_until(lambda: dispatcher._turns.waiting(answering=True) == 1)
    release.set()
    for thread in (holder, home, message):
        thread.join(10)
    assert order == ["holder", "message", "home"]


def test_a_stream_of_messages_holds_app_homes_back_only_briefly(dispatcher, database, clock, fake_slack, monkeypatch):
    # A surge renders message after message: the Homes go after HOME_WAIT_SECONDS, not after the surge.
    renders = RenderLog(monkeypatch, slow=0.1)
    with database.transaction() as session:
        outbox.home(session, user_id="U0HOME1", now=clock.now())
        for n in range(80):  # 80 channels, 8 workers: about a second of rendering without a pause
            outbox.post(session, channel=f"C0SURGE{n}", view="test_note", ref={"n": n}, now=clock.now(),
                        message_key=f"note:{n}")
    dispatcher.start(poll_seconds=0.05)
    wait_until(lambda: statuses(database) == {"delivered": 81}, timeout=30)
    [(home_started, _)] = renders.spans["home"]
    first = min(started for started, _ in renders.spans["test_note"])
    last = max(ended for _, ended in renders.spans["test_note"])
    # It did wait for the messages (its wait starts at the claim, a little before the first render)...
    assert home_started - first >= HOME_WAIT_SECONDS * 0.75
    assert home_started < last  # ...but not for all of them


def home_items(database):
    with database.read() as session:
        return session.execute(select(OutboxItem.status, OutboxItem.result).where(OutboxItem.action == "home")
                               .order_by(OutboxItem.id)).all()


def test_of_a_persons_waiting_home_refreshes_only_the_newest_is_published(dispatcher, database, clock, fake_slack):
    # A Home is rendered when delivered: the newest shows every change the others were asked for.
    for _ in range(3):
        with database.transaction() as session:
            outbox.home(session, user_id="U0HOME", now=clock.now())
    [claimed] = dispatcher._claim()
    dispatcher._deliver(claimed)
    assert [status for status, _ in home_items(database)] == ["delivered"] * 3
    assert [result for _, result in home_items(database)][:2] == [{"superseded": True}] * 2
    assert len(fake_slack.calls_to("views.publish")) == 1
    with database.transaction() as session:  # a change after that one: published on its own
        outbox.home(session, user_id="U0HOME", now=clock.now())
    dispatcher.drain()
    assert len(fake_slack.calls_to("views.publish")) == 2
    assert {status for status, _ in home_items(database)} == {"delivered"}


# -- when Slack refuses, or a channel cannot be posted to ---------------------------------------------------


def pending_dm(database, clock, user_id, n, *, after=None):
    with database.transaction() as session:
        outbox.direct_message(session, user_id=user_id, view="test_note", ref={"n": n}, now=clock.now(), after=after)


def dm_texts(fake, user_id):
    return [c.args["text"] for c in fake.calls_to("chat.postMessage", channel=user_id) if c.ok]


def test_a_revoked_token_pauses_delivery_and_everything_goes_once_it_is_fixed(dispatcher, database, clock,
                                                                               fake_slack, caplog):
    # The app was uninstalled (or its token revoked): every call is refused, whatever the message. Before,
    # each item was failed on its first attempt (and its notice too), and nothing was ever sent again.
    fake_slack.fail("*", 200, count=10_000, error="token_revoked")
    enqueue_notes(database, clock, "C0PR", range(3))
    pending_dm(database, clock, "U0STAFF1", "dm")
    dispatcher.drain()
    assert statuses(database) == {"pending": 4}
    assert paused_by_slack(database) == "token_revoked"  # what /healthz reports
    refused_calls = len(fake_slack.calls)
    for _ in range(20):  # 10 minutes: one item is tried now and then, not the whole queue
        clock.advance(timedelta(seconds=30))
        dispatcher.drain()
    probes = len(fake_slack.calls) - refused_calls
    assert 3 <= probes <= 6, probes  # after 30 s, 60 s, 120 s, 240 s, then every 5 minutes
    with database.read() as session:
        assert {i.attempts for i in session.scalars(select(OutboxItem))} == {0}  # no attempt was counted
    paused_errors = [r for r in caplog.records if r.levelname == "ERROR" and "token_revoked" in r.getMessage()]
    assert len(paused_errors) == 1  # said once per pause, loudly

    fake_slack.recover()  # the app is reinstalled with the same token
    clock.advance(timedelta(minutes=5))
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0PR") == ["note 0", "note 1", "note 2"]
    assert dm_texts(fake_slack, "U0STAFF1") == ["note dm"]
    assert statuses(database) == {"delivered": 4} and paused_by_slack(database) is None


def test_a_missing_scope_fails_that_item_loudly_and_the_rest_go_on(dispatcher, database, clock, fake_slack, caplog):
    fake_slack.fail("chat.postMessage", 200, error="missing_scope", channel="C0KANKYO", needed="chat:write.public")
    enqueue_notes(database, clock, "C0KANKYO", [1, 2])
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0KANKYO") == ["note 2"]
    with database.read() as session:
        failed = session.scalars(select(OutboxItem).where(OutboxItem.status == "failed")).one()
    assert failed.last_error == "missing_scope: chat:write.public"
    assert any(r.levelname == "ERROR" and "chat:write.public" in r.getMessage() for r in caplog.records)
    (notice,) = [c for c in fake_slack.calls_to("chat.postMessage", channel="C0PR") if c.ok]
    assert "missing_scope" in notice.args["blocks"][0]["text"]["text"]


@pytest.mark.parametrize("error", ["restricted_action", "restricted_action_read_only_channel", "ekm_access_denied",
                                   "posting_to_general_channel_denied", "team_access_not_granted"])
def test_a_channel_the_bot_may_not_post_in_does_not_hold_the_on_call_page(dispatcher, database, clock, fake_slack,
                                                                          error):
    # The emergency's header and checklist, then the on-call officer's page, queued after them to link to them.
    fake_slack.fail("chat.postMessage", 200, count=10_000, error=error, channel="C0EMERG")
    enqueue_notes(database, clock, "C0EMERG", ["header", "checklist"])
    pending_dm(database, clock, "U0ONCALL2", "page", after="C0EMERG")
    dispatcher.drain()
    assert dm_texts(fake_slack, "U0ONCALL2") == ["note page"]
    assert len(fake_slack.calls_to("chat.postMessage", channel="C0EMERG")) == 2  # each tried once, not for an hour
    with database.read() as session:
        failed = session.scalars(select(OutboxItem.last_error).where(OutboxItem.status == "failed")).all()
    assert failed == [error, error]


def test_an_on_call_page_goes_on_its_own_once_the_channel_ahead_of_it_has_failed_twice(dispatcher, database,
                                                                                      clock, fake_slack):
    # Slack answers 503 for the emergency channel only: its posts are retried for an hour, as they should be,
    # but the page queued after them waited that hour too.
    fake_slack.fail("chat.postMessage", 503, count=10_000, channel="C0EMERG")
    enqueue_notes(database, clock, "C0EMERG", ["header"])
    pending_dm(database, clock, "U0ONCALL2", "page", after="C0EMERG")
    dispatcher.drain()
    assert dm_texts(fake_slack, "U0ONCALL2") == []  # one failure: it may still go in order
    clock.advance(timedelta(seconds=2))
    dispatcher.drain()
    assert dm_texts(fake_slack, "U0ONCALL2") == ["note page"]
    assert statuses(database) == {"delivered": 1, "pending": 1}  # the header is still being retried


def test_an_error_we_do_not_know_fails_after_three_attempts_not_an_hour(dispatcher, database, clock, fake_slack):
    fake_slack.fail("chat.postMessage", 200, count=10_000, error="some_new_error", channel="C0KANKYO")
    fake_slack.fail("chat.postMessage", 200, count=5, error="internal_error", channel="C0PR")  # Slack's own trouble
    enqueue_notes(database, clock, "C0KANKYO", [1])
    enqueue_notes(database, clock, "C0PR", [2])
    for _ in range(8):
        dispatcher.drain()
        clock.advance(timedelta(seconds=20))
    with database.read() as session:
        unknown = session.scalars(select(OutboxItem).where(OutboxItem.channel == "C0KANKYO")).one()
    assert (unknown.status, unknown.attempts, unknown.last_error) == ("failed", 3, "some_new_error")
    assert "note 2" in posted_texts(fake_slack, "C0PR")  # internal_error is retried as before, and arrives


def test_a_broken_channel_is_one_notice_to_the_pr_office_that_counts_up(dispatcher, database, clock, fake_slack):
    # Thirty comment posts into an archived channel were thirty notices in the PR office's channel.
    fake_slack.fail("chat.postMessage", 200, count=10_000, error="is_archived", channel="C0KANKYO")
    enqueue_notes(database, clock, "C0KANKYO", range(30))
    dispatcher.drain()
    notices = [c for c in fake_slack.calls_to("chat.postMessage", channel="C0PR") if c.ok]
    assert len(notices) == 1
    [notice] = fake_slack.messages("C0PR")
    shown = notice["blocks"][0]["text"]["text"]
    assert "環境局のチャンネル <#C0KANKYO> への 30 件の送信に失敗しました: アーカイブされています（`is_archived`）" in shown
    assert "30 件" in notice["text"]
    # Another channel's failure, or another error, is a notice of its own.
    fake_slack.fail("chat.postMessage", 200, error="channel_not_found", channel="C0SOUMU")
    enqueue_notes(database, clock, "C0SOUMU", [1])
    dispatcher.drain()
    assert len(fake_slack.messages("C0PR")) == 2
    # A day later the same failure starts a new notice, at the bottom of the channel.
    clock.advance(timedelta(hours=25))
    enqueue_notes(database, clock, "C0KANKYO", [30])
    dispatcher.drain()
    assert len(fake_slack.messages("C0PR")) == 3
    assert "1 件の送信に失敗しました" in fake_slack.messages("C0PR")[-1]["text"]


def test_the_failure_notice_is_rendered_in_english_too(dispatcher, database, clock, fake_slack):
    from bot.i18n import Translator
    from bot.views import RenderContext

    fake_slack.fail("chat.postMessage", 200, count=2, error="is_archived", channel="C0KANKYO")
    enqueue_notes(database, clock, "C0KANKYO", [1, 2])
    dispatcher.drain()
    with database.read() as session:
        notice = session.scalars(select(OutboxItem).where(OutboxItem.view == "delivery_failed")
                                 .order_by(OutboxItem.id.desc())).first()
        ctx = RenderContext(session=session, tr=Translator("en", "Asia/Tokyo"), org=dispatcher.org, now=clock.now())
        rendered = RENDERERS["delivery_failed"](ctx, notice.ref)
    assert rendered["text"] == "2 message(s) to <#C0KANKYO> could not be delivered: is_archived"
    assert "python -m bot outbox retry-failed" in rendered["blocks"][0]["text"]["text"]


def test_failed_deliveries_put_back_to_pending_are_sent_and_audited(dispatcher, database, clock, fake_slack):
    fake_slack.fail("chat.postMessage", 200, count=2, error="not_in_channel", channel="C0KANKYO")
    enqueue_notes(database, clock, "C0KANKYO", [1, 2])
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0KANKYO") == []
    # The bot is invited to the channel; an operator runs `python -m bot outbox retry-failed`.
    with database.transaction() as session:
        retried = outbox.retry_failed(session, now=clock.now())
    assert len(retried) == 2  # the notes, not the PR office's notice about them
    dispatcher.drain()
    assert posted_texts(fake_slack, "C0KANKYO") == ["note 1", "note 2"]
    with database.read() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.retried")).all()
    assert [(e.subject_id, e.from_state, e.to_state, e.reason) for e in events] == [
        (str(i), "failed", "pending", "not_in_channel") for i in retried]
    with database.transaction() as session:
        assert outbox.retry_failed(session, now=clock.now()) == []


def test_the_health_endpoint_says_when_slack_refuses_the_bot(koho):
    import json
    import urllib.error
    import urllib.request

    def health():
        try:
            with urllib.request.urlopen(f"{koho.url}/healthz", timeout=5) as r:  # noqa: S310 - loopback
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    koho.fake.fail("*", 200, count=10_000, error="account_inactive")
    enqueue_notes(koho.db, koho.clock, "C0PR", ["while revoked"])
    koho.services.notify()
    wait_until(lambda: paused_by_slack(koho.db) is not None)
    # 200 all the same: the process still takes citizens' comments (a probe must not restart it for this)
    assert health() == (200, {"status": "degraded", "database": "ok", "delivery": "paused",
                              "slack_error": "account_inactive"})
    koho.fake.recover()
    wait_until(lambda: (koho.clock.advance(timedelta(seconds=30)), koho.services.notify(),
                        statuses(koho.db) == {"delivered": 1})[-1])
    assert health() == (200, {"status": "ok", "database": "ok"})


def test_two_failures_of_one_channel_at_once_make_one_notice_counting_both(database, clock):
    """Two dispatcher threads mark two messages to one archived channel failed at the same moment: the PR
    office gets one notice saying 2, not two notices saying 1 (nor one saying 1)."""
    enqueue_notes(database, clock, "C0GONE", [1, 2])
    with database.transaction() as session:
        failed = session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
        for item in failed:
            item.status, item.last_error = "failed", "is_archived"

    def notice(item):  # as `_tell_pr_office` does, in the transaction that marks it failed
        with database.transaction() as session:
            outbox.notice_failure(session, failed=item, channel="C0PR", now=clock.now())

    # The first has looked for a notice of its group (none yet) and not yet posted one when the second comes.
    hold = Hold(database, at_statement="SELECT outbox", release_after="INSERT INTO outbox", thread_name="first")
    assert beside(hold, lambda: notice(failed[0]), lambda: notice(failed[1])) == (None, None)
    with database.read() as session:
        notices = session.scalars(select(OutboxItem).where(OutboxItem.view == outbox.FAILURE_NOTICE)
                                  .order_by(OutboxItem.id)).all()
    assert {n.message_key for n in notices} == {notices[0].message_key}  # one message: posted, then updated
    assert notices[-1].ref["count"] == 2
