"""The pure rules of proposing: what a valid proposal is, which chain approves it, who may act.

No database, no Slack: these functions take plain values and return plain values, so the
policy can be read (and unit-tested) in one place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.organization import PR_OFFICE_ID, Organization
from bot.text.post_rules import find_shortened_urls, measure, over_limit

TEXT_MAX = 3000  # Slack's plain_text_input limit; longer than every platform but Facebook allows
LINKS_MAX = 10
URL = re.compile(r"^https?://[^\s<>|]+$")


class Kind(StrEnum):
    NORMAL = "normal"
    EMERGENCY = "emergency"
    CORRECTION = "correction"


class Status(StrEnum):
    PENDING = "pending"  # waiting for an approval step
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    APPROVED = "approved"  # waiting for publication
    ON_HOLD = "on_hold"  # paused by an emergency
    PUBLISHED = "published"


class StepStatus(StrEnum):
    WAITING = "waiting"  # a later step, not asked yet
    PENDING = "pending"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Stage(StrEnum):
    DEPARTMENT = "department"
    PR_OFFICE = "pr_office"
    FAST_TRACK = "fast_track"


class Decision(StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    REJECT = "reject"


# The state machine, in one table: (proposal status, action) -> new status. Who may act is below.
TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.PENDING, Decision.APPROVE): Status.PENDING,  # a later step is next; APPROVED after the last
    (Status.PENDING, Decision.REQUEST_CHANGES): Status.CHANGES_REQUESTED,
    (Status.PENDING, Decision.REJECT): Status.REJECTED,
    (Status.CHANGES_REQUESTED, "resubmit"): Status.PENDING,
    (Status.PENDING, "withdraw"): Status.WITHDRAWN,
    (Status.CHANGES_REQUESTED, "withdraw"): Status.WITHDRAWN,
    # Approved or held: only while no account has published it yet (`withdrawal_refusal`).
    (Status.APPROVED, "withdraw"): Status.WITHDRAWN,
    (Status.ON_HOLD, "withdraw"): Status.WITHDRAWN,
    (Status.APPROVED, "publish"): Status.PUBLISHED,
    # A real emergency holds approved routine posts; after it, each is resumed or cancelled (emergencies flow).
    (Status.APPROVED, "hold"): Status.ON_HOLD,
    (Status.ON_HOLD, "resume"): Status.APPROVED,
    (Status.ON_HOLD, "cancel"): Status.WITHDRAWN,
    # Cancelled after the emergency while already live on some account: the rest never goes out, and the
    # record ends as published (where it was), not withdrawn (`withdrawal_refusal`).
    (Status.ON_HOLD, "cancel_rest"): Status.PUBLISHED,
}
STEP_OUTCOME = {
    Decision.APPROVE: StepStatus.APPROVED,
    Decision.REQUEST_CHANGES: StepStatus.CHANGES_REQUESTED,
    Decision.REJECT: StepStatus.REJECTED,
}
FINAL = {Status.REJECTED, Status.WITHDRAWN, Status.PUBLISHED}

# The posting checklist (投稿前チェックリスト): keys; the words are in the catalogs.
CHECKLIST = (
    "facts", "details", "typos", "privacy", "rights", "confidential",
    "neutral", "human_rights", "advertising", "misreading", "links", "contact",
)


@dataclass(frozen=True)
class Draft:
    """What a person submitted in the proposal modal."""

    text: str
    accounts: tuple[str, ...]
    department_id: str
    kind: Kind = Kind.NORMAL
    links: tuple[str, ...] = ()
    media_description: str | None = None
    publish_at: datetime | None = None
    checklist: tuple[str, ...] = ()
    correction_note: str | None = None
    corrects_id: int | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a draft: the form field, the catalog key, the values for the message."""

    field: str
    key: str
    values: dict[str, object] = field(default_factory=dict)


def composed_text(text: str, links: tuple[str, ...]) -> str:
    """The post as it will appear: the text, then each link not already in it, one per line."""
    extra = [link for link in links if link not in text]
    return "\n".join([text.strip(), *extra]) if extra else text.strip()


def parse_links(raw: str | None) -> tuple[str, ...]:
    return tuple(line.strip() for line in (raw or "").splitlines() if line.strip())


