"""Can the bot post where the organisation file sends its messages? Asked of Slack, not assumed.

A channel the bot was never invited to, or one archived since, is found out otherwise by the first message
sent there: for the emergency channel, that is the night of an earthquake, when the header and checklist of a
declaration fail and nobody is looking at the log. `check-config` asks Slack about every configured channel
(`conversations.info`: needs `channels:read`, and `groups:read` for private channels), and `serve` asks again
at start-up and logs an ERROR for each channel it cannot post in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.delivery import WORKSPACE_ERRORS
from bot.organization import Organization

log = logging.getLogger(__name__)

# Slack's answers that mean "this channel cannot be checked or used", and what to do about each.
_ADVICE = {
    "not_member": "the bot is not a member: invite it there (/invite @Koho)",
    "archived": "the channel is archived: unarchive it, or give the organisation file another channel",
    "channel_not_found": ("not found: a wrong channel id, or a private channel the bot was not invited to "
                          "(/invite @Koho there)"),
    "missing_scope": "the bot may not read channel details: add the channels:read and groups:read scopes "
                     "(manifest.yml) and reinstall the app",
}


@dataclass(frozen=True)
class ChannelProblem:
    channel: str
    uses: tuple[str, ...]  # what the organisation file sends there: "the emergency channel", …
    reason: str  # a key of _ADVICE, or Slack's error code

    def describe(self) -> str:
        advice = _ADVICE.get(self.reason, f"Slack answered {self.reason!r}")
        return f"{self.channel} ({', '.join(self.uses)}): {advice}"


def configured_channels(org: Organization) -> dict[str, tuple[str, ...]]:
    """Every channel the organisation file names, with what it is used for, in the file's order."""
    uses: dict[str, list[str]] = {}
    uses.setdefault(org.emergency_channel, []).append("the emergency channel")
    uses.setdefault(org.pr_office.channel, []).append(f"the channel of {org.pr_office.name}")
    for department in org.departments:
        uses.setdefault(department.channel, []).append(f"the channel of {department.name}")
    return {channel: tuple(what) for channel, what in uses.items()}


def channel_problems(client: WebClient, org: Organization) -> list[ChannelProblem]:
    """The configured channels the bot cannot post in. Raises OSError when Slack cannot be reached, and
    SlackApiError when it refuses the token."""
    problems: list[ChannelProblem] = []
    for channel, uses in configured_channels(org).items():
        try:
            info = client.conversations_info(channel=channel)["channel"]
        except SlackApiError as e:
            reason = str(e.response.get("error") or "unknown_error")
            if reason in WORKSPACE_ERRORS:  # about the token, not the channel: raised, not said per channel
                raise
            problems.append(ChannelProblem(channel, uses, reason))
            if reason == "missing_scope":  # the same answer for every other channel: say it once
                break
            continue
        if info.get("is_archived"):
            problems.append(ChannelProblem(channel, uses, "archived"))
        elif not info.get("is_member", True):
            problems.append(ChannelProblem(channel, uses, "not_member"))
    return problems


def log_channel_problems(client: WebClient, org: Organization) -> None:
    """At start-up, beside serving: one ERROR per channel the bot cannot post in (nothing when all is well)."""
    try:
        problems = channel_problems(client, org)
    except (OSError, SlackApiError) as e:
        log.warning("koho: could not check the configured channels (%s: %s)", type(e).__name__, e)
        return
    for problem in problems:
        log.error("koho: messages to %s will fail: %s", problem.channel, problem.describe())
