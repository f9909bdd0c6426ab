"""Koho's benchmarks: the real bot (HTTP, its own process) against the fake Slack on loopback.

    python -m bench.run [--quick] [--backends sqlite,postgresql] [--output docs/benchmarks.md]

Measures, on each database: ack latency of /propose-post, an approve click and a modal
submission at 1, 10 and 50 concurrent clients, beside a bare Bolt app answering the same
requests (the framework's floor); click-to-update (approve click -> chat.update at the fake);
start-up time to healthy; RSS idle and under load. Writes the figures into a Markdown file.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from bot import migrate
from bot.clock import SystemClock
from bot.db import Database
from bot.models import OutboxItem, SlackMessage
from bot.organization import load_organization
from bot.workflows.proposals.models import ApprovalStep
from bot.workflows.proposals.rules import CHECKLIST, Draft, StepStatus
from bot.workflows.proposals.service import ProposalService, step_message_key
from tests.harness.fake_slack import FakeSlack
from tests.harness.slack_requests import SlackRequests

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret-0123456789"
TOKEN = "xoxb-test-token"
POSTGRES_URL = os.environ.get("KOHO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LEVELS = (1, 10, 50)
DEPARTMENTS = 15
TEXT = "【お知らせ】12月の粗大ごみ収集日が変わります。詳しくは市ホームページをご覧ください。"


@dataclass
class Series:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def organization_file(directory: Path) -> Path:
    """A city with 15 departments, each with its own channel, approver and staff."""
    lines = ['[organization]\nname = "ベンチ市"\nlocale = "ja"\ntimezone = "Asia/Tokyo"\n',
             '[pr_office]\nname = "広報広聴課"\nchannel = "C0PR"\napprovers = ["U0PR1", "U0PR2"]\n',
             '[emergency]\nchannel = "C0EMERG"\non_call = ["U0ONCALL1", "U0ONCALL2"]\n']
    for i in range(1, DEPARTMENTS + 1):
        lines.append(f'[[departments]]\nid = "dept{i:02d}"\nname = "部署{i:02d}"\nchannel = "C0DEPT{i:02d}"\n'
                     f'approvers = ["U0HEAD{i:02d}"]\nmembers = ["U0STAFF{i:02d}"]\nkeywords = ["キーワード{i:02d}"]\n')
    lines.append('[[accounts]]\nid = "city-x"\nplatform = "x"\nname = "ベンチ市 公式X"\nhandle = "@bench"\n'
                 'department = "pr_office"\n')
    path = directory / "organization.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def fresh_database(backend: str, directory: Path) -> tuple[str, Callable[[], None]]:
    if backend == "sqlite":
        return f"sqlite:///{directory / 'bench.db'}", lambda: None
    schema = f"koho_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}", drop


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self.join()
        return self.peak


def start_process(args: list[str], env: dict[str, str], port: int) -> tuple[subprocess.Popen, float]:
    """Start a server process; return it with the seconds until /healthz answered 200."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = started + 30
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{args} exited: {process.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return process, time.perf_counter() - started
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"{args} did not become healthy")


def load(n: int, concurrency: int, send: Callable[[int], int]) -> Series:
    series = Series()
    lock = threading.Lock()

    def one(i: int) -> None:
        t0 = time.perf_counter()
        status = send(i)
        dt = time.perf_counter() - t0
        with lock:
            series.latencies.append(dt)
            if status != 200:
                series.errors += 1

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(n)))
    return series


