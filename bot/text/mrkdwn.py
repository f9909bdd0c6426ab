"""Slack mrkdwn safety: untrusted text can neither ping anyone nor disguise a link.

Slack only decodes `&amp;`, `&lt;` and `&gt;`; escaping those three turns `<!channel>`,
`<@U123>` and `<https://evil|city.jp>` into visible, inert text.
"""

from __future__ import annotations

import re

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class Mrkdwn(str):
    """Text already safe for mrkdwn (built by the helpers below); templates pass it through."""


def escape(text: object) -> str:
    return str(text).translate(_ESCAPES)


def mention(user_id: str) -> Mrkdwn:
    """`<@U…>` for a real-looking user id; anything else is shown escaped, never as a ping."""
    if USER_ID.match(user_id or ""):
        return Mrkdwn(f"<@{user_id}>")
    return Mrkdwn(escape(user_id))


def channel_link(channel_id: str) -> Mrkdwn:
    if CHANNEL_ID.match(channel_id or ""):
        return Mrkdwn(f"<#{channel_id}>")
    return Mrkdwn(escape(channel_id))


def link(url: str, label: str | None = None) -> Mrkdwn:
    """A link whose URL cannot break out of `<…|…>`; non-http(s) URLs are shown as text."""
    if not re.match(r"^https?://[^\s<>|]+$", url or ""):
        return Mrkdwn(escape(url))
    if label is None:
        return Mrkdwn(f"<{url}>")
    # `|` and `>` cannot be escaped inside a label; drop them rather than let them end it.
    safe_label = escape(label).replace("|", "｜")
    return Mrkdwn(f"<{url}|{safe_label}>")


def slack_to_plain(text: str) -> str:
    """A Slack message's text as a person reads it: links, mentions and &lt;-escapes undone."""
    text = re.sub(r"<((?:https?|mailto):[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"<((?:https?|mailto):[^>]+)>", r"\1", text)
    text = re.sub(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>", r"@\1", text)
    text = re.sub(r"<#[CG][A-Z0-9]+\|([^>]*)>", r"#\1", text)
    text = re.sub(r"<!(here|channel|everyone)(?:\|[^>]*)?>", r"@\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
