"""The one error family: each domain error knows its HTTP status and RFC 9457 problem type."""

from __future__ import annotations

from typing import Any, ClassVar

# code -> what the problem means; served at /problems/{code} so every `type` URI documents itself.
PROBLEM_TYPES: dict[str, str] = {}


def problem_type(code: str, description: str) -> str:
    """Register a problem code with its description; returns the code."""
    PROBLEM_TYPES[code] = description
    return code


class AttuneError(Exception):
    """A failure the client can act on; rendered as application/problem+json."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    code: ClassVar[str] = problem_type("internal_error", "An unexpected error; the request id helps support.")

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class BadRequest(AttuneError):
    status = 400
    title = "Bad Request"
    code = problem_type("bad_request", "The request could not be understood as sent.")


class Unauthorized(AttuneError):
    status = 401
    title = "Unauthorized"
    code = problem_type("unauthorized", "No valid API key: send `Authorization: Bearer <key>`.")

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class NotFound(AttuneError):
    status = 404
    title = "Not Found"
    code = problem_type("not_found", "No such object in your organization.")


class Conflict(AttuneError):
    status = 409
    title = "Conflict"
    code = problem_type("conflict", "The request conflicts with the object's current state.")


class PayloadTooLarge(AttuneError):
    status = 413
    title = "Payload Too Large"
    code = problem_type("payload_too_large", "The body is larger than this endpoint accepts.")


class UnsupportedMediaType(AttuneError):
    status = 415
    title = "Unsupported Media Type"
    code = problem_type("unsupported_media_type", "The body's format is not one this endpoint reads.")


class ValidationFailed(AttuneError):
    status = 422
    title = "Unprocessable Content"
    code = problem_type("validation_failed", "The payload is well-formed but some of its values are invalid.")


class IdempotencyKeyReused(AttuneError):
    status = 422
    title = "Idempotency-Key Reused"
    code = problem_type(
        "idempotency_key_reused",
        "The Idempotency-Key was used before with another method, path or body; use a new key.",
    )


class IdempotencyKeyInFlight(AttuneError):
    status = 409
    title = "Idempotency-Key In Flight"
    code = problem_type(
        "idempotency_key_in_flight",
        "A request with this Idempotency-Key is still being processed; retry after it finishes.",
    )


class ServiceUnavailable(AttuneError):
    status = 503
    title = "Service Unavailable"
    code = problem_type("service_unavailable", "A dependency (Postgres or Redis) is not answering.")
