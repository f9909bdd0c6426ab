"""Rendering of the account register: the list, the add/edit modal, change requests, reviews, reports,
the report's chart, and the PR office's App Home sections."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import func, select

from bot import blocks
from bot.handlers.account_ids import AccountAction, AccountBlock, AccountCallback
from bot.i18n import Translator
from bot.organization import ACCOUNT_KINDS, ACCOUNT_LINE_MAX, PLATFORMS, Organization
from bot.text.mrkdwn import Mrkdwn, link, mention
from bot.views import NothingToRender, RenderContext, renders
from bot.workflows.accounts.chart import weekly_chart
from bot.workflows.accounts.models import AccountChange, AccountReview, RegisterAccount, Report
from bot.workflows.accounts.report import Figures, PostFigures, figures
from bot.workflows.accounts.rules import TEXT_FIELD_MAX, AccountStatus, ChangeKind, ChangeStatus, ReviewStatus
from bot.workflows.accounts.service import Activity, account_warnings
from bot.workflows.comments.models import Comment
from bot.workflows.comments.rules import Status as CommentStatus
from bot.workflows.emergencies.models import Emergency
from bot.workflows.proposals.models import ApprovalStep
from bot.workflows.proposals.rules import StepStatus
from bot.workflows.proposals.service import step_message_key

LIST_MAX = 40  # accounts listed in one message (2 blocks each, 50 blocks a message)


def department_name(org: Organization, department_id: str | None) -> str:
    department = org.department(department_id or "")
    return department.name if department else (department_id or "—")


def _join(tr: Translator, items: Any) -> str:
    return ("、" if tr.locale == "ja" else ", ").join(items)


def _people(user_ids: list[str] | None) -> Mrkdwn:
    return Mrkdwn(" ".join(mention(u) for u in user_ids or []) or "—")  # each mention is safe already


def _date(tr: Translator, value: date | None) -> str:
    if value is None:
        return tr.plain("accounts.never")
    return f"{value.year}年{value.month}月{value.day}日" if tr.locale == "ja" else value.isoformat()


# -- the list ----------------------------------------------------------------------------------


def account_line(tr: Translator, org: Organization, account: RegisterAccount, act: Activity | None,
                 today: date) -> str:
    act = act or Activity(0, None)
    last = tr.datetime(act.last_post_at) if act.last_post_at else tr.plain("accounts.never")
    lines = [tr.t("accounts.list.line", name=account.name, platform=tr.plain(f"proposal.platform.{account.platform}"),
                  handle=account.handle, kind=tr.plain(f"accounts.kind.{account.kind}"),
                  status=tr.plain(f"accounts.status.{account.status}"),
                  department=department_name(org, account.department_id), last=last, posts=act.posts,
                  days=org.register.inactive_days, operators=_people(account.operators))]
    found = account_warnings(account, org, today)
    if found:
        lines.append(tr.t("accounts.list.warnings", warnings=warning_text(tr, org, found)))
    return "\n".join(lines)


def warning_labels(tr: Translator, org: Organization, found: list[str]) -> list[str]:
    days = {"password": org.register.password_max_days, "review": org.register.review_max_days}
    return [tr.plain(f"accounts.warning.{w}", days=days.get(w, 0)) for w in found]


def warning_text(tr: Translator, org: Organization, found: list[str]) -> str:
    return _join(tr, warning_labels(tr, org, found))


def account_list(tr: Translator, org: Organization, accounts: list[RegisterAccount], seen: dict[str, Activity],
                 today: date, *, manage: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [blocks.header(tr.plain("accounts.list.title"))]
    if not accounts:
        out.append(blocks.context(tr.t("accounts.list.empty")))
    for account in accounts[:LIST_MAX]:
        accessory = None
        if manage and account.status != AccountStatus.WITHDRAWN:
            accessory = blocks.button(tr.plain("accounts.button.edit"), AccountAction.EDIT, account.id)
        out.append(blocks.section(account_line(tr, org, account, seen.get(account.id), today),
                                  block_id=f"account:{account.id}", accessory=accessory))
    if len(accounts) > LIST_MAX:
        out.append(blocks.context(tr.t("accounts.list.more", count=len(accounts) - LIST_MAX)))
    if manage:
        out.append(blocks.actions(blocks.button(tr.plain("accounts.button.add"), AccountAction.ADD, "add",
                                                style="primary"), block_id="accounts:add"))
    return out


# -- the modal ---------------------------------------------------------------------------------


def _text_input(block_id: str, label: str, value: str | None, *, optional: bool = True, multiline: bool = False,
                max_length: int = ACCOUNT_LINE_MAX, url: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "url_text_input" if url else "plain_text_input", "action_id": block_id}
    if not url:
        element["max_length"] = max_length
        element["multiline"] = multiline
    if value:
        element["initial_value"] = value
    return blocks.input_block(block_id, label, element, optional=optional)


def _select(tr: Translator, block_id: str, label: str, options: list[dict[str, Any]],
            value: str | None) -> dict[str, Any]:
    shown, left_out = blocks.fit_options(options, keep=[value])  # the account's own value always among them
    element: dict[str, Any] = {"type": "static_select", "action_id": block_id, "options": shown}
    initial = next((o for o in shown if o["value"] == value), None)
    if initial:
        element["initial_option"] = initial
    hint = tr.plain("accounts.form.not_listed", count=left_out) if left_out else None
    return blocks.input_block(block_id, label, element, hint=hint)


def account_form(tr: Translator, org: Organization, account: RegisterAccount | None) -> dict[str, Any]:
    """Add (account None) or edit one account. Changing the department makes it a hand-over request."""
    new = account is None
    f = account
    view_blocks: list[dict[str, Any]] = [blocks.context(tr.t("accounts.form.intro_new" if new
                                                             else "accounts.form.intro_edit"))]
    if new:
        view_blocks.append(_text_input(AccountBlock.ACCOUNT_ID, tr.plain("accounts.field.account_id"), None,
                                       optional=False, max_length=64))
    platforms = [blocks.option(tr.plain(f"proposal.platform.{p}"), p) for p in PLATFORMS]
    kinds = [blocks.option(tr.plain(f"accounts.kind.{k}"), k) for k in ACCOUNT_KINDS]
    departments = [blocks.option(d.name, d.id) for d in (org.pr_office, *org.departments)]
    view_blocks += [
        _select(tr, AccountBlock.PLATFORM, tr.plain("accounts.field.platform"), platforms, f.platform if f else None),
        _text_input(AccountBlock.NAME, tr.plain("accounts.field.name"), f.name if f else None, optional=False),
        _text_input(AccountBlock.HANDLE, tr.plain("accounts.field.handle"), f.handle if f else None, optional=False),
        _text_input(AccountBlock.URL, tr.plain("accounts.field.url"), f.url if f else None, url=True),
        _select(tr, AccountBlock.KIND, tr.plain("accounts.field.kind"), kinds, f.kind if f else "subject"),
        _select(tr, AccountBlock.DEPARTMENT, tr.plain("accounts.field.department_id"), departments,
                f.department_id if f else None),
    ]
    manager: dict[str, Any] = {"type": "users_select", "action_id": AccountBlock.MANAGER}
    if f and f.manager:
        manager["initial_user"] = f.manager
    operators: dict[str, Any] = {"type": "multi_users_select", "action_id": AccountBlock.OPERATORS}
    if f and f.operators:
        operators["initial_users"] = list(f.operators)
    password: dict[str, Any] = {"type": "datepicker", "action_id": AccountBlock.PASSWORD_CHANGED}
    if f and f.password_changed_on:
        password["initial_date"] = f.password_changed_on.isoformat()
    view_blocks += [
        blocks.input_block(AccountBlock.MANAGER, tr.plain("accounts.field.manager"), manager, optional=True),
        blocks.input_block(AccountBlock.OPERATORS, tr.plain("accounts.field.operators"), operators, optional=True,
                           hint=tr.plain("accounts.form.operators_hint")),
        _text_input(AccountBlock.PURPOSE, tr.plain("accounts.field.purpose"), f.purpose if f else None,
                    multiline=True, max_length=TEXT_FIELD_MAX),
        _text_input(AccountBlock.AUDIENCE, tr.plain("accounts.field.audience"), f.audience if f else None,
                    max_length=TEXT_FIELD_MAX),
        _text_input(AccountBlock.POSTING_HOURS, tr.plain("accounts.field.posting_hours"),
                    f.posting_hours if f else None),
        _text_input(AccountBlock.POLICY_URL, tr.plain("accounts.field.policy_url"), f.policy_url if f else None,
                    url=True),
        blocks.input_block(AccountBlock.PASSWORD_CHANGED, tr.plain("accounts.field.password_changed_on"), password,
                           optional=True),
    ]
    metadata = {"mode": "new"} if new else {"mode": "edit", "account_id": f.id, "row_version": f.row_version}
    return blocks.modal(
        title=tr.plain("accounts.form.title_new" if new else "accounts.form.title_edit"),
        callback_id=AccountCallback.FORM, submit=tr.plain("accounts.form.submit_new" if new
                                                           else "accounts.form.submit_edit"),
        close=tr.plain("accounts.form.cancel"), private_metadata=json.dumps(metadata), blocks=view_blocks,
    )


# -- change requests ---------------------------------------------------------------------------


def _payload_lines(tr: Translator, org: Organization, payload: dict[str, Any]) -> str:
    lines = []
    for name, value in payload.items():
        if value in (None, "", []):
            continue
        if name == "department_id":
            shown: Any = department_name(org, value)
        elif name == "platform":
            shown = tr.plain(f"proposal.platform.{value}")
        elif name == "kind":
            shown = tr.plain(f"accounts.kind.{value}")
        elif name in ("manager", "operators"):
            shown = _people(value if isinstance(value, list) else [value])
        else:
            shown = value
        lines.append(tr.t("accounts.change.field", label=tr.plain(f"accounts.field.{name}"), value=shown))
    return "\n".join(lines)


@renders("account_change")
def account_change(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    tr, org = ctx.tr, ctx.org
    change = ctx.session.get(AccountChange, ref["change_id"])
    if change is None:
        raise NothingToRender("change gone")
    account = ctx.session.get(RegisterAccount, change.account_id)
    name = change.payload.get("name") or (account.name if account else change.account_id)
    kind = tr.plain(f"accounts.change_kind.{change.kind}")
    out = [
        blocks.header(tr.plain("accounts.change.title", kind=kind)),
        blocks.section(tr.t("accounts.change.summary", kind=kind, name=name, id=change.account_id,
                            requester=mention(change.requested_by), when=tr.datetime(change.requested_at))),
    ]
    if change.kind == ChangeKind.HANDOVER and account is not None:
        out.append(blocks.section(tr.t("accounts.change.handover", before=department_name(org, account.department_id)
                                       if change.status == ChangeStatus.PENDING else "—",
                                       after=department_name(org, change.payload.get("department_id")))))
    # An opening shows what it registers; a hand-over's one field is the line above (older requests
    # carried their whole form, which approving no longer writes back: not shown either).
    details = _payload_lines(tr, org, change.payload) if change.kind == ChangeKind.OPEN else ""
    if details:
        out.extend(blocks.long_text_sections(details))
    if change.reason:
        out.append(blocks.context(tr.t("accounts.change.reason", reason=tr.plain("accounts.change.from_review")
                                       if change.reason == "review" else change.reason)))
    if change.status == ChangeStatus.PENDING:
        out.append(blocks.actions(
            blocks.button(tr.plain("accounts.button.approve"), AccountAction.APPROVE_CHANGE, str(change.id),
                          style="primary"),
            blocks.button(tr.plain("accounts.button.reject"), AccountAction.REJECT_CHANGE, str(change.id),
                          style="danger"),
            block_id=f"account_change:{change.id}",
        ))
        out.append(blocks.context(tr.t("accounts.change.who_decides")))
    else:
        out.append(blocks.context(tr.t(f"accounts.change.decided_{change.status}", who=mention(change.decided_by or ""),
                                       when=tr.datetime(change.decided_at or ctx.now))))
        if change.decision_reason:
            out.append(blocks.context(tr.t("accounts.change.rejection_reason", reason=change.decision_reason)))
    text = tr.plain("accounts.change.title", kind=kind) + f": {name}"
    return {"text": text, "blocks": out}


@renders("account_change_dm")
def account_change_dm(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    tr = ctx.tr
    change = ctx.session.get(AccountChange, ref["change_id"])
    if change is None or change.status == ChangeStatus.PENDING:
        raise NothingToRender("not decided")
    text = tr.t(f"accounts.dm.{change.status}", kind=tr.plain(f"accounts.change_kind.{change.kind}"),
                id=change.account_id, who=mention(change.decided_by or ""), reason=change.decision_reason or "")
    return {"text": text, "blocks": [blocks.section(text)]}


# -- reviews -----------------------------------------------------------------------------------


@renders("account_review")
def account_review(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    tr, org = ctx.tr, ctx.org
    review = ctx.session.get(AccountReview, ref["review_id"])
    if review is None:
        raise NothingToRender("review gone")
    account = ctx.session.get(RegisterAccount, review.account_id)
    name = account.name if account else review.account_id
    last = tr.datetime(review.last_post_at) if review.last_post_at else tr.plain("accounts.never")
    out = [
        blocks.header(tr.plain("accounts.review.title")),
        blocks.section(tr.t(f"accounts.review.reason_{review.reason}", name=name, days=org.register.inactive_days,
                            posts=review.posts, last=last)),
        blocks.context(tr.t("accounts.review.policy")),
    ]
    if review.status == ReviewStatus.OPEN:
        out.append(blocks.actions(
            blocks.button(tr.plain("accounts.button.continue"), AccountAction.REVIEW_CONTINUE, str(review.id),
                          style="primary"),
            blocks.button(tr.plain("accounts.button.withdraw"), AccountAction.REVIEW_WITHDRAW, str(review.id),
                          style="danger", confirm=blocks.confirm_dialog(
                              tr.plain("accounts.confirm.title"), tr.plain("accounts.confirm.withdraw", name=name),
                              tr.plain("accounts.confirm.yes"), tr.plain("accounts.confirm.no"))),
            block_id=f"account_review:{review.id}",
        ))
    else:
        out.append(blocks.context(tr.t(f"accounts.review.decided_{review.status}", who=mention(review.decided_by or ""),
                                       when=tr.datetime(review.decided_at or ctx.now))))
    return {"text": tr.plain("accounts.review.title") + f": {name}", "blocks": out}


# -- reports -----------------------------------------------------------------------------------


def _report(ctx: RenderContext, report_id: int) -> tuple[Report, Figures]:
    report = ctx.session.get(Report, report_id)
    if report is None:
        raise NothingToRender("report gone")
    return report, figures(ctx.session, ctx.org, report.start_at, report.end_at)


def _period(tr: Translator, report: Report) -> str:
    return tr.plain("accounts.report.period", start=tr.datetime(report.start_at), end=tr.datetime(report.end_at))


def _post_line(tr: Translator, label: str, f: PostFigures) -> str:
    return tr.t("accounts.report.posts_line", label=label, proposed=f.proposed, approved=f.approved,
                rejected=f.rejected, published=f.published)


def _hours(tr: Translator, value: float | None) -> str:
    return "—" if value is None else tr.plain("accounts.report.hours", hours=f"{value:.1f}")


def _counts(tr: Translator, counter: Any, label: Any) -> str:
    return _join(tr, [f"{label(k)} {v}" for k, v in counter.most_common()]) or tr.plain("accounts.report.none")


@renders("report")
def report_message(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    tr, org = ctx.tr, ctx.org
    report, fig = _report(ctx, ref["report_id"])
    title = tr.plain(f"accounts.report.title_{report.period}")
    out = [blocks.header(title), blocks.context(tr.t("accounts.report.period_line", period=_period(tr, report)))]

    lines = [tr.t("accounts.report.posts_heading")]
    lines += [_post_line(tr, department_name(org, d), f) for d, f in sorted(fig.by_department.items())]
    lines += [tr.t("accounts.report.by_account")]
    names = {a.id: a.name for a in ctx.session.scalars(select(RegisterAccount))}
    lines += [_post_line(tr, names.get(a, a), f) for a, f in sorted(fig.by_account.items())]
    if not fig.by_department and not fig.by_account:
        lines.append(tr.t("accounts.report.none"))
    out += blocks.long_text_sections("\n".join(lines))

    turnaround = [tr.t("accounts.report.turnaround_heading")] + [
        tr.t("accounts.report.turnaround_line", stage=tr.plain(f"proposal.stage.{t.stage}"), count=t.decided,
             median=_hours(tr, t.median_hours), ninetieth=_hours(tr, t.p90_hours)) for t in fig.turnaround]
    if not fig.turnaround:
        turnaround.append(tr.t("accounts.report.none"))
    out.append(blocks.section("\n".join(turnaround)))

    out.append(blocks.section("\n".join([
        tr.t("accounts.report.comments_heading", count=sum(fig.comments_by_status.values())),
        tr.t("accounts.report.comments_by_department", counts=_counts(
            tr, fig.comments_by_department,
            lambda d: tr.plain("accounts.report.triage") if d == "triage" else department_name(org, d))),
        tr.t("accounts.report.comments_by_category", counts=_counts(
            tr, fig.comments_by_category, lambda c: tr.plain(f"comments.category.{c}"))),
        tr.t("accounts.report.comments_by_status", counts=_counts(
            tr, fig.comments_by_status, lambda s: tr.plain(f"comments.status.{s}"))),
        tr.t("accounts.report.sla_breaches", count=fig.sla_breaches),
    ])))

    emergencies = [tr.t("accounts.report.emergencies_heading")] + [
        tr.t("accounts.report.emergency_line", title=e.title, drill=tr.plain("accounts.drill") if e.drill else "", declared=tr.datetime(e.declared_at),
             ended=tr.datetime(e.ended_at) if e.ended_at else tr.plain("accounts.report.ongoing"),
             done=e.steps_done, total=e.steps_total,
             hours=f"{((e.ended_at or report.end_at) - e.declared_at).total_seconds() / 3600:.1f}")
        for e in fig.emergencies]
    if not fig.emergencies:
        emergencies.append(tr.t("accounts.report.none"))
    out.append(blocks.section("\n".join(emergencies)))

    register = [tr.t("accounts.report.register_heading")]
    for account_id, found in fig.warnings.items():
        register.append(tr.t("accounts.report.warning_line", name=names.get(account_id, account_id),
                             warnings=warning_text(tr, org, found)))
    for account_id in fig.under_review:
        register.append(tr.t("accounts.report.review_line", name=names.get(account_id, account_id)))
    if len(register) == 1:
        register.append(tr.t("accounts.report.register_ok"))
    out += blocks.long_text_sections("\n".join(register))
    out.append(blocks.context(tr.t("accounts.report.chart_note")))
    return {"text": f"{title} {_period(tr, report)}", "blocks": out[:blocks.MESSAGE_BLOCKS_MAX]}


@renders("report_chart")
def report_chart(ctx: RenderContext, ref: dict[str, Any]) -> dict[str, Any]:
    tr = ctx.tr
    report, fig = _report(ctx, ref["report_id"])
    local_start = report.start_at.astimezone(ctx.org.tz)
    local_end = report.end_at.astimezone(ctx.org.tz)
    png = weekly_chart(fig.weekly, ctx.org.timezone,
                       f"Koho: approved posts and comments per week (to {local_end:%Y-%m-%d})")
    return {
        "file": png,
        "filename": f"koho-report-{report.period}-{local_start:%Y%m%d}.png",
        "title": tr.plain("accounts.report.chart_title", period=_period(tr, report)),
        "alt_txt": tr.plain("accounts.report.chart_alt"),
        "initial_comment": tr.plain("accounts.report.chart_comment"),
    }


# -- App Home for the PR office ----------------------------------------------------------------


def _oldest(session: Any, entity: Any, where: Any, by: Any, shown: int = 10) -> tuple[int, list[Any]]:
    """How many rows match, and the oldest `shown` of them (a surge's thousands are counted, not loaded)."""
    count = session.scalar(select(func.count()).select_from(entity).where(where))
    return count, session.scalars(select(entity).where(where).order_by(by, entity.id).limit(shown)).all() if count else []


def pr_office_sections(ctx: RenderContext, user_id: str) -> list[dict[str, Any]]:
    """What the PR office watches across departments: approvals, triage, emergencies, the register."""
    tr, org, session = ctx.tr, ctx.org, ctx.session
    out: list[dict[str, Any]] = [blocks.divider(), blocks.header(tr.plain("accounts.home.title"))]

    waiting, steps = _oldest(session, ApprovalStep, ApprovalStep.status == StepStatus.PENDING, ApprovalStep.requested_at)
    lines = []
    links = ctx.permalinks(step_message_key(step.id) for step in steps)
    for step in steps:
        url = links.get(step_message_key(step.id))
        label = tr.t("accounts.home.approval_line", id=step.proposal_id, stage=tr.plain(f"proposal.stage.{step.stage}"),
                     department=department_name(org, step.department_id), when=tr.datetime(step.requested_at))
        lines.append(f"{label} {link(url, tr.plain('accounts.home.open'))}" if url else label)
    out.append(blocks.section("\n".join([tr.t("accounts.home.approvals", count=waiting), *lines])))

    untriaged, oldest = _oldest(session, Comment, Comment.status == CommentStatus.NEW, Comment.received_at)
    lines = [tr.t("accounts.home.comment_line", id=c.id, category=tr.plain(f"comments.category.{c.category}"),
                  when=tr.datetime(c.received_at)) for c in oldest]
    out.append(blocks.section("\n".join([tr.t("accounts.home.untriaged", count=untriaged), *lines])))

    active = session.scalars(select(Emergency).where(Emergency.status == "active")
                             .order_by(Emergency.declared_at)).all()
    lines = [tr.t("accounts.home.emergency_line", title=e.title, drill=tr.plain("accounts.drill") if e.drill else "", when=tr.datetime(e.declared_at))
             for e in active]
    out.append(blocks.section("\n".join([tr.t("accounts.home.emergencies", count=len(active)), *lines])))

    today = ctx.now.astimezone(org.tz).date()
    pending = session.scalars(select(AccountChange).where(AccountChange.status == ChangeStatus.PENDING)
                              .order_by(AccountChange.id)).all()
    lines = [tr.t("accounts.home.change_line", kind=tr.plain(f"accounts.change_kind.{c.kind}"), id=c.account_id,
                  requester=mention(c.requested_by)) for c in pending[:10]]
    accounts = session.scalars(select(RegisterAccount).where(RegisterAccount.status != AccountStatus.WITHDRAWN)
                               .order_by(RegisterAccount.id)).all()
    flagged = 0
    for account in accounts:
        found = account_warnings(account, org, today)
        if account.status == AccountStatus.UNDER_REVIEW or found:
            marks = [tr.plain("accounts.status.under_review")] if account.status == AccountStatus.UNDER_REVIEW else []
            marks += warning_labels(tr, org, found)
            lines.append(tr.t("accounts.home.account_line", name=account.name, marks=_join(tr, marks)))
            flagged += 1
    out.append(blocks.section("\n".join([tr.t("accounts.home.register", count=len(pending) + flagged),
                                         *lines[:20]])))
    out.append(blocks.context(tr.t("accounts.home.hint")))
    return out
