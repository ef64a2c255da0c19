"""The inference child: chat completions for base and fine-tuned models, with a small model cache."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import Any

from services.trainer.registry import ModelSource
from services.trainer.runner import set_thread_policy
from shared.processes import die_with_parent

CACHED_MODELS = 3


class ModelCache:
    """Loaded (model, tokenizer) pairs by (base, adapter), least recently used evicted first."""

    def __init__(self, cache_root: Path, device: str) -> None:
        self.cache_root, self.device = cache_root, device
        self._models: OrderedDict[tuple[str, str | None], tuple[Any, Any]] = OrderedDict()

    def get(self, base: ModelSource, adapter: str | None) -> tuple[Any, Any]:
        """The model with its adapter merged in, and its tokenizer (loaded once)."""
        from services.trainer import modeling

        key = (base.model_dump_json(), adapter)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        folder = modeling.model_folder(base, self.cache_root)
        tokenizer = modeling.load_tokenizer(folder)
        model = modeling.load_base_model(folder, self.device)
        if adapter:
            model = modeling.load_adapter(model, adapter).merge_and_unload()
        model.eval()
        self._models[key] = (model, tokenizer)
        while len(self._models) > CACHED_MODELS:
            self._models.popitem(last=False)
        return model, tokenizer


def _truncate_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """The text up to the first stop sequence, and whether one was found."""
    cut = min((text.find(stop) for stop in stops if stop and stop in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def complete(cache: ModelCache, request: dict[str, Any]) -> dict[str, Any]:
    """Generate `n` completions for a chat; greedy when temperature is 0."""
    import torch

    model, tokenizer = cache.get(ModelSource.model_validate(request["base"]), request.get("adapter"))
    prompt = tokenizer.apply_chat_template(request["messages"], tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").to(model.device)
    prompt_tokens = int(inputs["input_ids"].shape[1])
    limit = getattr(model.config, "max_position_embeddings", 2048) - prompt_tokens
    if limit <= 0:
        return {
            "error": {"status": 400, "code": "context_length_exceeded", "message": "The prompt is too long."}
        }
    temperature = request.get("temperature")
    sample = temperature is not None and temperature > 0
    options: dict[str, Any] = {
        "max_new_tokens": min(int(request.get("max_tokens") or 256), limit),
        "do_sample": sample,
        "num_return_sequences": int(request.get("n") or 1) if sample else 1,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if sample:
        options |= {
            "temperature": float(temperature or 0),
            "top_p": float(request.get("top_p") or 1.0),
            "top_k": 0,
        }
    else:
        options |= {"temperature": None, "top_p": None, "top_k": None}
    if request.get("seed") is not None:
        torch.manual_seed(int(request["seed"]))
    with torch.no_grad():
        output = model.generate(**inputs, **options)
    choices, completion_tokens = [], 0
    # Greedy decoding gives one answer; `n` copies of it are what sampling at temperature 0 would give.
    sequences = list(output[:, prompt_tokens:]) * (1 if sample else int(request.get("n") or 1))
    for sequence in sequences:
        tokens = sequence.tolist()
        ended = tokenizer.eos_token_id in tokens
        if ended:
            tokens = tokens[: tokens.index(tokenizer.eos_token_id) + 1]
        completion_tokens += len(tokens)
        text, stopped = _truncate_at_stop(
            tokenizer.decode(tokens, skip_special_tokens=True), request.get("stop") or []
        )
        choices.append({"text": text, "finish_reason": "stop" if ended or stopped else "length"})
    return {"choices": choices, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}


def serve(cache: ModelCache, requests: Any, answers: Any) -> None:
    """Answer JSON-line requests until stdin closes; a failing request answers an error, not a crash."""
    for line in requests:
        if not line.strip():
            continue
        try:
            answer = complete(cache, json.loads(line))
        except Exception as exc:
            traceback.print_exc()
            answer = {
                "error": {"status": 500, "code": "inference_error", "message": f"{type(exc).__name__}: {exc}"}
            }
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main(argv: list[str] | None = None) -> int:
    """Keep stdout for answers only (libraries' prints go to stderr), then serve."""
    parser = argparse.ArgumentParser(prog="python -m services.trainer.inference")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    set_thread_policy()
    die_with_parent()
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    from services.trainer import modeling

    modeling.quiet_libraries()
    device = modeling.resolve_device(args.device.split(",")[0].strip())
    serve(ModelCache(args.state_dir / "model_cache", device), sys.stdin, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
