"""Import benchmark: a messy file of new contacts, then its re-import, each beside two
baselines measured in the same run (a raw ``COPY`` of the same file into an unindexed
table, and the database floor: PostgreSQL writing the import's own final rows into indexed
copies of the tables), with peak memory.

    python -m bench.imports [--database-url URL] [--rows 1000000] [--processes N]

Budgets (DESIGN.md section 12): importing new contacts (normalize, upsert, provenance,
audit) at >= 25,000 rows/s with peak memory under 500 MB; re-importing, half of the rows
matching and a fifth of the fields changed, at >= 15,000 rows/s with exactly one audit
row per changed field.

What runs, in a database of its own (``pivotal_bench_import`` by default, emptied and
migrated with alembic first, so it has every index the application has):

1. the files: ``bench.messy`` writes the base file (10% duplicate rows, invalid values)
   and its re-import (half the rows are people of the base file, each with 2 or 3 changed
   cells); kept under ``var/bench`` and reused when their generator arguments match;
2. baseline: ``COPY`` of the base file into a table of text columns with no index;
3. the import: the job's own path, :func:`pivotal_core.dataquality.services.run_batch`
   over :func:`~pivotal_core.dataquality.prepare.prepared_rows`, committing every chunk,
   with a progress bar; contacts attach to accounts by domain, creating them;
4. baseline, the database floor (below): the rows the import left behind written again,
   in one timed transaction, into copies of the tables made before it ran;
5. both baselines and the re-import of the second file the same way. Before it the
   contacts are copied aside; after it the harness counts, column by column, the fields
   that differ, and compares that with the audit rows the batch wrote and with what the
   generator says it changed.

The database floor shows how much of an import's time is PostgreSQL storing the finished
rows into the real, indexed tables (contacts has 19 indexes), work no import engine can
avoid, and how much is the engine. Before each import the tables it writes to (accounts,
contacts, audit_events, import_rejections) are copied as they are, rows included, into
``bench_floor_<table>`` with the same columns, constraints, indexes (rebuilt from the
catalogue) and foreign keys (pointing at the copies): empty before the new import; before
the re-import full copies, audit_events included, so every index is as large as the one
the re-import wrote into. After the import its final rows are staged, untimed, into
unindexed tables: the accounts and contacts its audit ``create`` events name, those its
``update`` events name (and it did not create), its audit events and rejected rows
(``batch_id``). Then one transaction is timed: ``INSERT ... SELECT`` of the created rows,
``UPDATE ... FROM`` setting every column but ``id`` of the updated ones, commit. Its rate
is the file's rows per second, comparable with the import's. Every floor table is dropped
afterwards. It is a floor, not the engine's way: one statement per table, no matching,
no version checks, one commit instead of one per chunk.

Memory is the peak resident set of this process and its children (the row-preparing
workers), sampled every 50 ms; CPU is split into this process tree, the PostgreSQL
backend, and everything else (other programs: figures are unreliable above 20% of a core).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from sqlalchemy.orm import Session

from bench import database, messy
from bench.phases import CpuMeter, say
from bench.report import REPO_ROOT, Figure, format_table, write_results

DEFAULT_DATABASE_URL = database.with_dbname(database.DEFAULT_DATABASE_URL, "pivotal_bench_import")
NEW_BUDGET = 25_000
REIMPORT_BUDGET = 15_000
MEMORY_BUDGET_MB = 500
SOURCE = "benchmark"
# Columns the re-import may change, as contact columns (bench.messy.CHANGEABLE_COLUMNS).
CHANGEABLE = ("first_name", "last_name", "phone", "mobile", "title", "department", "linkedin_url")


@dataclass
class Options:
    database_url: str = DEFAULT_DATABASE_URL
    rows: int = 1_000_000
    seed: int = 7
    processes: int | None = None
    files_dir: Path = REPO_ROOT / "var" / "bench"


@dataclass
class PhaseFigures:
    name: str
    rows: int
    seconds: float
    rows_per_second: float
    peak_rss_mb: float = 0.0
    cpu_percent: dict[str, float] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


class MemoryWatch:
    """Peak resident memory of this process and its children, sampled in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        self.peak = 0
        self._me = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self) -> int:
        total = 0
        for process in [self._me, *self._me.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        return total

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.peak = max(self.peak, self._sample())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())
        return self.peak / 2**20


