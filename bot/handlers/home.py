"""The App Home tab: re-published from the database whenever a person opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.app import Services
from bot.workflows import outbox


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def publish_home(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        with services.db.transaction() as session:
            outbox.home(session, user_id=event["user"], now=services.clock.now())
        services.notify()
