"""The outbox does not grow for ever: delivered items go after 30 days, and nothing that still matters goes
with them (failed items, what is waiting, where posted messages live so they can be updated)."""

import time
from datetime import timedelta

from sqlalchemy import func, select, text

from bot.handlers.proposal_ids import ProposalAction
from bot.models import OutboxItem
from bot.workflows import outbox
from tests.test_proposals import click, propose, request_message


def items(koho, *where):
    with koho.db.read() as session:
        return session.execute(select(OutboxItem.id, OutboxItem.status, OutboxItem.delivered_at).where(*where)).all()


def wait_until_delivered(koho, timeout=10.0):
    deadline = time.monotonic() + timeout
    while items(koho, OutboxItem.status == "pending"):
        assert time.monotonic() < deadline, items(koho, OutboxItem.status == "pending")
        koho.services.notify()
        time.sleep(0.02)


def test_a_month_later_delivered_items_are_pruned_and_the_request_still_updates_in_place(koho):
    propose(koho)
    request = request_message(koho, "C0KANKYO")
    wait_until_delivered(koho)
    delivered = items(koho, OutboxItem.status == "delivered")
    assert delivered  # the request, the proposer's DM, App Homes
    with koho.db.transaction() as session:  # one that failed for good: an operator's to look into
        session.add(OutboxItem(created_at=koho.clock.now(), action=outbox.POST, channel="C0GONE", view="x", ref={},
                               status="failed", attempts=5, next_attempt_at=koho.clock.now(), last_error="channel_not_found"))

    koho.clock.advance(timedelta(days=29))
    assert koho.sweep()["outbox.prune"] == 0  # not yet
    koho.clock.advance(timedelta(days=2))
    assert koho.sweep()["outbox.prune"] == len(delivered)
    assert items(koho, OutboxItem.id.in_([row.id for row in delivered])) == []
    assert [row.status for row in items(koho, OutboxItem.channel == "C0GONE")] == ["failed"]

    # A month on, the approver clicks the request: it is updated in place (where it lives was not pruned).
    click(koho, "U0KANKYOHEAD", request, ProposalAction.APPROVE)
    (update,) = koho.fake.wait_for("chat.update", channel="C0KANKYO")
    assert update.args["ts"] == request["ts"]


def test_pruning_goes_a_batch_per_transaction_and_leaves_the_rest_for_the_next_round(koho, monkeypatch):
    now = koho.clock.now()
    with koho.db.transaction() as session:
        for n in range(7):
            session.add(OutboxItem(created_at=now, action=outbox.POST, channel="C0PR", view="x", ref={"n": n},
                                   status="delivered", attempts=1, next_attempt_at=now, delivered_at=now))
        session.add(OutboxItem(created_at=now, action=outbox.POST, channel="C0PR", view="x", ref={"n": "waiting"},
                               status="pending", attempts=0, next_attempt_at=now + timedelta(days=60)))
    monkeypatch.setattr(outbox, "PRUNE_BATCH", 2)
    monkeypatch.setattr(outbox, "PRUNE_BATCHES_PER_ROUND", 3)
    koho.clock.advance(timedelta(days=31))
    assert outbox.prune(koho.services.sweeper.context) == 6
    assert outbox.prune(koho.services.sweeper.context) == 1
    assert outbox.prune(koho.services.sweeper.context) == 0
    with koho.db.read() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 1  # the one still waiting


def query_plan(database):
    """How the database finds the items to prune (the cutoff a function, so the statement has no parameters
    left: a status compared with a parameter instead of the literal could not use the partial index)."""
    statement = str(outbox.prunable(func.current_timestamp()).compile(database.engine))
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            connection.execute(text("SET enable_seqscan = off"))  # a small table: make it choose among indexes
            return "\n".join(connection.execute(text(f"EXPLAIN {statement}")).scalars())
        return "\n".join(row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {statement}")))


def test_pruning_finds_old_items_through_the_partial_index_not_by_reading_the_table(database):
    assert "ix_outbox_delivered_at" in query_plan(database)
