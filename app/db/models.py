"""Tables of the API resources. Checkpoint tables live in ``checkpoint_tables.py``.

These definitions are the target of Alembic autogenerate; the migrations in ``migrations/``
are the only thing that creates schema. Repositories query with asyncpg and plain SQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB, TIMESTAMP, UUID

from app.db.meta import metadata
from app.db.statuses import ACTIVE_SQL, RUN_STATUSES

NOW = text("now()")
EMPTY_OBJECT = text("'{}'::jsonb")


def _ts(name: str, *, nullable: bool = False, comment: str | None = None) -> Column[object]:
    return Column(
        name,
        TIMESTAMP(timezone=True),
        nullable=nullable,
        server_default=None if nullable else NOW,
        comment=comment,
    )


assistants = Table(
    "assistants",
    metadata,
    Column("assistant_id", UUID(as_uuid=True), primary_key=True),
    Column("graph_id", Text, nullable=False, comment="Key of the graph in langgraph.json."),
    Column("config", JSONB, nullable=False, server_default=EMPTY_OBJECT),
    Column("context", JSONB, nullable=False, server_default=EMPTY_OBJECT),
    Column("metadata", JSONB, nullable=False, server_default=EMPTY_OBJECT),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column(
        "version",
        Integer,
        nullable=False,
        server_default=text("1"),
        comment="The version currently served; its row is in assistant_versions.",
    ),
    _ts("created_at"),
    _ts("updated_at"),
    Index("ix_assistants_graph_id", "graph_id"),
    Index("ix_assistants_metadata", "metadata", postgresql_using="gin"),
    comment="Assistants: a graph plus configuration. One system assistant per graph "
    "(id = uuid5 of the graph id, metadata.created_by = 'system').",
)

assistant_versions = Table(
    "assistant_versions",
    metadata,
    Column(
        "assistant_id",
        UUID(as_uuid=True),
        ForeignKey("assistants.assistant_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version", Integer, nullable=False),
    Column("graph_id", Text, nullable=False),
    Column("config", JSONB, nullable=False, server_default=EMPTY_OBJECT),
    Column("context", JSONB, nullable=False, server_default=EMPTY_OBJECT),
    Column("metadata", JSONB, nullable=False, server_default=EMPTY_OBJECT),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=True),
    _ts("created_at"),
    PrimaryKeyConstraint("assistant_id", "version"),
    comment="Every version of every assistant; PATCH adds one, set_latest points back at one.",
)

THREAD_STATUSES = ("idle", "busy", "interrupted", "error")

threads = Table(
    "threads",
    metadata,
    Column("thread_id", UUID(as_uuid=True), primary_key=True),
    _ts("created_at"),
    _ts("updated_at"),
    _ts(
        "state_updated_at", comment="When the thread's values last changed (run end, state update)."
    ),
    Column("metadata", JSONB, nullable=False, server_default=EMPTY_OBJECT),
    Column(
        "status",
        Text,
        nullable=False,
        server_default=text("'idle'"),
        comment="idle | busy (a run is pending, queued or running) | interrupted | error.",
    ),
    Column("config", JSONB, nullable=False, server_default=EMPTY_OBJECT),
    Column("values", JSONB, nullable=True, comment="Channel values of the latest checkpoint."),
    Column(
        "interrupts",
        JSONB,
        nullable=False,
        server_default=EMPTY_OBJECT,
        comment="Pending interrupts keyed by task id: {task_id: [{id, value}]}.",
    ),
    Column("error", JSONB, nullable=True, comment="{error, message} of the last failed run."),
    Column("ttl_minutes", Float, nullable=True, comment="Time to live after the last activity."),
    Column(
        "ttl_strategy",
        Text,
        nullable=True,
        comment="What expiry does: delete (the thread) | keep_latest (prune to one checkpoint).",
    ),
    _ts("expires_at", nullable=True, comment="When the TTL sweep acts; renewed by each run."),
    CheckConstraint(f"status IN {THREAD_STATUSES!r}", name="status"),
    Index("ix_threads_metadata", "metadata", postgresql_using="gin"),
    Index("ix_threads_status", "status"),
    Index("ix_threads_created_at", "created_at"),
    Index("ix_threads_expires_at", "expires_at", postgresql_where=text("expires_at IS NOT NULL")),
    comment="Threads: a conversation whose state lives in the checkpoint tables.",
)

MULTITASK_STRATEGIES = ("reject", "interrupt", "rollback", "enqueue")

# The name the error translator keys on (DESIGN I1): a second active run on a thread
# violates this index, and that becomes ThreadBusy, then HTTP 409.
ONE_ACTIVE_RUN_INDEX = "uq_runs_one_active_per_thread"

runs = Table(
    "runs",
    metadata,
    Column("run_id", UUID(as_uuid=True), primary_key=True),
    Column(
        "thread_id",
        UUID(as_uuid=True),
        ForeignKey("threads.thread_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("assistant_id", UUID(as_uuid=True), nullable=False),
    Column(
        "status",
        Text,
        nullable=False,
        comment="pending (may start now) | queued (waits behind the thread's active run; "
        "shown as pending) | running | success | error | timeout | interrupted.",
    ),
    Column("multitask_strategy", Text, nullable=False, server_default=text("'enqueue'")),
    Column("metadata", JSONB, nullable=False, server_default=EMPTY_OBJECT),
    Column(
        "kwargs",
        JSONB,
        nullable=False,
        server_default=EMPTY_OBJECT,
        comment="What the run was asked to do: input, command, config, context, stream_mode...",
    ),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("started_at", nullable=True),
    _ts("ended_at", nullable=True),
    Column(
        "attempt",
        Integer,
        nullable=False,
        server_default=text("0"),
        comment="How many times a worker has claimed this run.",
    ),
    Column("lease_owner", Text, nullable=True, comment="Worker holding the run (host:pid:n)."),
    Column(
        "lease_epoch",
        BigInteger,
        nullable=False,
        server_default=text("0"),
        comment="Bumped at every claim; writes for the run are fenced by it.",
    ),
    _ts("lease_expires_at", nullable=True, comment="Lease end unless renewed by a heartbeat."),
    Column(
        "lease_token",
        UUID(as_uuid=True),
        nullable=True,
        comment="Random per claim: with lease_epoch it fences every write of the attempt, and "
        "unlike the epoch it cannot repeat if PostgreSQL loses its last transactions.",
    ),
    Column(
        "cancel_action",
        Text,
        nullable=True,
        comment="Set when cancellation was requested: interrupt | rollback.",
    ),
    Column("error", JSONB, nullable=True, comment="{error, message} when status = error."),
    Column(
        "output",
        JSONB,
        nullable=True,
        comment="What join/wait return once the run ended: final values (+ __interrupt__) "
        "or {__error__}.",
    ),
    Column(
        "temporary",
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="Stateless run: its thread is deleted when it ends (on_completion=delete).",
    ),
    CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status"),
    CheckConstraint(f"multitask_strategy IN {MULTITASK_STRATEGIES!r}", name="multitask_strategy"),
    Index(
        ONE_ACTIVE_RUN_INDEX,
        "thread_id",
        unique=True,
        postgresql_where=text(f"status IN {ACTIVE_SQL}"),
    ),
    Index("ix_runs_thread_id_created_at", "thread_id", "created_at"),
    Index("ix_runs_pending", "created_at", postgresql_where=text("status = 'pending'")),
    Index(
        "ix_runs_queued",
        "thread_id",
        "created_at",
        postgresql_where=text("status = 'queued'"),
    ),
    Index(
        "ix_runs_lease_expires_at", "lease_expires_at", postgresql_where=text("status = 'running'")
    ),
    comment="Runs. At most one pending-or-running run per thread (uq_runs_one_active_per_thread).",
)

run_events = Table(
    "run_events",
    metadata,
    Column(
        "event_id",
        BigInteger,
        Identity(always=True),
        primary_key=True,
        comment="Global, increasing. The wire id is '<created ms>-<event_id>'; a thread has one "
        "writer at a time, so ids grow in commit order within a run and a thread.",
    ),
    Column(
        "thread_id",
        UUID(as_uuid=True),
        ForeignKey("threads.thread_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "run_id",
        UUID(as_uuid=True),
        ForeignKey("runs.run_id", ondelete="CASCADE"),
        nullable=True,
        comment="The run that produced the event; NULL for thread-level events "
        "(run_done, state_update) shown only on the thread stream.",
    ),
    Column(
        "event",
        Text,
        nullable=False,
        comment="SSE event name: metadata, values, updates, messages, messages/partial, "
        "custom, debug, ..., error; subgraph events add '|<node>:<task id>'.",
    ),
    Column("data", JSON, nullable=False, comment="The event's data, as sent on the wire."),
    Column(
        "created_at",
        TIMESTAMP(timezone=True),
        nullable=False,
        server_default=text("clock_timestamp()"),
    ),
    Index("ix_run_events_run_id_event_id", "run_id", "event_id"),
    Index("ix_run_events_thread_id_event_id", "thread_id", "event_id"),
    Index("ix_run_events_created_at", "created_at"),
    comment="Stream events of runs (the SSE log): replayed with Last-Event-ID, read by any API "
    "process; deleted a while after the run ends (TURNSTILE_STREAM_TTL_SECONDS).",
)

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

store_items = Table(
    "store_items",
    metadata,
    Column(
        "prefix",
        Text(collation="C"),
        nullable=False,
        comment="The namespace, labels joined with '.' (labels cannot contain '.').",
    ),
    Column("key", Text(collation="C"), nullable=False),
    Column("value", JSONB, nullable=False, comment="The item: a JSON object."),
    _ts("created_at"),
    _ts("updated_at"),
    Column(
        "ttl_minutes",
        Float,
        nullable=True,
        comment="Time to live, renewed by reads that refresh it.",
    ),
    _ts("expires_at", nullable=True, comment="NULL: kept forever; deleted by a sweep once past."),
    PrimaryKeyConstraint("prefix", "key"),
    Index("ix_store_items_prefix", "prefix", postgresql_ops={"prefix": "text_pattern_ops"}),
    Index(
        "ix_store_items_expires_at", "expires_at", postgresql_where=text("expires_at IS NOT NULL")
    ),
    comment="Long-term memory (the store): items by namespace and key, read by the API and by "
    "graphs at run time.",
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
    _ts("end_time", nullable=True, comment="No tick after this time."),
    _ts("next_run_date", nullable=True, comment="The next tick; NULL once past end_time."),
    Column(
        "on_run_completed",
        Text,
        nullable=True,
        comment="Stateless crons: delete | keep the tick's thread.",
    ),
    _ts("created_at"),
    _ts("updated_at"),
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
    _ts("started_at"),
    _ts(
        "heartbeat_at",
        comment="Renewed by the process's lease thread; a worker whose heartbeat is older "
        "than 5 beats (at most a lease period) is dead, and its runs are re-queued.",
    ),
    Index("ix_workers_heartbeat_at", "heartbeat_at"),
    comment="Processes that run runs (serve with workers, turnstile worker): one row each, "
    "heartbeating. Recovery trusts this table, not host and pid.",
)

WEBHOOK_STATUSES = ("pending", "delivered", "failed")

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
    _ts("next_attempt_at", comment="When a sender may try next (backoff)."),
    Column("last_error", Text, nullable=True),
    _ts("created_at"),
    _ts("delivered_at", nullable=True),
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
