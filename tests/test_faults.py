"""Slack misbehaving for a while — 500s, 429s with Retry-After, hanging past our timeout — while people
work through the running bot: once it recovers, every notification has arrived, each exactly once."""

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import make_web_client
from bot.models import OutboxItem
from tests.comments_support import comment_ids_shown, receive, settle
from tests.emergency_support import approve, propose, texts

FAULTS = {
    # name: how to break chat.postMessage and chat.update for the next few calls
    "http_500": lambda fake, n: (fake.fail("chat.postMessage", status=500, count=n),
                                 fake.fail("chat.update", status=502, count=n)),
    "rate_limited": lambda fake, n: (fake.rate_limit("chat.postMessage", retry_after=20, count=n),
                                     fake.rate_limit("chat.update", retry_after=20, count=n)),
    # Slack stores the message but answers after our client gave up: the most treacherous case.
    "hanging": lambda fake, n: (fake.hang("chat.postMessage", seconds=0.8, count=n),
                                fake.hang("chat.update", seconds=0.8, count=n)),
}


def delivered_exactly_once(koho):
    """Every outbox item delivered; every post/DM in Slack exactly once (by the id in its metadata)."""
    with koho.db.read() as session:
        items = session.scalars(select(OutboxItem)).all()
    assert {i.status for i in items} == {"delivered"}, [(i.id, i.view, i.status, i.last_error) for i in items
                                                       if i.status != "delivered"]
    in_slack = Counter(c.args["metadata"]["event_payload"]["outbox_id"]
                       for c in koho.fake.calls_to("chat.postMessage") if c.ok and c.args.get("metadata"))
    posts = {i.id for i in items if i.action in ("post", "dm") and "ts" in (i.result or {})}
    assert set(in_slack) == posts
    assert [n for n in in_slack.values() if n != 1] == [], f"posted more than once: {in_slack}"
    return items


@pytest.mark.parametrize("fault", FAULTS)
def test_after_slack_recovers_every_notification_arrives_once(koho, fault):
    koho.services.dispatcher._pacer.burst = 1000  # the fault is the subject here, not our own pacing
    if fault == "hanging":  # give up on Slack after 0.5 s instead of 10, so the test stays short
        koho.services.dispatcher.client = make_web_client(koho.settings, retries=False, timeout=0.5)
    FAULTS[fault](koho.fake, 2 if fault == "hanging" else 3)

    proposal_id = propose(koho, "U0STAFF1")
    comment_id = receive(koho, "粗大ゴミの回収日を教えてください。電話 090-1234-5678")
    settle(koho, timeout=30, advance=timedelta(seconds=30))
    approve(koho, "U0KANKYOHEAD", "C0KANKYO", proposal_id)
    settle(koho, timeout=30, advance=timedelta(seconds=30))
    approve(koho, "U0PR1", "C0PR", proposal_id)
    settle(koho, timeout=30, advance=timedelta(seconds=30))

    items = delivered_exactly_once(koho)
    failed_calls = [c for c in koho.fake.calls if c.method in ("chat.postMessage", "chat.update") and not c.ok]
    timed_out = [c for c in koho.fake.calls if c.method == "conversations.history"]
    assert len(failed_calls) >= 3 if fault != "hanging" else len(timed_out) >= 2  # the fault really happened
    assert {"approval_request", "proposal_dm", "comment", "publication"} <= {i.view for i in items}
    # What people see is the final state, in place: both requests say who approved.
    updated_requests = [m for m in koho.fake.messages("C0KANKYO") if "承認 — <@U0KANKYOHEAD>" in texts(m)]
    assert len(updated_requests) == 1
    assert sum(1 for m in koho.fake.messages("C0PR") if "承認 — <@U0PR1>" in texts(m)) == 1
    assert sum(comment_id in comment_ids_shown(m) for m in koho.fake.messages("C0KANKYO")) == 1


def test_a_form_slack_refuses_for_its_rate_limit_is_not_retried_with_an_expired_trigger(koho):
    # The listeners' client sleeps out a 429's Retry-After and tries again: with a trigger_id that lives 3 s,
    # the retry could only fail, and the person waited for nothing. Now: one try, and they are asked to click again.
    koho.fake.rate_limit("views.open", retry_after=2, count=5)
    assert koho.slack.command("/emergency", "", user_id="U0ONCALL1", channel_id="C0EMERG").status == 200
    (answer,) = koho.fake.wait_for("response_url", predicate=lambda c: "混み合って" in c.args.get("text", ""))
    assert answer.args["response_type"] == "ephemeral" and "もう一度お試しください" in answer.args["text"]
    assert len(koho.fake.calls_to("views.open")) == 1


def test_an_emergency_channel_the_bot_may_not_post_in_still_pages_the_on_call_officer(koho):
    # The emergency channel was made read-only: its header and checklist cannot be posted. The page to the
    # other on-call officer, queued after them (it links to the header), waited behind them for an hour.
    from tests.emergency_support import declaration_values, open_declare_modal

    koho.fake.fail("chat.postMessage", 200, count=10_000, error="restricted_action_read_only_channel",
                   channel="C0EMERG")
    view = open_declare_modal(koho, "U0ONCALL1")
    assert koho.slack.view_submission("U0ONCALL1", view, declaration_values()).status == 200
    koho.fake.wait_for("chat.postMessage", channel="U0ONCALL2", predicate=lambda c: c.ok, timeout=10)
    # The PR office hears of it once for the channel, however many of its messages failed.
    koho.fake.wait_for("chat.postMessage", channel="C0PR", timeout=10,
                       predicate=lambda c: c.ok and "<#C0EMERG> への" in c.args.get("text", ""))
    settle(koho)
    notices = [m for m in koho.fake.messages("C0PR") if "<#C0EMERG> への" in m.get("text", "")]
    assert len(notices) == 1 and "2 件" in notices[0]["text"]
