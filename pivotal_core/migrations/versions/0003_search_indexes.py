"""quick search indexes: case-insensitive prefix matches on contact names and email

Revision ID: 0003_search_indexes
Revises: 0002_dataquality
Create Date: 2026-11-25 22:55:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_search_indexes"
down_revision: str | Sequence[str] | None = "0002_dataquality"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# text_pattern_ops lets PostgreSQL serve LIKE 'abc%' from the index whatever the collation.
INDEXES = (
    ("ix_contacts_last_name_search", "lower(last_name)"),
    ("ix_contacts_first_name_search", "lower(first_name)"),
    ("ix_contacts_email_search", "email"),
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, expression in INDEXES:
        ops = " text_pattern_ops" if postgres else ""
        op.create_index(name, "contacts", [sa.text(expression + ops)])


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(name, table_name="contacts")
