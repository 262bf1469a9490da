"""The console (``/console``) and ``/docs`` in a real headless Chromium, against one real
server (custom auth, mounted under ``/base``) with the demo agent and a graph that holds
while running (``gate``). Each test asserts the DOM, takes a screenshot (in its tmp dir;
the thread view's also goes to docs/console.png, the README's, when that is missing or
``TURNSTILE_UPDATE_SCREENSHOT=1``: not a new binary in git at every run), and finds no console
error, no uncaught error and no request leaving 127.0.0.1."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.browser.auth import TOKEN
from tests.browser.conftest import Watched, open_page
from tests.pg import create_database, drop_database
from tests.server import ROOT, running_server

expect = pytest.importorskip("playwright.async_api").expect

CONFIG = str(Path(__file__).parent / "langgraph.json")
PREFIX = "/base"


@pytest.fixture(scope="module")
def server(pg_admin_url: str, template_database: str) -> Iterator[str]:
    """The server's base URL, its mount prefix included."""
    url = create_database(pg_admin_url, template=template_database)
    try:
        with running_server(url, config=CONFIG) as base:
            yield base + PREFIX
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture
async def sdk(server: str) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=server, api_key=TOKEN)
    try:
        yield client
    finally:
        await client.aclose()


async def finish(watched: Watched, shot: Path) -> None:
    image = await watched.page.screenshot(path=str(shot), full_page=True)
    assert image.startswith(b"\x89PNG")
    problems = watched.clean()
    await watched.page.context.close()
    assert problems == []


async def test_docs_render_with_the_network_cut(browser: Any, server: str, tmp_path: Path) -> None:
    watched = await open_page(browser)
    page = watched.page
    loaded: list[str] = []
    page.on("requestfinished", lambda request: loaded.append(request.url))
    await page.goto(server + "/docs")
    await expect(page.locator('.opblock-tag[data-tag="threads"]')).to_be_visible()
    stream = page.locator('[data-path="/threads/{thread_id}/runs/stream"]').first
    await expect(stream).to_be_visible()
    assert server + "/openapi.json" in loaded  # under the mount prefix
    assert any(u.startswith(server + "/docs/assets/swagger-ui-bundle.js") for u in loaded)
    await finish(watched, tmp_path / "docs.png")


