"""Citizen comments in Slack: the department message, digests and notices, the emergency alert, the
PR office's hiding request, and the modals. Rendered from the database at delivery time.

Only `masked_text` is ever shown; every citizen-supplied value (text, author, handle, URL) goes through
`Translator.t()` (escaped) or `bot.text.mrkdwn` (a checked link), so it can neither ping nor disguise a link.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import object_session

from bot import blocks
from bot.handlers.comment_ids import CommentAction, CommentBlock, CommentCallback
from bot.i18n import Translator
from bot.models import AuditEvent
from bot.organization import Organization
from bot.text import mrkdwn
from bot.text.categories import Category
from bot.text.masking import mask_personal_data, render_placeholders
from bot.views import NothingToRender, RenderContext, renders
from bot.views.proposal_form import account_choices, owner_of
from bot.workflows import audit
from bot.workflows.accounts.directory import account_for
from bot.workflows.comments.digest import URGENT_ESCALATION, URGENT_REMINDER
from bot.workflows.comments.models import Comment, CommentListing, CommentListingItem, HidingRequest
from bot.workflows.comments.rules import (
    ANSWERING_STATUSES,
    FORWARD_SOURCES,
    ON_CALL_ACTIONS,
    OPEN_STATUSES,
    WAITING_STATUSES,
    Action,
    HidingCriterion,
    Status,
    available_actions,
    row_actions,
)

MORE_ACTIONS = "more"  # a listed comment's "…" menu item that opens `more_actions_modal`
SHOWN_TEXT_MAX = 2500  # of a comment's text in its own message (a section holds 3,000)
EXCERPT_MAX = 280  # in a digest row, a notice, a modal
EXCERPT_MIN = 40  # a listing's shortest excerpt: below this a row says too little to act on
LISTING_MORE_ROOM = 200  # kept for the listing's last line ("…and 12 more")
FIELD_MAX = 2000
PLAIN_INPUT_MAX = 3000
DUPLICATES_LISTED = 10  # of an original's duplicates, by number; the rest counted

Block = dict[str, Any]


# -- small pieces ------------------------------------------------------------------------------

def category_label(tr: Translator, category: str) -> str:
    return tr.plain(f"comments.category.{category}")


def status_label(tr: Translator, status: str) -> str:
    return tr.plain(f"comments.status.{status}")


def source_label(tr: Translator, source: str) -> str:
    return tr.plain(f"comments.source.{source}")


def criterion_label(tr: Translator, criterion: str) -> str:
    return tr.plain(f"comments.criterion.{criterion}")


def department_name(org: Organization, department_id: str | None) -> str:
    department = org.department(department_id) if department_id else None
    return department.name if department is not None else org.pr_office.name


def shown_masked(tr: Translator, masked: str) -> str:
    """Masked text with its placeholders in the reader's language ("[電話番号]", "[phone number]")."""
    return render_placeholders(masked, lambda kind: tr.plain(f"comments.placeholder.{kind}"))


def quote(text: str) -> mrkdwn.Mrkdwn:
    """Citizen text as a mrkdwn block quote, escaped line by line."""
    return mrkdwn.Mrkdwn("\n".join(">" + mrkdwn.escape(line) for line in text.splitlines() or [""]))


def excerpt(text: str, limit: int = EXCERPT_MAX) -> str:
    return blocks.clip(" ".join(text.split()), limit)


def _fields(*texts: str) -> Block:
    return {"type": "section", "fields": [blocks.mrkdwn_text(blocks.clip(t, FIELD_MAX)) for t in texts[:10]]}


def _confirm(tr: Translator, title: str, text: str, yes: str) -> dict[str, Any]:
    return blocks.confirm_dialog(tr.plain(title), tr.plain(text), tr.plain(yes), tr.plain("comments.confirm.cancel"))


def _value(comment: Comment) -> str:
    """Button values carry the version the person saw: a click on an outdated message is refused."""
    return f"{comment.id}:{comment.row_version}"


def latest_hiding_request(session: Any, comment_id: int) -> HidingRequest | None:
    return session.scalar(select(HidingRequest).where(HidingRequest.comment_id == comment_id)
                          .order_by(HidingRequest.id.desc()).limit(1))


def _latest_hiding_requests(session: Any, comment_ids: list[int]) -> dict[int, HidingRequest]:
    """The newest hiding request of each comment (one query for a whole listing)."""
    latest: dict[int, HidingRequest] = {}
    for request in session.scalars(select(HidingRequest).where(HidingRequest.comment_id.in_(comment_ids))
                                   .order_by(HidingRequest.id)):
        latest[request.comment_id] = request
    return latest


def edited_at(session: Any, comment_ids: list[int]) -> dict[int, datetime]:
    """When each of these comments was last edited by its sender (`comment.edited` in the audit record)."""
    rows = session.execute(
        select(AuditEvent.subject_id, func.max(AuditEvent.at))
        .where(AuditEvent.subject_type == "comment", AuditEvent.action == "comment.edited",
               AuditEvent.subject_id.in_([str(i) for i in comment_ids]))
        .group_by(AuditEvent.subject_id))
    return {int(subject_id): at for subject_id, at in rows}


