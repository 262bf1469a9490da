"""Custom auth (API.md §11): a ``langgraph_sdk.Auth`` module named by ``auth.path``."""
