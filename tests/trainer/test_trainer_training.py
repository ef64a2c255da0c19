"""Real LoRA training on the tiny model, driven with the official openai SDK."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openai
import pytest
from trainer_helpers import TINY, TrainerServer, all_events, metric_steps, upload, wait_for_status

from services.trainer import synthetic

SYSTEM = "Translate the user's English text into orcish."


@pytest.fixture(scope="module")
def finished_job(trainer: TrainerServer) -> Any:
    """One 3-epoch job (48 examples, batch 8: 18 steps) with a validation file, run to the end."""
    client = trainer.client()
    training_file = upload(client, synthetic.chat_examples("orcish", 48, seed=1))
    validation_file = upload(client, synthetic.chat_examples("orcish", 16, seed=2), name="valid.jsonl")
    job = client.fine_tuning.jobs.create(
        model=TINY,
        training_file=training_file,
        validation_file=validation_file,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": 8}}},
        seed=7,
        suffix="orcish",
        metadata={"attune_job_id": "training-flow"},
    )
    assert job.status == "validating_files" and job.hyperparameters.n_epochs == 3
    return wait_for_status(client, job.id, {"succeeded", "failed", "cancelled"})


@pytest.mark.e2e
def test_training_lowers_loss_and_reports_every_step(client: openai.OpenAI, finished_job: Any) -> None:
    assert finished_job.status == "succeeded", finished_job.error
    assert finished_job.fine_tuned_model.startswith(f"ft:{TINY}:attune:orcish:")
    assert finished_job.trained_tokens > 0 and finished_job.finished_at is not None
    assert finished_job.hyperparameters.learning_rate_multiplier == 1.0
    assert metric_steps(client, finished_job.id) == list(range(1, 19))
    metrics = [event.data for event in all_events(client, finished_job.id) if event.type == "metrics"]
    assert all(data["total_steps"] == 18 and 0 <= data["train_mean_token_accuracy"] <= 1 for data in metrics)
    first, last = metrics[:3], metrics[-3:]
    assert sum(m["train_loss"] for m in last) / 3 < sum(m["train_loss"] for m in first) / 3 - 0.5
    assert "valid_loss" in metrics[0] and "valid_loss" in metrics[-1]
    full = [m for m in metrics if "full_valid_loss" in m]
    assert [m["step"] for m in full] == [6, 12, 18]
    assert full[-1]["full_valid_loss"] < full[0]["full_valid_loss"]
    messages = [event.message for event in all_events(client, finished_job.id) if event.type == "message"]
    assert messages[-1] == "The job has successfully completed."
    assert f"New fine-tuned model created: {finished_job.fine_tuned_model}" in messages


@pytest.mark.e2e
def test_checkpoints_results_file_and_listing(client: openai.OpenAI, finished_job: Any) -> None:
    checkpoints = client.fine_tuning.jobs.checkpoints.list(finished_job.id)
    assert [c.step_number for c in checkpoints] == [18, 12, 6]
    assert checkpoints.data[0].fine_tuned_model_checkpoint == f"{finished_job.fine_tuned_model}:ckpt-step-18"
    assert checkpoints.data[0].metrics.full_valid_loss is not None
    results = client.files.content(finished_job.result_files[0]).text
    rows = list(csv.DictReader(io.StringIO(results)))
    assert len(rows) == 18 and rows[0]["step"] == "1" and rows[-1]["full_valid_loss"]
    found = client.fine_tuning.jobs.list(metadata={"attune_job_id": "training-flow"})
    assert [job.id for job in found] == [finished_job.id]
    assert finished_job.fine_tuned_model in [model.id for model in client.models.list()]


@pytest.mark.e2e
def test_chat_serves_base_and_fine_tuned_models_deterministically(
    client: openai.OpenAI, finished_job: Any
) -> None:
    messages: Any = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "the cat sees a bird"},
    ]
    answers = [
        client.chat.completions.create(
            model=finished_job.fine_tuned_model, messages=messages, temperature=0, max_tokens=24
        )
        for _ in range(2)
    ]
    assert answers[0].choices[0].message.content == answers[1].choices[0].message.content
    assert answers[0].choices[0].finish_reason in ("stop", "length")
    assert answers[0].usage is not None and answers[0].usage.completion_tokens <= 24
    base = client.chat.completions.create(model=TINY, messages=messages, temperature=0, max_tokens=8, n=2)
    assert base.model == TINY and base.choices[0].message.role == "assistant"
    assert base.choices[0].message.content == base.choices[1].message.content
    checkpoint = f"{finished_job.fine_tuned_model}:ckpt-step-6"
    sampled = client.chat.completions.create(
        model=checkpoint, messages=messages, temperature=1.0, seed=1, n=2, max_tokens=8
    )
    assert len(sampled.choices) == 2


@pytest.mark.e2e
def test_adapter_reloads_with_the_same_validation_loss(
    trainer: TrainerServer, client: openai.OpenAI, finished_job: Any, models_dir: Path
) -> None:
    from services.trainer import modeling
    from services.trainer.metrics import evaluate_adapter

    modeling.quiet_libraries()
    adapter = trainer.state_dir / "jobs" / finished_job.id / "model"
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "attune-model.json").is_file()
    examples = synthetic.chat_examples("orcish", 16, seed=2)
    loss, accuracy = evaluate_adapter(str(models_dir / TINY), str(adapter), examples, batch_size=8)
    final = [e.data for e in all_events(client, finished_job.id) if e.type == "metrics"][-1]
    assert loss == pytest.approx(final["full_valid_loss"], abs=1e-4)
    assert accuracy == pytest.approx(final["full_valid_mean_token_accuracy"], abs=1e-4)
    base_loss, _ = evaluate_adapter(str(models_dir / TINY), None, examples, batch_size=8)
    assert base_loss > loss + 0.5


@pytest.mark.slow
def test_a_fine_tuned_model_can_be_trained_further(client: openai.OpenAI, finished_job: Any) -> None:
    training_file = upload(client, synthetic.chat_examples("orcish", 16, seed=9))
    job = client.fine_tuning.jobs.create(
        model=finished_job.fine_tuned_model,
        training_file=training_file,
        hyperparameters={"n_epochs": 1, "batch_size": 8},
    )
    done = wait_for_status(client, job.id, {"succeeded", "failed", "cancelled"})
    assert done.status == "succeeded", done.error
    assert done.model == finished_job.fine_tuned_model
    assert done.fine_tuned_model.startswith(f"ft:{TINY}:attune::")
    first = next(event.data for event in all_events(client, job.id) if event.type == "metrics")
    previous = [event.data for event in all_events(client, finished_job.id) if event.type == "metrics"][-1]
    assert first["train_loss"] < previous["train_loss"] + 1.0
