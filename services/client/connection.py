"""A small synchronous client of Attune's HTTP API: the key, idempotent POSTs, problems as errors."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.markup import escape

DEFAULT_API_URL = "http://127.0.0.1:8000"
POST_ATTEMPTS = 4
RETRY_STATUSES = {502, 503, 504}

ApiUrl = Annotated[
    str,
    typer.Option("--api-url", envvar="ATTUNE_API_URL", help="Base URL of the Attune API.", show_envvar=True),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="ATTUNE_API_KEY", help="API key (atn_...).", show_envvar=True, show_default=False
    ),
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the raw JSON object instead of tables.")]


class ApiProblem(Exception):
    """A non-2xx answer: an RFC 9457 problem (or whatever the server or a proxy sent instead)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        self.status = status
        self.problem = problem


class ClientFailure(Exception):
    """The command cannot go on (no key, server unreachable, a bad option); `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def problem_of(response: httpx.Response) -> ApiProblem:
    """The problem a response carries; a body that is not a problem is kept as its detail."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip()[:300]
        body = {"title": response.reason_phrase or f"HTTP {response.status_code}", "detail": text or None}
    return ApiProblem(response.status_code, body)


class Api:
    """Attune's API as the CLI uses it: JSON in and out, a Bearer key, Idempotency-Key on every POST."""

    def __init__(self, url: str, key: str, *, timeout: float = 30.0, retry_delay: float = 0.5) -> None:
        self.url = url.rstrip("/")
        self.retry_delay = retry_delay
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key}", "User-Agent": "attune-cli"},
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A safe request, retried on a dropped connection (a poll survives a blip or a deploy)."""
        for attempt in range(POST_ATTEMPTS):
            try:
                return self.http.request(method, path, **kwargs)
            except httpx.TransportError as error:
                if attempt == POST_ATTEMPTS - 1:
                    reason = str(error) or type(error).__name__
                    raise ClientFailure(f"Cannot reach the Attune API at {self.url}: {reason}") from None
            time.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path: str, params: Any = None) -> Any:
        response = self._send("GET", path, params=params)
        if not response.is_success:
            raise problem_of(response)
        return response.json()

    def get_optional(self, path: str) -> Any | None:
        """The JSON at `path`, or None when it answers 404 (an endpoint this server may not have)."""
        response = self._send("GET", path)
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise problem_of(response)
        return response.json()

    def post(self, path: str, body: Any = None, *, upload: Callable[[], dict[str, Any]] | None = None) -> Any:
        """POST JSON (or the multipart `upload()` builds), retried under one Idempotency-Key.

        A retry after a dropped connection or a 5xx from a proxy is safe: the server replays the
        first answer for the same key, or says 409 while the first request is still running.
        """
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        for attempt in range(POST_ATTEMPTS):
            last = attempt == POST_ATTEMPTS - 1
            kwargs: dict[str, Any] = upload() if upload is not None else {"json": body}
            try:
                response = self.http.post(path, headers=headers, **kwargs)
            except httpx.TransportError as error:
                if last:
                    reason = str(error) or type(error).__name__
                    raise ClientFailure(f"Cannot reach the Attune API at {self.url}: {reason}") from None
            else:
                in_flight = response.status_code == 409 and _code(response) == "idempotency_key_in_flight"
                if last or not (response.status_code in RETRY_STATUSES or in_flight):
                    if not response.is_success:
                        raise problem_of(response)
                    return response.json()
            finally:
                for _, part in (kwargs.get("files") or {}).items():
                    with contextlib.suppress(Exception):
                        part[1].close()
            time.sleep(self.retry_delay * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover


def _code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def print_problem(console: Console, error: ApiProblem) -> None:
    """The problem, readably: status and title, detail, each field error with its pointer."""
    problem = error.problem
    title = problem.get("title") or "Error"
    console.print(f"[bold red]Error {error.status}[/] {escape(str(title))}", highlight=False)
    if problem.get("detail"):
        console.print(f"  {escape(str(problem['detail']))}", highlight=False)
    for item in problem.get("errors") or []:
        if isinstance(item, dict):
            where = item.get("pointer") or (f"line {item['line']}" if item.get("line") else "")
            prefix = f"{where}: " if where else ""
            console.print(f"  - {escape(prefix + str(item.get('detail', item)))}", highlight=False)
    extras = [f"{k}: {problem[k]}" for k in ("code", "instance") if problem.get(k)]
    if extras:
        console.print(f"  [dim]{escape(', '.join(extras))}[/]", highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    raise ClientFailure(message, code)


@contextlib.contextmanager
def connect(url: str, key: str | None) -> Iterator[Api]:
    """An `Api` for one command; problems and failures end the command with a message, not a traceback."""
    errors = Console(stderr=True)
    api: Api | None = None
    try:
        if not key:
            fail("No API key: pass --api-key or set ATTUNE_API_KEY (see `attune orgs create`).", 2)
        api = Api(url, key)
        yield api
    except ApiProblem as error:
        print_problem(errors, error)
        raise typer.Exit(1) from None
    except ClientFailure as error:
        errors.print(f"[bold red]Error[/] {escape(str(error))}", highlight=False)
        raise typer.Exit(error.code) from None
    finally:
        if api is not None:
            api.close()


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def poll_until(
    console: Console, label: str, fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Fetch until `done`, backing off from 0.2 s to 2 s; a spinner says so on a terminal."""
    delay = 0.2
    status = console.status(label) if console.is_terminal else contextlib.nullcontext()
    with status:
        while not done(current := fetch()):
            time.sleep(delay)
            delay = min(2.0, delay * 1.5)
    return current
