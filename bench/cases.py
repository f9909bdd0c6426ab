"""The six benchmark cases of issue 7. Each returns plain figures for bench.report; none asserts anything."""

from __future__ import annotations

import dataclasses
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from bench.harness import (
    DEPARTMENTS,
    SECRET,
    STAFF_PER_DEPARTMENT,
    TOPICS,
    Bot,
    Series,
    bot_on,
    channel,
    comment_payload,
    cpu_seconds,
    deliver_seeded,
    dept,
    free_port,
    head,
    load,
    outbox_counts,
    send_comments,
    staff,
    start_process,
    stop_process,
    wait_until,
)
from bot.clock import SystemClock
from bot.models import SlackMessage
from bot.workflows.comments.models import Comment
from bot.workflows.emergencies.models import HeldPost
from bot.workflows.proposals.models import ApprovalStep
from bot.workflows.proposals.rules import CHECKLIST, Decision, Draft, StepStatus
from bot.workflows.proposals.service import ProposalService, step_message_key
from tests.comments_support import comment_ids_shown
from tests.emergency_support import declaration_values
from tests.harness.fake_slack import FakeSlack
from tests.harness.slack_requests import SlackRequests

LEVELS = (1, 10, 50)
WARM_UP = 20
CLICK_WARM_UP = 5  # the first clicks after start also compile the decision's SQL statements: shown, not counted
TEXT = "【お知らせ】12月の粗大ごみ収集日が変わります。詳しくは市ホームページをご覧ください。"
FORM_VALUES = {"accounts": {"accounts": ["city-x"]}, "text": {"text": TEXT},
               "checklist_1": {"checklist_1": list(CHECKLIST[:6])}, "checklist_2": {"checklist_2": list(CHECKLIST[6:])}}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Sizes:
    """How much work each case does (`--quick` makes every case smaller, for a look, not for the record)."""

    ack_requests: int = 200
    clicks: int = 50
    comments: int = 10_000
    intake_senders: int = 8
    surge_comments: int = 1_000
    held_posts: int = 200
    # How the bot runs: "auto", as each database is deployed (PostgreSQL: the Procfile's web process and
    # worker; SQLite: one `serve`, as `make run`: two processes on one SQLite file wait for each other's
    # writes in SQLite's busy handler); "procfile" or "single" for both.
    topology: str = "auto"

    def with_workers(self, backend: str) -> bool:
        return self.topology == "procfile" or (self.topology == "auto" and backend == "postgresql")

    @classmethod
    def quick(cls) -> Sizes:
        return cls(ack_requests=60, clicks=20, comments=1_000, surge_comments=300, held_posts=50)

    def with_topology(self, topology: str) -> Sizes:
        return dataclasses.replace(self, topology=topology)


@dataclass
class Memory:
    """Per backend: start-ups measured and the peak RSS of each bot process, by the case it ran."""

    startups: list[float] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)
    peaks: dict[str, float] = field(default_factory=dict)
    worker_peaks: dict[str, float] = field(default_factory=dict)

    def record(self, bot: Bot, case: str, peak: float) -> None:
        """`peak`: the web process's (what `bot.stop()` returns); the worker's is read from `bot`."""
        self.startups.append(bot.startup)
        self.idle.append(bot.idle_rss)
        self.peaks[case] = peak
        if bot.worker_peak == bot.worker_peak:  # not NaN: a worker ran
            self.worker_peaks[case] = bot.worker_peak


# -- seeding ---------------------------------------------------------------------------------------------


