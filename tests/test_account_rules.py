"""The register's pure rules: warnings, review candidates, the form's validation, percentiles, the chart,
the weekly report's slot, and the organisation file's optional register keys."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.organization import OrganizationError, RegisterOptions, parse_organization
from bot.workflows.accounts.chart import weekly_chart
from bot.workflows.accounts.rules import (
    AccountDraft,
    change_refusal,
    percentile,
    review_reason,
    validate,
    warnings,
)
from bot.workflows.accounts.sweeps import last_report_time

TODAY = date(2026, 11, 24)
OPTIONS = RegisterOptions()
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(("operators", "password", "reviewed", "opened", "expected"), [
    (["U1", "U2"], date(2026, 11, 1), date(2026, 4, 1), None, []),
    (["U1"], date(2026, 11, 1), date(2026, 4, 1), None, ["operators"]),
    ([], date(2026, 8, 26), date(2026, 4, 1), None, ["operators"]),  # 90 days exactly: still fine
    (["U1", "U2"], date(2026, 8, 25), date(2026, 4, 1), None, ["password"]),  # 91 days
    (["U1", "U2"], None, date(2026, 4, 1), None, ["password"]),  # never recorded
    (["U1", "U2"], date(2026, 11, 1), date(2025, 11, 23), None, ["review"]),  # 366 days
    (["U1", "U2"], date(2026, 11, 1), None, date(2026, 6, 1), []),  # new: counted from its opening
    (["U1", "U2"], date(2026, 11, 1), None, None, ["review"]),  # never reviewed, opening unknown
])
def test_warnings(operators, password, reviewed, opened, expected):
    assert [str(w) for w in warnings(operators, password, reviewed, opened, TODAY, OPTIONS)] == expected


@pytest.mark.parametrize(("posts", "since", "reviewed", "expected"), [
    (0, TODAY - timedelta(days=89), None, None),  # too new to judge
    (0, TODAY - timedelta(days=90), None, "inactive"),
    (1, TODAY - timedelta(days=400), None, "low_activity"),
    (2, TODAY - timedelta(days=400), None, None),
    (0, TODAY - timedelta(days=400), TODAY - timedelta(days=30), None),  # continued recently
    (0, TODAY - timedelta(days=400), TODAY - timedelta(days=90), "inactive"),
])
def test_review_candidates(posts, since, reviewed, expected):
    assert review_reason(posts_in_window=posts, since=since, last_reviewed_on=reviewed, today=TODAY,
                         options=OPTIONS) == expected


def draft(**overrides):
    values = dict(account_id="kankyo-x", platform="x", name="環境局X", handle="@k", kind="subject",
                  department_id="kankyo")
    values.update(overrides)
    return AccountDraft(**values)


def test_validation_names_each_field(org):
    assert validate(draft(), org, TODAY, new=True, existing_ids={"city-x"}) == []
    problems = validate(draft(account_id="city-x", platform="myspace", name=" ", url="javascript:alert(1)",
                              department_id="nowhere", manager="U1", operators=("U1", "U2"),
                              password_changed_on=TODAY + timedelta(days=1), purpose="あ" * 501,
                              posting_hours="平日" * 101),
                        org, TODAY, new=True, existing_ids={"city-x"})
    assert {p.field: p.key for p in problems} == {
        "account_id": "accounts.error.id_taken", "platform": "accounts.error.required",
        "name": "accounts.error.required", "url": "accounts.error.bad_url",
        "department_id": "accounts.error.unknown_department", "operators": "accounts.error.manager_is_operator",
        "password_changed_on": "accounts.error.future_date", "purpose": "accounts.error.too_long",
        "posting_hours": "accounts.error.too_long",  # its column holds 200 characters, not 500
    }
    # Editing: the id is not checked (it cannot change).
    assert validate(draft(account_id="city-x"), org, TODAY, new=False, existing_ids=set()) == []


def test_only_another_pr_office_approver_decides_a_change(org):
    assert change_refusal("U0PR2", "U0PR1", org) is None
    assert change_refusal("U0PR1", "U0PR1", org) == "accounts.refused.own_request"
    assert change_refusal("U0ADMIN1", "U0PR1", org) == "accounts.refused.not_pr_office"
    assert change_refusal("U0KANKYOHEAD", "U0PR1", org) == "accounts.refused.not_pr_office"


def test_percentiles_are_nearest_rank_with_a_true_median():
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([1.0, 2.0, 3.0, 10.0], 0.5) == 2.5
    assert percentile([float(i) for i in range(1, 11)], 0.9) == 9.0
    assert percentile([float(i) for i in range(1, 12)], 0.5) == 6.0


@pytest.mark.parametrize(("now", "slot"), [
    (datetime(2026, 11, 30, 9, 0, tzinfo=TOKYO), datetime(2026, 11, 30, 9, 0, tzinfo=TOKYO)),
    (datetime(2026, 11, 30, 8, 59, tzinfo=TOKYO), datetime(2026, 11, 23, 9, 0, tzinfo=TOKYO)),
    (datetime(2026, 12, 3, 15, 0, tzinfo=TOKYO), datetime(2026, 11, 30, 9, 0, tzinfo=TOKYO)),
    (datetime(2026, 11, 30, 0, 30, tzinfo=UTC), datetime(2026, 11, 30, 9, 0, tzinfo=TOKYO)),  # 09:30 in Tokyo
])
def test_the_weekly_slot_is_monday_nine_in_the_city(org, now, slot):
    assert last_report_time(org, now) == slot


def test_the_chart_is_a_png_of_the_given_size():
    weeks = [(datetime(2026, 10, 5, tzinfo=UTC) + timedelta(weeks=i), i, 2 * i) for i in range(8)]
    png = weekly_chart(weeks, "Asia/Tokyo", "Koho")
    assert png.startswith(b"\x89PNG") and len(png) < 100_000
    assert weekly_chart([], "Asia/Tokyo", "Koho").startswith(b"\x89PNG")  # nothing to show is still a chart


BASE = {
    "organization": {"name": "市"}, "pr_office": {"channel": "C0PR", "approvers": ["U0PR1"]},
    "emergency": {"channel": "C0EM", "on_call": ["U0ON"]},
}


def test_the_organisation_file_takes_register_fields_and_options():
    org = parse_organization({**BASE, "register": {"inactive_days": 60, "report_weekday": 4}, "accounts": [{
        "id": "city-x", "platform": "x", "name": "市X", "handle": "@c", "department": "pr_office",
        "operators": ["U0A", "U0B"], "password_changed": date(2026, 1, 5), "last_review": "2026-03-01",
        "policy_url": "https://city.example.jp/sns/policy",
    }]})
    (account,) = org.accounts
    assert account.kind == "main" and account.password_changed == date(2026, 1, 5)
    assert account.last_review == date(2026, 3, 1) and org.register.inactive_days == 60
    with pytest.raises(OrganizationError) as e:
        parse_organization({**BASE, "register": {"report_hour": 25, "nope": 1}, "accounts": [{
            "id": "a", "platform": "x", "name": "n", "handle": "h", "department": "pr_office", "kind": "big",
            "password_changed": "last week", "policy_url": "city.jp", "operators": ["bob"], "status": "closed",
        }]})
    problems = "\n".join(e.value.problems)
    for fragment in ("register.report_hour", "register.nope", "accounts[0].kind", "accounts[0].password_changed",
                     "accounts[0].policy_url", "accounts[0].operators[0]", "accounts[0].status"):
        assert fragment in problems, fragment
