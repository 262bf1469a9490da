"""Starting ``turnstile serve`` / ``turnstile worker`` processes fast, for tests.

A fresh ``python -m app serve`` spends most of its start importing (LangGraph, LangChain,
Litestar, uvicorn, LangSmith: about 7 CPU-seconds on the 2-core CI machine), and the suite
starts well over a hundred servers. So each test process keeps one *zygote*: a process
that has imported all of that once and then, for each start, forks a child that runs the
very same entry point (``app.cli.main`` with the given arguments, environment, working
directory and log file) and exits with its exit code. The child is a real, separate server
process: its own pid, sockets, event loop and database connections, signalled and killed
like any other; only the imports were done before the fork.

``spawn`` returns a ``Forked`` handle with the part of ``subprocess.Popen`` the tests use
(``pid``, ``poll``, ``wait``, ``send_signal``, ``terminate``, ``kill``, ``returncode``:
negative for a signal, as Popen reports it). The zygote reports each child's exit over the
socket connection the child was requested on.

Protocol (a Unix socket): the client sends one JSON line ``{"argv", "env", "cwd", "log"}``;
the zygote answers ``pid <n>`` and, when that child ends, ``exit <code>``.

``TURNSTILE_TEST_ZYGOTE=0`` starts every server with a fresh interpreter instead.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Not ``app.graphs.demo``: it builds its graph when imported, reading the server's
# environment (TURNSTILE_DEMO_TOKEN_DELAY, TURNSTILE_DEMO_MODEL); imported here, every child
# would run the zygote's graph whatever environment it was given. Its imports are.
PRELOAD = (
    "app.cli",
    "app.main",
    "app.api.http_limits",
    "app.graphs.registry",
    "app.graphs.demo_model",
    "app.graphs.demo_search",
    "app.worker.process",
    "app.db.migrate",
    "uvicorn",
    "uvloop",
    "langgraph.graph",
    "langgraph.prebuilt",
    "langchain_core.messages",
)


def enabled() -> bool:
    return os.environ.get("TURNSTILE_TEST_ZYGOTE", "1") != "0"


# --- the client side (in the test process) ----------------------------------------------


class Forked:
    """A child of the zygote, seen from the test process (a ``subprocess.Popen`` stand-in)."""

    def __init__(self, conn: socket.socket, pid: int, args: list[str]) -> None:
        self._conn = conn
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self._buffer = b""

    def _read(self, timeout: float | None) -> None:
        if self.returncode is not None:
            return
        self._conn.settimeout(timeout)
        try:
            while b"\n" not in self._buffer:
                chunk = self._conn.recv(64)
                if not chunk:  # the zygote went away: so did its children (PDEATHSIG)
                    self.returncode = -signal.SIGKILL
                    return
                self._buffer += chunk
        except (TimeoutError, BlockingIOError):
            return
        line = self._buffer.split(b"\n", 1)[0].decode()
        kind, value = line.split()
        assert kind == "exit", line
        self.returncode = int(value)
        self._conn.close()

    def poll(self) -> int | None:
        self._read(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._read(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Zygote:
    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="turnstile-zygote-")) / "socket"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.zygote", str(self.path)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while not self.path.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the test zygote exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the test zygote did not start in 120 s")
            time.sleep(0.02)

    def spawn(self, argv: list[str], env: dict[str, str], cwd: Path, log: str) -> Forked:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(self.path))
        request = {"argv": argv, "env": env, "cwd": str(cwd), "log": log}
        conn.sendall(json.dumps(request).encode() + b"\n")
        buffer = b""
        conn.settimeout(30)
        while b"\n" not in buffer:
            chunk = conn.recv(64)
            if not chunk:
                raise RuntimeError("the test zygote closed the connection")
            buffer += chunk
        line, rest = buffer.split(b"\n", 1)
        kind, value = line.decode().split()
        assert kind == "pid", line
        child = Forked(conn, int(value), argv)
        child._buffer = rest
        return child

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        with contextlib.suppress(OSError):
            self.path.unlink()
            self.path.parent.rmdir()


_zygote: _Zygote | None = None
_lock = threading.Lock()


def spawn(argv: list[str], *, env: dict[str, str], cwd: Path, log: str) -> Forked:
    """Start ``turnstile <argv>`` (``app.cli.main(argv)``) as a child of this test process's
    zygote, with ``env`` as its whole environment, in ``cwd``, stdout and stderr to ``log``."""
    global _zygote
    with _lock:
        if _zygote is None or _zygote.proc.poll() is not None:
            _zygote = _Zygote()
            atexit.register(_zygote.stop)
        zygote = _zygote
    return zygote.spawn(argv, env, cwd, log)


# --- the zygote itself ---------------------------------------------------------------------


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _child(request: dict[str, Any], listener: socket.socket, conns: list[socket.socket]) -> None:
    """In the forked child: become the requested process, run it, exit with its code."""
    code = 1
    try:
        listener.close()
        for conn in conns:
            conn.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _die_with_parent()
        fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = [sys.executable, *request["argv"]]
        from app.cli import main

        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def serve_forever(path: str) -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if others:  # forking would copy a process whose other threads are gone
        raise RuntimeError(f"threads started while preloading: {others}")
    _die_with_parent()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path + ".tmp"
    listener.bind(tmp)
    listener.listen(64)
    os.rename(tmp, path)  # the client waits for the path: it appears ready
    stop = False

    def on_term(_sig: int, _frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    pending: dict[socket.socket, bytes] = {}
    children: dict[int, socket.socket] = {}
    while not stop:
        for key, _ in sel.select(timeout=0.02):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            if sock is listener:
                conn, _ = listener.accept()
                pending[conn] = b""
                sel.register(conn, selectors.EVENT_READ)
                continue
            data = sock.recv(65536)
            if not data:  # a client went away before asking for anything
                sel.unregister(sock)
                pending.pop(sock, None)
                sock.close()
                continue
            if sock not in pending:
                continue  # a started child's connection: nothing more is read from it
            pending[sock] += data
            if b"\n" not in pending[sock]:
                continue
            request = json.loads(pending.pop(sock).split(b"\n", 1)[0])
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(request, listener, [*pending, *children.values(), sock])
            children[pid] = sock
            sel.unregister(sock)
            sock.sendall(f"pid {pid}\n".encode())
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            conn = children.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(f"exit {_status(status)}\n".encode())
                conn.close()
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    serve_forever(sys.argv[1])
