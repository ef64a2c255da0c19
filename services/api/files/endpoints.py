"""`/v1/files`: upload a JSONL file (streamed to storage, every line checked), list, retrieve, download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from services.api.deps import OrgDep, SessionDep, SettingsDep
from services.api.files.schemas import FileOut
from services.api.files.upload import StreamingUpload
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.routing import AttuneRoute
from shared.files import service
from shared.files.repository import FileRepository
from shared.files.validation import LineValidator
from shared.ids import new_id
from shared.models import File
from shared.storage import get_storage, writing

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["files"])

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "purpose"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "A JSONL file."},
                        "purpose": {"type": "string", "enum": list(service.PURPOSES)},
                    },
                }
            }
        },
    }
}


@router.post("/files", operation_id="create_file", response_model=FileOut, openapi_extra=UPLOAD_BODY)
async def create_file(
    request: Request, session: SessionDep, settings: SettingsDep, organization_id: OrgDep
) -> FileOut:
    """Upload a chat fine-tuning JSONL file; a file with bad lines is refused with a report naming them."""
    file_id = new_id(File.id_prefix)
    validator = LineValidator()
    async with writing(get_storage(settings), service.storage_key(organization_id, file_id)) as writer:

        async def sink(data: bytes) -> None:
            validator.feed(data)
            await writer.write(data)

        upload = StreamingUpload(request, sink, max_file_bytes=settings.storage.max_upload_bytes)
        form = await upload.read()
        purpose = service.check_purpose(form.fields.get("purpose"))
        filename = service.clean_filename(form.filename)
        service.check_report(validator.finish(), filename)
        stored = await writer.commit()
    file = await service.record_file(
        session,
        file_id=file_id,
        organization_id=organization_id,
        filename=filename,
        purpose=purpose,
        stored=stored,
        report=validator.report,
    )
    await session.refresh(file)
    return FileOut.of(file)


@router.get("/files", operation_id="list_files", response_model=Page[FileOut])
async def list_files(
    session: SessionDep,
    organization_id: OrgDep,
    page: PageDep,
    purpose: Annotated[str | None, Query(description="Only files with this purpose.")] = None,
) -> Page[FileOut]:
    """The organization's files, newest first."""
    statement = FileRepository(session).for_organization(organization_id, purpose)
    rows, has_more = await paginate(session, statement, File.id, page)
    return to_page([FileOut.of(row) for row in rows], has_more)


@router.get("/files/{file_id}", operation_id="retrieve_file", response_model=FileOut)
async def retrieve_file(file_id: str, session: SessionDep, organization_id: OrgDep) -> FileOut:
    """One file and what its line checks counted."""
    return FileOut.of(await service.get_file(session, organization_id, file_id))


@router.get(
    "/files/{file_id}/content",
    operation_id="download_file",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/jsonl": {}}, "description": "The file's bytes."}},
)
async def download_file(
    file_id: str, session: SessionDep, settings: SettingsDep, organization_id: OrgDep
) -> StreamingResponse:
    """The file's bytes, streamed from storage."""
    file = await service.get_file(session, organization_id, file_id)
    return StreamingResponse(
        get_storage(settings).read_chunks(file.storage_key),
        media_type="application/jsonl",
        headers={
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            "Content-Length": str(file.bytes),
        },
    )
