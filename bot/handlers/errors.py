"""One error handler for everything: a short, polite message for the person, details for the log.

The person gets a reference id; the log line carries the same id with the traceback, so the
PR office can find what happened without anyone pasting a stack trace into Slack.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from bot import blocks
from bot.app import Services
from bot.handlers import ephemeral_or_dm
from bot.handlers.ids import Callback
from bot.i18n import Translator
from bot.text.mrkdwn import mention
from bot.workflows.emergencies.service import EmergencyError
from bot.workflows.proposals.service import ProposalError

log = logging.getLogger(__name__)


def new_reference() -> str:
    return secrets.token_hex(4).upper()


def is_conflict(error: BaseException) -> bool:
    """PostgreSQL rolled the transaction back for colliding with another one (a deadlock, a serialization
    failure: SQLSTATE class 40). The database is there; the person's action was not done and may be repeated."""
    return isinstance(error, DBAPIError) and str(getattr(error.orig, "sqlstate", None) or "").startswith("40")


def is_database_outage(error: BaseException) -> bool:
    if isinstance(error, (OperationalError, PoolTimeoutError)):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


class StickyAck(Ack):
    """An `ack` whose answer, once given, stays given.

    slack_bolt's thread runner (1.30) sets `ack.response = None` when a listener raises *after*
    calling ack(); if that happens within its 10 ms polling interval the request is answered
    "404 unhandled request" and Slack shows the person an error on top of ours. Seen when the
    database is down: the click is acked, the first query fails at once. Run in place (a modal
    submission, `bot/handlers/in_place.py`), it sets the error handler's answer instead: the first
    answer stays there too.
    """

    @property
    def response(self) -> BoltResponse | None:
        return self.__dict__.get("_response")

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        if self.__dict__.get("_response") is None:
            self.__dict__["_response"] = value


def register(app: App, services: Services) -> None:
    from bot.handlers import payloads

    @app.middleware
    def keep_acks(context: BoltContext, next: Callable[[], None]) -> None:  # noqa: A002 - Bolt's name
        context["ack"] = StickyAck()
        next()

    payloads.register(app)  # malformed payloads never reach a listener

    @app.error
    def handle_error(
        error: Exception, body: dict[str, Any], response: BoltResponse | None, client: WebClient, respond: Any
    ) -> BoltResponse | None:
        reference = new_reference()
        user_id = (body.get("user") or {}).get("id") or body.get("user_id")
        if isinstance(error, (ProposalError, EmergencyError)):  # a refusal nobody caught: say it, not "error"
            log.info("refused %s for %s: %s", body.get("type") or body.get("command"), user_id, error.key)
            try:
                text = refusal_text(services.translator_for(user_id), error)
            except Exception:  # noqa: BLE001 - we are already handling a failure
                text = refusal_text(services.org_translator(), error)
            if response is not None:
                response.status, response.body = 200, ""
            tell_where_they_are(client, respond, body, user_id, text)
            return None
        if isinstance(error, SlackApiError) and slack_was_busy(error):
            # A modal's trigger lives 3 s: after a 429 (or its expiry) the person can only click again.
            log.warning("Slack did not open a view for %s (%s): asked them to try again", user_id,
                        error.response.get("error") or error.response.status_code)
            if response is not None:
                response.status, response.body = 200, ""
            try:
                text = services.cached_translator_for(user_id).t("error.slack_busy")
            except Exception:  # noqa: BLE001 - we are already handling a failure
                text = services.org_translator().t("error.slack_busy")
            tell_where_they_are(client, respond, body, user_id, text)
            return None
        log.error(
            "unhandled error ref=%s type=%s user=%s: %s",
            reference, body.get("type") or body.get("command"), user_id, type(error).__name__,
            exc_info=error,
        )
        conflict = is_conflict(error)
        outage = not conflict and is_database_outage(error)
        # The person's language may itself need the database; fall back to the organisation's.
        try:
            tr = services.translator_for(user_id) if not outage else services.org_translator()
        except Exception:  # noqa: BLE001 - we are already handling a failure
            tr = services.org_translator()
        key = "error.conflict" if conflict else "error.database_unavailable" if outage else "error.unexpected"
        text = tr.t(key, reference=reference)

        if response is not None:  # not acknowledged yet: answer in the HTTP response itself
            if body.get("type") == "view_submission":
                view = blocks.modal(
                    title=tr.plain("error.unexpected_title"), callback_id=Callback.ERROR_MODAL,
                    close=tr.plain("error.close"), blocks=[blocks.section(text)],
                )
                return BoltResponse(status=200, body=json.dumps({"response_action": "push", "view": view}),
                                    headers={"content-type": "application/json"})
            if body.get("command"):
                return BoltResponse(status=200, body=json.dumps({"response_type": "ephemeral", "text": text}),
                                    headers={"content-type": "application/json"})
            response.status, response.body = 200, ""
        tell_where_they_are(client, respond, body, user_id, text)
        return None


def readable_values(tr: Translator, values: dict[str, Any]) -> dict[str, Any]:
    """A refusal's values in the reader's words: a proposal's status as its label (never `pending`), a moment
    in the organisation's time, a person as a mention. Every refusal a person reads goes through here."""
    shown: dict[str, Any] = {}
    for name, value in values.items():
        if name == "who":
            shown[name] = mention(value) if value else "—"
        elif isinstance(value, datetime):
            shown[name] = tr.datetime(value)
        elif name == "status":
            shown[name] = tr.plain(f"proposal.status.{value}")
        else:
            shown[name] = value
    return shown


def refusal_text(tr: Translator, error: ProposalError | EmergencyError, *, plain: bool = False) -> str:
    """The message of a refusal (`plain`: for a modal field error or other plain_text)."""
    values = readable_values(tr, error.values)
    return tr.plain(error.key, **values) if plain else tr.t(error.key, **values)
def slack_was_busy(error: SlackApiError) -> bool:
    """Slack refused for now what a person asked for with a trigger (a modal): rate limited, or too late."""
    return error.response.status_code == 429 or error.response.get("error") in ("ratelimited", "expired_trigger_id")


def tell_where_they_are(client: WebClient, respond: Any, body: dict[str, Any], user_id: str | None, text: str) -> None:
    """After the ack: reply where the person is, as quietly as possible."""
    try:
        if respond is not None and (body.get("response_url") or body.get("response_urls")):
            respond(text=text, response_type="ephemeral", replace_original=False)
            return
        if user_id:
            ephemeral_or_dm(client, (body.get("channel") or {}).get("id") or body.get("channel_id"), user_id, text)
    except (SlackApiError, OSError) as e:
        log.warning("could not tell %s about an error: %s", user_id, type(e).__name__)
