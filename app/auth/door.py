"""The access door (DESIGN I9): every controller that touches an owned resource asks here,
naming the resource, the action and the value the request carries, and gets the ``Access``
its queries must apply. Without custom auth everything is allowed (``Access`` with no
filters); with it, the user's authorization handler decides: allow, 403, or a filter.

A run create also gets its ``Caller`` here (who creates it, what the run's
``config.configurable`` carries); a cancel asks as ``threads.update``.

A create handler may change ``value`` (its ``metadata`` above all); controllers read the
changed value back. tests/contract/test_auth_door.py checks that every route passes here.
"""

from __future__ import annotations

import copy
import functools
import uuid
from typing import Any

import msgspec
from litestar import Request

from app.auth.handlers import Authorizer
from app.auth.user import AuthUser, user_keys
from app.core.access import ALL, Access, Caller
from app.core.ids import system_assistant_id
from app.core.runs import RunCreate
from app.graphs.registry import GraphRegistry

Req = Request[Any, Any, Any]


def _state(request: Req) -> dict[str, Any]:
    return request.scope.setdefault("state", {})


def user_of(request: Req) -> AuthUser | None:
    return _state(request).get("user")


async def authorize(
    request: Req, resource: str, action: str, value: dict[str, Any] | None = None
) -> Access:
    """The caller's access to ``resource`` for ``action`` (raises 403 when refused)."""
    authorizer: Authorizer | None = request.app.state.get("authorizer")
    if authorizer is None:
        return ALL
    found = await authorizer.authorize(
        user_of(request), resource, action, value if value is not None else {}
    )
    return Access((found,) if found else ())


async def run_access(
    request: Req, body: RunCreate, thread_id: uuid.UUID | None
) -> tuple[Access, Caller]:
    """The door for a run create: ``threads.create_run`` on its thread (the handler's
    metadata changes go into ``body``; what it added is the ``Caller.stamp`` a thread the
    run creates gets), and ``assistants.read`` on its assistant unless that is a graph's
    own (``system``) assistant, which every caller may run."""
    headers = dict(request.app.state["headers"].pick(request.headers))
    if request.app.state["authorizer"] is None:  # no custom auth: headers only
        return ALL, Caller(configurable={**headers, **user_keys(None)})
    registry: GraphRegistry = request.app.state.services.registry
    aid = _user_assistant(body.assistant_id, registry)
    value: dict[str, Any] = {
        "thread_id": thread_id,
        "assistant_id": aid or body.assistant_id,
        "run_id": None,
        "status": "pending",
        "metadata": dict(body.metadata or {}),
        "prevent_insert_if_inflight": True,
        "multitask_strategy": body.multitask_strategy or "enqueue",
        "if_not_exists": body.if_not_exists or ("create" if thread_id is None else "reject"),
        "after_seconds": body.after_seconds or 0,
        "kwargs": msgspec.structs.asdict(body),
        "action": body.multitask_strategy
        if body.multitask_strategy in ("interrupt", "rollback")
        else None,
    }
    before = copy.deepcopy(value["metadata"])
    thread_access = await authorize(request, "threads", "create_run", value)
    after = value.get("metadata") or {}
    stamp = {k: v for k, v in after.items() if k not in before or before[k] != v}
    body.metadata = after or None
    assistant_filters: tuple[dict[str, Any], ...] = ()
    if aid is not None:
        assistant_filters = (
            await authorize(request, "assistants", "read", {"assistant_id": aid})
        ).metadata_filters
    user = user_of(request)
    image = user.as_dict() if user is not None else None
    headers.update(user_keys(image))
    access = Access(thread_access.metadata_filters, assistant_filters)
    return access, Caller(user=image, stamp=stamp, configurable=headers)


def _user_assistant(assistant_id: str, registry: GraphRegistry) -> uuid.UUID | None:
    """The assistant a run create names, if a user made it (None: a graph's own assistant,
    or not a UUID, which the create answers 422 for)."""
    if assistant_id in registry:
        return None
    try:
        aid = uuid.UUID(assistant_id)
    except ValueError:
        return None
    return None if aid in _system_ids(tuple(registry.ids)) else aid


@functools.cache
def _system_ids(graph_ids: tuple[str, ...]) -> frozenset[uuid.UUID]:
    return frozenset(system_assistant_id(g) for g in graph_ids)


async def cancel_access(request: Req, thread_id: uuid.UUID, run_id: uuid.UUID) -> Access:
    """The door for cancelling a run (``threads.update``, action ``interrupt``) when its
    client goes away."""
    value = {"thread_id": thread_id, "run_id": run_id, "action": "interrupt", "metadata": {}}
    return await authorize(request, "threads", "update", value)
