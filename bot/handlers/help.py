"""`/koho` — help, `/koho language ja|en`, `/koho accounts [add]` and `/koho report [week|month]`."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.app import Services
from bot.handlers.accounts import koho_accounts, koho_report
from bot.handlers.ids import Command
from bot.i18n import LOCALES, Translator
from bot.text.typed_input import command_word
from bot.views.home import help_text


def register(app: App, services: Services) -> None:
    @app.command(Command.KOHO)
    def koho_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        user_id = command["user_id"]
        words = (command.get("text") or "").split()
        subcommand = command_word(words[0]) if words else "help"  # ｌａｎｇｕａｇｅ from a Japanese IME too
        if subcommand in ("accounts", "account", "アカウント", "台帳"):  # may open a modal: no Slack call first
            koho_accounts(services, command, words, respond, client)
            return
        tr = services.translator_for(user_id)

        if subcommand in ("language", "lang", "言語"):
            choice = command_word(words[1]) if len(words) > 1 else ""
            if choice not in LOCALES:
                respond(text=tr.t("language.usage", current=tr.plain("language.name")), response_type="ephemeral")
                return
            services.locales.set_explicit(user_id, choice)
            respond(text=Translator(choice, services.org.timezone).t("language.set"), response_type="ephemeral")
            return

        if subcommand in ("report", "レポート"):
            koho_report(services, command, words, respond)
            return

        text = help_text(tr, services.org, user_id)
        if subcommand not in ("help", "ヘルプ"):
            text = tr.t("help.unknown_subcommand", subcommand=subcommand) + "\n\n" + text
        respond(text=text, response_type="ephemeral")
