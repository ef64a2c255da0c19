"""Together AI's fine-tuning API (`/files/upload`, `/fine-tunes`), written from its OpenAPI document.

Together has no job metadata, so our job's tag rides in the suffix (at most 40 characters); events
come as one whole list without a cursor, so the cursor is how many we have already stored; step
metrics come from `/fine-tunes/{id}/metrics` as `train/*` and `eval/*` keys.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
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

SUFFIX_MAX = 40
DEFAULT_LEARNING_RATE = 1e-5  # Together's default; our multiplier scales it
_STEP_IN_NAME = re.compile(r"step[-_]?(\d+)", re.IGNORECASE)


def _time(value: Any) -> datetime:
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.now(UTC)


def _level(raw: Any) -> str:
    """Together's `Info`/`Warning`/`Error` (or lowercase) as OpenAI's `info`/`warn`/`error`."""
    return {"warning": "warn", "warn": "warn", "error": "error"}.get(str(raw or "").lower(), "info")


def _error_message(body: dict[str, Any]) -> str | None:
    for event in reversed(body.get("events") or []):
        if (
            str(event.get("type", "")).lower() in ("job_error", "job_user_error")
            or str(event.get("level", "")).lower() == "error"
        ):
            return str(event.get("message") or "")
    return None


def parse_job(body: dict[str, Any]) -> ProviderJob:
    status = str(body.get("status", ""))
    failed = status.lower() in ("error", "user_error")
    return ProviderJob(
        id=require_id(body),
        raw_status=status,
        fine_tuned_model=body.get("model_output_name") if status.lower() == "completed" else None,
        trained_tokens=body.get("token_count"),
        error_code=("user_error" if status.lower() == "user_error" else "provider_error") if failed else None,
        error_message=(_error_message(body) or f"Together reported the job as {status}") if failed else None,
        hyperparameters={
            key: body[key] for key in ("n_epochs", "batch_size", "learning_rate") if body.get(key) is not None
        }
        or None,
        suffix=body.get("suffix"),
    )


def _canonical(key: str) -> str | None:
    """`train/loss` -> `train_loss`, `eval/loss` -> `valid_loss`; None for keys we do not keep."""
    prefix, _, name = key.partition("/")
    if prefix not in ("train", "eval") or name in ("global_step", "step", "learning_rate", "epoch"):
        return None
    return f"{'train' if prefix == 'train' else 'valid'}_{name}"


class TogetherAdapter:
    """Fine-tuning on Together AI (base `https://api.together.xyz/v1`)."""

    kind = "together"
    embeds_progress = False

    def __init__(self, http: ProviderHttp, *, upload_timeout: float = 600.0) -> None:
        self.http = http
        self.upload_timeout = upload_timeout

    async def upload_file(self, content: BinaryIO, filename: str) -> str:
        body = await self.http.json(
            "POST",
            "/files/upload",
            data={"purpose": "fine-tune", "file_name": filename, "file_type": "jsonl"},
            files={"file": (filename, content, "application/jsonl")},
            timeout_seconds=self.upload_timeout,
        )
        return require_id(body)

    async def find_file(self, filename: str) -> str | None:
        body = await self.http.json("GET", "/files")
        matches = [item for item in body.get("data", []) if item.get("filename") == filename]
        return str(matches[-1]["id"]) if matches else None

    async def create_job(self, spec: JobSpec) -> ProviderJob:
        payload: dict[str, Any] = {
            "model": spec.model,
            "training_file": spec.training_file,
            "suffix": tagged_suffix(spec.suffix, spec.attune_job_id, SUFFIX_MAX),
            "batch_size": "max" if spec.batch_size == "auto" else spec.batch_size,
        }
        if spec.validation_file:
            payload |= {"validation_file": spec.validation_file, "n_evals": 1}
        if spec.n_epochs != "auto":
            payload["n_epochs"] = spec.n_epochs
        if spec.learning_rate_multiplier != "auto":
            payload["learning_rate"] = float(spec.learning_rate_multiplier) * DEFAULT_LEARNING_RATE
        return parse_job(await self.http.json("POST", "/fine-tunes", json=payload))

    async def find_job(self, attune_job_id: str) -> ProviderJob | None:
        tag = job_tag(attune_job_id)
        body = await self.http.json("GET", "/fine-tunes")
        for item in body.get("data", []):
            if tag in str(item.get("suffix") or "") or tag in str(item.get("model_output_name") or ""):
                return parse_job(item)
        return None

    async def get_job(self, provider_job_id: str) -> ProviderJob:
        return parse_job(await self.http.json("GET", f"/fine-tunes/{provider_job_id}"))

    async def list_events(self, provider_job_id: str, cursor: str | None) -> EventsPage:
        body = await self.http.json("GET", f"/fine-tunes/{provider_job_id}/events")
        items = list(body.get("data") or [])
        seen = int(cursor) if cursor and cursor.isdigit() else 0
        events = [
            ProviderEvent(
                id=str(item.get("hash") or f"together-{index}"),
                created_at=_time(item.get("created_at")),
                level=_level(item.get("level")),
                message=str(item.get("message") or item.get("type") or ""),
                type="message",
                data={"together_type": item.get("type")} if item.get("type") else None,
            )
            for index, item in enumerate(items)
            if index >= seen
        ]
        return EventsPage(events=events, cursor=str(len(items)))

    async def list_checkpoints(self, provider_job_id: str) -> Sequence[ProviderCheckpoint]:
        body = await self.http.json("GET", f"/fine-tunes/{provider_job_id}/checkpoints")
        checkpoints = []
        for item in body.get("data") or []:
            name = str(item.get("name") or item.get("path") or "")
            step = item.get("step")
            if step is None and (match := _STEP_IN_NAME.search(name)):
                step = int(match.group(1))
            checkpoints.append(
                ProviderCheckpoint(
                    id=name or f"{provider_job_id}:{item.get('timestamp')}",
                    created_at=_time(item.get("timestamp") or item.get("created_at")),
                    step_number=int(step or 0),
                    fine_tuned_model_checkpoint=name or provider_job_id,
                )
            )
        return checkpoints

    async def list_metrics(self, provider_job_id: str, after_step: int) -> Sequence[StepMetrics]:
        # Together documents a JSON body on this GET to narrow the step range.
        body = await self.http.json(
            "GET", f"/fine-tunes/{provider_job_id}/metrics", json={"global_step_from": after_step + 1}
        )
        by_step: dict[int, StepMetrics] = {}
        for item in body.get("metrics") or []:
            raw_step = item.get("train/global_step", item.get("eval/global_step", item.get("global_step")))
            if raw_step is None or int(raw_step) <= after_step:
                continue
            row = by_step.setdefault(int(raw_step), StepMetrics(step=int(raw_step)))
            for key, value in item.items():
                name = _canonical(key)
                if name is not None and isinstance(value, int | float):
                    row.values[name] = float(value)
        return [by_step[step] for step in sorted(by_step)]

    async def cancel_job(self, provider_job_id: str) -> ProviderJob:
        return parse_job(await self.http.json("POST", f"/fine-tunes/{provider_job_id}/cancel"))

    async def chat_completion(
        self, model: str, messages: Sequence[ChatMessage], **parameters: Any
    ) -> ChatCompletion:
        return await chat_completion(self.http, model, messages, **parameters)
