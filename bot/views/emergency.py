"""Emergency messages and modals, rendered from the database: the header, the checklist, pages and DMs,
the 定時更新 reminder, `/emergency status`, the summary with its timeline, and the held-post review."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot import blocks
from bot.handlers.emergency_ids import (
    MODE_DRILL,
    MODE_REAL,
    EmergencyAction,
    EmergencyBlock,
    EmergencyCallback,
)
from bot.i18n import LOCALES, Translator
from bot.organization import Organization
from bot.text.mrkdwn import Mrkdwn, channel_link, link, mention
from bot.text.typed_input import ascii_int
from bot.views import NothingToRender, RenderContext, renders
from bot.workflows.accounts.directory import account_name
from bot.workflows.emergencies.models import Emergency, EmergencyStep, HeldPost
from bot.workflows.emergencies.rules import (
    AREAS_MAX,
    CLOSING_NOTE_MAX,
    DEFAULT_CHECKLIST,
    INTERVAL_CHOICES,
    NOTE_MAX,
    SITUATION_MAX,
    TEMPLATES,
    TITLE_MAX,
    EmergencyType,
    HeldStatus,
    Status,
    StepStatus,
)
from bot.workflows.emergencies.service import (
    REVIEW_PAGE_SIZE,
    StatusReport,
    TimelineEntry,
    checklist_key,
    emergency_posts,
    header_key,
    held_rows,
    summary_key,
    timeline,
)
from bot.workflows.proposals.models import Proposal

TITLE_LENGTH = 40
TIMELINE_SECTIONS_MAX = 40  # the summary's other blocks fit in the remaining 10 of Slack's 50
TIMELINE_NOTE_ROOM = 200  # kept for the line saying how many entries were left out


# -- small helpers -----------------------------------------------------------------------------------


def mentions(user_ids: tuple[str, ...] | list[str]) -> Mrkdwn:
    return Mrkdwn(" ".join(mention(u) for u in user_ids))


def type_label(tr: Translator, emergency_type: str) -> str:
    return tr.plain(f"emergency.type.{emergency_type}")


def mode_label(tr: Translator, drill: bool) -> str:
    return tr.plain(f"emergency.mode.{MODE_DRILL if drill else MODE_REAL}")


def step_label(tr: Translator, step: EmergencyStep) -> str:
    return step.label if step.label is not None else tr.plain(f"emergency.step.{step.key}")


def step_number(step: EmergencyStep) -> int:
    """The city's checklist counts from 0 (0. 平時準備); an organisation's own list counts from 1."""
    return step.position if step.key in DEFAULT_CHECKLIST else step.position + 1


def numbered(tr: Translator, step: EmergencyStep) -> str:
    return f"{step_number(step)}. {step_label(tr, step)}"


def post_title(text: str) -> str:
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line if len(first_line) <= TITLE_LENGTH else first_line[: TITLE_LENGTH - 1] + "…"


def short_time(tr: Translator, moment: datetime) -> str:
    """`11/24 10:05` — a timeline spans days, but each line must stay short."""
    local = moment.astimezone(tr.tz)
    return f"{local.month}/{local.day} {local:%H:%M}" if tr.locale == "ja" else f"{local.day} {local:%b %H:%M}"


def clock_time(tr: Translator, moment: datetime) -> str:
    return f"{moment.astimezone(tr.tz):%H:%M}"


def duration(tr: Translator, delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes >= 60:
        return tr.plain("emergency.duration.hours", hours=minutes // 60, minutes=minutes % 60)
    return tr.plain("emergency.duration.minutes", minutes=minutes)


def emergency_name(tr: Translator, emergency: Emergency) -> dict[str, Any]:
    """The values every text naming an emergency uses."""
    return {"id": emergency.id, "type": type_label(tr, emergency.type), "title": emergency.title,
            "mode": mode_label(tr, emergency.drill)}


def draft_value(emergency_id: int, template: str, locale: str) -> str:
    return f"{emergency_id}:{template}:{locale}"


def parse_draft_value(value: str) -> tuple[int, str, str] | None:
    parts = (value or "").split(":")
    emergency_id = ascii_int(parts[0]) if len(parts) == 3 else None
    if emergency_id is None or parts[1] not in TEMPLATES or parts[2] not in LOCALES:
        return None
    return emergency_id, parts[1], parts[2]


def template_menu(tr: Translator, org: Organization, emergency_id: int) -> dict[str, Any]:
    """One menu, two groups: posts in the organisation's language first, then the other one."""
    locales = [org.locale, *[loc for loc in LOCALES if loc != org.locale]]
    groups = [{"label": blocks.plain_text(tr.plain(f"emergency.header.group_{loc}"), 75),
               "options": [blocks.option(tr.plain(f"emergency.template.{name}"), draft_value(emergency_id, name, loc))
                           for name in TEMPLATES]} for loc in locales]
    return {"type": "static_select", "action_id": EmergencyAction.DRAFT, "option_groups": groups,
            "placeholder": blocks.plain_text(tr.plain("emergency.header.draft_placeholder"), 150)}


