"""A disaster brings hundreds of comments in minutes; Slack takes about one message per second per
channel. Every comment must reach Slack — in order, once — through digests while the queue is long,
and through a restart in the middle.

Speed: these tests run Slack at ten times its real pace (the fake's limit 10 messages/s per channel,
burst 5; the dispatcher's own pacing raised to match, 10/s with its burst of 3). Only the clock rate
changes: the backlog, the digests and the pacing below Slack's limit behave exactly as at 1/s, and
1,000 comments take about 3 s of delivery instead of 30 s.
"""

import time
from datetime import timedelta

from sqlalchemy import func, select

from bot.app import create_app
from bot.delivery import Dispatcher
from bot.handlers.comment_ids import CommentAction, CommentBlock
from bot.models import AuditEvent, OutboxItem
from bot.workflows.comments.digest import DIGEST_MAX
from bot.workflows.comments.models import Comment
from tests.comments_support import (
    SLACK_SPEEDUP,
    comment,
    comment_ids_shown,
    receive,
    settle,
    shown_in_order,
    slack_at_ten_times_speed,
    surge,
    texts,
    updated,
)


def assert_each_shown_once(koho, channel, ids):
    shown = shown_in_order(koho.fake, channel)
    assert len(shown) == len(set(shown)), "a comment is shown twice"
    assert set(shown) == set(ids), f"missing: {sorted(set(ids) - set(shown))[:10]}"
    return shown


def test_a_surge_of_1000_comments_reaches_slack_in_digests_in_order_none_lost_none_twice(koho):
    slack_at_ten_times_speed(koho)
    payloads = [comment(f"ごみ集積所があふれています（{n}番目の投稿）", account=None) for n in range(1000)]

    started = time.monotonic()
    per_tool = surge(koho, payloads, senders=4)
    settle(koho, timeout=60)
    elapsed = time.monotonic() - started

    every_id = [i for ids in per_tool for i in ids]
    shown = assert_each_shown_once(koho, "C0KANKYO", every_id)
    # Each tool's comments appear in the order it sent them; within a message, in arrival order.
    position = {comment_id: n for n, comment_id in enumerate(shown)}
    for ids in per_tool:
        assert [position[i] for i in ids] == sorted(position[i] for i in ids)
    posts = koho.fake.calls_to("chat.postMessage", channel="C0KANKYO")
    assert not [c for c in posts if c.status == 429], "Slack had to say 429: we paced too fast"
    messages = koho.fake.messages("C0KANKYO")
    digests = [m for m in messages if len(comment_ids_shown(m)) > 1]
    assert digests and max(len(comment_ids_shown(m)) for m in digests) <= DIGEST_MAX
    # Never more messages than the channel can take in the time (plus a burst): digests hold the rest.
    assert len(messages) <= elapsed * SLACK_SPEEDUP + 5 + 1000 / DIGEST_MAX, (len(messages), elapsed)
    assert len(messages) < 1000 / 2
    with koho.db.read() as session:
        received = session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == "comment.received"))
    assert received == 1000

    # Each comment in a digest can be acted on from its row; the digest is updated in place.
    digest = digests[0]
    first_row = next(b for b in digest["blocks"] if b.get("block_id", "").startswith("comment-row-"))
    acknowledge = next(o["value"] for o in first_row["accessory"]["options"] if o["value"].startswith("acknowledge:"))
    koho.slack.block_action("U0STAFF1", CommentAction.ROW_MENU, message=digest, block_id=first_row["block_id"],
                            selected_option=acknowledge)
    updated(koho, digest, lambda t: "対応中" in t)

    # The queue has drained: the next comment gets a message of its own again.
    calm = receive(koho, "ごみの収集日が変わったのですか")
    settle(koho)
    assert comment_ids_shown(koho.fake.messages("C0KANKYO")[-1]) == [calm]


