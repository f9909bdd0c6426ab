"""The on-call user group (`[emergency] on_call_group`): its members asked of Slack and stored.

A rota changes by the week, and at 3 a.m. the officer on duty must be able to declare: editing the
organisation file and restarting the bot is not how a city hands over a duty. With a Slack user group
(e.g. @koho-oncall) whoever keeps the rota changes it in Slack. Koho asks Slack (`usergroups.users.list`,
scope `usergroups:read`) at start-up, every `SYNC_EVERY_SECONDS`, and when Slack says the group's members
changed (the `subteam_members_changed` event), and stores the answer (`bot.workflows.emergencies.roster`).
When Slack cannot be asked, the members stored last stand, and so does the file's `on_call` list.
"""

from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.db import Database
from bot.organization import Organization
from bot.worker import Repeating
from bot.workflows.emergencies import roster
from bot.workflows.emergencies.roster import RosterCache, RosterChange

log = logging.getLogger(__name__)

SYNC_EVERY_SECONDS = 300.0  # besides the event: a missed event (the app reinstalled, Slack's retries spent)

# Slack's answers that mean "this group cannot be read", and what to do about each.
ADVICE = {
    "no_such_subteam": "no such user group (or it is disabled): check [emergency] on_call_group (its id S…, "
                       "not its @handle) and enable the group in Slack",
    "missing_scope": "the bot may not read user groups: add the usergroups:read scope (manifest.yml) and reinstall "
                     "the app",
    "plan_upgrade_required": "this workspace's Slack plan has no user groups: list the on-call officers in "
                             "[emergency] on_call instead",
}


NOBODY = ("the group has no members and [emergency] on_call lists nobody: nobody could declare an emergency. "
          "Add the officers on duty to the group, or list a few in on_call (they stay on call whatever the group)")


def describe(error: str) -> str:
    return ADVICE.get(error, f"Slack answered {error!r}")


def listed_members(client: WebClient, group_id: str) -> list[str]:
    """The group's members as Slack lists them now. Raises SlackApiError (a refusal) or OSError (unreachable)."""
    return list(client.usergroups_users_list(usergroup=group_id).get("users") or [])


def group_problem(client: WebClient, org: Organization) -> str | None:
    """What keeps the on-call group from being used (`check-config`), or None. Raises OSError when Slack
    cannot be reached."""
    assert org.on_call_group is not None
    try:
        members = listed_members(client, org.on_call_group)
    except SlackApiError as e:
        return describe(str(e.response.get("error") or "unknown_error"))
    if not members and not org.on_call:
        return NOBODY
    return None


class OnCallSync:
    """Asks Slack for the on-call group's members and stores them: `run_once` (start-up, the event) and a
    thread doing it every `every` seconds (`start`). One sync at a time in a process."""

    def __init__(self, client: WebClient, db: Database, clock: Clock, org: Organization, cache: RosterCache,
                 *, every: float = SYNC_EVERY_SECONDS):
        assert org.on_call_group is not None
        self.group_id = org.on_call_group
        self._client = client
        self._db = db
        self._clock = clock
        self._cache = cache
        self._org = org
        self._one_at_a_time = threading.Lock()
        self._repeating = Repeating("on-call-sync", every, self._run_logged, at_once=True)

    def run_once(self) -> RosterChange | None:
        """Ask Slack and store its answer; returns what changed. A refusal is logged as an ERROR (it needs a
        person: advice included), Slack out of reach as a warning; either way the stored members stand."""
        with self._one_at_a_time:
            try:
                members = listed_members(self._client, self.group_id)
            except SlackApiError as e:
                if e.response.status_code == 429 or e.response.status_code >= 500:  # the next sync asks again
                    log.warning("koho: Slack could not list the on-call group %s now (HTTP %s); the members stored "
                                "last stay on call", self.group_id, e.response.status_code)
                    return None
                log.error("koho: cannot read the on-call group %s: %s; the members stored last stay on call",
                          self.group_id, describe(str(e.response.get("error") or "unknown_error")))
                return None
            except OSError as e:
                log.warning("koho: cannot reach Slack for the on-call group %s (%s: %s); the members stored last "
                            "stay on call", self.group_id, type(e).__name__, e)
                return None
            change = roster.store(self._db, self._clock, self.group_id, members)
            self._cache.put(members)
        if not members and not self._org.on_call:
            log.error("koho: on-call group %s: %s", self.group_id, NOBODY)
        if change is not None:
            log.info("koho: on-call group %s: %d came, %d left; %d on call from it now", self.group_id,
                     len(change.added), len(change.removed), len(change.members))
        return change

    def start(self) -> None:
        self._repeating.start()

    def stop(self) -> None:
        self._repeating.stop(timeout=5)

    def _run_logged(self) -> None:
        try:
            self.run_once()
        except Exception:  # the database, say: the next round tries again
            log.exception("koho: syncing the on-call group %s failed; it runs again in %.0f s", self.group_id,
                          self._repeating.interval)
