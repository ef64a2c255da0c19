"""A fake of Mistral's fine-tuning API (`/v1/files`, `/v1/fine_tuning/jobs`) from its documented models."""

from __future__ import annotations

import secrets
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.providers.fakes.core import FakeBase, Gate, SimulatedJob

STATUS = {
    "validating": "VALIDATING",
    "queued": "QUEUED",
    "running": "RUNNING",
    "succeeded": "SUCCESS",
    "cancelled": "CANCELLED",
    "failed": "FAILED",
}


class FakeMistral(FakeBase):
    def __init__(self, *, api_key: str = "ms-fake", total_steps: int = 4, steps_per_epoch: int = 2) -> None:
        super().__init__(api_key=api_key)
        self.total_steps, self.steps_per_epoch = total_steps, steps_per_epoch
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, SimulatedJob] = {}
        self.created_bodies: list[dict[str, Any]] = []
        routes = [
            Route("/v1/files", self.upload, methods=["POST"]),
            Route("/v1/files", self.list_files, methods=["GET"]),
            Route("/v1/fine_tuning/jobs", self.create, methods=["POST"]),
            Route("/v1/fine_tuning/jobs", self.list_jobs, methods=["GET"]),
            Route("/v1/fine_tuning/jobs/{job_id}", self.retrieve, methods=["GET"]),
            Route("/v1/fine_tuning/jobs/{job_id}/cancel", self.cancel, methods=["POST"]),
        ]
        self.app = Starlette(routes=routes)
        self.app.add_middleware(Gate, fake=self)

    def job_json(self, job: SimulatedJob) -> dict[str, Any]:
        status = STATUS[job.stage]
        return {
            "id": job.id,
            "object": "job",
            "auto_start": True,
            "model": job.model,
            "status": status,
            "created_at": job.created_at,
            "modified_at": int(time.time()),
            "training_files": [job.training_file],
            "validation_files": [job.validation_file] if job.validation_file else [],
            "fine_tuned_model": f"ft:{job.model}:{job.suffix}:{job.id[-8:]}" if status == "SUCCESS" else None,
            "suffix": job.suffix,
            "integrations": [],
            "trained_tokens": 700 * job.step if status == "SUCCESS" else None,
            "metadata": {"expected_duration_seconds": 120, "cost": 1.25, "cost_currency": "EUR"},
            "job_type": "completion",
            "hyperparameters": {"training_steps": job.total_steps, "learning_rate": 1e-4},
            "events": [
                {
                    "name": "status-updated",
                    "data": {"step": e["data"]["step"]}
                    if e["type"] == "metrics"
                    else e["data"] or {"status": status},
                    "created_at": e["created_at"],
                }
                for e in job.events
            ],
            "checkpoints": [
                {
                    "metrics": {
                        "train_loss": c["metrics"]["train_loss"],
                        "valid_loss": c["metrics"].get("valid_loss"),
                        "valid_mean_token_accuracy": c["metrics"].get("valid_mean_token_accuracy"),
                    },
                    "step_number": c["step"],
                    "created_at": c["created_at"],
                }
                for c in job.checkpoints
            ],
        }

    def _job(self, request: Request) -> SimulatedJob | None:
        return self.jobs.get(request.path_params["job_id"])

    async def upload(self, request: Request) -> Response:
        async with request.form() as form:
            upload = form["file"]
            assert not isinstance(upload, str)
            size = len(await upload.read())
        file_id = secrets.token_hex(8)
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": size,
            "created_at": int(time.time()),
            "filename": upload.filename,
            "purpose": "fine-tune",
            "sample_type": "instruct",
        }
        return JSONResponse(self.files[file_id])

    async def list_files(self, request: Request) -> Response:
        return JSONResponse({"data": list(self.files.values()), "object": "list", "total": len(self.files)})

    async def create(self, request: Request) -> Response:
        body = await request.json()
        self.created_bodies.append(body)
        if "hyperparameters" not in body:
            return JSONResponse(
                {"detail": [{"loc": ["body", "hyperparameters"], "msg": "Field required"}]}, 422
            )
        training = body["training_files"][0]["file_id"]
        if training not in self.files:
            return JSONResponse({"message": f"File {training} not found"}, 404)
        job = SimulatedJob(
            id=secrets.token_hex(12),
            model=body["model"],
            training_file=training,
            validation_file=(body.get("validation_files") or [None])[0],
            suffix=body.get("suffix"),
            metadata=None,
            created_at=int(time.time()),
            total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch,
        )
        self.jobs[job.id] = job
        return JSONResponse(self.job_json(job))

    async def list_jobs(self, request: Request) -> Response:
        suffix = request.query_params.get("suffix")
        jobs = [self.job_json(j) for j in self.jobs.values() if suffix is None or j.suffix == suffix]
        return JSONResponse({"data": jobs, "object": "list", "total": len(jobs)})

    async def retrieve(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return JSONResponse({"message": "not found"}, 404)
        job.advance()
        return JSONResponse(self.job_json(job))

    async def cancel(self, request: Request) -> Response:
        job = self._job(request)
        assert job is not None
        job.cancel()
        return JSONResponse(self.job_json(job))
