"""Nobody let in: forged and replayed signatures, clicks by people who may not, and hostile payloads.

Every case is answered with a 4xx or a clear message — never a 500 — and changes nothing. The
tables below are the cases; each test runs all of its table against one running bot.
"""

import json
import time
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from slack_sdk.signature import SignatureVerifier

from bot.models import Base, load_domain_models
from bot.webhooks import sign
from tests.comments_support import (
    WEBHOOK_SECRET,
    comment,
    json_body,
    message_showing,
    post_webhook,
    receive,
    settle,
)
from tests.conftest import SIGNING_SECRET
from tests.emergency_support import (
    approve_routine,
    checklist,
    click,
    declare,
    propose,
    request_for,
    step_ids,
    views_opened,
    wait_for_modal,
)

load_domain_models()
# Tables whose rows are the state people change; the audit record, the outbox and caches may grow.
BOOKKEEPING = {"audit_events", "outbox", "slack_messages", "user_preferences", "received_events"}
CHANNELS = ["C0KANKYO", "C0KENSETSU", "C0PR", "C0EMERG"]
PEOPLE = ["U0STAFF1", "U0STAFF2", "U0KANKYOHEAD", "U0KANKYOHEAD2", "U0PR1", "U0PR2", "U0ONCALL1", "U0ONCALL2"]


def state(db) -> dict[str, list]:
    with db.read() as session:
        return {t.name: sorted(map(repr, session.execute(sa.select(t)).all()))
                for t in Base.metadata.sorted_tables if t.name not in BOOKKEEPING}


def answers_to(koho, user) -> int:
    """How many things the bot has said or shown to `user` (ephemerals, response_url replies, modals, DMs)."""
    fake = koho.fake
    return (len(fake.calls_to("response_url")) + len(fake.calls_to("chat.postEphemeral", user=user))
            + len(fake.calls_to("views.open")) + len(fake.calls_to("views.push")) + len(fake.dms(user)))


def wait_for_answer(koho, user, before, timeout=5.0) -> None:
    deadline = time.monotonic() + timeout
    while answers_to(koho, user) <= before:
        assert time.monotonic() < deadline, f"{user} was told nothing"
        time.sleep(0.02)


# -- signatures -------------------------------------------------------------------------------

APPROVE_FORM = "payload=" + json.dumps({"type": "block_actions", "user": {"id": "U0KANKYOHEAD"},
                                        "actions": [{"action_id": "proposal_approve", "value": "1"}]})
_verifier = SignatureVerifier(SIGNING_SECRET)


def _signed(ts: str, body: str) -> str:
    return _verifier.generate_signature(timestamp=ts, body=body)


def _now() -> str:
    return str(int(time.time()))


SLACK_FORGERIES = {
    # name: (timestamp, signature, body sent) — body signed may differ from body sent
    "unsigned": lambda: (None, None, APPROVE_FORM),
    "another secret": lambda: (_now(), SignatureVerifier("not-our-secret").generate_signature(
        timestamp=_now(), body=APPROVE_FORM), APPROVE_FORM),
    "all zeros": lambda: (_now(), "v0=" + "0" * 64, APPROVE_FORM),
    "wrong version": lambda: (_now(), _signed(_now(), APPROVE_FORM).replace("v0=", "v1="), APPROVE_FORM),
    "replayed after 6 minutes": lambda: (ts := str(int(time.time()) - 360), _signed(ts, APPROVE_FORM), APPROVE_FORM),
    "timestamp from the future": lambda: (ts := str(int(time.time()) + 600), _signed(ts, APPROVE_FORM), APPROVE_FORM),
    "body changed after signing": lambda: (ts := _now(), _signed(ts, APPROVE_FORM),
                                          APPROVE_FORM.replace("U0KANKYOHEAD", "U0KANKYOHEAD2")),
    "timestamp changed after signing": lambda: (_now(), _signed(str(int(time.time()) - 1), APPROVE_FORM), APPROVE_FORM),
    "not a number": lambda: ("soon", _signed("soon", APPROVE_FORM), APPROVE_FORM),
}


def test_forged_and_replayed_slack_requests_are_refused_and_change_nothing(koho):
    proposal_id = propose(koho, "U0STAFF1")
    request = request_for(koho, "C0KANKYO", proposal_id)
    form = APPROVE_FORM.replace('"value": "1"', f'"value": "{request["blocks"][-1]["elements"][0]["value"]}"')
    before = state(koho.db)
    for name, make in SLACK_FORGERIES.items():
        ts, signature, body = make()
        body = body.replace(APPROVE_FORM, form)
        headers = {} if ts is None else {"X-Slack-Request-Timestamp": ts}
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        response = koho.slack.post(body, "application/x-www-form-urlencoded", sign=False, extra_headers=headers)
        assert response.status == 401, name
    koho.wait_for_listeners()
    assert state(koho.db) == before