def submit_proposals(bot: Bot, count: int, *, schedule_every: int = 0) -> ProposalService:
    """`count` proposals from the departments' staff, each waiting for its department head; every
    `schedule_every`-th one is to be published in two days (the others as soon as approved)."""
    db = bot.database()
    clock = SystemClock()
    service = ProposalService(db, bot.organization(), clock)
    later = clock.now() + timedelta(days=2)
    for n in range(count):
        i = n % DEPARTMENTS + 1
        publish_at = later if schedule_every and n % schedule_every == 0 else None
        service.submit(staff(i, n // DEPARTMENTS % STAFF_PER_DEPARTMENT + 1),
                       Draft(text=f"{TEXT}（{n}）", accounts=("city-x",), department_id=dept(i), checklist=CHECKLIST,
                             publish_at=publish_at))
    return service


def pending_steps(bot: Bot) -> list[tuple[int, str]]:
    """(step id, its approver) of every pending department step whose request was posted."""
    db = bot.database()
    with db.read() as session:
        steps = session.execute(sa.select(ApprovalStep.id, ApprovalStep.department_id)
                                .where(ApprovalStep.status == StepStatus.PENDING, ApprovalStep.stage == "department")
                                .order_by(ApprovalStep.id)).all()
        posted = {k for (k,) in session.execute(sa.select(SlackMessage.message_key))}
    db.dispose()
    return [(s, head(int(d.removeprefix("dept")))) for s, d in steps if step_message_key(s) in posted]


# -- 1. ack latency ----------------------------------------------------------------------------------------


def ack_requests(slack: SlackRequests, form: dict[str, Any], steps: list[tuple[int, str]],
                 proposed: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    """The three requests people make most. Every approve click is a real approval of its own request.
    `proposed`: each `/propose-post`'s trigger_id and when it was sent, in order (to find its form)."""
    clicks = iter(steps)
    views = itertools.count(1)

    def approve(_: int) -> int:
        step_id, approver = next(clicks)
        return slack.block_action(approver, "proposal_approve", str(step_id), strict=False).status

    def propose(i: int) -> int:
        user = staff(i % DEPARTMENTS + 1)
        trigger = slack.new_trigger_id(user)
        if proposed is not None:
            proposed.append((trigger, time.time()))
        return slack.command("/propose-post", "", user_id=user, channel_id=channel(i % DEPARTMENTS + 1),
                             trigger_id=trigger).status

    def submit(_: int) -> int:
        # Each submission is of a form of its own, as each `/propose-post` opens a new view: Koho stores a view's
        # submission once (its id is the key), so the same view sent again would measure only that look-up.
        view = {**form, "id": f"{form['id']}-{next(views)}"}
        return slack.view_submission(staff(1), view, FORM_VALUES, strict=False).status

    return {
        "/propose-post": propose,
        "approve click": approve,
        "modal submission": submit,
    }


def measure_acks(cases: dict[str, Any], n: int, cpu: Callable[[], float],
                 worked: Callable[[], float] = lambda: 0.0) -> dict[str, dict[int, Series]]:
    """`cpu()`: the server's CPU seconds so far (every process of it). `worked()`: waits until the work of the
    clicks it answered at once is done too, so that it is counted in the level's CPU; returns the seconds."""
    results: dict[str, dict[int, Series]] = {}
    for name, send in cases.items():
        results[name] = {}
        for level in LEVELS:
            load(WARM_UP, level, send)
            worked()
            before = cpu()
            series = load(n, level, send)
            series.worked_after = worked()
            series.cpu = cpu() - before
            results[name][level] = series
    return results


def case_acks(backend: str, sizes: Sizes, memory: Memory) -> dict[str, Any]:
    n = sizes.ack_requests
    needed = len(LEVELS) * (n + WARM_UP)
    fake = FakeSlack(bot_token="xoxb-test-token").start()
    try:
        log(f"acks/{backend}: seeding {needed} proposals")

        def seed(bot: Bot) -> None:
            submit_proposals(bot, needed)
            deliver_seeded(bot)

        with bot_on(backend, fake, seed=seed, with_workers=sizes.with_workers(backend)) as bot:
            steps = pending_steps(bot)
            slack = bot.slack
            slack.command("/propose-post", "", user_id=staff(1), channel_id=channel(1))
            fake.wait_for("views.open", timeout=10)
            form = fake.last_view()
            log(f"acks/{backend}: measuring Koho")
            proposed: list[tuple[str, float]] = []
            koho = measure_acks(ack_requests(slack, form, steps, proposed), n, bot.cpu_seconds, bot.clicks_worked)
            forms = forms_opened(fake, proposed, n)
            memory.record(bot, "ack latency", bot.stop())
    finally:
        fake.stop()
    return {"koho": koho, "form": form, "forms": forms}


def forms_opened(fake: FakeSlack, proposed: list[tuple[str, float]], n: int) -> dict[int, Series]:
    """Per level, from each counted `/propose-post` sent to its form's `views.open` answered: what the person
    sees (the ack itself shows nothing). A form that never opened counts as an error."""
    opened = forms_answered(fake)
    return {level: form_series(opened, proposed[k * (WARM_UP + n) + WARM_UP:(k + 1) * (WARM_UP + n)])
            for k, level in enumerate(LEVELS)}


def forms_answered(fake: FakeSlack) -> dict[str, float]:
    """When each trigger_id's form was opened: its `views.open` answered by the fake."""
    return {c.args.get("trigger_id"): c.answered for c in fake.calls_to("views.open") if c.ok}


def form_series(opened: dict[str, float], proposed: list[tuple[str, float]]) -> Series:
    """From each `/propose-post` sent (its trigger_id, when) to its form opened; one never opened is an error."""
    series = Series()
    for trigger, sent in proposed:
        if trigger in opened:
            series.latencies.append(opened[trigger] - sent)
        else:
            series.errors += 1
    return series


def case_acks_bare(sizes: Sizes, form: dict[str, Any]) -> dict[str, dict[int, Series]]:
    """The same requests answered by a bare Bolt app that only acks: the framework's floor. `form`: the
    proposal form Koho opened, so that the bare app's modal submissions carry (and Bolt parses) the same
    view as Koho's do: Slack sends the whole view back with its values."""
    fake = FakeSlack(bot_token="xoxb-test-token").start()
    port = free_port()
    process, _ = start_process([sys.executable, "-m", "bench.bare_bolt", str(port), fake.api_url, SECRET],
                               {**os.environ}, port)
    try:
        log("acks/bare Bolt: measuring")
        slack = SlackRequests(f"http://127.0.0.1:{port}", SECRET, fake=fake)
        steps = [(1, head(1))] * (len(LEVELS) * (sizes.ack_requests + WARM_UP))
        return measure_acks(ack_requests(slack, form, steps), sizes.ack_requests, lambda: cpu_seconds(process.pid))
    finally:
        stop_process(process)
        fake.stop()


# -- 2. click-to-update -------------------------------------------------------------------------------------


def case_click(backend: str, sizes: Sizes, memory: Memory, *, pause: float = 0.0) -> Series:
    """From an approve click to the chat.update of that approval request reaching the (zero-latency) fake.

    `pause`: seconds between clicks (`bench.single_clicks`); without, each click follows the previous
    card's update at once, while that click's App Homes and DMs are still going out."""
    fake = FakeSlack(bot_token="xoxb-test-token").start()
    try:
        def seed(bot: Bot) -> None:
            submit_proposals(bot, CLICK_WARM_UP + sizes.clicks)
            deliver_seeded(bot)

        with bot_on(backend, fake, seed=seed, with_workers=sizes.with_workers(backend)) as bot:
            db = bot.database()
            with db.read() as session:
                where = {k: (c, ts) for k, c, ts in session.execute(
                    sa.select(SlackMessage.message_key, SlackMessage.channel, SlackMessage.ts))}
            db.dispose()
            slack = bot.slack
            series = Series()
            log(f"click/{backend}: {sizes.clicks} clicks")
            for n, (step_id, approver) in enumerate(pending_steps(bot)):
                _, ts = where[step_message_key(step_id)]
                time.sleep(pause)
                t0 = time.time()
                status = slack.block_action(approver, "proposal_approve", str(step_id), strict=False).status
                [call] = fake.wait_for("chat.update", predicate=lambda c, ts=ts: c.args.get("ts") == ts and c.ok,
                                       timeout=10)
                (series.warm_up if n < CLICK_WARM_UP else series.latencies).append(call.answered - t0)
                series.errors += status != 200
            memory.record(bot, "click-to-update", bot.stop())
    finally:
        fake.stop()
    return series


# -- 3. comment intake --------------------------------------------------------------------------------------


def case_intake(backend: str, sizes: Sizes, memory: Memory) -> dict[str, Any]:
    """10,000 signed webhook comments from several tools at once: accepted (committed) per second, latency."""
    fake = FakeSlack(bot_token="xoxb-test-token").start()
    payloads = [comment_payload(f"{TOPICS[n % DEPARTMENTS]}のことで問い合わせです（{n}）") for n in range(sizes.comments)]
    try:
        with bot_on(backend, fake, with_workers=sizes.with_workers(backend)) as bot:
            log(f"intake/{backend}: {len(payloads)} comments from {sizes.intake_senders} senders")
            before = bot.cpu_seconds()
            tools, elapsed = send_comments(bot.port, payloads, sizes.intake_senders)
            cpu = bot.cpu_seconds() - before
            db = bot.database()
            with db.read() as session:
                stored = session.scalar(sa.select(sa.func.count()).select_from(Comment))
            db.dispose()
            memory.record(bot, "comment intake", bot.stop())
    finally:
        fake.stop()
    series = Series([x for t in tools for x in t.series.latencies], sum(t.series.errors for t in tools))
    statuses: dict[int, int] = {}
    for tool in tools:
        for status, count in tool.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    accepted = statuses.get(202, 0)
    return {"sent": len(payloads), "senders": sizes.intake_senders, "elapsed": elapsed, "accepted": accepted,
            "stored": stored, "rate": accepted / elapsed, "series": series, "statuses": statuses, "cpu": cpu}


# -- 4. surge delivery ---------------------------------------------------------------------------------------


def posted_comment_ids(fake: FakeSlack, channel_id: str) -> list[int]:
    """Every comment id in every successful post to the channel (a comment posted twice appears twice)."""
    return [i for c in fake.calls_to("chat.postMessage", channel=channel_id, predicate=lambda c: c.ok)
            for i in comment_ids_shown(c.args)]


def case_surge(backend: str, sizes: Sizes, memory: Memory) -> dict[str, Any]:
    """1,000 comments for one department; Slack at 1 message/s/channel (burst 5), 150 ms per call."""
    fake = FakeSlack(bot_token="xoxb-test-token").start()
    fake.latency = 0.150
    fake.channel_rate(per_second=1.0, burst=5)
    target = channel(1)
    payloads = [comment_payload(f"{TOPICS[0]}集積所があふれています（{n}番目の投稿）") for n in range(sizes.surge_comments)]
    try:
        with bot_on(backend, fake, with_workers=sizes.with_workers(backend)) as bot:
            log(f"surge/{backend}: {len(payloads)} comments into {target}")
            t0 = time.time()
            tools, sent_in = send_comments(bot.port, payloads, 4)
            ids = {i for t in tools for i in t.ids}

            def all_visible() -> bool:
                return ids <= {i for m in fake.messages(target) for i in comment_ids_shown(m)}

            visible_at = wait_until(all_visible, timeout=300, interval=0.1)
            # The moment the last of them became visible: the answer time of the post that completed the set.
            last = None
            if visible_at is not None:
                seen: set[int] = set()
                for call in fake.calls_to("chat.postMessage", channel=target, predicate=lambda c: c.ok):
                    seen.update(comment_ids_shown(call.args))
                    if ids <= seen:
                        last = call.answered
                        break
            wait_until(lambda: not outbox_counts(bot.db_url).get("pending"), timeout=120)
            posts = fake.calls_to("chat.postMessage", channel=target)
            shown = posted_comment_ids(fake, target)
            outbox = outbox_counts(bot.db_url)
            memory.record(bot, "surge delivery", bot.stop())
    finally:
        fake.stop()
    messages = [c for c in posts if c.ok]
    sizes_shown = [len(comment_ids_shown(c.args)) for c in messages]
    rate_limited = [c for c in posts if c.status == 429]
    return {
        "comments": len(payloads), "accepted": len(ids), "sent_in": sent_in,
        "visible": (last - t0) if last is not None else None,
        "lost": len(ids - set(shown)), "duplicated": len(shown) - len(set(shown)),
        "messages": len(messages), "digests": sum(1 for s in sizes_shown if s > 1),
        "largest": max(sizes_shown, default=0), "rate_limited": len(rate_limited),
        "failed": outbox.get("failed", 0), "pending": outbox.get("pending", 0),
    }


# -- 5. emergency fan-out --------------------------------------------------------------------------------------


def approve_routine_posts(bot: Bot, count: int) -> None:
    """`count` routine proposals approved by their department and the PR office: half scheduled for later,
    half handed off to the account's operators. All their messages delivered, as history."""
    service = submit_proposals(bot, count, schedule_every=2)
    db = service.db
    with db.read() as session:
        steps = session.execute(sa.select(ApprovalStep.id, ApprovalStep.department_id)
                                .where(ApprovalStep.status == StepStatus.PENDING)).all()
    for step_id, department_id in steps:
        service.decide(head(int(department_id.removeprefix("dept"))), step_id, Decision.APPROVE)
    with db.read() as session:
        pr_steps = session.scalars(sa.select(ApprovalStep.id).where(ApprovalStep.status == StepStatus.PENDING)).all()
    for step_id in pr_steps:
        service.decide("U0PR1", step_id, Decision.APPROVE)
    deliver_seeded(bot)


def case_emergency(backend: str, sizes: Sizes, memory: Memory) -> dict[str, Any]:
    """/emergency modal submitted -> checklist, on-call paged, routine posts held and their proposers told."""
    fake = FakeSlack(bot_token="xoxb-test-token").start()
    count = sizes.held_posts
    try:
        log(f"emergency/{backend}: seeding {count} approved routine posts")
        with bot_on(backend, fake, seed=lambda bot: approve_routine_posts(bot, count),
                    with_workers=sizes.with_workers(backend)) as bot:
            db = bot.database()
            with db.read() as session:
                proposers = dict(session.execute(sa.text(
                    "SELECT proposer, count(*) FROM proposals WHERE status = 'approved' GROUP BY proposer")).all())
            db.dispose()
            fake.latency = 0.150
            fake.channel_rate(per_second=1.0, burst=5)
            slack = bot.slack
            slack.command("/emergency", "", user_id="U0ONCALL1", channel_id="C0EMERG")
            fake.wait_for("views.open", timeout=10,
                          predicate=lambda c: c.ok and c.args["view"].get("callback_id") == "emergency_declare")
            modal = fake.last_view("U0ONCALL1")
            before = len(fake.calls)
            log(f"emergency/{backend}: declaring")
            t0 = time.time()
            response = slack.view_submission("U0ONCALL1", modal, declaration_values())
            acked = time.time() - t0
            expected_dms = sum(proposers.values())

            def after() -> list[Any]:
                return [c for c in fake.calls[before:] if c.method == "chat.postMessage" and c.ok]

            def done() -> bool:
                calls = after()
                dms = sum(1 for c in calls if c.args.get("channel") in proposers)
                return dms >= expected_dms and any(c.args.get("channel") == "C0PR" for c in calls) and \
                    any(c.args.get("channel") == "U0ONCALL2" for c in calls) and \
                    sum(1 for c in calls if c.args.get("channel") == "C0EMERG") >= 2

            finished = wait_until(done, timeout=300, interval=0.1)
            drained = wait_until(lambda: not outbox_counts(bot.db_url).get("pending"), timeout=300, interval=0.2)
            calls = after()
            all_calls = fake.calls[before:]
            with db.read() as session:
                held = session.scalar(sa.select(sa.func.count()).select_from(HeldPost))
            db.dispose()
            outbox = outbox_counts(bot.db_url)
            memory.record(bot, "emergency fan-out", bot.stop())
    finally:
        fake.stop()

    def first(pred: Any) -> float | None:
        found = [c.answered - t0 for c in calls if pred(c)]
        return min(found) if found else None

    checklist = first(lambda c: c.args.get("channel") == "C0EMERG" and "チェックリスト" in (c.args.get("text") or ""))
    dm_times = sorted(c.answered - t0 for c in calls if c.args.get("channel") in proposers)
    notifications = [c.answered - t0 for c in calls if c.args.get("channel") in proposers
                     or c.args.get("channel") in ("C0PR", "U0ONCALL2", "C0EMERG")]
    return {
        "status": response.status, "ack": acked, "held_posts": count, "held": held,
        "proposers": len(proposers), "dms": len(dm_times), "expected_dms": expected_dms,
        "checklist": checklist, "header": first(lambda c: c.args.get("channel") == "C0EMERG"),
        "paged": first(lambda c: c.args.get("channel") == "U0ONCALL2"),
        "pr_notice": first(lambda c: c.args.get("channel") == "C0PR"),
        "last_dm": dm_times[-1] if dm_times else None,
        "last_notification": max(notifications) if notifications and finished else None,
        "drained": (drained - t0) if drained else None,
        "slack_calls": len(all_calls), "rate_limited": sum(1 for c in all_calls if c.status == 429),
        "failed": outbox.get("failed", 0),
    }


# -- 6. start-up and memory --------------------------------------------------------------------------------------


def case_startup(backend: str, memory: Memory, runs: int = 3) -> None:
    """Process start to /healthz 200, a few times on one current schema; RSS one second after."""
    fake = FakeSlack(bot_token="xoxb-test-token").start()
    try:
        with bot_on(backend, fake, start=False) as bot:
            for _ in range(runs):
                bot.start()
                memory.startups.append(bot.startup)
                memory.idle.append(bot.idle_rss)
                bot.stop()
    finally:
        fake.stop()


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


