"""A fake Slack Web API server for scenario tests.

``FakeSlack`` is a real HTTP server on 127.0.0.1 that a real ``slack_sdk.WebClient``
(``WebClient(base_url=fake.api_url, token=fake.bot_token)``) talks to.  It answers the
Slack methods Koho uses with the shapes real Slack returns, records every call, keeps the
resulting state (messages, ephemerals, views, files) for assertions, validates Block Kit
like Slack does (``invalid_blocks``), and can inject faults (HTTP errors, 429s, hangs,
latency, a per-channel token bucket).

Typical use::

    with FakeSlack() as fake:
        client = WebClient(base_url=fake.api_url, token=fake.bot_token)
        ...
        [call] = fake.wait_for("chat.postMessage", channel="C0PR")
        fake.assert_no_validation_errors()

Methods are small functions ``_<method>`` registered in ``FakeSlack._methods``; a handler
gets the decoded arguments and returns the extra fields of an ``ok: true`` answer, or raises
``_ApiError`` for an ``ok: false`` one.  To add a Slack method, add one function and one
entry in that dict.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import math
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

TEAM_ID = "T0CITY"
TEAM_NAME = "Koho Test City"
TEAM_DOMAIN = "koho-test"
WORKSPACE_URL = f"https://{TEAM_DOMAIN}.slack.com/"
BOT_USER_ID = "UKOHOBOT"
BOT_ID = "BKOHO"
BOT_NAME = "koho"
APP_ID = "A0KOHO"

# Slack limits that slack_sdk's models do not check (or check differently).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_CHARS = 40_000
# The text of all a message's blocks together (`msg_blocks_too_long`): undocumented; reports saw Slack refuse
# 11,341 characters (bolt-js #2867) and take up to 13,297 (#2509). The fake refuses from the lower.
MAX_BLOCKS_TEXT_CHARS = 11_000

# Form fields that slack_sdk (or a hand-written call) sends as a JSON string.
_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata", "user_auth_blocks")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_FIRST_TS = 1_760_000_000_000_100  # microseconds; the first ts is "1760000000.000100"


# --------------------------------------------------------------------------------------
# Recorded calls
# --------------------------------------------------------------------------------------


@dataclass
class Call:
    """One request the fake received, with what it answered."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int = 200
    response: Any = None
    #: when the answer was ready (after any latency): the moment a message became visible in Slack.
    answered: float = field(default_factory=time.time)
    #: which connection it came over (numbered as opened; 0 when not known)
    connection: int = 0

    @property
    def ok(self) -> bool:
        return self.status == 200 and isinstance(self.response, dict) and self.response.get("ok") is True

    @property
    def error(self) -> str | None:
        if isinstance(self.response, dict) and not self.response.get("ok", True):
            return self.response.get("error")
        return None

    def short(self) -> str:
        """``chat.postMessage channel='C1' text='hi' -> ok`` (for failure messages)."""
        parts = [self.method]
        for key, value in self.args.items():
            parts.append(f"{key}={_short_value(key, value)}")
        if self.ok:
            outcome = "ok"
        elif self.status != 200:
            outcome = f"HTTP {self.status} {self.error or ''}".rstrip()
        else:
            outcome = f"error={self.error}"
        return " ".join(parts) + f" -> {outcome}"


def _short_value(key: str, value: Any) -> str:
    if key in ("blocks", "attachments") and isinstance(value, list):
        return f"[{len(value)} {key}]"
    if key == "view" and isinstance(value, dict):
        return f"<{value.get('type')} callback_id={value.get('callback_id')!r}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _matches(
    call: Call, method: str, match: dict[str, Any], predicate: Callable[[Call], bool] | None
) -> bool:
    if method not in ("*", call.method):
        return False
    for key, expected in match.items():
        actual = call.args.get(key)
        if callable(expected):
            if not expected(actual):
                return False
        elif actual != expected:
            return False
    return predicate is None or bool(predicate(call))


# --------------------------------------------------------------------------------------
# Block Kit validation
# --------------------------------------------------------------------------------------


