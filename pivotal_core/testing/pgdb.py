"""Create or drop a scratch PostgreSQL database for a test run:
``python -m pivotal_core.testing.pgdb create|drop ADMIN_URL NAME``."""

from __future__ import annotations

import re
import sys

import psycopg
from psycopg import sql


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("create", "drop"):
        print(__doc__, file=sys.stderr)
        return 2
    action, admin_url, name = argv
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        print(f"bad database name {name!r}", file=sys.stderr)
        return 2
    try:
        conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL at {admin_url} is unreachable: {exc}", file=sys.stderr)
        return 3
    with conn:
        if action == "create":
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
