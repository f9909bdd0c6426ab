"""What the bot reads while it is used, it finds through an index on the tables that grow with the city's
history (every comment, proposal, audit event and Slack message it ever handled).

A full scan there costs in proportion to years of use. The webhook's check for a comment already
received was one: every group of webhook comments scanned every comment ever stored, on SQLite, while it
held the database's one write turn (2.5 ms at 20,000 comments, growing with each). The test tables are
small, so timing would not show it: the database's own planner is asked instead, for every statement the
bot ran through the flows below. SQLite: `EXPLAIN QUERY PLAN`, where `SCAN <table>` reads the whole table
(or the whole of an index). PostgreSQL: `EXPLAIN` with sequential scans priced out (`enable_seqscan =
off`, so the planner takes any index it can use), where a `Seq Scan` or an index read whole through a
filter means no index serves the statement.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bot.handlers.comment_ids import CommentAction, CommentBlock, CommentShortcut
from tests.comments_support import (
    comment,
    message_showing,
    post_webhook,
    receive,
    sent_together,
    settle,
    updated,
)
from tests.emergency_support import (
    EMERGENCY_CHANNEL,
    approve_routine,
    checklist,
    click,
    declare,
    end_emergency,
    message_with,
    propose,
    step_ids,
    wait_updated,
)

# The tables that grow with use. The others hold the city's register (accounts and their reviews, the
# people's preferences) or a handful of rows per emergency, and are read whole on purpose.
GROWING = {
    "approval_steps", "audit_events", "comment_hiding_requests", "comment_listing_items", "comment_listings",
    "comments", "emergency_held_posts", "outbox", "proposal_versions", "proposals", "publications",
    "received_events", "slack_messages",
}

# Scans kept on purpose, each with why: (table, a fragment of the statement) -> reason.
ACCEPTED: dict[tuple[str, str], str] = {
    ("comments", "comments.category = "): (
        "an emergency's summary lists the 緊急 comments received while it ran: once per emergency, at its end;"
        " an index for it would be written with every comment received"
    ),
}


def _by_the_test() -> bool:
    """Whether this statement is the test's own look (a helper waiting for a row), not the bot's work: the
    code that asked SQLAlchemy for it is a test's."""
    for frame in reversed(traceback.extract_stack()[:-3]):  # not this function, `record` and its caller
        if "/sqlalchemy/" not in frame.filename:
            return Path(frame.filename).parent == Path(__file__).parent and Path(frame.filename).name != "conftest.py"
    return False


