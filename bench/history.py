"""What storing a group of webhook comments, and a week's operations report, cost as the city's history grows.

    python -m bench.history [--backends sqlite,postgresql] [--history 0,10000,100000] [--groups 50]
                            [--report 100000,1000000]

The same work as the webhook's storing thread (`CommentService.receive_many`, a group of 5 new comments:
the duplicate check, the inserts, the routing, the outbox) into a database that already holds 0, 10,000
and 100,000 comments (copies of one stored comment, then `ANALYZE`). Milliseconds per group, wall and
the thread's CPU; no Slack, no HTTP. A statement that reads the whole comments table shows here as a
cost that grows with the history, which the intake case (starting empty) barely shows.

The report (`--report COMMENTS,EVENTS`): the figures of a week's operations report (`figures()`, as the
dispatcher renders it) over that many comments, one every 15 minutes back from now (100,000: almost three
years), and audit events, one every 90 seconds (copies of a comment's receipt, so none is a decision the
report counts: what it costs is finding the week's). Five runs.

App Home's "waiting for my approval" (`--awaiting N,N`): the steps a department head may decide, the
newest 15 (`steps_awaiting`, read for every App Home refresh of that person: each proposal in their
department refreshes it), when their department has N requests waiting, every other one proposed by the
head himself (which the department's other head decides). Milliseconds per call, wall and CPU, median of 20.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.harness import Series, fresh_database
from bot.business_time import BusinessCalendar
from bot.clock import SystemClock
from bot.db import Database
from bot.models import AuditEvent
from bot.organization import load_organization
from bot.workflows.accounts.report import figures
from bot.workflows.comments.models import Comment
from bot.workflows.comments.service import CommentService, NewComment
from bot.workflows.proposals.rules import CHECKLIST, Draft
from bot.workflows.proposals.service import ProposalService, steps_awaiting

ORG = Path(__file__).resolve().parent.parent / "tests" / "data" / "organization.toml"
GROUP = 5
WARM_UP = 10


def comment(key: str) -> NewComment:
    return NewComment(origin="webhook", source="x", external_id=key, account_id="city-x",
                      text=f"ごみ集積所のカラス対策をお願いします（{key}）", received_at=datetime.now(UTC))


def _ago(dialect: str, seconds: Any) -> Any:
    """A SQL timestamp `seconds` (an SQL expression) before now, as each database stores `UTCDateTime`."""
    if dialect == "sqlite":  # naive UTC text
        shift = sa.cast(-seconds, sa.String).op("||")(" seconds")
        return sa.func.strftime("%Y-%m-%d %H:%M:%S", "now", shift).op("||")(".000000")
    return sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def copy_rows(db: Database, table: sa.Table, template: int, rows: int, *, every: int,
              times: dict[str, int], key: str | None = None) -> None:
    """`rows` copies of row `template` of `table`, the i-th `every * i` seconds older: each column of
    `times` set that long before now plus its offset (seconds); `key`, a unique column, set to `seed-i`."""
    dialect = db.engine.dialect.name
    numbers = sa.select(sa.literal(1).label("i")).cte("numbers", recursive=True)
    numbers = numbers.union_all(sa.select(numbers.c.i + 1).where(numbers.c.i < rows))
    values = {c.name: c for c in table.columns if c.name not in ("id", "slack_ref")}
    for name, offset in times.items():
        values[name] = _ago(dialect, numbers.c.i * every - offset)
    if key is not None:
        values[key] = sa.literal("seed-").op("||")(sa.cast(numbers.c.i, sa.String))
    copies = sa.select(*values.values()).select_from(numbers).join(table, table.c.id == template)
    with db.engine.begin() as conn:
        conn.execute(sa.insert(table).from_select(list(values), copies))


def settle(db: Database) -> None:
    """The copies settled as if written long ago: SQLite's write-ahead log copied into the file (else what
    is measured would pay for checkpointing them), the planner's statistics current. Outside a transaction
    (VACUUM cannot run in one; the checkpoint would wait for its own), so on the DB-API connection."""
    raw = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "sqlite":
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            raw.driver_connection.execute("ANALYZE")
        else:
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute("VACUUM ANALYZE")
            raw.driver_connection.autocommit = False  # as the pool hands it out
    finally:
        raw.close()


def grow(db: Database, service: CommentService, rows: int) -> None:
    """`rows` more comments, one every 15 minutes back from now (100,000: almost three years): copies of
    one stored through the service, each under its own external id, due two days after it came."""
    if rows <= 0:
        return
    (template,) = service.receive_many([comment("template")])
    copy_rows(db, Comment.__table__, template.comment_id, rows - 1, every=15 * 60, key="external_id",
              times={"created_at": 0, "received_at": 0, "routed_at": 0, "updated_at": 0, "ack_due_at": 2 * 86400})
    settle(db)


@contextmanager
def holding(backend: str, comments: int) -> Iterator[tuple[Database, CommentService]]:
    """A fresh database of this kind already holding `comments` comments, and the webhook's service on it."""
    org = load_organization(ORG)
    with tempfile.TemporaryDirectory() as directory, fresh_database(backend, Path(directory)) as url:
        db = Database(url)
        try:
            service = CommentService(db, org, BusinessCalendar(org.timezone), SystemClock())
            grow(db, service, comments)
            yield db, service
        finally:
            db.dispose()


