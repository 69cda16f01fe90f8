"""What the three task bodies share: sessions, the system principal, where errors go, and how
renewed tokens and refused credentials reach the connection (``engine.runner`` puts the tasks
together)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from integrator.adaptors.http.auth import TokenSet
from integrator.engine import joberrors as errors_store
from integrator.engine.hooks import (
    HookContext,
    HookRunner,
    NoHookRunner,
)
from integrator.engine.pagestore import DatabasePages, PageStore
from integrator.errors import IntegratorError
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store.accounts import Principal
from integrator.store.crypto import Cipher
from integrator.store.models import Job, Resource

log = logging.getLogger("integrator.engine")

DISPATCH = "integrator.dispatch"
EXPORT = "integrator.export"
PAGE = "integrator.page"
SYSTEM_TOKEN = "system"


def stored_tokens_reader(
    sessions: sessionmaker[Session], cipher: Cipher
) -> Callable[[str], tuple[str | None, str | None] | None]:
    """Reads a connection's stored OAuth tokens by id, whatever its account (the refresh
    coordinator of ``adaptors/http/refresh.py`` asks)."""

    def read(connection_id: str) -> tuple[str | None, str | None] | None:
        with sessions() as session:
            owner = session.scalar(
                select(Resource.account_id).where(
                    Resource.id == connection_id, Resource.type == "connections"
                )
            )
            if owner is None:
                return None
            service = ResourceService(session, cipher, Principal(owner, SYSTEM_TOKEN))
            return service.stored_tokens(connection_id)

    return read


def hook_context(job: Job, flow: Mapping[str, Any] | None = None) -> HookContext:
    """Whom a hook of this job runs for: the job's account, flow and integration, and the
    connector the flow belongs to (its one-time token reaches only that connector's data)."""
    connector = (flow or {}).get("_connectorId")
    return HookContext(
        account_id=job.account_id,
        flow_id=job.flow_id,
        integration_id=job.integration_id,
        connector_id=connector if isinstance(connector, str) else None,
        job_id=job.flow_job_id or job.id,
    )


class TaskQueue(Protocol):
    def send(self, name: str, *args: Any) -> None:
        """Ask a worker to run task ``name`` with ``args`` (JSON values)."""


class RunnerBase:
    """Everything that starts, advances and ends jobs; one per process."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        cipher: Cipher,
        queue: TaskQueue,
        hooks: HookRunner | None = None,
        pages: PageStore | None = None,
    ) -> None:
        self.sessions = sessions
        self.cipher = cipher
        self.queue = queue
        self.hooks: HookRunner = hooks or NoHookRunner()
        #: Where stored pages' records live (``engine.pagestore``).
        self.pages: PageStore = pages or DatabasePages()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def service(self, session: Session, account_id: str) -> ResourceService:
        return ResourceService(session, self.cipher, Principal(account_id, SYSTEM_TOKEN))

    def _where(
        self, job: Job, job_id: str, step_id: str, o_index: int, stage: str
    ) -> errors_store.Where:
        """Where errors of ``job`` go: a retry's errors stay with the flow job it retries."""
        flow_job_id = job.retry_of_job_id if job.type == "retry" and job.retry_of_job_id else job.id
        return errors_store.Where(
            account_id=job.account_id,
            flow_id=job.flow_id,
            flow_job_id=flow_job_id,
            job_id=job_id,
            step_id=step_id,
            o_index=o_index,
            stage=stage,
        )

    # -- connections -------------------------------------------------------------------------

    def _token_listener(self, account_id: str, connection_id: str) -> Callable[[TokenSet], None]:
        def store(tokens: TokenSet) -> None:
            with self.transaction() as session:
                self.service(session, account_id).store_tokens(
                    connection_id, tokens.access_token, tokens.refresh_token
                )

        return store

    def _set_offline(self, account_id: str, connection_id: str | None) -> None:
        if not connection_id:
            return
        with self.transaction() as session:
            self.service(session, account_id).set_offline(
                REGISTRY["connections"], connection_id, True
            )

    def finish_if_done(self, job_id: str) -> None:
        """End the job when all its work is done (``FlowRunner``)."""
        raise NotImplementedError


def describe(exc: BaseException) -> str:
    if isinstance(exc, IntegratorError):
        return "; ".join(item.message for item in exc.items) or str(exc)
    return str(exc) or type(exc).__name__
