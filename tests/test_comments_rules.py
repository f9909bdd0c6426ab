"""The pure rules of the comment flow: routing on real Japanese, the state machine, post URLs,
the webhook's signature and fields, and labels in both languages."""

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.business_time import BusinessCalendar
from bot.handlers.comments import slack_to_plain
from bot.i18n import LOCALES, catalog
from bot.organization import load_organization
from bot.text.categories import Category
from bot.webhooks import parse_comment, sign, signature_problem
from bot.workflows.comments.links import normalize_url, urls_in
from bot.workflows.comments.rules import (
    ANSWERING_STATUSES,
    OPEN_STATUSES,
    REOPENABLE_STATUSES,
    SOURCES,
    TRANSITIONS,
    Action,
    HidingCriterion,
    Status,
    Who,
    actions_in,
    answer_due,
    available_actions,
    may,
    on_call_may,
    row_actions,
)
from bot.workflows.comments.service import route_comment
from tests.conftest import TEST_ORG

ORG = load_organization(TEST_ORG)
JST = ZoneInfo("Asia/Tokyo")


# -- routing -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "department", "reason"), [
    ("ゴミ出しのルールが分かりにくい", "kankyo", "matched"),
    ("ｺﾞﾐ収集車が来ません", "kankyo", "matched"),  # half-width katakana
    ("ＧＯＭＩ…じゃなくて ごみ の日", "kankyo", "matched"),
    ("りさいくるセンターの場所は？", "kankyo", "matched"),  # hiragana for リサイクル
    ("ﾘｻｲｸﾙ工房の開館日", "kankyo", "matched"),
    ("道路が陥没しています", "kensetsu", "matched"),  # two of 建設局's keywords
    ("ガイトウが消えています", "no one", "no_match"),  # 街灯 written in katakana is another word
    ("街灯が消えていて道路が暗い", "kensetsu", "matched"),
    ("粗大ゴミが道路に捨てられている", "kankyo", "matched"),  # 粗大ごみ + ごみ outweigh 道路
    ("道路にごみが落ちています", None, "tie"),
    ("市長の方針に賛成です", None, "no_match"),
])
def test_routing_by_keywords_whatever_the_script_or_width(text, department, reason):
    routed = route_comment(ORG, text)
    assert routed.reason == reason
    assert routed.department_id == (None if department == "no one" else department)


def test_a_departments_own_account_decides_when_keywords_do_not():
    assert route_comment(ORG, "素敵な写真ですね", "kankyo-instagram").department_id == "kankyo"
    assert route_comment(ORG, "道路にごみが", "kankyo-instagram").reason == "account"  # a tie it takes part in
    assert route_comment(ORG, "道路が陥没", "kankyo-instagram").department_id == "kensetsu"  # keywords first
    assert route_comment(ORG, "素敵な写真ですね", "city-x").department_id is None  # the PR office's account


def test_staff_override_wins_unless_it_names_no_department():
    assert route_comment(ORG, "ごみ", override="kensetsu").reason == "override"
    assert route_comment(ORG, "ごみ", override="nowhere").department_id == "kankyo"


# -- the state machine -------------------------------------------------------------------------

def test_the_state_machine_table_is_complete_and_closed_comments_stay_closed():
    closing = [Action.DONE, Action.NO_ACTION, Action.TRANSFER, Action.DUPLICATE]
    assert actions_in(Status.ROUTED) == [Action.ACKNOWLEDGE, Action.REASSIGN, *closing, Action.REQUEST_HIDING]
    assert actions_in(Status.IN_PROGRESS) == actions_in(Status.INTERIM) == [
        Action.INTERIM_REPLY, Action.REASSIGN, *closing, Action.REQUEST_HIDING]
    assert actions_in(Status.NEW) == [Action.REASSIGN, Action.NO_ACTION, Action.TRANSFER, Action.DUPLICATE,
                                      Action.REQUEST_HIDING]
    for closed in (Status.DONE, Status.NO_ACTION, Status.TRANSFERRED, Status.DUPLICATE):
        assert actions_in(closed) == [Action.REOPEN, Action.REQUEST_HIDING], closed
    assert actions_in(Status.HIDDEN) == []
    assert not [key for key in TRANSITIONS if key[0] is Status.HIDDEN]
    # Every hiding decision and every triage belongs to the PR office.
    for (status, action), rule in TRANSITIONS.items():
        if action in (Action.CONFIRM_HIDING, Action.DECLINE_HIDING) or status is Status.NEW:
            assert rule.who is Who.PR_OFFICE, (status, action)