def measure(backend: str, history: int, groups: int) -> tuple[float, float, float]:
    """(median wall ms per group, p90 wall ms, median CPU ms) at this much history."""
    walls, cpus = Series(), Series()
    with holding(backend, history) as (_, service):
        for n in range(WARM_UP + groups):
            news = [comment(f"new-{n}-{k}") for k in range(GROUP)]
            wall, cpu = time.perf_counter(), time.thread_time()
            service.receive_many(news)
            if n >= WARM_UP:
                walls.latencies.append(time.perf_counter() - wall)
                cpus.latencies.append(time.thread_time() - cpu)
    return walls.p50, walls.pct(90), cpus.p50


def measure_report(backend: str, comments: int, events: int, runs: int = 5) -> tuple[float, float]:
    """(median, slowest) ms for a week's operations report's figures, as the dispatcher renders it, over
    `comments` comments (one every 15 minutes back from now) and `events` audit events (one every 90 s)."""
    times = Series()
    with holding(backend, comments) as (db, service):
        with db.read() as session:
            template = session.scalar(sa.select(sa.func.min(AuditEvent.id)))
        copy_rows(db, AuditEvent.__table__, template, events, every=90, times={"at": 0})
        settle(db)
        end = datetime.now(UTC)
        for _ in range(runs):
            with db.read() as session:
                wall = time.perf_counter()
                figures(session, service.org, end - timedelta(days=7), end)
                times.latencies.append(time.perf_counter() - wall)
    return times.p50, times.max


def measure_awaiting(backend: str, pending: int, runs: int = 20) -> tuple[float, float]:
    """(median wall ms, median CPU ms) of a department head's "waiting for my approval" over `pending`
    waiting requests of his department, every other one his own."""
    org = load_organization(ORG)
    with tempfile.TemporaryDirectory() as directory, fresh_database(backend, Path(directory)) as url:
        db = Database(url)
        try:
            service = ProposalService(db, org, SystemClock())
            for n in range(pending):
                proposer = "U0KANKYOHEAD" if n % 2 else "U0STAFF1"
                service.submit(proposer, Draft(text=f"【お知らせ】粗大ごみの収集日が変わります（{n}）", accounts=("city-x",),
                                               department_id="kankyo", checklist=CHECKLIST))
            settle(db)
            walls, cpus = Series(), Series()
            for n in range(WARM_UP + runs):
                with db.read() as session:
                    wall, cpu = time.perf_counter(), time.thread_time()
                    shown = steps_awaiting(session, org, "U0KANKYOHEAD", limit=15)
                    if n >= WARM_UP:
                        walls.latencies.append(time.perf_counter() - wall)
                        cpus.latencies.append(time.thread_time() - cpu)
                if len(shown) != min(15, (pending + 1) // 2):
                    raise SystemExit(f"expected {min(15, (pending + 1) // 2)} steps awaiting, got {len(shown)}")
        finally:
            db.dispose()
    return walls.p50, cpus.p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--history", default="0,10000,100000", help="comments already stored, comma-separated ('' for none)")
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--report", default="100000,1000000",
                        help="comments and audit events behind the week's report ('' for none)")
    parser.add_argument("--awaiting", default="100,1000,5000",
                        help="requests waiting in the department behind App Home's list ('' for none)")
    args = parser.parse_args()
    print(f"| database | comments stored before | group of {GROUP}: wall p50 (ms) | p90 | CPU p50 (ms) |")
    print("|---|---|---|---|---|")
    for backend in args.backends.split(","):
        for history in (int(h) for h in args.history.split(",") if h):
            p50, p90, cpu = measure(backend, history, args.groups)
            print(f"| {backend} | {history:,} | {p50:.2f} | {p90:.2f} | {cpu:.2f} |", flush=True)
    if args.report:
        comments, events = (int(n) for n in args.report.split(","))
        print("\n| database | comments | audit events | a week's report: p50 (ms) | slowest of 5 |")
        print("|---|---|---|---|---|")
        for backend in args.backends.split(","):
            p50, slowest = measure_report(backend, comments, events)
            print(f"| {backend} | {comments:,} | {events:,} | {p50:.0f} | {slowest:.0f} |", flush=True)
    if args.awaiting:
        print("\n| database | requests waiting | App Home's waiting list: wall p50 (ms) | CPU p50 (ms) |")
        print("|---|---|---|---|")
        for backend in args.backends.split(","):
            for pending in (int(n) for n in args.awaiting.split(",") if n):
                p50, cpu = measure_awaiting(backend, pending)
                print(f"| {backend} | {pending:,} | {p50:.2f} | {cpu:.2f} |", flush=True)


if __name__ == "__main__":
    main()
