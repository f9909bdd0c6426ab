"""Gaps a review of the proposal flow found (issue 3), each driven through signed requests on both databases."""

import json
import threading
from datetime import timedelta

from bot.handlers.proposal_ids import ProposalAction
from bot.models import OutboxItem
from bot.workflows.audit import events_for
from bot.workflows.emergencies.models import Emergency
from bot.workflows.emergencies.service import emergency_posts, timeline
from bot.workflows.proposals.models import Proposal, ProposalVersion
from tests.emergency_support import (
    EMERGENCY_CHANNEL,
    declare,
    submit_proposal_form,
    views_opened,
    wait_for_modal,
)
from tests.emergency_support import click as click_emergency
from tests.emergency_support import header as emergency_header
from tests.harness.db_hold import Hold
from tests.modal_support import opened_then_redrawn
from tests.test_proposals import (
    ALL_CHECKED,
    audit_actions,
    click,
    ephemeral_text,
    form_values,
    latest_proposal,
    open_form,
    propose,
    request_message,
    steps_of,
    texts,
)
from tests.test_proposals_lifecycle import approve_all, hand_off_message, published_original


def proposal_count(koho):
    with koho.db.read() as session:
        return session.query(Proposal).count()


# -- 1. a repeated submit after a slow answer ------------------------------------------------


def test_pressing_submit_again_after_a_slow_answer_stores_one_proposal(koho):
    view = open_form(koho)
    first = koho.slack.view_submission("U0STAFF1", view, form_values())
    again = koho.slack.view_submission("U0STAFF1", view, form_values())  # Slack timed out; the person pressed again
    assert first.status == again.status == 200 and first.body == again.body == ""
    assert proposal_count(koho) == 1
    with koho.db.read() as session:
        (proposal,) = session.query(Proposal).all()
        assert [v.number for v in session.query(ProposalVersion).filter_by(proposal_id=proposal.id)] == [1]
    assert audit_actions(koho, proposal.id).count("proposal.submitted") == 1
    # A new modal is a new proposal.
    koho.slack.command("/propose-post", "", user_id="U0STAFF1")
    koho.fake.wait_for("views.open", count=2)
    second = koho.fake.last_view()
    assert second["id"] != view["id"]
    assert koho.slack.view_submission("U0STAFF1", second, form_values()).body == ""
    assert proposal_count(koho) == 2


def test_two_simultaneous_submits_of_one_modal_store_one_proposal(koho):
    view = open_form(koho)
    barrier = threading.Barrier(2)
    answers = []

    def submit():
        barrier.wait()
        answers.append(koho.slack.view_submission("U0STAFF1", view, form_values()))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [(a.status, a.body) for a in answers] == [(200, ""), (200, "")]
    assert proposal_count(koho) == 1


# -- 2. nobody skips their department approver ---------------------------------------------


def test_only_pr_office_staff_may_choose_the_pr_office_as_department(koho):
    view = open_form(koho, "U0STAFF1")
    response = koho.slack.view_submission("U0STAFF1", view, form_values(department="pr_office"), strict=False)
    assert "「広報広聴課」を選べるのは広報広聴課の職員だけです" in response.json()["errors"]["department"]
    assert proposal_count(koho) == 0

    koho.fake.users["U0STAFF2"] = {"id": "U0STAFF2", "locale": "en-US"}
    koho.slack.command("/propose-post", "", user_id="U0STAFF2")
    koho.fake.wait_for("views.open", count=2)
    response = koho.slack.view_submission("U0STAFF2", koho.fake.last_view(), form_values(department="pr_office"),
                                          strict=False)
    assert "Only 広報広聴課 staff may choose 広報広聴課" in response.json()["errors"]["department"]
    assert proposal_count(koho) == 0

    proposal_id = propose(koho, "U0PR1", department="pr_office")  # the PR office's own post: one step
    assert [s[1] for s in steps_of(koho, proposal_id)] == ["pr_office"]


