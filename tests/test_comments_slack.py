"""Citizen comments in Slack, as the staff live it: forwarding what came by phone or DM, and the
department's buttons — acknowledge, reassign, done, no action, request hiding — with the PR office
confirming. Signed requests to the running bot, answers read back from the fake Slack, both databases."""

import json

from sqlalchemy import select

from bot.handlers.comment_ids import CommentAction, CommentBlock, CommentShortcut
from bot.models import AuditEvent
from bot.workflows.accounts.models import RegisterAccount
from bot.workflows.comments.models import Comment
from tests.comments_support import (
    button,
    message_showing,
    message_with,
    open_in_register,
    receive,
    texts,
    updated,
)
from tests.modal_support import opened_then_redrawn


def stored(koho, comment_id):
    with koho.db.read() as session:
        return session.get(Comment, comment_id)


def audit_actions(koho, comment_id):
    with koho.db.read() as session:
        return [(e.action, e.actor, e.from_state, e.to_state) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.subject_type == "comment", AuditEvent.subject_id == str(comment_id))
            .order_by(AuditEvent.id))]


def click(koho, user, message, action_id, value=None, **kwargs):
    response = koho.slack.block_action(user, action_id, value, message=message, **kwargs)
    assert response.status == 200
    return response


def modal(koho, user, act):
    """The modal `act()` opens for `user` (views.open runs after the ack, so wait for it)."""
    before = len(koho.fake.calls_to("views.open"))
    act()
    koho.fake.wait_for("views.open", count=before + 1)
    return koho.fake.last_view(user)


def ephemeral_for(koho, user, count=1):
    koho.fake.wait_for("chat.postEphemeral", user=user, count=count)
    return koho.fake.ephemerals(user)[-1]["text"]


# -- forwarding from Slack ---------------------------------------------------------------------

def test_a_phone_call_posted_in_slack_is_forwarded_with_the_message_shortcut(koho):
    call = koho.fake.add_message("C0KANKYO", "電話がありました: 粗大ごみの出し方を教えてほしい。折り返し 043-245-5555 &amp; "
                                             "<https://www.city.chiba.jp/|市のページ> を見たとのこと", user="U0STAFF2")
    form = modal(koho, "U0STAFF1", lambda: koho.slack.message_shortcut(
        CommentShortcut.FORWARD_MESSAGE, "U0STAFF1", "C0KANKYO", call))
    text_input = next(b for b in form["blocks"] if b.get("block_id") == CommentBlock.TEXT)["element"]
    assert text_input["initial_value"].startswith("電話がありました: 粗大ごみの出し方")
    assert "& 市のページ (https://www.city.chiba.jp/)" in text_input["initial_value"]

    answer = koho.slack.view_submission("U0STAFF1", form, {CommentBlock.SOURCE: {CommentAction.SOURCE: "phone"}})
    assert answer.json()["response_action"] == "update"
    done = answer.json()["view"]
    assert done["title"]["text"] == "転送しました" and "環境局（<#C0KANKYO>）に共有しました" in texts(done)

    (saved,) = _all_comments(koho)
    assert (saved.origin, saved.source, saved.forwarded_by, saved.department_id) == ("shortcut", "phone",
                                                                                     "U0STAFF1", "kankyo")
    message = message_showing(koho, "C0KANKYO", saved.id)
    assert "[電話番号]" in texts(message) and "043-245-5555" not in texts(message)
    assert "<@U0STAFF1> が転送しました" in texts(message) and "電話" in texts(message)

    # Forwarding the same message again says where it went instead of making a second comment.
    again = modal(koho, "U0STAFF2", lambda: koho.slack.message_shortcut(
        CommentShortcut.FORWARD_MESSAGE, "U0STAFF2", "C0KANKYO", call))
    assert f"市民の声 #{saved.id} としてすでに転送されています" in texts(again)
    assert len(_all_comments(koho)) == 1


def _all_comments(koho):
    with koho.db.read() as session:
        return session.scalars(select(Comment).order_by(Comment.id)).all()


