"""People's language: chosen with `/koho language`, else learnt from Slack, else the organisation's."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.clock import Clock
from bot.db import Database, insert_for
from bot.i18n import LOCALES
from bot.models import UserPreference
from bot.workflows import audit

log = logging.getLogger(__name__)
SLACK_LOCALE_FRESH_FOR = timedelta(days=7)
# After a failed look-up nobody's language is asked of Slack for this long: when Slack is slow (the
# day it matters most), each look-up would cost its whole timeout, on every click and in the
# dispatcher before every DM. What is known, else the organisation's language, is used meanwhile.
LOOKUP_PAUSE = timedelta(minutes=1)


class LookupFailed(Exception):
    """Slack could not be asked (a timeout, a refused connection, an error answer). `about_the_person`: Slack
    answered, about this person only (no such user, not visible to the bot): nobody else's look-up waits."""

    def __init__(self, reason: str | None, *, about_the_person: bool = False):
        super().__init__(reason)
        self.about_the_person = about_the_person


# Almost every message is rendered for someone, so what their preference is was read from the
# database for each one (a tenth of the bot's CPU in the ack benchmark). This process keeps what it
# read for a minute: its own writes are seen at once; another process's (a worker's, a second web
# process's `/koho language`) within a minute.
REMEMBERED_FOR = timedelta(minutes=1)


@dataclass(frozen=True)
class _Known:
    """A person's stored preference as read (`locale` None: nothing stored), and when it was read."""

    locale: str | None
    source: str | None
    updated_at: datetime | None
    read_at: datetime


class LocaleResolver:
    def __init__(
        self, db: Database, clock: Clock, default: str, fetch_slack_locale: Callable[[str], str | None]
    ):
        """`fetch_slack_locale`: the locale Slack has for a person, None if it has none; raises
        `LookupFailed` when Slack could not be asked."""
        self.db = db
        self.clock = clock
        self.default = default
        self.fetch_slack_locale = fetch_slack_locale
        self._paused_until: datetime | None = None
        self._known: dict[str, _Known] = {}
        # People Slack has no language for (none set, or an id it does not know): when it last said so. Not
        # asked again for SLACK_LOCALE_FRESH_FOR, so a bad id in a DM does not cost a call on every delivery.
        self._no_slack_locale: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._writes = 0  # a fill that read before a write must not keep what it read

    def locale_for(self, user_id: str | None, *, stale_ok: bool = False) -> str:
        """`stale_ok`: what is known, however old, without asking Slack again; Slack only when nothing is
        known yet (before answering a modal submission, which has 3 seconds)."""
        if not user_id:
            return self.default
        pref = self._preference(user_id)
        if pref.locale is not None and (
            stale_ok or pref.source == "explicit" or self.clock.now() - pref.updated_at < SLACK_LOCALE_FRESH_FOR
        ):
            return pref.locale
        fallback = pref.locale or self.default
        now = self.clock.now()
        paused_until = self._paused_until
        if paused_until is not None and now < paused_until:
            return fallback
        said_none = self._no_slack_locale.get(user_id)
        if said_none is not None and now - said_none < SLACK_LOCALE_FRESH_FOR:
            return fallback
        try:
            fetched = self.fetch_slack_locale(user_id)
        except LookupFailed as e:
            if e.about_the_person:  # Slack works; this id is the trouble: only it is not asked again
                self._no_slack_locale[user_id] = now
                log.warning("Slack has no locale for %s (%s); not asking again for that person for %d days",
                            user_id, e, SLACK_LOCALE_FRESH_FOR.days)
                return fallback
            self._paused_until = now + LOOKUP_PAUSE
            log.warning("could not read the Slack locale of %s (%s); not asking Slack again for %d s",
                        user_id, e, LOOKUP_PAUSE.total_seconds())
            return fallback
        if fetched is None:
            self._no_slack_locale[user_id] = now
            return fallback
        self._store(user_id, fetched, source="slack")
        return fetched

    def cached_locale_for(self, user_id: str | None) -> str:
        """What is known already, however old, else the organisation's: never asks Slack.

        For the moment before `views.open`, when the 3-second trigger_id leaves no time for a call.
        """
        if not user_id:
            return self.default
        return self._preference(user_id).locale or self.default

    def set_explicit(self, user_id: str, locale: str) -> None:
        if locale not in LOCALES:
            raise ValueError(f"unknown locale {locale!r}")
        self._store(user_id, locale, source="explicit")

    def _store(self, user_id: str, locale: str, *, source: str) -> None:
        """Upsert, so two requests learning the same person's locale at once cannot collide."""
        now = self.clock.now()
        with self.db.transaction() as session:
            previous = session.scalar(select(UserPreference.locale).where(UserPreference.user_id == user_id))
            insert = insert_for(session)
            statement = insert(UserPreference).values(user_id=user_id, locale=locale, source=source, updated_at=now)
            statement = statement.on_conflict_do_update(
                index_elements=[UserPreference.user_id],
                set_={"locale": locale, "source": source, "updated_at": now},
                # a person's own choice outranks what Slack says
                where=(UserPreference.source != "explicit") if source == "slack" else None,
            )
            session.execute(statement)
            if source == "explicit":
                audit.record(session, at=now, actor=user_id, action="language.set", subject_type="user",
                             subject_id=user_id, from_state=previous, to_state=locale)
        with self._lock:  # committed: read again (a Slack locale may not have replaced a choice)
            self._writes += 1
            self._known.pop(user_id, None)

    def _preference(self, user_id: str) -> _Known:
        known = self._known.get(user_id)
        if known is not None and self.clock.now() - known.read_at < REMEMBERED_FOR:
            return known
        with self._lock:
            writes = self._writes
        read_at = self.clock.now()
        with self.db.read() as session:
            pref = session.get(UserPreference, user_id)
            known = (_Known(pref.locale, pref.source, pref.updated_at, read_at) if pref is not None
                     else _Known(None, None, None, read_at))
        with self._lock:
            if self._writes == writes:
                self._known[user_id] = known
        return known
