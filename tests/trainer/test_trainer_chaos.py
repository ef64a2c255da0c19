"""Cancel a running job, and SIGKILL the trainer mid-job: the job resumes from its last checkpoint."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from trainer_helpers import TINY, TrainerServer, all_events, metric_steps, upload, wait_for, wait_for_status

from services.trainer import synthetic


def _latest_step(client: openai.OpenAI, job_id: str) -> int:
    """The newest metrics step of a job (0 before the first)."""
    events = client.fine_tuning.jobs.list_events(job_id, limit=5).data
    return max((event.data["step"] for event in events if event.type == "metrics"), default=0)


@pytest.mark.slow
def test_cancel_stops_training_within_seconds_and_saves_a_checkpoint(
    trainer: TrainerServer, client: openai.OpenAI
) -> None:
    training_file = upload(client, synthetic.chat_examples("orcish", 100, seed=3))
    job = client.fine_tuning.jobs.create(
        model=TINY, training_file=training_file, hyperparameters={"n_epochs": 10, "batch_size": 1}
    )
    wait_for(lambda: _latest_step(client, job.id) >= 3, timeout=120, what="three training steps")
    step_at_cancel = _latest_step(client, job.id)
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    wait_for(lambda: not trainer.health()["running"], timeout=60, what="the training process to exit")
    # Training stops at its next step (the one in flight when the cancel arrived may still finish).
    assert _latest_step(client, job.id) <= step_at_cancel + 4
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert len(checkpoints) == 1 and checkpoints[0].step_number == _latest_step(client, job.id)
    steps = metric_steps(client, job.id)
    assert steps == list(range(1, len(steps) + 1)) and len(steps) < 1000
    messages = [event.message for event in all_events(client, job.id)]
    assert f"Training stopped at step {steps[-1]}/1000." in messages
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"


@pytest.mark.slow
def test_cancelling_a_finished_job_is_a_400(client: openai.OpenAI) -> None:
    job = client.fine_tuning.jobs.create(model=TINY, training_file=upload(client, [{"prompt": "a"}] * 10))
    wait_for_status(client, job.id, {"failed"}, timeout=30)
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)


@pytest.mark.slow
@pytest.mark.chaos
def test_killed_trainer_resumes_from_its_last_checkpoint(tmp_path: Path, models_dir: Path) -> None:
    server = TrainerServer(tmp_path / "state", models_dir).start()
    try:
        client = server.client()
        training_file = upload(client, synthetic.chat_examples("orcish", 60, seed=4))
        job = client.fine_tuning.jobs.create(
            model=TINY, training_file=training_file, hyperparameters={"n_epochs": 8, "batch_size": 4}, seed=5
        )
        # 15 steps per epoch, 120 in all: kill after the first checkpoint, mid-epoch.
        wait_for(
            lambda: (
                client.fine_tuning.jobs.checkpoints.list(job.id).data
                and _latest_step(client, job.id) % 15 >= 3
            ),
            timeout=120,
            interval=0.05,
            what="a checkpoint and a few more steps",
        )
        children = server.children()
        assert children, "the training process should be running"
        server.kill()
        assert not any(child.is_running() for child in children)
        killed_at = metric_steps(client_after := server.start().client(), job.id)[-1]
        checkpoint_step = max(c.step_number for c in client_after.fine_tuning.jobs.checkpoints.list(job.id))
        assert checkpoint_step < killed_at < 120
        finished = wait_for_status(client_after, job.id, {"succeeded", "failed", "cancelled"}, timeout=180)
        assert finished.status == "succeeded", finished.error
        assert metric_steps(client_after, job.id) == list(range(1, 121))
        steps = sorted(
            c.step_number for c in client_after.fine_tuning.jobs.checkpoints.list(job.id, limit=100)
        )
        assert steps == list(range(15, 121, 15))
        messages = [event.message for event in all_events(client_after, job.id)]
        assert f"Resumed from the checkpoint at step {checkpoint_step}/120." in messages
        assert messages.count("The job has successfully completed.") == 1
    finally:
        server.stop()