def _tree_cpu_seconds() -> float:
    me = psutil.Process()
    times = me.cpu_times()
    # Children that ended (the prepare workers) are counted when reaped.
    return times.user + times.system + times.children_user + times.children_system


# --------------------------------------------------------------------------- files


def ensure_files(options: Options) -> tuple[Path, Path, dict[str, Any]]:
    """The base and re-import files, written unless the same ones are already there."""
    folder = options.files_dir
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"contacts_{options.rows}_{options.seed}"
    base, again = folder / f"{stem}_messy.csv", folder / f"{stem}_reimport.csv"
    marker = folder / f"{stem}.json"
    wanted = {"rows": options.rows, "seed": options.seed, "version": 1}
    if marker.exists() and base.exists() and again.exists():
        known = json.loads(marker.read_text())
        if known.get("wanted") == wanted:
            return base, again, known
    say(f"writing {options.rows:,} messy rows to {base}")
    base_counts = messy.write_messy_contacts_csv(base, options.rows, options.seed)
    say(f"writing the re-import to {again}")
    again_counts = messy.write_reimport_csv(again, options.seed, options.rows)
    known = {"wanted": wanted, "base": asdict(base_counts), "reimport": asdict(again_counts)}
    marker.write_text(json.dumps(known, indent=2))
    return base, again, known


# --------------------------------------------------------------------------- database


def reset_database(url: str) -> None:
    """An empty database with the application's schema, made by its migrations."""
    from pivotal_core.migrations.runner import upgrade

    database.ensure_database(url)
    with psycopg.connect(database.psycopg_conninfo(url)) as conn:
        drop_floor_tables(conn)  # an interrupted run's
    engine = database.engine_for(url)
    try:
        with engine.begin() as conn:
            database.drop_schema(conn)
            conn.exec_driver_sql("DROP TABLE IF EXISTS bench_copy")
    finally:
        engine.dispose()
    upgrade(database.psycopg_conninfo(url).replace("postgresql://", "postgresql+psycopg://", 1))


def copy_baseline(conninfo: str, path: Path) -> PhaseFigures:
    """``COPY`` the file into a fresh table of text columns without any index."""
    header = path.open(encoding="utf-8").readline()
    columns = len(header.split(","))
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute(
            "CREATE TABLE bench_copy (" + ", ".join(f"c{i} text" for i in range(columns)) + ")"
        )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor, path.open("rb") as handle:
            with cursor.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER true)") as copy:
                while block := handle.read(1 << 20):
                    copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM bench_copy").fetchone()[0]
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return PhaseFigures("COPY", rows, seconds, rows / seconds)


