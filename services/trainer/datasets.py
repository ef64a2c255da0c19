"""Chat JSONL validation and `"auto"` hyperparameter resolution (stdlib only; server and child)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_TRAINING_EXAMPLES = 10
ROLES = {"system", "developer", "user", "assistant", "tool"}


class DatasetError(ValueError):
    """A training or validation file that cannot be trained on; becomes the job's `error`."""

    def __init__(self, code: str, message: str, param: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


@dataclass(frozen=True)
class DatasetSummary:
    """What validation learned about a file."""

    examples: int
    messages: int
    characters: int


def message_text(content: Any) -> str:
    """A message's text: a string, or the joined `text` parts of a content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _check_message(message: Any) -> str | None:
    """What is wrong with one message, or None."""
    if not isinstance(message, dict):
        return "each message must be an object"
    role = message.get("role")
    if role not in ROLES:
        return f"unknown role {role!r}; expected one of {sorted(ROLES)}"
    content = message.get("content")
    if role != "assistant" and not isinstance(content, str | list):
        return f"a {role} message needs a 'content' string"
    if role == "assistant" and not isinstance(content, str | list) and "tool_calls" not in message:
        return "an assistant message needs a 'content' string"
    if "weight" in message and (role != "assistant" or message["weight"] not in (0, 1)):
        return "'weight' is allowed on assistant messages only, and must be 0 or 1"
    return None


def _check_example(example: Any) -> str | None:
    """What is wrong with one JSONL line's object, or None."""
    if not isinstance(example, dict):
        return "each line must be a JSON object"
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return "each line needs a non-empty 'messages' array (chat format)"
    for message in messages:
        problem = _check_message(message)
        if problem:
            return problem
    trained = [m for m in messages if m.get("role") == "assistant" and m.get("weight", 1) == 1]
    if not trained:
        return "each example needs at least one assistant message with weight 1"
    return None


def read_examples(path: Path) -> list[dict[str, Any]]:
    """The examples of a chat JSONL file (assumed valid)."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def validate_chat_file(path: Path, param: str) -> DatasetSummary:
    """Check that `path` is chat-format JSONL; raise DatasetError naming the first bad line."""
    examples = messages = characters = 0
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    example = json.loads(line)
                except ValueError:
                    raise DatasetError(
                        "invalid_file_format", f"Line {number} is not valid JSON.", param
                    ) from None
                problem = _check_example(example)
                if problem:
                    raise DatasetError("invalid_file_format", f"Line {number}: {problem}.", param)
                examples += 1
                messages += len(example["messages"])
                characters += sum(len(message_text(m.get("content"))) for m in example["messages"])
    except UnicodeDecodeError:
        raise DatasetError("invalid_file_format", "The file is not UTF-8 text.", param) from None
    except OSError as exc:
        raise DatasetError("file_not_readable", f"The file cannot be read: {exc}", param) from None
    minimum = MIN_TRAINING_EXAMPLES if param == "training_file" else 1
    if examples < minimum:
        message = f"The file has {examples} examples; at least {minimum} are required."
        raise DatasetError("invalid_n_examples", message, param)
    return DatasetSummary(examples=examples, messages=messages, characters=characters)


def check_jsonl(path: Path) -> str | None:
    """Why an upload is not JSONL (UTF-8, one JSON object per non-empty line), or None."""
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip() and not isinstance(_loads_or_none(line), dict):
                    return f"Line {number} is not a JSON object; fine-tuning files must be JSONL."
    except UnicodeDecodeError:
        return "The file is not UTF-8 text; fine-tuning files must be JSONL."
    return None


def _loads_or_none(line: str) -> Any:
    """json.loads, or None when the line is not JSON."""
    try:
        return json.loads(line)
    except ValueError:
        return None


def auto_epochs(examples: int) -> int:
    """OpenAI's documented estimate: 3 epochs, more for small files, fewer for large ones."""
    if examples * 3 < 100:
        return min(25, 100 // max(examples, 1))
    if examples * 3 > 25000:
        return max(1, 25000 // examples)
    return 3


def auto_batch_size(examples: int) -> int:
    """A power of two that grows with the dataset: 1 below 128 examples, up to 16 from 1024."""
    if examples < 128:
        return 1
    return int(min(16, 2 ** math.floor(math.log2(examples / 64))))


def resolve_hyperparameters(requested: dict[str, Any], examples: int) -> dict[str, Any]:
    """Numbers for every `"auto"` hyperparameter, given the training file's example count."""
    batch_size = requested.get("batch_size", "auto")
    epochs = requested.get("n_epochs", "auto")
    multiplier = requested.get("learning_rate_multiplier", "auto")
    return {
        "batch_size": min(auto_batch_size(examples) if batch_size == "auto" else int(batch_size), examples),
        "learning_rate_multiplier": 1.0 if multiplier == "auto" else float(multiplier),
        "n_epochs": auto_epochs(examples) if epochs == "auto" else int(epochs),
    }
