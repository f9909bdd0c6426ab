"""Storing a proposal is what a person waits for (the form stays open until it is stored): it writes its rows
and reads nothing it has just written itself. Its first step was once written, read back through the new
proposal's list of steps (to learn who had decided its others: nobody), and written again for the moment of its
request."""

from datetime import timedelta

from sqlalchemy import select

from bot.workflows.proposals.models import ApprovalStep
from bot.workflows.proposals.rules import CHECKLIST, Decision, Draft, StepStatus
from bot.workflows.proposals.service import ProposalService
from tests.test_sweep_statements import statements_run

DRAFT = Draft(text="【お知らせ】粗大ごみの収集日が変わります。", accounts=("city-x",), department_id="kankyo",
              checklist=CHECKLIST)


def steps_of(database, proposal_id) -> list[tuple[int, str, object]]:
    with database.read() as session:
        return session.execute(select(ApprovalStep.version_number, ApprovalStep.status, ApprovalStep.requested_at)
                               .where(ApprovalStep.proposal_id == proposal_id).order_by(ApprovalStep.id)).all()


def test_a_new_proposal_is_stored_without_reading_or_rewriting_its_steps(database, org, clock):
    service = ProposalService(database, org, clock)
    service.submit("U0STAFF1", DRAFT, submission_key="slack-view:V0WARM")  # the statements compiled once
    proposal_ids: list[int] = []
    run = statements_run(database, lambda: proposal_ids.append(
        service.submit("U0STAFF1", DRAFT, submission_key="slack-view:V0NEW")))
    on_steps = [s for s in run if "approval_steps" in s]
    assert [s.split()[0] for s in on_steps] == ["INSERT"] * len(on_steps), on_steps
    assert steps_of(database, proposal_ids[0]) == [(1, StepStatus.PENDING, clock.now()), (1, StepStatus.WAITING, None)]


def test_a_new_version_asks_its_first_step_from_the_moment_it_was_sent(database, org, clock):
    service = ProposalService(database, org, clock)
    proposal_id = service.submit("U0STAFF1", DRAFT)
    with database.read() as session:
        first = session.scalar(select(ApprovalStep.id).where(ApprovalStep.proposal_id == proposal_id))
    service.decide("U0KANKYOHEAD", first, Decision.REQUEST_CHANGES, reason="日付を")
    clock.advance(timedelta(hours=2))
    service.resubmit("U0STAFF1", proposal_id, DRAFT)
    asked_at = clock.now()
    assert steps_of(database, proposal_id)[2:] == [(2, StepStatus.PENDING, asked_at), (2, StepStatus.WAITING, None)]
