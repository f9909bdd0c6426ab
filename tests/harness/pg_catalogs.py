"""PostgreSQL's catalogs under schema churn.

Every PostgreSQL test (and every bench case) creates a schema, migrates it and drops it: each leaves dead rows in
the catalogs. With autovacuum off, as on this machine kind, they pile up: 2.5 million in `pg_attribute` after a
few runs of the suite. Every new connection and every migration then reads through them, the suite slowed by
half, and late in a run a modal submission now and then waited past Slack's 3 seconds (Bolt answered 404).
The tests vacuum these catalogs when they first need PostgreSQL and every `VACUUM_EVERY` schemas after; the
bench before its PostgreSQL cases.
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_CHURN_CATALOGS = ("pg_attribute", "pg_class", "pg_depend", "pg_type", "pg_constraint", "pg_index",
                         "pg_attrdef", "pg_sequence", "pg_namespace", "pg_trigger", "pg_statistic")
VACUUM_EVERY = 100  # schemas dropped between two vacuums in a test run


def vacuum_catalogs(url: str) -> int:
    """VACUUM (ANALYZE) the catalogs schema churn bloats; returns how many dead rows they held before.
    (Run by a role that does not own them, PostgreSQL skips them with a warning.)"""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")  # VACUUM cannot run in a transaction
    try:
        with engine.connect() as conn:
            dead = conn.execute(sa.text("SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_sys_tables "
                                        "WHERE relname = ANY(:names)"), {"names": list(SCHEMA_CHURN_CATALOGS)}).scalar()
            conn.execute(sa.text("VACUUM (ANALYZE) " + ", ".join(f"pg_catalog.{t}" for t in SCHEMA_CHURN_CATALOGS)))
        return int(dead or 0)
    finally:
        engine.dispose()
