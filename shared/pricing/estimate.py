"""What training on a dataset will cost: trained tokens, epochs, price, or (built-in trainer) duration.

Trained tokens = training tokens x epochs (validation tokens are not billed); `"auto"` epochs are
resolved the way the provider documents it (OpenAI's rule for OpenAI, Azure and the built-in trainer;
a fixed count from the pricing file for the others). The built-in trainer costs nothing: its estimate
is a duration from measured tokens per second instead.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from shared.fine_tuning_jobs.costs import auto_epochs
from shared.pricing.catalog import FixedEpochs, PricingCatalog, base_model_name

LOCAL = "local"
Epochs = Literal["auto"] | int


class Throughput(BaseModel):
    """Training speed of the built-in trainer for one base model, and where the figure comes from."""

    tokens_per_second: float = Field(gt=0)
    source: str = Field(description="`measured` (median of recent jobs) or `pricing_file` (a default).")
    jobs: int = Field(0, description="Finished jobs the measurement comes from.")


class Estimate(BaseModel):
    """A cost (hosted providers) or duration (built-in trainer) estimate for one training run."""

    provider: str
    model: str
    n_epochs: int
    n_epochs_source: Literal["requested", "auto"]
    training_examples: int
    training_tokens: int
    trained_tokens: int = Field(description="Training tokens x epochs: what a provider bills.")
    currency: str
    price_per_million_tokens: Decimal | None = Field(description="None when the price is not known.")
    cost: Decimal | None = Field(description="Trained tokens at the price; 0 for the built-in trainer.")
    duration_seconds: float | None = Field(None, description="Built-in trainer: trained tokens / speed.")
    tokens_per_second: float | None = None
    throughput_source: str | None = None
    pricing_version: str
    notes: list[str] = Field(default_factory=list)


def resolve_epochs(catalog: PricingCatalog, provider_kind: str, n_epochs: Epochs, examples: int) -> int:
    """The epochs a run will train: as requested, or the provider's `auto` rule."""
    if n_epochs != "auto":
        return int(n_epochs)
    provider = catalog.provider(provider_kind)
    rule = provider.auto_epochs if provider is not None else "openai"
    return rule.fixed if isinstance(rule, FixedEpochs) else auto_epochs(examples)


def default_throughput(catalog: PricingCatalog, model: str) -> Throughput:
    """The pricing file's training speed of the built-in trainer for `model`."""
    local = catalog.provider(LOCAL)
    speeds = local.tokens_per_second if local is not None else {}
    speed = speeds.get(base_model_name(model), speeds.get("default", 1000.0))
    return Throughput(tokens_per_second=speed, source="pricing_file")


def estimate_training(
    catalog: PricingCatalog,
    *,
    provider_kind: str,
    model: str,
    training_examples: int,
    training_tokens: int,
    n_epochs: Epochs = "auto",
    throughput: Throughput | None = None,
) -> Estimate:
    """Trained tokens and their price (hosted) or the training time (built-in trainer)."""
    epochs = resolve_epochs(catalog, provider_kind, n_epochs, training_examples)
    trained = training_tokens * epochs
    notes: list[str] = []
    price: Decimal | None = None
    cost: Decimal | None = None
    duration: float | None = None
    if provider_kind == LOCAL:
        cost = Decimal(0)
        throughput = throughput or default_throughput(catalog, model)
        duration = round(trained / throughput.tokens_per_second, 1)
    else:
        entry = catalog.model(provider_kind, model)
        price = entry.price_per_million_tokens if entry is not None else None
        if price is None:
            notes.append(f"No training price for {model!r} on {provider_kind} in pricing {catalog.version}.")
        else:
            cost = (Decimal(trained) * price / Decimal(1_000_000)).quantize(Decimal("0.0001"))
    if n_epochs == "auto":
        notes.append(f"`auto` epochs resolved to {epochs} for {training_examples} examples (estimate).")
    return Estimate(
        provider=provider_kind,
        model=model,
        n_epochs=epochs,
        n_epochs_source="auto" if n_epochs == "auto" else "requested",
        training_examples=training_examples,
        training_tokens=training_tokens,
        trained_tokens=trained,
        currency=catalog.currency,
        price_per_million_tokens=price,
        cost=cost,
        duration_seconds=duration,
        tokens_per_second=throughput.tokens_per_second if throughput is not None else None,
        throughput_source=throughput.source if throughput is not None else None,
        pricing_version=catalog.version,
        notes=notes,
    )
