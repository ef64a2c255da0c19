"""What the target provider and model impose on a dataset: tokenizer, context, file size, minimum examples."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from services.dataset_builder.tokens import HuggingFaceCounter, TiktokenCounter, TokenCounter
from services.trainer.modeling import MAX_SEQUENCE_LENGTH
from services.trainer.registry import ModelSource, find_base_model
from shared.config import Settings
from shared.pricing.catalog import PricingCatalog

LOCAL = "local"
GGUF_CACHE = "model_cache"  # the trainer converts a GGUF model once into state_dir/model_cache/<name>-<key>/


@dataclass
class ModelProfile:
    """How to count a model's tokens and the limits its provider sets."""

    counter: TokenCounter
    tokenizer: str
    exact: bool
    note: str | None
    context_tokens: int | None
    max_file_bytes: int | None
    min_examples: int


def _local_folder(settings: Settings, source: ModelSource) -> Path | None:
    """The folder with the model's tokenizer.json: its own, or the trainer's conversion of its GGUF."""
    folder = Path(source.path)
    if source.gguf_file is None:
        return folder if (folder / "tokenizer.json").is_file() else None
    converted = sorted(
        (settings.trainer.state_dir / GGUF_CACHE).glob(f"{source.name}-*/tokenizer.json"),
        key=lambda path: path.stat().st_mtime,
    )
    return converted[-1].parent if converted else None


def _context(folder: Path) -> int:
    """The trainer's training context for a model folder: its positions, capped as the trainer caps them."""
    try:
        config = json.loads((folder / "config.json").read_text())
        positions = int(config.get("max_position_embeddings") or MAX_SEQUENCE_LENGTH)
    except (OSError, ValueError, TypeError):
        positions = MAX_SEQUENCE_LENGTH
    return min(positions, MAX_SEQUENCE_LENGTH)


def model_profile(
    settings: Settings, catalog: PricingCatalog, provider_kind: str, model: str | None
) -> ModelProfile:
    """The tokenizer and limits for `model` on `provider_kind` (a fallback tokenizer, marked, if none)."""
    provider = catalog.provider(provider_kind)
    fallback = provider.fallback_tokenizer if provider is not None else "cl100k_base"
    min_examples = provider.min_examples if provider is not None else 1
    max_file_bytes = provider.max_file_bytes if provider is not None else None
    if provider_kind == LOCAL:
        max_file_bytes = settings.trainer.max_file_bytes
        source = find_base_model(settings.trainer.models_dir, model) if model else None
        folder = _local_folder(settings, source) if source is not None else None
        if source is not None and folder is not None:
            return ModelProfile(
                HuggingFaceCounter(f"hf:{source.name}", folder), f"hf:{source.name}", True, None,
                _context(folder), max_file_bytes, min_examples,
            )  # fmt: skip
        why = (
            f"no tokenizer.json for local model {model!r} (a GGUF model gets one once the trainer has "
            "loaded it)"
            if source is not None
            else f"no local model {model!r} in the trainer's registry"
            if model
            else "no model named"
        )
        return ModelProfile(
            TiktokenCounter(fallback, exact=False), fallback, False, f"estimated with {fallback}: {why}",
            MAX_SEQUENCE_LENGTH, max_file_bytes, min_examples,
        )  # fmt: skip
    entry = catalog.model(provider_kind, model) if model else None
    if entry is not None and entry.tokenizer:
        return ModelProfile(
            TiktokenCounter(entry.tokenizer), entry.tokenizer, True, None, entry.context_tokens,
            max_file_bytes, min_examples,
        )  # fmt: skip
    why = f"no tokenizer known for {model!r} on {provider_kind}" if model else "no model named"
    return ModelProfile(
        TiktokenCounter(fallback, exact=False), fallback, False, f"estimated with {fallback}: {why}",
        entry.context_tokens if entry else None, max_file_bytes, min_examples,
    )  # fmt: skip
