"""LangGraph checkpointing on PostgreSQL: ``PostgresSaver`` (see ``app.checkpoint.saver``)."""

from app.checkpoint.saver import PostgresSaver

__all__ = ["PostgresSaver"]
