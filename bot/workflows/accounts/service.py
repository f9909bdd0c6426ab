"""Account-register use cases: each one transaction, each change authorised, conditional and audited.

Opening, handing over and withdrawing an account are `AccountChange`s: a message with 承認/却下 in the
PR office channel, decided by a PR-office approver other than the requester. Plain edits (purpose,
operators, the password date, ...) by the PR office apply at once and are recorded field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.db import Database, insert_for, lock_rows
from bot.organization import Organization
from bot.workflows import audit, outbox
from bot.workflows.accounts.models import AccountChange, AccountReview, RegisterAccount, Report
from bot.workflows.accounts.rules import (
    HANDOVER_FIELDS,
    AccountDraft,
    AccountStatus,
    ChangeKind,
    ChangeStatus,
    ReviewDecision,
    ReviewStatus,
    change_refusal,
    local_date,
    may_manage,
    review_reason,
    warnings,
)
from bot.workflows.proposals.models import Publication

SUBJECT = "account"
REPORT_SUBJECT = "report"


class AccountError(Exception):
    """Something the person asked cannot be done; `key` is the catalog message explaining why."""

    def __init__(self, key: str, **values: object):
        super().__init__(key)
        self.key = key
        self.values = values


@dataclass(frozen=True)
class Activity:
    posts: int  # published posts in the review window
    last_post_at: datetime | None


@dataclass(frozen=True)
class Edited:
    saved: tuple[str, ...] = ()  # the fields saved at once
    change_id: int | None = None  # the hand-over now waiting for the PR office, if the department changed


@dataclass(frozen=True)
class Outcome:
    result: str  # decided | refused | already_decided
    status: str | None = None
    decided_by: str | None = None
    reason_key: str | None = None


def change_message_key(change_id: int) -> str:
    return f"account_change:{change_id}"


def review_message_key(review_id: int) -> str:
    return f"account_review:{review_id}"


def _json_date(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _apply(account: RegisterAccount, values: dict[str, object]) -> None:
    for name, value in values.items():
        setattr(account, name, _json_date(value) if name == "password_changed_on" else value)


def seed(db: Database, org: Organization, clock: Clock) -> int:
    """Put the organisation file's accounts into the register, once per id. Returns how many were new.

    Safe in several processes at once (INSERT … ON CONFLICT DO NOTHING); an account already in the
    register is never overwritten by the file: after seeding, the register is edited from Slack.
    """
    now = clock.now()
    added = 0
    with db.transaction() as session:
        for a in org.accounts:
            inserted = session.execute(insert_for(session)(RegisterAccount).values(
                id=a.id, platform=a.platform, name=a.name, handle=a.handle, url=a.url, kind=a.kind,
                department_id=a.department, manager=a.manager, operators=list(a.operators), purpose=a.purpose,
                audience=a.audience, posting_hours=a.posting_hours, policy_url=a.policy_url,
                password_changed_on=a.password_changed, last_reviewed_on=a.last_review, opened_on=a.opened,
                status=a.status, source="seed", created_at=now, updated_at=now,
                withdrawn_at=now if a.status == AccountStatus.WITHDRAWN else None, row_version=1,
            ).on_conflict_do_nothing(index_elements=[RegisterAccount.id]).returning(RegisterAccount.id)).scalar()
            if inserted is not None:
                audit.record(session, at=now, actor=audit.SYSTEM, action="account.seeded", subject_type=SUBJECT,
                             subject_id=a.id, to_state=a.status, source="organisation file")
                added += 1
    return added


def activity(session: Session, now: datetime, days: int) -> dict[str, Activity]:
    """Published posts per account in the last `days`, and each account's last published post ever."""
    since = now - timedelta(days=days)
    counts = dict(session.execute(
        select(Publication.account_id, func.count()).where(
            Publication.status == "published", Publication.published_at >= since
        ).group_by(Publication.account_id)
    ).all())
    last = dict(session.execute(
        select(Publication.account_id, func.max(Publication.published_at))
        .where(Publication.status == "published").group_by(Publication.account_id)
    ).all())
    return {account_id: Activity(counts.get(account_id, 0), last.get(account_id)) for account_id in counts | last}


