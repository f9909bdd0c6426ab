"""`python -m bot` as an operator runs it: clear refusals, a real boot, a clean stop."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot import __version__
from tests.conftest import BOT_TOKEN, ROOT, SIGNING_SECRET, TEST_ORG, test_environ
from tests.harness.slack_requests import SlackRequests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_bot(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], env={**clean_environ(), **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def clean_environ() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "SYSTEMROOT")
    return {k: v for k, v in os.environ.items() if k in keep}


def assert_clean_refusal(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in result.stderr


def test_missing_settings_stop_the_bot_with_what_to_do(tmp_path):
    result = run_bot("serve", env={"KOHO_CONFIG": str(ROOT / "tests/data/organization.toml")})
    assert_clean_refusal(result, "SLACK_BOT_TOKEN is not set", "OAuth & Permissions", "SLACK_SIGNING_SECRET")


def test_a_broken_organisation_file_is_refused_with_every_key(tmp_path, fake_slack):
    broken = tmp_path / "org.toml"
    text = (ROOT / "tests/data/organization.toml").read_text(encoding="utf-8")
    broken.write_text(text.replace('approvers = ["U0KENSETSUHEAD"]', "approvers = []")
                      .replace('department = "kankyo"', 'department = "nowhere"'), encoding="utf-8")
    env = test_environ(fake_slack, f"sqlite:///{tmp_path}/k.db", KOHO_CONFIG=str(broken))
    for command in ("check-config", "serve"):
        result = run_bot(command, env=env)
        assert_clean_refusal(result, "2 problem(s)", "departments[1].approvers: must not be empty",
                             "accounts[2].department: unknown department 'nowhere'")


def test_broken_emergency_templates_are_refused_by_check_config_and_at_start_up(tmp_path, fake_slack):
    posts = tmp_path / "posts"
    (posts / "ja").mkdir(parents=True)
    (posts / "ja" / "first_report.j2").write_text("{{ titel }}について\n", encoding="utf-8")  # a typo
    (posts / "en").mkdir()
    (posts / "en" / "all_clear.j2").write_text("{% if areas %}All clear\n", encoding="utf-8")  # unclosed
    org_file = tmp_path / "org.toml"
    text = (ROOT / "tests/data/organization.toml").read_text(encoding="utf-8")
    org_file.write_text(text.replace('[emergency]\n', '[emergency]\ntemplates_dir = "posts"\n', 1), encoding="utf-8")
    env = test_environ(fake_slack, f"sqlite:///{tmp_path}/k.db", KOHO_CONFIG=str(org_file))
    for command in ("check-config", "serve"):
        result = run_bot(command, env=env)
        assert_clean_refusal(result, "2 emergency post template(s)", "ja/first_report.j2", "titel",
                             "en/all_clear.j2")

    (posts / "ja" / "first_report.j2").write_text("{{ title }}について\n", encoding="utf-8")
    (posts / "en" / "all_clear.j2").write_text("{% if areas %}All clear in {{ areas }}{% endif %}\n", encoding="utf-8")
    result = run_bot("check-config", env=env)
    assert result.returncode == 0, result.stderr


def test_check_config_accepts_the_shipped_example(tmp_path, fake_slack):
    env = test_environ(fake_slack, f"sqlite:///{tmp_path}/k.db",
                       KOHO_CONFIG=str(ROOT / "config/organization.example.toml"))
    result = run_bot("check-config", env=env)
    assert result.returncode == 0, result.stderr
    assert "is valid: 千葉市" in result.stdout and "can post in all" in result.stdout


def test_check_config_names_each_channel_the_bot_cannot_post_in(tmp_path, fake_slack, monkeypatch):
    """Found out by the first message sent there, the emergency channel's problem would show on the night of a
    declaration. check-config asks Slack about every channel the organisation file names."""
    monkeypatch.setitem(fake_slack.channels, "C0EMERG", {"is_member": False})
    monkeypatch.setitem(fake_slack.channels, "C0KANKYO", {"is_archived": True})
    fake_slack.fail("conversations.info", 200, error="channel_not_found", channel="C0KENSETSU")
    env = test_environ(fake_slack, f"sqlite:///{tmp_path}/k.db")
    assert_clean_refusal(unwrapped(run_bot("check-config", env=env)), "cannot post in 3 of the channels",
                         "C0EMERG (the emergency channel): the bot is not a member: invite it there",
                         "C0KANKYO (the channel of 環境局): the channel is archived",
                         "C0KENSETSU (the channel of 建設局): not found")
    assert run_bot("check-config", "--offline", env=env).returncode == 0  # the files alone are fine

    fake_slack.fail("conversations.info", 200, error="missing_scope")
    assert_clean_refusal(unwrapped(run_bot("check-config", env=env)), "cannot ask Slack about the channels",
                         "add the channels:read and groups:read scopes")


def unwrapped(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """The refusal's lines are wrapped at 100 columns; its sentences are compared whole."""
    result.stderr = "\n".join(" ".join(item.split()) for item in result.stderr.split("\n  - "))
    return result