def run_import(options: Options, path: Path, name: str) -> PhaseFigures:
    """Import ``path`` the way the import job does, committing every chunk."""
    from pivotal_core.audit.services import Actor
    from pivotal_core.dataquality import services
    from pivotal_core.dataquality.files import sniff
    from pivotal_core.dataquality.mapping import suggest_mapping
    from pivotal_core.dataquality.prepare import prepared_rows
    from pivotal_core.dataquality.rows import ImportOptions

    fmt = sniff(path)
    mapping = suggest_mapping("contact", fmt.headers)
    engine = database.engine_for(options.database_url)
    conninfo = database.psycopg_conninfo(options.database_url)
    dbname = psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"]
    total = options.rows
    try:
        with Session(engine) as session:
            batch = services.create_batch(
                session,
                Actor.system(f"import:{SOURCE}"),
                entity="contact",
                source=SOURCE,
                filename=path.name,
                stored_path=str(path),
                file_sha256="-",
                file_format=fmt.as_dict(),
                mapping=mapping,
                options=ImportOptions(create_accounts=True),
            )
            session.commit()
            batch_id = batch.id
            timings: dict[str, float] = {}
            meter = CpuMeter(None, dbname, conninfo)
            memory = MemoryWatch()
            cpu_before = _tree_cpu_seconds()
            started = time.perf_counter()
            last = [0.0]

            def progress(done: int, *_: Any) -> None:
                now = time.perf_counter()
                if now - last[0] >= 2 or done >= total:
                    last[0] = now
                    rate = done / (now - started)
                    say(f"  {name}: {done:,} / {total:,} rows, {rate:,.0f} rows/s")

            rows = prepared_rows(batch, "US", session, processes=options.processes)
            counts = services.run_batch(
                session,
                batch,
                rows,
                progress,
                settings={},
                commit_chunks=True,
                timings=timings,
            )
            session.commit()
            seconds = time.perf_counter() - started
            peak = memory.stop()
            shares = meter.shares(_tree_cpu_seconds() - cpu_before)
            meter.close()
    finally:
        engine.dispose()
    report = counts.as_dict()
    return PhaseFigures(
        name,
        report["rows"],
        seconds,
        report["rows"] / seconds,
        peak,
        {"importer": shares.client, "postgres": shares.postgres, "other": shares.other},
        {
            "counts": report,
            "timings": {k: round(v, 2) for k, v in timings.items()},
            "batch_id": batch_id,
        },
    )


def snapshot_contacts(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_before")
        conn.execute(
            f"CREATE TABLE bench_before AS SELECT id, {', '.join(CHANGEABLE)} FROM contacts"
            " WHERE deleted_at IS NULL"
        )


def changed_fields(conninfo: str, batch_source: str) -> dict[str, int]:
    """Fields that differ between the snapshot and now, and the batch's update audit rows."""
    with psycopg.connect(conninfo) as conn:
        per_column = {
            column: conn.execute(
                f"SELECT count(*) FROM contacts c JOIN bench_before b USING (id)"
                f" WHERE c.{column} IS DISTINCT FROM b.{column}"
            ).fetchone()[0]
            for column in CHANGEABLE
        }
        audit = conn.execute(
            "SELECT count(*) FROM audit_events WHERE entity = 'contact' AND action = 'update'"
            " AND source = %s AND batch_id = (SELECT max(id) FROM import_batches)",
            (f"import:{batch_source}",),
        ).fetchone()[0]
        other_audit = conn.execute(
            "SELECT count(*) FROM audit_events WHERE entity = 'contact' AND action = 'update'"
            " AND batch_id = (SELECT max(id) FROM import_batches)"
            f" AND field NOT IN ({', '.join(repr(c) for c in CHANGEABLE)})"
        ).fetchone()[0]
        conn.execute("DROP TABLE bench_before")
    return {
        "by_column": per_column,
        "changed": sum(per_column.values()),
        "audit_rows": audit,
        "audit_rows_other_fields": other_audit,
    }


# --------------------------------------------------------------------------- database floor

# The tables an import writes rows to, in an order their foreign keys allow, each with the
# audit entity whose 'create' and 'update' events of a batch name its rows; None: the rows
# carry the batch's id themselves.
FLOOR_TABLES: dict[str, str | None] = {
    "accounts": "account",
    "contacts": "contact",
    "audit_events": None,
    "import_rejections": None,
}
FLOOR_PREFIX = "bench_floor_"
_INDEX_DEFINITION = re.compile(r"(CREATE (?:UNIQUE )?INDEX) \S+ ON (?:ONLY )?\S+ (USING .*)")
_REFERENCES = re.compile(r"REFERENCES (?:public\.)?(\w+)\(")


def drop_floor_tables(conn: psycopg.Connection[Any]) -> None:
    """Drop every table the database floor made (copies and staged rows)."""
    names = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE %s",
        (FLOOR_PREFIX.replace("_", r"\_") + "%",),
    ).fetchall()
    for (name,) in names:
        conn.execute(f"DROP TABLE IF EXISTS {name} CASCADE")


