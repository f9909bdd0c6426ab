"""Running an emergency, as the on-call officers live it — declaring, working the checklist, timed updates,
the status, the end with its timeline, and a drill — through signed requests to the running bot, answers
read back from the fake Slack, on SQLite and PostgreSQL."""

import re
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import exc as sa_exc

from bot.workflows.emergencies.models import Emergency, EmergencyStep
from bot.workflows.emergencies.service import EmergencyService
from tests.comments_support import open_in_register, settle
from tests.conftest import TEST_START
from tests.emergency_support import (
    ALL_CHECKED,
    EMERGENCY_CHANNEL,
    approve,
    approve_routine,
    audit_actions,
    checklist,
    click,
    declaration_values,
    declare,
    earthquake_then_tsunami,
    end_emergency,
    ephemerals,
    header,
    last_ephemeral,
    message_with,
    open_declare_modal,
    proposal_status,
    propose,
    publications,
    request_for,
    step_ids,
    submit_proposal_form,
    texts,
    views_opened,
    wait_for_modal,
    wait_updated,
)
from tests.harness.db_hold import Hold
from tests.harness.waiting import wait_until
from tests.modal_support import opened_then_redrawn

# -- declaring -----------------------------------------------------------------------------------------


def test_only_on_call_officers_may_declare_and_a_refusal_is_recorded(koho):
    response = koho.slack.command("/emergency", "", user_id="U0STAFF1", channel_id=EMERGENCY_CHANNEL)
    assert response.status == 200
    (text,) = ephemerals(koho)
    assert "緊急時当番だけ" in text and "<@U0ONCALL1>" in text and "<@U0ONCALL2>" in text
    assert koho.fake.calls_to("views.open") == []  # no modal for them
    assert audit_actions(koho, "emergency", "-") == ["emergency.declare_refused"]


def test_the_modal_asks_what_happened_where_and_whether_it_is_a_drill(koho):
    view = open_declare_modal(koho, "U0ONCALL1")
    assert view["title"]["text"] == "緊急事態の宣言" and view["submit"]["text"] == "宣言する"
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    types = [o["text"]["text"] for o in by_id["emergency_type"]["element"]["options"]]
    assert types == ["地震", "津波", "風水害（台風・大雨）", "土砂災害", "火災", "大規模停電", "感染症", "国民保護", "その他"]
    assert by_id["emergency_areas"]["optional"] is True  # areas may be unknown at first
    modes = by_id["emergency_mode"]["element"]
    assert [o["value"] for o in modes["options"]] == ["drill", "real"] and "initial_option" not in modes
    assert by_id["emergency_interval"]["element"]["initial_option"]["value"] == "60"

    # Drill or real is never assumed: forgetting it is a field error, and nothing is declared.
    response = koho.slack.view_submission("U0ONCALL1", view, declaration_values(mode=None, title=" "), strict=False)
    errors = response.json()["errors"]
    assert "訓練か本番か" in errors["emergency_mode"] and "件名" in errors["emergency_title"]
    with koho.db.read() as session:
        assert session.query(Emergency).count() == 0


def test_declaring_posts_the_header_and_the_checklist_and_pages_the_other_on_call_officer(koho):
    emergency_id = declare(koho, "U0ONCALL1")
    top = header(koho, emergency_id)
    shown = texts(top)
    assert "緊急事態 #1 地震: 市内で震度5強" in shown
    assert "*モード:* 本番" in shown and "<@U0ONCALL1>（2026年11月24日(火) 10:00）" in shown
    assert "中央区・美浜区" in shown and "10:02 気象庁発表" in shown
    assert "<@U0ONCALL2> 当番の方は対応に加わってください" in shown  # paged by mention…
    assert "次の定時更新: 11:00" in shown

    items = checklist(koho, emergency_id)
    shown = texts(items)
    for number, label in enumerate(["平時準備", "状況確認", "連絡・報告", "予約投稿・平常投稿の停止", "体制確立", "第一報",
                                    "行動指示", "一次情報へ誘導", "監視・デマ対策", "定時更新", "公的機関の情報共有", "振り返り"]):
        assert f"*{number}. {label}*" in shown
    assert "信頼できる2つ以上の情報源" in shown  # what each step means, for whoever reads it at 3 a.m.
    actions = [b for b in items["blocks"] if b["type"] == "actions"]
    assert len(actions) == 12 and len(items["blocks"]) <= 50
    assert {tuple(e["action_id"] for e in b["elements"]) for b in actions} == {
        ("emergency_step_done", "emergency_step_assign", "emergency_step_note")}

    # …and by DM, linking to the header; the declarer is not paged.
    (dm,) = koho.fake.wait_for("chat.postMessage", channel="U0ONCALL2", predicate=lambda c: c.ok)
    assert "<@U0ONCALL1> が緊急事態を宣言しました" in dm.args["text"]
    assert f"archives/{EMERGENCY_CHANNEL}/p{top['ts'].replace('.', '')}" in dm.args["text"]
    assert koho.fake.calls_to("chat.postMessage", channel="U0ONCALL1") == []
    assert audit_actions(koho, "emergency", emergency_id) == ["emergency.declared"]


def test_an_active_emergency_is_offered_instead_of_a_duplicate(koho):
    first = declare(koho, "U0ONCALL1")
    koho.slack.command("/emergency", "", user_id="U0ONCALL2", channel_id=EMERGENCY_CHANNEL)
    offer = last_ephemeral(koho)
    shown = texts(offer)
    assert "対応中の緊急事態があります" in shown and "#1 地震: 市内で震度5強" in shown
    assert views_opened(koho, "emergency_declare") == 1  # no second modal yet

    # Its status, at a click…
    shown_offer = koho.fake.ephemerals("U0ONCALL2")[-1]
    click(koho, "U0ONCALL2", shown_offer, "emergency_status", block_id=f"offer:{first}")
    assert "完了 0/12" in texts(last_ephemeral(koho, count=2))

    # …or, if it really is another event (a tsunami after the earthquake), a second emergency of its own.
    before = views_opened(koho, "emergency_declare")
    click(koho, "U0ONCALL2", shown_offer, "emergency_declare_anyway")
    view = wait_for_modal(koho, "emergency_declare", before, "U0ONCALL2")
    response = koho.slack.view_submission("U0ONCALL2", view, declaration_values(type="tsunami", title="津波警報"))
    assert response.body == ""
    koho.fake.wait_for("chat.postMessage", channel=EMERGENCY_CHANNEL, count=4, predicate=lambda c: c.ok)
    second = header(koho, first + 1)
    assert "緊急事態 #2 津波: 津波警報" in texts(second) and second["ts"] != header(koho, first)["ts"]


