"""Settings for every Attune process: one `ATTUNE_` prefix, `__` between section and field."""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Dev-only key: a deployment outside `dev` refuses to start with it (see Settings._refuse_dev_secrets).
DEV_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"attune-dev-key-never-in-prod-32b").decode()
DEV_TRAINER_API_KEY = "attune-trainer-dev-key"


class DatabaseSettings(BaseModel):
    pool_size: int = Field(10, description="Connections kept open per process.")
    max_overflow: int = Field(10, description="Extra connections a burst may open beyond pool_size.")
    pool_timeout: float = Field(5.0, description="Seconds to wait for a free connection before failing.")
    connect_timeout: float = Field(3.0, description="Seconds to wait for Postgres to accept a connection.")
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")


class RedisSettings(BaseModel):
    connect_timeout: float = Field(2.0, description="Seconds to wait for Redis to answer.")


class ApiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address `attune api` binds to.")
    port: int = Field(8000, description="Port `attune api` listens on.")
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL clients use to reach the API (links, docs)."
    )
    idempotency_ttl_hours: int = Field(
        24, ge=24, description="Hours an Idempotency-Key and its stored response are kept (at least 24)."
    )
    idempotency_lock_seconds: int = Field(
        60, description="Seconds an in-flight idempotent request holds its key before a retry may take it."
    )
    max_page_size: int = Field(100, description="Largest `limit` a list endpoint accepts.")


class WorkerSettings(BaseModel):
    sweep_interval_seconds: int = Field(
        30, description="Seconds between sweeps that re-enqueue what the database says is due."
    )
    health_check_interval_seconds: int = Field(
        30, description="Seconds between ARQ health-check writes (`attune worker QUEUE --check`)."
    )
    job_timeout_seconds: int = Field(
        300, description="Longest a single task may run; also bounds how soon a killed task re-runs."
    )
    max_tries: int = Field(10, description="Attempts ARQ makes of a task before giving up on it.")
    shutdown_wait_seconds: int = Field(
        20, description="On SIGTERM, seconds to let running tasks finish before cancelling them."
    )
    max_jobs: int = Field(20, description="Tasks one worker process runs concurrently.")


class StorageSettings(BaseModel):
    root: Path = Field(Path("var/storage"), description="Folder where uploaded and built files are kept.")
    max_upload_bytes: int = Field(
        512 * 1024 * 1024, description="Largest upload accepted; bigger bodies get 413 while streaming."
    )


class ImportSettings(BaseModel):
    max_segment_chars: int = Field(
        100_000, description="Longest segment an import accepts; longer ones reject their unit."
    )
    max_reported_rejections: int = Field(
        1000, description="Rejected rows listed in an import report (all are counted)."
    )
    requeue_after_seconds: int = Field(
        900, description="A queued or running import untouched this long is enqueued again by the sweep."
    )
    timeout_seconds: int = Field(1800, description="Longest one import task may run.")
    batch_rows: int = Field(
        5000,
        ge=1,
        description="Rows per COPY for a file read in one process (one read by several streams one COPY).",
    )
    read_processes: int = Field(
        2,
        ge=1,
        description="Processes reading a large TMX import, its own included (1: read in a thread).",
    )
    parallel_min_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="TMX files smaller than this are read in one process (starting readers costs more).",
    )
    first_stretch_share: float = Field(
        0.7,
        gt=0,
        description="The import's own stretch of a TMX read in several processes, against a reader's "
        "(it also COPYs every row, so it reads less).",
    )
    spool_dir: Path | None = Field(
        None,
        description="Folder for the reader processes' spool files, each about two thirds the size of its "
        "stretch of the TMX (the system's temp folder if unset).",
    )


class WebhookSettings(BaseModel):
    allow_private_urls: bool = Field(
        False, description="Allow webhook URLs on loopback/private networks (development and tests only)."
    )
    request_timeout_seconds: float = Field(15.0, description="Seconds a receiver has to answer a delivery.")
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [0.0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
        description="Delay before each attempt of a delivery (Standard Webhooks' schedule); jitter is added.",
    )
    retry_jitter: float = Field(
        0.1, ge=0, le=1, description="Share of each retry delay added or removed at random."
    )
    disable_after_hours: float = Field(
        120, description="An endpoint failing without a single success for this long is disabled."
    )
    secret_rotation_hours: float = Field(
        24, description="Hours a rotated-out secret still signs deliveries beside the new one."
    )
    drain_batch_size: int = Field(
        100, description="Deliveries a drain claims, sends and records per transaction (rows locked)."
    )
    drain_budget_seconds: float = Field(
        10.0, description="Seconds one task spends on an endpoint before yielding."
    )
    response_excerpt_bytes: int = Field(
        1024, description="First bytes of each receiver response kept in the log."
    )


