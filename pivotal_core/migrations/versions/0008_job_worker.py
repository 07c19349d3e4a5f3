"""jobs.worker: the host and process running a job, so that a stopped one can be told

Revision ID: 0008_job_worker
Revises: 0007_compact_provenance
Create Date: 2026-11-26 07:05:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_job_worker"
down_revision: str | Sequence[str] | None = "0007_compact_provenance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("worker", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("worker")
