"""Proposing a post and routing it for approval, as the people involved live it — through signed
requests to the running bot, answers read back from the fake Slack, on SQLite and PostgreSQL."""

import json
import threading
from datetime import timedelta

import pytest

from bot.handlers.proposal_ids import ProposalAction
from bot.workflows.accounts.models import RegisterAccount
from bot.workflows.audit import events_for
from bot.workflows.proposals.models import ApprovalStep, Proposal, ProposalVersion
from bot.workflows.proposals.rules import CHECKLIST
from tests.harness.db_hold import Hold

ALL_CHECKED = {"checklist_1": {"checklist_1": list(CHECKLIST[:6])},
               "checklist_2": {"checklist_2": list(CHECKLIST[6:])}}
GOMI_TEXT = "【粗大ごみの収集日変更】12月の粗大ごみ収集は第2・第4水曜日です。詳しくは市ホームページをご覧ください。問い合わせ: 環境局 043-245-5000"


def form_values(text=GOMI_TEXT, accounts=("city-x",), **extra):
    values = {"accounts": {"accounts": list(accounts)}, "text": {"text": text}, **ALL_CHECKED}
    for block_id, value in extra.items():
        values[block_id] = {block_id: value}
    return values


def open_form(koho, user="U0STAFF1", text=""):
    response = koho.slack.command("/propose-post", text, user_id=user)
    assert response.status == 200
    koho.fake.wait_for("views.open", user_id=None)
    return koho.fake.last_view()


def propose(koho, user="U0STAFF1", **values):
    view = open_form(koho, user)
    response = koho.slack.view_submission(user, view, form_values(**values))
    assert response.status == 200 and response.body == "", response.body
    return latest_proposal(koho)


def latest_proposal(koho):
    with koho.db.read() as session:
        proposal = session.query(Proposal).order_by(Proposal.id.desc()).first()
        return proposal.id if proposal else None


def request_message(koho, channel, count=1):
    """The newest approval request posted in a channel (waiting for it to be delivered)."""
    koho.fake.wait_for("chat.postMessage", predicate=lambda c: c.ok, count=count, channel=channel)
    return [m for m in koho.fake.messages(channel) if "承認依頼" in m["text"]][-1]


def click(koho, user, message, action_id):
    element = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == action_id)
    return koho.slack.block_action(user, action_id, element.get("value"), message=message)


def texts(message):
    return json.dumps(message["blocks"], ensure_ascii=False)


def steps_of(koho, proposal_id):
    with koho.db.read() as session:
        return [(s.version_number, s.stage, s.status, s.decided_by)
                for s in session.query(ApprovalStep).filter_by(proposal_id=proposal_id).order_by(ApprovalStep.id)]


def audit_actions(koho, proposal_id):
    with koho.db.read() as session:
        return [e.action for e in events_for(session, "proposal", proposal_id)]


def ephemeral_text(koho, user, count=1):
    calls = koho.fake.wait_for("response_url", count=count,
                               predicate=lambda c: c.args.get("response_type") == "ephemeral")
    return calls[-1].args["text"]


# -- the modal -----------------------------------------------------------------------------


def test_propose_post_opens_the_modal_prefilled(koho):
    view = open_form(koho, "U0STAFF1", "粗大ごみの日のお知らせ")
    assert view["callback_id"] == "proposal_form" and view["title"]["text"] == "投稿の起案"
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    assert by_id["text"]["element"]["initial_value"] == "粗大ごみの日のお知らせ"
    assert by_id["department"]["element"]["initial_option"]["value"] == "kankyo"  # the proposer's department
    account_values = [o["value"] for o in by_id["accounts"]["element"]["options"]]
    assert account_values == ["city-x", "city-line", "kankyo-instagram"]
    checklist = [o["value"] for b in ("checklist_1", "checklist_2") for o in by_id[b]["element"]["options"]]
    assert checklist == list(CHECKLIST)


