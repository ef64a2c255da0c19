"""Recording uploaded files: only a file whose every line passed the checks is stored."""

from __future__ import annotations

import posixpath

from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import NotFound, ValidationFailed, problem_type
from shared.files.repository import FileRepository
from shared.files.validation import ValidationReport
from shared.models import File
from shared.storage import StoredObject

PURPOSES = ("fine-tune",)
INVALID_TRAINING_FILE = problem_type(
    "invalid_training_file", "Some lines of the uploaded JSONL file are not valid chat fine-tuning examples."
)


class InvalidTrainingFile(ValidationFailed):
    code = INVALID_TRAINING_FILE


def storage_key(organization_id: str, file_id: str) -> str:
    return f"files/{organization_id}/{file_id}.jsonl"


def clean_filename(raw: str | None) -> str:
    """The client's file name without any path, at most 255 characters."""
    name = posixpath.basename((raw or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable() and ch != '"').strip()
    return name[:255] or "upload.jsonl"


def check_purpose(purpose: str | None) -> str:
    if purpose not in PURPOSES:
        raise ValidationFailed(
            f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}.",
            errors=[{"detail": "unsupported purpose", "pointer": "#/purpose"}],
        )
    return purpose


def check_report(report: ValidationReport, filename: str) -> None:
    """422 naming the bad lines (the first 100 of them) unless every line passed."""
    if report.ok:
        return
    first = "; ".join(f"line {e.line}: {e.detail}" for e in report.errors[:3])
    raise InvalidTrainingFile(
        f"{filename}: {report.error_count} bad line(s) of {report.line_count}. {first}",
        errors=[{"detail": e.detail, "pointer": "#/file", "line": e.line} for e in report.errors],
        error_count=report.error_count,
        line_count=report.line_count,
    )


async def record_file(
    session: AsyncSession,
    *,
    file_id: str,
    organization_id: str,
    filename: str,
    purpose: str,
    stored: StoredObject,
    report: ValidationReport,
) -> File:
    """The File row of a stored, fully checked upload."""
    file = File(
        id=file_id,
        organization_id=organization_id,
        filename=filename,
        purpose=purpose,
        status="processed",
        bytes=stored.size,
        sha256=stored.sha256,
        storage_key=stored.key,
        line_count=report.line_count,
        example_count=report.example_count,
        token_estimate=report.token_estimate,
        validation=report.model_dump(mode="json"),
    )
    session.add(file)
    await session.flush()
    return file


async def get_file(session: AsyncSession, organization_id: str, file_id: str) -> File:
    file = await FileRepository(session).get(organization_id, file_id)
    if file is None:
        raise NotFound(f"No file {file_id!r} in your organization.")
    return file
