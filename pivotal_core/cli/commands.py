"""Subcommands of ``pivotal``."""

from __future__ import annotations

import os
import secrets
import threading
import time

import click

from pivotal_core.cli import Context, cli, run_in_transaction

pass_context = click.make_pass_decorator(Context)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(ctx: Context) -> None:
    """Upgrade the core and every installed plugin's tables to their latest version."""
    from pivotal_core.config import CORE_DEFAULTS, env_name
    from pivotal_core.migrations.runner import upgrade

    url = ctx.ini.get("sqlalchemy.url") or CORE_DEFAULTS["sqlalchemy.url"]
    upgrade(os.environ.get(env_name("sqlalchemy.url"), url))
    click.echo("database is up to date")


@cli.group()
def user() -> None:
    """Users."""


@user.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, help="admin, manager, campaign_manager, data_steward, ...")
@click.option("--name", "full_name", default="")
@click.option("--organisation", "organisation_id", type=int, default=None)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when not given.",
)
@pass_context
def user_create(
    ctx: Context, email: str, role: str, full_name: str, organisation_id: int | None, password: str
) -> None:
    """Create a user."""
    from pivotal_core.audit.services import Actor
    from pivotal_core.users.services import create_user

    rounds = ctx.settings["auth.bcrypt_rounds"]

    def work(session):
        user = create_user(
            session,
            Actor.system("cli"),
            email=email,
            password=password,
            role=role,
            full_name=full_name,
            organisation_id=organisation_id,
            bcrypt_rounds=rounds,
        )
        return user.id, user.email

    user_id, email = run_in_transaction(ctx.registry, work)
    click.echo(f"created user {user_id} {email} ({role})")


@cli.command("plugins")
@pass_context
def plugins(ctx: Context) -> None:
    """List installed plugins, their versions, whether enabled, and the hooks they implement."""
    from pivotal_core.plugins import describe_plugins

    registry = ctx.registry
    enabled = registry.settings["pivotal.plugins"]
    infos = describe_plugins(registry.pivotal_hooks, enabled)
    if not infos:
        click.echo("no plugins installed")
    for info in infos:
        state = "enabled" if info.enabled else "disabled"
        click.echo(f"{info.name:<20} {info.distribution} {info.version:<10} {state}")
        click.echo(f"{'':<20} hooks: {', '.join(info.hooks) or '(none)'}")


@cli.command("worker")
@click.option("--workers", default=2, show_default=True, help="Worker threads.")
@pass_context
def worker(ctx: Context, workers: int) -> None:
    """Run the background job consumer (start as many as needed against one Redis)."""
    from pivotal_core.jobs.queue import create_consumer

    huey = ctx.registry["pivotal.huey"]
    click.echo(f"worker consuming {huey.name} with {workers} threads")
    create_consumer(huey, workers).run()


@cli.command("demo")
@click.option("--accounts", default=2000, show_default=True)
@click.option("--contacts", default=20000, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--admin-email", default="admin@pivotal.example.com", show_default=True)
@click.option("--admin-password", default=None, help="Random when not given (printed).")
@click.option("--if-empty", is_flag=True, help="Skip the data when the database has contacts.")
@pass_context
def demo(
    ctx: Context,
    accounts: int,
    contacts: int,
    seed: int,
    admin_email: str,
    admin_password: str | None,
    if_empty: bool,
) -> None:
    """Load deterministic demo data and create an admin login."""
    from sqlalchemy import func, select

    from pivotal_core.accounts.models import Account
    from pivotal_core.audit.services import Actor
    from pivotal_core.contacts.models import Contact
    from pivotal_core.demo import DemoDataError, load_demo
    from pivotal_core.users.models import User
    from pivotal_core.users.services import create_user, get_user

    registry = ctx.registry

    def has_data(session) -> bool:
        # Soft-deleted records count: the demo only loads into an empty database.
        for model in (Account, Contact):
            stmt = select(func.count()).select_from(model).execution_options(include_deleted=True)
            if session.scalar(stmt):
                return True
        return False

    if if_empty and run_in_transaction(registry, has_data):
        click.echo("database already holds data; demo data not loaded again")
    else:
        with click.progressbar(length=accounts + contacts, label="demo data") as bar:
            done = [0]

            def progress(current: int, total: int) -> None:
                bar.update(current - done[0])
                done[0] = current

            try:
                summary = run_in_transaction(
                    registry,
                    lambda s: load_demo(
                        s, accounts=accounts, contacts=contacts, seed=seed, progress=progress
                    ),
                )
            except DemoDataError as exc:
                raise click.ClickException(f"{exc} (use --if-empty to skip the data)") from exc
        click.echo(
            f"loaded {summary.accounts} accounts and {summary.contacts} contacts "
            f"in {summary.seconds:.1f}s"
        )
    # The admin's password is set anew on every run so that it can be printed.
    password = admin_password or secrets.token_urlsafe(12)
    rounds = registry.settings["auth.bcrypt_rounds"]

    def ensure_admin(session):
        from pivotal_core.authnz.passwords import hash_password
        from pivotal_core.authnz.services import revoke_all_tokens

        existing = session.scalar(select(User.id).where(User.email == admin_email))
        if existing is None:
            create_user(
                session,
                Actor.system("cli"),
                email=admin_email,
                password=password,
                role="admin",
                full_name="Demo Admin",
                bcrypt_rounds=rounds,
            )
        else:
            user = get_user(session, existing)
            user.password_hash = hash_password(password, rounds)
            revoke_all_tokens(session, user)

    run_in_transaction(registry, ensure_admin)
    click.echo(f"admin login: {admin_email} / {password}")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=6543, show_default=True)
