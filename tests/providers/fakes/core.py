"""What every provider fake shares: a simulated training run, a request log, scripted failures, a server.

A simulated job advances one stage per status read (validating, queued, then one training step per
read while running), so tests drive progress by polling, not by sleeping.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


@dataclass
class SimulatedJob:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    metadata: dict[str, Any] | None
    created_at: int
    total_steps: int
    steps_per_epoch: int
    stage: str = "validating"  # validating -> queued -> running -> succeeded | cancelled
    step: int = 0
    finished_at: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def add_event(self, message: str, type: str = "message", data: dict[str, Any] | None = None) -> None:
        self.events.append(
            {
                "id": f"ftevent-{self.id[-6:]}-{len(self.events):05d}",
                "created_at": int(time.time()),
                "level": "info",
                "message": message,
                "type": type,
                "data": data,
            }
        )

    def metrics(self, step: int) -> dict[str, Any]:
        loss = round(2.0 / (1 + step), 6)
        values = {
            "step": step,
            "total_steps": self.total_steps,
            "train_loss": loss,
            "train_mean_token_accuracy": round(1 - loss / 3, 6),
        }
        if self.validation_file:
            values |= {
                "valid_loss": round(loss * 1.1, 6),
                "valid_mean_token_accuracy": round(1 - loss / 2.5, 6),
            }
            if step % self.steps_per_epoch == 0:
                values |= {"full_valid_loss": round(loss * 1.2, 6), "full_valid_mean_token_accuracy": 0.9}
        return values

    def advance(self) -> None:
        """One status read's worth of progress."""
        if self.stage == "validating":
            self.stage = "queued"
            self.add_event("Validating training file")
        elif self.stage == "queued":
            self.stage = "running"
            self.add_event("Fine-tuning job started")
        elif self.stage == "running":
            self.step += 1
            data = self.metrics(self.step)
            self.add_event(
                f"Step {self.step}/{self.total_steps}: training loss={data['train_loss']}", "metrics", data
            )
            if self.step % self.steps_per_epoch == 0:
                self.checkpoints.append({"step": self.step, "created_at": int(time.time()), "metrics": data})
            if self.step >= self.total_steps:
                self.stage = "succeeded"
                self.finished_at = int(time.time())
                self.add_event("The job has successfully completed")

    def cancel(self) -> None:
        if self.stage not in ("succeeded", "cancelled", "failed"):
            self.stage = "cancelled"
            self.finished_at = int(time.time())
            self.add_event("Job cancelled")


@dataclass
class Recorded:
    method: str
    path: str
    at: float
    status: int = 0


@dataclass
class ScriptedFailure:
    """Answer requests whose `METHOD path` matches `pattern` with `status` (or hang), `times` times."""

    pattern: str
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    hang_seconds: float = 0.0  # > 0: sleep instead of answering quickly (client timeouts)

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and re.search(self.pattern, f"{method} {path}") is not None


class FakeBase:
    """Request log, auth, scripted failures, a per-second rate limit, and hooks to pause a route."""

    def __init__(self, *, api_key: str, requests_per_second: float | None = None) -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.failures: deque[ScriptedFailure] = deque()
        self.requests_per_second = requests_per_second
        self.over_limit = 0
        self.respond: Callable[[Request], Awaitable[Response | None]] | None = None  # a test's override
        self.hold_pattern: str | None = None  # matching requests do their work, then wait for release
        self.held = threading.Event()
        self.release = threading.Event()
        self._window: deque[float] = deque()

    def fail(self, pattern: str, status: int, **kwargs: Any) -> None:
        self.failures.append(ScriptedFailure(pattern, status, **kwargs))

    def count(self, method: str, pattern: str) -> int:
        return sum(1 for r in self.requests if r.method == method and re.search(pattern, r.path))

    async def gate(self, request: Request) -> Response | None:
        """Before the route: log, authenticate, rate-limit, scripted failures; a Response short-cuts it."""
        record = Recorded(request.method, request.url.path, time.time())
        self.requests.append(record)
        if self.requests_per_second:
            now = time.monotonic()
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.requests_per_second:
                self.over_limit += 1
                record.status = 429
                return self.error(
                    429, "Rate limit reached", "rate_limit_exceeded", headers={"Retry-After": "1"}
                )
            self._window.append(now)
        auth = request.headers.get("authorization", "") or f"Bearer {request.headers.get('api-key', '')}"
        if auth != f"Bearer {self.api_key}":
            record.status = 401
            return self.error(401, "Incorrect API key provided.", "invalid_api_key")
        if self.respond is not None and (custom := await self.respond(request)) is not None:
            record.status = custom.status_code
            return custom
        for failure in self.failures:
            if failure.matches(request.method, request.url.path):
                failure.times -= 1
                if failure.hang_seconds:
                    await asyncio.sleep(failure.hang_seconds)
                record.status = failure.status
                return JSONResponse(
                    failure.body or {"error": {"message": "scripted"}}, failure.status, failure.headers
                )
        return None

    async def maybe_hold(self, request: Request) -> None:
        if self.hold_pattern and re.search(self.hold_pattern, f"{request.method} {request.url.path}"):
            self.held.set()
            await asyncio.to_thread(self.release.wait, 60)

    def error(self, status: int, message: str, code: str | None = None, **kwargs: Any) -> JSONResponse:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
        return JSONResponse(body, status, **kwargs)


class Gate:
    """ASGI middleware running the fake's gate (log, auth, limits, scripted failures) before each route."""

    def __init__(self, app: Any, fake: FakeBase) -> None:
        self.app, self.fake = app, fake

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            response = await self.fake.gate(Request(scope, receive))
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app on a free local port in a background thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
