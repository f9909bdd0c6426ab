"""App Home's "waiting for my approval": the narrow query gives what the approval rule says, step by step."""

from datetime import timedelta

from sqlalchemy import select

from bot.workflows.proposals.models import ApprovalStep
from bot.workflows.proposals.rules import CHECKLIST, Decision, Draft, StepStatus
from bot.workflows.proposals.service import ProposalService, step_approvers_of, steps_awaiting


def draft(department_id="kankyo", kind="normal"):
    return Draft(text="【お知らせ】粗大ごみの収集日が変わります。", accounts=("city-x",), department_id=department_id,
                 kind=kind, checklist=CHECKLIST)


def pending_step(database, proposal_id):
    with database.read() as session:
        return session.scalar(select(ApprovalStep.id).where(ApprovalStep.proposal_id == proposal_id,
                                                            ApprovalStep.status == StepStatus.PENDING))


def test_each_person_is_shown_exactly_the_steps_the_approval_rule_lets_them_decide(database, org, clock):
    service = ProposalService(database, org, clock)
    service.submit("U0STAFF1", draft())  # the department's heads
    service.submit("U0KENSETSUHEAD", draft("kensetsu"))  # its only approver proposed: the PR office stands in
    service.submit("U0KANKYOHEAD", draft())  # the other head of the department only
    at_pr = service.submit("U0STAFF2", draft())
    service.decide("U0KANKYOHEAD", pending_step(database, at_pr), Decision.APPROVE)  # now the PR office's
    by_pr = service.submit("U0PR1", draft())
    service.decide("U0KANKYOHEAD2", pending_step(database, by_pr), Decision.APPROVE)  # the PR office but U0PR1
    service.submit("U0STAFF1", draft(kind="emergency"), emergency_active=True)  # fast track: PR office, on call
    done = service.submit("U0STAFF2", draft("kensetsu"))
    service.decide("U0KENSETSUHEAD", pending_step(database, done), Decision.REJECT, reason="重複")  # nobody's

    people = {*org.pr_office.approvers, *org.on_call, "U0STRANGER"}
    for department in org.departments:
        people |= {*department.approvers, *department.members}
    with database.read() as session:
        pending = session.scalars(select(ApprovalStep).where(ApprovalStep.status == StepStatus.PENDING)
                                  .order_by(ApprovalStep.id.desc())).all()
        assert len(pending) == 6
        for person in sorted(people):
            expected = [s.id for s in pending if person in step_approvers_of(s, org)]
            assert [s.id for s in steps_awaiting(session, org, person, limit=50)] == expected, person
        assert len(steps_awaiting(session, org, "U0PR2", limit=50)) == 4  # the stand-in, two at its stage, fast track
        assert [s.id for s in steps_awaiting(session, org, "U0PR2", limit=2)] == [
            s.id for s in pending if "U0PR2" in step_approvers_of(s, org)][:2]


def test_steps_beyond_a_page_of_ones_the_person_may_not_decide_are_still_found(database, org, clock, monkeypatch):
    """A head who proposed many posts himself sees, under them, the older ones he may decide: the candidates
    are read a page at a time, and a page of his own (which the other head decides) does not end the search."""
    monkeypatch.setattr("bot.workflows.proposals.service.AWAITING_PAGE", 1)
    service = ProposalService(database, org, clock)
    older = [service.submit("U0STAFF1", draft()) for _ in range(2)]
    own = [service.submit("U0KANKYOHEAD", draft()) for _ in range(5)]  # limit 2: pages of 4
    with database.read() as session:
        shown = steps_awaiting(session, org, "U0KANKYOHEAD", limit=2)
        assert [s.proposal_id for s in shown] == older[::-1]
        assert [s.proposal_id for s in steps_awaiting(session, org, "U0KANKYOHEAD", limit=1)] == older[-1:]
        assert [s.proposal_id for s in steps_awaiting(session, org, "U0KANKYOHEAD2", limit=3)] == own[::-1][:3]
        assert len(steps_awaiting(session, org, "U0KANKYOHEAD2", limit=50)) == 7


def test_each_line_is_of_the_current_version_and_its_step(database, org, clock):
    """What a line shows is read as plain columns: after 差し戻し and a new version, the new version's text and the
    new step's request, not the first version's."""
    service = ProposalService(database, org, clock)
    proposal_id = service.submit("U0STAFF1", draft())
    service.decide("U0KANKYOHEAD", pending_step(database, proposal_id), Decision.REQUEST_CHANGES, reason="日付を")
    clock.advance(timedelta(minutes=5))
    service.resubmit("U0STAFF1", proposal_id, Draft(text="【お知らせ】粗大ごみの収集日は12月9日に変わります。",
                                                    accounts=("city-x",), department_id="kankyo", checklist=CHECKLIST))
    with database.read() as session:
        step = session.get(ApprovalStep, pending_step(database, proposal_id))
        [line] = steps_awaiting(session, org, "U0KANKYOHEAD", limit=15)
        assert (line.id, line.proposal_id, line.stage, line.requested_at) == (
            step.id, proposal_id, "department", step.requested_at)
        assert (line.proposer, line.text) == ("U0STAFF1", "【お知らせ】粗大ごみの収集日は12月9日に変わります。")
        assert step.version_number == 2 and step.requested_at == clock.now()
