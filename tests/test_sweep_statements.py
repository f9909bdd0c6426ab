"""Timed sweeps run every half minute, some in a write transaction: their statements must not grow
with the number of things waiting (one query per row was 150 ms of the interpreter for 60 steps)."""

from datetime import timedelta

from sqlalchemy import event

from bot.business_time import BusinessCalendar
from bot.workflows.proposals.rules import CHECKLIST, Draft
from bot.workflows.proposals.service import ProposalService
from bot.workflows.proposals.sweeps import remind_and_escalate, show_passed_publish_times
from bot.workflows.sweeps import SweepContext


def statements_run(database, work) -> list[str]:
    """The statements `work()` ran, each on one line."""
    seen: list[str] = []

    def keep(_conn, _cursor, statement, *_args) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(database.engine, "before_cursor_execute", keep)
    try:
        work()
    finally:
        event.remove(database.engine, "before_cursor_execute", keep)
    return seen


def statements_for_four_and_forty(database, org, clock, sweep, **draft_fields) -> tuple[int, int]:
    """The statements one round of `sweep` runs with 4 waiting requests, then with 40."""
    service = ProposalService(database, org, clock)
    ctx = SweepContext(db=database, org=org, clock=clock, calendar=BusinessCalendar(org.timezone))
    draft = Draft(text="【お知らせ】粗大ごみの収集日が変わります。", accounts=("city-x",), department_id="kankyo",
                  checklist=CHECKLIST, **draft_fields)
    for _ in range(4):
        service.submit("U0STAFF1", draft)
    few = len(statements_run(database, lambda: sweep(ctx)))
    for _ in range(36):
        service.submit("U0STAFF1", draft)
    return few, len(statements_run(database, lambda: sweep(ctx)))


def test_the_reminder_sweep_reads_four_waiting_steps_in_as_many_statements_as_forty(database, org, clock):
    few, many = statements_for_four_and_forty(database, org, clock, remind_and_escalate)
    assert many == few


def test_the_passed_publish_time_sweep_reads_waiting_steps_in_one_statement_however_many(database, org, clock):
    """It runs every round: with nothing just passed it is one read, for four waiting requests or forty."""
    few, many = statements_for_four_and_forty(database, org, clock, show_passed_publish_times,
                                              publish_at=clock.now() + timedelta(hours=2))
    assert many == few
    clock.advance(timedelta(hours=3))
    ctx = SweepContext(db=database, org=org, clock=clock, calendar=BusinessCalendar(org.timezone))
    assert show_passed_publish_times(ctx) == 40 and show_passed_publish_times(ctx) == 0  # each once
