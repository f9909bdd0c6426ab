"""Gaps a review of the proposal flow found (issue 3), each driven through signed requests on both databases."""

import threading

from bot.handlers.proposal_ids import ProposalAction
from bot.workflows.proposals.models import Proposal, ProposalVersion
from tests.test_proposals import (
    audit_actions,
    click,
    ephemeral_text,
    form_values,
    open_form,
    propose,
    request_message,
    steps_of,
    texts,
)


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
