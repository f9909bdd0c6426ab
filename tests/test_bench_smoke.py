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
