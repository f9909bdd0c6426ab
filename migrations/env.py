"""Alembic environment. Run through `python -m bot migrate` (or `alembic` with alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from bot.models import Base, UTCDateTime, load_domain_models

load_domain_models()

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def render_item(type_: str, obj, autogen_context):  # noqa: ANN001, ANN201
    """Autogenerate writes our column type as `UTCDateTime()` with its import."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("from bot.models import UTCDateTime")
        return "UTCDateTime()"
    return False


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        render_item=render_item,
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `python -m bot migrate`")
run_migrations()
