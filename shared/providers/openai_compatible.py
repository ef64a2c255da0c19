"""The OpenAI fine-tuning API: OpenAI itself, Azure OpenAI's v1 surface and the built-in trainer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, BinaryIO

from shared.providers.base import (
    METADATA_JOB_KEY,
    ChatCompletion,
    ChatMessage,
    EventsPage,
    JobSpec,
    ProviderCheckpoint,
    ProviderError,
    ProviderEvent,
    ProviderJob,
    StepMetrics,
    TransientProviderError,
    require_id,
)
from shared.providers.http import ProviderHttp

PAGE_SIZE = 100
MAX_EVENT_PAGES = 1000  # a safety stop; a job with 100k unseen events is read over several polls


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


def parse_job(body: dict[str, Any]) -> ProviderJob:
    """An OpenAI `fine_tuning.job` as a ProviderJob."""
    error = body.get("error") or {}
    hyperparameters = body.get("hyperparameters")
    method = body.get("method") or {}
    if not hyperparameters and isinstance(method.get("supervised"), dict):
        hyperparameters = method["supervised"].get("hyperparameters")
    return ProviderJob(
        id=require_id(body),
        raw_status=str(body.get("status", "")),
        fine_tuned_model=body.get("fine_tuned_model"),
        trained_tokens=body.get("trained_tokens"),
        estimated_finish=_time(body.get("estimated_finish")),
        finished_at=_time(body.get("finished_at")),
        # Non-failed jobs often carry `"error": {}`: only a code or message makes it an error.
        error_code=error.get("code") if isinstance(error, dict) else None,
        error_message=error.get("message") if isinstance(error, dict) else None,
        error_param=error.get("param") if isinstance(error, dict) else None,
        hyperparameters=hyperparameters if isinstance(hyperparameters, dict) else None,
        result_files=list(body.get("result_files") or []),
        metadata=body.get("metadata"),
        suffix=body.get("user_provided_suffix") or body.get("suffix"),
    )


def parse_event(body: dict[str, Any]) -> ProviderEvent:
    level = str(body.get("level") or "info")
    return ProviderEvent(
        id=require_id(body),
        created_at=_time(body.get("created_at")) or datetime.now(UTC),
        level="warn" if level == "warning" else level,
        message=str(body.get("message") or ""),
        type=str(body.get("type") or "message"),
        data=body.get("data") or None,
    )


class OpenAICompatibleAdapter:
    """Speaks `/files`, `/fine_tuning/jobs[/{id}[/events|/checkpoints|/cancel]]` and `/chat/completions`."""

    embeds_progress = False

    def __init__(self, http: ProviderHttp, *, kind: str = "openai", upload_timeout: float = 600.0) -> None:
        self.http = http
        self.kind = kind
        self.upload_timeout = upload_timeout

    async def upload_file(self, content: BinaryIO, filename: str) -> str:
        body = await self.http.json(
            "POST",
            "/files",
            data={"purpose": "fine-tune"},
            files={"file": (filename, content, "application/jsonl")},
            timeout_seconds=self.upload_timeout,
        )
        return require_id(body)

    async def find_file(self, filename: str) -> str | None:
        body = await self.http.json("GET", "/files", params={"purpose": "fine-tune", "limit": 10000})
        matches = [item for item in body.get("data", []) if item.get("filename") == filename]
        matches.sort(key=lambda item: item.get("created_at") or 0, reverse=True)
        return str(matches[0]["id"]) if matches else None

    async def create_job(self, spec: JobSpec) -> ProviderJob:
        payload: dict[str, Any] = {
            "model": spec.model,
            "training_file": spec.training_file,
            "validation_file": spec.validation_file,
            "hyperparameters": {
                "n_epochs": spec.n_epochs,
                "batch_size": spec.batch_size,
                "learning_rate_multiplier": spec.learning_rate_multiplier,
            },
            "metadata": {**spec.metadata, METADATA_JOB_KEY: spec.attune_job_id},
        }
        if spec.seed is not None:
            payload["seed"] = spec.seed
        if spec.suffix:
            payload["suffix"] = spec.suffix
        return parse_job(await self.http.json("POST", "/fine_tuning/jobs", json=payload))

    async def find_job(self, attune_job_id: str) -> ProviderJob | None:
        params = {f"metadata[{METADATA_JOB_KEY}]": attune_job_id, "limit": PAGE_SIZE}
        body = await self.http.json("GET", "/fine_tuning/jobs", params=params)
        # Checked here too: a provider that ignores the filter returns its latest jobs instead.
        for item in body.get("data", []):
            if (item.get("metadata") or {}).get(METADATA_JOB_KEY) == attune_job_id:
                return parse_job(item)
        return None

    async def get_job(self, provider_job_id: str) -> ProviderJob:
        return parse_job(await self.http.json("GET", f"/fine_tuning/jobs/{provider_job_id}"))

    async def list_events(self, provider_job_id: str, cursor: str | None) -> EventsPage:
        """Pages come newest first: read back until the newest event seen last time (the cursor)."""
        fresh: list[ProviderEvent] = []
        after: str | None = None
        for _ in range(MAX_EVENT_PAGES):
            params: dict[str, Any] = {"limit": PAGE_SIZE} | ({"after": after} if after else {})
            body = await self.http.json("GET", f"/fine_tuning/jobs/{provider_job_id}/events", params=params)
            page = [parse_event(item) for item in body.get("data", [])]
            ids = [event.id for event in page]
            if cursor in ids:
                fresh.extend(page[: ids.index(cursor)])
                break
            fresh.extend(page)
            if not body.get("has_more") or not page:
                break
            after = page[-1].id
        else:
            raise TransientProviderError(f"events of {provider_job_id}: more than {MAX_EVENT_PAGES} pages")
        fresh.reverse()  # oldest first, the order they happened in
        return EventsPage(events=fresh, cursor=fresh[-1].id if fresh else cursor)

    async def list_checkpoints(self, provider_job_id: str) -> Sequence[ProviderCheckpoint]:
        checkpoints: list[ProviderCheckpoint] = []
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        while True:
            body = await self.http.json(
                "GET", f"/fine_tuning/jobs/{provider_job_id}/checkpoints", params=params
            )
            for item in body.get("data", []):
                checkpoints.append(
                    ProviderCheckpoint(
                        id=str(item["id"]),
                        created_at=_time(item.get("created_at")) or datetime.now(UTC),
                        step_number=int(item.get("step_number") or 0),
                        fine_tuned_model_checkpoint=str(
                            item.get("fine_tuned_model_checkpoint") or item["id"]
                        ),
                        metrics=item.get("metrics") or {},
                    )
                )
            if not body.get("has_more") or not body.get("data"):
                return checkpoints
            params["after"] = body["data"][-1]["id"]

    async def list_metrics(self, provider_job_id: str, after_step: int) -> Sequence[StepMetrics]:
        return []  # OpenAI reports step metrics as `metrics` events

    async def cancel_job(self, provider_job_id: str) -> ProviderJob:
        try:
            return parse_job(await self.http.json("POST", f"/fine_tuning/jobs/{provider_job_id}/cancel"))
        except ProviderError as error:
            # Already finished (or already cancelled): the job as it is now tells the outcome.
            if error.status_code in (400, 409):
                return await self.get_job(provider_job_id)
            raise

    async def chat_completion(
        self, model: str, messages: Sequence[ChatMessage], **parameters: Any
    ) -> ChatCompletion:
        return await chat_completion(self.http, model, messages, **parameters)


async def chat_completion(
    http: ProviderHttp, model: str, messages: Sequence[ChatMessage], **parameters: Any
) -> ChatCompletion:
    """`POST /chat/completions`, the shape OpenAI, Azure v1, Together, Mistral and the trainer share."""
    payload = {"model": model, "messages": [m.model_dump() for m in messages], **parameters}
    body = await http.json("POST", "/chat/completions", json=payload)
    choice = (body.get("choices") or [{}])[0]
    return ChatCompletion(
        model=str(body.get("model") or model),
        content=str((choice.get("message") or {}).get("content") or ""),
        finish_reason=choice.get("finish_reason"),
        usage=body.get("usage"),
        raw=body,
    )