def test_forward_comment_opens_an_empty_form_and_explains_what_to_fix(koho):
    form = modal(koho, "U0KENSETSU1", lambda: koho.slack.command("/forward-comment", "", user_id="U0KENSETSU1"))
    assert form["title"]["text"] == "市民の声を転送"
    answer = koho.slack.view_submission("U0KENSETSU1", form, {
        CommentBlock.TEXT: {CommentAction.TEXT: "   "},
        CommentBlock.SOURCE: {CommentAction.SOURCE: "email"},
        CommentBlock.URL: {CommentAction.URL: "ftp://example.jp/x"},
    })
    assert answer.json() == {"response_action": "errors", "errors": {
        "comment_text": "本文を入力してください。",
        "comment_url": "http:// または https:// で始まるURLを入力してください。"}}
    assert _all_comments(koho) == []


def test_an_english_speaker_gets_the_form_and_its_errors_in_english(koho):
    koho.fake.users["U0KENSETSU1"] = {"id": "U0KENSETSU1", "name": "k1", "locale": "en-US"}
    modal(koho, "U0KENSETSU1", lambda: koho.slack.command("/forward-comment", "", user_id="U0KENSETSU1"))
    koho.fake.wait_for("views.update")  # it opens in the organisation's language, then in theirs once learnt
    form = koho.fake.last_view("U0KENSETSU1")
    assert form["title"]["text"] == "Forward a comment"
    answer = koho.slack.view_submission("U0KENSETSU1", form, {
        CommentBlock.TEXT: {CommentAction.TEXT: " "}, CommentBlock.SOURCE: {CommentAction.SOURCE: "email"}})
    assert answer.json()["errors"] == {"comment_text": "Enter the comment text."}


def test_staff_can_choose_the_department_and_category_themselves(koho):
    form = modal(koho, "U0PR1", lambda: koho.slack.command("/forward-comment", "ごみ集積所の前の道路が陥没しています",
                                                            user_id="U0PR1"))
    answer = koho.slack.view_submission("U0PR1", form, {
        CommentBlock.SOURCE: {CommentAction.SOURCE: "letter"},
        CommentBlock.DEPARTMENT: {CommentAction.DEPARTMENT: "kensetsu"},
        CommentBlock.CATEGORY: {CommentAction.CATEGORY_INPUT: "report"}})
    assert answer.json()["response_action"] == "update"
    (saved,) = _all_comments(koho)
    assert (saved.department_id, saved.routed_reason, saved.category, saved.origin) == (
        "kensetsu", "override", "report", "command")
    assert "情報提供・通報" in texts(message_showing(koho, "C0KENSETSU", saved.id))


def test_an_account_opened_in_slack_can_be_named_when_forwarding_and_routes_the_comment(koho):
    # The register is the truth for accounts: one opened through Koho is offered (and routes to its department);
    # one withdrawn is not. The form used to offer the organisation file's accounts only, and dropped any other.
    open_in_register(koho, "kensetsu-x", "建設局（X）", "kensetsu", handle="@city_kensetsu")
    with koho.db.transaction() as session:
        session.get(RegisterAccount, "kankyo-instagram").status = "withdrawn"
    form = modal(koho, "U0PR1", lambda: koho.slack.command("/forward-comment", "素敵な写真ですね", user_id="U0PR1"))
    (account_select,) = [b["element"] for b in form["blocks"] if b["block_id"] == CommentBlock.ACCOUNT]
    offered = {o["value"]: o["text"]["text"] for o in account_select["options"]}
    assert offered["kensetsu-x"] == "建設局（X）" and "city-x" in offered and "kankyo-instagram" not in offered

    answer = koho.slack.view_submission("U0PR1", form, {
        CommentBlock.SOURCE: {CommentAction.SOURCE: "x"},
        CommentBlock.ACCOUNT: {CommentAction.ACCOUNT: "kensetsu-x"}})
    assert answer.json()["response_action"] == "update"
    (saved,) = _all_comments(koho)
    assert (saved.account_id, saved.department_id, saved.routed_reason) == ("kensetsu-x", "kensetsu", "account")
    assert "建設局（X）" in texts(message_showing(koho, "C0KENSETSU", saved.id))