def _edited_note(tr: Translator, session: Any, comment: Comment) -> list[str]:
    edited = edited_at(session, [comment.id]).get(comment.id)
    return [tr.t("comments.message.edited", when=tr.datetime(edited))] if edited else []


def _department_options(org: Organization, exclude: str | None, *, value_prefix: str = "") -> list[dict[str, Any]]:
    choices = [(d.id, d.name) for d in org.departments] + [(org.pr_office.id, org.pr_office.name)]
    return [blocks.option(name, f"{value_prefix}{dept_id}") for dept_id, name in choices if dept_id != exclude][:100]


def _category_options(tr: Translator, value_prefix: str = "") -> list[dict[str, Any]]:
    return [blocks.option(category_label(tr, c), f"{value_prefix}{c}") for c in Category]


# -- the department message --------------------------------------------------------------------

def _title(tr: Translator, comment: Comment) -> str:
    key = "comments.message.title_emergency" if comment.category == Category.EMERGENCY else "comments.message.title"
    return tr.t(key, id=comment.id, category=category_label(tr, comment.category))


def _shown_text(tr: Translator, comment: Comment) -> list[Block]:
    text = shown_masked(tr, comment.masked_text)
    shown = [blocks.section(quote(text[:SHOWN_TEXT_MAX]))]
    if len(text) > SHOWN_TEXT_MAX:
        shown.append(blocks.context(tr.t("comments.message.truncated", length=len(text))))
    return shown


def _facts(tr: Translator, org: Organization, comment: Comment) -> Block:
    # The register's account (opened in Slack) or the file's; one named by the sender but known to neither
    # (renamed or removed in the monitoring tool's settings) is shown as unknown, with the id it gave.
    account = account_for(object_session(comment), org, comment.account_id) if comment.account_id else None
    source = source_label(tr, comment.source)
    facts = [
        tr.t("comments.message.received", when=tr.datetime(comment.received_at)),
        tr.t("comments.message.source_account", source=source, account=account.name) if account
        else tr.t("comments.message.source_unknown_account", source=source, account=comment.account_id)
        if comment.account_id else tr.t("comments.message.source", source=source),
    ]
    author, handle = (shown_masked(tr, mask_personal_data(v).text) if v else None
                      for v in (comment.author, comment.author_handle))
    if author and handle:
        facts.append(tr.t("comments.message.author_handle", author=author, handle=handle))
    elif author or handle:
        facts.append(tr.t("comments.message.author", author=author or handle))
    if comment.url:
        # A URL can carry an e-mail address (?mail=…): then it is shown masked, as text, not as a link.
        masked_url = comment.masked_url or ""
        facts.append(tr.t("comments.message.link", link=mrkdwn.link(comment.url) if masked_url == comment.url
                          else shown_masked(tr, masked_url)))
    if comment.department_id:
        facts.append(tr.t("comments.message.department", department=department_name(org, comment.department_id),
                          reason=_reason(tr, org, comment)))
    else:
        facts.append(tr.t("comments.message.department_triage", reason=_reason(tr, org, comment)))
    status = status_label(tr, comment.status)
    if comment.status in WAITING_STATUSES:
        facts.append(tr.t("comments.message.status_due", status=status, due=tr.datetime(comment.ack_due_at)))
    elif comment.status in ANSWERING_STATUSES and comment.answer_due_at:
        facts.append(tr.t("comments.message.status_answer_due", status=status,
                          due=tr.datetime(comment.answer_due_at)))
    else:
        facts.append(tr.t("comments.message.status", status=status))
    return _fields(*facts)


def _reason(tr: Translator, org: Organization, comment: Comment) -> str:
    if comment.routed_reason == "tie":
        joiner = "、" if tr.locale == "ja" else ", "
        scores = joiner.join(f"{department_name(org, d)} {n}" for d, n in sorted(comment.routing_scores.items()))
        return tr.plain("comments.routed.tie", scores=scores)
    return tr.plain(f"comments.routed.{comment.routed_reason}")


