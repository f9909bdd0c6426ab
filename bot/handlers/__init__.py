"""Slack adapters: parse the payload, call a workflow, render, answer. No SQL here."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import App, BoltContext

from bot.app import Services


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
    (`bot.slack_transport`). Bolt hands each request a new plain `WebClient` built from the app's settings,
    whose every call opens a connection of its own (a TLS handshake with slack.com in production) — on the
    way to a form whose trigger_id lives 3 seconds. Koho never changes a client's token, the thread-safety
    Bolt's fresh client guards against, so the one client serves every listener thread."""
    client = app.client

    @app.middleware
    def use_the_apps_client(context: BoltContext, next: Callable[[], None]) -> None:  # noqa: A002 - Bolt's name
        context["client"] = client
        next()
