"""RFC 9457 problem details for every error: domain errors, framework errors and crashes."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import AttuneError

log = structlog.get_logger()
PROBLEM_JSON = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    """A problem+json response whose `type` documents itself at /problems/{code}."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    body: dict[str, Any] = {
        "type": f"{request.app.state.settings.api.public_url}/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": f"urn:attune:request:{request_id}" if request_id else request.url.path,
        "code": code,
        **extra,
    }
    if errors:
        body["errors"] = errors
    response_headers = dict(headers or {})
    if request_id:
        response_headers["X-Request-ID"] = request_id
    return ProblemResponse(body, status_code=status, headers=response_headers)


def _pointer(location: tuple[Any, ...]) -> str:
    """A JSON Pointer into the request for a pydantic error location (`body` -> `#/...`)."""
    where, *path = location or ("body",)
    escaped = "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in path)
    return f"#/{escaped}" if where == "body" else f"{where}/{escaped}"


async def handle_attune_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, AttuneError)
    return problem(
        request,
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        **exc.extra,
    )


async def handle_validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"detail": error["msg"], "pointer": _pointer(tuple(error["loc"]))} for error in exc.errors()]
    summary = "; ".join(f"{e['pointer']}: {e['detail']}" for e in errors[:5])
    return problem(request, 422, "validation_failed", "Unprocessable Content", summary, errors=errors)


async def handle_http_exception(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = {404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, phrase.lower().replace(" ", "_")
    )
    detail = (
        exc.detail
        if isinstance(exc.detail, str) and exc.detail != phrase
        else f"{phrase}: {request.url.path}"
    )
    return problem(request, exc.status_code, code, phrase, detail, headers=getattr(exc, "headers", None))


async def handle_unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.error("api.unhandled_exception", path=request.url.path, exc_info=exc)
    return problem(
        request,
        500,
        "internal_error",
        "Internal Server Error",
        "An unexpected error occurred; quote the instance.",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AttuneError, handle_attune_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected)