class EventSettings(BaseModel):
    sse_ping_seconds: float = Field(
        15.0, description="Seconds between comment pings on an idle event stream."
    )
    sse_retry_ms: int = Field(3000, description="Reconnection delay (`retry:`) sent to SSE clients.")
    sse_queue_size: int = Field(
        1000, description="Live events buffered per stream; a slower client catches up from the database."
    )
    sse_max_stream_seconds: float = Field(
        1800, description="A stream ends after this long so clients reconnect (and move) through deploys."
    )
    stream_token_ttl_seconds: int = Field(
        900, description="Lifetime of a stream token minted for browsers' EventSource (reconnects reuse it)."
    )
    relay_grace_seconds: float = Field(
        2.0, description="Age after which the sweep publishes an event the after-commit relay did not."
    )


class TrainerSettings(BaseModel):
    url: str = Field("http://127.0.0.1:8100/v1", description="Base URL of the built-in trainer's API.")
    host: str = Field("127.0.0.1", description="Address `attune trainer` binds to.")
    port: int = Field(8100, description="Port `attune trainer` listens on.")
    api_key: SecretStr = Field(
        SecretStr(DEV_TRAINER_API_KEY), description="Bearer key the trainer requires and the gateway sends."
    )
    state_dir: Path = Field(
        Path("var/trainer"), description="Folder holding the trainer's jobs, files, events and adapters."
    )
    models_dir: Path = Field(
        Path("var/models"), description="Folder of local base models (one sub-folder per model name)."
    )
    device: str = Field("auto", description="`auto` (CUDA when present), `cpu` or `cuda`.")
    max_file_bytes: int = Field(
        100 * 1024 * 1024, description="Largest training or validation file the trainer accepts."
    )


class ProviderSettings(BaseModel):
    default_provider: str = Field(
        "local", description="Provider of a job that names none: `local` or a provider credential id."
    )
    connect_timeout_seconds: float = Field(5.0, description="Seconds to open a connection to a provider.")
    request_timeout_seconds: float = Field(30.0, description="Seconds a provider has to answer a request.")
    upload_timeout_seconds: float = Field(600.0, description="Seconds a file upload to a provider may take.")
    requests_per_second: float = Field(
        10.0, ge=0, description="Requests per second sent to one provider credential (0: no limit)."
    )
    local_requests_per_second: float = Field(
        50.0, ge=0, description="Requests per second sent to the built-in trainer (0: no limit)."
    )
    max_concurrent_requests: int = Field(
        8, ge=1, description="Requests in flight at once to one provider credential, across all workers."
    )
    max_rate_wait_seconds: float = Field(
        10.0, description="Longest a poll waits for its credential's rate limit before rescheduling itself."
    )
    poll_interval_seconds: dict[str, float] = Field(
        default_factory=lambda: {
            "validating_files": 15.0,
            "queued": 30.0,
            "running": 15.0,
            "paused": 120.0,
            "cancelling": 5.0,
        },
        description="Seconds between polls of a job, by its status (the interval adapts to the status).",
    )
    poll_jitter: float = Field(0.1, ge=0, le=1, description="Share of each poll interval added at random.")
    backoff_base_seconds: float = Field(2.0, description="First delay after a transient provider failure.")
    backoff_cap_seconds: float = Field(
        300.0, description="Longest delay between retries of a failing provider."
    )
    give_up_after_seconds: float = Field(
        86400.0, description="A job whose provider has failed transiently for this long is marked failed."
    )
    overdue_grace_seconds: float = Field(
        30.0, description="How late a poll may be before the `providers` sweep enqueues it again."
    )
    checkpoint_poll_every: int = Field(
        4, ge=1, description="Fetch a running job's checkpoints every N polls (and always at the end)."
    )


