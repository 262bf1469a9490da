"""Tables of the background machinery: crons, periodic jobs, workers, webhook deliveries.

No request reads these directly: the scheduler fires ``crons``, every process takes its turn
at the housekeeping in ``periodic_jobs``, ``workers`` is the heartbeat that lease recovery
trusts (DESIGN I4), and ``webhook_deliveries`` is the outbox of run-completion webhooks.
The tables of the API resources (assistants, threads, runs, run events, the store) are in
``models.py``; all of them share the one MetaData of ``meta.py``, Alembic's target, and the
migrations in ``migrations/`` are the only thing that creates schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID

from app.db.meta import EMPTY_OBJECT, metadata, timestamp
from app.db.statuses import WEBHOOK_STATUSES

periodic_jobs = Table(
    "periodic_jobs",
    metadata,
    Column("name", Text, primary_key=True, comment="The job: requeue_expired, sweep_events, ..."),
    Column(
        "next_at",
        TIMESTAMP(timezone=True),
        nullable=False,
        comment="When the job is next due. A process runs a due job only if its UPDATE moves "
        "this forward, so each tick runs once across all processes.",
    ),
    Column("last_owner", Text, nullable=True, comment="The worker that ran the last tick."),
    comment="Periodic housekeeping shared by every process (one row per job).",
)

crons = Table(
    "crons",
    metadata,
    Column("cron_id", UUID(as_uuid=True), primary_key=True),
    Column("assistant_id", UUID(as_uuid=True), nullable=False),
    Column(
        "thread_id",
        UUID(as_uuid=True),
        ForeignKey("threads.thread_id", ondelete="CASCADE"),
        nullable=True,
        comment="The thread each tick runs on; NULL: a new thread per tick (stateless).",
    ),
    Column(
        "schedule",
        Text,
        nullable=False,
        comment="Cron expression (5 fields, or 6 with seconds last).",
    ),
    Column(
        "timezone", Text, nullable=True, comment="IANA zone the schedule is read in (UTC if NULL)."
    ),
    Column(
        "payload",
        JSONB,
        nullable=False,
        server_default=EMPTY_OBJECT,
        comment="The run body each tick creates.",
    ),
    Column("metadata", JSONB, nullable=False, server_default=EMPTY_OBJECT),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column(
        "auth_user",
        JSONB,
        nullable=True,
        comment="Who created the cron, as custom auth saw them (identity, permissions...); "
        "its runs get it as langgraph_auth_user. NULL without custom auth.",
    ),
    timestamp("end_time", nullable=True, comment="No tick after this time."),
    timestamp("next_run_date", nullable=True, comment="The next tick; NULL once past end_time."),
    Column(
        "on_run_completed",
        Text,
        nullable=True,
        comment="Stateless crons: delete | keep the tick's thread.",
    ),
    timestamp("created_at"),
    timestamp("updated_at"),
    Index("ix_crons_next_run_date", "next_run_date", postgresql_where=text("enabled")),
    Index("ix_crons_assistant_id", "assistant_id"),
    Index("ix_crons_thread_id", "thread_id"),
    comment="Scheduled runs. The scheduler of any process fires a due cron under a row lock, in "
    "the transaction that creates its run and moves next_run_date, so each tick fires once.",
)

workers = Table(
    "workers",
    metadata,
    Column("worker_id", Text, primary_key=True, comment="The lease owner name (host:pid:n)."),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", Text, nullable=True, comment="Turnstile version of the process."),
    timestamp("started_at"),
    timestamp(
        "heartbeat_at",
        comment="Renewed by the process's lease thread; a worker whose heartbeat is older "
        "than 5 beats (at most a lease period) is dead, and its runs are re-queued.",
    ),
    Index("ix_workers_heartbeat_at", "heartbeat_at"),
    comment="Processes that run runs (serve with workers, turnstile worker): one row each, "
    "heartbeating. Recovery trusts this table, not host and pid.",
)


webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", BigInteger, Identity(always=True), primary_key=True),
    Column("run_id", UUID(as_uuid=True), nullable=False, comment="The run that ended."),
    Column("url", Text, nullable=False),
    Column("payload", JSONB, nullable=False, comment="The body POSTed (the run as shown)."),
    Column(
        "status",
        Text,
        nullable=False,
        server_default=text("'pending'"),
        comment="pending (to send) | delivered (a 2xx answered) | failed (gave up).",
    ),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    timestamp("next_attempt_at", comment="When a sender may try next (backoff)."),
    Column("last_error", Text, nullable=True),
    timestamp("created_at"),
    timestamp("delivered_at", nullable=True),
    CheckConstraint(f"status IN {WEBHOOK_STATUSES!r}", name="status"),
    Index("uq_webhook_deliveries_run_id", "run_id", unique=True),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
    ),
    comment="The webhook outbox: written in the run's finishing transaction, sent by any "
    "worker process, retried with backoff; survives restarts.",
)
