"""The pure rules of proposing: validation, the chain, who may decide."""

from datetime import timedelta

import pytest

from bot.organization import load_organization
from bot.workflows.proposals.rules import (
    CHECKLIST,
    TRANSITIONS,
    Draft,
    Kind,
    Stage,
    Status,
    composed_text,
    correction_accounts,
    correction_refusal,
    eligible_approvers,
    plan_chain,
    refusal_reason,
    validate,
    withdrawal_refusal,
)
from tests.conftest import TEST_ORG, TEST_START

ORG = load_organization(TEST_ORG)


def draft(**changes):
    base = dict(text="粗大ごみの日のお知らせです。", accounts=("city-x",), department_id="kankyo", checklist=CHECKLIST)
    return Draft(**{**base, **changes})


def keys(problems):
    return [p.key for p in problems]


def test_a_good_draft_has_no_problems():
    assert validate(draft(), ORG, TEST_START) == []


def test_exactly_140_japanese_characters_fit_x_and_141_do_not():
    assert validate(draft(text="あ" * 140), ORG, TEST_START) == []
    (problem,) = validate(draft(text="あ" * 141), ORG, TEST_START)
    assert problem.key == "proposal.error.too_long_weighted"
    assert problem.values | {} == {"platform": "x", "length": 282, "limit": 280, "over": 2, "remove": 1}


def test_links_count_in_the_post_as_it_will_appear():
    link = ("https://www.city.chiba.jp/kankyo/",)
    assert validate(draft(text="あ" * 128, links=link), ORG, TEST_START) == []  # 256 + newline + 23 = 280
    (problem,) = validate(draft(text="あ" * 129, links=link), ORG, TEST_START)
    assert problem.values["length"] == 258 + 1 + 23  # text, newline, a URL counted as 23
    assert composed_text("本文 https://a.jp/", ("https://a.jp/",)) == "本文 https://a.jp/"  # not twice


def test_every_problem_is_reported_at_once():
    problems = validate(draft(text="", accounts=(), checklist=CHECKLIST[:3], publish_at=TEST_START - timedelta(1),
                              links=("ftp://x", "https://bit.ly/a")), ORG, TEST_START)
    assert keys(problems) == ["proposal.error.empty_text", "proposal.error.no_accounts", "proposal.error.bad_links",
                              "proposal.error.shortened_urls", "proposal.error.publish_in_past",
                              "proposal.error.checklist_incomplete"]
    assert problems[-1].values["missing"] == 9


def test_the_default_chain_is_department_then_pr_office():
    assert [s.stage for s in plan_chain(Kind.NORMAL, "kankyo", ORG)] == [Stage.DEPARTMENT, Stage.PR_OFFICE]
    assert [s.stage for s in plan_chain(Kind.CORRECTION, "kankyo", ORG)] == [Stage.DEPARTMENT, Stage.PR_OFFICE]
    assert [s.stage for s in plan_chain(Kind.NORMAL, "pr_office", ORG)] == [Stage.PR_OFFICE]
    assert [s.stage for s in plan_chain(Kind.EMERGENCY, "kankyo", ORG)] == [Stage.DEPARTMENT, Stage.PR_OFFICE]
    assert [s.stage for s in plan_chain(Kind.EMERGENCY, "kankyo", ORG, emergency_active=True)] == [Stage.FAST_TRACK]


@pytest.mark.parametrize(("actor", "proposer", "stage", "department", "expected"), [
    ("U0KANKYOHEAD", "U0STAFF1", "department", "kankyo", None),
    ("U0KANKYOHEAD", "U0KANKYOHEAD", "department", "kankyo", "proposal.refused.own_proposal"),
    ("U0KANKYOHEAD2", "U0KANKYOHEAD", "department", "kankyo", None),
    ("U0PR1", "U0STAFF1", "department", "kankyo", "proposal.refused.not_an_approver"),
    ("U0PR1", "U0KENSETSUHEAD", "department", "kensetsu", None),  # the lone approver proposed: PR office stands in
    ("U0ONCALL1", "U0STAFF1", "fast_track", "pr_office", None),
    ("U0ONCALL1", "U0STAFF1", "pr_office", "pr_office", "proposal.refused.not_an_approver"),
    ("U0STAFF2", "U0STAFF1", "department", "kankyo", "proposal.refused.not_an_approver"),
])
def test_who_may_decide_a_step(actor, proposer, stage, department, expected):
    assert refusal_reason(actor, proposer, stage, department, ORG) == expected


def test_the_pr_office_never_approves_its_own_proposal_either():
    assert eligible_approvers("pr_office", "pr_office", "U0PR1", ORG) == ("U0PR2",)


def test_final_states_have_no_way_out():
    for final in (Status.REJECTED, Status.WITHDRAWN, Status.PUBLISHED):
        assert not [action for (status, action) in TRANSITIONS if status == final]


@pytest.mark.parametrize(("status", "live_on", "expected"), [
    ("pending", (), None),
    ("changes_requested", (), None),
    ("approved", (), None),
    ("on_hold", (), None),
    # Live on one account of two: the record must not say "withdrawn" while a post is online.
    ("approved", ("city-x",), "proposal.refused.already_live"),
    ("on_hold", ("city-x",), "proposal.refused.already_live"),
    ("published", ("city-x", "city-line"), "proposal.refused.already_live"),
    ("rejected", (), "proposal.refused.cannot_withdraw"),
    ("withdrawn", (), "proposal.refused.cannot_withdraw"),
])
def test_a_proposal_is_withdrawn_only_before_any_account_publishes_it(status, live_on, expected):
    assert withdrawal_refusal(status, live_on) == expected


@pytest.mark.parametrize(("live_on", "expected"), [
    ((), "proposal.refused.correct_only_published"),  # nothing online yet: withdrawn, not corrected
    # Live on one account of two (the record still 承認済み while the other waits): online, so corrected.
    (("city-x",), None),
    (("city-x", "city-line"), None),
])
def test_a_post_is_corrected_once_it_is_live_on_any_account(live_on, expected):
    assert correction_refusal(live_on) == expected


def test_a_correction_is_proposed_for_where_the_original_is_live_in_its_order():
    assert correction_accounts(["city-x", "city-line", "kankyo-instagram"], ("kankyo-instagram", "city-x")) == (
        "city-x", "kankyo-instagram")
    assert correction_accounts(["city-x", "city-line"], ("city-x", "city-line")) == ("city-x", "city-line")


def test_emergency_posts_and_the_fast_track_run_on_the_clock_other_steps_on_office_hours():
    from bot.workflows.proposals.rules import on_the_clock

    assert on_the_clock("fast_track", "emergency") and on_the_clock("fast_track", "normal")
    assert on_the_clock("department", "emergency") and on_the_clock("pr_office", "emergency")
    assert not on_the_clock("department", "normal") and not on_the_clock("pr_office", "correction")