def test_a_colleague_declaring_while_the_modal_is_open_is_shown_before_a_duplicate(koho):
    view = open_declare_modal(koho, "U0ONCALL2")  # nothing active when it opened
    declare(koho, "U0ONCALL1")
    response = koho.slack.view_submission("U0ONCALL2", view, declaration_values())
    answer = response.json()
    assert answer["response_action"] == "update"
    assert "別の緊急事態が宣言されました" in texts(answer["view"]) and "#1 地震: 市内で震度5強" in texts(answer["view"])
    with koho.db.read() as session:
        assert session.query(Emergency).count() == 1  # not yet: they decide
    # A second press means it is another event.
    view = answer["view"]  # as Slack now shows it (the fake keeps views.open's version under the old id)
    assert koho.slack.view_submission("U0ONCALL2", view, declaration_values(type="fire", title="工場火災")).body == ""
    with koho.db.read() as session:
        assert session.query(Emergency).count() == 2


def test_english_speaking_officers_get_the_modal_and_their_page_in_english(koho):
    koho.fake.users["U0ONCALL2"] = {"id": "U0ONCALL2", "locale": "en-US"}
    open_declare_modal(koho, "U0ONCALL2")
    koho.fake.wait_for("views.update")  # it opens in the organisation's language, then in theirs once learnt
    view = koho.fake.last_view("U0ONCALL2")
    assert view["title"]["text"] == "Declare an emergency"
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    assert by_id["emergency_mode"]["element"]["options"][0]["text"]["text"] == "Drill — routine posts continue"

    declare(koho, "U0ONCALL1", mode="drill")
    (dm,) = koho.fake.wait_for("chat.postMessage", channel="U0ONCALL2", predicate=lambda c: c.ok)
    assert dm.args["text"].startswith(":rotating_light: <@U0ONCALL1> declared an emergency: *#1 Earthquake: 市内で震度5強* (Drill)")


# -- the checklist -------------------------------------------------------------------------------------


def test_ticking_a_step_records_who_and_when_and_updates_the_message_in_place(koho):
    emergency_id = declare(koho)
    items = checklist(koho, emergency_id)
    verify = step_ids(koho, emergency_id)[1]
    koho.clock.advance(timedelta(minutes=5))
    click(koho, "U0ONCALL2", items, "emergency_step_done", block_id=f"step_actions:{verify}")
    wait_updated(koho, EMERGENCY_CHANNEL, "完了 1/12")
    shown = texts(koho.fake.message(EMERGENCY_CHANNEL, items["ts"]))
    assert ":white_check_mark: *1. 状況確認* — 完了 <@U0ONCALL2>（10:05）" in shown
    undo = next(b for b in koho.fake.message(EMERGENCY_CHANNEL, items["ts"])["blocks"]
                if b.get("block_id") == f"step_actions:{verify}")
    assert undo["elements"][0]["action_id"] == "emergency_step_reopen"
    assert audit_actions(koho, "emergency", emergency_id)[-1] == "emergency.step_done"


