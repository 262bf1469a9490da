"""The authenticated caller, as handlers and graphs see it (``Auth.types.BaseUser``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from langgraph_sdk.auth.exceptions import HTTPException

IDENTITY_FIELDS = ("identity", "display_name", "is_authenticated", "permissions")


class AuthUser(Mapping[str, Any]):
    """A user built from what ``@auth.authenticate`` returned: attribute access for the
    ``BaseUser`` fields and item access for all of them (extra fields included)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    @property
    def identity(self) -> str:
        return str(self._data["identity"])

    @property
    def display_name(self) -> str:
        return str(self._data.get("display_name") or self._data["identity"])

    @property
    def is_authenticated(self) -> bool:
        return bool(self._data.get("is_authenticated", True))

    @property
    def permissions(self) -> Sequence[str]:
        return list(self._data.get("permissions") or [])

    def __getitem__(self, key: str) -> Any:
        if key in IDENTITY_FIELDS:
            return getattr(self, key)
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in IDENTITY_FIELDS or key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(IDENTITY_FIELDS), **self._data})

    def __len__(self) -> int:
        return len({**dict.fromkeys(IDENTITY_FIELDS), **self._data})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields: what a run stores and its graph receives."""
        return {key: self[key] for key in self}

    def __repr__(self) -> str:
        return f"AuthUser(identity={self.identity!r})"


def to_user(result: Any) -> AuthUser:
    """What an authenticate handler returned (a string, a dict with ``identity``, or an
    object with an ``identity`` attribute) as an ``AuthUser``."""
    if isinstance(result, AuthUser):
        return result
    if isinstance(result, str):
        return AuthUser({"identity": result})
    if isinstance(result, Mapping):
        if not result.get("identity"):
            raise HTTPException(500, "The authenticate handler returned no identity")
        return AuthUser(result)
    identity = getattr(result, "identity", None)
    if not identity:
        raise HTTPException(500, "The authenticate handler returned no identity")
    data: dict[str, Any] = {"identity": str(identity)}
    for name in ("display_name", "is_authenticated", "permissions"):
        value = getattr(result, name, None)
        if value is not None:
            data[name] = list(value) if name == "permissions" else value
    return AuthUser(data)


def user_keys(user: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``config.configurable`` keys a run of ``user`` (an ``as_dict`` image) carries;
    without a user (no custom auth) the empty ones the reference server gives, so a graph
    that reads them by key runs on both."""
    if not user:
        return {
            "langgraph_auth_user": None,
            "langgraph_auth_user_id": "",
            "langgraph_auth_permissions": [],
        }
    return {
        "langgraph_auth_user": dict(user),
        "langgraph_auth_user_id": user["identity"],
        "langgraph_auth_permissions": list(user.get("permissions") or []),
    }
