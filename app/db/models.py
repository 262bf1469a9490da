"""Tables of the API resources: assistants, threads, runs, run events and the store.

Checkpoint tables live in ``checkpoint_tables.py``; crons, periodic jobs, workers and webhook
deliveries in ``background_tables.py``; ``schema.py`` gathers them all on the one MetaData.
These definitions are the target of Alembic autogenerate; the migrations in ``migrations/``
are the only thing that creates schema. Repositories query with asyncpg and plain SQL.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    REAL,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB, TIMESTAMP, UUID

from app.db.meta import EMPTY_OBJECT, PATH_OPS, metadata, timestamp
from app.db.statuses import ACTIVE_SQL, INFLIGHT_SQL, ONE_ACTIVE_RUN_INDEX, RUN_STATUSES

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
    timestamp("created_at"),
    timestamp("updated_at"),
    Index("ix_assistants_graph_id", "graph_id"),
    Index("ix_assistants_metadata", "metadata", postgresql_using="gin", postgresql_ops=PATH_OPS),
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
    timestamp("created_at"),
    PrimaryKeyConstraint("assistant_id", "version"),
    comment="Every version of every assistant; PATCH adds one, set_latest points back at one.",
)

THREAD_STATUSES = ("idle", "busy", "interrupted", "error")

threads = Table(
    "threads",
    metadata,
    Column("thread_id", UUID(as_uuid=True), primary_key=True),
    timestamp("created_at"),
    timestamp("updated_at"),
    timestamp(
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
    timestamp("expires_at", nullable=True, comment="When the TTL sweep acts; renewed by each run."),
    CheckConstraint(f"status IN {THREAD_STATUSES!r}", name="status"),
    Index("ix_threads_metadata", "metadata", postgresql_using="gin", postgresql_ops=PATH_OPS),
    Index("ix_threads_status_thread_id", "status", "thread_id"),
    Index("ix_threads_created_at", "created_at"),
    Index("ix_threads_updated_at", "updated_at", "thread_id"),
    Index("ix_threads_state_updated_at", "state_updated_at", "thread_id"),
    Index("ix_threads_expires_at", "expires_at", postgresql_where=text("expires_at IS NOT NULL")),
    comment="Threads: a conversation whose state lives in the checkpoint tables.",
)

thread_counts = Table(
    "thread_counts",
    metadata,
    Column(
        "shard",
        SmallInteger,
        primary_key=True,
        autoincrement=False,
        comment="pg_backend_pid() % 16 of the sessions that write it.",
    ),
    Column(
        "n",
        BigInteger,
        nullable=False,
        comment="Threads inserted less threads deleted by those sessions (may be negative).",
    ),
    comment="The number of threads: sum(n), kept exact by statement triggers on threads "
    "(threads.count without a filter reads it). SELECT sum(n) FROM thread_counts.",
)

MULTITASK_STRATEGIES = ("reject", "interrupt", "rollback", "enqueue")


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
    timestamp("created_at"),
    timestamp("updated_at"),
    timestamp("started_at", nullable=True),
    timestamp("ended_at", nullable=True),
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
    timestamp(
        "lease_expires_at", nullable=True, comment="Lease end unless renewed by a heartbeat."
    ),
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
    Index(
        "ix_runs_assistant_id_inflight",
        "assistant_id",
        postgresql_where=text(f"status IN {INFLIGHT_SQL}"),
    ),
    Index(
        "ix_runs_temporary_ended_at",
        "ended_at",
        postgresql_where=text("temporary AND (kwargs ->> 'on_completion') = 'delete'"),
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

stream_watchers = Table(
    "stream_watchers",
    metadata,
    Column("watcher_id", UUID(as_uuid=True), primary_key=True, comment="One live reader."),
    Column(
        "watched",
        UUID(as_uuid=True),
        nullable=False,
        comment="The run (a join) or the thread (a thread stream) it reads.",
    ),
    timestamp("expires_at", comment="Renewed while the reader reads; past it the row is void."),
    Index("ix_stream_watchers_watched", "watched"),
    prefixes=["UNLOGGED"],
    comment="Who reads run_events live. A run made by a wait endpoint (kwargs "
    "events_when_watched) writes its stream events only while its run or thread is watched: "
    "nobody else could read them. Unlogged: a crash empties it, and readers re-register.",
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
    timestamp("created_at"),
    timestamp("updated_at"),
    Column(
        "ttl_minutes",
        Float,
        nullable=True,
        comment="Time to live, renewed by reads that refresh it.",
    ),
    timestamp(
        "expires_at", nullable=True, comment="NULL: kept forever; deleted by a sweep once past."
    ),
    PrimaryKeyConstraint("prefix", "key"),
    Index("ix_store_items_prefix", "prefix", postgresql_ops={"prefix": "text_pattern_ops"}),
    Index("ix_store_items_updated_at", "updated_at"),
    Index(
        "ix_store_items_expires_at", "expires_at", postgresql_where=text("expires_at IS NOT NULL")
    ),
    comment="Long-term memory (the store): items by namespace and key, read by the API and by "
    "graphs at run time.",
)

store_vectors = Table(
    "store_vectors",
    metadata,
    Column("prefix", Text(collation="C"), nullable=False),
    Column("key", Text(collation="C"), nullable=False),
    Column(
        "field", Text, nullable=False, comment="The JSON path of the text (store.index.fields)."
    ),
    Column("text_hash", Text, nullable=False, comment="SHA-256 of the embedded text."),
    Column(
        "embedding",
        ARRAY(REAL),
        nullable=False,
        comment="Unit-length embedding of the field's text (store.index.dims values).",
    ),
    PrimaryKeyConstraint("prefix", "key", "field"),
    ForeignKeyConstraint(
        ["prefix", "key"], ["store_items.prefix", "store_items.key"], ondelete="CASCADE"
    ),
    comment="Semantic search of the store: one embedding per indexed field of an item.",
)

store_index = Table(
    "store_index",
    metadata,
    Column("id", Integer, nullable=False, server_default=text("1")),
    Column(
        "signature",
        JSONB,
        nullable=False,
        comment="The store.index (embed, dims, fields) the stored vectors were made with.",
    ),
    timestamp("updated_at"),
    PrimaryKeyConstraint("id"),
    CheckConstraint("id = 1", name="one_row"),
    comment="One row: what the store's vectors were computed with (a change needs "
    "`turnstile store reindex`).",
)
