"""Crons (API.md §2.4): scheduled runs, and the scheduler that fires them.

A cron keeps the run body it creates (``payload``), its schedule and timezone, and the time
of its next tick. The scheduler of any process locks the due crons, skipping those another
process holds (``SKIP LOCKED``), and, in one transaction, creates the tick's run and moves
``next_run_date`` on: each tick fires exactly once however many processes run the scheduler.
"""

from __future__ import annotations

import datetime
import logging
import uuid
import zoneinfo
from typing import Any, TypedDict, Unpack

import asyncpg
import msgspec
from croniter import croniter

from app.auth.user import user_keys
from app.core import wire
from app.core.access import ALL, Access, Caller
from app.core.enums import CRON_SELECT_FIELDS, CRON_SORT_FIELDS
from app.core.errors import BadRequest, InvalidInput, NotFound, ThreadBusy
from app.core.fields import selected, sort_field
from app.core.ids import system_assistant_id
from app.core.runs import RunCreate, validate
from app.db import crons as rows
from app.db import threads as thread_rows
from app.db.access import Where
from app.services.listing import Page, Table
from app.services.run_create import Created
from app.services.runs import RunService

log = logging.getLogger("turnstile.crons")

PAYLOAD_FIELDS = (
    "input",
    "config",
    "context",
    "webhook",
    "interrupt_before",
    "interrupt_after",
    "multitask_strategy",
    "stream_mode",
    "stream_subgraphs",
    "stream_resumable",
    "durability",
    "checkpoint_during",
)