def test_every_status_is_open_closed_and_reopenable_or_final_and_the_actions_agree():
    assert set(OPEN_STATUSES) | set(REOPENABLE_STATUSES) | {Status.HIDDEN} == set(Status)
    assert not set(OPEN_STATUSES) & set(REOPENABLE_STATUSES)
    assert Status.INTERIM in OPEN_STATUSES and set(ANSWERING_STATUSES) < set(OPEN_STATUSES)
    for (status, action), rule in TRANSITIONS.items():
        if action in (Action.DONE, Action.NO_ACTION, Action.TRANSFER, Action.DUPLICATE):
            assert status in OPEN_STATUSES and rule.to in REOPENABLE_STATUSES, (status, action)
        if action is Action.REOPEN:
            assert status in REOPENABLE_STATUSES and rule.to is Status.IN_PROGRESS and rule.who is Who.DEPARTMENT_OR_PR
    assert [s for s in Status if (s, Action.INTERIM_REPLY) in TRANSITIONS] == [Status.IN_PROGRESS, Status.INTERIM]
    assert [s for s in Status if (s, Action.REOPEN) in TRANSITIONS] == list(REOPENABLE_STATUSES)


def test_a_listed_comments_menu_holds_five_items_the_last_opening_the_actions_it_has_no_room_for():
    assert row_actions(actions_in(Status.ROUTED)) == (
        [Action.ACKNOWLEDGE, Action.REASSIGN, Action.DONE, Action.NO_ACTION],
        [Action.REQUEST_HIDING, Action.TRANSFER, Action.DUPLICATE])
    assert row_actions(actions_in(Status.IN_PROGRESS)) == (
        [Action.INTERIM_REPLY, Action.REASSIGN, Action.DONE, Action.NO_ACTION],
        [Action.REQUEST_HIDING, Action.TRANSFER, Action.DUPLICATE])
    assert row_actions(actions_in(Status.DUPLICATE)) == ([Action.REQUEST_HIDING, Action.REOPEN], [])
    # A hiding request pending: no second one is offered.
    assert row_actions(available_actions(Status.ROUTED, hiding_pending=True)) == (
        [Action.ACKNOWLEDGE, Action.REASSIGN, Action.DONE, Action.NO_ACTION], [Action.TRANSFER, Action.DUPLICATE])
    assert row_actions(available_actions(Status.DUPLICATE, hiding_pending=True)) == ([Action.REOPEN], [])
    for status in Status:
        for pending in (False, True):
            available = available_actions(status, pending)
            in_menu, more = row_actions(available)
            assert sorted(in_menu + more) == sorted(available)  # every action reachable, none twice
            assert len(in_menu) + (1 if more else 0) <= 5  # Slack's limit for an overflow menu
            assert not more or len(in_menu) == 4


@pytest.mark.parametrize(("acknowledged", "due"), [
    (datetime(2026, 11, 24, 10, 0, tzinfo=JST), datetime(2026, 12, 8, 17, 15, tzinfo=JST)),  # Tuesday → Tuesday
    (datetime(2026, 11, 24, 23, 30, tzinfo=JST), datetime(2026, 12, 8, 17, 15, tzinfo=JST)),  # late: same day
    (datetime(2026, 11, 21, 11, 0, tzinfo=JST), datetime(2026, 12, 7, 17, 15, tzinfo=JST)),  # lands on Saturday
    (datetime(2026, 12, 18, 9, 0, tzinfo=JST), datetime(2027, 1, 4, 17, 15, tzinfo=JST)),  # 1/1: after 年末年始
    (datetime(2026, 11, 24, 15, 0, tzinfo=UTC), datetime(2026, 12, 9, 17, 15, tzinfo=JST)),  # 25th in Japan
])
def test_the_answer_is_due_at_closing_on_the_fourteenth_day_or_the_next_business_day(acknowledged, due):
    assert answer_due(BusinessCalendar("Asia/Tokyo"), acknowledged) == due


