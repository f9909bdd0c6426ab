"""200 approve clicks at once over 50 proposals on PostgreSQL: exactly one decision per step, no errors.

Correctness only; the latency of the same storm is measured by `python -m bench.approve_storm`
(figures in docs/reliability.md).
"""

import logging

import pytest

from bench.approve_storm import clicks_for, decisions, fire, seed
from tests.conftest import TEST_ORG


def test_an_approve_storm_makes_exactly_one_decision_per_step(koho, db_url, caplog):
    if not db_url.startswith("postgresql"):
        pytest.skip("the storm is about PostgreSQL under concurrent writers")
    caplog.set_level(logging.WARNING)
    steps = seed(koho.db, TEST_ORG, 50)
    assert len(steps) == 50
    clicks = clicks_for(steps, 200)
    _, statuses = fire(koho.slack, clicks, concurrency=50)
    koho.wait_for_listeners()

    assert statuses == [200] * 200
    outcome = decisions(koho.db, steps)
    assert {status for status, _, _ in outcome.values()} == {"approved"}
    assert {n for _, _, n in outcome.values()} == {1}  # one step.approved record per proposal
    assert {by for _, by, _ in outcome.values()} <= {"U0KANKYOHEAD", "U0KANKYOHEAD2"}
    told = [c for c in koho.fake.calls_to("response_url") if "すでに" in (c.args.get("text") or "")]
    assert len(told) == 150  # everyone who lost the race (or clicked twice) is told who decided
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert problems == [], [r.getMessage() for r in problems]
