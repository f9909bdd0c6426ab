"""When the emergency channel is also a department's channel, a surge must keep the two kinds of digest apart:
a 緊急 alert never joins a department digest (it would lose its 119/110 advice and on-call mentions), nor a
department comment an emergency digest (it would lose its buttons). Signed webhooks, fake Slack, SQLite and
PostgreSQL."""

import dataclasses
import json
import time

import pytest

from bot.delivery import Dispatcher
from bot.organization import load_organization
from tests.comments_support import comment_ids_shown, pending_outbox, receive
from tests.conftest import TEST_ORG

SHARED = "C0KANKYO"  # 環境局's channel, here also the emergency channel


@pytest.fixture
def org():
    return dataclasses.replace(load_organization(TEST_ORG), emergency_channel=SHARED)


def deliver_all(koho):
    """A dispatcher starts again and delivers the whole queue, paced as Slack wants."""
    dispatcher = Dispatcher(koho.db, koho.services.dispatcher.client, koho.clock, koho.services.org,
                            koho.services.locales)
    dispatcher._pacer.per_second = 20.0  # the pace does not matter here, only what each message holds
    dispatcher.start(poll_seconds=0.02)
    try:
        deadline = time.monotonic() + 20
        while pending_outbox(koho):
            assert time.monotonic() < deadline, f"{pending_outbox(koho)} outbox items still pending"
            time.sleep(0.02)
    finally:
        dispatcher.stop()


def test_an_emergency_alert_and_a_department_comment_never_share_a_digest(koho):
    koho.services.dispatcher.stop()  # nothing is delivered: the channel's queue builds up
    backlog = [receive(koho, f"ごみ集積所があふれています（{n}）", account=None) for n in range(4)]
    urgent = receive(koho, "ごみ置き場で火事です、助けて", account=None)
    after = receive(koho, "ごみの収集が遅れています", account=None)
    deliver_all(koho)

    messages = koho.fake.messages(SHARED)
    alerts = [m for m in messages if "119番" in json.dumps(m, ensure_ascii=False)]
    assert alerts, "the 緊急 alert was not shown with its advice"
    for alert in alerts:  # the alert's message shows no department comment
        assert set(comment_ids_shown(alert)) <= {urgent}, comment_ids_shown(alert)
    # Every department comment is shown in a message that is not an emergency alert, and has its buttons.
    for comment_id in [*backlog, urgent, after]:
        holders = [m for m in messages if comment_id in comment_ids_shown(m) and m not in alerts]
        assert holders, f"comment {comment_id} is not shown as a department comment"
        assert any(actionable(m, comment_id) for m in holders), f"comment {comment_id} lost its buttons"


def actionable(message, comment_id):
    """Whether the message offers the comment's actions: its own message's buttons, or its digest row's menu."""
    ids = [b.get("block_id") for b in message["blocks"]]
    if f"comment-row-{comment_id}" in ids:
        return "accessory" in message["blocks"][ids.index(f"comment-row-{comment_id}")]
    return any(b["type"] == "actions" for b in message["blocks"])
