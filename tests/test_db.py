"""The database layer keeps citizens' words out of error messages (and so out of logs)."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from bot.db import Database


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
