"""Gaps a review of the proposal flow found (issue 3), each driven through signed requests on both databases."""

import threading

from bot.workflows.proposals.models import Proposal, ProposalVersion
from tests.test_proposals import audit_actions, form_values, open_form


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
