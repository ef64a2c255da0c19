"""Fine-tuning job shapes: OpenAI's `fine_tuning.job` and friends, plus Attune's extensions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from shared.datasets.recipe import Recipe
from shared.models import FineTuningJob, FineTuningJobCheckpoint, FineTuningJobEvent, FineTuningJobMetric
from shared.models.job_metric import METRIC_NAMES

Epochs = Literal["auto"] | Annotated[int, Field(ge=1, le=50)]
BatchSize = Literal["auto"] | Annotated[int, Field(ge=1, le=256)]
LearningRateMultiplier = Literal["auto"] | Annotated[float, Field(gt=0, le=100)]
ALLOWED = {
    "n_epochs": "an integer from 1 to 50",
    "batch_size": "an integer from 1 to 256",
    "learning_rate_multiplier": "a number above 0 and at most 100",
}


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


class Hyperparameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_epochs: Epochs = Field("auto", description="Passes over the training data, or `auto`.")
    batch_size: BatchSize = Field("auto", description="Examples per step, or `auto`.")
    learning_rate_multiplier: LearningRateMultiplier = Field(
        "auto", description="Scales the provider's base learning rate, or `auto`."
    )

    @field_validator("n_epochs", "batch_size", "learning_rate_multiplier", mode="wrap")
    @classmethod
    def _one_clear_error(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        """One message per field instead of one per branch of `"auto" | number`."""
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(f'{info.field_name} must be "auto" or {ALLOWED[str(info.field_name)]}') from None


class SupervisedMethod(BaseModel):
    hyperparameters: Hyperparameters | None = None


class Method(BaseModel):
    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedMethod | None = None
    dpo: dict[str, Any] | None = None
    reinforcement: dict[str, Any] | None = None


class FineTuningJobCreate(BaseModel):
    """OpenAI's `CreateFineTuningJobRequest` plus `provider` and `auto_start` (send them in `extra_body`)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1, max_length=256, description="A base model, or an earlier job's output model."
    )
    training_file: str | None = Field(None, description="Id of an uploaded `fine-tune` file.")
    validation_file: str | None = Field(
        None, description="Id of an uploaded `fine-tune` file for validation."
    )
    dataset_id: str | None = Field(
        None, description="Train on a dataset's training and validation files (instead of `training_file`)."
    )
    dataset: Recipe | None = Field(
        None,
        description="A dataset recipe to build first (its `provider` and `model` default to the job's); "
        "the job waits in `building_dataset`.",
    )
    hyperparameters: Hyperparameters | None = None
    method: Method | None = Field(None, description="Only `supervised` is supported.")
    seed: int | None = Field(
        None, ge=0, le=2147483647, description="Makes training reproducible; random if absent."
    )
    suffix: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    metadata: dict[str, str] | None = Field(None, description="Up to 16 pairs; list jobs by `metadata[k]=v`.")
    integrations: list[dict[str, Any]] | None = None
    provider: str | None = Field(
        None, description="`local` (the built-in trainer) or a provider credential id."
    )
    auto_start: bool = Field(
        True, description="False: stop at `awaiting_confirmation` with the cost estimate."
    )

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > 16:
            raise ValueError("metadata holds at most 16 key-value pairs")
        if value is not None and (
            any(not k or len(k) > 64 for k in value) or any(len(v) > 512 for v in value.values())
        ):
            raise ValueError("metadata keys are 1 to 64 characters and values at most 512")
        return value

    @model_validator(mode="after")
    def _supported(self) -> FineTuningJobCreate:
        given = [
            name for name in ("training_file", "dataset_id", "dataset") if getattr(self, name) is not None
        ]
        if not given:
            raise ValueError("training_file is required (or a dataset_id, or a dataset recipe)")
        if len(given) > 1:
            raise ValueError(
                f"give only one of training_file, dataset_id and dataset, not {' and '.join(given)}"
            )
        if self.validation_file is not None and self.training_file is None:
            raise ValueError("validation_file goes with training_file; a dataset brings its own")
        if self.method is not None and self.method.type != "supervised":
            raise ValueError(f"method.type {self.method.type!r} is not supported; use `supervised`")
        if self.integrations:
            raise ValueError("integrations (Weights & Biases) are not supported")
        return self

    def dataset_recipe(self, provider: str) -> Recipe | None:
        """The inline recipe, its provider and model taken from the job where it names none."""
        if self.dataset is None:
            return None
        update: dict[str, Any] = {}
        if "provider" not in self.dataset.model_fields_set:
            update["provider"] = provider
        if self.dataset.model is None:
            update["model"] = self.model
        return self.dataset.model_copy(update=update)

    def chosen_hyperparameters(self) -> dict[str, Any]:
        """`method.supervised.hyperparameters` wins over the deprecated top-level field."""
        chosen = self.hyperparameters
        if self.method and self.method.supervised and self.method.supervised.hyperparameters:
            chosen = self.method.supervised.hyperparameters
        return chosen.model_dump() if chosen else {}


class JobError(BaseModel):
    code: str
    message: str
    param: str | None = None


