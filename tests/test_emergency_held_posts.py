"""Routine posts during a real emergency: held the moment it is declared (and when approved while it lasts),
never published silently afterwards — the PR office resumes or cancels each one. On SQLite and PostgreSQL."""

import csv
import io
import json
import threading
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from bot.models import OutboxItem
from bot.workflows.emergencies.models import Emergency, HeldPost
from bot.workflows.emergencies.service import EmergencyService, _hold
from bot.workflows.proposals import export
from bot.workflows.proposals.models import Proposal
from bot.workflows.proposals.service import ProposalService
from tests.conftest import TEST_START
from tests.emergency_support import (
    EMERGENCY_CHANNEL,
    approve,
    approve_routine,
    audit_actions,
    click,
    count_posts,
    declare,
    earthquake_then_tsunami,
    end_emergency,
    ephemerals,
    header,
    message_with,
    proposal_status,
    propose,
    publications,
    request_for,
    texts,
    views_opened,
    wait_for_modal,
    wait_updated,
)
from tests.harness.db_hold import Hold, beside

LIBRARY = "【図書館】年末年始の開館日のお知らせ。問い合わせ: 中央図書館 043-000-0000"


def held_rows(koho, proposal_id):
    with koho.db.read() as session:
        return [(h.emergency_id, h.status) for h in session.query(HeldPost).filter_by(proposal_id=proposal_id)
                .order_by(HeldPost.id)]


def review_message(koho, emergency_id):
    return message_with(koho, "C0PR", f"保留中の投稿の確認（緊急事態 #{emergency_id}）")


def test_declaring_holds_every_approved_routine_post_and_tells_its_proposer_and_the_pr_office(koho):
    handed_off = propose(koho)  # approved and handed off to its operators: not yet published
    approve_routine(koho, handed_off)
    hand_off = message_with(koho, "C0PR", "掲載依頼")
    scheduled = propose(koho, "U0STAFF2", text=LIBRARY, publish_at=int((TEST_START + timedelta(days=2)).timestamp()))
    approve_routine(koho, scheduled)
    waiting = propose(koho, "U0KENSETSU1", text="【お知らせ】道路清掃ボランティア募集。問い合わせ: 建設局 043-111-1111")

    emergency_id = declare(koho)
    assert proposal_status(koho, handed_off) == "on_hold" and proposal_status(koho, scheduled) == "on_hold"
    assert publications(koho, handed_off) == [("city-x", "held")]
    assert publications(koho, scheduled) == [("city-x", "held")]
    assert proposal_status(koho, waiting) == "pending"  # not approved yet: it is held if approved during it

    # The operators' hand-off says so, in place: nobody publishes it by mistake.
    wait_updated(koho, "C0PR", "保留")
    assert not any(b["type"] == "actions" for b in koho.fake.message("C0PR", hand_off["ts"])["blocks"])

    notice = message_with(koho, "C0PR", "平常投稿を保留しています")
    shown = texts(notice)
    assert "緊急事態 #1（地震: 市内で震度5強）が宣言されました" in shown and "保留した承認済みの投稿（2件）" in shown
    assert f"#{handed_off} 【粗大ごみの収集日変更】" in shown and f"#{scheduled} 【図書館】" in shown
    for proposer in ("U0STAFF1", "U0STAFF2"):
        (dm,) = koho.fake.wait_for("chat.postMessage", channel=proposer, timeout=10,  # DMs: one a second per person
                                   predicate=lambda c: c.ok and "保留" in c.args["text"])
        assert "緊急事態 #1（地震）の対応中のため掲載を保留しています" in dm.args["text"]
    assert "承認済みの平常投稿は保留中です（2件）" in texts(header(koho, emergency_id))
    assert audit_actions(koho, "proposal", handed_off)[-1] == "proposal.held"
    assert "emergency.posts_held" in audit_actions(koho, "emergency", emergency_id)


