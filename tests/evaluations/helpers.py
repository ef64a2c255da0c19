"""A provider fake whose chat answers like a base or a fine-tuned model, and succeeded jobs to evaluate."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.config import Settings
from shared.models import Event, FineTuningJob, JobEvaluation
from tests.fixtures.jobs import create_file, create_job
from tests.providers.fakes.openai import FakeOpenAI

# (user message, reference translation); the second keeps a placeholder the fake's base model drops.
PAIRS = [
    ("Save the file", "Enregistrer le fichier"),
    ("You have {count} new messages", "Vous avez {count} nouveaux messages"),
    ("Open the <b>settings</b> page", "Ouvrir la page <b>paramètres</b>"),
    ("Delete %s forever?", "Supprimer %s définitivement ?"),
]


def validation_lines(pairs: list[tuple[str, str]] = PAIRS) -> list[str]:
    return [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Translate from English to French."},
                    {"role": "user", "content": source},
                    {"role": "assistant", "content": target},
                ]
            },
            ensure_ascii=False,
        )
        for source, target in pairs
    ]


class TranslatingFake(FakeOpenAI):
    """Chat answers: fine-tuned models (`ft:` names) give the reference, the base model a poor guess."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.references = dict(PAIRS)
        self.chat_requests: list[dict[str, Any]] = []
        self.respond = self.translate

    async def translate(self, request: Request) -> Response | None:
        if not (request.method == "POST" and request.url.path.endswith("/chat/completions")):
            return None
        body = await request.json()
        self.chat_requests.append(body)
        source = body["messages"][-1]["content"]
        reference = self.references.get(source, source)
        if body["model"].startswith("ft:"):
            content = reference
        else:  # a base model that translates badly and loses every placeholder and tag
            content = "Le " + " ".join(w for w in source.split() if not w.startswith(("{", "<", "%")))
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            }
        )


async def succeeded_job(
    db: AsyncSession, settings: Settings, organization_id: str, *, validation: bool = True, **fields: Any
) -> FineTuningJob:
    """A job that has finished at its provider (set directly: these tests are about what comes after)."""
    training = await create_file(db, settings, organization_id)
    valid = await create_file(db, settings, organization_id, lines=validation_lines()) if validation else None
    job = await create_job(
        db, settings, organization_id, training_file=training.id,
        validation_file=valid.id if valid else None,
    )  # fmt: skip
    values = {"status": "succeeded", "fine_tuned_model": f"ft:{job.model}:acme::{job.id[-8:]}"} | fields
    for name, value in values.items():
        setattr(job, name, value)
    job.next_poll_at, job.finished_at = None, datetime.now(UTC)
    await db.flush()
    return job


async def evaluations_of(db: AsyncSession, job_id: str) -> list[JobEvaluation]:
    rows = await db.scalars(
        select(JobEvaluation).where(JobEvaluation.job_id == job_id).order_by(JobEvaluation.id)
    )
    return list(rows)


async def events_of(db: AsyncSession, job_id: str, type: str) -> list[Event]:
    rows = await db.scalars(select(Event).where(Event.subject_id == job_id, Event.type == type))
    return list(rows)
