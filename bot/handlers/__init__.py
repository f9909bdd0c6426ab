"""Slack adapters: parse the payload, call a workflow, render, answer. No SQL here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_bolt.context.respond.internals import (
    _build_message as build_message,  # how Bolt's respond builds it
)
from slack_sdk.webhook import WebhookResponse

from bot.app import Services
from bot.slack_transport import KeptAliveWebClient, KeptAliveWebhookClient


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
            context["respond"] = KeptAliveRespond(response_url=context.response_url, client=client)
        next()


class KeptAliveRespond(Respond):
    """Bolt's `respond`, its answer sent over the app client's kept-alive connections."""

    def __init__(self, *, response_url: str, client: KeptAliveWebClient):
        super().__init__(response_url=response_url, proxy=client.proxy, ssl=client.ssl)
        self.pool = client.pool

    def __call__(self, text: str | dict[str, Any] = "", **fields: Any) -> WebhookResponse:  # type: ignore[override]
        message = build_message(**text) if isinstance(text, dict) else build_message(text=text, **fields)
        hook = KeptAliveWebhookClient(self.response_url or "", pool=self.pool, proxy=self.proxy, ssl=self.ssl)
        return hook.send_dict(message)
