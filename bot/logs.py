"""Logging that never leaks: tokens, secrets and citizens' personal data are redacted on the way out.

Code should not log such things in the first place; this filter is the net under that rule.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from bot.text.masking import mask_personal_data

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
    logging.getLogger("slack_sdk").setLevel(max(logging.getLevelName(level), logging.INFO))
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # Alembic narrates every start-up migration check at INFO (a screenful before the playground's address).
    # Kept at DEBUG, where an operator asked for everything.
    numeric = logging.getLevelName(level)
    logging.getLogger("alembic").setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
