"""Citizen comments from monitoring tools: the signed webhook, every answer code, and what reaches Slack."""

import json
import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.handlers.comment_ids import CommentAction
from bot.organization import PR_OFFICE_ID
from bot.webhooks import sign
from bot.workflows.audit import events_for
from bot.workflows.comments.models import Comment
from bot.workflows.comments.service import CommentService, NewComment
from bot.workflows.proposals.models import Proposal, Publication
from tests.comments_support import (
    WEBHOOK_SECRET,
    comment,
    comment_ids_shown,
    message_showing,
    open_in_register,
    post_webhook,
    receive,
    sent_together,
    settle,
    texts,
    updated,
)
from tests.harness.db_hold import Hold
from tests.test_accounts import run_export


def stored(koho, comment_id):
    with koho.db.read() as session:
        return session.get(Comment, comment_id)


def test_a_comment_about_rubbish_reaches_the_environment_bureau_masked(koho):
    status, answer = post_webhook(koho, comment(
        "粗大ゴミの回収日を教えてください。連絡先は090-1234-5678、taro@example.jp です。",
        author="山田（yamada@example.jp）"))
    assert status == 202 and answer["status"] == "accepted"

    message = message_showing(koho, "C0KANKYO", answer["id"])
    shown = texts(message)
    assert "粗大ゴミの回収日を教えてください" in shown
    assert "090-1234-5678" not in shown and "taro@example.jp" not in shown and "yamada@" not in shown
    assert "[電話番号]" in shown and "[メールアドレス]" in shown
    assert "相談・問合せ" in shown and "千葉市 公式X" in shown and "環境局" in shown
    assert [b["text"] for b in message["blocks"][-1]["elements"] if b["type"] == "button"] == [
        {"type": "plain_text", "text": t, "emoji": True}
        for t in ("確認しました", "担当変更", "対応済", "対応不要", "所管外・移ちょう", "重複", "非表示・削除を依頼")]
    # The original stays in the database, for those entitled to it.
    original = stored(koho, answer["id"])
    assert "090-1234-5678" in original.text and original.author == "山田（yamada@example.jp）"
    assert original.status == "routed"
    assert original.department_id == "kankyo" and original.routed_reason == "matched"


def test_the_comment_is_stored_before_202_is_answered(koho):
    koho.services.dispatcher.stop()  # nothing is delivered: the answer must not depend on Slack
    status, answer = post_webhook(koho, comment("道路に大きな穴が開いています"))
    assert status == 202
    saved = stored(koho, answer["id"])
    assert saved is not None and saved.department_id == "kensetsu"
    with koho.db.read() as session:
        (event,) = events_for(session, "comment", answer["id"])
    assert (event.action, event.actor, event.to_state) == ("comment.received", "system", "routed")


def test_the_same_comment_sent_twice_is_posted_once(koho):
    payload = comment("街灯が切れています")
    first = post_webhook(koho, payload)
    second = post_webhook(koho, payload)
    assert first[0] == 202 and second == (200, {"status": "duplicate", "id": first[1]["id"]})
    settle(koho)
    shown = [i for m in koho.fake.messages("C0KENSETSU") for i in comment_ids_shown(m)]
    assert shown == [first[1]["id"]]


def test_the_same_external_id_from_another_platform_is_another_comment(koho):
    one = post_webhook(koho, comment("街灯が切れています", external_id="123"))
    other = post_webhook(koho, comment("街灯が切れています", external_id="123", source="facebook", account=None))
    assert one[0] == other[0] == 202 and one[1]["id"] != other[1]["id"]


def test_requests_not_signed_with_our_secret_just_now_are_refused(koho):
    for how, kwargs in [
        ("unsigned", {"signature": ""}),
        ("wrong secret", {"secret": "someone-elses-secret"}),
        ("ten minutes old", {"timestamp": int(time.time()) - 600}),
        ("from the future", {"timestamp": int(time.time()) + 600}),
        ("garbage timestamp", {"headers": {"X-Koho-Timestamp": "yesterday"}}),
    ]:
        status, answer = post_webhook(koho, comment("ごみ"), **kwargs)
        assert status == 401 and answer["error"], how
    with koho.db.read() as session:
        assert session.scalars(select(Comment)).all() == []


