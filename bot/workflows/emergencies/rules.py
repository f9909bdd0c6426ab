"""The pure rules of an emergency: its kinds, its checklist, who may do what, when the next 定時更新 is due.

No database, no Slack: plain values in, plain values out, so the policy reads (and is tested) in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.organization import Organization

TITLE_MAX = 100
AREAS_MAX = 300
SITUATION_MAX = 2000
NOTE_MAX = 1000
CLOSING_NOTE_MAX = 2000
# How late a resumed post's new publish time may be (the picker moves in steps): treated as "now".
RESUME_GRACE = timedelta(minutes=15)


class EmergencyType(StrEnum):
    """災害の種別. Values are stable ids; the words are in the catalogs (emergency.type.*)."""

    EARTHQUAKE = "earthquake"  # 地震
    TSUNAMI = "tsunami"  # 津波
    STORM_FLOOD = "storm_flood"  # 風水害（台風・大雨）
    LANDSLIDE = "landslide"  # 土砂災害
    FIRE = "fire"  # 火災
    BLACKOUT = "blackout"  # 大規模停電
    INFECTION = "infection"  # 感染症
    CIVIL_PROTECTION = "civil_protection"  # 国民保護
    OTHER = "other"  # その他


class Status(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class StepStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class HeldStatus(StrEnum):
    HELD = "held"
    RESUMED = "resumed"
    CANCELLED = "cancelled"
    CARRIED_OVER = "carried_over"  # its emergency ended while another real one ran: that one reviews it


# The 緊急時投稿チェックリスト (domain: steps 0-11), in order. Keys; the words are in the catalogs
# (emergency.step.<key>). An organisation may replace it with `[emergency] checklist = [...]`.
DEFAULT_CHECKLIST = (
    "prepare",  # 0 平時準備
    "verify",  # 1 状況確認
    "notify",  # 2 連絡・報告
    "pause",  # 3 予約投稿・平常投稿の停止
    "organise",  # 4 体制確立
    "first_report",  # 5 第一報
    "instructions",  # 6 行動指示
    "primary_source",  # 7 一次情報へ誘導
    "monitor",  # 8 監視・デマ対策
    "timed_updates",  # 9 定時更新
    "share",  # 10 公的機関の情報共有
    "review",  # 11 振り返り
)

# Post templates (bot/templates/<locale>/emergency_posts/<name>.j2; organisations may override them).
TEMPLATES = (
    "first_report",  # 第一報
    "evacuation",  # 避難情報
    "shelters",  # 避難所開設
    "road_closure",  # 通行止め
    "rumour",  # デマ注意
    "timed_update",  # 定時更新
    "all_clear",  # 解除
)

INTERVAL_CHOICES = (15, 30, 60, 90, 120, 180)


@dataclass(frozen=True)
class PlannedStep:
    key: str
    label: str | None  # None: the catalog's words, in each reader's language


def checklist_for(org: Organization) -> list[PlannedStep]:
    """The checklist a new emergency starts with: the organisation's own, else the default."""
    if org.emergency.checklist:
        return [PlannedStep(f"custom_{i}", label) for i, label in enumerate(org.emergency.checklist)]
    return [PlannedStep(key, None) for key in DEFAULT_CHECKLIST]


# -- who may do what (checked on the server on every click: anyone who sees a button can press it) -----


def may_declare(user_id: str, org: Organization) -> bool:
    """Declaring and ending an emergency is the on-call officers' (当番)."""
    return org.is_on_call(user_id)


def may_end(user_id: str, org: Organization) -> bool:
    return org.is_on_call(user_id)


def may_tick(user_id: str, assignee: str | None, org: Organization) -> bool:
    """完了 / 元に戻す: on-call, or the person the step was assigned to."""
    return org.is_on_call(user_id) or (assignee is not None and user_id == assignee)


def may_assign(user_id: str, org: Organization) -> bool:
    return org.is_on_call(user_id)


def may_note(user_id: str, assignee: str | None, org: Organization) -> bool:
    """Notes record what was done: on-call, the PR office, and the step's assignee."""
    return org.is_on_call(user_id) or org.is_pr_approver(user_id) or (assignee is not None and user_id == assignee)


def may_review_held(user_id: str, org: Organization) -> bool:
    """再開 / 取り消し of a held routine post: the PR office (who runs routine posting) or on-call."""
    return org.is_pr_approver(user_id) or org.is_on_call(user_id)


def is_routine(kind: str, corrected_kind: str | None = None) -> bool:
    """Whether a proposal is a routine post that a real emergency holds.

    Not an emergency post, and not the correction of one: wrong disaster information is corrected at once.
    (`kind` and `corrected_kind` are proposal kinds: normal | emergency | correction.)
    """
    if kind == "emergency":
        return False
    return not (kind == "correction" and corrected_kind == "emergency")


# -- declaring --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Declaration:
    """What an on-call officer filled in the /emergency modal."""

    type: str
    title: str
    drill: bool | None  # None: not chosen (the modal insists on an explicit choice)
    areas: str | None = None
    situation: str | None = None
    update_interval_minutes: int = 60


@dataclass(frozen=True)
class Problem:
    field: str
    key: str
    values: dict[str, object] = field(default_factory=dict)


def validate(declaration: Declaration) -> list[Problem]:
    problems = []
    if declaration.type not in set(EmergencyType):
        problems.append(Problem("type", "emergency.error.type_required"))
    title = declaration.title.strip()
    if not title:
        problems.append(Problem("title", "emergency.error.title_required"))
    elif len(title) > TITLE_MAX:
        problems.append(Problem("title", "emergency.error.too_long", {"limit": TITLE_MAX}))
    if len((declaration.areas or "").strip()) > AREAS_MAX:
        problems.append(Problem("areas", "emergency.error.too_long", {"limit": AREAS_MAX}))
    if len((declaration.situation or "").strip()) > SITUATION_MAX:
        problems.append(Problem("situation", "emergency.error.too_long", {"limit": SITUATION_MAX}))
    if declaration.drill is None:
        problems.append(Problem("mode", "emergency.error.mode_required"))
    if not 5 <= declaration.update_interval_minutes <= 1440:
        problems.append(Problem("interval", "emergency.error.bad_interval"))
    return problems


# -- timed updates (定時更新) -------------------------------------------------------------------------


def first_update_at(declared_at: datetime, interval_minutes: int) -> datetime:
    return declared_at + timedelta(minutes=interval_minutes)


def next_slot_after(declared_at: datetime, interval_minutes: int, moment: datetime) -> datetime:
    """The first update slot (declared + k × interval, k ≥ 1) strictly after `moment`.

    A reminder that comes round late (the worker was down) moves on to the next future slot rather than
    firing once for every slot missed.
    """
    interval = timedelta(minutes=interval_minutes)
    elapsed = max(timedelta(0), moment - declared_at)
    k = max(1, math.floor(elapsed / interval) + 1)
    return declared_at + k * interval


def announced_next_update(declared_at: datetime, interval_minutes: int, now: datetime) -> datetime:
    """The "next update at" a post drafted now should announce.

    A 定時更新 drafted a few minutes before its slot is that slot's update: it announces the one after.
    So: the first slot more than half an interval away.
    """
    return next_slot_after(declared_at, interval_minutes, now + timedelta(minutes=interval_minutes / 2))
