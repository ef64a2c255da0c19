"""The OpenAI-compatible adapter against the OpenAI fake: the happy path and every failure class."""

from __future__ import annotations

import io

import httpx
import pytest

from shared.config import Settings
from shared.providers.base import JobSpec, PermanentProviderError, TransientProviderError
from shared.providers.openai_compatible import OpenAICompatibleAdapter
from tests.fixtures.jobs import chat_lines, jsonl
from tests.providers.conftest import adapter
from tests.providers.fakes.core import serve
from tests.providers.fakes.openai import FakeOpenAI


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI(api_key="sk-test", total_steps=4, steps_per_epoch=2)


def openai_adapter(settings: Settings, fake: FakeOpenAI, key: str = "sk-test") -> OpenAICompatibleAdapter:
    made = adapter(settings, "openai", "http://api.openai.test/v1", key, fake.app)
    assert isinstance(made, OpenAICompatibleAdapter)
    return made


async def test_a_job_is_created_found_again_by_our_id_and_read_to_the_end(
    settings: Settings, fake: FakeOpenAI
) -> None:
    provider = openai_adapter(settings, fake)
    file_id = await provider.upload_file(io.BytesIO(jsonl(chat_lines())), "attune-file_1.jsonl")
    assert await provider.find_file("attune-file_1.jsonl") == file_id
    assert await provider.find_job("ftjob_ours") is None
    created = await provider.create_job(
        JobSpec(attune_job_id="ftjob_ours", model="gpt-4o-mini", training_file=file_id, suffix="fr")
    )
    assert created.raw_status == "validating_files"
    found = await provider.find_job("ftjob_ours")
    assert found is not None and found.id == created.id

    cursor = None
    seen: list[str] = []
    for _ in range(10):
        job = await provider.get_job(created.id)
        page = await provider.list_events(created.id, cursor)
        seen += [event.id for event in page.events]
        cursor = page.cursor
        if job.raw_status == "succeeded":
            break
    assert job.raw_status == "succeeded" and job.fine_tuned_model and job.trained_tokens == 1234 * 4
    assert len(seen) == len(set(seen)) == len(fake.jobs[created.id].events)  # each event read once
    assert (await provider.list_events(created.id, cursor)).events == []
    checkpoints = await provider.list_checkpoints(created.id)
    assert sorted(c.step_number for c in checkpoints) == [2, 4]


async def test_cancel_of_a_finished_job_answers_with_the_job(settings: Settings, fake: FakeOpenAI) -> None:
    provider = openai_adapter(settings, fake)
    file_id = await provider.upload_file(io.BytesIO(jsonl(chat_lines())), "t.jsonl")
    created = await provider.create_job(JobSpec(attune_job_id="ftjob_x", model="m", training_file=file_id))
    fake.jobs[created.id].stage = "succeeded"
    assert (await provider.cancel_job(created.id)).raw_status == "succeeded"


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "retry_after"),
    [
        (
            429,
            {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
            {"Retry-After": "2"},
            TransientProviderError,
            2.0,
        ),
        (429, {"error": {"message": "slow down"}}, {"retry-after-ms": "1500"}, TransientProviderError, 1.5),
        (503, {"error": {"message": "overloaded"}}, {"Retry-After": "7"}, TransientProviderError, 7.0),
        (500, {"error": {"message": "boom"}}, {}, TransientProviderError, None),
        (
            429,
            {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}},
            {},
            PermanentProviderError,
            None,
        ),
        (
            403,
            {"error": {"message": "OpenAI is winding down fine-tuning", "code": "training_not_available"}},
            {},
            PermanentProviderError,
            None,
        ),
        (
            400,
            {"error": {"message": "invalid training_file", "param": "training_file", "code": "invalid_file"}},
            {},
            PermanentProviderError,
            None,
        ),
    ],
)
async def test_failures_are_classified_with_the_providers_message(
    settings: Settings,
    fake: FakeOpenAI,
    status: int,
    body: dict[str, object],
    headers: dict[str, str],
    error: type[Exception],
    retry_after: float | None,
) -> None:
    fake.fail("GET /v1/fine_tuning/jobs/", status, body=body, headers=headers)
    with pytest.raises(error) as raised:
        await openai_adapter(settings, fake).get_job("ftjob-1")
    assert isinstance(raised.value, PermanentProviderError | TransientProviderError)
    assert raised.value.status_code == status
    assert raised.value.message == body["error"]["message"]  # type: ignore[index]
    if isinstance(raised.value, TransientProviderError):
        assert raised.value.retry_after == retry_after


async def test_a_wrong_key_is_permanent(settings: Settings, fake: FakeOpenAI) -> None:
    with pytest.raises(PermanentProviderError) as raised:
        await openai_adapter(settings, fake, key="sk-wrong").get_job("ftjob-1")
    assert raised.value.status_code == 401 and raised.value.code == "invalid_api_key"


async def test_timeouts_and_dropped_connections_are_transient(settings: Settings, fake: FakeOpenAI) -> None:
    fake.fail("GET /v1/fine_tuning/jobs/", 200, hang_seconds=2.0)
    provider = openai_adapter(settings, fake)
    with serve(fake.app) as url:  # a real socket: in-process transports know no timeouts
        provider.http.base_url = f"{url}/v1"
        provider.http.client = httpx.AsyncClient(timeout=httpx.Timeout(0.2))
        with pytest.raises(TransientProviderError, match="timed out"):
            await provider.get_job("ftjob-1")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    provider.http.client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    with pytest.raises(TransientProviderError, match="connection refused"):
        await provider.get_job("ftjob-1")

    provider.http.client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>"))
    )
    with pytest.raises(TransientProviderError, match="non-JSON"):
        await provider.get_job("ftjob-1")


async def test_azure_gets_its_api_key_header(settings: Settings, fake: FakeOpenAI) -> None:
    provider = adapter(
        settings, "azure_openai", "https://res.openai.azure.test/openai/v1", "sk-test", fake.app
    )
    with pytest.raises(PermanentProviderError):  # the fake serves /v1, Azure's path is /openai/v1: 404
        await provider.get_job("ftjob-1")
    assert fake.requests[-1].path == "/openai/v1/fine_tuning/jobs/ftjob-1" and fake.requests[-1].status == 0


async def test_chat_completions_for_evaluation(settings: Settings, fake: FakeOpenAI) -> None:
    from shared.providers.base import ChatMessage

    answer = await openai_adapter(settings, fake).chat_completion(
        "ft:model", [ChatMessage(role="user", content="Bonjour")], temperature=0
    )
    assert answer.content == "echo: Bonjour" and answer.usage == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
    }
