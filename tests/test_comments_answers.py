"""After acknowledging: the formal answer's 14-day target and its reminder, the interim reply that moves it,
passing a comment on to another body (所管外・移ちょう), closing a repeat as a duplicate (重複), and undoing a
wrong close (再開). Signed requests to the running bot, answers read back from the fake Slack, both databases."""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.handlers.comment_ids import CommentAction, CommentBlock
from bot.models import AuditEvent
from tests.comments_support import button, message_showing, message_with, receive, texts, updated
from tests.test_comments_slack import audit_actions, click, ephemeral_for, modal, stored

JST = ZoneInfo("Asia/Tokyo")


def at(month, day, hour, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=JST)


def row_option(message, comment_id, action):
    """The value of `action` in the comment's "…" menu in a listing."""
    menu = next(b["accessory"] for b in message["blocks"] if b.get("block_id") == f"comment-row-{comment_id}")
    return next(o["value"] for o in menu["options"] if o["value"].startswith(f"{action}:"))


def pick(koho, user, listing, comment_id, action):
    return koho.slack.block_action(user, CommentAction.ROW_MENU, message=listing, block_id=f"comment-row-{comment_id}",
                                   selected_option=row_option(listing, comment_id, action))


def submit(koho, user, form, values, strict=True):
    return koho.slack.view_submission(user, form, values, strict=strict)


def note(text):
    return {CommentBlock.NOTE: {CommentAction.NOTE: text}}


def details_of(koho, comment_id, action):
    with koho.db.read() as session:
        return [e.details for e in session.scalars(select(AuditEvent).where(
            AuditEvent.subject_id == str(comment_id), AuditEvent.action == action))]


def test_the_department_is_reminded_once_when_the_answer_is_due_and_an_interim_reply_moves_the_date(koho):
    # Tuesday 24 November, 10:00: acknowledged the same morning; the answer is due 14 days on, at closing.
    comment_id = receive(koho, "粗大ごみの収集手数料の値上げについて説明してほしい")
    message = message_showing(koho, "C0KANKYO", comment_id)
    click(koho, "U0STAFF1", message, CommentAction.ACKNOWLEDGE)
    message = updated(koho, message, lambda t: "回答期限: 2026年12月8日(火) 17:15" in t)
    assert "確認期限" not in texts(message)

    koho.clock.set(at(12, 8, 17, 14))
    assert koho.sweep()["comment_targets"] == 0
    koho.clock.set(at(12, 8, 17, 16))
    assert koho.sweep()["comment_targets"] == 1
    reminder = message_with(koho, "C0KANKYO", "回答期限を過ぎた市民の声 1件")
    assert "中間回答" in texts(reminder) and "archives/C0KANKYO/p" in texts(reminder)
    assert koho.sweep()["comment_targets"] == 0  # reminded once
    assert [e["channel"] for e in details_of(koho, comment_id, "comment.answer_reminded")] == ["C0KANKYO"]

    # The interim reply, from the reminder's "…" menu: what was said is required; the date moves 14 days on.
    form = modal(koho, "U0KANKYOHEAD", lambda: pick(koho, "U0KANKYOHEAD", reminder, comment_id, "interim_reply"))
    assert form["title"]["text"] == "中間回答"
    assert submit(koho, "U0KANKYOHEAD", form, note(" "), strict=False).json() == {
        "response_action": "errors", "errors": {"comment_note": "中間回答の内容を入力してください。"}}
    answer = submit(koho, "U0KANKYOHEAD", form, note("12月末までに改定の理由を文書で回答すると電話で伝えた"))
    assert answer.status == 200 and answer.body == ""
    message = updated(koho, message, lambda t: "<@U0KANKYOHEAD> が中間回答しました" in t)
    assert "12月末までに改定の理由" in texts(message) and "中間回答済" in texts(message)
    assert "回答期限: 2026年12月22日(火) 17:15" in texts(message)
    updated(koho, reminder, lambda t: "中間回答済" in t)
    assert ("comment.interim_reply", "U0KANKYOHEAD", "in_progress", "interim") in audit_actions(koho, comment_id)

    koho.clock.set(at(12, 22, 17, 14))
    assert koho.sweep()["comment_targets"] == 0
    koho.clock.set(at(12, 22, 17, 16))
    assert koho.sweep()["comment_targets"] == 1  # the new date passed too: reminded again, once
    message_with(koho, "C0KANKYO", "回答期限を過ぎた市民の声 1件")
    assert len(details_of(koho, comment_id, "comment.answer_reminded")) == 2

    form = modal(koho, "U0STAFF1", lambda: click(koho, "U0STAFF1", message, CommentAction.DONE))
    submit(koho, "U0STAFF1", form, note("文書で回答した"))
    koho.clock.set(at(12, 28, 9))
    assert koho.sweep()["comment_targets"] == 0  # answered: nothing is due


