"""The App Home tab: what Koho is and what you may do with it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks
from bot.app import Services
from bot.handlers.help import help_text

log = logging.getLogger(__name__)


def home_view(services: Services, user_id: str) -> dict[str, Any]:
    tr = services.translator_for(user_id)
    return {
        "type": "home",
        "blocks": [
            blocks.header(tr.plain("home.title")),
            blocks.section(tr.t("home.intro", org=services.org.name)),
            blocks.divider(),
            *blocks.long_text_sections(help_text(services, tr, user_id)),
        ],
    }


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def publish_home(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event["user"]
        client.views_publish(user_id=user_id, view=home_view(services, user_id))
