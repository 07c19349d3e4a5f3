"""Run the benchmarks in order, as ``make bench`` does: load the data set unless
``bench_meta`` says the same one is already there, then each harness, each printing its
table of figure, value, budget, same-run baseline and verdict.

    python -m bench.run_all [--database-url URL] [--contacts N] [--accounts N] [--seed S]
                            [--list-page-database-url URL]

The list page benchmark has a data set of its own (100,000 contacts over 10,000 accounts),
by default in the database ``pivotal_bench_100k`` of the same server; the import benchmark
empties and fills ``pivotal_bench_import`` there.

Exits 0 when every budget holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from bench import (
    domain_sets,
    generate,
    imports,
    list_api,
    list_export,
    list_page,
    segment_count,
)
from bench.database import DEFAULT_DATABASE_URL, with_dbname
from bench.dataset import load_dataset


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run_all", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--force-generate",
        action="store_true",
        help="reload the data sets even when bench_meta says they are there",
    )
    parser.add_argument(
        "--list-page-database-url",
        default=None,
        help="the list page benchmark's own database (default: "
        f"{list_page.DATABASE_NAME} on the server of --database-url)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        load_dataset(args)
    except generate.LoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print()
    results = {"list_api": list_api.execute(list_api.Options(database_url=args.database_url))}
    print()
    results["segment_count"] = segment_count.execute(
        segment_count.Options(database_url=args.database_url, generate=False)
    )
    print()
    results["list_export"] = list_export.execute(
        list_export.Options(database_url=args.database_url, generate=False)
    )
    print()
    list_page_url = args.list_page_database_url or with_dbname(
        args.database_url, list_page.DATABASE_NAME
    )
    if list_page_url == args.database_url:
        print(
            "error: the list page benchmark needs a database of its own (it loads "
            "100,000 contacts there)",
            file=sys.stderr,
        )
        results["list_page"] = 1
    else:
        results["list_page"] = list_page.execute(
            list_page.Options(database_url=list_page_url, force_generate=args.force_generate)
        )
    print()
    results["domain_sets"] = domain_sets.execute(
        domain_sets.Options(
            database_url=args.database_url,
            accounts=args.accounts,
            contacts=args.contacts,
            seed=args.seed,
        )
    )
    print()
    # A database of its own: the import benchmark empties it first.
    results["imports"] = imports.execute(
        imports.Options(database_url=with_dbname(args.database_url, "pivotal_bench_import"))
    )
    print(
        "\nsummary: "
        + ", ".join(
            f"{name} {'PASS' if status == 0 else 'FAIL'}" for name, status in results.items()
        )
    )
    return 0 if all(status == 0 for status in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
