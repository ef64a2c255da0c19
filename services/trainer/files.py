"""`/v1/files`: upload, list, retrieve, download and delete JSONL training files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse

from services.trainer.datasets import check_jsonl
from services.trainer.errors import bad_request, not_found
from services.trainer.schemas import FileDeleted, FileList, FileObject
from services.trainer.store import Store, new_id, now

router = APIRouter(tags=["files"])
CHUNK = 1024 * 1024


def _store(request: Request) -> Store:
    """The app's store (files routes take the request for streaming uploads)."""
    store: Store = request.app.state.store
    return store


def _copy_limited(upload: UploadFile, target: Path, limit: int) -> int:
    """Copy an upload to `target`, refusing it once it grows past `limit` bytes; return its size."""
    size = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise bad_request(
                    f"The file is larger than this trainer's limit of {limit} bytes.",
                    code="file_too_large",
                    param="file",
                )
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size


@router.post("/files", operation_id="create_file", response_model=FileObject)
def create_file(
    request: Request,
    file: Annotated[UploadFile, File(description="A JSONL file of chat examples.")],
    purpose: Annotated[str, Form(description="Must be `fine-tune`.")],
) -> FileObject:
    """Upload a fine-tuning file (JSONL, one chat example per line)."""
    store = _store(request)
    limit = request.app.state.settings.max_file_bytes
    if purpose != "fine-tune":
        raise bad_request(
            f"Unsupported purpose '{purpose}'; use 'fine-tune'.", code="invalid_purpose", param="purpose"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise bad_request(
            f"The file is larger than this trainer's limit of {limit} bytes.",
            code="file_too_large",
            param="file",
        )
    file_id = new_id("file-")
    folder = store.state_dir / "files"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{file_id}.jsonl"
    staging = path.with_suffix(".upload")
    try:
        size = _copy_limited(file, staging, limit)
        problem = check_jsonl(staging)
        if problem:
            raise bad_request(problem, code="invalid_file_format", param="file")
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    record = {
        "id": file_id,
        "created_at": now(),
        "filename": os.path.basename(file.filename or "upload.jsonl"),
    }
    record |= {"purpose": purpose, "bytes": size, "path": str(path)}
    store.insert("files", record)
    return FileObject.from_record(record)


@router.get("/files", operation_id="list_files", response_model=FileList)
def list_files(
    request: Request,
    purpose: str | None = None,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 10000,
    order: Literal["asc", "desc"] = "desc",
) -> FileList:
    """List files, newest first unless `order=asc`."""
    where, params = ("purpose = ?", [purpose]) if purpose else ("1 = 1", [])
    rows, has_more = _store(request).page(
        "files", where, params, after=after, limit=limit, newest_first=order == "desc"
    )
    data = [FileObject.from_record(row) for row in rows]
    return FileList(
        data=data,
        has_more=has_more,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
    )


def _get(store: Store, file_id: str) -> dict[str, object]:
    """A stored file, or a 404."""
    record = store.get("files", file_id)
    if record is None:
        raise not_found("file", file_id, "file_id")
    return record


@router.get("/files/{file_id}", operation_id="retrieve_file", response_model=FileObject)
def retrieve_file(request: Request, file_id: str) -> FileObject:
    """Retrieve a file's metadata."""
    return FileObject.from_record(_get(_store(request), file_id))


@router.get("/files/{file_id}/content", operation_id="download_file", response_class=FileResponse)
def download_file(request: Request, file_id: str) -> FileResponse:
    """Download a file's bytes (training files, or a job's results CSV)."""
    record = _get(_store(request), file_id)
    path = str(record["path"])
    media_type = "text/csv" if path.endswith(".csv") else "application/jsonl"
    return FileResponse(path, media_type=media_type, filename=str(record["filename"]))


@router.delete("/files/{file_id}", operation_id="delete_file", response_model=FileDeleted)
def delete_file(request: Request, file_id: str) -> FileDeleted:
    """Delete a file no unfinished job uses."""
    store = _store(request)
    record = _get(store, file_id)
    in_use = store.one(
        "SELECT id FROM jobs WHERE status IN ('validating_files', 'queued', 'running') "
        "AND (training_file = ? OR validation_file = ?)",
        file_id,
        file_id,
    )
    if in_use:
        raise bad_request(
            f"File {file_id} is used by unfinished job {in_use['id']}.", code="file_in_use", param="file_id"
        )
    with store.transaction() as db:
        db.execute("DELETE FROM files WHERE id = ?", (file_id,))
    Path(str(record["path"])).unlink(missing_ok=True)
    return FileDeleted(id=file_id, deleted=True)
