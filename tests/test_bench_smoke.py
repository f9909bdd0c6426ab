"""The benchmarks never run in the test suite; this only checks that their code imports and parses its options,
and that what they build is what they say they measure."""

import pytest

from bench import cases, harness, history, report, run, single_clicks, slack_calls


def test_bench_modules_import_and_offer_every_case():
    assert run.CASES == ("acks", "click", "intake", "surge", "emergency", "startup")
    assert cases.Sizes.quick().comments < cases.Sizes().comments == 10_000
    assert harness.Series([0.010, 0.020, 0.030]).pct(50) == pytest.approx(20.0)
    assert report.verdict(True) == "**met**" and report.verdict(False) == "**missed**"
    assert callable(single_clicks.main) and callable(slack_calls.main)


def test_only_a_full_run_writes_the_document_by_default():
    assert run.parse_args([]).output.endswith("docs/benchmarks.md")
    assert run.parse_args(["--only", "surge"]).output is None
    assert run.parse_args(["--quick"]).output is None
    assert run.parse_args(["--topology", "procfile"]).output is None  # the record: each database as deployed
    sizes = cases.Sizes()
    assert sizes.with_workers("postgresql") and not sizes.with_workers("sqlite")
    assert sizes.with_topology("procfile").with_workers("sqlite")
    with pytest.raises(SystemExit):
        run.parse_args(["--only", "nonsense"])


def test_the_history_bench_measures_groups_stored_into_as_many_comments_as_it_says(tmp_path, org, clock):
    from datetime import timedelta

    from sqlalchemy import func, select

    from bot.business_time import BusinessCalendar
    from bot.db import Database
    from bot.workflows.comments.models import Comment
    from bot.workflows.comments.service import CommentService

    with harness.fresh_database("sqlite", tmp_path) as url:
        db = Database(url)
        service = CommentService(db, org, BusinessCalendar(org.timezone), clock)
        history.grow(db, service, 300)
        with db.read() as session:
            assert session.scalar(select(func.count(func.distinct(Comment.external_id)))) == 300
            # Spread back from now, one every 15 minutes, and readable as the bot stores them.
            oldest, newest = session.execute(select(func.min(Comment.created_at), func.max(Comment.created_at))).one()
            assert newest - oldest > timedelta(days=3) and oldest.tzinfo is not None
            assert all(c.ack_due_at > c.created_at for c in session.scalars(select(Comment).limit(5)))
        db.dispose()
    p50, p90, cpu = history.measure("sqlite", 20, 3)
    assert 0 < p50 <= p90 and cpu > 0
    median, slowest = history.measure_report("sqlite", 50, 200, runs=2)
    assert 0 < median <= slowest


def test_the_ack_report_shows_the_least_latency_the_cpu_allows(monkeypatch):
    """N clients in a closed loop, c cores, CPU per request d: the mean latency is at least N x d / c."""
    monkeypatch.setattr(report.os, "cpu_count", lambda: 2)

    def series(p50_ms: float, cpu_ms: float, n: int = 100) -> harness.Series:
        return harness.Series([p50_ms / 1000] * n, cpu=cpu_ms / 1000 * n)

    koho = {"/propose-post": {level: series(100.0, 4.0) for level in cases.LEVELS}}
    bare = {"/propose-post": {level: series(20.0, 0.7) for level in cases.LEVELS}}
    built = report.Report(cases.Sizes(), quick=False, notes=[])
    built.acks({"sqlite": {"koho": koho, "forms": {}}}, bare)
    rows = [line for line in built.body if line.startswith("| sqlite | /propose-post |") and line.count("|") == 9]
    # 50 clients x 4 ms / 2 cores = 100 ms, 5x bare's 20 ms; within 1.5x would take 1.5 x 20 x 2 / 50 = 1.2 ms.
    assert rows[-1] == "| sqlite | /propose-post | 50 | 4.0 | 100.0 | 20.0 | 5.00x | 1.2 |"
    assert len(rows) == len(cases.LEVELS) - 1  # one client waits for nobody
