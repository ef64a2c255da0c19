"""Build a tiny Llama-architecture chat model offline, for tests and CI (runs torch; CLI-only import)."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from services.trainer import synthetic
from services.trainer.registry import MODEL_CARD

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
WARMUP_LANGUAGES = ("elvish", "dwarvish", "gnomish")


def _corpus() -> list[str]:
    """Text the byte-level BPE tokenizer learns its merges from."""
    rng = random.Random(7)
    lines = []
    for language in synthetic.LANGUAGES:
        for _ in range(200):
            source = synthetic.sentence(rng)
            lines.append(f"Translate the user's English text into {language}.")
            lines.append(source)
            lines.append(synthetic.translate(source, language))
    return lines


def _build_tokenizer(vocab_size: int) -> Any:
    """A byte-level BPE tokenizer with ChatML special tokens, as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend,
        eos_token="<|im_end|>",  # noqa: S106 - a token, not a password
        pad_token="<|endoftext|>",  # noqa: S106
        chat_template=CHAT_TEMPLATE,
        model_max_length=512,
    )


def _warm_up(model: Any, tokenizer: Any, steps: int, seed: int) -> float:
    """Full-parameter training on synthetic translation chats so LoRA later has a model to adapt."""
    import torch

    from services.trainer.tokenization import collate, tokenize_examples

    examples = []
    for language in WARMUP_LANGUAGES:
        examples += synthetic.chat_examples(language, 200, seed=seed)
    tokenized = tokenize_examples(tokenizer, examples, max_length=128)
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / steps)
    model.train()
    loss_value = float("nan")
    for _ in range(steps):
        batch = collate(rng.sample(tokenized, 16), tokenizer.pad_token_id)
        output = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
        )
        output.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(output.loss.item())
    model.eval()
    return loss_value


def build_tiny_model(
    models_dir: Path, name: str, *, seed: int = 0, warmup_steps: int = 120, overwrite: bool = False
) -> Path:
    """Build, warm up and save the tiny model as `models_dir/name`; return its folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from services.trainer.modeling import quiet_libraries

    quiet_libraries()
    target = models_dir / name
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass --overwrite to rebuild it")
    started = time.monotonic()
    torch.manual_seed(seed)
    tokenizer = _build_tokenizer(vocab_size=1024)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=384,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    final_loss = _warm_up(model, tokenizer, warmup_steps, seed)
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=models_dir))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        card = {
            "description": "Tiny Llama-architecture chat model for tests (synthetic warm-up).",
            "learning_rate": 5e-3,
            "warmup_loss": round(final_loss, 4),
            "parameters": sum(p.numel() for p in model.parameters()),
            "build_seconds": round(time.monotonic() - started, 2),
        }
        (staging / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n")
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
