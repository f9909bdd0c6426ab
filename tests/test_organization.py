"""The organisation file: the documented shape is accepted; every mistake is reported with its key."""

import tomllib
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.business_time import office_calendar
from bot.organization import OrganizationError, load_organization, parse_organization

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """
[organization]
name = "千葉市"
locale = "ja"
timezone = "Asia/Tokyo"

[pr_office]
name = "広報広聴課"
channel = "C0PR"
approvers = ["U0PR1", "U0PR2"]

[emergency]
channel = "C0EMERG"
on_call = ["U0ONCALL1", "U0ONCALL2"]

[[departments]]
id = "kankyo"
name = "環境局"
channel = "C0KANKYO"
approvers = ["U0KANKYOHEAD"]
members = ["U0STAFF1"]
keywords = ["ごみ", "粗大ごみ", "リサイクル"]

[[accounts]]
id = "city-x"
platform = "x"
name = "千葉市 公式X"
handle = "@chiba_city"
department = "pr_office"
"""


def problems_of(toml_text: str) -> list[str]:
    with pytest.raises(OrganizationError) as caught:
        parse_organization(tomllib.loads(toml_text))
    return caught.value.problems


def test_the_documented_shape_is_accepted_as_is():
    org = parse_organization(tomllib.loads(MINIMAL))
    assert org.name == "千葉市"
    assert org.department("kankyo").approvers == ("U0KANKYOHEAD",)
    assert org.department("pr_office").channel == "C0PR"
    assert org.home_department("U0STAFF1").id == "kankyo"
    assert org.home_department("U0KANKYOHEAD").id == "kankyo"
    assert org.home_department("U0NOBODY") is None
    assert org.account("city-x").platform == "x"
    assert org.is_on_call("U0ONCALL2") and not org.is_on_call("U0STAFF1")
    assert org.roles_of("U0PR1") == ["proposer", "pr_approver"]


@pytest.mark.parametrize("path", ["config/organization.example.toml", "tests/data/organization.toml"])
def test_shipped_files_are_valid(path):
    org = load_organization(ROOT / path)
    assert org.departments and org.accounts


def test_wrong_types_name_their_key():
    text = MINIMAL.replace('approvers = ["U0KANKYOHEAD"]', 'approvers = "U0KANKYOHEAD"')
    assert problems_of(text) == ["departments[0].approvers: expected a list of Slack user ids"]


def test_an_empty_approver_list_is_refused():
    text = MINIMAL.replace('approvers = ["U0PR1", "U0PR2"]', "approvers = []")
    assert problems_of(text) == ["pr_office.approvers: must not be empty: expected a list of Slack user ids"]


def test_unknown_department_reference_and_duplicates_are_all_reported():
    text = MINIMAL.replace('department = "pr_office"', 'department = "doboku"') + (
        '\n[[departments]]\nid = "kankyo"\nname = "重複"\nchannel = "#kankyo"\napprovers = ["someone"]\n'
    )
    problems = problems_of(text)
    assert any(p.startswith("accounts[0].department: unknown department 'doboku'") for p in problems)
    assert "departments[1].id: duplicate id 'kankyo' (also departments[0])" in problems
    assert any(p.startswith("departments[1].channel: expected a Slack channel id") for p in problems)
    assert any(p.startswith("departments[1].approvers[0]: expected a Slack user id") for p in problems)


def test_missing_tables_bad_choices_and_unknown_keys():
    text = MINIMAL.replace('locale = "ja"', 'locale = "fr"').replace('platform = "x"', 'platform = "myspace"')
    text = text.replace("[emergency]", "[emergencies]")
    problems = problems_of(text)
    assert "organization.locale: expected one of ja, en, got 'fr'" in problems
    assert "accounts[0].platform: expected one of x, facebook, instagram, line, youtube, threads, bluesky, other, got 'myspace'" in problems
    assert "emergency: missing table" in problems
    assert any(p.startswith("emergencies: unknown key") for p in problems)


def test_an_account_line_longer_than_its_column_is_refused_before_anything_is_stored():
    """A 250-character posting_hours passed the check, then stopped the bot at start-up on PostgreSQL only
    (varchar(200)): SQLite stored it. The file is refused instead, on both, by check-config too."""
    text = MINIMAL.replace('handle = "@chiba_city"', 'handle = "@chiba_city"\nposting_hours = "' + "平日" * 125 + '"')
    assert problems_of(text) == ["accounts[0].posting_hours: at most 200 characters, got 250"]
    text = MINIMAL.replace('name = "千葉市 公式X"', 'name = "' + "あ" * 201 + '"')
    assert problems_of(text) == ["accounts[0].name: at most 200 characters, got 201"]
    assert parse_organization(tomllib.loads(MINIMAL.replace('name = "千葉市 公式X"', 'name = "' + "あ" * 200 + '"')))


def test_the_city_office_calendar_is_read_from_the_file_and_each_mistake_named():
    org = parse_organization(tomllib.loads(MINIMAL + """
[calendar]
opens = "9:00"
closes = 17:00:00
closed_days = [2027-01-04, "2027-01-05"]
year_end_closure = false
"""))
    assert (org.calendar.opens, org.calendar.closes) == (time(9), time(17))
    assert org.calendar.closed_days == (date(2027, 1, 4), date(2027, 1, 5))
    assert org.calendar.year_end_closure is False
    assert parse_organization(tomllib.loads(MINIMAL)).calendar.opens == time(8, 30)  # the default
    assert problems_of(MINIMAL + """
[calendar]
opens = "18:00"
closes = "5pm"
closed_days = ["来週"]
year_end_closure = "yes"
""") == [
        "calendar.closes: expected a time of day such as \"08:30\", got '5pm'",
        "calendar.closes: must be after calendar.opens (18:00)",
        "calendar.closed_days[0]: expected a date such as 2026-04-01, got '来週'",
        "calendar.year_end_closure: expected true or false",
    ]


def test_a_closed_day_of_the_file_moves_the_acknowledgement_target():
    """A 臨時閉庁 on Monday 2027-01-04: a comment of Friday evening is due Tuesday, not Monday."""
    org = parse_organization(tomllib.loads(MINIMAL + "\n[calendar]\nclosed_days = [2027-01-04]\n"))
    friday_evening = datetime(2027, 1, 1, 19, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # (also 元日: closed anyway)
    assert office_calendar(org).add_business_days(friday_evening, 1).date() == date(2027, 1, 5)
    assert office_calendar(parse_organization(tomllib.loads(MINIMAL))).add_business_days(
        friday_evening, 1).date() == date(2027, 1, 4)


def test_pr_office_id_is_reserved():
    text = MINIMAL.replace('id = "kankyo"', 'id = "pr_office"')
    assert any("reserved" in p for p in problems_of(text))


def test_file_level_errors(tmp_path):
    broken = tmp_path / "org.toml"
    broken.write_text("[organization\nname=", encoding="utf-8")
    with pytest.raises(OrganizationError, match="not valid TOML"):
        load_organization(broken)
    with pytest.raises(OrganizationError, match="cannot read the file"):
        load_organization(tmp_path / "missing.toml")
