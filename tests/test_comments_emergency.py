"""A citizen comment that may be life-threatening (緊急), as the on-call officer lives it at 3 a.m.: the
alert in the emergency channel stays true as the comment moves, the 119/110 advice is on every message
of it, the clock runs in minutes day and night, and on-call may take it in hand from the alert. Signed
requests to the running bot, answers read back from the fake Slack, both databases."""

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.handlers.comment_ids import CommentAction, CommentBlock
from tests.comments_support import button, message_showing, message_with, receive, texts, updated
from tests.test_comments_slack import audit_actions, click, ephemeral_for, modal, stored

JST = ZoneInfo("Asia/Tokyo")
TRAPPED = "ごみ置き場の隣の家で家族が2階に取り残されています"  # 緊急, and 環境局's by its keywords
NOBODYS = "川の中州に取り残されています。助けてください"  # 緊急, no department's keywords


def at(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=JST)


def swept_at(koho, when):
    """Comments the targets sweep reminded or escalated at `when`."""
    koho.clock.set(when)
    return koho.sweep()["comment_targets"]


def choose_category(koho, user, message, category):
    select = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == CommentAction.CATEGORY)
    click(koho, user, message, CommentAction.CATEGORY,
          selected_option=next(o["value"] for o in select["options"] if o["value"].endswith(f":{category}")))


def reassign(koho, user, message, department, note=""):
    form = modal(koho, user, lambda: click(koho, user, message, CommentAction.REASSIGN))
    answer = koho.slack.view_submission(user, form, {CommentBlock.DEPARTMENT: {CommentAction.DEPARTMENT: department},
                                                     CommentBlock.NOTE: {CommentAction.NOTE: note}})
    assert answer.status == 200 and answer.body == "", answer.body


def has_button(message, action_id):
    return any(e.get("action_id") == action_id for b in message["blocks"] if b["type"] == "actions"
               for e in b["elements"])


# -- the alert follows the comment ---------------------------------------------------------------

def test_the_alert_follows_the_comment_through_acknowledgement_reassignment_and_a_new_category(koho):
    comment_id = receive(koho, TRAPPED)
    message = message_showing(koho, "C0KANKYO", comment_id)
    alert = message_showing(koho, "C0EMERG", comment_id)
    assert "振分済（未確認）" in texts(alert) and "担当: 環境局（<#C0KANKYO>）" in texts(alert)

    click(koho, "U0STAFF1", message, CommentAction.ACKNOWLEDGE)
    alert = updated(koho, alert, lambda t: "<@U0STAFF1> が確認しました" in t)
    assert "対応中" in texts(alert) and "振分済（未確認）" not in texts(alert)

    message = updated(koho, message, lambda t: "<@U0STAFF1> が確認しました" in t)
    reassign(koho, "U0STAFF1", message, "kensetsu", "倒壊のおそれがあるので建設局へ")
    alert = updated(koho, alert, lambda t: "担当: 建設局（<#C0KENSETSU>）" in t)
    assert "環境局（<#C0KANKYO>）" not in texts(alert) and "振分済（未確認）" in texts(alert)
    assert "倒壊のおそれがあるので建設局へ" in texts(alert)

    # 建設局 finds it is not life-threatening after all: the alert says so, and stays as a record.
    moved = message_showing(koho, "C0KENSETSU", comment_id)
    choose_category(koho, "U0KENSETSU1", moved, "report")
    alert = updated(koho, alert, lambda t: "緊急ではなくなりました" in t)
    assert "情報提供・通報" in texts(alert) and "<@U0KENSETSU1>" in texts(alert)
    assert "119番" not in texts(alert) and not has_button(alert, CommentAction.ACKNOWLEDGE)
    assert "119番" not in texts(updated(koho, moved, lambda t: ":speech_balloon:" in t))


# -- the advice on every message of it -------------------------------------------------------------

def test_the_department_and_triage_messages_of_an_emergency_say_to_call_119_or_110(koho):
    routed = receive(koho, TRAPPED)
    assert "*119番*" in texts(message_showing(koho, "C0KANKYO", routed))
    triaged = receive(koho, NOBODYS, account=None)
    assert "*110番*" in texts(message_showing(koho, "C0PR", triaged))
    ordinary = receive(koho, "粗大ごみの予約方法を教えてください")
    assert "119番" not in texts(message_showing(koho, "C0KANKYO", ordinary))


# -- on-call takes it in hand ------------------------------------------------------------------------