def _notes(tr: Translator, org: Organization, comment: Comment, hiding: HidingRequest | None) -> list[str]:
    lines: list[str] = []
    if comment.forwarded_by:
        lines.append(tr.t("comments.message.forwarded_by", who=mrkdwn.mention(comment.forwarded_by)))
    if comment.masked_kinds:
        joiner = "、" if tr.locale == "ja" else ", "
        kinds = joiner.join(tr.plain(f"comments.masked_kind.{k}") for k in dict.fromkeys(comment.masked_kinds))
        lines.append(tr.t("comments.message.masked", kinds=kinds))
    if comment.proposal_id is not None and comment.linked_url:
        lines.append(tr.t("comments.message.linked", proposal_id=comment.proposal_id,
                          url=mrkdwn.link(comment.linked_url)))
    if comment.note and comment.status in (Status.ROUTED, Status.IN_PROGRESS) \
            and comment.routed_reason in ("reassigned", "triage") and comment.reopened_at is None:
        lines.append(tr.t("comments.message.reassigned_note", note=excerpt(comment.note, 500)))
    if comment.acknowledged_at and comment.acknowledged_by and comment.status == Status.IN_PROGRESS:
        lines.append(tr.t("comments.message.acknowledged", who=mrkdwn.mention(comment.acknowledged_by),
                          when=tr.datetime(comment.acknowledged_at)))
    if comment.status == Status.DONE and comment.closed_at:
        lines.append(tr.t("comments.message.done", who=mrkdwn.mention(comment.closed_by or ""),
                          when=tr.datetime(comment.closed_at), note=excerpt(comment.note or "", 500)))
    if comment.status == Status.NO_ACTION and comment.closed_at:
        lines.append(tr.t("comments.message.no_action", who=mrkdwn.mention(comment.closed_by or ""),
                          when=tr.datetime(comment.closed_at)))
    if comment.status == Status.INTERIM and comment.replied_at:
        lines.append(tr.t("comments.message.interim", who=mrkdwn.mention(comment.replied_by or ""),
                          when=tr.datetime(comment.replied_at), note=excerpt(comment.note or "", 500)))
    if comment.status == Status.TRANSFERRED and comment.closed_at:
        lines.append(tr.t("comments.message.transferred", who=mrkdwn.mention(comment.closed_by or ""),
                          when=tr.datetime(comment.closed_at), destination=comment.transferred_to or "",
                          note=excerpt(comment.note or "", 500)))
    if comment.status == Status.DUPLICATE and comment.closed_at:
        lines.append(tr.t("comments.message.duplicate", who=mrkdwn.mention(comment.closed_by or ""),
                          when=tr.datetime(comment.closed_at), original=comment.duplicate_of))
    if comment.status in (Status.IN_PROGRESS, Status.NEW) and comment.reopened_at:
        lines.append(tr.t("comments.message.reopened", who=mrkdwn.mention(comment.reopened_by or ""),
                          when=tr.datetime(comment.reopened_at), note=excerpt(comment.note or "", 500)))
    if comment.status == Status.HIDDEN and comment.closed_at:
        lines.append(tr.t("comments.message.hidden", who=mrkdwn.mention(comment.closed_by or ""),
                          when=tr.datetime(comment.closed_at)))
    if hiding is not None and hiding.status == "pending":
        lines.append(tr.t("comments.message.hiding_pending", criterion=criterion_label(tr, hiding.criterion),
                          who=mrkdwn.mention(hiding.requested_by)))
    elif hiding is not None and hiding.status == "declined" and comment.status != Status.HIDDEN:
        lines.append(tr.t("comments.message.hiding_declined", criterion=criterion_label(tr, hiding.criterion),
                          who=mrkdwn.mention(hiding.decided_by or "")))
    return lines


def has_masked(comment: Comment) -> bool:
    """Whether Slack sees anything of the comment masked (then 原文を表示 is offered)."""
    return bool(comment.masked_kinds) or comment.masked_url != comment.url or any(
        value and mask_personal_data(value).text != value for value in (comment.author, comment.author_handle))


def show_original_button(tr: Translator, comment: Comment) -> dict[str, Any]:
    return blocks.button(tr.plain("comments.button.show_original"), CommentAction.SHOW_ORIGINAL, str(comment.id))


ORIGINAL_TEXT_MAX = 8000  # of the original in the ephemeral message: within Slack's text for one message


def original_message(tr: Translator, comment_id: int, original: dict[str, Any]) -> dict[str, Any]:
    """The unmasked comment, for one entitled person's eyes (ephemeral); still escaped: it pings nobody."""
    text = original.get("text") or ""
    shown: list[Block] = [blocks.section(tr.t("comments.original.title", id=comment_id))]
    shown += blocks.long_text_sections(str(quote(text[:ORIGINAL_TEXT_MAX])))
    if len(text) > ORIGINAL_TEXT_MAX:
        shown.append(blocks.context(tr.t("comments.message.truncated", length=len(text))))
    facts = []
    author = " ".join(v for v in (original.get("author"), original.get("author_handle")) if v)
    if author:
        facts.append(tr.t("comments.original.author", author=author))
    if original.get("url"):
        facts.append(tr.t("comments.original.url", url=original["url"]))
    facts.append(tr.t("comments.original.recorded"))
    shown.append(blocks.context(*facts))
    # Quoting and escaping lengthen the text (`&gt; ` per line): the sections give way if it is still too long.
    return blocks.fit_message({"text": tr.t("comments.original.text", id=comment_id), "blocks": shown})


def _available(comment: Comment, hiding: HidingRequest | None) -> list[Action]:
    return available_actions(comment.status, hiding is not None and hiding.status == "pending")


def _menu_label(tr: Translator, comment: Comment, action: Action) -> str:
    """An action's name in a menu: 担当変更 is 振り分ける while the comment waits for triage."""
    key = "comments.button.triage" if (action is Action.REASSIGN and comment.status == Status.NEW) \
        else _BUTTONS[action][1]
    return tr.plain(key)


_BUTTONS = {
    Action.ACKNOWLEDGE: (CommentAction.ACKNOWLEDGE, "comments.button.acknowledge", "primary"),
    Action.INTERIM_REPLY: (CommentAction.INTERIM_REPLY, "comments.button.interim_reply", None),
    Action.REASSIGN: (CommentAction.REASSIGN, "comments.button.reassign", None),
    Action.DONE: (CommentAction.DONE, "comments.button.done", None),
    Action.NO_ACTION: (CommentAction.NO_ACTION, "comments.button.no_action", None),
    Action.TRANSFER: (CommentAction.TRANSFER, "comments.button.transfer", None),
    Action.DUPLICATE: (CommentAction.DUPLICATE, "comments.button.duplicate", None),
    Action.REOPEN: (CommentAction.REOPEN, "comments.button.reopen", None),
    Action.REQUEST_HIDING: (CommentAction.REQUEST_HIDING, "comments.button.request_hiding", "danger"),
}


