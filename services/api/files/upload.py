"""A multipart body read as it streams: small form fields kept, the `file` part passed on chunk by chunk.

Nothing is buffered whole: each chunk of the request goes through the multipart parser, and the
file's bytes go straight to a sink (storage and the line checks). Starlette's own form parsing would
first spool the whole upload to a temporary file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

MAX_FIELD_BYTES = 1024
Sink = Callable[[bytes], Awaitable[None]]


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


@dataclass
class UploadForm:
    fields: dict[str, str]
    filename: str | None
    file_bytes: int


class StreamingUpload:
    """Feeds a multipart request's `file` part to `sink`; refuses more than `max_file_bytes`."""

    def __init__(
        self, request: Request, sink: Sink, *, max_file_bytes: int, file_field: str = "file"
    ) -> None:
        content_type, options = parse_options_header(request.headers.get("content-type", ""))
        if content_type != b"multipart/form-data" or b"boundary" not in options:
            raise UnsupportedMediaType(
                "Upload the file as multipart/form-data with fields `file` and `purpose`.",
                errors=[{"detail": "expected multipart/form-data", "pointer": "header/Content-Type"}],
            )
        self.request = request
        self.sink = sink
        self.max_file_bytes = max_file_bytes
        self.file_field = file_field
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._part = _Part()
        self._fields: dict[str, str] = {}
        self._filename: str | None = None
        self._file_bytes = 0
        self._file_seen = False
        self._pending: list[bytes] = []  # file bytes the parser produced, not yet given to the sink
        self._parser = MultipartParser(
            options[b"boundary"],
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
                "on_header_end": self._on_header_end,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
            },
            max_header_count=8,
        )

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_end(self) -> None:
        if bytes(self._header_field).lower() == b"content-disposition":
            _, options = parse_options_header(bytes(self._header_value))
            self._part.name = options.get(b"name", b"").decode("utf-8", "replace")
            if b"filename" in options:
                self._part.filename = options[b"filename"].decode("utf-8", "replace")
        self._header_field.clear()
        self._header_value.clear()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.name == self.file_field:
            self._file_bytes += end - start
            if self._file_bytes > self.max_file_bytes:
                raise PayloadTooLarge(f"The file is larger than {self.max_file_bytes} bytes.")
            self._pending.append(bytes(data[start:end]))
        else:
            self._part.data.extend(data[start:end])
            if len(self._part.data) > MAX_FIELD_BYTES:
                raise BadRequest(f"Form field {self._part.name!r} is longer than {MAX_FIELD_BYTES} bytes.")

    def _on_part_end(self) -> None:
        if self._part.name == self.file_field:
            if self._file_seen:
                raise BadRequest("Send exactly one `file` part.")
            self._file_seen = True
            self._filename = self._part.filename
        elif self._part.name:
            self._fields[self._part.name] = self._part.data.decode("utf-8", "replace")

    async def read(self) -> UploadForm:
        """Consume the body; the sink has seen every file byte when this returns."""
        declared = self.request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_file_bytes + 64 * 1024:
            raise PayloadTooLarge(
                f"The upload declares {declared} bytes; the limit is {self.max_file_bytes}."
            )
        async for chunk in self.request.stream():
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise BadRequest(f"Malformed multipart body: {exc}") from exc
            for data in self._pending:
                await self.sink(data)
            self._pending.clear()
        self._parser.finalize()
        if not self._file_seen:
            raise BadRequest(
                "The upload has no `file` part.", errors=[{"detail": "missing", "pointer": "#/file"}]
            )
        return UploadForm(self._fields, self._filename, self._file_bytes)
