"""Timed sweeps run every half minute, some in a write transaction: their statements must not grow
with the number of things waiting (one query per row was 150 ms of the interpreter for 60 steps)."""

from sqlalchemy import event

from bot.business_time import BusinessCalendar
from bot.workflows.proposals.rules import CHECKLIST, Draft
from bot.workflows.proposals.service import ProposalService
from bot.workflows.proposals.sweeps import remind_and_escalate
from bot.workflows.sweeps import SweepContext


def statements_run(database, work) -> int:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    return len(seen)


def test_the_reminder_sweep_reads_four_waiting_steps_in_as_many_statements_as_forty(database, org, clock):
    service = ProposalService(database, org, clock)
    ctx = SweepContext(db=database, org=org, clock=clock, calendar=BusinessCalendar(org.timezone))
    draft = Draft(text="【お知らせ】粗大ごみの収集日が変わります。", accounts=("city-x",), department_id="kankyo",
                  checklist=CHECKLIST)
    for _ in range(4):
        service.submit("U0STAFF1", draft)
    few = statements_run(database, lambda: remind_and_escalate(ctx))
    for _ in range(36):
        service.submit("U0STAFF1", draft)
    assert statements_run(database, lambda: remind_and_escalate(ctx)) == few