def test_the_message_shortcut_proposes_a_messages_text(koho):
    message = {"type": "message", "ts": "1760000000.000100", "text": "道路工事のお知らせ", "user": "U0KENSETSU1"}
    assert koho.slack.message_shortcut("propose_post_from_message", "U0KENSETSU1", "C0KENSETSU", message).status == 200
    koho.fake.wait_for("views.open")
    view = koho.fake.last_view()
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    assert by_id["text"]["element"]["initial_value"] == "道路工事のお知らせ"
    assert by_id["department"]["element"]["initial_option"]["value"] == "kensetsu"


def open_register_accounts(koho, department_id, count):
    """`count` accounts opened in Slack for a department (after the organisation file's), in this order."""
    now = koho.clock.now()
    ids = [f"{department_id}-x-{n:03d}" for n in range(1, count + 1)]
    with koho.db.transaction() as session:
        for n, account_id in enumerate(ids):
            session.add(RegisterAccount(id=account_id, platform="x", name=f"{department_id} 情報 {n + 1}",
                                        handle=f"@{account_id}", kind="subject", department_id=department_id,
                                        operators=[], status="active", source="slack",
                                        created_at=now + timedelta(seconds=n), updated_at=now))
    return ids


def offered_accounts(view):
    """The accounts select: [(group label or None, [values])], and the values it starts with."""
    element = next(b for b in view["blocks"] if b.get("block_id") == "accounts")["element"]
    groups = [(g["label"]["text"], [o["value"] for o in g["options"]]) for g in element.get("option_groups", [])]
    initial = [o["value"] for o in element.get("initial_options", [])]
    return groups or [(None, [o["value"] for o in element["options"]])], initial


def versions_accounts(koho, proposal_id):
    with koho.db.read() as session:
        return [v.accounts for v in session.query(ProposalVersion).filter_by(proposal_id=proposal_id)
                .order_by(ProposalVersion.number)]


def test_a_city_with_more_accounts_than_one_list_holds_offers_every_one_by_department(koho):
    # 3 in the organisation file, 120 opened in Slack: more than Slack's 100 options of a select.
    kankyo = open_register_accounts(koho, "kankyo", 60)
    kensetsu = open_register_accounts(koho, "kensetsu", 60)
    view = open_form(koho)
    groups, initial = offered_accounts(view)
    assert [label for label, _ in groups] == ["広報広聴課", "環境局", "建設局"]  # as the departments are
    assert groups[0][1] == ["city-x", "city-line"] and groups[1][1] == ["kankyo-instagram", *kankyo]
    assert groups[2][1] == kensetsu and initial == []
    assert all(len(values) <= 100 for _, values in groups)

    # The last of them, which the form used to leave out, can be chosen and is proposed.
    response = koho.slack.view_submission("U0STAFF1", view, form_values(accounts=("city-x", kensetsu[-1])))
    assert response.status == 200 and response.body == "", response.body
    assert versions_accounts(koho, latest_proposal(koho)) == [["city-x", kensetsu[-1]]]


@pytest.mark.parametrize(("values", "block", "expected"), [
    ({"text": "   "}, "text", "投稿文を入力してください"),
    ({"text": "あ" * 141}, "text", "X の文字数制限を超えています: 282/280（2超過"),
    ({"text": "あ" * 120 + " https://www.city.chiba.jp/" + "a" * 60}, "text", None),  # a URL counts 23: fits
    ({"text": "詳しくは https://bit.ly/3abcd をご覧ください"}, "text", "短縮URLは使えません"),
    ({"links": "https://tinyurl.com/y5x"}, "links", "短縮URLは使えません"),
    ({"links": "city.chiba.jp"}, "links", "http:// または https://"),
    ({"publish_at": 1700000000}, "publish_at", "掲載希望日時が過去です"),
    ({"checklist_2": []}, "checklist_2", "チェックリストの6項目（全12項目中）が未確認です"),
    ({"accounts": []}, "accounts", "投稿先アカウントを1つ以上選んでください"),
    ({"kind": "correction"}, "kind", "「訂正する」ボタンから"),
])
def test_each_mistake_is_a_field_error_saying_what_and_by_how_much(koho, values, block, expected):
    view = open_form(koho)
    submitted = form_values()
    for block_id, value in values.items():
        submitted[block_id] = {block_id: value}
    response = koho.slack.view_submission("U0STAFF1", view, submitted, strict=False)
    assert response.status == 200
    if expected is None:
        assert response.body == "" and latest_proposal(koho) is not None
        return
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert expected in answer["errors"][block], answer["errors"]
    assert latest_proposal(koho) is None  # nothing half-written