def test_a_restart_in_the_middle_of_a_surge_loses_nothing_and_sends_nothing_twice(koho):
    slack_at_ten_times_speed(koho)
    topics = ["ごみが回収されていません", "道路が冠水しています"]
    first = surge(koho, [comment(f"{topics[n % 2]}（{n}）", account=None) for n in range(100)], senders=2)

    # The process stops: its dispatcher finishes what it is sending; another one is killed between
    # claiming items and sending them (its claims are leases that run out).
    koho.services.dispatcher.stop()
    crashed = Dispatcher(koho.db, koho.services.dispatcher.client, koho.clock, koho.services.org, koho.services.locales)
    crashed._claim()
    crashed.stop()
    # Comments keep arriving meanwhile: the web process stores them, nobody delivers.
    second = surge(koho, [comment(f"{topics[n % 2]}（続報 {n}）", account=None) for n in range(100)], senders=2)
    with koho.db.read() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending"))

    # A new process starts from the database alone.
    restarted = create_app(koho.settings, koho.services.org, koho.db, clock=koho.clock)
    services = restarted.koho_services
    slack_at_ten_times_speed(koho, services)
    services.start_background(sweeps=False)
    try:
        koho.clock.advance(timedelta(seconds=61))  # the killed dispatcher's leases expire
        settle(koho, timeout=30, services=services)
    finally:
        services.stop_background()
        restarted.listener_runner.listener_executor.shutdown(wait=True)

    ids = {i for ids in first + second for i in ids}
    with koho.db.read() as session:
        channel_of = dict(session.execute(select(Comment.id, Comment.channel)).all())
    for channel in ("C0KANKYO", "C0KENSETSU"):
        assert_each_shown_once(koho, channel, {i for i in ids if channel_of[i] == channel})


def test_when_slack_says_429_the_channel_waits_and_nothing_is_dropped(koho):
    # Slack is stricter than we pace for (another app shares the workspace): it answers 429s.
    koho.fake.channel_rate(per_second=1.0 * SLACK_SPEEDUP, burst=1)
    koho.services.dispatcher._pacer.per_second = 2.0 * SLACK_SPEEDUP
    koho.services.dispatcher._pacer.burst = 5
    ids = [i for ids in surge(koho, [comment(f"道路の陥没（{n}）", account=None) for n in range(60)], senders=2)
           for i in ids]
    settle(koho, timeout=30, advance=timedelta(seconds=1))  # Retry-After passes on the bot's clock
    assert [c for c in koho.fake.calls_to("chat.postMessage", channel="C0KENSETSU") if c.status == 429]
    assert_each_shown_once(koho, "C0KENSETSU", ids)
    with koho.db.read() as session:
        assert set(session.scalars(select(OutboxItem.status)).all()) == {"delivered"}


def test_a_surge_of_long_comments_is_digested_within_the_text_slack_takes_in_one_message(koho):
    """Slack refuses a message whose blocks hold too much text in all (`msg_blocks_too_long`; the fake from
    11,000 characters): forty comments of a few hundred characters each were more. Each row's excerpt gives way.
    At Slack's own pace (1 message/s), so that the backlog fills digests of forty."""
    story = "ごみ集積所があふれて袋が山積みです。カラスが散らかして臭いもひどく、収集日を増やしてほしいです。" * 7
    payloads = [comment(f"{n}番目の投稿：{story}", account=None) for n in range(200)]

    per_tool = surge(koho, payloads, senders=4)
    settle(koho, timeout=60)

    assert_each_shown_once(koho, "C0KANKYO", [i for ids in per_tool for i in ids])
    koho.fake.assert_no_validation_errors()
    digests = [m for m in koho.fake.messages("C0KANKYO") if len(comment_ids_shown(m)) > 1]
    assert max(len(comment_ids_shown(m)) for m in digests) == DIGEST_MAX
    with koho.db.read() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "failed")) == 0


def a_digest(koho):
    """A surge of road reports: the first digest the department's channel shows."""
    slack_at_ten_times_speed(koho)
    surge(koho, [comment(f"道路が冠水しています（{n}）", account=None) for n in range(30)], senders=2)
    settle(koho, timeout=30)
    digest = next(m for m in koho.fake.messages("C0KENSETSU") if len(comment_ids_shown(m)) > 1)
    return digest