def test_a_routine_post_approved_while_it_lasts_is_held_not_handed_off(koho):
    emergency_id = declare(koho)
    notices = count_posts(koho, "C0PR")
    proposal_id = propose(koho)
    approve_routine(koho, proposal_id)
    assert proposal_status(koho, proposal_id) == "on_hold"
    assert publications(koho, proposal_id) == [("city-x", "held")]
    koho.fake.wait_for("chat.postMessage", channel="C0PR", predicate=lambda c: c.ok and "保留" in c.args["text"],
                       count=2)  # the declaration's notice, then this one
    assert "承認された投稿を保留しました" in texts(message_with(koho, "C0PR", "平常投稿を保留しています"))
    assert not any("掲載依頼" in m["text"] for m in koho.fake.messages("C0PR"))
    assert count_posts(koho, "C0PR") >= notices + 2  # its PR-office request, and the notice
    assert held_rows(koho, proposal_id) == [(emergency_id, "held")]
    wait_updated(koho, EMERGENCY_CHANNEL, "承認済みの平常投稿は保留中です（1件）")
    # The safety-net sweep finds nothing more to hold, and the hand-off sweep nothing to hand off.
    koho.clock.advance(timedelta(minutes=1))
    done = koho.sweep()
    assert done["emergencies.hold_routine_posts"] == 0 and done["proposals.hand_off"] == 0


def test_at_the_end_held_posts_are_listed_for_review_and_resumed_or_cancelled_one_by_one(koho):
    overdue = propose(koho)  # "as soon as approved": by the end its time has passed
    approve_routine(koho, overdue)
    later = propose(koho, "U0STAFF2", text=LIBRARY, publish_at=int((TEST_START + timedelta(days=2)).timestamp()))
    approve_routine(koho, later)
    unwanted = propose(koho, "U0KENSETSU1", text="【イベント】道路フェスタ開催！問い合わせ: 建設局 043-111-1111")
    approve_routine(koho, unwanted, "U0KENSETSUHEAD", "C0KENSETSU")
    emergency_id = declare(koho)
    koho.clock.advance(timedelta(hours=3))

    summary = end_emergency(koho, emergency_id)
    assert "*保留中の平常投稿 3件* は自動では再開しません。<#C0PR> で1件ずつ" in texts(summary)
    review = review_message(koho, emergency_id)
    shown = texts(review)
    assert "自動では再開しません" in shown and f"#{overdue} 【粗大ごみ" in shown and f"#{later} 【図書館】" in shown
    assert "掲載予定を過ぎています" in shown
    assert sum(1 for b in review["blocks"] if b["type"] == "actions") == 3
    for proposal_id in (overdue, later, unwanted):
        assert proposal_status(koho, proposal_id) == "on_hold"  # nothing resumed by itself

    # Only the PR office or on call decide.
    click(koho, "U0STAFF1", review, "emergency_held_resume", block_id=f"held_actions:{held_id(koho, later)}")
    assert "広報広聴課か当番だけ" in ephemerals(koho)[0]

    # Its time is still ahead: resumed as it was, handed off at its time.
    click(koho, "U0PR1", review, "emergency_held_resume", block_id=f"held_actions:{held_id(koho, later)}")
    wait_updated(koho, "C0PR", "再開 — <@U0PR1>")
    assert proposal_status(koho, later) == "approved" and publications(koho, later) == [("city-x", "scheduled")]

    # Its time has passed: a new one is asked for first (a past one is refused).
    before = views_opened(koho, "emergency_resume")
    click(koho, "U0PR2", review, "emergency_held_resume", block_id=f"held_actions:{held_id(koho, overdue)}")
    modal = wait_for_modal(koho, "emergency_resume", before, "U0PR2")
    assert "掲載予定（2026年11月24日(火) 10:00）は過ぎています" in texts(modal)
    past = koho.slack.view_submission("U0PR2", modal, {"emergency_publish_at": {
        "emergency_publish_at": int((koho.clock.now() - timedelta(hours=1)).timestamp())}}, strict=False)
    assert "掲載日時が過去です" in past.json()["errors"]["emergency_publish_at"]
    assert proposal_status(koho, overdue) == "on_hold"
    response = koho.slack.view_submission("U0PR2", modal, {"emergency_publish_at": {
        "emergency_publish_at": int(koho.clock.now().timestamp())}})
    assert response.body == ""
    assert proposal_status(koho, overdue) == "approved" and publications(koho, overdue) == [("city-x", "handed_off")]
    koho.fake.wait_for("chat.postMessage", channel="C0PR", count=2,
                       predicate=lambda c: c.ok and "掲載依頼" in c.args["text"])  # a fresh hand-off

    # Cancel: after Slack's own "are you sure?".
    cancel_button = next(e for b in review["blocks"] if b.get("block_id") == f"held_actions:{held_id(koho, unwanted)}"
                         for e in b["elements"] if e["action_id"] == "emergency_held_cancel")
    assert cancel_button["confirm"]["title"]["text"] == "投稿を取り消しますか？"
    click(koho, "U0ONCALL1", review, "emergency_held_cancel", block_id=f"held_actions:{held_id(koho, unwanted)}")
    wait_updated(koho, "C0PR", "取り消し — <@U0ONCALL1>")
    assert proposal_status(koho, unwanted) == "withdrawn" and publications(koho, unwanted) == [("city-x", "cancelled")]

    # A second click on a decided post is told who decided.
    koho.slack.block_action("U0PR2", "emergency_held_cancel", str(held_id(koho, later)), message=review,
                            strict=False)  # a client still showing the old buttons
    assert any("すでに <@U0PR1> が" in t and "再開しています" in t for t in ephemerals(koho, count=2))

    for proposer, told in (("U0STAFF1", "<@U0PR2> が再開しました"), ("U0STAFF2", "<@U0PR1> が再開しました"),
                           ("U0KENSETSU1", "<@U0ONCALL1> が取り消しました")):
        koho.fake.wait_for("chat.postMessage", channel=proposer, timeout=10,
                           predicate=lambda c, told=told: c.ok and told in c.args["text"])
    assert audit_actions(koho, "proposal", unwanted)[-1] == "proposal.cancelled"
    assert audit_actions(koho, "proposal", later)[-1] == "proposal.resumed"


