"""The FastAPI application factory."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api.api_keys.endpoints import router as api_keys_router
from services.api.datasets.endpoints import router as datasets_router
from services.api.errors import install_error_handlers
from services.api.evaluations.endpoints import router as evaluations_router
from services.api.events.endpoints import router as events_router
from services.api.events.hub import EventHub
from services.api.files.endpoints import router as files_router
from services.api.fine_tuning_jobs.endpoints import router as fine_tuning_jobs_router
from services.api.health.endpoints import router as health_router
from services.api.imports.endpoints import router as imports_router
from services.api.middleware import RequestContextMiddleware
from services.api.models.endpoints import router as models_router
from services.api.openapi import problem_openapi
from services.api.problems.endpoints import router as problems_router
from services.api.projects.endpoints import router as projects_router
from services.api.prompts.endpoints import router as prompts_router
from services.api.provider_credentials.endpoints import router as provider_credentials_router
from services.api.translation_memories.endpoints import router as translation_memories_router
from services.api.webhooks.endpoints import router as webhooks_router
from shared.config import Settings, get_settings
from shared.db import create_engine, create_sessionmaker
from shared.events.relay import relay
from shared.logging import configure_logging
from shared.queue import create_redis

ROUTERS = (
    health_router,
    problems_router,
    api_keys_router,
    events_router,
    webhooks_router,
    files_router,
    datasets_router,
    fine_tuning_jobs_router,
    evaluations_router,
    models_router,
    projects_router,
    translation_memories_router,
    imports_router,
    prompts_router,
    provider_credentials_router,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway: routers, error handlers, request context, and its pools on startup."""
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = create_engine(settings)
        app.state.sessionmaker = create_sessionmaker(app.state.engine)
        app.state.redis = await create_redis(settings)
        # Events: published to Redis after commit; one shared subscription feeds every SSE stream.
        relay_token = relay.configure(app.state.redis, app.state.sessionmaker)
        app.state.event_hub = EventHub(
            settings.redis_url, app.state.sessionmaker, settings.events.sse_queue_size
        )
        await app.state.event_hub.start()
        try:
            yield
        finally:
            await app.state.event_hub.stop()
            await relay.release(relay_token)
            await app.state.redis.aclose(close_connection_pool=True)
            await app.state.engine.dispose()

    app = FastAPI(
        title="Attune",
        summary="Fine-tuned translation models from approved translations and translation memories.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.openapi = functools.partial(problem_openapi, app)  # type: ignore[method-assign]
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    return app