def postable_accounts(db: Database, org: Organization) -> list[RegisterAccount]:
    """Accounts a post may go to: registered and not withdrawn, the organisation file's order first."""
    order = {a.id: i for i, a in enumerate(org.accounts)}
    with db.read() as session:
        found = session.scalars(select(RegisterAccount).where(RegisterAccount.status != AccountStatus.WITHDRAWN)).all()
    return sorted(found, key=lambda a: (order.get(a.id, len(order)), a.created_at, a.id))


def since_of(account: RegisterAccount, org: Organization) -> date:
    """When the account came into the register, for its first review window."""
    return account.opened_on or local_date(account.created_at, org)


def account_warnings(account: RegisterAccount, org: Organization, today: date) -> list[str]:
    if account.status == AccountStatus.WITHDRAWN:
        return []
    # Never reviewed and no opening date known (seeded without `opened`): that is worth a warning.
    return [str(w) for w in warnings(account.operators or [], account.password_changed_on, account.last_reviewed_on,
                                     account.opened_on, today, org.register)]


def pr_homes(session: Session, org: Organization, now: datetime) -> None:
    for approver in org.pr_office.approvers:
        outbox.home(session, user_id=approver, now=now)


# Raised by the database, not from the value this transaction read: an edit committed beside it keeps its step.
_NEXT_VERSION = RegisterAccount.row_version + 1


