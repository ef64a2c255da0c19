"""Prompts: templates checked once, rendered per row with `str.format_map` (C speed).

Templates use Python's brace syntax with named placeholders only: `{source_language}`,
`{target_language}`, `{context}`, `{source_text}`; a literal brace is written `{{` or `}}`. The system
text may use the same placeholders. `compile_prompt` checks a template and caches the result, so the
dataset builder pays for the check once per prompt and a couple of microseconds per rendered row.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import NotFound, ValidationFailed
from shared.events.service import record_event
from shared.models import Prompt
from shared.prompts.repository import PromptRepository

PLACEHOLDERS = ("source_language", "target_language", "context", "source_text")


class PromptTemplateError(ValueError):
    """A template that cannot be rendered; `field` is `system` or `user_template`."""

    def __init__(self, field: str, detail: str, placeholder: str | None = None) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail
        self.placeholder = placeholder


class RenderedPrompt(NamedTuple):
    """The two messages of one example (a tuple: made per row, so it must be cheap)."""

    system: str
    user: str


def _check(field: str, template: str) -> bool:
    """Whether the template has placeholders; raises on an unknown, positional or decorated one."""
    has_fields = False
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise PromptTemplateError(field, f"{error}; write a literal brace as {{{{ or }}}}") from None
    for _, name, format_spec, conversion in parsed:
        if name is None:
            continue
        has_fields = True
        if name == "" or name.isdigit():
            raise PromptTemplateError(
                field, "positional placeholders ({} or {0}) are not allowed; use a name", name
            )
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + known + "}" for known in PLACEHOLDERS)
            raise PromptTemplateError(
                field, f"unknown placeholder {{{name}}}; the placeholders are {known}", name
            )
        if format_spec or conversion:
            raise PromptTemplateError(
                field, f"placeholder {{{name}}} must not carry a format or conversion", name
            )
    return has_fields


@dataclass(frozen=True, slots=True)
class CompiledPrompt:
    """A checked prompt; `render` fills it in."""

    system: str
    user_template: str
    system_has_placeholders: bool

    def render(
        self, *, source_language: str, target_language: str, source_text: str, context: str | None = None
    ) -> RenderedPrompt:
        values = {
            "source_language": source_language,
            "target_language": target_language,
            "context": context or "",
            "source_text": source_text,
        }
        system = self.system.format_map(values) if self.system_has_placeholders else self.system
        return RenderedPrompt(system, self.user_template.format_map(values))


@lru_cache(maxsize=256)
def compile_prompt(system: str, user_template: str) -> CompiledPrompt:
    """Check both templates (PromptTemplateError names the field and placeholder) and cache the result."""
    system_has_placeholders = _check("system", system)
    _check("user_template", user_template)
    if "{source_text}" not in user_template.replace("{{", "").replace("}}", ""):
        raise PromptTemplateError("user_template", "the template must contain {source_text}")
    # Unescape `{{` in a system text without placeholders once, so rendering can skip format_map.
    if not system_has_placeholders:
        system = system.format_map({})
    return CompiledPrompt(system, user_template, system_has_placeholders)


def render_prompt(
    prompt: Prompt | CompiledPrompt,
    *,
    source_language: str,
    target_language: str,
    source_text: str,
    context: str | None = None,
) -> RenderedPrompt:
    """The system and user messages for one row (the dataset builder calls this per example)."""
    compiled = (
        prompt if isinstance(prompt, CompiledPrompt) else compile_prompt(prompt.system, prompt.user_template)
    )
    return compiled.render(
        source_language=source_language,
        target_language=target_language,
        source_text=source_text,
        context=context,
    )


def checked(system: str, user_template: str) -> None:
    """Raise a 422 naming the field and placeholder when a template is not renderable."""
    try:
        compile_prompt(system, user_template)
    except PromptTemplateError as error:
        extra = {"placeholder": error.placeholder} if error.placeholder is not None else {}
        raise ValidationFailed(
            f"{error.field}: {error.detail}",
            errors=[{"detail": error.detail, "pointer": f"#/{error.field}", **extra}],
        ) from None


async def create_prompt(
    session: AsyncSession, organization_id: str, *, name: str, system: str, user_template: str
) -> Prompt:
    """A new prompt; 422 when a template has an unknown placeholder."""
    checked(system, user_template)
    prompt = await PromptRepository(session).add(
        Prompt(organization_id=organization_id, name=name, system=system, user_template=user_template)
    )
    await record_event(session, organization_id, "prompt.created", {"id": prompt.id}, subject_id=prompt.id)
    return prompt


async def get_prompt(session: AsyncSession, organization_id: str, prompt_id: str) -> Prompt:
    """The organization's live prompt, or 404."""
    prompt = await PromptRepository(session).get(organization_id, prompt_id)
    if prompt is None:
        raise NotFound(f"Prompt {prompt_id!r} not found.")
    return prompt


async def update_prompt(
    session: AsyncSession,
    organization_id: str,
    prompt_id: str,
    *,
    name: str | None = None,
    system: str | None = None,
    user_template: str | None = None,
) -> Prompt:
    """Change a prompt; the templates are checked as at creation."""
    prompt = await PromptRepository(session).get(organization_id, prompt_id, for_update=True)
    if prompt is None:
        raise NotFound(f"Prompt {prompt_id!r} not found.")
    checked(system if system is not None else prompt.system, user_template or prompt.user_template)
    if name is not None:
        prompt.name = name
    if system is not None:
        prompt.system = system
    if user_template is not None:
        prompt.user_template = user_template
    await session.flush()
    await session.refresh(prompt)
    return prompt


async def delete_prompt(session: AsyncSession, organization_id: str, prompt_id: str) -> Prompt:
    """Soft-delete: hidden from the API, still readable by datasets and jobs that name it."""
    prompt = await PromptRepository(session).get(organization_id, prompt_id, for_update=True)
    if prompt is None:
        raise NotFound(f"Prompt {prompt_id!r} not found.")
    prompt.deleted_at = datetime.now(UTC)
    await session.flush()
    await session.refresh(prompt)
    return prompt
