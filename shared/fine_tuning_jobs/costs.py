"""Training cost of a job: the estimate before the provider starts, the actual figure once it is done.

Prices come from the shared pricing file (`shared/pricing`, one source for datasets and jobs);
`auto_epochs` is the OpenAI cookbook's rule that the pricing estimate uses too.
"""

from __future__ import annotations

from decimal import Decimal

from shared.config import Settings

# OpenAI cookbook's rule for `n_epochs: "auto"` (providers.md §3.1): aim at 3 epochs, but train on
# at least 100 and at most 25,000 examples in total, between 1 and 25 epochs.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25
LOCAL = "local"


def auto_epochs(example_count: int) -> int:
    """The epochs `"auto"` is expected to choose for a training file of `example_count` examples."""
    if example_count <= 0:
        return TARGET_EPOCHS
    if example_count * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // example_count)
    if example_count * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // example_count)
    return TARGET_EPOCHS


def estimate_cost(
    settings: Settings,
    provider_kind: str,
    base_model: str,
    *,
    training_examples: int,
    training_tokens: int,
    n_epochs: int | str,
) -> Decimal | None:
    """Trained tokens (training tokens times epochs; validation is free) at the model's price, or None."""
    from shared.pricing.catalog import load_catalog  # shared.pricing uses auto_epochs from here
    from shared.pricing.estimate import estimate_training

    estimate = estimate_training(
        load_catalog(settings.datasets.pricing_file),
        provider_kind=provider_kind,
        model=base_model,
        training_examples=training_examples,
        training_tokens=training_tokens,
        n_epochs=int(n_epochs) if isinstance(n_epochs, int | float) else "auto",
    )
    return estimate.cost


def actual_cost(
    settings: Settings,
    provider_kind: str,
    base_model: str,
    trained_tokens: int | None,
    provider_cost: float | None,
) -> Decimal | None:
    """What the provider charged, or trained tokens at the model's price when it reports only tokens."""
    from shared.pricing.catalog import load_catalog

    if provider_kind == LOCAL:
        return Decimal(0)
    if provider_cost is not None:
        return Decimal(str(provider_cost)).quantize(Decimal("0.0001"))
    entry = load_catalog(settings.datasets.pricing_file).model(provider_kind, base_model)
    if entry is None or entry.price_per_million_tokens is None or trained_tokens is None:
        return None
    return (Decimal(trained_tokens) * entry.price_per_million_tokens / Decimal(1_000_000)).quantize(
        Decimal("0.0001")
    )
