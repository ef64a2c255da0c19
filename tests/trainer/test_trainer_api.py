"""The trainer's HTTP API against a real server process: auth, error shapes, files, job validation."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from trainer_helpers import TINY, TrainerServer, upload, wait_for_status

from services.trainer import synthetic


def test_every_v1_route_needs_the_api_key(trainer: TrainerServer) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = httpx.get(trainer.url + "/v1/fine_tuning/jobs", headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
    with pytest.raises(openai.AuthenticationError):
        trainer.client(api_key="wrong").models.list()
    assert httpx.get(trainer.url + "/healthz").json()["status"] == "ok"


def test_files_round_trip(client: openai.OpenAI) -> None:
    content = synthetic.to_jsonl(synthetic.chat_examples("orcish", 10))
    created = client.files.create(file=("orcish.jsonl", content), purpose="fine-tune")
    assert (created.object, created.purpose, created.bytes, created.filename) == (
        "file",
        "fine-tune",
        len(content),
        "orcish.jsonl",
    )
    assert client.files.retrieve(created.id) == created
    assert client.files.content(created.id).content == content
    assert created.id in [file.id for file in client.files.list()]


@pytest.mark.parametrize(
    ("content", "purpose", "code"),
    [
        (b"this is not json\n", "fine-tune", "invalid_file_format"),
        (b'{"messages": []}\n', "batch", "invalid_purpose"),
        (b'{"x": "' + b"a" * 250_000 + b'"}\n', "fine-tune", "file_too_large"),
    ],
)
def test_bad_uploads_are_400s(client: openai.OpenAI, content: bytes, purpose: Any, code: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("bad.jsonl", content), purpose=purpose)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"model": "no-such-model"}, "model"),
        ({"training_file": "file-missing"}, "training_file"),
        ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
        ({"hyperparameters": {"batch_size": 1000}}, "hyperparameters.batch_size"),
        ({"hyperparameters": {"learning_rate_multiplier": -1}}, "hyperparameters.learning_rate_multiplier"),
        ({"method": {"type": "dpo", "dpo": {}}}, "method.type"),
        ({"suffix": "has spaces"}, "suffix"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ],
)
def test_bad_job_requests_are_400s(client: openai.OpenAI, overrides: dict[str, Any], param: str) -> None:
    arguments = {
        "model": TINY,
        "training_file": upload(client, synthetic.chat_examples("orcish", 10)),
    } | overrides
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(**arguments)
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == param and body["type"] == "invalid_request_error"


def test_unknown_objects_are_404s(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-nope")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    ("examples", "code"),
    [
        ([{"prompt": "a", "completion": "b"}] * 12, "invalid_file_format"),
        (synthetic.chat_examples("orcish", 4), "invalid_n_examples"),
    ],
)
def test_unusable_training_files_fail_the_job_with_the_reason(
    client: openai.OpenAI, examples: list[dict[str, Any]], code: str
) -> None:
    job = client.fine_tuning.jobs.create(model=TINY, training_file=upload(client, examples))
    assert job.status == "validating_files"
    failed = wait_for_status(client, job.id, {"failed", "succeeded"}, timeout=30)
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == code and failed.error.param == "training_file"
    messages = [event.message for event in client.fine_tuning.jobs.list_events(job.id)]
    assert any(message.startswith("Fine-tuning job failed") for message in messages)


def test_jobs_are_found_by_metadata(client: openai.OpenAI) -> None:
    bad_file = upload(client, [{"prompt": "a", "completion": "b"}] * 10)
    ours = client.fine_tuning.jobs.create(
        model=TINY, training_file=bad_file, metadata={"attune_job_id": "job-1"}
    )
    other = client.fine_tuning.jobs.create(
        model=TINY, training_file=bad_file, metadata={"attune_job_id": "job-2"}
    )
    bare = client.fine_tuning.jobs.create(model=TINY, training_file=bad_file)
    found = client.fine_tuning.jobs.list(metadata={"attune_job_id": "job-1"})
    assert [job.id for job in found] == [ours.id]
    assert found.data[0].metadata == {"attune_job_id": "job-1"}
    assert [job.id for job in client.fine_tuning.jobs.list(metadata={"attune_job_id": "job-3"})] == []
    without = client.fine_tuning.jobs.list(extra_query={"metadata": "null"})
    assert bare.id in [job.id for job in without] and ours.id not in [job.id for job in without]
    page = client.fine_tuning.jobs.list(limit=1)
    assert page.has_more and page.data[0].id == bare.id
    assert client.fine_tuning.jobs.list(limit=1, after=bare.id).data[0].id == other.id


def test_models_list_base_models(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert TINY in ids and "SmolLM2-135M-Instruct" in ids