def test_a_tampered_body_is_refused(koho):
    payload = json.dumps(comment("ごみ")).encode()
    ts = str(int(time.time()))
    signature = sign(WEBHOOK_SECRET, ts, payload)
    status, _ = post_webhook(koho, body=payload.replace(b"x-", b"y-"), signature=signature,
                             headers={"X-Koho-Timestamp": ts})
    assert status == 401


def test_a_body_that_is_not_json_is_refused_with_a_reason(koho):
    status, answer = post_webhook(koho, body=b"{not json")
    assert status == 400 and "JSON" in answer["error"]
    status, answer = post_webhook(koho, body=b"[1, 2]")
    assert status == 400 and answer["fields"] == {"(body)": "must be a JSON object"}


def test_missing_and_invalid_fields_are_each_named(koho):
    status, answer = post_webhook(koho, {"source": "myspace", "account": "nope", "text": "  ",
                                         "url": "javascript:alert(1)", "received_at": "2026-11-24T10:00:00"})
    assert status == 400
    # An unknown account is not among them: a comment can be stored without one (it is only warned of).
    assert set(answer["fields"]) == {"source", "external_id", "text", "url", "received_at"}
    assert answer["fields"]["text"] == "required" and "time zone" in answer["fields"]["received_at"]
    assert "x, facebook" in answer["fields"]["source"]


def test_a_received_at_that_cannot_be_when_the_comment_was_written_is_refused_naming_it(koho):
    now = koho.clock.now()
    for received_at in ("0001-01-01T00:00:00+09:00",  # before year 1 in UTC: was a 503, so the tool retried forever
                        "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z",  # a tool's "no date"
                        "9999-12-31T23:59:59-09:00", "2099-01-01T00:00:00+09:00",
                        (now + timedelta(hours=25)).isoformat()):  # from the future
        status, answer = post_webhook(koho, comment("粗大ごみの回収日を教えてください", received_at=received_at))
        assert status == 400 and set(answer["fields"]) == {"received_at"}, (received_at, status, answer)
    assert "2000-01-01" in post_webhook(koho, comment("ごみ", received_at="1970-01-01T00:00:00Z"))[1]["fields"]["received_at"]
    # A tool whose clock runs a little ahead of ours, and a comment written years ago, are taken as they are.
    for received_at in ((now + timedelta(hours=1)).isoformat(), "2019-05-01T12:00:00+09:00"):
        status, answer = post_webhook(koho, comment("粗大ごみの回収日を教えてください", received_at=received_at))
        assert status == 202, (received_at, answer)
        assert stored(koho, answer["id"]).received_at == datetime.fromisoformat(received_at)


def test_a_field_of_control_characters_only_is_missing_and_ids_differing_only_in_them_are_refused(koho):
    status, answer = post_webhook(koho, comment("\x00\x01\x02"))  # was stored empty
    assert status == 400 and answer["fields"] == {"text": "required"}
    # Once stripped these were "" and "1790": the first stored, each next one answered "duplicate" and dropped.
    for external_id in ("\x01", "\x02", "1790\x01", "1790\x02"):
        status, answer = post_webhook(koho, comment("粗大ごみの回収日を教えてください", external_id=external_id))
        assert status == 400 and answer["fields"] == {"external_id": "must not contain control characters"}
    # In an optional field what is left counts: nothing (no author), or the handle without the NUL.
    status, answer = post_webhook(koho, comment("粗大ごみの回収日を教えてください", author="\x01\x02",
                                                author_handle="@taro\x00"))
    assert status == 202, answer
    saved = stored(koho, answer["id"])
    assert (saved.author, saved.author_handle) == (None, "@taro")
    with koho.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 1