def _text_in(value: Any) -> int:
    """Characters of every text object's `text` in `value` (blocks, a view)."""
    if isinstance(value, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else _text_in(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_text_in(v) for v in value)
    return 0


def validate_blocks(blocks: Any, *, limit: int = MAX_MESSAGE_BLOCKS, where: str = "blocks") -> list[str]:
    """Problems Slack would report as ``invalid_blocks`` for these blocks ([] = valid).

    Each block is parsed with slack_sdk's models and serialised with ``to_dict()`` (which
    runs every nested object's validators); on top of that: the block count limit, unique
    block_ids, unique action_ids within a block, initial options that are among the options,
    and fields/element types slack_sdk does not recognise (Slack rejects unknown properties).
    """
    if not isinstance(blocks, list):
        return [f"{where}: must be a JSON array, got {type(blocks).__name__}"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"{where}: {len(blocks)} blocks, more than the {limit} allowed")
    seen_block_ids: dict[str, int] = {}
    for index, raw in enumerate(blocks):
        label = f"{where}[{index}]"
        if not isinstance(raw, dict) or "type" not in raw:
            problems.append(f"{label}: a block must be an object with a type")
            continue
        label = f"{label} ({raw['type']}{', block_id=' + repr(raw['block_id']) if 'block_id' in raw else ''})"
        block_id = raw.get("block_id")
        if block_id is not None:
            if block_id in seen_block_ids:
                problems.append(
                    f"{label}: duplicate block_id, already used by {where}[{seen_block_ids[block_id]}]"
                )
            else:
                seen_block_ids[block_id] = index
        problems.extend(_duplicate_action_ids(raw, label))
        problems.extend(_initial_option_problems(raw, label))
        if raw["type"] in ("actions", "context") and raw.get("elements") == []:
            problems.append(f"{label}: elements must not be empty")
        _text_object_problems(raw, label, problems)
        problems.extend(_block_model_problems(raw, label))
    return problems


def _block_model_problems(raw: dict, label: str) -> list[str]:
    try:
        model = Block.parse(raw)
        if model is None:
            return [f"{label}: unknown block type {raw['type']!r}"]
        dumped = model.to_dict()
    except Exception as exc:  # slack_sdk raises SlackObjectFormationError, TypeError, KeyError...
        return [f"{label}: {exc}"]
    problems: list[str] = []
    _compare_fields(raw, dumped, label, problems)
    return problems


def _compare_fields(raw: Any, dumped: Any, path: str, problems: list[str]) -> None:
    """Report parts of ``raw`` that slack_sdk's models dropped (unknown field/element)."""
    if isinstance(raw, dict) and isinstance(dumped, dict):
        for key, value in raw.items():
            if key not in dumped:
                if value not in (None, [], {}, ""):
                    problems.append(f"{path}: unknown or unsupported field {key!r}")
            else:
                _compare_fields(value, dumped[key], f"{path}.{key}", problems)
    elif isinstance(raw, list) and isinstance(dumped, list) and len(raw) == len(dumped):
        for index, (raw_item, dumped_item) in enumerate(zip(raw, dumped, strict=True)):
            if dumped_item is None and isinstance(raw_item, dict):
                problems.append(f"{path}[{index}]: unsupported element type {raw_item.get('type')!r}")
            else:
                _compare_fields(raw_item, dumped_item, f"{path}[{index}]", problems)


_PLAIN_TEXT_ONLY_KEYS = {"label", "hint", "placeholder", "title", "confirm", "deny"}
_PLAIN_TEXT_OWNERS = {"button", "header"}
_MRKDWN_OPTIONS_OK = {"radio_buttons", "checkboxes"}


def _text_object_problems(node: Any, path: str, problems: list[str], plain_options: bool = False) -> None:
    """Empty text objects, and mrkdwn where Slack accepts only plain_text (slack_sdk allows both)."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            _text_object_problems(item, f"{path}[{index}]", problems, plain_options)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in ("plain_text", "mrkdwn"):
        if not node.get("text"):
            problems.append(f"{path}: empty {kind} text")
        return
    for key, value in node.items():
        if isinstance(value, dict) and value.get("type") == "mrkdwn":
            plain_only = key in _PLAIN_TEXT_ONLY_KEYS or (
                key == "text" and (kind in _PLAIN_TEXT_OWNERS or (kind is None and plain_options))
            )
            if plain_only:
                problems.append(f"{path}.{key}: must be plain_text, not mrkdwn")
        in_options = key in ("options", "initial_options", "initial_option", "option_groups")
        nested_plain = (kind not in _MRKDWN_OPTIONS_OK) if in_options else plain_options
        _text_object_problems(value, f"{path}.{key}", problems, nested_plain)


def _elements_of(raw: dict) -> list[dict]:
    elements = [e for e in raw.get("elements") or [] if isinstance(e, dict)]
    for key in ("accessory", "element"):
        if isinstance(raw.get(key), dict):
            elements.append(raw[key])
    return elements


def _duplicate_action_ids(raw: dict, label: str) -> list[str]:
    seen: set[str] = set()
    problems = []
    for element in _elements_of(raw):
        action_id = element.get("action_id")
        if action_id is None:
            continue
        if action_id in seen:
            problems.append(f"{label}: two elements share action_id {action_id!r}")
        seen.add(action_id)
    return problems


_WITH_OPTIONS = {"static_select", "multi_static_select", "radio_buttons", "checkboxes"}


def _initial_option_problems(raw: dict, label: str) -> list[str]:
    """Initial options Slack refuses (slack_sdk does not check them).

    Each must exactly match one of the element's options (its `options`, or those of its `option_groups`).
    A multi_static_select's initial options from more than one option group have been reported refused, or
    not shown, by Slack (python-slack-sdk #974, bolt-python #242, bolt-js #1496): the fake refuses them too.
    """
    problems: list[str] = []
    for element in _elements_of(raw):
        kind = element.get("type")
        if kind not in _WITH_OPTIONS:
            continue
        groups = [g.get("options") or [] for g in element.get("option_groups") or [] if isinstance(g, dict)]
        offered = list(element.get("options") or []) + [o for group in groups for o in group]
        initial = element.get("initial_options") if isinstance(element.get("initial_options"), list) else []
        if isinstance(element.get("initial_option"), dict):
            initial = [*initial, element["initial_option"]]
        where = f"{label}: {kind} {element.get('action_id')!r}"
        for option in initial:
            if option not in offered:
                value = option.get("value") if isinstance(option, dict) else option
                problems.append(f"{where}: initial option {value!r} is not one of its options")
        holding = [n for n, group in enumerate(groups) if any(o in group for o in initial)]
        if kind == "multi_static_select" and len(holding) > 1:
            problems.append(f"{where}: initial options come from {len(holding)} option groups; keep them in one")
    return problems


def validate_view(view: Any, *, expected_type: str | None = None) -> list[str]:
    """Problems Slack would report for a view of views.open/update/push/publish."""
    if not isinstance(view, dict):
        return [f"view: must be a JSON object, got {type(view).__name__}"]
    problems: list[str] = []
    view_type = view.get("type")
    if expected_type and view_type != expected_type:
        problems.append(f"view: type must be {expected_type!r}, got {view_type!r}")
    for key in ("title", "submit", "close"):
        value = view.get(key)
        if value is None:
            continue
        if not (isinstance(value, dict) and value.get("type") == "plain_text"):
            problems.append(f"view.{key}: must be a plain_text object")
    if view_type == "modal" and view.get("title") is None:
        problems.append("view.title: a modal needs a title")
    blocks = view.get("blocks")
    if blocks is None:
        problems.append("view.blocks: missing")
    else:
        problems.extend(validate_blocks(blocks, limit=MAX_VIEW_BLOCKS, where="view.blocks"))
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if view_type == "modal" and has_input and view.get("submit") is None:
            problems.append("view.submit: a modal with input blocks needs a submit button")
    problems.extend(_view_model_problems(view))
    return sorted(set(problems), key=problems.index)


def _view_model_problems(view: dict) -> list[str]:
    fields = {k: v for k, v in view.items() if k != "blocks"}
    try:
        model = View(**fields)
        model.blocks = None  # validated one by one (with better messages) by validate_blocks
        model.validate_json()
    except Exception as exc:
        return [f"view: {exc}"]
    return []


# --------------------------------------------------------------------------------------
# Request decoding / small helpers
# --------------------------------------------------------------------------------------


class _ApiError(Exception):
    """An ``ok: false`` answer (HTTP 200 unless ``status`` says otherwise)."""

    def __init__(self, error: str, *, status: int = 200, headers: dict | None = None, **extra: Any):
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.extra = extra


def _decode_args(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";")[0].strip().lower()
    if body:
        if kind == "application/json":
            try:
                loaded = json.loads(body)
            except ValueError as exc:
                raise _ApiError("invalid_json") from exc
            if not isinstance(loaded, dict):
                raise _ApiError("invalid_json")
            args.update(loaded)
        elif kind == "multipart/form-data":
            args.update(_decode_multipart(content_type, body))
        else:
            args.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    for key in _JSON_FIELDS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):  # left as a string: the method reports it
                args[key] = json.loads(value)
    return args


def _decode_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    message = message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body, policy=HTTP)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        fields[name] = payload if part.get_filename() else payload.decode("utf-8")
    return fields


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _require(args: dict, *names: str) -> None:
    for name in names:
        if args.get(name) in (None, ""):
            raise _ApiError(
                "invalid_arguments",
                response_metadata={"messages": [f"[ERROR] missing required field: {name}"]},
            )


def _dm_channel(user_id: str) -> str:
    return "D" + user_id[1:]


def _public(message: dict) -> dict:
    """A stored message as Slack returns it (no harness bookkeeping, no empty fields)."""
    hidden = {"channel", "history", "deleted", "ephemeral"}
    return {k: copy.deepcopy(v) for k, v in message.items() if k not in hidden and v not in (None, [])}


def _with_ids(blocks: list | None) -> list:
    """A copy of ``blocks`` where, like Slack, blocks and elements without ids get generated ones."""
    blocks = copy.deepcopy(blocks or [])
    for index, block in enumerate(blocks):
        block.setdefault("block_id", f"auto{index}")
        for position, element in enumerate(_interactive_elements(block)):
            element.setdefault("action_id", f"{block['block_id']}-act{position}")
    return blocks


def _interactive_elements(block: dict) -> list[dict]:
    elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
    elements += [block[key] for key in ("accessory", "element") if isinstance(block.get(key), dict)]
    return [e for e in elements if e.get("type") not in ("image", "plain_text", "mrkdwn")]


def _permalink(channel: str, ts: str, thread_ts: str | None = None) -> str:
    link = f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link


@dataclass
class _Fault:
    kind: str  # "fail" | "rate_limit" | "hang"
    method: str
    remaining: int
    status: int = 500
    error: str = "internal_error"
    retry_after: int = 1
    seconds: float = 0.0
    channel: str | None = None  # only calls for this channel (None: any)
    extra: dict = field(default_factory=dict)  # more fields of the error answer (missing_scope's `needed`)


@dataclass
class _Trigger:
    user_id: str | None
    issued: float
    used: bool = False


@dataclass
class _Request:
    """What the HTTP layer hands to FakeSlack."""

    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    content_type: str
    authorization: str | None
    received: float = field(default_factory=time.time)
    connection: int = 0  # the number of the connection it came over


# --------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------


class FakeSlack:
    """A fake Slack Web API on ``http://127.0.0.1:<random port>/api/``."""

    def __init__(self, bot_token: str = "xoxb-test-token", *, tls: ssl.SSLContext | None = None):  # noqa: S107
        """`tls`: serve HTTPS with this server context (a benchmark of TLS handshakes); plain HTTP otherwise."""
        self.bot_token = bot_token
        self.tls = tls
        #: users.info answers: user id -> fields merged over a generated default user.
        self.users: dict[str, dict] = {}
        #: conversations.info answers: channel id -> fields merged over a generated default.
        self.channels: dict[str, dict] = {}
        #: user groups: group id (S…) -> its members' user ids (usergroups.users.list); any other id is unknown.
        self.user_groups: dict[str, list[str]] = {}
        #: seconds added to every Web API call (not to uploads or response_url posts).
        self.latency = 0.0
        #: seconds a trigger_id issued by ``issue_trigger`` stays valid (Slack: 3); None = forever.
        self.trigger_ttl: float | None = None
        #: where another server serves this fake (the playground's), instead of ``start()``'s own.
        self.served_at: str | None = None
        #: message ts from the wall clock (the playground) instead of a fixed, predictable sequence.
        self.real_time_ts = False
        #: the app-level token `apps.connections.open` accepts, and the WebSocket it answers with (Socket
        #: Mode; None: that method refuses every token).
        self.app_token = "xapp-1-test-token"  # noqa: S105 - a fake's token
        self.socket_mode_url: str | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        #: HTTP connections accepted so far (Koho keeps its connections to Slack open and reuses them).
        self.connections_opened = 0
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._ts_counter = itertools.count(0)
        self._methods: dict[str, Callable[[dict], dict]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }
        self.reset()

    # ---- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        self._stopping.clear()
        handler = type("FakeSlackHandler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        if self.tls is not None:  # each connection's handshake happens in its own thread, at its first read
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True,
                                                       do_handshake_on_connect=False)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="FakeSlack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes up hanging / slow answers
        self._server.shutdown()
        self._server.server_close()
        self.drop_connections()  # kept-alive connections end with the server, as a real server's would
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started; call start() or use it as a context manager")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        if self.served_at is not None:
            return self.served_at
        return f"{'https' if self.tls is not None else 'http'}://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def reset(self) -> None:
        """Forget calls, state, validation errors and faults (keeps users, channels, token)."""
        with self._lock:
            self._calls: list[Call] = []
            self._arrivals: list[str] = []  # methods, as requests arrive (before any hang)
            self._messages: dict[tuple[str, str], dict] = {}
            self._ephemerals: list[dict] = []
            self._views: dict[str, dict] = {}
            self._view_users: dict[str, str | None] = {}
            self._modal_order: list[str] = []  # modal ids, least recently opened/updated first
            self._home_views: dict[str, str] = {}  # user id -> view id
            self._files: dict[str, dict] = {}
            self._triggers: dict[str, _Trigger] = {}
            self._response_urls: dict[str, dict] = {}
            self._faults: list[_Fault] = []
            self._channel_rate: tuple[float, float] | None = None
            self._buckets: dict[str, tuple[float, float]] = {}
            self.validation_errors: list[str] = []
            self._closed_views: set[str] = set()
            self._touch()

    # ---- recorded calls -------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(
        self, method: str, predicate: Callable[[Call], bool] | None = None, **match: Any
    ) -> list[Call]:
        """Calls of ``method`` ("*" = any) whose args equal ``match`` (a callable value tests the arg)."""
        with self._lock:
            return [c for c in self._calls if _matches(c, method, match, predicate)]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        count: int = 1,
        timeout: float = 5.0,
        **match: Any,
    ) -> list[Call]:
        """Wait until at least ``count`` matching calls were recorded and return them all.

        Raises AssertionError describing what was recorded instead if ``timeout`` passes.
        Failed calls (429, invalid_blocks, ...) match too: use ``predicate=lambda c: c.ok``.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self._calls if _matches(c, method, match, predicate)]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    break
                self._changed.wait(remaining)
            if len(found) >= count:
                return found
            raise AssertionError(self._describe_wait_failure(method, predicate, count, timeout, match, found))

    def arrivals(self, method: str) -> int:
        """How many requests of ``method`` have arrived so far, answered or not."""
        with self._changed:
            return self._arrivals.count(method)

    def wait_for_arrival(self, method: str, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` requests of ``method`` have *arrived* (answered or not: a hang is in progress)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._arrivals.count(method) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{method}: {self._arrivals.count(method)} of {count} requests arrived "
                                         f"within {timeout} s")
                self._changed.wait(left)

    def _describe_wait_failure(self, method, predicate, count, timeout, match, found) -> str:
        wanted = ", ".join([repr(method)] + [f"{k}={v!r}" for k, v in match.items()])
        if predicate is not None:
            wanted += f", predicate={getattr(predicate, '__name__', predicate)}"
        lines = [
            f"wait_for({wanted}) timed out after {timeout}s: wanted {count} matching call(s), found {len(found)}."
        ]
        same_method = [c for c in self._calls if method in ("*", c.method)]
        if method != "*" and (match or predicate is not None):
            lines.append(f"Calls to {method} that did not match ({len(same_method) - len(found)}):")
            lines += [f"  {c.short()}" for c in same_method if c not in found][-20:] or ["  (none)"]
        start = self._calls[0].at if self._calls else 0.0
        lines.append(f"All recorded calls ({len(self._calls)}):")
        lines += [f"  #{i} +{c.at - start:.3f}s {c.short()}" for i, c in enumerate(self._calls, 1)][-40:] or [
            "  (none)"
        ]
        if self.validation_errors:
            lines.append("Block Kit validation errors:")
            lines += [f"  {e}" for e in self.validation_errors[-10:]]
        return "\n".join(lines)

    def assert_no_validation_errors(self) -> None:
        with self._lock:
            if self.validation_errors:
                raise AssertionError(
                    "Slack rejected Block Kit:\n" + "\n".join(f"  {e}" for e in self.validation_errors)
                )

    # ---- state for assertions -------------------------------------------------------

    def messages(self, channel: str) -> list[dict]:
        """Current (post-update, not deleted) messages in a channel, oldest first; a user id means the DM."""
        channel = self._resolve_channel(channel)
        with self._lock:
            found = [m for (c, _), m in self._messages.items() if c == channel and not m["deleted"]]
            return copy.deepcopy(sorted(found, key=lambda m: m["ts"]))

    def message(self, channel: str, ts: str) -> dict | None:
        with self._lock:
            stored = self._messages.get((self._resolve_channel(channel), ts))
            return None if stored is None or stored["deleted"] else copy.deepcopy(stored)

    def replies(self, channel: str, thread_ts: str) -> list[dict]:
        return [m for m in self.messages(channel) if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def dms(self, user_id: str) -> list[dict]:
        return self.messages(_dm_channel(user_id))

    def ephemerals(self, user_id: str | None = None, channel: str | None = None) -> list[dict]:
        if channel is not None:
            channel = self._resolve_channel(channel)
        with self._lock:
            return copy.deepcopy(
                [
                    e
                    for e in self._ephemerals
                    if not e["deleted"]
                    and (user_id is None or e["user"] == user_id)
                    and (channel is None or e["channel"] == channel)
                ]
            )

    def add_message(
        self, channel: str, text: str, *, user: str = "U0STAFF1", thread_ts: str | None = None, blocks=None
    ) -> dict:
        """Put a message from a human into a channel (e.g. for a message shortcut); returns it."""
        with self._lock:
            channel = self._resolve_channel(channel)
            ts = self._next_ts()
            message = {"type": "message", "channel": channel, "ts": ts, "text": text, "blocks": blocks or []}
            message.update(
                {"thread_ts": thread_ts, "user": user, "team": TEAM_ID, "history": [], "deleted": False}
            )
            self._messages[(channel, ts)] = message
            self._touch()
            return copy.deepcopy(message)

    @property
    def views(self) -> dict[str, dict]:
        """Every view (modal and home) by view id, current version."""
        with self._lock:
            return copy.deepcopy(self._views)

    def view(self, view_id: str | None) -> dict | None:
        """One view by id, current version (None if unknown): without copying every other view."""
        with self._lock:
            found = self._views.get(view_id) if view_id else None
            return copy.deepcopy(found) if found is not None else None

    @property
    def home_views(self) -> dict[str, dict]:
        """Published Home tab by user id."""
        with self._lock:
            return {user: copy.deepcopy(self._views[vid]) for user, vid in self._home_views.items()}

    def open_views(self, user_id: str) -> list[dict]:
        """Modals opened (views.open / views.push) for a user, in opening order, current version."""
        with self._lock:
            ids = [vid for vid, owner in self._view_users.items() if owner == user_id]
            return [copy.deepcopy(self._views[vid]) for vid in ids if self._views[vid]["type"] == "modal"]

    def last_view(self, user_id: str | None = None) -> dict:
        """The modal most recently opened, pushed or updated (for ``user_id`` if given)."""
        with self._lock:
            for vid in reversed(self._modal_order):
                if user_id is None or self._view_users.get(vid) == user_id:
                    return copy.deepcopy(self._views[vid])
            calls = [c.short() for c in self._calls if c.method.startswith("views.")]
            raise AssertionError(
                f"no modal was opened for user {user_id!r}; views.* calls: {calls or 'none'}"
            )

    @property
    def files(self) -> dict[str, dict]:
        """Files by id: filename, title, length, content (bytes), channel_id, initial_comment..."""
        with self._lock:
            return copy.deepcopy(self._files)

    def uploaded_files(self, channel: str | None = None) -> list[dict]:
        """Files whose upload was completed (files.completeUploadExternal), optionally in a channel."""
        return [
            f
            for f in self.files.values()
            if f["completed"] and (channel is None or f.get("channel_id") == channel)
        ]

    # ---- triggers and response_url --------------------------------------------------

    def issue_trigger(self, user_id: str | None = None) -> str:
        """A fresh trigger_id, usable once by views.open/views.push (see ``trigger_ttl``)."""
        with self._lock:
            n = next(self._ids)
            trigger_id = f"{1_760_000_000 + n}.{n:06d}.{n * 2654435761 % 16**12:012x}"
            self._triggers[trigger_id] = _Trigger(user_id=user_id, issued=time.monotonic())
            return trigger_id

    def response_url(
        self,
        name: str = "response",
        *,
        channel: str | None = None,
        user_id: str | None = None,
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        """A fresh response_url served by this fake.

        Posts to it are recorded as calls of method "response_url".  When bound to a channel
        (and a message), they act like Slack's: ``replace_original`` / ``delete_original``
        change that message, ``response_type: in_channel`` posts to the channel, otherwise an
        ephemeral message for ``user_id`` is stored.
        """
        with self._lock:
            path = f"{name}-{next(self._ids)}"
            self._response_urls[path] = {
                "channel": channel,
                "user_id": user_id,
                "message_ts": message_ts,
                "ephemeral": ephemeral,
            }
            return f"{self.base_url}/response/{path}"

    # ---- faults and limits ----------------------------------------------------------

    def drop_connections(self) -> None:
        """Close every open connection, as a server does with the ones idle for too long."""
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def fail(self, method: str, status: int = 500, count: int = 1, error: str = "internal_error",
             channel: str | None = None, **extra: Any) -> None:
        """Answer the next ``count`` calls of ``method`` ("*" = any) with HTTP ``status``.

        ``status=200`` gives a plain Slack error, e.g. ``fail("chat.postMessage", 200, error="not_in_channel")``.
        ``channel``: only calls whose ``channel`` argument is this one fail. ``extra``: more fields of the
        answer, e.g. ``needed="chat:write.public"`` with ``error="missing_scope"``.
        """
        with self._lock:
            self._faults.append(_Fault("fail", method, count, status=status, error=error, channel=channel,
                                       extra=extra))

    def recover(self) -> None:
        """Slack is healthy again: forget every fault still waiting to happen."""
        with self._lock:
            self._faults.clear()

    def rate_limit(self, method: str, retry_after: int = 1, count: int = 1) -> None:
        """Answer the next ``count`` calls with HTTP 429, ``Retry-After`` and ``error: ratelimited``."""
        with self._lock:
            self._faults.append(_Fault("rate_limit", method, count, status=429, retry_after=retry_after))

    def hang(self, method: str, seconds: float, count: int = 1) -> None:
        """Sleep ``seconds`` before answering the next ``count`` calls (client timeouts)."""
        with self._lock:
            self._faults.append(_Fault("hang", method, count, seconds=seconds))

    def channel_rate(self, per_second: float | None = 1.0, burst: int = 5) -> None:
        """Token bucket per channel for chat.postMessage (429 + Retry-After when empty); None = off."""
        with self._lock:
            self._channel_rate = None if per_second is None else (float(per_second), float(burst))
            self._buckets = {}

    def _take_fault(self, method: str, *kinds: str, channel: Any = None) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.kind in kinds and fault.method in ("*", method) and fault.remaining > 0
                        and fault.channel in (None, channel)):
                    fault.remaining -= 1
                    return fault
            return None

    def _take_channel_token(self, channel: str) -> None:
        if self._channel_rate is None:
            return
        rate, burst = self._channel_rate
        now = time.monotonic()
        tokens, last = self._buckets.get(channel, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens < 1:
            self._buckets[channel] = (tokens, now)
            retry_after = max(1, math.ceil((1 - tokens) / rate))
            raise _ApiError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})
        self._buckets[channel] = (tokens - 1, now)

    # ---- HTTP entry points ----------------------------------------------------------

    def _serve(self, request: _Request) -> tuple[int, Any, dict[str, str]]:
        if request.path.startswith("/api/"):
            return self._serve_api(request.path[len("/api/") :], request)
        if request.path.startswith("/upload/"):
            return self._serve_upload(request.path[len("/upload/") :], request)
        if request.path.startswith("/response/"):
            return self._serve_response_url(request.path[len("/response/") :], request)
        return 404, {"ok": False, "error": "not_found"}, {}

    def _serve_api(self, method: str, request: _Request) -> tuple[int, Any, dict[str, str]]:
        with self._changed:
            self._arrivals.append(method)
            self._changed.notify_all()
        hang = self._take_fault(method, "hang")
        delay = self.latency + (hang.seconds if hang else 0.0)
        if delay > 0:
            self._stopping.wait(delay)
        headers: dict[str, str] = {}
        try:
            args = _decode_args(request.content_type, request.body, request.query)
        except _ApiError as exc:
            args, status, response = {}, exc.status, {"ok": False, "error": exc.error}
        else:
            token = args.pop("token", None)
            with self._lock:
                status, response, headers = self._answer(method, args, request.authorization, token)
        self._record(Call(method, args, request.headers, request.received, status, response,
                          connection=request.connection))
        return status, response, headers

    def _answer(self, method: str, args: dict, authorization: str | None, token: Any):
        fault = self._take_fault(method, "fail", "rate_limit", channel=args.get("channel"))
        if fault is not None and fault.kind == "rate_limit":
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
        if fault is not None:
            return fault.status, {"ok": False, "error": fault.error, **fault.extra}, {}
        if method == "apps.connections.open":  # the one method called with the app-level token
            if self.socket_mode_url is None or authorization != f"Bearer {self.app_token}":
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.socket_mode_url}, {}
        if authorization != f"Bearer {self.bot_token}" and not (
            authorization is None and token == self.bot_token
        ):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = self._methods.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        try:
            return 200, {"ok": True, **handler(args)}, {}
        except _ApiError as exc:
            return exc.status, {"ok": False, "error": exc.error, **exc.extra}, exc.headers

    def _record(self, call: Call) -> None:
        with self._changed:
            self._calls.append(call)
            self._touch()

    # ---- changes, and what a Slack client does with modals (the playground) ------------

    def _touch(self) -> None:
        """Something changed: bump ``revision`` and wake ``wait_change``. Hold the lock."""
        self.revision = getattr(self, "revision", 0) + 1
        self._changed.notify_all()

    def touch(self) -> None:
        with self._changed:
            self._touch()

    def wait_change(self, since: int, timeout: float) -> int:
        """Block until ``revision`` moves past ``since`` (or ``timeout`` passes); return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.revision <= since and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self.revision

    def modal_stack(self, user_id: str) -> list[dict]:
        """The modals a user sees, bottom first: the stack of the newest modal not closed."""
        with self._lock:
            for vid in reversed(self._modal_order):
                if self._view_users.get(vid) == user_id and vid not in self._closed_views:
                    root = self._views[vid]["root_view_id"]
                    return [copy.deepcopy(v) for v in self._views.values()
                            if v["type"] == "modal" and v["root_view_id"] == root and v["id"] not in self._closed_views]
            return []

    def close_view(self, view_id: str, *, whole_stack: bool = False) -> None:
        """The person closed the modal (or the app answered ``clear``): it is gone from their screen."""
        with self._changed:
            view = self._views.get(view_id)
            if view is None:
                return
            if whole_stack:
                self._closed_views.update(v for v, spec in self._views.items()
                                          if spec.get("root_view_id") == view["root_view_id"])
            else:
                self._closed_views.add(view_id)
            self._touch()

    def apply_response_action(self, view_id: str, answer: dict) -> list[str]:
        """What Slack does with a view_submission's answer; returns Block Kit problems (then nothing changes).

        ``update`` replaces the submitted view, ``push`` puts a new one on its stack, ``clear`` closes
        the stack, ``errors`` leaves it open (the caller shows them); no answer closes the view.
        """
        action = answer.get("response_action")
        with self._changed:
            view = self._views.get(view_id)
            if view is None:
                return [f"unknown view {view_id!r}"]
            if action in ("update", "push"):
                spec = answer.get("view")
                problems = validate_view(spec, expected_type="modal")
                if problems:
                    self.validation_errors.extend(f"response_action {action}: {p}" for p in problems)
                    self._touch()
                    return problems
                if action == "update":
                    self._replace_view(view, spec)
                else:
                    self._new_view(spec, user_id=self._view_users.get(view_id), root=view["root_view_id"],
                                   previous=view_id)
            elif action == "clear":
                self._closed_views.update(v for v, s in self._views.items() if s.get("root_view_id") == view["root_view_id"])
            elif action != "errors":
                self._closed_views.add(view_id)
            self._touch()
            return []

    def _reject(self, method: str, problems: list[str], error: str = "invalid_blocks") -> None:
        self.validation_errors.extend(f"{method}: {p}" for p in problems)
        raise _ApiError(
            error, errors=problems, response_metadata={"messages": [f"[ERROR] {p}" for p in problems]}
        )

    def _serve_upload(self, file_id: str, request: _Request) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            stored = self._files.get(file_id)
            if stored is not None:
                stored["content"] = request.body
                stored["uploaded"] = True
        status, answer = (200, f"OK - {len(request.body)}") if stored else (404, "file_not_found")
        self._record(Call("file_upload", {"file_id": file_id, "size": len(request.body)}, request.headers,
                          request.received, status, answer))  # fmt: skip
        return status, answer, {}

    def _serve_response_url(self, path: str, request: _Request) -> tuple[int, Any, dict[str, str]]:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = {"raw": request.body.decode("utf-8", "replace")}
        status, answer = 200, {"ok": True}
        with self._lock:
            binding = self._response_urls.get(path)
            try:
                if binding is None:
                    status, answer = 404, {"ok": False, "error": "no_such_response_url"}
                elif isinstance(body, dict):
                    self._apply_response_url(binding, body)
            except _ApiError as exc:
                status, answer = 400, {"ok": False, "error": exc.error, **exc.extra}
        args = {**body, "path": path} if isinstance(body, dict) else {"body": body, "path": path}
        self._record(Call("response_url", args, request.headers, request.received, status, answer,
                          connection=request.connection))
        return status, answer, {}

    def _apply_response_url(self, binding: dict, body: dict) -> None:
        self._check_content("response_url", body)
        channel, ts = binding["channel"], binding["message_ts"]
        if channel is None:
            return
        if ts is not None and (_truthy(body.get("delete_original")) or _truthy(body.get("replace_original"))):
            store = (
                self._messages.get((channel, ts))
                if not binding["ephemeral"]
                else self._find_ephemeral(channel, ts)
            )
            if store is None:
                raise _ApiError("message_not_found")
            if _truthy(body.get("delete_original")):
                store["deleted"] = True
            else:
                self._edit(store, body, replace_blocks=True)
        elif body.get("response_type") == "in_channel":
            self._store_message(channel, body)
        elif binding["user_id"] is not None:
            self._store_ephemeral(channel, binding["user_id"], body)

    # ---- ids and lookups ------------------------------------------------------------

    def _next_ts(self) -> str:
        if self.real_time_ts:  # the playground: times people can read, still unique and increasing
            self._last_ts = max(getattr(self, "_last_ts", 0) + 1, int(time.time() * 1_000_000))
            return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"
        micros = _FIRST_TS + 100 * next(self._ts_counter)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_hash(self) -> str:
        n = next(self._ids)
        return f"{1_760_000_000 + n}.{n * 40503 % 16**8:08x}"

    def _resolve_channel(self, channel: str) -> str:
        if _USER_ID.match(channel):
            return _dm_channel(channel)
        if _CHANNEL_ID.match(channel):
            return channel
        name = channel.lstrip("#")
        for cid, info in self.channels.items():
            if info.get("name") == name:
                return cid
        raise _ApiError("channel_not_found")

    def _consume_trigger(self, trigger_id: str) -> str | None:
        trigger = self._triggers.get(trigger_id)
        if trigger is None:  # not issued by us: accept once
            trigger = self._triggers[trigger_id] = _Trigger(user_id=None, issued=time.monotonic())
        expired = self.trigger_ttl is not None and time.monotonic() - trigger.issued > self.trigger_ttl
        if trigger.used or expired:
            raise _ApiError("expired_trigger_id")
        trigger.used = True
        return trigger.user_id

    def _find_ephemeral(self, channel: str, ts: str) -> dict | None:
        return next((e for e in self._ephemerals if e["channel"] == channel and e["ts"] == ts), None)

    # ---- messages -------------------------------------------------------------------

    def _check_content(self, method: str, args: dict) -> None:
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            self._reject(
                method, [f"blocks is not valid JSON: {blocks[:80]!r}"], error="invalid_blocks_format"
            )
        if blocks is not None:
            problems = validate_blocks(blocks)
            if problems:
                self._reject(method, problems)
            length = _text_in(blocks)
            if length > MAX_BLOCKS_TEXT_CHARS:
                self._reject(method, [f"blocks: {length} characters of text, more than {MAX_BLOCKS_TEXT_CHARS}"],
                             error="msg_blocks_too_long")
        text = args.get("text")
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            self._reject(
                method, [f"text: {len(text)} characters, more than {MAX_TEXT_CHARS}"], error="msg_too_long"
            )

    def _store_message(self, channel: str, args: dict) -> dict:
        ts = self._next_ts()
        message = {
            "type": "message",
            "channel": channel,
            "ts": ts,
            "text": args.get("text") or "",
            "blocks": _with_ids(args.get("blocks")),
            "attachments": args.get("attachments") or [],
            "thread_ts": args.get("thread_ts"),
            "metadata": args.get("metadata"),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "history": [],
            "deleted": False,
        }
        self._messages[(channel, ts)] = message
        return message

    def _store_ephemeral(self, channel: str, user: str, args: dict) -> dict:
        ephemeral = {
            "type": "message",
            "channel": channel,
            "user": user,
            "ts": self._next_ts(),
            "text": args.get("text") or "",
            "blocks": _with_ids(args.get("blocks")),
            "thread_ts": args.get("thread_ts"),
            "bot_id": BOT_ID,
            "ephemeral": True,
            "deleted": False,
            "history": [],
        }
        self._ephemerals.append(ephemeral)
        return ephemeral

    def _edit(self, message: dict, args: dict, *, replace_blocks: bool = False) -> None:
        message["history"].append({"text": message["text"], "blocks": message["blocks"]})
        if "text" in args:
            message["text"] = args["text"] or ""
        if "blocks" in args or replace_blocks:
            message["blocks"] = _with_ids(args.get("blocks"))
        if "attachments" in args:
            message["attachments"] = args["attachments"] or []
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}

    def _own_message(self, args: dict, ts_key: str, not_yours: str) -> tuple[str, dict]:
        _require(args, "channel", ts_key)
        channel = self._resolve_channel(args["channel"])
        message = self._messages.get((channel, args[ts_key]))
        if message is None or message["deleted"]:
            raise _ApiError("message_not_found")
        if message.get("bot_id") != BOT_ID:
            raise _ApiError(not_yours)
        return channel, message

    # ---- Slack methods --------------------------------------------------------------

    def _api_test(self, args: dict) -> dict:
        return {"args": args} if args else {}

    def _auth_test(self, args: dict) -> dict:
        return {
            "url": WORKSPACE_URL,
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict) -> dict:
        _require(args, "channel")
        channel = self._resolve_channel(args["channel"])
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise _ApiError("no_text")
        self._check_content("chat.postMessage", args)
        self._take_channel_token(channel)
        message = self._store_message(channel, args)
        return {"channel": channel, "ts": message["ts"], "message": _public(message)}

    def _chat_update(self, args: dict) -> dict:
        channel, message = self._own_message(args, "ts", "cant_update_message")
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise _ApiError("no_text")
        self._check_content("chat.update", args)
        self._edit(message, args)
        return {"channel": channel, "ts": message["ts"], "text": message["text"], "message": _public(message)}

    def _chat_delete(self, args: dict) -> dict:
        channel, message = self._own_message(args, "ts", "cant_delete_message")
        message["deleted"] = True
        return {"channel": channel, "ts": message["ts"]}

    def _chat_post_ephemeral(self, args: dict) -> dict:
        _require(args, "channel", "user")
        channel = self._resolve_channel(args["channel"])
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise _ApiError("no_text")
        self._check_content("chat.postEphemeral", args)
        ephemeral = self._store_ephemeral(channel, args["user"], args)
        return {"message_ts": ephemeral["ts"]}

    def _chat_get_permalink(self, args: dict) -> dict:
        _require(args, "channel", "message_ts")
        channel = self._resolve_channel(args["channel"])
        message = self._messages.get((channel, args["message_ts"]))
        if message is None or message["deleted"]:
            raise _ApiError("message_not_found")
        return {"channel": channel, "permalink": _permalink(channel, message["ts"], message.get("thread_ts"))}

    def _conversations_open(self, args: dict) -> dict:
        if args.get("channel"):
            return {"channel": {"id": self._resolve_channel(args["channel"])}}
        _require(args, "users")
        users = [u.strip() for u in str(args["users"]).split(",") if u.strip()]
        if not all(_USER_ID.match(u) for u in users):
            raise _ApiError("user_not_found")
        if len(users) == 1:
            channel_id = _dm_channel(users[0])
        else:
            channel_id = "G" + "".join(sorted(u[1:4] for u in users))[:10]
        channel: dict[str, Any] = {"id": channel_id}
        if _truthy(args.get("return_im")):
            channel.update(
                {"is_im": len(users) == 1, "is_open": True, "user": users[0] if len(users) == 1 else None}
            )
        return {"channel": channel}

    def _conversations_info(self, args: dict) -> dict:
        _require(args, "channel")
        channel_id = self._resolve_channel(args["channel"])
        if channel_id.startswith("D"):
            info = {
                "id": channel_id,
                "is_im": True,
                "is_open": True,
                "user": "U" + channel_id[1:],
                "created": 1_700_000_000,
            }
        else:
            info = {
                "id": channel_id,
                "name": channel_id.lower(),
                "is_channel": channel_id.startswith("C"),
                "is_group": channel_id.startswith("G"),
                "is_im": False,
                "is_private": channel_id.startswith("G"),
                "is_archived": False,
                "is_member": True,
                "created": 1_700_000_000,
                "creator": "U0ADMIN",
                "topic": {"value": "", "creator": "", "last_set": 0},
                "purpose": {"value": "", "creator": "", "last_set": 0},
            }
        info.update(copy.deepcopy(self.channels.get(channel_id, {})))
        if _truthy(args.get("include_num_members")):
            info.setdefault("num_members", 3)
        return {"channel": info}

    def _usergroups_users_list(self, args: dict) -> dict:
        _require(args, "usergroup")
        members = self.user_groups.get(args["usergroup"])
        if members is None:
            raise _ApiError("no_such_subteam")
        return {"users": list(members)}

    def _history_page(self, messages: list[dict], args: dict, *, newest_first: bool) -> dict:
        with_metadata = _truthy(args.get("include_all_metadata"))
        ordered = sorted(messages, key=lambda m: float(m["ts"]), reverse=newest_first)
        limit = int(args.get("limit") or 100)
        shown = []
        for message in ordered[:limit]:
            public = _public(message)
            if not with_metadata or not message.get("metadata"):
                public.pop("metadata", None)
            shown.append(public)
        return {"messages": shown, "has_more": len(ordered) > limit}

    def _conversations_history(self, args: dict) -> dict:
        """Top-level messages, newest first; thread replies are not included (as in Slack)."""
        _require(args, "channel")
        channel = self._resolve_channel(args["channel"])
        top = [m for (c, _), m in self._messages.items()
               if c == channel and not m["deleted"] and m.get("thread_ts") in (None, m["ts"])]
        return self._history_page(top, args, newest_first=True)

    def _conversations_replies(self, args: dict) -> dict:
        """A thread: its parent then its replies, oldest first."""
        _require(args, "channel", "ts")
        channel = self._resolve_channel(args["channel"])
        parent = self._messages.get((channel, args["ts"]))
        if parent is None:
            raise _ApiError("thread_not_found")
        thread = [m for (c, _), m in self._messages.items()
                  if c == channel and not m["deleted"] and (m["ts"] == args["ts"] or m.get("thread_ts") == args["ts"])]
        return self._history_page(thread, args, newest_first=False)

    def _users_info(self, args: dict) -> dict:
        _require(args, "user")
        user_id = args["user"]
        if user_id not in self.users and not _USER_ID.match(user_id):
            raise _ApiError("user_not_found")
        is_bot = user_id == BOT_USER_ID
        name = BOT_NAME if is_bot else user_id.lower()
        real_name = "Koho" if is_bot else f"Test User {user_id}"
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": real_name,
            "tz": "Asia/Tokyo",
            "tz_label": "Japan Standard Time",
            "tz_offset": 32400,
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "profile": {"real_name": real_name, "display_name": name, "team": TEAM_ID},
            "locale": "ja-JP",
        }
        custom = copy.deepcopy(self.users.get(user_id, {}))
        if "profile" in custom:
            user["profile"].update(custom.pop("profile"))
        user.update(custom)
        if not _truthy(args.get("include_locale")):
            user.pop("locale", None)
        return {"user": user}

    # ---- views ----------------------------------------------------------------------

    def _view_arg(self, args: dict, method: str, expected_type: str) -> dict:
        _require(args, "view")
        view = args["view"]
        if isinstance(view, str):
            self._reject(method, [f"view is not valid JSON: {view[:80]!r}"], error="invalid_arguments")
        problems = validate_view(view, expected_type=expected_type)
        if problems:
            self._reject(method, problems)
        return view

    def _new_view(
        self, spec: dict, *, user_id: str | None, root: str | None = None, previous: str | None = None
    ):
        view_id = f"V{next(self._ids):010d}"
        external_id = spec.get("external_id") or ""
        if external_id and any(v.get("external_id") == external_id for v in self._views.values()):
            raise _ApiError("duplicate_external_id")
        view = self._view_content(spec)
        view.update(
            {
                "id": view_id,
                "team_id": TEAM_ID,
                "state": {"values": {}},
                "hash": self._next_hash(),
                "root_view_id": root or view_id,
                "previous_view_id": previous,
                "app_id": APP_ID,
                "app_installed_team_id": TEAM_ID,
                "bot_id": BOT_ID,
            }
        )
        self._views[view_id] = view
        self._view_users[view_id] = user_id
        if view["type"] == "modal":
            self._modal_order.append(view_id)
        return view

    @staticmethod
    def _view_content(spec: dict) -> dict:
        content = {
            "type": spec["type"],
            "blocks": _with_ids(spec.get("blocks")),
            "private_metadata": spec.get("private_metadata") or "",
            "callback_id": spec.get("callback_id") or "",
            "external_id": spec.get("external_id") or "",
            "clear_on_close": _truthy(spec.get("clear_on_close")),
            "notify_on_close": _truthy(spec.get("notify_on_close")),
        }
        for key in ("title", "submit", "close", "submit_disabled"):
            if spec.get(key) is not None:
                content[key] = copy.deepcopy(spec[key])
        return content

    def _replace_view(self, view: dict, spec: dict) -> dict:
        external_id = view["external_id"]
        for key in ("title", "submit", "close", "submit_disabled"):
            view.pop(key, None)
        view.update(self._view_content(spec))
        view["external_id"] = spec.get("external_id") or external_id
        view["hash"] = self._next_hash()
        if view["type"] == "modal" and view["id"] in self._modal_order:
            self._modal_order.remove(view["id"])
            self._modal_order.append(view["id"])
        return view

    def _views_open(self, args: dict) -> dict:
        _require(args, "trigger_id")
        spec = self._view_arg(args, "views.open", "modal")
        user_id = self._consume_trigger(args["trigger_id"])
        return {"view": copy.deepcopy(self._new_view(spec, user_id=user_id))}

    def _views_update(self, args: dict) -> dict:
        if not (args.get("view_id") or args.get("external_id")):
            raise _ApiError("invalid_arguments")
        if args.get("view_id"):
            view = self._views.get(args["view_id"])
        else:
            view = next((v for v in self._views.values() if v["external_id"] == args["external_id"]), None)
        if view is None:
            raise _ApiError("not_found")
        spec = self._view_arg(args, "views.update", view["type"])
        if args.get("hash") and args["hash"] != view["hash"]:
            raise _ApiError("hash_conflict")
        return {"view": copy.deepcopy(self._replace_view(view, spec))}

    def _views_push(self, args: dict) -> dict:
        _require(args, "trigger_id")
        spec = self._view_arg(args, "views.push", "modal")
        user_id = self._consume_trigger(args["trigger_id"])
        candidates = [v for v in self._modal_order if user_id is None or self._view_users.get(v) == user_id]
        if not candidates:
            raise _ApiError("not_found")
        parent = self._views[candidates[-1]]
        stack = [v for v in self._views.values() if v["root_view_id"] == parent["root_view_id"]]
        if len(stack) >= 3:
            raise _ApiError("push_limit_reached")
        owner = self._view_users.get(parent["id"])
        view = self._new_view(spec, user_id=owner, root=parent["root_view_id"], previous=parent["id"])
        return {"view": copy.deepcopy(view)}

    def _views_publish(self, args: dict) -> dict:
        _require(args, "user_id")
        spec = self._view_arg(args, "views.publish", "home")
        user_id = args["user_id"]
        existing = self._home_views.get(user_id)
        if existing is None:
            view = self._new_view(spec, user_id=user_id)
            self._home_views[user_id] = view["id"]
        else:
            view = self._views[existing]
            if args.get("hash") and args["hash"] != view["hash"]:
                raise _ApiError("hash_conflict")
            self._replace_view(view, spec)
        return {"view": copy.deepcopy(view)}

    # ---- files ----------------------------------------------------------------------

    def _files_get_upload_url_external(self, args: dict) -> dict:
        _require(args, "filename", "length")
        file_id = f"F{next(self._ids):010d}"
        self._files[file_id] = {
            "id": file_id,
            "filename": args["filename"],
            "length": int(args["length"]),
            "alt_txt": args.get("alt_txt"),
            "content": None,
            "uploaded": False,
            "completed": False,
        }
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, args: dict) -> dict:
        _require(args, "files")
        entries = args["files"]
        if not isinstance(entries, list) or not entries:
            raise _ApiError("invalid_arguments")
        answer = []
        for entry in entries:
            stored = self._files.get(entry.get("id", "")) if isinstance(entry, dict) else None
            if stored is None or not stored["uploaded"]:
                raise _ApiError("file_not_found")
        for entry in entries:
            stored = self._files[entry["id"]]
            stored.update(
                {
                    "completed": True,
                    "title": entry.get("title") or stored["filename"],
                    "channel_id": args.get("channel_id"),
                    "channels": args.get("channels"),
                    "initial_comment": args.get("initial_comment"),
                    "thread_ts": args.get("thread_ts"),
                }
            )
            answer.append(
                {
                    "id": stored["id"],
                    "name": stored["filename"],
                    "title": stored["title"],
                    "user": BOT_USER_ID,
                    "size": len(stored["content"] or b""),
                    "permalink": f"{WORKSPACE_URL}files/{BOT_USER_ID}/{stored['id']}/{stored['filename']}",
                }
            )
        return {"files": answer}


