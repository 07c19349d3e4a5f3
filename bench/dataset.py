"""The data set a benchmark needs, loaded once: ``bench.generate`` runs only when the
``bench_meta`` marker (generator version, seed, sizes) or the row counts do not match, or
when the tables lack a table or column the models have (loaded before a schema change)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from bench import generate
from bench.database import DEFAULT_DATABASE_URL, ensure_database, schema_gaps


@dataclass(frozen=True)
class DatasetOptions:
    """The options of a harness that loads the data set of ``bench.run_all``; a
    harness's own Options add theirs (:func:`add_dataset_arguments` makes the flags)."""

    database_url: str = DEFAULT_DATABASE_URL
    generate: bool = True
    force_generate: bool = False
    accounts: int = 100_000
    contacts: int = 1_000_000
    seed: int = 42


def load_data(database_url: str, *, accounts: int, contacts: int, seed: int, force: bool) -> None:
    """Load the data set, dropping and recreating the tables, unless it is already loaded.

    Raises ``generate.LoadError`` when the database cannot take it.
    """
    ensure_database(database_url)
    if not force and generate.is_loaded(
        database_url, accounts=accounts, contacts=contacts, seed=seed
    ):
        gaps = schema_gaps(database_url)
        if not gaps:
            print(
                f"data set already loaded ({accounts:,} accounts, {contacts:,} contacts, "
                f"seed {seed}): not generating it again"
            )
            return
        print(
            f"data set loaded, but before the models changed ({', '.join(gaps[:5])}"
            f"{', ...' if len(gaps) > 5 else ''} missing): generating it again"
        )
    report = generate.load(
        database_url,
        accounts=accounts,
        contacts=contacts,
        seed=seed,
        anchor=generate.today_utc(),
        reset=True,
        create_missing_schema=True,
    )
    generate.print_report(report)


def add_dataset_arguments(parser: argparse.ArgumentParser, defaults: Any) -> None:
    """The options of a harness that loads its data set: ``defaults`` (its Options) gives
    database_url, contacts, accounts and seed."""
    parser.add_argument(
        "--database-url",
        default=defaults.database_url,
        help="its own database: loading recreates the tables (default %(default)s)",
    )
    parser.add_argument(
        "--no-generate",
        dest="generate",
        action="store_false",
        help="use the database as it is: never load, reset or reload it",
    )
    parser.add_argument(
        "--force-generate",
        action="store_true",
        help="reload the data set even when bench_meta says it is there",
    )
    parser.add_argument("--contacts", type=int, default=defaults.contacts)
    parser.add_argument("--accounts", type=int, default=defaults.accounts)
    parser.add_argument("--seed", type=int, default=defaults.seed)


def schema_problem(database_url: str) -> str | None:
    """Why the application cannot read the data set (tables loaded before the models
    changed), or None."""
    gaps = schema_gaps(database_url)
    if not gaps:
        return None
    return (
        "the database's tables predate the models (missing: "
        + ", ".join(gaps[:6])
        + (", ..." if len(gaps) > 6 else "")
        + "); the application cannot read them. "
        "Load the data set again (without --no-generate) or migrate the database."
    )


def load_dataset(options: Any) -> None:
    """:func:`load_data` of the data set ``options`` name (``database_url``, ``accounts``,
    ``contacts``, ``seed``, ``force_generate``: a :class:`DatasetOptions` or the parsed
    flags of :func:`add_dataset_arguments`)."""
    load_data(
        options.database_url,
        accounts=options.accounts,
        contacts=options.contacts,
        seed=options.seed,
        force=options.force_generate,
    )


def prepare_dataset(options: DatasetOptions) -> None:
    """Load the data set unless ``options.generate`` is off, then make sure the
    application can read it. Raises ``generate.LoadError`` when it cannot."""
    if options.generate:
        load_dataset(options)
    problem = schema_problem(options.database_url)
    if problem:
        raise generate.LoadError(problem)
