"""A guard in front of every listener: payloads of the wrong shape are refused with 400.

Only Slack can send a signed request, so these come from a Slack change, a bug, or someone holding
the signing secret. Either way a listener should never meet them: no `int("abc")` deep in a
handler, no 100 KB "id". Slack's own limits (a button value is at most 2,000 characters,
private_metadata 3,000) bound what a real payload holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse

from bot.handlers.account_ids import AccountAction
from bot.handlers.emergency_ids import EmergencyAction
from bot.handlers.proposal_ids import ProposalAction
from bot.text.typed_input import ascii_int

log = logging.getLogger(__name__)

MAX_VALUE = 2000  # Slack: button and option values
MAX_METADATA = 3000  # Slack: private_metadata
# Buttons whose value is the id of a row (a step, a proposal, a publication, a held post).
ID_VALUED = {
    ProposalAction.APPROVE, ProposalAction.REQUEST_CHANGES, ProposalAction.REJECT, ProposalAction.EDIT,
    ProposalAction.WITHDRAW, ProposalAction.MARK_PUBLISHED, ProposalAction.CORRECT,
    EmergencyAction.STEP_DONE, EmergencyAction.STEP_REOPEN, EmergencyAction.STEP_NOTE, EmergencyAction.STATUS,
    EmergencyAction.END, EmergencyAction.RESUME, EmergencyAction.CANCEL_HELD,
    AccountAction.APPROVE_CHANGE, AccountAction.REJECT_CHANGE, AccountAction.REVIEW_CONTINUE,
    AccountAction.REVIEW_WITHDRAW,
}


def shape_problem(body: dict[str, Any]) -> str | None:
    """Why this payload cannot be a real one, or None."""
    kind = body.get("type")
    if kind in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action"):
        user = body.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            return "user.id missing or not a string"
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "actions missing or empty"
        for action in actions:
            if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
                return "an action without a string action_id"
            value = action.get("value")
            if value is not None and (not isinstance(value, str) or len(value) > MAX_VALUE):
                return f"{action['action_id']}: value not a string of at most {MAX_VALUE} characters"
            if action["action_id"] in ID_VALUED and not (
                    isinstance(value, str) and ascii_int(value) is not None):  # "²" is a digit to isdigit()
                return f"{action['action_id']}: value is not an id"
            option = action.get("selected_option")
            if option is not None and (not isinstance(option, dict) or not isinstance(option.get("value"), str)
                                       or len(option["value"]) > MAX_VALUE):
                return f"{action['action_id']}: selected_option malformed"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("callback_id"), str):
            return "view missing or without a callback_id"
        metadata = view.get("private_metadata", "")
        if not isinstance(metadata, str) or len(metadata) > MAX_METADATA:
            return "private_metadata not a string of at most 3000 characters"
        values = (view.get("state") or {}).get("values", {})
        if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
            return "state.values malformed"
    if kind == "event_callback" and not isinstance(body.get("event"), dict):
        return "event missing"
    if body.get("command") is not None and not isinstance(body.get("text", ""), str):
        return "command text not a string"
    return None


def drop_nul(node: Any) -> Any:
    """NUL carries nothing a person typed, and PostgreSQL refuses it in text: remove it everywhere."""
    if isinstance(node, str):
        return node.replace("\x00", "") if "\x00" in node else node
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = drop_nul(value)
    elif isinstance(node, list):
        node[:] = [drop_nul(value) for value in node]
    return node


def register(app: App) -> None:
    @app.middleware
    def refuse_malformed(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:  # noqa: A002
        problem = shape_problem(body) if isinstance(body, dict) else "payload is not an object"
        if problem is not None:
            log.warning("refused a malformed Slack payload (type=%s): %s", body.get("type"), problem)
            return BoltResponse(status=400, body=f"malformed payload: {problem}")
        drop_nul(body)  # in place: listeners get this very dict
        next()
        return None