@contextmanager
def statements_of(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the bot ran on `engine` meanwhile, with its parameters (those that can read a table)."""
    seen: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany) -> None:  # noqa: ANN001
        reads = statement.lstrip().split(None, 1)[0].upper() in {"SELECT", "UPDATE", "DELETE", "WITH"}
        if reads and not executemany and not _by_the_test():
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def scans(engine: Any, statement: str, parameters: Any) -> list[str]:
    """The growing tables this statement reads whole, as the database plans it."""
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            if engine.dialect.name == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                found = [m.group(1) for row in cursor.fetchall() if (m := re.match(r"SCAN (\w+)", row[3]))]
            else:
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                plan = cursor.fetchone()[0]
                found = list(_pg_scans(plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"]))
        finally:
            cursor.close()
            conn.rollback()
    return [table for table in found if table in GROWING]


def _pg_scans(node: dict[str, Any]) -> Iterator[str]:
    kind = node["Node Type"]
    if kind == "Seq Scan" or (kind in {"Index Scan", "Index Only Scan"} and "Index Cond" not in node and "Filter" in node):
        yield node["Relation Name"]
    for child in node.get("Plans", []):
        yield from _pg_scans(child)


def accepted(table: str, statement: str) -> bool:
    return any(t == table and fragment in statement for (t, fragment) in ACCEPTED)


def test_what_the_bot_reads_as_it_is_used_is_found_through_an_index(koho, monkeypatch):
    with statements_of(koho.db.engine) as seen:
        # Citizen comments: one, then a group (as a surge arrives) with one of them twice, one stored
        # before, and another source's comment of the same id.
        assert post_webhook(koho, comment("道路に大きな穴が開いています", external_id="x-0"))[0] == 202
        group = [comment(f"道路に大きな穴が開いています（{n}）", external_id=f"x-{n}") for n in range(1, 4)]
        group += [dict(group[0]), comment("道路に大きな穴が開いています", external_id="x-0"),
                  comment("粗大ゴミの回収日は？", external_id="x-0", source="facebook")]
        answers, groups = sent_together(koho, monkeypatch, group)
        assert [status for status, _ in answers] == [202, 202, 202, 200, 200, 202] and max(groups) > 1
        # A department acknowledges one and closes it; a phone call is forwarded from Slack.
        message = message_showing(koho, "C0KENSETSU", answers[0][1]["id"])
        assert koho.slack.block_action("U0KENSETSU1", CommentAction.ACKNOWLEDGE, message=message).status == 200
        message = updated(koho, message, lambda t: "が確認しました" in t)
        before = len(koho.fake.calls_to("views.open"))
        assert koho.slack.block_action("U0KENSETSU1", CommentAction.DONE, message=message).status == 200
        koho.fake.wait_for("views.open", count=before + 1)
        assert koho.slack.view_submission("U0KENSETSU1", koho.fake.last_view("U0KENSETSU1"), {
            CommentBlock.NOTE: {CommentAction.NOTE: "現地を確認し、補修を手配しました"}}).status == 200
        updated(koho, message, lambda t: "が対応済にしました" in t)
        call = koho.fake.add_message("C0KANKYO", "電話がありました: 粗大ごみの出し方を教えてほしい", user="U0STAFF2")
        before = len(koho.fake.calls_to("views.open"))
        koho.slack.message_shortcut(CommentShortcut.FORWARD_MESSAGE, "U0STAFF1", "C0KANKYO", call)
        koho.fake.wait_for("views.open", count=before + 1)
        assert koho.slack.view_submission("U0STAFF1", koho.fake.last_view("U0STAFF1"), {
            CommentBlock.SOURCE: {CommentAction.SOURCE: "phone"}}).status == 200
        # A proposal through both approvals; the App Homes it changes; the reminder sweeps later.
        proposal_id = propose(koho)
        approve_routine(koho, proposal_id)
        propose(koho, "U0STAFF2")
        koho.slack.app_home_opened("U0STAFF1")
        koho.slack.app_home_opened("U0PR1")
        settle(koho)
        koho.clock.advance(timedelta(days=3))
        koho.sweep()
        # An emergency: declared, a step done, a 緊急 comment, ended (its summary).
        emergency_id = declare(koho)
        click(koho, "U0ONCALL2", checklist(koho, emergency_id), "emergency_step_done",
              block_id=f"step_actions:{step_ids(koho, emergency_id)[1]}")
        wait_updated(koho, EMERGENCY_CHANNEL, "完了 1/12")
        receive(koho, "近所で火事です、家が燃えています。助けて")
        end_emergency(koho, emergency_id)
        # The PR office asks for the week's operations report.
        koho.slack.command("/koho", "report week", user_id="U0PR1")
        message_with(koho, "C0PR", "運用レポート（週次）")
        settle(koho)
        koho.wait_for_listeners()

    assert len(seen) > 100  # the flows ran
    found: dict[str, list[str]] = {}
    for statement, parameters in {s: p for s, p in seen}.items():
        for table in scans(koho.db.engine, statement, parameters):
            if not accepted(table, statement):
                found.setdefault(table, []).append(" ".join(statement.split())[:400] + " … " + " ".join(statement.split())[-300:])
    assert not found, "read whole:\n" + "\n".join(f"{table}: {s}" for table, ss in found.items() for s in ss)