def test_field_errors_come_in_english_for_english_speakers(koho):
    koho.fake.users["U0STAFF2"] = {"id": "U0STAFF2", "locale": "en-US"}
    open_form(koho, "U0STAFF2")
    # Opened at once in the organisation's language (no Slack call may precede views.open), then in theirs.
    koho.fake.wait_for("views.update")
    view = koho.fake.last_view("U0STAFF2")
    assert view["title"]["text"] == "Propose a post"
    response = koho.slack.view_submission("U0STAFF2", view, form_values(text="あ" * 150), strict=False)
    assert "Too long for X: 300/280 (20 over" in response.json()["errors"]["text"]


def test_a_submission_is_answered_without_asking_slack_first(koho):
    # The answer to a modal submission has Slack's 3 seconds; a users.info call (here: the language
    # learnt when the form opened has since gone stale) must not come before it.
    koho.fake.users["U0STAFF2"] = {"id": "U0STAFF2", "locale": "en-US"}
    open_form(koho, "U0STAFF2")
    koho.fake.wait_for("views.update")
    view = koho.fake.last_view("U0STAFF2")
    koho.clock.advance(timedelta(days=8))
    asked = koho.fake.arrivals("users.info")
    response = koho.slack.view_submission("U0STAFF2", view, form_values(text="あ" * 150), strict=False)
    assert koho.fake.arrivals("users.info") == asked
    assert "Too long for X: 300/280 (20 over" in response.json()["errors"]["text"]  # still in their language


def test_other_platforms_count_their_own_way(koho):
    view = open_form(koho)
    text = "あ" * 2300  # fine for LINE (5,000), too long for Instagram (2,200)
    response = koho.slack.view_submission("U0STAFF1", view, form_values(text=text, accounts=["city-line",
                                                                                          "kankyo-instagram"]))
    errors = response.json()["errors"]["text"]
    assert "Instagram の文字数制限を超えています: 2300/2200字（100字超過）" in errors and "LINE" not in errors


# -- the two-step approval -------------------------------------------------------------------


def test_department_head_then_pr_office_approve_and_the_proposer_is_told(koho):
    proposal_id = propose(koho, "U0STAFF1")

    # The proposer's DM confirms it, with a link to the request.
    dm = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: c.ok)[0]
    assert "起案を受け付けました（第1版）" in dm.args["text"] and "<#C0KANKYO>" in dm.args["text"]

    request = request_message(koho, "C0KANKYO")
    shown = texts(request)
    assert "<@U0KANKYOHEAD>" in shown and "<@U0KANKYOHEAD2>" in shown
    assert "粗大ごみ収集は第2・第4水曜日" in shown and "千葉市 公式X" in shown
    assert "投稿前チェックリスト: 12/12 項目確認済み" in shown and "第1版" in shown

    click(koho, "U0KANKYOHEAD", request, ProposalAction.APPROVE)
    koho.fake.wait_for("chat.update", channel="C0KANKYO")
    updated = koho.fake.message("C0KANKYO", request["ts"])
    assert "承認 — <@U0KANKYOHEAD>" in texts(updated)
    assert not any(b["type"] == "actions" for b in updated["blocks"])  # buttons replaced by the outcome

    pr_request = request_message(koho, "C0PR")
    assert "広報広聴課確認" in pr_request["text"] or "広報広聴課確認" in texts(pr_request)
    click(koho, "U0PR1", pr_request, ProposalAction.APPROVE)
    koho.fake.wait_for("chat.update", channel="C0PR")

    dms = [c.args["text"] for c in koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", count=3,
                                                       predicate=lambda c: c.ok)]
    assert any("所属長承認" in t and "次は「広報広聴課確認」" in t for t in dms)
    assert any("承認されました" in t for t in dms)
    assert steps_of(koho, proposal_id) == [(1, "department", "approved", "U0KANKYOHEAD"),
                                           (1, "pr_office", "approved", "U0PR1")]
    assert audit_actions(koho, proposal_id) == [
        "proposal.submitted", "step.requested", "step.approved", "step.requested", "step.approved",
        "proposal.approved", "publication.handed_off"]