def may_choose_department(proposer: str, department_id: str, kind: Kind, org: Organization) -> bool:
    """The PR office as a proposal's department means a one-step chain: only its own people may choose it
    (and the on-call for an emergency post, whose chain is the fast track anyway)."""
    if department_id != PR_OFFICE_ID:
        return True
    office = org.pr_office
    return proposer in office.approvers or proposer in office.members or (
        kind == Kind.EMERGENCY and org.is_on_call(proposer))


def validate(draft: Draft, org: Organization, now: datetime, *, correcting: bool = False,
             known_accounts: dict[str, str] | None = None, proposer: str | None = None) -> list[Problem]:
    """Every problem with a draft, each saying exactly what is wrong and by how much.

    `known_accounts`: id -> platform of the accounts a post may go to (the register's); default the
    organisation file's.
    `proposer`: when given, whether they may choose the draft's department is checked too.
    """
    problems: list[Problem] = []
    text = draft.text.strip()
    if not text:
        problems.append(Problem("text", "proposal.error.empty_text"))
    elif len(text) > TEXT_MAX:
        problems.append(Problem("text", "proposal.error.text_too_long", {"limit": TEXT_MAX, "over": len(text) - TEXT_MAX}))

    if not draft.accounts:
        problems.append(Problem("accounts", "proposal.error.no_accounts"))
    known = {a.id: a.platform for a in org.accounts} if known_accounts is None else known_accounts
    unknown = [a for a in draft.accounts if a not in known]
    if unknown:
        problems.append(Problem("accounts", "proposal.error.unknown_accounts", {"accounts": ", ".join(unknown)}))

    if org.department(draft.department_id) is None:
        problems.append(Problem("department", "proposal.error.unknown_department"))
    elif proposer is not None and not may_choose_department(proposer, draft.department_id, draft.kind, org):
        problems.append(Problem("department", "proposal.error.pr_office_department_only",
                                {"department": org.pr_office.name}))

    bad_links = [link for link in draft.links if not URL.match(link)]
    if bad_links:
        problems.append(Problem("links", "proposal.error.bad_links", {"links": " ".join(bad_links)}))
    if len(draft.links) > LINKS_MAX:
        problems.append(Problem("links", "proposal.error.too_many_links", {"limit": LINKS_MAX}))

    shortened = find_shortened_urls(text) + [u for link in draft.links for u in find_shortened_urls(link)]
    if shortened:
        target = "text" if find_shortened_urls(text) else "links"
        problems.append(Problem(target, "proposal.error.shortened_urls", {"urls": " ".join(dict.fromkeys(shortened))}))

    if text and not unknown:
        post = composed_text(text, draft.links)
        for platform in dict.fromkeys(known[a] for a in draft.accounts):
            over = over_limit(post, platform)
            if over:
                m = measure(post, platform)
                problems.append(Problem("text", f"proposal.error.too_long_{m.unit}", {
                    "platform": platform, "length": m.length, "limit": m.limit, "over": over,
                    "remove": (over + 1) // 2,  # in full-width characters, which weigh 2 on X
                }))

    if draft.publish_at is not None and draft.publish_at < now:
        problems.append(Problem("publish_at", "proposal.error.publish_in_past"))

    missing = [item for item in CHECKLIST if item not in draft.checklist]
    if missing:
        problems.append(Problem("checklist", "proposal.error.checklist_incomplete",
                                {"missing": len(missing), "total": len(CHECKLIST), "items": missing}))

    if draft.kind == Kind.CORRECTION and not correcting:
        problems.append(Problem("kind", "proposal.error.correction_needs_original"))
    if correcting and not (draft.correction_note or "").strip():
        problems.append(Problem("correction_note", "proposal.error.correction_note_missing"))
    return problems


@dataclass(frozen=True)
class PlannedStep:
    stage: Stage
    department_id: str  # whose channel the request goes to and whose approvers decide


