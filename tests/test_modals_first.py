"""Every button or command that opens a modal opens it before asking Slack anything else: the trigger_id
lives 3 seconds, and the day Slack is slow (an emergency) a language look-up first would spend them."""

import logging

import pytest

from bot.handlers.account_ids import AccountAction
from bot.handlers.comment_ids import CommentAction
from tests.comments_support import message_showing, receive
from tests.emergency_support import EMERGENCY_CHANNEL, checklist, declare, step_ids
from tests.emergency_support import click as click_emergency
from tests.modal_support import opened_before_asking
from tests.test_accounts import NEW_ACCOUNT, open_add_form, posted
from tests.test_comments_slack import click as click_comment
from tests.test_proposals import click as click_account


def test_ending_an_emergency(koho):
    declare(koho)
    opened_before_asking(koho, "U0ONCALL1", "emergency_end_confirm", lambda: koho.slack.command(
        "/emergency", "end", user_id="U0ONCALL1", channel_id=EMERGENCY_CHANNEL))


def test_a_note_on_a_checklist_step(koho):
    emergency_id = declare(koho)
    items, step = checklist(koho, emergency_id), step_ids(koho, emergency_id)[1]
    opened_before_asking(koho, "U0ONCALL1", "emergency_note", lambda: click_emergency(
        koho, "U0ONCALL1", items, "emergency_step_note", block_id=f"step_actions:{step}"))


def test_the_account_form(koho):
    opened_before_asking(koho, "U0PR1", "account_form", lambda: koho.slack.command(
        "/koho", "accounts add", user_id="U0PR1", channel_id="C0PR"))


def test_the_reason_for_rejecting_an_account_change(koho):
    assert koho.slack.view_submission("U0PR1", open_add_form(koho), NEW_ACCOUNT).status == 200
    request = posted(koho, "C0PR", "アカウント開設申請")
    opened_before_asking(koho, "U0PR2", "account_change_reject_reason", lambda: click_account(
        koho, "U0PR2", request, AccountAction.REJECT_CHANGE))


def test_reassigning_a_citizens_comment(koho):
    comment_id = receive(koho, "ごみステーションの横の歩道が壊れています")
    message = message_showing(koho, "C0KANKYO", comment_id)
    opened_before_asking(koho, "U0STAFF1", "comment_reassign", lambda: click_comment(
        koho, "U0STAFF1", message, CommentAction.REASSIGN))


@pytest.mark.parametrize("error", ["hash_conflict", "not_found"])
def test_a_modal_that_cannot_be_redrawn_in_their_language_stays_open_without_an_error(koho, caplog, error):
    koho.fake.users["U0STAFF2"] = {"id": "U0STAFF2", "locale": "en-US"}
    koho.fake.fail("views.update", 200, error=error)  # they typed meanwhile, or closed it
    with caplog.at_level(logging.INFO):
        koho.slack.command("/propose-post", "", user_id="U0STAFF2")
        (update,) = koho.fake.wait_for("views.update")
        koho.wait_for_listeners()
    assert update.error == error and koho.fake.last_view("U0STAFF2")["title"]["text"] == "投稿の起案"
    assert not koho.fake.calls_to("response_url") and not koho.fake.calls_to("chat.postEphemeral")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"stays in ja: {error}" in caplog.text