def test_a_lone_surrogate_is_replaced_in_what_people_wrote_and_refused_in_ids_and_links(koho):
    # A tool cut an emoji's UTF-16 pair in half ("\ud83d" without its "\ude0a"): the comment is kept and
    # the broken character shows as U+FFFD. It used to reach the database driver, which refused it (a 500).
    status, answer = post_webhook(koho, comment("粗大ごみの回収日を教えてください\ud83d", author="市民\udc00太郎",
                                                author_handle="@taro\ud800"))
    assert status == 202, answer
    saved = stored(koho, answer["id"])
    assert (saved.text, saved.author, saved.author_handle) == (
        "粗大ごみの回収日を教えてください\ufffd", "市民\ufffd太郎", "@taro\ufffd")
    assert "教えてください\ufffd" in texts(message_showing(koho, "C0KANKYO", answer["id"]))
    # A replaced id could make two comments one, a replaced link points nowhere: these are refused.
    for field, value in (("external_id", "1790\ud800"), ("url", "https://x.com/taro/status/1\ud800"),
                         ("account", "city-x\ud800"), ("source", "x\ud800")):
        status, answer = post_webhook(koho, comment("粗大ごみの回収日を教えてください", **{field: value}))
        assert status == 400 and set(answer["fields"]) == {field}, (field, status, answer)
        assert "surrogate" in answer["fields"][field]
    with koho.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 1


def test_a_body_over_64_kb_is_refused_unread(koho):
    status, answer = post_webhook(koho, comment("ごみ" * 40_000))
    assert status == 413 and "65536" in answer["error"]


def test_without_a_configured_secret_the_webhook_says_it_is_off(koho):
    import dataclasses
    import io

    from bot.webhooks import CommentWebhook

    services = dataclasses.replace(koho.services, settings=dataclasses.replace(koho.settings,
                                                                              comment_webhook_secret=None))
    answered = {}
    body = b"".join(CommentWebhook(services)(
        {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "2", "wsgi.input": io.BytesIO(b"{}")},
        lambda status, headers: answered.update(status=status)))
    assert answered["status"].startswith("503") and "COMMENT_WEBHOOK_SECRET" in json.loads(body)["error"]


def test_citizen_text_can_neither_ping_nor_disguise_a_link(koho):
    comment_id = receive(koho, "<!channel> <!here> <@U0PR1> ごみ <https://evil.example/|city.jp> & 終わり",
                         author="<!everyone>", author_handle="<@U0KANKYOHEAD>")
    message = message_showing(koho, "C0KANKYO", comment_id)
    shown = texts(message)
    for dangerous in ("<!channel>", "<!here>", "<@U0PR1>", "<https://evil.example/|city.jp>", "<!everyone>",
                      "<@U0KANKYOHEAD>"):
        assert dangerous not in shown
    assert "&lt;!channel&gt;" in shown and "&lt;https://evil.example/|city.jp&gt;" in shown
    assert "&amp; 終わり" in shown
    assert "<!channel>" not in message["text"]


def test_someone_in_danger_is_also_posted_in_the_emergency_channel_at_once(koho):
    comment_id = receive(koho, "川の中州に取り残されています。助けてください", account=None, source="x")
    shown = texts(message_showing(koho, "C0EMERG", comment_id))
    assert "119番" in shown and "110番" in shown
    assert "<@U0ONCALL1>" in shown and "<@U0ONCALL2>" in shown
    triage = message_showing(koho, "C0PR", comment_id)  # no department matched: the PR office routes it
    assert "緊急" in texts(triage)


def test_a_comment_linking_one_of_our_published_posts_is_linked_to_its_proposal(koho):
    now = koho.clock.now()
    with koho.db.transaction() as session:
        proposal = Proposal(proposer="U0STAFF1", department_id="kankyo", kind="normal", status="published",
                            current_version=1, created_at=now, updated_at=now, published_at=now, row_version=1)
        session.add(proposal)
        session.flush()
        session.add(Publication(proposal_id=proposal.id, account_id="city-x", status="published", due_at=now,
                                url="https://twitter.com/chiba_city/status/1790000000000000042", published_at=now))
        proposal_id = proposal.id
    comment_id = receive(koho, "この投稿のごみ出しルール、わかりやすいです！ありがとう",
                         url="https://x.com/chiba_city/status/1790000000000000042?s=20&t=abc")
    saved = stored(koho, comment_id)
    assert saved.proposal_id == proposal_id
    assert f"起案 #{proposal_id}" in texts(message_showing(koho, "C0KANKYO", comment_id))


