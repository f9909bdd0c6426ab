"""What every benchmark case shares: the bot as its own process, a fresh database, the load generators."""

from __future__ import annotations

import gc
import http.client
import json
import math
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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from slack_sdk import WebClient

from bot import migrate
from bot.clock import SystemClock
from bot.db import Database
from bot.delivery import ChannelPacer, Dispatcher
from bot.models import OutboxItem
from bot.organization import Organization, load_organization
from bot.views import load_all as load_views
from bot.webhooks import sign
from bot.workflows import outbox
from bot.workflows.preferences import LocaleResolver
from tests.harness.fake_slack import FakeSlack
from tests.harness.pg_catalogs import vacuum_catalogs
from tests.harness.slack_requests import SlackRequests

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret-0123456789"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
TOKEN = "xoxb-test-token"
POSTGRES_URL = os.environ.get("KOHO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DEPARTMENTS = 15
STAFF_PER_DEPARTMENT = 4
# One everyday topic per department: comments mentioning it are routed there.
TOPICS = ("ごみ", "道路", "水道", "保育園", "図書館", "公園", "バス", "住民票", "予防接種", "介護", "下水道",
          "税金", "体育館", "駐輪場", "国民健康保険")


def dept(i: int) -> str:
    """The i-th department's id (1-based)."""
    return f"dept{i:02d}"


def channel(i: int) -> str:
    return f"C0DEPT{i:02d}"


def head(i: int) -> str:
    return f"U0HEAD{i:02d}"


def staff(i: int, k: int = 1) -> str:
    return f"U0STAFF{i:02d}{k}"


@dataclass
class Series:
    """Latencies in seconds; percentiles by nearest rank, in milliseconds."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    warm_up: list[float] = field(default_factory=list)  # not counted in the percentiles (first requests after start)
    cpu: float = float("nan")  # CPU seconds the server process used meanwhile
    worked_after: float = 0.0  # seconds after the last answer until every click accepted was worked too

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def cpu_per_request(self) -> float:
        """Milliseconds of the server's CPU per request (`cpu` over the requests counted)."""
        return self.cpu / len(self.latencies) * 1000

    @property
    def max(self) -> float:
        return max(self.latencies) * 1000 if self.latencies else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def organization_file(directory: Path) -> Path:
    """A city with 15 departments, each with its own channel, approver, four staff and a topic."""
    lines = ['[organization]\nname = "ベンチ市"\nlocale = "ja"\ntimezone = "Asia/Tokyo"\n',
             '[pr_office]\nname = "広報広聴課"\nchannel = "C0PR"\napprovers = ["U0PR1", "U0PR2"]\n',
             '[emergency]\nchannel = "C0EMERG"\non_call = ["U0ONCALL1", "U0ONCALL2"]\n']
    for i in range(1, DEPARTMENTS + 1):
        members = ", ".join(f'"{staff(i, k)}"' for k in range(1, STAFF_PER_DEPARTMENT + 1))
        lines.append(f'[[departments]]\nid = "{dept(i)}"\nname = "部署{i:02d}"\nchannel = "{channel(i)}"\n'
                     f'approvers = ["{head(i)}"]\nmembers = [{members}]\nkeywords = ["{TOPICS[i - 1]}"]\n')
    lines.append('[[accounts]]\nid = "city-x"\nplatform = "x"\nname = "ベンチ市 公式X"\nhandle = "@bench"\n'
                 'department = "pr_office"\n')
    path = directory / "organization.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """A migrated, empty database: a file for SQLite, a schema of its own on the shared PostgreSQL."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'bench.db'}"
        drop: Callable[[], None] = lambda: None  # noqa: E731
    else:
        schema = f"koho_bench_{secrets.token_hex(4)}"
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in POSTGRES_URL else "?"
        url = f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"

        def drop() -> None:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    try:
        db = Database(url)
        migrate.upgrade(db)
        db.dispose()
        yield url
    finally:
        drop()


def vacuum_postgres_catalogs() -> str:
    """VACUUM (ANALYZE) the catalogs schema churn bloats, before the PostgreSQL cases (`tests/harness/pg_catalogs.py`).
    Returns a note."""
    try:
        dead = vacuum_catalogs(POSTGRES_URL)
    except sa.exc.SQLAlchemyError as e:
        return f"PostgreSQL's catalogs could not be vacuumed first ({type(e).__name__}); figures may include catalog bloat."
    return f"PostgreSQL's catalogs were vacuumed first ({dead:,} dead rows left by creating and dropping schemas)."


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (less noisy than latency on a shared machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    """The peak resident memory of a process, sampled every 100 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.1):
            value = rss_mb(self.pid)
            if value == value:  # not NaN
                self.peak = max(self.peak, value)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak


def start_process(args: list[str], env: dict[str, str], port: int) -> tuple[subprocess.Popen, float]:
    """Start a server process; return it with the seconds until /healthz answered 200. Its log goes to a
    file, as the worker's (a pipe nobody reads fills, and the process then stops at its next log line)."""
    started = time.perf_counter()
    log_file = tempfile.NamedTemporaryFile(prefix="koho-serve-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log_file)
    log_file.close()
    log_path = Path(log_file.name)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = started + 60
    try:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"{args} exited: {log_path.read_text(errors='replace')[-2000:]}")
            try:
                with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return process, time.perf_counter() - started
            except OSError:
                time.sleep(0.01)
        process.kill()
        raise SystemExit(f"{args} did not become healthy within 60 s: {log_path.read_text(errors='replace')[-2000:]}")
    finally:
        log_path.unlink(missing_ok=True)  # the process keeps writing to its open file; nobody reads it


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    """`python -m bot worker`, once it says it is running (its log goes to a file: a pipe nobody reads fills)."""
    log_file = tempfile.NamedTemporaryFile(prefix="koho-worker-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "-m", "bot", "worker"], env={**env, "LOG_LEVEL": "INFO"}, cwd=ROOT,
                               stdout=log_file, stderr=log_file)
    log_file.close()
    log_path = Path(log_file.name)
    try:
        deadline = time.monotonic() + 60
        while "worker running" not in log_path.read_text(errors="replace"):
            if process.poll() is not None:
                raise SystemExit(f"the worker exited: {log_path.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("the worker did not start within 60 s")
            time.sleep(0.02)
    finally:
        log_path.unlink(missing_ok=True)  # the worker keeps writing to its open file; nobody reads it
    return process


def stop_process(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Bot:
    """A running `python -m bot serve` and what a case needs to talk to it."""

    backend: str
    url: str
    port: int
    db_url: str
    org_path: Path
    fake: FakeSlack
    with_workers: bool = True  # the Procfile's web (`serve --with-workers`) and a worker; else one `serve`
    process: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    startup: float = float("nan")
    idle_rss: float = float("nan")
    sampler: RssSampler | None = None
    worker_sampler: RssSampler | None = None
    worker_peak: float = float("nan")  # the worker's peak RSS while it ran (MB)

    @property
    def slack(self) -> SlackRequests:
        return SlackRequests(self.url, SECRET, fake=self.fake)

    def database(self) -> Database:
        return Database(self.db_url)

    def organization(self) -> Organization:
        return load_organization(self.org_path)

    def start(self) -> None:
        env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
               "SLACK_API_URL": self.fake.api_url, "DATABASE_URL": self.db_url, "KOHO_CONFIG": str(self.org_path),
               "COMMENT_WEBHOOK_SECRET": WEBHOOK_SECRET, "PORT": str(self.port), "LOG_LEVEL": "WARNING"}
        if self.with_workers:
            self.worker = start_worker(env)
        self.process, self.startup = start_process(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1",
             *(["--with-workers"] if self.with_workers else [])], env, self.port)
        time.sleep(1)  # idle: a second after healthy, before any load
        self.idle_rss = rss_mb(self.process.pid)
        self.sampler = RssSampler(self.process.pid)
        self.sampler.start()
        if self.worker is not None:
            self.worker_sampler = RssSampler(self.worker.pid)
            self.worker_sampler.start()

    def clicks_worked(self, timeout: float = 300) -> float:
        """Wait until every click accepted (an outbox `replay` item) was worked; returns the seconds waited."""
        started = time.monotonic()
        db = self.database()
        try:
            def waiting() -> int:
                with db.read() as session:
                    return session.scalar(sa.select(sa.func.count()).select_from(OutboxItem).where(
                        OutboxItem.action == outbox.REPLAY, OutboxItem.status == "pending"))

            if wait_until(lambda: not waiting(), timeout, interval=0.01) is None:
                raise SystemExit(f"accepted clicks were not worked within {timeout} s")
        finally:
            db.dispose()
        return time.monotonic() - started

    def cpu_seconds(self) -> float:
        """CPU time used so far by the bot's processes (the web process and its worker)."""
        return sum(cpu_seconds(p.pid) for p in (self.process, self.worker) if p is not None)

    def stop(self) -> float:
        """Stop the processes; returns the web process's peak RSS in MB while it ran (the worker's: `worker_peak`)."""
        peak = self.sampler.stop() if self.sampler else float("nan")
        if self.worker_sampler is not None:
            self.worker_peak = self.worker_sampler.stop()
            self.worker_sampler = None
        for process in (self.process, self.worker):
            if process is not None:
                stop_process(process)
        self.process = self.worker = None
        return peak


@contextmanager
def bot_on(backend: str, fake: FakeSlack, *, seed: Callable[[Bot], None] | None = None,
           start: bool = True, with_workers: bool = True) -> Iterator[Bot]:
    """A fresh database and organisation, `seed` run against it, then the bot started on it."""
    with tempfile.TemporaryDirectory() as tmp, fresh_database(backend, Path(tmp)) as db_url:
        port = free_port()
        bot = Bot(backend, f"http://127.0.0.1:{port}", port, db_url, organization_file(Path(tmp)), fake,
                  with_workers=with_workers)
        if seed is not None:
            seed(bot)
        if start:
            bot.start()
        settle_collector()  # the setup's garbage (seeding) collected before the case measures
        try:
            yield bot
        finally:
            bot.stop()


def deliver_seeded(bot: Bot) -> None:
    """Deliver what seeding enqueued, at once (no pacing), before the bot starts: the history exists in Slack."""
    load_views()
    db = bot.database()
    org = bot.organization()
    client = WebClient(token=TOKEN, base_url=bot.fake.api_url)
    clock = SystemClock()
    dispatcher = Dispatcher(db, client, clock, org, LocaleResolver(db, clock, org.locale, lambda _: None),
                            workers=8, batch=500)
    dispatcher._pacer = ChannelPacer(per_second=1e9, burst=10**9)  # history, not a measurement
    dispatcher.drain(max_rounds=100_000)
    dispatcher.stop()
    with db.read() as session:
        left = session.scalar(sa.select(sa.func.count()).select_from(OutboxItem).where(OutboxItem.status != "delivered"))
        skipped = sum(1 for (result,) in session.execute(sa.select(OutboxItem.result))
                      if isinstance(result, dict) and "skipped" in result)
    db.dispose()
    if left or skipped:
        raise SystemExit(f"seeding: {left} outbox items were not delivered, {skipped} skipped")


def outbox_counts(db_url: str) -> dict[str, int]:
    db = Database(db_url)
    with db.read() as session:
        rows = session.execute(sa.select(OutboxItem.status, sa.func.count()).group_by(OutboxItem.status)).all()
    db.dispose()
    return {status: count for status, count in rows}


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.05) -> float | None:
    """Poll until `condition()` is truthy; the time.time() it became so, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.time()
        time.sleep(interval)
    return None


def settle_collector() -> None:
    """Collect this process's garbage now, outside any measurement; from the first call on, this process
    collects only here (before every load and once each bot is up), never by itself. The load generators and the fake Slack share this process: a collection over an earlier
    case's leftovers (about 250,000 objects in reference cycles after the acks case: 370 ms on the Xeon)
    paused them in the middle of the next case, and a click's `chat.update` waited in the fake for it, a
    click-to-update of 450 ms that was the benchmark's, not the bot's. The bot's processes collect as they
    always do: only this one is changed."""
    gc.disable()
    gc.collect()


def load(n: int, concurrency: int, send: Callable[[int], int]) -> Series:
    """`n` requests from `concurrency` clients at once; `send(i)` returns the HTTP status."""
    settle_collector()
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


class WebhookSender:
    """A monitoring tool posting signed comments over one kept-alive connection, timing each."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.series = Series()
        self.statuses: dict[int, int] = {}
        self.ids: list[int] = []

    def send(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        t0 = time.perf_counter()
        ts = str(int(time.time()))
        self.connection.request("POST", "/webhooks/comments", body=data, headers={
            "Content-Type": "application/json", "X-Koho-Timestamp": ts,
            "X-Koho-Signature": sign(WEBHOOK_SECRET, ts, data)})
        answer = self.connection.getresponse()
        body = answer.read()
        self.series.latencies.append(time.perf_counter() - t0)
        self.statuses[answer.status] = self.statuses.get(answer.status, 0) + 1
        if answer.status == 202:
            self.ids.append(json.loads(body)["id"])
        else:
            self.series.errors += 1


def send_comments(port: int, payloads: list[dict[str, Any]], senders: int) -> tuple[list[WebhookSender], float]:
    """All payloads from `senders` tools at once; returns the tools and the seconds the whole took."""
    tools = [WebhookSender(port) for _ in range(senders)]
    threads = [threading.Thread(target=lambda t=tool, n=n: [t.send(p) for p in payloads[n::senders]])
               for n, tool in enumerate(tools)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    for tool in tools:
        tool.connection.close()
    return tools, elapsed


_comment_ids = iter(range(1, 10**9))


def comment_payload(text: str) -> dict[str, Any]:
    n = next(_comment_ids)
    return {"source": "x", "account": "city-x", "external_id": f"bench-{n}-{time.monotonic_ns()}",
            "author": "市民 太郎", "author_handle": "@taro_citizen", "text": text,
            "url": f"https://x.com/taro_citizen/status/{1790000000000000000 + n}",
            "received_at": "2026-11-24T09:58:00+09:00"}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    return (f"{os.cpu_count()} cores ({cpu}), {int(memory) // 1024 // 1024} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def cpu_busy(seconds: float = 3.0) -> float | None:
    """The share of all cores busy over the next `seconds` (Linux `/proc/stat`), None where unknown. Unlike
    the load average, which still counts the last minute's work, it says whether anything runs now."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle, iowait
        return sum(fields[:8]) - idle, sum(fields[:8])

    try:
        busy_then, total_then = sample()
        time.sleep(seconds)
        busy_now, total_now = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (busy_now - busy_then) / max(1, total_now - total_then)


def speed_check(runs: int = 5) -> float:
    """Milliseconds this machine takes for a fixed piece of pure Python (the median of `runs`). A shared
    machine's speed wanders (one run of it took 147–218 ms within a minute on an idle 2-core AMD EPYC):
    runs are compared by it."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i * i
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[runs // 2]


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"