def held_id(koho, proposal_id):
    with koho.db.read() as session:
        return session.query(HeldPost).filter_by(proposal_id=proposal_id).order_by(HeldPost.id.desc()).first().id


def test_nothing_resumes_while_another_real_emergency_still_runs(koho):
    proposal_id = propose(koho)
    approve_routine(koho, proposal_id)
    earthquake, tsunami = earthquake_then_tsunami(koho)

    # The earthquake ends first: its held post waits for the tsunami's end.
    before = views_opened(koho, "emergency_end_confirm")
    koho.slack.command("/emergency", "end", user_id="U0ONCALL1", channel_id=EMERGENCY_CHANNEL)
    modal = wait_for_modal(koho, "emergency_end_confirm", before, "U0ONCALL1")
    assert "終了する緊急事態" in texts(modal)  # two are running: which one?
    koho.slack.view_submission("U0ONCALL1", modal, {"emergency_which": {"emergency_which": str(earthquake)}})
    summary = message_with(koho, EMERGENCY_CHANNEL, f"緊急事態 #{earthquake} が終了しました")
    assert f"続いている緊急事態 #{tsunami} の終了時に確認します" in texts(summary)
    assert held_rows(koho, proposal_id) == [(earthquake, "carried_over"), (tsunami, "held")]
    assert proposal_status(koho, proposal_id) == "on_hold"
    assert not any("保留中の投稿の確認" in m["text"] for m in koho.fake.messages("C0PR"))

    end_emergency(koho, tsunami, "U0ONCALL2")
    review = review_message(koho, tsunami)
    assert f"#{proposal_id} 【粗大ごみ" in texts(review)


def test_a_real_emergency_declared_before_a_review_is_done_takes_over_the_waiting_posts(koho):
    proposal_id = propose(koho)
    approve_routine(koho, proposal_id)
    first = declare(koho)
    end_emergency(koho, first)
    review = review_message(koho, first)

    second = declare(koho, title="余震（震度5弱）")  # before anyone pressed 再開: it waits on, for this one
    assert held_rows(koho, proposal_id) == [(first, "carried_over"), (second, "held")]
    assert proposal_status(koho, proposal_id) == "on_hold"
    wait_updated(koho, "C0PR", "続いている別の緊急事態の終了時に確認します")
    assert not any(b["type"] == "actions" for b in koho.fake.message("C0PR", review["ts"])["blocks"])