class DatasetSettings(BaseModel):
    pricing_file: Path | None = Field(
        None, description="A deployment's own pricing file (the shape of shared/pricing/prices.json)."
    )
    batch_rows: int = Field(5000, ge=100, description="Rows a build reads from Postgres at a time.")
    token_threads: int = Field(2, ge=1, description="Threads counting tokens while the next batch is cleaned")
    build_processes: int = Field(
        2,
        ge=1,
        description="Worker processes a large build forks for pass 1 (1: it reads in its own process).",
    )
    parallel_min_rows: int = Field(
        100_000,
        ge=0,
        description="Builds of fewer source rows read in their own process (forking costs more).",
    )
    spill_dir: Path | None = Field(
        None, description="Folder for a build's temporary line spill (the system's temp folder if unset)."
    )
    timeout_seconds: int = Field(1800, description="Longest one dataset build may run.")
    max_build_tries: int = Field(3, ge=1, description="Builds that crash this often are marked failed.")
    requeue_after_seconds: int = Field(
        900, description="A build still `building` after this long is enqueued again by the sweep."
    )
    reject_excerpt_chars: int = Field(
        200, ge=0, description="Characters of source and target kept with a row a filter dropped."
    )


class EvaluationSettings(BaseModel):
    auto: bool = Field(
        True, description="Evaluate every job that succeeds with a validation file (else only on demand)."
    )
    max_segments: int = Field(
        200, ge=1, description="Validation examples an evaluation translates (the file's first N)."
    )
    max_tokens: int = Field(
        512, ge=1, description="Most tokens a model may generate per segment (also bounded by the reference)."
    )
    concurrency: int = Field(
        4, ge=1, description="Chat requests one evaluation keeps in flight (the provider limits still apply)."
    )
    timeout_seconds: int = Field(
        1800,
        description="Longest one evaluation run may take; a run silent past it is restarted by the sweep.",
    )
    max_attempts: int = Field(3, ge=1, description="Runs an evaluation gets (crashes, provider outages).")
    retry_delay_seconds: float = Field(
        60.0, description="Wait before running again an evaluation whose provider failed transiently."
    )


class SecuritySettings(BaseModel):
    encryption_keys: list[SecretStr] = Field(
        default_factory=lambda: [SecretStr(DEV_ENCRYPTION_KEY)],
        description="Fernet keys for secrets at rest, newest first; older ones only decrypt (rotation).",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ATTUNE_", env_nested_delimiter="__", extra="ignore", env_file=None
    )

    env: Literal["dev", "test", "staging", "production"] = Field(
        "dev", description="Deployment environment; outside dev/test, default secrets are refused."
    )
    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/attune",
        description="SQLAlchemy URL of the Postgres database (asyncpg driver).",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="URL of the Redis used for queues.")
    log_level: str = Field("INFO", description="Lowest log level written.")
    log_json: bool | None = Field(None, description="JSON log lines; defaults to on outside dev.")

    db: DatabaseSettings = Field(default_factory=DatabaseSettings, description="Postgres pool.")
    redis: RedisSettings = Field(default_factory=RedisSettings, description="Redis connection.")
    api: ApiSettings = Field(default_factory=ApiSettings, description="HTTP gateway.")
    worker: WorkerSettings = Field(default_factory=WorkerSettings, description="ARQ workers.")
    storage: StorageSettings = Field(default_factory=StorageSettings, description="File storage.")
    imports: ImportSettings = Field(
        default_factory=ImportSettings, description="Imports of translations and translation memories."
    )
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings, description="Webhook delivery.")
    events: EventSettings = Field(default_factory=EventSettings, description="Event log, relay and streams.")
    trainer: TrainerSettings = Field(default_factory=TrainerSettings, description="Built-in trainer.")
    security: SecuritySettings = Field(default_factory=SecuritySettings, description="Secrets at rest.")
    providers: ProviderSettings = Field(
        default_factory=ProviderSettings, description="Fine-tuning providers: limits, polling, prices."
    )
    datasets: DatasetSettings = Field(
        default_factory=DatasetSettings, description="Dataset builds: batches, token counting, pricing file."
    )
    evaluations: EvaluationSettings = Field(
        default_factory=EvaluationSettings,
        description="Evaluations of fine-tuned models against base models.",
    )

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.env not in ("dev", "test")

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> Settings:
        if self.env in ("dev", "test"):
            return self
        if any(key.get_secret_value() == DEV_ENCRYPTION_KEY for key in self.security.encryption_keys):
            raise ValueError(
                f"ATTUNE_SECURITY__ENCRYPTION_KEYS still holds the development key; env={self.env} "
                "needs a real key (python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            )
        if self.trainer.api_key.get_secret_value() == DEV_TRAINER_API_KEY:
            raise ValueError(f"ATTUNE_TRAINER__API_KEY still holds the development key; env={self.env}")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
