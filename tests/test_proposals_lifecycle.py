"""After the first decision: reminders and escalation, publication hand-off, corrections, App Home, export."""

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.handlers.proposal_ids import ProposalAction
from bot.workflows.proposals import export
from bot.workflows.proposals.models import Proposal, Publication
from tests.conftest import ROOT, test_environ
from tests.test_proposals import (
    ALL_CHECKED,
    audit_actions,
    click,
    ephemeral_text,
    form_values,
    open_form,
    propose,
    request_message,
    texts,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def approve_all(koho, proposal_id):
    click(koho, "U0KANKYOHEAD", request_message(koho, "C0KANKYO"), ProposalAction.APPROVE)
    click(koho, "U0PR1", request_message(koho, "C0PR"), ProposalAction.APPROVE)


def hand_off_message(koho, channel="C0PR", count=1):
    koho.fake.wait_for("chat.postMessage", channel=channel, count=count,
                       predicate=lambda c: c.ok and "掲載依頼" in c.args.get("text", ""))
    return [m for m in koho.fake.messages(channel) if "掲載依頼" in m["text"]][-1]


def record_publication(koho, user, message, url):
    click(koho, user, message, ProposalAction.MARK_PUBLISHED)
    koho.fake.wait_for("views.open", predicate=lambda c: c.args["view"]["callback_id"] == "proposal_published")
    modal = koho.fake.last_view()
    return koho.slack.view_submission(user, modal, {"url": {"url": url}}, strict=False)


# -- reminders and escalation -----------------------------------------------------------------


def test_a_waiting_step_reminds_once_after_four_business_hours_then_escalates(koho):
    proposal_id = propose(koho)  # Tuesday 10:00 in Chiba
    request = request_message(koho, "C0KANKYO")
    koho.clock.advance(timedelta(hours=3, minutes=59))
    assert koho.sweep()["proposals.remind_and_escalate"] == 0
    koho.clock.advance(timedelta(minutes=1))  # 14:00: four office hours
    assert koho.sweep()["proposals.remind_and_escalate"] == 1
    assert koho.sweep()["proposals.remind_and_escalate"] == 0  # once only
    reminder = koho.fake.wait_for("chat.postMessage", channel="C0KANKYO", count=2, predicate=lambda c: c.ok)[-1]
    assert reminder.args["thread_ts"] == request["ts"]
    assert "<@U0KANKYOHEAD>" in reminder.args["text"] and "4時間以上" in reminder.args["text"]

    # Eight office hours: 10:00 Tue -> 17:15 Tue is 7.25 h, so 09:15 Wednesday.
    koho.clock.set(datetime(2026, 11, 25, 9, 14, tzinfo=TOKYO))
    assert koho.sweep()["proposals.remind_and_escalate"] == 0
    koho.clock.set(datetime(2026, 11, 25, 9, 15, tzinfo=TOKYO))
    assert koho.sweep()["proposals.remind_and_escalate"] == 1
    escalation = koho.fake.wait_for("chat.postMessage", channel="C0PR", predicate=lambda c: c.ok)[-1]
    assert "<@U0PR1>" in escalation.args["text"] and "環境局" in escalation.args["text"]
    assert "archives/C0KANKYO/p" in escalation.args["text"]  # a link to the waiting request
    assert audit_actions(koho, proposal_id)[-2:] == ["step.reminded", "step.escalated"]


def test_nights_weekends_and_holidays_do_not_count(koho):
    koho.clock.set(datetime(2026, 11, 20, 16, 0, tzinfo=TOKYO))  # Friday 16:00; Monday 23rd is a holiday
    propose(koho)
    request_message(koho, "C0KANKYO")
    koho.clock.set(datetime(2026, 11, 24, 11, 14, tzinfo=TOKYO))  # Tuesday 11:14: 1.25 + 2.73 h
    assert koho.sweep()["proposals.remind_and_escalate"] == 0
    koho.clock.set(datetime(2026, 11, 24, 11, 15, tzinfo=TOKYO))
    assert koho.sweep()["proposals.remind_and_escalate"] == 1


def test_a_decided_step_is_never_reminded(koho):
    propose(koho)
    click(koho, "U0KANKYOHEAD", request_message(koho, "C0KANKYO"), ProposalAction.APPROVE)
    koho.fake.wait_for("chat.update", channel="C0KANKYO")
    koho.clock.advance(timedelta(hours=5))
    koho.sweep()
    reminders = [c for c in koho.fake.calls_to("chat.postMessage", channel="C0KANKYO") if c.args.get("thread_ts")]
    assert reminders == []


# -- publication hand-off ---------------------------------------------------------------------


def test_after_approval_the_post_is_handed_off_and_the_record_closes_with_its_url(koho):
    proposal_id = propose(koho)
    approve_all(koho, proposal_id)
    message = hand_off_message(koho, "C0PR")  # city-x belongs to the PR office
    shown = texts(message)
    assert "千葉市 公式X" in shown and "粗大ごみ収集は第2・第4水曜日" in shown and "<@U0KANKYOHEAD>" in shown

    click(koho, "U0STAFF1", message, ProposalAction.MARK_PUBLISHED)  # not the account's people
    assert "担当部署または広報広聴課" in ephemeral_text(koho, "U0STAFF1")

    bad = record_publication(koho, "U0PR2", message, "not a url")
    assert "URL" in bad.json()["errors"]["url"]
    good = koho.slack.view_submission("U0PR2", koho.fake.last_view(),
                                      {"url": {"url": "https://x.com/chiba_city/status/1"}}, strict=False)
    assert good.status == 200 and good.body == ""
    koho.fake.wait_for("chat.update", channel="C0PR", predicate=lambda c: "掲載済み" in json.dumps(
        c.args.get("blocks"), ensure_ascii=False))
    updated = koho.fake.message("C0PR", message["ts"])
    assert "https://x.com/chiba_city/status/1" in texts(updated) and "訂正する" in texts(updated)
    with koho.db.read() as session:
        proposal = session.get(Proposal, proposal_id)
        assert proposal.status == "published" and proposal.published_at == koho.clock.now()
    dm = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: "掲載されました" in c.args["text"])
    assert "https://x.com/chiba_city/status/1" in dm[0].args["text"]
    assert audit_actions(koho, proposal_id)[-2:] == ["publication.published", "proposal.published"]