def _action_elements(tr: Translator, org: Organization, comment: Comment, hiding: HidingRequest | None) -> list[Block]:
    available = _available(comment, hiding)
    value = _value(comment)
    elements: list[dict[str, Any]] = []
    if comment.status == Status.NEW:
        elements.append({
            "type": "static_select", "action_id": CommentAction.TRIAGE,
            "placeholder": blocks.plain_text(tr.plain("comments.message.triage_placeholder"), 150),
            "options": _department_options(org, None, value_prefix=f"{value}:"),
        })
    for action in available:
        if action is Action.REASSIGN and comment.status == Status.NEW:
            continue  # the department picker does it
        action_id, label, style = _BUTTONS[action]
        button = blocks.button(tr.plain(label), action_id, value, style=style)
        if action is Action.NO_ACTION:
            button["confirm"] = _confirm(tr, "comments.confirm.no_action_title", "comments.confirm.no_action_text",
                                         "comments.confirm.no_action_yes")
        elements.append(button)
    if comment.status in OPEN_STATUSES:
        options = _category_options(tr, value_prefix=f"{value}:")
        elements.append({
            "type": "static_select", "action_id": CommentAction.CATEGORY,
            "placeholder": blocks.plain_text(tr.plain("comments.message.category_placeholder"), 150),
            "options": options,
            "initial_option": next(o for o in options if o["value"].endswith(f":{comment.category}")),
        })
    return [blocks.actions(*elements, block_id=f"comment-actions-{comment.id}")] if elements else []


def _duplicate_links(ctx: RenderContext, comment: Comment) -> list[str]:
    """A duplicate links to its original's message; an original lists its duplicates."""
    tr = ctx.tr
    if comment.status == Status.DUPLICATE and comment.duplicate_of is not None:
        original = ctx.session.get(Comment, comment.duplicate_of)
        link = ctx.permalink(original.message_key) if original is not None and original.message_key else None
        return [mrkdwn.link(link, tr.plain("comments.message.open_original"))] if link else []
    copies = ctx.session.scalars(select(Comment.id).where(Comment.duplicate_of == comment.id,
                                                          Comment.status == str(Status.DUPLICATE))
                                 .order_by(Comment.id)).all()
    if not copies:
        return []
    joiner = "、" if tr.locale == "ja" else ", "
    return [tr.t("comments.message.duplicates", count=len(copies),
                 ids=joiner.join(f"#{i}" for i in copies[:DUPLICATES_LISTED]) + ("…" if len(copies) > DUPLICATES_LISTED else ""))]