# -- the department's buttons ------------------------------------------------------------------

def test_a_department_acknowledges_then_closes_a_comment_and_the_message_follows(koho):
    comment_id = receive(koho, "粗大ごみの予約がつながりません")
    message = message_showing(koho, "C0KANKYO", comment_id)

    click(koho, "U0STAFF1", message, CommentAction.ACKNOWLEDGE)
    message = updated(koho, message, lambda t: "<@U0STAFF1> が確認しました" in t)
    assert "対応中" in texts(message) and CommentAction.ACKNOWLEDGE not in texts(message)

    form = modal(koho, "U0STAFF2", lambda: click(koho, "U0STAFF2", message, CommentAction.DONE))
    assert koho.slack.view_submission("U0STAFF2", form, {CommentBlock.NOTE: {CommentAction.NOTE: " "}},
                                      strict=False).json() == {
        "response_action": "errors", "errors": {"comment_note": "対応内容を入力してください。"}}
    answer = koho.slack.view_submission("U0STAFF2", form, {
        CommentBlock.NOTE: {CommentAction.NOTE: "予約センターの回線を増設済み。ホームページに案内を掲載"}})
    assert answer.status == 200 and answer.body == ""
    message = updated(koho, message, lambda t: "<@U0STAFF2> が対応済にしました" in t)
    assert "予約センターの回線を増設済み" in texts(message)
    assert [b["text"]["text"] for b in message["blocks"][-1]["elements"]] == ["再開する", "非表示・削除を依頼"]
    assert [a[:4] for a in audit_actions(koho, comment_id)] == [
        ("comment.received", "system", None, "routed"),
        ("comment.acknowledge", "U0STAFF1", "routed", "in_progress"),
        ("comment.done", "U0STAFF2", "in_progress", "done")]


def test_someone_outside_the_department_is_refused_in_their_language_and_it_is_recorded(koho):
    comment_id = receive(koho, "リサイクルの日程を知りたい")
    message = message_showing(koho, "C0KANKYO", comment_id)
    click(koho, "U0KENSETSU1", message, CommentAction.ACKNOWLEDGE)
    assert "担当部署（環境局）のメンバー・所属長と広報広聴課の承認者です" in ephemeral_for(koho, "U0KENSETSU1")
    koho.fake.users["U0ONCALL1"] = {"id": "U0ONCALL1", "name": "oncall", "locale": "en-US"}
    click(koho, "U0ONCALL1", message, CommentAction.NO_ACTION)
    assert "Only members and approvers of the department (環境局)" in ephemeral_for(koho, "U0ONCALL1")

    assert stored(koho, comment_id).status == "routed"
    assert audit_actions(koho, comment_id)[1:] == [
        ("comment.refused", "U0KENSETSU1", "routed", "routed"), ("comment.refused", "U0ONCALL1", "routed", "routed")]


def test_of_two_clicks_on_the_same_message_only_one_counts(koho):
    comment_id = receive(koho, "ごみ収集車の運転が荒い")
    message = message_showing(koho, "C0KANKYO", comment_id)
    seen = button(message, CommentAction.ACKNOWLEDGE)["value"]
    # Both see the same message and click at once (their listeners run side by side).
    click(koho, "U0STAFF1", message, CommentAction.ACKNOWLEDGE, seen)
    click(koho, "U0KANKYOHEAD", message, CommentAction.ACKNOWLEDGE, seen)
    koho.fake.wait_for("chat.postEphemeral")
    (told,) = koho.fake.ephemerals()
    assert "ほかの人が先に更新しました（現在: 対応中）" in told["text"]
    saved = stored(koho, comment_id)
    winner = {"U0STAFF1", "U0KANKYOHEAD"} - {told["user"]}
    assert (saved.status, {saved.acknowledged_by}, saved.row_version) == ("in_progress", winner, 2)
    assert [a[0] for a in audit_actions(koho, comment_id)] == ["comment.received", "comment.acknowledge"]


