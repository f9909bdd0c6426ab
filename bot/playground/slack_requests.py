"""Send the app signed requests exactly as Slack does.

``SlackRequests`` builds the payloads Slack sends for slash commands, block actions, view
submissions, shortcuts and Events API events, signs them with the signing secret
(``X-Slack-Request-Timestamp`` / ``X-Slack-Signature``) and POSTs them to
``<app_base_url>/slack/events``.  It never raises on an HTTP error status: it returns a
``Response``.

Given a ``FakeSlack``, trigger_ids are issued by it (so views.open can tell who opened the
modal and refuse a reused trigger) and response_urls point at it, bound to the channel /
message so ``respond(replace_original=True)`` changes the fake's message.

State values for ``view_submission`` follow Slack's shapes; build them with ``plain()``,
``static_select()`` ... or pass a bare value (``"text"``, ``["a", "b"]``) and it is shaped
after the element in the view.  Like Slack, every input block of the view is present in
``state.values`` (untouched inputs carry their initial value or an empty one).
"""

from __future__ import annotations

import copy
import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

if TYPE_CHECKING:
    from bot.playground.fake_slack import FakeSlack

API_APP_ID = "A0KOHO"
TEAM_DOMAIN = "koho-test"
BOT_USER_ID = "UKOHOBOT"
VERIFICATION_TOKEN = "test-verification-token"  # noqa: S105 - deprecated by Slack, still sent; bolt ignores it
FORM = "application/x-www-form-urlencoded"


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# --------------------------------------------------------------------------------------
# view state value builders (the shapes Slack puts in view.state.values)
# --------------------------------------------------------------------------------------


def option(value: str, text: str | None = None) -> dict:
    return {
        "text": {"type": "plain_text", "text": text if text is not None else value, "emoji": True},
        "value": value,
    }


def plain(value: str | None) -> dict:
    return {"type": "plain_text_input", "value": value}


def number(value: str | float | None) -> dict:
    return {"type": "number_input", "value": None if value is None else str(value)}


def static_select(value: str | None, text: str | None = None) -> dict:
    return {"type": "static_select", "selected_option": None if value is None else option(value, text)}


def multi_static_select(values: list[str]) -> dict:
    return {"type": "multi_static_select", "selected_options": [option(v) for v in values]}


def checkboxes(values: list[str]) -> dict:
    return {"type": "checkboxes", "selected_options": [option(v) for v in values]}


def radio(value: str | None, text: str | None = None) -> dict:
    return {"type": "radio_buttons", "selected_option": None if value is None else option(value, text)}


def datetimepicker(unix_ts: int | None) -> dict:
    return {"type": "datetimepicker", "selected_date_time": None if unix_ts is None else int(unix_ts)}


def datepicker(date: str | None) -> dict:
    return {"type": "datepicker", "selected_date": date}


def timepicker(hh_mm: str | None) -> dict:
    return {"type": "timepicker", "selected_time": hh_mm}


def users_select(user_id: str | None) -> dict:
    return {"type": "users_select", "selected_user": user_id}


def multi_users_select(user_ids: list[str]) -> dict:
    return {"type": "multi_users_select", "selected_users": list(user_ids)}


def conversations_select(channel_id: str | None) -> dict:
    return {"type": "conversations_select", "selected_conversation": channel_id}


def channels_select(channel_id: str | None) -> dict:
    return {"type": "channels_select", "selected_channel": channel_id}


_TEXT_INPUTS = {"plain_text_input", "email_text_input", "url_text_input", "number_input"}
_ONE_OPTION = {"static_select", "external_select", "radio_buttons"}
_MANY_OPTIONS = {"multi_static_select", "multi_external_select", "checkboxes"}
# element type -> (state key, initial_* key in the element, empty value)
_SIMPLE = {
    "users_select": ("selected_user", "initial_user", None),
    "multi_users_select": ("selected_users", "initial_users", []),
    "conversations_select": ("selected_conversation", "initial_conversation", None),
    "multi_conversations_select": ("selected_conversations", "initial_conversations", []),
    "channels_select": ("selected_channel", "initial_channel", None),
    "multi_channels_select": ("selected_channels", "initial_channels", []),
    "datepicker": ("selected_date", "initial_date", None),
    "timepicker": ("selected_time", "initial_time", None),
    "datetimepicker": ("selected_date_time", "initial_date_time", None),
    "rich_text_input": ("rich_text_value", "initial_value", None),
    "file_input": ("files", None, []),
}


