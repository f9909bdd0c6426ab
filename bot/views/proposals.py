"""Proposal messages, rendered from the database: approval requests, DMs, publication hand-offs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import object_session

from bot import blocks
from bot.handlers.proposal_ids import ProposalAction
from bot.i18n import Translator
from bot.organization import Organization
from bot.text.mrkdwn import Mrkdwn, link, mention
from bot.text.post_rules import measure
from bot.views import NothingToRender, RenderContext, renders
from bot.workflows.accounts.directory import account_for, account_name
from bot.workflows.proposals.models import ApprovalStep, Proposal, ProposalVersion, Publication
from bot.workflows.proposals.rules import (
    CHECKLIST,
    StepStatus,
    changes_between,
    composed_text,
    on_the_clock,
    withdrawal_refusal,
)
from bot.workflows.proposals.service import (
    CURRENT_VERSION,
    FAST_TRACK_ENDED,
    MOVED_TO_FAST_TRACK,
    step_approvers_of,
    step_message_key,
    steps_awaiting,
)

TITLE_LENGTH = 40


def title_of(text: str) -> str:
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line if len(first_line) <= TITLE_LENGTH else first_line[: TITLE_LENGTH - 1] + "…"


def mentions(user_ids: tuple[str, ...] | list[str]) -> Mrkdwn:
    return Mrkdwn(" ".join(mention(u) for u in user_ids))


def quoted(text: str) -> list[dict[str, Any]]:
    """Untrusted-ish post text shown as a quote, escaped, split to fit Slack's section limit."""
    from bot.text.mrkdwn import escape

    body = "\n".join("&gt; " + escape(line) if line else "&gt;" for line in text.splitlines())
    return blocks.long_text_sections(body)


def department_name(org: Organization, department_id: str) -> str:
    department = org.department(department_id)
    return department.name if department else department_id


def account_lines(tr: Translator, org: Organization, version: ProposalVersion) -> str:
    post = composed_text(version.text, tuple(version.links))
    lines = []
    session = object_session(version)
    for account_id in version.accounts:
        account = account_for(session, org, account_id)
        if account is None:
            continue
        m = measure(post, account.platform)
        platform = tr.plain(f"proposal.platform.{account.platform}")
        if m.limit is None:
            lines.append(tr.t("proposal.request.account_line_unlimited", name=account.name, handle=account.handle,
                              platform=platform))
        else:
            lines.append(tr.t("proposal.request.account_line", name=account.name, handle=account.handle,
                              platform=platform, length=m.length, limit=m.limit))
    return "\n".join([tr.t("proposal.request.accounts"), *lines])


def post_blocks(tr: Translator, org: Organization, version: ProposalVersion, now: datetime) -> list[dict[str, Any]]:
    """The post as it will appear, once, then per account its name and length against its limit. A requested
    time already past when this is rendered says so: approved now, it would go out at once, not then."""
    out = [blocks.section(tr.t("proposal.request.post")), *quoted(composed_text(version.text, tuple(version.links)))]
    out.append(blocks.section(account_lines(tr, org, version)))
    details = []
    if version.links:
        details.append(tr.t("proposal.request.links") + "\n" + "\n".join(link(u) for u in version.links))
    if version.media_description:
        details.append(tr.t("proposal.request.media") + "\n" + _escape(version.media_description))
    if version.publish_at is None:
        details.append(tr.t("proposal.request.publish_now"))
    elif version.publish_at <= now:
        details.append(tr.t("proposal.request.publish_at_passed", when=tr.datetime(version.publish_at)))
    else:
        details.append(tr.t("proposal.request.publish_at", when=tr.datetime(version.publish_at)))
    out.append(blocks.section("\n\n".join(details)))
    return out


def _escape(text: str) -> str:
    from bot.text.mrkdwn import escape

    return escape(text)


def checklist_block(tr: Translator, version: ProposalVersion) -> dict[str, Any]:
    ticked = [item for item in CHECKLIST if item in version.checklist]
    lines = [tr.t("proposal.checklist.all_checked", checked=len(ticked), total=len(CHECKLIST))]
    lines += [(":white_check_mark: " if item in ticked else ":white_large_square: ") + tr.t(f"proposal.checklist.{item}")
              for item in CHECKLIST]
    return blocks.context("\n".join(lines))


