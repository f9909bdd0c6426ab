"""Whose language is what: the look-up's rules (the running bot's side is in test_foundation)."""

from datetime import timedelta

from bot.workflows.preferences import LOOKUP_PAUSE, LocaleResolver, LookupFailed


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
