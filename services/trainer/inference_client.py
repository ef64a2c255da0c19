"""The server's side of the inference child: JSON lines over its stdin and stdout, one request at a time."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import structlog

from services.trainer.errors import OpenAIError
from services.trainer.scheduler import PROJECT_ROOT

log = structlog.get_logger(__name__)
MAX_LINE_BYTES = 64 * 1024 * 1024


class InferenceClient:
    """Starts `python -m services.trainer.inference` on first use and restarts it if it dies."""

    def __init__(self, state_dir: Path, device: str, timeout: float = 900.0) -> None:
        self.state_dir, self.device, self.timeout = state_dir, device, timeout
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def _ensure_started(self) -> asyncio.subprocess.Process:
        """The live inference process, started if needed."""
        if self._process is not None and self._process.returncode is None:
            return self._process
        env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        stderr = (self.state_dir / "inference.log").open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.trainer.inference",
                "--state-dir",
                str(self.state_dir),
                "--device",
                self.device,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=env,
                limit=MAX_LINE_BYTES,
            )
        finally:
            stderr.close()
        log.info("trainer.inference.started", pid=self._process.pid)
        return self._process

    async def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one request and wait for its answer; raise OpenAIError when the child fails."""
        async with self._lock:
            process = await self._ensure_started()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps(payload).encode() + b"\n")
                await process.stdin.drain()
                line = await asyncio.wait_for(process.stdout.readline(), self.timeout)
            except (TimeoutError, ConnectionError) as exc:
                await self._kill()
                raise OpenAIError(500, f"The inference process failed: {exc!r}", type="server_error") from exc
            if not line:
                await self._kill()
                raise OpenAIError(500, "The inference process exited; try again.", type="server_error")
        answer: dict[str, Any] = json.loads(line)
        error = answer.get("error")
        if error:
            raise OpenAIError(
                int(error.get("status", 500)),
                error["message"],
                code=error.get("code"),
                type="invalid_request_error" if error.get("status") == 400 else "server_error",
            )
        return answer

    async def _kill(self) -> None:
        """Kill the inference process; the next request starts a fresh one."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        self._process = None

    async def close(self) -> None:
        """Stop the inference process (server shutdown)."""
        async with self._lock:
            await self._kill()
