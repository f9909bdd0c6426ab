"""The target: a department acknowledges a comment within 1 business day. Missed, the channel is
reminded; still nothing some office hours later, the PR office is told. Time is moved by hand."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.business_time import BusinessCalendar
from bot.handlers.comment_ids import CommentAction
from bot.models import AuditEvent
from bot.workflows.comments.models import Comment
from bot.workflows.comments.service import CommentService, NewComment
from tests.comments_support import (
    comment_ids_shown,
    message_showing,
    message_with,
    receive,
    settle,
    slack_at_ten_times_speed,
    texts,
    updated,
)

JST = ZoneInfo("Asia/Tokyo")


def at(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=JST)


def audit_of(koho, action):
    with koho.db.read() as session:
        return [(e.subject_id, e.actor) for e in session.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def test_an_unacknowledged_comment_is_reminded_then_escalated_on_office_time(koho):
    # Tuesday 24 November, 10:00: received and shared with 環境局; due Wednesday at closing (17:15).
    comment_id = receive(koho, "粗大ごみの申込み方法がわかりません")
    original = message_showing(koho, "C0KANKYO", comment_id)
    assert "確認期限: 2026年11月25日(水) 17:15" in texts(original)

    koho.clock.set(at(25, 17, 14))
    assert koho.sweep()["comment_targets"] == 0
    koho.clock.set(at(25, 17, 16))
    assert koho.sweep()["comment_targets"] == 1
    reminder = message_with(koho, "C0KANKYO", "確認期限を過ぎた市民の声 1件")
    assert f"*#{comment_id}*" in texts(reminder) and "1開庁日以内" in texts(reminder)
    assert "archives/C0KANKYO/p" in texts(reminder)  # a link to the comment's own message
    assert koho.sweep()["comment_targets"] == 0  # reminded once

    # Four office hours after the deadline: Thursday 12:30 (the office opens at 8:30).
    koho.clock.set(at(26, 12, 29))
    assert koho.sweep()["comment_targets"] == 0
    koho.clock.set(at(26, 12, 31))
    assert koho.sweep()["comment_targets"] == 1
    escalation = message_with(koho, "C0PR", "未確認の市民の声 1件")
    assert "環境局" in texts(escalation) and f"*#{comment_id}*" in texts(escalation)
    assert audit_of(koho, "comment.reminded") == [(str(comment_id), "system")]
    assert audit_of(koho, "comment.escalated") == [(str(comment_id), "system")]


def test_acknowledging_from_the_reminder_updates_the_comment_and_the_reminder(koho):
    comment_id = receive(koho, "リサイクル品の回収はありますか")
    original = message_showing(koho, "C0KANKYO", comment_id)
    koho.clock.set(at(25, 18))
    koho.sweep()
    reminder = message_with(koho, "C0KANKYO", "確認期限を過ぎた市民の声")
    menu = next(b["accessory"] for b in reminder["blocks"] if b.get("block_id") == f"comment-row-{comment_id}")
    acknowledge = next(o["value"] for o in menu["options"] if o["text"]["text"] == "確認しました")
    koho.slack.block_action("U0KANKYOHEAD", CommentAction.ROW_MENU, message=reminder,
                            block_id=f"comment-row-{comment_id}", selected_option=acknowledge)
    updated(koho, original, lambda t: "<@U0KANKYOHEAD> が確認しました" in t)
    row = next(b for b in updated(koho, reminder, lambda t: "対応中" in t)["blocks"]
               if b.get("block_id") == f"comment-row-{comment_id}")
    assert "対応中" in row["text"]["text"] and "確認しました" not in str(row.get("accessory"))
    koho.clock.set(at(27, 12))
    assert koho.sweep()["comment_targets"] == 0  # acknowledged: nobody escalates it


def test_each_channel_gets_one_reminder_listing_all_its_late_comments(koho):
    late = [receive(koho, f"ごみ収集の件 {n}") for n in range(3)] + [receive(koho, "道路の街灯が消えています")]
    triage = receive(koho, "市の施策全般について意見です", account=None)
    koho.clock.set(at(26, 9))
    assert koho.sweep()["comment_targets"] == 5
    kankyo = message_with(koho, "C0KANKYO", "確認期限を過ぎた市民の声 3件")
    assert [f"comment-row-{i}" in str(kankyo["blocks"]) for i in late[:3]] == [True] * 3
    message_with(koho, "C0KENSETSU", "確認期限を過ぎた市民の声 1件")
    message_with(koho, "C0PR", "確認期限を過ぎた市民の声 1件")  # the PR office's own triage queue
    koho.clock.set(at(27, 9))
    assert koho.sweep()["comment_targets"] == 4  # escalated; the triage comment already is the PR office's
    escalation = message_with(koho, "C0PR", "未確認の市民の声 4件")
    assert f"comment-row-{triage}" not in str(escalation["blocks"])


def test_a_comment_received_on_friday_evening_is_due_on_monday_at_closing(database, org, clock):
    service = CommentService(database, org, BusinessCalendar(org.timezone), clock)
    clock.set(datetime(2026, 11, 27, 20, 0, tzinfo=JST))  # Friday, after hours
    received = service.receive(NewComment(origin="webhook", source="line", external_id="line-1",
                                          text="ごみの日はいつですか", received_at=clock.now()))
    with database.read() as session:
        saved = session.get(Comment, received.comment_id)
    assert saved.ack_due_at == datetime(2026, 11, 30, 17, 15, tzinfo=JST)
    assert saved.escalate_at == datetime(2026, 12, 1, 12, 30, tzinfo=JST)
    clock.set(datetime(2026, 11, 30, 17, 14, tzinfo=JST))
    assert service.remind_overdue() == 0
    clock.advance(timedelta(minutes=2))
    assert service.remind_overdue() == 1 and service.remind_overdue() == 0


def test_a_reminder_of_forty_long_comments_keeps_every_row_and_link_within_what_slack_takes(koho):
    """Forty late comments of a few hundred characters, each row with its link: more text than one Slack message
    holds (`msg_blocks_too_long`) until every excerpt is shortened alike."""
    slack_at_ten_times_speed(koho)
    story = "粗大ごみの申込みが電話でつながらず、収集日も分かりません。分別の案内も読みにくいです。" * 8
    late = [receive(koho, f"ごみ収集の件 {n}：{story}") for n in range(40)]
    settle(koho, timeout=30)
    koho.clock.set(at(26, 9))
    assert koho.sweep()["comment_targets"] == 40
    settle(koho, timeout=30)

    reminder = message_with(koho, "C0KANKYO", "確認期限を過ぎた市民の声 40件")
    assert comment_ids_shown(reminder) == late
    rows = [b for b in reminder["blocks"] if b.get("block_id", "").startswith("comment-row-")]
    assert all("粗大ごみの申込み" in r["text"]["text"] and "archives/C0KANKYO/p" in r["text"]["text"] for r in rows)
    koho.fake.assert_no_validation_errors()
