"""The Procfile's topology: a web process (`serve --with-workers`) answers Slack and leaves delivery to
`python -m bot worker` processes. The workers hear of new work at once (PostgreSQL: the doorbell's
NOTIFY; SQLite: they look twenty times a second); with no worker running, the web process still
delivers, late, and says why."""

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot import doorbell as doorbell_module
from bot.app import create_app, make_web_client
from bot.db import Database
from bot.delivery import Dispatcher
from bot.doorbell import Doorbell, worker_poll_seconds
from bot.models import OutboxItem
from bot.settings import load_settings
from bot.views import load_all as load_views
from bot.workflows import outbox
from bot.workflows.preferences import LocaleResolver
from tests.comments_support import comment, post_webhook
from tests.conftest import ROOT, SIGNING_SECRET, fresh_database_url, running_koho, test_environ
from tests.emergency_support import EMERGENCY_CHANNEL, checklist, click, declare, step_ids, wait_updated
from tests.harness.slack_requests import SlackRequests
from tests.test_cli import clean_environ, free_port, run_bot, wait_until_healthy

DEPARTMENT_CHANNEL = "C0KANKYO"  # where a comment about 粗大ごみ goes (tests/data/organization.toml)


@contextmanager
def worker(fake_slack, db_url, clock, org) -> Iterator[Dispatcher]:
    """A worker as `python -m bot worker` runs one, on a connection pool of its own. On PostgreSQL it looks
    only once a minute by itself: whatever it delivers sooner, a ring told it of."""
    db = Database(db_url)
    settings = load_settings(test_environ(fake_slack, db_url))
    services = create_app(settings, org, db, clock=clock).koho_services
    services.start_background(sweeps=False, poll_seconds=60 if db.dialect == "postgresql" else worker_poll_seconds(db))
    try:
        yield services.dispatcher
    finally:
        services.stop_background()
        db.dispose()


def delivered_by(database) -> set[str]:
    with database.read() as session:
        return set(session.scalars(select(OutboxItem.claimed_by).where(OutboxItem.status == "delivered")))


def test_what_the_web_process_stores_a_worker_delivers_at_once(fake_slack, database, db_url, clock, org):
    with worker(fake_slack, db_url, clock, org) as delivering, \
            running_koho(fake_slack, database, db_url, clock, org, with_workers=True) as web:
        # An emergency declared through the web process: its header and checklist reach the channel.
        emergency_id = declare(web)
        items = checklist(web, emergency_id)
        # A checklist step ticked: the message is updated in place.
        click(web, "U0ONCALL2", items, "emergency_step_done", block_id=f"step_actions:{step_ids(web, emergency_id)[1]}")
        wait_updated(web, EMERGENCY_CHANNEL, "完了 1/12")
        # A citizen's comment by webhook: in the department's channel.
        status, _ = post_webhook(web, comment("粗大ごみの収集日を教えてください"))
        assert status == 202
        fake_slack.wait_for("chat.postMessage", channel=DEPARTMENT_CHANNEL, predicate=lambda c: c.ok)
        assert delivered_by(database) == {delivering.identity}  # the web process delivered nothing


@pytest.fixture
def standby(fake_slack, database, db_url, clock, org):
    load_views()
    settings = load_settings(test_environ(fake_slack, db_url))
    locales = LocaleResolver(database, clock, org.locale, lambda user_id: None)
    d = Dispatcher(database, make_web_client(settings, retries=False), clock, org, locales,
                   standby_after=timedelta(seconds=0.3))
    yield d
    d.stop()


def enqueue_post(database, clock, channel="C0PR"):
    with database.transaction() as session:
        outbox.post(session, channel=channel, view="pr_failure_notice_missing", ref={}, now=clock.now(), message_key=None)


def test_a_web_process_with_workers_takes_only_what_no_worker_took(standby, database, clock, caplog):
    enqueue_post(database, clock)
    standby.kick()
    assert not standby._wake.is_set()  # its own kicks are for the workers
    assert standby._claim() == []  # first seen now: a worker may be about to take it
    time.sleep(0.35)
    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        claimed = standby._claim()
        assert claimed and standby._claim() == []
    assert [r.getMessage() for r in caplog.records if "no worker" in r.getMessage()] == [
        "1 outbox item(s) were due for 0.3 s with no worker taking them: this web process delivers them itself. "
        "Is `python -m bot worker` running?"]


