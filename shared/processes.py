"""Child processes that must not outlive the process that started them, and forked workers.

A forked worker (`fork_worker`) shares the parent's loaded modules and data copy-on-write, which is
what makes it cheap: GIL-bound work (a dataset build's row cleaning) runs on another core without a
second interpreter's start-up and memory. The child leaves the parent's event loop and
signal handlers behind, dies with its parent, and ends with `os._exit`: no atexit hook or finalizer
touches the connections and files it inherited.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

PR_SET_PDEATHSIG = 1


def die_with_parent(signal_number: int = signal.SIGKILL, *, parent: int | None = None) -> int:
    """Ask Linux to send `signal_number` to this process when its parent dies; return the parent's pid.

    Call it first thing in the child (or as `preexec_fn`): if the parent is already gone, exit at once.
    A started program, which may run this after its parent died, passes the pid it expects.
    """
    parent = os.getppid() if parent is None else parent
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal_number, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
    return parent


def fork_worker(work: Callable[[], None], *, error_file: Path) -> int:
    """Fork a child that runs `work()` and exits 0, or 1 with the traceback in `error_file`; the pid.

    Call it on the event loop's thread. Objects alive at the fork are frozen out of the parent's
    collector while it forks, so the child's collector leaves their pages shared.
    """
    gc.collect()
    gc.freeze()
    try:
        pid = os.fork()
        if pid == 0:
            _run_worker(work, error_file)
    finally:
        gc.unfreeze()
    return pid


def _run_worker(work: Callable[[], None], error_file: Path) -> NoReturn:
    code = 1
    try:
        die_with_parent()
        signal.set_wakeup_fd(-1)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_DFL)
        asyncio._set_running_loop(None)  # the parent's loop runs in the parent, not here
        work()
        code = 0
    except BaseException:
        error_file.write_text(traceback.format_exc())
    finally:
        os._exit(code)


async def wait_worker(pid: int) -> int:
    """A forked worker's exit status (negative: the signal that killed it), without blocking the loop."""
    loop = asyncio.get_running_loop()
    descriptor = os.pidfd_open(pid)  # readable once the process has exited
    try:
        exited = loop.create_future()
        loop.add_reader(descriptor, lambda: None if exited.done() else exited.set_result(None))
        try:
            await exited
        finally:
            loop.remove_reader(descriptor)
    finally:
        os.close(descriptor)
    _, status = os.waitpid(pid, 0)  # noqa: ASYNC222 - it has exited: this only reaps it
    return os.waitstatus_to_exitcode(status)


def kill_workers(pids: list[int]) -> None:
    """Kill and reap forked workers that may still run."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
