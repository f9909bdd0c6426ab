"""The running bot, driven as Slack drives it: signed HTTP requests, answers through the fake Slack."""

import json
import logging
import time
import urllib.request
from datetime import timedelta

from tests.conftest import SIGNING_SECRET


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback test server
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_healthz_answers_when_the_database_does(koho):
    assert get(f"{koho.url}/healthz") == (200, {"status": "ok", "database": "ok"})


def test_unknown_paths_and_methods_are_refused(koho):
    assert get(f"{koho.url}/nothing-here")[0] == 404
    assert get(f"{koho.url}/slack/events")[0] == 405


def test_an_unsigned_request_is_refused(koho):
    response = koho.slack.post(b"command=/koho&text=help&user_id=U0STAFF1", "application/x-www-form-urlencoded",
                               sign=False)
    assert response.status == 401
    assert koho.fake.calls_to("response_url") == []


def test_a_request_signed_with_another_secret_is_refused(koho):
    response = koho.slack.post(b"command=/koho", "application/x-www-form-urlencoded",
                               signature="v0=" + "0" * 64)
    assert response.status == 401


def test_a_ten_minute_old_request_is_refused_even_when_correctly_signed(koho):
    from slack_sdk.signature import SignatureVerifier

    old = str(int(time.time()) - 600)
    body = b"command=/koho&text=help&user_id=U0STAFF1"
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=old, body=body)
    response = koho.slack.post(body, "application/x-www-form-urlencoded", timestamp=old, signature=signature)
    assert response.status == 401


def test_koho_help_answers_in_japanese_with_the_persons_roles(koho):
    response = koho.slack.command("/koho", "help", user_id="U0KANKYOHEAD")
    assert response.status == 200
    (reply,) = koho.fake.wait_for("response_url")
    text = reply.args["text"]
    assert reply.args["response_type"] == "ephemeral"
    assert "/propose-post" in text and "コマンド" in text
    assert "所属長（承認者）" in text


def test_koho_alone_is_help_and_an_unknown_subcommand_says_so(koho):
    koho.slack.command("/koho", "", user_id="U0STAFF1")
    koho.slack.command("/koho", "dance <!channel>", user_id="U0STAFF1")
    replies = [r.args["text"] for r in koho.fake.wait_for("response_url", count=2)]  # in either order
    assert sum("というコマンドはありません" in text for text in replies) == 1
    assert any("`/koho dance` というコマンドはありません" in text for text in replies)
    assert all("*コマンド*" in text for text in replies)


def test_a_slack_locale_of_english_gets_english(koho):
    koho.fake.users["U0STAFF2"] = {"id": "U0STAFF2", "name": "staff2", "locale": "en-US"}
    koho.slack.command("/koho", "help", user_id="U0STAFF2")
    (reply,) = koho.fake.wait_for("response_url")
    assert "Commands" in reply.args["text"]


def test_when_slack_is_too_slow_to_say_someones_language_koho_answers_in_japanese_and_waits_a_minute(
        koho, caplog):
    caplog.set_level(logging.WARNING)
    koho.fake.users["U0STAFF2"] = {"id": "U0STAFF2", "name": "staff2", "locale": "en-US"}
    koho.fake.hang("users.info", seconds=3)  # past the look-up's 2 s

    koho.slack.command("/koho", "help", user_id="U0STAFF2")
    (first,) = koho.fake.wait_for("response_url", timeout=10)
    assert "*コマンド*" in first.args["text"]  # the organisation's language meanwhile
    koho.slack.command("/koho", "help", user_id="U0STAFF2")
    second = koho.fake.wait_for("response_url", count=2)[1]
    assert "*コマンド*" in second.args["text"]
    assert koho.fake.arrivals("users.info") == 1  # not asked again at once: each try costs 2 s

    koho.clock.advance(timedelta(seconds=61))
    koho.slack.command("/koho", "help", user_id="U0STAFF2")
    third = koho.fake.wait_for("response_url", count=3)[2]
    assert "Commands" in third.args["text"]
    assert koho.fake.arrivals("users.info") == 2

    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                  and "Slack locale" in r.getMessage()]
    assert "U0STAFF2" in warning and "timed out" in warning and "not asking Slack again for 60 s" in warning
    # Handled and reported once, as a warning: slack_sdk's own ERROR line for the attempt is not repeated.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_id_slack_does_not_know_pauses_nobody_elses_language_and_is_not_asked_again(koho):
    # A DM to a departed officer's id: users.info answers user_not_found. That is about this id, not about
    # Slack: before, everyone's language look-up paused for a minute (English speakers got Japanese).
    koho.fake.users["U0STAFF2"] = {"id": "U0STAFF2", "name": "staff2", "locale": "en-US"}
    koho.fake.fail("users.info", 200, error="user_not_found")
    koho.slack.command("/koho", "help", user_id="U0GONE")
    (first,) = koho.fake.wait_for("response_url")
    assert "*コマンド*" in first.args["text"]
    koho.slack.command("/koho", "help", user_id="U0STAFF2")
    assert "Commands" in koho.fake.wait_for("response_url", count=2)[1].args["text"]
    koho.slack.command("/koho", "help", user_id="U0GONE")
    koho.fake.wait_for("response_url", count=3)
    assert len(koho.fake.calls_to("users.info", predicate=lambda c: c.args.get("user") == "U0GONE")) == 1