def test_two_officers_ticking_the_same_step_at_once_make_one_record_and_the_other_is_told_who(koho):
    emergency_id = declare(koho)
    items = checklist(koho, emergency_id)
    verify = step_ids(koho, emergency_id)[1]
    barrier = threading.Barrier(2)

    def tick(user):
        barrier.wait()
        click(koho, user, items, "emergency_step_done", block_id=f"step_actions:{verify}")

    threads = [threading.Thread(target=tick, args=(u,)) for u in ("U0ONCALL1", "U0ONCALL2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (told,) = ephemerals(koho)
    with koho.db.read() as session:
        winner = session.get(Emergency, emergency_id).steps[1].done_by
    assert f"すでに <@{winner}> が" in told and "完了にしています" in told
    assert audit_actions(koho, "emergency", emergency_id).count("emergency.step_done") == 1


def test_someone_not_on_call_cannot_tick_but_an_assigned_person_can_and_notes_are_kept(koho):
    emergency_id = declare(koho)
    items = checklist(koho, emergency_id)
    notify = step_ids(koho, emergency_id)[2]

    click(koho, "U0STAFF1", items, "emergency_step_done", block_id=f"step_actions:{notify}")
    assert "当番か、この項目の担当者だけ" in ephemerals(koho)[0]

    # An on-call officer assigns the step: the assignee is told, and may tick it.
    click(koho, "U0ONCALL1", items, "emergency_step_assign", block_id=f"step_actions:{notify}",
          selected_user="U0STAFF1")
    wait_updated(koho, EMERGENCY_CHANNEL, "担当: <@U0STAFF1>")
    (dm,) = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1", predicate=lambda c: c.ok)
    assert "<@U0ONCALL1> があなたを担当にしました" in dm.args["text"] and "2. 連絡・報告" in dm.args["text"]

    # A note: who was told, and how.
    before = views_opened(koho, "emergency_note")
    click(koho, "U0STAFF1", items, "emergency_step_note", block_id=f"step_actions:{notify}")
    note_modal = wait_for_modal(koho, "emergency_note", before, "U0STAFF1")
    assert "「2. 連絡・報告」のメモ" in texts(note_modal)
    empty = koho.slack.view_submission("U0STAFF1", note_modal, {"emergency_note": {"emergency_note": " "}}, strict=False)
    assert "メモを入力してください" in empty.json()["errors"]["emergency_note"]
    koho.slack.view_submission("U0STAFF1", note_modal,
                               {"emergency_note": {"emergency_note": "10:06 危機管理課 山田さんに電話で報告 <!channel>"}})
    wait_updated(koho, EMERGENCY_CHANNEL, "危機管理課 山田さんに電話で報告")
    shown = texts(koho.fake.message(EMERGENCY_CHANNEL, items["ts"]))
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown  # typed text never pings

    click(koho, "U0STAFF1", items, "emergency_step_done", block_id=f"step_actions:{notify}")
    wait_updated(koho, EMERGENCY_CHANNEL, "完了 1/12")
    assert audit_actions(koho, "emergency", emergency_id) == [
        "emergency.declared", "emergency.step_done_refused", "emergency.step_assigned", "emergency.note_added",
        "emergency.step_done"]


def test_of_two_officers_assigning_one_step_from_the_same_message_the_second_is_told_who_assigned_whom(koho):
    emergency_id = declare(koho)
    items = checklist(koho, emergency_id)  # both look at the checklist: nobody is assigned yet
    step = step_ids(koho, emergency_id)[1]
    # The first assignment's update has not reached Slack when the second comes (Slack fails it; its retry
    # waits for a clock that does not move). Not by stopping delivery: the dispatcher works the clicks too.
    koho.fake.fail("chat.update", count=2)
    click(koho, "U0ONCALL1", items, "emergency_step_assign", block_id=f"step_actions:{step}", selected_user="U0STAFF1")
    deadline = time.monotonic() + 5
    while assignee_of(koho, step) != "U0STAFF1":  # (the listener runs after the ack)
        assert time.monotonic() < deadline, "the first assignment was not stored"
        time.sleep(0.02)

    click(koho, "U0ONCALL2", items, "emergency_step_assign", block_id=f"step_actions:{step}", selected_user="U0STAFF2")
    (text,) = ephemerals(koho)
    assert "<@U0ONCALL1> が <@U0STAFF1> を担当にしていました" in text
    assert assignee_of(koho, step) == "U0STAFF1"
    assert audit_actions(koho, "emergency", emergency_id).count("emergency.step_assigned") == 1


def assignee_of(koho, step_id):
    with koho.db.read() as session:
        return session.get(EmergencyStep, step_id).assignee


def test_an_assignment_by_someone_not_on_call_is_refused_and_the_menu_put_back(koho):
    emergency_id = declare(koho)
    items = checklist(koho, emergency_id)
    first = step_ids(koho, emergency_id)[0]
    updates = len(koho.fake.calls_to("chat.update", channel=EMERGENCY_CHANNEL))
    click(koho, "U0STAFF2", items, "emergency_step_assign", block_id=f"step_actions:{first}", selected_user="U0STAFF2")
    assert "緊急時当番だけ" in ephemerals(koho)[0]
    koho.fake.wait_for("chat.update", channel=EMERGENCY_CHANNEL, count=updates + 1)  # re-rendered as it was
    assert "担当:" not in texts(koho.fake.message(EMERGENCY_CHANNEL, items["ts"]))
    assert "emergency.step_assign_refused" in audit_actions(koho, "emergency", emergency_id)


# -- drafting from templates, and the fast track ---------------------------------------------------------


def test_a_post_is_drafted_from_a_template_and_fast_tracked_by_one_approver(koho):
    emergency_id = declare(koho)
    top = header(koho, emergency_id)
    koho.clock.advance(timedelta(minutes=12))
    before = views_opened(koho, "proposal_form")
    click(koho, "U0STAFF1", top, "emergency_draft", selected_option=f"{emergency_id}:first_report:ja")
    form = wait_for_modal(koho, "proposal_form", before, "U0STAFF1")
    by_id = {b.get("block_id"): b for b in form["blocks"]}
    draft = by_id["text"]["element"]["initial_value"]
    assert draft.startswith("【地震】11月24日10時12分現在")
    # the title names its place itself: the areas are their own line, never 「中央区で市内で…」
    assert "\n市内で震度5強を確認し、千葉市が対応中です。\n対象地域: 中央区・美浜区\n" in draft
    assert "続報は11時00分頃" in draft and "【訓練】" not in draft
    assert by_id["kind"]["element"]["initial_option"]["value"] == "emergency"
    assert [o["value"] for o in by_id["accounts"]["element"]["initial_options"]] == ["city-x", "city-line"]

    # The person edits the ○○ and submits: one request, in the emergency channel, for the PR office or on call.
    text = draft.replace("身の安全を確保してください。", "身の安全を確保し、防災行政無線や市の防災ポータルを確認してください。")
    proposal_id = submit_proposal_form(koho, "U0STAFF1", form, text=text, accounts=("city-x",))
    request = request_for(koho, EMERGENCY_CHANNEL, proposal_id)
    shown = texts(request)
    assert "緊急時承認（ファストトラック）" in shown
    assert "<@U0PR1>" in shown and "<@U0ONCALL1>" in shown and "<@U0STAFF1>" not in shown.split("承認をお願いします")[0]
    approve(koho, "U0ONCALL2", EMERGENCY_CHANNEL, proposal_id)
    assert proposal_status(koho, proposal_id) == "approved"
    assert publications(koho, proposal_id) == [("city-x", "handed_off")]  # an emergency post is never held


def test_the_english_template_is_offered_too(koho):
    emergency_id = declare(koho)
    top = header(koho, emergency_id)
    groups = next(e for b in top["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == "emergency_draft")["option_groups"]
    assert [g["label"]["text"] for g in groups] == ["日本語の投稿", "英語の投稿（English）"]
    assert [o["text"]["text"] for o in groups[0]["options"]] == ["第一報", "避難情報", "避難所開設", "通行止め",
                                                                  "デマ注意", "定時更新", "解除"]
    before = views_opened(koho, "proposal_form")
    click(koho, "U0STAFF1", top, "emergency_draft", selected_option=f"{emergency_id}:shelters:en")
    form = wait_for_modal(koho, "proposal_form", before, "U0STAFF1")
    draft = {b.get("block_id"): b for b in form["blocks"]}["text"]["element"]["initial_value"]
    assert draft.startswith("[Shelters open] As of 10:00") and "open in [areas]:" in draft  # typed in Japanese

    before = views_opened(koho, "proposal_form")
    click(koho, "U0STAFF1", top, "emergency_draft", selected_option=f"{emergency_id}:first_report:en")
    form = wait_for_modal(koho, "proposal_form", before, "U0STAFF1")
    draft = {b.get("block_id"): b for b in form["blocks"]}["text"]["element"]["initial_value"]
    assert "[what happened] confirmed (areas: [areas]); Chiba City is responding." in draft
    assert not re.search(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]", draft), draft  # no Japanese left in it


def test_a_draft_too_long_for_x_is_shown_whole_and_the_form_says_by_how_much(koho):
    title = "市内全域で震度6弱を観測し、" * 7  # 98 characters: no wording can fit that in 280
    emergency_id = declare(koho, title=title)
    before = views_opened(koho, "proposal_form")
    click(koho, "U0STAFF1", header(koho, emergency_id), "emergency_draft",
          selected_option=f"{emergency_id}:first_report:ja")
    form = wait_for_modal(koho, "proposal_form", before, "U0STAFF1")
    draft = {b.get("block_id"): b for b in form["blocks"]}["text"]["element"]["initial_value"]
    assert title in draft and draft.endswith("続報は11時00分頃、当アカウントで。")  # all of it: nothing cut
    response = koho.slack.view_submission("U0STAFF1", form, {**ALL_CHECKED, "text": {"text": draft},
                                                              "accounts": {"accounts": ["city-x"]}})
    error = response.json()["errors"]["text"]
    assert re.search(r"X の文字数制限を超えています: \d{3}/280（\d+超過", error), error


# -- timed updates ---------------------------------------------------------------------------------------


def test_timed_update_reminders_come_every_interval_until_the_end(koho):
    emergency_id = declare(koho, interval="30")
    koho.clock.advance(timedelta(minutes=29))
    assert koho.sweep()["emergencies.timed_updates"] == 0
    koho.clock.advance(timedelta(minutes=1))  # 10:30
    assert koho.sweep()["emergencies.timed_updates"] == 1
    assert koho.sweep()["emergencies.timed_updates"] == 0  # once per slot
    koho.fake.wait_for("chat.postMessage", channel=EMERGENCY_CHANNEL, count=3, predicate=lambda c: c.ok)
    reminder = message_with(koho, EMERGENCY_CHANNEL, "定時更新の時刻です")
    shown = texts(reminder)
    assert "<@U0ONCALL1>" in shown and "*定時更新の時刻です*（10:30" in shown and "11:00頃" in shown
    wait_updated(koho, EMERGENCY_CHANNEL, "次の定時更新: 11:00")

    # Its button drafts the 定時更新, stamped with the time and the next update.
    koho.clock.advance(timedelta(minutes=2))
    before = views_opened(koho, "proposal_form")
    click(koho, "U0ONCALL2", reminder, "emergency_draft_button")
    form = wait_for_modal(koho, "proposal_form", before, "U0ONCALL2")
    draft = {b.get("block_id"): b for b in form["blocks"]}["text"]["element"]["initial_value"]
    assert draft.startswith("【地震・定時更新】11月24日10時32分現在") and "次回の更新は11時00分頃です。" in draft

    # A worker that was down sends one reminder, not one per missed slot.
    koho.clock.advance(timedelta(minutes=75))  # 11:47: the 11:00 and 11:30 slots were missed
    assert koho.sweep()["emergencies.timed_updates"] == 1
    with koho.db.read() as session:
        assert session.get(Emergency, emergency_id).next_update_at == TEST_START + timedelta(hours=2)

    end_emergency(koho, emergency_id)
    koho.clock.advance(timedelta(hours=2))
    assert koho.sweep()["emergencies.timed_updates"] == 0


# -- status ----------------------------------------------------------------------------------------------


def test_status_summarises_steps_posts_and_held_posts_for_the_asker_alone(koho):
    routine = propose(koho)
    approve_routine(koho, routine)
    emergency_id = declare(koho)
    items = checklist(koho, emergency_id)
    click(koho, "U0ONCALL1", items, "emergency_step_done", block_id=f"step_actions:{step_ids(koho, emergency_id)[1]}")
    wait_updated(koho, EMERGENCY_CHANNEL, "完了 1/12")
    koho.clock.advance(timedelta(minutes=65))
    koho.slack.command("/emergency", "status", user_id="U0STAFF2", channel_id="C0KANKYO")
    answer = last_ephemeral(koho)
    shown = texts(answer)
    assert "*#1 地震: 市内で震度5強*（本番・対応中）" in shown and "1時間5分経過" in shown
    assert "完了 1/12" in shown and "未完了: 0. 平時準備、2. 連絡・報告" in shown
    assert "承認待ち 0 ・ 承認済み 0 ・ 掲載済み 0" in shown
    assert "*保留中の平常投稿:* 1件" in shown and f"#{routine} 【粗大ごみの収集日変更】" in shown
    assert "次の定時更新: 11:00" in shown or "次の定時更新: 12:00" in shown


def test_status_with_nothing_active_says_so(koho):
    koho.slack.command("/emergency", "status", user_id="U0STAFF2")
    assert "対応中の緊急事態はありません" in ephemerals(koho)[0]


def test_status_of_a_number_typed_in_any_width_shows_that_emergency_and_a_non_number_shows_the_usage(koho):
    first = declare(koho, "U0ONCALL1")
    end_emergency(koho, first)
    declare(koho, "U0ONCALL1", type="tsunami", title="津波警報")  # #2 is the active one
    # ＃１ and ① come from a Japanese IME (①: isdigit() said yes, int() refused it: a crash)
    for count, typed in enumerate(("ｓｔａｔｕｓ　＃１", "status ①", "status １", "状況 #1"), start=1):
        koho.slack.command("/emergency", typed, user_id="U0STAFF2", channel_id="C0KANKYO")
        shown = texts(last_ephemeral(koho, count=count))
        assert "#1 地震: 市内で震度5強" in shown and "津波警報" not in shown, typed
    koho.slack.command("/emergency", "status ＃三", user_id="U0STAFF2", channel_id="C0KANKYO")
    answer = last_ephemeral(koho, count=5)
    assert "`/emergency status 3` で #3" in answer["text"] and "blocks" not in answer  # the usage, no status
    koho.slack.command("/emergency", "status ＃９", user_id="U0STAFF2", channel_id="C0KANKYO")
    assert "見つかりませんでした" in last_ephemeral(koho, count=6)["text"]


# -- ending ----------------------------------------------------------------------------------------------


def test_ending_needs_an_on_call_officer_and_a_confirmation(koho):
    declare(koho)
    koho.slack.command("/emergency", "end", user_id="U0PR1", channel_id=EMERGENCY_CHANNEL)
    assert "緊急時当番だけ" in ephemerals(koho)[0]
    assert "emergency.end_refused" in audit_actions(koho, "emergency", "-")

    before = views_opened(koho, "emergency_end_confirm")
    koho.slack.command("/emergency", "end", user_id="U0ONCALL2", channel_id=EMERGENCY_CHANNEL)
    modal = wait_for_modal(koho, "emergency_end_confirm", before, "U0ONCALL2")
    shown = texts(modal)
    assert modal["submit"]["text"] == "終了する" and "*緊急事態 #1 地震: 市内で震度5強*（本番）を終了しますか？" in shown
    assert "未完了の項目が 12 件" in shown and "自動では再開しません" in shown and "「解除」" in shown
    with koho.db.read() as session:
        assert session.query(Emergency).one().status == "active"  # nothing happens until they confirm


def test_the_end_posts_a_timeline_for_the_review(koho):
    from tests.comments_support import receive

    emergency_id = declare(koho)
    items = checklist(koho, emergency_id)
    koho.clock.advance(timedelta(minutes=4))
    click(koho, "U0ONCALL2", items, "emergency_step_done", block_id=f"step_actions:{step_ids(koho, emergency_id)[1]}")
    wait_updated(koho, EMERGENCY_CHANNEL, "完了 1/12")
    koho.clock.advance(timedelta(minutes=8))
    top = header(koho, emergency_id)
    before = views_opened(koho, "proposal_form")
    click(koho, "U0STAFF1", top, "emergency_draft", selected_option=f"{emergency_id}:first_report:ja")
    form = wait_for_modal(koho, "proposal_form", before, "U0STAFF1")
    proposal_id = submit_proposal_form(koho, "U0STAFF1", form, accounts=("city-x",))
    koho.clock.advance(timedelta(minutes=3))
    approve(koho, "U0PR2", EMERGENCY_CHANNEL, proposal_id)
    hand_off = message_with(koho, "C0PR", "掲載依頼")
    koho.clock.advance(timedelta(minutes=2))
    click(koho, "U0PR2", hand_off, "proposal_mark_published")
    modal = wait_for_modal(koho, "proposal_published", 0, "U0PR2")
    koho.slack.view_submission("U0PR2", modal, {"url": {"url": "https://x.com/chiba_city/status/9"}})
    koho.fake.wait_for("chat.update", channel="C0PR", predicate=lambda c: "掲載済み" in texts(c.args))
    koho.clock.advance(timedelta(minutes=1))
    receive(koho, "近所で火事です、家が燃えています。助けて", received_at="2026-11-24T10:19:00+09:00")
    koho.clock.advance(timedelta(minutes=42))  # 11:00

    summary = end_emergency(koho, emergency_id, "U0ONCALL1", note="気象庁の発表で余震の心配が小さくなったため。")
    shown = texts(summary)
    assert "緊急事態 #1 終了 — 地震: 市内で震度5強" in shown and "終了の理由・引き継ぎ:* 気象庁の発表" in shown
    assert "完了 1/12" in shown and "掲載済み 1" in shown and "保留した平常投稿はありません" in shown
    timeline = shown[shown.index("タイムライン"):]
    expected = ["`11/24 10:00` :rotating_light: 宣言（本番） — <@U0ONCALL1>",
                "`11/24 10:04` :white_check_mark: 1. 状況確認 — <@U0ONCALL2>",
                f"`11/24 10:12` :pencil: 起案 #{proposal_id} 【地震】11月24日10時12分現在 — <@U0STAFF1>",
                f"`11/24 10:15` :ok: 承認（緊急時承認（ファストトラック）） #{proposal_id} 【地震】11月24日10時12分現在 — <@U0PR2>",
                f"`11/24 10:17` :mega: 掲載 #{proposal_id} 千葉市 公式X <https://x.com/chiba_city/status/9> — <@U0PR2>",
                "`11/24 10:19` :sos: 緊急の可能性がある市民の声 #1",
                "`11/24 11:00` :checkered_flag: 終了 — <@U0ONCALL1>"]
    positions = [timeline.index(line) for line in expected]
    assert positions == sorted(positions), timeline

    # The header and the checklist are frozen, and say so; the 定時更新 reminders stop.
    wait_updated(koho, EMERGENCY_CHANNEL, "終了 — 緊急事態 #1")
    frozen = koho.fake.message(EMERGENCY_CHANNEL, top["ts"])
    assert not any(b["type"] == "actions" for b in frozen["blocks"]) and "振り返り用のタイムライン" in texts(frozen)
    wait_updated(koho, EMERGENCY_CHANNEL, "緊急事態は終了しました")
    assert not any(b["type"] == "actions" for b in koho.fake.message(EMERGENCY_CHANNEL, items["ts"])["blocks"])

    # A stale button does nothing but say why; ending twice is refused.
    koho.slack.block_action("U0ONCALL1", "emergency_step_done", str(step_ids(koho, emergency_id)[3]), message=items,
                            strict=False)  # a client still showing the old buttons
    assert any("は <@U0ONCALL1> が 2026年11月24日(火) 11:00 に終了しています" in t for t in ephemerals(koho))
    assert audit_actions(koho, "emergency", emergency_id)[-1] == "emergency.ended"
    koho.slack.command("/emergency", "end", user_id="U0ONCALL2", channel_id=EMERGENCY_CHANNEL)
    assert any("対応中の緊急事態はありません" in t for t in ephemerals(koho, count=2))


def test_an_account_opened_in_slack_is_drafted_to_and_named_in_the_timeline_by_its_register_name(koho):
    # A post published on an account opened through Koho (in the register only, not the organisation file):
    # the draft did not start on it, and the timeline showed its id ("bousai-x") where people read its name.
    open_in_register(koho, "bousai-x", "千葉市 防災X", "pr_office", handle="@chiba_bousai", operators=("U0PRSTAFF1",))
    emergency_id = declare(koho)
    top = header(koho, emergency_id)
    before = views_opened(koho, "proposal_form")
    click(koho, "U0STAFF1", top, "emergency_draft", selected_option=f"{emergency_id}:first_report:ja")
    form = wait_for_modal(koho, "proposal_form", before, "U0STAFF1")
    (accounts,) = [b["element"] for b in form["blocks"] if b.get("block_id") == "accounts"]
    # The draft starts on the city's main accounts as the register has them, this one among them.
    assert [o["value"] for o in accounts["initial_options"]] == ["city-x", "city-line", "bousai-x"]
    proposal_id = submit_proposal_form(koho, "U0STAFF1", form, accounts=("bousai-x",))
    approve(koho, "U0PR2", EMERGENCY_CHANNEL, proposal_id)
    hand_off = message_with(koho, "C0PR", "掲載依頼")
    click(koho, "U0PR2", hand_off, "proposal_mark_published")
    modal = wait_for_modal(koho, "proposal_published", 0, "U0PR2")
    koho.slack.view_submission("U0PR2", modal, {"url": {"url": "https://x.com/chiba_bousai/status/1"}})
    koho.fake.wait_for("chat.update", channel="C0PR", predicate=lambda c: "掲載済み" in texts(c.args))

    shown = texts(end_emergency(koho, emergency_id))
    timeline = shown[shown.index("タイムライン"):]
    assert f"掲載 #{proposal_id} " in timeline
    assert "千葉市 防災X <https://x.com/chiba_bousai/status/1>" in timeline and "bousai-x" not in timeline


# -- a click in the instant the emergency ends ----------------------------------------------------------
# On PostgreSQL (READ COMMITTED) a click read "the emergency is active" with a plain read: 終了 could commit between
# that read and the click's commit, and the record showed a step ticked after the end (which the summary left out).
# The click's transaction is held at a chosen point until the end has committed; when the end must wait for it (a
# lock, or SQLite's one writer at a time), the hold gives up after two seconds and the two run one after the other.


@pytest.mark.parametrize("change", ["step_done", "step_assigned"])
def test_a_step_changed_in_the_instant_the_emergency_ends_is_recorded_before_the_end(koho, change):
    emergency_id = declare(koho)
    items = checklist(koho, emergency_id)
    block_id = f"step_actions:{step_ids(koho, emergency_id)[1]}"
    hold = Hold(koho.db, at_statement="UPDATE emergency_steps", release_after="UPDATE emergencies")
    try:
        if change == "step_done":
            click(koho, "U0ONCALL2", items, "emergency_step_done", block_id=block_id)
        else:
            click(koho, "U0ONCALL2", items, "emergency_step_assign", block_id=block_id, selected_user="U0STAFF1")
        assert hold.held.wait(10)  # the step is changed, the change not yet recorded nor committed
        summary = end_emergency(koho, emergency_id)
    finally:
        hold.remove()
    assert audit_actions(koho, "emergency", emergency_id)[-2:] == [f"emergency.{change}", "emergency.ended"]
    if change == "step_done":
        assert "完了 1/12" in texts(summary)


def test_a_click_that_read_the_emergency_as_active_just_before_the_end_is_told_it_has_ended(koho):
    emergency_id = declare(koho)
    items = checklist(koho, emergency_id)
    step = step_ids(koho, emergency_id)[1]
    settle(koho)  # nothing else reads the emergency meanwhile: the click is the one held
    hold = Hold(koho.db, at_statement="SELECT emergencies", release_after="UPDATE emergencies")
    try:
        click(koho, "U0ONCALL2", items, "emergency_step_done", block_id=f"step_actions:{step}")
        assert hold.held.wait(10)  # it has read the emergency: active
        end_emergency(koho, emergency_id)
        koho.wait_for_listeners()
    finally:
        hold.remove()
    actions = audit_actions(koho, "emergency", emergency_id)
    with koho.db.read() as session:
        done = session.get(EmergencyStep, step).status == "done"
    if koho.db.dialect == "postgresql":  # the end committed while the click was worked: nothing changed, and it says so
        assert actions[-1] == "emergency.ended" and not done
        assert any("に終了しています" in t for t in ephemerals(koho))
    else:  # SQLite writers take turns: the click, holding the write turn, went first; then the end
        assert actions[-2:] == ["emergency.step_done", "emergency.ended"] and done


# -- a drill ---------------------------------------------------------------------------------------------


def test_a_drill_pauses_nothing_and_says_so(koho):
    routine = propose(koho)
    approve_routine(koho, routine)

    emergency_id = declare(koho, mode="drill")
    top = header(koho, emergency_id)
    shown = texts(top)
    assert "【訓練】緊急事態 #1" in shown and "*訓練です。* 平常投稿は止めず" in shown
    assert proposal_status(koho, routine) == "approved" and publications(koho, routine) == [("city-x", "handed_off")]

    # A routine post approved during the drill goes out as usual.
    later = propose(koho, text="【図書館】年末年始の開館日のお知らせ。問い合わせ: 中央図書館 043-000-0000")
    approve_routine(koho, later)
    assert proposal_status(koho, later) == "approved" and publications(koho, later) == [("city-x", "handed_off")]

    # Its drafts are marked 【訓練】, and an emergency post takes the normal route, not the fast track.
    before = views_opened(koho, "proposal_form")
    click(koho, "U0STAFF1", top, "emergency_draft", selected_option=f"{emergency_id}:first_report:ja")
    form = wait_for_modal(koho, "proposal_form", before, "U0STAFF1")
    draft = {b.get("block_id"): b for b in form["blocks"]}["text"]["element"]["initial_value"]
    assert draft.startswith("【訓練】【地震】")
    drill_post = submit_proposal_form(koho, "U0STAFF1", form, accounts=("city-x",))
    assert "所属長承認" in texts(request_for(koho, "C0KANKYO", drill_post))

    koho.clock.advance(timedelta(minutes=60))  # timed updates are practised too
    assert koho.sweep()["emergencies.timed_updates"] == 1
    # The PR office heard nothing about it: its channel has the routine requests and hand-offs only.
    koho.fake.wait_for("chat.postMessage", channel="C0PR", count=2,
                       predicate=lambda c: c.ok and "掲載依頼" in c.args["text"])
    assert not any("緊急事態" in m["text"] for m in koho.fake.messages("C0PR"))


# -- 緊急 posts submitted before the declaration ---------------------------------------------------------


def test_a_pending_emergency_post_moves_to_the_fast_track_when_a_real_emergency_is_declared(koho):
    proposal_id = propose(koho, text="【緊急】市内で大きな揺れ。身の安全を確保してください。", kind="emergency")
    old = request_for(koho, "C0KANKYO", proposal_id)  # no emergency yet: the ordinary two-step chain
    assert "緊急時承認" not in texts(old)

    declare(koho)
    request = request_for(koho, EMERGENCY_CHANNEL, proposal_id)
    shown = texts(request)
    assert "緊急時承認（ファストトラック）" in shown and "<@U0ONCALL1>" in shown and "<@U0PR1>" in shown
    wait_updated(koho, "C0KANKYO", "ファストトラック）に移りました")
    assert "proposal.fast_tracked" in audit_actions(koho, "proposal", proposal_id)

    approve(koho, "U0ONCALL2", EMERGENCY_CHANNEL, proposal_id)  # one approval is enough now
    assert proposal_status(koho, proposal_id) == "approved"
    assert publications(koho, proposal_id) == [("city-x", "handed_off")]


def test_an_emergency_post_still_waiting_for_its_fast_track_approval_goes_back_to_the_ordinary_chain_at_the_end(koho):
    # The fast track is for while an emergency is declared: after the end one approval is no longer enough.
    emergency_id = declare(koho)
    proposal_id = propose(koho, text="【緊急】給水所を開設しました。", kind="emergency")
    fast = request_for(koho, EMERGENCY_CHANNEL, proposal_id)

    end_emergency(koho, emergency_id)
    request = request_for(koho, "C0KANKYO", proposal_id)  # the department approver first, then the PR office
    assert "緊急時承認" not in texts(request)
    wait_updated(koho, EMERGENCY_CHANNEL, "通常の承認を最初から受けます")
    assert "proposal.fast_track_left" in audit_actions(koho, "proposal", proposal_id)
    dm = koho.fake.wait_for("chat.postMessage", channel="U0STAFF1",
                            predicate=lambda c: c.ok and "緊急時承認を離れ" in texts(c.args))
    assert dm

    # The old request has no buttons now; an on-call officer whose Slack still showed them changes nothing, and is
    # told where it went.
    assert not any(b["type"] == "actions" for b in koho.fake.message(EMERGENCY_CHANNEL, fast["ts"])["blocks"])
    step_id = next(e["value"] for b in fast["blocks"] if b["type"] == "actions" for e in b["elements"])
    koho.slack.block_action("U0ONCALL2", "proposal_approve", step_id, message=fast, strict=False)
    (told,) = koho.fake.wait_for("response_url", predicate=lambda c: "新しい依頼が出ています" in c.args.get("text", ""))
    assert told.args["response_type"] == "ephemeral"
    assert proposal_status(koho, proposal_id) == "pending"
    approve_routine(koho, proposal_id)
    assert proposal_status(koho, proposal_id) == "approved"
    assert koho.sweep()["emergencies.fast_track_emergency_posts"] == 0  # nothing left to move


def test_a_fast_track_approval_in_the_instant_of_the_end_wins_and_the_post_stays_approved(koho):
    emergency_id = declare(koho)
    proposal_id = propose(koho, text="【緊急】給水車の巡回時間。", kind="emergency")
    request = request_for(koho, EMERGENCY_CHANNEL, proposal_id)
    hold = Hold(koho.db, at_statement="UPDATE approval_steps", release_after="UPDATE approval_steps")
    try:
        koho.slack.block_action("U0ONCALL2", "proposal_approve", message=request)
        assert hold.held.wait(10)  # approved, not yet committed
        end_emergency(koho, emergency_id)
    finally:
        hold.remove()
    koho.services.notify()
    wait_until(lambda: proposal_status(koho, proposal_id) == "approved")
    assert "proposal.fast_track_left" not in audit_actions(koho, "proposal", proposal_id)


def test_with_another_real_emergency_still_active_the_fast_track_stays(koho):
    earthquake, _tsunami = earthquake_then_tsunami(koho)
    proposal_id = propose(koho, text="【緊急】避難所を開設しました。", kind="emergency")
    request_for(koho, EMERGENCY_CHANNEL, proposal_id)
    end_emergency(koho, earthquake)
    assert "proposal.fast_track_left" not in audit_actions(koho, "proposal", proposal_id)
    approve(koho, "U0ONCALL2", EMERGENCY_CHANNEL, proposal_id)  # one approval is still enough
    assert proposal_status(koho, proposal_id) == "approved"


def test_a_fast_tracked_post_left_behind_by_an_end_that_failed_to_move_it_is_moved_by_the_sweep(koho, monkeypatch):
    from bot.workflows.emergencies import service as emergency_service

    emergency_id = declare(koho)
    proposal_id = propose(koho, text="【緊急】停電の復旧見込み。", kind="emergency")
    request_for(koho, EMERGENCY_CHANNEL, proposal_id)
    monkeypatch.setattr(emergency_service, "leave_fast_track", lambda *a, **k: (_ for _ in ()).throw(
        sa_exc.OperationalError("UPDATE", {}, Exception("the database went away"))))
    end_emergency(koho, emergency_id)  # the end itself stands
    monkeypatch.undo()
    assert koho.sweep()["emergencies.fast_track_emergency_posts"] == 1
    koho.services.notify()
    request_for(koho, "C0KANKYO", proposal_id)


def test_a_drill_does_not_move_emergency_posts_to_the_fast_track(koho):
    proposal_id = propose(koho, text="【緊急】訓練前の投稿です。", kind="emergency")
    declare(koho, mode="drill")
    assert "proposal.fast_tracked" not in audit_actions(koho, "proposal", proposal_id)
    request_for(koho, "C0KANKYO", proposal_id)  # still with the department


def test_an_emergency_post_on_the_ordinary_chain_is_chased_in_real_minutes(koho):
    proposal_id = propose(koho, text="【緊急】断水のお知らせ。", kind="emergency")
    request_for(koho, "C0KANKYO", proposal_id)
    koho.clock.advance(timedelta(minutes=14))
    assert koho.sweep()["proposals.remind_and_escalate"] == 0
    koho.clock.advance(timedelta(minutes=1))  # 15 real minutes, not 4 office hours
    assert koho.sweep()["proposals.remind_and_escalate"] == 1
    reminder = message_with(koho, "C0KANKYO", "緊急時の承認依頼が15分以上")
    assert "<@U0KANKYOHEAD>" in texts(reminder)


# -- no Slack call while a database session is open --------------------------------------------------


def test_status_and_the_offer_call_slack_only_outside_database_sessions(koho, monkeypatch):
    """users.info (the reader's language, up to its timeout) and respond() must not hold a session open."""
    from contextlib import contextmanager

    from bot.handlers import KeptAliveRespond  # what `respond` is in Koho's listeners

    depth = threading.local()
    violations = []
    responded = []
    real_read, real_translator_for = koho.services.db.read, koho.services.translator_for
    real_respond = KeptAliveRespond.__call__

    @contextmanager
    def read():
        depth.n = getattr(depth, "n", 0) + 1
        try:
            with real_read() as session:
                yield session
        finally:
            depth.n -= 1

    def translator_for(user_id):
        if getattr(depth, "n", 0):
            violations.append(("translator_for", user_id))
        return real_translator_for(user_id)

    def respond(self, *args, **kwargs):
        responded.append(kwargs.get("text", ""))
        if getattr(depth, "n", 0):
            violations.append(("respond", kwargs.get("text", "")[:40]))
        return real_respond(self, *args, **kwargs)

    declare(koho)
    monkeypatch.setattr(koho.services.db, "read", read)
    monkeypatch.setattr(koho.services, "translator_for", translator_for)
    monkeypatch.setattr(KeptAliveRespond, "__call__", respond)
    for text, user in (("status", "U0STAFF1"), ("status 99", "U0STAFF1"), ("", "U0ONCALL2")):
        assert koho.slack.command("/emergency", text, user_id=user, channel_id=EMERGENCY_CHANNEL).status == 200
    shown = ephemerals(koho, count=3)
    assert sorted(shown) == sorted(["緊急事態の状況（1件）", "この緊急事態（または項目）は見つかりませんでした。",
                                    "対応中の緊急事態があります。同じ事態なら、新しく宣言せずに状況を確認してください。"])
    assert len(responded) == 3 and violations == []


def test_an_emergency_post_that_slipped_past_the_declaration_is_fast_tracked_by_the_sweep(koho):
    from bot.workflows.proposals.rules import CHECKLIST, Draft
    from bot.workflows.proposals.service import ProposalService

    declare(koho)
    # Submitted in the very instant of the declaration: its submit read "no emergency" (the race on PostgreSQL).
    service = ProposalService(koho.db, koho.services.org, koho.clock)
    proposal_id = service.submit("U0STAFF1", Draft(text="【緊急】断水しています。", accounts=("city-x",),
                                                   department_id="kankyo", kind="emergency", checklist=CHECKLIST),
                                 emergency_active=False)
    assert koho.sweep()["emergencies.fast_track_emergency_posts"] == 1
    assert koho.sweep()["emergencies.fast_track_emergency_posts"] == 0  # once
    koho.services.notify()
    request_for(koho, EMERGENCY_CHANNEL, proposal_id)
    assert "proposal.fast_tracked" in audit_actions(koho, "proposal", proposal_id)


def test_at_3am_the_declare_modal_opens_before_slack_is_asked_anything_else(koho):
    """A first-time on-call officer: the trigger_id (3 s, once) is used before the language look-up."""
    opened, redrawn = opened_then_redrawn(koho, "U0ONCALL2", "en-US",
                                          lambda: koho.slack.command("/emergency", "", user_id="U0ONCALL2"))
    assert (opened["title"]["text"], redrawn["title"]["text"]) == ("緊急事態の宣言", "Declare an emergency")


def test_a_long_emergencys_summary_shows_what_one_message_holds_and_says_how_much_more(koho):
    """A typhoon of two days: a hundred notes on the checklist make a timeline of more text than Slack takes in
    one message (`msg_blocks_too_long`; the fake from 11,000 characters). The summary is still posted: its first
    entries, and how many more the audit record has."""
    emergency_id = declare(koho)
    step = step_ids(koho, emergency_id)[0]
    service = EmergencyService(koho.db, koho.services.org, koho.clock)
    for n in range(100):
        koho.clock.advance(timedelta(minutes=20))
        note = f"{n + 1}回目の報告：河川の水位は氾濫危険水位に近づいています。避難所の開設状況と道路の通行止めを確認中。" * 3
        assert service.add_note("U0ONCALL1", step, note).result == "done"

    summary = end_emergency(koho, emergency_id)

    shown = texts(summary)
    assert "1回目の報告" in shown and "100回目の報告" not in shown
    assert re.search(r"…ほか \d+件。全件は監査記録にあります。", shown)
    koho.fake.assert_no_validation_errors()