def test_a_post_with_a_publish_time_is_handed_off_at_that_time(koho):
    at = koho.clock.now() + timedelta(days=2)
    view = open_form(koho)
    values = form_values(accounts=("kankyo-instagram",))
    values["publish_at"] = {"publish_at": int(at.timestamp())}
    assert koho.slack.view_submission("U0STAFF1", view, values).body == ""
    approve_all(koho, None)
    koho.fake.wait_for("chat.update", channel="C0PR")
    koho.clock.advance(timedelta(days=1))
    assert koho.sweep()["proposals.hand_off"] == 0
    koho.clock.advance(timedelta(days=1))
    assert koho.sweep()["proposals.hand_off"] == 1
    message = hand_off_message(koho, "C0KANKYO")  # the Instagram account belongs to 環境局
    assert "千葉市 環境局 Instagram" in texts(message)


# -- corrections ------------------------------------------------------------------------------


def published_original(koho):
    """A post proposed, approved and recorded as published; returns its id and its 訂正する message."""
    original_id = propose(koho)
    approve_all(koho, original_id)
    message = hand_off_message(koho, "C0PR")
    record_publication(koho, "U0PR1", message, "https://x.com/chiba_city/status/1")
    koho.fake.wait_for("chat.update", channel="C0PR", predicate=lambda c: "訂正する" in json.dumps(
        c.args.get("blocks"), ensure_ascii=False))
    return original_id, koho.fake.message("C0PR", message["ts"])


