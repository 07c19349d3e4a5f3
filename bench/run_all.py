"""Run the benchmarks in order, as ``make bench`` does: load the data set unless
``bench_meta`` says the same one is already there, then each harness, each printing its
table of figure, value, budget, same-run baseline and verdict.

    python -m bench.run_all [--database-url URL] [--contacts N] [--accounts N] [--seed S]

Exits 0 when every budget holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from bench import generate, list_api
from bench.database import DEFAULT_DATABASE_URL, ensure_database


def load_data(database_url: str, *, accounts: int, contacts: int, seed: int,
              force: bool) -> None:
    """Load the data set, dropping and recreating the tables, unless it is already loaded."""
    ensure_database(database_url)
    if not force and generate.is_loaded(
        database_url, accounts=accounts, contacts=contacts, seed=seed
    ):
        print(f"data set already loaded ({accounts:,} accounts, {contacts:,} contacts, "
              f"seed {seed}): not generating it again")
        return
    report = generate.load(
        database_url, accounts=accounts, contacts=contacts, seed=seed,
        anchor=generate.today_utc(), reset=True, create_missing_schema=True,
    )
    generate.print_report(report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run_all", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--force-generate", action="store_true",
                        help="reload the data set even when bench_meta says it is there")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        load_data(args.database_url, accounts=args.accounts, contacts=args.contacts,
                  seed=args.seed, force=args.force_generate)
    except generate.LoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print()
    results = {"list_api": list_api.execute(list_api.Options(database_url=args.database_url))}
    print("\nsummary: " + ", ".join(
        f"{name} {'PASS' if status == 0 else 'FAIL'}" for name, status in results.items()
    ))
    return 0 if all(status == 0 for status in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
