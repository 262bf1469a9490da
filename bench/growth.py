"""How Turnstile's latencies and idle cost change as the database grows (not a test).

    uv run python bench/growth.py [--sizes 10000,100000,1000000] [--samples 40] [--keep]

For each size N, a fresh migrated database (dropped afterwards; ``--keep`` keeps the
largest, for EXPLAIN), seeded with SQL shaped like the rows the server writes
(``app/db/threads.py``, ``run_create.py``, ``outcome.py``, ``store.py``) in ``INSERT ...
SELECT generate_series`` batches of 50,000, then ``VACUUM ANALYZE``:

* N threads with one run each (90 days of uuid7 ids): 70% success, 10% error, 5%
  interrupted, 2% busy with a run delayed by a day (``pending``, no worker takes it), 3%
  other, 10% temporary (``runs.wait`` without a thread, ``on_completion="keep"``); metadata
  ``user_id`` (1,000 users), ``org_id``, ``source``, ``graph_id``, ``assistant_id``;
  ``values`` ~1.8 KB (four chat messages as the server stores them; a ``topic`` on chat
  threads); the runs' ``kwargs`` and ``output`` as the server writes them;
* N/10 store items in namespaces of 3 and 4 levels (``users.<user>.memories[.<topic>]``,
  ``users.<user>.profile``, ``orgs.<org>.docs.shared``), 10% with a TTL;
* one thread with 10,002 checkpoints: 3,334 runs of tests/graphs ``chat`` in-process
  through Turnstile's saver (LangGraph's own blobs and writes: ``messages``, ``__start__``,
  ``branch:to:reply``), its messages kept to the last 20 by ``RemoveMessage`` (~8 KB state).

Then a ``turnstile serve`` on it and, through the official SDK, sequentially, p50/p99 of
each operation (``--samples`` each, 5 for copy, 10 for the assistant deletes; fewer, at
least 5, once 20 s are spent): thread search (no filter; metadata ``user_id``; status
``interrupted``; values ``topic`` (5% match); ``sort_by=updated_at``; offset 5,000, which exists at
every size), thread count (no filter; metadata), assistant search, state, history (10) and
copy of the 10k-checkpoint thread and the delete of a copy, ``DELETE /assistants/{id}`` of a
fresh assistant that ran on two threads (without and with ``delete_threads``), a run create
on an idle thread, a reject (409) on a busy one, a ``runs.wait`` of the ``chat`` graph
("hi") on the 10k-checkpoint thread and on a thread whose one checkpoint holds the same state
(``update_state`` with its values: a run's cost against history length), store search
(under a user; everything),
list_namespaces. Before those, 20 s idle (the periodic sweeps): CPU of the server's
processes and of the PostgreSQL backends of its database, and its transactions, per 10 s.

Once (first size): what one ``runs.wait`` ("hi") writes on a ``chat`` thread whose state
(messages seeded with ``threads.update_state``, at most 1 MB a call) is 100 KB, 1 MB, 10 MB:
WAL (``pg_current_wal_lsn`` before and after; the whole cluster's, so the minimum of 3 runs)
and ``pg_database_size`` growth, and their ratios to the state's size.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
from common import ADMIN_URL, GRAPHS, _tree, create_database, drop_database, report
from langgraph_sdk import get_client

from app.core.ids import system_assistant_id
from app.core.jsonable import plain
from app.db import migrate
from tests.server import running_server

sys.path.insert(0, str(Path(GRAPHS).parent))
BATCH = 50_000
BUDGET = 20.0
OFFSET = 5_000
HISTORY_RUNS = 3_334
GRAPH_MIX = ["chat", "agent", "steps"]  # 60%, 30%, 10% of the threads
_rng = random.Random(7)
WORDS = ["".join(_rng.choices("etaoinshrdlucmfwypvbgk", k=_rng.randint(1, 9))) for _ in range(2000)]
ZIPF = [1 / r for r in range(1, 2001)]
TEXT = " ".join(_rng.choices(WORDS, ZIPF, k=14_000))[:64_000]
"""The seeded messages' text: Zipf-distributed words of a 2,000-word vocabulary, about as
compressible (TOAST's pglz) as chat text; offsets into it vary by row."""
WAL_HEAD = (
    "| state | WAL per run | WAL/state | DB growth per run | growth/state |\n|---|---|---|---|---|"
)
IDLE = ("idle: server CPU-ms/10 s", "idle: PostgreSQL CPU-ms/10 s", "idle: transactions/10 s")
CLK = os.sysconf("SC_CLK_TCK")


def words(k: int) -> str:
    return " ".join(random.choices(WORDS, ZIPF, k=k))


def uuid7(ts: str, seed: str) -> str:
    """SQL for a uuid7 of timestamp ``ts`` (48 bits of ms, version 7, variant 8)."""
    return (
        f"(lpad(to_hex((extract(epoch FROM {ts}) * 1000)::bigint), 12, '0') || '7' || "
        f"substr(md5({seed}), 1, 3) || '8' || substr(md5({seed}), 4, 15))::uuid"
    )


def text(k: int, length: int) -> str:
    """SQL for ``length`` characters of TEXT (``$5``, bytea: substring is O(1) on bytes)."""
    return f"convert_from(substring($5::bytea FROM 1 + (i * 131 + {k * 977}) % 60000 FOR {length}), 'UTF8')"


def message(kind: str, k: int, length: int) -> str:
    extra = (
        ", 'tool_calls', '[]'::jsonb, 'usage_metadata', NULL, 'invalid_tool_calls', '[]'::jsonb"
        if kind == "ai"
        else ""
    )
    return (
        f"jsonb_build_object('id', md5('m{k}' || i)::uuid::text, 'name', NULL, 'type', '{kind}', "
        f"'content', {text(k, length)}, 'additional_kwargs', '{{}}'::jsonb, "
        f"'response_metadata', '{{}}'::jsonb{extra})"
    )


# $1, $2: the batch's range of i; $3: N; $4: the seed's "now"; $5: TEXT; $6, $7: graphs, ids.
THREADS_AND_RUNS = f"""
WITH s AS MATERIALIZED (
  SELECT i, i % 100 AS kind, g, ($6::text[])[g] AS graph_id, ($7::text[])[g] AS assistant_id,
         created, created + make_interval(secs => 1 + i % 9) AS ended,
         {uuid7("created", "'t' || i")} AS thread_id,
         {uuid7("created + interval '40 ms'", "'r' || i")} AS run_id,
         'user-' || (i * 7 % 1000) AS user_id, {text(9, 24)} AS label
  FROM generate_series($1::int, $2::int) AS i,
       LATERAL (SELECT CASE WHEN i % 10 < 6 THEN 1 WHEN i % 10 < 9 THEN 2 ELSE 3 END AS g,
                       $4::timestamptz - make_interval(secs => ($3 - i) * 7776000.0 / $3)
                         AS created) AS x
), v AS (
  SELECT s.*,
    CASE WHEN kind IN (85, 86) THEN NULL
         WHEN g = 3 THEN jsonb_build_object('log', jsonb_build_array(label, 'done:' || label),
                                            'label', label)
         ELSE jsonb_build_object('messages', jsonb_build_array(
                {message("human", 1, 200)}, {message("ai", 2, 400)},
                {message("human", 3, 200)}, {message("ai", 4, 400)}))
              || CASE WHEN g = 1 THEN jsonb_build_object('topic', 'topic-' || i % 20)
                      ELSE '{{}}'::jsonb END END AS vals,
    CASE WHEN kind BETWEEN 70 AND 79 THEN jsonb_build_object(
           'error', 'ValueError', 'message', 'boom: ' || label) END AS err,
    jsonb_build_array(jsonb_build_object('id', md5('y' || i),
                      'value', jsonb_build_object('question', 'continue?'))) AS pending,
    CASE WHEN kind < 70 OR kind >= 87 THEN 'idle' WHEN kind < 80 THEN 'error'
         WHEN kind < 85 THEN 'interrupted' ELSE 'busy' END AS status,
    CASE WHEN kind >= 90 THEN jsonb_build_object('graph_id', graph_id, 'assistant_id', assistant_id)
         ELSE jsonb_build_object('user_id', user_id, 'org_id', 'org-' || i % 37,
                                 'source', (ARRAY['web', 'slack', 'api'])[1 + i % 3],
                                 'graph_id', graph_id, 'assistant_id', assistant_id) END AS meta
  FROM s
), th AS (
  INSERT INTO threads (thread_id, created_at, updated_at, state_updated_at, metadata, status,
                       config, "values", interrupts, error)
  SELECT thread_id, created, CASE WHEN status = 'busy' THEN created ELSE ended END,
         CASE WHEN status = 'busy' THEN created ELSE ended END, meta, status, '{{}}', vals,
         CASE WHEN status = 'interrupted'
              THEN jsonb_build_object(md5('x' || i)::uuid::text, pending) ELSE '{{}}' END, err
  FROM v
)
INSERT INTO runs (run_id, thread_id, assistant_id, status, multitask_strategy, metadata, kwargs,
                  created_at, updated_at, started_at, ended_at, attempt, lease_owner,
                  lease_epoch, lease_expires_at, cancel_action, error, output, temporary,
                  lease_token)
SELECT run_id, thread_id, assistant_id::uuid,
       CASE WHEN status = 'busy' THEN 'pending' WHEN err IS NOT NULL THEN 'error'
            ELSE 'success' END,
       'enqueue', (meta - 'graph_id') || '{{"created_by": "system"}}',
       jsonb_build_object(
         'input', CASE WHEN g = 3 THEN jsonb_build_object('label', label)
                       ELSE jsonb_build_object('messages', jsonb_build_array(jsonb_build_object(
                              'role', 'user', 'content', {text(3, 200)}))) END,
         'config', jsonb_build_object('configurable', jsonb_build_object(
            'run_id', run_id, 'graph_id', graph_id, 'thread_id', thread_id,
            'user-agent', 'langgraph-sdk-py/0.4.14', 'assistant_id', assistant_id)),
         'waited', kind >= 90, 'command', NULL, 'context', '{{}}'::jsonb, 'webhook', NULL,
         'resumable', false, 'subgraphs', false, 'temporary', kind >= 90,
         'durability', 'async', 'stream_mode', '["values"]'::jsonb, 'feedback_keys', NULL,
         'on_completion', CASE WHEN kind >= 90 THEN 'keep' END, 'strict_resume', false,
         'interrupt_after', NULL, 'interrupt_before', NULL, 'checkpoint_during', NULL),
       CASE WHEN status = 'busy' THEN $4::timestamptz + interval '1 day' + i * interval '1 ms'
            ELSE created + interval '40 ms' END,
       CASE WHEN status = 'busy' THEN created ELSE ended END,
       CASE WHEN status <> 'busy' THEN created + interval '45 ms' END,
       CASE WHEN status <> 'busy' THEN ended END,
       (status <> 'busy')::int, NULL, (status <> 'busy')::int, NULL, NULL, err,
       CASE WHEN status = 'busy' THEN NULL WHEN err IS NOT NULL
            THEN jsonb_build_object('__error__', err)
            WHEN status = 'interrupted' THEN vals || jsonb_build_object('__interrupt__', pending)
            ELSE vals END,
       kind >= 90, CASE WHEN status <> 'busy' THEN md5('l' || i)::uuid END
FROM v
"""

STORE_ITEMS = f"""
INSERT INTO store_items (prefix, key, value, created_at, updated_at, ttl_minutes, expires_at)
SELECT CASE i % 4 WHEN 0 THEN 'users.' || u || '.memories'
                  WHEN 1 THEN 'users.' || u || '.memories.topic-' || i % 20
                  WHEN 2 THEN 'users.' || u || '.profile'
                  ELSE 'orgs.org-' || i % 37 || '.docs.shared' END,
       md5('k' || i)::uuid::text,
       jsonb_build_object('text', {text(5, 150)}, 'kind', (ARRAY['fact', 'preference', 'event'])[1 + i % 3],
                          'importance', i % 10, 'source', md5('t' || i)::uuid::text),
       created, created, CASE WHEN i % 10 = 0 THEN 43200.0 END,
       CASE WHEN i % 10 = 0 THEN $4::timestamptz + interval '30 days' END
FROM generate_series($1::int, $2::int) AS i,
     LATERAL (SELECT 'user-' || (i * 7 % 1000) AS u,
                     $4::timestamptz - make_interval(secs => ($3 - i) * 7776000.0 / $3)
                       AS created) AS x
"""


async def seed_history(conn: asyncpg.Connection, pool: asyncpg.Pool) -> str:
    """The 10k-checkpoint thread: real runs of the chat graph through Turnstile's saver."""
    from chat import builder  # tests/graphs/chat.py
    from langchain_core.messages import HumanMessage, RemoveMessage

    from app.checkpoint.saver import PostgresSaver

    graph = builder.compile(checkpointer=PostgresSaver(pool))
    tid, aid = str(uuid.uuid4()), str(system_assistant_id("chat"))
    meta = {"user_id": "user-1", "graph_id": "chat", "assistant_id": aid}
    ids: list[str] = []
    out: dict = {}
    for n in range(HISTORY_RUNS):
        trim = [RemoveMessage(id=ids.pop(0)) for _ in range(2)] if len(ids) >= 20 else []
        ask = HumanMessage(content=TEXT[n * 977 % 60_000 :][:200], id=str(uuid.uuid4()))
        run_id = str(uuid.uuid4())
        config = {
            "configurable": {"thread_id": tid, "run_id": run_id, "graph_id": "chat"},
            "metadata": {**meta, "run_id": run_id, "created_by": "system", "run_attempt": 1},
        }
        out = await graph.ainvoke({"messages": [*trim, ask]}, config)
        ids = [m.id for m in out["messages"]]
    insert = 'INSERT INTO threads (thread_id, metadata, "values") VALUES ($1, $2, $3)'
    await conn.execute(insert, uuid.UUID(tid), json.dumps(meta), json.dumps(plain(out)))
    return tid


async def seed(db: str, n: int) -> str:
    """Seed the database (module docstring); returns the 10k-checkpoint thread's id."""
    conn = await asyncpg.connect(db)
    pool = await asyncpg.create_pool(
        db, min_size=1, max_size=1, server_settings={"synchronous_commit": "off"}
    )
    try:
        await conn.execute("SET synchronous_commit = off")
        now = await conn.fetchval("SELECT now()")
        ids = [str(system_assistant_id(g)) for g in GRAPH_MIX]
        t0, steps = time.perf_counter(), []
        for sql, total, extra in (
            (THREADS_AND_RUNS, n, [GRAPH_MIX, ids]),
            (STORE_ITEMS, n // 10, []),
        ):
            for lo in range(1, total + 1, BATCH):
                hi = min(lo + BATCH - 1, total)
                await conn.execute(sql, lo, hi, total, now, TEXT.encode(), *extra)
            steps.append(f"{total:,} rows {time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
        tid = await seed_history(conn, pool)
        steps.append(f"10k checkpoints {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        steps.append(f"vacuum analyze {time.perf_counter() - t0:.1f} s")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print("seeded threads+runs, store items: " + ", ".join(steps) + f"; {size}", flush=True)
        return tid
    finally:
        await pool.close()
        await conn.close()


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


async def idle_cpu(pid: int, db: str, seconds: float = 20.0) -> tuple[float, float, float]:
    """CPU-ms per 10 s of the server (and children) and of its database's backends, and
    the database's transactions per 10 s (``pg_stat_database``)."""
    name = db.rsplit("/", 1)[1]
    admin = await asyncpg.connect(ADMIN_URL)
    query = "SELECT pid FROM pg_stat_activity WHERE datname = $1"
    xacts = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1"
    try:
        await asyncio.sleep(2)
        server0 = {p: cpu_ticks(p) for p in _tree(pid)}
        backends0 = {r["pid"]: cpu_ticks(r["pid"]) for r in await admin.fetch(query, name)}
        x0 = await admin.fetchval(xacts, name)
        await asyncio.sleep(seconds)
        server = sum(cpu_ticks(p) - server0.get(p, 0) for p in _tree(pid))
        pids = {r["pid"] for r in await admin.fetch(query, name)} | set(backends0)
        backends = sum(cpu_ticks(p) - backends0.get(p, 0) for p in pids)
        await asyncio.sleep(1)  # statistics are flushed at most once a second
        x1 = await admin.fetchval(xacts, name)
    finally:
        await admin.close()
    scale = 1000 / CLK * 10 / seconds
    return server * scale, max(backends, 0) * scale, (x1 - x0) * 10 / (seconds + 1)


async def clock(call: Awaitable[object]) -> float:
    t0 = time.perf_counter()
    await call
    return time.perf_counter() - t0


async def sample(name: str, op: Callable[[], Awaitable[float]], n: int) -> tuple[str, float, float]:
    """``n`` timings of ``op`` after one warm-up (fewer, at least 5, once BUDGET is spent)."""
    await op()
    out: list[float] = []
    deadline = time.monotonic() + BUDGET
    while len(out) < n and (len(out) < 5 or time.monotonic() < deadline):
        out.append(await op())
    return report(name, out)


async def measure(url: str, hist: str, n: int) -> list[tuple[str, float, float]]:
    c = get_client(url=url)
    user = {"user_id": "user-42"}

    async def copy() -> float:
        t0 = time.perf_counter()
        copies.append((await c.threads.copy(hist))["thread_id"])
        return time.perf_counter() - t0

    async def delete_copy() -> float:
        return await clock(c.threads.delete(copies.pop()))

    async def delete_assistant(threads: bool) -> float:
        aid = (await c.assistants.create("single"))["assistant_id"]
        for _ in range(2):
            tid = (await c.threads.create())["thread_id"]
            await c.runs.wait(tid, aid, input={"label": "a"})
        return await clock(c.assistants.delete(aid, delete_threads=threads))

    async def create(busy: bool) -> float:
        """A run create on an idle thread, or a reject (409) on a busy one."""
        tid = (await c.threads.create())["thread_id"]
        if busy:
            run = await c.runs.create(tid, "steps", input={"label": "x", "sleep": 0.2})
        t0 = time.perf_counter()
        try:
            strategy = "reject" if busy else "enqueue"
            made = await c.runs.create(tid, "single", input={}, multitask_strategy=strategy)
            assert not busy, "no 409 on a busy thread"
            run = made
        except httpx.HTTPStatusError as exc:
            if not busy or exc.response.status_code != 409:
                raise
        took = time.perf_counter() - t0
        await c.runs.join(tid, run["run_id"])
        return took

    hi = {"messages": [{"type": "human", "content": "hi"}]}
    short = (await c.threads.create(graph_id="chat"))["thread_id"]
    values = (await c.threads.get_state(hist))["values"]
    await c.threads.update_state(short, values, as_node="reply")

    async def chat_run(tid: str) -> float:
        return await clock(c.runs.wait(tid, "chat", input=hi))

    copies: list[str] = []
    t, store, users = c.threads, c.store, ["users", "user-42"]
    calls: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("threads.search", lambda: t.search()),
        ("threads.search metadata", lambda: t.search(metadata=user)),
        ("threads.search status", lambda: t.search(status="interrupted")),
        ("threads.search values", lambda: t.search(values={"topic": "topic-3"})),
        ("threads.search sort updated_at", lambda: t.search(sort_by="updated_at")),
        (f"threads.search offset {OFFSET}", lambda: t.search(offset=OFFSET)),
        ("threads.count", lambda: t.count()),
        ("threads.count metadata", lambda: t.count(metadata=user)),
        ("assistants.search", lambda: c.assistants.search()),
        ("threads.get_state (10k cps)", lambda: t.get_state(hist)),
        ("threads.get_history 10 (10k cps)", lambda: t.get_history(hist, limit=10)),
    ]
    ops: list[tuple[str, Callable[[], Awaitable[float]], int]] = [
        (name, lambda call=call: clock(call()), n) for name, call in calls
    ]
    ops += [
        ("threads.copy (10k cps)", copy, 5),
        ("threads.delete (10k-cp copy)", delete_copy, 5),
        ("assistants.delete", lambda: delete_assistant(False), 10),
        ("assistants.delete delete_threads", lambda: delete_assistant(True), 10),
        ("runs.create (idle thread)", lambda: create(False), n),
        ("runs.create reject 409 (busy)", lambda: create(True), n),
        ("runs.wait chat (10k cps)", lambda: chat_run(hist), n),
        ("runs.wait chat (1 cp, same state)", lambda: chat_run(short), n),
        ("store.search_items (user prefix)", lambda: clock(store.search_items(users)), n),
        ("store.search_items (all)", lambda: clock(store.search_items([])), n),
        ("store.list_namespaces", lambda: clock(store.list_namespaces(["users"], max_depth=2)), n),
    ]
    results = []
    for name, op, count in ops:
        results.append(await sample(name, op, count))
    for tid in copies:
        await c.threads.delete(tid)
    return results


async def wal_per_run(url: str, db: str) -> list[str]:
    """Bytes of WAL and of database growth per 'hi' run on states of 100 KB, 1 MB, 10 MB."""
    c = get_client(url=url, timeout=300)
    name = db.rsplit("/", 1)[1]
    admin = await asyncpg.connect(ADMIN_URL)
    lines = []
    print(f"\none 'hi' run on a chat thread holding a large state:\n{WAL_HEAD}")
    try:
        for target in (100_000, 1_000_000, 10_000_000):
            tid = (await c.threads.create(graph_id="chat"))["thread_id"]
            for lo in range(0, target, 1_000_000):  # a request body is at most 10 MB
                msgs = [
                    {"type": "human", "content": words(150)[:900], "id": str(uuid.uuid4())}
                    for _ in range(min(1_000_000, target - lo) // 1_000)
                ]
                await c.threads.update_state(tid, {"messages": msgs}, as_node="reply")
            state = len(json.dumps((await c.threads.get_state(tid))["values"]))
            wal, grown = [], []
            for _ in range(3):
                q = "SELECT pg_current_wal_lsn(), pg_database_size($1)"
                lsn0, size0 = await admin.fetchrow(q, name)
                await c.runs.wait(
                    tid, "chat", input={"messages": [{"type": "human", "content": "hi"}]}
                )
                await asyncio.sleep(0.5)
                lsn1, size1 = await admin.fetchrow(q, name)
                wal.append(await admin.fetchval("SELECT pg_wal_lsn_diff($1, $2)", lsn1, lsn0))
                grown.append(size1 - size0)
            w, g = float(min(wal)), float(min(grown))
            lines.append(
                f"| {state / 1e6:.2f} MB | {w / 1e6:.2f} MB | {w / state:.1f}x "
                f"| {g / 1e6:.2f} MB | {g / state:.1f}x |"
            )
            print(lines[-1], flush=True)
    finally:
        await admin.close()
    return lines


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--samples", type=int, default=40)
    p.add_argument("--keep", action="store_true", help="keep the largest database")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    table: dict[str, dict[int, float]] = {}
    wal: list[str] = []
    for n in sizes:
        print(f"\n## N = {n:,} ({datetime.datetime.now():%H:%M:%S})", flush=True)
        db = create_database(ADMIN_URL, prefix="ts_growth")
        try:
            migrate.upgrade(db)
            hist = asyncio.run(seed(db, n))
            pids: list[int] = []
            with running_server(db, config=GRAPHS, pids=pids) as url:
                idle = asyncio.run(idle_cpu(pids[0], db))
                for key, value in zip(IDLE, idle, strict=True):
                    table.setdefault(key, {})[n] = value
                    print(f"{key:<40} {value:.0f}")
                for name, p50, _ in asyncio.run(measure(url, hist, args.samples)):
                    table.setdefault(name, {})[n] = p50
                if n == sizes[0]:
                    wal = asyncio.run(wal_per_run(url, db))
        finally:
            if args.keep and n == sizes[-1]:
                print(f"kept {db}")
            else:
                drop_database(ADMIN_URL, db)
    print("\np50 in ms (idle: per 10 s):\n")
    print("| operation | " + " | ".join(f"{n:,}" for n in sizes) + " | largest/smallest |")
    print("|---" * (len(sizes) + 2) + "|")
    for name, by_size in table.items():
        cells = [f"{by_size.get(n, float('nan')):.2f}" for n in sizes]
        first, last = by_size.get(sizes[0]), by_size.get(sizes[-1])
        ratio = f"{last / first:.1f}x" if first and last is not None else "-"
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")
    if wal:
        print(f"\n{WAL_HEAD}\n" + "\n".join(wal))


if __name__ == "__main__":
    main()
