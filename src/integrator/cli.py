"""The ``integrator`` command: serve the API, migrate the database, manage accounts and tokens."""

from __future__ import annotations

import gc
import logging
import os
import socket

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from integrator.config import Settings
from integrator.errors import IntegratorError
from integrator.store import accounts as account_store
from integrator.store.db import make_engine, make_session_factory
from integrator.store.migrate import upgrade

app = typer.Typer(help="Integrator: a self-hostable integration platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(tokens_app, name="tokens")

console = Console(soft_wrap=True)
err = Console(stderr=True)


def _sessions(settings: Settings):  # type: ignore[no-untyped-def]
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    return make_session_factory(engine)


def _fail(exc: IntegratorError) -> None:
    err.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


def settle_heap() -> None:
    """Move what start-up allocated out of the garbage collector's view: a long-running
    process then stops re-scanning hundreds of thousands of module objects each time pages
    of records are decoded (measured in docs/performance.md, "Hooks")."""
    gc.collect()
    gc.freeze()


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Migrate the database, create the default account on first start, and serve the API."""
    from integrator.api.app import build_context, create_app

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    context = build_context(settings)
    settle_heap()
    if not settings.api_url:
        # Hooks' API module calls back into this process unless told otherwise.
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        context.hooks.api_url = f"http://{local}:{port}"
    with context.transaction() as session:
        token = account_store.bootstrap(session, settings.bootstrap_token)
    if token is not None:
        console.print(
            "Created the default account. Its API token (shown once, keep it safe):\n"
            f"  [bold]{token}[/bold]\n"
            f"Try: curl -H 'Authorization: Bearer {token}' http://{host}:{port}/v1/tokenInfo"
        )
    console.print(f"Data: {settings.home}   Database: {context.engine.url.render_as_string()}")
    if settings.embedded_worker:
        # The embedded default: flows run in this process too (worker threads + scheduler).
        context.background.start()
    try:
        uvicorn.run(create_app(context), host=host, port=port, log_level=settings.log_level.lower())
    finally:
        context.background.stop()
        context.hooks.close()


@app.command()
def worker(
    concurrency: int = typer.Option(
        0, help="Tasks at once (default INTEGRATOR_WORKER_CONCURRENCY)."
    ),
    hostname: str = typer.Option("", help="Celery node name (default integrator-<pid>@<host>)."),
) -> None:
    """Run a worker: exports, page processing and retries of flow runs (scale-out)."""
    from integrator.api.app import build_context

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    context = build_context(settings)
    settle_heap()
    context.celery.Worker(
        # Unique per process: Celery refuses (RabbitMQ) or confuses (Redis) two workers that
        # share a node name, and several run on one machine.
        hostname=hostname or f"integrator-{os.getpid()}@{socket.gethostname()}",
        pool="threads",
        concurrency=concurrency or settings.worker_concurrency,
        loglevel=settings.log_level.upper(),
        without_mingle=True,
        without_gossip=True,
    ).start()


@app.command()
def scheduler() -> None:
    """Run the scheduler alone: starts scheduled flows (several may run; each run starts once)."""
    import signal
    import threading

    from integrator.api.app import build_context

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    context = build_context(settings)
    settle_heap()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    context.background.start(worker=False, scheduler=True)
    console.print(f"Scheduler running every {settings.scheduler_interval:g} s; Ctrl-C stops it.")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        context.background.stop()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = Settings()
    upgrade(make_engine(settings.effective_database_url))
    console.print("Database is up to date.")


@accounts_app.command("create")
def accounts_create(name: str) -> None:
    """Create an account and print its first API token."""
    sessions = _sessions(Settings())
    try:
        with sessions() as session, session.begin():
            _, token = account_store.create_account(session, name)
    except IntegratorError as exc:
        _fail(exc)
    console.print(token)


@accounts_app.command("list")
def accounts_list() -> None:
    """List accounts."""
    from sqlalchemy import select

    from integrator.store.models import Account

    sessions = _sessions(Settings())
    table = Table("id", "name", "created")
    with sessions() as session:
        for account in session.scalars(select(Account).order_by(Account.created_at)):
            table.add_row(account.id, account.name, account.created_at.isoformat())
    console.print(table)


@tokens_app.command("create")
def tokens_create(
    account: str = typer.Option(..., "--account", help="Account name."),
    name: str = typer.Option(None, help="A label for the token."),
    connector: str = typer.Option(
        None, help="Bind the token to a connector: it may only change that connector's resources."
    ),
) -> None:
    """Create another token for an account and print it (it cannot be shown again)."""
    sessions = _sessions(Settings())
    try:
        with sessions() as session, session.begin():
            row = account_store.find_account(session, account)
            token = account_store.create_token(session, row, name=name, connector_id=connector)
    except IntegratorError as exc:
        _fail(exc)
    console.print(token)


@tokens_app.command("list")
def tokens_list(account: str = typer.Option(..., "--account", help="Account name.")) -> None:
    """List an account's tokens (ids and labels, never the tokens)."""
    sessions = _sessions(Settings())
    table = Table("id", "name", "connector", "created", "revoked")
    try:
        with sessions() as session:
            row = account_store.find_account(session, account)
            for token in account_store.list_tokens(session, row):
                table.add_row(
                    token.id,
                    token.name or "",
                    token.connector_id or "",
                    token.created_at.isoformat(),
                    token.revoked_at.isoformat() if token.revoked_at else "",
                )
    except IntegratorError as exc:
        _fail(exc)
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token: str = typer.Argument(..., help="The token, or its id.")) -> None:
    """Revoke a token: it stops working at once here, and in other API processes within
    ``INTEGRATOR_AUTH_CACHE_SECONDS``."""
    sessions = _sessions(Settings())
    try:
        with sessions() as session, session.begin():
            row = account_store.revoke_token(session, token)
    except IntegratorError as exc:
        _fail(exc)
    console.print(f"Revoked token {row.id}.")


