"""Logging that never leaks: tokens, secrets and citizens' personal data are redacted on the way out.

Code should not log such things in the first place; this filter is the net under that rule.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from bot.text.masking import mask_personal_data

# The loggers Koho hands to slack_sdk and Bolt (`bot.app`). Both libraries decide whether to build a debug
# message by the level set on that logger itself (`logger.level <= logging.DEBUG`), not the level in effect:
# a logger whose own level is unset (0) passes, so every Slack call formatted its whole request and
# response (a form, an App Home: repr() of every block) into a message that logging then dropped.
# `configure` sets their levels, so that the check reads the truth.
SLACK_CALLS = "slack_sdk.web.base_client"  # slack_sdk's own, used by a WebClient given no logger
HANDLED_FAILURES = "slack_sdk.koho.handled"  # under "slack_sdk": its level follows slack_sdk's
BOLT = "bot.bolt"  # Bolt's framework logger; its middleware and the Socket Mode client copy its level
BOLT_REPLAY = "bot.bolt.replay"

_TOKEN = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+")
REDACTED = "[REDACTED]"


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN.sub(REDACTED, text)
        # The same detector that masks what Slack sees (phones in every Japanese notation, full-width
        # digits, ＠ addresses, My Numbers, postal addresses): one definition of personal data.
        return mask_personal_data(text).text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        redacted = self.redact(message)
        record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure(level: str = "INFO", secrets: Iterable[str] = (), stream=None) -> None:  # noqa: ANN001
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # slack_sdk logs request bodies at DEBUG; they can hold citizens' text. Keep it quieter.
    slack_sdk_level = max(logging.getLevelName(level), logging.INFO)
    logging.getLogger("slack_sdk").setLevel(slack_sdk_level)
    for name in (SLACK_CALLS, HANDLED_FAILURES):
        logging.getLogger(name).setLevel(slack_sdk_level)
    for name in (BOLT, BOLT_REPLAY):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # Alembic narrates every start-up migration check at INFO (a screenful before the playground's address).
    # Kept at DEBUG, where an operator asked for everything.
    numeric = logging.getLevelName(level)
    logging.getLogger("alembic").setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
