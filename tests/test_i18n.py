"""Japanese first, English complete: no text exists in one language only."""

import re
from pathlib import Path

import pytest

from bot import i18n
from bot.i18n import LOCALES, Translator, catalog, normalize_locale, template_names
from bot.text.mrkdwn import mention

BOT = Path(__file__).resolve().parent.parent / "bot"
# t("key"), plain("key"), render("file.j2") with a literal first argument anywhere in the bot.
USED_KEY = re.compile(r"""\.(?:t|plain)\(\s*f?["']([a-z0-9_.]+)["']""")
USED_TEMPLATE = re.compile(r"""\.render\(\s*["']([\w/.-]+\.j2)["']""")


def test_every_message_exists_in_every_locale():
    keys = {locale: set(catalog(locale)) for locale in LOCALES}
    for locale in LOCALES:
        missing = keys["ja"] ^ keys[locale]
        assert not missing, f"{locale}: keys not in both catalogs: {sorted(missing)}"


def test_every_template_file_exists_in_every_locale():
    assert template_names("ja") == template_names("en")


def test_every_key_the_code_uses_exists():
    source = "\n".join(p.read_text(encoding="utf-8") for p in BOT.rglob("*.py"))
    used = set(USED_KEY.findall(source))
    assert used, "the pattern found no keys: it is broken"
    unknown = sorted(k for k in used if k not in catalog("ja"))
    assert not unknown, f"keys used in code but missing from the catalogs: {unknown}"
    for name in set(USED_TEMPLATE.findall(source)):
        assert name in template_names("ja"), name


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_renders(locale):
    """Each message renders with made-up values: no syntax errors, no untranslated placeholders."""

    class Anything(str):
        def __getattr__(self, name):
            return Anything("x")

    tr = Translator(locale)
    for key, source in catalog(locale).items():
        names = set(re.findall(r"{{\s*([a-z_]+)", source)) - {"fmt_datetime", "locale"}
        text = tr.t(key, **{n: Anything("x") for n in names})
        assert "{{" not in text and text.strip(), key


def test_values_are_escaped_in_mrkdwn_but_mentions_pass():
    tr = Translator("ja")
    text = tr.t("help.unknown_subcommand", subcommand="<!channel> & <@U123|boss>")
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; &lt;@U123|boss&gt;" in text
    assert tr.plain("help.unknown_subcommand", subcommand="<b>") .count("<b>") == 1
    assert i18n._finalize_mrkdwn(mention("U0PR1")) == "<@U0PR1>"


def test_dates_read_naturally_in_each_language():
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 24, 1, 5, tzinfo=UTC)  # 10:05 in Tokyo
    assert Translator("ja").datetime(moment) == "2026年11月24日(火) 10:05"
    assert Translator("en").datetime(moment) == "Tue 24 Nov 2026 10:05"


@pytest.mark.parametrize(("given", "expected"), [("ja-JP", "ja"), ("en-US", "en"), ("en_GB", "en"),
                                                 ("fr-FR", "ja"), (None, "ja"), ("", "ja")])
def test_slack_locales_map_to_ours(given, expected):
    assert normalize_locale(given) == expected


@pytest.mark.parametrize("locale", LOCALES)
def test_a_message_given_no_values_reads_as_rendering_it_each_time_would(locale):
    # Such messages are rendered once per process (`i18n._constant`); one that needs values still fails.
    from jinja2 import UndefinedError

    tr = Translator(locale)
    constant = 0
    for key in catalog(locale):
        for env, text in (("mrkdwn", tr.t), ("plain", tr.plain)):
            try:
                expected = i18n._compiled(env, locale, key).render(tr._context({}))
            except UndefinedError:
                with pytest.raises(UndefinedError):
                    text(key)
                continue
            constant += 1
            assert text(key) == expected == text(key), key
    assert constant > 100  # labels, buttons, headings