def plan_chain(kind: Kind, department_id: str, org: Organization, *, emergency_active: bool = False) -> list[PlannedStep]:
    """The approval chain: the department approver, then the PR office (always for corrections).

    During a declared emergency, an emergency post needs one approval (PR office or on-call).
    A proposal from the PR office itself has one step: the PR office.
    """
    if kind == Kind.EMERGENCY and emergency_active:
        return [PlannedStep(Stage.FAST_TRACK, PR_OFFICE_ID)]
    if department_id == PR_OFFICE_ID:
        return [PlannedStep(Stage.PR_OFFICE, PR_OFFICE_ID)]
    return [PlannedStep(Stage.DEPARTMENT, department_id), PlannedStep(Stage.PR_OFFICE, PR_OFFICE_ID)]


def on_the_clock(stage: str, kind: str) -> bool:
    """Whether a step's reminders count real minutes rather than office hours.

    The fast track always does; so does every step of a 緊急 post, whatever its stage: a 緊急 post submitted
    on a Saturday night must not wait for Monday morning to be chased.
    """
    return stage == Stage.FAST_TRACK or kind == Kind.EMERGENCY


def step_approvers(stage: str, department_id: str, org: Organization) -> tuple[str, ...]:
    if stage == Stage.FAST_TRACK:
        return tuple(dict.fromkeys(org.pr_office.approvers + org.on_call_now()))
    department = org.department(department_id)
    return department.approvers if department else ()


def eligible_approvers(stage: str, department_id: str, proposer: str, org: Organization, *,
                       decided_earlier: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Who may decide a step: its approvers, never the proposer, never who decided another step of the version.

    When the proposer is the step's only approver, nobody else in the department can decide:
    the PR office's approvers stand in, so the proposal is never stuck.
    """
    excluded = {proposer, *decided_earlier}
    eligible = tuple(a for a in step_approvers(stage, department_id, org) if a not in excluded)
    if not eligible:
        eligible = tuple(a for a in org.pr_office.approvers if a not in excluded)
    return eligible


def refusal_reason(actor: str, proposer: str, stage: str, department_id: str, org: Organization, *,
                   decided_earlier: tuple[str, ...] = ()) -> str | None:
    """Why `actor` may not decide this step (a catalog key), or None when they may."""
    if actor == proposer:
        return "proposal.refused.own_proposal"
    if actor in decided_earlier:
        return "proposal.refused.decided_earlier_step"
    if actor not in eligible_approvers(stage, department_id, proposer, org, decided_earlier=decided_earlier):
        return "proposal.refused.not_an_approver"
    return None


def withdrawal_refusal(status: str, live_on: tuple[str, ...]) -> str | None:
    """Why a proposal may not be withdrawn now (a catalog key), or None when it may.

    取り下げ is the proposer's until the post is live on any account (`live_on`: the accounts that published
    it). After that the record must not say "withdrawn" while a post is online: a live post is corrected (訂正),
    through the chain, with its original kept.
    """
    if live_on:
        return "proposal.refused.already_live"
    if (Status(status), "withdraw") not in TRANSITIONS:
        return "proposal.refused.cannot_withdraw"
    return None


def correction_refusal(live_on: tuple[str, ...]) -> str | None:
    """Why a proposal may not be corrected (a catalog key), or None when it may.

    A post is corrected once it is live on any account (`live_on`), where 取り下げ ends
    (`withdrawal_refusal`) — not only when every account has recorded it: a post online on X while LINE
    still waits is online, and its mistakes are corrected promptly, through the chain, with the original kept.
    """
    return None if live_on else "proposal.refused.correct_only_published"


def correction_accounts(accounts: Sequence[str], live_on: tuple[str, ...]) -> tuple[str, ...]:
    """Where a correction is proposed by default: where the original is live, in the original's order.

    For a fully published original that is every account it went to; an account still waiting keeps the
    original's own hand-off (the proposer may still add it in the form).
    """
    return tuple(a for a in accounts if a in live_on)


def may_publish(actor: str, account_department: str, org: Organization, operators: tuple[str, ...] = ()) -> bool:
    """Marking as published: the account's operators, the owning department's people, or the PR office."""
    if org.is_pr_approver(actor) or actor in operators:
        return True
    department = org.department(account_department)
    return department is not None and (actor in department.approvers or actor in department.members)


def changes_between(old: object, new: object) -> list[str]:
    """Which fields a resubmission changed (catalog field names), for the approver's eye."""
    names = ("text", "links", "media_description", "accounts", "publish_at")
    return [name for name in names if getattr(old, name) != getattr(new, name)]
