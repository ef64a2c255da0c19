"""The versioned pricing file: per provider, its file limits and per model its price, tokenizer and context.

`prices.json` beside this module is the default; a deployment points `ATTUNE_DATASETS__PRICING_FILE`
at its own copy (same shape, its own `version`) to change prices without a release. Models are matched
by exact name, else by the longest entry that prefixes the name (`gpt-4o-mini-2024-07-18` matches
`gpt-4o-mini`); fine-tuned names (`ft:gpt-4o-mini-2024-07-18:org::id`) are looked up by their base.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PRICING_FILE = Path(__file__).with_name("prices.json")
OpenAiEpochRule = Literal["openai"]


class FixedEpochs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fixed: int = Field(ge=1, description="Epochs the provider trains when asked for `auto`.")


class ModelPricing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price_per_million_tokens: Decimal | None = Field(None, description="Price of 1M trained tokens.")
    tokenizer: str | None = Field(None, description="tiktoken encoding (`o200k_base`, `cl100k_base`).")
    context_tokens: int | None = Field(None, description="Longest training example, in tokens.")


class ProviderPricing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_file_bytes: int | None = Field(None, description="Largest training file the provider takes.")
    min_examples: int = Field(1, ge=1, description="Fewest training examples the provider takes.")
    auto_epochs: OpenAiEpochRule | FixedEpochs = Field(description="How the provider resolves `auto`.")
    fallback_tokenizer: str = Field(description="Encoding used (as an estimate) for unknown models.")
    tokens_per_second: dict[str, float] = Field(
        default_factory=dict, description="Training speed by model (`default` for the rest); local only."
    )
    models: dict[str, ModelPricing] = Field(default_factory=dict)


class PricingCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, description="Names this price list; estimates carry it.")
    currency: str = Field("USD", min_length=3, max_length=3)
    notes: str | None = None
    providers: dict[str, ProviderPricing]

    def provider(self, kind: str) -> ProviderPricing | None:
        return self.providers.get(kind)

    def model(self, kind: str, model: str) -> ModelPricing | None:
        """The entry for `model` on provider `kind` (exact, else longest prefix), or None."""
        provider = self.providers.get(kind)
        if provider is None:
            return None
        name = base_model_name(model)
        if name in provider.models:
            return provider.models[name]
        prefix = max((key for key in provider.models if name.startswith(key)), key=len, default=None)
        return provider.models[prefix] if prefix is not None else None


def base_model_name(model: str) -> str:
    """`ft:gpt-4o-mini-2024-07-18:org:suffix:id` -> `gpt-4o-mini-2024-07-18`; other names unchanged."""
    if model.startswith("ft:"):
        parts = model.split(":")
        if len(parts) > 1 and parts[1]:
            return parts[1]
    return model


@lru_cache(maxsize=8)
def _load(path: Path, modified_ns: int) -> PricingCatalog:
    return PricingCatalog.model_validate(json.loads(path.read_text(encoding="utf-8")))


def load_catalog(path: Path | None = None) -> PricingCatalog:
    """The pricing file at `path` (default: the one shipped here); re-read when the file changes."""
    path = path or DEFAULT_PRICING_FILE
    return _load(path, path.stat().st_mtime_ns)
