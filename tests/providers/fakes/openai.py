"""A fake of OpenAI's fine-tuning API (also Azure v1's and the trainer's), as providers.md documents it."""

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
    "validating": "validating_files",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "cancelled": "cancelled",
    "failed": "failed",
}


class FakeOpenAI(FakeBase):
    def __init__(
        self,
        *,
        api_key: str = "sk-fake",
        total_steps: int = 6,
        steps_per_epoch: int = 3,
        requests_per_second: float | None = None,
        prefix: str = "/v1",
    ) -> None:
        super().__init__(api_key=api_key, requests_per_second=requests_per_second)
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, SimulatedJob] = {}
        self.fail_jobs: dict[str, dict[str, Any]] = {}  # model name -> error the job fails with
        routes = [
            Route(f"{prefix}/files", self.upload, methods=["POST"]),
            Route(f"{prefix}/files", self.list_files, methods=["GET"]),
            Route(f"{prefix}/fine_tuning/jobs", self.create, methods=["POST"]),
            Route(f"{prefix}/fine_tuning/jobs", self.list_jobs, methods=["GET"]),
            Route(f"{prefix}/fine_tuning/jobs/{{job_id}}", self.retrieve, methods=["GET"]),
            Route(f"{prefix}/fine_tuning/jobs/{{job_id}}/events", self.events, methods=["GET"]),
            Route(f"{prefix}/fine_tuning/jobs/{{job_id}}/checkpoints", self.checkpoints, methods=["GET"]),
            Route(f"{prefix}/fine_tuning/jobs/{{job_id}}/cancel", self.cancel, methods=["POST"]),
            Route(f"{prefix}/chat/completions", self.chat, methods=["POST"]),
        ]
        self.app = Starlette(routes=routes)
        self.app.add_middleware(Gate, fake=self)

    def job_json(self, job: SimulatedJob) -> dict[str, Any]:
        status = STATUS[job.stage]
        failure = self.fail_jobs.get(job.model) if status == "failed" else None
        return {
            "object": "fine_tuning.job",
            "id": job.id,
            "created_at": job.created_at,
            "error": failure or {},
            "finished_at": job.finished_at,
            "model": job.model,
            "fine_tuned_model": f"ft:{job.model}:fake:{job.suffix or ''}:{job.id[-8:]}"
            if status == "succeeded"
            else None,
            "hyperparameters": job.hyperparameters
            if status != "validating_files"
            else {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
            "organization_id": "org-fake",
            "result_files": [],
            "seed": 7,
            "status": status,
            "trained_tokens": 1234 * job.step if status == "succeeded" else None,
            "training_file": job.training_file,
            "validation_file": job.validation_file,
            "estimated_finish": int(time.time()) + 60 if status == "running" else None,
            "integrations": [],
            "metadata": job.metadata,
            "user_provided_suffix": job.suffix,
            "method": {"type": "supervised"},
        }

    def _job(self, request: Request) -> SimulatedJob | None:
        return self.jobs.get(request.path_params["job_id"])

    async def upload(self, request: Request) -> Response:
        async with request.form() as form:
            upload = form["file"]
            assert not isinstance(upload, str)
            content = await upload.read()
            purpose = form.get("purpose")
        file_id = f"file-{secrets.token_hex(8)}"
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": upload.filename,
            "purpose": purpose,
            "status": "processed",
        }
        return JSONResponse(self.files[file_id])

    async def list_files(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": list(self.files.values()), "has_more": False})

    async def create(self, request: Request) -> Response:
        body = await request.json()
        if body.get("training_file") not in self.files:
            return self.error(
                400, f"invalid training_file: {body.get('training_file')}", "invalid_training_file"
            )
        job = SimulatedJob(
            id=f"ftjob-{secrets.token_hex(10)}",
            model=body["model"],
            training_file=body["training_file"],
            validation_file=body.get("validation_file"),
            suffix=body.get("suffix"),
            metadata=body.get("metadata"),
            created_at=int(time.time()),
            total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch,
            hyperparameters={"n_epochs": 2, "batch_size": 1, "learning_rate_multiplier": 1.0},
        )
        self.jobs[job.id] = job
        job.add_event(f"Created fine-tuning job: {job.id}")
        await self.maybe_hold(request)
        return JSONResponse(self.job_json(job))

    async def list_jobs(self, request: Request) -> Response:
        filters = {
            k[len("metadata[") : -1]: v for k, v in request.query_params.items() if k.startswith("metadata[")
        }
        jobs = [
            j
            for j in reversed(self.jobs.values())
            if all((j.metadata or {}).get(k) == v for k, v in filters.items())
        ]
        limit = int(request.query_params.get("limit", 20))
        return JSONResponse(
            {
                "object": "list",
                "data": [self.job_json(j) for j in jobs[:limit]],
                "has_more": len(jobs) > limit,
            }
        )

    async def retrieve(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return self.error(404, "No such job", "not_found")
        job.advance()
        if job.model in self.fail_jobs and job.stage == "running":
            job.stage, job.finished_at = "failed", int(time.time())
        return JSONResponse(self.job_json(job))

    async def events(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return self.error(404, "No such job", "not_found")
        newest_first = [{"object": "fine_tuning.job.event", **e} for e in reversed(job.events)]
        after = request.query_params.get("after")
        if after:
            ids = [e["id"] for e in newest_first]
            newest_first = newest_first[ids.index(after) + 1 :] if after in ids else []
        limit = int(request.query_params.get("limit", 20))
        await self.maybe_hold(request)
        return JSONResponse(
            {"object": "list", "data": newest_first[:limit], "has_more": len(newest_first) > limit}
        )

    async def checkpoints(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return self.error(404, "No such job", "not_found")
        data = [
            {
                "object": "fine_tuning.job.checkpoint",
                "id": f"ftckpt_{job.id[-6:]}_{c['step']}",
                "created_at": c["created_at"],
                "fine_tuning_job_id": job.id,
                "step_number": c["step"],
                "fine_tuned_model_checkpoint": f"ft:{job.model}:fake::{job.id[-8:]}:ckpt-step-{c['step']}",
                "metrics": c["metrics"],
            }
            for c in reversed(job.checkpoints)
        ]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def cancel(self, request: Request) -> Response:
        job = self._job(request)
        if job is None:
            return self.error(404, "No such job", "not_found")
        if job.stage in ("succeeded", "failed"):
            return self.error(400, f"Job has already {job.stage}", "invalid_request_error")
        job.cancel()
        return JSONResponse(self.job_json(job))

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        last = body["messages"][-1]["content"]
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"echo: {last}"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            }
        )