WEBHOOK_FORGERIES = {
    "unsigned": lambda body: {"X-Koho-Timestamp": _now(), "X-Koho-Signature": ""},
    "another secret": lambda body: {"X-Koho-Timestamp": (ts := _now()), "X-Koho-Signature": sign("other", ts, body)},
    "no timestamp": lambda body: {"X-Koho-Timestamp": "", "X-Koho-Signature": sign(WEBHOOK_SECRET, "", body)},
    "replayed after 6 minutes": lambda body: {"X-Koho-Timestamp": (ts := str(int(time.time()) - 360)),
                                              "X-Koho-Signature": sign(WEBHOOK_SECRET, ts, body)},
    "from the future": lambda body: {"X-Koho-Timestamp": (ts := str(int(time.time()) + 360)),
                                     "X-Koho-Signature": sign(WEBHOOK_SECRET, ts, body)},
    "signature of another body": lambda body: {"X-Koho-Timestamp": (ts := _now()),
                                               "X-Koho-Signature": sign(WEBHOOK_SECRET, ts, body + b" ")},
    "truncated signature": lambda body: {"X-Koho-Timestamp": (ts := _now()),
                                         "X-Koho-Signature": sign(WEBHOOK_SECRET, ts, body)[:-2]},
    "other scheme": lambda body: {"X-Koho-Timestamp": (ts := _now()),
                                  "X-Koho-Signature": sign(WEBHOOK_SECRET, ts, body).replace("v1=", "v0=")},
    "negative timestamp": lambda body: {"X-Koho-Timestamp": "-1", "X-Koho-Signature": sign(WEBHOOK_SECRET, "-1", body)},
    # str.isdigit() takes both; int() refused them (a 500 with a traceback)
    "superscript digit as timestamp": lambda body: {"X-Koho-Timestamp": "²",
                                                    "X-Koho-Signature": sign(WEBHOOK_SECRET, _now(), body)},
    "timestamp of 5,000 digits": lambda body: {"X-Koho-Timestamp": "9" * 5000,
                                               "X-Koho-Signature": sign(WEBHOOK_SECRET, "9" * 5000, body)},
}


@pytest.mark.parametrize("name", WEBHOOK_FORGERIES)
def test_forged_webhooks_are_refused_and_store_nothing(koho, name):
    body = json.dumps(comment("粗大ゴミの回収日を教えてください"), ensure_ascii=False).encode()
    headers = WEBHOOK_FORGERIES[name](body)
    status, answer = post_webhook(koho, body=body, signature=headers["X-Koho-Signature"],
                                  headers={"X-Koho-Timestamp": headers["X-Koho-Timestamp"]})
    assert status == 401 and answer["error"]
    assert state(koho.db)["comments"] == []


# -- every button, clicked by someone who may not ---------------------------------------------


def build_world(koho) -> list[tuple[dict, dict, dict]]:
    """Something behind every kind of button: a published, a sent-back and a waiting proposal; a routed
    comment with a hiding request and an untriaged one; then an emergency with a ticked step (it holds
    routine posts): buttons are collected as they appear, since later steps replace some."""
    from tests.test_comments_slack import request_hiding
    from tests.test_proposals_lifecycle import hand_off_message, record_publication

    published = propose(koho, "U0STAFF2")
    approve_routine(koho, published)
    hand_off = hand_off_message(koho)
    before_publication = every_element(koho)
    answer = record_publication(koho, "U0PR1", hand_off, "https://x.com/chiba_city/status/1")
    assert answer.status == 200 and answer.body == ""
    sent_back = propose(koho, "U0STAFF1")
    opened = views_opened(koho, "proposal_reason")
    click(koho, "U0KANKYOHEAD", request_for(koho, "C0KANKYO", sent_back), "proposal_request_changes")
    reason = wait_for_modal(koho, "proposal_reason", opened, "U0KANKYOHEAD")
    answer = koho.slack.view_submission("U0KANKYOHEAD", reason, {"reason": {"reason": "電話番号を確認してください"}})
    assert answer.status == 200 and answer.body == ""
    pending = propose(koho, "U0STAFF1")
    request_for(koho, "C0KANKYO", pending)
    routed = receive(koho, "ごみ収集の〇〇という職員は最低の人間だ")
    receive(koho, "市役所の窓口の対応について意見があります")  # no department matches: PR office triage
    request_hiding(koho, "U0STAFF1", message_showing(koho, "C0KANKYO", routed))
    settle(koho)
    before_emergency = every_element(koho)
    emergency_id = declare(koho, "U0ONCALL1")
    first_step = step_ids(koho, emergency_id)[0]
    click(koho, "U0ONCALL1", checklist(koho, emergency_id), "emergency_step_done", block_id=f"step_actions:{first_step}")
    settle(koho)
    return before_publication + before_emergency + every_element(koho)


