"""Socket Mode (SLACK_APP_TOKEN set), as a developer without a public URL runs Koho: `python -m bot`
against the fake Slack, Slack's requests over a WebSocket instead of signed posts to /slack/events."""

import signal
import subprocess
import sys
from pathlib import Path

from bot import __version__
from tests.conftest import BOT_TOKEN, ROOT, test_environ
from tests.harness.fake_socket_mode import FakeSocketMode, SocketModeRequests
from tests.test_cli import clean_environ, free_port, run_bot, wait_until_healthy
from tests.test_proposals import form_values


def start_in_socket_mode(db_url, fake_slack, log_file: Path) -> tuple[subprocess.Popen, FakeSocketMode]:
    """`python -m bot` with an app-level token, connected to a fake Socket Mode endpoint."""
    socket_mode = FakeSocketMode().start()
    fake_slack.socket_mode_url = socket_mode.url
    port = free_port()
    env = {**clean_environ(), **test_environ(fake_slack, db_url, PORT=str(port), SLACK_APP_TOKEN=fake_slack.app_token)}
    del env["SLACK_SIGNING_SECRET"]  # Socket Mode needs none: nothing arrives over HTTP from Slack
    if db_url.startswith("postgresql"):
        assert run_bot("migrate", env=env).returncode == 0
    with log_file.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot"], env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process)
        socket_mode.wait_connected()
    except BaseException:
        process.kill()
        socket_mode.stop()
        raise
    return process, socket_mode


def assert_stopped_in_order(returncode: int, log_file: Path) -> None:
    assert returncode == 0
    output = log_file.read_text()
    assert f"koho {__version__}: stopped" in output.splitlines()[-1] and "Traceback" not in output, output[-3000:]


def test_socket_mode_answers_over_the_websocket_and_stops_cleanly_on_sigterm(db_url, fake_slack, tmp_path):
    log_file = tmp_path / "bot.log"
    process, socket_mode = start_in_socket_mode(db_url, fake_slack, log_file)
    try:
        slack = SocketModeRequests(socket_mode, fake_slack)

        # The command is acknowledged over the socket and its form opened with the trigger.
        assert slack.command("/propose-post", user_id="U0STAFF1").json() == {}
        fake_slack.wait_for("views.open")
        view = fake_slack.last_view("U0STAFF1")
        assert view["callback_id"] == "proposal_form"

        # A mistake comes back in the acknowledgement, on its field; nothing is stored.
        answer = slack.view_submission("U0STAFF1", view, form_values(text="   "), strict=False).json()
        assert answer["response_action"] == "errors" and "投稿文を入力してください" in answer["errors"]["text"]

        # A good proposal closes the form and goes to the department's approvers.
        assert slack.view_submission("U0STAFF1", view, form_values()).json() == {}
        (request,) = fake_slack.wait_for("chat.postMessage", channel="C0KANKYO", predicate=lambda c: c.ok)
        assert "承認依頼" in request.args["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(timeout=20)
        finally:
            process.kill()  # nothing once it has exited; a bot that did not stop must not outlive the test
            socket_mode.stop()
    # Before: SIGTERM ended the process where it stood (-15), mid-request, the dispatcher still claiming.
    assert_stopped_in_order(returncode, log_file)
    output = log_file.read_text()
    assert BOT_TOKEN not in output and fake_slack.app_token not in output


def test_a_second_sigterm_does_not_cut_the_orderly_stop_short(db_url, fake_slack, tmp_path):
    """A supervisor that repeats its SIGTERM while the bot stops: the delivery in flight still finishes."""
    log_file = tmp_path / "bot.log"
    process, socket_mode = start_in_socket_mode(db_url, fake_slack, log_file)
    try:
        slack = SocketModeRequests(socket_mode, fake_slack)
        slack.command("/propose-post", user_id="U0STAFF1")
        fake_slack.wait_for("views.open")
        fake_slack.hang("chat.postMessage", seconds=3)  # the approvers' request, in flight when the stop begins
        slack.view_submission("U0STAFF1", fake_slack.last_view("U0STAFF1"), form_values())
        fake_slack.wait_for_arrival("chat.postMessage")

        process.send_signal(signal.SIGTERM)
        socket_mode.wait_disconnected()  # the stop has begun: the WebSocket closes first
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=20)
    finally:
        process.kill()
        socket_mode.stop()
    # Before: the second SIGTERM raised KeyboardInterrupt where the stop stood (waiting for the delivery): exit -2.
    assert_stopped_in_order(returncode, log_file)
    (delivered,) = fake_slack.wait_for("chat.postMessage", channel="C0KANKYO")
    assert delivered.ok and "承認依頼" in delivered.args["text"]
