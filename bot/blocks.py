"""Block Kit building blocks: small functions that keep Slack's limits in one place.

Texts come from `bot.i18n` (already escaped where needed); these only shape them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
BUTTON_TEXT_MAX = 75
OPTION_TEXT_MAX = 75
SELECT_OPTIONS_MAX = 100  # options in a select menu, and in each of its option groups
OPTION_GROUPS_MAX = 100
MODAL_TITLE_MAX = 24
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
# Slack also refuses a message whose blocks hold too much text in all (`msg_blocks_too_long`). The limit is not
# documented; reports put it between 11,341 and 13,297 characters, block containers counted too (bolt-js issues
# #2509, #2867). Koho's messages keep the text of their blocks within this; `fit_message` sees to it.
MESSAGE_TEXT_BUDGET = 9000
# A context element's text: Slack's pages say 2,000 in places and 3,000 in others; the smaller is kept.
CONTEXT_TEXT_MAX = 2000

Block = dict[str, Any]
T = TypeVar("T")


def clip(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_markup(text: str, limit: int) -> str:
    """`clip` for mrkdwn: never inside a link or mention (`<…>`) or an escape (`&amp;`), which would show broken."""
    if len(text) <= limit:
        return text
    kept = text[: limit - 1]
    opened = kept.rfind("<")
    if opened > kept.rfind(">"):
        kept = kept[:opened]
    entity = kept.rfind("&")
    if entity > kept.rfind(";") and len(kept) - entity <= 6:
        kept = kept[:entity]
    return kept + "…"


def plain_text(text: str, limit: int | None = None) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) if limit else text, "emoji": True}


def mrkdwn_text(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def header(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "header", "text": plain_text(text, HEADER_TEXT_MAX)}
    if block_id:
        block["block_id"] = block_id
    return block


def section(text: str, *, block_id: str | None = None, accessory: dict[str, Any] | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn_text(clip(text, SECTION_TEXT_MAX))}
    if block_id:
        block["block_id"] = block_id
    if accessory:
        block["accessory"] = accessory
    return block


def long_text_sections(text: str, *, prefix: str = "") -> list[Block]:
    """A text of any length as as many sections as it needs, split at line ends where possible."""
    blocks: list[Block] = []
    rest = text
    while rest:
        room = SECTION_TEXT_MAX - len(prefix)
        if len(rest) <= room:
            chunk, rest = rest, ""
        else:
            cut = rest.rfind("\n", 0, room)
            cut = cut if cut > room // 2 else room
            chunk, rest = rest[:cut], rest[cut:].lstrip("\n")
        blocks.append(section(prefix + chunk))
    return blocks


def context(*texts: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "context",
                    "elements": [mrkdwn_text(clip_markup(t, CONTEXT_TEXT_MAX)) for t in texts[:CONTEXT_ELEMENTS_MAX]]}
    if block_id:
        block["block_id"] = block_id
    return block


def divider() -> Block:
    return {"type": "divider"}


def button(
    text: str, action_id: str, value: str | None = None, *, style: str | None = None, url: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain_text(text, BUTTON_TEXT_MAX), "action_id": action_id}
    if confirm:
        element["confirm"] = confirm
    if value is not None:
        element["value"] = value
    if style in ("primary", "danger"):
        element["style"] = style
    if url:
        element["url"] = url
    return element


def actions(*elements: dict[str, Any], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def modal(
    *, title: str, blocks: list[Block], callback_id: str | None = None, submit: str | None = None,
    close: str | None = None, private_metadata: str | None = None, external_id: str | None = None,
) -> dict[str, Any]:
    view: dict[str, Any] = {"type": "modal", "title": plain_text(title, MODAL_TITLE_MAX), "blocks": blocks}
    if callback_id:
        view["callback_id"] = callback_id
    if submit:
        view["submit"] = plain_text(submit, MODAL_TITLE_MAX)
    if close:
        view["close"] = plain_text(close, MODAL_TITLE_MAX)
    if private_metadata is not None:
        view["private_metadata"] = private_metadata
    if external_id:
        view["external_id"] = external_id
    return view


def reason_modal(*, title: str, callback_id: str, submit: str, close: str, label: str, block_id: str,
                 metadata: dict[str, Any]) -> dict[str, Any]:
    """A modal asking one thing: why (a rejection, a request for changes). The block and action share an id."""
    element = {"type": "plain_text_input", "action_id": block_id, "multiline": True, "max_length": 2000}
    return modal(title=title, callback_id=callback_id, submit=submit, close=close,
                 private_metadata=json.dumps(metadata), blocks=[input_block(block_id, label, element)])


def confirm_dialog(title: str, text: str, yes: str, no: str) -> dict[str, Any]:
    """Slack's own "are you sure?" dialog on a button."""
    return {"title": plain_text(title, 100), "text": plain_text(text, 300), "confirm": plain_text(yes, 30),
            "deny": plain_text(no, 30), "style": "danger"}


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain_text(text, OPTION_TEXT_MAX), "value": value}