def test_on_call_acknowledges_from_the_alert_but_leaves_closing_it_to_the_department(koho):
    comment_id = receive(koho, TRAPPED)
    message = message_showing(koho, "C0KANKYO", comment_id)
    alert = message_showing(koho, "C0EMERG", comment_id)
    assert button(alert, CommentAction.ACKNOWLEDGE)["text"]["text"] == "確認しました"

    click(koho, "U0ONCALL1", message, CommentAction.NO_ACTION)
    assert "当番が緊急の市民の声" in ephemeral_for(koho, "U0ONCALL1")
    click(koho, "U0ONCALL1", alert, CommentAction.ACKNOWLEDGE)
    updated(koho, message, lambda t: "<@U0ONCALL1> が確認しました" in t)
    alert = updated(koho, alert, lambda t: "<@U0ONCALL1> が確認しました" in t)
    assert not has_button(alert, CommentAction.ACKNOWLEDGE) and has_button(alert, CommentAction.REASSIGN)
    assert (stored(koho, comment_id).status, stored(koho, comment_id).acknowledged_by) == ("in_progress", "U0ONCALL1")
    assert audit_actions(koho, comment_id)[-2:] == [("comment.refused", "U0ONCALL1", "routed", "routed"),
                                                   ("comment.acknowledge", "U0ONCALL1", "routed", "in_progress")]


def test_on_call_triages_an_emergency_nobody_matched_from_the_alert(koho):
    comment_id = receive(koho, NOBODYS, account=None)
    alert = message_showing(koho, "C0EMERG", comment_id)
    assert button(alert, CommentAction.REASSIGN)["text"]["text"] == "振り分ける"
    reassign(koho, "U0ONCALL2", alert, "kensetsu", "中州に人。消防には通報済み")
    routed = message_showing(koho, "C0KENSETSU", comment_id)
    assert "消防には通報済み" in texts(routed) and "119番" in texts(routed)
    updated(koho, alert, lambda t: "担当: 建設局（<#C0KENSETSU>）" in t)
    assert ("comment.reassign", "U0ONCALL2", "new", "routed") in audit_actions(koho, comment_id)


# -- the clock: minutes, day and night -----------------------------------------------------------------

def test_a_friday_night_emergency_is_reminded_in_minutes_then_escalated_to_the_pr_office_and_on_call(koho):
    koho.clock.set(at(27, 20))  # Friday evening, the office closed until Monday
    comment_id = receive(koho, NOBODYS, account=None)
    triage = message_showing(koho, "C0PR", comment_id)
    assert "確認期限: 2026年11月27日(金) 20:15" in texts(triage)

    assert swept_at(koho, at(27, 20, 14)) == 0 and swept_at(koho, at(27, 20, 16)) == 1
    reminder = message_with(koho, "C0PR", "確認されていない緊急の市民の声 1件")
    assert f"*#{comment_id}*" in texts(reminder) and "15分" in texts(reminder) and "<@U0ONCALL1>" in texts(reminder)

    assert swept_at(koho, at(27, 20, 29)) == 0 and swept_at(koho, at(27, 20, 31)) == 1
    for channel in ("C0PR", "C0EMERG"):
        escalation = message_with(koho, channel, "未確認のままの緊急の市民の声 1件")
        assert f"*#{comment_id}*" in texts(escalation) and "<@U0ONCALL2>" in texts(escalation)
    assert koho.sweep()["comment_targets"] == 0  # once


def test_a_comment_reclassified_as_an_emergency_runs_on_the_short_clock_from_then_and_back(koho):
    comment_id = receive(koho, "粗大ごみの収集について聞きたい")  # Tuesday 10:00: due Wednesday 17:15
    message = message_showing(koho, "C0KANKYO", comment_id)
    assert "確認期限: 2026年11月25日(水) 17:15" in texts(message)

    koho.clock.set(at(24, 10, 30))
    choose_category(koho, "U0STAFF1", message, "emergency")
    message = updated(koho, message, lambda t: "確認期限: 2026年11月24日(火) 10:45" in t)
    assert "119番" in texts(message)
    assert swept_at(koho, at(24, 10, 46)) == 1
    message_with(koho, "C0KANKYO", "確認されていない緊急の市民の声 1件")

    # A false alarm: back on the office's calendar, from when it was routed.
    choose_category(koho, "U0KANKYOHEAD", message, "request")
    message = updated(koho, message, lambda t: "確認期限: 2026年11月25日(水) 17:15" in t)
    assert "119番" not in texts(message)
    assert swept_at(koho, at(24, 11, 30)) == 0  # no escalation on the short clock any more
    assert swept_at(koho, at(25, 17, 16)) == 1
    message_with(koho, "C0KANKYO", "確認期限を過ぎた市民の声 1件")