def test_a_non_approver_is_told_why_nothing_changes_and_the_click_is_recorded(koho):
    proposal_id = propose(koho)
    request = request_message(koho, "C0KANKYO")
    click(koho, "U0KENSETSUHEAD", request, ProposalAction.APPROVE)
    text = ephemeral_text(koho, "U0KENSETSUHEAD")
    assert "この段階の承認者ではない" in text and "<@U0KANKYOHEAD>" in text
    assert steps_of(koho, proposal_id)[0][2] == "pending"
    assert "step.refused" in audit_actions(koho, proposal_id)


def test_nobody_approves_their_own_proposal_even_as_an_approver(koho):
    proposal_id = propose(koho, "U0KANKYOHEAD")
    request = request_message(koho, "C0KANKYO")
    shown = texts(request)
    assert "<@U0KANKYOHEAD2>" in shown and "<@U0KANKYOHEAD>" not in shown.split("承認をお願いします")[0]
    click(koho, "U0KANKYOHEAD", request, ProposalAction.APPROVE)
    assert "ご自身の起案は承認" in ephemeral_text(koho, "U0KANKYOHEAD")
    assert steps_of(koho, proposal_id)[0][2] == "pending"
    click(koho, "U0KANKYOHEAD2", request, ProposalAction.APPROVE)  # another approver of the step may
    koho.fake.wait_for("chat.update", channel="C0KANKYO")
    assert steps_of(koho, proposal_id)[0][2:] == ("approved", "U0KANKYOHEAD2")


def test_a_lone_approver_proposing_is_approved_by_the_pr_office_instead(koho):
    proposal_id = propose(koho, "U0KENSETSUHEAD", accounts=("city-x",))
    request = request_message(koho, "C0KENSETSU")
    assert "<@U0PR1>" in texts(request)
    click(koho, "U0PR2", request, ProposalAction.APPROVE)
    koho.fake.wait_for("chat.update", channel="C0KENSETSU")
    assert steps_of(koho, proposal_id)[0][2:] == ("approved", "U0PR2")


