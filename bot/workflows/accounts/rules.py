"""The rules of the account register, pure and Slack-free: who may do what, warnings, review candidates.

- The PR office (its approvers) and admins manage the register: add, edit, ask for changes.
- Opening, handing over (a new owning department) and withdrawing an account are *changes* that a
  PR-office approver approves — never the person who asked for it (the same four-eyes rule as posts).
- Warnings: fewer than two operators; a password unchanged for `password_max_days`; no 継続/撤退
  review for `review_max_days`.
- A review candidate: an active account, older than `inactive_days`, not reviewed within them, with no
  published post in them (`inactive`) or fewer than `low_activity_posts` (`low_activity`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from bot.organization import (
    ACCOUNT_KINDS,
    ACCOUNT_LINE_MAX,
    DEPARTMENT_ID,
    HTTP_URL,
    PLATFORMS,
    Organization,
    RegisterOptions,
)

MIN_OPERATORS = 2
TEXT_FIELD_MAX = 500


class AccountStatus(StrEnum):
    ACTIVE = "active"
    UNDER_REVIEW = "under_review"
    WITHDRAWN = "withdrawn"


class ChangeKind(StrEnum):
    OPEN = "open"  # 開設
    HANDOVER = "handover"  # 移管: a new owning department (only that: the form's other fields are edits)
    WITHDRAW = "withdraw"  # 撤退


class ChangeStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ReviewStatus(StrEnum):
    OPEN = "open"
    CONTINUED = "continued"  # 継続
    WITHDRAWAL_REQUESTED = "withdrawal_requested"  # 撤退: a withdraw change waits for approval


class ReviewDecision(StrEnum):
    CONTINUE = "continue"
    WITHDRAW = "withdraw"


class AccountWarning(StrEnum):
    OPERATORS = "operators"
    PASSWORD = "password"  # noqa: S105 - a warning name, not a secret
    REVIEW = "review"


# The fields a person edits in the modal, in the order the modal shows them.
FIELDS = ("platform", "name", "handle", "url", "kind", "department_id", "manager", "operators", "purpose",
          "audience", "posting_hours", "policy_url", "password_changed_on")
# Changing these is a hand-over: it waits for the PR office like opening does, and carries only these.
HANDOVER_FIELDS = ("department_id",)


@dataclass(frozen=True)
class AccountDraft:
    """What a person submitted in the add/edit modal (already stripped of Slack's shapes)."""

    account_id: str
    platform: str
    name: str
    handle: str
    kind: str
    department_id: str
    url: str | None = None
    manager: str | None = None
    operators: tuple[str, ...] = ()
    purpose: str | None = None
    audience: str | None = None
    posting_hours: str | None = None
    policy_url: str | None = None
    password_changed_on: date | None = None

    def values(self) -> dict[str, object]:
        """The register fields as JSON-friendly values (a change's payload)."""
        return {
            "platform": self.platform, "name": self.name.strip(), "handle": self.handle.strip(),
            "url": _blank(self.url), "kind": self.kind, "department_id": self.department_id,
            "manager": self.manager or None, "operators": list(self.operators), "purpose": _blank(self.purpose),
            "audience": _blank(self.audience), "posting_hours": _blank(self.posting_hours),
            "policy_url": _blank(self.policy_url),
            "password_changed_on": self.password_changed_on.isoformat() if self.password_changed_on else None,
        }


def _blank(value: str | None) -> str | None:
    return (value or "").strip() or None


def _has_full_width_alphanumerics(url: str) -> bool:
    """ｃｈｉｂａ in a profile URL's path is an IME slip, not the address (the host is made half-width before
    this; a path is never rewritten, as it may be width-sensitive: the person is asked to retype it)."""
    return any("０" <= c <= "９" or "Ａ" <= c <= "Ｚ" or "ａ" <= c <= "ｚ" for c in url)


@dataclass(frozen=True)
class Problem:
    field: str
    key: str
    values: dict[str, object] = field(default_factory=dict)


def may_manage(actor: str, org: Organization) -> bool:
    """Add and edit accounts, ask for changes, ask for a report: the PR office and admins."""
    return org.is_pr_approver(actor) or org.is_admin(actor)


def change_refusal(actor: str, requested_by: str, org: Organization) -> str | None:
    """Why `actor` may not approve or reject a change, or None."""
    if not org.is_pr_approver(actor):
        return "accounts.refused.not_pr_office"
    if actor == requested_by:
        return "accounts.refused.own_request"
    return None


def validate(draft: AccountDraft, org: Organization, today: date, *, new: bool, existing_ids: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    if new:
        if not DEPARTMENT_ID.match(draft.account_id or ""):
            problems.append(Problem("account_id", "accounts.error.bad_id"))
        elif draft.account_id in existing_ids:
            problems.append(Problem("account_id", "accounts.error.id_taken", {"id": draft.account_id}))
    if draft.platform not in PLATFORMS:
        problems.append(Problem("platform", "accounts.error.required"))
    for name in ("name", "handle"):
        value = getattr(draft, name).strip()
        if not value:
            problems.append(Problem(name, "accounts.error.required"))
        elif len(value) > ACCOUNT_LINE_MAX:
            problems.append(Problem(name, "accounts.error.too_long", {"limit": ACCOUNT_LINE_MAX}))
    if draft.kind not in ACCOUNT_KINDS:
        problems.append(Problem("kind", "accounts.error.required"))
    if org.department(draft.department_id) is None:
        problems.append(Problem("department_id", "accounts.error.unknown_department"))
    for name in ("url", "policy_url"):
        value = _blank(getattr(draft, name))
        if value is not None and (not HTTP_URL.match(value) or _has_full_width_alphanumerics(value)):
            problems.append(Problem(name, "accounts.error.bad_url"))
    for name, limit in (("purpose", TEXT_FIELD_MAX), ("audience", TEXT_FIELD_MAX), ("posting_hours", ACCOUNT_LINE_MAX)):
        if len(_blank(getattr(draft, name)) or "") > limit:
            problems.append(Problem(name, "accounts.error.too_long", {"limit": limit}))
    if draft.manager and draft.manager in draft.operators:
        problems.append(Problem("operators", "accounts.error.manager_is_operator"))
    if draft.password_changed_on and draft.password_changed_on > today:
        problems.append(Problem("password_changed_on", "accounts.error.future_date"))
    return problems


def warnings(operators: list[str], password_changed_on: date | None, last_reviewed_on: date | None,
             opened_on: date | None, today: date, options: RegisterOptions) -> list[AccountWarning]:
    """What needs attention on an active account (docs/accounts.md)."""
    found: list[AccountWarning] = []
    if len(operators) < MIN_OPERATORS:
        found.append(AccountWarning.OPERATORS)
    if password_changed_on is None or (today - password_changed_on).days > options.password_max_days:
        found.append(AccountWarning.PASSWORD)
    reviewed = last_reviewed_on or opened_on
    if reviewed is None or (today - reviewed).days > options.review_max_days:
        found.append(AccountWarning.REVIEW)
    return found


def review_reason(*, posts_in_window: int, since: date, last_reviewed_on: date | None, today: date,
                  options: RegisterOptions) -> str | None:
    """`inactive` / `low_activity` if the account should be reviewed now, else None.

    `since`: when the account came into the register (opened, or seeded): a new account gets its window.
    """
    window = timedelta(days=options.inactive_days)
    if today - since < window:
        return None
    if last_reviewed_on is not None and today - last_reviewed_on < window:
        return None
    if posts_in_window == 0:
        return "inactive"
    if posts_in_window < options.low_activity_posts:
        return "low_activity"
    return None


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (share 0.5 = median, 0.9 = 90th), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if share == 0.5 and len(ordered) % 2 == 0:
        middle = len(ordered) // 2
        return (ordered[middle - 1] + ordered[middle]) / 2
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def local_date(moment: datetime, org: Organization) -> date:
    return moment.astimezone(org.tz).date()
