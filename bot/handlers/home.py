"""The App Home tab: re-published from the database whenever a person opens it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.app import Services
from bot.workflows import outbox, received

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def publish_home(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home" or not isinstance(event.get("user"), str):
            return
        now = services.clock.now()
        with services.db.transaction() as session:
            # Slack resends an event it thinks was not acknowledged (X-Slack-Retry-Num): once is enough.
            if body.get("event_id") and not received.first_time(session, f"slack:{body['event_id']}", now):
                log.info("event %s was handled already; this delivery is ignored", body["event_id"])
                return
            outbox.home(session, user_id=event["user"], now=now)
        services.notify()