def test_one_person_does_not_decide_two_steps_of_one_version(koho):
    proposal_id = propose(koho, "U0KENSETSUHEAD")  # the lone approver: the PR office stands in for step 1
    click(koho, "U0PR2", request_message(koho, "C0KENSETSU"), ProposalAction.APPROVE)
    pr_request = request_message(koho, "C0PR")
    asked = texts(pr_request).split("承認をお願いします")[0]
    assert "<@U0PR1>" in asked and "<@U0PR2>" not in asked
    click(koho, "U0PR2", pr_request, ProposalAction.APPROVE)
    assert "この版の別の段階をすでにあなたが判断しています" in ephemeral_text(koho, "U0PR2")
    assert steps_of(koho, proposal_id)[1][2] == "pending"
    assert "step.refused" in audit_actions(koho, proposal_id)
    click(koho, "U0PR1", pr_request, ProposalAction.APPROVE)
    koho.fake.wait_for("chat.update", channel="C0PR")
    assert [s[2:] for s in steps_of(koho, proposal_id)] == [("approved", "U0PR2"), ("approved", "U0PR1")]


# -- 3. publication races --------------------------------------------------------------------


def approved_with_two_accounts(koho):
    proposal_id = propose(koho, accounts=("city-x", "city-line"))
    approve_all(koho, proposal_id)
    hand_off_message(koho, "C0PR", count=2)
    messages = [m for m in koho.fake.messages("C0PR") if "掲載依頼" in m["text"]]
    return proposal_id, messages


def publication_modal(koho, user, message, count):
    click(koho, user, message, ProposalAction.MARK_PUBLISHED)
    koho.fake.wait_for("views.open", count=count,
                       predicate=lambda c: c.args["view"]["callback_id"] == "proposal_published")
    return koho.fake.last_view()


def in_thread(target, *args, **kwargs):
    results = []
    thread = threading.Thread(target=lambda: results.append(target(*args, **kwargs)))
    thread.start()
    return thread, results


def statuses(koho, proposal_id):
    with koho.db.read() as session:
        proposal = session.get(Proposal, proposal_id)
        return proposal.status, sorted(p.status for p in proposal.publications)


def test_two_operators_recording_two_accounts_at_once_close_the_record(koho):
    proposal_id, (first, second) = approved_with_two_accounts(koho)
    modal_1 = publication_modal(koho, "U0PR1", first, 1)
    modal_2 = publication_modal(koho, "U0PR2", second, 2)
    # The first operator's transaction is held just before it commits, while the second records the other account.
    hold = Hold(koho.db, at_commit_of="UPDATE publications", release_after="UPDATE publications")
    try:
        one, _ = in_thread(koho.slack.view_submission, "U0PR1", modal_1, {"url": {"url": "https://x.com/c/1"}})
        assert hold.held.wait(10)
        two, _ = in_thread(koho.slack.view_submission, "U0PR2", modal_2, {"url": {"url": "https://line.me/c/2"}})
        one.join()
        two.join()
    finally:
        hold.remove()
    assert statuses(koho, proposal_id) == ("published", ["published", "published"])
    assert audit_actions(koho, proposal_id).count("proposal.published") == 1


def test_a_withdrawal_never_overwrites_a_publication_recorded_meanwhile(koho):
    proposal_id, (first, _second) = approved_with_two_accounts(koho)
    modal = publication_modal(koho, "U0PR1", first, 1)
    dm = koho.fake.dms("U0STAFF1")[0]  # the confirmation, with its 取り下げ button
    hold = Hold(koho.db, at_statement="UPDATE proposals", release_after="UPDATE publications")
    try:
        withdrawing, _ = in_thread(click, koho, "U0STAFF1", dm, ProposalAction.WITHDRAW)
        assert hold.held.wait(10)
        marking, answers = in_thread(koho.slack.view_submission, "U0PR1", modal,
                                     {"url": {"url": "https://x.com/c/1"}}, strict=False)
        withdrawing.join()
        marking.join()
        ephemeral_text(koho, "U0STAFF1")  # the withdrawal has finished
    finally:
        hold.remove()
    published = "publication.published" in audit_actions(koho, proposal_id)
    status, publications = statuses(koho, proposal_id)
    # Whichever won, the record is true: a recorded publication is never turned into "cancelled".
    assert not published and status == "withdrawn" and publications == ["cancelled", "cancelled"]
    assert "掲載" in answers[0].json()["errors"]["url"]


