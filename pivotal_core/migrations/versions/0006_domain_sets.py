"""domain sets: uploaded domain lists, their items as matched against accounts, and
suggested accounts for the unmatched ones

Revision ID: 0006_domain_sets
Revises: 0005_audience
Create Date: 2026-11-26 01:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pivotal_core.db

revision: str = "0006_domain_sets"
down_revision: str | Sequence[str] | None = "0005_audience"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COUNTS = ("entry", "matched", "unmatched", "invalid", "duplicate", "account")


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, pivotal_core.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "domain_sets",
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source_file", JSON, nullable=False),
        *(sa.Column(f"{name}_count", sa.BigInteger(), nullable=False) for name in COUNTS),
        sa.Column("suggested_through", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _when("matched_at", nullable=True),
        sa.Column("accounts_batch_id", sa.BigInteger(), nullable=True),
        sa.Column("id", KEY, sa.Identity(always=False), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        _when("deleted_at", nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("visibility_scope", sa.String(length=20), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_domain_sets_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_sets")),
    )
    op.create_index("ix_domain_sets_owner_id", "domain_sets", ["owner_id"])

    op.create_table(
        "domain_set_items",
        sa.Column("domain_set_id", sa.BigInteger(), nullable=False),
        sa.Column("line_number", sa.BigInteger(), nullable=False),
        sa.Column("raw", sa.String(length=500), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("duplicate_of", sa.BigInteger(), nullable=True),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("matched_via", sa.String(length=20), nullable=True),
        # No foreign keys: items are written by COPY, 100,000 at a time (see the model).
        sa.PrimaryKeyConstraint("domain_set_id", "line_number", name=op.f("pk_domain_set_items")),
    )
    op.create_index(
        "ix_domain_set_items_status", "domain_set_items", ["domain_set_id", "status", "line_number"]
    )

    op.create_table(
        "domain_set_suggestions",
        sa.Column("domain_set_id", sa.BigInteger(), nullable=False),
        sa.Column("line_number", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_domain_set_suggestions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["domain_set_id"],
            ["domain_sets.id"],
            name=op.f("fk_domain_set_suggestions_domain_set_id_domain_sets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "domain_set_id", "line_number", "account_id", name=op.f("pk_domain_set_suggestions")
        ),
    )
    op.create_index(
        "ix_domain_set_suggestions_account_id", "domain_set_suggestions", ["account_id"]
    )


def downgrade() -> None:
    for table in ("domain_set_suggestions", "domain_set_items", "domain_sets"):
        op.drop_table(table)
