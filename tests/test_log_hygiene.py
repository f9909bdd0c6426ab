"""Logs never hold tokens, secrets or citizens' personal data — at DEBUG, through real flows.

Two nets are checked: what Koho's own loggers produce before any filtering (the code must not log
such things), and what an operator running LOG_LEVEL=DEBUG sees through `bot.logs.configure`
(everything, slack_sdk and SQLAlchemy included, after the redacting filter).
"""

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot import logs
from tests.comments_support import WEBHOOK_SECRET, comment, post_webhook, settle
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.emergency_support import approve, propose

CITIZEN = {
    "text": ("山田花子です。家の前の道路に穴があります。電話 090-1234-5678（日中は０３－３２１０－９８７６）、"
             "メール hanako.yamada@example.jp、〒260-8722 千葉県千葉市中央区千葉港1-1 まで連絡ください"),
    "author": "山田花子",
    "author_handle": "@hanako_yamada_1985",
}
NEVER = [BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, "090-1234-5678", "09012345678", "０３－３２１０－９８７６",
         "hanako.yamada@example.jp", "hanako.yamada", "千葉港1-1", "260-8722"]


# Every logger whose level `bot.logs.configure` sets.
CONFIGURED = ("slack_sdk", "waitress.queue", "alembic", logs.SLACK_CALLS, logs.HANDLED_FAILURES, logs.BOLT,
              logs.BOLT_REPLAY)


@contextmanager
def configured(level: str) -> Iterator[io.StringIO]:
    """`bot.logs.configure` at `level`, as `LOG_LEVEL=... python -m bot` does, into a buffer; undone after."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in CONFIGURED}
    buffer = io.StringIO()
    logs.configure(level, [BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET], stream=buffer)
    ours = root.handlers[0]
    for handler in handlers:  # keep pytest's capture too
        root.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(ours)
        root.setLevel(root_level)
        for name, saved in levels.items():
            logging.getLogger(name).setLevel(saved)


@pytest.fixture
def operator_log():
    with configured("DEBUG") as buffer:
        yield buffer


def test_flows_with_personal_data_and_failures_leave_none_of_it_in_the_logs(koho, operator_log, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    # A comment full of personal data, sent twice (duplicate), a delivery that fails and is retried.
    koho.fake.fail("chat.postMessage", status=500, count=1)
    payload = comment(CITIZEN["text"], author=CITIZEN["author"], author_handle=CITIZEN["author_handle"])
    assert post_webhook(koho, payload)[0] == 202
    assert post_webhook(koho, payload)[0] == 200
    settle(koho, advance=timedelta(seconds=30))
    # The same comment while storing fails (its SQL parameters must not reach the error log).
    broken = comment(CITIZEN["text"])
    monkeypatch.setattr(koho.services.db, "transaction", _failing_transaction(koho.db))
    # Answered 5xx, to be sent again: 503 where the database reads as unreachable (SQLite calls a missing table an
    # OperationalError), 500 for any other failure (PostgreSQL's undefined table); the webhook tests pin each.
    assert post_webhook(koho, broken)[0] == (503 if koho.db.dialect == "sqlite" else 500)
    monkeypatch.undo()
    # A proposal whose text carries a phone number, approved; an unexpected error on a click.
    proposal_id = propose(koho, "U0STAFF1", text="【道路補修のお知らせ】お問い合わせは担当 山田 090-1234-5678 まで")
    approve(koho, "U0KANKYOHEAD", "C0KANKYO", proposal_id)
    koho.slack.command("/koho", "hanako.yamada@example.jp 090-1234-5678", user_id="U0STAFF1")
    settle(koho)
    koho.wait_for_listeners()

    operator = operator_log.getvalue()
    assert "outbox item" in operator and "could not store a webhook comment" in operator  # the flows logged
    leaks = [s for s in NEVER if s in operator]
    assert leaks == [], f"the operator's DEBUG log shows {leaks}"
    assert not re.search(r"xox[bpae]-", operator)

    ours = "\n".join(f"{r.getMessage()}\n{r.exc_text or ''}" for r in caplog.records if r.name.startswith("bot"))
    leaks = [s for s in [*NEVER, CITIZEN["author"], CITIZEN["author_handle"]] if s in ours]
    assert leaks == [], f"Koho's own log lines (before filtering) contain {leaks}"


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_a_slack_call_builds_no_debug_message_of_its_body(koho, level, monkeypatch):
    """slack_sdk and Bolt build a debug message when the level set on their logger itself is DEBUG or unset,
    whatever the level in effect: left unset, every Slack call formatted its whole request and response (a form,
    an App Home, every block's repr) for logging to drop. At INFO nobody reads them; at DEBUG slack_sdk is
    kept at INFO (the bodies hold citizens' text), so they are not built either."""
    built: list[tuple[str, str]] = []
    debug = logging.Logger.debug

    def recording(self: logging.Logger, msg: object, *args: object, **kwargs: object) -> None:
        built.append((self.name, str(msg)))
        debug(self, msg, *args, **kwargs)

    monkeypatch.setattr(logging.Logger, "debug", recording)
    with configured(level):
        proposal_id = propose(koho, "U0STAFF1")  # a form opened and submitted: its approval request goes out
        approve(koho, "U0KANKYOHEAD", "C0KANKYO", proposal_id)  # a click worked by the dispatcher
        settle(koho)
    bodies = [(name, message[:80]) for name, message in built
              if message.startswith(("Sending a request", "Received the following response"))]
    assert bodies == []
    middleware = [name for name, message in built if message.startswith("Applying ")]  # Bolt's, per request
    assert bool(middleware) == (level == "DEBUG")


def _failing_transaction(db):
    """A transaction that fails with a real error from the bot's own engine, the citizen's text bound."""
    try:
        with db.transaction() as session:
            session.execute(sa.text("INSERT INTO no_such_table (text) VALUES (:text)"), {"text": CITIZEN["text"]})
    except sa.exc.DBAPIError as e:
        error = e

    def transaction():
        raise error

    return transaction
