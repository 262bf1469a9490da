"""Auth for the protocol v2 tests: each user sees only the threads they own; ``reader`` may
read but not start runs (``threads.create_run`` refused: the command's
``permission_denied``)."""

from langgraph_sdk import Auth

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> dict:
    token = (authorization or "").removeprefix("Bearer ")
    if token not in ("alice", "bob", "reader"):
        raise Auth.exceptions.HTTPException(status_code=401, detail="Who are you?")
    return {"identity": token, "permissions": []}


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict) -> dict:
    owner = {"owner": ctx.user.identity}
    metadata = value.setdefault("metadata", {})
    if isinstance(metadata, dict):
        metadata.update(owner)
    return owner


@auth.on.threads.create_run
async def runs_need_a_writer(ctx: Auth.types.AuthContext, value: dict) -> dict | bool:
    if ctx.user.identity == "reader":
        return False
    return await owner_only(ctx, value)
