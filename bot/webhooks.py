"""POST /webhooks/comments: citizen comments from the city's social-media monitoring tools.

The contract (docs/comments.md has examples):

- Body: a JSON object, UTF-8, at most 64 KB: `source`, `external_id`, `text`, `received_at`
  (ISO 8601 with a time zone) are required; `account`, `author`, `author_handle`, `url` optional.
- Signed like Slack and Stripe: `X-Koho-Timestamp: <unix seconds>` and
  `X-Koho-Signature: v1=<hex HMAC-SHA256(COMMENT_WEBHOOK_SECRET, "{timestamp}.{raw body}")>`;
  the timestamp must be within 5 minutes of our clock. Several `v1=` values, comma-separated, are
  accepted (for rotating the secret).
- Answers: 202 stored and accepted; 200 already received (same `source` and `external_id`: never
  posted twice), "duplicate" when nothing differs, "updated" when its text (or author, link) was
  edited; 400 not JSON (or nested too deeply), or fields missing/invalid (each named); 401 bad
  or old signature; 413 body over 64 KB; 500 an error on our side, with a reference in the log (send it
  again later); 503 no secret configured, or the database is down (send it again later).

The comment is committed to the database before 202 is answered: a 202 is never lost. An `account` Koho
does not know is no reason to lose it (senders do not retry a 400): it is stored, routed as if no account
were named, and the answer carries `warnings` naming the field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.app import Services
from bot.db import mark_answering
from bot.handlers.errors import is_database_outage, new_reference
from bot.workflows.accounts.directory import account_exists, account_ids
from bot.workflows.comments.models import Comment
from bot.workflows.comments.rules import SOURCES
from bot.workflows.comments.service import CommentService, NewComment, Received

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_SKEW_SECONDS = 5 * 60
TIMESTAMP_HEADER = "HTTP_X_KOHO_TIMESTAMP"
SIGNATURE_HEADER = "HTTP_X_KOHO_SIGNATURE"
_UNIX_SECONDS = re.compile(r"[0-9]{1,20}")  # ASCII digits only: str.isdigit() takes "²", which int() refuses
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Half of a UTF-16 pair without the other half: valid as a JSON escape ("\ud800"), but no text encoding
# can store it (the database driver refuses it).
_LONE_SURROGATES = re.compile("[\ud800-\udfff]")
_SHORT_FIELDS = {"external_id": 255, "author": 200, "author_handle": 200, "url": 2000}
# What people wrote: a lone surrogate (a tool cut an emoji's UTF-16 pair in half) becomes U+FFFD and the
# comment is kept. In the other fields, names and keys, it is refused: a replaced external id could merge
# two comments into one (the second answered "duplicate" and dropped), a replaced URL points nowhere.
_WRITTEN_FIELDS = {"text", "author", "author_handle"}
# Before this, a date is a tool's "no value" (Go's 0001-01-01, 1970-01-01 of a zero Unix time), not when a
# citizen wrote; after now + this, the comment would come from the future (clocks drift, not by a day).
EARLIEST_RECEIVED_AT = datetime(2000, 1, 1, tzinfo=UTC)
RECEIVED_AT_AHEAD = timedelta(days=1)

StartResponse = Callable[..., Any]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a sender puts in X-Koho-Signature."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signature_problem(secret: str, timestamp: str | None, signatures: str | None, body: bytes,
                      now: float) -> str | None:
    """Why the request is not authentic, or None when it is."""
    if not timestamp or not _UNIX_SECONDS.fullmatch(timestamp):
        return "missing or malformed X-Koho-Timestamp (unix seconds)"
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return "X-Koho-Timestamp is more than 5 minutes away from now"
    expected = sign(secret, timestamp, body)
    offered = [s.strip() for s in (signatures or "").split(",") if s.strip().startswith("v1=")]
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in offered):
        return "missing or wrong X-Koho-Signature"
    return None


def parse_comment(payload: Any, now: datetime | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """(clean values, problems by field name) of a webhook body: problems are what the comment cannot be
    stored without (an unknown `account` is not one: `account_warning`). `now`: the server's clock (for how
    far ahead `received_at` may be)."""
    if not isinstance(payload, dict):
        return {}, {"(body)": "must be a JSON object"}
    problems: dict[str, str] = {}
    clean: dict[str, Any] = {}

    def text_field(name: str, *, required: bool) -> None:
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and name == "external_id":
            value = str(value)
        if value is not None and not isinstance(value, str):
            problems[name] = "must be a string"
            return
        value, problem = _cleaned(name, value or "")
        if problem:
            problems[name] = problem
            return
        if not value.strip():  # checked on what is left: a field of control characters only is missing
            if required:
                problems[name] = "required"
            return
        if name in _SHORT_FIELDS and len(value) > _SHORT_FIELDS[name]:
            problems[name] = f"at most {_SHORT_FIELDS[name]} characters"
            return
        clean[name] = value.strip() if name != "text" else value

    for name, required in (("source", True), ("external_id", True), ("text", True), ("received_at", True),
                           ("account", False), ("author", False), ("author_handle", False), ("url", False)):
        text_field(name, required=required)
    if "source" in clean and clean["source"] not in SOURCES:
        problems["source"] = f"must be one of {', '.join(SOURCES)}"
    if "url" in clean and not clean["url"].lower().startswith(("http://", "https://")):
        problems["url"] = "must be an http(s) URL"
    if "received_at" in clean:
        received, problem = _received_at(clean.pop("received_at"), now or datetime.now(UTC))
        if problem:
            problems["received_at"] = problem
        else:
            clean["received_at"] = received
    return clean, problems


def account_warning(account: str | None, known: Collection[str]) -> str | None:
    """What the sender is told when `account` is none of ours (renamed or removed in the tool's settings, or
    not yet in the register): the comment is kept all the same, routed as if no account were named."""
    if account is None or account in known:
        return None
    return (f"unknown account, stored and routed as without one; fix the sender's settings "
            f"(known: {', '.join(sorted(known)) or 'none configured'})")


def _cleaned(name: str, value: str) -> tuple[str, str | None]:
    """(the value as stored, or why it cannot be) of a text field."""
    if _LONE_SURROGATES.search(value):
        if name not in _WRITTEN_FIELDS:
            return value, "must be valid Unicode (no lone UTF-16 surrogate such as \\ud800)"
        value = _LONE_SURROGATES.sub("\ufffd", value)
    if name == "external_id" and _CONTROLS.search(value):
        # Removing them would make "a\x01" and "a\x02" one comment: the second answered "duplicate".
        return value, "must not contain control characters"
    # NUL and other control characters (tabs and line breaks aside) carry nothing a person wrote,
    # and PostgreSQL refuses NUL in text: storing would fail on every retry.
    return _CONTROLS.sub("", value), None


def _received_at(value: str, now: datetime) -> tuple[datetime | None, str | None]:
    """(the time, or why it is not one a comment can have been written at)."""
    try:
        received = datetime.fromisoformat(value)
    except ValueError:
        return None, "must be an ISO 8601 date and time, e.g. 2026-11-24T10:00:00+09:00"
    if received.tzinfo is None:
        return None, "must include a time zone (e.g. +09:00 or Z)"
    try:
        in_utc = received.astimezone(UTC)
    except OverflowError:  # off the calendar in UTC (year 0 or 10000): far out either way
        in_utc = datetime.min.replace(tzinfo=UTC) if received.year == 1 else datetime.max.replace(tzinfo=UTC)
    if in_utc < EARLIEST_RECEIVED_AT:
        return None, f"must not be before {EARLIEST_RECEIVED_AT:%Y-%m-%d} (a tool's zero date, not when it was written)"
    if in_utc > now + RECEIVED_AT_AHEAD:
        return None, (f"must not be more than a day ahead of the server's clock "
                      f"(now {now.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ})")
    return received, None


def _account_id(account: str | None, warning: str | None) -> str | None:
    """The account as stored: an unknown one is kept as a label only, shortened to fit its column."""
    limit = Comment.account_id.type.length
    if warning is None or account is None or len(account) <= limit:
        return account
    return account[:limit - 1] + "…"


class KnownAccounts(Collection[str]):
    """The accounts a comment may name, as `account_warning` asks: most comments name one that exists, which
    is one look-up; the whole register is read only to list them when the one named is not known."""

    def __init__(self, services: Services):
        self.services = services
        self._all: set[str] | None = None

    def __contains__(self, account_id: object) -> bool:
        db, org = self.services.db, self.services.org
        return isinstance(account_id, str) and account_exists(db, org, account_id)

    def _ids(self) -> set[str]:
        if self._all is None:
            self._all = account_ids(self.services.db, self.services.org)
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids())

    def __len__(self) -> int:
        return len(self._ids())


def _json(start_response: StartResponse, status: str, payload: dict[str, Any]) -> list[bytes]:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    start_response(status, [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


class GroupCommit:
    """Stores the webhook comments that arrive together in one transaction, and only then answers each.

    Every 202 still follows the commit that holds its comment, but a surge of deliveries costs one disk
    flush (and, on SQLite, one turn of its single writer) per group instead of per comment. A request
    thread hands its comment over and waits; one storing thread takes everything waiting, up to `group`.
    A comment that cannot be stored fails alone: `CommentService.receive_many` then stores the others
    one at a time, and answers for each its `Received` or the error that stopped it.
    """

    def __init__(self, comments: CommentService, group: int = 50):
        self.comments = comments
        self.group = group
        self._waiting: queue.SimpleQueue[tuple[NewComment, Future[Received]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def receive(self, new: NewComment) -> Received:
        with self._starting:  # the storing thread starts with the first comment
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="comment-intake", daemon=True)
                self._thread.start()
        done: Future[Received] = Future()
        self._waiting.put((new, done))
        return done.result()  # raises the error that kept this comment from being stored

    def _run(self) -> None:
        mark_answering()  # its senders wait for the commit
        while True:
            batch = [self._waiting.get()]
            while len(batch) < self.group:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            try:
                results = self.comments.receive_many([new for new, _ in batch])
            except Exception as e:  # noqa: BLE001 - every sender of the group hears of it
                for _, done in batch:
                    done.set_exception(e)
            else:
                for (_, done), received in zip(batch, results, strict=True):
                    if isinstance(received, Exception):
                        done.set_exception(received)
                    else:
                        done.set_result(received)


class CommentWebhook:
    """The WSGI route; `clock_seconds` is injectable so tests can age requests."""

    def __init__(self, services: Services, clock_seconds: Callable[[], float] = time.time):
        self.services = services
        self.secret = services.settings.comment_webhook_secret
        self.clock_seconds = clock_seconds
        self.comments = CommentService(services.db, services.org, services.calendar, services.clock)
        self.intake = GroupCommit(self.comments)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self.secret:
            return _json(start_response, "503 Service Unavailable", {
                "error": "comment webhook disabled: COMMENT_WEBHOOK_SECRET is not set on the server"})
        try:
            declared = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_BODY:
            return _json(start_response, "413 Request Entity Too Large", {"error": f"body over {MAX_BODY} bytes"})
        body = environ["wsgi.input"].read(min(declared, MAX_BODY + 1) if declared else MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return _json(start_response, "413 Request Entity Too Large", {"error": f"body over {MAX_BODY} bytes"})

        problem = signature_problem(self.secret, environ.get(TIMESTAMP_HEADER), environ.get(SIGNATURE_HEADER),
                                    body, self.clock_seconds())
        if problem is not None:
            return _json(start_response, "401 Unauthorized", {"error": problem})
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _json(start_response, "400 Bad Request", {"error": "body is not UTF-8 JSON"})
        except RecursionError:  # "[[[[…": the parser gives up long before 64 KB of brackets
            return _json(start_response, "400 Bad Request", {"error": "body is JSON nested too deeply"})
        try:
            clean, problems = parse_comment(payload, now=self.services.clock.now())
            if problems:
                return _json(start_response, "400 Bad Request", {"error": "invalid fields", "fields": problems})
            warning = account_warning(clean.get("account"), KnownAccounts(self.services))
            if warning is not None:
                log.warning("webhook comment %s/%s names an account Koho does not know (%r): stored, routed as "
                            "without one", clean["source"], clean["external_id"], clean["account"])
            received = self.intake.receive(NewComment(
                origin="webhook", source=clean["source"], external_id=clean["external_id"], text=clean["text"],
                received_at=clean["received_at"], account_id=_account_id(clean.get("account"), warning),
                author=clean.get("author"),
                author_handle=clean.get("author_handle"), url=clean.get("url"),
            ))
        except Exception as error:  # noqa: BLE001 - the sender is answered in JSON either way
            if is_database_outage(error):
                log.exception("could not store a webhook comment: the database is unavailable")
                return _json(start_response, "503 Service Unavailable",
                             {"error": "the comment could not be stored; send it again later"})
            # Not the database being away, and not a problem of the comment's fields (those are 400s): a
            # mistake of ours. The sender keeps the comment and sends it again; the log says what happened.
            reference = new_reference()
            log.exception("could not store a webhook comment (reference %s)", reference)
            return _json(start_response, "500 Internal Server Error", {
                "error": f"the comment could not be stored, an error on our side (reference {reference}); "
                         "send it again later"})
        warnings = {"warnings": {"account": warning}} if warning is not None else {}
        if received.updated:
            self.services.notify()
            return _json(start_response, "200 OK", {"status": "updated", "id": received.comment_id, **warnings})
        if not received.created:
            return _json(start_response, "200 OK", {"status": "duplicate", "id": received.comment_id, **warnings})
        if received.new_post:  # joining a waiting digest needs no wake-up: it is on its way already
            self.services.notify()
        return _json(start_response, "202 Accepted", {"status": "accepted", "id": received.comment_id, **warnings})
