"""FastAPI dependencies of the trainer: settings, store, inference client, and the API key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from services.trainer.errors import OpenAIError
from services.trainer.inference_client import InferenceClient
from services.trainer.store import Store
from shared.config import TrainerSettings


def get_settings(request: Request) -> TrainerSettings:
    """The trainer settings the app was built with."""
    settings: TrainerSettings = request.app.state.settings
    return settings


def get_store(request: Request) -> Store:
    """The trainer's state store."""
    store: Store = request.app.state.store
    return store


def get_inference(request: Request) -> InferenceClient:
    """The client of the inference child process."""
    client: InferenceClient = request.app.state.inference
    return client


SettingsDep = Annotated[TrainerSettings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
InferenceDep = Annotated[InferenceClient, Depends(get_inference)]


def require_api_key(request: Request, settings: SettingsDep) -> None:
    """Every /v1 route needs `Authorization: Bearer <ATTUNE_TRAINER__API_KEY>`."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = settings.api_key.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise OpenAIError(401, "Incorrect API key provided.", code="invalid_api_key")
