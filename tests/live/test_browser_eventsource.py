"""A real browser: headless Chromium's EventSource follows the organization's stream with a minted token,
loses the connection when the API process dies, and resumes (Last-Event-ID) without a gap."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_sessionmaker, transaction
from shared.events.service import record_event
from tests.conftest import REPO_ROOT
from tests.fixtures.live import free_port
from tests.fixtures.organizations import create_org

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
    ),
]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]


@contextlib.contextmanager
def _api(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "api", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def _until_up(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


class Page:
    """The one tab of a headless Chromium, driven over the DevTools protocol."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.next_id = 0

    async def evaluate(self, expression: str) -> Any:
        self.next_id += 1
        request = {
            "id": self.next_id,
            "method": "Runtime.evaluate",
            "params": {"expression": expression, "returnByValue": True},
        }
        await self.socket.send(json.dumps(request))
        while True:
            reply = json.loads(await self.socket.recv())
            if reply.get("id") == self.next_id:
                if "exceptionDetails" in reply["result"]:
                    raise AssertionError(f"the page threw: {reply['result']['exceptionDetails']}")
                return reply["result"]["result"].get("value")


@contextlib.asynccontextmanager
async def _chromium(start_url: str) -> AsyncIterator[Page]:
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", start_url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            for _ in range(300):
                if port_file.exists() and port_file.read_text().strip():
                    break
                await asyncio.sleep(0.1)
            port = port_file.read_text().split()[0]
            async with httpx.AsyncClient() as http:
                for _ in range(100):
                    targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
                    pages = [t for t in targets if t["type"] == "page" and t["url"].startswith(start_url)]
                    if pages:
                        break
                    await asyncio.sleep(0.1)
            async with websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as socket:
                yield Page(socket)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_eventsource_in_chromium_resumes_without_a_gap(
    engine: AsyncEngine, subprocess_env: dict[str, str], event_relay: None
) -> None:
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = {**subprocess_env, "ATTUNE_EVENTS__SSE_RETRY_MS": "300", "ATTUNE_API__PUBLIC_URL": api_url}
    sessionmaker = create_sessionmaker(engine)
    async with transaction(sessionmaker) as session:
        org = await create_org(session, "Browser Co")

    async def record(count: int, start: int) -> list[str]:
        async with transaction(sessionmaker) as session:
            events = [
                await record_event(
                    session, org.id, "fine_tuning.job.metrics", {"step": start + n}, subject_id="ftjob_b"
                )
                for n in range(count)
            ]
        return [f"evt_{event.id}" for event in events]

    async def seen(page: Page, count: int) -> list[str]:
        for _ in range(300):
            ids: list[str] = await page.evaluate("window.seen")
            if len(ids) >= count:
                return ids
            await asyncio.sleep(0.1)
        raise AssertionError(f"the page saw only {ids}")

    with _api(env, port) as api:
        await _until_up(api_url)
        async with httpx.AsyncClient(base_url=api_url) as http:
            minted = (await http.post("/v1/events/stream_tokens", json={}, headers=org.headers)).json()
        async with _chromium(f"{api_url}/healthz") as page:
            for _ in range(100):
                state = await page.evaluate("location.href + ' ' + document.readyState")
                if state == f"{api_url}/healthz complete":
                    break
                await asyncio.sleep(0.1)
            await page.evaluate(
                "window.seen = []; window.steps = []; window.opened = 0;"
                f"window.source = new EventSource({json.dumps(minted['stream_url'])});"
                "window.source.onopen = () => { window.opened += 1; };"
                "window.source.onmessage = (m) => { window.seen.push(m.lastEventId);"
                " window.steps.push(JSON.parse(m.data).data.step); };"
            )
            for _ in range(100):
                if await page.evaluate("window.opened") == 1:
                    break
                await asyncio.sleep(0.1)
            expected = await record(3, 0)
            assert await seen(page, 3) == expected

            # The connection drops: the API process dies; events keep happening meanwhile.
            api.kill()
            api.wait()
            expected += await record(3, 3)
            with _api(env, port):
                await _until_up(api_url)
                assert await seen(page, 6) == expected  # replayed from Postgres after Last-Event-ID
                expected += await record(2, 6)
                ids = await seen(page, 8)
                await asyncio.sleep(0.5)
                ids = await page.evaluate("window.seen")
                steps = await page.evaluate("window.steps")
                opened = await page.evaluate("window.opened")
    assert ids == expected and steps == list(range(8))  # every event once, in order
    assert opened >= 2  # it really reconnected
