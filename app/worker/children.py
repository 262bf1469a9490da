"""``serve --worker-processes N``: the ``turnstile worker`` child processes ``serve`` starts
beside its API, and stops with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from app.observability import metrics
from app.settings import Settings


def _die_with_parent() -> None:
    """In a child, before exec: get SIGKILL when the parent dies (Linux), so a killed
    ``serve`` leaves no worker behind (its runs are recovered like any dead worker's)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def worker_processes(settings: Settings, url: str) -> Iterator[int]:
    """``serve --worker-processes N``: start N ``turnstile worker`` children on ``url``
    (migrated already: they do not migrate) and yield the in-process worker count (0 then).
    They get SIGTERM when ``serve`` stops and run their graceful shutdown."""
    if settings.worker_processes <= 0 or settings.workers <= 0:
        yield settings.workers
        return
    cmd = [sys.executable, "-m", "app", "worker", "--no-migrate", "--jobs", str(settings.workers)]
    if settings.config_path:
        cmd += ["--config", settings.config_path]
    env = {**os.environ, "DATABASE_URL": url, "TURNSTILE_DATABASE_POOLER": settings.pooler}
    if settings.direct_database_url:
        env["TURNSTILE_DIRECT_DATABASE_URL"] = settings.direct_database_url
    children: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(settings.worker_processes):
            children.append(subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent))
        yield 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + settings.shutdown_grace_seconds + 10
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            metrics.process_dead(child.pid)  # its worker slots no longer count
