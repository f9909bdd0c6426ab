"""Fixtures every test shares: both databases, the fake Slack, and the real app on loopback.

Database-touching tests take the `db_url` fixture (directly or through `koho`) and so run
twice: `[sqlite]` and `[postgresql]`. PostgreSQL comes from KOHO_TEST_POSTGRES_URL; when it
cannot be reached those runs skip with the reason, unless KOHO_REQUIRE_POSTGRES=1 (CI), which
turns the skip into a failure.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.app import Services, create_app
from bot.clock import ManualClock
from bot.db import Database
from bot.models import OutboxItem
from bot.organization import Organization, load_organization
from bot.settings import Settings, load_settings
from bot.web import KohoWeb, Server
from bot.workflows import outbox
from tests.harness.fake_slack import FakeSlack
from tests.harness.migrated import MigratedTemplates
from tests.harness.pg_catalogs import VACUUM_EVERY, vacuum_catalogs
from tests.harness.slack_requests import SlackRequests

ROOT = Path(__file__).resolve().parent.parent
TEST_ORG = Path(__file__).resolve().parent / "data" / "organization.toml"
SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-token"
POSTGRES_URL = os.environ.get("KOHO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# A Tuesday morning in Chiba: a business day, office open.
TEST_START = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))

# slack_sdk honours HTTP(S)_PROXY and ignores NO_PROXY: keep the fake Slack on loopback reachable.
for _proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_proxy, None)

_postgres_problem: str | None = None
_postgres_checked = False
_schemas_since_vacuum: int | None = None  # None: not vacuumed yet in this run


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can (checked once)."""
    global _postgres_checked, _postgres_problem
    if not _postgres_checked:
        _postgres_checked = True
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as e:  # noqa: BLE001 - any reason means "not here"
            _postgres_problem = f"PostgreSQL not reachable at {POSTGRES_URL} ({type(e).__name__}); set KOHO_TEST_POSTGRES_URL"
        finally:
            engine.dispose()
    return _postgres_problem


@contextmanager
def fresh_database_url(backend: str, directory: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file in `directory`, or a PostgreSQL schema of its own."""
    if backend == "sqlite":
        directory.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{directory / 'koho.db'}"
        return
    problem = postgres_unavailable()
    if problem:
        if os.environ.get("KOHO_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"KOHO_REQUIRE_POSTGRES=1 but {problem}")
        pytest.skip(problem)
    _vacuum_catalogs_now_and_then()
    schema = f"koho_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _vacuum_catalogs_now_and_then() -> None:
    """Before the first PostgreSQL schema of a run and every VACUUM_EVERY after: the catalogs' dead rows
    (tests/harness/pg_catalogs.py) would otherwise pile up where autovacuum is off."""
    global _schemas_since_vacuum
    if _schemas_since_vacuum is None or _schemas_since_vacuum >= VACUUM_EVERY:
        vacuum_catalogs(POSTGRES_URL)
        _schemas_since_vacuum = 0
    _schemas_since_vacuum += 1


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a PostgreSQL schema of its own."""
    with fresh_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> MigratedTemplates:
    return MigratedTemplates(lambda backend: fresh_database_url(backend, tmp_path_factory.mktemp("migrated")))


@pytest.fixture
def database(db_url: str, migrated_templates: MigratedTemplates) -> Iterator[Database]:
    """The fresh database migrated to head (by a copy of the migrations' result: tests/harness/migrated.py)."""
    db = migrated_templates.migrated(db_url)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def org() -> Organization:
    return load_organization(TEST_ORG)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(TEST_START)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(bot_token=BOT_TOKEN)
    fake.start()
    yield fake
    fake.stop()
    fake.assert_no_validation_errors()


def test_environ(fake: FakeSlack, db_url: str, **overrides: str) -> dict[str, str]:
    environ = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.api_url,
        "DATABASE_URL": db_url,
        "KOHO_CONFIG": str(TEST_ORG),
        "COMMENT_WEBHOOK_SECRET": "test-webhook-secret-0123456789",
        "PORT": "3000",
        "LOG_LEVEL": "INFO",
    }
    environ.update(overrides)
    return environ


test_environ.__test__ = False  # a helper, not a test


@dataclass
class Koho:
    """The running bot, as a test talks to it: over HTTP, as Slack does."""

    url: str
    slack: SlackRequests
    fake: FakeSlack
    db: Database
    clock: ManualClock
    services: Services
    settings: Settings
    app: Any = None  # the Bolt app, for tests that must wait for its listeners

    def wait_for_listeners(self, timeout: float = 20.0) -> None:
        """Let every listener still running after its ack finish (no more requests afterwards), and every
        click accepted for a dispatcher to work (`bot/handlers/deferred.py`) be worked."""
        self.app.listener_runner.listener_executor.shutdown(wait=True)
        deadline = time.monotonic() + timeout
        while self.clicks_waiting():
            assert time.monotonic() < deadline, f"{self.clicks_waiting()} accepted clicks not worked in {timeout} s"
            self.services.notify()
            time.sleep(0.02)

    def clicks_waiting(self) -> int:
        with self.db.read() as session:
            return session.scalar(sa.select(sa.func.count()).select_from(OutboxItem)
                                  .where(OutboxItem.action == outbox.REPLAY, OutboxItem.status == "pending"))

    def sweep(self) -> dict[str, int]:
        """Run every timed sweep once, now (move `clock` first)."""
        return self.services.sweeper.run_once()


@contextmanager
def running_koho(fake: FakeSlack, database: Database, db_url: str, clock: ManualClock, org: Organization,
                 *, with_workers: bool = False, **environ: str) -> Iterator[Koho]:
    """The bot serving on loopback over `database` (the `koho` fixture; tests with their own database use it).
    `with_workers`: as `serve --with-workers`, leaving delivery to worker processes."""
    settings = load_settings(test_environ(fake, db_url, **environ))
    app = create_app(settings, org, database, clock=clock, with_workers=with_workers)
    server = Server(KohoWeb(app, database), host="127.0.0.1", port=0)
    server.start()
    app.koho_services.start_background(sweeps=False)  # tests run sweeps by hand: koho.sweep()
    url = f"http://127.0.0.1:{server.port}"
    try:
        yield Koho(
            url=url,
            slack=SlackRequests(url, SIGNING_SECRET, fake=fake),
            fake=fake,
            db=database,
            clock=clock,
            services=app.koho_services,
            settings=settings,
            app=app,
        )
    finally:
        server.stop()
        app.koho_services.stop_background()
        # Let listeners still running after their ack finish before the fake Slack goes away.
        app.listener_runner.listener_executor.shutdown(wait=True)


@pytest.fixture
def koho(fake_slack: FakeSlack, database: Database, db_url: str, clock: ManualClock, org: Organization) -> Iterator[Koho]:
    with running_koho(fake_slack, database, db_url, clock, org) as running:
        yield running
