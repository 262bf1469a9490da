"""The use cases of one process, as the API's handlers reach them (built by ``app.wiring``)."""

from __future__ import annotations

from dataclasses import dataclass

from app.graphs.registry import GraphRegistry
from app.services.assistants import AssistantService
from app.services.console import ConsoleService
from app.services.crons import CronService
from app.services.health import HealthService
from app.services.runs import RunService
from app.services.state import StateService
from app.services.store import StoreService
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
    store: StoreService
    health: HealthService
    console: ConsoleService
