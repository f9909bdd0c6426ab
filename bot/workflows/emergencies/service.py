"""Emergency use cases: each one transaction, each change conditional and audited, Slack only via the outbox.

- declare: the record, its checklist, the header and checklist messages, the other on-call officers paged,
  and (for a real emergency, not a drill) every approved routine post put on hold;
- work the checklist: 完了 / 元に戻す, assign, note — two people ticking one step: one wins, the other is
  told who and when;
- end: the header and checklist frozen, a summary with the timeline from the audit record, held posts listed
  for review (再開 / 取り消し), or carried over to another real emergency still running.

Locking (PostgreSQL; SQLite runs one writing transaction at a time anyway). "The emergency is active" is a read,
and under READ COMMITTED 終了 can commit between that read and the commit of what was done on its strength: a
post held while the end listed the held posts it could see (none), so no review ever offered it; a step ticked
after the end. So what is written because an emergency is active (a post held, a checklist change) is written
under a share lock on that emergency's row (`FOR SHARE`, taken where the status is checked), and ending locks the
row (`FOR NO KEY UPDATE`) before it reads the held posts: either the end waits for the hold or tick to commit and
then sees it, or the hold or tick waits for the end and finds the emergency ended. Share locks do not wait for
each other (clicks and holds under one emergency still run side by side).
Lock order, so nobody waits in a circle: a use case share-locks at most one emergency row (an approval while it
holds its proposal's row, a click before it updates its step's); ending and the 定時更新 sweep lock emergency rows
exclusively, in id order, and nothing they write afterwards waits for a row those use cases hold.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, inspect, or_, select, tuple_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from bot.clock import Clock
from bot.db import Database, lock_rows
from bot.organization import Organization
from bot.text.mrkdwn import mention
from bot.workflows import audit, outbox
from bot.workflows.emergencies.models import Emergency, EmergencyNote, EmergencyStep, HeldPost
from bot.workflows.emergencies.post_templates import PostContext, render_post
from bot.workflows.emergencies.rules import (
    CLOSING_NOTE_MAX,
    NOTE_MAX,
    RESUME_GRACE,
    TEMPLATES,
    Declaration,
    HeldStatus,
    Status,
    StepStatus,
    announced_next_update,
    checklist_for,
    first_update_at,
    is_routine,
    may_assign,
    may_declare,
    may_end,
    may_note,
    may_review_held,
    may_tick,
)
from bot.workflows.proposals.models import Proposal, Publication
from bot.workflows.proposals.rules import TRANSITIONS, Kind
from bot.workflows.proposals.rules import Status as ProposalStatus
from bot.workflows.proposals.service import (
    fast_track_pending,
    hand_off_due,
    leave_fast_track,
    lock_proposal,
    publication_channel,
    publication_message_key,
)

log = logging.getLogger(__name__)

SUBJECT = "emergency"
UNSEEN = object()  # assign(): the caller does not know what the person saw
PROPOSAL_SUBJECT = "proposal"  # the proposal flow's audit subject: holds and resumes are on its record too
REVIEW_PAGE_SIZE = 20  # held posts per review message: 2 blocks each, within Slack's 50


class EmergencyError(Exception):
    """Something the person asked cannot be done; `key` is the catalog message explaining why."""

    def __init__(self, key: str, **values: object):
        super().__init__(key)
        self.key = key
        self.values = values


# -- message keys (where each view lives in Slack) ---------------------------------------------------


def header_key(emergency_id: int) -> str:
    return f"emergency:{emergency_id}:header"


def checklist_key(emergency_id: int) -> str:
    return f"emergency:{emergency_id}:checklist"


def summary_key(emergency_id: int) -> str:
    return f"emergency:{emergency_id}:summary"


def review_key(emergency_id: int, page: int) -> str:
    return f"emergency:{emergency_id}:review:{page}"


def held_notice_key(emergency_id: int, stamp: datetime) -> str:
    return f"emergency:{emergency_id}:held:{stamp.isoformat()}"


# -- queries other flows use (Slack-free) ------------------------------------------------------------


def real_emergency_active(source: Session | Database) -> bool:
    """Whether a real (not drill) emergency is active: routine posts wait, 緊急 posts take the fast track."""
    query = select(exists().where(Emergency.status == Status.ACTIVE, Emergency.drill.is_(False)))
    if isinstance(source, Database):
        with source.read() as session:
            return bool(session.scalar(query))
    return bool(source.scalar(query))


def active_emergencies(session: Session) -> list[Emergency]:
    return list(session.scalars(select(Emergency).where(Emergency.status == Status.ACTIVE).order_by(Emergency.id)))


def latest_real_active(session: Session, *, other_than: int | None = None, lock: bool = False) -> Emergency | None:
    """The newest real emergency still active. `lock`: its row share-locked until the transaction ends, so that it
    cannot end before what is done under it commits (see the module's note on locking); one ending meanwhile is
    waited for and skipped."""
    query = select(Emergency).where(Emergency.status == Status.ACTIVE, Emergency.drill.is_(False))
    if other_than is not None:
        query = query.where(Emergency.id != other_than)
    query = query.order_by(Emergency.id.desc()).limit(1)
    if lock:  # (the row as locked, not as this session may have read it before)
        query = query.with_for_update(read=True).execution_options(populate_existing=True)
    return session.scalars(query).first()


def still_active(session: Session, emergency: Emergency) -> bool:
    """Whether `emergency` is still active, its row share-locked until the transaction ends (see the module's note
    on locking). If it has ended, `emergency` is read again: who ended it, and when."""
    status = session.scalar(select(Emergency.status).where(Emergency.id == emergency.id).with_for_update(read=True))
    if status != Status.ACTIVE:
        session.refresh(emergency)
        return False
    return True


# -- holding routine posts ---------------------------------------------------------------------------


def hold_routine_posts(session: Session, org: Organization, now: datetime, *, trigger: str) -> list[int]:
    """Every approved, not yet published, non-emergency proposal goes on hold. Returns their ids.

    Runs when a real emergency is declared, and as a sweep (the safety net for a proposal approved in the
    instant an emergency was being declared). Idempotent: only `approved` proposals are touched, with a
    conditional update, so two runs at once hold each proposal once.
    """
    emergency = latest_real_active(session, lock=True)
    if emergency is None:
        return []
    # Their publications in the same query batch: a declaration's time must not grow with the number of posts
    # waiting (it is inside the /emergency modal's 3-second ack).
    candidates = session.scalars(
        select(Proposal).where(Proposal.status == ProposalStatus.APPROVED, Proposal.kind != Kind.EMERGENCY)
        .order_by(Proposal.id).options(selectinload(Proposal.publications))
    ).all()
    held = _hold(session, org, emergency, [p for p in candidates if _routine(session, p)], now)
    if held:
        audit.record(session, at=now, actor=audit.SYSTEM, action="emergency.posts_held", subject_type=SUBJECT,
                     subject_id=emergency.id, proposals=held, trigger=trigger)
        outbox.post(session, channel=org.pr_office.channel, view="emergency_held_notice",
                    ref={"emergency_id": emergency.id, "proposal_ids": held, "trigger": trigger}, now=now,
                    message_key=held_notice_key(emergency.id, now), dedupe_key=held_notice_key(emergency.id, now))
        if trigger != "declared":  # (when declaring, the header is rendered after this anyway)
            _update_header_count(session, org, emergency.id, now)
    return held


def hold_if_emergency(session: Session, org: Organization, proposal: Proposal, now: datetime) -> bool:
    """Called by the proposal flow when a routine proposal has just been approved: hold it if a real
    emergency is active (instead of handing it off). Returns whether it was held."""
    if not _routine(session, proposal):
        return False
    emergency = latest_real_active(session, lock=True)  # (after the proposal's row: the lock order)
    if emergency is None:
        return False
    session.refresh(proposal)  # the caller may have moved it with a core UPDATE: read what is true now
    if not _hold(session, org, emergency, [proposal], now):
        return False
    audit.record(session, at=now, actor=audit.SYSTEM, action="emergency.posts_held", subject_type=SUBJECT,
                 subject_id=emergency.id, proposals=[proposal.id], trigger="approved")
    outbox.post(session, channel=org.pr_office.channel, view="emergency_held_notice",
                ref={"emergency_id": emergency.id, "proposal_ids": [proposal.id], "trigger": "approved"}, now=now,
                message_key=f"emergency:{emergency.id}:held:proposal:{proposal.id}")
    _update_header_count(session, org, emergency.id, now)
    return True


def _update_header_count(session: Session, org: Organization, emergency_id: int, now: datetime) -> None:
    """The header says how many routine posts are on hold: re-render it when that changes."""
    outbox.update(session, channel=org.emergency_channel, view="emergency_header", ref={"emergency_id": emergency_id},
                  now=now, message_key=header_key(emergency_id))


def _routine(session: Session, proposal: Proposal) -> bool:
    original = session.get(Proposal, proposal.corrects_id) if proposal.corrects_id is not None else None
    return is_routine(proposal.kind, original.kind if original else None)


HOLDABLE_PUBLICATIONS = ("scheduled", "handed_off")


def _hold(session: Session, org: Organization, emergency: Emergency, proposals: list[Proposal],
          now: datetime) -> list[int]:
    """Put these approved proposals (as read in this transaction) on hold. Returns the ids held, in order.

    Set at a time: one conditional UPDATE for the proposals and one per publication state, then the
    records and notifications added and inserted together at the commit. One by one this was several
    round trips per post, the whole of a declaration's ack on PostgreSQL with a few hundred posts waiting.
    A proposal published, withdrawn or held by someone else since it was read keeps what they did.
    """
    seen = [(p.id, p.row_version) for p in proposals if p.status == ProposalStatus.APPROVED]
    if not seen:
        return []
    won = set(session.scalars(
        update(Proposal)
        .where(tuple_(Proposal.id, Proposal.row_version).in_(seen), Proposal.status == ProposalStatus.APPROVED)
        .values(status=TRANSITIONS[(ProposalStatus.APPROVED, "hold")], row_version=Proposal.row_version + 1,
                updated_at=now)
        .returning(Proposal.id)
        .execution_options(synchronize_session=False)
    ))
    holding = [p for p in proposals if p.id in won]
    if not holding:
        return []
    was = {pub.id: pub.status for p in holding for pub in p.publications if pub.status in HOLDABLE_PUBLICATIONS}
    # Their rows in id order first, as the hand-off sweep takes them (one UPDATE below would take them in
    # whatever order its plan reads them).
    lock_rows(session, Publication.id, was)
    moved: set[int] = set()
    for status in HOLDABLE_PUBLICATIONS:  # conditional on the state read: a hand-off meanwhile is not undone
        ids = [pub_id for pub_id, s in was.items() if s == status]
        if ids:
            moved.update(session.scalars(
                update(Publication).where(Publication.id.in_(ids), Publication.status == status)
                .values(status="held").returning(Publication.id).execution_options(synchronize_session=False)
            ))
    channels: dict[str, str] = {}  # by account: where its operators were asked
    with session.no_autoflush:  # (look-ups below must not flush the rows added so far one post at a time)
        for proposal in holding:
            held_publications = []
            for publication in proposal.publications:
                if publication.id not in moved:
                    continue
                held_publications.append(publication.id)
                if was[publication.id] == "handed_off":  # its operators were already asked: the message now says "held"
                    if publication.account_id not in channels:
                        channels[publication.account_id] = publication_channel(publication, org)
                    outbox.update(session, channel=channels[publication.account_id], view="publication",
                                  ref={"publication_id": publication.id}, now=now,
                                  message_key=publication_message_key(publication.id))
            session.add(HeldPost(emergency_id=emergency.id, proposal_id=proposal.id, held_at=now, status=HeldStatus.HELD))
            audit.record(session, at=now, actor=audit.SYSTEM, action="proposal.held", subject_type=PROPOSAL_SUBJECT,
                         subject_id=proposal.id, from_state=ProposalStatus.APPROVED, to_state=ProposalStatus.ON_HOLD,
                         emergency=emergency.id, publications=held_publications)
            outbox.direct_message(session, user_id=proposal.proposer, view="emergency_held_dm",
                                  ref={"proposal_id": proposal.id, "emergency_id": emergency.id, "event": "held"}, now=now)
        for proposer in dict.fromkeys(p.proposer for p in holding):  # one App Home refresh each, shows them all
            outbox.home(session, user_id=proposer, now=now)
    held = [p.id for p in holding]
    for proposal in holding:
        for publication in proposal.publications:
            if publication.id in moved:
                session.expire(publication)
        session.expire(proposal)  # moved by the core UPDATEs above: read again if anyone looks
    return held


def _carry_over(session: Session, held: list[HeldPost], to: Emergency, now: datetime) -> None:
    """Posts still held when their emergency ends, while another real one runs: that one reviews them."""
    for row in held:
        if session.execute(
            update(HeldPost).where(HeldPost.id == row.id, HeldPost.status == HeldStatus.HELD,
                                   HeldPost.row_version == row.row_version)
            .values(status=HeldStatus.CARRIED_OVER, decided_by=audit.SYSTEM, decided_at=now,
                    row_version=HeldPost.row_version + 1)
        ).rowcount != 1:
            continue
        session.add(HeldPost(emergency_id=to.id, proposal_id=row.proposal_id, held_at=row.held_at,
                             status=HeldStatus.HELD))
        audit.record(session, at=now, actor=audit.SYSTEM, action="emergency.post_carried_over",
                     subject_type=SUBJECT, subject_id=row.emergency_id, proposal=row.proposal_id, to=to.id)


# -- outcomes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What became of a click, for the handler to tell the person (a success shows in the message)."""

    result: str  # done | refused | already | ended | needs_time
    key: str | None = None  # catalog key explaining a refusal
    values: dict[str, Any] = field(default_factory=dict)


# -- the service -------------------------------------------------------------------------------------


class EmergencyService:
    def __init__(self, db: Database, org: Organization, clock: Clock):
        self.db = db
        self.org = org
        self.clock = clock

    # -- declaring -----------------------------------------------------------------------------------

    def refuse(self, actor: str, attempted: str, emergency_id: int | str = "-") -> None:
        """Record a refused attempt (someone not on call tried /emergency): the record shows who tried."""
        with self.db.transaction() as session:
            audit.record(session, at=self.clock.now(), actor=actor, action=f"emergency.{attempted}_refused",
                         subject_type=SUBJECT, subject_id=emergency_id, reason="not on call")

    def declare(self, actor: str, declaration: Declaration) -> int:
        """Declare an emergency. Returns its id. The caller has validated the declaration."""
        if not may_declare(actor, self.org):
            self.refuse(actor, "declare")
            raise EmergencyError("emergency.refused.not_on_call")
        now = self.clock.now()
        interval = declaration.update_interval_minutes
        with self.db.transaction() as session:
            emergency = Emergency(
                type=declaration.type, title=declaration.title.strip(),
                areas=(declaration.areas or "").strip() or None,
                situation=(declaration.situation or "").strip() or None, drill=bool(declaration.drill),
                status=Status.ACTIVE, declared_by=actor, declared_at=now, update_interval_minutes=interval,
                next_update_at=first_update_at(now, interval),
            )
            session.add(emergency)
            session.flush()
            for position, planned in enumerate(checklist_for(self.org)):
                session.add(EmergencyStep(emergency_id=emergency.id, position=position, key=planned.key,
                                          label=planned.label, status=StepStatus.OPEN))
            audit.record(session, at=now, actor=actor, action="emergency.declared", subject_type=SUBJECT,
                         subject_id=emergency.id, to_state=Status.ACTIVE, type=emergency.type, title=emergency.title,
                         areas=emergency.areas, drill=emergency.drill, update_interval_minutes=interval)
            channel = self.org.emergency_channel
            ref = {"emergency_id": emergency.id}
            outbox.post(session, channel=channel, view="emergency_header", ref=ref, now=now,
                        message_key=header_key(emergency.id))
            outbox.post(session, channel=channel, view="emergency_checklist", ref=ref, now=now,
                        message_key=checklist_key(emergency.id))
            for officer in self.org.on_call_now():
                if officer != actor:  # paged: mentioned in the header, and a DM that links to it
                    outbox.direct_message(session, user_id=officer, view="emergency_page", ref=ref, now=now,
                                          after=channel)
            if not emergency.drill:
                self._carry_over_ended_reviews(session, emergency, now)
                fast_track_pending(session, self.org, now, emergency_id=emergency.id)
                held = hold_routine_posts(session, self.org, now, trigger="declared")
                if not held:  # the PR office hears that routine posting is paused even when nothing was held
                    outbox.post(session, channel=self.org.pr_office.channel, view="emergency_held_notice",
                                ref={"emergency_id": emergency.id, "proposal_ids": [], "trigger": "declared"},
                                now=now, message_key=held_notice_key(emergency.id, now))
            return emergency.id

    def _carry_over_ended_reviews(self, session: Session, emergency: Emergency, now: datetime) -> None:
        """Posts from an earlier emergency still waiting for review wait on, for this one's end."""
        waiting = session.scalars(
            select(HeldPost).join(Emergency, Emergency.id == HeldPost.emergency_id)
            .where(HeldPost.status == HeldStatus.HELD, Emergency.status == Status.ENDED,
                   HeldPost.emergency_id != emergency.id)
            .order_by(HeldPost.id)
        ).all()
        touched = {row.emergency_id for row in waiting}
        _carry_over(session, list(waiting), emergency, now)
        for old_id in touched:
            self._update_review_pages(session, old_id, now)

    # -- the checklist -------------------------------------------------------------------------------

    def tick(self, actor: str, step_id: int) -> Outcome:
        """完了: records who and when. Of two people ticking at once, one wins; the other is told who."""
        return self._set_step(actor, step_id, StepStatus.DONE)

    def reopen(self, actor: str, step_id: int) -> Outcome:
        """元に戻す: a step ticked by mistake is open again (both clicks stay on the record)."""
        return self._set_step(actor, step_id, StepStatus.OPEN)

    def _set_step(self, actor: str, step_id: int, to: StepStatus) -> Outcome:
        now = self.clock.now()
        frm = StepStatus.OPEN if to == StepStatus.DONE else StepStatus.DONE
        verb = "step_done" if to == StepStatus.DONE else "step_reopened"
        with self.db.transaction() as session:
            step = self._step(session, step_id)
            emergency = step.emergency
            if not may_tick(actor, step.assignee, self.org):
                return self._refused(session, actor, emergency, step, verb, "emergency.refused.not_on_call_or_assignee")
            if not still_active(session, emergency):
                return Outcome("ended", "emergency.refused.ended", self._ended_values(emergency))
            values: dict[str, Any] = ({"status": to, "done_by": actor, "done_at": now} if to == StepStatus.DONE
                                      else {"status": to, "done_by": None, "done_at": None})
            won = session.execute(
                update(EmergencyStep).where(EmergencyStep.id == step.id, EmergencyStep.status == frm)
                .values(row_version=EmergencyStep.row_version + 1, **values)
            ).rowcount
            if won != 1:
                session.refresh(step)
                if to == StepStatus.DONE:
                    return Outcome("already", "emergency.refused.already_done",
                                   {"who": step.done_by, "when": step.done_at, "step": step.id})
                return Outcome("already", "emergency.refused.already_open", {"step": step.id})
            audit.record(session, at=now, actor=actor, action=f"emergency.{verb}", subject_type=SUBJECT,
                         subject_id=emergency.id, from_state=frm, to_state=to, **self._step_details(step))
            self._update_checklist(session, emergency.id, now)
            return Outcome("done")

    def assign(self, actor: str, step_id: int, assignee: str, *, seen: str | None | object = UNSEEN) -> Outcome:
        """Assign a step. `seen`: the assignee the person saw in the message (None: nobody) — when someone
        else has assigned it since, nothing changes and the person is told who assigned whom. Of two
        assignments at once, one wins the same way (`UPDATE … WHERE row_version = :read`)."""
        now = self.clock.now()
        with self.db.transaction() as session:
            step = self._step(session, step_id)
            emergency = step.emergency
            if not may_assign(actor, self.org):
                # Slack already shows the refused choice in the clicker's menu: re-render to put it back.
                self._update_checklist(session, emergency.id, now)
                return self._refused(session, actor, emergency, step, "step_assign", "emergency.refused.not_on_call")
            if not still_active(session, emergency):
                return Outcome("ended", "emergency.refused.ended", self._ended_values(emergency))
            previous = step.assignee
            if previous == assignee:
                return Outcome("done")
            if seen is not UNSEEN and seen != previous:
                return self._assigned_meanwhile(session, emergency, step, now)
            won = session.execute(
                update(EmergencyStep).where(EmergencyStep.id == step.id, EmergencyStep.row_version == step.row_version)
                .values(assignee=assignee, row_version=EmergencyStep.row_version + 1)
            ).rowcount
            if won != 1:
                session.refresh(step)
                return self._assigned_meanwhile(session, emergency, step, now)
            audit.record(session, at=now, actor=actor, action="emergency.step_assigned", subject_type=SUBJECT,
                         subject_id=emergency.id, from_state=previous, to_state=assignee, **self._step_details(step))
            self._update_checklist(session, emergency.id, now)
            if assignee != actor:
                outbox.direct_message(session, user_id=assignee, view="emergency_assigned_dm",
                                      ref={"step_id": step.id, "by": actor}, now=now, after=self.org.emergency_channel)
            return Outcome("done")

    def _assigned_meanwhile(self, session: Session, emergency: Emergency, step: EmergencyStep,
                            now: datetime) -> Outcome:
        """Someone assigned the step since the person looked: who assigned whom (and the menu put back)."""
        by = next((e.actor for e in reversed(audit.events_for(session, SUBJECT, emergency.id))
                   if e.action == "emergency.step_assigned" and e.details.get("step") == step.id), None)
        self._update_checklist(session, emergency.id, now)
        return Outcome("already", "emergency.refused.already_assigned",
                       {"who": by, "assignee": mention(step.assignee) if step.assignee else "—"})

    def open_note(self, actor: str, step_id: int) -> tuple[Outcome | None, EmergencyStep]:
        """Before opening the note modal: (None, step) if `actor` may add a note now, else (why not, step)."""
        with self.db.transaction() as session:
            step = self._step(session, step_id)
            if not may_note(actor, step.assignee, self.org):
                return self._refused(session, actor, step.emergency, step, "note",
                                     "emergency.refused.not_responder"), step
            if step.emergency.status != Status.ACTIVE:
                return Outcome("ended", "emergency.refused.ended", self._ended_values(step.emergency)), step
            return None, step

    def add_note(self, actor: str, step_id: int, text: str) -> Outcome:
        text = text.strip()
        if not text:
            raise EmergencyError("emergency.error.note_required")
        if len(text) > NOTE_MAX:
            raise EmergencyError("emergency.error.too_long", limit=NOTE_MAX)
        now = self.clock.now()
        with self.db.transaction() as session:
            step = self._step(session, step_id)
            emergency = step.emergency
            if not may_note(actor, step.assignee, self.org):
                return self._refused(session, actor, emergency, step, "note", "emergency.refused.not_responder")
            if not still_active(session, emergency):
                return Outcome("ended", "emergency.refused.ended", self._ended_values(emergency))
            session.add(EmergencyNote(step_id=step.id, author=actor, at=now, text=text))  # appended: no race
            audit.record(session, at=now, actor=actor, action="emergency.note_added", subject_type=SUBJECT,
                         subject_id=emergency.id, note=text, **self._step_details(step))
            self._update_checklist(session, emergency.id, now)
            return Outcome("done")

    def _refused(self, session: Session, actor: str, emergency: Emergency, step: EmergencyStep | None,
                 attempted: str, key: str) -> Outcome:
        audit.record(session, at=self.clock.now(), actor=actor, action=f"emergency.{attempted}_refused",
                     subject_type=SUBJECT, subject_id=emergency.id, reason=key,
                     **(self._step_details(step) if step else {}))
        return Outcome("refused", key)

    @staticmethod
    def _step_details(step: EmergencyStep) -> dict[str, Any]:
        return {"step": step.id, "position": step.position, "step_key": step.key, "step_label": step.label}

    @staticmethod
    def _ended_values(emergency: Emergency) -> dict[str, Any]:
        return {"who": emergency.ended_by, "when": emergency.ended_at, "id": emergency.id}

    def _update_checklist(self, session: Session, emergency_id: int, now: datetime) -> None:
        outbox.update(session, channel=self.org.emergency_channel, view="emergency_checklist",
                      ref={"emergency_id": emergency_id}, now=now, message_key=checklist_key(emergency_id))

    def _update_header(self, session: Session, emergency_id: int, now: datetime) -> None:
        outbox.update(session, channel=self.org.emergency_channel, view="emergency_header",
                      ref={"emergency_id": emergency_id}, now=now, message_key=header_key(emergency_id))

    # -- ending --------------------------------------------------------------------------------------

    def check_may_end(self, actor: str) -> str | None:
        """Before opening the confirmation: None if `actor` may end an emergency, else why not (recorded)."""
        if may_end(actor, self.org):
            return None
        self.refuse(actor, "end")
        return "emergency.refused.not_on_call"

    def end(self, actor: str, emergency_id: int, closing_note: str | None = None) -> None:
        """Close it: the summary with its timeline, and held routine posts listed for review."""
        if not may_end(actor, self.org):
            self.refuse(actor, "end", emergency_id)
            raise EmergencyError("emergency.refused.not_on_call")
        note = (closing_note or "").strip() or None
        if note and len(note) > CLOSING_NOTE_MAX:
            raise EmergencyError("emergency.error.too_long", limit=CLOSING_NOTE_MAX)
        now = self.clock.now()
        with self.db.transaction() as session:
            # Its row first: a hold or checklist change under way (share-locked) commits before the held posts are read.
            # With it every other real one still active, in id order: the one its held posts may be carried over to
            # cannot end meanwhile (two ends at once had each carried its posts over to the other, both ended).
            session.execute(
                select(Emergency.id)
                .where(or_(Emergency.id == emergency_id, and_(Emergency.status == Status.ACTIVE,
                                                              Emergency.drill.is_(False))))
                .order_by(Emergency.id).with_for_update(key_share=True)
            ).all()
            emergency = self._emergency(session, emergency_id)
            if emergency.status != Status.ACTIVE or session.execute(
                update(Emergency)
                .where(Emergency.id == emergency.id, Emergency.status == Status.ACTIVE,
                       Emergency.row_version == emergency.row_version)
                .values(status=Status.ENDED, ended_by=actor, ended_at=now, closing_note=note, next_update_at=None,
                        row_version=Emergency.row_version + 1)
            ).rowcount != 1:
                session.refresh(emergency)
                raise EmergencyError("emergency.refused.already_ended", who=emergency.ended_by, when=emergency.ended_at)
            session.refresh(emergency)
            if not emergency.drill:
                # The safety net: a post left on hold under an emergency that had already ended, listed by no review
                # (before the locking above, a hold could commit after the end), is reviewed with this one's.
                self._carry_over_ended_reviews(session, emergency, now)
            held = list(session.scalars(select(HeldPost).where(HeldPost.emergency_id == emergency.id,
                                                               HeldPost.status == HeldStatus.HELD)
                                        .order_by(HeldPost.id)))
            successor = latest_real_active(session, other_than=emergency.id) if held else None
            audit.record(session, at=now, actor=actor, action="emergency.ended", subject_type=SUBJECT,
                         subject_id=emergency.id, from_state=Status.ACTIVE, to_state=Status.ENDED, reason=note,
                         held=len(held), carried_over_to=successor.id if successor else None)
            if successor is not None:
                _carry_over(session, held, successor, now)
            # The summary first: the header, re-rendered after it (one channel, in order), links to it.
            ref = {"emergency_id": emergency.id, "carried_over_to": successor.id if successor else None}
            outbox.post(session, channel=self.org.emergency_channel, view="emergency_summary", ref=ref, now=now,
                        message_key=summary_key(emergency.id))
            self._update_header(session, emergency.id, now)
            self._update_checklist(session, emergency.id, now)
            if held and successor is None:
                # Not published silently: the PR office decides post by post (再開 / 取り消し).
                for page in range(math.ceil(len(held) / REVIEW_PAGE_SIZE)):
                    outbox.post(session, channel=self.org.pr_office.channel, view="emergency_review",
                                ref={"emergency_id": emergency.id, "page": page}, now=now,
                                message_key=review_key(emergency.id, page))
        if not emergency.drill:
            self._leave_fast_track(now)

    def _leave_fast_track(self, now: datetime) -> None:
        """The last real emergency has ended: 緊急 posts waiting for a fast-track approval go back to the ordinary
        chain. In a transaction of its own, after the end's: the end stands whatever happens here, and the
        sweep (`emergencies.fast_track_emergency_posts`) does it within a round should this fail."""
        try:
            with self.db.transaction() as session:
                if latest_real_active(session) is None:
                    leave_fast_track(session, self.org, now)
        except SQLAlchemyError:
            log.exception("moving fast-tracked posts back to the ordinary chain failed; the sweep will")

    # -- held posts after the end --------------------------------------------------------------------

    def resume(self, actor: str, held_id: int, publish_at: datetime | None = None) -> Outcome:
        """再開: back to approved; handed off at its time, or at a new one if its time has passed."""
        now = self.clock.now()
        with self.db.transaction() as session:
            row, proposal, refusal = self._held_for_review(session, actor, held_id, "resume")
            if refusal:
                return refusal
            held_publications = [p for p in proposal.publications if p.status == "held"]
            due = min((p.due_at for p in held_publications), default=now)
            if publish_at is None and due < now:
                return Outcome("needs_time", values={"due": due, "text": proposal.version.text})
            if publish_at is not None:
                if publish_at < now - RESUME_GRACE:
                    return Outcome("refused", "emergency.error.publish_in_past")
                publish_at = max(publish_at, now)
            if not self._decide_held(session, row, HeldStatus.RESUMED, actor, now, publish_at=publish_at or due):
                return self._already_reviewed(session, row)
            self._move_proposal(session, proposal, "resume", now)
            for publication in held_publications:
                session.execute(update(Publication).where(Publication.id == publication.id, Publication.status == "held")
                                .values(status="scheduled", due_at=publish_at or publication.due_at))
            audit.record(session, at=now, actor=actor, action="proposal.resumed", subject_type=PROPOSAL_SUBJECT,
                         subject_id=proposal.id, from_state=ProposalStatus.ON_HOLD, to_state=ProposalStatus.APPROVED,
                         emergency=row.emergency_id, publish_at=(publish_at or due).isoformat())
            audit.record(session, at=now, actor=actor, action="emergency.post_resumed", subject_type=SUBJECT,
                         subject_id=row.emergency_id, proposal=proposal.id)
            session.flush()
            hand_off_due(session, self.org, now, proposal_id=proposal.id)
            self._after_review(session, row, proposal, "resumed", now)
            return Outcome("done", values={"publish_at": publish_at or due})

    def cancel(self, actor: str, held_id: int) -> Outcome:
        """取り消し: the held post will not go out (the proposal ends as withdrawn, with who and why). One already
        live on some account (recorded before the emergency) goes out nowhere else, and ends as published there."""
        now = self.clock.now()
        with self.db.transaction() as session:
            row, proposal, refusal = self._held_for_review(session, actor, held_id, "cancel")
            if refusal:
                return refusal
            if not self._decide_held(session, row, HeldStatus.CANCELLED, actor, now):
                return self._already_reviewed(session, row)
            action = "cancel_rest" if proposal.live_on else "cancel"  # (a recorded publication is never undone)
            self._move_proposal(session, proposal, action, now)
            for publication in proposal.publications:
                if publication.status == "held" and session.execute(
                    update(Publication).where(Publication.id == publication.id, Publication.status == "held")
                    .values(status="cancelled")
                ).rowcount == 1 and publication.handed_off_at is not None:
                    outbox.update(session, channel=publication_channel(publication, self.org), view="publication",
                                  ref={"publication_id": publication.id}, now=now,
                                  message_key=publication_message_key(publication.id))
            audit.record(session, at=now, actor=actor, action="proposal.cancelled", subject_type=PROPOSAL_SUBJECT,
                         subject_id=proposal.id, from_state=ProposalStatus.ON_HOLD,
                         to_state=TRANSITIONS[(ProposalStatus.ON_HOLD, action)], emergency=row.emergency_id,
                         reason="cancelled after the emergency",
                         **({"live_on": list(proposal.live_on)} if proposal.live_on else {}))
            audit.record(session, at=now, actor=actor, action="emergency.post_cancelled", subject_type=SUBJECT,
                         subject_id=row.emergency_id, proposal=proposal.id)
            self._after_review(session, row, proposal, "cancelled_rest" if action == "cancel_rest" else "cancelled", now)
            return Outcome("done")

    def _held_for_review(self, session: Session, actor: str, held_id: int,
                         attempted: str) -> tuple[HeldPost, Proposal, Outcome | None]:
        row = session.get(HeldPost, held_id)
        if row is None:
            raise EmergencyError("emergency.error.not_found")
        # The proposal's row first, as every change of a proposal takes it (a withdrawal meanwhile waits, or is
        # seen below): what is checked of it stays true until the decision commits.
        proposal = lock_proposal(session, row.proposal_id)
        if not may_review_held(actor, self.org):
            audit.record(session, at=self.clock.now(), actor=actor, action=f"emergency.{attempted}_refused",
                         subject_type=SUBJECT, subject_id=row.emergency_id, proposal=row.proposal_id,
                         reason="not PR office or on call")
            return row, proposal, Outcome("refused", "emergency.refused.not_reviewer")
        if row.status != HeldStatus.HELD:
            return row, proposal, self._already_reviewed(session, row)
        if real_emergency_active(session):
            return row, proposal, Outcome("refused", "emergency.refused.still_active")
        if proposal.status != ProposalStatus.ON_HOLD:
            return row, proposal, Outcome("refused", "emergency.refused.not_on_hold", {"status": proposal.status})
        return row, proposal, None

    def _decide_held(self, session: Session, row: HeldPost, to: HeldStatus, actor: str, now: datetime,
                     publish_at: datetime | None = None) -> bool:
        return session.execute(
            update(HeldPost).where(HeldPost.id == row.id, HeldPost.status == HeldStatus.HELD,
                                   HeldPost.row_version == row.row_version)
            .values(status=to, decided_by=actor, decided_at=now, publish_at=publish_at,
                    row_version=HeldPost.row_version + 1)
        ).rowcount == 1

    def _already_reviewed(self, session: Session, row: HeldPost) -> Outcome:
        session.refresh(row)
        return Outcome("already", f"emergency.refused.already_{row.status}",
                       {"who": row.decided_by, "when": row.decided_at})

    def _move_proposal(self, session: Session, proposal: Proposal, action: str, now: datetime) -> None:
        session.refresh(proposal)
        target = TRANSITIONS.get((ProposalStatus(proposal.status), action))
        if target is None or session.execute(
            update(Proposal).where(Proposal.id == proposal.id, Proposal.row_version == proposal.row_version)
            .values(status=target, row_version=Proposal.row_version + 1, updated_at=now)
        ).rowcount != 1:
            # Withdrawn (or otherwise moved on) since the check: the whole decision rolls back, and is said so.
            raise EmergencyError("emergency.refused.changed_meanwhile")
        session.refresh(proposal)

    def _after_review(self, session: Session, row: HeldPost, proposal: Proposal, event: str, now: datetime) -> None:
        self._update_review_pages(session, row.emergency_id, now, only_row=row.id)
        outbox.direct_message(session, user_id=proposal.proposer, view="emergency_held_dm",
                              ref={"proposal_id": proposal.id, "emergency_id": row.emergency_id, "event": event,
                                   "held_id": row.id}, now=now)
        outbox.home(session, user_id=proposal.proposer, now=now)

    def _update_review_pages(self, session: Session, emergency_id: int, now: datetime, *,
                             only_row: int | None = None) -> None:
        ids = list(session.scalars(select(HeldPost.id).where(HeldPost.emergency_id == emergency_id)
                                   .order_by(HeldPost.id)))
        pages = range(math.ceil(len(ids) / REVIEW_PAGE_SIZE))
        if only_row is not None and only_row in ids:
            pages = range(ids.index(only_row) // REVIEW_PAGE_SIZE, ids.index(only_row) // REVIEW_PAGE_SIZE + 1)
        for page in pages:
            outbox.update(session, channel=self.org.pr_office.channel, view="emergency_review",
                          ref={"emergency_id": emergency_id, "page": page}, now=now,
                          message_key=review_key(emergency_id, page))

    # -- reading -------------------------------------------------------------------------------------

    def active(self) -> list[Emergency]:
        with self.db.read() as session:
            return active_emergencies(session)

    def draft(self, emergency_id: int, template: str, locale: str) -> tuple[str, bool]:
        """A post drafted from a template and the emergency record: (text, whether it is still active)."""
        if template not in TEMPLATES:
            raise EmergencyError("emergency.error.not_found")
        now = self.clock.now()
        with self.db.read() as session:
            e = self._emergency(session, emergency_id)
            context = PostContext(type=e.type, title=e.title, areas=e.areas, situation=e.situation, drill=e.drill,
                                  declared_at=e.declared_at, now=now,
                                  next_update=announced_next_update(e.declared_at, e.update_interval_minutes, now))
            return render_post(template, locale, context, self.org), e.status == Status.ACTIVE

    def ended_outcome(self, emergency_id: int) -> Outcome:
        """Why a button of an emergency that has ended does nothing now."""
        with self.db.read() as session:
            e = self._emergency(session, emergency_id)
            return Outcome("ended", "emergency.refused.ended", self._ended_values(e))

    def _emergency(self, session: Session, emergency_id: int) -> Emergency:
        emergency = session.get(Emergency, emergency_id)
        if emergency is None:
            raise EmergencyError("emergency.error.not_found")
        return emergency

    def _step(self, session: Session, step_id: int) -> EmergencyStep:
        step = session.get(EmergencyStep, step_id)
        if step is None:
            raise EmergencyError("emergency.error.not_found")
        return step


# -- reports (read models for the views) -------------------------------------------------------------


@dataclass(frozen=True)
class StatusReport:
    emergency: Emergency
    steps: list[EmergencyStep]
    posts: dict[str, int]  # emergency posts by proposal status
    held: list[tuple[HeldPost, Proposal]]


def emergency_posts(session: Session, emergency: Emergency) -> list[Proposal]:
    """The posts of an emergency: those drafted from its templates (linked to it, whatever kind the
    proposer chose), and unlinked 緊急 posts proposed while it was active.

    (With two emergencies at once, an unlinked 緊急 post proposed while both ran belongs to both timelines.)
    """
    until = emergency.ended_at or datetime.max.replace(tzinfo=emergency.declared_at.tzinfo)
    return list(session.scalars(
        select(Proposal).where(or_(
            Proposal.emergency_id == emergency.id,
            and_(Proposal.emergency_id.is_(None), Proposal.kind == Kind.EMERGENCY,
                 Proposal.created_at.between(emergency.declared_at, until)),
        )).order_by(Proposal.id)
    ))


def status_report(session: Session, emergency: Emergency) -> StatusReport:
    posts: dict[str, int] = {}
    for proposal in emergency_posts(session, emergency):
        posts[proposal.status] = posts.get(proposal.status, 0) + 1
    held = session.execute(
        select(HeldPost, Proposal).join(Proposal, Proposal.id == HeldPost.proposal_id)
        .where(HeldPost.emergency_id == emergency.id, HeldPost.status == HeldStatus.HELD).order_by(HeldPost.id)
    ).all()
    return StatusReport(emergency, list(emergency.steps), posts, [(h, p) for h, p in held])


def held_rows(session: Session, emergency_id: int) -> list[tuple[HeldPost, Proposal]]:
    return [(h, p) for h, p in session.execute(
        select(HeldPost, Proposal).join(Proposal, Proposal.id == HeldPost.proposal_id)
        .where(HeldPost.emergency_id == emergency_id).order_by(HeldPost.id)
    ).all()]


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # declared | step_done | step_reopened | step_assigned | note | posts_held | post_submitted
    #            | post_approved | post_published | comment | ended
    actor: str | None
    values: dict[str, Any]


TIMELINE_ACTIONS = {
    "emergency.declared": "declared",
    "emergency.step_done": "step_done",
    "emergency.step_reopened": "step_reopened",
    "emergency.step_assigned": "step_assigned",
    "emergency.note_added": "note",
    "emergency.posts_held": "posts_held",
    "emergency.ended": "ended",
}
POST_ACTIONS = {
    "proposal.submitted": "post_submitted",
    "step.approved": "post_approved",
    "publication.published": "post_published",
}


def timeline(session: Session, emergency: Emergency) -> list[TimelineEntry]:
    """振り返り: what happened, in order, from the audit record (and the comments flagged 緊急)."""
    entries: list[tuple[datetime, int, TimelineEntry]] = []
    for event in audit.events_for(session, SUBJECT, emergency.id):
        kind = TIMELINE_ACTIONS.get(event.action)
        if kind:
            entries.append((event.at, event.id, TimelineEntry(event.at, kind, event.actor,
                                                              {**event.details, "reason": event.reason,
                                                               "to_state": event.to_state})))
    until = emergency.ended_at or datetime.max.replace(tzinfo=emergency.declared_at.tzinfo)
    for proposal in emergency_posts(session, emergency):
        for event in audit.events_for(session, PROPOSAL_SUBJECT, proposal.id):
            kind = POST_ACTIONS.get(event.action)
            if kind and emergency.declared_at <= event.at <= until:
                entries.append((event.at, event.id, TimelineEntry(event.at, kind, event.actor, {
                    **event.details, "proposal_id": proposal.id, "text": proposal.version.text})))
    for received_at, comment_id, category in _emergency_comments(session, emergency.declared_at, until):
        # Comments have their own ids: after every audited event of the same second.
        entries.append((received_at, 2**62 + comment_id,
                        TimelineEntry(received_at, "comment", None, {"comment_id": comment_id, "category": category})))
    return [entry for _, _, entry in sorted(entries, key=lambda e: (e[0], e[1]))]


def _emergency_comments(session: Session, since: datetime, until: datetime) -> list[tuple[datetime, int, str]]:
    """Citizen comments flagged 緊急 while the emergency ran (when the comment flow is installed)."""
    try:
        from bot.workflows.comments.models import Comment
    except ImportError:  # the comment flow is not part of this build
        return []
    if not inspect(session.connection()).has_table(Comment.__tablename__):
        return []  # its migration has not run on this database yet
    rows = session.execute(
        select(Comment.received_at, Comment.id, Comment.category)
        .where(Comment.category == "emergency", Comment.received_at.between(since, until))
        .order_by(Comment.received_at, Comment.id)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]
