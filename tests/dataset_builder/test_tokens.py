"""Token counting offline: tiktoken's own hashes, exact batched counts, Hugging Face tokenizers."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from services.dataset_builder import tokens
from services.dataset_builder.tokens import HuggingFaceCounter, TiktokenCounter

CORPUS = [
    "Save file",
    "Enregistrer le fichier numéro 42.",
    "  leading and trailing spaces  ",
    "ends with punctuation!",
    "line one\nline two\n",
    "\n\nnewlines first",
    "emoji 😀 and CJK 保存文件 and Arabic حفظ",
    "{count, plural, one {# file} other {# files}}",
    "%1$s of %2$d — 100%",
    "",
    " ",
    "tab\tseparated\tvalues",
    "'s 're 've — contractions don't",
    "<b>bold</b> ⟦b1⟧markup⟦e1⟧",
    "numbers 1234567890 3.14159",
    "ALL CAPS SHOUTING and camelCaseWords",
]


def test_bpe_files_match_the_hashes_tiktoken_expects() -> None:
    from tiktoken_ext import openai_public

    for encoding, (url, expected) in tokens.TIKTOKEN_FILES.items():
        constants = openai_public.ENCODING_CONSTRUCTORS[encoding].__code__.co_consts
        assert url in constants
        assert expected in constants
        path = tokens.install_tiktoken_file(encoding)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == expected


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_joined_counts_equal_one_by_one_counts(encoding: str) -> None:
    counter = TiktokenCounter(encoding)
    plain = tokens.tiktoken_encoding(encoding)
    expected = [len(plain.encode_ordinary(text)) for text in CORPUS]
    assert counter.count(CORPUS).tolist() == expected
    assert counter.count(["has <|endoftext|> inside", "x"]).tolist() == [
        len(plain.encode_ordinary("has <|endoftext|> inside")),
        1,
    ]
    assert counter.count([]).tolist() == []


def test_encodings_load_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import tiktoken.load

    def no_network(path: str) -> bytes:
        raise AssertionError(f"tried to read {path}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    tokens.tiktoken_encoding.cache_clear()
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    assert TiktokenCounter("o200k_base").count(["hello world"]).tolist() == [2]


def test_bpe_openai_agrees_with_tiktoken_on_cl100k() -> None:
    """The package we take the BPE files from is itself a tokenizer: it must agree exactly."""
    bpe_openai = pytest.importorskip("bpe_openai")
    other = bpe_openai.get_encoding("cl100k_base")
    plain = tokens.tiktoken_encoding("cl100k_base")
    for text in CORPUS:
        assert list(other.encode_ordinary(text)) == plain.encode_ordinary(text), text


def test_chat_framing_follows_the_cookbook() -> None:
    counter = TiktokenCounter("o200k_base")
    assert counter.framing(("system", "user", "assistant")) == 12
    assert counter.framing(("user", "assistant")) == 9


def make_model_folder(root: Path, name: str = "test-model", *, template: bool = True) -> Path:
    """A registry folder like the trainer's: config.json, tokenizer.json, tokenizer_config.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder = root / name
    folder.mkdir(parents=True)
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    backend.train_from_iterator(["Save file number 1", "Datei speichern", "Translate from en to de"], trainer)
    backend.save(str(folder / "tokenizer.json"))
    (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 256}))
    chat = (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
        "{% endfor %}"
    )
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": chat} if template else {}))
    return folder


def test_hugging_face_counter_counts_and_frames(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    folder = make_model_folder(tmp_path)
    counter = HuggingFaceCounter("hf:test-model", folder)
    reference = Tokenizer.from_file(str(folder / "tokenizer.json"))
    texts = ["Save file number 12", "Datei speichern", ""]
    assert counter.count(texts).tolist() == [
        len(reference.encode(t, add_special_tokens=False).ids) for t in texts
    ]
    # Per message: <|im_start|>, the role, "\n", <|im_end|>, "\n".
    framing = counter.framing(("user", "assistant"))
    rendered = "<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n"
    assert framing == len(reference.encode(rendered, add_special_tokens=False).ids)
    assert re.fullmatch(r"\d+", str(framing))


def test_hugging_face_counter_without_a_template(tmp_path: Path) -> None:
    counter = HuggingFaceCounter("hf:plain", make_model_folder(tmp_path, "plain", template=False))
    assert counter.framing(("user", "assistant")) == 2 * tokens.CHAT_TOKENS_PER_MESSAGE