@pytest.mark.parametrize(("user", "department", "who", "allowed"), [
    ("U0STAFF1", "kankyo", Who.DEPARTMENT_OR_PR, True),  # member
    ("U0KANKYOHEAD", "kankyo", Who.DEPARTMENT_OR_PR, True),  # approver
    ("U0KENSETSU1", "kankyo", Who.DEPARTMENT_OR_PR, False),  # another department
    ("U0ONCALL1", "kankyo", Who.DEPARTMENT_OR_PR, False),
    ("U0PR2", "kankyo", Who.DEPARTMENT_OR_PR, True),  # the PR office may act on any comment
    ("U0STAFF1", None, Who.DEPARTMENT_OR_PR, False),  # not triaged yet: the PR office's
    ("U0KANKYOHEAD", "kankyo", Who.PR_OFFICE, False),
    ("U0PR1", None, Who.PR_OFFICE, True),
])
def test_who_may_act_on_a_comment(user, department, who, allowed):
    assert may(ORG, user, who, department) is allowed


@pytest.mark.parametrize(("user", "action", "category", "allowed"), [
    ("U0ONCALL1", Action.ACKNOWLEDGE, Category.EMERGENCY, True),  # someone may be in danger, at 3 a.m.
    ("U0ONCALL2", Action.REASSIGN, Category.EMERGENCY, True),  # also out of triage
    ("U0ONCALL1", Action.DONE, Category.EMERGENCY, False),  # closing stays with the department
    ("U0ONCALL1", Action.NO_ACTION, Category.EMERGENCY, False),
    ("U0ONCALL1", Action.REQUEST_HIDING, Category.EMERGENCY, False),
    ("U0ONCALL1", Action.CHANGE_CATEGORY, Category.EMERGENCY, False),
    ("U0ONCALL1", Action.ACKNOWLEDGE, Category.COMPLAINT, False),  # not 緊急: the department's, as before
    ("U0STAFF1", Action.ACKNOWLEDGE, Category.EMERGENCY, False),  # not on call
    ("U0PR1", Action.REASSIGN, Category.EMERGENCY, False),  # the PR office acts under `may`, not as on-call
])
def test_on_call_officers_may_take_an_emergency_comment_in_hand_and_nothing_more(user, action, category, allowed):
    assert on_call_may(ORG, user, action, str(category)) is allowed


# -- links to our published posts --------------------------------------------------------------

@pytest.mark.parametrize(("one", "other"), [
    ("https://twitter.com/chiba_city/status/123?s=20&t=AbC", "http://x.com/chiba_city/status/123/"),
    ("https://x.com/i/web/status/123", "https://mobile.twitter.com/someone/status/123"),
    ("HTTPS://WWW.City.Chiba.jp/news/2026/1124.html?utm_source=x&utm_medium=social",
     "https://city.chiba.jp/news/2026/1124.html"),
    ("https://www.instagram.com/p/Cabc123/?igsh=xyz", "https://instagram.com/p/Cabc123"),
    ("https://youtu.be/dQw4w9WgXcQ?si=share", "https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=shared"),
    ("https://www.facebook.com/chibacity/posts/987?fbclid=IwAR0", "https://facebook.com/chibacity/posts/987/"),
])
def test_the_same_post_has_one_normal_form(one, other):
    assert normalize_url(one) == normalize_url(other) is not None


@pytest.mark.parametrize(("one", "other"), [
    ("https://x.com/chiba_city/status/123", "https://x.com/chiba_city/status/124"),
    ("https://city.chiba.jp/page?id=1", "https://city.chiba.jp/page?id=2"),
    ("https://city.chiba.jp/a", "https://city.chiba.jp:8443/a"),
])
def test_different_posts_stay_different(one, other):
    assert normalize_url(one) != normalize_url(other)


