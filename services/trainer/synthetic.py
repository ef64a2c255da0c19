"""Synthetic translation-like chat data for the tiny model's warm-up, tests and benchmarks (stdlib only)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

# fmt: off
ENGLISH_WORDS = [
    "the", "a", "cat", "dog", "bird", "fish", "house", "tree", "river", "city", "road", "book", "letter",
    "friend", "teacher", "child", "mother", "father", "sun", "moon", "water", "bread", "apple", "green",
    "red", "blue", "small", "big", "old", "new", "happy", "quiet", "fast", "slow", "sees", "eats", "reads",
    "writes", "finds", "loves", "wants", "gives", "takes", "opens", "closes", "and", "with", "near",
    "under", "over", "today", "tomorrow", "every", "morning", "evening", "night", "window", "door",
    "garden", "market", "school", "table",
]
# fmt: on

# fmt: off
SYLLABLES = [
    "ka", "lo", "mi", "ra", "ne", "tu", "si", "va", "do", "re", "pa", "li", "zo", "me", "fu", "ga", "hi",
    "no", "ta", "be", "ko", "ru", "se", "wi", "xa", "yo", "el", "an", "or", "is", "ul", "en", "ar", "os",
]
# fmt: on

LANGUAGES = ("elvish", "dwarvish", "orcish", "gnomish")


def dictionary(language: str) -> dict[str, str]:
    """A fixed word-for-word dictionary from English into a made-up language."""
    rng = random.Random(f"attune-lexicon-{language}")
    used: set[str] = set()
    lexicon: dict[str, str] = {}
    for word in ENGLISH_WORDS:
        while True:
            candidate = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
            if candidate not in used:
                break
        used.add(candidate)
        lexicon[word] = candidate
    return lexicon


def sentence(rng: random.Random) -> str:
    """A random English 'sentence' of three to seven words."""
    return " ".join(rng.choice(ENGLISH_WORDS) for _ in range(rng.randint(3, 7)))


def translate(text: str, language: str) -> str:
    """Word-for-word translation of `text` into `language`."""
    lexicon = dictionary(language)
    return " ".join(lexicon.get(word, word) for word in text.split())


def chat_examples(language: str, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """`count` chat examples asking to translate English into `language`."""
    rng = random.Random(f"{language}-{seed}")
    examples = []
    for _ in range(count):
        source = sentence(rng)
        examples.append(
            {
                "messages": [
                    {"role": "system", "content": f"Translate the user's English text into {language}."},
                    {"role": "user", "content": source},
                    {"role": "assistant", "content": translate(source, language)},
                ]
            }
        )
    return examples


def to_jsonl(examples: list[dict[str, Any]]) -> bytes:
    """Examples as UTF-8 JSONL bytes."""
    return "".join(json.dumps(example, ensure_ascii=False) + "\n" for example in examples).encode()


def write_jsonl(path: Path, examples: list[dict[str, Any]]) -> Path:
    """Write examples to `path` as JSONL and return the path."""
    path.write_bytes(to_jsonl(examples))
    return path
