"""The provider interface and the shapes every adapter speaks, whatever the provider's own wire format."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, BinaryIO, Literal, Protocol

from pydantic import BaseModel, Field

# Our job id travels to the provider under this metadata key, so a retried submit finds its job.
METADATA_JOB_KEY = "attune_job_id"


def job_tag(job_id: str) -> str:
    """A short, stable token for providers without metadata: it rides in the suffix (`at` + 8 hex)."""
    return "at" + hashlib.sha256(job_id.encode()).hexdigest()[:8]


def tagged_suffix(user_suffix: str | None, attune_job_id: str, limit: int) -> str:
    """`<user suffix>-<tag>` cut to the provider's `limit`, the tag always kept whole."""
    tag = job_tag(attune_job_id)
    room = limit - len(tag) - 1
    return f"{user_suffix[:room]}-{tag}" if user_suffix and room > 0 else tag


class ProviderError(Exception):
    """A provider request that did not succeed."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.param = param


class TransientProviderError(ProviderError):
    """Try again later (429, 5xx, timeouts, dropped connections); `retry_after` when the provider said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """Retrying cannot help (401, 403, `insufficient_quota`, a rejected file): the job fails with this."""


def require_id(body: Any) -> str:
    """The `id` of a provider object; a body without one is an unexpected (transient) answer."""
    if not isinstance(body, dict) or not body.get("id"):
        raise TransientProviderError(f"the provider answered without an object id: {str(body)[:200]}")
    return str(body["id"])


class RateLimited(Exception):
    """Our own limiter says wait longer than a task may: reschedule instead of waiting."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"provider rate limit: next slot in {wait_seconds:.1f} s")
        self.wait_seconds = wait_seconds


Hyperparameter = Literal["auto"] | int | float


class JobSpec(BaseModel):
    """What to train, in provider-neutral terms."""

    attune_job_id: str
    model: str
    training_file: str = Field(description="The provider's id of the uploaded training file.")
    validation_file: str | None = None
    n_epochs: Hyperparameter = "auto"
    batch_size: Hyperparameter = "auto"
    learning_rate_multiplier: Hyperparameter = "auto"
    seed: int | None = None
    suffix: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class ProviderJob(BaseModel):
    """A provider's job, normalised; `raw_status` is kept verbatim beside the status we map it to."""

    id: str
    raw_status: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    estimated_finish: datetime | None = None
    finished_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_param: str | None = None
    hyperparameters: dict[str, Any] | None = None
    result_files: list[str] = Field(default_factory=list)
    cost: float | None = None
    cost_currency: str | None = None
    metadata: dict[str, Any] | None = None
    suffix: str | None = None


class ProviderEvent(BaseModel):
    """A `fine_tuning.job.event`-like record; `data` holds step metrics for `type == "metrics"`."""

    id: str
    created_at: datetime
    level: str = "info"
    message: str
    type: str = "message"
    data: dict[str, Any] | None = None


class EventsPage(BaseModel):
    """Events newer than the cursor, oldest first, and the cursor to pass next time."""

    events: list[ProviderEvent]
    cursor: str | None


class ProviderCheckpoint(BaseModel):
    id: str
    created_at: datetime
    step_number: int
    fine_tuned_model_checkpoint: str
    metrics: dict[str, Any] = Field(default_factory=dict)


class StepMetrics(BaseModel):
    """One step's values under our canonical names (`train_loss`, `valid_loss`, ...)."""

    step: int
    total_steps: int | None = None
    values: dict[str, float] = Field(default_factory=dict)


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatCompletion(BaseModel):
    """The parts of a chat completion evaluation needs; `raw` is the provider's whole answer."""

    model: str
    content: str
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


class ProviderAdapter(Protocol):
    """What Attune needs from a fine-tuning provider; every method raises ProviderError subclasses."""

    kind: str
    # Whether `get_job` already carries events, checkpoints and metrics (one request per poll).
    embeds_progress: bool

    async def upload_file(self, content: BinaryIO, filename: str) -> str: ...

    async def find_file(self, filename: str) -> str | None: ...

    async def create_job(self, spec: JobSpec) -> ProviderJob: ...

    async def find_job(self, attune_job_id: str) -> ProviderJob | None: ...

    async def get_job(self, provider_job_id: str) -> ProviderJob: ...

    async def list_events(self, provider_job_id: str, cursor: str | None) -> EventsPage: ...

    async def list_checkpoints(self, provider_job_id: str) -> Sequence[ProviderCheckpoint]: ...

    async def list_metrics(self, provider_job_id: str, after_step: int) -> Sequence[StepMetrics]: ...

    async def cancel_job(self, provider_job_id: str) -> ProviderJob: ...

    async def chat_completion(
        self, model: str, messages: Sequence[ChatMessage], **parameters: Any
    ) -> ChatCompletion: ...
