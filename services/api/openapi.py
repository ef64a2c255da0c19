"""The OpenAPI document as the API really answers: every error is an RFC 9457 problem.

FastAPI documents a 422 as its own `HTTPValidationError` JSON, but Attune answers every error, 422
included, with `application/problem+json` (services/api/errors.py); an SDK generated from the
default document would misread them. Each operation's 422 and a `default` response name `Problem`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from services.api.errors import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")


class ProblemError(BaseModel):
    detail: str = Field(description="What is wrong with this part of the request.")
    pointer: str | None = Field(None, description="JSON Pointer into the body (`#/field`) or `query/name`.")


class Problem(BaseModel):
    """An RFC 9457 problem detail; some problems add fields of their own (e.g. `rejected`)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URL under /problems/{code} that explains the problem.")
    title: str
    status: int
    detail: str
    instance: str = Field(description="The request id (`urn:attune:request:...`).")
    code: str = Field(description="A stable machine-readable code.")
    errors: list[ProblemError] | None = Field(None, description="Each bad field, when there are any.")


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    """`app.openapi()` with every error response described as the problem it is (built once)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = FastAPI.openapi(app)  # caches itself in app.openapi_schema, which is edited in place
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schemas["Problem"].pop("$defs", {}))
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _problem("The request is invalid; `errors` names each bad field.")
            responses.setdefault("default", _problem("Any other error (401, 404, 409, ...), as a problem."))
    for name in FASTAPI_ERROR_SCHEMAS:
        schemas.pop(name, None)
    return schema
