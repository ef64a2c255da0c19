"""Cursor pagination as OpenAI does it: `?after=<id>&limit=N` → `{object: "list", data, has_more}`."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class PageParams(BaseModel):
    after: str | None = Field(
        None, description="Return objects after this id (the `last_id` of the previous page)."
    )
    limit: int = Field(20, ge=1, description="How many objects to return.")


def page_params(
    request: Request,
    after: Annotated[
        str | None, Query(description="Cursor: the id of the last object of the previous page.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Objects per page (at most the server's maximum).")
    ] = 20,
) -> PageParams:
    max_limit: int = request.app.state.settings.api.max_page_size
    return PageParams(after=after, limit=min(limit, max_limit))


PageDep = Annotated[PageParams, Depends(page_params)]


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    id_column: InstrumentedAttribute[str],
    params: PageParams,
    *,
    newest_first: bool = True,
) -> tuple[list[Any], bool]:
    """Rows after the cursor in id order (ids sort by creation time), and whether more follow."""
    if params.after is not None:
        statement = statement.where(id_column < params.after if newest_first else id_column > params.after)
    order = id_column.desc() if newest_first else id_column.asc()
    rows = list((await session.scalars(statement.order_by(order).limit(params.limit + 1))).all())
    return rows[: params.limit], len(rows) > params.limit


def to_page(items: list[T], has_more: bool, id_of: Any = lambda item: item.id) -> Page[T]:
    """Wrap serialised items in the list envelope."""
    return Page[T](
        data=items,
        has_more=has_more,
        first_id=id_of(items[0]) if items else None,
        last_id=id_of(items[-1]) if items else None,
    )
