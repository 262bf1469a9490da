"""One headless Chromium (Debian's ``chromium``, driven by Playwright's library) for the
browser tests, and pages that record every console error and page error.

A missing browser skips these tests, except in CI (``CI=true``), where it is a failure:
.ci/run installs the Debian package."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_binary() -> str:
    found = shutil.which("chromium") or next(
        (p for p in ("/usr/bin/chromium", "/usr/lib/chromium/chromium") if os.access(p, os.X_OK)),
        None,
    )
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("chromium is not installed (.ci/run installs the Debian package)")
    pytest.skip("chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Async Playwright, on the tests' session event loop (the sync API would leave its own
    loop marked running and break every async test after it in the process)."""
    binary = chromium_binary()
    from playwright.async_api import async_playwright, expect

    # Deadlines, not sleeps: assertions wait up to this long (a loaded 2-core machine).
    expect.set_options(timeout=20_000)

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Watched:
    """A page and what went wrong in it: console errors, uncaught errors, and requests that
    tried to leave the machine (aborted)."""

    page: Any
    errors: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    def clean(self) -> list[str]:
        return [*self.errors, *(f"request outside loopback: {u}" for u in self.left)]


async def open_page(browser: Any, *, token: str | None = None) -> Watched:
    """A fresh context and page; ``token``: stored in sessionStorage before any script runs,
    as the console's token box stores it. Every request not to 127.0.0.1 is aborted."""
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(20_000)
    page = await context.new_page()
    watched = Watched(page)
    if token is not None:
        await page.add_init_script(f"sessionStorage.setItem('turnstile.token', {token!r});")

    def on_console(message: Any) -> None:
        if message.type == "error":
            watched.errors.append(f"console: {message.text}")

    async def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            await request_route.continue_()
        else:
            watched.left.append(url)
            await request_route.abort()

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(f"pageerror: {error}"))
    await page.route("**/*", route)
    return watched
