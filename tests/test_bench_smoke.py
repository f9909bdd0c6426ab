"""The benchmarks never run in the test suite; this only checks that their code imports and parses its options."""

import pytest

from bench import cases, harness, report, run, single_clicks, slack_calls


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
