"""Helpers for the citizen-comment tests: signed webhook requests and reading comments back from the fake Slack."""

from __future__ import annotations

import http.client
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from sqlalchemy import func, select

from bot.models import OutboxItem
from bot.webhooks import sign
from bot.workflows.accounts.models import RegisterAccount

WEBHOOK_SECRET = "test-webhook-secret-0123456789"  # what tests/conftest.py puts in COMMENT_WEBHOOK_SECRET
_ids = itertools.count(1)
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def comment(text: str, **fields: Any) -> dict[str, Any]:
    """A monitoring tool's comment, as JSON fields."""
    payload = {"source": "x", "account": "city-x", "external_id": f"x-{next(_ids)}-{time.monotonic_ns()}",
               "author": "市民 太郎", "author_handle": "@taro_citizen", "text": text,
               "url": "https://x.com/taro_citizen/status/1790000000000000001",
               "received_at": "2026-11-24T09:58:00+09:00"}
    payload.update(fields)
    return {k: v for k, v in payload.items() if v is not None}


def json_body(payload: Any) -> bytes:
    """The payload as a tool sends it: UTF-8 JSON; a lone surrogate (half of an emoji's UTF-16 pair), which
    UTF-8 cannot carry, travels as the JSON escape "\\ud800"."""
    text = json.dumps(payload, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(payload).encode("ascii")


def post_webhook(koho: Any, payload: Any = None, *, body: bytes | None = None, secret: str = WEBHOOK_SECRET,
                 timestamp: int | None = None, signature: str | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """POST /webhooks/comments signed as a monitoring tool does; returns (status, JSON answer)."""
    data = body if body is not None else json_body(payload)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    request_headers = {"Content-Type": "application/json", "X-Koho-Timestamp": ts,
                       "X-Koho-Signature": signature if signature is not None else sign(secret, ts, data)}
    request_headers.update(headers or {})
    request = urllib.request.Request(f"{koho.url}/webhooks/comments", data=data,  # noqa: S310 - loopback
                                     headers=request_headers, method="POST")
    try:
        with _opener.open(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def sent_together(koho: Any, monkeypatch: Any, payloads: list[dict[str, Any]]) -> tuple[list[tuple[int, dict[str, Any]]], list[int]]:
    """POST these webhook comments at once, the storing thread kept on the first until every other sender
    waits for its commit: the others are stored as one group. Returns each answer, in the order of
    `payloads`, and the sizes of the groups stored."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.webhooks import GroupCommit
    from bot.workflows.comments.service import CommentService

    groups, first_held, release = [], threading.Event(), threading.Event()
    store, hand_over, intake = CommentService.receive_many, GroupCommit.receive, []

    def receive_many(self: Any, news: Any) -> Any:
        if not groups and not release.is_set():  # hold the first group while the others arrive
            first_held.set()
            assert release.wait(10)
        stored = store(self, news)
        groups.append(len(news))
        return stored

    def receive(self: Any, new: Any) -> Any:
        intake.append(self)
        return hand_over(self, new)

    def waiting() -> int:  # comments handed over to the storing thread, not yet taken by it
        return intake[0]._waiting.qsize() if intake else 0

    monkeypatch.setattr(CommentService, "receive_many", receive_many)
    monkeypatch.setattr(GroupCommit, "receive", receive)
    try:
        with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
            first = pool.submit(post_webhook, koho, payloads[0])
            assert first_held.wait(10)
            rest = [pool.submit(post_webhook, koho, p) for p in payloads[1:]]
            deadline = time.monotonic() + 10
            while waiting() < len(payloads) - 1:  # every other sender is waiting for its commit
                assert time.monotonic() < deadline, f"{waiting()} of {len(payloads) - 1} comments handed over"
                time.sleep(0.01)
            assert not any(f.done() for f in rest), "answered before its comment was stored"
            release.set()
            return [first.result()] + [f.result() for f in rest], groups
    finally:
        release.set()
        monkeypatch.setattr(CommentService, "receive_many", store)
        monkeypatch.setattr(GroupCommit, "receive", hand_over)


def receive(koho: Any, text: str, **fields: Any) -> int:
    """A comment arrives by webhook; returns its id."""
    status, answer = post_webhook(koho, comment(text, **fields))
    assert status == 202, answer
    return answer["id"]


_SHOWN = re.compile(r"^comment-(?:row-|emergency-)?(\d+)$")


def comment_ids_shown(message: dict[str, Any]) -> list[int]:
    """Comments a message shows: its own (block `comment-<id>`, `comment-emergency-<id>`) or a listing's
    rows (`comment-row-<id>`)."""
    found = []
    for block in message.get("blocks") or []:
        match = _SHOWN.match(block.get("block_id", ""))
        if match:
            found.append(int(match.group(1)))
    return found


def message_showing(koho: Any, channel: str, comment_id: int, timeout: float = 5.0) -> dict[str, Any]:
    """The channel's message that shows the comment (waits for it)."""
    deadline = time.monotonic() + timeout
    while True:
        for message in koho.fake.messages(channel):
            if comment_id in comment_ids_shown(message):
                return message
        if time.monotonic() > deadline:
            texts = [m.get("text") for m in koho.fake.messages(channel)]
            raise AssertionError(f"no message in {channel} shows comment {comment_id}; messages: {texts}")
        koho.services.notify()
        time.sleep(0.02)


def message_with(koho: Any, channel: str, words: str, timeout: float = 5.0) -> dict[str, Any]:
    """The newest message in the channel whose fallback text contains `words` (waits for it)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in koho.fake.messages(channel) if words in (m.get("text") or "")]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no message in {channel} says {words!r}")
        koho.services.notify()
        time.sleep(0.02)


def updated(koho: Any, message: dict[str, Any], predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The message once the bot has updated it in place so that `predicate(texts(message))` holds."""
    deadline = time.monotonic() + timeout
    while True:
        current = koho.fake.message(message["channel"], message["ts"])
        if current is not None and predicate(texts(current)):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"message not updated as expected: {texts(current or {})[:800]}")
        koho.services.notify()
        time.sleep(0.02)


def pending_outbox(koho: Any) -> int:
    with koho.db.read() as session:
        return session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending"))


def settle(koho: Any, timeout: float = 10.0, *, services: Any = None, advance: Any = None) -> None:
    """Wait until everything enqueued has reached the fake Slack.

    `services`: whose dispatcher to wake (default the test's app). `advance`: move the manual clock
    by this much each round, so waits Slack asked for (Retry-After) pass.
    """
    services = services or koho.services
    deadline = time.monotonic() + timeout
    while pending_outbox(koho):
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending_outbox(koho)} outbox items still pending after {timeout}s")
        if advance is not None:
            koho.clock.advance(advance)
        services.notify()
        time.sleep(0.02)


SLACK_SPEEDUP = 10


def slack_at_ten_times_speed(koho: Any, services: Any = None) -> None:
    """Slack's pace per channel, and the dispatcher's below it, both ten times the real one (1/s): backlogs,
    digests and pacing behave as at 1/s, in a tenth of the time."""
    koho.fake.channel_rate(per_second=1.0 * SLACK_SPEEDUP, burst=5)
    (services or koho.services).dispatcher._pacer.per_second = 1.0 * SLACK_SPEEDUP


def shown_in_order(fake: Any, channel: str) -> list[int]:
    """Every comment the channel shows, message by message (oldest first), rows in their order."""
    return [i for message in fake.messages(channel) for i in comment_ids_shown(message)]


class Sender:
    """A monitoring tool posting comments one after another over a kept-alive connection."""

    def __init__(self, koho: Any):
        host, port = koho.url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=10)
        self.sent: list[int] = []

    def send(self, payload: dict[str, Any]) -> int:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        ts = str(int(time.time()))
        self.connection.request("POST", "/webhooks/comments", body=data, headers={
            "Content-Type": "application/json", "X-Koho-Timestamp": ts,
            "X-Koho-Signature": sign(WEBHOOK_SECRET, ts, data)})
        answer = self.connection.getresponse()
        body = json.loads(answer.read())
        assert answer.status == 202, (answer.status, body)
        self.sent.append(body["id"])
        return body["id"]

    def close(self) -> None:
        self.connection.close()


def surge(koho: Any, payloads: list[dict[str, Any]], senders: int = 4) -> list[list[int]]:
    """Send the payloads from several tools at once; returns the ids each tool got back, in its order."""
    tools = [Sender(koho) for _ in range(senders)]
    threads = [threading.Thread(target=lambda t=tool, n=n: [t.send(p) for p in payloads[n::senders]])
               for n, tool in enumerate(tools)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for tool in tools:
        tool.close()
    assert sum(len(t.sent) for t in tools) == len(payloads)
    return [t.sent for t in tools]


def texts(message: dict[str, Any]) -> str:
    """Everything a person reads in a message, as one string (for `in` checks)."""
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + (message.get("text") or "")


def button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element
    raise AssertionError(f"no {action_id} in the message")


def open_in_register(koho: Any, account_id: str, name: str, department_id: str, *, handle: str,
                     operators: tuple[str, ...] = ()) -> None:
    """An X account opened through Koho: in the register only, not in the organisation file."""
    now = koho.clock.now()
    with koho.db.transaction() as session:
        session.add(RegisterAccount(id=account_id, platform="x", name=name, handle=handle, kind="subject",
                                    department_id=department_id, operators=list(operators), status="active",
                                    source="slack", created_at=now, updated_at=now))
