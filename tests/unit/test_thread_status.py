"""The post-run thread-status rule (app.core.thread_status), as finish, cancel and rollback
apply it."""

from __future__ import annotations

import pytest

from app.core.thread_status import after_run


@pytest.mark.parametrize(
    ("failed", "waiting", "status"),
    [
        (False, False, "idle"),
        (False, True, "interrupted"),
        (True, False, "error"),
        (True, True, "error"),  # a failure wins over a pending interrupt
    ],
)
def test_after_run(failed: bool, waiting: bool, status: str) -> None:
    assert after_run(failed=failed, waiting=waiting) == status