@renders("comment")
def comment_message(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    """One comment in its department's channel (or in triage), with what can be done to it now."""
    tr, org = ctx.tr, ctx.org
    comment = ctx.session.get(Comment, ref["comment_id"])
    if comment is None:
        raise NothingToRender(f"comment {ref['comment_id']} is gone")
    current = int(ref.get("assignment", comment.assignment)) == comment.assignment
    hiding = latest_hiding_request(ctx.session, comment.id)
    shown: list[Block] = [blocks.section(_title(tr, comment), block_id=f"comment-{comment.id}"),
                          *_shown_text(tr, comment), _facts(tr, org, comment)]
    if comment.category == Category.EMERGENCY and comment.status in OPEN_STATUSES:
        shown.append(blocks.section(tr.t("comments.emergency.advice")))  # whoever opens it first says it
    notes = _edited_note(tr, ctx.session, comment) + _notes(tr, org, comment, hiding)
    if not current:
        notes.append(tr.t("comments.message.moved", department=department_name(org, comment.department_id),
                          channel=mrkdwn.channel_link(comment.channel), when=tr.datetime(comment.routed_at)))
    elif comment.status == Status.NEW:
        notes.append(tr.t("comments.message.triage"))
    notes += _duplicate_links(ctx, comment)
    if notes:
        shown.append(blocks.context(*notes))
    if has_masked(comment):  # on its own, apart from the workflow's buttons: it changes nothing
        shown.append(blocks.actions(show_original_button(tr, comment), block_id=f"comment-original-{comment.id}"))
    if current:
        shown += _action_elements(tr, org, comment, hiding)
    text = tr.t("comments.message.text", id=comment.id, category=category_label(tr, comment.category),
                excerpt=excerpt(shown_masked(tr, comment.masked_text), 80))
    return {"text": text, "blocks": shown}


# -- digests, reminders, escalations ----------------------------------------------------------

_LISTING_TITLES = {
    "digest": ("comments.listing.digest_title", "comments.listing.digest_intro"),
    "emergency": ("comments.listing.emergency_title", "comments.emergency.advice"),
    "reminder": ("comments.listing.reminder_title", "comments.listing.reminder_intro"),
    "escalation": ("comments.listing.escalation_title", "comments.listing.escalation_intro"),
    URGENT_REMINDER: ("comments.listing.urgent_reminder_title", "comments.listing.urgent_reminder_intro"),
    URGENT_ESCALATION: ("comments.listing.urgent_escalation_title", "comments.listing.urgent_escalation_intro"),
    "answer_reminder": ("comments.listing.answer_reminder_title", "comments.listing.answer_reminder_intro"),
}
# Listings that mention the on-call officers: someone may be in danger.
_ON_CALL_LISTINGS = ("emergency", URGENT_REMINDER, URGENT_ESCALATION)


def _row(ctx: RenderContext, listing: CommentListing, item: CommentListingItem, comment: Comment,
         hiding: HidingRequest | None, excerpt_max: int = EXCERPT_MAX, edited: datetime | None = None) -> Block:
    tr, org = ctx.tr, ctx.org
    values = dict(id=comment.id, category=category_label(tr, comment.category),
                  status=status_label(tr, comment.status), when=tr.datetime(comment.received_at),
                  source=source_label(tr, comment.source))
    show_department = listing.kind in ("escalation", "emergency", URGENT_ESCALATION) or comment.department_id is None
    head = (tr.t("comments.listing.row_department", department=department_name(org, comment.department_id), **values)
            if show_department else tr.t("comments.listing.row", **values))
    lines = [head, quote(excerpt(shown_masked(tr, comment.masked_text), excerpt_max))]
    if edited is not None:
        lines.append(tr.t("comments.listing.edited", when=tr.datetime(edited)))
    current = item.assignment == comment.assignment
    if not current:
        lines.append(tr.t("comments.listing.moved", department=department_name(org, comment.department_id),
                          channel=mrkdwn.channel_link(comment.channel)))
    elif listing.kind != "digest" and comment.message_key:
        # Reminders, escalations and alerts point to where the comment itself is shown.
        link = ctx.permalink(comment.message_key)
        if link:
            lines.append(mrkdwn.link(link, tr.plain("comments.listing.open")))
    accessory = None
    in_menu, more = row_actions(_available(comment, hiding)) if current and listing.kind != "emergency" else ([], [])
    if in_menu:
        options = [blocks.option(_menu_label(tr, comment, action), f"{action}:{_value(comment)}") for action in in_menu]
        if more:
            options.append(blocks.option(tr.plain("comments.button.more"), f"{MORE_ACTIONS}:{_value(comment)}"))
        # Only acknowledging is done in one tap; every other item opens a modal first (対応不要 too).
        accessory = {"type": "overflow", "action_id": CommentAction.ROW_MENU, "options": options}
    elif listing.kind == "emergency" and has_masked(comment):  # an alert's row: the on-call officer may need it
        accessory = show_original_button(tr, comment)
    return blocks.section("\n".join(lines), block_id=f"comment-row-{comment.id}", accessory=accessory)


def listing_message(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    tr, org = ctx.tr, ctx.org
    listing = ctx.session.get(CommentListing, ref["listing_id"])
    if listing is None:
        raise NothingToRender(f"comment listing {ref['listing_id']} is gone")
    rows = ctx.session.execute(
        select(CommentListingItem, Comment).join(Comment, Comment.id == CommentListingItem.comment_id)
        .where(CommentListingItem.listing_id == listing.id).order_by(Comment.id)
    ).all()
    if not rows:
        raise NothingToRender(f"comment listing {listing.id} lists nothing")
    title_key, intro_key = _LISTING_TITLES[listing.kind]
    count = len(rows) + listing.more
    minutes = org.emergency.comment_ack_minutes
    intro = [tr.t(intro_key, minutes=minutes, later=2 * minutes)]
    if listing.kind in _ON_CALL_LISTINGS:
        intro.append(_on_call(tr, org))
    shown: list[Block] = [blocks.header(tr.plain(title_key, count=count)), blocks.context(*intro)]
    hiding = _latest_hiding_requests(ctx.session, [comment.id for _, comment in rows])
    edited = edited_at(ctx.session, [comment.id for _, comment in rows])
    # Forty long comments are more text than Slack takes in one message: each row's excerpt is shortened
    # alike, so that every comment keeps its line, its link and its actions.
    excerpt_max, listed = EXCERPT_MAX, []
    for _ in range(4):
        listed = [_row(ctx, listing, item, comment, hiding.get(comment.id), excerpt_max, edited.get(comment.id))
                  for item, comment in rows]
        excess = blocks.text_length([*shown, *listed]) + LISTING_MORE_ROOM - blocks.MESSAGE_TEXT_BUDGET
        if excess <= 0 or excerpt_max <= EXCERPT_MIN:
            break
        excerpt_max = max(EXCERPT_MIN, excerpt_max - -(-excess // len(rows)) - 1)
    shown += listed
    if listing.more:
        shown.append(blocks.context(tr.t("comments.listing.more", count=listing.more)))
    return {"text": tr.t("comments.listing.text", title=tr.plain(title_key, count=count)), "blocks": shown}


renders("comment_digest")(listing_message)
renders("comment_notice")(listing_message)


# -- the emergency alert and the PR office's hiding request ------------------------------------

def _on_call(tr: Translator, org: Organization) -> str:
    return tr.t("comments.emergency.on_call", people=mrkdwn.Mrkdwn(" ".join(mrkdwn.mention(u) for u in org.on_call_now())))


def _on_call_buttons(tr: Translator, comment: Comment, hiding: HidingRequest | None) -> list[dict[str, Any]]:
    """What an on-call officer may do from the alert (`rules.on_call_may`): the same actions as the
    department's buttons, checked on the server like them."""
    value, shown = _value(comment), []
    for action in (a for a in _available(comment, hiding) if a in ON_CALL_ACTIONS):
        if action is Action.ACKNOWLEDGE:
            shown.append(blocks.button(tr.plain("comments.button.acknowledge"), CommentAction.ACKNOWLEDGE, value,
                                       style="primary"))
        else:  # reassign, also out of triage (a modal asks where to)
            label = "comments.button.triage" if comment.status == Status.NEW else "comments.button.reassign"
            shown.append(blocks.button(tr.plain(label), CommentAction.REASSIGN, value))
    return shown


def _category_changed_by(ctx: RenderContext, comment: Comment) -> str:
    """Who changed the category last, and when (from the audit trail), for an alert that no longer applies."""
    changes = [e for e in audit.events_for(ctx.session, "comment", comment.id) if e.action == "comment.category_changed"]
    if not changes:
        return ""
    return ctx.tr.t("comments.emergency.cleared_by", who=mrkdwn.mention(changes[-1].actor),
                    when=ctx.tr.datetime(changes[-1].at))


@renders("comment_emergency")
def emergency_message(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    """The 緊急 alert in the emergency channel, as the comment is now: where it is, whether anyone has it in
    hand, and — once it is no longer 緊急 — that it no longer is (the alert stays, as a record)."""
    tr, org = ctx.tr, ctx.org
    comment = ctx.session.get(Comment, ref["comment_id"])
    if comment is None:
        raise NothingToRender(f"comment {ref['comment_id']} is gone")
    routed = (tr.t("comments.emergency.routed", department=department_name(org, comment.department_id),
                   channel=mrkdwn.channel_link(comment.channel)) if comment.department_id
              else tr.t("comments.emergency.routed_triage", channel=mrkdwn.channel_link(comment.channel)))
    link = ctx.permalink(comment.message_key) if comment.message_key else None
    if link:
        routed += " " + mrkdwn.link(link, tr.plain("comments.listing.open"))
    hiding = latest_hiding_request(ctx.session, comment.id)
    still = comment.category == Category.EMERGENCY
    if still:
        title = tr.t("comments.emergency.title", id=comment.id)
        said = [blocks.section(tr.t("comments.emergency.advice")), blocks.context(routed, _on_call(tr, org))]
    else:
        title = tr.t("comments.emergency.title_cleared", id=comment.id,
                     category=category_label(tr, comment.category))
        said = [blocks.context(*filter(None, (tr.t("comments.emergency.cleared"), _category_changed_by(ctx, comment),
                                              routed)))]
    shown = [blocks.section(title, block_id=f"comment-emergency-{comment.id}"), *_shown_text(tr, comment),
             _facts(tr, org, comment), *said]
    notes = _edited_note(tr, ctx.session, comment) + _notes(tr, org, comment, hiding)
    if notes:
        shown.append(blocks.context(*notes))
    elements = _on_call_buttons(tr, comment, hiding) if still else []
    if has_masked(comment):
        elements.append(show_original_button(tr, comment))
    if elements:
        shown.append(blocks.actions(*elements, block_id=f"comment-emergency-actions-{comment.id}"))
    text_key = "comments.emergency.text" if still else "comments.emergency.text_cleared"
    return {"text": tr.t(text_key, id=comment.id, excerpt=excerpt(shown_masked(tr, comment.masked_text), 80)),
            "blocks": shown}


@renders("comment_hiding_request")
def hiding_request_message(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    tr, org = ctx.tr, ctx.org
    request = ctx.session.get(HidingRequest, ref["request_id"])
    comment = ctx.session.get(Comment, request.comment_id) if request is not None else None
    if request is None or comment is None:
        raise NothingToRender(f"hiding request {ref['request_id']} is gone")
    shown: list[Block] = [
        blocks.section(tr.t("comments.hiding.title", id=comment.id,
                            department=department_name(org, comment.department_id)),
                       block_id=f"comment-hiding-{request.id}"),
        blocks.section(quote(excerpt(shown_masked(tr, comment.masked_text), 1000))),
        blocks.section(tr.t("comments.hiding.request", who=mrkdwn.mention(request.requested_by),
                            criterion=criterion_label(tr, request.criterion))),
    ]
    if request.note:
        shown.append(blocks.context(tr.t("comments.hiding.note", note=excerpt(request.note, 1000))))
    if request.status == "pending":
        value = f"{request.id}:{request.row_version}"
        confirm = blocks.button(tr.plain("comments.hiding.confirm"), CommentAction.CONFIRM_HIDING, value,
                                style="danger")
        confirm["confirm"] = _confirm(tr, "comments.confirm.hiding_title", "comments.confirm.hiding_text",
                                      "comments.confirm.hiding_yes")
        shown += [blocks.context(tr.t("comments.hiding.pending")),
                  blocks.actions(confirm, blocks.button(tr.plain("comments.hiding.decline"),
                                                        CommentAction.DECLINE_HIDING, value),
                                 block_id=f"comment-hiding-actions-{request.id}")]
    else:
        key = "comments.hiding.confirmed" if request.status == "confirmed" else "comments.hiding.declined"
        shown.append(blocks.context(tr.t(key, who=mrkdwn.mention(request.decided_by or ""),
                                         when=tr.datetime(request.decided_at or ctx.now))))
    return {"text": tr.t("comments.hiding.text", id=comment.id), "blocks": shown}


# -- modals ------------------------------------------------------------------------------------

def _select(tr: Translator, action_id: str, options: list[dict[str, Any]], initial: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "static_select", "action_id": action_id, "options": options,
                               "placeholder": blocks.plain_text(tr.plain("comments.modal.choose"), 150)}
    chosen = next((o for o in options if o["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return element


def forward_modal(tr: Translator, org: Organization, *, accounts: Sequence[Any], text: str = "",
                  metadata: dict[str, Any], category: str | None = None) -> dict[str, Any]:
    """Forward a citizen comment: from a Slack message (prefilled) or typed in (/forward-comment).
    `accounts`: what may be chosen (the register's accounts not withdrawn: `postable_accounts`)."""
    text_element: dict[str, Any] = {"type": "plain_text_input", "action_id": CommentAction.TEXT, "multiline": True,
                                    "max_length": PLAIN_INPUT_MAX}
    if text:
        text_element["initial_value"] = text[:PLAIN_INPUT_MAX]
    sources = [blocks.option(source_label(tr, s), s) for s in FORWARD_SOURCES]
    # Grouped by department past 100 (Slack's limit for one list), as in the proposal form.
    choices, accounts_left_out = account_choices(
        tr, org, [(blocks.option(a.name, a.id), owner_of(a)) for a in accounts], [], None)
    shown: list[Block] = [
        blocks.context(tr.t("comments.modal.forward_intro")),
        blocks.input_block(CommentBlock.TEXT, tr.plain("comments.modal.text_label"), text_element),
        blocks.input_block(CommentBlock.SOURCE, tr.plain("comments.modal.source_label"),
               _select(tr, CommentAction.SOURCE, sources)),
        blocks.input_block(CommentBlock.URL, tr.plain("comments.modal.url_label"),
               {"type": "url_text_input", "action_id": CommentAction.URL}, optional=True),
    ]
    if accounts:
        element = {"type": "static_select", "action_id": CommentAction.ACCOUNT,
                   "placeholder": blocks.plain_text(tr.plain("comments.modal.choose"), 150), **choices}
        shown.append(blocks.input_block(
            CommentBlock.ACCOUNT, tr.plain("comments.modal.account_label"), element, optional=True,
            hint=tr.plain("comments.modal.accounts_not_listed", count=accounts_left_out) if accounts_left_out else None))
    shown += [
        blocks.input_block(CommentBlock.DEPARTMENT, tr.plain("comments.modal.department_label"),
               _select(tr, CommentAction.DEPARTMENT, _department_options(org, None)), optional=True,
               hint=tr.plain("comments.modal.department_hint")),
        blocks.input_block(CommentBlock.CATEGORY, tr.plain("comments.modal.category_label"),
               _select(tr, CommentAction.CATEGORY_INPUT, _category_options(tr), category), optional=True,
               hint=tr.plain("comments.modal.category_hint")),
    ]
    return blocks.modal(title=tr.plain("comments.modal.forward_title"), callback_id=CommentCallback.FORWARD,
                        submit=tr.plain("comments.modal.forward_submit"), close=tr.plain("comments.modal.cancel"),
                        private_metadata=json.dumps(metadata), blocks=shown)


def notice_modal(tr: Translator, title_key: str, *texts: str) -> dict[str, Any]:
    return blocks.modal(title=tr.plain(title_key), callback_id=CommentCallback.FORWARDED,
                        close=tr.plain("comments.modal.close"), blocks=[blocks.section(t) for t in texts])


def forwarded_modal(tr: Translator, org: Organization, *, comment_id: int, department_id: str | None,
                    channel: str, emergency: bool) -> dict[str, Any]:
    if department_id:
        first = tr.t("comments.modal.forwarded", id=comment_id, department=department_name(org, department_id),
                     channel=mrkdwn.channel_link(channel))
    else:
        first = tr.t("comments.modal.forwarded_triage", id=comment_id, channel=mrkdwn.channel_link(channel))
    texts = [first] + ([tr.t("comments.modal.forwarded_emergency")] if emergency else [])
    return notice_modal(tr, "comments.modal.forwarded_title", *texts)


def already_forwarded_modal(tr: Translator, org: Organization, comment: Comment) -> dict[str, Any]:
    return notice_modal(tr, "comments.modal.already_title", tr.t(
        "comments.modal.already", id=comment.id, department=department_name(org, comment.department_id),
        status=status_label(tr, comment.status)))


def _summary(tr: Translator, comment: Comment) -> Block:
    return blocks.section(tr.t("comments.modal.comment_summary", id=comment.id,
                               category=category_label(tr, comment.category),
                               status=status_label(tr, comment.status), excerpt=quote(excerpt(shown_masked(tr, comment.masked_text)))))


def _metadata(comment: Comment) -> str:
    return json.dumps({"comment_id": comment.id, "version": comment.row_version})


def _note_input() -> dict[str, Any]:
    return {"type": "plain_text_input", "action_id": CommentAction.NOTE, "multiline": True, "max_length": FIELD_MAX}


def _step_modal(tr: Translator, comment: Comment, callback_id: str, name: str, *fields: Block,
                note_optional: bool = False) -> dict[str, Any]:
    """A step that asks for a note (and `fields` before it): texts under `comments.modal.<name>_…`."""
    note = blocks.input_block(CommentBlock.NOTE, tr.plain(f"comments.modal.{name}_label"), _note_input(),
                              optional=note_optional, hint=tr.plain(f"comments.modal.{name}_hint"))
    return blocks.modal(
        title=tr.plain(f"comments.modal.{name}_title"), callback_id=callback_id,
        submit=tr.plain(f"comments.modal.{name}_submit"), close=tr.plain("comments.modal.cancel"),
        private_metadata=_metadata(comment), blocks=[_summary(tr, comment), *fields, note],
    )


def done_modal(tr: Translator, comment: Comment) -> dict[str, Any]:
    return _step_modal(tr, comment, CommentCallback.DONE, "done")


def no_action_modal(tr: Translator, comment: Comment) -> dict[str, Any]:
    """対応不要 from a listing's "…" menu: a second step, so one mis-tap closes nothing."""
    return _step_modal(tr, comment, CommentCallback.NO_ACTION, "no_action",
                       blocks.context(tr.t("comments.confirm.no_action_text")), note_optional=True)


def interim_modal(tr: Translator, comment: Comment) -> dict[str, Any]:
    return _step_modal(tr, comment, CommentCallback.INTERIM_REPLY, "interim")


def transfer_modal(tr: Translator, comment: Comment) -> dict[str, Any]:
    destination = {"type": "plain_text_input", "action_id": CommentAction.DESTINATION, "max_length": 200}
    return _step_modal(tr, comment, CommentCallback.TRANSFER, "transfer", blocks.input_block(
        CommentBlock.DESTINATION, tr.plain("comments.modal.transfer_destination_label"), destination,
        hint=tr.plain("comments.modal.transfer_destination_hint")))


def more_actions_modal(tr: Translator, comment: Comment, actions: Sequence[Action]) -> dict[str, Any]:
    """A listed comment's actions that its "…" menu had no room for (the menu's last item opens this)."""
    choices = {"type": "radio_buttons", "action_id": CommentAction.MORE,
               "options": [blocks.option(_menu_label(tr, comment, a), str(a)) for a in actions]}
    return blocks.modal(
        title=tr.plain("comments.modal.more_title"), callback_id=CommentCallback.MORE,
        submit=tr.plain("comments.modal.more_submit"), close=tr.plain("comments.modal.cancel"),
        private_metadata=_metadata(comment),
        blocks=[_summary(tr, comment), blocks.input_block(CommentBlock.MORE, tr.plain("comments.modal.more_label"), choices)],
    )


def duplicate_modal(tr: Translator, comment: Comment) -> dict[str, Any]:
    original = {"type": "plain_text_input", "action_id": CommentAction.ORIGINAL, "max_length": 12}
    return _step_modal(tr, comment, CommentCallback.DUPLICATE, "duplicate", blocks.input_block(
        CommentBlock.ORIGINAL, tr.plain("comments.modal.duplicate_original_label"), original,
        hint=tr.plain("comments.modal.duplicate_original_hint")), note_optional=True)


def reopen_modal(tr: Translator, comment: Comment) -> dict[str, Any]:
    return _step_modal(tr, comment, CommentCallback.REOPEN, "reopen")


def reassign_modal(tr: Translator, org: Organization, comment: Comment) -> dict[str, Any]:
    triage = comment.status == Status.NEW
    note = _note_input()
    return blocks.modal(
        title=tr.plain("comments.modal.triage_title" if triage else "comments.modal.reassign_title"),
        callback_id=CommentCallback.REASSIGN, submit=tr.plain("comments.modal.reassign_submit"),
        close=tr.plain("comments.modal.cancel"), private_metadata=_metadata(comment),
        blocks=[
            _summary(tr, comment),
            blocks.input_block(CommentBlock.DEPARTMENT, tr.plain("comments.modal.reassign_label"),
                   _select(tr, CommentAction.DEPARTMENT, _department_options(org, comment.department_id))),
            blocks.input_block(CommentBlock.NOTE, tr.plain("comments.modal.reassign_note_label"), note, optional=True),
        ],
    )


def hiding_modal(tr: Translator, comment: Comment) -> dict[str, Any]:
    criteria = [blocks.option(criterion_label(tr, c), str(c)) for c in HidingCriterion]
    note = _note_input()
    return blocks.modal(
        title=tr.plain("comments.modal.hiding_title"), callback_id=CommentCallback.REQUEST_HIDING,
        submit=tr.plain("comments.modal.hiding_submit"), close=tr.plain("comments.modal.cancel"),
        private_metadata=_metadata(comment),
        blocks=[
            _summary(tr, comment),
            blocks.context(tr.t("comments.modal.hiding_intro")),
            blocks.input_block(CommentBlock.CRITERION, tr.plain("comments.modal.hiding_criterion_label"),
                   _select(tr, CommentAction.CRITERION, criteria)),
            blocks.input_block(CommentBlock.NOTE, tr.plain("comments.modal.hiding_note_label"), note, optional=True),
        ],
    )
