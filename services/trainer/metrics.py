"""Loss and token accuracy on assistant tokens, for training steps and validation (child only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.trainer.tokenization import IGNORE_INDEX, TokenizedExample, collate

if TYPE_CHECKING:
    import torch

# Models whose logits are exactly lm_head(hidden): the loss then only projects assistant positions.
PLAIN_HEAD_MODELS = {"llama", "mistral", "qwen2", "qwen3", "phi3", "smollm3", "olmo", "olmo2", "starcoder2"}


@dataclass
class BatchScore:
    """A batch's mean token loss (a tensor, for backward) and its plain-number summaries."""

    loss: torch.Tensor
    tokens: int
    correct: int

    @property
    def mean_loss(self) -> float:
        """The mean token loss as a float."""
        return float(self.loss.detach().float().item())

    @property
    def accuracy(self) -> float:
        """Share of assistant tokens whose argmax prediction is right."""
        return self.correct / max(self.tokens, 1)


def _causal_lm(model: Any) -> Any:
    """The transformers model under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _targets_logits(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at positions that predict an assistant token, and those tokens."""
    labels = batch["labels"][:, 1:]
    mask = labels != IGNORE_INDEX
    lm = _causal_lm(model)
    if getattr(lm.config, "model_type", None) in PLAIN_HEAD_MODELS:
        decoder = getattr(lm, lm.base_model_prefix)
        hidden = decoder(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        logits = lm.get_output_embeddings()(hidden[:, :-1][mask])
    else:
        output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        logits = output.logits[:, :-1][mask]
    return logits.float(), labels[mask]


def score_batch(model: Any, batch: dict[str, torch.Tensor]) -> BatchScore:
    """Mean cross-entropy and correct-token count over a batch's assistant tokens."""
    import torch

    logits, targets = _targets_logits(model, batch)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    correct = int((logits.detach().argmax(dim=-1) == targets).sum().item())
    return BatchScore(loss=loss, tokens=int(targets.numel()), correct=correct)


class Evaluator:
    """Validation: one batch on a schedule (`valid_*`) and the whole split at epoch ends (`full_valid_*`)."""

    def __init__(
        self, model: Any, examples: list[TokenizedExample], batch_size: int, pad_token_id: int
    ) -> None:
        self.model = model
        self.batches = [examples[i : i + batch_size] for i in range(0, len(examples), batch_size)]
        self.pad_token_id = pad_token_id

    def _score(self, examples: list[TokenizedExample]) -> tuple[float, int, int]:
        """Summed loss, token count and correct count of one batch, without gradients."""
        import torch

        device = next(self.model.parameters()).device
        batch = {k: v.to(device) for k, v in collate(examples, self.pad_token_id).items()}
        self.model.eval()
        with torch.no_grad():
            score = score_batch(self.model, batch)
        return score.mean_loss * score.tokens, score.tokens, score.correct

    def batch(self, index: int) -> tuple[float, float]:
        """Mean loss and token accuracy of validation batch `index` (cycling through the split)."""
        loss, tokens, correct = self._score(self.batches[index % len(self.batches)])
        return loss / max(tokens, 1), correct / max(tokens, 1)

    def full(self) -> tuple[float, float]:
        """Token-weighted mean loss and accuracy over the whole validation split."""
        total_loss = 0.0
        total_tokens = total_correct = 0
        for examples in self.batches:
            loss, tokens, correct = self._score(examples)
            total_loss, total_tokens, total_correct = (
                total_loss + loss,
                total_tokens + tokens,
                total_correct + correct,
            )
        return total_loss / max(total_tokens, 1), total_correct / max(total_tokens, 1)


def evaluate_adapter(
    base_folder: str, adapter: str | None, examples: list[dict[str, Any]], batch_size: int
) -> tuple[float, float]:
    """Reload a base model (and adapter) and compute its full validation loss and accuracy on `examples`."""
    from pathlib import Path

    from services.trainer import modeling
    from services.trainer.tokenization import tokenize_examples

    folder = Path(base_folder)
    tokenizer = modeling.load_tokenizer(folder)
    model = modeling.load_base_model(folder, "cpu")
    if adapter:
        model = modeling.load_adapter(model, adapter)
    tokenized = tokenize_examples(tokenizer, examples, modeling.max_sequence_length(model))
    return Evaluator(model, tokenized, batch_size, tokenizer.pad_token_id).full()