@app.command("run")
def run_flow(
    flow_id: str = typer.Argument(..., help="The flow to run."),
    account: str = typer.Option(None, "--account", help="Account name (default: the owner)."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Queue the run and return at once."),
) -> None:
    """Run a flow and follow its job until it ends (exit code 0 if it completed)."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from sqlalchemy import select

    from integrator.api.app import build_context
    from integrator.engine import jobs
    from integrator.errors import NotFound, ValidationFailed
    from integrator.store.models import Resource

    settings = Settings()
    context = build_context(settings)
    settle_heap()
    with context.transaction() as session:
        query = select(Resource.account_id).where(Resource.id == flow_id, Resource.type == "flows")
        if account is not None:
            try:
                query = query.where(
                    Resource.account_id == account_store.find_account(session, account).id
                )
            except IntegratorError as exc:
                _fail(exc)
        account_id = session.scalar(query)
    if account_id is None:
        err.print(f"[red]error:[/red] No flow {flow_id}")
        raise typer.Exit(1)
    embedded = settings.embedded_worker and settings.broker_url is None
    if embedded and not no_wait:
        context.background.start(scheduler=False)
    try:
        try:
            view = context.runner.run_flow(account_id, flow_id, {})
        except (ValidationFailed, NotFound) as exc:
            for item in exc.items:
                err.print(f"[red]error:[/red] {item.message}")
            raise typer.Exit(1) from None
        if view is None:
            err.print("[red]error:[/red] The flow was not run.")
            raise typer.Exit(1)
        job_id = view["_id"]
        if no_wait:
            console.print(f"Job {job_id} {view.get('status', 'queued')}")
            return
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("pages  exported {task.fields[export]}"),
            TextColumn("[green]success {task.fields[success]}"),
            TextColumn("[red]errors {task.fields[error]}"),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(job_id, total=None, export=0, success=0, error=0)
            while True:
                with context.transaction() as session:
                    job = jobs.get(session, job_id)
                    if job is None:
                        err.print(f"[red]error:[/red] No job {job_id}")
                        raise typer.Exit(1)
                    status, numbers = (
                        job.status,
                        (
                            job.num_export,
                            job.num_success,
                            job.num_error,
                            job.num_ignore,
                        ),
                    )
                    progress.update(
                        task,
                        completed=job.num_pages_processed,
                        total=max(job.num_pages_generated, job.num_pages_processed) or None,
                        export=job.num_export,
                        success=job.num_success,
                        error=job.num_error,
                    )
                if status in jobs.FINAL_STATUSES:
                    break
                time.sleep(0.2)
    finally:
        context.background.stop()
    console.print(
        f"Job {job_id} {status}: numExport={numbers[0]} numSuccess={numbers[1]} "
        f"numError={numbers[2]} numIgnore={numbers[3]}"
    )
    raise typer.Exit(0 if status == "completed" else 1)


@app.command("jobs")
def jobs_list(
    flow: str = typer.Option(None, "--flow", help="Only this flow's jobs."),
    limit: int = typer.Option(20, "--limit", help="How many jobs (newest first)."),
) -> None:
    """List recent flow and retry jobs, newest first, across all accounts."""
    from sqlalchemy import select

    from integrator.store.models import Job

    sessions = _sessions(Settings())
    query = select(Job).where(Job.flow_job_id.is_(None))
    if flow is not None:
        query = query.where(Job.flow_id == flow)
    query = query.order_by(Job.created_at.desc()).limit(limit)
    table = Table()
    # Ids are what people copy from this table: never shortened, whatever the terminal width.
    table.add_column("id", no_wrap=True, min_width=24)
    table.add_column("flow", no_wrap=True, min_width=24)
    for name in ("type", "status", "export", "success", "error", "ignore", "started", "ended"):
        table.add_column(name)
    with sessions() as session:
        for job in session.scalars(query):
            table.add_row(
                job.id,
                job.flow_id or "",
                job.type,
                job.status,
                str(job.num_export),
                str(job.num_success),
                str(job.num_error),
                str(job.num_ignore),
                job.started_at.isoformat(timespec="seconds") if job.started_at else "",
                job.ended_at.isoformat(timespec="seconds") if job.ended_at else "",
            )
    console.print(table)


def main() -> None:
    app()
