"""Object storage for uploads and built files: local folders now, the same small interface for S3 later.

Writes stream: bytes go to a partial object as they arrive and become visible under their key only
on `commit()`, so a failed or refused upload leaves nothing behind. Reads stream too, in chunks, or
as a blocking file object for parsers that run in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from shared.config import Settings

_KEY = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
# Small writes are gathered and handed to a thread together, so the event loop never blocks on disk.
_FLUSH_BYTES = 1 << 20


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class StorageWriter(Protocol):
    @property
    def size(self) -> int: ...

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> StoredObject: ...

    async def abort(self) -> None: ...


class Storage(Protocol):
    """Where files live; keys are `/`-separated names such as `imports/org_1/imp_2`."""

    async def open_writer(self, key: str) -> StorageWriter: ...

    def open_read(self, key: str) -> BinaryIO:
        """A blocking binary stream (for parsers running in a worker thread)."""
        ...

    def read_chunks(self, key: str, chunk_bytes: int = ...) -> AsyncIterator[bytes]: ...

    async def size(self, key: str) -> int: ...

    async def delete(self, key: str) -> None: ...


def check_key(key: str) -> str:
    """Refuse keys that could leave the storage root (`..`, absolute paths, odd characters)."""
    if not _KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalWriter:
    """Writes to `<root>/.partial/<uuid>` and renames into place on commit."""

    def __init__(self, final_path: Path, partial_path: Path, key: str) -> None:
        self._final = final_path
        self._partial = partial_path
        self._key = key
        self._file: BinaryIO = partial_path.open("wb")
        self._digest = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        self._digest.update(data)
        self._size += len(data)
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= _FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self._pending:
            pending, self._pending, self._pending_bytes = self._pending, [], 0
            await asyncio.to_thread(self._file.writelines, pending)

    async def commit(self) -> StoredObject:
        await self._flush()
        self._file.close()
        self._final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._partial, self._final)
        return StoredObject(self._key, self._size, self._digest.hexdigest())

    async def abort(self) -> None:
        self._pending = []
        self._file.close()
        self._partial.unlink(missing_ok=True)


class LocalStorage:
    """Files under `settings.storage.root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def open_writer(self, key: str) -> LocalWriter:
        final = self.path(key)
        partial_dir = self.root / ".partial"
        partial_dir.mkdir(parents=True, exist_ok=True)
        return LocalWriter(final, partial_dir / uuid.uuid4().hex, key)

    def open_read(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")

    async def read_chunks(self, key: str, chunk_bytes: int = 1 << 20) -> AsyncIterator[bytes]:
        stream = self.open_read(key)
        try:
            while chunk := await asyncio.to_thread(stream.read, chunk_bytes):
                yield chunk
        finally:
            stream.close()

    async def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


@asynccontextmanager
async def writing(storage: Storage, key: str) -> AsyncIterator[StorageWriter]:
    """A writer that is aborted (its partial object removed) when the block raises; commit it yourself."""
    writer = await storage.open_writer(key)
    try:
        yield writer
    except BaseException:
        await writer.abort()
        raise


def get_storage(settings: Settings) -> Storage:
    """The configured storage (local folders; an S3 implementation would be chosen here)."""
    return LocalStorage(settings.storage.root)
