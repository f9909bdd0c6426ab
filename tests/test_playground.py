"""The playground without a browser: when `python -m bot` starts it, what its page API refuses, and that the
workspace does what the Slack client does with modals (tests/test_playground_browser.py drives the page)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.playground.server import Playground
from bot.playground.workspace import MESSAGE_SHORTCUTS, PlaygroundError, people_of
from bot.settings import playground_config_path, slack_tokens_configured
from bot.workflows.accounts.models import RegisterAccount
from tests.conftest import ROOT, TEST_ORG
from tests.test_cli import assert_clean_refusal, clean_environ, free_port, run_bot


@pytest.fixture
def playground(tmp_path):
    running = Playground(TEST_ORG, tmp_path / "playground.db", port=0, bot_port=0).start()
    yield running
    running.stop()


def request(url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})} if body is not None else dict(headers or {})
    req = urllib.request.Request(url, data=data, headers=sent, method="POST" if body is not None else "GET")  # noqa: S310
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


# -- when it starts ---------------------------------------------------------------------------------------


def test_without_any_slack_token_python_m_bot_starts_the_playground_and_says_so(tmp_path):
    port = free_port()
    env = {**clean_environ(), "KOHO_CONFIG": str(TEST_ORG), "KOHO_PLAYGROUND_PORT": str(port),
           "KOHO_PLAYGROUND_DB": str(tmp_path / "pg.db")}
    process = subprocess.Popen([sys.executable, "-m", "bot"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        first = process.stdout.readline()
        assert "no Slack tokens are configured" in first and "playground" in first
        second = process.stdout.readline()
        assert f"open http://127.0.0.1:{port}/" in second and "local sandbox" in second
        status, directory = request(f"http://127.0.0.1:{port}/ui/directory")
        assert status == 200 and {p["id"] for p in directory["people"]} >= {"U0STAFF1", "U0PR1", "U0ONCALL1"}
        assert (tmp_path / "pg.db").is_file()  # its own database
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_when_the_port_after_the_workspace_is_taken_the_bot_listens_elsewhere(tmp_path):
    import socket

    # The bot's default port is the workspace's + 1; on a busy machine that may be somebody's.
    while True:
        port, taken = free_port(), socket.socket()
        try:
            taken.bind(("127.0.0.1", port + 1))
            break
        except OSError:
            taken.close()
    taken.listen()
    env = {**clean_environ(), "KOHO_CONFIG": str(TEST_ORG), "KOHO_PLAYGROUND_PORT": str(port),
           "KOHO_PLAYGROUND_DB": str(tmp_path / "pg.db")}
    process = subprocess.Popen([sys.executable, "-m", "bot"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        process.stdout.readline()
        second = process.stdout.readline()
        assert f"open http://127.0.0.1:{port}/" in second and f":{port + 1}" not in second, second
        status, directory = request(f"http://127.0.0.1:{port}/ui/directory")
        assert status == 200 and directory["people"]
    finally:
        process.send_signal(signal.SIGTERM)
        taken.close()
        assert process.wait(timeout=15) == 0


def test_with_tokens_partly_configured_it_still_stops_with_what_is_missing(tmp_path):
    result = run_bot(env={"KOHO_CONFIG": str(TEST_ORG), "SLACK_BOT_TOKEN": "xoxb-1-2-abc"})
    assert_clean_refusal(result, "SLACK_SIGNING_SECRET is not set", "Signing Secret")
    assert "playground" not in result.stdout + result.stderr


def test_tokens_in_dotenv_count_as_configured(tmp_path, monkeypatch):
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("SLACK_BOT_TOKEN=\nSLACK_SIGNING_SECRET=\n")
    assert not slack_tokens_configured(dotenv_path=env_file)
    env_file.write_text("SLACK_BOT_TOKEN=\nSLACK_SIGNING_SECRET=abc\n")
    assert slack_tokens_configured(dotenv_path=env_file)
    assert slack_tokens_configured({"SLACK_APP_TOKEN": "xapp-1"}) and not slack_tokens_configured({})


def test_the_env_example_starts_the_playground_when_copied_as_it_is():
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    values = dict(line.split("=", 1) for line in example.splitlines() if "=" in line and not line.startswith("#"))
    assert not slack_tokens_configured(values)


def test_the_organisation_file_falls_back_to_the_shipped_example(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert playground_config_path({"KOHO_CONFIG": str(TEST_ORG)}) == TEST_ORG
    found = playground_config_path({})
    assert found in (Path("config/organization.toml"), Path("config/organization.example.toml"))
    monkeypatch.chdir(tmp_path)
    assert playground_config_path({}) is None


def test_a_port_in_use_is_a_clear_refusal(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_bot("playground", "--port", str(port), "--db", str(tmp_path / "p.db"),
                         env={"KOHO_CONFIG": str(TEST_ORG)})
    assert_clean_refusal(result, "the playground cannot listen", "--port")


# -- who and where ------------------------------------------------------------------------------------------


def test_everyone_in_the_organisation_file_is_offered_with_their_roles(org):
    people = {p.id: p.roles for p in people_of(org)}
    assert people["U0STAFF1"] == (("staff", "環境局"),)
    assert people["U0KANKYOHEAD"] == (("department_approver", "環境局"),)
    assert ("pr_approver", "広報広聴課") in people["U0PR1"]
    assert ("on_call", "") in people["U0ONCALL1"] and ("admin", "") in people["U0ADMIN1"]


def test_the_message_shortcuts_are_the_manifests():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    declared = [(s["callback_id"], s["name"]) for s in manifest["features"]["shortcuts"] if s["type"] == "message"]
    assert sorted(declared) == sorted(MESSAGE_SHORTCUTS)


# -- the page's API -------------------------------------------------------------------------------------


def test_the_page_api_refuses_other_sites_and_other_hosts(playground):
    ui = f"{playground.url}ui/type"
    body = {"user": "U0STAFF1", "channel": "C0KANKYO", "text": "こんにちは"}
    assert request(ui, body, {"Origin": "http://evil.example"})[0] == 403
    assert request(ui, body, {"Host": "evil.example"})[0] == 421  # DNS rebinding
    form = urllib.request.Request(ui, data=b"user=U0STAFF1", method="POST",  # noqa: S310
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(form, timeout=5)
    assert refused.value.code == 415
    assert playground.fake.messages("C0KANKYO") == []
    response_url = playground.fake.response_url("command", channel="C0KANKYO", user_id="U0STAFF1")
    assert request(response_url, {"text": "偽物", "response_type": "in_channel"}, {"Origin": "http://evil.example"})[0] == 403
    assert request(ui, body, {"Origin": playground.url.rstrip("/")})[0] == 200
    assert [m["text"] for m in playground.fake.messages("C0KANKYO")] == ["こんにちは"]


def test_bad_requests_from_the_page_name_the_problem(playground):
    ui = playground.url + "ui/"
    assert request(ui + "type", {"user": "U0NOBODY", "channel": "C0KANKYO", "text": "x"}) == (
        400, {"error": "unknown_person", "detail": "U0NOBODY"})
    assert request(ui + "type", {"user": "U0STAFF1", "channel": "C0ELSEWHERE", "text": "x"})[1]["error"] == "unknown_channel"
    assert request(ui + "type", {"user": "U0STAFF1", "channel": "D0PR1", "text": "x"})[1]["error"] == "unknown_channel"
    assert request(ui + "type", {"user": "U0STAFF1", "channel": "C0KANKYO", "text": "/nope"})[1] == {
        "error": "unknown_command", "detail": "/nope"}
    assert request(ui + "submit", {"user": "U0STAFF1", "view_id": "V404", "values": {}})[1]["error"] == "unknown_view"


def test_typed_text_is_escaped_as_slack_escapes_it(playground):
    playground.workspace.type_text("U0STAFF1", "C0KANKYO", "<@U0PR1> & <!channel> <script>")
    (message,) = playground.fake.messages("C0KANKYO")
    assert message["text"] == "&lt;@U0PR1&gt; &amp; &lt;!channel&gt; &lt;script&gt;" and message["user"] == "U0STAFF1"


def test_field_errors_keep_the_modal_open_and_an_accepted_submission_closes_it(playground):
    ws, fake = playground.workspace, playground.fake
    ws.type_text("U0STAFF1", "C0KANKYO", "/propose-post")
    fake.wait_for("views.open", predicate=lambda c: c.ok)
    (form,) = fake.modal_stack("U0STAFF1")
    errors = ws.submit("U0STAFF1", form["id"], {"accounts": {"accounts": ["city-x"]}, "text": {"text": "短い本文"}})
    assert set(errors) >= {"checklist_1"}
    assert [v["id"] for v in fake.modal_stack("U0STAFF1")] == [form["id"]]
    assert ws.snapshot("U0STAFF1", "C0KANKYO")["modal"]["errors"] == errors
    assert fake.modal_stack("U0KANKYOHEAD") == []  # nobody else sees it

    ws.close("U0STAFF1", form["id"])
    assert fake.modal_stack("U0STAFF1") == [] and ws.snapshot("U0STAFF1", "C0KANKYO")["modal"] is None
    with pytest.raises(PlaygroundError):
        ws.submit("U0STAFF1", form["id"], {})


def test_a_comment_is_signed_like_a_monitoring_tool_and_the_answer_shown(playground):
    sent = playground.workspace.send_comment({"source": "x", "text": "道路に穴が開いています", "account": "city-x"})
    assert sent["status"] == 202 and sent["answer"]["status"] == "accepted"
    refused = playground.workspace.send_comment({"source": "fax", "text": ""})
    assert refused["status"] == 400 and {"source", "text"} <= set(refused["answer"]["fields"])
    playground.fake.wait_for("chat.postMessage", channel="C0KENSETSU", predicate=lambda c: c.ok)


def test_the_comment_form_offers_the_registers_open_accounts(playground, org):
    """As the bot's own forms do: an account opened in Slack is offered, a withdrawn one no longer."""
    def offered() -> list[str]:
        status, answer = request(f"{playground.url}ui/accounts")
        assert status == 200
        return [a["id"] for a in answer["accounts"]]

    assert offered() == [a.id for a in org.accounts]
    now = datetime.now(UTC)
    with playground._db.transaction() as session:
        session.add(RegisterAccount(id="city-x-bousai", platform="x", name="千葉市 防災X", handle="@chiba_bousai",
                                    kind="subject", department_id="kankyo", operators=[], status="active",
                                    source="slack", created_at=now, updated_at=now))
        session.get(RegisterAccount, org.accounts[-1].id).status = "withdrawn"
    assert offered() == [a.id for a in org.accounts[:-1]] + ["city-x-bousai"]


