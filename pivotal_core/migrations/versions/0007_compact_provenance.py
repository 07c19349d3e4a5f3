"""field provenance in its stored form: an import batch's entry once per record

Rows written before keep one entry per field (most of an imported contact's row). The
new form (``pivotal_core.provenance``) reads either, so this only rewrites existing rows
to reclaim the space: in id order, a few thousand rows a statement, only those whose
stored form changes. Downgrading writes every entry per field again.

Revision ID: 0007_compact_provenance
Revises: 0006_domain_sets
Create Date: 2026-11-26 06:20:00

"""

import logging
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from pivotal_core.provenance import compact, expand

revision: str = "0007_compact_provenance"
down_revision: str | Sequence[str] | None = "0006_domain_sets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TABLES = ("accounts", "contacts")
BATCH = 5_000

log = logging.getLogger("alembic.runtime.migration")


def _rewrite(convert: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    conn = op.get_bind()
    for name in TABLES:
        table = sa.table(name, sa.column("id", sa.BigInteger), sa.column("field_provenance", JSON))
        update = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("r_id"))
            .values(field_provenance=sa.bindparam("r_provenance", type_=JSON))
        )
        last, rewritten = 0, 0
        while True:
            rows = conn.execute(
                sa.select(table.c.id, table.c.field_provenance)
                .where(table.c.id > last)
                .order_by(table.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            last = rows[-1].id
            changed = []
            for record_id, provenance in rows:
                if provenance:
                    stored = convert(provenance)
                    if stored != provenance:
                        changed.append({"r_id": record_id, "r_provenance": stored})
            if changed:
                conn.execute(update, changed)
                rewritten += len(changed)
        if rewritten:
            log.info("%s: field provenance of %d rows rewritten", name, rewritten)


def upgrade() -> None:
    _rewrite(compact)


def downgrade() -> None:
    _rewrite(expand)