def _permalink_or_channel(ctx: RenderContext, key: str, label: str) -> Mrkdwn:
    url = ctx.permalink(key)
    channel = channel_link(ctx.org.emergency_channel)
    return Mrkdwn(f"{channel}（{link(url, label)}）" if url and ctx.tr.locale == "ja"
                  else f"{channel} ({link(url, label)})" if url else channel)


def _emergency(ctx: RenderContext, ref: dict[str, Any]) -> Emergency:
    emergency = ctx.session.get(Emergency, ref["emergency_id"])
    if emergency is None:
        raise NothingToRender("emergency gone")
    return emergency


# -- the header message ------------------------------------------------------------------------------


@renders("emergency_header")
def emergency_header(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    e = _emergency(ctx, ref)
    tr, org = ctx.tr, ctx.org
    name = emergency_name(tr, e)
    active = e.status == Status.ACTIVE
    title_key = ("emergency.header.title_ended" if not active
                 else "emergency.header.title_drill" if e.drill else "emergency.header.title")
    facts = [tr.t("emergency.header.facts", type=name["type"], mode=name["mode"], who=mention(e.declared_by),
                  when=tr.datetime(e.declared_at))]
    if e.areas:
        facts.append(tr.t("emergency.header.areas", areas=e.areas))
    if e.situation:
        facts.append(tr.t("emergency.header.situation", situation=e.situation))
    out = [blocks.header(tr.plain(title_key, **name)), blocks.section("\n".join(facts))]
    if active:
        if e.drill:
            out.append(blocks.section(tr.t("emergency.header.drill_effects")))
        else:
            held = ctx.session.scalars(select(HeldPost.id).where(HeldPost.emergency_id == e.id,
                                                                 HeldPost.status == HeldStatus.HELD)).all()
            out.append(blocks.section(tr.t("emergency.header.real_effects", held=len(held))))
        others = [u for u in org.on_call_now() if u != e.declared_by]
        if others:
            out.append(blocks.section(tr.t("emergency.header.page", on_call=mentions(others))))
        if e.next_update_at is not None:
            out.append(blocks.context(tr.t("emergency.header.next_update", when=clock_time(tr, e.next_update_at),
                                           minutes=e.update_interval_minutes)))
        out.append(blocks.actions(
            template_menu(tr, org, e.id),
            blocks.button(tr.plain("emergency.header.status"), EmergencyAction.STATUS, str(e.id)),
            blocks.button(tr.plain("emergency.header.end"), EmergencyAction.END, str(e.id), style="danger"),
            block_id=f"emergency:{e.id}",
        ))
    else:
        url = ctx.permalink(summary_key(e.id))
        summary = link(url, tr.plain("emergency.header.summary_link")) if url else ""
        out.append(blocks.section(tr.t("emergency.header.ended", who=mention(e.ended_by or ""),
                                       when=tr.datetime(e.ended_at), summary=summary)))
    notification = "emergency.header.notification_drill" if e.drill else "emergency.header.notification"
    return {"text": tr.t(notification, **name), "blocks": out}  # mrkdwn: escaped, a title can never ping


# -- the checklist message ---------------------------------------------------------------------------


def step_text(tr: Translator, step: EmergencyStep) -> str:
    label = numbered(tr, step)
    if step.status == StepStatus.DONE:
        lines = [tr.t("emergency.checklist.step_done", step=label, who=mention(step.done_by or ""),
                      when=clock_time(tr, step.done_at))]
    else:
        lines = [tr.t("emergency.checklist.step_open", step=label)]
        if step.label is None:  # the city's checklist: what this step means, for whoever reads it at 3 a.m.
            lines.append(tr.t(f"emergency.step_hint.{step.key}"))
    if step.assignee:
        lines.append(tr.t("emergency.checklist.assignee", who=mention(step.assignee)))
    if step.notes:
        last = step.notes[-1]
        lines.append(tr.t("emergency.checklist.note", note=blocks.clip(last.text, 300), who=mention(last.author),
                          when=clock_time(tr, last.at)))
        if len(step.notes) > 1:
            lines.append(tr.t("emergency.checklist.more_notes", count=len(step.notes) - 1))
    return "\n".join(lines)


def step_actions(tr: Translator, step: EmergencyStep) -> dict[str, Any]:
    value = str(step.id)
    if step.status == StepStatus.DONE:
        tick = blocks.button(tr.plain("emergency.checklist.reopen"), EmergencyAction.STEP_REOPEN, value)
    else:
        tick = blocks.button(tr.plain("emergency.checklist.done"), EmergencyAction.STEP_DONE, value, style="primary")
    assign: dict[str, Any] = {"type": "users_select", "action_id": EmergencyAction.STEP_ASSIGN,
                              "placeholder": blocks.plain_text(tr.plain("emergency.checklist.assign_placeholder"), 150)}
    if step.assignee:
        assign["initial_user"] = step.assignee
    note = blocks.button(tr.plain("emergency.checklist.note_button"), EmergencyAction.STEP_NOTE, value)
    return blocks.actions(tick, assign, note, block_id=f"step_actions:{step.id}")


@renders("emergency_checklist")
def emergency_checklist(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    e = _emergency(ctx, ref)
    tr = ctx.tr
    steps = list(e.steps)
    done = sum(1 for s in steps if s.status == StepStatus.DONE)
    active = e.status == Status.ACTIVE
    out = [
        blocks.header(tr.plain("emergency.checklist.title", id=e.id)),
        blocks.context(tr.t("emergency.checklist.progress" if active else "emergency.checklist.progress_ended",
                            done=done, total=len(steps))),
    ]
    for step in steps:
        out.append(blocks.section(step_text(tr, step), block_id=f"step:{step.id}"))
        if active:
            out.append(step_actions(tr, step))
    return {"text": tr.t("emergency.checklist.notification", id=e.id, done=done, total=len(steps)),
            "blocks": out}


# -- paging and DMs ----------------------------------------------------------------------------------


@renders("emergency_page")
def emergency_page(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    e = _emergency(ctx, ref)
    if e.status != Status.ACTIVE:
        raise NothingToRender("ended before the page went out")
    tr = ctx.tr
    where = _permalink_or_channel(ctx, header_key(e.id), tr.plain("emergency.page.link"))
    text = tr.t("emergency.page.dm", who=mention(e.declared_by), where=where, **emergency_name(tr, e))
    return {"text": text, "blocks": [blocks.section(text)]}


@renders("emergency_assigned_dm")
def emergency_assigned_dm(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    step = ctx.session.get(EmergencyStep, ref["step_id"])
    if step is None or step.emergency.status != Status.ACTIVE or step.assignee != ref.get("to"):
        raise NothingToRender("no longer assigned")
    tr, e = ctx.tr, step.emergency
    where = _permalink_or_channel(ctx, checklist_key(e.id), tr.plain("emergency.assigned.link"))
    text = tr.t("emergency.assigned.dm", who=mention(ref["by"]), step=numbered(tr, step), where=where,
                **emergency_name(tr, e))
    return {"text": text, "blocks": [blocks.section(text)]}


@renders("emergency_held_dm")
def emergency_held_dm(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    proposal = ctx.session.get(Proposal, ref["proposal_id"])
    e = ctx.session.get(Emergency, ref["emergency_id"])
    if proposal is None or e is None:
        raise NothingToRender("gone")
    tr, event = ctx.tr, ref["event"]
    values = {**emergency_name(tr, e), "title": post_title(proposal.version.text)}
    if event == "held":
        text = tr.t("emergency.held.dm_held", **values)
    else:
        row = ctx.session.get(HeldPost, ref["held_id"])
        if row is None:
            raise NothingToRender("gone")
        when = tr.datetime(row.publish_at) if row.publish_at else "—"
        if event == "cancelled_rest":  # it stays where it was published before the emergency
            values["accounts"] = tr.join(account_name(ctx.session, ctx.org, a) for a in proposal.live_on)
        text = tr.t(f"emergency.held.dm_{event}", who=mention(row.decided_by or ""), when=when, **values)
    return {"text": text, "blocks": [blocks.section(text)]}


# -- the PR office's notice --------------------------------------------------------------------------


def held_line(tr: Translator, proposal: Proposal) -> str:
    return tr.t("emergency.held.line", proposal_id=proposal.id, title=post_title(proposal.version.text),
                proposer=mention(proposal.proposer))


@renders("emergency_held_notice")
def emergency_held_notice(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    e = _emergency(ctx, ref)
    tr = ctx.tr
    name = emergency_name(tr, e)
    trigger = ref.get("trigger", "declared")
    proposals = [p for p in (ctx.session.get(Proposal, pid) for pid in ref.get("proposal_ids", [])) if p]
    lines = [tr.t(f"emergency.held.notice_{trigger}", **name)]
    if trigger == "declared":
        lines.append(tr.t("emergency.held.notice_held", count=len(proposals)) if proposals
                     else tr.t("emergency.held.notice_none"))
    out = [blocks.section("\n".join(lines))]
    listed = "\n".join(held_line(tr, p) for p in proposals)
    if listed:
        out += blocks.long_text_sections(listed)[:45]
    return {"text": tr.t("emergency.held.notification", **name), "blocks": out}


# -- the 定時更新 reminder --------------------------------------------------------------------------


@renders("emergency_update_reminder")
def emergency_update_reminder(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    e = _emergency(ctx, ref)
    if e.status != Status.ACTIVE:
        raise NothingToRender("ended before the reminder went out")
    tr, org = ctx.tr, ctx.org
    name = emergency_name(tr, e)
    text = tr.t("emergency.reminder.text", on_call=mentions(org.on_call_now()),
                slot=clock_time(tr, datetime.fromisoformat(ref["slot"])),
                next=clock_time(tr, datetime.fromisoformat(ref["next"])), **name)
    button = blocks.button(tr.plain("emergency.reminder.draft"), EmergencyAction.DRAFT_BUTTON,
                           draft_value(e.id, "timed_update", org.locale), style="primary")
    return {"text": tr.t("emergency.reminder.notification", **name),
            "blocks": [blocks.section(text), blocks.actions(button, block_id=f"reminder:{e.id}:{ref['slot']}")]}


# -- /emergency status (an ephemeral answer, not an outbox view) -------------------------------------


def status_message(ctx: RenderContext, reports: list[StatusReport]) -> dict[str, Any]:
    tr = ctx.tr
    if not reports:
        text = tr.t("emergency.status.none")
        return {"text": text, "blocks": [blocks.section(text)]}
    out: list[dict[str, Any]] = []
    for report in reports[:5]:  # 8 blocks each: five fit in a message
        if out:
            out.append(blocks.divider())
        out += status_blocks(ctx, report)
    return {"text": tr.t("emergency.status.notification", count=len(reports)), "blocks": out}


def status_blocks(ctx: RenderContext, report: StatusReport) -> list[dict[str, Any]]:
    tr, e = ctx.tr, report.emergency
    name = emergency_name(tr, e)
    state = tr.plain(f"emergency.status.state_{e.status}")
    until = e.ended_at or ctx.now
    lines = [tr.t("emergency.status.title", state=state, **name),
             tr.t("emergency.status.since", who=mention(e.declared_by), when=tr.datetime(e.declared_at),
                  elapsed=duration(tr, until - e.declared_at))]
    done = [s for s in report.steps if s.status == StepStatus.DONE]
    open_steps = [s for s in report.steps if s.status != StepStatus.DONE]
    steps = [tr.t("emergency.status.steps", done=len(done), total=len(report.steps))]
    if open_steps:
        joiner = "、" if tr.locale == "ja" else ", "
        steps.append(tr.t("emergency.status.open_steps", steps=joiner.join(numbered(tr, s) for s in open_steps)))
    posts = report.posts
    counted = ("pending", "approved", "published")
    out = [
        blocks.section("\n".join(lines)),
        blocks.section("\n".join(steps)),
        blocks.section(tr.t("emergency.status.posts", pending=posts.get("pending", 0),
                            approved=posts.get("approved", 0), published=posts.get("published", 0),
                            other=sum(n for s, n in posts.items() if s not in counted))),
    ]
    held = [tr.t("emergency.status.held", count=len(report.held))]
    held += [tr.t("emergency.status.held_line", proposal_id=p.id, title=post_title(p.version.text))
             for _, p in report.held[:10]]
    if len(report.held) > 10:
        held.append(tr.t("emergency.status.held_more", count=len(report.held) - 10))
    out.append(blocks.section("\n".join(held)))
    footer = []
    if e.next_update_at is not None:
        footer.append(tr.t("emergency.status.next_update", when=clock_time(tr, e.next_update_at)))
    url = ctx.permalink(header_key(e.id))
    if url:
        footer.append(link(url, tr.plain("emergency.status.link")))
    if footer:
        out.append(blocks.context(*footer))
    return out


def offer_message(ctx: RenderContext, emergencies: list[Emergency]) -> dict[str, Any]:
    """`/emergency` while one is active: its status first, a new declaration only if it is another one."""
    tr = ctx.tr
    out = [blocks.section(tr.t("emergency.command.active_offer"))]
    for e in emergencies[:20]:
        line = tr.t("emergency.command.active_line", who=mention(e.declared_by), when=tr.datetime(e.declared_at),
                    **emergency_name(tr, e))
        out.append(blocks.section(line, block_id=f"offer:{e.id}", accessory=blocks.button(
            tr.plain("emergency.command.open_status"), EmergencyAction.STATUS, str(e.id), style="primary")))
    out.append(blocks.actions(blocks.button(tr.plain("emergency.command.declare_anyway"),
                                            EmergencyAction.DECLARE_ANYWAY, "new"), block_id="offer:new"))
    return {"text": tr.t("emergency.command.active_offer_plain"), "blocks": out}


# -- the summary with its timeline ------------------------------------------------------------------


def timeline_line(tr: Translator, name_account: Callable[[str], str], entry: TimelineEntry,
                  steps: dict[int, EmergencyStep]) -> str:
    """One entry of the summary's timeline; `name_account` names an account (the register's name)."""
    v = entry.values
    values: dict[str, Any] = {"time": short_time(tr, entry.at), "who": mention(entry.actor) if entry.actor else ""}
    if "step" in v:
        step = steps.get(v["step"])
        values["step"] = numbered(tr, step) if step else v.get("step_label") or v.get("step_key") or "—"
    if entry.kind == "declared":
        values["mode"] = tr.plain(f"emergency.mode.{MODE_DRILL if v.get('drill') else MODE_REAL}")
    elif entry.kind == "step_assigned":
        values["assignee"] = mention(v.get("to_state") or "")
    elif entry.kind == "note":
        values["note"] = blocks.clip(str(v.get("note") or ""), 200)
    elif entry.kind == "posts_held":
        values["count"] = len(v.get("proposals") or [])
    elif entry.kind in ("post_submitted", "post_approved", "post_published"):
        values.update(proposal_id=v["proposal_id"], title=post_title(v.get("text") or ""),
                      stage=tr.plain(f"proposal.stage.{v['stage']}") if v.get("stage") else "")
        if entry.kind == "post_published":
            values["url"] = link(v.get("url") or "")
            values["account"] = name_account(v["account"]) if v.get("account") else ""
    elif entry.kind == "comment":
        values["comment_id"] = v["comment_id"]
    elif entry.kind == "ended":
        values["note"] = v.get("reason") or ""
    return tr.t(f"emergency.timeline.{entry.kind}", **values)


@renders("emergency_summary")
def emergency_summary(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    e = _emergency(ctx, ref)
    if e.status != Status.ENDED:
        raise NothingToRender("not ended")
    tr = ctx.tr
    name = emergency_name(tr, e)
    steps = list(e.steps)
    done = [s for s in steps if s.status == StepStatus.DONE]
    open_steps = [s for s in steps if s.status != StepStatus.DONE]
    out = [
        blocks.header(tr.plain("emergency.summary.header", **name)),
        blocks.context(tr.t("emergency.summary.facts", mode=name["mode"], declared_by=mention(e.declared_by),
                            declared_at=tr.datetime(e.declared_at), ended_by=mention(e.ended_by or ""),
                            ended_at=tr.datetime(e.ended_at), duration=duration(tr, e.ended_at - e.declared_at))),
    ]
    if e.closing_note:
        out.append(blocks.section(tr.t("emergency.summary.closing_note", note=blocks.clip(e.closing_note, 2500))))
    facts = [tr.t("emergency.summary.checklist", done=len(done), total=len(steps))]
    if open_steps:
        joiner = "、" if tr.locale == "ja" else ", "
        facts.append(tr.t("emergency.summary.open_steps", steps=joiner.join(numbered(tr, s) for s in open_steps)))
    posts = [p.status for p in emergency_posts(ctx.session, e)]
    facts.append(tr.t("emergency.summary.posts", published=posts.count("published"), approved=posts.count("approved"),
                      pending=posts.count("pending")))
    rows = held_rows(ctx.session, e.id)
    if ref.get("carried_over_to"):
        carried = [h for h, _ in rows if h.status == HeldStatus.CARRIED_OVER]
        facts.append(tr.t("emergency.summary.held_carried", count=len(carried), other=ref["carried_over_to"]))
    elif rows:
        facts.append(tr.t("emergency.summary.held_review", count=len(rows), channel=channel_link(ctx.org.pr_office.channel)))
    elif not e.drill:
        facts.append(tr.t("emergency.summary.held_none"))
    out.append(blocks.section("\n".join(facts)))
    out.append(blocks.section(tr.t("emergency.summary.timeline")))
    by_id = {s.id: s for s in steps}
    name_account = functools.cache(lambda account_id: account_name(ctx.session, ctx.org, account_id))
    lines = [timeline_line(tr, name_account, entry, by_id) for entry in timeline(ctx.session, e)]
    sections = blocks.long_text_sections("\n".join(lines))
    # A long emergency's timeline is more than one message holds (in blocks and in text): its first entries
    # are shown, and how many more the audit record has.
    room = blocks.MESSAGE_TEXT_BUDGET - blocks.text_length(out) - TIMELINE_NOTE_ROOM
    shown: list[dict[str, Any]] = []
    for section in sections[:TIMELINE_SECTIONS_MAX]:
        room -= blocks.text_length(section)
        if room < 0:
            break
        shown.append(section)
    if len(shown) < len(sections):
        hidden = len(lines) - sum(s["text"]["text"].count("\n") + 1 for s in shown)
        shown.append(blocks.context(tr.t("emergency.summary.truncated", count=max(hidden, 1))))
    out += shown
    return {"text": tr.t("emergency.summary.notification", **name), "blocks": out}


# -- the held-post review ----------------------------------------------------------------------------


def review_item(ctx: RenderContext, row: HeldPost, proposal: Proposal) -> list[dict[str, Any]]:
    tr, org = ctx.tr, ctx.org
    version = proposal.version
    accounts = tr.join(account_name(ctx.session, org, a) for a in version.accounts)
    due = min((p.due_at for p in proposal.publications if p.status in ("held", "scheduled", "handed_off")),
              default=version.publish_at)
    line = tr.t("emergency.review.line", proposal_id=proposal.id, title=post_title(version.text),
                proposer=mention(proposal.proposer), accounts=accounts,
                when=tr.datetime(due) if due else tr.plain("emergency.review.asap"))
    if row.status == HeldStatus.HELD and proposal.status == "on_hold":
        if due is not None and due < ctx.now:
            line += "\n" + tr.t("emergency.review.overdue")
        confirm = blocks.confirm_dialog(tr.plain("emergency.review.cancel_confirm_title"),
                                        tr.plain("emergency.review.cancel_confirm_text", title=post_title(version.text)),
                                        tr.plain("emergency.review.cancel_confirm_yes"), tr.plain("emergency.review.keep"))
        return [blocks.section(line, block_id=f"held:{row.id}"), blocks.actions(
            blocks.button(tr.plain("emergency.review.resume"), EmergencyAction.RESUME, str(row.id), style="primary"),
            blocks.button(tr.plain("emergency.review.cancel"), EmergencyAction.CANCEL_HELD, str(row.id),
                          style="danger", confirm=confirm),
            block_id=f"held_actions:{row.id}")]
    if row.status == HeldStatus.RESUMED:
        outcome = tr.t("emergency.review.resumed", who=mention(row.decided_by or ""), when=tr.datetime(row.decided_at),
                       publish_at=tr.datetime(row.publish_at) if row.publish_at else "—")
    elif row.status == HeldStatus.CANCELLED:
        outcome = tr.t("emergency.review.cancelled", who=mention(row.decided_by or ""), when=tr.datetime(row.decided_at))
    elif row.status == HeldStatus.CARRIED_OVER:
        outcome = tr.t("emergency.review.carried_over")
    else:  # still "held" but the proposer withdrew it meanwhile
        outcome = tr.t("emergency.review.withdrawn")
    return [blocks.section(line + "\n" + outcome, block_id=f"held:{row.id}")]


@renders("emergency_review")
def emergency_review(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    e = _emergency(ctx, ref)
    tr = ctx.tr
    rows = held_rows(ctx.session, e.id)
    page = int(ref.get("page", 0))
    pages = max(1, -(-len(rows) // REVIEW_PAGE_SIZE))
    shown = rows[page * REVIEW_PAGE_SIZE:(page + 1) * REVIEW_PAGE_SIZE]
    if not shown:
        raise NothingToRender("no held posts on this page")
    name = emergency_name(tr, e)
    intro = tr.t("emergency.review.intro", **name)
    if pages > 1:
        intro += "\n" + tr.t("emergency.review.page", page=page + 1, pages=pages)
    out = [blocks.header(tr.plain("emergency.review.header", **name)), blocks.section(intro)]
    for row, proposal in shown:
        out += review_item(ctx, row, proposal)
    return {"text": tr.t("emergency.review.notification", **name), "blocks": out}


# -- modals ------------------------------------------------------------------------------------------


def _text_input(action_id: str, max_length: int, *, multiline: bool = False, initial: str = "") -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": action_id, "multiline": multiline,
                               "max_length": max_length}
    if initial:
        element["initial_value"] = initial[:max_length]
    return element


def declare_modal(tr: Translator, org: Organization, *, known: list[int], warning: str | None = None) -> dict[str, Any]:
    """The /emergency modal. `known`: the active emergencies the officer was shown, to catch a duplicate
    declared by a colleague while this modal was open."""
    types = [blocks.option(type_label(tr, t), t) for t in EmergencyType]
    modes = [blocks.option(tr.plain("emergency.form.drill"), MODE_DRILL),
             blocks.option(tr.plain("emergency.form.real"), MODE_REAL)]
    intervals = [blocks.option(tr.plain("emergency.form.interval_option", minutes=m), str(m))
                 for m in sorted({*INTERVAL_CHOICES, org.emergency.update_interval_minutes})]
    default_interval = next(o for o in intervals if o["value"] == str(org.emergency.update_interval_minutes))
    view_blocks = []
    if warning:
        view_blocks.append(blocks.section(warning))
    view_blocks += [
        blocks.section(tr.t("emergency.form.intro")),
        blocks.input_block(EmergencyBlock.TYPE, tr.plain("emergency.form.type"), {
            "type": "static_select", "action_id": EmergencyBlock.TYPE, "options": types,
            "placeholder": blocks.plain_text(tr.plain("emergency.form.type_placeholder"), 150)}),
        blocks.input_block(EmergencyBlock.TITLE, tr.plain("emergency.form.name"), _text_input(EmergencyBlock.TITLE, TITLE_MAX),
                           hint=tr.plain("emergency.form.name_hint")),
        blocks.input_block(EmergencyBlock.AREAS, tr.plain("emergency.form.areas"), _text_input(EmergencyBlock.AREAS, AREAS_MAX),
                           optional=True, hint=tr.plain("emergency.form.areas_hint")),
        blocks.input_block(EmergencyBlock.SITUATION, tr.plain("emergency.form.situation"),
                           _text_input(EmergencyBlock.SITUATION, SITUATION_MAX, multiline=True), optional=True,
                           hint=tr.plain("emergency.form.situation_hint")),
        # No initial choice: a drill declared as real (or the reverse) is the costliest slip; choose it.
        blocks.input_block(EmergencyBlock.MODE, tr.plain("emergency.form.mode"),
                           {"type": "radio_buttons", "action_id": EmergencyBlock.MODE, "options": modes}),
        blocks.input_block(EmergencyBlock.INTERVAL, tr.plain("emergency.form.interval"), {
            "type": "static_select", "action_id": EmergencyBlock.INTERVAL, "options": intervals,
            "initial_option": default_interval}),
    ]
    return blocks.modal(title=tr.plain("emergency.form.title"), callback_id=EmergencyCallback.DECLARE,
                        submit=tr.plain("emergency.form.submit"), close=tr.plain("emergency.form.cancel"),
                        blocks=view_blocks, private_metadata=json.dumps({"known": known}))


def note_modal(tr: Translator, step: EmergencyStep) -> dict[str, Any]:
    return blocks.modal(
        title=tr.plain("emergency.note_modal.title"), callback_id=EmergencyCallback.NOTE,
        submit=tr.plain("emergency.note_modal.submit"), close=tr.plain("emergency.form.cancel"),
        private_metadata=json.dumps({"step_id": step.id}),
        blocks=[blocks.input_block(EmergencyBlock.NOTE, tr.plain("emergency.note_modal.label", step=numbered(tr, step)),
                                   _text_input(EmergencyBlock.NOTE, NOTE_MAX, multiline=True),
                                   hint=tr.plain("emergency.note_modal.hint"))],
    )


def end_modal(tr: Translator, emergencies: list[Emergency], *, chosen: int | None, open_steps: dict[int, int]) -> dict[str, Any]:
    """The confirmation of /emergency end: what ending does, and (with several running) which one."""
    view_blocks = []
    metadata: dict[str, Any] = {}
    if len(emergencies) == 1 or chosen is not None:
        e = next(x for x in emergencies if x.id == chosen) if chosen is not None else emergencies[0]
        metadata["emergency_id"] = e.id
        view_blocks.append(blocks.section(tr.t("emergency.end_modal.intro", **emergency_name(tr, e))))
        if open_steps.get(e.id):
            view_blocks.append(blocks.section(tr.t("emergency.end_modal.open_steps", count=open_steps[e.id])))
    else:
        options = [blocks.option(tr.plain("emergency.end_modal.option", **emergency_name(tr, e)), str(e.id))
                   for e in emergencies[:100]]
        view_blocks.append(blocks.input_block(EmergencyBlock.WHICH, tr.plain("emergency.end_modal.which"), {
            "type": "static_select", "action_id": EmergencyBlock.WHICH, "options": options}))
    view_blocks += [
        blocks.section(tr.t("emergency.end_modal.effects")),
        blocks.context(tr.t("emergency.end_modal.all_clear_hint")),
        blocks.input_block(EmergencyBlock.CLOSING_NOTE, tr.plain("emergency.end_modal.closing_note"),
                           _text_input(EmergencyBlock.CLOSING_NOTE, CLOSING_NOTE_MAX, multiline=True), optional=True),
    ]
    return blocks.modal(title=tr.plain("emergency.end_modal.title"), callback_id=EmergencyCallback.END,
                        submit=tr.plain("emergency.end_modal.submit"), close=tr.plain("emergency.form.cancel"),
                        blocks=view_blocks, private_metadata=json.dumps(metadata))


def resume_modal(tr: Translator, held_id: int, title: str, due: datetime) -> dict[str, Any]:
    return blocks.modal(
        title=tr.plain("emergency.resume_modal.title"), callback_id=EmergencyCallback.RESUME,
        submit=tr.plain("emergency.resume_modal.submit"), close=tr.plain("emergency.form.cancel"),
        private_metadata=json.dumps({"held_id": held_id}),
        blocks=[
            blocks.section(tr.t("emergency.resume_modal.intro", title=title, due=tr.datetime(due))),
            blocks.input_block(EmergencyBlock.PUBLISH_AT, tr.plain("emergency.resume_modal.publish_at"),
                               {"type": "datetimepicker", "action_id": EmergencyBlock.PUBLISH_AT},
                               hint=tr.plain("emergency.resume_modal.hint")),
        ],
    )