def test_a_comment_listed_in_a_digest_is_closed_as_a_duplicate_through_its_menus_last_item(koho):
    """In a surge comments are listed in digests, with no message of their own, and a row's "…" menu holds five
    items (Slack's limit). 重複 and 所管外, which a surge brings most, are behind its last item, in a modal."""
    digest = a_digest(koho)
    original, repeat = comment_ids_shown(digest)[:2]
    row = f"comment-row-{repeat}"
    menu = next(b["accessory"] for b in digest["blocks"] if b.get("block_id") == row)
    assert [o["text"]["text"] for o in menu["options"]] == ["確認しました", "担当変更", "対応済", "対応不要", "その他の操作…"]
    more = menu["options"][-1]["value"]

    # Someone outside the department is refused at once, and it is recorded.
    koho.slack.block_action("U0STAFF1", CommentAction.ROW_MENU, message=digest, block_id=row, selected_option=more)
    koho.fake.wait_for("chat.postEphemeral", user="U0STAFF1")
    assert koho.fake.calls_to("views.open") == []

    opened = len(koho.fake.calls_to("views.open"))
    koho.slack.block_action("U0KENSETSU1", CommentAction.ROW_MENU, message=digest, block_id=row, selected_option=more)
    koho.fake.wait_for("views.open", count=opened + 1)
    form = koho.fake.last_view("U0KENSETSU1")
    (choices,) = [b["element"] for b in form["blocks"] if b.get("block_id") == CommentBlock.MORE]
    assert [o["text"]["text"] for o in choices["options"]] == ["非表示・削除を依頼", "所管外・移ちょう", "重複"]
    assert f"#{repeat}" in texts(form)

    answer = koho.slack.view_submission("U0KENSETSU1", form, {CommentBlock.MORE: {CommentAction.MORE: "duplicate"}})
    assert answer.json()["response_action"] == "update"  # the chosen step's own modal takes its place
    assert koho.fake.apply_response_action(form["id"], answer.json()) == []
    duplicate_form = koho.fake.view(form["id"])
    assert duplicate_form["callback_id"] == "comment_duplicate"
    answer = koho.slack.view_submission("U0KENSETSU1", duplicate_form,
                                        {CommentBlock.ORIGINAL: {CommentAction.ORIGINAL: f"#{original}"}})
    assert answer.status == 200 and answer.body == "", answer.body

    with koho.db.read() as session:
        closed = session.get(Comment, repeat)
        assert (closed.status, closed.duplicate_of) == ("duplicate", original)
        refusals = session.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == str(repeat),
                                                                   AuditEvent.actor == "U0STAFF1")).all()
        assert refusals and all(a.endswith("refused") for a in refusals)
    updated(koho, digest, lambda t: "重複" in t)


def test_a_stale_choice_in_the_more_modal_is_a_field_error_and_changes_nothing(koho):
    digest = a_digest(koho)
    repeat = comment_ids_shown(digest)[1]
    row = f"comment-row-{repeat}"
    menu = next(b["accessory"] for b in digest["blocks"] if b.get("block_id") == row)
    koho.slack.block_action("U0KENSETSU1", CommentAction.ROW_MENU, message=digest, block_id=row,
                            selected_option=menu["options"][-1]["value"])
    koho.fake.wait_for("views.open")
    form = koho.fake.last_view("U0KENSETSU1")
    # Meanwhile a colleague acknowledges it from the menu: the modal's version is out of date.
    acknowledge = next(o["value"] for o in menu["options"] if o["value"].startswith("acknowledge:"))
    koho.slack.block_action("U0KENSETSUHEAD", CommentAction.ROW_MENU, message=digest, block_id=row,
                            selected_option=acknowledge)
    digest = updated(koho, digest, lambda t: "対応中" in t)

    answer = koho.slack.view_submission("U0KENSETSU1", form, {CommentBlock.MORE: {CommentAction.MORE: "transfer"}})
    body = answer.json()
    assert body["response_action"] == "errors" and "対応中" in body["errors"][CommentBlock.MORE]
    with koho.db.read() as session:
        assert session.get(Comment, repeat).status == "in_progress"