def test_holding_is_conditional_a_post_changed_since_it_was_read_keeps_what_was_done(koho):
    """The hold is set at a time (one conditional UPDATE for all the posts): one published by someone
    else between the read and the hold is left as they left it — no hold record, no DM, its publication
    untouched — while the others are held."""
    changed = propose(koho)
    approve_routine(koho, changed)
    kept = propose(koho, "U0STAFF2", text=LIBRARY, publish_at=int((TEST_START + timedelta(days=2)).timestamp()))
    approve_routine(koho, kept)
    now = koho.clock.now()
    with koho.db.transaction() as session:
        emergency = Emergency(type="earthquake", title="市内で震度5強", drill=False, status="active",
                              declared_by="U0ONCALL1", declared_at=now, update_interval_minutes=60,
                              next_update_at=now + timedelta(hours=1))
        session.add(emergency)
        session.flush()
        read = session.scalars(select(Proposal).where(Proposal.id.in_([changed, kept])).order_by(Proposal.id)
                               .options(selectinload(Proposal.publications))).all()
        # Another process publishes `changed` meanwhile (what was read above is now stale).
        session.execute(update(Proposal).where(Proposal.id == changed)
                        .values(status="published", row_version=Proposal.row_version + 1)
                        .execution_options(synchronize_session=False))
        outbox_before = session.scalar(select(func.count(OutboxItem.id)))
        assert _hold(session, koho.services.org, emergency, list(read), now) == [kept]
        dms = session.scalars(select(OutboxItem.ref).where(OutboxItem.id > outbox_before,
                                                           OutboxItem.action == "dm")).all()
    assert [ref["proposal_id"] for ref in dms] == [kept]
    assert proposal_status(koho, changed) == "published" and proposal_status(koho, kept) == "on_hold"
    assert held_rows(koho, changed) == [] and held_rows(koho, kept) == [(emergency.id, "held")]
    assert publications(koho, changed) == [("city-x", "handed_off")]  # not held behind its operators' backs
    assert publications(koho, kept) == [("city-x", "held")]


# -- ending in the instant a post is held ---------------------------------------------------------------
# On PostgreSQL (READ COMMITTED) each transaction reads what was committed when its statement began: a hold and
# an end running side by side each saw the other's work as not yet done. The held transaction below is stopped
# just before it commits, until the other has committed; when the other must wait for it (a lock, or SQLite's
# one writer at a time), the hold gives up after two seconds and the two run one after the other.


def in_thread(target, *args, **kwargs):
    thread = threading.Thread(target=target, args=args, kwargs=kwargs)
    thread.start()
    return thread


def test_a_post_held_in_the_instant_the_emergency_ends_is_still_offered_for_review(koho):
    """The PR office approves a routine post as an on-call officer confirms 終了. The approval found the emergency
    active and held the post. Before, on PostgreSQL the end committed beside it, listed the held posts it could see
    (none) and posted no review: the post stayed on hold under an ended emergency, with no 再開 button anywhere."""
    proposal_id = propose(koho)
    approve(koho, "U0KANKYOHEAD", "C0KANKYO", proposal_id)
    emergency_id = declare(koho)
    request = request_for(koho, "C0PR", proposal_id)
    hold = Hold(koho.db, at_commit_of="INSERT INTO emergency_held_posts", release_after="UPDATE emergencies")
    try:
        assert click(koho, "U0PR1", request, "proposal_approve").status == 200
        assert hold.held.wait(10)  # held, not yet committed
        end_emergency(koho, emergency_id)
    finally:
        hold.remove()
    assert proposal_status(koho, proposal_id) == "on_hold"
    assert held_rows(koho, proposal_id) == [(emergency_id, "held")]
    review = review_message(koho, emergency_id)
    assert f"#{proposal_id} 【粗大ごみ" in texts(review)
    assert sum(1 for b in review["blocks"] if b["type"] == "actions") == 1  # 再開 / 取り消し


def test_a_post_the_sweep_holds_in_the_instant_the_emergency_ends_is_still_offered_for_review(koho):
    """The same for the safety-net sweep, which holds an approved routine post that slipped past a declaration."""
    proposal_id = propose(koho)
    approve_routine(koho, proposal_id)  # handed off: no emergency yet
    now = koho.clock.now()
    with koho.db.transaction() as session:  # declared in the same instant (its own hold did not see the post)
        emergency = Emergency(type="earthquake", title="市内で震度5強", drill=False, status="active",
                              declared_by="U0ONCALL1", declared_at=now, update_interval_minutes=60,
                              next_update_at=now + timedelta(hours=1))
        session.add(emergency)
    hold = Hold(koho.db, at_commit_of="INSERT INTO emergency_held_posts", release_after="UPDATE emergencies")
    try:
        sweeping = in_thread(koho.sweep)
        assert hold.held.wait(10)
        end_emergency(koho, emergency.id)
        sweeping.join()
    finally:
        hold.remove()
    assert proposal_status(koho, proposal_id) == "on_hold"
    assert held_rows(koho, proposal_id) == [(emergency.id, "held")]
    assert f"#{proposal_id} 【粗大ごみ" in texts(review_message(koho, emergency.id))


