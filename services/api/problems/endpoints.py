"""Every problem `type` URI resolves here to what the problem means."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from services.api.routing import AttuneRoute
from shared.errors import PROBLEM_TYPES, NotFound

router = APIRouter(route_class=AttuneRoute, tags=["problems"])


class ProblemType(BaseModel):
    code: str
    description: str


@router.get("/problems/{code}", operation_id="get_problem_type", response_model=ProblemType)
async def get_problem_type(code: str) -> ProblemType:
    """What a problem type means and how to fix it."""
    if code not in PROBLEM_TYPES:
        raise NotFound(f"No problem type {code!r}.")
    return ProblemType(code=code, description=PROBLEM_TYPES[code])
