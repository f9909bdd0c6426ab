"""Every command, callback and action id the bot answers, in one place (the manifest must match)."""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    KOHO = "/koho"
    PROPOSE_POST = "/propose-post"
    FORWARD_COMMENT = "/forward-comment"
    EMERGENCY = "/emergency"


class Callback(StrEnum):
    ERROR_MODAL = "koho_error"


class Action(StrEnum):
    NOOP = "koho_noop"
