#!/usr/bin/env bash
# The whole suite. Locally: SQLite, plus PostgreSQL and Redis when their URLs are set.
# With CI=true: SQLite, then a fresh PostgreSQL database, with huey on Redis in both runs;
# an unreachable PostgreSQL or Redis fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PG_ADMIN_URL=${PIVOTAL_TEST_PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/test}

$BIN/ruff check .
$BIN/ruff format --check .

if [ "${CI:-}" = "true" ]; then
  export PIVOTAL_TEST_REDIS_URL=${PIVOTAL_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
  db="pivotal_ci_$(date +%s)_$$"
  $BIN/python -m pivotal_core.testing.pgdb create "$PG_ADMIN_URL" "$db"
  trap '$BIN/python -m pivotal_core.testing.pgdb drop "$PG_ADMIN_URL" "$db"' EXIT
  # PostgreSQL-only tests (concurrent writers) run in both passes against this server.
  export PIVOTAL_TEST_POSTGRES_URL="${PG_ADMIN_URL%/*}/$db"
  echo "== tests on SQLite (huey on Redis) =="
  $BIN/python -m pytest "$@"
  echo "== tests on PostgreSQL ($db, huey on Redis) =="
  PIVOTAL_TEST_DATABASE_URL="${PG_ADMIN_URL%/*}/$db" $BIN/python -m pytest "$@"
else
  $BIN/python -m pytest "$@"
fi