def every_element(koho) -> list[tuple[dict, dict, dict]]:
    """(message, block, element) for every interactive element the bot has put anywhere."""
    messages = [m for c in CHANNELS for m in koho.fake.messages(c)] + [m for u in PEOPLE for m in koho.fake.dms(u)]
    found = []
    for message in messages:
        for block in message.get("blocks") or []:
            elements = block.get("elements") if block.get("type") == "actions" else [block.get("accessory")]
            for element in elements or []:
                if element and element.get("action_id") and not element.get("url"):
                    found.append((message, block, element))
    return found


def click_as(koho, user, message, block, element):
    kind = element["type"]
    # strict=False: a button collected before the emergency may have left its message since
    kwargs: dict[str, Any] = {"message": message, "block_id": block.get("block_id"), "strict": False,
                              "value": element.get("value"), "action_type": kind}
    if kind in ("static_select", "overflow"):
        options = element.get("options") or [o for g in element.get("option_groups", []) for o in g["options"]]
        kwargs["selected_option"] = options[0]["value"]
    elif kind == "users_select":
        kwargs["selected_user"] = "U0KENSETSU1"
    return koho.slack.block_action(user, element["action_id"], **kwargs)


def fill(view) -> dict:
    """Plausible answers for every input of a modal (what a determined outsider would submit)."""
    values: dict[str, dict] = {}
    for block in view.get("blocks") or []:
        element = block.get("element") if block.get("type") == "input" else None
        if not element:
            continue
        kind, action_id = element["type"], element["action_id"]
        options = element.get("options") or []
        given: Any = {"plain_text_input": "外部からの操作", "static_select": options[0]["value"] if options else None,
                      "radio_buttons": options[0]["value"] if options else None,
                      "checkboxes": [o["value"] for o in options], "users_select": "U0KENSETSU1",
                      "multi_static_select": [o["value"] for o in options[:1]],
                      "datetimepicker": int(time.time()) + 3600}.get(kind)
        if given is not None:
            values[block["block_id"]] = {action_id: given}
    return values


# Who may not. (Some buttons are open to anyone — status, drafting from a template — and change nothing.)
OUTSIDERS = {
    "someone not in the organisation": "U0NOBODY1",
    "a member of another department": "U0KENSETSU1",
    "the head of another department": "U0KENSETSUHEAD",
}


def test_every_button_clicked_by_someone_who_may_not_changes_nothing_and_says_why(koho):
    unique = {}
    for message, block, element in build_world(koho):
        unique.setdefault((message["ts"], block.get("block_id"), element["action_id"], element.get("value")),
                          (message, block, element))
    elements = list(unique.values())
    action_ids = {e["action_id"] for _, _, e in elements}
    assert {"proposal_approve", "proposal_reject", "proposal_request_changes", "proposal_mark_published",
            "proposal_correct", "proposal_edit", "proposal_withdraw", "comment_acknowledge", "comment_done",
            "comment_reassign", "comment_triage", "comment_category", "comment_confirm_hiding",
            "comment_decline_hiding", "emergency_step_done", "emergency_step_reopen", "emergency_step_assign",
            "emergency_step_note", "emergency_end"} <= action_ids, action_ids
    before = state(koho.db)
    for who, user in OUTSIDERS.items():
        for message, block, element in elements:
            told = answers_to(koho, user)
            opened = len(koho.fake.calls_to("views.open"))
            response = click_as(koho, user, message, block, element)
            assert response.status == 200, (who, element["action_id"], response.status)
            wait_for_answer(koho, user, told)
            new_views = koho.fake.calls_to("views.open")[opened:]
            for call in new_views:  # a modal opened: submit it as the outsider would
                if not call.ok:
                    continue
                view = koho.fake.view(call.response["view"]["id"])
                answer = koho.slack.view_submission(user, view, fill(view), strict=False)
                assert answer.status == 200, (who, element["action_id"], "submit", answer.body)
        assert state(koho.db) == before, who  # (each click was answered, so its work is done)
    koho.wait_for_listeners()
    assert state(koho.db) == before


