"""Post templates (第一報, 避難情報, …): Jinja2 files that draft a post from the emergency record.

The built-in ones are `bot/templates/<locale>/emergency_posts/<name>.j2`. An organisation replaces any
of them by putting its own `<locale>/<name>.j2` in the directory named by `[emergency] templates_dir`
(docs/emergency.md). The result is the *text of a post* (plain text for citizens, not Slack mrkdwn): it
pre-fills the proposal modal, where a person reads and edits it before it is approved.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from bot.i18n import LOCALES, TEMPLATES_DIR, Translator
from bot.organization import Organization
from bot.workflows.emergencies.rules import TEMPLATES

log = logging.getLogger(__name__)
BUILT_IN = "emergency_posts"


@dataclass(frozen=True)
class PostContext:
    """What a template may use, from the emergency record and the clock."""

    type: str  # an EmergencyType value
    title: str
    areas: str | None
    situation: str | None
    drill: bool
    declared_at: datetime
    now: datetime
    next_update: datetime


@cache
def _environment(directory: str) -> Environment:
    return Environment(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,  # a misspelt variable is an error, not a silent blank in a public post
        autoescape=False,  # noqa: S701 - plain text for a post, never HTML
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _time(moment: datetime, locale: str, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local.hour}時{local:%M}分" if locale == "ja" else f"{local:%H:%M}"


def _date(moment: datetime, locale: str, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local.month}月{local.day}日" if locale == "ja" else f"{local.day} {local:%b}"


def _as_of(moment: datetime, locale: str, tz: ZoneInfo) -> str:
    """The "○時現在" stamp with its date: a post re-shared for days, or written near midnight, stays clear."""
    local = moment.astimezone(tz)
    if locale == "ja":
        return f"{_date(moment, locale, tz)}{_time(moment, locale, tz)}"
    return f"{_time(moment, locale, tz)} {local.tzname()}, {_date(moment, locale, tz)}"


def _next_update(moment: datetime, now: datetime, locale: str, tz: ZoneInfo) -> str:
    """The next update's time, with its date once it falls on another day than the stamp (23:05 -> 翌0:05)."""
    if moment.astimezone(tz).date() == now.astimezone(tz).date():
        return _time(moment, locale, tz)
    if locale == "ja":
        return f"{_date(moment, locale, tz)}{_time(moment, locale, tz)}"
    return f"{_time(moment, locale, tz)}, {_date(moment, locale, tz)}"


def _shown(value: str, locale: str, placeholder: str) -> str:
    """What the officer typed (in Japanese, as a rule), as a draft in `locale` can show it: a Japanese draft
    shows it as it is; another language's shows it if it is ASCII once half-width, else a bracketed placeholder
    the officer replaces ("[what happened]"): no Japanese in the middle of an English sentence, and no guessed
    translation of a public statement."""
    if locale == "ja" or not value:
        return value
    folded = unicodedata.normalize("NFKC", value)
    return folded if folded.isascii() else placeholder


def values_for(context: PostContext, locale: str, org: Organization) -> dict[str, Any]:
    tz = ZoneInfo(org.timezone)
    tr = Translator(locale, org.timezone)
    return {
        "org": org.name if locale == "ja" else org.name_en or _shown(org.name, locale, tr.plain("emergency.post.org")),
        "type": tr.plain(f"emergency.type.{context.type}"),
        "title": _shown(context.title.strip(), locale, tr.plain("emergency.post.title_placeholder")),
        "areas": _shown((context.areas or "").strip(), locale, tr.plain("emergency.post.areas_placeholder")),
        "situation": _shown((context.situation or "").strip(), locale, tr.plain("emergency.post.situation_placeholder")),
        "drill": context.drill,
        "drill_mark": tr.plain("emergency.post.drill_mark") if context.drill else "",
        "date": _date(context.now, locale, tz),
        "time": _time(context.now, locale, tz),
        "as_of": _as_of(context.now, locale, tz),  # "○時現在", dated
        "declared_time": _time(context.declared_at, locale, tz),
        "next_update": _next_update(context.next_update, context.now, locale, tz),
    }


def _render(directory: str, name: str, values: dict[str, Any]) -> str:
    return _environment(directory).get_template(name).render(values).strip()


def render_post(name: str, locale: str, context: PostContext, org: Organization) -> str:
    """The draft text of template `name` in `locale`: the organisation's version if it has one."""
    if name not in TEMPLATES or locale not in LOCALES:
        raise ValueError(f"unknown template {name!r} in {locale!r}")
    values = values_for(context, locale, org)
    override = org.emergency.templates_dir
    if override and (Path(override) / locale / f"{name}.j2").is_file():
        try:
            return _render(override, f"{locale}/{name}.j2", values)
        except TemplateError:
            # A broken edit must not leave the 3 a.m. officer with nothing: fall back to the built-in one.
            log.exception("the organisation's template %s/%s.j2 is broken; using the built-in one", locale, name)
    return _render(str(TEMPLATES_DIR), f"{locale}/{BUILT_IN}/{name}.j2", values)


def check_templates(org: Organization, sample: PostContext) -> list[str]:
    """Problems with the organisation's templates (for docs/emergency.md's "check your edits")."""
    override = org.emergency.templates_dir
    if not override:
        return []
    problems = []
    for locale in LOCALES:
        for name in TEMPLATES:
            path = Path(override) / locale / f"{name}.j2"
            if not path.is_file():
                continue
            try:
                text = _render(override, f"{locale}/{name}.j2", values_for(sample, locale, org))
            except TemplateError as e:
                problems.append(f"{path}: {e}")
                continue
            if not text:
                problems.append(f"{path}: renders as an empty post")
    return problems


def sample_context(now: datetime) -> PostContext:
    """A plausible emergency to render every template with when checking them (check-config, start-up)."""
    return PostContext(type="earthquake", title="市内で震度5強", areas="中央区", situation="10:02 気象庁発表",
                       drill=False, declared_at=now, now=now, next_update=now)


def template_problems(org: Organization, now: datetime) -> list[str]:
    """Every problem with the organisation's own emergency templates, rendered with a sample emergency."""
    return check_templates(org, sample_context(now))