def test_nobody_matched_goes_to_pr_office_triage_with_a_department_picker(koho):
    comment_id = receive(koho, "市長の方針について意見があります", account=None)
    saved = stored(koho, comment_id)
    assert (saved.department_id, saved.status, saved.routed_reason) == (None, "new", "no_match")
    message = message_showing(koho, "C0PR", comment_id)
    picker = next(e for e in message["blocks"][-1]["elements"] if e["type"] == "static_select")
    assert {o["text"]["text"] for o in picker["options"]} >= {"環境局", "建設局", "広報広聴課"}

    koho.slack.block_action("U0PR1", picker["action_id"], message=message,
                            selected_option=next(o["value"] for o in picker["options"] if o["text"]["text"] == "建設局"))
    routed = message_showing(koho, "C0KENSETSU", comment_id)
    assert "広報広聴課が振り分け" in texts(routed)
    settle(koho)
    moved = koho.fake.message("C0PR", message["ts"])
    assert "建設局 に担当を変更しました" in texts(moved)
    assert not any(b["type"] == "actions" for b in moved["blocks"])


def test_a_tie_goes_to_triage_and_says_who_tied(koho):
    comment_id = receive(koho, "道路にごみが捨てられています", account=None)
    saved = stored(koho, comment_id)
    assert (saved.department_id, saved.routed_reason) == (None, "tie")
    assert saved.routing_scores == {"kankyo": 1, "kensetsu": 1}
    assert "複数の部署が同数: 環境局 1、建設局 1" in texts(message_showing(koho, "C0PR", comment_id))


def test_a_comment_on_a_departments_own_account_goes_there_when_no_keyword_matches(koho):
    comment_id = receive(koho, "素敵な写真ですね", source="instagram", account="kankyo-instagram")
    saved = stored(koho, comment_id)
    assert (saved.department_id, saved.routed_reason) == ("kankyo", "account")
    assert saved.department_id != PR_OFFICE_ID


def test_a_comment_on_an_account_opened_in_slack_is_taken_and_an_unknown_one_lists_the_register_too(koho):
    # The register's accounts (opened through Koho, not in the organisation file) receive comments too;
    # the webhook looks up only the account named, and lists every known one when it is not known.
    open_in_register(koho, "kensetsu-x", "建設局（X）", "kensetsu", handle="@city_kensetsu")
    comment_id = receive(koho, "素敵な写真ですね", account="kensetsu-x")
    saved = stored(koho, comment_id)
    assert (saved.account_id, saved.department_id, saved.routed_reason) == ("kensetsu-x", "kensetsu", "account")
    status, answer = post_webhook(koho, comment("素敵な写真ですね", account="kensetsu-y"))
    assert status == 202
    assert "kensetsu-x" in answer["warnings"]["account"] and "city-x" in answer["warnings"]["account"]
    message = message_showing(koho, "C0KENSETSU", comment_id)
    assert "建設局（X）" in texts(message)  # the register's name, not "unknown"