def test_no_action_from_a_listing_asks_first_and_a_wrong_close_is_reopened_with_a_reason(koho):
    comment_id = receive(koho, "資源ごみの回収日が変わったのを知らなかった")
    message = message_showing(koho, "C0KANKYO", comment_id)
    koho.clock.set(at(11, 25, 18))
    koho.sweep()
    reminder = message_with(koho, "C0KANKYO", "確認期限を過ぎた市民の声")

    # One tap on 対応不要 in the "…" menu closes nothing: a modal asks first.
    form = modal(koho, "U0STAFF1", lambda: pick(koho, "U0STAFF1", reminder, comment_id, "no_action"))
    assert form["title"]["text"] == "対応不要にする" and stored(koho, comment_id).status == "routed"
    assert submit(koho, "U0STAFF1", form, note("")).status == 200
    message = updated(koho, message, lambda t: "<@U0STAFF1> が対応不要としました" in t)

    # Closed by mistake: another department may not reopen it; the department does, with a reason.
    click(koho, "U0KENSETSU1", message, CommentAction.REOPEN)
    assert "担当部署（環境局）" in ephemeral_for(koho, "U0KENSETSU1")
    form = modal(koho, "U0KANKYOHEAD", lambda: click(koho, "U0KANKYOHEAD", message, CommentAction.REOPEN))
    assert submit(koho, "U0KANKYOHEAD", form, note(""), strict=False).json()["errors"] == {
        "comment_note": "再開の理由を入力してください。"}
    assert submit(koho, "U0KANKYOHEAD", form, note("回収日の周知不足への苦情として対応が必要")).status == 200
    message = updated(koho, message, lambda t: "<@U0KANKYOHEAD> が再開しました" in t)
    assert "回収日の周知不足への苦情として対応が必要" in texts(message)
    assert "回答期限: 2026年12月9日(水) 17:15" in texts(message)  # 14 days from the reopening
    assert button(message, CommentAction.DONE) and CommentAction.REOPEN not in texts(message)
    saved = stored(koho, comment_id)
    assert (saved.status, saved.closed_at, saved.reopened_by) == ("in_progress", None, "U0KANKYOHEAD")
    assert [a for a in audit_actions(koho, comment_id) if a[0] != "comment.reminded"][1:] == [
        ("comment.no_action", "U0STAFF1", "routed", "no_action"),
        ("comment.refused", "U0KENSETSU1", "no_action", "no_action"),
        ("comment.reopen", "U0KANKYOHEAD", "no_action", "in_progress")]

    # The reopen modal, submitted again, is outdated: nothing changes twice.
    again = submit(koho, "U0KANKYOHEAD", form, note("もう一度"))
    assert "ほかの人が先に更新しました（現在: 対応中）" in again.json()["errors"]["comment_note"]


def test_a_comment_that_is_the_prefectures_business_is_passed_on_and_closed(koho):
    comment_id = receive(koho, "県営団地のごみ集積所の管理がずさんです")
    message = message_showing(koho, "C0KANKYO", comment_id)
    form = modal(koho, "U0STAFF1", lambda: click(koho, "U0STAFF1", message, CommentAction.TRANSFER))
    assert submit(koho, "U0STAFF1", form, {CommentBlock.DESTINATION: {CommentAction.DESTINATION: " "},
                                           **note("")}, strict=False).json()["errors"] == {
        "comment_destination": "移ちょう先を入力してください。", "comment_note": "移ちょうの内容を入力してください。"}
    answer = submit(koho, "U0STAFF1", form, {CommentBlock.DESTINATION: {CommentAction.DESTINATION: "千葉県 県土整備部"},
                                             **note("12/1 電話で千葉土木事務所に連絡済み")})
    assert answer.status == 200 and answer.body == ""
    message = updated(koho, message, lambda t: "所管外として 千葉県 県土整備部 に移ちょうしました" in t)
    assert "12/1 電話で千葉土木事務所に連絡済み" in texts(message) and "所管外・移ちょう" in texts(message)
    assert [b["text"]["text"] for b in message["blocks"][-1]["elements"]] == ["再開する", "非表示・削除を依頼"]
    assert ("comment.transfer", "U0STAFF1", "routed", "transferred") in audit_actions(koho, comment_id)
    assert details_of(koho, comment_id, "comment.transfer") == [{"destination": "千葉県 県土整備部"}]

    # In English for an English speaker.
    koho.fake.users["U0STAFF2"] = {"id": "U0STAFF2", "name": "staff2", "locale": "en-US"}
    other = receive(koho, "ごみ収集車が県道で信号無視をしていた")
    modal(koho, "U0STAFF2", lambda: click(koho, "U0STAFF2", message_showing(koho, "C0KANKYO", other),
                                          CommentAction.TRANSFER))
    koho.fake.wait_for("views.update")  # opened at once in the language known, then redrawn in theirs
    form = koho.fake.last_view("U0STAFF2")
    assert form["title"]["text"] == "Not ours: pass it on"
    assert submit(koho, "U0STAFF2", form, {CommentBlock.DESTINATION: {CommentAction.DESTINATION: "警察"},
                                           **note(" ")}, strict=False).json()["errors"] == {
        "comment_note": "Say how it was passed on."}


