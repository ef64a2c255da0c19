"""OpenAI-shaped HTTP errors, so the official SDK raises its own exception classes."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from services.trainer.schemas import ErrorDetail, ErrorResponse

_UNION_MEMBER = re.compile(
    r"^(int|float|str|bool|none|list\[.*|dict\[.*|literal\[.*|function-.*|constrained-.*)$"
)
_TYPES = {401: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limit_error"}


class OpenAIError(Exception):
    """An error answered as `{"error": {"message", "type", "param", "code"}}` with an HTTP status."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = ErrorDetail(message=message, type=type, param=param, code=code)


def bad_request(message: str, *, code: str = "invalid_request", param: str | None = None) -> OpenAIError:
    """A 400 `invalid_request_error`."""
    return OpenAIError(400, message, code=code, param=param)


def not_found(what: str, object_id: str, param: str) -> OpenAIError:
    """A 404 for an unknown object."""
    return OpenAIError(404, f"No {what} found with id '{object_id}'.", code=f"{what}_not_found", param=param)


def _response(status_code: int, detail: ErrorDetail, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error response."""
    body = ErrorResponse(error=detail).model_dump()
    return JSONResponse(status_code=status_code, content=body, headers=headers)


async def _openai_error(_: Request, exc: Exception) -> JSONResponse:
    """Render an OpenAIError."""
    assert isinstance(exc, OpenAIError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return _response(exc.status_code, exc.detail, headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    """Render Starlette's HTTP errors (unknown route, wrong method) in OpenAI's shape."""
    assert isinstance(exc, HTTPException)
    kind = _TYPES.get(exc.status_code, "invalid_request_error" if exc.status_code < 500 else "server_error")
    return _response(exc.status_code, ErrorDetail(message=str(exc.detail), type=kind, code=None))


def _is_field(part: object) -> bool:
    """Whether a pydantic error location part names a field (not a union member such as `int`)."""
    text = str(part)
    return part not in ("body", "query", "path", "form") and not _UNION_MEMBER.match(text)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """Render payload validation errors as OpenAI does: a 400 naming the first bad parameter."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors()) or [{"loc": (), "msg": "Invalid request."}]
    # For "auto"-or-number fields, the number's complaint says more than "Input should be 'auto'".
    first = next((e for e in errors if "literal[" not in " ".join(map(str, e.get("loc", ())))), errors[0])
    param = ".".join(str(part) for part in first.get("loc", ()) if _is_field(part)) or None
    message = f"Invalid value for '{param}': {first.get('msg')}" if param else str(first.get("msg"))
    detail = ErrorDetail(message=message, type="invalid_request_error", param=param, code="invalid_value")
    return _response(400, detail)


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    """Render an unexpected failure as a 500 `server_error` (the server keeps running)."""
    detail = ErrorDetail(message=f"The trainer failed: {type(exc).__name__}", type="server_error")
    return _response(500, detail)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error in OpenAI's shape."""
    app.add_exception_handler(OpenAIError, _openai_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