def test_nobody_approves_their_own_proposal_with_any_button(koho):
    proposal_id = propose(koho, "U0KANKYOHEAD")  # an approver of the department proposes
    request = request_for(koho, "C0KANKYO", proposal_id)
    before = state(koho.db)
    for action_id in ("proposal_approve", "proposal_reject", "proposal_request_changes"):
        told = answers_to(koho, "U0KANKYOHEAD")
        assert koho.slack.block_action("U0KANKYOHEAD", action_id, message=request).status == 200
        wait_for_answer(koho, "U0KANKYOHEAD", told)
    koho.wait_for_listeners()
    assert state(koho.db) == before


# -- hostile payloads ---------------------------------------------------------------------------

NASTY_TEXTS = {
    "100 KB": "あ" * 100_000,
    "sql injection": "'); DROP TABLE proposals; -- \" OR 1=1 --",
    "slack markup": "<!channel> <!here> <@U0PR1> <#C0PR> <https://evil.example|市の公式サイト> *太字* `code`",
    "html": "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "emoji and zwj": "🚧🏳️‍🌈👨‍👩‍👧‍👦 :warning: 道路🕳️",
    "combining characters": "e\u0301\u0301\u0301 Z\u0351\u0367\u0316\u0330 が\u3099",
    "right to left": "\u202eالطريق مغلق\u202c שלום \u200fتجربة",
    "control characters": "行1\x00\x07\x1b[31m行2\r\n\t",
    "backslash u, written out": "\\ud800 bad",
}
# Only JSON can carry a lone surrogate (half of an emoji's UTF-16 pair), as the escape "\ud83d".
NASTY_JSON_TEXTS = {**NASTY_TEXTS, "lone surrogate": "\ud83d half an emoji"}


@pytest.mark.parametrize("name", NASTY_JSON_TEXTS)
def test_hostile_text_from_citizens_is_stored_or_refused_with_a_reason_and_never_pings(koho, name):
    text = NASTY_JSON_TEXTS[name]
    status, answer = post_webhook(koho, comment(text))
    if len(json_body(comment(text))) > 64 * 1024:
        assert status == 413 and answer["error"]
        return
    assert status == 202, answer
    settle(koho)
    assert_nothing_pings(koho)


HOSTILE_WEBHOOK_BODIES = {
    # name: a body, correctly signed, that is no comment
    "brackets never closed": b"[" * 60_000,
    "nested 30,000 deep": b"[" * 30_000 + b"]" * 30_000,
    "a field nested 30,000 deep": b'{"source": "x", "text": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
    "not UTF-8": "粗大ごみ".encode("shift_jis"),
    "a list": b"[1, 2]",
}


def test_signed_webhook_bodies_that_are_no_comment_get_a_400_saying_why_never_a_500(koho, caplog):
    for name, body in HOSTILE_WEBHOOK_BODIES.items():
        status, answer = post_webhook(koho, body=body)
        assert status == 400 and answer["error"], (name, status, answer)
    assert state(koho.db)["comments"] == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "a hostile body reached a traceback"


