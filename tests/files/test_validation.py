"""Line checks of chat fine-tuning JSONL, fed in arbitrary chunks."""

from __future__ import annotations

import json

import pytest

from shared.files.validation import LineValidator, ValidationReport
from tests.fixtures.jobs import chat_lines

USER = {"role": "user", "content": "Hello"}
ASSISTANT = {"role": "assistant", "content": "Bonjour"}


def check(content: bytes, chunk: int = 7) -> ValidationReport:
    validator = LineValidator(max_line_bytes=4096)
    for start in range(0, len(content), chunk):
        validator.feed(content[start : start + chunk])
    return validator.finish()


def line(messages: list[object], **extra: object) -> str:
    return json.dumps({"messages": messages, **extra})


@pytest.mark.parametrize("chunk", [1, 5, 64, 10_000])
def test_a_valid_file_counts_examples_in_any_chunking(chunk: int) -> None:
    report = check(("\n".join(chat_lines(12)) + "\n").encode(), chunk)
    assert report.ok and report.line_count == 12 and report.example_count == 12 and report.token_estimate > 0


@pytest.mark.parametrize(
    ("bad", "detail"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (line([]), "non-empty list"),
        (json.dumps({"prompt": "a", "completion": "b"}), "unexpected key(s) completion, prompt"),
        (line([USER]), "no assistant message"),
        (line([ASSISTANT]), "must start with a user message"),
        (line([USER, USER, ASSISTANT]), "two user messages in a row"),
        (line([USER, ASSISTANT, ASSISTANT]), "two assistant messages in a row"),
        (
            line([USER, {"role": "system", "content": "late"}, ASSISTANT]),
            "may only come before the conversation",
        ),
        (line([USER, {"role": "robot", "content": "x"}]), "role must be one of"),
        (line([USER, {**ASSISTANT, "weight": 0.5}]), "weight must be 0 or 1, not 0.5"),
        (line([USER, {**ASSISTANT, "weight": True}]), "weight must be 0 or 1, not true"),
        (line([{**USER, "weight": 1}, ASSISTANT]), "weight is only allowed on assistant messages"),
        (line([USER, {"role": "assistant"}]), "content is missing"),
        (line([USER, {**ASSISTANT, "extra": 1}]), "unexpected key(s) extra"),
        (line([{"role": "tool", "content": "x"}, ASSISTANT]), "must follow an assistant message"),
    ],
)
def test_each_bad_line_is_named_with_its_problem(bad: str, detail: str) -> None:
    good = chat_lines(3)
    report = check("\n".join([good[0], bad, good[1], good[2]]).encode())
    assert report.error_count == 1 and report.example_count == 3
    assert report.errors[0].line == 2 and detail in report.errors[0].detail


def test_weights_zero_and_one_and_tool_turns_are_fine() -> None:
    turns = [
        {"role": "system", "content": "s"}, USER, {**ASSISTANT, "weight": 0},
        USER, {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}], "weight": 1},
        {"role": "tool", "content": "42", "tool_call_id": "c1"}, ASSISTANT,
    ]  # fmt: skip
    assert check(line(turns).encode()).ok


def test_blank_lines_inside_are_errors_but_trailing_ones_are_not() -> None:
    report = check(("\n".join(chat_lines(2)) + "\n\n" + chat_lines(1)[0] + "\n\n\n").encode())
    assert [(e.line, e.detail) for e in report.errors] == [(3, "empty line")]
    assert report.line_count == 4


def test_bom_crlf_and_bad_utf8() -> None:
    content = b"\xef\xbb\xbf" + "\r\n".join(chat_lines(2)).encode() + b"\r\n\xff\xfe\n"
    report = check(content)
    assert report.example_count == 2 and [e.line for e in report.errors] == [3]
    assert "not UTF-8" in report.errors[0].detail


def test_overlong_lines_and_empty_files() -> None:
    report = check(
        chat_lines(1)[0].encode() + b"\n" + b"x" * 10_000 + b"\n" + chat_lines(1)[0].encode(), chunk=300
    )
    assert [(e.line, e.detail) for e in report.errors] == [(2, "line longer than 4096 bytes")]
    assert report.example_count == 2
    assert check(b"").errors[0].detail == "the file holds no examples"


def test_the_report_lists_at_most_100_lines_but_counts_all() -> None:
    report = check(b"{bad\n" * 250)
    assert report.error_count == 250 and len(report.errors) == 100


def test_few_examples_warn() -> None:
    report = check("\n".join(chat_lines(3)).encode())
    assert report.ok and report.warnings == ["3 examples: training files need at least 10"]
