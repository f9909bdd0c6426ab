"""The pure rules of an emergency: who may do what, the timed-update rhythm, the checklist, the post
templates and how an organisation replaces them."""

import re
import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import LOCALES
from bot.organization import EmergencyOptions, OrganizationError, load_organization, parse_organization
from bot.text.post_rules import measure
from bot.workflows.emergencies.post_templates import PostContext, check_templates, render_post
from bot.workflows.emergencies.rules import (
    DEFAULT_CHECKLIST,
    TEMPLATES,
    Declaration,
    announced_next_update,
    checklist_for,
    first_update_at,
    is_routine,
    may_assign,
    may_declare,
    may_end,
    may_note,
    may_review_held,
    may_tick,
    next_slot_after,
    validate,
)
from tests.conftest import TEST_ORG
from tests.test_organization import MINIMAL

TOKYO = ZoneInfo("Asia/Tokyo")
DECLARED = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)


@pytest.fixture(scope="module")
def org():
    return load_organization(TEST_ORG)


def at(hour, minute=0):
    return datetime(2026, 11, 24, hour, minute, tzinfo=TOKYO)


# -- who may do what ---------------------------------------------------------------------------------


def test_on_call_officers_declare_end_tick_and_assign(org):
    assert may_declare("U0ONCALL1", org) and may_end("U0ONCALL2", org)
    assert not may_declare("U0PR1", org) and not may_end("U0STAFF1", org)
    assert may_tick("U0ONCALL1", None, org) and may_assign("U0ONCALL2", org)
    assert not may_tick("U0PR1", None, org) and not may_assign("U0PR1", org)


def test_an_assigned_person_ticks_and_notes_their_own_step_only(org):
    assert may_tick("U0STAFF1", "U0STAFF1", org) and may_note("U0STAFF1", "U0STAFF1", org)
    assert not may_tick("U0STAFF1", "U0STAFF2", org) and not may_note("U0STAFF1", None, org)
    assert may_note("U0PR2", None, org)  # the PR office keeps notes too


def test_held_posts_are_reviewed_by_the_pr_office_or_on_call(org):
    assert may_review_held("U0PR1", org) and may_review_held("U0ONCALL1", org)
    assert not may_review_held("U0KANKYOHEAD", org) and not may_review_held("U0STAFF1", org)


def test_routine_posts_are_held_but_emergency_posts_and_their_corrections_are_not():
    assert is_routine("normal") and is_routine("correction", "normal")
    assert not is_routine("emergency") and not is_routine("correction", "emergency")


# -- declaring ---------------------------------------------------------------------------------------


def test_a_declaration_needs_a_type_a_title_and_an_explicit_drill_or_real():
    assert validate(Declaration(type="earthquake", title="市内で震度5強", drill=False)) == []
    problems = {(p.field, p.key) for p in validate(Declaration(type="meteor", title="  ", drill=None))}
    assert problems == {("type", "emergency.error.type_required"), ("title", "emergency.error.title_required"),
                        ("mode", "emergency.error.mode_required")}
    long = validate(Declaration(type="fire", title="火" * 101, drill=True, areas="区" * 301))
    assert {(p.field, p.values["limit"]) for p in long} == {("title", 100), ("areas", 300)}
    assert validate(Declaration(type="fire", title="x", drill=True, update_interval_minutes=2))[0].field == "interval"


def test_the_default_checklist_is_the_citys_twelve_steps_and_an_organisation_may_replace_it(org):
    assert [s.key for s in checklist_for(org)] == list(DEFAULT_CHECKLIST) and len(DEFAULT_CHECKLIST) == 12
    assert all(s.label is None for s in checklist_for(org))
    own = replace(org, emergency=EmergencyOptions(checklist=("状況確認", "第一報", "振り返り")))
    assert [(s.key, s.label) for s in checklist_for(own)] == [("custom_0", "状況確認"), ("custom_1", "第一報"),
                                                             ("custom_2", "振り返り")]


# -- timed updates -----------------------------------------------------------------------------------


def test_reminders_come_every_interval_from_the_declaration():
    assert first_update_at(DECLARED, 60) == at(11)
    assert next_slot_after(DECLARED, 60, at(10)) == at(11)
    assert next_slot_after(DECLARED, 60, at(10, 59)) == at(11)
    assert next_slot_after(DECLARED, 60, at(11)) == at(12)
    assert next_slot_after(DECLARED, 30, at(11, 47)) == at(12)  # missed slots are skipped, not replayed
    assert next_slot_after(DECLARED, 60, at(9)) == at(11)  # never the declaration itself


def test_a_timed_update_drafted_just_before_its_slot_announces_the_one_after():
    assert announced_next_update(DECLARED, 60, at(10, 20)) == at(11)
    assert announced_next_update(DECLARED, 60, at(10, 55)) == at(12)  # this post *is* the 11:00 update
    assert announced_next_update(DECLARED, 60, at(11, 2)) == at(12)


# -- post templates ----------------------------------------------------------------------------------