def test_reset_deletes_the_database_and_every_message(playground):
    playground.workspace.type_text("U0STAFF1", "C0KANKYO", "消えるメッセージ")
    playground.workspace.send_comment({"source": "x", "text": "ごみの収集日は？"})
    playground.fake.wait_for("chat.postMessage", channel="C0KANKYO", predicate=lambda c: c.ok)
    old_clients = playground._app.koho_services.slack_clients
    assert any(client.pool.idle() for client in old_clients)  # kept open
    assert request(playground.url + "ui/reset", {"user": "U0STAFF1"})[0] == 200
    assert playground.fake.messages("C0KANKYO") == []
    # The stopped bot's kept connections are closed, not left for the page's server to count until they time out.
    assert not any(client.pool.idle() for client in old_clients)
    from bot.workflows.comments.models import Comment

    with playground._db.read() as session:
        assert session.query(Comment).count() == 0
    again = playground.workspace.send_comment({"source": "x", "text": "ごみの収集日は？"})
    assert again["status"] == 202 and again["answer"]["id"] == 1  # a fresh database


def test_the_fake_does_with_response_actions_what_slack_does():
    from slack_sdk import WebClient

    from bot.playground.fake_slack import FakeSlack

    def modal(title):
        return {"type": "modal", "title": {"type": "plain_text", "text": title},
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": title}}]}

    with FakeSlack() as fake:
        client = WebClient(base_url=fake.api_url, token=fake.bot_token)
        first = client.views_open(trigger_id=fake.issue_trigger("U0STAFF1"), view=modal("一")).data["view"]
        assert fake.apply_response_action(first["id"], {"response_action": "push", "view": modal("二")}) == []
        assert [v["title"]["text"] for v in fake.modal_stack("U0STAFF1")] == ["一", "二"]
        top = fake.modal_stack("U0STAFF1")[-1]["id"]
        problems = fake.apply_response_action(top, {"response_action": "update", "view": {"type": "modal"}})
        assert problems and fake.validation_errors  # refused as Slack would, nothing changed
        fake.validation_errors.clear()
        assert fake.apply_response_action(top, {"response_action": "update", "view": modal("三")}) == []
        assert [v["title"]["text"] for v in fake.modal_stack("U0STAFF1")] == ["一", "三"]
        fake.apply_response_action(top, {})  # an empty answer closes the submitted view only
        assert [v["title"]["text"] for v in fake.modal_stack("U0STAFF1")] == ["一"]
        fake.apply_response_action(first["id"], {"response_action": "push", "view": modal("四")})
        fake.apply_response_action(first["id"], {"response_action": "clear"})
        assert fake.modal_stack("U0STAFF1") == []