# --------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------


def encode_answer(payload: Any) -> tuple[bytes, str]:
    """The body and Content-Type of an answer of ``FakeSlack._serve`` (here and in the playground's server)."""
    if isinstance(payload, (dict, list)):
        return json.dumps(payload).encode(), "application/json; charset=utf-8"
    return str(payload).encode(), "text/plain; charset=utf-8"


def _title_case(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a hanging answer
    allow_reuse_address = True
    # socketserver's default backlog is 5: under a burst (an approve storm's replies, a surge) the
    # kernel drops the SYNs it cannot queue and the client retries a second later, which a 2 s
    # look-up timeout does not survive. Slack's front end takes bursts; so does the fake.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):  # a client that refused our certificate
            return  # or went away: nothing the fake did wrong
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack
    # Keep-alive, as Slack's servers: a connection carries one call after another until either side closes it.
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle kept-alive connection is closed after this many seconds
    disable_nagle_algorithm = True  # headers and body leave at once, as servers commonly send them

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake.connections_opened += 1
            self.number = self.fake.connections_opened
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._connections.discard(self.connection)
        super().finish()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = _Request(
            path=url.path,
            query=url.query,
            headers={_title_case(k): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            content_type=self.headers.get("Content-Type", ""),
            authorization=self.headers.get("Authorization"),
            connection=self.number,
        )
        status, payload, headers = self.fake._serve(request)
        data, content_type = encode_answer(payload)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (hang)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass
