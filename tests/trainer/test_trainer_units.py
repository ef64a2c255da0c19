"""Unit tests of the trainer's stdlib parts: file validation, auto hyperparameters, registry, store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.trainer import synthetic
from services.trainer.datasets import (
    DatasetError,
    auto_batch_size,
    auto_epochs,
    check_jsonl,
    resolve_hyperparameters,
    validate_chat_file,
)
from services.trainer.registry import SMOLLM2_NAME, find_base_model, list_base_models, valid_name
from services.trainer.store import Store, new_id, now


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_valid_chat_file_is_summarised(tmp_path: Path) -> None:
    path = synthetic.write_jsonl(tmp_path / "train.jsonl", synthetic.chat_examples("orcish", 12))
    summary = validate_chat_file(path, "training_file")
    assert summary.examples == 12
    assert summary.messages == 36


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("not json", "Line 11 is not valid JSON"),
        ({"prompt": "a", "completion": "b"}, "non-empty 'messages' array"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "at least one assistant message"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "unknown role 'wizard'"),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b", "weight": 2},
                ]
            },
            "must be 0 or 1",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b", "weight": 0},
                ]
            },
            "with weight 1",
        ),
    ],
)
def test_bad_chat_lines_are_named(tmp_path: Path, line: object, fragment: str) -> None:
    good = [json.dumps(example) for example in synthetic.chat_examples("orcish", 10)]
    path = _write(tmp_path / "train.jsonl", [*good, line])
    with pytest.raises(DatasetError) as caught:
        validate_chat_file(path, "training_file")
    assert fragment in caught.value.message
    assert caught.value.code == "invalid_file_format"
    assert caught.value.param == "training_file"


def test_too_few_training_examples(tmp_path: Path) -> None:
    path = synthetic.write_jsonl(tmp_path / "train.jsonl", synthetic.chat_examples("orcish", 3))
    with pytest.raises(DatasetError) as caught:
        validate_chat_file(path, "training_file")
    assert caught.value.code == "invalid_n_examples"
    assert validate_chat_file(path, "validation_file").examples == 3


def test_upload_check_wants_json_objects(tmp_path: Path) -> None:
    assert check_jsonl(_write(tmp_path / "ok.jsonl", [{"a": 1}, ""])) is None
    assert "Line 2" in str(check_jsonl(_write(tmp_path / "bad.jsonl", [{"a": 1}, "[1, 2]"])))
    (tmp_path / "binary.jsonl").write_bytes(b"\xff\xfe\x00")
    assert "UTF-8" in str(check_jsonl(tmp_path / "binary.jsonl"))


def test_auto_hyperparameters_follow_dataset_size() -> None:
    assert [auto_epochs(n) for n in (5, 10, 50, 20_000)] == [20, 10, 3, 1]
    assert [auto_batch_size(n) for n in (10, 128, 300, 600, 5000)] == [1, 2, 4, 8, 16]
    auto = resolve_hyperparameters(
        {"batch_size": "auto", "n_epochs": "auto", "learning_rate_multiplier": "auto"}, 40
    )
    assert auto == {"batch_size": 1, "learning_rate_multiplier": 1.0, "n_epochs": 3}
    explicit = resolve_hyperparameters({"batch_size": 64, "n_epochs": 2, "learning_rate_multiplier": 0.5}, 20)
    assert explicit == {"batch_size": 20, "learning_rate_multiplier": 0.5, "n_epochs": 2}


def test_registry_reads_folders_cards_and_the_smollm2_wheel(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "hf-model").mkdir(parents=True)
    (models / "hf-model" / "config.json").write_text("{}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text("{}")
    (models / "pointer").mkdir()
    (models / "pointer" / "attune-model.json").write_text(
        json.dumps({"path": str(elsewhere), "learning_rate": 1e-3})
    )
    (models / "empty").mkdir()
    names = [source.name for source in list_base_models(models)]
    assert names[:2] == ["hf-model", "pointer"]
    assert "empty" not in names
    pointer = find_base_model(models, "pointer")
    assert pointer is not None and pointer.path == str(elsewhere.resolve()) and pointer.learning_rate == 1e-3
    smollm2 = find_base_model(models, SMOLLM2_NAME)
    assert smollm2 is not None and smollm2.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert Path(smollm2.path, smollm2.gguf_file).is_file()
    assert find_base_model(models, "../etc") is None
    assert not valid_name("a/b") and valid_name("Qwen2.5-0.5B-Instruct")


def test_a_relative_models_dir_finds_its_folders_and_relative_card_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default ATTUNE_TRAINER__MODELS_DIR is the relative var/models
    (tmp_path / "var" / "models" / "hf-model").mkdir(parents=True)
    (tmp_path / "var" / "models" / "hf-model" / "config.json").write_text("{}")
    (tmp_path / "var" / "models" / "linked" / "weights").mkdir(parents=True)
    (tmp_path / "var" / "models" / "linked" / "weights" / "config.json").write_text("{}")
    (tmp_path / "var" / "models" / "linked" / "attune-model.json").write_text(json.dumps({"path": "weights"}))
    hf_model = find_base_model(Path("var/models"), "hf-model")
    assert hf_model is not None and hf_model.path == str(tmp_path / "var" / "models" / "hf-model")
    linked = find_base_model(Path("var/models"), "linked")
    assert linked is not None and linked.path == str(tmp_path / "var" / "models" / "linked" / "weights")


def test_store_pages_and_refuses_duplicate_metric_steps(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for _ in range(5):
        store.insert(
            "files",
            {
                "id": new_id("file-"),
                "created_at": now(),
                "filename": "f",
                "purpose": "fine-tune",
                "bytes": 1,
                "path": "/dev/null",
            },
        )
    first, more = store.page("files", "1 = 1", [], after=None, limit=2)
    second, _ = store.page("files", "1 = 1", [], after=first[-1]["id"], limit=2)
    assert more and [row["seq"] for row in first + second] == [5, 4, 3, 2]
    for step in (1, 2, 2, 3):
        store.add_event("ftjob-x", f"step {step}", type="metrics", data={"step": step, "train_loss": 1.0})
    steps = [
        row["step"] for row in store.all("SELECT step FROM events WHERE job_id = 'ftjob-x' ORDER BY seq")
    ]
    assert steps == [1, 2, 3]


def test_server_and_cli_never_import_torch() -> None:
    code = (
        "import sys; from shared.config import TrainerSettings; import services.trainer.cli; "
        "from services.trainer.app import create_app; import tempfile; "
        "create_app(TrainerSettings(state_dir=tempfile.mkdtemp()), run_scheduler=False); "
        "print(sorted({'torch', 'transformers', 'peft', 'safetensors'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
