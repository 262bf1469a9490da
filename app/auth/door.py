"""The access door (DESIGN I9): every controller that touches an owned resource asks here,
naming the resource, the action and the value the request carries, and gets the ``Access``
its queries must apply. Without custom auth everything is allowed (``Access`` with no
filters); with it, the user's authorization handler decides: allow, 403, or a filter.

A create handler may change ``value`` (its ``metadata`` above all); controllers read the
changed value back. tests/contract/test_auth_door.py checks that every route passes here.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from litestar import Request

from app.auth.handlers import Authorizer
from app.auth.user import AuthUser, user_keys
from app.db.access import ALL, Access

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
    user = user_of(request)
    found = await authorizer.authorize(user, resource, action, value if value is not None else {})
    return Access((found,) if found else (), user=user.as_dict() if user is not None else None)


async def authorize_run(
    request: Req,
    value: dict[str, Any],
    assistant_id: uuid.UUID | None,
) -> Access:
    """A run create: ``threads.create_run`` on its thread (the handler may add metadata,
    kept in ``Access.stamp`` for a thread the run creates), and ``assistants.read`` on its
    assistant unless that is a graph's own (``system``) assistant, which every caller may
    run. ``assistant_id`` is None for a system assistant."""
    value.setdefault("metadata", {})
    before = copy.deepcopy(value["metadata"])
    thread_access = await authorize(request, "threads", "create_run", value)
    after = value.get("metadata") or {}
    stamp = {k: v for k, v in after.items() if k not in before or before[k] != v}
    assistant_filters: tuple[dict[str, Any], ...] = ()
    if assistant_id is not None:
        assistant_filters = (
            await authorize(request, "assistants", "read", {"assistant_id": assistant_id})
        ).metadata_filters
    configurable: dict[str, Any] = dict(request.app.state["headers"].pick(request.headers))
    user = thread_access.user
    configurable.update(user_keys(user))
    return Access(
        thread_access.metadata_filters,
        user=user,
        assistant_filters=assistant_filters,
        stamp=stamp,
        configurable=configurable,
    )