def hostile_payloads(koho, request) -> dict[str, tuple[str, bytes]]:
    """name -> (content type, body): each a correctly *signed* request with a payload that is wrong."""
    user = {"id": "U0KANKYOHEAD", "username": "head", "team_id": "T0CITY"}
    value = next(e["value"] for b in request["blocks"] if b["type"] == "actions" for e in b["elements"])

    def action(**fields):
        payload = {"type": "block_actions", "user": user, "team": {"id": "T0CITY"}, "api_app_id": "A0KOHO",
                   "trigger_id": "1.2.3", "container": {"type": "message", "channel_id": "C0KANKYO",
                                                        "message_ts": request["ts"]},
                   "channel": {"id": "C0KANKYO"}, "actions": [{"action_id": "proposal_approve", "value": value,
                                                               "type": "button", "block_id": "b"}]}
        payload.update(fields)
        return "application/x-www-form-urlencoded", ("payload=" + json.dumps(payload)).encode()

    def command(text_part: str):
        url = quote(koho.slack.new_response_url("command", channel="C0KANKYO", user_id="U0STAFF1"), safe="")
        return ("application/x-www-form-urlencoded",
                (f"command=/koho&user_id=U0STAFF1&channel_id=C0KANKYO&team_id=T0CITY&response_url={url}"
                 f"&trigger_id=1.2.3&text={text_part}").encode())

    def with_value(v):
        return action(actions=[{"action_id": "proposal_approve", "value": v, "type": "button", "block_id": "b"}])

    return {
        "value not a number": with_value("abc"),
        "value is a number type": with_value(12345678901234567890),
        "value sql": with_value("1 OR 1=1; DELETE FROM approval_steps"),
        "value 100 KB": with_value("9" * 100_000),
        "value of a step that does not exist": with_value("987654"),
        "value null": with_value(None),
        "value a superscript digit": with_value("²"),  # str.isdigit() says yes, int() refuses it
        "account change value not a number": action(actions=[{"action_id": "account_change_approve", "value": "abc",
                                                              "type": "button", "block_id": "b"}]),
        "no actions": action(actions=[]),
        "actions not a list": action(actions="approve"),
        "no user": action(user=None),
        "user id a list": action(user={"id": ["U0PR1"]}),
        "unknown action id": action(actions=[{"action_id": "proposal_approve_all", "value": value, "type": "button"}]),
        "unknown payload type": action(type="block_actions_v2"),
        "payload not json": ("application/x-www-form-urlencoded", b"payload=%7Bnot json"),
        "payload a list": ("application/x-www-form-urlencoded", b"payload=%5B1%2C2%5D"),
        "empty body": ("application/x-www-form-urlencoded", b""),
        "json event without type": ("application/json", json.dumps({"event": {"type": "app_home_opened"}}).encode()),
        "event without user": ("application/json", json.dumps({"type": "event_callback", "event_id": "Ev0X",
                                                               "event": {"type": "app_home_opened"}}).encode()),
        "command with 100 KB text": command("%E3%81%82" * 30_000),
        "command with rtl and markup": command(quote("language \u202e<!channel> e\u0301 🏳️‍🌈")),
        "command with sql": command(quote("'; DROP TABLE proposals; --")),
    }


def test_signed_but_malformed_payloads_get_a_4xx_or_a_message_never_a_500_and_change_nothing(koho, caplog):
    proposal_id = propose(koho, "U0STAFF1")
    request = request_for(koho, "C0KANKYO", proposal_id)
    before = state(koho.db)
    answered = {}
    for name, (content_type, body) in hostile_payloads(koho, request).items():
        told = answers_to(koho, "U0KANKYOHEAD") + answers_to(koho, "U0STAFF1")
        response = koho.slack.post(body, content_type)
        answered[name] = response.status
        if response.status == 200 and content_type != "application/json":  # then in words, where the person is
            # (an event has nobody to tell: Slack only needs its 200)
            deadline = time.monotonic() + 5
            while answers_to(koho, "U0KANKYOHEAD") + answers_to(koho, "U0STAFF1") <= told:
                assert time.monotonic() < deadline, f"{name}: 200 but nobody was told anything"
                time.sleep(0.02)
    koho.wait_for_listeners()
    assert all(400 <= status < 500 or status == 200 for status in answered.values()), answered
    assert {name for name, status in answered.items() if status == 200} <= {
        "value of a step that does not exist", "command with 100 KB text", "command with rtl and markup",
        "command with sql",
        "event without user"}, answered
    assert state(koho.db) == before
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "a hostile payload reached a traceback"


def test_hostile_text_in_the_proposal_form_is_a_field_error_or_shown_harmlessly(koho):
    from tests.test_proposals import form_values, open_form

    for name, text in NASTY_TEXTS.items():
        form = open_form(koho, "U0STAFF1")
        answer = koho.slack.view_submission("U0STAFF1", form, form_values(text=text))
        assert answer.status == 200, name
        if answer.body:  # refused: a field error saying what is wrong
            assert json.loads(answer.body)["response_action"] == "errors", (name, answer.body[:300])
    settle(koho)
    assert_nothing_pings(koho)


def mrkdwn_of(call) -> str:
    """What Slack would parse for mentions and links: the fallback text and every mrkdwn text object."""
    found = [call.args.get("text") or ""]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node.get("text", ""))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(call.args.get("blocks") or [])
    return "\n".join(found)


def assert_nothing_pings(koho):
    for call in koho.fake.calls_to("chat.postMessage", predicate=lambda c: c.ok) + koho.fake.calls_to("chat.update"):
        shown = mrkdwn_of(call)
        assert "<!channel>" not in shown and "<!here>" not in shown, shown[:500]
        assert "<https://evil.example|" not in shown and "<script>" not in shown, shown[:500]
