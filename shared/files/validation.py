"""Line-by-line checks of a chat fine-tuning JSONL file, fed in chunks as the upload streams.

Each line must be a JSON object with `messages`: known roles, system messages only first, the
conversation starting with the user and never repeating a speaker, at least one assistant message,
and `weight` (on assistant messages only) exactly 0 or 1. The report names every bad line.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal"}
LINE_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}
MIN_TRAINING_EXAMPLES = 10
MAX_REPORTED_ERRORS = 100


class LineError(BaseModel):
    line: int = Field(description="1-based line number in the file.")
    detail: str


class ValidationReport(BaseModel):
    """What the checks found: counts, the bad lines (the first 100), and warnings."""

    line_count: int = 0
    example_count: int = 0
    token_estimate: int = 0
    error_count: int = 0
    errors: list[LineError] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}]
        return sum(len(str(part.get("text", ""))) for part in content if isinstance(part, dict))
    return 0


def check_example(example: Any) -> tuple[str | None, int]:
    """(what is wrong or None, estimated tokens) for one decoded line."""
    if not isinstance(example, dict):
        return "each line must be a JSON object", 0
    if unknown := sorted(set(example) - LINE_KEYS):
        return f"unexpected key(s) {', '.join(unknown)}; a chat example has `messages`", 0
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return "`messages` must be a non-empty list", 0
    previous: str | None = None
    chars = 0
    assistants = 0
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            return f"{where} must be an object", 0
        role = message.get("role")
        if role not in ROLES:
            return f"{where}.role must be one of {', '.join(sorted(ROLES))}, not {role!r}", 0
        if unknown := sorted(set(message) - MESSAGE_KEYS):
            return f"{where} has unexpected key(s) {', '.join(unknown)}", 0
        content = message.get("content")
        if content is None and not (
            role == "assistant" and (message.get("tool_calls") or message.get("function_call"))
        ):
            return f"{where}.content is missing", 0
        if content is not None and not isinstance(content, str | list):
            return f"{where}.content must be a string", 0
        if role in ("system", "developer") and previous not in (None, "system", "developer"):
            return f"{where}: a {role} message may only come before the conversation", 0
        if role == "user" and previous == "user":
            return f"{where}: two user messages in a row; roles must alternate", 0
        if role == "assistant":
            if previous in (None, "system", "developer"):
                return f"{where}: the conversation must start with a user message", 0
            if previous == "assistant":
                return f"{where}: two assistant messages in a row; roles must alternate", 0
            assistants += 1
        if role in ("tool", "function") and previous not in ("assistant", "tool", "function"):
            return f"{where}: a {role} message must follow an assistant message", 0
        if "weight" in message:
            weight = message["weight"]
            if role != "assistant":
                return f"{where}.weight is only allowed on assistant messages", 0
            if isinstance(weight, bool) or weight not in (0, 1):
                return f"{where}.weight must be 0 or 1, not {json.dumps(weight)}", 0
        previous = role
        chars += _content_chars(content)
    if assistants == 0:
        return "the example has no assistant message to learn from", 0
    # About 4 characters per token, plus a few tokens of framing per message.
    return None, chars // 4 + 4 * len(messages) + 3


class LineValidator:
    """Feed bytes in any chunking; `finish()` returns the report."""

    def __init__(self, max_line_bytes: int = 16 * 1024 * 1024) -> None:
        self.report = ValidationReport()
        self.max_line_bytes = max_line_bytes
        self._partial = bytearray()
        self._blank_lines: list[int] = []
        self._skipping = False

    def _error(self, line: int, detail: str) -> None:
        self.report.error_count += 1
        if len(self.report.errors) < MAX_REPORTED_ERRORS:
            self.report.errors.append(LineError(line=line, detail=detail))

    def _check_line(self, raw: bytes) -> None:
        self.report.line_count += 1
        number = self.report.line_count
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            self._blank_lines.append(number)  # an error only if a non-blank line follows
            return
        for blank in self._blank_lines:
            self._error(blank, "empty line")
        self._blank_lines.clear()
        if len(raw) > self.max_line_bytes:
            self._error(number, f"line longer than {self.max_line_bytes} bytes")
            return
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            self._error(number, f"not UTF-8 (byte {exc.start})")
            return
        try:
            example = json.loads(text)
        except (ValueError, RecursionError) as exc:
            self._error(number, f"not valid JSON: {exc}")
            return
        problem, tokens = check_example(example)
        if problem:
            self._error(number, problem)
            return
        self.report.example_count += 1
        self.report.token_estimate += tokens

    def feed(self, chunk: bytes) -> None:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if self._skipping:  # the rest of a line already reported as too long
                self._skipping = False
            else:
                self._partial += chunk[start:end]
                self._check_line(bytes(self._partial))
            self._partial.clear()
            start = end + 1
        if self._skipping:
            return
        self._partial += chunk[start:]
        if len(self._partial) > self.max_line_bytes:
            self.report.line_count += 1
            self._error(self.report.line_count, f"line longer than {self.max_line_bytes} bytes")
            self._partial.clear()
            self._skipping = True

    def finish(self) -> ValidationReport:
        if self._partial:
            self._check_line(bytes(self._partial))
            self._partial.clear()
        self.report.line_count -= len(self._blank_lines)  # trailing blank lines are not lines
        if self.report.example_count == 0 and self.report.error_count == 0:
            self._error(1, "the file holds no examples")
        elif 0 < self.report.example_count < MIN_TRAINING_EXAMPLES:
            self.report.warnings.append(
                f"{self.report.example_count} examples: training files need at least {MIN_TRAINING_EXAMPLES}"
            )
        return self.report
