"""The `pivotal` command against a real SQLite file configured by an .ini."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from pivotal_core.cli import (
    cli,
    commands,  # noqa: F401 - registers the subcommands
)
from pivotal_core.testing.fixtures import TEST_SECRET, installed_plugin_names


@pytest.fixture
def ini(tmp_path):
    path = tmp_path / "pivotal.ini"
    plugins = " ".join(installed_plugin_names())
    path.write_text(
        "[app:main]\n"
        "use = egg:pivotal-core\n"
        f"sqlalchemy.url = sqlite:///{tmp_path / 'cli.sqlite'}\n"
        f"huey.url = sqlite:///{tmp_path / 'huey.sqlite'}\n"
        f"dataquality.imports_dir = {tmp_path / 'imports'}\n"
        f"auth.secret = {TEST_SECRET}\n"
        "auth.bcrypt_rounds = 4\n"
        f"pivotal.plugins = {plugins}\n"
    )
    return path


def invoke(ini, *args, **kw):
    result = CliRunner().invoke(cli, ["-c", str(ini), *args], catch_exceptions=False, **kw)
    return result


def rows(ini, sql):
    db = ini.parent / "cli.sqlite"
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        result = conn.execute(text(sql)).all()
    engine.dispose()
    return result


def test_db_upgrade_then_user_create(ini):
    result = invoke(ini, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    result = invoke(
        ini,
        "user",
        "create",
        "--email",
        "Ops@Example.com",
        "--role",
        "manager",
        "--password",
        "a long enough password",
    )
    assert result.exit_code == 0, result.output
    assert rows(ini, "SELECT email, role FROM users") == [("ops@example.com", "manager")]


def test_user_create_refuses_bad_input_and_writes_nothing(ini):
    invoke(ini, "db", "upgrade")
    result = CliRunner().invoke(
        cli,
        [
            "-c",
            str(ini),
            "user",
            "create",
            "--email",
            "x@example.com",
            "--role",
            "pope",
            "--password",
            "a long enough password",
        ],
    )
    assert result.exit_code != 0
    assert rows(ini, "SELECT count(*) FROM users") == [(0,)]
    result = CliRunner().invoke(
        cli,
        [
            "-c",
            str(ini),
            "user",
            "create",
            "--email",
            "x@example.com",
            "--role",
            "admin",
            "--password",
            "é" * 36 + "a",
        ],
    )
    assert result.exit_code != 0
    assert "72 bytes" in result.output
    assert rows(ini, "SELECT count(*) FROM users") == [(0,)]


def test_missing_config_file_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["-c", str(tmp_path / "nope.ini"), "plugins"])
    assert result.exit_code == 2
    assert "not found" in result.output


def test_plugins_lists_installed_plugins(ini):
    result = invoke(ini, "plugins")
    assert result.exit_code == 0, result.output
    for name in installed_plugin_names():
        assert name in result.output
        assert "enabled" in result.output


def test_demo_loads_once_and_prints_a_login(ini):
    invoke(ini, "db", "upgrade")
    args = ["demo", "--accounts", "5", "--contacts", "20", "--admin-password", "demo password 1"]
    result = invoke(ini, *args)
    assert result.exit_code == 0, result.output
    assert "loaded 5 accounts and 20 contacts" in result.output
    assert "admin login: admin@pivotal.example.com / demo password 1" in result.output
    again = CliRunner().invoke(cli, ["-c", str(ini), *args])
    assert again.exit_code == 1, again.output
    assert "--if-empty" in again.output and "Traceback" not in again.output
    skipped = invoke(ini, *args, "--if-empty")
    assert skipped.exit_code == 0
    assert "not loaded again" in skipped.output
    assert "admin login:" in skipped.output
    assert rows(ini, "SELECT count(*) FROM contacts") == [(20,)]


def test_worker_runs_a_queued_job_from_the_sqlite_queue(ini):
    """`pivotal worker` against the embedded default: a job queued by another process runs,
    and its progress is written even though SQLite allows one writer at a time."""
    import subprocess
    import sys
    import time

    invoke(ini, "db", "upgrade")
    invoke(ini, "demo", "--accounts", "2", "--contacts", "6", "--admin-password", "demo password 1")
    script = (
        "from pivotal_core.cli import Context, run_in_transaction\n"
        "from pivotal_core.jobs.services import enqueue\n"
        "from pivotal_core.jobs.queue import registered_task\n"
        f"reg = Context({str(ini)!r}).registry\n"
        "from pivotal_core.audience.bulk import BULK_TASK, Operation, Selection\n"
        "task = registered_task(reg['pivotal.huey'], BULK_TASK)\n"
        "params = {'entity': 'contact', 'operation': Operation('delete').as_json(),"
        " 'selection': Selection('contact', record_ids=(1, 2)).as_json(), 'actor_id': None,"
        " 'role': 'admin', 'request_id': None, 'default_region': 'US'}\n"
        "run_in_transaction(reg, lambda s: enqueue(s, task, 'bulk.contacts.delete', params,"
        " total=2))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    worker = subprocess.Popen(
        [sys.executable, "-m", "pivotal_core.cli", "-c", str(ini), "worker", "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            status = rows(ini, "SELECT status, progress_current FROM jobs")
            if status and status[0][0] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=10)
    assert status == [("succeeded", 2)]
    assert rows(ini, "SELECT count(*) FROM contacts WHERE deleted_at IS NOT NULL") == [(2,)]


def test_import_contacts_from_a_messy_csv_twice(ini, tmp_path):
    """`pivotal import`: normalizes, reports rejected rows, and a second run changes nothing."""
    invoke(ini, "db", "upgrade")
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(
        "First Name,Last Name,Email,Phone,Website\n"
        "ADA,LOVELACE, Ada@Example.COM ,(650) 253-0000,https://www.example.com/about\n"
        "Grace,Hopper,grace@example.com,12,example.com\n"
        "ada,lovelace,ada@example.com,,\n",
        encoding="utf-8",
    )
    rejected = tmp_path / "rejected.csv"
    args = ["import", "contacts", str(csv_path), "--source", "crm-export", "--create-accounts"]
    first = invoke(ini, *args, "--rejected", str(rejected))
    assert first.exit_code == 0, first.output
    assert "created                     1" in first.output
    assert "skipped                     1" in first.output
    assert rows(ini, "SELECT first_name, last_name, email, phone FROM contacts") == [
        ("Ada", "Lovelace", "ada@example.com", "+16502530000")
    ]
    assert rows(ini, "SELECT domain FROM accounts") == [("example.com",)]
    assert "phone: is not a valid phone number" in rejected.read_text(encoding="utf-8-sig")
    second = invoke(ini, *args)
    assert second.exit_code == 0, second.output
    assert "unchanged                   1" in second.output
    assert rows(ini, "SELECT count(*) FROM contacts") == [(1,)]


def test_import_commits_each_chunk_and_marks_a_stopped_batch_failed(ini, tmp_path, monkeypatch):
    """A failure after the first chunk keeps the rows before it and says which batch stopped."""
    from pivotal_core.dataquality import prepare
    from pivotal_core.dataquality.upsert import CHUNK_SIZE

    invoke(ini, "db", "upgrade")
    csv_path = tmp_path / "people.csv"
    lines = ["Email,First Name"] + [f"p{i}@example.com,P{i}" for i in range(CHUNK_SIZE + 3)]
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    real = prepare.prepared_rows

    def breaking(*args, **kwargs):
        for number, row in enumerate(real(*args, **kwargs)):
            if number == CHUNK_SIZE + 1:
                raise OSError("disk went away")
            yield row

    monkeypatch.setattr(prepare, "prepared_rows", breaking)
    result = CliRunner().invoke(
        cli, ["-c", str(ini), "import", "contacts", str(csv_path), "--source", "crm"]
    )
    assert result.exit_code == 1, result.output
    assert "import batch 1 stopped: OSError: disk went away" in result.output
    # The first chunk was committed before the error; the batch says it failed and where.
    assert rows(ini, "SELECT count(*), min(email) FROM contacts") == [
        (CHUNK_SIZE, "p0@example.com")
    ]
    [(status, counts)] = rows(ini, "SELECT status, counts FROM import_batches")
    assert status == "failed" and f'"rows": {CHUNK_SIZE}' in counts


def test_an_import_batch_is_shown_running_before_its_first_chunk_is_done(
    ini, tmp_path, monkeypatch
):
    """Others see the batch running as soon as its rows are read, not once its first chunk
    is committed (the import page said "queued" that long)."""
    from pivotal_core.dataquality import prepare

    invoke(ini, "db", "upgrade")
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("Email,First Name\nada@example.com,Ada\n", encoding="utf-8")
    real = prepare.prepared_rows
    seen: list[list[tuple]] = []

    def watched(*args, **kwargs):
        for row in real(*args, **kwargs):
            seen.append(rows(ini, "SELECT status FROM import_batches"))  # another connection
            yield row

    monkeypatch.setattr(prepare, "prepared_rows", watched)
    result = CliRunner().invoke(
        cli, ["-c", str(ini), "import", "contacts", str(csv_path), "--source", "crm"]
    )
    assert result.exit_code == 0, result.output
    assert seen == [[("running",)]]
    assert rows(ini, "SELECT status FROM import_batches") == [("succeeded",)]


def test_imports_clean_removes_abandoned_uploads_and_keeps_imported_files(ini, tmp_path):
    """`pivotal imports clean [--dry-run]`: an old upload nobody imported and an old partial
    file go; the file an import batch refers to stays."""
    import json
    import os
    import time

    invoke(ini, "db", "upgrade")
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("Email,First Name\nada@example.com,Ada\n", encoding="utf-8")
    assert invoke(ini, "import", "contacts", str(csv_path), "--source", "crm").exit_code == 0
    imports = tmp_path / "imports"
    [imported] = list(imports.glob("*.csv"))
    abandoned = imports / f"{'a' * 64}.csv"
    abandoned.write_text("Email\nbob@example.com\n", encoding="utf-8")
    (imports / "uploads").mkdir()
    note = imports / "uploads" / f"{'b' * 32}.json"
    note.write_text(json.dumps({"stored_path": str(abandoned)}), encoding="utf-8")
    partial = imports / ".upload-x1y2.part"
    partial.write_bytes(b"half a file")
    long_ago = time.time() - 100 * 3600
    for path in (imported, abandoned, note, partial):
        os.utime(path, (long_ago, long_ago))
    size = sum(path.stat().st_size for path in (abandoned, note, partial))

    dry = invoke(ini, "imports", "clean", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"would remove note     {note}" in dry.output
    assert f"would remove file     {abandoned}" in dry.output
    assert f"would remove partial  {partial}" in dry.output
    assert str(imported) not in dry.output
    summary = f"1 upload notes, 1 files and 1 partial files ({size:,} bytes)"
    assert f"would remove {summary}" in dry.output
    assert all(path.exists() for path in (imported, abandoned, note, partial))

    real = invoke(ini, "imports", "clean")
    assert real.exit_code == 0, real.output
    assert f"removed {summary}" in real.output
    assert real.output == dry.output.replace("would remove", "removed")
    assert imported.exists()
    assert not any(path.exists() for path in (abandoned, note, partial))