class AccountService:
    def __init__(self, db: Database, org: Organization, clock: Clock):
        self.db = db
        self.org = org
        self.clock = clock

    # -- reading -------------------------------------------------------------------------------

    def accounts(self) -> list[RegisterAccount]:
        with self.db.read() as session:
            return list(session.scalars(select(RegisterAccount).order_by(RegisterAccount.kind, RegisterAccount.id)))

    def account(self, account_id: str) -> RegisterAccount:
        with self.db.read() as session:
            account = session.get(RegisterAccount, account_id)
            if account is None:
                raise AccountError("accounts.error.not_found")
            return account

    def change(self, change_id: int) -> AccountChange:
        with self.db.read() as session:
            change = session.get(AccountChange, change_id)
            if change is None:
                raise AccountError("accounts.error.not_found")
            return change

    def ids(self) -> set[str]:
        """Every id in use: registered accounts and accounts waiting to be opened."""
        with self.db.read() as session:
            registered = set(session.scalars(select(RegisterAccount.id)))
            waiting = set(session.scalars(select(AccountChange.account_id).where(
                AccountChange.status == ChangeStatus.PENDING, AccountChange.kind == ChangeKind.OPEN)))
            return registered | waiting

    def check_may_manage(self, actor: str) -> None:
        if not may_manage(actor, self.org):
            raise AccountError("accounts.refused.not_pr_office")

    # -- asking for changes --------------------------------------------------------------------

    def request_open(self, actor: str, draft: AccountDraft) -> int:
        """開設: the account is registered once a PR-office approver approves. Returns the change id."""
        self.check_may_manage(actor)
        if draft.account_id in self.ids():
            raise AccountError("accounts.error.id_taken", id=draft.account_id)
        return self._request(actor, draft.account_id, ChangeKind.OPEN, draft.values(), None)

    def edit(self, actor: str, account_id: str, draft: AccountDraft, seen_version: int) -> Edited:
        """Edits apply at once; a new owning department is a hand-over waiting for approval.

        Both are conditional on the version the form was opened with, and happen in one transaction: the
        hand-over carries only the department, so approving it never writes back the form's other fields.
        """
        self.check_may_manage(actor)
        now = self.clock.now()
        values = draft.values()
        with self.db.read() as session:
            account = session.get(RegisterAccount, account_id)
            if account is None:
                raise AccountError("accounts.error.not_found")
            if account.status == AccountStatus.WITHDRAWN:
                raise AccountError("accounts.refused.withdrawn")
            current = _current_values(account)
        changed = {name: value for name, value in values.items() if value != current[name]}
        handover = {name: changed.pop(name) for name in HANDOVER_FIELDS if name in changed}
        if not changed and not handover:
            return Edited()
        try:
            with self.db.transaction() as session:
                if changed:
                    self._save_edit(session, actor, account_id, seen_version, current, changed, now)
                elif session.scalar(select(RegisterAccount.row_version).where(RegisterAccount.id == account_id)
                                    .with_for_update()) != seen_version:
                    raise AccountError("accounts.refused.changed_meanwhile")
                if not handover:
                    pr_homes(session, self.org, now)
                    return Edited(saved=tuple(changed))
                change_id = self._request(actor, account_id, ChangeKind.HANDOVER, handover, None, session=session,
                                          from_department=current["department_id"],
                                          to_department=handover["department_id"])
                return Edited(saved=tuple(changed), change_id=change_id)
        except IntegrityError:  # pending_key: this account has a change waiting already
            raise AccountError("accounts.refused.change_pending") from None

    def _save_edit(self, session: Session, actor: str, account_id: str, seen_version: int,
                   current: dict[str, object], changed: dict[str, object], now: datetime) -> None:
        won = session.execute(
            update(RegisterAccount)
            .where(RegisterAccount.id == account_id, RegisterAccount.row_version == seen_version)
            .values(row_version=_NEXT_VERSION, updated_at=now,
                    **{n: _json_date(v) if n == "password_changed_on" else v for n, v in changed.items()})
        ).rowcount
        if won != 1:
            raise AccountError("accounts.refused.changed_meanwhile")
        audit.record(session, at=now, actor=actor, action="account.edited", subject_type=SUBJECT,
                     subject_id=account_id, changes={n: [current[n], v] for n, v in changed.items()})

    def request_withdraw(self, actor: str, account_id: str, reason: str | None = None) -> int:
        self.check_may_manage(actor)
        with self.db.read() as session:
            account = session.get(RegisterAccount, account_id)
            if account is None:
                raise AccountError("accounts.error.not_found")
            if account.status == AccountStatus.WITHDRAWN:
                raise AccountError("accounts.refused.withdrawn")
        return self._request(actor, account_id, ChangeKind.WITHDRAW, {}, None, reason=reason)

    def _request(self, actor: str, account_id: str, kind: ChangeKind, payload: dict[str, object],
                 review_id: int | None, *, reason: str | None = None, session: Session | None = None,
                 **details: object) -> int:
        if session is not None:
            return self._add_change(session, actor, account_id, kind, payload, review_id, reason, details)
        try:
            with self.db.transaction() as session:
                return self._add_change(session, actor, account_id, kind, payload, review_id, reason, details)
        except IntegrityError:  # pending_key: this account has a change waiting already
            raise AccountError("accounts.refused.change_pending") from None

    def _add_change(self, session: Session, actor: str, account_id: str, kind: ChangeKind,
                    payload: dict[str, object], review_id: int | None, reason: str | None,
                    details: dict[str, object]) -> int:
        now = self.clock.now()
        change = AccountChange(account_id=account_id, kind=kind, status=ChangeStatus.PENDING, payload=payload,
                               requested_by=actor, requested_at=now, reason=reason, review_id=review_id,
                               pending_key=account_id)
        session.add(change)
        session.flush()
        audit.record(session, at=now, actor=actor, action="account.change_requested", subject_type=SUBJECT,
                     subject_id=account_id, to_state=ChangeStatus.PENDING, reason=reason, change=change.id,
                     kind=kind, **details)
        outbox.post(session, channel=self.org.pr_office.channel, view="account_change", ref={"change_id": change.id},
                    now=now, message_key=change_message_key(change.id))
        pr_homes(session, self.org, now)
        return change.id

    # -- deciding ------------------------------------------------------------------------------

    def check_may_decide(self, actor: str, change_id: int) -> Outcome | None:
        """Before opening the rejection modal: None if `actor` may decide now, else why not."""
        change = self.change(change_id)
        refusal = change_refusal(actor, change.requested_by, self.org)
        if refusal:
            return Outcome("refused", reason_key=refusal)
        if change.status != ChangeStatus.PENDING:
            return Outcome("already_decided", change.status, change.decided_by)
        return None

    def decide(self, actor: str, change_id: int, approve: bool, reason: str | None = None) -> Outcome:
        """承認 / 却下 (with a reason). Of several simultaneous clicks exactly one wins."""
        reason = (reason or "").strip() or None
        if not approve and reason is None:
            raise AccountError("accounts.error.reason_required")
        now = self.clock.now()
        with self.db.transaction() as session:
            change = session.get(AccountChange, change_id)
            if change is None:
                raise AccountError("accounts.error.not_found")
            # The account's row before the change's: the order an edit takes them (the account, then a hand-over
            # request for it); what the decision reads of the account then stays true until it commits.
            lock_rows(session, RegisterAccount.id, [change.account_id])
            refusal = change_refusal(actor, change.requested_by, self.org)
            if refusal:
                audit.record(session, at=now, actor=actor, action="account.change_refused", subject_type=SUBJECT,
                             subject_id=change.account_id, reason=refusal, change=change.id,
                             attempted="approve" if approve else "reject")
                return Outcome("refused", reason_key=refusal)
            status = ChangeStatus.APPROVED if approve else ChangeStatus.REJECTED
            won = session.execute(
                update(AccountChange)
                .where(AccountChange.id == change_id, AccountChange.status == ChangeStatus.PENDING)
                .values(status=status, decided_by=actor, decided_at=now, pending_key=None, decision_reason=reason)
            ).rowcount
            if won != 1:
                session.refresh(change)
                return Outcome("already_decided", change.status, change.decided_by)
            audit.record(session, at=now, actor=actor, action=f"account.change_{status}", subject_type=SUBJECT,
                         subject_id=change.account_id, from_state=ChangeStatus.PENDING, to_state=status,
                         reason=reason, change=change.id, kind=change.kind)
            if approve:
                self._carry_out(session, change, actor, now)
            elif change.kind == ChangeKind.WITHDRAW:
                self._keep_after_refused_withdrawal(session, change, actor, now)
            outbox.update(session, channel=self.org.pr_office.channel, view="account_change",
                          ref={"change_id": change.id}, now=now, message_key=change_message_key(change.id))
            outbox.direct_message(session, user_id=change.requested_by, view="account_change_dm",
                                  ref={"change_id": change.id}, now=now)
            pr_homes(session, self.org, now)
            return Outcome("decided", status, actor)

    def _carry_out(self, session: Session, change: AccountChange, actor: str, now: datetime) -> None:
        today = local_date(now, self.org)
        if change.kind == ChangeKind.OPEN:
            # Asked for while another request for the same id was being approved (the id was free when it was
            # checked): nothing is decided, and the approver is told the id is taken (they may reject it).
            if session.get(RegisterAccount, change.account_id) is not None:
                raise AccountError("accounts.error.id_taken", id=change.account_id)
            account = RegisterAccount(id=change.account_id, status=AccountStatus.ACTIVE, source="slack",
                                      opened_on=today, created_at=now, updated_at=now, row_version=1, operators=[])
            _apply(account, change.payload)
            session.add(account)
            audit.record(session, at=now, actor=actor, action="account.opened", subject_type=SUBJECT,
                         subject_id=change.account_id, to_state=AccountStatus.ACTIVE, change=change.id)
            return
        account = session.get(RegisterAccount, change.account_id)
        if account is None:
            raise AccountError("accounts.error.not_found")
        previous = account.status
        if change.kind == ChangeKind.HANDOVER:
            # Only the department: edits saved while the request waited stay. (Requests made before this rule
            # carried the whole form; the rest of it is not written back either.)
            from_department, to_department = account.department_id, change.payload["department_id"]
            session.execute(update(RegisterAccount).where(RegisterAccount.id == account.id).values(
                department_id=to_department, updated_at=now, row_version=_NEXT_VERSION))
            audit.record(session, at=now, actor=actor, action="account.handed_over", subject_type=SUBJECT,
                         subject_id=account.id, change=change.id, from_department=from_department,
                         to_department=to_department)
            return
        account.status, account.withdrawn_at = AccountStatus.WITHDRAWN, now
        account.updated_at, account.row_version = now, _NEXT_VERSION
        audit.record(session, at=now, actor=actor, action="account.withdrawn", subject_type=SUBJECT,
                     subject_id=account.id, from_state=previous, to_state=AccountStatus.WITHDRAWN, change=change.id)

    def _keep_after_refused_withdrawal(self, session: Session, change: AccountChange, actor: str, now: datetime) -> None:
        """A withdrawal the PR office turned down: the account goes on (and counts as reviewed)."""
        account = session.get(RegisterAccount, change.account_id)
        if account is None or account.status != AccountStatus.UNDER_REVIEW:
            return
        account.status, account.updated_at = AccountStatus.ACTIVE, now
        account.last_reviewed_on, account.row_version = local_date(now, self.org), _NEXT_VERSION
        audit.record(session, at=now, actor=actor, action="account.continued", subject_type=SUBJECT,
                     subject_id=account.id, from_state=AccountStatus.UNDER_REVIEW, to_state=AccountStatus.ACTIVE,
                     change=change.id)

    # -- reviews (継続 / 撤退) --------------------------------------------------------------------

    def decide_review(self, actor: str, review_id: int, decision: ReviewDecision) -> Outcome:
        now = self.clock.now()
        today = local_date(now, self.org)
        with self.db.transaction() as session:
            review = session.get(AccountReview, review_id)
            if review is None:
                raise AccountError("accounts.error.not_found")
            lock_rows(session, RegisterAccount.id, [review.account_id])  # before the review's, as in `decide`
            if not self.org.is_pr_approver(actor):
                audit.record(session, at=now, actor=actor, action="account.review_refused", subject_type=SUBJECT,
                             subject_id=review.account_id, reason="not a PR-office approver", review=review.id,
                             attempted=decision)
                return Outcome("refused", reason_key="accounts.refused.not_pr_office")
            status = ReviewStatus.CONTINUED if decision == ReviewDecision.CONTINUE else ReviewStatus.WITHDRAWAL_REQUESTED
            won = session.execute(
                update(AccountReview).where(AccountReview.id == review_id, AccountReview.status == ReviewStatus.OPEN)
                .values(status=status, decided_by=actor, decided_at=now, open_key=None)
            ).rowcount
            if won != 1:
                session.refresh(review)
                return Outcome("already_decided", review.status, review.decided_by)
            audit.record(session, at=now, actor=actor, action=f"account.review_{decision}", subject_type=SUBJECT,
                         subject_id=review.account_id, from_state=ReviewStatus.OPEN, to_state=status,
                         review=review.id)
            account = session.get(RegisterAccount, review.account_id)
            if decision == ReviewDecision.CONTINUE and account is not None:
                previous = account.status
                account.last_reviewed_on, account.updated_at = today, now
                if account.status == AccountStatus.UNDER_REVIEW:
                    account.status = AccountStatus.ACTIVE
                account.row_version = _NEXT_VERSION
                audit.record(session, at=now, actor=actor, action="account.continued", subject_type=SUBJECT,
                             subject_id=account.id, from_state=previous, to_state=account.status, review=review.id)
            elif decision == ReviewDecision.WITHDRAW:
                try:
                    with session.begin_nested():
                        self._request(actor, review.account_id, ChangeKind.WITHDRAW, {}, review.id,
                                      session=session, reason="review")
                except IntegrityError:
                    raise AccountError("accounts.refused.change_pending") from None
            outbox.update(session, channel=self.org.pr_office.channel, view="account_review",
                          ref={"review_id": review.id}, now=now, message_key=review_message_key(review.id))
            pr_homes(session, self.org, now)
            return Outcome("decided", status, actor)

    # -- reports -------------------------------------------------------------------------------

    def request_report(self, actor: str, period: str) -> int:
        """`/koho report week|month`: posted to the PR office channel with its chart. Returns its id."""
        self.check_may_manage(actor)
        now = self.clock.now()
        days = 7 if period == "week" else 30
        with self.db.transaction() as session:
            return post_report(session, self.org, period, now - timedelta(days=days), now, actor, now)


