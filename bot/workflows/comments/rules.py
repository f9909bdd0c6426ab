"""The rules of the comment flow, pure and Slack-free: statuses, who may do what, sources, criteria.

The state machine is one table, `TRANSITIONS`: (status, action) -> (new status, who may). A pair that
is not in the table is not allowed. `None` as the new status means "the status does not change"
(a hiding request, a category change). Who may act is decided here, on the server, for every click.

Open: 未確認, 振分済, 対応中 and 中間回答済 (after an interim reply the formal answer is still due). Closed:
対応済, 対応不要, 所管外・移ちょう and 重複, each of which can be reopened with a reason; and 非表示・削除, final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.business_time import BusinessCalendar
from bot.organization import PLATFORMS, PR_OFFICE_ID, Organization
from bot.text.categories import Category


class Status(StrEnum):
    NEW = "new"  # 未確認: nobody matched yet; the PR office triages it
    ROUTED = "routed"  # 振分済: shared with a department, not acknowledged yet
    IN_PROGRESS = "in_progress"  # 対応中: the department acknowledged it
    INTERIM = "interim"  # 中間回答済: an interim reply was given; the formal answer is still due
    DONE = "done"  # 対応済
    NO_ACTION = "no_action"  # 対応不要
    TRANSFERRED = "transferred"  # 所管外・移ちょう: another body's business (千葉県, 警察, …), passed on to it
    DUPLICATE = "duplicate"  # 重複: a repeat of another comment, closed and linked to it
    HIDDEN = "hidden"  # 非表示・削除 (confirmed by the PR office)


OPEN_STATUSES = (Status.NEW, Status.ROUTED, Status.IN_PROGRESS, Status.INTERIM)
# Waiting for someone to look at it: the 1-business-day target applies.
WAITING_STATUSES = (Status.NEW, Status.ROUTED)
# Acknowledged, the formal answer (where one is given) due: the 14-day target applies.
ANSWERING_STATUSES = (Status.IN_PROGRESS, Status.INTERIM)
# Closed, and reopened with a reason if it was closed wrongly. 非表示・削除 is final (the PR office's decision).
REOPENABLE_STATUSES = (Status.DONE, Status.NO_ACTION, Status.TRANSFERRED, Status.DUPLICATE)


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    REASSIGN = "reassign"  # also the PR office's triage of a NEW comment
    DONE = "done"
    NO_ACTION = "no_action"
    INTERIM_REPLY = "interim_reply"
    TRANSFER = "transfer"
    DUPLICATE = "duplicate"
    REOPEN = "reopen"  # back to 対応中 (or to triage when no department has it)
    CHANGE_CATEGORY = "change_category"
    REQUEST_HIDING = "request_hiding"
    CONFIRM_HIDING = "confirm_hiding"
    DECLINE_HIDING = "decline_hiding"


class Who(StrEnum):
    DEPARTMENT_OR_PR = "department_or_pr"  # members/approvers of the comment's department, PR approvers
    PR_OFFICE = "pr_office"  # PR office approvers only


@dataclass(frozen=True)
class Rule:
    to: Status | None  # None: unchanged
    who: Who


_D, _P = Who.DEPARTMENT_OR_PR, Who.PR_OFFICE
# Acknowledged, with or without an interim reply, a comment offers the same; an interim reply may be repeated.
_ANSWERING: dict[Action, Rule] = {
    Action.INTERIM_REPLY: Rule(Status.INTERIM, _D),
    Action.REASSIGN: Rule(Status.ROUTED, _D),
    Action.DONE: Rule(Status.DONE, _D),
    Action.NO_ACTION: Rule(Status.NO_ACTION, _D),
    Action.TRANSFER: Rule(Status.TRANSFERRED, _D),
    Action.DUPLICATE: Rule(Status.DUPLICATE, _D),
    Action.CHANGE_CATEGORY: Rule(None, _D),
    Action.REQUEST_HIDING: Rule(None, _D),
}
TRANSITIONS: dict[tuple[Status, Action], Rule] = {
    # Triage: nobody's department yet, so only the PR office can act.
    (Status.NEW, Action.REASSIGN): Rule(Status.ROUTED, _P),
    (Status.NEW, Action.NO_ACTION): Rule(Status.NO_ACTION, _P),
    (Status.NEW, Action.TRANSFER): Rule(Status.TRANSFERRED, _P),
    (Status.NEW, Action.DUPLICATE): Rule(Status.DUPLICATE, _P),
    (Status.NEW, Action.CHANGE_CATEGORY): Rule(None, _P),
    (Status.NEW, Action.REQUEST_HIDING): Rule(None, _P),
    (Status.ROUTED, Action.ACKNOWLEDGE): Rule(Status.IN_PROGRESS, _D),
    (Status.ROUTED, Action.REASSIGN): Rule(Status.ROUTED, _D),
    (Status.ROUTED, Action.DONE): Rule(Status.DONE, _D),
    (Status.ROUTED, Action.NO_ACTION): Rule(Status.NO_ACTION, _D),
    (Status.ROUTED, Action.TRANSFER): Rule(Status.TRANSFERRED, _D),
    (Status.ROUTED, Action.DUPLICATE): Rule(Status.DUPLICATE, _D),
    (Status.ROUTED, Action.CHANGE_CATEGORY): Rule(None, _D),
    (Status.ROUTED, Action.REQUEST_HIDING): Rule(None, _D),
    **{(s, action): rule for s in ANSWERING_STATUSES for action, rule in _ANSWERING.items()},
    # A wrong close is undone with a reason (a comment nobody's department holds goes back to triage).
    **{(s, Action.REOPEN): Rule(Status.IN_PROGRESS, _D) for s in REOPENABLE_STATUSES},
    # A closed comment can still be offensive where it was posted.
    **{(s, Action.REQUEST_HIDING): Rule(None, _D) for s in REOPENABLE_STATUSES},
    **{(s, Action.CONFIRM_HIDING): Rule(Status.HIDDEN, _P) for s in (*OPEN_STATUSES, *REOPENABLE_STATUSES)},
    **{(s, Action.DECLINE_HIDING): Rule(None, _P) for s in (*OPEN_STATUSES, *REOPENABLE_STATUSES)},
}

# What a department message offers, in this order (hiding decisions are made on the PR office's message).
MESSAGE_ACTIONS = (Action.ACKNOWLEDGE, Action.INTERIM_REPLY, Action.REASSIGN, Action.DONE, Action.NO_ACTION,
                   Action.TRANSFER, Action.DUPLICATE, Action.REOPEN, Action.REQUEST_HIDING)
# A listed comment's "…" menu holds five items (Slack's limit for an overflow menu), in this order of what the
# comment allows. When it allows more, the fifth item opens a modal offering the rest: a comment listed in a
# digest has no message of its own, and 重複 matters most in the surge that makes digests.
ROW_ACTIONS = (Action.ACKNOWLEDGE, Action.INTERIM_REPLY, Action.REASSIGN, Action.DONE, Action.NO_ACTION,
               Action.REQUEST_HIDING, Action.REOPEN, Action.TRANSFER, Action.DUPLICATE)
ROW_ACTIONS_MAX = 5

ANSWER_TARGET_DAYS = 14


def answer_due(calendar: BusinessCalendar, since: datetime) -> datetime:
    """When the formal answer is due: closing time of the 14th calendar day after `since` (the day itself
    not counted), or of the next business day when that day is closed (weekend, holiday, 年末年始)."""
    day = since.astimezone(calendar.tz).date() + timedelta(days=ANSWER_TARGET_DAYS)
    return calendar.add_business_days(datetime.combine(day, calendar.opens, tzinfo=calendar.tz), 0)


def rule_for(status: str, action: Action) -> Rule | None:
    return TRANSITIONS.get((Status(status), action))


def actions_in(status: str) -> list[Action]:
    """The message actions a comment in this status offers."""
    return [a for a in MESSAGE_ACTIONS if (Status(status), a) in TRANSITIONS]


def available_actions(status: str, hiding_pending: bool) -> list[Action]:
    """What a comment offers now: its status's actions, without a hiding request while one is pending."""
    return [a for a in actions_in(status) if not (a is Action.REQUEST_HIDING and hiding_pending)]


