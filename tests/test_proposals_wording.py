"""What a proposer and an approver read when a click comes late: states in words, times as they really are."""

from bot.handlers.errors import refusal_text
from bot.handlers.proposal_ids import ProposalAction
from bot.i18n import Translator
from bot.workflows.proposals.service import ProposalError
from tests.test_proposals import ALL_CHECKED, GOMI_TEXT, click, ephemeral_text, propose, request_message
from tests.test_proposals_review import send_back


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
