"""The ``integrator`` command: serve the API, migrate the database, manage accounts and tokens."""

from __future__ import annotations

import logging

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


@app.command()
def worker(
    concurrency: int = typer.Option(
        0, help="Tasks at once (default INTEGRATOR_WORKER_CONCURRENCY)."
    ),
) -> None:
    """Run a worker: exports, page processing and retries of flow runs (scale-out)."""
    from integrator.api.app import build_context

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    context = build_context(settings)
    context.celery.Worker(
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


def main() -> None:
    app()
