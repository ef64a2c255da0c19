"""Every ORM model, imported here so Alembic and the mappers see all tables."""

from shared.models.api_key import ApiKey
from shared.models.base import Base, RecordBase
from shared.models.dataset import Dataset
from shared.models.dataset_reject import DatasetReject
from shared.models.event import Event
from shared.models.file import File
from shared.models.fine_tuning_job import FineTuningJob
from shared.models.idempotency_key import IdempotencyKey
from shared.models.import_job import ImportJob
from shared.models.job_checkpoint import FineTuningJobCheckpoint
from shared.models.job_evaluation import JobEvaluation
from shared.models.job_event import FineTuningJobEvent
from shared.models.job_metric import FineTuningJobMetric
from shared.models.model import FineTunedModel
from shared.models.organization import Organization
from shared.models.project import Project
from shared.models.prompt import Prompt
from shared.models.provider_credential import ProviderCredential
from shared.models.tm_unit import TmUnit
from shared.models.translation import Translation
from shared.models.translation_memory import TranslationMemory
from shared.models.webhook_delivery import WebhookDelivery
from shared.models.webhook_endpoint import WebhookEndpoint

__all__ = [
    "ApiKey",
    "Base",
    "Dataset",
    "DatasetReject",
    "Event",
    "File",
    "FineTunedModel",
    "FineTuningJob",
    "FineTuningJobCheckpoint",
    "FineTuningJobEvent",
    "FineTuningJobMetric",
    "IdempotencyKey",
    "ImportJob",
    "JobEvaluation",
    "Organization",
    "Project",
    "Prompt",
    "ProviderCredential",
    "RecordBase",
    "TmUnit",
    "Translation",
    "TranslationMemory",
    "WebhookDelivery",
    "WebhookEndpoint",
]
