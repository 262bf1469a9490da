"""What controllers need from the app: the services container (``app.state.services``)."""

from __future__ import annotations

from typing import Any

from litestar import Request

from app.services.container import Services

__all__ = ["Services", "services"]


def services(request: Request[Any, Any, Any]) -> Services:
    svc: Services = request.app.state.services
    return svc
