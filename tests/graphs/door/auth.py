"""Auth for the access-door test: ``nobody`` is authenticated but refused everything by a
global handler, so every route that passes the door answers 403 for them."""

from langgraph_sdk import Auth

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None) -> str:
    if authorization not in ("Bearer nobody", "Bearer somebody"):
        raise Auth.exceptions.HTTPException(status_code=401, detail="Who are you?")
    return authorization.removeprefix("Bearer ")


@auth.on
async def refuse_nobody(ctx: Auth.types.AuthContext, value: dict) -> bool:
    return ctx.user.identity != "nobody"