def test_a_comment_is_reassigned_with_a_note_and_the_new_department_sees_it(koho):
    comment_id = receive(koho, "ごみステーションの横の歩道が壊れています")
    message = message_showing(koho, "C0KANKYO", comment_id)
    form = modal(koho, "U0STAFF1", lambda: click(koho, "U0STAFF1", message, CommentAction.REASSIGN))
    assert "kankyo" not in str([o["value"] for b in form["blocks"] if b.get("block_id") == CommentBlock.DEPARTMENT
                                for o in b["element"]["options"]])
    answer = koho.slack.view_submission("U0STAFF1", form, {
        CommentBlock.DEPARTMENT: {CommentAction.DEPARTMENT: "kensetsu"},
        CommentBlock.NOTE: {CommentAction.NOTE: "歩道の破損なので建設局でお願いします"}})
    assert answer.status == 200 and answer.body == ""

    moved = message_showing(koho, "C0KENSETSU", comment_id)
    assert "担当変更の申し送り: 歩道の破損なので建設局でお願いします" in texts(moved)
    assert "振分済" in texts(moved) and button(moved, CommentAction.ACKNOWLEDGE)
    old = updated(koho, message, lambda t: "建設局 に担当を変更しました" in t)
    assert not any(b["type"] == "actions" for b in old["blocks"])
    # The old message's buttons no longer work; the new department's do, and environment staff's do not.
    click(koho, "U0STAFF1", moved, CommentAction.ACKNOWLEDGE)
    assert "建設局" in ephemeral_for(koho, "U0STAFF1")
    click(koho, "U0KENSETSU1", moved, CommentAction.ACKNOWLEDGE)
    updated(koho, moved, lambda t: "<@U0KENSETSU1> が確認しました" in t)


def test_no_action_closes_it_after_slacks_confirm_dialog(koho):
    comment_id = receive(koho, "ごみの分別、いつもありがとうございます")
    message = message_showing(koho, "C0KANKYO", comment_id)
    assert button(message, CommentAction.NO_ACTION)["confirm"]["title"]["text"] == "対応不要にしますか？"
    click(koho, "U0KANKYOHEAD", message, CommentAction.NO_ACTION)
    updated(koho, message, lambda t: "<@U0KANKYOHEAD> が対応不要としました" in t)
    assert stored(koho, comment_id).status == "no_action"


def test_changing_the_category_to_emergency_alerts_the_emergency_channel(koho):
    comment_id = receive(koho, "ごみ置き場の前で人が動かなくなっている")
    message = message_showing(koho, "C0KANKYO", comment_id)
    category = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                    if e["action_id"] == CommentAction.CATEGORY)
    click(koho, "U0STAFF1", message, CommentAction.CATEGORY,
          selected_option=next(o["value"] for o in category["options"] if o["value"].endswith(":emergency")))
    alert = message_showing(koho, "C0EMERG", comment_id)
    assert "119番" in texts(alert)
    updated(koho, message, lambda t: ":rotating_light: *市民の声" in t)
    assert ("comment.category_changed", "U0STAFF1", "report", "emergency") in audit_actions(koho, comment_id) or \
        any(a[0] == "comment.category_changed" and a[3] == "emergency" for a in audit_actions(koho, comment_id))


# -- hiding ------------------------------------------------------------------------------------

def request_hiding(koho, user, message, criterion="defamation", note="特定の職員への誹謗中傷"):
    form = modal(koho, user, lambda: click(koho, user, message, CommentAction.REQUEST_HIDING))
    answer = koho.slack.view_submission(user, form, {
        CommentBlock.CRITERION: {CommentAction.CRITERION: criterion}, CommentBlock.NOTE: {CommentAction.NOTE: note}})
    assert answer.status == 200 and answer.body == "", answer.body