def test_urls_are_found_in_japanese_text_and_non_web_links_are_ignored():
    text = "この投稿（https://x.com/chiba_city/status/5）を見ました。詳細は https://city.chiba.jp/a.html。"
    assert urls_in(text) == ["https://x.com/chiba_city/status/5", "https://city.chiba.jp/a.html"]
    assert normalize_url("javascript:alert(1)") is None and normalize_url("mailto:a@b.jp") is None


# -- the webhook's signature and fields --------------------------------------------------------

SECRET = "s3cret"


def test_a_signature_is_accepted_only_when_fresh_and_made_with_our_secret():
    body, now = b'{"a": 1}', time.time()
    ts = str(int(now))
    assert signature_problem(SECRET, ts, sign(SECRET, ts, body), body, now) is None
    assert signature_problem(SECRET, ts, f"v1=deadbeef, {sign(SECRET, ts, body)}", body, now) is None  # rotation
    assert "wrong" in signature_problem(SECRET, ts, sign("other", ts, body), body, now)
    assert "wrong" in signature_problem(SECRET, ts, sign(SECRET, ts, body + b" "), body, now)
    assert "wrong" in signature_problem(SECRET, ts, sign(SECRET, ts, body).replace("v1=", "v0="), body, now)
    assert "5 minutes" in signature_problem(SECRET, str(int(now) - 301), sign(SECRET, str(int(now) - 301), body),
                                            body, now)
    assert "Timestamp" in signature_problem(SECRET, None, sign(SECRET, ts, body), body, now)


def test_fields_are_checked_and_each_problem_named():
    clean, problems = parse_comment({"source": "line", "external_id": 42, "text": " 道路 ", "received_at":
                                     "2026-11-24T01:00:00Z", "unknown": "ignored"})
    assert problems == {} and clean["external_id"] == "42" and clean["text"] == " 道路 "
    assert clean["received_at"].utcoffset().total_seconds() == 0
    _, problems = parse_comment({"source": 1, "external_id": "x" * 256, "text": ["a"], "received_at": "yesterday",
                                 "author": 5})
    assert set(problems) == {"source", "external_id", "text", "received_at", "author"}
    assert parse_comment([])[1] == {"(body)": "must be a JSON object"}


# -- Slack text and labels ---------------------------------------------------------------------

def test_a_forwarded_slack_message_reads_as_the_person_wrote_it():
    assert slack_to_plain("a &lt;b&gt; &amp; <https://x.jp|here> <https://y.jp> <@U0PR1> <!channel> "
                          "<#C0PR|koho>") == "a <b> & here (https://x.jp) https://y.jp @U0PR1 @channel #koho"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_category_status_source_and_criterion_has_a_label_in_each_language(locale):
    keys = catalog(locale)
    wanted = [f"comments.category.{c}" for c in Category] + [f"comments.status.{s}" for s in Status] \
        + [f"comments.source.{s}" for s in SOURCES] + [f"comments.criterion.{c}" for c in HidingCriterion] \
        + [f"comments.routed.{r}" for r in ("matched", "account", "override", "triage", "reassigned", "tie",
                                             "no_match")] \
        + [f"comments.masked_kind.{k}" for k in ("phone", "email", "my_number", "postal_address")]
    assert [k for k in wanted if k not in keys] == []
    assert keys["comments.category.emergency"] == ("緊急" if locale == "ja" else "Emergency")


def test_who_may_see_a_comments_original_text(org):
    from bot.workflows.comments.rules import may_see_original

    assert may_see_original(org, "U0ONCALL1", "kankyo") and may_see_original(org, "U0ONCALL2", None)  # on call
    assert may_see_original(org, "U0PR1", "kensetsu") and may_see_original(org, "U0PR2", None)  # PR office
    assert may_see_original(org, "U0KANKYOHEAD", "kankyo")  # the department's approver…
    assert not may_see_original(org, "U0KANKYOHEAD", "kensetsu")  # …for that department only
    assert not may_see_original(org, "U0KANKYOHEAD", None)
    assert not may_see_original(org, "U0STAFF1", "kankyo")  # members see it masked
    assert not may_see_original(org, "U0NOBODY", "kankyo")