def test_a_head_a_worker_takes_in_time_is_never_the_standbys(standby, database, clock, fake_slack, org):
    enqueue_post(database, clock)
    assert standby._claim() == []
    other = Dispatcher(database, standby.client, clock, org, standby.locales)
    assert other._claim()  # the worker takes it
    time.sleep(0.35)
    assert standby._claim() == []
    other.stop()


@pytest.mark.postgresql
def test_a_ring_wakes_the_listeners_of_the_same_schema_only(tmp_path):
    with fresh_database_url("postgresql", tmp_path / "a") as url_a, fresh_database_url("postgresql", tmp_path / "b") as url_b:
        db_a, also_a, db_b = Database(url_a), Database(url_a), Database(url_b)
        heard = threading.Event()
        listening = threading.Event()
        doorbells = [Doorbell(db_a), Doorbell(also_a), Doorbell(db_b)]
        listener, ringer_a, ringer_b = doorbells

        def on_ring():
            if listening.is_set():
                heard.set()
            listening.set()  # the first call: listening has begun (it wakes once for what came before)

        try:
            listener.listen(on_ring)
            assert listening.wait(10)
            ringer_b.ring()  # another schema of the same database
            time.sleep(0.5)
            assert not heard.is_set()
            ringer_a.ring()
            assert heard.wait(10)
        finally:
            for doorbell in doorbells:
                doorbell.stop()
            for db in (db_a, also_a, db_b):
                db.dispose()


@pytest.mark.postgresql
def test_a_listening_doorbell_stops_without_waiting_for_its_turn_to_end(tmp_path, monkeypatch):
    monkeypatch.setattr(doorbell_module, "LISTEN_TURN_SECONDS", 60.0)  # longer than stop() waits for the thread
    with fresh_database_url("postgresql", tmp_path) as url:
        db = Database(url)
        listening = threading.Event()
        doorbell = Doorbell(db)
        doorbell.listen(listening.set)
        assert listening.wait(10)
        doorbell.stop()
        assert not doorbell._listener.is_alive(), "stop() left the listener waiting for its turn to end"
        db.dispose()


def test_sqlite_has_no_doorbell_and_its_workers_look_often(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'koho.db'}")
    doorbell = Doorbell(db)
    doorbell.ring()
    doorbell.listen(lambda: pytest.fail("nothing rings on SQLite"))
    assert not doorbell.enabled and doorbell._ringer is None and doorbell._listener is None
    assert worker_poll_seconds(db) <= 0.1
    db.dispose()


def test_the_procfile_runs_the_web_process_with_workers():
    procfile = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert "serve" in procfile["web"] and "--with-workers" in procfile["web"]
    assert procfile["worker"].strip() == "python -m bot worker"


def test_serve_with_workers_and_a_worker_as_processes(db_url, fake_slack, tmp_path: Path):
    """The two commands of the Procfile, as processes: Slack's requests to the one, delivery by the other."""
    port = free_port()
    env = {**clean_environ(), **test_environ(fake_slack, db_url, PORT=str(port))}
    if db_url.startswith("postgresql"):
        migrated = run_bot("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("web", "worker")}
    processes = {
        "web": subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--with-workers"],
                                env=env, cwd=ROOT, stdout=logs["web"], stderr=logs["web"]),
        "worker": subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=env, cwd=ROOT,
                                   stdout=logs["worker"], stderr=logs["worker"]),
    }
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", processes["web"])
        url = f"http://127.0.0.1:{port}"
        web = SlackRequests(url, SIGNING_SECRET, fake=fake_slack)
        status, _ = post_webhook(SimpleNamespace(url=url), comment("粗大ごみの収集日を教えてください"))
        assert status == 202
        fake_slack.wait_for("chat.postMessage", channel=DEPARTMENT_CHANNEL, predicate=lambda c: c.ok, timeout=20)
        assert web.command("/koho", "help", user_id="U0STAFF1").status == 200
        (reply,) = fake_slack.wait_for("response_url")
        assert "/propose-post" in reply.args["text"]
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        codes = {name: process.wait(timeout=15) for name, process in processes.items()}
        for log in logs.values():
            log.close()
    assert codes == {"web": 0, "worker": 0}
    web_log = (tmp_path / "web.log").read_text()
    assert "delivery left to `python -m bot worker`" in web_log
    assert ("--with-workers on SQLite" in web_log) == db_url.startswith("sqlite")
    database = Database(db_url)
    try:
        (by,) = delivered_by(database)
    finally:
        database.dispose()
    assert by.split(":")[1] == str(processes["worker"].pid)
