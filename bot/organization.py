"""The organisation file (TOML): departments, approvers, on-call staff, accounts.

`load_organization` validates the whole file and reports *every* problem with its key, e.g.
`departments[0].approvers: expected a list of Slack user ids`, so whoever edits the file
can fix it in one go. The result is immutable: the running bot never edits it. Only who is in the on-call
user group (`on_call_group`) is read while the bot runs: Slack keeps it, the database stores it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PR_OFFICE_ID = "pr_office"
LOCALES = ("ja", "en")
PLATFORMS = ("x", "facebook", "instagram", "line", "youtube", "threads", "bluesky", "other")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
USER_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
DEPARTMENT_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class OrganizationError(Exception):
    def __init__(self, path: Path | str, problems: list[str]):
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = str(path)
        self.problems = problems


@dataclass(frozen=True)
class Department:
    id: str
    name: str
    channel: str
    approvers: tuple[str, ...]
    members: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


ACCOUNT_KINDS = ("main", "subject")  # 市公式 / 分野別
ACCOUNT_STATUSES = ("active", "under_review", "withdrawn")
# An account's name, handle and posting hours: one line each, stored in columns of this many characters.
ACCOUNT_LINE_MAX = 200
# The city's English name goes into 280-character posts: a name, not a sentence.
NAME_EN_MAX = 60
HTTP_URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.IGNORECASE)


@dataclass(frozen=True)
class Account:
    """An account as the organisation file seeds the register with (docs/accounts.md).

    Only the first five keys are required; the register's other fields are optional in the file and
    are kept in the database from then on (the PR office edits them from Slack).
    """

    id: str
    platform: str
    name: str
    handle: str
    department: str
    kind: str = "subject"  # main (市公式) | subject (分野別); default: main for the PR office's accounts
    url: str | None = None
    manager: str | None = None  # 所属長
    operators: tuple[str, ...] = ()
    purpose: str | None = None
    audience: str | None = None
    posting_hours: str | None = None
    policy_url: str | None = None  # the published operating policy (運用方針)
    password_changed: date | None = None
    last_review: date | None = None
    opened: date | None = None
    status: str = "active"


@dataclass(frozen=True)
class RegisterOptions:
    """Optional `[register]` keys: when an account is warned about or flagged for review."""

    inactive_days: int = 90  # no published post in this many days: a review candidate
    low_activity_posts: int = 2  # fewer published posts than this in `inactive_days`: a candidate too
    password_max_days: int = 90
    review_max_days: int = 365
    report_weekday: int = 0  # the weekly report: Monday (0) … Sunday (6)
    report_hour: int = 9  # local time


@dataclass(frozen=True)
class ApprovalTimes:
    """How long a step may wait before its approvers are reminded, then the PR office is told."""

    reminder_hours: float = 4.0  # business hours (the city office's calendar)
    escalation_hours: float = 8.0
    fast_track_reminder_minutes: float = 15.0  # emergencies run on the clock, not office hours


@dataclass(frozen=True)
class EmergencyOptions:
    """Optional `[emergency]` keys (docs/emergency.md): the checklist, post templates, timed updates."""

    checklist: tuple[str, ...] = ()  # step labels replacing the default 緊急時投稿チェックリスト
    templates_dir: str | None = None  # <dir>/<locale>/<name>.j2 replace the built-in post templates
    update_interval_minutes: int = 60  # 定時更新: how often the emergency channel is reminded
    # A 緊急 citizen comment not acknowledged after this many real minutes (day or night): its channel is
    # reminded, mentioning on-call; after twice as many, the PR office and on-call are told.
    comment_ack_minutes: int = 15


@dataclass(frozen=True)
class CalendarOptions:
    """Optional `[calendar]` keys: the city office's hours and closed days, for the business-day targets
    (a comment acknowledged within one 開庁日, approval reminders in office hours). National holidays are
    computed; these add what only the city knows (a 臨時閉庁 day, other hours)."""

    opens: time = time(8, 30)
    closes: time = time(17, 15)
    closed_days: tuple[date, ...] = ()
    year_end_closure: bool = True  # 12/29–1/3 (年末年始)


class GroupMembers:
    """Who is in the on-call user group now, as last synced from Slack into the database. The running app
    connects it (`read_from`) to `bot.workflows.emergencies.roster.RosterCache`; until then, and for an
    organisation without `on_call_group`, nobody."""

    def __init__(self) -> None:
        self._read: Callable[[], tuple[str, ...]] = tuple

    def read_from(self, read: Callable[[], tuple[str, ...]]) -> None:
        self._read = read

    def __call__(self) -> tuple[str, ...]:
        return self._read()


@dataclass(frozen=True)
class Organization:
    name: str
    locale: str
    timezone: str
    pr_office: Department
    emergency_channel: str
    on_call: tuple[str, ...]
    departments: tuple[Department, ...]
    accounts: tuple[Account, ...]
    admins: tuple[str, ...] = ()
    approval: ApprovalTimes = field(default_factory=lambda: ApprovalTimes())
    emergency: EmergencyOptions = field(default_factory=lambda: EmergencyOptions())
    register: RegisterOptions = field(default_factory=lambda: RegisterOptions())
    calendar: CalendarOptions = field(default_factory=lambda: CalendarOptions())
    name_en: str | None = None  # "Chiba City": English post drafts name the city so (else "the City")
    on_call_group: str | None = None  # a Slack user group (S…) whose members are on call too
    # The group's members as last synced (not copied by `dataclasses.replace`: each organisation its own).
    on_call_group_members: GroupMembers = field(default_factory=GroupMembers, init=False, compare=False, repr=False)
    _by_id: dict[str, Department] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({d.id: d for d in self.departments})
        self._by_id[PR_OFFICE_ID] = self.pr_office

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def department(self, department_id: str) -> Department | None:
        """A department by id; `pr_office` is the PR office itself."""
        return self._by_id.get(department_id)

    def home_department(self, user_id: str) -> Department | None:
        """The department a person's proposals default to: where they are a member, else an approver."""
        for dept in self.departments:
            if user_id in dept.members:
                return dept
        for dept in self.departments:
            if user_id in dept.approvers:
                return dept
        if user_id in self.pr_office.approvers:
            return self.pr_office
        return None

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.id == account_id), None)

    def is_pr_approver(self, user_id: str) -> bool:
        return user_id in self.pr_office.approvers

    def on_call_now(self) -> tuple[str, ...]:
        """The on-call officers now: the file's `on_call`, then the members of `on_call_group` as last synced."""
        if self.on_call_group is None:
            return self.on_call
        return tuple(dict.fromkeys(self.on_call + self.on_call_group_members()))

    def is_on_call(self, user_id: str) -> bool:
        return user_id in self.on_call_now()

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def roles_of(self, user_id: str) -> list[str]:
        """Role keys (`proposer`, `department_approver`, ...) for help texts and the playground."""
        roles = ["proposer"]
        if any(user_id in d.approvers for d in self.departments):
            roles.append("department_approver")
        if self.is_pr_approver(user_id):
            roles.append("pr_approver")
        if self.is_on_call(user_id):
            roles.append("on_call")
        if self.is_admin(user_id):
            roles.append("admin")
        return roles


