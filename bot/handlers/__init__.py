"""Slack adapters: parse the payload, call a workflow, render, answer. No SQL here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_bolt.context.respond.internals import (
    _build_message as build_message,  # how Bolt's respond builds it
)
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookResponse

from bot.app import Services
from bot.slack_transport import KeptAliveWebClient, KeptAliveWebhookClient

log = logging.getLogger(__name__)


def register_all(app: App, services: Services, *, answering: bool = True) -> None:
    """`answering`: the app Slack's requests reach (it defers clicks to the dispatchers); else the app that
    works the deferred clicks (`deferred.replayer`)."""
    from bot.handlers import accounts, comments, deferred, emergency, errors, help, home, pending, proposals

    share_the_apps_client(app)
    errors.register(app, services)
    if answering:
        deferred.register(app, services)  # after the payload checks that errors.register puts first
    help.register(app, services)
    home.register(app, services)
    pending.register(app, services)
    proposals.register(app, services)
    comments.register(app, services)
    emergency.register(app, services)
    accounts.register(app, services)


def share_the_apps_client(app: App) -> None:
    """Listeners call Slack through the app's own client, which keeps its connections open
    (`bot.slack_transport`), and `respond` posts over the same connections. Bolt hands each request a new
    plain `WebClient` built from the app's settings, and `respond` a new `WebhookClient` for each answer:
    every call opened a connection of its own (a TLS handshake with Slack, in production) — on the way to a
    form whose trigger_id lives 3 seconds, or to the approver's "approved". Koho never changes a client's
    token (the thread-safety Bolt's fresh client guards) and answers one workspace (no per-request team_id)."""
    client = app.client
    assert isinstance(client, KeptAliveWebClient), "create_app gives each app Koho's client"

    @app.middleware
    def use_the_apps_connections(context: BoltContext, next: Callable[[], None]) -> None:  # noqa: A002 - Bolt's name
        context["client"] = client
        if context.response_url is not None:
            context["respond"] = KeptAliveRespond(response_url=context.response_url, client=client,
                                                  channel_id=context.channel_id, user_id=context.user_id)
        next()


class KeptAliveRespond(Respond):
    """Bolt's `respond`, its answer sent over the app client's kept-alive connections.

    A response_url answers a refusal with an HTTP status, not an exception (one used more than 5 times, or
    older than 30 minutes: a click replayed late). The person must still hear the answer: then it goes to
    them through the Web API, ephemeral where they clicked, else as a DM."""

    def __init__(self, *, response_url: str, client: KeptAliveWebClient, channel_id: str | None = None,
                 user_id: str | None = None):
        super().__init__(response_url=response_url, proxy=client.proxy, ssl=client.ssl)
        self.pool = client.pool
        self.client = client
        self.channel_id, self.user_id = channel_id, user_id

    def __call__(self, text: str | dict[str, Any] = "", **fields: Any) -> WebhookResponse:  # type: ignore[override]
        message = build_message(**text) if isinstance(text, dict) else build_message(text=text, **fields)
        hook = KeptAliveWebhookClient(self.response_url or "", pool=self.pool, proxy=self.proxy, ssl=self.ssl)
        response = hook.send_dict(message)
        if not 200 <= response.status_code < 300:
            log.warning("response_url refused the answer to %s (HTTP %s: %s); sending it through the Web API",
                        self.user_id, response.status_code, (response.body or "")[:100])
            self._fall_back(message)
        return response

    def _fall_back(self, message: dict[str, Any]) -> None:
        if not self.user_id:
            return
        try:
            ephemeral_or_dm(self.client, self.channel_id, self.user_id, message.get("text") or "", message.get("blocks"))
        except (SlackApiError, OSError) as e:
            log.warning("could not tell %s the answer either: %s", self.user_id, type(e).__name__)


def ephemeral_or_dm(client: WebClient, channel_id: str | None, user_id: str, text: str,
                    blocks: list[dict[str, Any]] | None = None) -> None:
    """Tell one person: ephemeral in the channel they are in, else (no channel, or one the bot is not in) by DM.
    Raises what Slack (or the network) refuses the DM with."""
    if channel_id:
        try:
            client.chat_postEphemeral(channel=channel_id, user=user_id, text=text, blocks=blocks)
            return
        except SlackApiError as e:  # a channel the bot is not in: a DM still reaches them
            log.info("no ephemeral message for %s in %s: %s", user_id, channel_id, e.response.get("error"))
    client.chat_postMessage(channel=user_id, text=text, blocks=blocks)
