"""A fake of Together AI's fine-tuning API (`/files/upload`, `/fine-tunes...`) from its OpenAPI document."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.providers.fakes.core import FakeBase, Gate, SimulatedJob

STATUS = {
    "validating": "pending",
    "queued": "queued",
    "running": "running",
    "succeeded": "completed",
    "cancelled": "cancelled",
    "failed": "error",
}


def iso(seconds: int | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z") if seconds else None


class FakeTogether(FakeBase):
    def __init__(self, *, api_key: str = "tg-fake", total_steps: int = 4, steps_per_epoch: int = 2) -> None:
        super().__init__(api_key=api_key)
        self.total_steps, self.steps_per_epoch = total_steps, steps_per_epoch
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, SimulatedJob] = {}
        self.metrics_bodies: list[Any] = []
        routes = [
            Route("/v1/files/upload", self.upload, methods=["POST"]),
            Route("/v1/files", self.list_files, methods=["GET"]),
            Route("/v1/fine-tunes", self.create, methods=["POST"]),
            Route("/v1/fine-tunes", self.list_jobs, methods=["GET"]),
            Route("/v1/fine-tunes/{job_id}", self.retrieve, methods=["GET"]),
            Route("/v1/fine-tunes/{job_id}/events", self.events, methods=["GET"]),
            Route("/v1/fine-tunes/{job_id}/checkpoints", self.checkpoints, methods=["GET"]),
            Route("/v1/fine-tunes/{job_id}/metrics", self.metrics, methods=["GET"]),
            Route("/v1/fine-tunes/{job_id}/cancel", self.cancel, methods=["POST"]),
        ]
        self.app = Starlette(routes=routes)
        self.app.add_middleware(Gate, fake=self)

    def job_json(self, job: SimulatedJob) -> dict[str, Any]:
        status = STATUS[job.stage]
        return {
            "id": job.id,
            "status": status,
            "model": job.model,
            "training_file": job.training_file,
            "validation_file": job.validation_file or "",
            "suffix": job.suffix,
            "model_output_name": f"fake-user/{job.model}-{job.suffix}-{job.id[-6:]}",
            "created_at": iso(job.created_at),
            "updated_at": iso(int(time.time())),
            "n_epochs": 2,
            "batch_size": 8,
            "learning_rate": 1e-5,
            "token_count": 900 * job.step,
            "total_price": 4,
            "steps_completed": job.step,
            "total_steps": job.total_steps,
            "events": [self.event_json(e) for e in job.events],
        }

    def event_json(self, event: dict[str, Any]) -> dict[str, Any]:
        kind = {"metrics": "training_progress"}.get(event["type"], "job_start")
        return {
            "object": "fine-tune-event",
            "created_at": iso(event["created_at"]),
            "level": "Info",
            "message": event["message"],
            "type": kind,
            "hash": event["id"],
        }

    def _job(self, request: Request) -> SimulatedJob | None:
        return self.jobs.get(request.path_params["job_id"])

    async def upload(self, request: Request) -> Response:
        async with request.form() as form:
            upload = form["file"]
            assert not isinstance(upload, str)
            size = len(await upload.read())
            name = str(form.get("file_name") or upload.filename)
        file_id = f"file-{secrets.token_hex(6)}"
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "filename": name,
            "bytes": size,
            "purpose": "fine-tune",
            "created_at": int(time.time()),
        }
        return JSONResponse(self.files[file_id])

    async def list_files(self, request: Request) -> Response:
        return JSONResponse({"data": list(self.files.values())})

    async def create(self, request: Request) -> Response:
        body = await request.json()
        if body["training_file"] not in self.files:
            return JSONResponse(
                {"error": {"message": "File not found", "type": "invalid_request_error"}}, 400
            )
        if len(body.get("suffix") or "") > 40:
            return JSONResponse(
                {"error": {"message": "suffix too long", "type": "invalid_request_error"}}, 400
            )
        job = SimulatedJob(
            id=f"ft-{secrets.token_hex(8)}",
            model=body["model"],
            training_file=body["training_file"],
            validation_file=body.get("validation_file"),
            suffix=body.get("suffix"),
            metadata=None,
            created_at=int(time.time()),
            total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch,
        )
        self.jobs[job.id] = job
        return JSONResponse(self.job_json(job))

    async def list_jobs(self, request: Request) -> Response:
        return JSONResponse({"data": [self.job_json(j) for j in self.jobs.values()]})

    async def retrieve(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return JSONResponse({"error": {"message": "not found"}}, 404)
        job.advance()
        return JSONResponse(self.job_json(job))

    async def events(self, request: Request) -> Response:
        job = self._job(request)
        assert job is not None
        return JSONResponse({"data": [self.event_json(e) for e in job.events]})

    async def checkpoints(self, request: Request) -> Response:
        job = self._job(request)
        assert job is not None
        data = [
            {"type": "Intermediate", "timestamp": iso(c["created_at"]), "name": f"{job.id}-step-{c['step']}"}
            for c in job.checkpoints
        ]
        return JSONResponse({"data": data})

    async def metrics(self, request: Request) -> Response:
        job = self._job(request)
        assert job is not None
        body = await request.json() if await request.body() else {}
        self.metrics_bodies.append(body)
        start = int(body.get("global_step_from", 0))
        rows: list[dict[str, Any]] = []
        for step in range(max(1, start), job.step + 1):
            values = job.metrics(step)
            rows.append(
                {"train/loss": values["train_loss"], "train/learning_rate": 1e-5, "train/global_step": step}
            )
            if job.validation_file:
                rows.append({"eval/loss": values["valid_loss"], "eval/global_step": step})
        return JSONResponse({"metrics": rows})

    async def cancel(self, request: Request) -> Response:
        job = self._job(request)
        assert job is not None
        job.cancel()
        return JSONResponse(self.job_json(job))
