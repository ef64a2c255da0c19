"""The route class every router uses: honours `Idempotency-Key` on every POST."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute

from services.api.deps import PrincipalDep, SessionDep, SettingsDep
from shared import idempotency
from shared.security import secret_box


class IdempotentReplay(Exception):
    def __init__(self, response: idempotency.StoredResponse) -> None:
        self.response = response


async def _body_digest(request: Request) -> str:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/"):
        # Uploads are streamed, never held in memory: their fingerprint is their declared shape.
        shape = f"{content_type.split(';')[0]}:{request.headers.get('content-length', '')}"
        return hashlib.sha256(shape.encode()).hexdigest()
    return hashlib.sha256(await request.body()).hexdigest()


async def claim_idempotency_key(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Make retries safe: the same key and body replay the first response (kept 24 h).",
        ),
    ] = None,
) -> None:
    if idempotency_key is None:
        return
    key = idempotency.parse_key(idempotency_key)
    request_hash = idempotency.fingerprint(request.method, request.url.path, await _body_digest(request))
    stored = await idempotency.claim(
        session, principal.organization_id, key, request_hash, settings.api.idempotency_ttl_hours
    )
    if stored is not None:
        raise IdempotentReplay(idempotency.reveal(secret_box(settings), stored))
    request.state.idempotency = (principal.organization_id, key, request_hash)


class AttuneRoute(APIRoute):
    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        dependencies: Sequence[DependsParam] | None = None,
        **kwargs: Any,
    ) -> None:
        methods = {method.upper() for method in kwargs.get("methods") or ()}
        dependencies = list(dependencies or [])
        if "POST" in methods:
            dependencies.append(Depends(claim_idempotency_key))
        super().__init__(path, endpoint, dependencies=dependencies, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_idempotently(request: Request) -> Response:
            try:
                response = await handle(request)
            except IdempotentReplay as replay:
                return Response(
                    replay.response.body,
                    status_code=replay.response.status_code,
                    media_type=replay.response.content_type,
                    headers={"Idempotent-Replayed": "true"},
                )
            claimed = getattr(request.state, "idempotency", None)
            if claimed is not None and hasattr(response, "body") and response.status_code < 500:
                organization_id, key, request_hash = claimed
                # Still inside the request's transaction: stored with the writes, or not at all.
                await idempotency.store(
                    request.state.session,
                    secret_box(request.app.state.settings),
                    organization_id=organization_id,
                    key=key,
                    method=request.method,
                    path=request.url.path,
                    request_hash=request_hash,
                    response=idempotency.StoredResponse(
                        response.status_code, response.media_type or "application/json", bytes(response.body)
                    ),
                )
            return response

        return handle_idempotently
