"""Mistral's fine-tuning API (`/files`, `/fine_tuning/jobs`), written from its client's documented models.

A Mistral job carries its events and checkpoints inside the job detail, so one GET per poll is
enough (`embeds_progress`); step metrics come from `checkpoints[].metrics`. Mistral has no job
metadata: our job's tag rides in the suffix, and `GET /fine_tuning/jobs?suffix=` finds it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from shared.providers.base import (
    ChatCompletion,
    ChatMessage,
    EventsPage,
    JobSpec,
    ProviderCheckpoint,
    ProviderEvent,
    ProviderJob,
    StepMetrics,
    job_tag,
    require_id,
    tagged_suffix,
)
from shared.providers.http import ProviderHttp
from shared.providers.openai_compatible import chat_completion

SUFFIX_MAX = 18  # Mistral's documented suffix limit is short; the tag (10 characters) is kept whole
DEFAULT_LEARNING_RATE = 1e-4  # Mistral's default; our multiplier scales it
METRIC_KEYS = ("train_loss", "valid_loss", "valid_mean_token_accuracy")


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


def _sorted_events(body: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(body.get("events") or [], key=lambda event: event.get("created_at") or 0)


def _failure_message(body: dict[str, Any]) -> str:
    for event in reversed(_sorted_events(body)):
        data = event.get("data") or {}
        for key in ("error", "message", "reason"):
            if isinstance(data, dict) and data.get(key):
                return str(data[key])
    return f"Mistral reported the job as {body.get('status')}"


def parse_job(body: dict[str, Any]) -> ProviderJob:
    status = str(body.get("status", ""))
    metadata = body.get("metadata") or {}
    created_at = _time(body.get("created_at"))
    expected = metadata.get("expected_duration_seconds")
    failed = status in ("FAILED", "FAILED_VALIDATION")
    return ProviderJob(
        id=require_id(body),
        raw_status=status,
        fine_tuned_model=body.get("fine_tuned_model"),
        trained_tokens=body.get("trained_tokens"),
        estimated_finish=created_at + timedelta(seconds=expected) if created_at and expected else None,
        error_code=("invalid_training_file" if status == "FAILED_VALIDATION" else "provider_error")
        if failed
        else None,
        error_message=_failure_message(body) if failed else None,
        hyperparameters=body.get("hyperparameters"),
        cost=metadata.get("cost"),
        cost_currency=metadata.get("cost_currency"),
        metadata=metadata,
        suffix=body.get("suffix"),
    )


class MistralAdapter:
    """Fine-tuning on Mistral (base `https://api.mistral.ai/v1`)."""

    kind = "mistral"
    embeds_progress = True

    def __init__(self, http: ProviderHttp, *, upload_timeout: float = 600.0) -> None:
        self.http = http
        self.upload_timeout = upload_timeout
        # The last job detail fetched: events and checkpoints are read from it in the same poll.
        self._details: dict[str, dict[str, Any]] = {}

    async def _detail(self, provider_job_id: str) -> dict[str, Any]:
        if provider_job_id not in self._details:
            self._details[provider_job_id] = await self.http.json(
                "GET", f"/fine_tuning/jobs/{provider_job_id}"
            )
        return self._details[provider_job_id]

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
        body = await self.http.json("GET", "/files", params={"purpose": "fine-tune", "page_size": 100})
        matches = [item for item in body.get("data", []) if item.get("filename") == filename]
        return str(matches[-1]["id"]) if matches else None

    async def create_job(self, spec: JobSpec) -> ProviderJob:
        hyperparameters: dict[str, Any] = {
            "learning_rate": DEFAULT_LEARNING_RATE
            * (1.0 if spec.learning_rate_multiplier == "auto" else float(spec.learning_rate_multiplier))
        }
        if spec.n_epochs != "auto":
            hyperparameters["epochs"] = spec.n_epochs
        payload: dict[str, Any] = {
            "model": spec.model,
            "training_files": [{"file_id": spec.training_file, "weight": 1}],
            "validation_files": [spec.validation_file] if spec.validation_file else [],
            "suffix": tagged_suffix(spec.suffix, spec.attune_job_id, SUFFIX_MAX),
            "hyperparameters": hyperparameters,
            "auto_start": True,
        }
        body = await self.http.json("POST", "/fine_tuning/jobs", json=payload)
        return parse_job(body)

    async def find_job(self, attune_job_id: str) -> ProviderJob | None:
        tag = job_tag(attune_job_id)
        body = await self.http.json("GET", "/fine_tuning/jobs", params={"page_size": 100})
        for item in body.get("data", []):
            if tag in str(item.get("suffix") or "") or tag in str(item.get("fine_tuned_model") or ""):
                return parse_job(item)
        return None

    async def get_job(self, provider_job_id: str) -> ProviderJob:
        self._details.pop(provider_job_id, None)
        return parse_job(await self._detail(provider_job_id))

    async def list_events(self, provider_job_id: str, cursor: str | None) -> EventsPage:
        items = _sorted_events(await self._detail(provider_job_id))
        seen = int(cursor) if cursor and cursor.isdigit() else 0
        events = [
            ProviderEvent(
                id=f"mistral-{index}",
                created_at=_time(item.get("created_at")) or datetime.now(UTC),
                message=f"{item.get('name', 'event')}: {item.get('data') or ''}".rstrip(": "),
                data=item.get("data") if isinstance(item.get("data"), dict) else None,
            )
            for index, item in enumerate(items)
            if index >= seen
        ]
        return EventsPage(events=events, cursor=str(len(items)))

    async def list_checkpoints(self, provider_job_id: str) -> Sequence[ProviderCheckpoint]:
        body = await self._detail(provider_job_id)
        name = body.get("fine_tuned_model") or provider_job_id
        return [
            ProviderCheckpoint(
                id=f"step-{item.get('step_number')}",
                created_at=_time(item.get("created_at")) or datetime.now(UTC),
                step_number=int(item.get("step_number") or 0),
                fine_tuned_model_checkpoint=f"{name}:ckpt-step-{item.get('step_number')}",
                metrics=item.get("metrics") or {},
            )
            for item in body.get("checkpoints") or []
        ]

    async def list_metrics(self, provider_job_id: str, after_step: int) -> Sequence[StepMetrics]:
        rows = []
        for checkpoint in await self.list_checkpoints(provider_job_id):
            if checkpoint.step_number <= after_step:
                continue
            values = {
                k: float(v) for k, v in checkpoint.metrics.items() if k in METRIC_KEYS and v is not None
            }
            rows.append(StepMetrics(step=checkpoint.step_number, values=values))
        return sorted(rows, key=lambda row: row.step)

    async def cancel_job(self, provider_job_id: str) -> ProviderJob:
        body = await self.http.json("POST", f"/fine_tuning/jobs/{provider_job_id}/cancel")
        self._details[provider_job_id] = body
        return parse_job(body)

    async def chat_completion(
        self, model: str, messages: Sequence[ChatMessage], **parameters: Any
    ) -> ChatCompletion:
        return await chat_completion(self.http, model, messages, **parameters)