def test_a_token_slack_refuses_is_reported(tmp_path, fake_slack):
    env = test_environ(fake_slack, f"sqlite:///{tmp_path}/k.db", SLACK_BOT_TOKEN="xoxb-revoked")
    assert_clean_refusal(run_bot("serve", env=env), "Slack refused the bot token", "invalid_auth")


def test_an_unreachable_slack_is_reported(tmp_path, fake_slack):
    env = test_environ(fake_slack, f"sqlite:///{tmp_path}/k.db",
                       SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/")
    assert_clean_refusal(run_bot("serve", env=env), "cannot reach Slack")


def with_on_call_group(tmp_path: Path, on_call: str = '["U0ONCALL1", "U0ONCALL2"]') -> str:
    """The tests' organisation file, with the on-call user group S0ONCALL (and `on_call` as given)."""
    text = TEST_ORG.read_text(encoding="utf-8").replace('on_call = ["U0ONCALL1", "U0ONCALL2"]',
                                                         f'on_call = {on_call}\non_call_group = "S0ONCALL"')
    path = tmp_path / "organization.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_check_config_reads_the_on_call_group(tmp_path, fake_slack):
    env = test_environ(fake_slack, f"sqlite:///{tmp_path}/k.db", KOHO_CONFIG=with_on_call_group(tmp_path))
    assert_clean_refusal(unwrapped(run_bot("check-config", env=env)), "the on-call user group cannot be used",
                         "S0ONCALL: no such user group (or it is disabled): check [emergency] on_call_group")
    fake_slack.user_groups["S0ONCALL"] = ["U0NIGHT1"]
    result = run_bot("check-config", env=env)
    assert result.returncode == 0 and "The on-call group S0ONCALL can be read." in result.stdout, result.stderr

    # An empty group is fine beside the file's own officers; with nobody in the file either, nobody could declare.
    fake_slack.user_groups["S0ONCALL"] = []
    assert run_bot("check-config", env=env).returncode == 0
    env["KOHO_CONFIG"] = with_on_call_group(tmp_path, on_call="[]")
    assert_clean_refusal(unwrapped(run_bot("check-config", env=env)), "nobody could declare an emergency")


def test_boots_serves_and_stops_cleanly(db_url, fake_slack, tmp_path, monkeypatch):
    monkeypatch.setitem(fake_slack.channels, "C0EMERG", {"is_member": False})  # nobody invited the bot there
    fake_slack.user_groups["S0ONCALL"] = ["U0NIGHT1"]
    port = free_port()
    env = {**clean_environ(), **test_environ(fake_slack, db_url, PORT=str(port), LOG_LEVEL="DEBUG",
                                             KOHO_CONFIG=with_on_call_group(tmp_path))}
    if db_url.startswith("postgresql"):
        migrate = run_bot("migrate", env=env)
        assert migrate.returncode == 0 and "revision" in migrate.stdout, migrate.stderr
    log_file = tmp_path / "bot.log"
    with log_file.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot"], env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", process)
        requests = SlackRequests(f"http://127.0.0.1:{port}", SIGNING_SECRET, fake=fake_slack)
        assert requests.command("/koho", "help", user_id="U0STAFF1").status == 200
        (reply,) = fake_slack.wait_for("response_url")
        assert "/propose-post" in reply.args["text"]
        assert requests.post(b"command=/koho", "application/x-www-form-urlencoded", sign=False).status == 401
        deadline = time.monotonic() + 10  # start-up asked Slack about the channels and the on-call group
        while not ("messages to C0EMERG will fail" in log_file.read_text() and "S0ONCALL: 1 came" in
                   log_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    output = log_file.read_text()
    assert "serving HTTP" in output
    assert "ERROR" in output and "C0EMERG (the emergency channel): the bot is not a member" in output
    assert "on-call group S0ONCALL: 1 came, 0 left; 1 on call from it now" in output
    # Delivery and the sweeps were stopped before the interpreter exited (it went on claiming meanwhile).
    assert f"koho {__version__}: stopped" in output.splitlines()[-1] and "Traceback" not in output, output[-3000:]
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the bot exited with {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer 200 within {timeout} s")


def test_postgresql_with_an_old_schema_is_refused(fake_slack, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite migrates itself")
    result = run_bot("serve", env=test_environ(fake_slack, db_url))
    assert_clean_refusal(result, "schema is not current", "python -m bot migrate")


def test_version():
    result = run_bot("version", env={})
    assert result.returncode == 0 and result.stdout.strip() == __import__("bot").__version__


def test_the_readme_commands_exist():
    readme = Path(ROOT / "README.md").read_text(encoding="utf-8")
    makefile = Path(ROOT / "Makefile").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    assert "\nrun:" in makefile and "\ntest:" in makefile
    assert "make test" in Path(ROOT / ".ci/run").read_text(encoding="utf-8")


def test_a_database_that_cannot_be_opened_is_reported(tmp_path, fake_slack):
    missing_directory = f"sqlite:///{tmp_path}/no/such/dir/k.db"
    for command in ("serve", "migrate"):
        result = run_bot(command, env=test_environ(fake_slack, missing_directory))
        assert_clean_refusal(result, "cannot open the database", "DATABASE_URL")
    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    assert_clean_refusal(run_bot("serve", env=test_environ(fake_slack, unreachable)), "cannot open the database")


def test_a_busy_port_is_reported(tmp_path, fake_slack):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_bot("serve", "--host", "127.0.0.1",
                         env=test_environ(fake_slack, f"sqlite:///{tmp_path}/k.db", PORT=str(port)))
    assert_clean_refusal(result, f"cannot listen on 127.0.0.1:{port}", "PORT")


def test_an_app_token_slack_refuses_is_reported(tmp_path, fake_slack):
    env = test_environ(fake_slack, f"sqlite:///{tmp_path}/k.db", PORT=str(free_port()), SLACK_APP_TOKEN="xapp-1-revoked")
    assert_clean_refusal(run_bot("serve", env=env), "Slack refused the app-level token", "SLACK_APP_TOKEN")


def test_outbox_retry_failed_puts_failed_deliveries_back(database, db_url, fake_slack):
    # The bot was invited back into the channel: the operator sends again what failed on or after a day.
    from datetime import UTC, datetime

    from sqlalchemy import select

    from bot.models import AuditEvent, OutboxItem
    from bot.workflows import outbox

    with database.transaction() as session:
        for day in (1, 3):
            outbox.post(session, channel="C0KANKYO", view="comment", ref={"comment_id": day},
                        now=datetime(2026, 4, day, tzinfo=UTC), message_key=f"comment:{day}")
        session.flush()
        for item in session.scalars(select(OutboxItem)):
            item.status, item.last_error, item.attempts = "failed", "not_in_channel", 1
    result = run_bot("outbox", "retry-failed", "--since", "2026-04-02", env=test_environ(fake_slack, db_url))
    assert result.returncode == 0, result.stderr
    assert "1 failed deliveries are pending again" in result.stdout
    with database.read() as session:
        assert dict(session.execute(select(OutboxItem.message_key, OutboxItem.status)).all()) == {
            "comment:1": "failed", "comment:3": "pending"}
        assert session.scalars(select(AuditEvent.action)).all() == ["outbox.retried"]
    assert_clean_refusal(run_bot("outbox", "retry-failed", "--since", "yesterday", env=test_environ(fake_slack, db_url)),
                         "--since is not a date")
