"""`attune import FILE`: upload translations or a TMX into a project or translation memory."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from services.client.connection import DEFAULT_API_URL, ApiKey, ApiUrl, JsonOutput, connect, fail, poll_until
from services.client.connection import print_json as echo_json
from services.client.render import import_report

FINISHED = ("succeeded", "failed")
FORMAT_TYPES = {
    ".tmx": "application/x-tmx+xml",
    ".xlf": "application/xliff+xml",
    ".xliff": "application/xliff+xml",
}


def _content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return FORMAT_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="TMX, XLIFF, CSV/TSV or JSONL.")
    ],
    *,
    project: Annotated[
        str | None, typer.Option(help="Import approved translations into this project.")
    ] = None,
    translation_memory: Annotated[
        str | None, typer.Option(help="Import units into this translation memory.")
    ] = None,
    all_states: Annotated[
        bool, typer.Option("--all-states", help="XLIFF: every translated unit, not only approved/final ones.")
    ] = False,
    file_format: Annotated[
        str | None, typer.Option("--format", help="tmx, xliff, csv or jsonl (detected when omitted).")
    ] = None,
    source_language: Annotated[str | None, typer.Option(help="Source language for rows naming none.")] = None,
    target_language: Annotated[str | None, typer.Option(help="Target language for rows naming none.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the import and print its report.")
    ] = True,
    json_output: JsonOutput = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
) -> None:
    """Upload a translation file (streamed from disk) and print the import's report."""
    console = Console()
    with connect(api_url, api_key) as api:
        if (project is None) == (translation_memory is None):
            fail("Name exactly one of --project or --translation-memory.", 2)
        path = (
            f"/v1/projects/{project}/translations/import"
            if project is not None
            else f"/v1/translation_memories/{translation_memory}/import"
        )
        fields = {
            "format": file_format,
            "include_unapproved": "true" if all_states else None,
            "source_language": source_language,
            "target_language": target_language,
        }
        data = {name: value for name, value in fields.items() if value is not None}

        def upload() -> dict[str, Any]:
            # A fresh handle per attempt: httpx streams it in chunks, the file is never read whole.
            return {"files": {"file": (file.name, file.open("rb"), _content_type(file))}, "data": data}

        imported: dict[str, Any] = api.post(path, upload=upload)
        if wait:
            imported = poll_until(
                console,
                f"Importing {file.name}...",
                lambda: api.get(f"/v1/imports/{imported['id']}"),
                lambda current: current["status"] in FINISHED,
            )
        if json_output:
            echo_json(imported)
        else:
            console.print(import_report(imported))
        if imported["status"] == "failed":
            raise typer.Exit(1)
