"""Parsing in a thread, loading in the event loop: the parser works while Postgres ingests the last batch.

The reader is plain blocking Python; running it in a thread keeps the worker's event loop (heartbeats,
other tasks, the COPY itself) responsive, and a bounded queue keeps memory flat however big the file.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
QUEUE_BATCHES = 4


async def in_thread(
    produce: Callable[[], Iterator[T]], *, queue_size: int = QUEUE_BATCHES
) -> AsyncGenerator[T, None]:
    """Items of a blocking iterator run in its own thread; its exception is raised here, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=queue_size)
    stopping = threading.Event()

    def hand_over(item: object) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def work() -> None:
        try:
            for item in produce():
                if stopping.is_set():
                    return
                hand_over(item)
        except BaseException as error:  # handed to the consumer, which re-raises it
            if not stopping.is_set():
                hand_over(error)
            return
        if not stopping.is_set():
            hand_over(_DONE)

    thread = threading.Thread(target=work, name="attune-import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stopping.set()
        while not queue.empty():  # unblock a producer waiting to hand over
            queue.get_nowait()
        await asyncio.to_thread(thread.join)
