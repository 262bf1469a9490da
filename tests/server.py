"""A real ``turnstile serve`` process on loopback, for contract tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests import zygote

ROOT = Path(__file__).resolve().parents[1]


Process = subprocess.Popen[bytes] | zygote.Forked


def start(cmd: list[str], env: dict[str, str], log: IO[str]) -> Process:
    """``cmd`` (``python -m app ...``) in ROOT with ``env``, its output to ``log``: forked
    from this test process's zygote (tests/zygote.py: the imports done once), or a fresh
    interpreter when ``TURNSTILE_TEST_ZYGOTE=0``."""
    assert cmd[1:3] == ["-m", "app"], cmd
    if zygote.enabled():
        return zygote.spawn(cmd[3:], env=env, cwd=ROOT, log=log.name)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


@dataclass(frozen=True)
class Finished:
    """A ``turnstile`` command that ran to its end: its exit code and its output (stdout
    and stderr together, as an operator's terminal shows them)."""

    returncode: int
    output: str

    @property
    def stderr(self) -> str:
        return self.output


def command(*args: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 60) -> Finished:
    """Run ``turnstile <args>`` to its end with ``env`` as its whole environment (forked
    from the zygote, as servers are)."""
    log_dir = ROOT / ".pytest_cache" / "servers"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"command-{time.monotonic_ns()}.log"
    with open(path, "w") as log:
        if zygote.enabled():
            code = zygote.spawn(list(args), env=env, cwd=cwd, log=log.name).wait(timeout)
        else:
            code = subprocess.run(
                [sys.executable, "-m", "app", *args],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            ).returncode
    return Finished(code, path.read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(
    database_url: str | None,
    *,
    config: str | None = None,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    port: int | None = None,
    stop_signal: int = signal.SIGTERM,
    exit_codes: list[int] | None = None,
    pids: list[int] | None = None,
    migrate: bool = False,
) -> Iterator[str]:
    """Start ``python -m app serve`` and yield its base URL once ``/ok`` answers. At the end
    the process gets ``stop_signal``, and 20 s later SIGKILL; its exit code is appended to
    ``exit_codes``; its pid to ``pids``.

    Tests' databases are clones of a migrated template, so the server starts with
    ``--no-migrate`` unless ``migrate`` (or there is no ``database_url``: the embedded one)."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "app", "serve", "--port", str(port), *extra_args]
    if database_url and not migrate and "--no-migrate" not in extra_args:
        cmd.append("--no-migrate")
    if config:
        cmd += ["--config", config]
    proc_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        proc_env["DATABASE_URL"] = database_url
    proc_env.update(env or {})
    log_dir = ROOT / ".pytest_cache" / "servers"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"server-{port}.log", "w+")  # noqa: SIM115
    proc = start(cmd, proc_env, log)
    if pids is not None:
        pids.append(proc.pid)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read()[-4000:]}")
            try:
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"server did not answer in {timeout}s:\n{log.read()[-4000:]}")
            time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(stop_signal)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if exit_codes is not None:
            exit_codes.append(proc.returncode)
        log.close()


@contextlib.contextmanager
def running_worker(
    database_url: str,
    *,
    config: str | None = None,
    jobs: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    logs: list[Path] | None = None,
) -> Iterator[Process]:
    """Start ``python -m app worker`` and yield the process once its pool has started (so
    tests can signal it: SIGKILL, SIGSTOP...). At the end: SIGTERM, 30 s later SIGKILL. Its
    log's path is appended to ``logs``."""
    cmd = [sys.executable, "-m", "app", "worker", "--no-migrate"]
    if config:
        cmd += ["--config", config]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    proc_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    proc_env["DATABASE_URL"] = database_url
    proc_env.update(env or {})
    log_dir = ROOT / ".pytest_cache" / "servers"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"worker-{time.monotonic_ns()}.log"
    log = open(log_path, "w+")  # noqa: SIM115
    if logs is not None:
        logs.append(log_path)
    proc = start(cmd, proc_env, log)
    started = ("turnstile.worker: worker", '"logger":"turnstile.worker","event":"worker ')
    try:
        deadline = time.monotonic() + timeout
        while not any(line in log_path.read_text() for line in started):  # plain or LOG_JSON
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start in {timeout}s:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # in case a test left it stopped
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