def test_a_comment_naming_an_account_koho_does_not_know_is_kept_and_triaged_and_the_sender_warned(koho, caplog):
    # The monitoring tool still has an account id that was renamed in Koho. A 400 would not be retried:
    # every comment from that tool would be lost. It is stored and routed as if no account were named.
    with caplog.at_level("WARNING", logger="bot.webhooks"):
        status, answer = post_webhook(koho, comment("素敵な写真ですね", account="city-x-old"))
    assert status == 202 and answer["status"] == "accepted"
    assert "unknown account" in answer["warnings"]["account"] and "city-x" in answer["warnings"]["account"]
    assert any("city-x-old" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    saved = stored(koho, answer["id"])
    assert (saved.account_id, saved.department_id, saved.status) == ("city-x-old", None, "new")
    triage = message_showing(koho, "C0PR", answer["id"])
    assert "不明なアカウント（city-x-old）" in texts(triage) and "素敵な写真ですね" in texts(triage)
    # Keywords still decide; a known comment's answer carries no warning.
    status, answer = post_webhook(koho, comment("道路に大きな穴が開いています", account="kensetsu-gone"))
    assert status == 202 and stored(koho, answer["id"]).department_id == "kensetsu"
    assert "不明なアカウント（kensetsu-gone）" in texts(message_showing(koho, "C0KENSETSU", answer["id"]))
    assert "warnings" not in post_webhook(koho, comment("道路に大きな穴が開いています"))[1]
    # One longer than an account id can be (a tool's misconfigured field): kept too, its id shortened to the
    # column (PostgreSQL refused the whole comment with a 500, retried for ever; SQLite stored it whole).
    status, answer = post_webhook(koho, comment("公園のベンチが壊れています", account="x" * 100))
    assert status == 202 and "unknown account" in answer["warnings"]["account"]
    assert stored(koho, answer["id"]).account_id == "x" * 63 + "…"


# -- a comment delivered again with other text ------------------------------------------------------

def events(koho, comment_id, action):
    with koho.db.read() as session:
        return [e for e in events_for(session, "comment", comment_id) if e.action == action]


def test_an_edited_comment_delivered_again_is_updated_and_a_fire_in_it_alerts_on_call_once(koho):
    payload = comment("ごみの収集日について教えてください。090-1111-2222")
    status, answer = post_webhook(koho, payload)
    assert status == 202
    comment_id = answer["id"]
    message = message_showing(koho, "C0KANKYO", comment_id)
    assert stored(koho, comment_id).category == "question"

    # The citizen edits the post; the tool sends the new text under the same id.
    edited = {**payload, "text": "ごみの収集日について教えてください。追記: 家の前で火事です、助けて"}
    assert post_webhook(koho, edited) == (200, {"status": "updated", "id": comment_id})
    saved = stored(koho, comment_id)
    assert saved.text == edited["text"] and "火事" in saved.masked_text
    assert (saved.category, saved.suggested_category, saved.masked_kinds) == ("emergency", "emergency", [])
    # 緊急 from now on: the clock of minutes, as for a comment that arrived as 緊急.
    minutes = koho.services.org.emergency.comment_ack_minutes
    assert saved.ack_due_at == koho.clock.now() + timedelta(minutes=minutes)
    (event,) = events(koho, comment_id, "comment.edited")
    assert event.details["previous"] == {"text": payload["text"]}  # the earlier text is kept in the record
    assert (event.details["from_category"], event.details["to_category"]) == ("question", "emergency")
    alert = message_showing(koho, "C0EMERG", comment_id)
    assert "119番" in texts(alert) and "火事" in texts(alert)
    shown = updated(koho, message, lambda t: "火事です" in t and "編集あり" in t)
    assert ":rotating_light:" in texts(shown)

    # The same edit again changes nothing: no second alert, no second event.
    assert post_webhook(koho, edited) == (200, {"status": "duplicate", "id": comment_id})
    assert post_webhook(koho, payload | {"text": edited["text"], "author": None}) == (
        200, {"status": "duplicate", "id": comment_id})  # an author left out is not an edit
    settle(koho)
    assert len(events(koho, comment_id, "comment.edited")) == len(events(koho, comment_id, "comment.emergency_alerted")) == 1
    assert [i for m in koho.fake.messages("C0EMERG") for i in comment_ids_shown(m)] == [comment_id]


def test_the_text_an_edit_replaced_is_exported_masked(koho, monkeypatch, tmp_path):
    payload = comment("ごみの収集日について教えてください。090-1111-2222 まで")
    comment_id = post_webhook(koho, payload)[1]["id"]
    assert post_webhook(koho, {**payload, "text": "ごみの収集日について教えてください"})[1]["status"] == "updated"
    (event,) = [e for e in json.loads(run_export(koho, monkeypatch, tmp_path, "audit", "--format", "json"))
                if e["action"] == "comment.edited"]
    assert event["subject_id"] == str(comment_id)
    assert event["details"]["previous"] == {"text": "ごみの収集日について教えてください。⟦phone⟧ まで"}
    assert event["details"]["masked"] == []  # the new text has nothing masked any more


def test_an_edit_keeps_the_category_staff_chose_by_hand(koho):
    payload = comment("ごみの収集日について教えてください")
    comment_id = post_webhook(koho, payload)[1]["id"]
    message = message_showing(koho, "C0KANKYO", comment_id)
    category = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
                    if e["action_id"] == CommentAction.CATEGORY)
    response = koho.slack.block_action("U0STAFF1", CommentAction.CATEGORY, message=message, selected_option=next(
        o["value"] for o in category["options"] if o["value"].endswith(":request")))
    assert response.status == 200
    updated(koho, message, lambda t: f"#{comment_id}*　要望" in t)  # the title names the category chosen

    edited = {**payload, "text": "ごみの収集日について教えてください。よろしくお願いします", "author": "市民 次郎"}
    assert post_webhook(koho, edited)[1]["status"] == "updated"
    saved = stored(koho, comment_id)
    assert (saved.category, saved.suggested_category, saved.author) == ("request", "question", "市民 次郎")
    (event,) = events(koho, comment_id, "comment.edited")
    assert event.details["previous"] == {"text": payload["text"], "author": payload["author"]}
    assert event.details["kept_staff_category"] is True
    updated(koho, message, lambda t: "よろしくお願いします" in t and "市民 次郎" in t and "編集あり" in t)


