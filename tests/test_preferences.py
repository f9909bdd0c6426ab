"""Whose language is what: the look-up's rules (the running bot's side is in test_foundation)."""

from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa

from bot.workflows.preferences import LOOKUP_PAUSE, REMEMBERED_FOR, LocaleResolver, LookupFailed


class SlackLocales:
    """A stand-in for users.info: what Slack says per person, or that it cannot be asked."""

    def __init__(self, locales: dict[str, str | None]):
        self.locales = locales
        self.down = False
        self.asked: list[str] = []

    def __call__(self, user_id: str) -> str | None:
        self.asked.append(user_id)
        if self.down:
            raise LookupFailed("timed out")
        return self.locales.get(user_id)


def test_a_failed_look_up_pauses_everyones_for_a_minute_and_known_languages_are_kept(database, clock):
    slack = SlackLocales({"U1": "en", "U2": "en", "U3": "en"})
    locales = LocaleResolver(database, clock, "ja", slack)
    assert locales.locale_for("U1") == "en"
    clock.advance(timedelta(days=8))  # what Slack said about U1 is stale: it would be asked again

    slack.down = True
    assert locales.locale_for("U2") == "ja"  # nothing known: the organisation's language
    assert locales.locale_for("U1") == "en"  # stale, but better than the organisation's
    assert locales.locale_for("U3") == "ja"
    assert slack.asked == ["U1", "U2"]  # one failure, then nobody is asked

    slack.down = False
    clock.advance(LOOKUP_PAUSE - timedelta(seconds=1))
    assert locales.locale_for("U3") == "ja"
    clock.advance(timedelta(seconds=1))
    assert locales.locale_for("U3") == "en"
    assert slack.asked == ["U1", "U2", "U3"]


def test_someone_slack_has_no_language_for_does_not_pause_the_others(database, clock):
    slack = SlackLocales({"U1": None, "U2": "en"})
    locales = LocaleResolver(database, clock, "ja", slack)
    assert locales.locale_for("U1") == "ja"
    assert locales.locale_for("U2") == "en"
    assert slack.asked == ["U1", "U2"]


def counting_statements(database):
    executed = []
    sa.event.listen(database.engine, "before_cursor_execute", lambda *args: executed.append(args[2]))
    return executed


def test_what_was_read_is_kept_for_a_minute_and_this_process_sees_its_own_changes_at_once(database, clock):
    slack = SlackLocales({"U1": "ja"})
    locales = LocaleResolver(database, clock, "ja", slack)
    assert locales.locale_for("U1") == "ja"  # asked of Slack and stored
    executed = counting_statements(database)
    assert [locales.locale_for("U1") for _ in range(5)] == ["ja"] * 5
    assert locales.cached_locale_for("U1") == "ja"
    reads = len(executed)
    assert [locales.locale_for("U1") for _ in range(5)] == ["ja"] * 5
    assert len(executed) == reads  # nothing read again
    assert reads <= 3  # one read (its BEGIN, SELECT and the end of it)

    locales.set_explicit("U1", "en")
    assert locales.locale_for("U1") == "en"  # at once, not after the minute
    assert slack.asked == ["U1"]


def test_another_processs_change_is_seen_within_a_minute(database, clock):
    here = LocaleResolver(database, clock, "ja", SlackLocales({}))
    worker = LocaleResolver(database, clock, "ja", SlackLocales({}))
    assert here.locale_for("U1") == "ja"  # nothing stored: the organisation's
    worker.set_explicit("U1", "en")
    assert here.locale_for("U1") == "ja"
    clock.advance(REMEMBERED_FOR - timedelta(seconds=1))
    assert here.locale_for("U1") == "ja"
    clock.advance(timedelta(seconds=1))
    assert here.locale_for("U1") == "en"


def test_a_change_committed_while_a_read_was_under_way_is_not_covered_by_the_older_read(database, clock):
    locales = LocaleResolver(database, clock, "ja", SlackLocales({}))
    locales.set_explicit("U1", "ja")
    real_read = database.read
    once = []

    @contextmanager
    def read():
        with real_read() as session:
            yield session  # the read of "ja" is done here...
        if not once:
            once.append(True)
            locales.set_explicit("U1", "en")  # ...and someone's choice of English commits before it is kept

    locales.db = SimpleNamespace(read=read, transaction=database.transaction)
    assert locales.locale_for("U1") == "ja"  # what that read saw
    assert locales.locale_for("U1") == "en"  # not kept for a minute