@click.option("--no-worker", is_flag=True, help="Do not run background jobs in this process.")
@click.option("--threads", default=8, show_default=True)
@pass_context
def serve(ctx: Context, host: str, port: int, no_worker: bool, threads: int) -> None:
    """Development server: the web app plus an in-process job worker."""
    import waitress

    from pivotal_core.app import make_app
    from pivotal_core.jobs.queue import create_consumer

    app = make_app({}, ctx.ini)
    url = f"http://{host}:{port}/"
    server = waitress.create_server(app, host=host, port=port, threads=threads)
    click.echo(f"Pivotal is running at {url}  (API: {url}api/v1/, docs: {url}api/v1/openapi.json)")
    if no_worker:
        server.run()
        return
    web = threading.Thread(target=server.run, name="pivotal-web", daemon=True)
    web.start()
    time.sleep(0.2)
    huey = app.registry["pivotal.huey"]
    try:
        # The consumer wants the main thread for its signal handlers.
        create_consumer(huey, 2).run()
    finally:
        server.close()


@cli.command("import")
@click.argument("entity", type=click.Choice(["contacts", "accounts"]))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", required=True, help="Where the data comes from (survivorship ranks it).")
@click.option(
    "--mapping",
    "mapping_path",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON {column header: field}; suggested from the headers when not given.",
)
@click.option("--dry-run", is_flag=True, help="Compute everything, write nothing but the report.")
@click.option("--create-accounts", is_flag=True, help="Create accounts missing for contacts.")
@click.option("--override-manual", is_flag=True, help="Overwrite values people typed in.")
@click.option(
    "--allow-erased",
    is_flag=True,
    help="Import rows of people erased on request (normally rejected with a reason).",
)
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="When the data was true at its source (ISO 8601 with time zone).",
)
@click.option(
    "--rejected",
    "rejected_path",
    type=click.Path(dir_okay=False),
    help="Write the rejected rows with their reasons to this CSV file.",
)
@pass_context
def import_file(
    ctx: Context,
    entity: str,
    path: str,
    source: str,
    mapping_path: str | None,
    dry_run: bool,
    create_accounts: bool,
    override_manual: bool,
    allow_erased: bool,
    as_of: str | None,
    rejected_path: str | None,
) -> None:
    """Import a CSV or XLSX file of contacts or accounts, with a progress bar and a report."""
    import json
    from datetime import datetime
    from pathlib import Path

    from pivotal_core.audit.services import Actor
    from pivotal_core.dataquality import services, uploads
    from pivotal_core.dataquality.files import count_rows
    from pivotal_core.dataquality.prepare import prepared_rows
    from pivotal_core.dataquality.rows import ImportOptions

    registry = ctx.registry
    settings = registry.settings
    kind = entity[:-1]
    mapping = None
    if mapping_path:
        mapping = json.loads(Path(mapping_path).read_text(encoding="utf-8"))
    moment = None
    if as_of:
        try:
            moment = datetime.fromisoformat(as_of)
        except ValueError as exc:
            raise click.BadParameter("use ISO 8601, e.g. 2026-11-01T00:00:00+00:00") from exc
    with open(path, "rb") as source_file:
        # The upload limit protects the web server; a file on this machine has no limit.
        stored = uploads.store_import_file(settings, source_file, Path(path).name, limited=False)
    total = count_rows(stored.stored_path, stored.format)
    actor = Actor.system(f"import:{source.strip().lower()}")
    options = ImportOptions(
        create_accounts=create_accounts,
        override_manual=override_manual,
        allow_erased=allow_erased,
    )

    def work(session):
        chosen = mapping
        if chosen is None:
            chosen = uploads.suggested_mapping(session, kind, stored.format.headers)
            shown = ", ".join(f"{h} → {f}" for h, f in chosen.items() if f)
            click.echo(f"mapping: {shown}")
        batch = uploads.create_import_batch(
            session,
            actor,
            stored,
            entity=kind,
            source=source,
            mapping=chosen,
            options=options,
            as_of=moment,
            dry_run=dry_run,
        )
        with click.progressbar(length=total, label=f"importing {total:,} rows") as bar:
            done = [0]

            def progress(current: int, *args, **kwargs) -> None:
                bar.update(max(0, current - done[0]))
                done[0] = max(done[0], current)

            rows = prepared_rows(batch, settings["phone.default_region"], session)
            batch_id = batch.id
            try:
                # Every chunk commits: a stop keeps the rows before it (undoable) and
                # marks the batch failed.
                counts = services.run_batch_committing(
                    session, batch, rows, progress, settings=settings
                )
            except Exception as exc:
                raise click.ClickException(
                    f"import batch {batch_id} stopped: {type(exc).__name__}: {exc}. The rows "
                    "imported before the error stay; undo the batch from the import history "
                    f"or POST /api/v1/imports/{batch_id}/undo."
                ) from exc
        return batch_id, counts

    batch_id, counts = run_in_transaction(registry, work)
    report = counts.as_dict()
    click.echo(f"batch {batch_id}{' (dry run: nothing written)' if dry_run else ''}")
    for key in (
        "rows",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "duplicate_rows",
        "accounts_created",
        "audit_events",
    ):
        click.echo(f"  {key.replace('_', ' '):<18} {report.get(key, 0):>10,}")
    for reason, count in sorted((report.get("skipped_reasons") or {}).items()):
        click.echo(f"  skipped for {reason:<10} {count:>8,}")
    if rejected_path and report.get("skipped"):

        def write(session):
            from pivotal_core.dataquality.models import ImportBatch

            batch = session.get(ImportBatch, batch_id)
            with open(rejected_path, "wb") as out:
                for chunk in services.rejected_rows_csv(session, batch):
                    out.write(chunk)

        run_in_transaction(registry, write)
        click.echo(f"rejected rows written to {rejected_path}")


@cli.group()
def imports() -> None:
    """Import files kept for the wizard, the API and `pivotal import`."""


@imports.command("clean")
@click.option("--dry-run", is_flag=True, help="Say what would be removed, remove nothing.")
@pass_context
def imports_clean(ctx: Context, dry_run: bool) -> None:
    """Remove upload notes older than dataquality.upload_retention_hours, kept files as old
    that no import batch, domain set or remaining note refers to, and partial files of
    stopped uploads older than an hour (the hourly job does the same)."""
    from pivotal_core.dataquality.uploads import clean_uploads

    registry = ctx.registry
    cleanup = run_in_transaction(
        registry, lambda session: clean_uploads(session, registry.settings, dry_run=dry_run)
    )
    verb = "would remove" if dry_run else "removed"
    for kind, paths in (
        ("note", cleanup.notes),
        ("file", cleanup.files),
        ("partial", cleanup.partials),
    ):
        for path in paths:
            click.echo(f"{verb} {kind:<8} {path}")
    counts = cleanup.as_dict()
    click.echo(
        f"{verb} {counts['notes']} upload notes, {counts['files']} files and "
        f"{counts['partials']} partial files ({counts['bytes']:,} bytes)"
    )
