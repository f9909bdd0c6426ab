"""Tables. The database is the truth; Slack messages are views rendered from it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, MetaData, String, Text, TypeDecorator, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which has no time zones) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AuditEvent(Base):
    """The public record: append-only (a database trigger refuses UPDATE and DELETE)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(32))  # Slack user id, or "system"
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_audit_events_subject", "subject_type", "subject_id", "id"),
        Index("ix_audit_events_action_at", "action", "at"),  # the operations report: the period's decisions
    )


class UserPreference(Base):
    """A person's language: chosen with `/koho language`, else learnt from their Slack locale."""

    __tablename__ = "user_preferences"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    locale: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16))  # "explicit" | "slack"
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


DELIVERED_ONLY = "status = 'delivered'"


class OutboxItem(Base):
    """A Slack side effect, recorded in the same transaction as the change that causes it.

    It holds *what* to show (a view name and a reference into the database), not the rendered
    message: the dispatcher renders at delivery time, so Slack always shows the current state.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(16))  # post | update | dm | home
    channel: Mapped[str] = mapped_column(String(64))  # pacing and ordering key: channel, user or home:user
    view: Mapped[str] = mapped_column(String(64))
    ref: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message_key: Mapped[str | None] = mapped_column(String(128))
    thread_key: Mapped[str | None] = mapped_column(String(128))
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_outbox_status_channel", "status", "channel", "id"),
        # The delivered, by when: what `outbox.prune` removes once old. Partial, so the items written and
        # claimed (intake, every click) do not maintain it; a query uses it only with this literal condition.
        Index("ix_outbox_delivered_at", "status", "delivered_at", sqlite_where=text(DELIVERED_ONLY),
              postgresql_where=text(DELIVERED_ONLY)),
    )


class SlackMessage(Base):
    """Where a rendered view lives in Slack, so it can be updated in place later."""

    __tablename__ = "slack_messages"

    message_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReceivedEvent(Base):
    """Deliveries from outside already acted on (Slack `event_id`s): a retry or duplicate is a no-op.

    Written in the same transaction as the effect, so a delivery that failed half-way is not
    remembered and its retry is acted on. Pruned after a day (Slack retries within minutes).
    """

    __tablename__ = "received_events"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)  # e.g. "slack:Ev0123ABC"
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


def load_domain_models() -> None:
    """Import the tables that live beside their workflows, so `Base.metadata` is complete."""
    from bot.workflows.accounts import models as _accounts  # noqa: F401
    from bot.workflows.comments import models as _comments  # noqa: F401
    from bot.workflows.emergencies import models as _emergencies  # noqa: F401
    from bot.workflows.proposals import models as _proposals  # noqa: F401
