"""audience: saved filters, segments, lists and their members; suppressions and consents;
indexes for common filters

Revision ID: 0005_audience
Revises: 0004_import_match_indexes
Create Date: 2026-11-26 00:46:32

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import pivotal_core.db

revision: str = "0005_audience"
down_revision: str | Sequence[str] | None = "0004_import_match_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FILTER_INDEXES = (
    ("ix_contacts_seniority", "contacts", "seniority"),
    ("ix_accounts_employee_count", "accounts", "employee_count"),
    ("ix_accounts_annual_revenue", "accounts", "annual_revenue"),
)


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, pivotal_core.db.UTCDateTime(timezone=True), nullable=nullable)


def _record_columns(soft_delete: bool = True) -> list[sa.Column]:
    columns = [
        sa.Column("id", KEY, sa.Identity(always=False), nullable=False),
        _when("created_at"),
        _when("updated_at"),
    ]
    if soft_delete:
        columns.append(_when("deleted_at", nullable=True))
    return columns


def _shared_columns(table: str) -> list[sa.Column | sa.Constraint]:
    """Name, entity type, owner and visibility of saved filters, segments and lists."""
    return [
        *_record_columns(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("entity_type", sa.String(length=20), nullable=False),
        sa.Column("visibility_scope", sa.String(length=20), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f(f"fk_{table}_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        _when("suppressed_at"),
        *_record_columns(soft_delete=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
    )
    op.create_index("uq_suppressions_kind_value", "suppressions", ["kind", "value"], unique=True)

    op.create_table(
        "consents",
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("basis", sa.String(length=40), nullable=True),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _when("recorded_at"),
        *_record_columns(soft_delete=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_consents_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(
        "uq_consents_contact_id_channel", "consents", ["contact_id", "channel"], unique=True
    )

    op.create_table(
        "saved_filters",
        sa.Column("definition", JSON, nullable=False),
        *_shared_columns("saved_filters"),
    )
    op.create_index("ix_saved_filters_owner_id", "saved_filters", ["owner_id"])

    op.create_table(
        "segments",
        sa.Column("definition", JSON, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("record_count_cache", sa.BigInteger(), nullable=True),
        _when("last_refreshed_at", nullable=True),
        sa.Column("refresh_error", sa.Text(), nullable=True),
        *_shared_columns("segments"),
    )
    op.create_index("ix_segments_is_active", "segments", ["is_active"])
    op.create_index("ix_segments_owner_id", "segments", ["owner_id"])

    op.create_table(
        "lists",
        sa.Column("source_type", sa.String(length=20), nullable=False),
        sa.Column("source_ref", JSON, nullable=True),
        _when("snapshot_ts", nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("member_count", sa.BigInteger(), nullable=False),
        *_shared_columns("lists"),
    )
    op.create_index("ix_lists_owner_id", "lists", ["owner_id"])

    op.create_table(
        "list_members",
        sa.Column("list_id", sa.BigInteger(), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        _when("added_at"),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name=op.f("fk_list_members_list_id_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", "record_id", name=op.f("pk_list_members")),
    )
    op.create_index("ix_list_members_record_id", "list_members", ["record_id", "list_id"])

    for name, table, column in FILTER_INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in FILTER_INDEXES:
        op.drop_index(name, table_name=table)
    for table in ("list_members", "lists", "segments", "saved_filters", "consents", "suppressions"):
        op.drop_table(table)
