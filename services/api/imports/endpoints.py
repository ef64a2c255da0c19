"""Uploading translation files for import, and following the imports."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from pydantic import ValidationError

from services.api.deps import OrgDep, SessionDep, SettingsDep
from services.api.imports.schemas import UPLOAD_BODY, ImportOut
from services.api.imports.upload import receive_upload
from services.api.pagination import Page, PageDep, paginate, to_page
from services.api.routing import AttuneRoute
from shared.errors import NotFound, ValidationFailed
from shared.ids import new_id
from shared.imports.options import ImportOptions
from shared.imports.records import ImportFileError, ImportFormat, InvalidImportFile
from shared.imports.repository import ImportRepository
from shared.imports.service import create_import
from shared.imports.sniff import sniff
from shared.models import ImportJob
from shared.projects.service import get_project
from shared.storage import get_storage, writing
from shared.translation_memories.service import get_translation_memory

router = APIRouter(prefix="/v1", route_class=AttuneRoute, tags=["imports"])

FormatQuery = Annotated[
    ImportFormat | None, Query(description="tmx, xliff, csv or jsonl; detected from the file when omitted.")
]
ApprovedQuery = Annotated[
    bool, Query(description="XLIFF: import every translated unit, not only approved/final ones.")
]
SourceQuery = Annotated[str | None, Query(description="Source language for rows that name none.")]
TargetQuery = Annotated[str | None, Query(description="Target language for rows that name none.")]
ColumnsQuery = Annotated[
    str | None, Query(description='CSV: JSON object mapping fields to headers, e.g. {"key": "String ID"}.')
]


def _options(query: dict[str, Any], fields: dict[str, str]) -> ImportOptions:
    """Query parameters, overridden by same-named form fields, validated (422 naming the field)."""
    raw = {key: value for key, value in {**query, **fields}.items() if value is not None}
    try:
        if isinstance(raw.get("columns"), str):
            raw["columns"] = json.loads(raw["columns"])
        return ImportOptions.model_validate(raw)
    except json.JSONDecodeError as error:
        raise ValidationFailed(
            f"columns is not JSON: {error.msg}", errors=[{"detail": error.msg, "pointer": "query/columns"}]
        ) from None
    except ValidationError as error:
        errors = [
            {"detail": item["msg"], "pointer": "query/" + ".".join(str(p) for p in item["loc"])}
            for item in error.errors(include_url=False, include_input=False)
        ]
        raise ValidationFailed(
            "; ".join(f"{e['pointer']}: {e['detail']}" for e in errors), errors=errors
        ) from None


async def _receive(
    request: Request,
    *,
    session: SessionDep,
    organization_id: str,
    settings: SettingsDep,
    query: dict[str, Any],
    **target: str,
) -> ImportJob:
    storage = get_storage(settings)
    import_id = new_id(ImportJob.id_prefix)
    key = f"imports/{organization_id}/{import_id}"
    async with writing(storage, key) as writer:
        received = await receive_upload(request, writer, settings.storage.max_upload_bytes)
        options = _options(query, received.fields)
        try:
            import_format = sniff(
                received.head,
                file_name=received.file_name,
                declared=options.format,
                complete=received.size <= len(received.head),
            )
        except ImportFileError as error:
            raise InvalidImportFile(
                f"The file cannot be imported: {error.detail}.",
                errors=[{"detail": error.detail, "pointer": "#/file"}],
                line=error.line,
                column=error.column,
            ) from None
        stored = await writer.commit()
    return await create_import(
        session,
        organization_id,
        import_id=import_id,
        stored=stored,
        import_format=import_format,
        options=options,
        file_name=received.file_name,
        **target,
    )


@router.post(
    "/projects/{project_id}/translations/import",
    operation_id="import_project_translations",
    response_model=ImportOut,
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=UPLOAD_BODY,
)
async def import_translations(
    project_id: str,
    request: Request,
    *,
    session: SessionDep,
    organization_id: OrgDep,
    settings: SettingsDep,
    format: FormatQuery = None,
    include_unapproved: ApprovedQuery = False,
    source_language: SourceQuery = None,
    target_language: TargetQuery = None,
    columns: ColumnsQuery = None,
) -> ImportOut:
    """Upload an XLIFF, CSV, JSONL or TMX file of approved translations; it is imported in the background."""
    project = await get_project(session, organization_id, project_id)
    query = {
        "format": format,
        "include_unapproved": include_unapproved,
        "source_language": source_language,
        "target_language": target_language,
        "columns": columns,
    }
    job = await _receive(
        request,
        session=session,
        organization_id=organization_id,
        settings=settings,
        query=query,
        project_id=project.id,
    )
    return ImportOut.model_validate(job)


@router.post(
    "/translation_memories/{translation_memory_id}/import",
    operation_id="import_translation_memory",
    response_model=ImportOut,
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=UPLOAD_BODY,
)
async def import_translation_memory(
    translation_memory_id: str,
    request: Request,
    *,
    session: SessionDep,
    organization_id: OrgDep,
    settings: SettingsDep,
    format: FormatQuery = None,
    include_unapproved: ApprovedQuery = False,
    source_language: SourceQuery = None,
    target_language: TargetQuery = None,
    columns: ColumnsQuery = None,
) -> ImportOut:
    """Upload a TMX (or XLIFF, CSV, JSONL) file into a translation memory, imported in the background."""
    translation_memory = await get_translation_memory(session, organization_id, translation_memory_id)
    query = {
        "format": format,
        "include_unapproved": include_unapproved,
        "source_language": source_language,
        "target_language": target_language,
        "columns": columns,
    }
    job = await _receive(
        request,
        session=session,
        organization_id=organization_id,
        settings=settings,
        query=query,
        translation_memory_id=translation_memory.id,
    )
    return ImportOut.model_validate(job)


@router.get("/imports/{import_id}", operation_id="get_import", response_model=ImportOut)
async def get_import(import_id: str, session: SessionDep, organization_id: OrgDep) -> ImportOut:
    """An import: its status, and its report once it has run."""
    job = await ImportRepository(session).get(organization_id, import_id)
    if job is None:
        raise NotFound(f"Import {import_id!r} not found.")
    return ImportOut.model_validate(job)


@router.get("/imports", operation_id="list_imports", response_model=Page[ImportOut])
async def list_imports(
    session: SessionDep,
    organization_id: OrgDep,
    page: PageDep,
    project_id: Annotated[str | None, Query(description="Only imports into this project.")] = None,
    translation_memory_id: Annotated[str | None, Query(description="Only imports into this TM.")] = None,
) -> Page[ImportOut]:
    """The organization's imports, newest first."""
    statement = ImportRepository(session).for_organization(organization_id)
    if project_id is not None:
        statement = statement.where(ImportJob.project_id == project_id)
    if translation_memory_id is not None:
        statement = statement.where(ImportJob.translation_memory_id == translation_memory_id)
    rows, has_more = await paginate(session, statement, ImportJob.id, page)
    return to_page([ImportOut.model_validate(row) for row in rows], has_more)