def test_two_emergencies_ended_at_once_leave_every_held_post_offered_for_review(koho):
    """Two real emergencies, each with a post held, ended by two officers at the same moment. Each end carries
    its held posts over to the other one, still running as far as it can see. Before, on PostgreSQL both
    committed: each post was carried over to an emergency that had ended, and no review listed either."""
    first_post = propose(koho)
    approve_routine(koho, first_post)
    earthquake, tsunami = earthquake_then_tsunami(koho)
    second_post = propose(koho, "U0STAFF2", text=LIBRARY)
    approve_routine(koho, second_post)  # held under the newer one
    assert held_rows(koho, first_post) == [(earthquake, "held")] and held_rows(koho, second_post) == [(tsunami, "held")]

    modals = {}
    for officer, which in (("U0ONCALL1", earthquake), ("U0ONCALL2", tsunami)):
        before = views_opened(koho, "emergency_end_confirm")
        koho.slack.command("/emergency", "end", user_id=officer, channel_id=EMERGENCY_CHANNEL)
        modals[which] = (officer, wait_for_modal(koho, "emergency_end_confirm", before, officer))

    def end(which):
        officer, modal = modals[which]
        response = koho.slack.view_submission(officer, modal, {"emergency_which": {"emergency_which": str(which)}})
        assert response.status == 200 and response.body == "", response.body

    hold = Hold(koho.db, at_commit_of="UPDATE emergencies", release_after="UPDATE emergencies")
    try:
        ending = in_thread(end, earthquake)
        assert hold.held.wait(10)
        end(tsunami)
        ending.join()
    finally:
        hold.remove()
    # The earthquake's end went first and carried its post over to the tsunami, whose end waited, then listed both.
    assert held_rows(koho, first_post) == [(earthquake, "carried_over"), (tsunami, "held")]
    assert held_rows(koho, second_post) == [(tsunami, "held")]
    shown = texts(review_message(koho, tsunami))
    assert f"#{first_post} 【粗大ごみ" in shown and f"#{second_post} 【図書館】" in shown
    assert proposal_status(koho, first_post) == proposal_status(koho, second_post) == "on_hold"


def test_a_post_left_on_hold_under_an_emergency_already_ended_is_offered_for_review_at_the_next_end(koho):
    """The safety net for posts the races above left behind before they were fixed: held under an emergency
    whose end never listed them (no review message, no button). The next real emergency to end lists them."""
    proposal_id = propose(koho)
    approve_routine(koho, proposal_id)
    running = declare(koho)
    now = koho.clock.now()
    with koho.db.transaction() as session:  # as the race left it: held under another one, ended without a review
        ended = Emergency(type="earthquake", title="余震", drill=False, status="ended", declared_by="U0ONCALL2",
                          declared_at=now, ended_by="U0ONCALL2", ended_at=now, update_interval_minutes=60)
        session.add(ended)
        session.flush()
        session.execute(update(HeldPost).where(HeldPost.proposal_id == proposal_id).values(emergency_id=ended.id))
    summary = end_emergency(koho, running)
    assert "*保留中の平常投稿 1件*" in texts(summary)
    assert held_rows(koho, proposal_id) == [(ended.id, "carried_over"), (running, "held")]
    review = review_message(koho, running)
    assert f"#{proposal_id} 【粗大ごみ" in texts(review)
    assert sum(1 for b in review["blocks"] if b["type"] == "actions") == 1