def test_a_withdrawal_clicked_while_a_url_is_being_recorded_is_refused_once_the_post_is_live(koho):
    proposal_id, (first, _second) = approved_with_two_accounts(koho)
    modal = publication_modal(koho, "U0PR1", first, 1)
    dm = koho.fake.dms("U0STAFF1")[0]  # the confirmation, with its 取り下げ button
    # The operator's recording is held just before it commits, while the proposer clicks 取り下げ.
    hold = Hold(koho.db, at_commit_of="UPDATE publications", release_after="UPDATE proposals")
    try:
        marking, answers = in_thread(koho.slack.view_submission, "U0PR1", modal, {"url": {"url": "https://x.com/c/1"}})
        assert hold.held.wait(10)
        click(koho, "U0STAFF1", dm, ProposalAction.WITHDRAW)
        marking.join()
        text = ephemeral_text(koho, "U0STAFF1")  # the withdrawal has finished
    finally:
        hold.remove()
    # The recording won: the withdrawal, which queued behind it, found the post live and changed nothing.
    assert answers[0].body == ""
    assert statuses(koho, proposal_id) == ("approved", ["handed_off", "published"])
    assert "すでに 千葉市 公式X に掲載されている" in text


def test_a_withdrawal_that_loses_a_race_says_someone_changed_it(koho):
    at = koho.clock.now() + timedelta(hours=2)
    proposal_id = propose(koho, publish_at=int(at.timestamp()))
    approve_all(koho, proposal_id)
    koho.fake.wait_for("chat.update", channel="C0PR")
    koho.clock.advance(timedelta(hours=2))
    dm = koho.fake.dms("U0STAFF1")[0]
    # The hand-off sweep hands the post to its operators while the proposer's withdrawal is on its way.
    hold = Hold(koho.db, at_statement="UPDATE proposals", release_after="UPDATE publications")
    try:
        withdrawing, _ = in_thread(click, koho, "U0STAFF1", dm, ProposalAction.WITHDRAW)
        assert hold.held.wait(10)
        koho.sweep()
        withdrawing.join()
        text = ephemeral_text(koho, "U0STAFF1")
    finally:
        hold.remove()
    status, publications = statuses(koho, proposal_id)
    if koho.db.dialect == "postgresql":  # the sweep won: the withdrawal changed nothing and says so
        assert (status, publications) == ("approved", ["handed_off"])
        assert "ほぼ同時に別の人がこの起案を変更しました" in text
        click(koho, "U0STAFF1", dm, ProposalAction.WITHDRAW)  # trying again withdraws it
        assert "取り下げました" in ephemeral_text(koho, "U0STAFF1", count=2)
        assert statuses(koho, proposal_id) == ("withdrawn", ["cancelled"])
    else:  # SQLite writers queue: the withdrawal committed first and the sweep found nothing to hand off
        assert (status, publications) == ("withdrawn", ["cancelled"]) and "取り下げました" in text


# -- 4. a correction sent back is resubmitted as a correction --------------------------------

CORRECTED = "【訂正】12月の粗大ごみ収集は第1・第3水曜日です。お詫びして訂正します。問い合わせ: 環境局 043-245-5000"


def send_back(koho, request, reason):
    """The department head requests changes; returns the proposer's DM with its 修正して再提出 button."""
    click(koho, "U0KANKYOHEAD", request, ProposalAction.REQUEST_CHANGES)
    koho.fake.wait_for("views.open", predicate=lambda c: c.args["view"]["callback_id"] == "proposal_reason")
    koho.slack.view_submission("U0KANKYOHEAD", koho.fake.last_view(), {"reason": {"reason": reason}})
    koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: "差し戻されました" in c.args["text"])
    return [m for m in koho.fake.dms("U0STAFF1") if "差し戻されました" in m["text"]][-1]


