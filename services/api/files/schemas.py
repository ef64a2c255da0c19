"""OpenAI's `file` object with what Attune's line checks counted."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared.models import File


class FileOut(BaseModel):
    object: Literal["file"] = "file"
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = Field(
        description="Always `processed`: bad files are refused."
    )
    status_details: str | None = None
    expires_at: int | None = None
    sha256: str
    line_count: int
    example_count: int
    token_estimate: int = Field(description="About a quarter of the characters: for cost estimates only.")
    warnings: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, file: File) -> FileOut:
        return cls(
            id=file.id,
            bytes=file.bytes,
            created_at=int(file.created_at.timestamp()),
            filename=file.filename,
            purpose=file.purpose,
            status="processed" if file.status == "processed" else "error",
            sha256=file.sha256,
            line_count=file.line_count,
            example_count=file.example_count,
            token_estimate=file.token_estimate,
            warnings=list(file.validation.get("warnings", [])),
        )
