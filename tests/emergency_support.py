"""Helpers for the emergency scenario tests: declare through the modal, find the bot's messages, click."""

from __future__ import annotations

import json
from typing import Any

from bot.workflows.audit import events_for
from bot.workflows.emergencies.models import Emergency
from bot.workflows.proposals.models import Proposal
from bot.workflows.proposals.rules import CHECKLIST

EMERGENCY_CHANNEL = "C0EMERG"
ALL_CHECKED = {"checklist_1": {"checklist_1": list(CHECKLIST[:6])},
               "checklist_2": {"checklist_2": list(CHECKLIST[6:])}}


def texts(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def views_opened(koho: Any, callback_id: str) -> int:
    return len(koho.fake.calls_to("views.open", predicate=lambda c: c.ok and c.args["view"].get("callback_id") == callback_id))


def wait_for_modal(koho: Any, callback_id: str, before: int, user: str | None = None) -> dict[str, Any]:
    """The modal `callback_id` opened after `before` earlier ones (a count from `views_opened`)."""
    koho.fake.wait_for("views.open", count=before + 1,
                       predicate=lambda c: c.ok and c.args["view"].get("callback_id") == callback_id)
    return koho.fake.last_view(user)


def open_declare_modal(koho: Any, user: str = "U0ONCALL1") -> dict[str, Any]:
    before = views_opened(koho, "emergency_declare")
    assert koho.slack.command("/emergency", "", user_id=user, channel_id=EMERGENCY_CHANNEL).status == 200
    return wait_for_modal(koho, "emergency_declare", before, user)


def declaration_values(*, type: str = "earthquake", title: str = "市内で震度5強", mode: str | None = "real",
                       areas: str | None = "中央区・美浜区", situation: str | None = "10:02 気象庁発表。市内で震度5強を観測。",
                       interval: str | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"emergency_type": {"emergency_type": type}, "emergency_title": {"emergency_title": title}}
    if mode is not None:
        values["emergency_mode"] = {"emergency_mode": mode}
    if areas is not None:
        values["emergency_areas"] = {"emergency_areas": areas}
    if situation is not None:
        values["emergency_situation"] = {"emergency_situation": situation}
    if interval is not None:
        values["emergency_interval"] = {"emergency_interval": interval}
    return values


def declare(koho: Any, user: str = "U0ONCALL1", **values: Any) -> int:
    """An on-call officer declares through the modal; returns the emergency's id once its messages are out."""
    view = open_declare_modal(koho, user)
    posted = count_posts(koho, EMERGENCY_CHANNEL)
    response = koho.slack.view_submission(user, view, declaration_values(**values))
    assert response.status == 200 and response.body == "", response.body
    koho.fake.wait_for("chat.postMessage", channel=EMERGENCY_CHANNEL, count=posted + 2, predicate=lambda c: c.ok)
    return latest_emergency(koho)


def count_posts(koho: Any, channel: str) -> int:
    return len(koho.fake.calls_to("chat.postMessage", channel=channel, predicate=lambda c: c.ok))


def latest_emergency(koho: Any) -> int:
    with koho.db.read() as session:
        return session.query(Emergency).order_by(Emergency.id.desc()).first().id


def message_with(koho: Any, channel: str, fragment: str, timeout: float = 5.0) -> dict[str, Any]:
    """The newest message in `channel` whose notification text contains `fragment` (waits for one)."""
    import time

    deadline = time.monotonic() + timeout
    while not (found := [m for m in koho.fake.messages(channel) if fragment in m["text"]]):
        assert time.monotonic() < deadline, \
            f"no message with {fragment!r} in {channel}: {[m['text'] for m in koho.fake.messages(channel)]}"
        time.sleep(0.02)
    return found[-1]


def header(koho: Any, emergency_id: int) -> dict[str, Any]:
    return message_with(koho, EMERGENCY_CHANNEL, f"緊急事態 #{emergency_id}: ")


def checklist(koho: Any, emergency_id: int) -> dict[str, Any]:
    return message_with(koho, EMERGENCY_CHANNEL, f"緊急時投稿チェックリスト（#{emergency_id}）")


def step_ids(koho: Any, emergency_id: int) -> list[int]:
    with koho.db.read() as session:
        return [s.id for s in session.get(Emergency, emergency_id).steps]


def click(koho: Any, user: str, message: dict[str, Any], action_id: str, *, block_id: str | None = None,
          **extra: Any):
    return koho.slack.block_action(user, action_id, message=message, block_id=block_id, **extra)


def ephemerals(koho: Any, count: int = 1) -> list[str]:
    calls = koho.fake.wait_for("response_url", count=count,
                               predicate=lambda c: c.args.get("response_type") == "ephemeral")
    return [c.args.get("text", "") for c in calls]


def last_ephemeral(koho: Any, count: int = 1) -> dict[str, Any]:
    calls = koho.fake.wait_for("response_url", count=count,
                               predicate=lambda c: c.args.get("response_type") == "ephemeral")
    return calls[-1].args


def end_emergency(koho: Any, emergency_id: int, user: str = "U0ONCALL1", note: str | None = None) -> dict[str, Any]:
    """An on-call officer ends it through `/emergency end` and its confirmation; returns the summary message."""
    before = views_opened(koho, "emergency_end_confirm")
    koho.slack.command("/emergency", "end", user_id=user, channel_id=EMERGENCY_CHANNEL)
    modal = wait_for_modal(koho, "emergency_end_confirm", before, user)
    values = {"emergency_closing_note": {"emergency_closing_note": note}} if note else {}
    if any(b.get("block_id") == "emergency_which" for b in modal["blocks"]):  # more than one running: this one
        values["emergency_which"] = {"emergency_which": str(emergency_id)}
    response = koho.slack.view_submission(user, modal, values)
    assert response.status == 200 and response.body == "", response.body
    koho.fake.wait_for("chat.postMessage", channel=EMERGENCY_CHANNEL,
                       predicate=lambda c: c.ok and f"緊急事態 #{emergency_id} が終了しました" in c.args["text"])
    return message_with(koho, EMERGENCY_CHANNEL, f"緊急事態 #{emergency_id} が終了しました")


def wait_updated(koho: Any, channel: str, fragment: str) -> None:
    """Until a chat.update in `channel` shows `fragment` (the message is re-rendered in place)."""
    koho.fake.wait_for("chat.update", channel=channel, predicate=lambda c: c.ok and fragment in json.dumps(
        c.args.get("blocks"), ensure_ascii=False) + c.args.get("text", ""))


def audit_actions(koho: Any, subject_type: str, subject_id: int | str) -> list[str]:
    with koho.db.read() as session:
        return [e.action for e in events_for(session, subject_type, subject_id)]


def proposal_status(koho: Any, proposal_id: int) -> str:
    with koho.db.read() as session:
        return session.get(Proposal, proposal_id).status


def propose(koho: Any, user: str = "U0STAFF1", text: str = "【粗大ごみの収集日変更】12月は第2・第4水曜日です。問い合わせ: 環境局 043-245-5000",
            accounts: tuple[str, ...] = ("city-x",), **extra: Any) -> int:
    """A proposal through /propose-post (waits for its own modal, whatever else was opened before)."""
    before = views_opened(koho, "proposal_form")
    assert koho.slack.command("/propose-post", "", user_id=user).status == 200
    view = wait_for_modal(koho, "proposal_form", before, user)
    return submit_proposal_form(koho, user, view, text=text, accounts=accounts, **extra)


def submit_proposal_form(koho: Any, user: str, view: dict[str, Any], *, text: str | None = None,
                         accounts: tuple[str, ...] | None = None, **extra: Any) -> int:
    values: dict[str, Any] = {**ALL_CHECKED}
    if text is not None:
        values["text"] = {"text": text}
    if accounts is not None:
        values["accounts"] = {"accounts": list(accounts)}
    for block_id, value in extra.items():
        values[block_id] = {block_id: value}
    response = koho.slack.view_submission(user, view, values)
    assert response.status == 200 and response.body == "", response.body
    with koho.db.read() as session:
        return session.query(Proposal).order_by(Proposal.id.desc()).first().id


def request_for(koho: Any, channel: str, proposal_id: int) -> dict[str, Any]:
    """The approval request of a proposal (waits until it is posted)."""
    from bot.workflows.proposals.models import ApprovalStep
    from bot.workflows.proposals.service import step_message_key

    def posted() -> dict[str, Any] | None:
        from bot.models import SlackMessage

        with koho.db.read() as session:
            step = session.query(ApprovalStep).filter_by(proposal_id=proposal_id, status="pending").first()
            where = session.get(SlackMessage, step_message_key(step.id)) if step else None
            return koho.fake.message(where.channel, where.ts) if where and where.channel == channel else None

    import time

    deadline = time.monotonic() + 5
    while (message := posted()) is None:
        assert time.monotonic() < deadline, f"no approval request for proposal {proposal_id} in {channel}"
        time.sleep(0.02)
    return message


def approve(koho: Any, user: str, channel: str, proposal_id: int) -> None:
    """`user` presses 承認 on the proposal's pending request in `channel`; waits until it is decided."""
    import time

    from bot.workflows.proposals.models import ApprovalStep

    request = request_for(koho, channel, proposal_id)
    step_id = int(next(e["value"] for b in request["blocks"] if b["type"] == "actions" for e in b["elements"]))
    assert koho.slack.block_action(user, "proposal_approve", message=request).status == 200
    deadline = time.monotonic() + 5
    while True:
        with koho.db.read() as session:
            if session.get(ApprovalStep, step_id).status != "pending":
                return
        assert time.monotonic() < deadline, f"step {step_id} was not decided"
        time.sleep(0.02)


def approve_routine(koho: Any, proposal_id: int, head: str = "U0KANKYOHEAD", channel: str = "C0KANKYO") -> None:
    """The usual two steps: the department head, then the PR office."""
    approve(koho, head, channel, proposal_id)
    approve(koho, "U0PR1", "C0PR", proposal_id)


def publications(koho: Any, proposal_id: int) -> list[tuple[str, str]]:
    from bot.workflows.proposals.models import Publication

    with koho.db.read() as session:
        return sorted((p.account_id, p.status) for p in session.query(Publication).filter_by(proposal_id=proposal_id))


def drain(koho: Any) -> None:
    """Deliver everything pending now (the dispatcher runs anyway; this makes the order deterministic)."""
    koho.services.dispatcher.drain()


def earthquake_then_tsunami(koho: Any) -> tuple[int, int]:
    """An earthquake declared, then a tsunami beside it (declared anyway, by the other on-call officer)."""
    earthquake = declare(koho, "U0ONCALL1")
    koho.slack.command("/emergency", "", user_id="U0ONCALL2", channel_id=EMERGENCY_CHANNEL)
    assert koho.fake.wait_for("response_url", predicate=lambda c: "対応中の緊急事態があります" in c.args.get("text", ""))
    before = views_opened(koho, "emergency_declare")
    koho.slack.block_action("U0ONCALL2", "emergency_declare_anyway", "new", message=koho.fake.ephemerals("U0ONCALL2")[-1])
    view = wait_for_modal(koho, "emergency_declare", before, "U0ONCALL2")
    koho.slack.view_submission("U0ONCALL2", view, declaration_values(type="tsunami", title="津波警報"))
    koho.fake.wait_for("chat.postMessage", channel=EMERGENCY_CHANNEL, count=4, predicate=lambda c: c.ok)
    return earthquake, earthquake + 1