class Transition(BaseModel):
    status: str
    at: int = Field(description="Unix seconds.")
    provider_status: str | None = None
    reason: str | None = None


class FineTuningJobOut(BaseModel):
    """OpenAI's `fine_tuning.job`, with Attune's provider, cost, lineage and transition fields."""

    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    id: str
    created_at: int
    error: JobError | None
    fine_tuned_model: str | None
    finished_at: int | None
    hyperparameters: dict[str, Any]
    method: dict[str, Any]
    model: str
    organization_id: str
    result_files: list[str]
    seed: int
    status: str = Field(
        description="OpenAI's, and created, building_dataset, awaiting_confirmation, paused, cancelling."
    )
    trained_tokens: int | None
    training_file: str | None
    validation_file: str | None
    estimated_finish: int | None
    integrations: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None
    user_provided_suffix: str | None
    suffix: str | None
    provider: str
    provider_kind: str
    provider_job_id: str | None
    provider_status: str | None = Field(description="The provider's own status, verbatim.")
    auto_start: bool
    dataset_id: str | None
    parent_model_id: str | None
    estimated_cost: float | None
    actual_cost: float | None
    cost_currency: str
    cancel_requested_at: int | None
    updated_at: int
    transitions: list[Transition]

    @classmethod
    def of(cls, job: FineTuningJob) -> FineTuningJobOut:
        # As asked, with what the provider resolved (e.g. `"auto"` epochs) laid over it.
        hyperparameters = {**job.hyperparameters, **(job.resolved_hyperparameters or {})}
        error = (
            JobError(code=job.error_code, message=job.error_message or "", param=job.error_param)
            if job.error_code
            else None
        )
        return cls(
            id=job.id,
            created_at=int(job.created_at.timestamp()),
            error=error,
            fine_tuned_model=job.fine_tuned_model,
            finished_at=unix(job.finished_at),
            hyperparameters=hyperparameters,
            method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
            model=job.model,
            organization_id=job.organization_id,
            result_files=job.result_files,
            seed=job.seed,
            status=job.status,
            trained_tokens=job.trained_tokens,
            training_file=job.training_file_id,
            validation_file=job.validation_file_id,
            estimated_finish=unix(job.estimated_finish),
            metadata=job.job_metadata,
            user_provided_suffix=job.suffix,
            suffix=job.suffix,
            provider=job.provider,
            provider_kind=job.provider_kind,
            provider_job_id=job.provider_job_id,
            provider_status=job.provider_status,
            auto_start=job.auto_start,
            dataset_id=job.dataset_id,
            parent_model_id=job.parent_model_id,
            estimated_cost=float(job.estimated_cost) if job.estimated_cost is not None else None,
            actual_cost=float(job.actual_cost) if job.actual_cost is not None else None,
            cost_currency=job.cost_currency,
            cancel_requested_at=unix(job.cancel_requested_at),
            updated_at=int(job.updated_at.timestamp()),
            transitions=[Transition.model_validate(entry) for entry in job.transitions],
        )


class FineTuningJobEventOut(BaseModel):
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    id: str
    created_at: int
    level: str = Field(description="`info`, `warn` or `error`.")
    message: str
    type: str = Field(description="`message` or `metrics` (providers may add others).")
    data: dict[str, Any] | None

    @classmethod
    def of(cls, event: FineTuningJobEvent) -> FineTuningJobEventOut:
        return cls(
            id=event.id,
            created_at=int(event.occurred_at.timestamp()),
            level=event.level,
            message=event.message,
            type=event.type,
            data=event.data,
        )


class FineTuningJobCheckpointOut(BaseModel):
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    id: str
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, Any]
    step_number: int

    @classmethod
    def of(cls, checkpoint: FineTuningJobCheckpoint) -> FineTuningJobCheckpointOut:
        return cls(
            id=checkpoint.id,
            created_at=int(checkpoint.occurred_at.timestamp()),
            fine_tuned_model_checkpoint=checkpoint.fine_tuned_model_checkpoint,
            fine_tuning_job_id=checkpoint.job_id,
            metrics=checkpoint.metrics,
            step_number=checkpoint.step_number,
        )


class FineTuningJobMetricOut(BaseModel):
    """One training step: losses and token accuracies (null where the provider reported none)."""

    object: Literal["fine_tuning.job.metric"] = "fine_tuning.job.metric"
    step: int
    total_steps: int | None
    train_loss: float | None
    train_mean_token_accuracy: float | None
    valid_loss: float | None
    valid_mean_token_accuracy: float | None
    full_valid_loss: float | None
    full_valid_mean_token_accuracy: float | None

    @classmethod
    def of(cls, metric: FineTuningJobMetric) -> FineTuningJobMetricOut:
        return cls(
            step=metric.step,
            total_steps=metric.total_steps,
            **{name: getattr(metric, name) for name in METRIC_NAMES},
        )


class MetricsPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[FineTuningJobMetricOut]
    has_more: bool
    last_step: int | None = Field(None, description="Pass as `after` for the next page.")
