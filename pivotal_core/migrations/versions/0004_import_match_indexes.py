"""import matching indexes: contacts by mobile number and by LinkedIn URL, and the keys
of live contacts without an email

Revision ID: 0004_import_match_indexes
Revises: 0003_search_indexes
Create Date: 2026-11-25 23:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_import_match_indexes"
down_revision: str | Sequence[str] | None = "0003_search_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Partial: most contacts have neither, and a lookup by value never wants the NULLs.
INDEXES = (("ix_contacts_mobile", "mobile"), ("ix_contacts_linkedin_url", "linkedin_url"))
# A row with an email may complete a live contact without one: few, so small indexes.
WITHOUT_EMAIL = ("phone", "mobile", "linkedin_url")


def upgrade() -> None:
    for name, column in INDEXES:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "contacts", [column], postgresql_where=where, sqlite_where=where)
    for column in WITHOUT_EMAIL:
        where = sa.text("email IS NULL AND deleted_at IS NULL")
        op.create_index(
            f"ix_contacts_{column}_without_email",
            "contacts",
            [column],
            postgresql_where=where,
            sqlite_where=where,
        )


def downgrade() -> None:
    for column in WITHOUT_EMAIL:
        op.drop_index(f"ix_contacts_{column}_without_email", table_name="contacts")
    for name, _ in INDEXES:
        op.drop_index(name, table_name="contacts")
