"""An example custom auth module, written for the official LangGraph server and used
unchanged by Turnstile: two users with bearer tokens, each seeing only what they own.

    uv run turnstile serve --config docs/auth/langgraph.json

    curl -H 'Authorization: Bearer token-alice' localhost:8123/threads/search -d '{}'

Replace ``USERS`` with a real token check (a JWT library, your identity provider).
"""

from langgraph_sdk import Auth

USERS = {
    "token-alice": {
        "identity": "alice",
        "display_name": "Alice",
        "permissions": ["assistants:delete"],
    },
    "token-bob": {"identity": "bob", "display_name": "Bob", "permissions": []},
}

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """Who is calling: ``Authorization: Bearer <token>``, else 401."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Missing bearer token")
    user = USERS.get(token.strip())
    if user is None:
        raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid token")
    return user


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict) -> dict:
    """Threads, runs, assistants and crons: what you create is stamped with your
    identity, and you see, change and run only what carries it."""
    owner = {"owner": ctx.user.identity}
    metadata = value.setdefault("metadata", {})
    if isinstance(metadata, dict):
        metadata.update(owner)
    return owner


@auth.on.assistants.delete
async def delete_assistants(ctx: Auth.types.AuthContext, value: dict) -> dict | bool:
    """Deleting an assistant also needs the ``assistants:delete`` permission (403)."""
    if "assistants:delete" not in ctx.permissions:
        return False
    return {"owner": ctx.user.identity}


@auth.on.store()
async def own_namespace(ctx: Auth.types.AuthContext, value: dict) -> None:
    """The store: every namespace is put under the caller's identity."""
    value["namespace"] = (ctx.user.identity, *(value.get("namespace") or ()))
