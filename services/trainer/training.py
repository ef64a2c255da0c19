"""The LoRA training loop of one job (training child only; imports torch inside functions)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.trainer import checkpoints, modeling
from services.trainer.datasets import DatasetError, read_examples
from services.trainer.metrics import BatchScore, Evaluator, score_batch
from services.trainer.registry import ModelSource, fine_tuned_model_name
from services.trainer.store import Store, now
from services.trainer.tokenization import TokenizedExample, collate, tokenize_examples

VALIDATION_POINTS = 25


class Stopped(Exception):
    """Training stopped early: the job was cancelled or the server went away."""


@dataclass(frozen=True)
class Plan:
    """What a job trains: its model, data and resolved hyperparameters."""

    job: dict[str, Any]
    base: ModelSource
    device: str
    cache_root: Path

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The resolved hyperparameters (set when the files were validated)."""
        resolved: dict[str, Any] = self.job["resolved"]
        return resolved


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """One epoch's batches: shuffled, grouped by length in windows of 50 batches to cut padding."""
    rng = random.Random(f"{seed}-epoch-{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda index: -lengths[index])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _load_split(store: Store, file_id: str | None, tokenizer: Any, max_length: int) -> list[TokenizedExample]:
    """Tokenized examples of a stored file (empty without a file)."""
    if file_id is None:
        return []
    record = store.get("files", file_id)
    if record is None:
        raise DatasetError("file_not_found", f"File {file_id} no longer exists.", "training_file")
    return tokenize_examples(tokenizer, read_examples(Path(record["path"])), max_length)


def _message(step: int, total: int, metrics: dict[str, Any]) -> str:
    """The human line of a metrics event, as OpenAI writes it."""
    parts = [f"training loss={metrics['train_loss']:.4f}"]
    if "valid_loss" in metrics:
        parts.append(f"validation loss={metrics['valid_loss']:.4f}")
    if "full_valid_loss" in metrics:
        parts.append(f"full validation loss={metrics['full_valid_loss']:.4f}")
    return f"Step {step}/{total}: " + ", ".join(parts)


class Run:
    """One training process's run of a job, from scratch or from its last checkpoint."""

    def __init__(self, store: Store, plan: Plan, should_stop: Callable[[], bool]) -> None:
        self.store, self.plan, self.job, self.should_stop = store, plan, plan.job, should_stop
        self.fine_tuned_model = fine_tuned_model_name(plan.base.name, self.job["suffix"], self.job["id"])

    def setup(self) -> None:
        """Load the model, tokenize the data, and build the optimizer and schedule."""
        import torch

        hp = self.plan.hyperparameters
        torch.manual_seed(self.job["seed"])
        random.seed(self.job["seed"])
        folder = modeling.model_folder(self.plan.base, self.plan.cache_root)
        self.tokenizer = modeling.load_tokenizer(folder)
        base = modeling.load_base_model(folder, self.plan.device)
        max_length = modeling.max_sequence_length(base)
        self.model = modeling.add_lora(base, self.job["init_adapter"])
        self.train = _load_split(self.store, self.job["training_file"], self.tokenizer, max_length)
        self.valid = _load_split(self.store, self.job["validation_file"], self.tokenizer, max_length)
        if not self.train:
            raise DatasetError(
                "invalid_n_examples", "No training example has a trainable token.", "training_file"
            )
        self.batch_size = min(int(hp["batch_size"]), len(self.train))
        self.steps_per_epoch = math.ceil(len(self.train) / self.batch_size)
        self.total_steps = self.steps_per_epoch * int(hp["n_epochs"])
        self.eval_every = max(1, math.ceil(self.total_steps / VALIDATION_POINTS))
        learning_rate = self.plan.base.learning_rate * float(hp["learning_rate_multiplier"])
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=0.0)
        total = self.total_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: max(0.0, 1.0 - s / total)
        )
        self.evaluator = Evaluator(self.model, self.valid, self.batch_size, self.tokenizer.pad_token_id)
        self.step, self.trained_tokens, self.train_seconds = 0, 0, 0.0

    def resume_or_start(self) -> None:
        """Continue from the newest checkpoint when there is one; announce the start otherwise."""
        latest = checkpoints.latest_resumable(self.store, self.job["id"])
        if latest is None:
            epochs = self.plan.hyperparameters["n_epochs"]
            message = f"Fine-tuning started: {len(self.train)} examples, {self.total_steps} steps "
            message += f"({epochs} epochs of {self.steps_per_epoch}) on {self.plan.device}."
            self.store.add_event(self.job["id"], message)
            return
        row, state_path = latest
        state = checkpoints.restore(self.model, self.optimizer, self.scheduler, Path(row["path"]), state_path)
        self.step, self.trained_tokens = int(state["step"]), int(state["trained_tokens"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.store.add_event(
            self.job["id"], f"Resumed from the checkpoint at step {self.step}/{self.total_steps}."
        )

    def _state(self) -> dict[str, Any]:
        """Everything needed to resume at the current step."""
        return {
            "step": self.step,
            "trained_tokens": self.trained_tokens,
            "train_seconds": self.train_seconds,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": checkpoints.capture_rng(),
        }

    def _pending_batches(self) -> Iterator[tuple[int, list[TokenizedExample]]]:
        """(epoch, batch) for every step still to run."""
        lengths = [len(example.input_ids) for example in self.train]
        for epoch in range(self.step // self.steps_per_epoch, int(self.plan.hyperparameters["n_epochs"])):
            batches = epoch_batches(lengths, self.batch_size, self.job["seed"], epoch)
            for index in range(max(0, self.step - epoch * self.steps_per_epoch), len(batches)):
                yield epoch, [self.train[i] for i in batches[index]]

    def _train_step(self, examples: list[TokenizedExample]) -> BatchScore:
        """One optimizer step; the batch's mean token loss and accuracy."""
        import torch

        batch = {k: v.to(self.plan.device) for k, v in collate(examples, self.tokenizer.pad_token_id).items()}
        self.model.train()
        score = score_batch(self.model, batch)
        score.loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.trained_tokens += int(batch["attention_mask"].sum().item())
        return score

    def _metrics(self, score: BatchScore, epoch_end: bool) -> dict[str, Any]:
        """The metrics event data for the step just taken (validation on its schedule)."""
        metrics: dict[str, Any] = {"step": self.step, "total_steps": self.total_steps}
        metrics |= {"train_loss": score.mean_loss, "train_mean_token_accuracy": score.accuracy}
        last = self.step == self.total_steps
        if self.valid and (self.step % self.eval_every == 0 or last):
            loss, accuracy = self.evaluator.batch(self.step // self.eval_every)
            metrics |= {"valid_loss": loss, "valid_mean_token_accuracy": accuracy}
        if self.valid and (epoch_end or last):
            loss, accuracy = self.evaluator.full()
            metrics |= {"full_valid_loss": loss, "full_valid_mean_token_accuracy": accuracy}
        return metrics

    def run(self) -> None:
        """Train every pending step; checkpoint each epoch; stop early (with a checkpoint) on cancel."""
        started, step_started = time.monotonic(), self.step
        for epoch, examples in self._pending_batches():
            if self.should_stop():
                self._stop()
            tick = time.monotonic()
            score = self._train_step(examples)
            self.step += 1
            epoch_end = self.step % self.steps_per_epoch == 0
            metrics = self._metrics(score, epoch_end)
            self.train_seconds += time.monotonic() - tick
            data = {k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}
            self.store.add_event(
                self.job["id"], _message(self.step, self.total_steps, data), type="metrics", data=data
            )
            if epoch_end:
                reason = f"end of epoch {epoch + 1}"
                checkpoints.save_checkpoint(
                    self.store,
                    self.job,
                    fine_tuned_model=self.fine_tuned_model,
                    metrics=data,
                    model=self.model,
                    training_state=self._state(),
                    reason=reason,
                )
            if self.step % 5 == 0:
                rate = (time.monotonic() - started) / max(1, self.step - step_started)
                remaining = int(rate * (self.total_steps - self.step))
                self.store.update_job(self.job["id"], ("running",), estimated_finish=now() + remaining)

    def _stop(self) -> None:
        """Save a checkpoint at the current step if the job was cancelled, then stop."""
        job = self.store.get("jobs", self.job["id"])
        if job is not None and job["status"] == "cancelled" and self.step > 0:
            checkpoints.save_checkpoint(
                self.store,
                self.job,
                fine_tuned_model=self.fine_tuned_model,
                metrics={"step": self.step},
                model=self.model,
                training_state=self._state(),
                reason="cancelled",
            )
            self.store.add_event(self.job["id"], f"Training stopped at step {self.step}/{self.total_steps}.")
        raise Stopped

    def finish(self) -> None:
        """Save the output adapter, the results file, and mark the job succeeded."""
        from services.trainer.results import write_results_file

        output = checkpoints.job_dir(self.store, self.job["id"]) / "model"
        checkpoints.save_adapter(
            self.model, output, self.plan.base.name, fine_tuned_model=self.fine_tuned_model
        )
        results = write_results_file(self.store, self.job["id"])
        tokens_per_second = self.trained_tokens / max(self.train_seconds, 1e-9)
        data = {"trained_tokens": self.trained_tokens, "train_seconds": round(self.train_seconds, 3)}
        data["tokens_per_second"] = round(tokens_per_second, 1)
        with self.store.transaction() as db:
            done = self.store.update_job(
                self.job["id"],
                ("running",),
                status="succeeded",
                fine_tuned_model=self.fine_tuned_model,
                trained_tokens=self.trained_tokens,
                finished_at=now(),
                output_dir=str(output),
                result_files=[results],
                estimated_finish=None,
            )
            if done:
                message = f"Training finished: {self.total_steps} steps, {self.trained_tokens} tokens"
                self.store.add_event(
                    self.job["id"], message + f" ({tokens_per_second:.0f} tokens/s).", data=data, db=db
                )
                self.store.add_event(
                    self.job["id"], f"New fine-tuned model created: {self.fine_tuned_model}", db=db
                )
                self.store.add_event(self.job["id"], "The job has successfully completed.", db=db)


def train_job(store: Store, plan: Plan, should_stop: Callable[[], bool]) -> None:
    """Train a job to the end (or until stopped), resuming from its last checkpoint if it has one."""
    run = Run(store, plan, should_stop)
    run.setup()
    if should_stop():
        raise Stopped
    run.resume_or_start()
    run.run()
    run.finish()
