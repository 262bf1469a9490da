"""Running the embedded PostgreSQL's programs, and reading what its ``postmaster.pid`` says.

:class:`ServerTools` runs ``initdb``/``pg_ctl`` as the server's user (the system user when we
are root), with output in a file rather than a pipe (``pg_ctl`` leaves the postmaster
holding it) and the tail of the server log in every error; ``pg_isready`` and ``psql`` talk
to it over its unix socket as the superuser. No tool inherits ``PG*`` environment variables.
The socket lives in the data directory, or in a private ``/tmp/turnstile-pg-<hash>`` when
that path would be too long for a unix socket.

The binaries and the user come from :mod:`app.db.embedded_install`; the lifecycle that uses
these tools is :mod:`app.db.embedded`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PORT = 5432
"""Only names the socket file (``.s.PGSQL.5432``); no TCP port is opened."""

SUPERUSER = "postgres"
_MAX_SOCKET_PATH = 107  # sun_path is 108 bytes including the trailing NUL


@dataclass(frozen=True)
class Postmaster:
    """The lines of ``postmaster.pid`` we use."""

    pid: int
    socket_dir: Path | None
    port: int
    status: str


def read_postmaster_pid(data_dir: Path) -> Postmaster | None:
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    try:
        port = int(lines[3]) if len(lines) > 3 else PORT
    except ValueError:
        port = PORT
    status = lines[7].strip() if len(lines) > 7 else ""
    return Postmaster(pid=pid, socket_dir=socket_dir, port=port, status=status)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_postgres_process(pid: int) -> bool:
    import psutil

    try:
        return "postgres" in psutil.Process(pid).name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def clean_env() -> dict[str, str]:
    """The environment for server tools: no ``PG*`` variables that could redirect them."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def default_socket_dir(data_dir: Path) -> Path:
    """The data directory, unless a socket path in it would be too long for ``sun_path``."""
    if len(os.fsencode(data_dir / f".s.PGSQL.{PORT}")) <= _MAX_SOCKET_PATH:
        return data_dir
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:12]
    return Path("/tmp") / f"turnstile-pg-{digest}"


def prepare_socket_dir(data_dir: Path, ids: tuple[int, int], *, chown: bool) -> Path:
    """Make the socket directory, private to ``ids`` (uid, gid); check one that exists."""
    sock = default_socket_dir(data_dir)
    if sock == data_dir:
        return sock
    uid, gid = ids
    try:
        sock.mkdir(mode=0o700)
        if chown:
            os.chown(sock, uid, gid)
    except FileExistsError:
        st = os.lstat(sock)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
            raise RuntimeError(
                f"socket directory {sock} exists but is not a private directory of uid {uid}"
            ) from None
    return sock


@dataclass(frozen=True)
class ServerTools:
    """The server's programs in ``bin``, run as ``user`` (uid, gid) when set (we are root)."""

    bin: Path
    user: tuple[int, int] | None

    def path(self, name: str) -> str:
        return str(self.bin / name)

    def run(
        self, args: list[str], *, what: str, log_file: Path, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        """Run a server-side tool (initdb, pg_ctl) as the server's user; raise with log tail."""
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            uid, gid = self.user
            kwargs.update(user=uid, group=gid, extra_groups=[])
        # pg_ctl leaves the postmaster holding its stdout/stderr: use files, not pipes.
        with tempfile.TemporaryFile("w+") as out:
            try:
                res = subprocess.run(
                    [self.path(args[0]), *args[1:]],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=clean_env(),
                    cwd="/",
                    timeout=timeout,
                    check=False,
                    **kwargs,
                )
            except subprocess.TimeoutExpired:
                out.seek(0)
                raise RuntimeError(
                    f"timed out trying to {what}.\n{out.read().strip()}\n"
                    f"--- tail of {log_file} ---\n{tail(log_file)}"
                ) from None
            out.seek(0)
            output = out.read()
        if res.returncode != 0:
            raise RuntimeError(
                f"failed to {what} (exit {res.returncode}).\n{output.strip()}\n"
                f"--- tail of {log_file} ---\n{tail(log_file)}"
            )
        return res

    def isready(self, pm: Postmaster) -> bool:
        """Whether the server described by ``pm`` answers on its socket."""
        if pm.socket_dir is None:
            return False
        res = subprocess.run(
            [
                self.path("pg_isready"),
                "-q",
                "-h",
                str(pm.socket_dir),
                "-p",
                str(pm.port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-t",
                "5",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=clean_env(),
            cwd="/",
            check=False,
            timeout=30,
        )
        return res.returncode == 0

    def psql(
        self,
        sql: str,
        *,
        socket_dir: Path,
        variables: dict[str, str],
        database: str = "postgres",
    ) -> str:
        """Run ``sql`` through ``psql`` as the superuser; raise with its stderr on failure."""
        args = [
            self.path("psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(socket_dir),
            "-p",
            str(PORT),
            "-U",
            SUPERUSER,
            "-d",
            database,
        ]
        for k, v in variables.items():
            args += ["-v", f"{k}={v}"]
        res = subprocess.run(
            args,
            input=sql,
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd="/",
            check=False,
            timeout=60,
        )
        if res.returncode != 0:
            raise RuntimeError(f"psql failed: {res.stderr.strip()}")
        return res.stdout
