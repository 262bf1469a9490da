"""Row counts of every table a request can write: a rejected request must leave them as
they were (the fuzz and bad-input tests)."""

from __future__ import annotations

TABLES = (
    "threads",
    "runs",
    "assistants",
    "assistant_versions",
    "crons",
    "store_items",
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
    "run_events",
)
COUNTS = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES)
"""One row: a column per table, its row count."""