def test_two_edits_delivered_at_once_are_both_recorded_in_turn(koho):
    payload = comment("道路に穴が開いています")
    comment_id = post_webhook(koho, payload)[1]["id"]
    first = {**payload, "text": "道路に穴が開いています。場所は駅前です"}
    second = {**payload, "text": "道路に穴が開いています。場所は駅前の交差点です"}
    service = CommentService(koho.db, koho.services.org, koho.services.calendar, koho.clock)
    new = NewComment(origin="webhook", source=first["source"], external_id=first["external_id"], text=first["text"],
                     received_at=datetime.fromisoformat(first["received_at"]), account_id=first["account"])
    # The first edit is held after its update, before its commit, while the second arrives by HTTP.
    hold = Hold(koho.db, at_statement="UPDATE comments", release_after="UPDATE comments", thread_name="editor")
    answers = []
    editor = threading.Thread(target=lambda: answers.append(service.receive(new)), name="editor")
    try:
        editor.start()
        assert hold.held.wait(10)
        status, answer = post_webhook(koho, second)
    finally:
        hold.remove()
        editor.join(10)
    assert status == 200 and answer == {"status": "updated", "id": comment_id} and answers[0].updated
    edits = events(koho, comment_id, "comment.edited")
    # Neither overwrote the other unseen: the second edit's previous text is the first edit's.
    assert [e.details["previous"]["text"] for e in edits] == [payload["text"], first["text"]]
    assert stored(koho, comment_id).text == second["text"] and stored(koho, comment_id).row_version == 3


def test_addresses_without_a_mark_and_a_phone_number_in_a_link_are_masked(koho):
    status, answer = post_webhook(koho, comment(
        "ごみが出されたままです。千葉市中央区千葉港1-1に住んでいます。実家は260-8722 千葉市中央区千葉港2-3",
        url="https://example.jp/report?tel=09012345678"))
    assert status == 202
    message = message_showing(koho, "C0KANKYO", answer["id"])
    shown = json.dumps(message, ensure_ascii=False)
    assert "千葉港1-1" not in shown and "260-8722" not in shown and "09012345678" not in shown
    assert "[住所]に住んでいます" in shown
    # The link with a phone number in it is shown masked, as text: nothing to click that would reveal it.
    assert "https://example.jp/report?tel=[電話番号]" in shown and "<https://example.jp/report" not in shown
    assert stored(koho, answer["id"]).url == "https://example.jp/report?tel=09012345678"


def test_comments_arriving_together_are_stored_in_one_transaction_and_each_answered_after_it(koho, monkeypatch):
    twin = comment("粗大ごみの収集日を教えてください")
    payloads = [comment(f"ごみ集積所の件 {n}") for n in range(11)] + [twin, dict(twin)]
    answers, groups = sent_together(koho, monkeypatch, payloads)  # each answered only after its group's commit
    assert max(groups) > 1 and sum(groups) == len(payloads), groups
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [202] * (len(payloads) - 1), answers  # the twin was stored once
    ids = {answer["id"] for _, answer in answers}
    assert len(ids) == len(payloads) - 1
    with koho.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == len(payloads) - 1
    settle(koho)