def test_a_published_post_is_corrected_through_the_pr_office_with_the_original_beside_it(koho):
    original_id, published = published_original(koho)

    click(koho, "U0STAFF1", published, ProposalAction.CORRECT)
    koho.fake.wait_for("views.open", predicate=lambda c: c.args["view"]["title"]["text"] == "訂正の起案")
    form = koho.fake.last_view()
    assert "訂正する元の投稿" in texts(form)
    corrected = "【訂正】12月の粗大ごみ収集は第1・第3水曜日です。お詫びして訂正します。問い合わせ: 環境局 043-245-5000"
    missing_note = koho.slack.view_submission("U0STAFF1", form, {"text": {"text": corrected}, **ALL_CHECKED},
                                              strict=False)
    assert "何が誤りで" in missing_note.json()["errors"]["correction_note"]
    response = koho.slack.view_submission("U0STAFF1", form, {
        "text": {"text": corrected}, "correction_note": {"correction_note": "収集日を誤って掲載（11/24 10:00から）"},
        **ALL_CHECKED})
    assert response.body == ""

    request = [m for m in koho.fake.messages("C0KANKYO") if "承認依頼" in m["text"]][-1]
    koho.fake.wait_for("chat.postMessage", channel="C0KANKYO", count=2, predicate=lambda c: c.ok)
    request = [m for m in koho.fake.messages("C0KANKYO") if "承認依頼" in m["text"]][-1]
    shown = texts(request)
    assert "訂正前（掲載済み）" in shown and "第2・第4水曜日" in shown and "第1・第3水曜日" in shown
    assert "https://x.com/chiba_city/status/1" in shown and "収集日を誤って掲載" in shown
    assert "元の投稿の掲載先:* 千葉市 公式X" in shown and "まだ掲載されていない" not in shown  # live everywhere
    fields = next(b for b in request["blocks"] if b.get("fields"))  # side by side: two columns
    assert len(fields["fields"]) == 2
    with koho.db.read() as session:
        correction = session.query(Proposal).order_by(Proposal.id.desc()).first()
        assert (correction.kind, correction.corrects_id) == ("correction", original_id)
        assert [s.stage for s in correction.steps] == ["department", "pr_office"]
        assert session.get(Proposal, original_id).status == "published"  # the original is kept as it was


# -- App Home ---------------------------------------------------------------------------------


def test_app_home_shows_my_proposals_and_what_waits_for_me(koho):
    propose(koho, "U0STAFF1")
    request_message(koho, "C0KANKYO")
    koho.slack.event({"type": "app_home_opened", "user": "U0KANKYOHEAD", "tab": "home"})
    koho.slack.event({"type": "app_home_opened", "user": "U0STAFF1", "tab": "home"})
    koho.fake.wait_for("views.publish", user_id="U0KANKYOHEAD")
    koho.fake.wait_for("views.publish", user_id="U0STAFF1")
    head_home = json.dumps(koho.fake.home_views["U0KANKYOHEAD"], ensure_ascii=False)
    staff_home = json.dumps(koho.fake.home_views["U0STAFF1"], ensure_ascii=False)
    assert "あなたの承認待ち" in head_home and "粗大ごみの収集日変更" in head_home and "所属長承認" in head_home
    assert "あなたの起案" in staff_home and "承認待ち" in staff_home and "粗大ごみの収集日変更" in staff_home
    assert "承認待ちはありません" in staff_home  # staff approve nothing


def test_proposing_from_app_home(koho):
    koho.slack.event({"type": "app_home_opened", "user": "U0STAFF1", "tab": "home"})
    koho.fake.wait_for("views.publish", user_id="U0STAFF1")
    home = koho.fake.home_views["U0STAFF1"]
    koho.slack.block_action("U0STAFF1", ProposalAction.NEW, "home", view=home)
    koho.fake.wait_for("views.open")
    assert koho.fake.last_view()["callback_id"] == "proposal_form"


# -- the record, exported ---------------------------------------------------------------------