def _options_of(element: dict) -> list[dict]:
    found = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        found.extend(group.get("options") or [])
    return found


def _pick_option(element: dict, value: str, strict: bool) -> dict:
    offered = _options_of(element)
    for candidate in offered:
        if candidate.get("value") == value:
            return copy.deepcopy(candidate)
    if strict and offered:
        values = [o.get("value") for o in offered]
        raise AssertionError(
            f"{element.get('type')} {element.get('action_id')!r} offers no option {value!r}: {values}"
        )
    return option(value)


def _state_value(element: dict, given: Any, strict: bool) -> dict:
    """Slack's state shape for ``element`` from a builder dict or a bare value."""
    kind = element.get("type")
    if isinstance(given, dict):
        if strict and given.get("type") not in (None, kind):
            raise AssertionError(f"value {given} given for a {kind} element ({element.get('action_id')!r})")
        shaped = {"type": kind, **given}
        if isinstance(shaped.get("selected_option"), dict):  # the option as the element offers it
            shaped["selected_option"] = _pick_option(element, shaped["selected_option"].get("value"), strict)
        if isinstance(shaped.get("selected_options"), list):
            shaped["selected_options"] = [
                _pick_option(element, o.get("value"), strict) for o in shaped["selected_options"]
            ]
        return shaped
    if kind in _TEXT_INPUTS:
        return {"type": kind, "value": None if given is None else str(given)}
    if kind in _ONE_OPTION:
        return {
            "type": kind,
            "selected_option": None if given is None else _pick_option(element, given, strict),
        }
    if kind in _MANY_OPTIONS:
        return {"type": kind, "selected_options": [_pick_option(element, v, strict) for v in given or []]}
    if kind in _SIMPLE:
        return {"type": kind, _SIMPLE[kind][0]: given}
    return {"type": kind, "value": given}


def _initial_state(element: dict) -> dict:
    """What Slack submits for an input the user did not touch."""
    kind = element.get("type")
    if kind in _TEXT_INPUTS:
        return {"type": kind, "value": element.get("initial_value")}
    if kind in _ONE_OPTION:
        return {"type": kind, "selected_option": copy.deepcopy(element.get("initial_option"))}
    if kind in _MANY_OPTIONS:
        return {"type": kind, "selected_options": copy.deepcopy(element.get("initial_options") or [])}
    if kind in _SIMPLE:
        key, initial_key, empty = _SIMPLE[kind]
        return {"type": kind, key: copy.deepcopy(element.get(initial_key, empty) if initial_key else empty)}
    return {"type": kind}


def _is_empty(state: dict) -> bool:
    return all(v in (None, "", []) for k, v in state.items() if k != "type")


def _find_element(blocks: list[dict], action_id: str, block_id: str | None) -> tuple[dict, dict] | None:
    """(block, element) with this action_id (and block_id if given) in a list of blocks."""
    for block in blocks or []:
        if block_id is not None and block.get("block_id") != block_id:
            continue
        candidates = list(block.get("elements") or []) + [block.get("accessory"), block.get("element")]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block, element
    return None


def _action_ids(blocks: list[dict]) -> list[str]:
    ids = []
    for block in blocks or []:
        for element in list(block.get("elements") or []) + [block.get("accessory"), block.get("element")]:
            if isinstance(element, dict) and "action_id" in element:
                ids.append(f"{block.get('block_id')}/{element['action_id']}")
    return ids


# --------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------