def context(**changes):
    values = dict(type="storm_flood", title="台風第15号", areas="中央区・美浜区", situation="10:02 気象台発表",
                  drill=False, declared_at=DECLARED.astimezone(UTC), now=at(14, 5).astimezone(UTC),
                  next_update=at(15).astimezone(UTC))
    values.update(changes)
    return PostContext(**values)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_drafts_a_post_in_each_language(org, name, locale):
    text = render_post(name, locale, context(), org)
    assert text and "{" not in text and "}" not in text and not text.startswith("\n")
    assert ("11月24日14時05分現在" if locale == "ja" else "As of 14:05 JST, 24 Nov") in text  # dated "○時現在"
    if name == "timed_update":
        assert ("15時00分" if locale == "ja" else "15:00") in text  # and the next update time
    assert len(text) <= 500


def test_a_post_near_midnight_dates_its_stamp_and_its_next_update(org):
    late = dict(now=datetime(2026, 12, 7, 23, 5, tzinfo=TOKYO), next_update=datetime(2026, 12, 8, 0, 5, tzinfo=TOKYO))
    ja = render_post("first_report", "ja", context(type="earthquake", **late), org)
    assert ja.startswith("【地震】12月7日23時05分現在") and "続報は12月8日0時05分頃" in ja
    en = render_post("timed_update", "en", context(type="earthquake", **late), org)
    assert en.startswith("[Earthquake update] As of 23:05 JST, 7 Dec") and "Next update around 00:05, 8 Dec." in en
    same_day = render_post("timed_update", "ja", context(), org)
    assert "次回の更新は15時00分頃です。" in same_day  # the date once is enough


def test_drill_drafts_are_marked_and_missing_areas_leave_no_gap(org):
    assert render_post("first_report", "ja", context(drill=True), org).startswith("【訓練】【風水害（台風・大雨）】")
    assert render_post("first_report", "en", context(drill=True), org).startswith("[DRILL] [Storm or flood")
    text = render_post("first_report", "ja", context(areas=None), org)
    assert text.splitlines()[1:3] == ["台風第15号を確認し、千葉市が対応中です。", "身の安全を確保してください。"]
    assert "in ." not in render_post("shelters", "en", context(areas=None), org)


def test_a_japanese_first_report_reads_naturally_whether_or_not_the_title_names_a_place(org):
    text = render_post("first_report", "ja", context(type="earthquake", title="市内で震度5強", areas="中央区"), org)
    assert text.splitlines()[1:3] == ["市内で震度5強を確認し、千葉市が対応中です。", "対象地域: 中央区"]
    cleared = render_post("all_clear", "ja", context(title="市内で震度5強", areas="中央区"), org)
    assert "市内で震度5強に関する○○を解除しました（対象地域: 中央区）。" in cleared


@pytest.mark.parametrize("name", TEMPLATES)
def test_an_english_draft_has_no_japanese_what_the_officer_typed_in_japanese_is_a_placeholder(org, name):
    text = render_post(name, "en", context(situation="10:02 気象台発表"), org)
    assert not re.search(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]", text), text
    first = render_post("first_report", "en", context(), org)
    assert "[what happened] confirmed (areas: [areas]); Chiba City is responding." in first


def test_an_english_draft_keeps_what_was_typed_in_ascii_and_names_the_city_by_name_en_or_the_city(org):
    typed = context(title="Ｔｙｐｈｏｏｎ No. 15", areas="Chuo, Mihama")  # full-width is ASCII once half-width
    assert "Typhoon No. 15 confirmed (areas: Chuo, Mihama); Chiba City is responding." in \
        render_post("first_report", "en", typed, org)
    nameless = replace(org, name_en=None)
    assert "; the City is responding." in render_post("first_report", "en", typed, nameless)
    assert "; Chiba is responding." in render_post("first_report", "en", typed, replace(nameless, name="Chiba"))
    assert "千葉市が対応中です" in render_post("first_report", "ja", typed, org)  # Japanese keeps its own name


LONG_TITLE = "台風第15号の接近に伴う大雨・洪水・暴風・波浪警報の発表と市内各所での浸水被害等"  # 40 characters
FOUR_WARDS = "中央区・花見川区・稲毛区・美浜区"
LONG_TITLE_EN = "Heavy rain, flood and storm warnings issued"  # what an officer may type in English
FOUR_WARDS_EN = "Chuo, Hanamigawa, Inage and Mihama wards"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize(("title", "areas"), [(LONG_TITLE, FOUR_WARDS), (LONG_TITLE_EN, FOUR_WARDS_EN)],
                         ids=["typed_in_japanese", "typed_in_english"])
def test_every_draft_fits_x_with_a_long_title_and_four_wards(org, name, locale, title, areas):
    """The worst ordinary case: a drill (its mark), the longest type, a stamp and next update on two dates."""
    assert len(LONG_TITLE) == 40
    long = context(title=title, areas=areas, drill=True, now=datetime(2026, 12, 7, 23, 5, tzinfo=TOKYO),
                   next_update=datetime(2026, 12, 8, 0, 5, tzinfo=TOKYO))
    text = render_post(name, locale, long, org)
    assert measure(text, "x").length <= 280, (measure(text, "x").length, text)


