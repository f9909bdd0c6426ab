"""Commands declared in the manifest whose flows are not built yet: say so honestly.

Each moves out of here into its own module when its flow lands.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.app import Services
from bot.handlers.ids import Command

# Every declared command is built now; a new one starts here until its flow lands.
NOT_YET_BUILT: tuple[Command, ...] = ()


def register(app: App, services: Services) -> None:
    def coming_soon(ack: Ack, command: dict[str, Any]) -> None:
        tr = services.translator_for(command["user_id"])
        ack(text=tr.t("coming_soon.command", command=command["command"]), response_type="ephemeral")

    for name in NOT_YET_BUILT:
        app.command(name)(coming_soon)
