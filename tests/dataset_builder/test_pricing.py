"""The pricing file and the estimate: prices, `auto` epochs, built-in trainer duration, overrides."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from shared.pricing.catalog import DEFAULT_PRICING_FILE, base_model_name, load_catalog
from shared.pricing.estimate import Throughput, estimate_training, resolve_epochs


def test_models_are_found_by_name_prefix_and_fine_tuned_name() -> None:
    catalog = load_catalog()
    mini = catalog.model("openai", "gpt-4o-mini-2024-07-18")
    assert mini is not None and mini.price_per_million_tokens == Decimal("3.0")
    assert mini.tokenizer == "o200k_base"
    four_o = catalog.model("openai", "gpt-4o-2024-08-06")
    assert four_o is not None and four_o.price_per_million_tokens == Decimal("25.0")
    nano = catalog.model("openai", "ft:gpt-4.1-nano-2025-04-14:acme::abc123")
    assert nano is not None and nano.price_per_million_tokens == Decimal("1.5")
    turbo = catalog.model("openai", "gpt-3.5-turbo-0125")
    assert turbo is not None and turbo.tokenizer == "cl100k_base"
    assert catalog.model("openai", "no-such-model") is None
    assert base_model_name("ft:gpt-4o-mini-2024-07-18:org:suffix:id") == "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize(("examples", "epochs"), [(5, 20), (10, 10), (50, 3), (20_000, 1), (1, 25)])
def test_auto_epochs_follow_the_documented_rule(examples: int, epochs: int) -> None:
    assert resolve_epochs(load_catalog(), "openai", "auto", examples) == epochs
    assert resolve_epochs(load_catalog(), "local", "auto", examples) == epochs


def test_fixed_auto_epochs_and_requested_epochs() -> None:
    catalog = load_catalog()
    assert resolve_epochs(catalog, "together", "auto", 50) == 1
    assert resolve_epochs(catalog, "together", 4, 50) == 4


def test_cost_is_training_tokens_times_epochs_at_the_price() -> None:
    # providers.md §3.1: 100,000 tokens x 3 epochs is about $0.90 on gpt-4o-mini-2024-07-18.
    estimate = estimate_training(
        load_catalog(), provider_kind="openai", model="gpt-4o-mini-2024-07-18",
        training_examples=50, training_tokens=100_000,
    )  # fmt: skip
    assert (estimate.n_epochs, estimate.n_epochs_source) == (3, "auto")
    assert estimate.trained_tokens == 300_000
    assert estimate.cost == Decimal("0.9000")
    assert estimate.pricing_version == load_catalog().version


def test_unknown_price_is_said_not_guessed() -> None:
    estimate = estimate_training(
        load_catalog(), provider_kind="together", model="meta-llama/Llama-3-8b", training_examples=100,
        training_tokens=1000, n_epochs=2,
    )  # fmt: skip
    assert estimate.cost is None and estimate.trained_tokens == 2000
    assert any("No training price" in note for note in estimate.notes)


def test_built_in_trainer_gets_a_duration_not_a_price() -> None:
    catalog = load_catalog()
    default = estimate_training(
        catalog,
        provider_kind="local",
        model="tiny-llama",
        training_examples=100,
        training_tokens=40_000,
        n_epochs=2,
    )
    assert default.cost == Decimal(0)
    assert default.duration_seconds == 80_000 / 20_000
    assert default.throughput_source == "pricing_file"
    measured = estimate_training(
        catalog, provider_kind="local", model="tiny-llama", training_examples=100, training_tokens=40_000,
        n_epochs=2, throughput=Throughput(tokens_per_second=1000, source="measured", jobs=3),
    )  # fmt: skip
    assert measured.duration_seconds == 80.0 and measured.throughput_source == "measured"


def test_a_deployment_overrides_the_pricing_file(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_PRICING_FILE.read_text())
    data["version"] = "acme-2027-01"
    data["providers"]["openai"]["models"]["gpt-4o-mini"]["price_per_million_tokens"] = 2.0
    override = tmp_path / "prices.json"
    override.write_text(json.dumps(data))
    catalog = load_catalog(override)
    estimate = estimate_training(
        catalog, provider_kind="openai", model="gpt-4o-mini", training_examples=50, training_tokens=1_000_000,
        n_epochs=1,
    )  # fmt: skip
    assert (estimate.cost, estimate.pricing_version) == (Decimal("2.0000"), "acme-2027-01")