def test_a_correction_sent_back_is_resubmitted_as_a_correction_of_the_same_original(koho):
    original_id, published = published_original(koho)
    click(koho, "U0STAFF1", published, ProposalAction.CORRECT)
    koho.fake.wait_for("views.open", predicate=lambda c: c.args["view"]["title"]["text"] == "訂正の起案")
    response = koho.slack.view_submission("U0STAFF1", koho.fake.last_view(), {
        "text": {"text": CORRECTED}, "correction_note": {"correction_note": "収集日を誤って掲載"}, **ALL_CHECKED})
    assert response.body == ""
    correction_id = latest_proposal(koho)
    koho.fake.wait_for("chat.postMessage", channel="C0KANKYO", count=2, predicate=lambda c: c.ok)
    request = [m for m in koho.fake.messages("C0KANKYO") if "承認依頼" in m["text"]][-1]
    dm = send_back(koho, request, "お詫びの文を先に")
    click(koho, "U0STAFF1", dm, ProposalAction.EDIT)
    koho.fake.wait_for("views.open", predicate=lambda c: c.args["view"]["title"]["text"] == "修正して再提出")
    form = koho.fake.last_view()
    shown = texts(form)
    assert "訂正する元の投稿" in shown and "第2・第4水曜日" in shown  # the original beside it, as before
    by_id = {b.get("block_id"): b for b in form["blocks"]}
    assert by_id["correction_note"]["element"]["initial_value"] == "収集日を誤って掲載" and "kind" not in by_id
    again = "【訂正とお詫び】" + CORRECTED.removeprefix("【訂正】")
    response = koho.slack.view_submission("U0STAFF1", form, {
        "text": {"text": again}, "correction_note": {"correction_note": "収集日を誤って掲載"}, **ALL_CHECKED})
    assert response.status == 200 and response.body == "", response.body
    with koho.db.read() as session:
        correction = session.get(Proposal, correction_id)
        assert (correction.kind, correction.corrects_id, correction.current_version, correction.status) == (
            "correction", original_id, 2, "pending")
        assert correction.version.correction_note == "収集日を誤って掲載"
    assert [s[:3] for s in steps_of(koho, correction_id)][-2:] == [(2, "department", "pending"),
                                                                   (2, "pr_office", "waiting")]


# -- 5. Slack markup never leaks into a draft, and no fallback text pings ------------------


def test_the_message_shortcut_drafts_the_text_people_read_not_slack_markup(koho):
    message = {"type": "message", "ts": "1760000000.000200", "user": "U0KENSETSU1",
               "text": "<!channel> 道路工事 &amp; 通行止め &lt;重要&gt; 詳細: <https://www.city.chiba.jp/kensetsu|市のページ>"}
    assert koho.slack.message_shortcut("propose_post_from_message", "U0KENSETSU1", "C0KENSETSU", message).status == 200
    koho.fake.wait_for("views.open")
    by_id = {b.get("block_id"): b for b in koho.fake.last_view()["blocks"]}
    assert by_id["text"]["element"]["initial_value"] == (
        "@channel 道路工事 & 通行止め <重要> 詳細: 市のページ (https://www.city.chiba.jp/kensetsu)")


def test_a_title_with_a_broadcast_cannot_ping_through_the_notification_text(koho):
    propose(koho, text="<!channel> 断水のお知らせ\n明日9時から12時まで断水します。")
    (call,) = koho.fake.wait_for("chat.postMessage", channel="C0KANKYO", predicate=lambda c: c.ok)
    assert "<!channel>" not in call.args["text"] and "&lt;!channel&gt; 断水のお知らせ" in call.args["text"]


def test_an_emergency_title_with_a_broadcast_cannot_ping_through_the_notification_text(koho):
    declare(koho, title="<!channel> 断水")
    calls = koho.fake.wait_for("chat.postMessage", channel=EMERGENCY_CHANNEL, predicate=lambda c: c.ok)
    header = next(c for c in calls if "断水" in c.args["text"])
    assert "<!channel>" not in header.args["text"] and "&lt;!channel&gt; 断水" in header.args["text"]


# -- 6. the proposer's confirmation links to the request -----------------------------------


def wait_until_retry_scheduled(koho):
    for _ in range(500):
        with koho.db.read() as session:
            if session.query(OutboxItem).filter(OutboxItem.last_error.is_not(None), OutboxItem.status == "pending",
                                                OutboxItem.claimed_until.is_(None)).count():
                return
        threading.Event().wait(0.01)
    raise AssertionError("the failed post was never scheduled for a retry")


def test_the_confirmation_dm_waits_for_the_request_so_it_can_link_to_it(koho):
    koho.fake.fail("chat.postMessage", 500, count=1, channel="C0KANKYO")  # the request's first post fails
    propose(koho)
    koho.fake.wait_for("chat.postMessage", channel="C0KANKYO", predicate=lambda c: not c.ok)
    wait_until_retry_scheduled(koho)
    koho.clock.advance(timedelta(seconds=30))  # its retry is due
    koho.services.notify()
    request_message(koho, "C0KANKYO")
    (dm,) = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: c.ok)
    assert "起案を受け付けました" in dm.args["text"] and "archives/C0KANKYO/p" in dm.args["text"]


