"""The segments of an evaluation: the validation file's examples as prompt, source and reference.

Each line of a chat fine-tuning file is one example; the model is asked exactly what it was trained
on (every message before the last assistant message, usually system + user), the last user message
is the source, and the last assistant message is the reference translation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.providers.base import ChatMessage
from shared.storage import Storage

PROMPT_ROLES = {"system", "developer", "user", "assistant"}


@dataclass(frozen=True)
class Segment:
    line: int  # 1-based line of the validation file
    messages: list[ChatMessage]
    source: str
    reference: str


def text_of(content: Any) -> str:
    """A message's text: a string as is, content parts joined (`[{"type": "text", "text": ...}]`)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def segment_of(line: int, example: Any) -> Segment | None:
    """The segment of one decoded line, or None when it has no user turn or no reference to score."""
    messages = example.get("messages") if isinstance(example, dict) else None
    if not isinstance(messages, list):
        return None
    last_assistant = max(
        (index for index, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"),
        default=None,
    )
    if last_assistant is None:
        return None
    reference = text_of(messages[last_assistant].get("content")).strip()
    prompt = [
        ChatMessage(role=m["role"], content=text_of(m.get("content")))
        for m in messages[:last_assistant]
        if isinstance(m, dict) and m.get("role") in PROMPT_ROLES
    ]
    users = [m.content for m in prompt if m.role == "user"]
    if not reference or not users:
        return None
    return Segment(line=line, messages=prompt, source=users[-1], reference=reference)


def read_segments(storage: Storage, storage_key: str, limit: int) -> list[Segment]:
    """The first `limit` usable examples of a stored JSONL file (blocking: run it in a thread)."""
    segments: list[Segment] = []
    with storage.open_read(storage_key) as stream:
        for number, raw in enumerate(stream, start=1):
            if len(segments) >= limit:
                break
            if not raw.strip():
                continue
            segment = segment_of(number, json.loads(raw.decode("utf-8-sig")))
            if segment is not None:
                segments.append(segment)
    return segments
