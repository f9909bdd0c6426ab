"""Approve storm: many approvers clicking 承認 at once on many proposals, against the real bot.

    python -m bench.approve_storm [--backend postgresql] [--proposals 50] [--clicks 200] [--concurrency 50]

Boots `python -m bot` (its own process) on a fresh database with the fake Slack, seeds proposals
waiting for their department, then fires the clicks — each step clicked by every approver of its
department, more than once — all at once. Reports the HTTP latency of the clicks (p50/p99, what
Slack's 3-second limit applies to), the time until every step is decided, and checks the outcome:
exactly one decision per step. tests/test_load.py runs the same storm for correctness only.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from bench.harness import SECRET, TOKEN, Series, free_port, fresh_database, start_process
from bot.clock import SystemClock
from bot.db import Database
from bot.models import AuditEvent
from bot.organization import load_organization
from bot.workflows.proposals.models import ApprovalStep
from bot.workflows.proposals.rules import CHECKLIST, Draft
from bot.workflows.proposals.service import ProposalService
from tests.harness.fake_slack import FakeSlack
from tests.harness.slack_requests import SlackRequests

ROOT = Path(__file__).resolve().parent.parent
TEST_ORG = ROOT / "tests" / "data" / "organization.toml"  # 環境局 has two approvers: real races
PROPOSERS = ("U0STAFF1", "U0STAFF2")
APPROVERS = ("U0KANKYOHEAD", "U0KANKYOHEAD2")


def seed(db: Database, org_path: Path, count: int) -> list[int]:
    """Proposals waiting for 環境局's approval; returns their pending step ids."""
    service = ProposalService(db, load_organization(org_path), SystemClock())
    ids = [service.submit(PROPOSERS[i % 2], Draft(text=f"【お知らせ】粗大ごみの収集日（{i}）", accounts=("city-x",),
                                                   department_id="kankyo", checklist=CHECKLIST))
           for i in range(count)]
    with db.read() as session:
        return list(session.scalars(sa.select(ApprovalStep.id).where(ApprovalStep.proposal_id.in_(ids),
                                                                     ApprovalStep.status == "pending")))


def clicks_for(step_ids: list[int], total: int, seed_value: int = 6) -> list[tuple[str, int]]:
    """`total` (approver, step) clicks spread evenly over the steps, every approver on each, shuffled."""
    clicks = [(APPROVERS[i % len(APPROVERS)], step_ids[(i // len(APPROVERS)) % len(step_ids)]) for i in range(total)]
    random.Random(seed_value).shuffle(clicks)
    return clicks


def fire(slack: SlackRequests, clicks: list[tuple[str, int]], concurrency: int) -> tuple[Series, list[int]]:
    """All clicks, `concurrency` at a time, released together; (latencies, HTTP statuses in click order)."""
    series, statuses = Series(), [0] * len(clicks)
    lock, start = threading.Lock(), threading.Barrier(min(concurrency, len(clicks)))

    def one(i: int) -> None:
        user, step_id = clicks[i]
        if i < concurrency:
            start.wait()
        t0 = time.perf_counter()
        status = slack.block_action(user, "proposal_approve", str(step_id), channel_id="C0KANKYO", strict=False).status
        with lock:
            series.latencies.append(time.perf_counter() - t0)
            series.errors += status != 200
            statuses[i] = status

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(len(clicks))))
    return series, statuses


def decisions(db: Database, step_ids: list[int]) -> dict[int, tuple[str, str | None, int]]:
    """step id -> (status, decided_by, number of step.approved records)."""
    with db.read() as session:
        steps = {s.id: s for s in session.scalars(sa.select(ApprovalStep).where(ApprovalStep.id.in_(step_ids)))}
        approvals = session.execute(sa.select(AuditEvent.subject_id, sa.func.count())
                                    .where(AuditEvent.action == "step.approved").group_by(AuditEvent.subject_id)).all()
    per_proposal = {int(subject): n for subject, n in approvals}
    return {i: (s.status, s.decided_by, per_proposal.get(s.proposal_id, 0)) for i, s in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument("--proposals", type=int, default=50)
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    if args.clicks < args.proposals * len(APPROVERS):  # a step nobody clicks would be waited for forever
        parser.error(f"--clicks must be at least --proposals x {len(APPROVERS)} approvers "
                     f"({args.proposals * len(APPROVERS)}), so every step is clicked by each")
    fake = FakeSlack(bot_token=TOKEN).start()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.backend, Path(tmp)) as db_url:  # migrated
        db = Database(db_url)
        try:
            port = free_port()
            env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url,
                   "DATABASE_URL": db_url, "KOHO_CONFIG": str(TEST_ORG), "PORT": str(port), "LOG_LEVEL": "WARNING"}
            process, _ = start_process([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1"], env, port)
            try:
                steps = seed(db, TEST_ORG, args.proposals)
                slack = SlackRequests(f"http://127.0.0.1:{port}", SECRET, fake=fake)
                t0 = time.perf_counter()
                series, statuses = fire(slack, clicks_for(steps, args.clicks), args.concurrency)
                deadline = time.monotonic() + 300
                while any(status == "pending" for status, _, _ in decisions(db, steps).values()):
                    if time.monotonic() > deadline:
                        raise SystemExit("approve storm: steps still pending 300 s after the clicks")
                    time.sleep(0.01)
                all_decided = time.perf_counter() - t0
                outcome = decisions(db, steps)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        finally:
            db.dispose()
            fake.stop()
    correct = all(status == "approved" and n == 1 for status, _, n in outcome.values())
    print(f"approve storm on {args.backend}: {args.clicks} clicks over {len(steps)} steps, {args.concurrency} at once")
    print(f"  click latency (HTTP ack): p50 {series.p50:.0f} ms, p99 {series.pct(99):.0f} ms, "
          f"max {max(series.latencies) * 1000:.0f} ms; non-200 answers: {series.errors}")
    print(f"  every step decided after {all_decided * 1000:.0f} ms")
    print(f"  exactly one decision per step: {'yes' if correct else 'NO'}")
    sys.exit(0 if correct and not series.errors else 1)


if __name__ == "__main__":
    main()
