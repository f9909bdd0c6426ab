"""The Slack app manifest and the bot agree: every declared command is answered, and the reverse."""

from pathlib import Path

import pytest
import yaml

from bot.handlers.ids import Command

MANIFEST = yaml.safe_load((Path(__file__).resolve().parent.parent / "manifest.yml").read_text(encoding="utf-8"))
DECLARED_COMMANDS = [c["command"] for c in MANIFEST["features"]["slash_commands"]]
DECLARED_SHORTCUTS = [(s["type"], s["callback_id"]) for s in MANIFEST["features"].get("shortcuts", [])]


def test_every_command_the_bot_knows_is_declared():
    assert sorted(DECLARED_COMMANDS) == sorted(c.value for c in Command)


def test_manifest_respects_slack_limits():
    for command in MANIFEST["features"]["slash_commands"]:
        assert len(command["command"]) <= 32
        assert command["url"].endswith("/slack/events")
    for _, callback_id in DECLARED_SHORTCUTS:
        assert len(callback_id) <= 255
    assert "app_home_opened" in MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert {"chat:write", "commands", "users:read"} <= set(MANIFEST["oauth_config"]["scopes"]["bot"])


@pytest.mark.parametrize("command", DECLARED_COMMANDS)
def test_every_declared_command_is_answered(koho, command):
    response = koho.slack.command(command, "", user_id="U0STAFF1")
    assert response.status == 200, f"{command} is declared in manifest.yml but the bot does not answer it"


def test_every_shortcut_the_bot_registers_is_declared(monkeypatch, fake_slack, database, db_url, org):
    """The reverse of the test below: a shortcut registered in code but missing from the manifest
    would never reach the bot in a real workspace."""
    from slack_bolt import App

    from bot.app import create_app
    from bot.settings import load_settings
    from tests.conftest import test_environ

    registered: list[str] = []
    original = App.shortcut

    def recording(self, constraints, *args, **kwargs):  # noqa: ANN001, ANN202
        registered.append(str(constraints))
        return original(self, constraints, *args, **kwargs)

    monkeypatch.setattr(App, "shortcut", recording)
    create_app(load_settings(test_environ(fake_slack, db_url)), org, database)
    assert registered, "no shortcut was registered: the recording no longer sees them"
    # Each once per Bolt app: the answering app, and the one that works accepted clicks (handlers/deferred.py).
    assert sorted(set(registered)) == sorted(callback_id for _, callback_id in DECLARED_SHORTCUTS)


@pytest.mark.parametrize(("kind", "callback_id"), DECLARED_SHORTCUTS)
def test_every_declared_shortcut_is_answered(koho, kind, callback_id):
    if kind == "message":
        message = {"type": "message", "ts": "1760000000.000100", "text": "テスト", "user": "U0STAFF1"}
        response = koho.slack.message_shortcut(callback_id, "U0STAFF1", "C0KANKYO", message)
    else:
        response = koho.slack.global_shortcut(callback_id, "U0STAFF1")
    assert response.status == 200, f"shortcut {callback_id} is declared but not answered"
