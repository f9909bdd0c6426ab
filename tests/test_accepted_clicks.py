"""Accept, then work (`bot/handlers/deferred.py`): a click that changes state is on the record before Slack
hears "OK", and is worked by a dispatcher (a worker's, or the answering process's own); a click that opens a
modal, or one that cannot be stored, is worked at once as before."""

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.handlers import deferred
from bot.handlers.ids import Command
from bot.handlers.proposal_ids import ProposalAction
from bot.models import OutboxItem
from bot.workflows import accepted, outbox
from bot.workflows.proposals.models import ApprovalStep
from tests.conftest import running_koho
from tests.emergency_support import propose, request_for
from tests.test_workers import worker


def step_of(request: dict) -> int:
    return int(next(e["value"] for b in request["blocks"] if b["type"] == "actions" for e in b["elements"]))


def step_status(koho, step_id: int) -> str:
    with koho.db.read() as session:
        return session.get(ApprovalStep, step_id).status


def replays(koho) -> list[tuple[str, dict, dict | None]]:
    with koho.db.read() as session:
        return [tuple(row) for row in session.execute(
            select(OutboxItem.status, OutboxItem.ref, OutboxItem.result)
            .where(OutboxItem.action == outbox.REPLAY).order_by(OutboxItem.id))]


def test_an_approval_answered_while_no_worker_runs_is_kept_and_worked_when_one_starts(
        fake_slack, database, db_url, clock, org):
    with running_koho(fake_slack, database, db_url, clock, org, with_workers=True) as web:
        with worker(fake_slack, db_url, clock, org):
            proposal_id = propose(web)
            request = request_for(web, "C0KANKYO", proposal_id)
        step_id = step_of(request)
        # No worker now (it crashed, or is restarting): the web process answers and keeps the click.
        response = web.slack.block_action("U0KANKYOHEAD", ProposalAction.APPROVE, message=request)
        assert (response.status, response.body) == (200, "")
        [(status, payload, _)] = replays(web)
        assert status == "pending" and payload["actions"][0]["value"] == str(step_id) and "token" not in payload
        assert step_status(web, step_id) == "pending"
        with worker(fake_slack, db_url, clock, org):
            web.wait_for_listeners()
            assert step_status(web, step_id) == "approved"
            fake_slack.wait_for("chat.update", channel="C0KANKYO", predicate=lambda c: c.ok and c.args["ts"] == request["ts"])
        # Worked once; what is kept says whose click it was, not the message clicked on.
        assert replays(web) == [("delivered", {"user": "U0KANKYOHEAD", "action_id": "proposal_approve"},
                                 {"replayed": 200})]


def test_a_click_by_someone_not_allowed_is_refused_through_the_replay_and_on_the_record(koho):
    proposal_id = propose(koho)
    request = request_for(koho, "C0KANKYO", proposal_id)
    assert koho.slack.block_action("U0STAFF2", ProposalAction.APPROVE, message=request).status == 200
    koho.wait_for_listeners()
    assert step_status(koho, step_of(request)) == "pending"
    (refusal,) = koho.fake.wait_for("response_url")
    assert refusal.args["response_type"] == "ephemeral"
    assert [(status, result) for status, _, result in replays(koho)] == [("delivered", {"replayed": 200})]


def test_a_click_that_opens_a_modal_is_worked_at_once(koho):
    proposal_id = propose(koho)
    request = request_for(koho, "C0KANKYO", proposal_id)
    opened = len(koho.fake.calls_to("views.open"))
    response = koho.slack.block_action("U0KANKYOHEAD", ProposalAction.REQUEST_CHANGES, message=request)
    assert response.status == 200
    koho.fake.wait_for("views.open", count=opened + 1)
    assert ProposalAction.REQUEST_CHANGES not in deferred.DEFERRED
    assert replays(koho) == []


def test_a_click_that_cannot_be_stored_is_worked_at_once(koho, monkeypatch):
    proposal_id = propose(koho)
    request = request_for(koho, "C0KANKYO", proposal_id)

    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("the database went away"))

    monkeypatch.setattr(accepted, "store", down)
    assert koho.slack.block_action("U0KANKYOHEAD", ProposalAction.APPROVE, message=request).status == 200
    koho.wait_for_listeners()
    assert step_status(koho, step_of(request)) == "approved"
    assert replays(koho) == []


def test_a_malformed_click_is_refused_not_stored(koho):
    response = koho.slack.block_action("U0KANKYOHEAD", ProposalAction.APPROVE, "not-an-id", strict=False)
    assert response.status == 400
    assert replays(koho) == []


def test_only_state_changes_without_a_modal_are_deferred():
    # Every deferred action's listener answers through response_url, a DM or the message: none needs the
    # trigger_id, which lives 3 seconds (a click worked later could not open a modal with it).
    assert Command.PROPOSE_POST not in deferred.DEFERRED
    assert not deferred.deferrable({"type": "view_submission", "actions": [{"action_id": ProposalAction.APPROVE}]})
    assert not deferred.deferrable({"type": "block_actions", "actions": [{"action_id": ProposalAction.EDIT}]})
    assert deferred.deferrable({"type": "block_actions", "actions": [{"action_id": ProposalAction.APPROVE}]})
