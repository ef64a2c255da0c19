"""The trainer's FastAPI application: auth, error shapes, routers, and the scheduler's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from services.trainer.deps import require_api_key
from services.trainer.errors import install_error_handlers
from services.trainer.inference_client import InferenceClient
from services.trainer.scheduler import Scheduler
from services.trainer.store import Store
from shared.config import TrainerSettings


def create_app(settings: TrainerSettings, *, run_scheduler: bool = True) -> FastAPI:
    """Build the trainer app; its lifespan runs the job scheduler and stops child processes."""
    from services.trainer import chat, files, jobs

    store = Store(settings.state_dir)
    scheduler = Scheduler(store, settings.models_dir, settings.device)
    inference = InferenceClient(settings.state_dir, settings.device)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_scheduler:
            scheduler.start()
        try:
            yield
        finally:
            await inference.close()
            if run_scheduler:
                scheduler.stop()

    app = FastAPI(title="Attune built-in trainer", version="0.1.0", lifespan=lifespan)
    app.state.settings, app.state.store = settings, store
    app.state.scheduler, app.state.inference = scheduler, inference
    install_error_handlers(app)

    @app.get("/healthz", operation_id="trainer_health", include_in_schema=False)
    def healthz() -> dict[str, object]:
        """Liveness: answers without auth."""
        return {"status": "ok", "running": scheduler.running_jobs()}

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
    for router in (files.router, jobs.router, chat.router):
        v1.include_router(router)
    app.include_router(v1)
    return app
