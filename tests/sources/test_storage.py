"""Local storage: streamed writes become visible on commit only; aborted writes leave nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.storage import LocalStorage, writing


async def test_write_commit_read_delete(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    writer = await storage.open_writer("files/org_1/a.jsonl")
    for _ in range(3):
        await writer.write(b"x" * 700_000)
    assert not storage.path("files/org_1/a.jsonl").exists(), "invisible until committed"
    stored = await writer.commit()
    assert (stored.size, len(stored.sha256)) == (2_100_000, 64)
    chunks = [chunk async for chunk in storage.read_chunks("files/org_1/a.jsonl", 1 << 20)]
    assert sum(map(len, chunks)) == 2_100_000 and len(chunks) == 3
    assert await storage.size("files/org_1/a.jsonl") == 2_100_000
    await storage.delete("files/org_1/a.jsonl")
    assert not storage.path("files/org_1/a.jsonl").exists()


async def test_an_aborted_write_leaves_nothing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(RuntimeError):
        async with writing(storage, "imports/x") as writer:
            await writer.write(b"partial")
            raise RuntimeError("client went away")
    assert list((tmp_path / ".partial").iterdir()) == [] and not (tmp_path / "imports").exists()


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/../b", "a b"])
def test_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        LocalStorage(tmp_path).path(key)