def test_two_approvers_clicking_at_once_make_exactly_one_decision(koho):
    proposal_id = propose(koho)
    request = request_message(koho, "C0KANKYO")
    barrier = threading.Barrier(2)

    def approve(user):
        barrier.wait()
        click(koho, user, request, ProposalAction.APPROVE)

    threads = [threading.Thread(target=approve, args=(u,)) for u in ("U0KANKYOHEAD", "U0KANKYOHEAD2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    loser_text = ephemeral_text(koho, None)
    winner = steps_of(koho, proposal_id)[0][3]
    assert winner in ("U0KANKYOHEAD", "U0KANKYOHEAD2")
    assert f"すでに <@{winner}> が" in loser_text and "「承認」と判断しています" in loser_text
    assert audit_actions(koho, proposal_id).count("step.approved") == 1
    assert len(koho.fake.wait_for("chat.postMessage", channel="C0PR", predicate=lambda c: c.ok)) == 1


# -- request changes, reject, withdraw -------------------------------------------------------


def decide_with_reason(koho, user, message, action_id, reason):
    click(koho, user, message, action_id)
    koho.fake.wait_for("views.open", count=2)  # the proposal form was the first
    modal = koho.fake.last_view()
    assert modal["callback_id"] == "proposal_reason"
    return koho.slack.view_submission(user, modal, {"reason": {"reason": reason}}, strict=False)


def test_request_changes_then_resubmit_as_version_2_which_starts_over(koho):
    proposal_id = propose(koho)
    request = request_message(koho, "C0KANKYO")
    empty = decide_with_reason(koho, "U0KANKYOHEAD", request, ProposalAction.REQUEST_CHANGES, "  ")
    assert "理由を入力してください" in empty.json()["errors"]["reason"]
    response = koho.slack.view_submission("U0KANKYOHEAD", koho.fake.last_view(),
                                          {"reason": {"reason": "問い合わせ先の電話番号を確認してください"}})
    assert response.status == 200 and response.body == ""

    dm = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", count=2, predicate=lambda c: c.ok)[-1]
    assert "差し戻されました" in dm.args["text"] and "問い合わせ先の電話番号を確認してください" in dm.args["text"]
    dm_message = koho.fake.dms("U0STAFF1")[-1]
    click(koho, "U0STAFF1", dm_message, ProposalAction.EDIT)
    koho.fake.wait_for("views.open", count=3)
    edit_form = koho.fake.last_view()
    assert edit_form["title"]["text"] == "修正して再提出"
    by_id = {b.get("block_id"): b for b in edit_form["blocks"]}
    assert by_id["text"]["element"]["initial_value"] == GOMI_TEXT

    new_text = GOMI_TEXT.replace("043-245-5000", "043-245-5001")
    response = koho.slack.view_submission("U0STAFF1", edit_form, {"text": {"text": new_text}, **ALL_CHECKED})
    assert response.status == 200 and response.body == ""
    second = request_message(koho, "C0KANKYO", count=2)
    assert second["ts"] != request["ts"]
    shown = texts(second)
    assert "第2版" in shown and "第1版からの変更:* 投稿文" in shown and "043-245-5001" in shown
    assert [s[:3] for s in steps_of(koho, proposal_id)] == [
        (1, "department", "changes_requested"), (1, "pr_office", "cancelled"),
        (2, "department", "pending"), (2, "pr_office", "waiting")]
    assert "差し戻し — <@U0KANKYOHEAD>" in texts(koho.fake.message("C0KANKYO", request["ts"]))


def test_only_the_proposer_may_edit_and_resubmit(koho):
    propose(koho)
    request = request_message(koho, "C0KANKYO")
    decide_with_reason(koho, "U0KANKYOHEAD", request, ProposalAction.REQUEST_CHANGES, "写真の説明を追加")
    koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", count=2, predicate=lambda c: c.ok)
    dm_message = koho.fake.dms("U0STAFF1")[-1]
    click(koho, "U0STAFF2", dm_message, ProposalAction.EDIT)
    assert "起案者本人だけ" in ephemeral_text(koho, "U0STAFF2")


def test_a_resubmission_to_an_account_after_the_hundredth_opens_with_it_chosen(koho):
    open_register_accounts(koho, "kankyo", 60)
    late = open_register_accounts(koho, "kensetsu", 60)[-1]
    proposal_id = propose(koho, accounts=("city-x", late))
    request = request_message(koho, "C0KANKYO")
    decide_with_reason(koho, "U0KANKYOHEAD", request, ProposalAction.REQUEST_CHANGES, "問い合わせ先を確認してください")
    koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", count=2, predicate=lambda c: c.ok)
    click(koho, "U0STAFF1", koho.fake.dms("U0STAFF1")[-1], ProposalAction.EDIT)

    # Slack refuses a form whose initial options are not among its options, or come from several groups:
    # the accounts it starts with are a group of their own, first.
    koho.fake.wait_for("views.open", count=3, predicate=lambda c: c.ok)
    edit_form = koho.fake.last_view()
    assert edit_form["title"]["text"] == "修正して再提出"
    groups, initial = offered_accounts(edit_form)
    assert groups[0] == ("選択中のアカウント", ["city-x", late]) and initial == ["city-x", late]
    assert sum(len(values) for _, values in groups) == 123  # each once

    # Submitted with the accounts as they were: read back from the groups.
    response = koho.slack.view_submission("U0STAFF1", edit_form,
                                          {"text": {"text": GOMI_TEXT + "（再提出）"}, **ALL_CHECKED})
    assert response.status == 200 and response.body == "", response.body
    assert versions_accounts(koho, proposal_id) == [["city-x", late], ["city-x", late]]


def test_reject_ends_it_with_a_reason(koho):
    proposal_id = propose(koho)
    request = request_message(koho, "C0KANKYO")
    decide_with_reason(koho, "U0KANKYOHEAD", request, ProposalAction.REJECT, "同じ内容を先週投稿済み")
    dm = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", count=2, predicate=lambda c: c.ok)[-1]
    assert "却下されました" in dm.args["text"] and "同じ内容を先週投稿済み" in dm.args["text"]
    with koho.db.read() as session:
        assert session.get(Proposal, proposal_id).status == "rejected"
    koho.fake.wait_for("chat.update", channel="C0KANKYO")
    assert "却下 — <@U0KANKYOHEAD>" in texts(koho.fake.message("C0KANKYO", request["ts"]))


def test_an_approval_clicked_while_the_proposer_withdraws_waits_and_is_told_it_was_withdrawn(koho):
    # The withdrawal locks the proposal, then cancels the steps; a decision took the step first, then the proposal:
    # each waited for the row the other held, and PostgreSQL broke the deadlock by failing one of them.
    proposal_id = propose(koho)
    request = request_message(koho, "C0KANKYO")
    koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: c.ok)
    dm_message = koho.fake.dms("U0STAFF1")[-1]
    hold = Hold(koho.db, at_statement="UPDATE proposals", release_after="UPDATE proposals")
    try:
        click(koho, "U0STAFF1", dm_message, ProposalAction.WITHDRAW)
        assert hold.held.wait(10)  # withdrawn, the steps not yet cancelled, not committed
        click(koho, "U0KANKYOHEAD", request, ProposalAction.APPROVE)
        calls = koho.fake.wait_for("response_url", count=2, predicate=lambda c: c.args.get("response_type") == "ephemeral")
    finally:
        hold.remove()
    told = [c.args["text"] for c in calls]
    assert any("取り下げました" in t for t in told) and any("「取り下げ」" in t for t in told), told
    assert not any("参照番号" in t or "エラー" in t for t in told), told
    assert [s[2] for s in steps_of(koho, proposal_id)] == ["cancelled", "cancelled"]
    assert "step.approved" not in audit_actions(koho, proposal_id)


def test_the_proposer_withdraws_and_the_request_says_so(koho):
    proposal_id = propose(koho)
    request = request_message(koho, "C0KANKYO")
    koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: c.ok)
    dm_message = koho.fake.dms("U0STAFF1")[-1]
    withdraw_button = next(e for b in dm_message["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert withdraw_button["confirm"]["title"]
    click(koho, "U0STAFF2", dm_message, ProposalAction.WITHDRAW)
    assert "起案者本人だけ" in ephemeral_text(koho, "U0STAFF2")
    click(koho, "U0STAFF1", dm_message, ProposalAction.WITHDRAW)
    assert "取り下げました" in ephemeral_text(koho, "U0STAFF1", count=2)
    koho.fake.wait_for("chat.update", channel="C0KANKYO")
    assert "終了しました（取り下げ）" in texts(koho.fake.message("C0KANKYO", request["ts"]))
    # A client still showing the old buttons sends the click anyway: nothing happens.
    stale_value = next(e["value"] for b in request["blocks"] if b["type"] == "actions" for e in b["elements"])
    koho.slack.block_action("U0KANKYOHEAD", ProposalAction.APPROVE, stale_value,
                            message=koho.fake.message("C0KANKYO", request["ts"]), strict=False)
    assert "取り下げ" in ephemeral_text(koho, "U0KANKYOHEAD", count=3)
    actions = audit_actions(koho, proposal_id)
    assert "proposal.withdraw_refused" in actions and "proposal.withdrawn" in actions
