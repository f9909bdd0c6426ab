"""Every sentence a person reads, per locale, from `bot/templates/<locale>/`.

Short texts live in `*.toml` catalogs, one per flow (Jinja2 strings under dotted keys); longer ones are
`*.j2` files beside it. Values put into a template are mrkdwn-escaped unless they are
`Mrkdwn` (a mention or link built by `bot.text.mrkdwn`): citizen text can never ping or
disguise a link, whatever the template does. `plain()` renders for plain_text fields, where
Slack shows characters as they are and nothing needs escaping.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from bot.text import mrkdwn

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
WEEKDAYS = {"ja": "月火水木金土日", "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}


def _finalize_mrkdwn(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, mrkdwn.Mrkdwn):
        return value
    return mrkdwn.escape(value)


def _finalize_plain(value: Any) -> Any:
    return "" if value is None else value


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{full}."))
        else:
            flat[full] = str(value)
    return flat


@cache
def catalog(locale: str) -> dict[str, str]:
    """All `*.toml` catalogs of a locale (one per flow), merged; a key defined twice is an error."""
    merged: dict[str, str] = {}
    for path in sorted((TEMPLATES_DIR / locale).glob("*.toml")):
        with path.open("rb") as f:
            entries = _flatten(tomllib.load(f))
        clash = merged.keys() & entries.keys()
        if clash:
            raise ValueError(f"{path}: keys already defined in another catalog: {sorted(clash)}")
        merged.update(entries)
    return merged


def template_names(locale: str) -> list[str]:
    base = TEMPLATES_DIR / locale
    return sorted(str(p.relative_to(base)) for p in base.rglob("*.j2"))


def _environment(finalize: Any) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=StrictUndefined,
        finalize=finalize,
        autoescape=False,  # noqa: S701 - output is Slack mrkdwn, escaped by `finalize`, not HTML
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(mention=mrkdwn.mention, channel=mrkdwn.channel_link, link=mrkdwn.link)
    return env


_MRKDWN_ENV = _environment(_finalize_mrkdwn)
_PLAIN_ENV = _environment(_finalize_plain)


@cache
def _compiled(env_name: str, locale: str, key: str) -> Template:
    env = _MRKDWN_ENV if env_name == "mrkdwn" else _PLAIN_ENV
    try:
        source = catalog(locale)[key]
    except KeyError:
        raise KeyError(f"no message {key!r} in locale {locale!r}") from None
    return env.from_string(source)


def normalize_locale(value: str | None, default: str = DEFAULT_LOCALE) -> str:
    """Slack's `ja-JP` / `en-US` (or ours, `ja` / `en`) to one of LOCALES."""
    if not value:
        return default
    short = value.replace("_", "-").split("-")[0].lower()
    return short if short in LOCALES else default


class Translator:
    """Texts in one locale. Cheap to create: templates are compiled once per process."""

    def __init__(self, locale: str, timezone: str = "Asia/Tokyo"):
        if locale not in LOCALES:
            raise ValueError(f"unknown locale {locale!r}")
        self.locale = locale
        self.tz = ZoneInfo(timezone)

    def t(self, key: str, **values: Any) -> str:
        """A message for mrkdwn text (values escaped)."""
        if not values:
            return _constant("mrkdwn", self.locale, self.tz.key, key)
        return _compiled("mrkdwn", self.locale, key).render(self._context(values))

    def plain(self, key: str, **values: Any) -> str:
        """A message for plain_text fields (modal titles, buttons, options)."""
        if not values:
            return _constant("plain", self.locale, self.tz.key, key)
        return _compiled("plain", self.locale, key).render(self._context(values))

    def render(self, name: str, **values: Any) -> str:
        """A longer mrkdwn text from `<locale>/<name>`."""
        return _MRKDWN_ENV.get_template(f"{self.locale}/{name}").render(self._context(values)).strip()

    def join(self, items: Any) -> str:
        """A list as this locale writes one: 「環境局、建設局」 / "Environment, Construction"."""
        return ("、" if self.locale == "ja" else ", ").join(items)

    def datetime(self, value: datetime) -> str:
        """A moment in the organisation's time zone, the way people write it in this locale."""
        local = value.astimezone(self.tz)
        weekday = WEEKDAYS[self.locale][local.weekday()]
        if self.locale == "ja":
            return f"{local.year}年{local.month}月{local.day}日({weekday}) {local:%H:%M}"
        return f"{weekday} {local.day} {local:%b %Y %H:%M}"

    def _context(self, values: dict[str, Any]) -> dict[str, Any]:
        return {"locale": self.locale, "fmt_datetime": self.datetime, **values}


@cache
def _constant(env_name: str, locale: str, timezone: str, key: str) -> str:
    """A message given no values reads the same every time (a label, a button): rendered once per process.
    Most of a form's or an App Home's texts are such; rendering each again was most of building the
    `/propose-post` form (0.27 ms of Jinja contexts, 34 labels)."""
    return _compiled(env_name, locale, key).render(Translator(locale, timezone)._context({}))
