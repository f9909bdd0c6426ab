"""The database layer keeps citizens' words out of error messages (and so out of logs), commits durably, and
survives its server's connections dying."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError, SQLAlchemyError

import bot.db
from bot.db import Database
from tests.harness.tcp_proxy import proxied


def test_a_failed_statement_does_not_carry_its_parameters_into_the_error(db_url):
    db = Database(db_url)
    try:
        with pytest.raises(SQLAlchemyError) as caught, db.transaction() as session:
            session.execute(sa.text("INSERT INTO no_such_table (text) VALUES (:text)"),
                            {"text": "山田太郎 千葉市中央区千葉港1-1 090-1234-5678"})
        assert "山田太郎" not in str(caught.value)
        assert "090-1234-5678" not in str(caught.value)
    finally:
        db.dispose()


def test_sqlite_syncs_every_commit_so_an_accepted_comment_survives_a_power_cut(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        with db.read() as session:
            assert session.execute(sa.text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert session.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        db.dispose()


@pytest.fixture
def proxied_postgres(db_url):
    """`db_url`'s PostgreSQL reached through a TCP proxy the test can cut (tests/harness/tcp_proxy.py)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a dead server connection needs a server: PostgreSQL only")
    with proxied(db_url) as (url, proxy):
        db = Database(url)
        try:
            yield db, proxy
        finally:
            db.dispose()


def select_one(db):
    with db.read() as session:
        return session.execute(sa.text("SELECT 1")).scalar()


def test_a_pooled_connection_that_died_while_idle_is_replaced_before_it_is_used(proxied_postgres, monkeypatch):
    db, proxy = proxied_postgres
    assert select_one(db) == 1  # one connection, back in the pool
    proxy.cut()  # the server restarts while nobody uses the bot: the pooled connection dies
    proxy.restore()
    monkeypatch.setattr(bot.db, "PING_IDLE_AFTER", 0.0)  # it has been idle long enough to be pinged
    assert select_one(db) == 1  # no failure: the ping found it dead, a new connection served the read


def test_a_connection_used_again_at_once_is_not_pinged_and_one_failure_renews_the_whole_pool(proxied_postgres,
                                                                                               monkeypatch):
    db, proxy = proxied_postgres
    monkeypatch.setattr(bot.db, "PING_IDLE_AFTER", 3600.0)  # nothing is ever idle long enough for a ping
    with db.read() as first, db.read() as second:  # two pooled connections
        first.execute(sa.text("SELECT 1")), second.execute(sa.text("SELECT 1"))
    proxy.cut()
    proxy.restore()
    with pytest.raises(OperationalError):  # the dead connection is only found out by using it
        select_one(db)
    assert select_one(db) == 1  # the failure discarded the other dead one too: the next read connects afresh
    assert select_one(db) == 1