class SlackRequests:
    """Signed Slack -> app requests. See the module docstring."""

    timeout = 10.0

    # builders, also reachable as ``slack.plain(...)`` etc.
    option = staticmethod(option)
    plain = staticmethod(plain)
    number = staticmethod(number)
    static_select = staticmethod(static_select)
    multi_static_select = staticmethod(multi_static_select)
    checkboxes = staticmethod(checkboxes)
    radio = staticmethod(radio)
    datetimepicker = staticmethod(datetimepicker)
    datepicker = staticmethod(datepicker)
    timepicker = staticmethod(timepicker)
    users_select = staticmethod(users_select)
    multi_users_select = staticmethod(multi_users_select)
    conversations_select = staticmethod(conversations_select)
    channels_select = staticmethod(channels_select)

    def __init__(
        self, app_base_url: str, signing_secret: str, fake: FakeSlack | None = None, team_id: str = "T0CITY"
    ):
        if not app_base_url.startswith(("http://", "https://")):
            raise ValueError(f"app_base_url must be an http(s) URL, got {app_base_url!r}")
        self.app_base_url = app_base_url.rstrip("/")
        self.signing_secret = signing_secret
        self.fake = fake
        self.team_id = team_id
        self._verifier = SignatureVerifier(signing_secret)
        self._ids = itertools.count(1)
        # never send these through an HTTP(S)_PROXY from the environment
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # ---- low level ------------------------------------------------------------------

    def sign(self, timestamp: str, body: bytes | str) -> str:
        signature = self._verifier.generate_signature(timestamp=timestamp, body=body)
        assert signature is not None
        return signature

    def post(
        self,
        body: bytes | str,
        content_type: str,
        *,
        sign: bool = True,
        timestamp: int | str | None = None,
        signature: str | None = None,
        extra_headers: dict[str, str] | None = None,
        path: str = "/slack/events",
    ) -> Response:
        """POST raw bytes; ``sign=False`` / ``timestamp=`` / ``signature=`` forge or age requests."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        headers = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        ts = str(int(time.time()) if timestamp is None else timestamp)
        if sign or timestamp is not None:
            headers["X-Slack-Request-Timestamp"] = ts
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        elif sign:
            headers["X-Slack-Signature"] = self.sign(ts, data)
        headers.update(extra_headers or {})
        url = self.app_base_url + path  # http(s) only, checked in __init__
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return Response(
                    answer.status, _lower(answer.headers), answer.read().decode("utf-8", "replace")
                )
        except urllib.error.HTTPError as error:
            return Response(error.code, _lower(error.headers), error.read().decode("utf-8", "replace"))

    def _form(self, fields: dict[str, Any], extra_headers: dict[str, str] | None = None) -> Response:
        return self.post(urlencode(fields), FORM, extra_headers=extra_headers)

    def _interactive(self, payload: dict) -> Response:
        return self._form({"payload": json.dumps(payload, ensure_ascii=False)})

    # ---- ids, users, urls -----------------------------------------------------------

    def new_trigger_id(self, user_id: str | None = None) -> str:
        if self.fake is not None:
            return self.fake.issue_trigger(user_id)
        n = next(self._ids)
        return f"{int(time.time())}.{n}.{n * 2654435761 % 16**12:012x}"

    def new_response_url(self, name: str = "response", **binding: Any) -> str:
        if self.fake is not None:
            return self.fake.response_url(name, **binding)
        return f"http://127.0.0.1:9/response/{name}-{next(self._ids)}"  # discard port: never real Slack

    def _now_ts(self) -> str:
        return f"{time.time():.6f}"

    def _user(self, user_id: str) -> dict:
        name = user_id.lower()
        if self.fake is not None and user_id in self.fake.users:
            name = self.fake.users[user_id].get("name", name)
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> dict:
        return {"id": self.team_id, "domain": TEAM_DOMAIN}

    def _channel(self, channel_id: str) -> dict:
        name = channel_id.lower()
        if channel_id.startswith("D"):
            name = "directmessage"
        elif self.fake is not None and channel_id in self.fake.channels:
            name = self.fake.channels[channel_id].get("name", name)
        return {"id": channel_id, "name": name}

    def _view(self, view: dict | str) -> dict:
        """The view as Slack would send it: the fake's current version when it knows the id."""
        view_id = view if isinstance(view, str) else view.get("id")
        current = self.fake.view(view_id) if self.fake is not None else None
        if current is not None:
            return current
        if isinstance(view, str):
            raise AssertionError(f"unknown view id {view!r}")
        return copy.deepcopy(view)

    # ---- slash commands -------------------------------------------------------------

    def command(
        self,
        command: str,
        text: str = "",
        user_id: str = "U0STAFF1",
        channel_id: str = "C0KANKYO",
        trigger_id: str | None = None,
    ) -> Response:
        channel = self._channel(channel_id)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel["name"],
            "user_id": user_id,
            "user_name": self._user(user_id)["name"],
            "command": command,
            "text": text,
            "api_app_id": API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.new_response_url("command", channel=channel_id, user_id=user_id),
            "trigger_id": trigger_id or self.new_trigger_id(user_id),
        }
        return self._form(fields)

    # ---- interactivity --------------------------------------------------------------

    def block_action(
        self,
        user_id: str,
        action_id: str,
        value: str | None = None,
        *,
        block_id: str | None = None,
        message: dict | None = None,
        view: dict | str | None = None,
        selected_option: str | dict | None = None,
        selected_options: list[str] | None = None,
        selected_user: str | None = None,
        action_type: str | None = None,
        trigger_id: str | None = None,
        values: dict | None = None,
        channel_id: str = "C0KANKYO",
        strict: bool = True,
    ) -> Response:
        """A click/selection on an element of ``message`` (a fake message or ephemeral) or ``view``.

        With ``strict`` the element must exist there: its real block_id, type, text and value
        are used unless given.  ``values`` sets the view's state (as in ``view_submission``).
        Without message or view, the action comes from an unknown message in ``channel_id``.
        """
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id or self.new_trigger_id(user_id),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
        }
        blocks: list[dict] = []
        if view is not None:
            stored_view = self._view(view)
            blocks = stored_view.get("blocks") or []
            if values is not None:
                stored_view["state"] = {"values": self._state_values(stored_view, values, strict, fill=False)}
            payload["container"] = {"type": "view", "view_id": stored_view.get("id")}
            payload["view"] = stored_view
        elif message is not None:
            channel, ts = message["channel"], message["ts"]
            is_ephemeral = bool(message.get("ephemeral"))
            current = self.fake.message(channel, ts) if self.fake is not None and not is_ephemeral else None
            message = current or message  # Slack sends the message as it is now
            blocks = message.get("blocks") or []
            payload["container"] = {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": is_ephemeral,
            }
            if message.get("thread_ts"):
                payload["container"]["thread_ts"] = message["thread_ts"]
            payload["channel"] = self._channel(channel)
            if not is_ephemeral:
                payload["message"] = _as_sent(message)
            payload["state"] = {"values": {}}
            payload["response_url"] = self.new_response_url(
                "action", channel=channel, user_id=user_id, message_ts=ts, ephemeral=is_ephemeral
            )
        else:
            payload["container"] = {"type": "message", "message_ts": self._now_ts(), "channel_id": channel_id}
            payload["channel"] = self._channel(channel_id)
            payload["state"] = {"values": {}}
            payload["response_url"] = self.new_response_url("action", channel=channel_id, user_id=user_id)

        found = _find_element(blocks, action_id, block_id)
        if found is None and strict and (message is not None or view is not None):
            raise AssertionError(
                f"no element with action_id {action_id!r}"
                f"{'' if block_id is None else f' in block {block_id!r}'}; present (block_id/action_id): "
                f"{_action_ids(blocks)}"
            )
        block, element = found if found is not None else ({}, {})
        kind = action_type or element.get("type")
        if kind is None:
            kind = "static_select" if selected_option else "users_select" if selected_user else "button"
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or block.get("block_id") or "b",
            "type": kind,
            "action_ts": self._now_ts(),
        }
        if kind == "button":
            action["text"] = copy.deepcopy(element.get("text")) or {"type": "plain_text", "text": action_id}
            if value is None:
                value = element.get("value")
            if element.get("style"):
                action["style"] = element["style"]
        if value is not None:
            action["value"] = value
        if selected_option is not None:
            action["selected_option"] = (
                selected_option
                if isinstance(selected_option, dict)
                else _pick_option(element, selected_option, strict)
            )
        if selected_options is not None:
            action["selected_options"] = [_pick_option(element, v, strict) for v in selected_options]
        if selected_user is not None:
            action["selected_user"] = selected_user
        payload["actions"] = [action]
        return self._interactive(payload)

    def _state_values(self, view: dict, values: dict, strict: bool, fill: bool) -> dict:
        inputs = {
            (b.get("block_id"), b["element"].get("action_id")): b
            for b in view.get("blocks") or []
            if b.get("type") == "input" and isinstance(b.get("element"), dict)
        }
        state: dict[str, dict] = {}
        for block_id, actions in values.items():
            for action_id, given in actions.items():
                found = _find_element(view.get("blocks") or [], action_id, block_id)
                if found is None and strict:
                    raise AssertionError(
                        f"view {view.get('callback_id')!r} has no element {block_id}/{action_id}; "
                        f"present (block_id/action_id): {_action_ids(view.get('blocks') or [])}"
                    )
                element = (
                    found[1]
                    if found
                    else (given if isinstance(given, dict) else {"type": "plain_text_input"})
                )
                state.setdefault(block_id, {})[action_id] = _state_value(element, given, strict)
        if fill:
            for (block_id, action_id), block in inputs.items():
                if action_id not in state.get(block_id, {}):
                    state.setdefault(block_id, {})[action_id] = _initial_state(block["element"])
                submitted = state[block_id][action_id]
                if strict and not block.get("optional") and _is_empty(submitted):
                    raise AssertionError(
                        f"Slack would not submit view {view.get('callback_id')!r}: required input "
                        f"{block_id}/{action_id} is empty (pass it in values, or strict=False)"
                    )
        return state

    def view_submission(
        self,
        user_id: str,
        view: dict | str,
        values: dict,
        *,
        trigger_id: str | None = None,
        response_urls: list[dict] | None = None,
        strict: bool = True,
    ) -> Response:
        """Submit ``view`` (a fake view dict or its id) with ``values`` = {block_id: {action_id: value}}."""
        submitted = self._view(view)
        submitted["state"] = {"values": self._state_values(submitted, values, strict, fill=True)}
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id or self.new_trigger_id(user_id),
            "view": submitted,
            "response_urls": response_urls or [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interactive(payload)

    def view_closed(self, user_id: str, view: dict | str, *, is_cleared: bool = False) -> Response:
        payload = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN,
            "view": self._view(view),
            "is_cleared": is_cleared,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interactive(payload)

    def global_shortcut(self, callback_id: str, user_id: str, *, trigger_id: str | None = None) -> Response:
        payload = {
            "type": "shortcut",
            "token": VERIFICATION_TOKEN,
            "action_ts": self._now_ts(),
            "team": self._team(),
            "user": self._user(user_id),
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": trigger_id or self.new_trigger_id(user_id),
        }
        return self._interactive(payload)

    def message_shortcut(
        self, callback_id: str, user_id: str, channel_id: str, message: dict, *, trigger_id: str | None = None
    ) -> Response:
        payload = {
            "type": "message_action",
            "token": VERIFICATION_TOKEN,
            "action_ts": self._now_ts(),
            "team": self._team(),
            "user": self._user(user_id),
            "channel": self._channel(channel_id),
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": trigger_id or self.new_trigger_id(user_id),
            "message_ts": message["ts"],
            "message": {"type": "message", **_as_sent(message)},
            "response_url": self.new_response_url("shortcut", channel=channel_id, user_id=user_id),
        }
        return self._interactive(payload)

    # ---- Events API -----------------------------------------------------------------

    def event(
        self,
        event: dict,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> Response:
        """An ``event_callback``; ``retry_num``/``retry_reason`` add Slack's retry headers."""
        inner = copy.deepcopy(event)
        inner.setdefault("event_ts", inner.get("ts") or self._now_ts())
        body = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": API_APP_ID,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or f"Ev{int(time.time())}{next(self._ids):06d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-eyJldCI6ImV2ZW50In0-{next(self._ids)}",
        }
        headers = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
        if retry_reason is not None:
            headers["X-Slack-Retry-Reason"] = retry_reason
        return self.post(json.dumps(body, ensure_ascii=False), "application/json", extra_headers=headers)

    def app_home_opened(self, user_id: str, tab: str = "home") -> Response:
        return self.event(
            {"type": "app_home_opened", "user": user_id, "channel": "D" + user_id[1:], "tab": tab}
        )

    def subteam_members_changed(self, group_id: str, added: list[str] = (), removed: list[str] = ()) -> Response:
        """Slack's word that a user group's members changed (it says who, but not who is in it now)."""
        return self.event({"type": "subteam_members_changed", "subteam_id": group_id, "team_id": self.team_id,
                           "date_previous_update": 1_700_000_000, "date_update": 1_700_000_100,
                           "added_users": list(added), "added_users_count": str(len(added)),
                           "removed_users": list(removed), "removed_users_count": str(len(removed))})

    def url_verification(self, challenge: str = "koho-challenge") -> Response:
        body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return self.post(json.dumps(body), "application/json")


def _as_sent(message: dict) -> dict:
    """A fake's stored message as Slack puts it in payloads (no bookkeeping, no empty fields)."""
    hidden = ("channel", "history", "deleted", "ephemeral")
    return {k: copy.deepcopy(v) for k, v in message.items() if k not in hidden and v not in (None, [])}


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()} if headers is not None else {}
