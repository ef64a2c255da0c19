"""Benchmark: the built-in trainer against plain `transformers.Trainer` (same LoRA, data and steps).

Run: .venv/bin/python tests/bench/bench_trainer.py [--model tiny|smollm2|both] [--steps N] [--batch-size B]
Prints tokens per second of training and the peak RSS of each training process, with the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from services.trainer import synthetic  # noqa: E402
from services.trainer.registry import SMOLLM2_NAME, find_base_model  # noqa: E402
from services.trainer.store import Store, new_id, now  # noqa: E402

EPOCHS = 4


def _env(**extra: str) -> dict[str, str]:
    """Child environment: offline, project importable."""
    return os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"} | extra


def _run_measured(command: list[str], log: Path, **extra_env: str) -> tuple[float, int, int]:
    """Run a child; return its wall seconds, exit status and peak RSS in KiB (from wait4)."""
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=_env(**extra_env))
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, process.returncode, usage.ru_maxrss


def prepare(models_dir: Path, state_dir: Path, model: str, steps: int, batch_size: int) -> dict[str, Any]:
    """Write the data, convert the base model once (GGUF cache), and store a runnable job."""
    examples = synthetic.chat_examples("orcish", steps * batch_size // EPOCHS, seed=11)
    store = Store(state_dir)
    path = synthetic.write_jsonl(state_dir / "train.jsonl", examples)
    file_id = new_id("file-")
    store.insert(
        "files",
        {
            "id": file_id,
            "created_at": now(),
            "filename": "train.jsonl",
            "purpose": "fine-tune",
            "bytes": path.stat().st_size,
            "path": str(path),
        },
    )
    job_id = new_id("ftjob-")
    resolved = {"batch_size": batch_size, "learning_rate_multiplier": 1.0, "n_epochs": EPOCHS}
    store.insert(
        "jobs",
        {
            "id": job_id,
            "created_at": now(),
            "model": model,
            "base_model": model,
            "training_file": file_id,
            "hyperparameters": resolved,
            "resolved": resolved,
            "seed": 3,
            "status": "running",
            "result_files": [],
        },
    )
    source = find_base_model(models_dir, model)
    assert source is not None, f"unknown model {model}"
    warm = [
        sys.executable,
        "-c",
        "import sys; from pathlib import Path; from services.trainer import modeling; "
        "from services.trainer.registry import find_base_model; modeling.quiet_libraries(); "
        "print(modeling.model_folder(find_base_model(Path(sys.argv[1]), sys.argv[2]), Path(sys.argv[3])))",
        str(models_dir),
        model,
        str(state_dir / "model_cache"),
    ]
    folder = subprocess.run(warm, env=_env(), check=True, capture_output=True, text=True).stdout.strip()
    return {
        "job_id": job_id,
        "train": str(path),
        "folder": folder.splitlines()[-1],
        "lr": source.learning_rate,
    }


def run_attune(models_dir: Path, state_dir: Path, job: dict[str, Any]) -> dict[str, Any]:
    """The built-in trainer's own training process on the stored job."""
    command = [
        sys.executable,
        "-m",
        "services.trainer.runner",
        "--state-dir",
        str(state_dir),
        "--models-dir",
        str(models_dir),
        "--job-id",
        job["job_id"],
        "--device",
        "cpu",
    ]
    wall, code, rss = _run_measured(command, state_dir / "attune.log")
    store = Store(state_dir)
    record = store.get("jobs", job["job_id"])
    assert code == 0 and record and record["status"] == "succeeded", (state_dir / "attune.log").read_text()[
        -3000:
    ]
    done = store.one(
        "SELECT data FROM events WHERE job_id = ? AND message LIKE 'Training finished%'", job["job_id"]
    )
    losses = store.all(
        "SELECT data FROM events WHERE job_id = ? AND type = 'metrics' ORDER BY step", job["job_id"]
    )
    assert done is not None
    return {
        "tokens": done["data"]["trained_tokens"],
        "train_s": done["data"]["train_seconds"],
        "wall_s": wall,
        "rss_kib": rss,
        **_loss_summary([row["data"]["train_loss"] for row in losses]),
    }


