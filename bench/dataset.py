"""The data set a benchmark needs, loaded once: ``bench.generate`` runs only when the
``bench_meta`` marker (generator version, seed, sizes) or the row counts do not match, or
when the tables lack a table or column the models have (loaded before a schema change)."""

from __future__ import annotations

from bench import generate
from bench.database import ensure_database, schema_gaps


def load_data(database_url: str, *, accounts: int, contacts: int, seed: int,
              force: bool) -> None:
    """Load the data set, dropping and recreating the tables, unless it is already loaded.

    Raises ``generate.LoadError`` when the database cannot take it.
    """
    ensure_database(database_url)
    if not force and generate.is_loaded(
        database_url, accounts=accounts, contacts=contacts, seed=seed
    ):
        gaps = schema_gaps(database_url)
        if not gaps:
            print(f"data set already loaded ({accounts:,} accounts, {contacts:,} contacts, "
                  f"seed {seed}): not generating it again")
            return
        print(f"data set loaded, but before the models changed ({', '.join(gaps[:5])}"
              f"{', ...' if len(gaps) > 5 else ''} missing): generating it again")
    report = generate.load(
        database_url, accounts=accounts, contacts=contacts, seed=seed,
        anchor=generate.today_utc(), reset=True, create_missing_schema=True,
    )
    generate.print_report(report)
