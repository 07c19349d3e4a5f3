"""import matching indexes: contacts by mobile number and by LinkedIn URL

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


def upgrade() -> None:
    for name, column in INDEXES:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "contacts", [column], postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(name, table_name="contacts")
