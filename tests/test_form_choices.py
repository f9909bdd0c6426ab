"""What the forms offer to choose from, within Slack's limits of a select (100 options; 100 option groups
of 100): every postable account can be chosen, and a form always starts with choices it offers."""

import dataclasses
from datetime import timedelta

from bot.i18n import Translator
from bot.organization import Department, load_organization
from bot.views.accounts import account_form
from bot.views.comments import forward_modal
from bot.views.proposal_form import FormPrefill, account_select, proposal_form
from bot.workflows.accounts.models import RegisterAccount
from tests.conftest import TEST_ORG, TEST_START
from tests.harness import validate_view

ORG = load_organization(TEST_ORG)
JA = Translator("ja")
FILE_ACCOUNTS = ["city-x", "city-line", "kankyo-instagram"]  # the organisation file's, first in the register


def opened(department_id, count, start=0):
    """`count` accounts opened in Slack for a department, in the register's order after the file's."""
    return [RegisterAccount(id=f"{department_id}-x-{n:03d}", platform="x", name=f"{department_id} 情報 {n}",
                            handle=f"@{department_id}{n}", kind="subject", department_id=department_id,
                            operators=[], status="active", source="slack",
                            created_at=TEST_START + timedelta(seconds=start + n))
            for n in range(1, count + 1)]


def register(*more):
    return [*ORG.accounts, *(a for accounts in more for a in accounts)]


def groups_of(element):
    return [(g["label"]["text"], [o["value"] for o in g["options"]]) for g in element["option_groups"]]


def initial_of(element):
    return [o["value"] for o in element.get("initial_options", [])]


def offered(element):
    if "options" in element:
        return [o["value"] for o in element["options"]]
    return [v for _, values in groups_of(element) for v in values]


def form(org, postable, **prefill):
    view = proposal_form(JA, org, FormPrefill(**prefill), metadata={"mode": "new"}, accounts=postable)
    assert validate_view(view, expected_type="modal") == []  # as Slack would take it
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def city_of_many_departments(count):
    """The test city with `count` more departments (第1課 … ), each with one account opened in Slack."""
    departments = tuple(Department(id=f"ka{n:03d}", name=f"第{n}課", channel=f"C0KA{n:03d}", approvers=("U0KAHEAD",))
                        for n in range(1, count + 1))
    org = dataclasses.replace(ORG, departments=(*ORG.departments, *departments), _by_id={})
    return org, register(*(opened(d.id, 1, start=n) for n, d in enumerate(departments)))


# -- the 投稿先アカウント select ---------------------------------------------------------------------


def test_up_to_a_hundred_accounts_are_one_list_in_the_registers_order():
    accounts = register(opened("kankyo", 97))
    element, left_out = account_select(JA, ORG, accounts, ["kankyo-x-097", "city-line"], "kankyo")
    assert "option_groups" not in element and left_out == 0
    assert offered(element) == [a.id for a in accounts]
    assert initial_of(element) == ["city-line", "kankyo-x-097"]


def test_more_are_grouped_by_department_each_once_and_the_chosen_first_in_one_group():
    kankyo, kensetsu = opened("kankyo", 60), opened("kensetsu", 60, start=100)
    gone = opened("kyoiku", 2, start=200)  # a department since taken out of the organisation file
    accounts = register(kankyo, kensetsu, gone)
    element, left_out = account_select(JA, ORG, accounts, ["kensetsu-x-060", "city-line"], "kankyo")
    assert left_out == 0
    assert groups_of(element) == [
        ("選択中のアカウント", ["city-line", "kensetsu-x-060"]),  # Slack takes initial options from one group only
        ("広報広聴課", ["city-x"]),
        ("環境局", ["kankyo-instagram", *[a.id for a in kankyo]]),
        ("建設局", [a.id for a in kensetsu[:-1]]),
        ("その他", ["kyoiku-x-001", "kyoiku-x-002"]),
    ]
    assert initial_of(element) == ["city-line", "kensetsu-x-060"]
    assert sorted(offered(element)) == sorted(a.id for a in accounts)


