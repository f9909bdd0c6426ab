"""Slack adapters: parse the payload, call a workflow, render, answer. No SQL here."""

from __future__ import annotations

from slack_bolt import App

from bot.app import Services


def register_all(app: App, services: Services) -> None:
    from bot.handlers import accounts, comments, emergency, errors, help, home, pending, proposals

    errors.register(app, services)
    help.register(app, services)
    home.register(app, services)
    pending.register(app, services)
    proposals.register(app, services)
    comments.register(app, services)
    emergency.register(app, services)
    accounts.register(app, services)
