"""Loading base models, tokenizers and LoRA adapters (training and inference children only)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from services.trainer.registry import MODEL_CARD, ModelSource

LORA_RANK = 8
LORA_ALPHA = 16
MAX_SEQUENCE_LENGTH = 2048


def quiet_libraries() -> None:
    """Silence the known, harmless warnings and progress bars of torch, transformers and peft."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for module in ("transformers", "peft", "torch", "accelerate"):
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)
        warnings.filterwarnings("ignore", category=UserWarning, module=module)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    logging.getLogger("peft").setLevel(logging.ERROR)


def resolve_device(device: str) -> str:
    """`auto` becomes `cuda` when a GPU is visible, else `cpu`."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _gguf_cache_folder(source: ModelSource, cache_root: Path) -> Path:
    """A Hugging Face folder converted once from the GGUF file (GGUF parsing takes ~30 s each load)."""
    assert source.gguf_file is not None
    gguf = Path(source.path) / source.gguf_file
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    target = cache_root / f"{source.name}-{key}"
    if (target / "config.json").is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    with (cache_root / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").is_file():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
        model = AutoModelForCausalLM.from_pretrained(source.path, gguf_file=source.gguf_file)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_root))
        try:
            # The weights are already dequantized to float32; drop the GGUF marker so they can be saved.
            model.hf_quantizer = None  # type: ignore[assignment]
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            _pin_tokenizer_class(staging)
            staging.chmod(0o755)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _pin_tokenizer_class(folder: Path) -> None:
    """Reload tokenizer.json as saved (AutoTokenizer may swap in a model-specific pre-tokenizer)."""
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2))


def model_folder(source: ModelSource, cache_root: Path) -> Path:
    """The Hugging Face folder holding the base model's weights and tokenizer."""
    if source.gguf_file:
        return _gguf_cache_folder(source, cache_root)
    return Path(source.path)


def load_tokenizer(folder: Path) -> Any:
    """The folder's tokenizer, with a pad token (its EOS when it has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ValueError("the base model's tokenizer has no chat template")
    return tokenizer


def load_base_model(folder: Path, device: str) -> Any:
    """The causal LM in the folder, on `device` (bfloat16 on CUDA when supported, float32 otherwise)."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.float32
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        dtype = torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    return model.to(device)  # type: ignore[arg-type]


def max_sequence_length(model: Any) -> int:
    """The longest training sequence: the model's context, capped."""
    positions = getattr(model.config, "max_position_embeddings", None) or MAX_SEQUENCE_LENGTH
    return int(min(positions, MAX_SEQUENCE_LENGTH))


def add_lora(model: Any, init_adapter: str | None) -> Any:
    """A trainable LoRA model: a new adapter on every linear layer, or a previous job's adapter."""
    from peft import LoraConfig, PeftModel, get_peft_model

    if init_adapter:
        return PeftModel.from_pretrained(model, init_adapter, is_trainable=True)
    config = LoraConfig(
        r=LORA_RANK,
        lora_alpha=LORA_ALPHA,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def load_adapter(model: Any, adapter: str) -> Any:
    """The base model with a saved adapter applied (unmerged, for evaluation)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter)


def write_model_card(folder: Path, base_model: str, **extra: Any) -> None:
    """Record in an adapter folder which base model it belongs to."""
    card = {"base_model": base_model, "adapter": True} | extra
    (folder / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n")
