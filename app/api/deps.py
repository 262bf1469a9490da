"""What controllers need from the app: the services container and the caller's access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from app.db.notify import Hub
from app.graphs.registry import GraphRegistry
from app.services.assistants import AssistantService
from app.services.crons import CronService
from app.services.runs import RunService
from app.services.state import StateService
from app.services.streams import StreamService
from app.services.threads import ThreadService


@dataclass
class Services:
    registry: GraphRegistry
    threads: ThreadService
    assistants: AssistantService
    state: StateService
    runs: RunService
    streams: StreamService
    crons: CronService
    hub: Hub
    pool: Any


def services(request: Request[Any, Any, Any]) -> Services:
    svc: Services = request.app.state.services
    return svc
