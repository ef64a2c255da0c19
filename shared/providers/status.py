"""Provider statuses mapped onto ours (providers.md §2.7); the raw status is always kept beside it.

An unknown status maps to None: the job keeps its status, records the raw one, and a warning is logged.
"""

from __future__ import annotations

OPENAI_STATUSES = {
    "validating_files": "validating_files",
    "queued": "queued",
    "running": "running",
    "pausing": "paused",
    "paused": "paused",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    # Azure's dated API (and what its v1 surface may still send).
    "created": "queued",
    "pending": "queued",
    "notRunning": "queued",
}

TOGETHER_STATUSES = {
    "pending": "validating_files",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "cancelling",
    "cancelled": "cancelled",
    "error": "failed",
    "user_error": "failed",
    "completed": "succeeded",
}

MISTRAL_STATUSES = {
    "VALIDATING": "validating_files",
    "VALIDATED": "validating_files",
    "QUEUED": "queued",
    "STARTED": "queued",
    "RUNNING": "running",
    "CANCELLATION_REQUESTED": "cancelling",
    "CANCELLED": "cancelled",
    "FAILED": "failed",
    "FAILED_VALIDATION": "failed",
    "SUCCESS": "succeeded",
}

STATUS_TABLES = {
    "local": OPENAI_STATUSES,
    "openai": OPENAI_STATUSES,
    "azure_openai": OPENAI_STATUSES,
    "together": TOGETHER_STATUSES,
    "mistral": MISTRAL_STATUSES,
}


def map_status(provider_kind: str, raw_status: str) -> str | None:
    """Our status for a provider's raw status, or None when the provider sent one we do not know."""
    table = STATUS_TABLES.get(provider_kind, OPENAI_STATUSES)
    return table.get(raw_status) or table.get(raw_status.lower()) or table.get(raw_status.upper())
