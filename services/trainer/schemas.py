"""OpenAI-shaped request and response models of the trainer's fine-tuning API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ORGANIZATION_ID = "org-attune-trainer"
JobStatus = Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
BatchSize = Literal["auto"] | Annotated[int, Field(ge=1, le=256)]
LearningRateMultiplier = Literal["auto"] | Annotated[float, Field(gt=0, le=100)]
Epochs = Literal["auto"] | Annotated[int, Field(ge=1, le=50)]


class ErrorDetail(BaseModel):
    """OpenAI's error object."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error envelope: `{"error": {...}}`."""

    error: ErrorDetail


class FileObject(BaseModel):
    """An uploaded file (`object: "file"`)."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: int | None = None
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"
    status_details: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FileObject:
        """The API view of a stored file."""
        return cls.model_validate(
            {key: record[key] for key in ("id", "bytes", "created_at", "filename", "purpose")}
        )


class FileList(BaseModel):
    """A page of files."""

    object: Literal["list"] = "list"
    data: list[FileObject]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class FileDeleted(BaseModel):
    """The answer to a file deletion."""

    id: str
    object: Literal["file"] = "file"
    deleted: bool


class Hyperparameters(BaseModel):
    """Supervised hyperparameters, each `"auto"` or a number in OpenAI's range."""

    model_config = ConfigDict(extra="forbid")

    batch_size: BatchSize = "auto"
    learning_rate_multiplier: LearningRateMultiplier = "auto"
    n_epochs: Epochs = "auto"


class SupervisedMethod(BaseModel):
    """`method.supervised`."""

    hyperparameters: Hyperparameters | None = None


class Method(BaseModel):
    """`method`: only `supervised` is trained here."""

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedMethod | None = None
    dpo: dict[str, Any] | None = None
    reinforcement: dict[str, Any] | None = None


class CreateFineTuningJobRequest(BaseModel):
    """`POST /v1/fine_tuning/jobs`."""

    model: str = Field(min_length=1, max_length=256)
    training_file: str = Field(min_length=1)
    validation_file: str | None = None
    hyperparameters: Hyperparameters | None = None
    method: Method | None = None
    suffix: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int | None = Field(None, ge=0, le=2147483647)
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        """At most 16 pairs, keys up to 64 characters, values up to 512."""
        if value is None:
            return None
        if len(value) > 16:
            raise ValueError("metadata holds at most 16 key-value pairs")
        if any(len(key) > 64 or not key for key in value) or any(len(v) > 512 for v in value.values()):
            raise ValueError("metadata keys are 1-64 characters and values at most 512 characters")
        return value


class JobError(BaseModel):
    """Why a job failed."""

    code: str
    message: str
    param: str | None = None


class JobHyperparameters(BaseModel):
    """Hyperparameters as a job reports them: requested until resolved when files are validated."""

    batch_size: Literal["auto"] | int
    learning_rate_multiplier: Literal["auto"] | float
    n_epochs: Literal["auto"] | int


_JOB_COLUMNS = (
    "id",
    "created_at",
    "fine_tuned_model",
    "finished_at",
    "model",
    "result_files",
    "seed",
    "status",
    "trained_tokens",
    "training_file",
    "validation_file",
    "integrations",
    "metadata",
)


class FineTuningJob(BaseModel):
    """A `fine_tuning.job`."""

    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: JobError | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    hyperparameters: JobHyperparameters
    model: str
    organization_id: str = ORGANIZATION_ID
    result_files: list[str]
    seed: int
    status: JobStatus
    trained_tokens: int | None = None
    training_file: str
    validation_file: str | None = None
    estimated_finish: int | None = None
    integrations: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None = None
    method: dict[str, Any]
    user_provided_suffix: str | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FineTuningJob:
        """The API view of a stored job."""
        hyperparameters = JobHyperparameters.model_validate(record["resolved"] or record["hyperparameters"])
        fields = {key: record[key] for key in _JOB_COLUMNS}
        return cls.model_validate(
            fields
            | {
                "error": record["error"],
                "estimated_finish": record["estimated_finish"] if record["status"] == "running" else None,
                "hyperparameters": hyperparameters,
                "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
                "user_provided_suffix": record["suffix"],
            }
        )


class FineTuningJobList(BaseModel):
    """A page of jobs, newest first."""

    object: Literal["list"] = "list"
    data: list[FineTuningJob]
    has_more: bool


class FineTuningJobEvent(BaseModel):
    """A `fine_tuning.job.event` (`type` is `message` or `metrics`)."""

    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    id: str
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    type: Literal["message", "metrics"]
    data: dict[str, Any] | None = None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FineTuningJobEvent:
        """The API view of a stored event."""
        keys = ("id", "created_at", "level", "message", "type", "data")
        return cls.model_validate({key: record[key] for key in keys})


class FineTuningJobEventList(BaseModel):
    """A page of events."""

    object: Literal["list"] = "list"
    data: list[FineTuningJobEvent]
    has_more: bool


class CheckpointMetrics(BaseModel):
    """Metrics at a checkpoint's step."""

    step: float | None = None
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


class FineTuningJobCheckpoint(BaseModel):
    """A `fine_tuning.job.checkpoint`: a usable model saved at the end of an epoch (or on cancel)."""

    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    id: str
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: CheckpointMetrics
    step_number: int

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FineTuningJobCheckpoint:
        """The API view of a stored checkpoint."""
        keys = ("id", "created_at", "fine_tuned_model_checkpoint", "metrics", "step_number")
        return cls.model_validate(
            {key: record[key] for key in keys} | {"fine_tuning_job_id": record["job_id"]}
        )


class FineTuningJobCheckpointList(BaseModel):
    """A page of checkpoints, newest first."""

    object: Literal["list"] = "list"
    data: list[FineTuningJobCheckpoint]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class Model(BaseModel):
    """A model the chat endpoint serves (`object: "model"`)."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    """Every base and fine-tuned model."""

    object: Literal["list"] = "list"
    data: list[Model]