def test_export_writes_every_version_and_decision(koho, tmp_path):
    proposal_id = propose(koho)
    request = request_message(koho, "C0KANKYO")
    click(koho, "U0KANKYOHEAD", request, ProposalAction.REQUEST_CHANGES)
    koho.fake.wait_for("views.open", count=2)
    koho.slack.view_submission("U0KANKYOHEAD", koho.fake.last_view(), {"reason": {"reason": "日付を確認"}})
    koho.fake.wait_for("chat.update", channel="C0KANKYO")
    env = {**test_environ(koho.fake, koho.settings.database_url), "PATH": "/usr/bin:/bin"}
    out = tmp_path / "proposals.csv"
    result = subprocess.run([sys.executable, "-m", "bot", "export", "proposals", "--format", "csv",
                             "--output", str(out), "--since", "2026-11-01"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    (row,) = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))  # with a BOM, for Excel
    assert row["proposal_id"] == str(proposal_id) and row["version"] == "1"
    assert row["decisions"] == ("department: changes_requested by U0KANKYOHEAD at 2026-11-24T10:00:00+09:00, "
                                "requested 2026-11-24T10:00:00+09:00 (日付を確認); pr_office: cancelled")
    assert "粗大ごみ" in row["text"]
    as_json = subprocess.run([sys.executable, "-m", "bot", "export", "proposals", "--format", "json",
                              "--since", "2027-01-01"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert json.loads(as_json.stdout) == []
    everything = json.loads(subprocess.run([sys.executable, "-m", "bot", "export", "proposals", "--format", "json"],
                                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60).stdout)
    assert [e["action"] for e in everything[0]["audit"]][:2] == ["proposal.submitted", "step.requested"]
    step_id = everything[0]["audit"][1]["details"]["step"]  # which step was asked: the details are kept
    assert everything[0]["audit"][1]["details"] == {"step": step_id, "stage": "department", "version": 1}
    bad = subprocess.run([sys.executable, "-m", "bot", "export", "proposals", "--since", "yesterday"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_a_withdrawn_proposal_is_exported_with_who_closed_it_when_and_its_whole_trail(koho, org):
    """取り下げ: the row says who ended it and how, not only "department: cancelled"; the audit cell has every
    event with its details."""
    proposal_id = propose(koho)
    request_message(koho, "C0KANKYO")
    koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: c.ok)
    koho.clock.advance(timedelta(hours=1))
    click(koho, "U0STAFF1", koho.fake.dms("U0STAFF1")[-1], ProposalAction.WITHDRAW)
    assert "取り下げました" in ephemeral_text(koho, "U0STAFF1")

    (record,) = export.proposal_records(koho.db, org)
    assert record["id"] == proposal_id
    assert (record["closed_at"], record["closed_by"], record["closing_action"]) == (
        "2026-11-24T11:00:00+09:00", "U0STAFF1", "proposal.withdrawn")
    assert record["updated_at"] == "2026-11-24T11:00:00+09:00"
    (row,) = list(csv.DictReader(io.StringIO(export.to_csv(iter([record])))))
    assert row["status"] == "withdrawn" and row["closing_action"] == "proposal.withdrawn"
    assert row["closed_by"] == "U0STAFF1" and row["closed_at"] == "2026-11-24T11:00:00+09:00"
    assert row["decisions"] == "department: cancelled, requested 2026-11-24T10:00:00+09:00; pr_office: cancelled"
    trail = json.loads(row["audit"])
    assert [(e["action"], e["actor"], e["at"]) for e in trail] == [
        ("proposal.submitted", "U0STAFF1", "2026-11-24T10:00:00+09:00"),
        ("step.requested", "system", "2026-11-24T10:00:00+09:00"),
        ("proposal.withdrawn", "U0STAFF1", "2026-11-24T11:00:00+09:00"),
    ]
    assert trail[1]["details"]["stage"] == "department" and trail[2]["from"] == "pending"


def test_publication_rows_exist_per_account(koho):
    proposal_id = propose(koho, accounts=("city-x", "city-line"))
    approve_all(koho, proposal_id)
    hand_off_message(koho, "C0PR", count=2)
    with koho.db.read() as session:
        rows = session.query(Publication).filter_by(proposal_id=proposal_id).all()
        assert sorted((p.account_id, p.status) for p in rows) == [("city-line", "handed_off"), ("city-x", "handed_off")]
