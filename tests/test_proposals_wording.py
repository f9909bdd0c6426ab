"""What a proposer and an approver read when a click comes late: states in words, times as they really are."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.handlers.errors import refusal_text
from bot.handlers.proposal_ids import ProposalAction
from bot.i18n import Translator
from bot.workflows.proposals.service import ProposalError
from tests.test_proposals import (
    ALL_CHECKED,
    GOMI_TEXT,
    click,
    ephemeral_text,
    form_values,
    open_form,
    propose,
    request_message,
    texts,
)
from tests.test_proposals_lifecycle import hand_off_message
from tests.test_proposals_review import send_back

TOKYO = ZoneInfo("Asia/Tokyo")


def edit_form(koho, dm, count):
    click(koho, "U0STAFF1", dm, ProposalAction.EDIT)
    koho.fake.wait_for("views.open", count=count, predicate=lambda c: "resubmit" in c.args["view"]["private_metadata"])
    return koho.fake.last_view()


def test_editing_again_after_resubmitting_names_the_state_in_words(koho):
    propose(koho)
    dm = send_back(koho, request_message(koho, "C0KANKYO"), "日付を確認")
    first, second = edit_form(koho, dm, 1), edit_form(koho, dm, 2)  # two forms open from the same DM
    new_text = {"text": {"text": GOMI_TEXT + "（修正）"}, **ALL_CHECKED}
    assert koho.slack.view_submission("U0STAFF1", first, new_text).body == ""

    # The other form, submitted too: a field error in words, not a status code.
    error = koho.slack.view_submission("U0STAFF1", second, new_text).json()["errors"]["text"]
    assert error == "この起案は差し戻し中ではありません（現在: 承認待ち）。"

    # The old DM's button, pressed again.
    click(koho, "U0STAFF1", dm, ProposalAction.EDIT)
    assert ephemeral_text(koho, "U0STAFF1") == "この起案は差し戻し中ではありません（現在: 承認待ち）。"


def test_the_state_is_named_in_english_for_english_speakers(koho):
    propose(koho)
    dm = send_back(koho, request_message(koho, "C0KANKYO"), "日付を確認")
    koho.services.locales.set_explicit("U0STAFF1", "en")
    assert koho.slack.view_submission("U0STAFF1", edit_form(koho, dm, 1),
                                      {"text": {"text": GOMI_TEXT + "（修正）"}, **ALL_CHECKED}).body == ""
    click(koho, "U0STAFF1", dm, ProposalAction.EDIT)
    text = ephemeral_text(koho, "U0STAFF1")
    assert text == "This proposal is not waiting for changes (now: Awaiting approval)."


def test_every_refusal_names_a_state_in_the_readers_words():
    refusal = ProposalError("proposal.refused.invalid_transition", status="approved")
    assert refusal_text(Translator("ja"), refusal) == "この起案は現在の状態（承認済み（掲載待ち））ではその操作ができません。"
    assert "(Approved" in refusal_text(Translator("en"), refusal, plain=True)


# -- a requested publish time already past when it is approved ---------------------------------


def test_a_requested_time_past_at_approval_is_flagged_and_the_real_time_is_told(koho):
    requested = datetime(2026, 11, 24, 11, 0, tzinfo=TOKYO)  # proposed at 10:00 the same morning
    view = open_form(koho)
    assert koho.slack.view_submission("U0STAFF1", view, {
        **form_values(), "publish_at": {"publish_at": int(requested.timestamp())}}).body == ""
    first = request_message(koho, "C0KANKYO")
    assert "掲載希望:* 2026年11月24日(火) 11:00" in texts(first) and "過ぎています" not in texts(first)

    koho.clock.set(datetime(2026, 11, 26, 10, 0, tzinfo=TOKYO))  # two days later
    click(koho, "U0KANKYOHEAD", first, ProposalAction.APPROVE)
    pr_request = request_message(koho, "C0PR")
    assert "掲載希望日時を過ぎています" in texts(pr_request)
    click(koho, "U0PR1", pr_request, ProposalAction.APPROVE)

    (dm,) = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1",
                               predicate=lambda c: "が承認されました" in c.args["text"])
    assert ("掲載予定: 2026年11月26日(木) 10:00（掲載希望の 2026年11月24日(火) 11:00 を過ぎていたため、承認後すぐ）"
            in dm.args["text"])
    hand_off = texts(hand_off_message(koho, "C0PR"))
    assert "掲載予定:* 2026年11月26日(木) 10:00（掲載希望 2026年11月24日(火) 11:00 を過ぎて承認されたため" in hand_off


def test_a_waiting_request_says_so_once_its_requested_time_passes_without_anyone_clicking(koho):
    requested = datetime(2026, 11, 24, 11, 0, tzinfo=TOKYO)  # proposed at 10:00 the same morning
    assert koho.slack.view_submission("U0STAFF1", open_form(koho), {
        **form_values(), "publish_at": {"publish_at": int(requested.timestamp())}}).body == ""
    request = request_message(koho, "C0KANKYO")
    koho.clock.set(datetime(2026, 11, 24, 10, 59, tzinfo=TOKYO))
    assert koho.sweep()["proposals.show_passed_publish_times"] == 0

    koho.clock.set(datetime(2026, 11, 24, 11, 1, tzinfo=TOKYO))  # nobody has acted on it: the sweep redraws it
    assert koho.sweep()["proposals.show_passed_publish_times"] == 1
    koho.fake.wait_for("chat.update", channel="C0KANKYO", predicate=lambda c: c.ok and c.args["ts"] == request["ts"]
                       and "掲載希望日時を過ぎています" in json.dumps(c.args["blocks"], ensure_ascii=False))
    shown = koho.fake.message("C0KANKYO", request["ts"])
    assert "承認されると、すぐに掲載担当に引き継ぎます" in texts(shown)
    assert any(e["action_id"] == ProposalAction.APPROVE for b in shown["blocks"] if b["type"] == "actions"
               for e in b["elements"])  # still waiting: still its buttons
    koho.clock.set(datetime(2026, 11, 24, 12, 0, tzinfo=TOKYO))
    assert koho.sweep()["proposals.show_passed_publish_times"] == 0  # once

    # The PR office's request, asked for after the time, said so from the start: it is not redrawn.
    click(koho, "U0KANKYOHEAD", shown, ProposalAction.APPROVE)
    assert "掲載希望日時を過ぎています" in texts(request_message(koho, "C0PR"))
    updates = len(koho.fake.calls_to("chat.update", channel="C0PR"))
    assert koho.sweep()["proposals.show_passed_publish_times"] == 0
    assert len(koho.fake.calls_to("chat.update", channel="C0PR")) == updates


def test_a_requested_time_still_ahead_reads_as_before(koho):
    requested = datetime(2026, 11, 27, 9, 0, tzinfo=TOKYO)
    view = open_form(koho)
    assert koho.slack.view_submission("U0STAFF1", view, {
        **form_values(), "publish_at": {"publish_at": int(requested.timestamp())}}).body == ""
    click(koho, "U0KANKYOHEAD", request_message(koho, "C0KANKYO"), ProposalAction.APPROVE)
    pr_request = request_message(koho, "C0PR")
    assert "過ぎています" not in texts(pr_request)
    click(koho, "U0PR1", pr_request, ProposalAction.APPROVE)
    (dm,) = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1",
                               predicate=lambda c: "が承認されました" in c.args["text"])
    assert "掲載予定: 2026年11月27日(金) 09:00。掲載担当に引き継ぎます。" in dm.args["text"]
