"""Tests of the test harness itself: FakeSlack driven by a real WebClient, SlackRequests signing."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.harness import FakeSlack, SlackRequests, plain, static_select, validate_blocks

SECRET = "test-signing-secret"


def pt(text: str) -> dict:
    return {"type": "plain_text", "text": text}


def opt(value: str) -> dict:
    return {"text": pt(value), "value": value}


def menu(kind: str, **fields: object) -> list[dict]:
    """A block holding one select element of this kind (and these fields)."""
    return [{"type": "actions", "elements": [{"type": kind, "action_id": "pick", **fields}]}]


def section(text: str, block_id: str | None = None) -> dict:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


MODAL = {
    "type": "modal",
    "callback_id": "new_post",
    "title": pt("新しい投稿"),
    "submit": pt("送信"),
    "close": pt("キャンセル"),
    "private_metadata": "draft=1",
    "blocks": [
        {
            "type": "input",
            "block_id": "body",
            "label": pt("本文"),
            "element": {"type": "plain_text_input", "action_id": "body_input", "multiline": True},
        },
        {
            "type": "input",
            "block_id": "channel",
            "label": pt("媒体"),
            "element": {
                "type": "static_select",
                "action_id": "channel_select",
                "options": [
                    {"text": pt("X (Twitter)"), "value": "x"},
                    {"text": pt("Instagram"), "value": "instagram"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "note",
            "optional": True,
            "label": pt("メモ"),
            "element": {"type": "plain_text_input", "action_id": "note_input", "initial_value": "なし"},
        },
    ],
}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(base_url=fake.api_url, token=fake.bot_token, timeout=5)


def slack_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return excinfo.value.response["error"]


# --------------------------------------------------------------------------------------
# FakeSlack through a real WebClient
# --------------------------------------------------------------------------------------


def test_urls_and_auth_test(fake: FakeSlack, client: WebClient) -> None:
    assert fake.api_url == f"http://127.0.0.1:{fake.port}/api/"
    assert fake.base_url == f"http://127.0.0.1:{fake.port}"
    answer = client.auth_test()
    assert answer["user_id"] == "UKOHOBOT"
    assert answer["bot_id"] == "BKOHO"
    assert answer["team_id"] == "T0CITY"
    assert answer["team"] == "Koho Test City"
    assert answer["user"] == "koho"
    assert answer["url"].startswith("https://")


def test_wrong_token_is_invalid_auth(fake: FakeSlack) -> None:
    bad = WebClient(base_url=fake.api_url, token="xoxb-wrong")
    for call in (bad.auth_test, lambda: bad.chat_postMessage(channel="C0PR", text="hi")):
        with pytest.raises(SlackApiError) as excinfo:
            call()
        assert slack_error(excinfo) == "invalid_auth"
    assert fake.messages("C0PR") == []
    assert [c.error for c in fake.calls] == ["invalid_auth", "invalid_auth"]


def test_post_update_delete_keep_state_and_history(fake: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C0PR", text="下書き", blocks=[section("下書き", "b1")])
    second = client.chat_postMessage(channel="C0PR", text="返信", thread_ts=first["ts"])
    assert first["ts"] == "1760000000.000100"
    assert second["ts"] > first["ts"]
    assert first["channel"] == "C0PR"
    assert first["message"]["user"] == "UKOHOBOT" and first["message"]["bot_id"] == "BKOHO"
    assert first["message"]["blocks"][0]["block_id"] == "b1"

    updated = client.chat_update(
        channel="C0PR", ts=first["ts"], text="承認済み", blocks=[section("承認済み", "b2")]
    )
    assert updated["message"]["text"] == "承認済み"
    message = fake.message("C0PR", first["ts"])
    assert message is not None
    assert message["text"] == "承認済み"
    assert message["blocks"][0]["block_id"] == "b2"
    assert message["history"] == [{"text": "下書き", "blocks": [section("下書き", "b1")]}]
    assert [m["text"] for m in fake.messages("C0PR")] == ["承認済み", "返信"]
    assert [m["text"] for m in fake.replies("C0PR", first["ts"])] == ["返信"]

    client.chat_delete(channel="C0PR", ts=second["ts"])
    assert [m["ts"] for m in fake.messages("C0PR")] == [first["ts"]]
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C0PR", ts="1111.2222", text="x")
    assert slack_error(excinfo) == "message_not_found"


def test_chat_update_on_a_human_message_is_refused(fake: FakeSlack, client: WebClient) -> None:
    human = fake.add_message("C0PR", "人間の投稿", user="U0STAFF1")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C0PR", ts=human["ts"], text="x")
    assert slack_error(excinfo) == "cant_update_message"


def test_post_to_user_id_lands_in_dm(fake: FakeSlack, client: WebClient) -> None:
    answer = client.chat_postMessage(channel="U0STAFF1", text="承認をお願いします")
    assert answer["channel"] == "D0STAFF1"
    assert [m["text"] for m in fake.dms("U0STAFF1")] == ["承認をお願いします"]
    assert client.conversations_open(users="U0STAFF1")["channel"]["id"] == "D0STAFF1"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
def test_no_text_and_missing_channel(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0PR")
    assert slack_error(excinfo) == "no_text"
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="#nowhere", text="x")
    assert slack_error(excinfo) == "channel_not_found"


def test_form_encoded_json_fields_are_decoded(fake: FakeSlack, client: WebClient) -> None:
    blocks = [section("form")]
    client.api_call(
        "chat.postMessage", params={"channel": "C0PR", "text": "form", "blocks": json.dumps(blocks)}
    )
    [call] = fake.calls_to("chat.postMessage")
    assert call.args["blocks"] == blocks
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    # chat.postMessage itself goes as JSON
    client.chat_postMessage(channel="C0PR", text="json", blocks=blocks)
    assert (
        fake.calls_to("chat.postMessage", text="json")[0]
        .headers["Content-Type"]
        .startswith("application/json")
    )


def test_users_info_locale_and_custom_users(fake: FakeSlack, client: WebClient) -> None:
    fake.users["U0STAFF1"] = {
        "name": "tanaka",
        "real_name": "田中 花子",
        "profile": {"email": "t@example.jp"},
    }
    user = client.users_info(user="U0STAFF1", include_locale=True)["user"]
    assert (user["id"], user["name"], user["real_name"], user["tz"]) == (
        "U0STAFF1",
        "tanaka",
        "田中 花子",
        "Asia/Tokyo",
    )
    assert user["locale"] == "ja-JP"
    assert user["profile"]["email"] == "t@example.jp"
    assert "locale" not in client.users_info(user="U0OTHER")["user"]
    fake.users["U0EN"] = {"locale": "en-US"}
    assert client.users_info(user="U0EN", include_locale=True)["user"]["locale"] == "en-US"
    assert fake.calls_to("users.info", user="U0STAFF1")[0].args["include_locale"] == "1"


def test_ephemeral_permalink_and_channel_info(fake: FakeSlack, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel="C0PR", user="U0STAFF1", text="あなただけに")
    assert answer["message_ts"]
    assert [e["text"] for e in fake.ephemerals(user_id="U0STAFF1")] == ["あなただけに"]
    assert fake.ephemerals(channel="C0OTHER") == []
    assert fake.messages("C0PR") == []
    posted = client.chat_postMessage(channel="C0PR", text="x")
    link = client.chat_getPermalink(channel="C0PR", message_ts=posted["ts"])["permalink"]
    assert link == f"https://koho-test.slack.com/archives/C0PR/p{posted['ts'].replace('.', '')}"
    fake.channels["C0PR"] = {"name": "koho-pr"}
    assert client.conversations_info(channel="C0PR")["channel"]["name"] == "koho-pr"


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([{"type": "header", "text": pt("長" * 151)}], "cannot exceed 150"),
        ([section(f"n{i}") for i in range(51)], "51 blocks"),
        ([section("a", "same"), section("b", "same")], "duplicate block_id"),
        (
            [
                {
                    "type": "actions",
                    "elements": [{"type": "button", "text": pt(t), "action_id": "go"} for t in "ab"],
                }
            ],
            "share action_id 'go'",
        ),
        ([{"type": "section", "txt": {"type": "mrkdwn", "text": "typo"}, "text": pt("x")}], "field 'txt'"),
        (
            [{"type": "actions", "elements": [{"type": "buton", "text": pt("x"), "action_id": "a"}]}],
            "'buton'",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [{"type": "button", "text": {"type": "mrkdwn", "text": "*x*"}}],
                }
            ],
            "plain_text",
        ),
        # Slack refuses an initial option that is not one of the options (a resubmitted form would not open).
        (menu("static_select", options=[opt("a")], initial_option=opt("z")), "initial option 'z' is not one"),
        (
            menu("multi_static_select", option_groups=[{"label": pt("g"), "options": [opt("a")]}],
                   initial_options=[opt("a"), opt("z")]),
            "initial option 'z' is not one",
        ),
        (menu("static_select", options=[opt("a")], initial_option={"text": pt("別名"), "value": "a"}),
         "initial option 'a' is not one"),
        (
            menu("multi_static_select", option_groups=[{"label": pt("g1"), "options": [opt("a")]},
                                                         {"label": pt("g2"), "options": [opt("b")]}],
                   initial_options=[opt("a"), opt("b")]),
            "from 2 option groups",
        ),
    ],
)
def test_invalid_blocks_are_rejected_and_reported(
    fake: FakeSlack, client: WebClient, blocks: list, expected: str
) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0PR", text="x", blocks=blocks)
    assert slack_error(excinfo) == "invalid_blocks"
    assert any(expected in e for e in excinfo.value.response["errors"]), excinfo.value.response["errors"]
    assert fake.messages("C0PR") == []
    assert fake.validation_errors and fake.validation_errors[0].startswith("chat.postMessage: ")
    with pytest.raises(AssertionError, match="Slack rejected Block Kit"):
        fake.assert_no_validation_errors()


def test_valid_rich_message_passes_validation(fake: FakeSlack, client: WebClient) -> None:
    blocks = [
        {"type": "header", "text": pt("広報カレンダー")},
        section("*今週の投稿*", "intro"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "環境課"}]},
        {
            "type": "actions",
            "block_id": "decide",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "text": pt("承認"),
                    "value": "p1",
                    "style": "primary",
                },
                {
                    "type": "button",
                    "action_id": "reject",
                    "text": pt("差し戻し"),
                    "value": "p1",
                    "style": "danger",
                },
                {"type": "overflow", "action_id": "more", "options": [{"text": pt("編集"), "value": "edit"}]},
            ],
        },
        {"type": "divider"},
    ]
    assert validate_blocks(blocks) == []
    client.chat_postMessage(channel="C0PR", text="カレンダー", blocks=blocks)
    fake.assert_no_validation_errors()


def test_initial_options_among_the_options_or_their_groups_pass_validation() -> None:
    groups = [{"label": pt("広報広聴課"), "options": [opt("a"), opt("b")]}, {"label": pt("環境局"), "options": [opt("c")]}]
    assert validate_blocks(menu("static_select", options=[opt("a"), opt("b")], initial_option=opt("b"))) == []
    assert validate_blocks(menu("static_select", option_groups=groups, initial_option=opt("c"))) == []
    assert validate_blocks(menu("multi_static_select", option_groups=groups,
                                  initial_options=[opt("a"), opt("b")])) == []
    assert validate_blocks(menu("checkboxes", options=[opt("a"), opt("b")], initial_options=[opt("a")])) == []


def test_text_longer_than_40000_is_refused(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0PR", text="あ" * 40_001)
    assert slack_error(excinfo) == "msg_too_long"
    assert fake.validation_errors


def test_views_open_update_push_publish(fake: FakeSlack, client: WebClient) -> None:
    trigger = fake.issue_trigger("U0STAFF1")
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V") and view["hash"] and view["state"] == {"values": {}}
    assert (view["callback_id"], view["private_metadata"], view["type"]) == ("new_post", "draft=1", "modal")
    assert fake.last_view("U0STAFF1")["id"] == view["id"]
    assert [v["id"] for v in fake.open_views("U0STAFF1")] == [view["id"]]

    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id=trigger, view=MODAL)
    assert slack_error(excinfo) == "expired_trigger_id"

    changed = {**MODAL, "title": pt("確認")}
    updated = client.views_update(view_id=view["id"], hash=view["hash"], view=changed)["view"]
    assert updated["id"] == view["id"] and updated["hash"] != view["hash"]
    assert fake.views[view["id"]]["title"]["text"] == "確認"
    assert fake.view(view["id"]) == fake.views[view["id"]] and fake.view("V0UNKNOWN") is None
    fake.view(view["id"])["title"]["text"] = "changed by a test"  # a copy: the fake's own view is untouched
    assert fake.view(view["id"])["title"]["text"] == "確認"
    with pytest.raises(SlackApiError) as excinfo:
        client.views_update(view_id=view["id"], hash=view["hash"], view=changed)
    assert slack_error(excinfo) == "hash_conflict"
    with pytest.raises(SlackApiError) as excinfo:
        client.views_update(view_id="V404", view=changed)
    assert slack_error(excinfo) == "not_found"

    pushed = client.views_push(
        trigger_id=fake.issue_trigger("U0STAFF1"), view={**MODAL, "callback_id": "step2"}
    )
    assert pushed["view"]["root_view_id"] == view["id"] and pushed["view"]["previous_view_id"] == view["id"]
    assert fake.last_view("U0STAFF1")["callback_id"] == "step2"

    home = {"type": "home", "blocks": [section("ホーム")]}
    published = client.views_publish(user_id="U0STAFF1", view=home)["view"]
    again = client.views_publish(user_id="U0STAFF1", view=home)["view"]
    assert again["id"] == published["id"]
    assert fake.home_views["U0STAFF1"]["blocks"][0]["text"]["text"] == "ホーム"
    fake.assert_no_validation_errors()


def test_invalid_views_are_rejected(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(
            trigger_id=fake.issue_trigger(),
            view={**MODAL, "title": pt("とても長いタイトルなのでスラックでは表示できません")},
        )
    assert slack_error(excinfo) == "invalid_blocks"
    assert "title must be between 1 and 24" in " ".join(excinfo.value.response["errors"])
    with pytest.raises(SlackApiError):
        client.views_open(trigger_id=fake.issue_trigger(), view={**MODAL, "submit": None})
    with pytest.raises(SlackApiError):
        client.views_publish(user_id="U0STAFF1", view=MODAL)  # a modal is not a Home tab
    assert fake.views == {}
    assert len(fake.validation_errors) == 3


def test_rate_limit_surfaces_as_429_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0PR", text="x")
    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "7"
    assert slack_error(excinfo) == "ratelimited"
    client.chat_postMessage(channel="C0PR", text="y")  # only the next call was limited
    assert [m["text"] for m in fake.messages("C0PR")] == ["y"]
    assert [(c.status, c.ok) for c in fake.calls_to("chat.postMessage")] == [(429, False), (200, True)]


def test_fail_answers_with_http_status_or_slack_error(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", status=503, count=2)
    fake.fail("views.publish", status=200, error="not_enabled")
    for _ in range(2):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel="C0PR", text="x")
        assert excinfo.value.response.status_code == 503
    with pytest.raises(SlackApiError) as excinfo:
        client.views_publish(user_id="U1", view={"type": "home", "blocks": [section("x")]})
    assert slack_error(excinfo) == "not_enabled"
    client.chat_postMessage(channel="C0PR", text="x")
    assert len(fake.messages("C0PR")) == 1


def test_channel_token_bucket(fake: FakeSlack, client: WebClient) -> None:
    fake.channel_rate(per_second=1.0, burst=2)
    client.chat_postMessage(channel="C0PR", text="1")
    client.chat_postMessage(channel="C0PR", text="2")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0PR", text="3")
    assert excinfo.value.response.status_code == 429
    assert int(excinfo.value.response.headers["Retry-After"]) >= 1
    client.chat_postMessage(channel="C0OTHER", text="other channel has its own bucket")
    assert [m["text"] for m in fake.messages("C0PR")] == ["1", "2"]


def test_hang_and_latency(fake: FakeSlack) -> None:
    impatient = WebClient(base_url=fake.api_url, token=fake.bot_token, timeout=0.2)  # type: ignore[arg-type]
    fake.hang("auth.test", seconds=2)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        impatient.auth_test()
    fake.latency = 0.15
    started = time.monotonic()
    WebClient(base_url=fake.api_url, token=fake.bot_token).auth_test()
    assert time.monotonic() - started >= 0.15


def test_a_burst_of_connections_is_taken_without_a_syn_retry(fake: FakeSlack) -> None:
    """300 clients connecting at once all connect at once, as they would to Slack.

    With socketserver's default backlog of 5 most of them waited for the kernel's SYN retry (1 s),
    which failed the bot's 2 s locale look-ups in an approve storm.
    """
    address = urlsplit(fake.api_url)
    sockets = [socket.socket() for _ in range(300)]
    try:
        for s in sockets:
            s.setblocking(False)
            s.connect_ex((address.hostname, address.port))
        time.sleep(0.5)  # well inside the 1 s SYN retry
        _, connected, _ = select.select([], sockets, [], 0)
        assert len(connected) == len(sockets)
    finally:
        for s in sockets:
            s.close()


def test_wait_for_returns_calls_made_later(fake: FakeSlack, client: WebClient) -> None:
    timer = threading.Timer(0.1, lambda: client.chat_postMessage(channel="C0PR", text="later"))
    timer.start()
    try:
        [call] = fake.wait_for("chat.postMessage", channel="C0PR", timeout=3)
    finally:
        timer.join()
    assert call.args["text"] == "later" and call.ok
    assert fake.wait_for("*", lambda c: c.args.get("text") == "later", timeout=0.1) == [call]
    assert fake.calls_to("chat.postMessage", text=lambda t: "late" in t) == [call]


def test_wait_for_timeout_explains_what_happened(fake: FakeSlack, client: WebClient) -> None:
    client.auth_test()
    client.chat_postMessage(channel="C0OTHER", text="wrong channel")
    started = time.monotonic()
    with pytest.raises(AssertionError) as excinfo:
        fake.wait_for("chat.postMessage", channel="C0PR", timeout=0.2)
    assert time.monotonic() - started < 1
    message = str(excinfo.value)
    assert "wait_for('chat.postMessage', channel='C0PR') timed out after 0.2s" in message
    assert "found 0" in message
    assert "channel='C0OTHER'" in message and "text='wrong channel'" in message
    assert "auth.test" in message


def test_unknown_method_is_recorded(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("reactions.add", params={"channel": "C0PR", "name": "eyes", "timestamp": "1.2"})
    assert slack_error(excinfo) == "unknown_method"
    assert fake.calls_to("reactions.add", name="eyes")


def test_files_upload_v2_round_trip(fake: FakeSlack, client: WebClient) -> None:
    answer = client.files_upload_v2(
        channel="C0PR",
        content="月次レポート",
        filename="report.txt",
        title="レポート",
        initial_comment="どうぞ",
    )
    assert answer["file"]["title"] == "レポート"
    [stored] = fake.uploaded_files("C0PR")
    assert stored["content"] == "月次レポート".encode()
    assert stored["initial_comment"] == "どうぞ"
    with pytest.raises(SlackApiError) as excinfo:
        client.files_completeUploadExternal(files=[{"id": "F404"}], channel_id="C0PR")
    assert slack_error(excinfo) == "file_not_found"


def test_response_url_replaces_bound_message(fake: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0PR", text="承認待ち")
    url = fake.response_url("action", channel="C0PR", user_id="U0STAFF1", message_ts=posted["ts"])
    assert WebhookClient(url).send(text="承認済み", replace_original=True).status_code == 200
    [call] = fake.wait_for("response_url")
    assert call.args["text"] == "承認済み" and call.args["path"].startswith("action-")
    assert fake.message("C0PR", posted["ts"])["text"] == "承認済み"
    WebhookClient(url).send(text="あなただけに")
    assert [e["text"] for e in fake.ephemerals("U0STAFF1", "C0PR")] == ["あなただけに"]


# --------------------------------------------------------------------------------------
# SlackRequests
# --------------------------------------------------------------------------------------


class _Capture(BaseHTTPRequestHandler):
    captured: list[tuple[str, dict[str, str], bytes]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.captured.append((self.path, dict(self.headers.items()), body))
        self.send_response(self.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[tuple[str, type[_Capture]]]:
    handler = type("Capture", (_Capture,), {"captured": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_signed_requests_verify(capture, fake: FakeSlack) -> None:
    url, handler = capture
    slack = SlackRequests(url, SECRET, fake=fake)
    verifier = SignatureVerifier(SECRET)

    assert slack.command("/koho", "投稿 テスト").status == 200
    slack.event({"type": "app_mention", "user": "U0STAFF1", "text": "<@UKOHOBOT> hi", "ts": "1.2", "channel": "C0PR"},
                retry_num=1, retry_reason="http_timeout")  # fmt: skip
    for path, headers, body in handler.captured:
        assert path == "/slack/events"
        assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
        assert abs(int(headers["X-Slack-Request-Timestamp"]) - time.time()) < 5

    (_, command_headers, command_body), (_, event_headers, event_body) = handler.captured
    assert command_headers["Content-Type"] == "application/x-www-form-urlencoded"
    fields = {k: v[0] for k, v in parse_qs(command_body.decode(), keep_blank_values=True).items()}
    assert fields["command"] == "/koho" and fields["text"] == "投稿 テスト"
    assert (fields["team_id"], fields["user_id"], fields["channel_id"]) == ("T0CITY", "U0STAFF1", "C0KANKYO")
    assert fields["api_app_id"] == "A0KOHO" and fields["is_enterprise_install"] == "false"
    assert fields["response_url"].startswith(fake.base_url + "/response/")
    assert fields["trigger_id"] in fake._triggers  # issued by the fake, so views.open knows the user
    event = json.loads(event_body)
    assert event["type"] == "event_callback" and event["event"]["type"] == "app_mention"
    assert event["event_id"].startswith("Ev") and event["authorizations"][0]["user_id"] == "UKOHOBOT"
    assert (event_headers["X-Slack-Retry-Num"], event_headers["X-Slack-Retry-Reason"]) == (
        "1",
        "http_timeout",
    )


def test_forged_and_old_requests(capture) -> None:
    url, handler = capture
    slack = SlackRequests(url, SECRET)
    verifier = SignatureVerifier(SECRET)
    slack.post(b"a=1", "application/x-www-form-urlencoded", signature="v0=forged")
    slack.post(b"a=1", "application/x-www-form-urlencoded", timestamp=int(time.time()) - 600)
    slack.post(b"a=1", "application/x-www-form-urlencoded", sign=False)
    forged, old, unsigned = (headers for _, headers, _ in handler.captured)
    assert not verifier.is_valid(b"a=1", forged["X-Slack-Request-Timestamp"], forged["X-Slack-Signature"])
    assert not verifier.is_valid(b"a=1", old["X-Slack-Request-Timestamp"], old["X-Slack-Signature"])
    assert "X-Slack-Signature" not in unsigned
    handler.status = 500
    answer = slack.command("/koho")
    assert (answer.status, answer.body) == (500, "ok")  # no exception on 5xx


def test_view_submission_payload_follows_slack_shapes(capture, fake: FakeSlack, client: WebClient) -> None:
    url, handler = capture
    slack = SlackRequests(url, SECRET, fake=fake)
    view = client.views_open(trigger_id=fake.issue_trigger("U0STAFF1"), view=MODAL)["view"]
    slack.view_submission(
        "U0STAFF1", view["id"], {"body": {"body_input": "本文です"}, "channel": {"channel_select": "x"}}
    )
    slack.view_submission("U0STAFF1", view, {"body": {"body_input": plain("b")}, "channel": {"channel_select": static_select("instagram")}})  # fmt: skip
    with pytest.raises(AssertionError, match="required input channel/channel_select is empty"):
        slack.view_submission("U0STAFF1", view, {"body": {"body_input": "x"}})
    with pytest.raises(AssertionError, match="offers no option 'tiktok'"):
        slack.view_submission(
            "U0STAFF1", view, {"body": {"body_input": "x"}, "channel": {"channel_select": "tiktok"}}
        )
    first, second = (json.loads(parse_qs(body.decode())["payload"][0]) for _, _, body in handler.captured)
    assert first["type"] == "view_submission" and first["view"]["callback_id"] == "new_post"
    assert first["view"]["state"]["values"] == {
        "body": {"body_input": {"type": "plain_text_input", "value": "本文です"}},
        "channel": {
            "channel_select": {
                "type": "static_select",
                "selected_option": {"text": pt("X (Twitter)"), "value": "x"},
            }
        },
        "note": {"note_input": {"type": "plain_text_input", "value": "なし"}},  # untouched: initial value
    }
    assert (
        second["view"]["state"]["values"]["channel"]["channel_select"]["selected_option"]["value"]
        == "instagram"
    )


def test_interactive_payload_shapes(capture, fake: FakeSlack, client: WebClient) -> None:
    url, handler = capture
    slack = SlackRequests(url, SECRET, fake=fake)
    home = client.views_publish(
        user_id="U0STAFF1",
        view={"type": "home", "blocks": [{"type": "actions", "block_id": "menu", "elements": [
            {"type": "button", "action_id": "new", "text": pt("新規"), "value": "n"},
            {"type": "users_select", "action_id": "who"}]}]},
    )["view"]  # fmt: skip
    modal = client.views_open(trigger_id=fake.issue_trigger("U0STAFF1"), view=MODAL)["view"]
    posted = fake.add_message("C0PR", "市民の声", user="U0CITIZEN")
    slack.block_action("U0STAFF1", "new", view=home)
    slack.block_action("U0STAFF1", "who", view=home["id"], selected_user="U0BOSS")
    slack.global_shortcut("quick_post", "U0STAFF1")
    slack.message_shortcut("to_post", "U0STAFF1", "C0PR", posted)
    slack.view_closed("U0STAFF1", modal, is_cleared=True)
    click, select, shortcut, message_action, closed = (
        json.loads(parse_qs(body.decode())["payload"][0]) for _, _, body in handler.captured
    )
    assert click["type"] == "block_actions" and click["container"] == {"type": "view", "view_id": home["id"]}
    assert click["actions"][0] | {"action_ts": "-"} == {
        "action_id": "new", "block_id": "menu", "type": "button", "text": pt("新規"), "value": "n", "action_ts": "-"}  # fmt: skip
    assert click["view"]["type"] == "home" and "response_url" not in click
    assert click["user"] == {
        "id": "U0STAFF1",
        "username": "u0staff1",
        "name": "u0staff1",
        "team_id": "T0CITY",
    }
    assert (
        select["actions"][0]["type"] == "users_select" and select["actions"][0]["selected_user"] == "U0BOSS"
    )
    assert (
        shortcut["type"] == "shortcut" and shortcut["callback_id"] == "quick_post" and shortcut["trigger_id"]
    )
    assert message_action["type"] == "message_action" and message_action["message_ts"] == posted["ts"]
    assert message_action["message"]["text"] == "市民の声" and message_action["channel"]["id"] == "C0PR"
    assert (
        closed["type"] == "view_closed"
        and closed["is_cleared"] is True
        and closed["view"]["id"] == modal["id"]
    )


def test_block_action_on_messages(capture, fake: FakeSlack, client: WebClient) -> None:
    url, handler = capture
    slack = SlackRequests(url, SECRET, fake=fake)
    buttons = {
        "type": "actions",
        "elements": [{"type": "button", "action_id": "ok", "text": pt("OK"), "value": "1"}],
    }
    old = client.chat_postMessage(channel="C0PR", text="v1", blocks=[buttons])["message"] | {
        "channel": "C0PR"
    }
    client.chat_update(channel="C0PR", ts=old["ts"], text="v2", blocks=[buttons])
    client.chat_postEphemeral(channel="C0PR", user="U0STAFF1", text="eph", blocks=[buttons])
    slack.block_action("U0STAFF1", "ok", message=old)
    slack.block_action("U0STAFF1", "ok", message=fake.ephemerals("U0STAFF1")[0])
    click, ephemeral_click = (
        json.loads(parse_qs(body.decode())["payload"][0]) for _, _, body in handler.captured
    )
    assert click["message"]["text"] == "v2"  # the current version, as Slack sends it
    assert click["container"] == {
        "type": "message",
        "message_ts": old["ts"],
        "channel_id": "C0PR",
        "is_ephemeral": False,
    }
    assert click["actions"][0]["block_id"] == old["blocks"][0]["block_id"]  # generated like Slack does
    assert click["actions"][0]["value"] == "1"
    assert ephemeral_click["container"]["is_ephemeral"] is True and "message" not in ephemeral_click
    WebhookClient(ephemeral_click["response_url"]).send(text="済", replace_original=True)
    assert [e["text"] for e in fake.ephemerals("U0STAFF1")] == ["済"]


# --------------------------------------------------------------------------------------
# Both together, with a real bolt App
# --------------------------------------------------------------------------------------


class _QuietWSGI(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_bolt_app_round_trip(fake: FakeSlack) -> None:
    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    app = App(
        client=WebClient(base_url=fake.api_url, token=fake.bot_token),
        signing_secret=SECRET,
        process_before_response=True,
    )

    @app.command("/koho")
    def open_modal(ack, body, client):
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("new_post")
    def submitted(ack, view, body, client):
        ack()
        text = view["state"]["values"]["body"]["body_input"]["value"]
        client.chat_postMessage(
            channel="C0PR",
            text=text,
            blocks=[
                section(text, "post"),
                {"type": "actions", "block_id": "decide", "elements": [
                    {"type": "button", "action_id": "approve", "text": pt("承認"), "value": "p1"}]},
            ],
        )  # fmt: skip

    @app.action("approve")
    def approve(ack, action, respond):
        ack()
        respond(text=f"承認済み ({action['value']})", replace_original=True)

    server = make_server(
        "127.0.0.1", 0, SlackRequestHandler(app), server_class=WSGIServer, handler_class=_QuietWSGI
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        slack = SlackRequests(f"http://127.0.0.1:{server.server_port}", SECRET, fake=fake)
        assert slack.command("/koho", user_id="U0STAFF1").status == 200
        modal = fake.last_view("U0STAFF1")
        assert slack.view_submission("U0STAFF1", modal, {"body": {"body_input": "公園の清掃"}, "channel": {"channel_select": "x"}}).status == 200  # fmt: skip
        [post] = fake.messages("C0PR")
        assert post["text"] == "公園の清掃"
        assert slack.block_action("U0STAFF1", "approve", message=post).status == 200
        assert fake.message("C0PR", post["ts"])["text"] == "承認済み (p1)"
        with pytest.raises(AssertionError, match="no element with action_id 'publish'"):
            slack.block_action("U0STAFF1", "publish", message=post)
        assert (
            slack.post(b"payload=%7B%7D", "application/x-www-form-urlencoded", signature="v0=bad").status
            == 401
        )
        fake.assert_no_validation_errors()
    finally:
        server.shutdown()
        server.server_close()
