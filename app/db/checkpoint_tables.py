"""Checkpoint tables: defined by the checkpointer work (placeholder)."""