def _loss_summary(losses: list[float]) -> dict[str, float]:
    """First and last train loss, each the mean of a tenth of the steps (one batch's loss is noisy)."""
    window = max(1, len(losses) // 10)
    return {
        "first_loss": sum(losses[:window]) / window,
        "last_loss": sum(losses[-window:]) / window,
    }


def hf_worker(folder: str, train: str, steps: int, batch_size: int, lr: float, out: str) -> None:
    """Child mode: train the same LoRA with `transformers.Trainer` and write its numbers to `out`."""
    from services.trainer import modeling

    modeling.quiet_libraries()
    from transformers import Trainer, TrainingArguments

    from services.trainer.datasets import read_examples
    from services.trainer.tokenization import collate, tokenize_examples

    tokenizer = modeling.load_tokenizer(Path(folder))
    model = modeling.add_lora(modeling.load_base_model(Path(folder), "cpu"), None)
    examples = tokenize_examples(tokenizer, read_examples(Path(train)), modeling.max_sequence_length(model))
    counted = {"tokens": 0}

    def collator(batch: list[Any]) -> dict[str, Any]:
        tensors = collate(batch, tokenizer.pad_token_id)
        counted["tokens"] += int(tensors["attention_mask"].sum())
        return tensors

    arguments = TrainingArguments(
        output_dir=str(Path(out).parent / "hf"),
        per_device_train_batch_size=batch_size,
        max_steps=steps,
        learning_rate=lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=3,
        use_cpu=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=examples, data_collator=collator)  # type: ignore[arg-type]
    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    Path(out).write_text(
        json.dumps(
            {
                "tokens": counted["tokens"],
                "train_s": result.metrics["train_runtime"],
                **_loss_summary(losses),
            }
        )
    )


def run_hf(
    state_dir: Path, job: dict[str, Any], steps: int, batch_size: int, passive: bool
) -> dict[str, Any]:
    """Plain transformers.Trainer in its own process (optionally with the trainer's OpenMP wait policy)."""
    out = state_dir / "hf.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--hf-worker",
        job["folder"],
        job["train"],
        str(steps),
        str(batch_size),
        str(job["lr"]),
        str(out),
    ]
    extra = {"OMP_WAIT_POLICY": "PASSIVE"} if passive else {}
    wall, code, rss = _run_measured(command, state_dir / "hf.log", **extra)
    assert code == 0, (state_dir / "hf.log").read_text()[-3000:]
    return json.loads(out.read_text()) | {"wall_s": wall, "rss_kib": rss}


def bench(model: str, models_dir: Path, steps: int, batch_size: int, policies: list[str]) -> list[str]:
    """Both sides on one model (the baseline once per OpenMP wait policy asked for); table rows."""
    with tempfile.TemporaryDirectory(prefix="bench-trainer-") as tmp:
        state_dir = Path(tmp)
        job = prepare(models_dir, state_dir, model, steps, batch_size)
        ours = run_attune(models_dir, state_dir, job)
        baselines = [
            (policy, run_hf(state_dir, job, steps, batch_size, policy == "passive")) for policy in policies
        ]
    rows = []
    sides = [("attune trainer (OMP passive)", ours)]
    sides += [(f"transformers.Trainer (OMP {policy})", result) for policy, result in baselines]
    for side, result in sides:
        rate = result["tokens"] / result["train_s"]
        result["rate"] = rate
        rows.append(
            f"| {model} | {side} | {steps} | {result['tokens']} | {result['train_s']:.1f} | {rate:.0f} | "
            f"{result['wall_s']:.1f} | {result['rss_kib'] / 1024:.0f} | "
            f"{result['first_loss']:.3f} → {result['last_loss']:.3f} |"
        )
    for policy, theirs in baselines:
        ratio = ours["rate"] / theirs["rate"]
        memory = theirs["rss_kib"] / ours["rss_kib"]
        rows.append(
            f"| {model} | **ratio attune / HF (OMP {policy})** | | | | **{ratio:.2f}x** | | "
            f"HF/attune RSS {memory:.2f}x | |"
        )
    return rows


def main() -> None:
    """Parse arguments and print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["tiny", "smollm2", "both"], default="tiny")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--hf-omp",
        choices=["default", "passive", "both"],
        default="both",
        help="The baseline's OpenMP wait policy: OpenMP's default (threads spin), the trainer's "
        "OMP_WAIT_POLICY=PASSIVE (threads sleep), or one run of each.",
    )
    parser.add_argument("--hf-worker", nargs=6, metavar="ARG")
    args = parser.parse_args()
    if args.hf_worker:
        folder, train, steps, batch_size, lr, out = args.hf_worker
        hf_worker(folder, train, int(steps), int(batch_size), float(lr), out)
        return
    policies = ["default", "passive"] if args.hf_omp == "both" else [args.hf_omp]
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        models_dir = Path(tmp)
        rows = []
        if args.model in ("tiny", "both"):
            build = [sys.executable, "-m", "services.trainer", "make-tiny-model", "--models-dir", tmp]
            subprocess.run(build, env=_env(), check=True, capture_output=True)
            rows += bench("tiny-llama", models_dir, args.steps, args.batch_size, policies)
        if args.model in ("smollm2", "both"):
            rows += bench(SMOLLM2_NAME, models_dir, args.steps, args.batch_size, policies)
    print(
        "| model | trainer | steps | tokens | train s | tokens/s | wall s | peak RSS MiB "
        "| train loss (mean of first → last tenth of steps) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
