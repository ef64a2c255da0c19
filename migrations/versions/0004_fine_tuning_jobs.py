"""fine-tuning jobs: files, jobs, events, metrics, checkpoints, models

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23 19:28:54.224094
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("example_count", sa.Integer(), nullable=False),
        sa.Column("token_estimate", sa.BigInteger(), nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=True),
        sa.Column("validation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_files_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    op.create_index("ix_files_organization_id_id", "files", ["organization_id", "id"], unique=False)
    op.create_table(
        "models",
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("base_model", sa.String(length=256), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("parent_model_id", sa.String(length=64), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_kind", sa.String(length=40), nullable=False),
        sa.Column("dataset_hash", sa.String(length=64), nullable=True),
        sa.Column("dataset_id", sa.String(length=64), nullable=True),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_models_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_model_id"],
            ["models.id"],
            name=op.f("fk_models_parent_model_id_models"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("job_id", name=op.f("uq_models_job_id")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_models_organization_id_name")),
    )
    op.create_table(
        "fine_tuning_jobs",
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_kind", sa.String(length=40), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("parent_model_id", sa.String(length=64), nullable=True),
        sa.Column("training_file_id", sa.String(length=64), nullable=True),
        sa.Column("validation_file_id", sa.String(length=64), nullable=True),
        sa.Column("dataset_id", sa.String(length=64), nullable=True),
        sa.Column("hyperparameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("suffix", sa.String(length=64), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("auto_start", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("provider_status", sa.String(length=64), nullable=True),
        sa.Column("provider_job_id", sa.String(length=255), nullable=True),
        sa.Column("provider_training_file_id", sa.String(length=255), nullable=True),
        sa.Column("provider_validation_file_id", sa.String(length=255), nullable=True),
        sa.Column("resolved_hyperparameters", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("trained_tokens", sa.BigInteger(), nullable=True),
        sa.Column("estimated_cost", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("actual_cost", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("cost_currency", sa.String(length=3), nullable=False),
        sa.Column("estimated_finish", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fine_tuned_model", sa.String(length=512), nullable=True),
        sa.Column("result_files", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_param", sa.String(length=100), nullable=True),
        sa.Column("transitions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("poll_sequence", sa.Integer(), nullable=False),
        sa.Column("polls", sa.Integer(), nullable=False),
        sa.Column("submit_attempts", sa.Integer(), nullable=False),
        sa.Column("events_cursor", sa.String(length=255), nullable=True),
        sa.Column("last_metric_step", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_provider_error", sa.Text(), nullable=True),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_fine_tuning_jobs_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_model_id"],
            ["models.id"],
            name=op.f("fk_fine_tuning_jobs_parent_model_id_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["training_file_id"],
            ["files.id"],
            name=op.f("fk_fine_tuning_jobs_training_file_id_files"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["validation_file_id"],
            ["files.id"],
            name=op.f("fk_fine_tuning_jobs_validation_file_id_files"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fine_tuning_jobs")),
    )
    op.create_index(
        "ix_fine_tuning_jobs_metadata", "fine_tuning_jobs", ["metadata"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_fine_tuning_jobs_next_poll_at",
        "fine_tuning_jobs",
        ["next_poll_at"],
        unique=False,
        postgresql_where="next_poll_at IS NOT NULL",
    )
    op.create_index(
        "ix_fine_tuning_jobs_organization_id_id", "fine_tuning_jobs", ["organization_id", "id"], unique=False
    )
    op.create_index(
        "ix_fine_tuning_jobs_organization_id_status",
        "fine_tuning_jobs",
        ["organization_id", "status"],
        unique=False,
    )
    # models <-> fine_tuning_jobs refer to each other: the second foreign key comes once both exist.
    op.create_foreign_key(
        op.f("fk_models_job_id_fine_tuning_jobs"),
        "models",
        "fine_tuning_jobs",
        ["job_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.create_table(
        "fine_tuning_job_checkpoints",
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("provider_checkpoint_id", sa.String(length=255), nullable=False),
        sa.Column("fine_tuned_model_checkpoint", sa.String(length=512), nullable=False),
        sa.Column("step_number", sa.Integer(), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["fine_tuning_jobs.id"],
            name=op.f("fk_fine_tuning_job_checkpoints_job_id_fine_tuning_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_fine_tuning_job_checkpoints_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fine_tuning_job_checkpoints")),
        sa.UniqueConstraint(
            "job_id",
            "provider_checkpoint_id",
            name=op.f("uq_fine_tuning_job_checkpoints_job_id_provider_checkpoint_id"),
        ),
    )
    op.create_table(
        "fine_tuning_job_events",
        sa.Column("sequence", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("provider_event_id", sa.String(length=255), nullable=True),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["fine_tuning_jobs.id"],
            name=op.f("fk_fine_tuning_job_events_job_id_fine_tuning_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_fine_tuning_job_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fine_tuning_job_events")),
        sa.UniqueConstraint(
            "job_id", "provider_event_id", name=op.f("uq_fine_tuning_job_events_job_id_provider_event_id")
        ),
        sa.UniqueConstraint("sequence", name=op.f("uq_fine_tuning_job_events_sequence")),
    )
    op.create_index(
        "ix_fine_tuning_job_events_job_id_sequence",
        "fine_tuning_job_events",
        ["job_id", "sequence"],
        unique=False,
    )
    op.create_table(
        "fine_tuning_job_metrics",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("total_steps", sa.Integer(), nullable=True),
        sa.Column("train_loss", sa.Double(), nullable=True),
        sa.Column("train_mean_token_accuracy", sa.Double(), nullable=True),
        sa.Column("valid_loss", sa.Double(), nullable=True),
        sa.Column("valid_mean_token_accuracy", sa.Double(), nullable=True),
        sa.Column("full_valid_loss", sa.Double(), nullable=True),
        sa.Column("full_valid_mean_token_accuracy", sa.Double(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["fine_tuning_jobs.id"],
            name=op.f("fk_fine_tuning_job_metrics_job_id_fine_tuning_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_fine_tuning_job_metrics_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "step", name=op.f("pk_fine_tuning_job_metrics")),
    )


def downgrade() -> None:
    op.drop_table("fine_tuning_job_metrics")
    op.drop_index("ix_fine_tuning_job_events_job_id_sequence", table_name="fine_tuning_job_events")
    op.drop_table("fine_tuning_job_events")
    op.drop_table("fine_tuning_job_checkpoints")
    op.drop_index("ix_fine_tuning_jobs_organization_id_status", table_name="fine_tuning_jobs")
    op.drop_index("ix_fine_tuning_jobs_organization_id_id", table_name="fine_tuning_jobs")
    op.drop_index(
        "ix_fine_tuning_jobs_next_poll_at",
        table_name="fine_tuning_jobs",
        postgresql_where="next_poll_at IS NOT NULL",
    )
    op.drop_index("ix_fine_tuning_jobs_metadata", table_name="fine_tuning_jobs", postgresql_using="gin")
    op.drop_constraint(op.f("fk_models_job_id_fine_tuning_jobs"), "models", type_="foreignkey")
    op.drop_table("fine_tuning_jobs")
    op.drop_table("models")
    op.drop_index("ix_files_organization_id_id", table_name="files")
    op.drop_table("files")
