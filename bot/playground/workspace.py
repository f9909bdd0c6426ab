"""The playground's workspace: people, channels, DMs and App Home over the fake Slack, as a client sees them.

A browser (bot/playground/static/) asks `snapshot()` what one person sees and calls the methods below
for what they do. Each of those does what the Slack client would: a signed request to the bot's
/slack/events (`SlackRequests`), and, for a modal's submission, what Slack does with the answer
(`FakeSlack.apply_response_action`). The bot never knows it is not Slack.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.handlers.comment_ids import CommentShortcut
from bot.handlers.ids import Command
from bot.handlers.proposal_ids import ProposalCallback
from bot.organization import Organization
from bot.playground.fake_slack import BOT_USER_ID, FakeSlack
from bot.playground.slack_requests import SlackRequests
from bot.webhooks import sign
from bot.workflows.comments.rules import SOURCES

# The message shortcuts of manifest.yml (tests/test_playground.py keeps the two equal).
MESSAGE_SHORTCUTS = (
    (ProposalCallback.SHORTCUT.value, "この投稿を起案 / Propose as post"),
    (CommentShortcut.FORWARD_MESSAGE.value, "市民の声として転送 / Forward as comment"),
)
_ELEMENT_KEYS = ("elements", "accessory", "element")


class PlaygroundError(Exception):
    """A request from the page that cannot be carried out; `key` names the UI sentence."""

    def __init__(self, key: str, detail: str = ""):
        super().__init__(f"{key}: {detail}" if detail else key)
        self.key = key
        self.detail = detail


@dataclass(frozen=True)
class Person:
    id: str
    roles: tuple[tuple[str, str], ...]  # (role, department name or "")


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    department: str  # who works in it, for the sidebar


def people_of(org: Organization) -> list[Person]:
    """Everyone the organisation file names, staff first, each with their roles."""
    roles: dict[str, list[tuple[str, str]]] = {}

    def add(user_id: str, role: str, department: str = "") -> None:
        roles.setdefault(user_id, [])
        if (role, department) not in roles[user_id]:
            roles[user_id].append((role, department))

    for dept in org.departments:
        for user_id in dept.members:
            add(user_id, "staff", dept.name)
    for dept in org.departments:
        for user_id in dept.approvers:
            add(user_id, "department_approver", dept.name)
    for user_id in org.pr_office.approvers:
        add(user_id, "pr_approver", org.pr_office.name)
    for user_id in org.on_call_now():
        add(user_id, "on_call")
    for user_id in org.admins:
        add(user_id, "admin")
    return [Person(user_id, tuple(r)) for user_id, r in roles.items()]


def channels_of(org: Organization) -> list[Channel]:
    found = [Channel(org.pr_office.channel, "pr-office", org.pr_office.name),
             Channel(org.emergency_channel, "emergency", "")]
    found += [Channel(d.channel, d.id, d.name) for d in org.departments]
    unique: dict[str, Channel] = {}
    for channel in found:
        unique.setdefault(channel.id, channel)
    return list(unique.values())


def dm_channel(user_id: str) -> str:
    return "D" + user_id[1:]


class Workspace:
    def __init__(self, org: Organization, fake: FakeSlack, bot_url: str, signing_secret: str,
                 webhook_secret: str):
        self.org = org
        self.fake = fake
        self.bot_url = bot_url.rstrip("/")
        self.webhook_secret = webhook_secret
        self.slack = SlackRequests(self.bot_url, signing_secret, fake=fake)
        self.people = people_of(org)
        self.channels = channels_of(org)
        self._people = {p.id: p for p in self.people}
        self._channels = {c.id: c for c in self.channels}
        self._view_errors: dict[str, dict[str, str]] = {}
        self._notices: dict[str, list[dict]] = {}
        self._comment_ids = 0
        self._setup_fake()

    def _setup_fake(self) -> None:
        for person in self.people:
            self.fake.users[person.id] = {"name": person.id.lower(), "real_name": person.id}
        for channel in self.channels:
            self.fake.channels[channel.id] = {"name": channel.name}
        if self.org.on_call_group is not None:  # the local workspace's on-call group: the file's officers
            self.fake.user_groups[self.org.on_call_group] = list(self.org.on_call)

    def reset(self) -> None:
        """Forget every message, modal and Home tab (the bot's database is reset beside this)."""
        self.fake.reset()
        self._view_errors.clear()
        self._notices.clear()

    # ---- what a person sees ----------------------------------------------------------

    def person(self, user_id: str) -> Person:
        person = self._people.get(user_id)
        if person is None:
            raise PlaygroundError("unknown_person", user_id)
        return person

    def _conversation(self, channel_id: str, user_id: str) -> str:
        if channel_id in self._channels or channel_id == dm_channel(user_id):
            return channel_id
        raise PlaygroundError("unknown_channel", channel_id)

    def snapshot(self, user_id: str, channel_id: str) -> dict[str, Any]:
        self.person(user_id)
        revision = self.fake.revision
        messages: list[dict] = []
        if channel_id != "home":
            channel_id = self._conversation(channel_id, user_id)
            for message in self.fake.messages(channel_id):
                messages.append(_shown(message, ephemeral=False))
            for ephemeral in self.fake.ephemerals(user_id=user_id, channel=channel_id):
                messages.append(_shown(ephemeral, ephemeral=True))
            messages.sort(key=lambda m: m["ts"])
        home = self.fake.home_views.get(user_id) if channel_id == "home" else None
        stack = self.fake.modal_stack(user_id)
        modal = None
        if stack:
            top = stack[-1]
            modal = {key: top.get(key) for key in ("id", "title", "submit", "close", "blocks", "callback_id")}
            modal["errors"] = self._view_errors.get(top["id"], {})
            modal["depth"] = len(stack)
        dm_counts = {p.id: len(self.fake.messages(dm_channel(p.id))) for p in self.people}
        return {
            "revision": revision,
            "me": user_id,
            "channel": channel_id,
            "messages": messages,
            "home": None if home is None else {"id": home["id"], "blocks": home["blocks"]},
            "modal": modal,
            "dm_count": dm_counts.get(user_id, 0),
            "notices": self._notices.get(user_id, [])[-5:],
            "problems": self.fake.validation_errors[-5:],
        }

    def directory(self) -> dict[str, Any]:
        """Who and where: the same for every person (the page asks once)."""
        return {
            "organization": self.org.name,
            "timezone": self.org.timezone,
            "bot_user": BOT_USER_ID,
            "people": [{"id": p.id, "roles": [{"role": r, "department": d} for r, d in p.roles]}
                       for p in self.people],
            "channels": [{"id": c.id, "name": c.name, "department": c.department} for c in self.channels],
            "commands": [c.value for c in Command],
            "shortcuts": [{"callback_id": cid, "name": name} for cid, name in MESSAGE_SHORTCUTS],
            "comment_sources": list(SOURCES),
        }

    # ---- what a person does ----------------------------------------------------------

    def _notice(self, user_id: str, key: str, detail: str = "") -> None:
        self._notices.setdefault(user_id, []).append({"key": key, "detail": detail, "at": time.time()})
        self.fake.touch()

    def _check_answer(self, user_id: str, response: Any) -> None:
        if response.status != 200:
            self._notice(user_id, "bot_refused", f"HTTP {response.status} {response.body[:200]}")

    def type_text(self, user_id: str, channel_id: str, text: str) -> None:
        """What the person typed in the message box: a slash command, or a message."""
        self.person(user_id)
        channel_id = self._conversation(channel_id, user_id)
        text = text.strip()
        if not text:
            raise PlaygroundError("empty_message")
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            if command not in {c.value for c in Command}:
                raise PlaygroundError("unknown_command", command)
            response = self.slack.command(command, rest.strip(), user_id=user_id, channel_id=channel_id)
            self._check_answer(user_id, response)
            self._show_command_answer(user_id, channel_id, response)
            return
        if channel_id.startswith("D"):
            raise PlaygroundError("dm_read_only")
        # Slack escapes what people type before anyone (the bot included) sees it.
        self.fake.add_message(channel_id, text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
                              user=user_id)

    def _show_command_answer(self, user_id: str, channel_id: str, response: Any) -> None:
        """A command's ack may carry a message: Slack shows it to the person alone (or in the channel)."""
        if response.status != 200 or not response.body.strip():
            return
        try:
            answer = json.loads(response.body)
        except ValueError:
            answer = {"text": response.body}
        if not isinstance(answer, dict) or not (answer.get("text") or answer.get("blocks")):
            return
        url = self.fake.response_url("ack", channel=channel_id, user_id=user_id)
        request = urllib.request.Request(url, data=json.dumps(answer).encode(), method="POST",  # noqa: S310
                                         headers={"Content-Type": "application/json"})
        with _no_proxy().open(request, timeout=5):
            pass

    def message_shortcut(self, user_id: str, channel_id: str, ts: str, callback_id: str) -> None:
        self.person(user_id)
        channel_id = self._conversation(channel_id, user_id)
        if callback_id not in {cid for cid, _ in MESSAGE_SHORTCUTS}:
            raise PlaygroundError("unknown_shortcut", callback_id)
        message = self.fake.message(channel_id, ts)
        if message is None:
            raise PlaygroundError("unknown_message", ts)
        self._check_answer(user_id, self.slack.message_shortcut(callback_id, user_id, channel_id, message))

    def open_home(self, user_id: str) -> None:
        self.person(user_id)
        self._check_answer(user_id, self.slack.app_home_opened(user_id))

    def act(self, user_id: str, action: dict[str, Any]) -> None:
        """A click or a choice on an element of a message, an ephemeral message, the Home tab or a modal."""
        self.person(user_id)
        where = action.get("where")
        action_id, block_id = str(action.get("action_id") or ""), action.get("block_id")
        if not action_id:
            raise PlaygroundError("bad_request", "action_id")
        choice: dict[str, Any] = {"value": action.get("value"), "block_id": block_id, "strict": False,
                                  "action_type": action.get("type")}
        if action.get("selected_option") is not None:
            choice["selected_option"] = str(action["selected_option"])
        if action.get("selected_options") is not None:
            choice["selected_options"] = [str(v) for v in action["selected_options"]]
        if action.get("selected_user") is not None:
            choice["selected_user"] = str(action["selected_user"])
        if where in ("view", "home"):
            view = self.fake.view(str(action.get("view_id")))
            if view is None or not self._sees_view(user_id, view):
                raise PlaygroundError("unknown_view")
            values = self._values(view, action.get("values") or {})
            response = self.slack.block_action(user_id, action_id, view=view["id"], values=values, **choice)
        elif where in ("message", "ephemeral"):
            channel_id = self._conversation(str(action.get("channel")), user_id)
            ts = str(action.get("ts"))
            if where == "message":
                message = self.fake.message(channel_id, ts)
            else:
                message = next((e for e in self.fake.ephemerals(user_id=user_id, channel=channel_id)
                                if e["ts"] == ts), None)
            if message is None:
                raise PlaygroundError("unknown_message", ts)
            response = self.slack.block_action(user_id, action_id, message=message, channel_id=channel_id, **choice)
        else:
            raise PlaygroundError("bad_request", "where")
        self._check_answer(user_id, response)

    def _sees_view(self, user_id: str, view: dict) -> bool:
        if view["type"] == "home":
            return self.fake.home_views.get(user_id, {}).get("id") == view["id"]
        return any(v["id"] == view["id"] for v in self.fake.modal_stack(user_id))

    def submit(self, user_id: str, view_id: str, values: dict[str, Any]) -> dict[str, str]:
        """Submit the modal; returns the field errors the bot answered ({} when it accepted)."""
        self.person(user_id)
        view = self.fake.view(view_id)
        if view is None or view["type"] != "modal" or not self._sees_view(user_id, view):
            raise PlaygroundError("unknown_view")
        response = self.slack.view_submission(user_id, view_id, self._values(view, values), strict=False)
        if response.status != 200:
            self._check_answer(user_id, response)
            return {}
        answer: dict[str, Any] = {}
        if response.body.strip():
            try:
                answer = json.loads(response.body)
            except ValueError:
                answer = {}
        errors = answer.get("errors") if answer.get("response_action") == "errors" else None
        problems = self.fake.apply_response_action(view_id, answer)
        if problems:
            self._notice(user_id, "invalid_blocks", "; ".join(problems[:3]))
        self._view_errors[view_id] = {str(k): str(v) for k, v in (errors or {}).items()}
        self.fake.touch()
        return self._view_errors[view_id]

    def close(self, user_id: str, view_id: str) -> None:
        self.person(user_id)
        view = self.fake.view(view_id)
        if view is None or not self._sees_view(user_id, view):
            raise PlaygroundError("unknown_view")
        if view.get("notify_on_close"):
            self._check_answer(user_id, self.slack.view_closed(user_id, view_id))
        self.fake.close_view(view_id)

    def _values(self, view: dict, given: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The page's values ({block_id: {action_id: value}}) in the shapes the state builders take."""
        elements = {}
        for block in view.get("blocks") or []:
            element = block.get("element")
            if isinstance(element, dict) and element.get("action_id"):
                elements[(block.get("block_id"), element["action_id"])] = element
        values: dict[str, dict[str, Any]] = {}
        if not isinstance(given, dict):
            raise PlaygroundError("bad_request", "values")
        for block_id, actions in given.items():
            if not isinstance(actions, dict):
                raise PlaygroundError("bad_request", "values")
            for action_id, value in actions.items():
                element = elements.get((block_id, action_id))
                if element is None:
                    continue  # not an input of this view: Slack would not send it
                values.setdefault(block_id, {})[action_id] = self._shaped(element, value)
        return values

    def _shaped(self, element: dict, value: Any) -> Any:
        kind = element.get("type")
        if value in ("", None):
            return [] if kind in ("checkboxes", "multi_static_select", "multi_users_select") else None
        if kind == "datetimepicker":
            try:
                local = datetime.fromisoformat(str(value))
            except ValueError as e:
                raise PlaygroundError("bad_request", "date and time") from e
            if local.tzinfo is None:
                local = local.replace(tzinfo=ZoneInfo(self.org.timezone))
            return int(local.timestamp())
        if kind in ("checkboxes", "multi_static_select", "multi_users_select"):
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
        return str(value)

    # ---- a monitoring tool -----------------------------------------------------------

    def send_comment(self, fields: dict[str, Any]) -> dict[str, Any]:
        """POST the comment to the bot's /webhooks/comments, signed as a monitoring tool signs it."""
        self._comment_ids += 1
        body: dict[str, Any] = {
            "source": str(fields.get("source") or "x"),
            "external_id": f"playground-{int(time.time())}-{self._comment_ids}-{secrets.token_hex(3)}",
            "text": str(fields.get("text") or ""),
            "received_at": datetime.now(ZoneInfo(self.org.timezone)).isoformat(timespec="seconds"),
        }
        for key in ("account", "author", "author_handle", "url"):
            if str(fields.get(key) or "").strip():
                body[key] = str(fields[key]).strip()
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - the bot on loopback
            f"{self.bot_url}/webhooks/comments", data=raw, method="POST",
            headers={"Content-Type": "application/json", "X-Koho-Timestamp": timestamp,
                     "X-Koho-Signature": sign(self.webhook_secret, timestamp, raw)})
        try:
            with _no_proxy().open(request, timeout=10) as answer:
                status, text = answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode("utf-8", "replace")
        try:
            payload = json.loads(text)
        except ValueError:
            payload = {"raw": text}
        self.fake.touch()
        return {"status": status, "answer": payload, "sent": body}


def _shown(message: dict, *, ephemeral: bool) -> dict[str, Any]:
    return {
        "ts": message["ts"],
        "user": BOT_USER_ID if message.get("bot_id") else message.get("user"),
        "bot": bool(message.get("bot_id")),
        "text": message.get("text") or "",
        "blocks": message.get("blocks") or [],
        "attachments": message.get("attachments") or [],
        "thread_ts": message.get("thread_ts"),
        "edited": bool(message.get("edited")),
        "ephemeral": ephemeral,
    }


def _no_proxy() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))
