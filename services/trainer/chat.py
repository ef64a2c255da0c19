"""`/v1/chat/completions` and `/v1/models`: serve base and fine-tuned models for evaluation."""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from services.trainer import service
from services.trainer.datasets import message_text
from services.trainer.deps import InferenceDep, SettingsDep, StoreDep
from services.trainer.errors import OpenAIError, bad_request
from services.trainer.schemas import Model, ModelList

router = APIRouter(tags=["chat"])


class ChatMessage(BaseModel):
    """One chat message in a request."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """`POST /v1/chat/completions` (the subset a local model can honour)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    n: int = Field(1, ge=1, le=8)
    seed: int | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    stream: bool | None = False


class AssistantMessage(BaseModel):
    """The generated message."""

    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None


class Choice(BaseModel):
    """One completion."""

    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class Usage(BaseModel):
    """Token counts."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """A `chat.completion`."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


@router.post("/chat/completions", operation_id="create_chat_completion", response_model=ChatCompletion)
async def create_chat_completion(
    body: ChatCompletionRequest, store: StoreDep, settings: SettingsDep, inference: InferenceDep
) -> ChatCompletion:
    """Complete a chat with a base or fine-tuned model (greedy, so deterministic, at temperature 0)."""
    if body.stream:
        raise bad_request("Streaming is not supported by the built-in trainer.", param="stream")
    resolved = service.resolve_model(store, settings.models_dir, body.model)
    if resolved is None:
        raise OpenAIError(
            404, f"The model '{body.model}' does not exist.", code="model_not_found", param="model"
        )
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    answer = await inference.request(
        {
            "base": resolved.base.model_dump(),
            "adapter": resolved.adapter,
            "messages": [{"role": m.role, "content": message_text(m.content)} for m in body.messages],
            "temperature": 1.0 if body.temperature is None else body.temperature,
            "top_p": body.top_p,
            "max_tokens": body.max_completion_tokens or body.max_tokens,
            "n": body.n,
            "seed": body.seed,
            "stop": stop,
        }
    )
    choices = [
        Choice(
            index=index,
            message=AssistantMessage(content=choice["text"]),
            finish_reason=choice["finish_reason"],
        )
        for index, choice in enumerate(answer["choices"])
    ]
    prompt, completion = int(answer["prompt_tokens"]), int(answer["completion_tokens"])
    return ChatCompletion(
        id="chatcmpl-" + secrets.token_hex(12),
        created=int(time.time()),
        model=body.model,
        choices=choices,
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion),
    )


@router.get("/models", operation_id="list_models", response_model=ModelList)
def list_models(store: StoreDep, settings: SettingsDep) -> ModelList:
    """List base models in the registry and fine-tuned models of succeeded jobs."""
    return ModelList(data=service.list_models(store, settings.models_dir))


@router.get("/models/{model}", operation_id="retrieve_model", response_model=Model)
def retrieve_model(model: str, store: StoreDep, settings: SettingsDep) -> Model:
    """Retrieve one model."""
    found = next((m for m in service.list_models(store, settings.models_dir) if m.id == model), None)
    if found is None:
        raise OpenAIError(404, f"The model '{model}' does not exist.", code="model_not_found", param="model")
    return found