def _columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """The columns of ``table`` one can write (not generated), in table order."""
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        (table,),
    ).fetchall()
    return [f'"{name}"' for (name,) in rows]


def prepare_floor_tables(conninfo: str) -> None:
    """Copy every table of :data:`FLOOR_TABLES` as it is now, rows, indexes and foreign keys
    included, into ``bench_floor_<table>``: what the import is about to write into.

    Rows first, then each index rebuilt from its catalogue definition (much faster than
    inserting into 19 indexes), the primary key made a constraint again, the foreign keys
    pointed at the copies (``NOT VALID``: the copied rows are known good; new ones are
    checked); then ``VACUUM ANALYZE``, as contacts and accounts get before the re-import.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        drop_floor_tables(conn)
        for table in FLOOR_TABLES:
            copy = FLOOR_PREFIX + table
            columns = ", ".join(_columns(conn, table))
            with conn.transaction():
                conn.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL EXCLUDING INDEXES)")
                conn.execute(
                    f"INSERT INTO {copy} ({columns}) OVERRIDING SYSTEM VALUE"
                    f" SELECT {columns} FROM {table} ORDER BY id"
                )
                indexes = conn.execute(
                    "SELECT pg_get_indexdef(indexrelid), indisprimary FROM pg_index"
                    " WHERE indrelid = %s::regclass ORDER BY indexrelid",
                    (table,),
                ).fetchall()
                for number, (definition, primary) in enumerate(indexes):
                    match = _INDEX_DEFINITION.fullmatch(definition)
                    if match is None:
                        raise RuntimeError(f"unexpected index definition on {table}: {definition}")
                    name = f"{copy}_ix{number}"
                    conn.execute(f"{match[1]} {name} ON {copy} {match[2]}")
                    if primary:
                        conn.execute(f"ALTER TABLE {copy} ADD PRIMARY KEY USING INDEX {name}")
                foreign_keys = conn.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY oid",
                    (table,),
                ).fetchall()
                for number, (definition,) in enumerate(foreign_keys):
                    definition = _REFERENCES.sub(
                        lambda m: (
                            "REFERENCES "
                            + (FLOOR_PREFIX + m[1] if m[1] in FLOOR_TABLES else m[1])
                            + "("
                        ),
                        definition,
                    )
                    conn.execute(
                        f"ALTER TABLE {copy} ADD CONSTRAINT {copy}_fk{number} {definition}"
                        " NOT VALID"
                    )
            conn.execute(f"VACUUM ANALYZE {copy}")


def measure_database_floor(conninfo: str, batch_id: int, file_rows: int, name: str) -> PhaseFigures:
    """Time PostgreSQL writing the rows batch ``batch_id`` left behind into the copies that
    :func:`prepare_floor_tables` made before it ran: one transaction of ``INSERT ...
    SELECT`` (records and audit events it created, rejected rows) and ``UPDATE ... FROM``
    (records it updated, every column but ``id``), committed. The rows are first staged,
    untimed, into unindexed tables. The rate is ``file_rows`` per second, comparable with
    the import's; every floor table is dropped afterwards.
    """
    batch = int(batch_id)
    dbname = psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"]
    try:
        with psycopg.connect(conninfo) as conn:
            statements: list[tuple[str, str]] = []
            for table, entity in FLOOR_TABLES.items():
                columns = _columns(conn, table)
                listed = ", ".join(columns)
                if entity is None:
                    stages = {"created": f"SELECT id FROM {table} WHERE batch_id = {batch}"}
                else:
                    created = (
                        f"SELECT entity_id FROM audit_events WHERE batch_id = {batch}"
                        f" AND entity = '{entity}' AND action = 'create'"
                    )
                    stages = {
                        "created": created,
                        "updated": (
                            f"SELECT entity_id FROM audit_events WHERE batch_id = {batch}"
                            f" AND entity = '{entity}' AND action = 'update' EXCEPT {created}"
                        ),
                    }
                for stage, ids in stages.items():
                    staged = f"{FLOOR_PREFIX}{stage}_{table}"
                    conn.execute(
                        f"CREATE TABLE {staged} AS SELECT {listed} FROM {table}"
                        f" WHERE id IN ({ids}) ORDER BY id"
                    )
                    conn.execute(f"ANALYZE {staged}")
                    target = FLOOR_PREFIX + table
                    if stage == "created":
                        statement = (
                            f"INSERT INTO {target} ({listed}) OVERRIDING SYSTEM VALUE"
                            f" SELECT {listed} FROM {staged}"
                        )
                    else:
                        sets = ", ".join(f"{c} = s.{c}" for c in columns if c != '"id"')
                        statement = (
                            f"UPDATE {target} AS t SET {sets} FROM {staged} AS s WHERE t.id = s.id"
                        )
                    statements.append((f"{stage} {table}", statement))
            conn.commit()

            written: dict[str, int] = {}
            timings: dict[str, float] = {}
            meter = CpuMeter(None, dbname, conninfo)
            cpu_before = _tree_cpu_seconds()
            started = time.perf_counter()
            for label, statement in statements:
                begun = time.perf_counter()
                written[label] = conn.execute(statement).rowcount
                timings[label] = round(time.perf_counter() - begun, 3)
            begun = time.perf_counter()
            conn.commit()
            seconds = time.perf_counter() - started
            timings["commit"] = round(time.perf_counter() - begun, 3)
            shares = meter.shares(_tree_cpu_seconds() - cpu_before)
            meter.close()
    finally:
        with psycopg.connect(conninfo) as conn:
            drop_floor_tables(conn)
    return PhaseFigures(
        name,
        file_rows,
        seconds,
        file_rows / seconds,
        cpu_percent={"harness": shares.client, "postgres": shares.postgres, "other": shares.other},
        detail={"rows_written": written, "timings": timings},
    )


# --------------------------------------------------------------------------- the run


def run(options: Options) -> tuple[list[Figure], dict[str, Any]]:
    conninfo = database.psycopg_conninfo(options.database_url)
    base, again, known = ensure_files(options)
    say(f"resetting {options.database_url}")
    reset_database(options.database_url)

    prepare_floor_tables(conninfo)  # empty, like the tables the import starts from
    say("baseline: COPY of the base file into an unindexed table")
    copy_new = copy_baseline(conninfo, base)
    say(f"  {copy_new.rows_per_second:,.0f} rows/s")
    say("import of the base file (new contacts)")
    new = run_import(options, base, "new")
    say("baseline: database floor, the same final rows into indexed copies")
    floor_new = measure_database_floor(
        conninfo, new.detail["batch_id"], new.rows, "database floor (new)"
    )
    say(f"  {floor_new.rows_per_second:,.0f} rows/s")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE contacts")  # what autovacuum does between imports
        conn.execute("VACUUM ANALYZE accounts")
    say("copying the tables for the re-import's database floor")
    prepare_floor_tables(conninfo)
    say("baseline: COPY of the re-import file")
    copy_again = copy_baseline(conninfo, again)
    snapshot_contacts(conninfo)
    say("re-import (half matching, a fifth of the fields changed)")
    reimport = run_import(options, again, "re-import")
    check = changed_fields(conninfo, SOURCE)
    say("baseline: database floor of the re-import")
    floor_again = measure_database_floor(
        conninfo, reimport.detail["batch_id"], reimport.rows, "database floor (re-import)"
    )
    say(f"  {floor_again.rows_per_second:,.0f} rows/s")
    expected = known["reimport"]["changed_fields"]
    reimport.detail["changed_fields"] = check
    reimport.detail["generator_changed_fields"] = expected

    audit_exact = (
        check["audit_rows"] == check["changed"] == expected
        and check["audit_rows_other_fields"] == 0
    )
    figures = [
        Figure(
            "import 1M new contacts"
            if options.rows == 1_000_000
            else f"import {options.rows:,} new contacts",
            f"{new.rows_per_second:,.0f} rows/s ({new.seconds:.1f} s)",
            f">= {NEW_BUDGET:,} rows/s",
            f"COPY {copy_new.rows_per_second:,.0f} rows/s ({copy_new.seconds:.1f} s)",
            new.rows_per_second >= NEW_BUDGET,
        ),
        _floor_figure("  database floor (same rows, INSERT ... SELECT)", floor_new, new),
        Figure(
            "  peak memory",
            f"{new.peak_rss_mb:,.0f} MB",
            f"< {MEMORY_BUDGET_MB} MB",
            "",
            new.peak_rss_mb < MEMORY_BUDGET_MB,
        ),
        Figure(
            "re-import (half match, 1/5 fields changed)",
            f"{reimport.rows_per_second:,.0f} rows/s ({reimport.seconds:.1f} s)",
            f">= {REIMPORT_BUDGET:,} rows/s",
            f"COPY {copy_again.rows_per_second:,.0f} rows/s ({copy_again.seconds:.1f} s)",
            reimport.rows_per_second >= REIMPORT_BUDGET,
        ),
        _floor_figure(
            "  database floor (same rows, UPDATE/INSERT ... SELECT)", floor_again, reimport
        ),
        Figure(
            "  peak memory",
            f"{reimport.peak_rss_mb:,.0f} MB",
            f"< {MEMORY_BUDGET_MB} MB",
            "",
            reimport.peak_rss_mb < MEMORY_BUDGET_MB,
        ),
        Figure(
            "  audit rows = changed fields",
            f"{check['audit_rows']:,} audit / {check['changed']:,} changed",
            "equal",
            f"generator: {expected:,} changed",
            audit_exact,
        ),
    ]
    payload = {
        "options": {**asdict(options), "files_dir": str(options.files_dir)},
        "files": known,
        "phases": [asdict(p) for p in (copy_new, new, copy_again, reimport)],
        "database_floor": {"new": asdict(floor_new), "reimport": asdict(floor_again)},
    }
    return figures, payload


def _floor_figure(name: str, floor: PhaseFigures, phase: PhaseFigures) -> Figure:
    """The database floor's line: a baseline, not a budget (its verdict is "-")."""
    return Figure(
        name,
        f"{floor.rows_per_second:,.0f} rows/s ({floor.seconds:.1f} s)",
        "",
        f"into indexed copies: {floor.seconds / phase.seconds:.0%} of the import's time",
        None,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.imports", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="row-preparing workers, 0 for none (default: one per CPU but one)",
    )
    return parser


def execute(options: Options) -> int:
    figures, payload = run(options)
    for phase in [*payload["phases"], *payload["database_floor"].values()]:
        if phase["cpu_percent"]:
            cpu = ", ".join(f"{k} {v:.0f}%" for k, v in phase["cpu_percent"].items())
            print(f"{phase['name']}: CPU {cpu}; timings {phase['detail'].get('timings')}")
            if phase["cpu_percent"].get("other", 0) > 20:
                print(
                    f"  warning: other programs used {phase['cpu_percent']['other']:.0f}%"
                    " of a core: the figure understates the code"
                )
    print(
        format_table(
            f"Import benchmark (PostgreSQL, {options.rows:,} rows, pid {os.getpid()})", figures
        )
    )
    path = write_results("imports", payload, figures)
    print(f"results: {path}")
    return 0 if all(f.passed is not False for f in figures) else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return execute(Options(args.database_url, args.rows, args.seed, args.processes))


if __name__ == "__main__":
    sys.exit(main())
