"""What storing a group of webhook comments costs as the city's history grows.

    python -m bench.history [--backends sqlite,postgresql] [--history 0,10000,100000] [--groups 50]

The same work as the webhook's storing thread (`CommentService.receive_many`, a group of 5 new comments:
the duplicate check, the inserts, the routing, the outbox) into a database that already holds 0, 10,000
and 100,000 comments (copies of one stored comment, then `ANALYZE`). Milliseconds per group, wall and
the thread's CPU; no Slack, no HTTP. A statement that reads the whole comments table shows here as a
cost that grows with the history, which the intake case (starting empty) barely shows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.harness import fresh_database
from bot.business_time import BusinessCalendar
from bot.clock import SystemClock
from bot.db import Database
from bot.organization import load_organization
from bot.workflows.comments.models import Comment
from bot.workflows.comments.service import CommentService, NewComment

ORG = Path(__file__).resolve().parent.parent / "tests" / "data" / "organization.toml"
GROUP = 5
WARM_UP = 10


def comment(key: str) -> NewComment:
    return NewComment(origin="webhook", source="x", external_id=key, account_id="city-x",
                      text=f"ごみ集積所のカラス対策をお願いします（{key}）", received_at=datetime.now(UTC))


def grow(db: Database, service: CommentService, rows: int) -> None:
    """`rows` more comments: copies of one stored through the service, each under its own external id."""
    if rows <= 0:
        return
    (template,) = service.receive_many([comment("template")])
    table = Comment.__table__
    copied = [c for c in table.columns if c.name not in ("id", "external_id", "slack_ref")]
    numbers = sa.select(sa.literal(1).label("i")).cte("numbers", recursive=True)
    numbers = numbers.union_all(sa.select(numbers.c.i + 1).where(numbers.c.i < rows - 1))
    copies = (sa.select(sa.literal("seed-") + sa.cast(numbers.c.i, sa.String), *copied)
              .select_from(numbers).join(table, table.c.id == template.comment_id))
    with db.engine.begin() as conn:
        conn.execute(sa.insert(table).from_select([table.c.external_id, *(c.name for c in copied)], copies))
    # The copies settled as if written long ago: SQLite's write-ahead log copied into the file (else the
    # groups measured would pay for checkpointing them), the planner's statistics current.
    # Outside a transaction (VACUUM cannot run in one; the checkpoint would wait for its own), so on the
    # DB-API connection, in its autocommit mode.
    raw = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "sqlite":
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            raw.driver_connection.execute("ANALYZE")
        else:
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute("VACUUM ANALYZE comments")
            raw.driver_connection.autocommit = False  # as the pool hands it out
    finally:
        raw.close()


def measure(backend: str, history: int, groups: int) -> tuple[float, float, float]:
    """(median wall ms per group, p90 wall ms, median CPU ms) at this much history."""
    org = load_organization(ORG)
    with tempfile.TemporaryDirectory() as directory, fresh_database(backend, Path(directory)) as url:
        db = Database(url)
        try:
            service = CommentService(db, org, BusinessCalendar(org.timezone), SystemClock())
            grow(db, service, history)
            walls, cpus = [], []
            for n in range(WARM_UP + groups):
                news = [comment(f"new-{n}-{k}") for k in range(GROUP)]
                wall, cpu = time.perf_counter(), time.thread_time()
                service.receive_many(news)
                if n >= WARM_UP:
                    walls.append((time.perf_counter() - wall) * 1000)
                    cpus.append((time.thread_time() - cpu) * 1000)
        finally:
            db.dispose()
    walls.sort()
    return statistics.median(walls), walls[int(len(walls) * 0.9)], statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--history", default="0,10000,100000", help="comments already stored, comma-separated")
    parser.add_argument("--groups", type=int, default=50)
    args = parser.parse_args()
    print(f"| database | comments stored before | group of {GROUP}: wall p50 (ms) | p90 | CPU p50 (ms) |")
    print("|---|---|---|---|---|")
    for backend in args.backends.split(","):
        for history in (int(h) for h in args.history.split(",")):
            p50, p90, cpu = measure(backend, history, args.groups)
            print(f"| {backend} | {history:,} | {p50:.2f} | {p90:.2f} | {cpu:.2f} |", flush=True)


if __name__ == "__main__":
    main()