def test_a_person_can_choose_their_language_and_it_is_recorded(koho):
    koho.slack.command("/koho", "language en", user_id="U0STAFF1")
    koho.fake.wait_for("response_url")
    koho.slack.command("/koho", "help", user_id="U0STAFF1")
    set_reply, help_reply = koho.fake.wait_for("response_url", count=2)
    assert set_reply.args["text"].endswith("Your language is now English.")
    assert "Commands" in help_reply.args["text"]
    from bot.workflows.audit import events_for

    with koho.db.read() as session:
        (event,) = events_for(session, "user", "U0STAFF1")
    # Slack said ja (the fake's default locale) before the person chose en.
    assert (event.action, event.from_state, event.to_state) == ("language.set", "ja", "en")


def test_a_language_typed_in_full_width_by_a_japanese_ime_is_understood(koho):
    koho.slack.command("/koho", "ｌａｎｇｕａｇｅ　ＥＮ", user_id="U0STAFF1")  # an ideographic space too
    (reply,) = koho.fake.wait_for("response_url")
    assert reply.args["text"].endswith("Your language is now English.")
    koho.slack.command("/koho", "ｌａｎｇｕａｇｅ ｊａ", user_id="U0STAFF1")
    assert koho.fake.wait_for("response_url", count=2)[-1].args["text"].endswith("表示言語を日本語にしました。")


def test_an_unknown_language_shows_the_usage(koho):
    koho.slack.command("/koho", "language fr", user_id="U0STAFF1")
    (reply,) = koho.fake.wait_for("response_url")
    assert "/koho language en" in reply.args["text"]


def test_app_home_shows_what_koho_does(koho):
    response = koho.slack.event({"type": "app_home_opened", "user": "U0PR1", "channel": "D0PR1", "tab": "home"})
    assert response.status == 200
    (publish,) = koho.fake.wait_for("views.publish")
    assert publish.args["user_id"] == "U0PR1"
    texts = json.dumps(publish.args["view"], ensure_ascii=False)
    assert "広報広聴課（最終承認）" in texts


def test_commands_not_built_yet_say_so(koho):
    """Declared commands whose flow has not landed answer "準備中" (none today: the loop may be empty,
    so it is not parametrized — an empty parameter set would only show up as a skip)."""
    from bot.handlers.pending import NOT_YET_BUILT

    for command in NOT_YET_BUILT:
        response = koho.slack.command(command.value, "", user_id="U0STAFF1")
        assert response.status == 200
        assert "準備中" in response.json()["text"]


def test_a_transaction_rolled_back_for_colliding_with_another_says_so_not_that_the_database_is_down(koho, monkeypatch):
    # PostgreSQL breaks a deadlock by failing one transaction (SQLSTATE 40P01): the database is there, and the
    # person may simply repeat what they did. It was answered as an outage ("cannot reach the database").
    import psycopg.errors
    from sqlalchemy.exc import OperationalError

    def deadlocked(self, user_id):
        raise OperationalError("UPDATE proposals", {}, psycopg.errors.DeadlockDetected("deadlock detected"))

    monkeypatch.setattr(type(koho.services.org), "roles_of", deadlocked)
    koho.slack.command("/koho", "help", user_id="U0STAFF1")
    (reply,) = koho.fake.wait_for("response_url")
    assert "ほかの操作と同じ瞬間に重なった" in reply.args["text"] and "参照番号" in reply.args["text"]
    assert "接続できません" not in reply.args["text"]


def test_an_error_gives_a_reference_not_a_stack_trace(koho, monkeypatch, caplog):
    def broken(self, user_id):
        raise RuntimeError("boom: xoxb-secret-token-should-not-leak")

    monkeypatch.setattr(type(koho.services.org), "roles_of", broken)
    koho.slack.command("/koho", "help", user_id="U0STAFF1")
    (reply,) = koho.fake.wait_for("response_url")
    assert "参照番号" in reply.args["text"] and "boom" not in reply.args["text"]
    reference = reply.args["text"].split("`")[1]
    assert any(reference in r.getMessage() for r in caplog.records)
