"""Proposal use cases: each one transaction, each state change conditional and audited.

Handlers call these and then `services.notify()`; every Slack side effect is an outbox item
written in the same transaction, so a change and the news of it commit (or vanish) together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Row, and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, object_session

from bot.clock import Clock
from bot.db import Database
from bot.organization import PR_OFFICE_ID, Organization
from bot.workflows import audit, outbox
from bot.workflows.accounts.directory import account_for, account_name
from bot.workflows.proposals.models import ApprovalStep, Proposal, ProposalVersion, Publication
from bot.workflows.proposals.rules import (
    FINAL,
    STEP_OUTCOME,
    TRANSITIONS,
    Decision,
    Draft,
    Kind,
    PlannedStep,
    Stage,
    Status,
    StepStatus,
    correction_refusal,
    eligible_approvers,
    may_choose_department,
    may_publish,
    plan_chain,
    refusal_reason,
    withdrawal_refusal,
)

SUBJECT = "proposal"


class ProposalError(Exception):
    """Something the person asked cannot be done; `key` is the catalog message explaining why."""

    def __init__(self, key: str, **values: object):
        super().__init__(key)
        self.key = key
        self.values = values


class _LostRace(Exception):
    """A conditional update matched nothing: someone else changed the row first."""


@dataclass(frozen=True)
class Outcome:
    """What became of a decision click, for the handler to tell the person."""

    result: str  # decided | refused | already_decided
    step_status: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason_key: str | None = None
    proposal_status: str | None = None


def step_channel(step: ApprovalStep, org: Organization) -> str:
    if step.stage == Stage.FAST_TRACK:
        return org.emergency_channel
    department = org.department(step.department_id)
    return department.channel if department else org.pr_office.channel


def decided_earlier(step: ApprovalStep) -> tuple[str, ...]:
    """Who decided another step of the same version: one person decides one step of a version, not two."""
    return tuple(s.decided_by for s in step.proposal.steps
                 if s.version_number == step.version_number and s.id != step.id and s.decided_by)


def step_approvers_of(step: ApprovalStep, org: Organization) -> tuple[str, ...]:
    """Who may decide this step now (see `rules.eligible_approvers`)."""
    return eligible_approvers(step.stage, step.department_id, step.proposal.proposer, org,
                              decided_earlier=decided_earlier(step))


AWAITING_PAGE = 50  # candidate steps read at a time for App Home's "waiting for my approval"


# A proposal's current version, joined to the proposal (its text, for a list's lines).
CURRENT_VERSION = and_(ProposalVersion.proposal_id == Proposal.id, ProposalVersion.number == Proposal.current_version)


def steps_awaiting(session: Session, org: Organization, user_id: str, limit: int) -> list[Row]:
    """The pending steps `user_id` may decide now, newest first, at most `limit` (App Home): rows of the step's
    `id`, `proposal_id`, `stage` and `requested_at`, and its proposal's `proposer` and current `text`.

    Every proposal and decision refreshes several people's App Home, so this must not load every
    pending step of the city: it reads plain columns of the newest steps of others' proposals this person
    could be an approver of (any step only for the PR office, who stand in anywhere), and who decided their
    versions' other steps, until `limit` are found. Plain columns for those shown too: loading them as steps,
    with their proposals' every version, step and publication, was most of a Home's rendering.
    """
    own = [d.id for d in (*org.departments, org.pr_office) if user_id in d.approvers]
    candidates = (
        select(ApprovalStep.id, ApprovalStep.stage, ApprovalStep.department_id, ApprovalStep.proposal_id,
               ApprovalStep.version_number, Proposal.proposer)
        .join(Proposal, Proposal.id == ApprovalStep.proposal_id)
        .where(ApprovalStep.status == StepStatus.PENDING, Proposal.proposer != user_id)  # never one's own
        .order_by(ApprovalStep.id.desc())
    )
    # A department head may decide most of their candidates: they are read a page at a time, one page,
    # usually. The PR office's candidates are every step of the city, most of them a department's, which
    # they decide only as a stand-in: read at once, as paging through them would cost more.
    page_size: int | None = max(2 * limit, AWAITING_PAGE)
    if org.is_pr_approver(user_id):
        page_size = None
    else:
        mine = [and_(ApprovalStep.department_id.in_(own), ApprovalStep.stage != Stage.FAST_TRACK)]
        if org.is_on_call(user_id):
            mine.append(ApprovalStep.stage == Stage.FAST_TRACK)
        candidates = candidates.where(or_(*mine))
    chosen: list[int] = []
    before: int | None = None
    while len(chosen) < limit:
        page = candidates if before is None else candidates.where(ApprovalStep.id < before)
        rows = session.execute(page.limit(page_size)).all()
        chosen += _decidable_by(session, org, user_id, rows)
        if page_size is None or len(rows) < page_size:
            break
        before = rows[-1].id
    chosen = chosen[:limit]
    if not chosen:
        return []
    shown = {row.id: row for row in session.execute(
        select(ApprovalStep.id, ApprovalStep.proposal_id, ApprovalStep.stage, ApprovalStep.requested_at,
               Proposal.proposer, ProposalVersion.text)
        .join(Proposal, Proposal.id == ApprovalStep.proposal_id).join(ProposalVersion, CURRENT_VERSION)
        .where(ApprovalStep.id.in_(chosen))
    )}
    return [shown[i] for i in chosen]


def _decidable_by(session: Session, org: Organization, user_id: str, rows: Sequence[Row]) -> list[int]:
    """Of these candidate steps (plain columns, in order), the ids `user_id` may decide: who decided their
    versions' other steps is read for these rows' proposals only."""
    if not rows:
        return []
    decided: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for proposal_id, version, step_id, by in session.execute(
        select(ApprovalStep.proposal_id, ApprovalStep.version_number, ApprovalStep.id, ApprovalStep.decided_by)
        .where(ApprovalStep.proposal_id.in_({r.proposal_id for r in rows}), ApprovalStep.decided_by.is_not(None))
    ):
        decided.setdefault((proposal_id, version), []).append((step_id, by))
    return [
        r.id for r in rows
        if user_id in eligible_approvers(r.stage, r.department_id, r.proposer, org, decided_earlier=tuple(
            by for step_id, by in decided.get((r.proposal_id, r.version_number), ()) if step_id != r.id))
    ]


def step_refusal(actor: str, step: ApprovalStep, org: Organization) -> str | None:
    return refusal_reason(actor, step.proposal.proposer, step.stage, step.department_id, org,
                          decided_earlier=decided_earlier(step))


def step_message_key(step_id: int) -> str:
    return f"step:{step_id}"


def publication_message_key(publication_id: int) -> str:
    return f"publication:{publication_id}"


class ProposalService:
    def __init__(self, db: Database, org: Organization, clock: Clock):
        self.db = db
        self.org = org
        self.clock = clock

    # -- proposing -----------------------------------------------------------------------------

    def submit(self, actor: str, draft: Draft, *, emergency_active: bool | None = None,
               submission_key: str | None = None, emergency_id: int | None = None) -> int:
        """Store a valid draft as version 1 and ask the first step. Returns the proposal id.

        `emergency_active`: whether a real emergency is on (a 緊急 post then takes the fast track); None:
        as the database says when the proposal is stored, in the same transaction.
        `submission_key` (the modal's view id): the same modal submitted again — a person pressing
        again after a slow answer — returns the proposal already stored instead of a second one.
        `emergency_id`: the emergency whose template it was drafted from (its timeline lists it).
        """
        return self._once(submission_key, lambda v: v.proposal_id,
                          lambda session: self._submit(session, actor, draft, emergency_active, submission_key,
                                                       emergency_id))

    def _once(self, submission_key: str | None, answer, store):  # noqa: ANN001, ANN202
        """Run `store(session)` in one transaction, unless this submission was stored already (even by a
        simultaneous request: the version's unique key refuses the second)."""
        try:
            with self.db.transaction() as session:
                earlier = self._submitted(session, submission_key) if submission_key is not None else None
                return answer(earlier) if earlier is not None else store(session)
        except IntegrityError:
            if submission_key is None:
                raise
            with self.db.read() as session:
                earlier = self._submitted(session, submission_key)
            if earlier is None:
                raise
            return answer(earlier)

    @staticmethod
    def _submitted(session: Session, submission_key: str) -> ProposalVersion | None:
        return session.scalars(select(ProposalVersion).where(ProposalVersion.submission_key == submission_key)).first()

    @staticmethod
    def _emergency_on(session: Session, draft: Draft, emergency_active: bool | None) -> bool:
        if emergency_active is not None or draft.kind != Kind.EMERGENCY:  # only a 緊急 post's chain depends on it
            return bool(emergency_active)
        from bot.workflows.emergencies.service import real_emergency_active  # (that flow imports this module)

        return real_emergency_active(session)

    def _submit(self, session: Session, actor: str, draft: Draft, emergency_active: bool | None,
                submission_key: str | None, emergency_id: int | None) -> int:
        now = self.clock.now()
        self._check_department(actor, draft)
        if draft.corrects_id is not None:
            self._check_correctable(session, draft.corrects_id)
        proposal = Proposal(
            proposer=actor, department_id=draft.department_id, kind=draft.kind, status=Status.PENDING,
            current_version=1, corrects_id=draft.corrects_id, created_at=now, updated_at=now,
            emergency_id=self._known_emergency(session, emergency_id),
            steps=[],  # new: it has none yet (so asking its first step reads none from the database)
        )
        session.add(proposal)
        session.flush()
        self._add_version(session, proposal, draft, 1, actor, now, submission_key)
        audit.record(session, at=now, actor=actor, action="proposal.submitted", subject_type=SUBJECT,
                     subject_id=proposal.id, to_state=Status.PENDING, version=1, kind=draft.kind,
                     accounts=list(draft.accounts), department=draft.department_id,
                     corrects=draft.corrects_id, emergency=proposal.emergency_id)
        first = self._start_chain(session, proposal, draft, now,
                                  emergency_active=self._emergency_on(session, draft, emergency_active))
        # After the request's post in its channel, so the confirmation can link to it.
        outbox.direct_message(session, user_id=actor, view="proposal_dm",
                              ref={"proposal_id": proposal.id, "event": "received", "version": 1,
                                   "step_id": first.id}, now=now,
                              after=step_channel(first, self.org))
        outbox.home(session, user_id=actor, now=now)
        return proposal.id

    def resubmit(self, actor: str, proposal_id: int, draft: Draft, *, emergency_active: bool | None = None,
                 submission_key: str | None = None) -> int:
        """After 差し戻し: the proposer's edit becomes version N+1 and the chain starts again."""
        try:
            return self._once(submission_key, lambda v: v.number,
                              lambda session: self._resubmit(session, actor, proposal_id, draft, emergency_active,
                                                             submission_key))
        except _LostRace:
            raise ProposalError("proposal.refused.changed_meanwhile") from None

    def _resubmit(self, session: Session, actor: str, proposal_id: int, draft: Draft, emergency_active: bool | None,
                  submission_key: str | None) -> int:
        now = self.clock.now()
        proposal = self._lock_proposal(session, proposal_id)
        if actor != proposal.proposer:
            raise ProposalError("proposal.refused.not_proposer")
        if proposal.status != Status.CHANGES_REQUESTED:
            raise ProposalError("proposal.refused.not_awaiting_changes", status=proposal.status)
        self._check_department(actor, draft)
        if draft.corrects_id != proposal.corrects_id:  # a correction stays one, of the same original
            raise ProposalError("proposal.error.correction_needs_original")
        number = proposal.current_version + 1
        self._transition(session, proposal, "resubmit", now, current_version=number,
                         department_id=draft.department_id)
        self._add_version(session, proposal, draft, number, actor, now, submission_key)
        audit.record(session, at=now, actor=actor, action="proposal.resubmitted", subject_type=SUBJECT,
                     subject_id=proposal.id, from_state=Status.CHANGES_REQUESTED, to_state=Status.PENDING,
                     version=number)
        session.refresh(proposal)
        first = self._start_chain(session, proposal, draft, now,
                                  emergency_active=self._emergency_on(session, draft, emergency_active))
        outbox.direct_message(session, user_id=actor, view="proposal_dm",
                              ref={"proposal_id": proposal.id, "event": "received", "version": number,
                                   "step_id": first.id}, now=now,
                              after=step_channel(first, self.org))
        outbox.home(session, user_id=actor, now=now)
        return number

    @staticmethod
    def _known_emergency(session: Session, emergency_id: int | None) -> int | None:
        if emergency_id is None:
            return None
        from bot.workflows.emergencies.models import Emergency  # (that flow imports this module)

        return emergency_id if session.get(Emergency, emergency_id) is not None else None

    def _check_department(self, actor: str, draft: Draft) -> None:
        if not may_choose_department(actor, draft.department_id, Kind(draft.kind), self.org):
            raise ProposalError("proposal.error.pr_office_department_only", department=self.org.pr_office.name)

    def _check_correctable(self, session: Session, original_id: int) -> None:
        """A post live on any account may be corrected (`rules.correction_refusal`), whatever its record's status.

        No lock is needed: a recorded publication is never undone, so what was live when read is live still.
        """
        original = session.get(Proposal, original_id)
        refusal = "proposal.refused.correct_only_published" if original is None else correction_refusal(
            original.live_on)
        if refusal:
            raise ProposalError(refusal)

    def _add_version(self, session: Session, proposal: Proposal, draft: Draft, number: int, actor: str,
                     now: datetime, submission_key: str | None = None) -> None:
        session.add(ProposalVersion(
            proposal_id=proposal.id, number=number, text=draft.text.strip(), links=list(draft.links),
            media_description=(draft.media_description or "").strip() or None, accounts=list(draft.accounts),
            publish_at=draft.publish_at, checklist=list(draft.checklist),
            correction_note=(draft.correction_note or "").strip() or None, created_at=now, created_by=actor,
            submission_key=submission_key,
        ))
        session.flush()  # a repeated submission collides here, before anything else is written

    def _start_chain(self, session: Session, proposal: Proposal, draft: Draft, now: datetime, *,
                     emergency_active: bool) -> ApprovalStep:
        """Plan and store the version's steps and ask the first; returns it."""
        planned = plan_chain(Kind(draft.kind), draft.department_id, self.org, emergency_active=emergency_active)
        first = add_chain(session, proposal, planned, now)
        self._ask(session, proposal, first, now)
        return first

    def _ask(self, session: Session, proposal: Proposal, step: ApprovalStep, now: datetime) -> None:
        ask_step(session, self.org, proposal, step, now)

    # -- deciding ------------------------------------------------------------------------------

    def check_may_decide(self, actor: str, step_id: int) -> Outcome | None:
        """Before opening a reason modal: None if `actor` may decide now, else why not."""
        with self.db.read() as session:
            step = self._step(session, step_id)
            reason = step_refusal(actor, step, self.org)
            if reason:
                return Outcome("refused", reason_key=reason)
            if step.status != StepStatus.PENDING:
                return Outcome("already_decided", step.status, step.decided_by, step.decided_at)
            return None

    def decide(self, actor: str, step_id: int, decision: Decision, reason: str | None = None) -> Outcome:
        """承認 / 差し戻し / 却下 on one step. Exactly one of several simultaneous clicks wins."""
        if decision != Decision.APPROVE and not (reason or "").strip():
            raise ProposalError("proposal.error.reason_required")
        try:
            return self._decide(actor, step_id, decision, (reason or "").strip() or None)
        except _LostRace:
            with self.db.read() as session:
                step = self._step(session, step_id)
                return Outcome("already_decided", step.status, step.decided_by, step.decided_at)

    def _decide(self, actor: str, step_id: int, decision: Decision, reason: str | None) -> Outcome:
        now = self.clock.now()
        with self.db.transaction() as session:
            # The proposal's row first, as a withdrawal (and every change to its publications) takes it: a decision
            # and a withdrawal at once queue on it, instead of each locking the row the other needs next. The lock
            # the decision's UPDATE of the row takes anyway (FOR NO KEY UPDATE), taken earlier, in one statement.
            session.execute(select(Proposal.id).join(ApprovalStep, ApprovalStep.proposal_id == Proposal.id)
                            .where(ApprovalStep.id == step_id).with_for_update(key_share=True, of=Proposal))
            step = self._step(session, step_id)
            proposal = step.proposal
            refusal = step_refusal(actor, step, self.org)
            if refusal:
                audit.record(session, at=now, actor=actor, action="step.refused", subject_type=SUBJECT,
                             subject_id=proposal.id, reason=refusal, step=step.id, attempted=decision)
                return Outcome("refused", reason_key=refusal)
            if step.status != StepStatus.PENDING or proposal.status != Status.PENDING:
                return Outcome("already_decided", step.status, step.decided_by, step.decided_at,
                               proposal_status=proposal.status)
            outcome = STEP_OUTCOME[decision]
            won = session.execute(
                update(ApprovalStep)
                .where(ApprovalStep.id == step.id, ApprovalStep.status == StepStatus.PENDING)
                .values(status=outcome, decided_by=actor, decided_at=now, reason=reason)
            ).rowcount
            if won != 1:
                raise _LostRace
            later = [s for s in proposal.steps if s.version_number == step.version_number
                     and s.status == StepStatus.WAITING]
            if decision == Decision.APPROVE and later:
                new_status = Status.PENDING
            elif decision == Decision.APPROVE:
                new_status = Status.APPROVED
            else:
                new_status = TRANSITIONS[(Status.PENDING, decision)]
            self._transition(session, proposal, decision, now, status=new_status)
            audit.record(session, at=now, actor=actor, action=f"step.{outcome}", subject_type=SUBJECT,
                         subject_id=proposal.id, from_state=StepStatus.PENDING, to_state=outcome, reason=reason,
                         step=step.id, stage=step.stage, version=step.version_number)
            session.refresh(step)
            outbox.update(session, channel=step_channel(step, self.org), view="approval_request",
                          ref={"step_id": step.id}, now=now, message_key=step_message_key(step.id))

            if decision == Decision.APPROVE and later:
                self._ask(session, proposal, later[0], now)
                event = "step_approved"
            elif decision == Decision.APPROVE:
                audit.record(session, at=now, actor=audit.SYSTEM, action="proposal.approved", subject_type=SUBJECT,
                             subject_id=proposal.id, from_state=Status.PENDING, to_state=Status.APPROVED,
                             version=proposal.current_version)
                self._schedule_publications(session, proposal, now)
                event = "approved"
            else:
                for waiting in later:
                    waiting.status = StepStatus.CANCELLED
                event = str(outcome)
            # In the step channel's queue, like the confirmation: the proposer's DMs keep their order.
            outbox.direct_message(session, user_id=proposal.proposer, view="proposal_dm",
                                  ref={"proposal_id": proposal.id, "event": event, "step_id": step.id}, now=now,
                                  after=step_channel(step, self.org))
            outbox.home(session, user_id=proposal.proposer, now=now)
            outbox.home(session, user_id=actor, now=now)
            return Outcome("decided", outcome, actor, now, proposal_status=new_status)

    # -- withdrawing ---------------------------------------------------------------------------

    def withdraw(self, actor: str, proposal_id: int) -> None:
        """取り下げ: the proposer's, until the post is live on any account (then it is corrected instead)."""
        now = self.clock.now()
        try:
            with self.db.transaction() as session:
                refusal = self._withdraw_or_refuse(session, actor, proposal_id, now)
        except _LostRace:
            raise ProposalError("proposal.refused.changed_meanwhile") from None
        if refusal is not None:
            raise refusal

    def _withdraw_or_refuse(self, session: Session, actor: str, proposal_id: int,
                            now: datetime) -> ProposalError | None:
        """Withdraw, or record the refusal (it must commit, so it is returned, not raised in here)."""
        proposal = self._lock_proposal(session, proposal_id)
        live_on = proposal.live_on
        if actor != proposal.proposer:
            refusal, details = ProposalError("proposal.refused.not_proposer"), {"reason": "not the proposer"}
        elif live_on:  # a post is online: it is corrected, not withdrawn (`rules.withdrawal_refusal`)
            names = tuple(account_name(session, self.org, a) for a in live_on)
            refusal = ProposalError("proposal.refused.already_live", accounts=names)
            details = {"reason": "already published", "accounts": list(live_on)}
        else:
            self._withdraw(session, proposal, actor, now)
            return None
        audit.record(session, at=now, actor=actor, action="proposal.withdraw_refused",
                     subject_type=SUBJECT, subject_id=proposal.id, **details)
        return refusal

    def _withdraw(self, session: Session, proposal: Proposal, actor: str, now: datetime) -> None:
        refusal = withdrawal_refusal(proposal.status, proposal.live_on)
        if refusal:
            raise ProposalError(refusal, status=proposal.status)
        previous = proposal.status
        # Conditional on no account's post being live, in the same statement: a URL recorded at the same moment
        # (by a writer that did not queue on the proposal's row) and this withdrawal cannot both win.
        self._transition(session, proposal, "withdraw", now, only_if=nothing_live(proposal),
                         status=Status.WITHDRAWN)
        for step in proposal.steps:
            if step.status in (StepStatus.PENDING, StepStatus.WAITING):
                was_pending = step.status == StepStatus.PENDING
                step.status = StepStatus.CANCELLED
                if was_pending:
                    outbox.update(session, channel=step_channel(step, self.org), view="approval_request",
                                  ref={"step_id": step.id}, now=now, message_key=step_message_key(step.id))
        for publication in proposal.publications:
            if publication.status in ("scheduled", "handed_off", "held"):
                seen = publication.status
                # Conditional: an operator marking it published meanwhile wins, and the withdrawal is refused.
                if session.execute(
                    update(Publication).where(Publication.id == publication.id, Publication.status == seen)
                    .values(status="cancelled")
                ).rowcount != 1:
                    raise _LostRace
                if seen == "handed_off":
                    self._update_publication_message(session, publication, now)
        audit.record(session, at=now, actor=actor, action="proposal.withdrawn", subject_type=SUBJECT,
                     subject_id=proposal.id, from_state=previous, to_state=Status.WITHDRAWN)
        outbox.home(session, user_id=actor, now=now)

    # -- publishing ----------------------------------------------------------------------------

    def _schedule_publications(self, session: Session, proposal: Proposal, now: datetime) -> None:
        version = proposal.version
        for account_id in version.accounts:
            session.add(Publication(proposal_id=proposal.id, account_id=account_id, status="scheduled",
                                    due_at=max(version.publish_at or now, now)))
        session.flush()
        # While a real emergency is active a routine post is held, not handed off (issue #5): the emergency
        # flow puts it on hold, tells its proposer and the PR office, and lists it for review at the end.
        from bot.workflows.emergencies.service import hold_if_emergency  # (it imports this module)

        if hold_if_emergency(session, self.org, proposal, now):
            return
        hand_off_due(session, self.org, now, proposal_id=proposal.id)

    def mark_published(self, actor: str, publication_id: int, url: str, published_at: datetime | None = None) -> None:
        """掲載しました: the operator records where and when the post went out."""
        now = self.clock.now()
        try:
            refusal = self._mark_published(actor, publication_id, url, published_at, now)
        except _LostRace:
            raise ProposalError("proposal.refused.changed_meanwhile") from None
        if refusal:
            raise ProposalError(refusal)

    def _mark_published(self, actor: str, publication_id: int, url: str, published_at: datetime | None,
                        now: datetime) -> str | None:
        refusal: str | None = None
        with self.db.transaction() as session:
            publication = session.get(Publication, publication_id)
            if publication is None:
                raise ProposalError("proposal.error.not_found")
            # The proposal row first, then its publications (as withdraw does): two operators recording two
            # accounts of one proposal at once take turns, so the second sees the first and closes the record.
            self._lock_proposal(session, publication.proposal_id)
            session.refresh(publication)
            account = account_for(session, self.org, publication.account_id)
            if not may_publish(actor, account.department if account else PR_OFFICE_ID, self.org,
                               account.operators if account else ()):
                audit.record(session, at=now, actor=actor, action="publication.refused", subject_type=SUBJECT,
                             subject_id=publication.proposal_id, publication=publication.id)
                refusal = "proposal.refused.not_operator"
            elif session.execute(
                update(Publication)
                .where(Publication.id == publication_id, Publication.status == "handed_off")
                .values(status="published", url=url, published_at=published_at or now, published_by=actor)
            ).rowcount != 1:
                session.refresh(publication)
                refusal = ("proposal.refused.already_published" if publication.status == "published"
                           else "proposal.refused.not_publishable")
            else:
                self._after_publication(session, publication, actor, url, now)
        return refusal

    def _after_publication(self, session: Session, publication: Publication, actor: str, url: str,
                           now: datetime) -> None:
        session.refresh(publication)
        proposal = publication.proposal
        audit.record(session, at=now, actor=actor, action="publication.published", subject_type=SUBJECT,
                     subject_id=proposal.id, to_state="published", publication=publication.id,
                     account=publication.account_id, url=url)
        self._update_publication_message(session, publication, now)
        session.refresh(proposal)
        if proposal.status == Status.APPROVED and all(p.status in ("published", "cancelled")
                                                        for p in proposal.publications):
            self._transition(session, proposal, "publish", now, status=Status.PUBLISHED, published_at=now)
            audit.record(session, at=now, actor=actor, action="proposal.published", subject_type=SUBJECT,
                         subject_id=proposal.id, from_state=Status.APPROVED, to_state=Status.PUBLISHED)
            outbox.direct_message(session, user_id=proposal.proposer, view="proposal_dm",
                                  ref={"proposal_id": proposal.id, "event": "published"}, now=now)
        # Every account recorded, not only the last: once a post is live, App Home stops offering 取り下げ.
        outbox.home(session, user_id=proposal.proposer, now=now)

    def _update_publication_message(self, session: Session, publication: Publication, now: datetime) -> None:
        outbox.update(session, channel=publication_channel(publication, self.org), view="publication",
                      ref={"publication_id": publication.id}, now=now,
                      message_key=publication_message_key(publication.id))

    def check_may_publish(self, actor: str, publication_id: int) -> str | None:
        """Before opening the URL modal: None if `actor` may record it now, else why not (a refusal is audited)."""
        with self.db.read() as session:
            publication = session.get(Publication, publication_id)
            if publication is None:
                return "proposal.error.not_found"
            account = account_for(session, self.org, publication.account_id)
            if not may_publish(actor, account.department if account else PR_OFFICE_ID, self.org,
                               account.operators if account else ()):
                self._record_refusal(actor, "publication.refused", publication.proposal_id,
                                     publication=publication.id, reason="not an operator of the account")
                return "proposal.refused.not_operator"
            if publication.status != "handed_off":
                return "proposal.refused.already_published" if publication.status == "published" \
                    else "proposal.refused.not_publishable"
            return None

    # -- reading -------------------------------------------------------------------------------

    def draft_for_edit(self, actor: str, proposal_id: int) -> tuple[Proposal, ProposalVersion]:
        with self.db.read() as session:
            proposal = self._proposal(session, proposal_id)
            if actor != proposal.proposer:
                self._record_refusal(actor, "proposal.edit_refused", proposal.id, reason="not the proposer")
                raise ProposalError("proposal.refused.not_proposer")
            if proposal.status != Status.CHANGES_REQUESTED:
                raise ProposalError("proposal.refused.not_awaiting_changes", status=proposal.status)
            return proposal, proposal.version

    def original_for_correction(self, actor: str, proposal_id: int) -> tuple[Proposal, ProposalVersion]:
        with self.db.read() as session:
            proposal = self._proposal(session, proposal_id)
            self._check_correctable(session, proposal_id)
            return proposal, proposal.version

    # -- helpers -------------------------------------------------------------------------------

    def _proposal(self, session: Session, proposal_id: int) -> Proposal:
        proposal = session.get(Proposal, proposal_id)
        if proposal is None:
            raise ProposalError("proposal.error.not_found")
        return proposal

    def _record_refusal(self, actor: str, action: str, proposal_id: int, **details: object) -> None:
        """A refused click leaves a trace, in a transaction of its own (the caller only read)."""
        with self.db.transaction() as session:
            audit.record(session, at=self.clock.now(), actor=actor, action=action, subject_type=SUBJECT,
                         subject_id=proposal_id, **details)

    def _lock_proposal(self, session: Session, proposal_id: int) -> Proposal:
        proposal = lock_proposal(session, proposal_id)
        if proposal is None:
            raise ProposalError("proposal.error.not_found")
        return proposal

    def _step(self, session: Session, step_id: int) -> ApprovalStep:
        # Every caller reads the step's proposal next: one query for both, not two.
        step = session.get(ApprovalStep, step_id, options=[joinedload(ApprovalStep.proposal)])
        if step is None:
            raise ProposalError("proposal.error.not_found")
        return step

    def _transition(self, session: Session, proposal: Proposal, action: str, now: datetime, *,
                    only_if: tuple[ColumnElement[bool], ...] = (), **values: object) -> None:
        """Move a proposal on, only if nobody else moved it since we read it (row_version) and `only_if` holds."""
        if (Status(proposal.status), action) not in TRANSITIONS:
            raise ProposalError("proposal.refused.invalid_transition", status=proposal.status)
        values.setdefault("status", TRANSITIONS[(Status(proposal.status), action)])
        won = session.execute(
            update(Proposal)
            .where(Proposal.id == proposal.id, Proposal.row_version == proposal.row_version, *only_if)
            .values(row_version=Proposal.row_version + 1, updated_at=now, **values)
        ).rowcount
        if won != 1:
            raise _LostRace


def lock_proposal(session: Session, proposal_id: int) -> Proposal | None:
    """The proposal, read afresh, its row locked until the transaction ends (PostgreSQL; SQLite writers are
    serial). Every use case that changes a proposal or its publications takes this lock first (a decision, from
    its step, in one statement: `_decide`), so they queue in one order. Not its key (FOR NO KEY UPDATE): rows
    referring to it may still be added."""
    return session.scalars(
        select(Proposal).where(Proposal.id == proposal_id).with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).first()


def add_chain(session: Session, proposal: Proposal, planned: list[PlannedStep], now: datetime, *,
              after: int = 0) -> ApprovalStep:
    """Store the steps of the proposal's current version, numbered from `after` + 1: the first one's turn
    (pending, from `now`), the others waiting. Returns the first (to be asked, with `ask_step`, at `now`)."""
    steps = [ApprovalStep(version_number=proposal.current_version, position=after + n,
                          stage=plan.stage, department_id=plan.department_id,
                          status=StepStatus.PENDING if n == 1 else StepStatus.WAITING,
                          requested_at=now if n == 1 else None)
             for n, plan in enumerate(planned, start=1)]
    proposal.steps.extend(steps)  # the proposal's list stays whole, for who decided its other steps
    session.flush()
    return steps[0]


def ask_step(session: Session, org: Organization, proposal: Proposal, step: ApprovalStep, now: datetime) -> None:
    """A step's turn: its request goes to its channel and its approvers' Home tabs."""
    step.status, step.requested_at = StepStatus.PENDING, now
    audit.record(session, at=now, actor=audit.SYSTEM, action="step.requested", subject_type=SUBJECT,
                 subject_id=proposal.id, to_state=StepStatus.PENDING, step=step.id, stage=step.stage,
                 version=step.version_number)
    outbox.post(session, channel=step_channel(step, org), view="approval_request",
                ref={"step_id": step.id}, now=now, message_key=step_message_key(step.id))
    for approver in step_approvers_of(step, org):
        outbox.home(session, user_id=approver, now=now)


def _emergency_posts_pending(session: Session) -> list[tuple[Proposal, list[ApprovalStep]]]:
    """緊急 proposals waiting for approval, each with its current version's steps."""
    pending = session.scalars(
        select(Proposal).where(Proposal.kind == Kind.EMERGENCY, Proposal.status == Status.PENDING).order_by(Proposal.id)
    ).all()
    return [(p, [s for s in p.steps if s.version_number == p.current_version]) for p in pending]


MOVED_TO_FAST_TRACK = "moved_to_fast_track"  # the reason on a step cancelled because its proposal was fast-tracked


def fast_track_pending(session: Session, org: Organization, now: datetime, *, emergency_id: int) -> list[int]:
    """A real emergency was declared: 緊急 proposals still on the ordinary chain move to the fast track.

    Their open steps (pending or waiting) are cancelled, each conditionally, and one fast-track step is asked
    in the emergency channel. A step decided in the same instant wins: that proposal is left as it is.
    Returns the ids of the proposals moved.
    """
    moved = []
    for proposal, steps in _emergency_posts_pending(session):
        open_steps = [s for s in steps if s.status in (StepStatus.PENDING, StepStatus.WAITING)]
        if not open_steps or any(s.stage == Stage.FAST_TRACK for s in open_steps):
            continue
        if session.execute(
            update(Proposal).where(Proposal.id == proposal.id, Proposal.status == Status.PENDING,
                                   Proposal.row_version == proposal.row_version)
            .values(row_version=Proposal.row_version + 1, updated_at=now)
        ).rowcount != 1:
            continue  # decided or withdrawn meanwhile
        cancelled = []
        for step in sorted(open_steps, key=lambda s: s.status != StepStatus.PENDING):  # the pending one first
            was = step.status
            if session.execute(
                update(ApprovalStep).where(ApprovalStep.id == step.id, ApprovalStep.status == was)
                .values(status=StepStatus.CANCELLED, reason=MOVED_TO_FAST_TRACK)
            ).rowcount == 1:
                cancelled.append(step.id)
                if was == StepStatus.PENDING:  # its request now says where it went
                    outbox.update(session, channel=step_channel(step, org), view="approval_request",
                                  ref={"step_id": step.id}, now=now, message_key=step_message_key(step.id))
        fast = add_chain(session, proposal, [PlannedStep(Stage.FAST_TRACK, PR_OFFICE_ID)], now,
                         after=max(s.position for s in steps))
        audit.record(session, at=now, actor=audit.SYSTEM, action="proposal.fast_tracked", subject_type=SUBJECT,
                     subject_id=proposal.id, emergency=emergency_id, cancelled_steps=cancelled, step=fast.id,
                     version=proposal.current_version)
        ask_step(session, org, proposal, fast, now)
        outbox.direct_message(session, user_id=proposal.proposer, view="proposal_dm",
                              ref={"proposal_id": proposal.id, "event": "fast_tracked", "step_id": fast.id}, now=now)
        session.expire(proposal)
        moved.append(proposal.id)
    return moved


FAST_TRACK_ENDED = "fast_track_ended"  # the reason on a fast-track step cancelled because no emergency is active


def leave_fast_track(session: Session, org: Organization, now: datetime) -> list[int]:
    """No real emergency is active any more: 緊急 proposals still waiting for their fast-track approval go back to
    the ordinary chain, from its start (the fast track is for while an emergency is declared).

    The mirror of `fast_track_pending`, in the same order (the proposal's row, then the step's, as a decision and
    a withdrawal take them), each conditional: an approval in the same instant wins, and that proposal is left as
    it is. Returns the ids of those moved.
    """
    moved = []
    for proposal, steps in _emergency_posts_pending(session):
        fast = next((s for s in steps if s.stage == Stage.FAST_TRACK and s.status == StepStatus.PENDING), None)
        if fast is None:
            continue
        savepoint = session.begin_nested()
        if session.execute(
            update(Proposal).where(Proposal.id == proposal.id, Proposal.status == Status.PENDING,
                                   Proposal.row_version == proposal.row_version)
            .values(row_version=Proposal.row_version + 1, updated_at=now)
        ).rowcount != 1 or session.execute(
            update(ApprovalStep).where(ApprovalStep.id == fast.id, ApprovalStep.status == StepStatus.PENDING)
            .values(status=StepStatus.CANCELLED, reason=FAST_TRACK_ENDED)
        ).rowcount != 1:
            savepoint.rollback()  # decided, withdrawn or edited meanwhile
            continue
        savepoint.commit()
        outbox.update(session, channel=step_channel(fast, org), view="approval_request", ref={"step_id": fast.id},
                      now=now, message_key=step_message_key(fast.id))
        first = add_chain(session, proposal, plan_chain(Kind.EMERGENCY, proposal.department_id, org), now,
                          after=max(s.position for s in steps))
        audit.record(session, at=now, actor=audit.SYSTEM, action="proposal.fast_track_left", subject_type=SUBJECT,
                     subject_id=proposal.id, cancelled_steps=[fast.id], step=first.id, version=proposal.current_version)
        ask_step(session, org, proposal, first, now)
        outbox.direct_message(session, user_id=proposal.proposer, view="proposal_dm",
                              ref={"proposal_id": proposal.id, "event": "fast_track_left", "step_id": first.id},
                              now=now)
        session.expire(proposal)
        moved.append(proposal.id)
    return moved


def nothing_live(proposal: Proposal) -> tuple[ColumnElement[bool], ...]:
    """None of the proposal's publications is recorded as published now (conditions for a conditional UPDATE).

    By their ids: they are all made when the proposal is approved (a change of its row_version), and the primary
    key is read, not SQLite's pick of the status index (every post ever published). None yet: nothing to ask.
    """
    ids = [p.id for p in proposal.publications]
    return (~exists().where(Publication.id.in_(ids), Publication.status == "published"),) if ids else ()


def publication_channel(publication: Publication, org: Organization) -> str:
    account = account_for(object_session(publication), org, publication.account_id)
    department = org.department(account.department) if account else None
    return department.channel if department else org.pr_office.channel


def hand_off_due(session: Session, org: Organization, now: datetime, *, proposal_id: int | None = None) -> int:
    """Scheduled publications whose time has come go to their account's people. Returns how many."""
    query = (
        select(Publication.id)
        .join(Proposal, Proposal.id == Publication.proposal_id)
        .where(Publication.status == "scheduled", Publication.due_at <= now, Proposal.status == Status.APPROVED)
    )
    if proposal_id is not None:
        query = query.where(Publication.proposal_id == proposal_id)
    handed = 0
    # In id order, the order an emergency's hold takes them: the two never wait for each other in a circle.
    for publication_id in session.scalars(query.order_by(Publication.id)).all():
        won = session.execute(
            update(Publication).where(Publication.id == publication_id, Publication.status == "scheduled")
            .values(status="handed_off", handed_off_at=now)
        ).rowcount
        if won != 1:
            continue  # another process handed it off
        publication = session.get(Publication, publication_id)
        audit.record(session, at=now, actor=audit.SYSTEM, action="publication.handed_off", subject_type=SUBJECT,
                     subject_id=publication.proposal_id, to_state="handed_off", publication=publication_id,
                     account=publication.account_id)
        outbox.post(session, channel=publication_channel(publication, org), view="publication",
                    ref={"publication_id": publication_id}, now=now,
                    message_key=publication_message_key(publication_id))
        handed += 1
    return handed


def is_final(status: str) -> bool:
    return Status(status) in FINAL