def outcome_line(tr: Translator, step: ApprovalStep, proposal: Proposal) -> str:
    if step.status == StepStatus.APPROVED:
        return tr.t("proposal.request.approved", who=mention(step.decided_by), when=tr.datetime(step.decided_at))
    if step.status in (StepStatus.CHANGES_REQUESTED, StepStatus.REJECTED):
        return tr.t(f"proposal.request.{step.status}", who=mention(step.decided_by), when=tr.datetime(step.decided_at),
                    reason=step.reason or "")
    if step.status == StepStatus.WAITING:
        return tr.t("proposal.request.waiting")
    if step.status == StepStatus.CANCELLED and step.reason == MOVED_TO_FAST_TRACK:
        return tr.t("proposal.request.moved_to_fast_track")
    if step.status == StepStatus.CANCELLED and step.reason == FAST_TRACK_ENDED:
        return tr.t("proposal.request.fast_track_ended")
    return tr.t("proposal.request.cancelled", status=tr.plain(f"proposal.status.{proposal.status}"))


@renders("approval_request")
def approval_request(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    step = ctx.session.get(ApprovalStep, ref["step_id"])
    if step is None:
        raise NothingToRender("step gone")
    tr, org, proposal = ctx.tr, ctx.org, step.proposal
    version = next(v for v in proposal.versions if v.number == step.version_number)
    title = title_of(version.text)
    stage = tr.plain(f"proposal.stage.{step.stage}")
    out: list[dict[str, Any]] = [blocks.header(tr.plain("proposal.request.header", stage=stage, title=title))]
    if step.status == StepStatus.PENDING:
        approvers = step_approvers_of(step, org)
        out.append(blocks.section(tr.t("proposal.request.ask", approvers=mentions(approvers))))
    out.append(blocks.context(tr.t(
        "proposal.request.meta", proposer=mention(proposal.proposer), department=department_name(org, proposal.department_id),
        kind=tr.plain(f"proposal.kind.{proposal.kind}"), version=version.number, submitted=tr.datetime(version.created_at),
    )))
    if proposal.corrects_id is not None:
        out += correction_blocks(ctx, proposal, version)
    if version.number > 1:
        out += changes_blocks(tr, proposal, version)
    out += post_blocks(tr, org, version, ctx.now)
    out.append(checklist_block(tr, version))
    out.append(blocks.divider())
    if step.status == StepStatus.PENDING:
        value = str(step.id)
        out.append(blocks.actions(
            blocks.button(tr.plain("proposal.request.approve"), ProposalAction.APPROVE, value, style="primary"),
            blocks.button(tr.plain("proposal.request.request_changes"), ProposalAction.REQUEST_CHANGES, value),
            blocks.button(tr.plain("proposal.request.reject"), ProposalAction.REJECT, value, style="danger"),
            block_id=f"decide:{step.id}",
        ))
    else:
        out.append(blocks.section(outcome_line(tr, step, proposal), block_id=f"outcome:{step.id}"))
    # The fallback text is mrkdwn too (notifications, screen readers): escaped, so a title can never ping.
    return {"text": tr.t("proposal.request.notification", title=title), "blocks": out}


def changes_blocks(tr: Translator, proposal: Proposal, version: ProposalVersion) -> list[dict[str, Any]]:
    previous = next(v for v in proposal.versions if v.number == version.number - 1)
    changed = changes_between(previous, version)
    fields = "、".join if tr.locale == "ja" else ", ".join
    out = [blocks.section(tr.t("proposal.request.changes", previous=previous.number,
                                fields=fields(tr.plain(f"proposal.field.{f}") for f in changed) or "—"))]
    if "text" in changed:
        out.append(blocks.context(tr.t("proposal.request.previous_text", previous=previous.number)))
        out += quoted(previous.text)
    return out


def correction_blocks(ctx: RenderContext, proposal: Proposal, version: ProposalVersion) -> list[dict[str, Any]]:
    """The original and the correction side by side (section fields are Slack's two columns)."""
    tr = ctx.tr
    original = ctx.session.get(Proposal, proposal.corrects_id)
    before = original.version.text if original else ""
    urls = [p.url for p in original.publications if p.url] if original else []
    left = tr.t("proposal.request.correction_original") + "\n" + _escape(before)
    if urls:
        left += "\n" + "\n".join(link(u) for u in urls)
    right = tr.t("proposal.request.correction_new") + "\n" + _escape(version.text)
    out = [{"type": "section", "fields": [blocks.mrkdwn_text(blocks.clip(left, 2000)),
                                          blocks.mrkdwn_text(blocks.clip(right, 2000))]}]
    if original is not None:
        out.append(blocks.section(original_reach(ctx, original)))
    out.append(blocks.section(tr.t("proposal.request.correction_note", note=version.correction_note or "")))
    return out


def original_reach(ctx: RenderContext, original: Proposal) -> str:
    """Where the corrected post is live and, when it is only partly published, where it still waits.

    A correction may be proposed once any account has published the original; the original's other hand-offs
    are its own and stay as they are, so the approvers are told about them.
    """
    tr = ctx.tr

    def names(statuses: tuple[str, ...]) -> list[str]:
        return [account_name(ctx.session, ctx.org, p.account_id) for p in original.publications if p.status in statuses]

    lines = [tr.t("proposal.request.correction_live_on", accounts=names(("published",)))]
    waiting = names(("scheduled", "handed_off", "held"))
    if waiting:
        lines.append(tr.t("proposal.request.correction_not_yet_live", accounts=waiting))
    return "\n".join(lines)


def may_withdraw(status: str, live_on: tuple[str, ...]) -> bool:
    """Whether to offer 取り下げ: not once any account has published the post (the service refuses it anyway)."""
    return withdrawal_refusal(status, live_on) is None


def withdraw_button(tr: Translator, proposal_id: int) -> dict[str, Any]:
    confirm = blocks.confirm_dialog(tr.plain("proposal.dm.withdraw_confirm_title"),
                                    tr.plain("proposal.dm.withdraw_confirm_text"), tr.plain("proposal.dm.withdraw"),
                                    tr.plain("proposal.form.cancel"))
    return blocks.button(tr.plain("proposal.dm.withdraw"), ProposalAction.WITHDRAW, str(proposal_id), confirm=confirm)


@renders("proposal_dm")
def proposal_dm(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    proposal = ctx.session.get(Proposal, ref["proposal_id"])
    if proposal is None:
        raise NothingToRender("proposal gone")
    tr, event = ctx.tr, ref["event"]
    title = title_of(proposal.version.text)
    step = ctx.session.get(ApprovalStep, ref["step_id"]) if ref.get("step_id") else None
    actions: list[dict[str, Any]] = []
    if event == "received":  # the version's first step (rendered after its request is posted, maybe decided since)
        first = step if step is not None else _first_pending_step(ctx, proposal)
        where = _request_link(ctx, tr, first) if first else ""
        text = tr.t("proposal.dm.received", version=ref.get("version", proposal.current_version), title=title,
                    where=where)
        if proposal.status == "pending":
            actions.append(withdraw_button(tr, proposal.id))
    elif event == "step_approved":
        following = next((s for s in proposal.steps if s.version_number == step.version_number
                          and s.position == step.position + 1), None)
        text = tr.t("proposal.dm.step_approved", title=title, stage=tr.plain(f"proposal.stage.{step.stage}"),
                    who=mention(step.decided_by),
                    next=tr.plain(f"proposal.stage.{following.stage}") if following else "—")
        if may_withdraw(proposal.status, proposal.live_on):
            actions.append(withdraw_button(tr, proposal.id))
    elif event == "approved":
        requested, due = proposal.version.publish_at, _first_due(proposal)
        if requested is not None and due is not None and due > requested:  # past when approved: handed off at once
            text = tr.t("proposal.dm.approved_late", title=title, requested=tr.datetime(requested),
                        when=tr.datetime(due))
        else:
            text = tr.t("proposal.dm.approved", title=title,
                        when=tr.datetime(requested) if requested else tr.plain("proposal.dm.approved_now"))
        if may_withdraw(proposal.status, proposal.live_on):  # until any account publishes it, the proposer may still take it back
            actions.append(withdraw_button(tr, proposal.id))
    elif event == "changes_requested":
        text = tr.t("proposal.dm.changes_requested", title=title, who=mention(step.decided_by),
                    reason=step.reason or "", next_version=proposal.current_version + 1)
        if proposal.status == "changes_requested":
            actions.append(blocks.button(tr.plain("proposal.dm.edit"), ProposalAction.EDIT, str(proposal.id),
                                         style="primary"))
            actions.append(withdraw_button(tr, proposal.id))
    elif event == "rejected":
        text = tr.t("proposal.dm.rejected", title=title, who=mention(step.decided_by), reason=step.reason or "")
    elif event == "fast_tracked":
        text = tr.t("proposal.dm.fast_tracked", title=title, where=_request_link(ctx, tr, step) if step else "")
    elif event == "fast_track_left":
        text = tr.t("proposal.dm.fast_track_left", title=title, where=_request_link(ctx, tr, step) if step else "")
    elif event == "published":
        urls = Mrkdwn(" ".join(link(p.url) for p in proposal.publications if p.url))
        text = tr.t("proposal.dm.published", title=title, urls=urls)
    else:
        raise NothingToRender(f"unknown event {event}")
    out = [blocks.section(text)]
    if actions:
        out.append(blocks.actions(*actions, block_id=f"dm:{proposal.id}:{event}"))
    return {"text": text, "blocks": out}


def _first_due(proposal: Proposal) -> datetime | None:
    """When the approved post really goes to its publishers (the requested time, or the approval if later)."""
    return min((p.due_at for p in proposal.publications if p.status != "cancelled"), default=None)


def _first_pending_step(ctx: RenderContext, proposal: Proposal) -> ApprovalStep | None:
    return ctx.session.scalars(
        select(ApprovalStep).where(ApprovalStep.proposal_id == proposal.id, ApprovalStep.status == StepStatus.PENDING)
        .order_by(ApprovalStep.id.desc())
    ).first()


def _request_link(ctx: RenderContext, tr: Translator, step: ApprovalStep) -> Mrkdwn:
    from bot.workflows.proposals.service import step_channel

    url = ctx.permalink(step_message_key(step.id))
    channel = Mrkdwn(f"<#{step_channel(step, ctx.org)}>")
    return Mrkdwn(f"{channel}（{link(url, tr.plain('proposal.dm.link'))}）" if url else channel)


@renders("publication")
def publication(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    item = ctx.session.get(Publication, ref["publication_id"])
    if item is None:
        raise NothingToRender("publication gone")
    tr, org, proposal = ctx.tr, ctx.org, item.proposal
    account = account_for(ctx.session, org, item.account_id)
    name, handle = (account.name, account.handle) if account else (item.account_id, "")
    approvers = [s.decided_by for s in proposal.steps if s.status == StepStatus.APPROVED
                 and s.version_number == proposal.current_version]
    version = proposal.version
    out = [
        blocks.header(tr.plain("proposal.publication.header", account=name)),
        blocks.section(tr.t("proposal.publication.ask", account=name, handle=handle)),
        *quoted(composed_text(version.text, tuple(version.links))),
    ]
    if version.media_description:
        out.append(blocks.section(tr.t("proposal.request.media") + "\n" + _escape(version.media_description)))
    requested = version.publish_at
    if requested is not None and item.due_at > requested:  # approved after the requested time: due at once
        due = tr.t("proposal.publication.due_late", when=tr.datetime(item.due_at), requested=tr.datetime(requested),
                   approvers=mentions(approvers))
    else:
        due = tr.t("proposal.publication.due", when=tr.datetime(item.due_at), approvers=mentions(approvers))
    out.append(blocks.context(due))
    if item.status == "handed_off" and account is not None and account.operators:
        out.append(blocks.context(tr.t("proposal.publication.operators", operators=mentions(account.operators))))
    if item.status == "handed_off":
        out.append(blocks.actions(
            blocks.button(tr.plain("proposal.publication.mark"), ProposalAction.MARK_PUBLISHED, str(item.id),
                          style="primary"),
            block_id=f"publish:{item.id}",
        ))
    elif item.status == "published":
        out.append(blocks.section(tr.t("proposal.publication.published", who=mention(item.published_by),
                                       when=tr.datetime(item.published_at), url=link(item.url or "")),
                                  block_id=f"published:{item.id}"))
        out.append(blocks.actions(
            blocks.button(tr.plain("proposal.publication.correct"), ProposalAction.CORRECT, str(proposal.id)),
            block_id=f"correct:{item.id}",
        ))
    elif item.status == "held":
        out.append(blocks.section(tr.t("proposal.publication.held")))
    else:
        out.append(blocks.section(tr.t("proposal.publication.cancelled")))
    return {"text": tr.t("proposal.publication.notification", account=name), "blocks": out}


@renders("step_reminder")
def step_reminder(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    step = ctx.session.get(ApprovalStep, ref["step_id"])
    if step is None or step.status != StepStatus.PENDING:
        raise NothingToRender("already decided")
    tr, org = ctx.tr, ctx.org
    approvers = mentions(step_approvers_of(step, org))
    if on_the_clock(step.stage, step.proposal.kind):
        text = tr.t("proposal.reminder.reminder_fast", approvers=approvers,
                    minutes=int(org.approval.fast_track_reminder_minutes))
    else:
        text = tr.t("proposal.reminder.reminder", approvers=approvers, hours=_number(org.approval.reminder_hours))
    return {"text": text, "blocks": [blocks.section(text)]}


@renders("step_escalation")
def step_escalation(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    step = ctx.session.get(ApprovalStep, ref["step_id"])
    if step is None or step.status != StepStatus.PENDING:
        raise NothingToRender("already decided")
    tr, org = ctx.tr, ctx.org
    url = ctx.permalink(step_message_key(step.id))
    title = title_of(step.proposal.version.text)
    text = tr.t("proposal.reminder.escalation", approvers=mentions(org.pr_office.approvers),
                department=department_name(org, step.department_id), stage=tr.plain(f"proposal.stage.{step.stage}"),
                link=link(url, title) if url else title, proposer=mention(step.proposal.proposer),
                since=tr.datetime(step.requested_at))
    return {"text": text, "blocks": [blocks.section(text)]}


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _live_on(ctx: RenderContext, proposal_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """`Proposal.live_on` of these proposals, by id, in one statement."""
    live: dict[int, tuple[str, ...]] = {}
    if proposal_ids:
        for proposal_id, account_id in ctx.session.execute(
            select(Publication.proposal_id, Publication.account_id).order_by(Publication.id)
            .where(Publication.proposal_id.in_(proposal_ids), Publication.status == "published")
        ):
            live[proposal_id] = (*live.get(proposal_id, ()), account_id)
    return live


def home_sections(ctx: RenderContext, user_id: str) -> list[dict[str, Any]]:
    """App Home: my proposals, and what waits for my approval — newest first."""
    tr, org = ctx.tr, ctx.org
    # Plain columns, as for the list below (see `steps_awaiting`): not proposals with all they hold.
    mine = ctx.session.execute(
        select(Proposal.id, Proposal.status, Proposal.current_version, Proposal.updated_at, ProposalVersion.text)
        .join(ProposalVersion, CURRENT_VERSION)
        .where(Proposal.proposer == user_id).order_by(Proposal.id.desc()).limit(15)
    ).all()
    live_on = _live_on(ctx, [p.id for p in mine])
    rows = [blocks.section(tr.t("proposal.home.mine_line", id=p.id, title=title_of(p.text),
                                status=tr.plain(f"proposal.status.{p.status}"), version=p.current_version,
                                when=tr.datetime(p.updated_at)),
                           accessory=withdraw_button(tr, p.id) if may_withdraw(p.status, live_on.get(p.id, ())) else None)
            for p in mine]
    out = [
        blocks.actions(blocks.button(tr.plain("proposal.home.new"), ProposalAction.NEW, "home", style="primary"),
                       block_id="home:new"),
        blocks.section(tr.t("proposal.home.awaiting")),
    ]
    awaiting = steps_awaiting(ctx.session, org, user_id, limit=15)
    if not awaiting:
        out.append(blocks.context(tr.t("proposal.home.awaiting_empty")))
    links = ctx.permalinks(step_message_key(step.id) for step in awaiting)
    for step in awaiting:
        url = links.get(step_message_key(step.id))
        line = tr.t("proposal.home.awaiting_line", id=step.proposal_id, title=title_of(step.text),
                    stage=tr.plain(f"proposal.stage.{step.stage}"), proposer=mention(step.proposer),
                    when=tr.datetime(step.requested_at))
        accessory = blocks.button(tr.plain("proposal.home.open_request"), ProposalAction.OPEN_LINK, str(step.id),
                                  url=url) if url else None
        out.append(blocks.section(line, accessory=accessory))
    out.append(blocks.divider())
    out.append(blocks.section(tr.t("proposal.home.mine")))
    out += rows or [blocks.context(tr.t("proposal.home.mine_empty"))]
    return out
