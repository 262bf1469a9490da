"""``turnstile serve`` without DATABASE_URL: an embedded PostgreSQL, a clean stop, persistence."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client

from tests.server import ROOT, free_port

START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class Served:
    """A ``python -m app serve --data-dir ...`` process (no DATABASE_URL) and its log."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.log_path = ROOT / f".pytest_cache/server-{self.port}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self._log = open(self.log_path, "w+")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ok", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not answer in {START_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.1)

    def terminate(self) -> int:
        """SIGTERM; the exit code (asserting the process exits in time)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"server still running {STOP_TIMEOUT}s after SIGTERM:\n{self.log()}"
            ) from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@contextlib.contextmanager
def serving(data_dir: Path) -> Iterator[Served]:
    served = Served(data_dir)
    try:
        served.wait_ready()
        yield served
    finally:
        served.close()


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _assert_postgres_stopped(data_dir: Path, pid: int) -> None:
    # pg_ctl stop -w returns once postmaster.pid is gone; the process exits right after.
    assert _wait_dead(pid), f"the embedded PostgreSQL (pid {pid}) is still running"
    # Removed by a clean shutdown (a killed server would leave it behind).
    assert not (data_dir / "postmaster.pid").exists()


def _stop_leftover_postgres(data_dir: Path) -> None:
    """After a failure: fast-stop a server the test's processes left on ``data_dir``."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"postgres" not in cmdline or os.fsencode(data_dir) not in cmdline:
        return  # not that server (the pid was reused)
    os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    _wait_dead(pid, 15)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # As root the server runs as the unprivileged `turnstile-pg`, which must be able to reach
    # the data directory: a private parent of our own, opened to others for traversal.
    parent = tempfile.mkdtemp(prefix="turnstile-serve-test-", dir="/tmp")
    os.chmod(parent, 0o755)
    try:
        yield Path(parent) / "pgdata"
    finally:
        _stop_leftover_postgres(Path(parent) / "pgdata")
        shutil.rmtree(parent, ignore_errors=True)


def test_serve_without_database_url_uses_embedded_postgres(data_dir: Path) -> None:
    with serving(data_dir) as served:
        assert httpx.get(f"{served.url}/ok", timeout=5).json() == {"ok": True}
        assert (data_dir / "PG_VERSION").exists()
        postgres_pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        assert _pid_alive(postgres_pid)
        with get_sync_client(url=served.url) as client:
            thread = client.threads.create(metadata={"embedded": "yes"})

        # SIGTERM: the server exits 0 and stops the embedded PostgreSQL it started.
        assert served.terminate() == 0, served.log()
    _assert_postgres_stopped(data_dir, postgres_pid)

    # Started again on the same data directory: the thread is still there.
    with serving(data_dir) as served:
        postgres_pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        with get_sync_client(url=served.url) as client:
            again = client.threads.get(thread["thread_id"])
        assert again["thread_id"] == thread["thread_id"]
        assert again["metadata"] == {"embedded": "yes"}
        assert served.terminate() == 0, served.log()
    _assert_postgres_stopped(data_dir, postgres_pid)
