"""Auth for the browser tests: one token, as ``Authorization: Bearer`` or ``x-api-key``."""

from langgraph_sdk import Auth

TOKEN = "console-secret"
auth = Auth()


@auth.authenticate
async def authenticate(headers: dict) -> str:
    bearer = headers.get(b"authorization", b"").decode()
    key = headers.get(b"x-api-key", b"").decode()
    if TOKEN not in (bearer.removeprefix("Bearer "), key):
        raise Auth.exceptions.HTTPException(status_code=401, detail="Who are you?")
    return "operator"