async def test_docs_assets_are_cached_typed_and_only_the_listed_files(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as http:
        bundle = await http.get("/docs/assets/swagger-ui-bundle.js")
        assert bundle.status_code == 200
        assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "max-age" in bundle.headers["cache-control"]
        etag = {"if-none-match": bundle.headers["etag"]}
        again = await http.get("/docs/assets/swagger-ui-bundle.js", headers=etag)
        assert again.status_code == 304
        css = await http.get("/docs/assets/swagger-ui.css")
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        for path in (
            "/docs/assets/swagger-ui.js",
            "/docs/assets/..%2f..%2fpyproject.toml",
            "/docs/assets/../../console/console.html",
            "/console/console.html",
            "/console/..%2fapi%2fconsole.py",
        ):
            assert (await http.get(path)).status_code in (401, 404), path
        page = await http.get("/console")
    assert page.status_code == 200
    assert f'src="{PREFIX}/console/console.js?v=' in page.text


async def test_threads_view_asks_for_the_token_then_lists_threads(
    browser: Any, server: str, sdk: LangGraphClient, tmp_path: Path
) -> None:
    thread = await sdk.threads.create(metadata={"purpose": "threads-view"})
    tid = thread["thread_id"]
    watched = await open_page(browser)  # no token yet
    page = watched.page
    await page.goto(server + "/console")
    await expect(page.locator("#notice")).to_contain_text("token")
    await page.fill("#token", TOKEN)
    await page.click("#token-form button")
    row = page.locator(f'#thread-list tr[data-thread-id="{tid}"]')
    await expect(row.locator(".thread-status")).to_have_text("idle")
    await page.fill("#thread-query", "purpose=threads-view")
    await page.click("#thread-search button")
    await expect(page.locator("#thread-list tbody tr")).to_have_count(1)
    await expect(row).to_be_visible()
    await page.select_option("#thread-status", "busy")
    await page.click("#thread-search button")
    await expect(page.locator("#thread-list tbody tr")).to_have_count(0)
    await finish(watched, tmp_path / "threads.png")


async def test_a_running_run_streams_then_its_thread_shows_runs_and_history(
    browser: Any, server: str, sdk: LangGraphClient, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    run = await sdk.runs.create(
        tid, "gate", input={"release": str(release)}, stream_mode=["updates", "values"]
    )
    rid = run["run_id"]
    watched = await open_page(browser, token=TOKEN)
    page = watched.page

    await page.goto(f"{server}/console#/queue")
    busy = page.locator(f'#busy-list tr[data-thread-id="{tid}"]')
    await expect(busy).to_be_visible()
    await expect(busy.locator(".worker")).not_to_have_text("")
    await expect(page.locator('#queue-counts [data-count="threads_busy"]')).not_to_have_text("0")

    await page.goto(f"{server}/console#/run/{tid}/{rid}")
    await expect(page.locator("#run-status")).to_have_text("running")
    await expect(page.locator("#stream-state")).to_have_text("(live)")
    started = page.locator('#events li[data-event="updates"]').first
    await expect(started).to_contain_text("started")
    await expect(page.locator('#run-facts [data-fact="Attempts"]')).to_have_text("1")
    await expect(page.locator('#run-facts [data-fact="Worker"]')).not_to_have_text("none")
    await page.screenshot(path=str(tmp_path / "run-live.png"), full_page=True)

    release.touch()
    await expect(page.locator("#events li", has_text="released").first).to_be_visible()
    await expect(page.locator("#stream-state")).to_have_text("(ended)")
    await expect(page.locator("#run-status")).to_have_text("success")
    steps = page.locator("#run-timeline li")
    await expect(steps).to_have_count(3)
    names = [await steps.nth(i).get_attribute("data-step") for i in range(3)]
    assert names == ["queued", "running", "success"]

    await page.click("#run-thread")
    await expect(page.locator("#thread-status-badge")).to_have_text("idle")
    run_row = page.locator(f'#run-list tr[data-run-id="{rid}"]')
    await expect(run_row.locator(".run-status")).to_have_text("success")
    await expect(run_row.locator(".timeline-text")).to_contain_text("running")
    history = await sdk.threads.get_history(tid, limit=20)
    assert len(history) >= 3
    await expect(page.locator("#history li")).to_have_count(len(history))
    for state in history:
        checkpoint_id = state["checkpoint"]["checkpoint_id"]
        item = page.locator(f'#history li[data-checkpoint-id="{checkpoint_id}"]')
        await expect(item).to_be_visible()
    await expect(page.locator("#state-values")).to_contain_text("released")
    shot = tmp_path / "thread.png"
    await finish(watched, shot)
    readme_image = ROOT / "docs" / "console.png"
    if os.environ.get("TURNSTILE_UPDATE_SCREENSHOT") or not readme_image.exists():
        shutil.copyfile(shot, readme_image)


async def test_the_message_box_streams_the_agents_answer(
    browser: Any, server: str, sdk: LangGraphClient, tmp_path: Path
) -> None:
    watched = await open_page(browser, token=TOKEN)
    page = watched.page
    await page.goto(f"{server}/console#/send")
    await expect(page.locator("#send")).to_be_disabled()  # read-only until allowed
    await page.check("#allow-writes")
    await expect(page.locator("#send")).to_be_enabled()
    agent = page.locator("#assistant option", has_text="agent")
    await expect(agent).to_have_count(1)
    await page.select_option("#assistant", await agent.get_attribute("value"))
    await page.fill("#message", "what's the weather in sf?")
    await page.click("#send")
    await expect(page.locator("#send-state")).to_contain_text("done")
    answer = page.locator("#conversation .message.ai").last
    await expect(answer).to_contain_text("According to the search results")
    href = await page.locator("#send-state a").get_attribute("href")
    assert href is not None
    tid, rid = href.split("/")[-2:]
    state = await sdk.threads.get_state(tid)
    final = state["values"]["messages"][-1]
    assert final["type"] == "ai"
    assert (await answer.inner_text()).strip() == final["content"].strip()
    assert (await sdk.runs.get(tid, rid))["status"] == "success"
    await finish(watched, tmp_path / "send.png")
