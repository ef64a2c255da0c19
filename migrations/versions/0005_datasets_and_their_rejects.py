"""datasets and their rejects; foreign keys from files and fine-tuning jobs to datasets

Revision ID: 0005
Revises: 0001 (depends on 0004: files, fine_tuning_jobs)
Create Date: 2026-11-23 19:56:21.044089
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("0004",)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("recipe", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("provider_kind", sa.String(length=40), nullable=False),
        sa.Column("training_file_id", sa.String(length=64), nullable=True),
        sa.Column("validation_file_id", sa.String(length=64), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("stats", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("estimate", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("approved_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_cutoff", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("build_attempts", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_datasets_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["training_file_id"],
            ["files.id"],
            name=op.f("fk_datasets_training_file_id_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["validation_file_id"],
            ["files.id"],
            name=op.f("fk_datasets_validation_file_id_files"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
    )
    op.create_index(
        "ix_datasets_building",
        "datasets",
        ["updated_at"],
        unique=False,
        postgresql_where="status = 'building'",
    )
    op.create_index("ix_datasets_organization_id_id", "datasets", ["organization_id", "id"], unique=False)
    op.create_table(
        "dataset_rejects",
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("row_id", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("source_excerpt", sa.Text(), nullable=True),
        sa.Column("target_excerpt", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_rejects_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "id", name=op.f("pk_dataset_rejects")),
    )
    op.create_index(
        "ix_dataset_rejects_dataset_id_reason_id",
        "dataset_rejects",
        ["dataset_id", "reason", "id"],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_files_dataset_id_datasets"),
        "files",
        "datasets",
        ["dataset_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_fine_tuning_jobs_dataset_id_datasets"),
        "fine_tuning_jobs",
        "datasets",
        ["dataset_id"],
        ["id"],
        ondelete="RESTRICT",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_fine_tuning_jobs_dataset_id_datasets"), "fine_tuning_jobs", type_="foreignkey"
    )
    op.drop_constraint(op.f("fk_files_dataset_id_datasets"), "files", type_="foreignkey")
    op.drop_index("ix_dataset_rejects_dataset_id_reason_id", table_name="dataset_rejects")
    op.drop_table("dataset_rejects")
    op.drop_index("ix_datasets_organization_id_id", table_name="datasets")
    op.drop_index("ix_datasets_building", table_name="datasets", postgresql_where="status = 'building'")
    op.drop_table("datasets")