def test_a_repeated_post_is_closed_as_a_duplicate_linked_to_the_original(koho):
    original = receive(koho, "駅前のごみ箱があふれています")
    copy = receive(koho, "駅前のごみ箱があふれています！！")
    third = receive(koho, "駅前のごみ箱 あふれてる")
    first = message_showing(koho, "C0KANKYO", original)
    repeat = message_showing(koho, "C0KANKYO", copy)

    form = modal(koho, "U0STAFF1", lambda: click(koho, "U0STAFF1", repeat, CommentAction.DUPLICATE))

    def original_error(value):
        answer = submit(koho, "U0STAFF1", form, {CommentBlock.ORIGINAL: {CommentAction.ORIGINAL: value}, **note("")},
                        strict=False)
        return answer.json()["errors"]["comment_original"]

    assert original_error("あれ") == "元の市民の声の番号を入力してください（例: #123）。"
    assert original_error("#99999") == "市民の声 #99999 は見つかりません。番号を確認してください。"
    assert original_error(f"#{copy}") == "この市民の声自身は指定できません。元の市民の声の番号を入力してください。"
    assert submit(koho, "U0STAFF1", form, {CommentBlock.ORIGINAL: {CommentAction.ORIGINAL: f"＃{original}"},
                                           **note("同じ方の連続投稿")}).status == 200
    repeat = updated(koho, repeat, lambda t: f"<@U0STAFF1> が市民の声 #{original} の重複として閉じました" in t)
    assert "元の市民の声のメッセージを開く" in texts(repeat) and "archives/C0KANKYO/p" in texts(repeat)
    first = updated(koho, first, lambda t: f"重複として閉じた市民の声 1件: #{copy}" in t)
    assert (stored(koho, copy).status, stored(koho, copy).duplicate_of) == ("duplicate", original)
    assert details_of(koho, copy, "comment.duplicate") == [{"original": original}]

    # A repeat of the repeat names the original instead.
    form = modal(koho, "U0STAFF1", lambda: click(koho, "U0STAFF1", message_showing(koho, "C0KANKYO", third),
                                                 CommentAction.DUPLICATE))
    answer = submit(koho, "U0STAFF1", form, {CommentBlock.ORIGINAL: {CommentAction.ORIGINAL: str(copy)}, **note("")},
                    strict=False)
    assert answer.json()["errors"]["comment_original"] == f"市民の声 #{copy} も #{original} の重複です。#{original} を指定してください。"

    # Reopened, the copy is no longer a duplicate, and the original no longer lists it.
    form = modal(koho, "U0KANKYOHEAD", lambda: click(koho, "U0KANKYOHEAD", repeat, CommentAction.REOPEN))
    submit(koho, "U0KANKYOHEAD", form, note("別の駅のごみ箱の話だった"))
    updated(koho, first, lambda t: "重複として閉じた" not in t)
    assert (stored(koho, copy).status, stored(koho, copy).duplicate_of) == ("in_progress", None)


def test_the_pr_office_closes_a_repeat_waiting_for_triage_and_a_department_may_not(koho):
    original = receive(koho, "市長の方針に賛成です", account=None)
    copy = receive(koho, "市長の方針に賛成です", account=None)
    triage = message_showing(koho, "C0PR", copy)
    click(koho, "U0STAFF1", triage, CommentAction.DUPLICATE)
    assert "広報広聴課の承認者だけ" in ephemeral_for(koho, "U0STAFF1")
    form = modal(koho, "U0PR1", lambda: click(koho, "U0PR1", triage, CommentAction.DUPLICATE))
    assert submit(koho, "U0PR1", form, {CommentBlock.ORIGINAL: {CommentAction.ORIGINAL: str(original)},
                                        **note("")}).status == 200
    updated(koho, triage, lambda t: f"#{original} の重複として閉じました" in t)
    # Reopened by the PR office, it goes back to triage (no department holds it).
    form = modal(koho, "U0PR2", lambda: click(koho, "U0PR2", updated(koho, triage, lambda t: "再開する" in t),
                                              CommentAction.REOPEN))
    submit(koho, "U0PR2", form, note("別の施策への意見だった"))
    updated(koho, triage, lambda t: "<@U0PR2> が再開しました" in t and "振り分けてください" in t)
    assert stored(koho, copy).status == "new"
