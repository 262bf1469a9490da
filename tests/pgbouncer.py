"""A real pgbouncer in ``pool_mode=transaction`` in front of a private cluster (tests/cluster.py).

The Debian ``pgbouncer`` binary (installed by .ci/run), started by the test on a free
127.0.0.1 port with ``auth_type = trust`` and no unix socket. pgbouncer refuses to run as
root, so as root it runs as the cluster's unprivileged user. Its server pool is kept
smaller than Turnstile's pools, so transactions of different clients really share (and
hop between) server connections, as behind a managed pooler.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Cluster
from tests.server import free_port


def pgbouncer_binary() -> str:
    """The pgbouncer executable; skips the test when there is none, except in CI
    (``CI=true``), where a missing pgbouncer is a failure: .ci/run installs it."""
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("pgbouncer is not installed (.ci/run installs the Debian package)")
    pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")


class Bouncer:
    def __init__(self, port: int, base_dir: Path) -> None:
        self.port = port
        self.base_dir = base_dir
        self.log_file = base_dir / "pgbouncer.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""


@contextlib.contextmanager
def pgbouncer(cluster: Cluster, *, pool_size: int = 10) -> Iterator[Bouncer]:
    """A started pgbouncer (transaction mode, ``pool_size`` server connections per
    database and user) in front of ``cluster``; stopped at the end."""
    binary = pgbouncer_binary()
    base = Path(tempfile.mkdtemp(prefix="turnstile-pgbouncer-", dir="/tmp"))
    os.chmod(base, 0o755)
    bouncer = Bouncer(free_port(), base)
    (base / "userlist.txt").write_text('"postgres" ""\n')
    (base / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host=127.0.0.1 port={cluster.port}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {bouncer.port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {base / 'userlist.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                "max_client_conn = 1000",
                "server_reset_query =",
                f"logfile = {bouncer.log_file}",
                f"pidfile = {base / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    kwargs: dict[str, object] = {}
    if os.geteuid() == 0:
        uid, gid = cluster._embedded._ids()
        for path in base.iterdir():
            os.chown(path, uid, gid)
        os.chown(base, uid, gid)
        kwargs.update(user=uid, group=gid, extra_groups=[])
    proc = subprocess.Popen(
        [binary, str(base / "pgbouncer.ini")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        cwd="/",
        **kwargs,  # type: ignore[call-overload]
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {proc.returncode}:\n{bouncer.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", bouncer.port), timeout=0.5),
            ):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not listen in 20 s:\n{bouncer.log()}")
            time.sleep(0.05)
        yield bouncer
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)
