"""Chat examples to token ids with loss on assistant tokens only (training child only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.trainer.datasets import message_text

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TokenizedExample:
    """One training example: token ids and labels (IGNORE_INDEX where no loss is taken)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def trained_tokens(self) -> int:
        """Tokens the loss is taken on."""
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


class ChatTemplateError(ValueError):
    """The tokenizer's chat template cannot mark assistant turns (not prefix-stable)."""


def _render(tokenizer: Any, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
    """The chat template applied to `messages`, as text."""
    plain = [{"role": m["role"], "content": message_text(m.get("content"))} for m in messages]
    text = tokenizer.apply_chat_template(plain, tokenize=False, add_generation_prompt=generation_prompt)
    return str(text)


def _segments(tokenizer: Any, messages: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """The rendered conversation cut into (text, trained) pieces, one trained piece per assistant turn."""
    full = _render(tokenizer, messages, generation_prompt=False)
    pieces: list[tuple[str, bool]] = []
    cursor = 0
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:index], generation_prompt=True)
        through = _render(tokenizer, messages[: index + 1], generation_prompt=False)
        if not (through.startswith(prompt) and full.startswith(through) and len(prompt) >= cursor):
            raise ChatTemplateError("the model's chat template does not render conversations prefix-stably")
        pieces.append((full[cursor : len(prompt)], False))
        pieces.append((full[len(prompt) : len(through)], message.get("weight", 1) != 0))
        cursor = len(through)
    pieces.append((full[cursor:], False))
    return [(text, trained) for text, trained in pieces if text]


def tokenize_chat(tokenizer: Any, messages: list[dict[str, Any]], max_length: int) -> TokenizedExample:
    """Token ids and assistant-only labels of one conversation, truncated from the end."""
    input_ids: list[int] = []
    labels: list[int] = []
    for text, trained in _segments(tokenizer, messages):
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        input_ids += ids
        labels += ids if trained else [IGNORE_INDEX] * len(ids)
    return TokenizedExample(input_ids[:max_length], labels[:max_length])


def tokenize_examples(
    tokenizer: Any, examples: list[dict[str, Any]], max_length: int
) -> list[TokenizedExample]:
    """Tokenize chat examples, dropping those left with no trained token after truncation."""
    tokenized = (tokenize_chat(tokenizer, example["messages"], max_length) for example in examples)
    return [example for example in tokenized if example.trained_tokens > 0]


def collate(examples: list[TokenizedExample], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-padded `input_ids`, `attention_mask` and `labels` tensors for a batch."""
    import torch

    width = max(len(example.input_ids) for example in examples)
    input_ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example.input_ids)
        input_ids[row, :length] = torch.tensor(example.input_ids, dtype=torch.long)
        labels[row, :length] = torch.tensor(example.labels, dtype=torch.long)
        attention_mask[row, :length] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
