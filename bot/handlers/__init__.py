"""Slack adapters: parse the payload, call a workflow, render, answer. No SQL here."""

from __future__ import annotations

from slack_bolt import App

from bot.app import Services


def register_all(app: App, services: Services, *, answering: bool = True) -> None:
    """`answering`: the app Slack's requests reach (it defers clicks to the dispatchers); else the app that
    works the deferred clicks (`deferred.replayer`)."""
    from bot.handlers import accounts, comments, deferred, emergency, errors, help, home, pending, proposals

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