def test_a_group_that_cannot_be_stored_is_a_503_for_each_sender_and_the_retry_is_stored(koho, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from bot.workflows.comments.service import CommentService

    store, failures = CommentService.receive_many, []

    def receive_many(self, news):
        if not failures:
            failures.append(len(news))
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return store(self, news)

    monkeypatch.setattr(CommentService, "receive_many", receive_many)
    payload = comment("粗大ごみの申し込み方法")
    status, answer = post_webhook(koho, payload)
    assert status == 503 and "again" in answer["error"]
    with koho.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0
    status, answer = post_webhook(koho, payload)  # the monitoring tool sends it again
    assert status == 202, answer


def refusing_poison(error):
    """A `before_cursor_execute` listener: inserting a comment that says POISON raises `error`."""
    def refusing(conn, cursor, statement, parameters, context, executemany):
        rows = parameters if executemany else [parameters]
        if statement.startswith("INSERT INTO comments") and "POISON" in repr(rows):
            raise error
    return refusing


@pytest.mark.parametrize("error", ["database", "driver"])
def test_one_comment_the_database_refuses_does_not_fail_the_rest_of_its_group(koho, error):
    from datetime import UTC

    from sqlalchemy import event
    from sqlalchemy.exc import DataError

    from bot.workflows.comments.service import CommentService, NewComment

    refused = {"database": DataError("INSERT", {}, Exception("value refused")),
               # what a driver raises for a value it cannot encode: no database error at all
               "driver": UnicodeEncodeError("utf-8", "POISON", 0, 1, "surrogates not allowed")}[error]
    refusing = refusing_poison(refused)

    service = CommentService(koho.db, koho.services.org, koho.services.calendar, koho.clock)
    news = [NewComment(origin="webhook", source="x", external_id=f"group-{n}", text=text,
                       received_at=datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
            for n, text in enumerate(["粗大ごみの件", "POISON", "リサイクルの件"])]
    event.listen(koho.db.engine, "before_cursor_execute", refusing)
    try:
        answers = service.receive_many(news)
    finally:
        event.remove(koho.db.engine, "before_cursor_execute", refusing)
    assert answers[1] is refused
    assert [a.created for a in (answers[0], answers[2])] == [True, True]
    with koho.db.read() as session:
        assert sorted(session.scalars(select(Comment.external_id))) == ["group-0", "group-2"]


def test_a_comment_with_a_lone_surrogate_sent_with_others_is_kept_and_so_are_they(koho, monkeypatch):
    # The surrogate used to reach the database driver in the group's insert: its UnicodeEncodeError failed
    # the whole group, every comment in it lost and each sender answered a bare 500.
    payloads = [comment(f"ごみ集積所の件 {n}") for n in range(5)]
    payloads[3]["text"] = "粗大ごみの件 \ud83d"
    answers, groups = sent_together(koho, monkeypatch, payloads)
    assert max(groups) > 1, groups
    assert [status for status, _ in answers] == [202] * 5, answers
    with koho.db.read() as session:
        kept = sorted(session.scalars(select(Comment.text)))
    assert kept == sorted([f"ごみ集積所の件 {n}" for n in (0, 1, 2, 4)] + ["粗大ごみの件 \ufffd"])
    settle(koho)


def test_a_comment_that_fails_to_store_for_a_reason_nobody_foresaw_fails_alone_in_its_group(koho, monkeypatch):
    from sqlalchemy import event

    payloads = [comment(f"ごみ集積所の件 {n}") for n in range(5)]
    payloads[2]["text"] = "POISON ごみ"
    refusing = refusing_poison(UnicodeEncodeError("utf-8", "POISON", 0, 1, "surrogates not allowed"))
    event.listen(koho.db.engine, "before_cursor_execute", refusing)
    try:
        answers, groups = sent_together(koho, monkeypatch, payloads)
    finally:
        event.remove(koho.db.engine, "before_cursor_execute", refusing)
    assert max(groups) > 1, groups
    # Not the database being away (a 503): an error of ours, said in JSON with a reference for the log.
    assert [status for status, _ in answers] == [202, 202, 500, 202, 202], answers
    assert "reference" in answers[2][1]["error"] and "again" in answers[2][1]["error"]
    with koho.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 4
    assert post_webhook(koho, payloads[2])[0] == 202  # sent again once the mistake is mended: nothing lost
    settle(koho)
