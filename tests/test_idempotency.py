"""Everything that can arrive twice has one effect: Slack's retries and duplicate event_ids, double
clicks, duplicate webhook deliveries (sequential and at the same moment)."""

import logging
import threading
import time

from sqlalchemy import func, select

from bot.models import OutboxItem
from bot.workflows.comments.models import Comment
from bot.workflows.proposals.models import ApprovalStep
from tests.comments_support import comment, comment_ids_shown, post_webhook, settle
from tests.emergency_support import audit_actions, propose, request_for


def home_publishes(koho, user):
    with koho.db.read() as session:
        return session.scalar(select(func.count()).select_from(OutboxItem)
                              .where(OutboxItem.action == "home", OutboxItem.channel == f"home:{user}"))


def at_once(*calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def ignored(caplog, event_id, count, timeout=5.0):
    """Wait until the bot has *handled* `count` repeated deliveries of `event_id` (Bolt acks first)."""
    deadline = time.monotonic() + timeout
    while sum(f"event {event_id} was handled already" in r.getMessage() for r in caplog.records) < count:
        assert time.monotonic() < deadline, f"{count} repeats of {event_id} were not handled"
        time.sleep(0.02)


def wait_publishes(koho, user, expected, timeout=5.0):
    deadline = time.monotonic() + timeout
    while home_publishes(koho, user) < expected:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert home_publishes(koho, user) == expected


def test_slack_retrying_an_event_has_no_second_effect(koho, caplog):
    caplog.set_level(logging.INFO, logger="bot.handlers.home")
    event = {"type": "app_home_opened", "user": "U0STAFF1", "channel": "D0STAFF1", "tab": "home"}
    assert koho.slack.event(event, event_id="Ev0RETRY1").status == 200
    wait_publishes(koho, "U0STAFF1", 1)
    for n in (1, 2, 3):  # Slack's retries carry the same event_id and say which retry they are
        assert koho.slack.event(event, event_id="Ev0RETRY1", retry_num=n, retry_reason="http_timeout").status == 200
    ignored(caplog, "Ev0RETRY1", 3)
    assert home_publishes(koho, "U0STAFF1") == 1
    assert koho.slack.event(event, event_id="Ev0OTHER2").status == 200  # a new opening is a new event
    wait_publishes(koho, "U0STAFF1", 2)


def test_the_same_event_delivered_several_times_at_once_has_one_effect(koho, caplog):
    caplog.set_level(logging.INFO, logger="bot.handlers.home")
    event = {"type": "app_home_opened", "user": "U0PR1", "channel": "D0PR1", "tab": "home"}
    answers = at_once(*[lambda: koho.slack.event(event, event_id="Ev0TWINS")] * 4)
    assert [a.status for a in answers] == [200] * 4
    ignored(caplog, "Ev0TWINS", 3)
    assert home_publishes(koho, "U0PR1") == 1


def test_a_double_click_on_approve_decides_once_and_the_second_click_is_told(koho):
    proposal_id = propose(koho, "U0STAFF1")
    request = request_for(koho, "C0KANKYO", proposal_id)
    answers = at_once(*[lambda: koho.slack.block_action("U0KANKYOHEAD", "proposal_approve", message=request)] * 2)
    assert [a.status for a in answers] == [200, 200]
    koho.slack.block_action("U0KANKYOHEAD", "proposal_approve", message=request)  # and a late third
    told = koho.fake.wait_for("response_url", count=2, predicate=lambda c: c.args.get("response_type") == "ephemeral")
    assert all("すでに" in c.args["text"] for c in told)
    koho.fake.wait_for("chat.postMessage", channel="C0PR", predicate=lambda c: c.ok)
    settle(koho)
    with koho.db.read() as session:
        steps = session.scalars(select(ApprovalStep).where(ApprovalStep.proposal_id == proposal_id)
                                .order_by(ApprovalStep.id)).all()
    assert [(s.stage, s.status) for s in steps] == [("department", "approved"), ("pr_office", "pending")]
    assert audit_actions(koho, "proposal", proposal_id).count("step.approved") == 1
    assert len(koho.fake.calls_to("chat.postMessage", channel="C0PR", predicate=lambda c: c.ok)) == 1


def test_a_webhook_delivered_several_times_at_once_is_stored_and_posted_once(koho):
    payload = comment("粗大ゴミの回収日を教えてください")
    answers = at_once(*[lambda: post_webhook(koho, payload)] * 6)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 5 + [202], answers
    assert len({answer["id"] for _, answer in answers}) == 1
    settle(koho)
    with koho.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 1
    shown = [i for m in koho.fake.messages("C0KANKYO") for i in comment_ids_shown(m)]
    assert shown == [answers[0][1]["id"]]