def _zone(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Invalid timezone: {name!r}") from None


def next_tick(schedule: str, timezone: str | None, after: datetime.datetime) -> datetime.datetime:
    """The first tick of ``schedule`` (read in ``timezone``) strictly after ``after``."""
    if not croniter.is_valid(schedule):
        raise InvalidInput(f"Invalid cron schedule: {schedule!r}")
    local = after.astimezone(_zone(timezone))
    nxt: datetime.datetime = croniter(schedule, local).get_next(datetime.datetime)
    return nxt.astimezone(datetime.UTC)


def _parse_time(value: Any) -> datetime.datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        try:
            moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"Invalid end_time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


class CronFilters(TypedDict):
    """What a cron search or count filters on (besides access)."""

    assistant_id: str | None
    thread_id: uuid.UUID | None
    metadata: dict[str, Any] | None


class CronSearch(CronFilters, Page):
    enabled: bool | None


CRONS = Table("crons c", "c.cron_id", wire.cron)


class CronService:
    def __init__(self, pool: asyncpg.Pool[Any], runs: RunService) -> None:
        self.pool = pool
        self.runs = runs

    def _assistant_id(self, assistant_id: str) -> uuid.UUID:
        if assistant_id in self.runs.registry:
            return system_assistant_id(assistant_id)
        try:
            return uuid.UUID(assistant_id)
        except ValueError:
            raise NotFound(f"Assistant {assistant_id} not found") from None

    async def create(
        self, access: Access, caller: Caller, thread_id: uuid.UUID | None, body: dict[str, Any]
    ) -> wire.Cron:
        schedule = body.get("schedule")
        if not isinstance(schedule, str) or not body.get("assistant_id"):
            raise InvalidInput("'schedule' and 'assistant_id' are required")
        payload = {k: body[k] for k in PAYLOAD_FIELDS if body.get(k) is not None}
        payload["assistant_id"] = str(body["assistant_id"])
        if thread_id is None:
            payload.pop("multitask_strategy", None)
        run_body = self._run_body(payload)
        validate(run_body, stateless=thread_id is None)
        timezone = body.get("timezone")
        end_time = _parse_time(body.get("end_time"))
        now = datetime.datetime.now(datetime.UTC)
        nxt = next_tick(schedule, timezone, now)
        enabled = body.get("enabled", True) is not False
        on_completed = body.get("on_run_completed") if thread_id is None else None
        if thread_id is None and on_completed not in (None, "delete", "keep"):
            raise InvalidInput("on_run_completed must be 'delete' or 'keep'")
        async with self.pool.acquire() as conn, conn.transaction():
            # The assistant and thread must exist (404 otherwise), as for a run.
            assistant = await self.runs.assistant_row(conn, access, payload["assistant_id"])
            thread = None if thread_id is None else await thread_rows.get(conn, thread_id, access)
            if thread_id is not None and thread is None:
                raise NotFound(f"Thread with ID {thread_id} not found")
            row = await rows.insert(
                conn,
                {
                    "cron_id": uuid.uuid4(),
                    "assistant_id": assistant["assistant_id"],
                    "thread_id": thread_id,
                    "schedule": schedule,
                    "timezone": timezone,
                    "payload": payload,
                    "metadata": body.get("metadata") or {},
                    "enabled": enabled,
                    "end_time": end_time,
                    "next_run_date": None if end_time and nxt > end_time else nxt,
                    "on_run_completed": (on_completed or "delete") if thread_id is None else None,
                    "auth_user": caller.user,
                },
            )
        return wire.cron(row)

    @staticmethod
    def _run_body(payload: dict[str, Any]) -> RunCreate:
        try:
            return msgspec.convert(payload, RunCreate)
        except msgspec.ValidationError as exc:
            raise InvalidInput(str(exc)) from None

    async def get(self, access: Access, cron_id: uuid.UUID) -> wire.Cron:
        async with self.pool.acquire() as conn:
            row = await rows.get(conn, cron_id, access)
        if row is None:
            raise NotFound(f"Cron with ID {cron_id} not found")
        return wire.cron(row)

    async def update(
        self,
        access: Access,
        cron_id: uuid.UUID,
        changes: dict[str, Any],
        runs: Access = ALL,
    ) -> wire.Cron:
        """``runs``: the caller's access for the runs the cron starts (its assistant)."""
        if not changes:
            raise BadRequest("Nothing to update: the body is empty.")
        async with self.pool.acquire() as conn, conn.transaction():
            current = await rows.get(conn, cron_id, access, lock=True)
            if current is None:
                raise NotFound(f"Cron with ID {cron_id} not found")
            values: dict[str, Any] = {}
            payload = dict(current["payload"])
            for key in PAYLOAD_FIELDS:
                if key in changes:
                    payload[key] = changes[key]
            if "assistant_id" in changes:
                payload["assistant_id"] = str(changes["assistant_id"])
                values["assistant_id"] = self._assistant_id(payload["assistant_id"])
                # Missing or hidden: 404, as for a create.
                await self.runs.assistant_row(conn, runs, payload["assistant_id"])
            if payload != current["payload"]:
                validate(self._run_body(payload), stateless=current["thread_id"] is None)
                values["payload"] = payload
            for key in ("schedule", "timezone", "enabled", "metadata", "on_run_completed"):
                if key in changes:
                    values[key] = changes[key]
            if "end_time" in changes:
                values["end_time"] = _parse_time(changes["end_time"])
            schedule = values.get("schedule", current["schedule"])
            timezone = values.get("timezone", current["timezone"])
            end_time = values.get("end_time", current["end_time"])
            nxt = next_tick(schedule, timezone, datetime.datetime.now(datetime.UTC))
            values["next_run_date"] = None if end_time and nxt > end_time else nxt
            row = await rows.update(conn, cron_id, values)
        return wire.cron(row)

    async def delete(self, access: Access, cron_id: uuid.UUID) -> None:
        async with self.pool.acquire() as conn:
            if not await rows.delete(conn, cron_id, access):
                raise NotFound(f"Cron with ID {cron_id} not found")

    async def search(
        self, access: Access, **query: Unpack[CronSearch]
    ) -> tuple[list[wire.Cron], int]:
        where = self._where(access, query, enabled=query["enabled"])
        sort = sort_field(query["sort_by"] or "created_at", CRON_SORT_FIELDS)
        wanted = selected(query["select"], CRON_SELECT_FIELDS) if query["select"] else None
        columns = ", ".join("c." + c.strip() for c in rows.COLUMNS.split(","))
        return await CRONS.search(
            self.pool,
            where,
            query,
            columns=columns,
            sort_by="c." + sort,
            convert=lambda row: wire.cron(row, only=wanted),
        )

    async def count(self, access: Access, **query: Unpack[CronFilters]) -> int:
        return await CRONS.count(self.pool, self._where(access, query, enabled=None))

    def _where(self, access: Access, filters: CronFilters, *, enabled: bool | None) -> Where:
        where = Where()
        assistant_id = filters["assistant_id"]
        rows.filters(
            where,
            access,
            assistant_id=self._assistant_id(assistant_id) if assistant_id else None,
            thread_id=filters["thread_id"],
            enabled=enabled,
            metadata=filters["metadata"],
        )
        return where

    # --- the scheduler ----------------------------------------------------------------

    async def fire_due(self, limit: int = 20) -> int:
        """Fire every due cron once (this process's share of them); returns how many."""
        fired: list[Created] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for cron in await rows.due(conn, limit):
                now = datetime.datetime.now(datetime.UTC)
                created = await self._fire(conn, cron)
                if created is not None:
                    fired.append(created)
                nxt = next_tick(cron["schedule"], cron["timezone"], now)
                end = cron["end_time"]
                await rows.update(
                    conn, cron["cron_id"], {"next_run_date": None if end and nxt > end else nxt}
                )
        for created in fired:
            self.runs.after_commit(created)
        return len(fired)

    async def _fire(self, conn: Any, cron: asyncpg.Record) -> Created | None:
        payload = dict(cron["payload"])
        body = self._run_body(payload)
        stateless = cron["thread_id"] is None
        if stateless:
            body = msgspec.structs.replace(body, on_completion=cron["on_run_completed"] or "delete")
        extra = {"cron_id": str(cron["cron_id"]), "cron_tick": cron["next_run_date"].isoformat()}
        try:
            async with conn.transaction():  # a savepoint: a refused tick leaves the cron
                # A thread the tick makes carries the cron's metadata (its owner, say);
                # the run gets the cron's creator as its user.
                caller = Caller(
                    stamp=dict(cron["metadata"] or {}), configurable=user_keys(cron["auth_user"])
                )
                return await self.runs.create_in(
                    conn, ALL, caller, cron["thread_id"], body, extra_metadata=extra
                )
        except ThreadBusy:
            log.info("cron %s: thread busy, tick skipped (reject)", cron["cron_id"])
        except (NotFound, InvalidInput, BadRequest) as exc:
            log.warning("cron %s: tick not fired: %s", cron["cron_id"], exc)
        return None

    async def next_due(self) -> datetime.datetime | None:
        async with self.pool.acquire() as conn:
            return await rows.next_due(conn)
