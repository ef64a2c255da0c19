"""One JSONL line per example: OpenAI chat (`messages`) or `prompt`/`completion`.

Rendering a million rows through the prompt one by one would cost more than everything else the
builder does per row, so the prompt is rendered (with issue 3's `render`) once per language pair and
context, around a sentinel in place of the source text; each row then only splices its escaped
source and target between pre-escaped pieces. JSON escaping is per character, so the result is
exactly what `json.dumps(..., ensure_ascii=False)` writes for the rendered example.
"""

from __future__ import annotations

from dataclasses import dataclass
from json.encoder import encode_basestring

from shared.datasets.recipe import OutputFormat
from shared.prompts.service import CompiledPrompt

# JSON allows U+2028/U+2029 raw, but they end a line for `str.splitlines`: escape them (and NEL).
_LINE_BREAKERS = {0x2028: "\\u2028", 0x2029: "\\u2029", 0x85: "\\u0085"}
_SENTINEL = "\x00attune-source-text\x00"
_MAX_CACHED = 10_000


def escape(text: str) -> str:
    """A JSON string literal for `text` (UTF-8, not ASCII-escaped), safe on one line."""
    escaped: str = encode_basestring(text)
    if not escaped.isascii() and ("\u2028" in escaped or "\u2029" in escaped or "\x85" in escaped):
        escaped = escaped.translate(_LINE_BREAKERS)
    return escaped


@dataclass(frozen=True, slots=True)
class Frame:
    """The prompt rendered for one language pair (and context) around the source text."""

    system: str
    user_before: str
    user_after: str
    line_before: str  # everything up to the escaped source text
    line_between: str  # from after the source text up to the escaped target text
    line_end: str
    roles: tuple[str, ...]

    def user(self, source_text: str) -> str:
        return self.user_before + source_text + self.user_after

    def line(self, source_text: str, target_text: str) -> str:
        """The example's JSON line, with its newline."""
        return (
            self.line_before
            + escape(source_text)[1:-1]
            + self.line_between
            + escape(target_text)[1:]
            + self.line_end
        )


class LineRenderer:
    """Renders rows through a compiled prompt into JSONL lines."""

    def __init__(self, prompt: CompiledPrompt, output_format: OutputFormat) -> None:
        self.prompt = prompt
        self.format = output_format
        self.uses_context = "{context}" in prompt.user_template or "{context}" in prompt.system
        self.frames: dict[tuple[str, str, str | None], Frame | None] = {}

    def frame(self, source_language: str, target_language: str, context: str | None) -> Frame | None:
        """The cached frame for a row, or None when the row must be rendered on its own."""
        key = (source_language, target_language, context if self.uses_context else None)
        try:
            return self.frames[key]
        except KeyError:
            pass
        rendered = self.prompt.render(
            source_language=source_language, target_language=target_language, source_text=_SENTINEL,
            context=context,
        )  # fmt: skip
        frame = None
        if rendered.user.count(_SENTINEL) == 1 and _SENTINEL not in rendered.system:
            before, after = rendered.user.split(_SENTINEL)
            frame = self._frame(rendered.system, before, after)
        if len(self.frames) < _MAX_CACHED:
            self.frames[key] = frame
        return frame

    def _frame(self, system: str, before: str, after: str) -> Frame:
        if self.format == "prompt_completion":
            prompt_before = f"{system}\n\n{before}" if system else before
            return Frame(
                system, before, after, '{"prompt":' + escape(prompt_before)[:-1],
                escape(after)[1:] + ',"completion":"', "}\n", ("prompt", "completion"),
            )  # fmt: skip
        opening = '{"messages":['
        roles: tuple[str, ...] = ("user", "assistant")
        if system:
            opening += '{"role":"system","content":' + escape(system) + "},"
            roles = ("system", "user", "assistant")
        return Frame(
            system, before, after, opening + '{"role":"user","content":' + escape(before)[:-1],
            escape(after)[1:] + '},{"role":"assistant","content":"', "}]}\n", roles,
        )  # fmt: skip

    def render(
        self,
        source_language: str,
        target_language: str,
        source_text: str,
        target_text: str,
        context: str | None,
    ) -> tuple[str, str, str, tuple[str, ...]]:
        """(line, system, user, roles) of one row, through its frame when it has one."""
        frame = self.frame(source_language, target_language, context)
        if frame is None:
            rendered = self.prompt.render(
                source_language=source_language, target_language=target_language, source_text=source_text,
                context=context,
            )  # fmt: skip
            frame = self._frame(rendered.system, rendered.user, "")
        return frame.line(source_text, target_text), frame.system, frame.user(source_text), frame.roles