def test_a_department_with_more_than_a_hundred_takes_several_groups():
    by_id = form(ORG, register(opened("kankyo", 250)), department_id="kankyo")
    groups = groups_of(by_id["accounts"]["element"])
    assert [(label, len(values)) for label, values in groups] == [
        ("広報広聴課", 2), ("環境局 (1/3)", 100), ("環境局 (2/3)", 100), ("環境局 (3/3)", 51)]
    assert "hint" not in by_id["accounts"]  # nothing left out


def test_past_a_hundred_groups_the_chosen_and_the_forms_department_stay_and_the_hint_says_how_many_are_not():
    org, accounts = city_of_many_departments(130)
    by_id = form(org, accounts, department_id="ka125", accounts=["ka128-x-001"])
    element = by_id["accounts"]["element"]
    groups = groups_of(element)
    assert len(groups) == 100
    assert groups[0] == ("選択中のアカウント", ["ka128-x-001"]) and initial_of(element) == ["ka128-x-001"]
    assert groups[-1] == ("第125課", ["ka125-x-001"])  # the proposer's department, in its place
    assert [label for label, _ in groups[1:4]] == ["広報広聴課", "環境局", "第1課"]
    assert len(offered(element)) == 101
    assert by_id["accounts"]["hint"]["text"].startswith("アカウントが多いため、32件は一覧に表示できません。")


def test_a_prefilled_account_no_longer_postable_is_not_chosen():
    element, _ = account_select(JA, ORG, register(opened("kankyo", 120)), ["withdrawn-x", "kankyo-x-120"], None)
    assert initial_of(element) == ["kankyo-x-120"] and "withdrawn-x" not in offered(element)


# -- the department selects ------------------------------------------------------------------------


def test_the_proposal_forms_department_is_among_its_choices_however_many_departments():
    org, accounts = city_of_many_departments(130)
    department = form(org, accounts, department_id="ka125")["department"]
    values = [o["value"] for o in department["element"]["options"]]
    assert len(values) == 100 and values[-1] == "ka125" and values[:3] == ["pr_office", "kankyo", "kensetsu"]
    assert department["element"]["initial_option"]["value"] == "ka125"
    assert "33件" in department["hint"]["text"]
    assert "hint" not in form(ORG, register(), department_id="kankyo")["department"]


def test_an_accounts_department_is_among_the_edit_forms_choices_however_many_departments():
    org, accounts = city_of_many_departments(130)
    account = next(a for a in accounts if a.id == "ka125-x-001")
    account.row_version = 1
    view = account_form(JA, org, account)
    assert validate_view(view, expected_type="modal") == []
    department = next(b for b in view["blocks"] if b.get("block_id") == "department_id")
    assert department["element"]["initial_option"]["value"] == "ka125"
    assert len(department["element"]["options"]) == 100 and "33件" in department["hint"]["text"]


# -- the forwarding form's 受け付けたアカウント select ------------------------------------------------------


def forward_form(org, postable):
    view = forward_modal(JA, org, accounts=postable, metadata={})
    assert validate_view(view, expected_type="modal") == []  # as Slack would take it
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}["comment_account"]


def test_the_forwarding_forms_accounts_are_grouped_past_a_hundred_as_the_proposal_forms():
    few = register(opened("kankyo", 50))
    assert offered(forward_form(ORG, few)["element"]) == [a.id for a in few]

    kankyo, kensetsu = opened("kankyo", 60), opened("kensetsu", 60, start=100)
    block = forward_form(ORG, register(kankyo, kensetsu))
    assert [label for label, _ in groups_of(block["element"])] == ["広報広聴課", "環境局", "建設局"]
    assert sorted(offered(block["element"])) == sorted(a.id for a in register(kankyo, kensetsu))  # every one
    assert "hint" not in block

    org, accounts = city_of_many_departments(130)  # past 100 groups: the hint says how many are not listed
    block = forward_form(org, accounts)
    assert len(groups_of(block["element"])) == 100
    assert block["hint"]["text"].startswith("アカウントが多いため、32件は一覧に表示できません。")
