"""Following a server-sent event stream that resumes after a dropped connection, each event once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.client.connection import Api, ClientFailure, problem_of

# No byte for this long (the server pings every 15 s) means the connection is dead.
READ_TIMEOUT_SECONDS = 45.0
MAX_FAILURES = 20
HEALTHY_STREAM_SECONDS = 60.0
RETRYABLE_STATUSES = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    data: str

    def envelope(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.data)
        return parsed


@dataclass
class SseParser:
    """The text/event-stream line protocol: fields, comment lines, a blank line ending each event."""

    _id: str | None = None
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> SseEvent | None:
        """One line (without its end); returns the event that a blank line completes."""
        if line == "":
            event = SseEvent(self._id, "\n".join(self._data)) if self._data else None
            self._id, self._data = None, []
            return event
        if line.startswith(":"):
            return None  # a comment: the server's keep-alive ping
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self._id = value
        elif name == "data":
            self._data.append(value)
        return None


def parse(lines: Iterable[str]) -> Iterator[SseEvent]:
    parser = SseParser()
    for line in lines:
        if (event := parser.feed(line)) is not None:
            yield event


def sequence(event_id: str | None) -> int | None:
    """`evt_42` -> 42 (event ids grow in commit order within an organization)."""
    if event_id is None or not event_id.startswith("evt_"):
        return None
    digits = event_id[4:]
    return int(digits) if digits.isdigit() else None


@dataclass
class Follower:
    """Reads one subject's stream (`path`) to its final event, reconnecting with `Last-Event-ID`.

    Events at or before the last one seen are skipped, so a reconnect that overlaps shows nothing twice.
    """

    api: Api
    path: str
    is_final: Callable[[str], bool]
    on_retry: Callable[[str, float], None] = lambda reason, delay: None
    backoff: float = 0.5
    last_event_id: str | None = None
    failures: int = 0

    def _retry(self, reason: str) -> None:
        self.failures += 1
        if self.failures > MAX_FAILURES:
            raise ClientFailure(f"Gave up on the event stream after {MAX_FAILURES} failed tries: {reason}")
        delay = min(10.0, self.backoff * 2 ** (self.failures - 1))
        self.on_retry(reason, delay)
        time.sleep(delay)

    def events(self) -> Iterator[dict[str, Any]]:
        """Envelopes in order, each once, ending after the final one."""
        timeout = httpx.Timeout(self.api.http.timeout.connect, read=READ_TIMEOUT_SECONDS)
        while True:
            headers = {"Accept": "text/event-stream"}
            if self.last_event_id is not None:
                headers["Last-Event-ID"] = self.last_event_id
            opened = time.monotonic()
            try:
                with self.api.http.stream("GET", self.path, headers=headers, timeout=timeout) as response:
                    if not response.is_success:
                        response.read()
                        if response.status_code not in RETRYABLE_STATUSES:
                            raise problem_of(response)
                        self._retry(f"HTTP {response.status_code}")
                        continue
                    for event in parse(response.iter_lines()):
                        seen = sequence(self.last_event_id)
                        current = sequence(event.id)
                        if seen is not None and current is not None and current <= seen:
                            continue
                        envelope = event.envelope()
                        self.last_event_id = event.id or self.last_event_id
                        self.failures = 0
                        yield envelope
                        if self.is_final(str(envelope.get("type", ""))):
                            return
                reason = "the stream ended before the job's final event"
            except httpx.TransportError as error:
                reason = f"connection lost ({str(error) or type(error).__name__})"
            if time.monotonic() - opened > HEALTHY_STREAM_SECONDS:
                self.failures = 0  # a long quiet stream that ended (the server's age cap) is no failure
            self._retry(reason)