def _current_values(account: RegisterAccount) -> dict[str, object]:
    return {
        "platform": account.platform, "name": account.name, "handle": account.handle, "url": account.url,
        "kind": account.kind, "department_id": account.department_id, "manager": account.manager,
        "operators": list(account.operators or []), "purpose": account.purpose, "audience": account.audience,
        "posting_hours": account.posting_hours, "policy_url": account.policy_url,
        "password_changed_on": account.password_changed_on.isoformat() if account.password_changed_on else None,
    }


def post_report(session: Session, org: Organization, period: str, start: datetime, end: datetime, requested_by: str,
                now: datetime) -> int | None:
    """Record a report and enqueue its message and chart. None if this very report exists already."""
    report_id = session.execute(insert_for(session)(Report).values(
        period=period, start_at=start, end_at=end, requested_by=requested_by, created_at=now,
    ).on_conflict_do_nothing(index_elements=[Report.period, Report.start_at, Report.requested_by])
        .returning(Report.id)).scalar()
    if report_id is None:
        return None
    audit.record(session, at=now, actor=requested_by, action="report.posted", subject_type=REPORT_SUBJECT,
                 subject_id=report_id, period=period, start=start.isoformat(), end=end.isoformat())
    channel = org.pr_office.channel
    outbox.post(session, channel=channel, view="report", ref={"report_id": report_id}, now=now,
                message_key=f"report:{report_id}")
    outbox.upload(session, channel=channel, view="report_chart", ref={"report_id": report_id}, now=now,
                  message_key=f"report_chart:{report_id}")
    return report_id


