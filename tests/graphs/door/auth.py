"""Auth for the access-door test: ``nobody`` is authenticated but refused everything by a
global handler, so every route that passes the door answers 403 for them. ``somebody`` may
do anything; their user carries what the authenticate handler was given (``seen``)."""

from langgraph_sdk import Auth

auth = Auth()


@auth.authenticate
async def authenticate(
    request, authorization, headers, path, method, query_params, path_params
) -> dict:
    if authorization not in ("Bearer nobody", "Bearer somebody"):
        raise Auth.exceptions.HTTPException(status_code=401, detail="Who are you?")
    seen = {
        "request_path": request.url.path,
        "header": headers.get(b"x-probe", b"").decode(),
        "path": path,
        "method": method,
        "query_params": query_params,
        "path_params": path_params,
    }
    return {"identity": authorization.removeprefix("Bearer "), "permissions": ["p"], "seen": seen}


@auth.on
async def refuse_nobody(ctx: Auth.types.AuthContext, value: dict) -> bool:
    return ctx.user.identity != "nobody"