def row_actions(available: list[Action]) -> tuple[list[Action], list[Action]]:
    """What a listed comment's "…" menu offers, of the actions `available` to it: the items of the menu, and
    those behind its last item ("その他の操作…") when they do not all fit in it."""
    ordered = [a for a in ROW_ACTIONS if a in available]
    if len(ordered) <= ROW_ACTIONS_MAX:
        return ordered, []
    return ordered[:ROW_ACTIONS_MAX - 1], ordered[ROW_ACTIONS_MAX - 1:]


def may(org: Organization, user_id: str, who: Who, department_id: str | None) -> bool:
    """Whether `user_id` is one of `who` for a comment of `department_id` (None: not triaged yet)."""
    if org.is_pr_approver(user_id):
        return True
    if who is Who.PR_OFFICE or department_id is None:
        return False
    department = org.department(department_id)
    return department is not None and (user_id in department.members or user_id in department.approvers)


# Someone may be in danger, at any hour: the on-call officers may take a 緊急 comment in hand — say it is seen,
# or send it where it belongs (also out of triage). Closing, hiding and categories stay with the department
# and the PR office.
ON_CALL_ACTIONS = (Action.ACKNOWLEDGE, Action.REASSIGN)


def on_call_may(org: Organization, user_id: str, action: Action, category: str) -> bool:
    """Whether `user_id` may do `action` to a comment of `category` as an on-call officer."""
    return category == Category.EMERGENCY and action in ON_CALL_ACTIONS and org.is_on_call(user_id)


