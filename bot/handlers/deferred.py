"""Accept, then work: the clicks that change state are answered at once and worked by a dispatcher.

Slack waits at most 3 seconds for the answer to a click, and Python runs one thread at a time: a click's
work (the decision, its audit record, what it enqueues) done in the answering process after its answer
still slows the next answers. So the clicks below — each only changes what is recorded and tells the
person through `response_url` — are stored, signature already checked, as an outbox item (`REPLAY`, in
order per person) in one commit, answered 200, and worked by a dispatcher: the worker's, beside a web
process started `--with-workers`, else this process's own. The click is on the record before Slack hears
"OK": a crash after the answer loses nothing (a dispatcher takes the item over after its lease).

A click that opens a modal is never deferred: its trigger_id lives 3 seconds. If the click cannot be
stored (the database is down), it is worked here as before, and its listener tells the person.

The same listeners work the stored click: a second Bolt app (`replay_app`) without this middleware
runs them in the dispatcher's thread, the stored payload replayed as Socket Mode delivers one (a dict,
no signature: it was checked when it arrived). Worked at least once: a click replayed after a crash
meets the conditional update it already made, and its listener says what it says to a second click.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.app import Services
from bot.handlers.account_ids import AccountAction
from bot.handlers.comment_ids import CommentAction
from bot.handlers.emergency_ids import EmergencyAction
from bot.handlers.proposal_ids import ProposalAction
from bot.workflows import accepted

log = logging.getLogger(__name__)

# State changes that need no trigger_id: they answer through response_url, a DM or the message itself.
DEFERRED = frozenset({
    ProposalAction.APPROVE, ProposalAction.WITHDRAW,
    EmergencyAction.STEP_DONE, EmergencyAction.STEP_REOPEN, EmergencyAction.STEP_ASSIGN, EmergencyAction.CANCEL_HELD,
    CommentAction.ACKNOWLEDGE, CommentAction.NO_ACTION, CommentAction.TRIAGE, CommentAction.CATEGORY,
    CommentAction.CONFIRM_HIDING, CommentAction.DECLINE_HIDING,
    AccountAction.APPROVE_CHANGE,
})


def deferrable(body: dict[str, Any]) -> bool:
    actions = body.get("actions")
    return (body.get("type") == "block_actions" and isinstance(actions, list) and len(actions) == 1
            and actions[0].get("action_id") in DEFERRED)


def register(app: App, services: Services) -> None:
    """In the answering app only, after the payload checks (a malformed click is refused, not stored)."""

    @app.middleware
    def accept_then_work(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002
        if not deferrable(body):
            next()
            return None
        try:
            # Not the legacy verification token Slack still sends: requests are checked by their signature.
            payload = {key: value for key, value in body.items() if key != "token"}
            accepted.store(services.db, services.clock, user_id=body["user"]["id"], payload=payload)
        except SQLAlchemyError:
            log.warning("could not store a click to work later; working it now")
            next()
            return None
        services.notify()
        return BoltResponse(status=200, body="")


def replayer(app: App) -> Callable[[dict[str, Any]], int]:
    """Works a stored click through `app`'s listeners (an app built without `register` above); returns the
    status its listener answered with (500: it failed, and the error handler told the person)."""

    def replay(payload: dict[str, Any]) -> int:
        response = app.dispatch(BoltRequest(body=payload, mode="socket_mode"))
        return response.status

    return replay