def flag_review_candidates(session: Session, org: Organization, now: datetime) -> int:
    """Active accounts with no (or very little) published activity get a 継続/撤退 review. Returns how many."""
    today = local_date(now, org)
    seen = activity(session, now, org.register.inactive_days)
    flagged = 0
    # In id order: sweeps of two processes lock the same accounts in the same order.
    for account in session.scalars(select(RegisterAccount).where(RegisterAccount.status == AccountStatus.ACTIVE)
                                   .order_by(RegisterAccount.id)):
        act = seen.get(account.id, Activity(0, None))
        reason = review_reason(posts_in_window=act.posts, since=since_of(account, org),
                               last_reviewed_on=account.last_reviewed_on, today=today, options=org.register)
        if reason is None:
            continue
        won = session.execute(
            update(RegisterAccount).where(RegisterAccount.id == account.id,
                                          RegisterAccount.status == AccountStatus.ACTIVE)
            .values(status=AccountStatus.UNDER_REVIEW, updated_at=now, row_version=_NEXT_VERSION)
        ).rowcount
        if won != 1:
            continue  # another process flagged it, or someone changed it
        review = AccountReview(account_id=account.id, flagged_at=now, reason=reason, posts=act.posts,
                               last_post_at=act.last_post_at, status=ReviewStatus.OPEN, open_key=account.id)
        session.add(review)
        session.flush()
        audit.record(session, at=now, actor=audit.SYSTEM, action="account.review_flagged", subject_type=SUBJECT,
                     subject_id=account.id, from_state=AccountStatus.ACTIVE, to_state=AccountStatus.UNDER_REVIEW,
                     reason=reason, review=review.id, posts=act.posts)
        outbox.post(session, channel=org.pr_office.channel, view="account_review", ref={"review_id": review.id},
                    now=now, message_key=review_message_key(review.id))
        flagged += 1
    if flagged:
        pr_homes(session, org, now)
    return flagged