def test_cancelling_a_held_post_already_live_on_one_account_stops_the_rest_and_keeps_it_published(koho):
    """An approved post for X and LINE: X was posted (its URL recorded) before the emergency, LINE waits and is
    held. Cancelled at the review, it goes out nowhere else; the record says published (on X), not withdrawn."""
    proposal_id = propose(koho, accounts=("city-x", "city-line"))
    approve_routine(koho, proposal_id)
    koho.fake.wait_for("chat.postMessage", channel="C0PR", count=2,
                       predicate=lambda c: c.ok and "掲載依頼" in c.args.get("text", ""))
    x_hand_off = next(m for m in koho.fake.messages("C0PR") if "掲載依頼" in m["text"] and "公式X" in texts(m))
    click(koho, "U0PR1", x_hand_off, "proposal_mark_published")
    modal = wait_for_modal(koho, "proposal_published", 0, "U0PR1")
    assert koho.slack.view_submission("U0PR1", modal, {"url": {"url": "https://x.com/chiba_city/status/7"}}).body == ""
    assert publications(koho, proposal_id) == [("city-line", "handed_off"), ("city-x", "published")]

    emergency_id = declare(koho)
    assert proposal_status(koho, proposal_id) == "on_hold"
    end_emergency(koho, emergency_id)
    review = review_message(koho, emergency_id)
    click(koho, "U0PR2", review, "emergency_held_cancel", block_id=f"held_actions:{held_id(koho, proposal_id)}")
    wait_updated(koho, "C0PR", "取り消し — <@U0PR2>")

    assert proposal_status(koho, proposal_id) == "published"
    assert publications(koho, proposal_id) == [("city-line", "cancelled"), ("city-x", "published")]
    dm = message_with(koho, "U0STAFF1", "残りの投稿先への掲載")
    assert "千葉市 公式X には掲載済みのまま" in texts(dm)
    assert audit_actions(koho, "proposal", proposal_id)[-1] == "proposal.cancelled"


def test_a_post_cancelled_after_an_emergency_is_exported_as_the_pr_offices_decision_not_a_withdrawal(koho, org):
    """Held, then cancelled at the review, it ends "withdrawn" like a proposer's 取り下げ: the export says who
    cancelled it, under which emergency, and that it was held, and lists the cancelled publication."""
    proposal_id = propose(koho)
    approve_routine(koho, proposal_id)
    emergency_id = declare(koho)
    koho.clock.advance(timedelta(hours=3))
    end_emergency(koho, emergency_id)
    click(koho, "U0PR2", review_message(koho, emergency_id), "emergency_held_cancel",
          block_id=f"held_actions:{held_id(koho, proposal_id)}")
    wait_updated(koho, "C0PR", "取り消し — <@U0PR2>")

    (record,) = [r for r in export.proposal_records(koho.db, org) if r["id"] == proposal_id]
    assert record["status"] == "withdrawn"
    assert (record["closed_by"], record["closing_action"]) == ("U0PR2", "proposal.cancelled")
    assert record["closed_at"] == (TEST_START + timedelta(hours=3)).isoformat()  # 13:00+09:00
    held = next(e for e in record["audit"] if e["action"] == "proposal.held")
    cancelled = record["audit"][-1]
    assert held["details"]["emergency"] == emergency_id and cancelled["details"] == {"emergency": emergency_id}
    assert [(p["account"], p["status"]) for p in record["publications"]] == [("city-x", "cancelled")]
    (row,) = list(csv.DictReader(io.StringIO(export.to_csv(iter([record])))))
    assert row["closing_action"] == "proposal.cancelled" and row["closed_by"] == "U0PR2"
    assert row["publications"].startswith("city-x: cancelled, due ")
    assert [e["action"] for e in json.loads(row["audit"])][-3:] == [
        "publication.handed_off", "proposal.held", "proposal.cancelled"]


def test_a_held_post_withdrawn_as_the_pr_office_resumes_it_ends_one_way_not_in_an_error(koho):
    """The proposer withdraws a held post in the instant the PR office resumes it. The resumption takes the
    proposal's row first: one of the two happens and the other is told why not. Before, the resumption could
    check "on hold", then find the proposal withdrawn and fail with an error."""
    proposal_id = propose(koho)
    approve_routine(koho, proposal_id)
    emergency_id = declare(koho)
    end_emergency(koho, emergency_id)
    service = EmergencyService(koho.db, koho.services.org, koho.clock)
    proposals = ProposalService(koho.db, koho.services.org, koho.clock)
    hold = Hold(koho.db, at_statement="SELECT proposals", release_after="UPDATE proposals", thread_name="resumer")
    resumed, withdrawn = beside(hold, lambda: service.resume("U0PR1", held_id(koho, proposal_id)),
                                lambda: proposals.withdraw("U0STAFF1", proposal_id))
    assert not isinstance(resumed, Exception), f"the resumption ended in an error: {resumed!r}"
    # The withdrawal waits for the resumption (PostgreSQL: the proposal's row; SQLite: the one writer), then
    # withdraws the resumed post: both were told what happened, and the record says it in that order.
    assert resumed.result == "done" and withdrawn is None
    assert proposal_status(koho, proposal_id) == "withdrawn"
    record = audit_actions(koho, "proposal", proposal_id)
    assert record.index("proposal.resumed") < record.index("proposal.withdrawn") == len(record) - 1