def hiding_request_message(koho):
    return message_with(koho, "C0PR", "非表示・削除の依頼")


def test_a_department_asks_for_hiding_and_the_pr_office_confirms_with_the_criterion_recorded(koho):
    comment_id = receive(koho, "ごみ収集の〇〇という職員は最低の人間だ")
    message = message_showing(koho, "C0KANKYO", comment_id)
    request_hiding(koho, "U0STAFF1", message)
    updated(koho, message, lambda t: "非表示・削除を広報広聴課に依頼中です（基準: 誹謗中傷・名誉毀損" in t)

    decision = hiding_request_message(koho)
    assert "特定の職員への誹謗中傷" in texts(decision) and "<@U0STAFF1>" in texts(decision)
    click(koho, "U0STAFF2", decision, CommentAction.CONFIRM_HIDING)  # not the PR office
    assert "広報広聴課の承認者だけ" in ephemeral_for(koho, "U0STAFF2")
    click(koho, "U0PR1", decision, CommentAction.CONFIRM_HIDING)
    updated(koho, decision, lambda t: "<@U0PR1> が承認しました" in t)
    hidden = updated(koho, message, lambda t: "非表示・削除を承認しました" in t)
    assert not any(b["type"] == "actions" for b in hidden["blocks"])
    assert ("comment.confirm_hiding", "U0PR1", "routed", "hidden") in audit_actions(koho, comment_id)
    with koho.db.read() as session:
        requested = session.scalars(select(AuditEvent).where(AuditEvent.action == "comment.hiding_requested")).one()
    assert requested.details["criterion"] == "defamation"


def test_the_pr_office_does_not_confirm_its_own_hiding_request_and_may_decline(koho):
    comment_id = receive(koho, "市長の方針とは関係ない宣伝です。儲かる副業はこちら", account=None)
    triage = message_showing(koho, "C0PR", comment_id)
    request_hiding(koho, "U0PR1", triage, criterion="advertising", note="")
    decision = hiding_request_message(koho)
    click(koho, "U0PR1", decision, CommentAction.CONFIRM_HIDING)
    assert "自分が出した依頼を自分で承認することはできません" in ephemeral_for(koho, "U0PR1")
    click(koho, "U0PR2", decision, CommentAction.DECLINE_HIDING)
    updated(koho, decision, lambda t: "<@U0PR2> が却下しました" in t)
    updated(koho, triage, lambda t: "依頼は <@U0PR2> が却下しました" in t)
    assert stored(koho, comment_id).status == "new"


# -- 原文を表示: the unmasked original, for the entitled ---------------------------------------------------

def ephemeral_message_for(koho, user, count=1):
    koho.fake.wait_for("chat.postEphemeral", user=user, count=count)
    return koho.fake.ephemerals(user)[-1]