def option_group(label: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    return {"label": plain_text(label, OPTION_TEXT_MAX), "options": options}


def within(items: Sequence[T], limit: int, keep: Callable[[T], bool] = lambda _: False) -> list[T]:
    """At most `limit` of `items`, in their order: those `keep` says first, then the others as room allows."""
    if len(items) <= limit:
        return list(items)
    kept = [n for n, item in enumerate(items) if keep(item)][:limit]
    others = [n for n, item in enumerate(items) if not keep(item)][:limit - len(kept)]
    return [items[n] for n in sorted(kept + others)]


def fit_options(options: list[dict[str, Any]], keep: Collection[str | None] = (),
                limit: int = SELECT_OPTIONS_MAX) -> tuple[list[dict[str, Any]], int]:
    """At most `limit` of `options`, and how many were left out.

    Those whose value is in `keep` (what the select starts with) always stay: Slack refuses an initial option
    that is not among the options.
    """
    shown = within(options, limit, lambda o: o["value"] in keep)
    return shown, len(options) - len(shown)


def input_block(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False,
                hint: str | None = None) -> Block:
    block: Block = {"type": "input", "block_id": block_id, "label": plain_text(label, 2000), "element": element,
                    "optional": optional}
    if hint:
        block["hint"] = plain_text(hint, 2000)
    return block


def text_length(value: Any) -> int:
    """The characters of text in blocks, as `msg_blocks_too_long` is reckoned: every text object's `text`."""
    if isinstance(value, dict):
        return sum(len(v) if key == "text" and isinstance(v, str) else text_length(v) for key, v in value.items())
    if isinstance(value, list):
        return sum(text_length(v) for v in value)
    return 0


def _long_texts(blocks: list[Block]) -> list[dict[str, Any]]:
    """The text objects that may be shortened: of sections (text and fields) and contexts, never buttons or headers."""
    found: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "section":
            found += [t for t in [block.get("text"), *(block.get("fields") or [])] if isinstance(t, dict)]
        elif block.get("type") == "context":
            found += [e for e in block.get("elements") or [] if isinstance(e.get("text"), str)]
    return found


def fit_message(message: dict[str, Any], budget: int = MESSAGE_TEXT_BUDGET) -> dict[str, Any]:
    """`message`, its longest texts shortened until its blocks hold at most `budget` characters of text.

    The last guard before Slack: views that can grow long (a digest, an emergency's summary) shorten their own
    parts first, with a word for what they left out; this only keeps anything else from being refused for good.
    Only section and context texts are cut, the longest first, all to one length; buttons, headers and ids stay.
    """
    shown = message.get("blocks")
    if not isinstance(shown, list) or text_length(shown) <= budget:
        return message
    message = copy.deepcopy(message)
    texts = _long_texts(message["blocks"])
    excess = text_length(message["blocks"]) - budget
    # The one length L at which cutting every longer text down to L removes the excess (a little more: `…`).
    lengths = sorted((len(t["text"]) for t in texts), reverse=True)
    level, removed = lengths[0] if lengths else 0, 0
    for n, length in enumerate(lengths):
        following = lengths[n + 1] if n + 1 < len(lengths) else 0
        if removed + (n + 1) * (length - following) >= excess:
            level = length - -(-(excess - removed) // (n + 1))  # ceiling division
            break
        removed += (n + 1) * (length - following)
        level = following
    for text in texts:
        text["text"] = clip_markup(text["text"], max(level, 1))
    return message