def ack_cases(slack: SlackRequests, fake: FakeSlack, n: int, step_ids: list[int]) -> dict[str, dict[int, Series]]:
    """The three requests people make most, at each concurrency level."""
    slack.command("/propose-post", "", user_id="U0STAFF01", channel_id="C0DEPT01")
    fake.wait_for("views.open", timeout=10)
    form = fake.last_view()
    values = {"accounts": {"accounts": ["city-x"]}, "text": {"text": TEXT},
              "checklist_1": {"checklist_1": list(CHECKLIST[:6])}, "checklist_2": {"checklist_2": list(CHECKLIST[6:])}}
    cases: dict[str, Callable[[int], int]] = {
        "/propose-post": lambda i: slack.command("/propose-post", "", user_id=f"U0STAFF{i % DEPARTMENTS + 1:02d}",
                                                 channel_id="C0DEPT01").status,
        "approve click": lambda i: slack.block_action(
            f"U0HEAD{i % DEPARTMENTS + 1:02d}", "proposal_approve", str(step_ids[i % len(step_ids)]),
            strict=False).status,
        "modal submission": lambda i: slack.view_submission(f"U0STAFF{i % DEPARTMENTS + 1:02d}", form, values,
                                                            strict=False).status,
    }
    results: dict[str, dict[int, Series]] = {}
    for name, send in cases.items():
        results[name] = {}
        for level in LEVELS:
            load(min(20, n), level, send)  # warm-up
            results[name][level] = load(n, level, send)
    return results


def seed(db_url: str, org_path: Path, count: int) -> list[int]:
    """Proposals waiting for their department's approval; returns their step ids once posted."""
    db = Database(db_url)
    org = load_organization(org_path)
    service = ProposalService(db, org, SystemClock())
    for i in range(count):
        dept = f"dept{i % DEPARTMENTS + 1:02d}"
        service.submit(f"U0STAFF{i % DEPARTMENTS + 1:02d}",
                       Draft(text=f"{TEXT}（{i}）", accounts=("city-x",), department_id=dept, checklist=CHECKLIST))
    deadline = time.time() + 120
    while time.time() < deadline:  # the running bot's dispatcher posts them, paced per channel
        with db.read() as session:
            pending = session.scalar(sa.select(sa.func.count()).select_from(OutboxItem)
                                     .where(OutboxItem.status == "pending", OutboxItem.action == "post"))
        if not pending:
            break
        time.sleep(0.5)
    with db.read() as session:
        steps = session.scalars(sa.select(ApprovalStep.id).where(ApprovalStep.status == StepStatus.PENDING)).all()
        posted = {k for (k,) in session.execute(sa.select(SlackMessage.message_key))}
    db.dispose()
    return [s for s in steps if step_message_key(s) in posted]


def click_to_update(slack: SlackRequests, fake: FakeSlack, db_url: str, step_ids: list[int]) -> Series:
    """From an approve click to the chat.update of that request reaching the fake Slack."""
    db = Database(db_url)
    with db.read() as session:
        where = {k: (c, ts) for k, c, ts in session.execute(
            sa.select(SlackMessage.message_key, SlackMessage.channel, SlackMessage.ts))}
    db.dispose()
    series = Series()
    for step_id in step_ids:
        channel, ts = where[step_message_key(step_id)]
        approver = "U0HEAD" + channel[-2:]
        t0 = time.perf_counter()
        status = slack.block_action(approver, "proposal_approve", str(step_id), strict=False).status
        fake.wait_for("chat.update", predicate=lambda c, ts=ts: c.args.get("ts") == ts and c.ok, timeout=10)
        series.latencies.append(time.perf_counter() - t0)
        series.errors += status != 200
    return series


