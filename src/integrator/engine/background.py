"""What ``integrator serve`` runs beside the API in the embedded default: a Celery worker in
threads of the same process and the scheduler tick, so one command gives a working platform.
``integrator worker`` and ``integrator scheduler`` run each on its own (scale-out)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from integrator.config import Settings
from integrator.engine import webhooks
from integrator.engine.celery_app import EmbeddedWorker
from integrator.engine.leases import dispatch_waiting, resume_stale
from integrator.engine.runner import FlowRunner
from integrator.engine.scheduler import Scheduler
from integrator.errors import IntegratorError
from integrator.hooks.tokens import purge_expired_tokens

log = logging.getLogger("integrator.engine")


def scheduled_trigger(runner: FlowRunner) -> Any:
    """The scheduler's trigger: a scheduled run (disabled flows skipped, offline connections
    recorded as a failed job)."""

    def trigger(account_id: str, flow_id: str, options: dict[str, Any] | None) -> None:
        runner.run_flow(account_id, flow_id, options or {}, scheduled=True)

    return trigger


class Background:
    """The embedded worker and scheduler of one process; ``start`` and ``stop`` are
    idempotent."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        runner: FlowRunner,
        celery: Celery,
    ) -> None:
        self.settings = settings
        self.worker = EmbeddedWorker(celery, settings.worker_concurrency)

        def housekeeping() -> None:
            resume_stale(sessions, runner.queue, settings.job_lease_seconds)
            dispatch_waiting(sessions, runner.queue)
            purge_expired_tokens(sessions)
            for account_id, flow_id in webhooks.waiting_flows(sessions):
                try:
                    runner.run_flow(account_id, flow_id, scheduled=True)
                except IntegratorError as exc:  # a flow deleted meanwhile: its deliveries stay
                    log.warning("flow %s has deliveries waiting but cannot run: %s", flow_id, exc)
            webhooks.purge_keys(sessions)

        self.scheduler = Scheduler(
            sessions,
            scheduled_trigger(runner),
            interval=settings.scheduler_interval,
            also=housekeeping,
        )
        self.started = False

    def start(self, *, worker: bool = True, scheduler: bool = True) -> None:
        if self.started:
            return
        self.started = True
        if worker:
            self.worker.start()
        if scheduler:
            self.scheduler.start()
        log.info("embedded worker %s, scheduler %s", worker, scheduler)

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        self.scheduler.stop()
        self.worker.stop()
