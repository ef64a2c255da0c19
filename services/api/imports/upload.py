"""Streaming multipart uploads: the file part goes to storage as it arrives, never whole into memory.

The body is parsed incrementally; bytes past the configured limit end the request with 413 at once
(what was written is removed), whether or not the client declared a Content-Length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from shared.imports.sniff import HEAD_BYTES
from shared.storage import StorageWriter

FILE_FIELD = "file"
MAX_FIELDS = 32
MAX_FIELD_BYTES = 8 * 1024
# Multipart framing around the file: part headers, boundaries and a few small form fields.
FRAMING_ALLOWANCE = 64 * 1024


@dataclass
class Received:
    """What an upload carried besides the stored bytes: their head, the file name and form fields."""

    head: bytes = b""
    size: int = 0
    file_name: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    has_file: bool = False


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str | None = None
    file_name: str | None = None
    value: bytearray = field(default_factory=bytearray)
    started: bool = False


class _Events:
    """Parser callbacks record what happened; the async side then acts on it (writes need awaiting)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self._field = b""
        self._value = b""

    def on_part_begin(self) -> None:
        self.items.append(("begin", b""))

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self.items.append(("header", self._field.lower() + b"\x00" + self._value))
        self._field, self._value = b"", b""

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.items.append(("data", bytes(data[start:end])))

    def on_part_end(self) -> None:
        self.items.append(("end", b""))


def _boundary(request: Request) -> bytes:
    content_type, parameters = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not parameters.get(b"boundary"):
        raise UnsupportedMediaType(
            "Send the file as multipart/form-data, in a part named `file`.",
            errors=[{"detail": "expected multipart/form-data", "pointer": "header/Content-Type"}],
        )
    return parameters[b"boundary"]


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the {max_bytes}-byte upload limit.", limit_bytes=max_bytes
    )


async def receive_upload(request: Request, writer: StorageWriter, max_bytes: int) -> Received:
    """Stream the `file` part into `writer` (not committed) and collect the small form fields."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + FRAMING_ALLOWANCE:
        raise _too_large(max_bytes)
    events = _Events()
    callbacks = {name: getattr(events, name) for name in dir(events) if name.startswith("on_")}
    parser = MultipartParser(_boundary(request), callbacks)  # type: ignore[arg-type]
    received = Received()
    part = _Part()
    async for chunk in request.stream():
        try:
            parser.write(chunk)
        except Exception as error:  # python-multipart raises its own errors for malformed framing
            raise BadRequest(f"The multipart body is malformed: {error}") from None
        for kind, payload in events.items:
            if kind == "begin":
                part = _Part()
            elif kind == "header":
                name, _, value = payload.partition(b"\x00")
                if name == b"content-disposition":
                    _, options = parse_options_header(value)
                    part.name = options.get(b"name", b"").decode("utf-8", "replace")
                    raw_file_name = options.get(b"filename")
                    part.file_name = raw_file_name.decode("utf-8", "replace")[:255] if raw_file_name else None
            elif kind == "data":
                await _take(part, payload, received, writer, max_bytes)
            elif kind == "end" and part.name == FILE_FIELD:
                await _take(part, b"", received, writer, max_bytes)  # an empty file is still a file
            elif kind == "end" and part.name:
                if len(received.fields) >= MAX_FIELDS:
                    raise BadRequest(f"At most {MAX_FIELDS} form fields are accepted.")
                received.fields[part.name] = part.value.decode("utf-8", "replace")
        events.items.clear()
    parser.finalize()
    if not received.has_file:
        raise ValidationFailed(
            "The upload has no file: send it in a multipart part named `file`.",
            errors=[{"detail": "Field required", "pointer": "#/file"}],
        )
    return received


async def _take(
    part: _Part, payload: bytes, received: Received, writer: StorageWriter, max_bytes: int
) -> None:
    if part.name != FILE_FIELD:
        part.value += payload
        if len(part.value) > MAX_FIELD_BYTES:
            raise BadRequest(f"The form field {part.name!r} is longer than {MAX_FIELD_BYTES} bytes.")
        return
    if not part.started:
        if received.has_file:
            raise BadRequest("Send one file per upload.")
        part.started = True
    received.has_file = True
    received.file_name = part.file_name
    received.size += len(payload)
    if received.size > max_bytes:
        raise _too_large(max_bytes)
    if len(received.head) < HEAD_BYTES:
        received.head += payload[: HEAD_BYTES - len(received.head)]
    await writer.write(payload)