# -- 7. refused clicks are recorded ------------------------------------------------------------


def test_a_refused_edit_click_is_in_the_record(koho):
    proposal_id = propose(koho)
    dm = send_back(koho, request_message(koho, "C0KANKYO"), "日付を確認")
    click(koho, "U0STAFF2", dm, ProposalAction.EDIT)
    assert "起案者本人だけ" in ephemeral_text(koho, "U0STAFF2")
    with koho.db.read() as session:
        (event,) = [e for e in events_for(session, "proposal", proposal_id) if e.action == "proposal.edit_refused"]
        assert event.actor == "U0STAFF2"


def test_a_refused_publication_click_is_in_the_record(koho):
    other_id, (message, _second) = approved_with_two_accounts(koho)
    click(koho, "U0KENSETSU1", message, ProposalAction.MARK_PUBLISHED)  # not the account's people
    assert "担当部署または広報広聴課" in ephemeral_text(koho, "U0KENSETSU1")
    with koho.db.read() as session:
        (event,) = [e for e in events_for(session, "proposal", other_id) if e.action == "publication.refused"]
        assert event.actor == "U0KENSETSU1"


# -- 8. withdraw after approval, from the approved DM and from App Home ----------------------


def test_an_approved_post_is_withdrawn_from_the_approved_dm(koho):
    proposal_id = propose(koho)
    approve_all(koho, proposal_id)
    hand_off = hand_off_message(koho, "C0PR")
    koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: "承認されました" in c.args["text"])
    approved_dm = [m for m in koho.fake.dms("U0STAFF1") if "承認されました" in m["text"]][-1]
    button = next(e for b in approved_dm["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == ProposalAction.WITHDRAW)
    assert button["confirm"]["title"]["text"] == "取り下げますか？"
    click(koho, "U0STAFF1", approved_dm, ProposalAction.WITHDRAW)
    assert "取り下げました" in ephemeral_text(koho, "U0STAFF1")
    assert statuses(koho, proposal_id) == ("withdrawn", ["cancelled"])
    koho.fake.wait_for("chat.update", channel="C0PR", predicate=lambda c: c.args.get("ts") == hand_off["ts"])
    assert not any(b["type"] == "actions" for b in koho.fake.message("C0PR", hand_off["ts"])["blocks"])


def test_my_proposals_on_app_home_can_be_withdrawn(koho):
    proposal_id = propose(koho)
    request_message(koho, "C0KANKYO")
    koho.slack.event({"type": "app_home_opened", "user": "U0STAFF1", "tab": "home"})
    koho.fake.wait_for("views.publish", user_id="U0STAFF1")
    home = koho.fake.home_views["U0STAFF1"]
    row = next(b for b in home["blocks"] if b.get("accessory", {}).get("action_id") == ProposalAction.WITHDRAW)
    assert f"#{proposal_id}" in row["text"]["text"] and row["accessory"]["value"] == str(proposal_id)
    koho.slack.block_action("U0STAFF1", ProposalAction.WITHDRAW, str(proposal_id), view=home)
    dm = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: "取り下げました" in c.args["text"])
    assert f"#{proposal_id}" in dm[0].args["text"]
    assert statuses(koho, proposal_id)[0] == "withdrawn"
    (after,) = koho.fake.wait_for("views.publish", user_id="U0STAFF1", predicate=lambda c: "*取り下げ*" in json.dumps(
        c.args["view"], ensure_ascii=False))
    assert ProposalAction.WITHDRAW not in json.dumps(after.args["view"])  # a final state offers no button


def test_a_post_live_on_one_account_is_not_withdrawn_and_the_proposer_is_pointed_to_a_correction(koho):
    proposal_id, (first, second) = approved_with_two_accounts(koho)
    modal = publication_modal(koho, "U0PR1", first, 1)
    assert koho.slack.view_submission("U0PR1", modal, {"url": {"url": "https://x.com/c/1"}}).body == ""
    # The confirmation DM still shows 取り下げ (a message sent before is never taken back): the click is refused.
    click(koho, "U0STAFF1", koho.fake.dms("U0STAFF1")[0], ProposalAction.WITHDRAW)
    text = ephemeral_text(koho, "U0STAFF1")
    assert "すでに 千葉市 公式X に掲載されているため、取り下げできません" in text and "「訂正する」" in text
    assert statuses(koho, proposal_id) == ("approved", ["handed_off", "published"])
    with koho.db.read() as session:
        refused = [e for e in events_for(session, "proposal", proposal_id) if e.action == "proposal.withdraw_refused"]
    assert [(e.actor, e.reason, e.details["accounts"]) for e in refused] == [
        ("U0STAFF1", "already published", ["city-x"])]
    # The other account is still asked for, and once it is recorded the record closes and can be corrected.
    assert any(e["action_id"] == ProposalAction.MARK_PUBLISHED
               for b in koho.fake.message("C0PR", second["ts"])["blocks"] if b["type"] == "actions" for e in b["elements"])
    modal = publication_modal(koho, "U0PR2", second, 2)
    assert koho.slack.view_submission("U0PR2", modal, {"url": {"url": "https://line.me/c/2"}}).body == ""
    assert statuses(koho, proposal_id) == ("published", ["published", "published"])
    koho.fake.wait_for("chat.update", channel="C0PR", predicate=lambda c: c.args.get("ts") == first["ts"])
    click(koho, "U0STAFF1", koho.fake.message("C0PR", first["ts"]), ProposalAction.CORRECT)
    koho.fake.wait_for("views.open", predicate=lambda c: c.args["view"]["title"]["text"] == "訂正の起案")


def test_once_a_post_is_live_on_one_account_app_home_no_longer_offers_to_withdraw_it(koho):
    proposal_id, (first, _second) = approved_with_two_accounts(koho)
    modal = publication_modal(koho, "U0PR1", first, 1)
    assert koho.slack.view_submission("U0PR1", modal, {"url": {"url": "https://x.com/c/1"}}).body == ""

    def row(view):  # the proposal's row on the proposer's App Home
        return next(b for b in view["blocks"] if f"#{proposal_id}" in b.get("text", {}).get("text", ""))

    # Recording the first account re-renders the proposer's App Home: still 承認済み, with no 取り下げ.
    (after,) = koho.fake.wait_for("views.publish", user_id="U0STAFF1", predicate=lambda c: "accessory" not in row(
        c.args["view"]))
    assert "承認済み" in row(after.args["view"])["text"]["text"]


# -- 9. a post drafted from an emergency's template belongs to that emergency ----------------


def test_a_post_drafted_from_an_emergency_template_is_linked_to_that_emergency(koho):
    emergency_id = declare(koho)
    top = emergency_header(koho, emergency_id)
    before = views_opened(koho, "proposal_form")
    click_emergency(koho, "U0STAFF1", top, "emergency_draft", selected_option=f"{emergency_id}:first_report:ja")
    form = wait_for_modal(koho, "proposal_form", before, "U0STAFF1")
    # The proposer makes it a routine post: it is still the emergency's, and its timeline says so.
    proposal_id = submit_proposal_form(koho, "U0STAFF1", form, accounts=("city-x",), kind="normal")
    with koho.db.read() as session:
        proposal = session.get(Proposal, proposal_id)
        assert (proposal.kind, proposal.emergency_id) == ("normal", emergency_id)
        emergency = session.get(Emergency, emergency_id)
        assert [p.id for p in emergency_posts(session, emergency)] == [proposal_id]
        submitted = [e for e in timeline(session, emergency) if e.kind == "post_submitted"]
        assert [e.values["proposal_id"] for e in submitted] == [proposal_id]
    assert audit_actions(koho, proposal_id)[0] == "proposal.submitted"


# -- 10. no Slack call before views.open ------------------------------------------------------


def test_the_modal_opens_before_anything_else_is_asked_of_slack_then_speaks_their_language(koho):
    opened, redrawn = opened_then_redrawn(  # first time: no language known yet
        koho, "U0STAFF2", "en-US", lambda: koho.slack.command("/propose-post", "粗大ごみ", user_id="U0STAFF2"))
    assert opened["title"]["text"] == "投稿の起案"  # the organisation's language, at once
    assert redrawn["title"]["text"] == "Propose a post"  # then theirs, once learnt
    assert koho.fake.last_view("U0STAFF2")["title"]["text"] == "Propose a post"

    koho.slack.command("/propose-post", "", user_id="U0STAFF2")  # known now: English at once, no update
    (_, again) = koho.fake.wait_for("views.open", count=2)
    assert again.args["view"]["title"]["text"] == "Propose a post"
    assert len(koho.fake.calls_to("views.update")) == 1


# -- 11. a post live on one account of two is corrected, like a fully published one ---------


def test_a_post_live_on_one_account_of_two_is_corrected_where_it_is_live_and_its_other_hand_off_stays(koho):
    original_id, (on_x, on_line) = approved_with_two_accounts(koho)
    # Nothing is online yet: nothing to correct (a post not yet live is withdrawn instead). No button offers it;
    # a crafted click is refused.
    koho.slack.block_action("U0STAFF1", ProposalAction.CORRECT, str(original_id), message=on_x, strict=False)
    assert "訂正できるのは" in ephemeral_text(koho, "U0STAFF1")

    modal = publication_modal(koho, "U0PR1", on_x, 1)
    assert koho.slack.view_submission("U0PR1", modal, {"url": {"url": "https://x.com/c/1"}}).body == ""
    koho.fake.wait_for("chat.update", channel="C0PR", predicate=lambda c: c.args.get("ts") == on_x["ts"])
    assert statuses(koho, original_id) == ("approved", ["handed_off", "published"])  # LINE still waits

    # Live on X: its 訂正する opens the correction, proposed by default for where the original is live.
    click(koho, "U0STAFF1", koho.fake.message("C0PR", on_x["ts"]), ProposalAction.CORRECT)
    koho.fake.wait_for("views.open", predicate=lambda c: c.args["view"]["title"]["text"] == "訂正の起案")
    form = koho.fake.last_view()
    by_id = {b.get("block_id"): b for b in form["blocks"]}
    assert [o["value"] for o in by_id["accounts"]["element"]["initial_options"]] == ["city-x"]
    assert "訂正する元の投稿" in texts(form) and "第2・第4水曜日" in texts(form)
    response = koho.slack.view_submission("U0STAFF1", form, {
        "text": {"text": CORRECTED}, "correction_note": {"correction_note": "収集日を誤って掲載"}, **ALL_CHECKED})
    assert response.status == 200 and response.body == "", response.body
    correction_id = latest_proposal(koho)
    with koho.db.read() as session:
        correction = session.get(Proposal, correction_id)
        assert (correction.kind, correction.corrects_id, correction.version.accounts) == (
            "correction", original_id, ["city-x"])
    assert [s[1:3] for s in steps_of(koho, correction_id)] == [("department", "pending"), ("pr_office", "waiting")]
    assert audit_actions(koho, correction_id)[:2] == ["proposal.submitted", "step.requested"]

    # The request shows the original beside the correction, where it is live, and where it is not yet.
    koho.fake.wait_for("chat.postMessage", channel="C0KANKYO", count=2, predicate=lambda c: c.ok)
    request = [m for m in koho.fake.messages("C0KANKYO") if "承認依頼" in m["text"]][-1]
    shown = texts(request)
    assert "訂正前（掲載済み）" in shown and "第1・第3水曜日" in shown and "https://x.com/c/1" in shown
    assert "元の投稿の掲載先:* 千葉市 公式X" in shown
    assert "元の投稿がまだ掲載されていない投稿先:* 千葉市 LINE" in shown

    # The correction takes the usual chain and is handed off to X only; the original is kept as it was,
    # and its LINE hand-off stays open: recording it closes the original's record.
    click(koho, "U0KANKYOHEAD", request, ProposalAction.APPROVE)
    koho.fake.wait_for("chat.postMessage", channel="C0PR", predicate=lambda c: c.ok and "承認依頼" in c.args["text"],
                       count=2)
    click(koho, "U0PR2", [m for m in koho.fake.messages("C0PR") if "承認依頼" in m["text"]][-1],
          ProposalAction.APPROVE)
    hand_off_message(koho, "C0PR", count=3)
    with koho.db.read() as session:
        correction = session.get(Proposal, correction_id)
        assert correction.status == "approved"
        assert [(p.account_id, p.status) for p in correction.publications] == [("city-x", "handed_off")]
    assert statuses(koho, original_id) == ("approved", ["handed_off", "published"])
    modal = publication_modal(koho, "U0PR2", koho.fake.message("C0PR", on_line["ts"]), 2)
    assert koho.slack.view_submission("U0PR2", modal, {"url": {"url": "https://line.me/c/2"}}).body == ""
    assert statuses(koho, original_id) == ("published", ["published", "published"])