class _Checker:
    """Reads typed values out of the parsed TOML, noting every problem with its key path."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def table(self, data: dict[str, Any], key: str, path: str, *, required: bool = True) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(path, "missing table")
            return {}
        if not isinstance(value, dict):
            self.problem(path, "expected a table")
            return {}
        return value

    def string(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = True,
        default: str = "",
        pattern: re.Pattern[str] | None = None,
        pattern_hint: str = "",
        choices: tuple[str, ...] = (),
        max_length: int | None = None,
    ) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(path, "missing")
            return default
        if not isinstance(value, str) or not value.strip():
            self.problem(path, "expected a non-empty string")
            return default
        value = value.strip()
        if pattern is not None and not pattern.match(value):
            self.problem(path, f"expected {pattern_hint}, got {value!r}")
        if choices and value not in choices:
            self.problem(path, f"expected one of {', '.join(choices)}, got {value!r}")
        if max_length is not None and len(value) > max_length:
            self.problem(path, f"at most {max_length} characters, got {len(value)}")
        return value

    def id_list(
        self, data: dict[str, Any], key: str, path: str, *, what: str, pattern: re.Pattern[str] | None,
        required: bool = True, allow_empty: bool = False, item_hint: str = "",
    ) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(path, f"missing: expected a list of {what}")
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(path, f"expected a list of {what}")
            return ()
        items = tuple(v.strip() for v in value)
        if not items and not allow_empty:
            self.problem(path, f"must not be empty: expected a list of {what}")
        for i, item in enumerate(items):
            if pattern is not None and not pattern.match(item):
                self.problem(f"{path}[{i}]", f"expected {item_hint}, got {item!r}")
        if len(set(items)) != len(items):
            self.problem(path, "lists the same entry twice")
        return items

    def unknown_keys(self, data: dict[str, Any], known: tuple[str, ...], path: str) -> None:
        for key in data:
            if key not in known:
                self.problem(f"{path}.{key}" if path else key, f"unknown key (known: {', '.join(known)})")


SLACK_USER_IDS = "Slack user ids"
SLACK_USER_HINT = "a Slack user id such as U012AB3CD"
SLACK_CHANNEL_HINT = "a Slack channel id such as C012AB3CD (not the #name)"


def parse_organization(data: dict[str, Any], source: Path | str = "<organisation file>") -> Organization:
    c = _Checker()
    c.unknown_keys(data, ("organization", "pr_office", "emergency", "departments", "accounts", "approval",
                          "register", "calendar"), "")

    org = c.table(data, "organization", "organization")
    c.unknown_keys(org, ("name", "name_en", "locale", "timezone", "admins"), "organization")
    name = c.string(org, "name", "organization.name")
    name_en = c.string(org, "name_en", "organization.name_en", required=False, max_length=NAME_EN_MAX) or None
    locale = c.string(org, "locale", "organization.locale", required=False, default="ja", choices=LOCALES)
    timezone = c.string(org, "timezone", "organization.timezone", required=False, default="Asia/Tokyo")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        c.problem("organization.timezone", f"unknown time zone {timezone!r} (expected e.g. Asia/Tokyo)")
    admins = c.id_list(org, "admins", "organization.admins", what=SLACK_USER_IDS, pattern=USER_ID, item_hint=SLACK_USER_HINT,
                       required=False, allow_empty=True)

    pr = c.table(data, "pr_office", "pr_office")
    c.unknown_keys(pr, ("name", "channel", "approvers"), "pr_office")
    pr_office = Department(
        id=PR_OFFICE_ID,
        name=c.string(pr, "name", "pr_office.name", required=False, default="広報広聴課"),
        channel=c.string(pr, "channel", "pr_office.channel", pattern=CHANNEL_ID, pattern_hint=SLACK_CHANNEL_HINT),
        approvers=c.id_list(pr, "approvers", "pr_office.approvers", what=SLACK_USER_IDS, pattern=USER_ID, item_hint=SLACK_USER_HINT),
    )

    em = c.table(data, "emergency", "emergency")
    c.unknown_keys(em, ("channel", "on_call", "on_call_group", "checklist", "templates_dir", "update_interval_minutes",
                     "comment_ack_minutes"), "emergency")
    emergency_channel = c.string(em, "channel", "emergency.channel", pattern=CHANNEL_ID,
                                 pattern_hint=SLACK_CHANNEL_HINT)
    on_call_group = c.string(em, "on_call_group", "emergency.on_call_group", required=False, default="",
                             pattern=USER_GROUP_ID, pattern_hint="a Slack user group id such as S012AB3CD (not the @handle)")
    # With a user group the file's list may be empty (it is who stays on call when Slack cannot be asked).
    on_call = c.id_list(em, "on_call", "emergency.on_call", what=SLACK_USER_IDS, pattern=USER_ID,
                        item_hint=SLACK_USER_HINT, required=not on_call_group, allow_empty=bool(on_call_group))
    emergency_options = _parse_emergency_options(c, em, source)

    departments = _parse_list(c, data, "departments", lambda item, path: _parse_department(c, item, path))
    _check_unique(c, "departments", [d.id for d in departments])
    known_departments = {d.id for d in departments} | {PR_OFFICE_ID}

    accounts = _parse_list(c, data, "accounts", lambda item, path: _parse_account(c, item, path, known_departments))
    _check_unique(c, "accounts", [a.id for a in accounts])

    approval = _parse_approval(c, c.table(data, "approval", "approval", required=False))
    register = _parse_register(c, c.table(data, "register", "register", required=False))
    calendar = _parse_calendar(c, c.table(data, "calendar", "calendar", required=False))

    if c.problems:
        raise OrganizationError(source, c.problems)
    return Organization(
        name=name,
        name_en=name_en,
        locale=locale,
        timezone=timezone,
        pr_office=pr_office,
        emergency_channel=emergency_channel,
        on_call=on_call,
        on_call_group=on_call_group or None,
        departments=tuple(departments),
        accounts=tuple(accounts),
        admins=admins,
        approval=approval,
        emergency=emergency_options,
        register=register,
        calendar=calendar,
    )


def _parse_approval(c: _Checker, table: dict[str, Any]) -> ApprovalTimes:
    defaults = ApprovalTimes()
    names = ("reminder_hours", "escalation_hours", "fast_track_reminder_minutes")
    c.unknown_keys(table, names, "approval")
    values: dict[str, float] = {}
    for name in names:
        value = table.get(name, getattr(defaults, name))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            c.problem(f"approval.{name}", "expected a positive number")
            value = getattr(defaults, name)
        values[name] = float(value)
    if values["escalation_hours"] <= values["reminder_hours"]:
        c.problem("approval.escalation_hours", "must be more than approval.reminder_hours")
    return ApprovalTimes(**values)


REGISTER_LIMITS = {
    "inactive_days": (1, 3650), "low_activity_posts": (0, 1000), "password_max_days": (1, 3650),
    "review_max_days": (1, 3650), "report_weekday": (0, 6), "report_hour": (0, 23),
}


def _parse_register(c: _Checker, table: dict[str, Any]) -> RegisterOptions:
    c.unknown_keys(table, tuple(REGISTER_LIMITS), "register")
    values: dict[str, int] = {}
    for name, (low, high) in REGISTER_LIMITS.items():
        value = table.get(name, getattr(RegisterOptions, name))
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            c.problem(f"register.{name}", f"expected a whole number from {low} to {high}")
            value = getattr(RegisterOptions, name)
        values[name] = value
    return RegisterOptions(**values)


def _parse_calendar(c: _Checker, table: dict[str, Any]) -> CalendarOptions:
    c.unknown_keys(table, ("opens", "closes", "closed_days", "year_end_closure"), "calendar")
    defaults = CalendarOptions()
    opens, closes = (_time_of_day(c, table, name, getattr(defaults, name)) for name in ("opens", "closes"))
    if not opens < closes:
        c.problem("calendar.closes", f"must be after calendar.opens ({opens:%H:%M})")
    days = table.get("closed_days", [])
    closed: list[date] = []
    if not isinstance(days, list):
        c.problem("calendar.closed_days", "expected a list of dates such as 2027-01-04")
    else:
        for i, value in enumerate(days):
            day = _date(c, {"day": value}, "day", f"calendar.closed_days[{i}]")
            if day is not None:
                closed.append(day)
    year_end = table.get("year_end_closure", defaults.year_end_closure)
    if not isinstance(year_end, bool):
        c.problem("calendar.year_end_closure", "expected true or false")
        year_end = defaults.year_end_closure
    return CalendarOptions(opens=opens, closes=closes, closed_days=tuple(closed), year_end_closure=year_end)


def _time_of_day(c: _Checker, table: dict[str, Any], name: str, default: time) -> time:
    value = table.get(name)
    if value is None:
        return default
    if isinstance(value, time) and value.tzinfo is None:
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        try:
            return time.fromisoformat(value.strip().zfill(5))
        except ValueError:
            pass
    c.problem(f"calendar.{name}", f"expected a time of day such as \"08:30\", got {value!r}")
    return default


def _parse_emergency_options(c: _Checker, table: dict[str, Any], source: Path | str) -> EmergencyOptions:
    checklist = c.id_list(table, "checklist", "emergency.checklist", what="step names", pattern=None,
                          required=False)
    if len(checklist) > 20:
        c.problem("emergency.checklist", "at most 20 steps (one Slack message shows them all)")
    for i, step in enumerate(checklist):
        if len(step) > 150:
            c.problem(f"emergency.checklist[{i}]", "at most 150 characters")
    templates_dir = c.string(table, "templates_dir", "emergency.templates_dir", required=False) or None
    if templates_dir is not None:
        path = Path(templates_dir)
        if not path.is_absolute() and isinstance(source, Path):
            path = source.parent / path  # relative to the organisation file
        if not path.is_dir():
            c.problem("emergency.templates_dir", f"no such directory: {str(path)!r}")
        templates_dir = str(path.resolve())
    interval = table.get("update_interval_minutes", EmergencyOptions.update_interval_minutes)
    if isinstance(interval, bool) or not isinstance(interval, int) or not 5 <= interval <= 1440:
        c.problem("emergency.update_interval_minutes", "expected whole minutes between 5 and 1440")
        interval = EmergencyOptions.update_interval_minutes
    ack_minutes = table.get("comment_ack_minutes", EmergencyOptions.comment_ack_minutes)
    if isinstance(ack_minutes, bool) or not isinstance(ack_minutes, int) or not 1 <= ack_minutes <= 720:
        c.problem("emergency.comment_ack_minutes", "expected whole minutes between 1 and 720")
        ack_minutes = EmergencyOptions.comment_ack_minutes
    return EmergencyOptions(checklist=checklist, templates_dir=templates_dir, update_interval_minutes=interval,
                            comment_ack_minutes=ack_minutes)


def _parse_list(c: _Checker, data: dict[str, Any], key: str, parse_item: Callable[[dict[str, Any], str], Any]) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        c.problem(key, f"expected an array of tables ([[{key}]])")
        return []
    parsed = []
    for i, item in enumerate(value):
        path = f"{key}[{i}]"
        if not isinstance(item, dict):
            c.problem(path, "expected a table")
            continue
        parsed.append(parse_item(item, path))
    return parsed


def _check_unique(c: _Checker, key: str, ids: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, item_id in enumerate(ids):
        if item_id and item_id in seen:
            c.problem(f"{key}[{i}].id", f"duplicate id {item_id!r} (also {key}[{seen[item_id]}])")
        seen.setdefault(item_id, i)


def _parse_department(c: _Checker, item: dict[str, Any], path: str) -> Department:
    c.unknown_keys(item, ("id", "name", "channel", "approvers", "members", "keywords"), path)
    dept_id = c.string(item, "id", f"{path}.id", pattern=DEPARTMENT_ID,
                       pattern_hint="a short lower-case id such as kankyo")
    if dept_id == PR_OFFICE_ID:
        c.problem(f"{path}.id", f"{PR_OFFICE_ID!r} is reserved for the [pr_office] table")
    return Department(
        id=dept_id,
        name=c.string(item, "name", f"{path}.name"),
        channel=c.string(item, "channel", f"{path}.channel", pattern=CHANNEL_ID, pattern_hint=SLACK_CHANNEL_HINT),
        approvers=c.id_list(item, "approvers", f"{path}.approvers", what=SLACK_USER_IDS, pattern=USER_ID, item_hint=SLACK_USER_HINT),
        members=c.id_list(item, "members", f"{path}.members", what=SLACK_USER_IDS, pattern=USER_ID, item_hint=SLACK_USER_HINT,
                          required=False, allow_empty=True),
        keywords=c.id_list(item, "keywords", f"{path}.keywords", what="keywords", pattern=None,
                           required=False, allow_empty=True),
    )


ACCOUNT_KEYS = ("id", "platform", "name", "handle", "department", "kind", "url", "manager", "operators", "purpose",
                "audience", "posting_hours", "policy_url", "password_changed", "last_review", "opened", "status")


def _date(c: _Checker, item: dict[str, Any], key: str, path: str) -> date | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    c.problem(path, f"expected a date such as 2026-04-01, got {value!r}")
    return None


def _url(c: _Checker, item: dict[str, Any], key: str, path: str) -> str | None:
    value = c.string(item, key, path, required=False) or None
    if value is not None and not HTTP_URL.match(value):
        c.problem(path, f"expected an http:// or https:// address, got {value!r}")
    return value


def _parse_account(c: _Checker, item: dict[str, Any], path: str, departments: set[str]) -> Account:
    c.unknown_keys(item, ACCOUNT_KEYS, path)
    department = c.string(item, "department", f"{path}.department")
    if department and department not in departments:
        c.problem(f"{path}.department",
                  f"unknown department {department!r} (expected one of: {', '.join(sorted(departments))})")
    manager = c.string(item, "manager", f"{path}.manager", required=False, pattern=USER_ID,
                       pattern_hint=SLACK_USER_HINT) or None
    return Account(
        id=c.string(item, "id", f"{path}.id", pattern=DEPARTMENT_ID, pattern_hint="a short lower-case id"),
        platform=c.string(item, "platform", f"{path}.platform", choices=PLATFORMS),
        name=c.string(item, "name", f"{path}.name", max_length=ACCOUNT_LINE_MAX),
        handle=c.string(item, "handle", f"{path}.handle", max_length=ACCOUNT_LINE_MAX),
        department=department,
        kind=c.string(item, "kind", f"{path}.kind", required=False, choices=ACCOUNT_KINDS,
                      default="main" if department == PR_OFFICE_ID else "subject"),
        url=_url(c, item, "url", f"{path}.url"),
        manager=manager,
        operators=c.id_list(item, "operators", f"{path}.operators", what=SLACK_USER_IDS, pattern=USER_ID,
                            item_hint=SLACK_USER_HINT, required=False, allow_empty=True),
        purpose=c.string(item, "purpose", f"{path}.purpose", required=False) or None,
        audience=c.string(item, "audience", f"{path}.audience", required=False) or None,
        posting_hours=c.string(item, "posting_hours", f"{path}.posting_hours", required=False,
                                max_length=ACCOUNT_LINE_MAX) or None,
        policy_url=_url(c, item, "policy_url", f"{path}.policy_url"),
        password_changed=_date(c, item, "password_changed", f"{path}.password_changed"),
        last_review=_date(c, item, "last_review", f"{path}.last_review"),
        opened=_date(c, item, "opened", f"{path}.opened"),
        status=c.string(item, "status", f"{path}.status", required=False, default="active",
                        choices=ACCOUNT_STATUSES),
    )


def load_organization(path: Path | str) -> Organization:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise OrganizationError(path, [f"cannot read the file ({e.strerror})"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise OrganizationError(path, ["the file is not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as e:
        raise OrganizationError(path, [f"not valid TOML: {e}"]) from None
    return parse_organization(data, path)
