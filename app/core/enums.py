"""Literal values shared with the SDK: values are exactly the SDK's strings."""

from __future__ import annotations

from typing import Literal

ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
RunStatus = Literal["pending", "running", "success", "error", "timeout", "interrupted"]
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
IfExists = Literal["raise", "do_nothing"]
SortOrder = Literal["asc", "desc"]

THREAD_SORT_FIELDS = ("thread_id", "status", "created_at", "updated_at", "state_updated_at")
THREAD_SELECT_FIELDS = (
    "thread_id",
    "created_at",
    "updated_at",
    "state_updated_at",
    "metadata",
    "config",
    "context",
    "status",
    "values",
    "interrupts",
    "error",
)
ASSISTANT_SORT_FIELDS = ("assistant_id", "graph_id", "name", "created_at", "updated_at")
ASSISTANT_SELECT_FIELDS = (
    "assistant_id",
    "graph_id",
    "name",
    "description",
    "config",
    "context",
    "metadata",
    "version",
    "created_at",
    "updated_at",
)

# Keys a client may not set: the server owns them (API.md §1).
RESERVED_METADATA_KEYS = frozenset({"thread_id", "assistant_id", "run_id", "cron_id"})

CRON_SORT_FIELDS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "next_run_date",
    "end_time",
    "created_at",
    "updated_at",
)
CRON_SELECT_FIELDS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "on_run_completed",
    "end_time",
    "schedule",
    "created_at",
    "updated_at",
    "payload",
    "user_id",
    "next_run_date",
    "metadata",
    "enabled",
    "timezone",
)