def test_the_original_text_is_shown_to_entitled_people_alone_and_every_look_is_recorded(koho):
    comment_id = receive(koho, "ごみ置き場の隣の家で家族が2階に取り残されています 090-1234-5678")
    message = message_showing(koho, "C0KANKYO", comment_id)
    assert "090-1234-5678" not in texts(message)
    assert button(message, CommentAction.SHOW_ORIGINAL)["text"]["text"] == "原文を表示"
    alert = message_showing(koho, "C0EMERG", comment_id)  # 緊急: the on-call officer sees the alert
    assert "090-1234-5678" not in texts(alert)

    # The on-call officer, from the alert: the original, only to them.
    click(koho, "U0ONCALL1", alert, CommentAction.SHOW_ORIGINAL)
    shown = ephemeral_message_for(koho, "U0ONCALL1")
    assert "090-1234-5678" in json.dumps(shown, ensure_ascii=False) and "あなたにだけ表示" in json.dumps(
        shown, ensure_ascii=False)
    # The department's approver may; a department member may not, and is told so.
    click(koho, "U0KANKYOHEAD", message, CommentAction.SHOW_ORIGINAL)
    assert "090-1234-5678" in json.dumps(ephemeral_message_for(koho, "U0KANKYOHEAD"), ensure_ascii=False)
    click(koho, "U0STAFF1", message, CommentAction.SHOW_ORIGINAL)
    refusal = ephemeral_message_for(koho, "U0STAFF1")
    assert "090-1234-5678" not in json.dumps(refusal, ensure_ascii=False) and "緊急時当番" in refusal["text"]
    # Another department's approver may not either (in English for an English speaker).
    koho.fake.users["U0KENSETSUHEAD"] = {"id": "U0KENSETSUHEAD", "name": "head", "locale": "en-US"}
    click(koho, "U0KENSETSUHEAD", message, CommentAction.SHOW_ORIGINAL)
    assert "Only on-call officers" in ephemeral_message_for(koho, "U0KENSETSUHEAD")["text"]

    looks = [(a, who) for a, who, *_ in audit_actions(koho, comment_id) if a.startswith("comment.original")]
    assert looks == [("comment.original_shown", "U0ONCALL1"), ("comment.original_shown", "U0KANKYOHEAD"),
                     ("comment.original_refused", "U0STAFF1"), ("comment.original_refused", "U0KENSETSUHEAD")]
    assert not [c for c in koho.fake.calls_to("chat.postMessage") if "090-1234-5678" in json.dumps(
        c.args, ensure_ascii=False)], "the original went to a channel"


def test_a_comment_with_nothing_masked_offers_no_original(koho):
    comment_id = receive(koho, "粗大ごみの予約方法を教えてください")
    message = message_showing(koho, "C0KANKYO", comment_id)
    assert CommentAction.SHOW_ORIGINAL not in json.dumps(message)


def test_masking_placeholders_are_shown_in_each_readers_language(koho):
    comment_id = receive(koho, "ごみの件で折り返してください 090-1234-5678 taro@example.jp")
    message = message_showing(koho, "C0KANKYO", comment_id)
    assert "[電話番号]" in texts(message) and "[メールアドレス]" in texts(message)  # the channel reads Japanese
    masked = stored(koho, comment_id).masked_text  # stored neutral: no language in the database
    assert "電話番号" not in masked and "090-1234-5678" not in masked

    koho.fake.users["U0STAFF2"] = {"id": "U0STAFF2", "name": "staff2", "locale": "en-US"}
    modal(koho, "U0STAFF2", lambda: click(koho, "U0STAFF2", message, CommentAction.DONE))
    koho.fake.wait_for("views.update")  # opened at once in the language known, then redrawn in theirs
    shown = json.dumps(koho.fake.last_view("U0STAFF2"), ensure_ascii=False)
    assert "[phone number]" in shown and "[email address]" in shown
    assert "電話番号" not in shown and "090-1234-5678" not in shown


def test_the_forward_modal_opens_before_slack_is_asked_anything_else(koho):
    _, redrawn = opened_then_redrawn(koho, "U0STAFF2", "en-US",
                                     lambda: koho.slack.command("/forward-comment", "電話で: 道路に穴", user_id="U0STAFF2"))
    assert redrawn["title"]["text"] == "Forward a comment"


def test_a_phone_number_written_with_slashes_reaches_the_department_masked(koho):
    """A citizen types their number with slashes (full-width, as an IME gives them): the department's channel
    sees the placeholder, the date beside it stays, and the database keeps what was written."""
    written = "12/7の粗大ごみ収集について折り返しください ０９０／１２３４／５６７８ 2026/12/07"
    comment_id = receive(koho, written)
    message = message_showing(koho, "C0KANKYO", comment_id)
    shown = texts(message)
    assert "[電話番号]" in shown and "１２３４" not in shown and "5678" not in shown
    assert "2026/12/07" in shown and "12/7の粗大ごみ" in shown
    with koho.db.read() as session:
        assert session.get(Comment, comment_id).text == written