def test_an_organisation_replaces_a_template_and_a_broken_one_falls_back(org, tmp_path, caplog):
    (tmp_path / "ja").mkdir()
    (tmp_path / "ja" / "first_report.j2").write_text(
        "{{ drill_mark }}【{{ type }}】{{ time }}現在 {{ org }}防災: {{ title }}。続報は{{ next_update }}頃。\n", encoding="utf-8")
    (tmp_path / "ja" / "all_clear.j2").write_text("{{ titel }}を解除しました。\n", encoding="utf-8")  # a typo
    own = replace(org, emergency=EmergencyOptions(templates_dir=str(tmp_path)))
    assert render_post("first_report", "ja", context(), own) == \
        "【風水害（台風・大雨）】14時05分現在 千葉市防災: 台風第15号。続報は15時00分頃。"
    assert render_post("evacuation", "ja", context(), own).startswith("【避難情報】")  # not replaced: built-in
    assert render_post("all_clear", "ja", context(), own).startswith("【解除】11月24日14時05分現在")  # broken: built-in
    assert "all_clear.j2 is broken" in caplog.text
    problems = check_templates(own, context())
    assert len(problems) == 1 and "all_clear.j2" in problems[0] and "titel" in problems[0]


# -- the organisation file's optional [emergency] keys -----------------------------------------------


def test_the_emergency_options_default_and_are_checked(tmp_path):
    assert parse_organization(tomllib.loads(MINIMAL)).emergency == EmergencyOptions()
    (tmp_path / "posts").mkdir()
    text = MINIMAL.replace('on_call = ["U0ONCALL1", "U0ONCALL2"]', 'on_call = ["U0ONCALL1", "U0ONCALL2"]\n'
                           'checklist = ["状況確認", "第一報"]\ntemplates_dir = "posts"\nupdate_interval_minutes = 30')
    path = tmp_path / "organization.toml"
    path.write_text(text, encoding="utf-8")
    options = load_organization(path).emergency
    assert options.checklist == ("状況確認", "第一報") and options.update_interval_minutes == 30
    assert options.templates_dir == str((tmp_path / "posts").resolve())  # relative to the organisation file

    bad = MINIMAL.replace('on_call = ["U0ONCALL1", "U0ONCALL2"]', 'on_call = ["U0ONCALL1"]\n'
                          'checklist = []\ntemplates_dir = "nowhere"\nupdate_interval_minutes = 2')
    with pytest.raises(OrganizationError) as caught:
        parse_organization(tomllib.loads(bad), tmp_path / "organization.toml")
    problems = caught.value.problems
    assert "emergency.checklist: must not be empty: expected a list of step names" in problems
    assert any(p.startswith("emergency.templates_dir: no such directory") for p in problems)
    assert "emergency.update_interval_minutes: expected whole minutes between 5 and 1440" in problems


def test_the_english_name_of_the_organisation_is_optional_and_checked():
    assert parse_organization(tomllib.loads(MINIMAL)).name_en is None
    named = MINIMAL.replace('name = "千葉市"', 'name = "千葉市"\nname_en = "Chiba City"')
    assert parse_organization(tomllib.loads(named)).name_en == "Chiba City"
    for wrong, problem in (('""', "expected a non-empty string"), ('"' + "x" * 61 + '"', "at most 60 characters, got 61")):
        with pytest.raises(OrganizationError) as caught:
            parse_organization(tomllib.loads(MINIMAL.replace('name = "千葉市"', f'name = "千葉市"\nname_en = {wrong}')))
        assert caught.value.problems == [f"organization.name_en: {problem}"]


def test_the_clock_of_emergency_comments_defaults_to_a_quarter_of_an_hour_and_is_checked():
    assert EmergencyOptions().comment_ack_minutes == 15
    at_night = MINIMAL.replace('on_call = ["U0ONCALL1", "U0ONCALL2"]',
                               'on_call = ["U0ONCALL1", "U0ONCALL2"]\ncomment_ack_minutes = 10')
    assert parse_organization(tomllib.loads(at_night)).emergency.comment_ack_minutes == 10
    for wrong in ("0", "1.5", '"15"', "true", "721"):
        bad = MINIMAL.replace('on_call = ["U0ONCALL1", "U0ONCALL2"]',
                              f'on_call = ["U0ONCALL1", "U0ONCALL2"]\ncomment_ack_minutes = {wrong}')
        with pytest.raises(OrganizationError) as caught:
            parse_organization(tomllib.loads(bad))
        assert caught.value.problems == ["emergency.comment_ack_minutes: expected whole minutes between 1 and 720"]


def test_times_in_a_post_are_the_citys_whatever_the_servers_zone(org):
    draft = render_post("timed_update", "ja", context(now=datetime(2026, 11, 24, 0, 30, tzinfo=UTC)), org)
    assert draft.startswith("【風水害（台風・大雨）・定時更新】11月24日9時30分現在")