def may_see_original(org: Organization, user_id: str, department_id: str | None) -> bool:
    """Who may read a comment unmasked (原文を表示): the on-call officers (someone may be in danger), the PR
    office's approvers, and the approvers of the comment's department. Members of the department are not
    among them: masking is for everyone else in the channel."""
    if org.is_on_call(user_id) or org.is_pr_approver(user_id):
        return True
    department = org.department(department_id) if department_id else None
    return department is not None and user_id in department.approvers


def channel_for(org: Organization, department_id: str | None) -> str:
    department = org.department(department_id) if department_id else None
    return department.channel if department is not None else org.pr_office.channel


def can_escalate(department_id: str | None) -> bool:
    """Escalation goes to the PR office; comments it already holds have nobody above to go to."""
    return department_id not in (None, PR_OFFICE_ID)


# Where a comment came from: the organisation's platforms, and the ways staff receive comments.
SOURCES: tuple[str, ...] = (
    *(p for p in PLATFORMS if p != "other"),
    "web_form", "email", "phone", "letter", "counter", "slack", "other",
)
# A comment forwarded from Slack came through one of these (the platforms too: a screenshot, a DM).
FORWARD_SOURCES: tuple[str, ...] = ("phone", "email", "letter", "counter", "slack", "web_form",
                                    *(p for p in PLATFORMS if p != "other"), "other")


class HidingCriterion(StrEnum):
    """Why a comment may be hidden or deleted (the city's policy); the PR office confirms each."""

    UNLAWFUL = "unlawful"  # 法令違反
    PUBLIC_ORDER = "public_order"  # 公序良俗違反
    CAMPAIGNING = "campaigning"  # 政治・宗教活動
    CRIME = "crime"  # 犯罪助長
    DISCRIMINATION = "discrimination"  # 差別
    DEFAMATION = "defamation"  # 誹謗中傷・名誉毀損
    PRIVACY = "privacy"  # 個人情報・プライバシー侵害
    COPYRIGHT = "copyright"  # 著作権等侵害
    ADVERTISING = "advertising"  # 広告・宣伝・営利目的
    FALSEHOOD = "falsehood"  # 虚偽・デマ
    IMPERSONATION = "impersonation"  # なりすまし
    MALWARE = "malware"  # 有害プログラム
    OBSCENITY = "obscenity"  # わいせつ
    FLOODING = "flooding"  # 連続投稿
    OFF_TOPIC = "off_topic"  # 記事と無関係
    HARMFUL_LINKS = "harmful_links"  # 上記を含むサイトへのリンク