def run_backend(backend: str, fake: FakeSlack, n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        org_path = organization_file(directory)
        db_url, drop = fresh_database(backend, directory)
        try:
            db = Database(db_url)
            migrate.upgrade(db)
            db.dispose()
            port = free_port()
            env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                   "SLACK_API_URL": fake.api_url, "DATABASE_URL": db_url, "KOHO_CONFIG": str(org_path),
                   "PORT": str(port), "LOG_LEVEL": "WARNING"}
            process, startup = start_process([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1"], env, port)
            try:
                time.sleep(1)
                idle = rss_mb(process.pid)
                sampler = RssSampler(process.pid)
                sampler.start()
                slack = SlackRequests(f"http://127.0.0.1:{port}", SECRET, fake=fake)
                steps = seed(db_url, org_path, 150)
                update = click_to_update(slack, fake, db_url, steps[:50])
                acks = ack_cases(slack, fake, n, steps[50:] or steps)
                peak = sampler.stop()
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        finally:
            drop()
    return {"startup": startup, "idle_rss": idle, "peak_rss": peak, "acks": acks, "click_to_update": update}


def run_bare(fake: FakeSlack, n: int) -> dict[str, dict[int, Series]]:
    port = free_port()
    process, _ = start_process([sys.executable, "-m", "bench.bare_bolt", str(port), fake.api_url, SECRET],
                               {**os.environ}, port)
    try:
        return ack_cases(SlackRequests(f"http://127.0.0.1:{port}", SECRET, fake=fake), fake, n, [1])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    return (f"{os.cpu_count()} cores ({cpu}), {int(memory) // 1024 // 1024} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def write_report(path: Path, results: dict[str, dict], bare: dict[str, dict[int, Series]], n: int) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Benchmarks",
        "",
        f"Measured {now} on {machine()}, with `make bench` ({n} requests per case and level, after a warm-up).",
        "The bot runs as its own process (`python -m bot serve`, waitress, 16 threads) against the fake Slack",
        "Web API on loopback (zero added latency); the load generator and the fake share a third process.",
        "Figures are milliseconds measured by the client: request sent to HTTP response (the ack).",
        "",
        "## 1. Ack latency, beside a bare Bolt app (the framework's floor)",
        "",
        "The bare app (`bench/bare_bolt.py`) is served the same way and only calls `ack()`. Target: p50 within",
        "1.5x of bare Bolt; p99 < 100 ms at 50 concurrent clients.",
        "",
        "| database | request | clients | Koho p50 | Koho p99 | bare p50 | bare p99 | p50 ratio | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, result in results.items():
        for name, levels in result["acks"].items():
            for level, series in levels.items():
                floor = bare[name][level]
                out.append(f"| {backend} | {name} | {level} | {series.p50:.1f} | {series.pct(99):.1f} | "
                           f"{floor.p50:.1f} | {floor.pct(99):.1f} | {series.p50 / floor.p50:.2f}x | {series.errors} |")
    out += [
        "",
        "## 2. Click-to-update",
        "",
        "From an approve click to the `chat.update` of that approval request arriving at the fake Slack",
        "(sequential clicks on different requests). Target: p99 < 150 ms.",
        "",
        "| database | clicks | p50 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for backend, result in results.items():
        s = result["click_to_update"]
        out.append(f"| {backend} | {len(s.latencies)} | {s.p50:.1f} | {s.pct(99):.1f} | {max(s.latencies) * 1000:.1f} |")
    out += [
        "",
        "## 6. Memory and start-up",
        "",
        "Start-up: process start to `/healthz` answering 200 (schema already current). RSS read from",
        "`/proc/<pid>/status`: idle one second after start, peak while the cases above ran. Target: < 150 MB, < 3 s.",
        "",
        "| database | start-up | RSS idle | RSS peak under load |",
        "|---|---|---|---|",
    ]
    for backend, result in results.items():
        out.append(f"| {backend} | {result['startup']:.2f} s | {result['idle_rss']:.0f} MB | {result['peak_rss']:.0f} MB |")
    out += [
        "",
        "## Not measured yet",
        "",
        "Comment intake (3), surge delivery (4) and emergency fan-out (5) are measured once those flows land.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench                       # both databases; PostgreSQL from KOHO_TEST_POSTGRES_URL",
        ".venv/bin/python -m bench.run --quick --backends sqlite   # a faster look",
        "```",
        "",
    ]
    path.write_text("\n".join(out), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests per case")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    n = 60 if args.quick else 300
    fake = FakeSlack(bot_token=TOKEN)
    fake.start()
    try:
        results = {backend: run_backend(backend, fake, n) for backend in args.backends.split(",")}
        bare = run_bare(fake, n)
    finally:
        fake.stop()
    write_report(Path(args.output), results, bare, n)
    print(Path(args.output).read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
