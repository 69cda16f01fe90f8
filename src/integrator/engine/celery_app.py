"""The Celery app: the queue that carries "run this step of that job" between processes.

The broker is ``INTEGRATOR_BROKER_URL`` (RabbitMQ or Redis when scaled out) or, in the embedded
default, kombu's SQLAlchemy transport on its own SQLite file under ``INTEGRATOR_HOME``. Tasks
carry ids only; the database holds the state (``engine.runner``), so settings favour safety:
late acknowledgement, redelivery when a worker is lost, one message prefetched at a time.

``EmbeddedWorker`` runs a Celery worker in threads of the current process (``integrator
serve``); ``integrator worker`` runs the same worker in the foreground of its own process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery
from celery import _state as celery_state
from celery.worker import WorkController

from integrator.config import Settings
from integrator.engine.runner import DISPATCH, EXPORT, PAGE, FlowRunner

log = logging.getLogger("integrator.worker")

#: Hard limit of one task (a page generator reading a very large export is one task).
TASK_TIME_LIMIT = 6 * 3600
#: How often the SQLite transport looks for new messages when its queue is empty.
SQLITE_POLL_SECONDS = 0.05


def make_celery(settings: Settings) -> Celery:
    """A Celery app for these settings (tasks are added by ``register_tasks``)."""
    broker = settings.effective_broker_url
    app = Celery("integrator", broker=broker, set_as_current=False)
    transport_options: dict[str, Any] = {}
    if broker.startswith("redis"):
        # A task not acknowledged within this many seconds is given to another worker: keep it
        # above the hard time limit or long exports would run twice.
        transport_options["visibility_timeout"] = TASK_TIME_LIMIT + 600
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=TASK_TIME_LIMIT,
        task_soft_time_limit=TASK_TIME_LIMIT - 60,
        task_default_queue="integrator",
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    if broker.startswith("sqla+"):
        _tune_sqlite_transport()
    return app


def _tune_sqlite_transport() -> None:
    """Poll the SQLite queue often: the transport's default second between polls would add up
    to a second to every step of a job. (Its transport options go to ``create_engine``, so the
    interval is set on the transport class.)"""
    from kombu.transport import sqlalchemy as sqla_transport

    sqla_transport.Transport.polling_interval = SQLITE_POLL_SECONDS


class CeleryQueue:
    """``runner.TaskQueue`` over Celery."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send(self, name: str, *args: Any) -> None:
        self.app.send_task(name, args=list(args))


def register_tasks(app: Celery, runner: FlowRunner) -> None:
    """The three tasks of a flow run; each is idempotent (see ``engine.runner``)."""

    @app.task(name=DISPATCH, ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
    def dispatch(flow_id: str) -> None:
        runner.dispatch(flow_id)

    @app.task(name=EXPORT, ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
    def export(job_id: str, generator: int) -> None:
        runner.run_export(job_id, generator)

    @app.task(name=PAGE, ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
    def page(job_id: str, generator: int, page_index: int) -> None:
        runner.process_page(job_id, generator, page_index)


class _Worker(WorkController):  # type: ignore[misc]
    """A WorkController that says when its consumer is ready."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: Any) -> None:
        self.ready.set()


class EmbeddedWorker:
    """A Celery worker in a thread of this process, its tasks run by a thread pool."""

    def __init__(self, app: Celery, concurrency: int) -> None:
        self.app = app
        self.concurrency = concurrency
        self._worker: _Worker | None = None
        self._thread: threading.Thread | None = None
        self._previous: Celery | None = None

    def start(self, timeout: float = 30.0) -> None:
        app = self.app
        app.finalize(auto=True)
        # Celery's task tracer looks tasks up in the default app: one worker app per process
        # at a time. The previous default comes back at ``stop`` (a CLI command run inside a
        # process that already has a worker, as in the tests).
        self._previous = celery_state.default_app
        app.set_current()
        app.set_default()
        with app.connection() as connection:
            # Creates the queue (and, on SQLite, the transport's tables) before consuming.
            connection.default_channel.queue_declare(queue="integrator", durable=True)
        worker = _Worker(
            app=app,
            pool="threads",
            concurrency=self.concurrency,
            hostname=f"embedded-{id(self):x}@localhost",
            loglevel="WARNING",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            ready_callback=None,
        )
        thread = threading.Thread(target=worker.start, name="integrator-worker", daemon=True)
        thread.start()
        if not worker.ready.wait(timeout):
            raise RuntimeError("The embedded worker did not start.")
        self._worker, self._thread = worker, thread

    def stop(self, timeout: float = 15.0) -> None:
        worker, thread = self._worker, self._thread
        self._worker = self._thread = None
        if worker is None or thread is None:
            return
        worker.stop(in_sighandler=False)
        thread.join(timeout)
        if self._previous is not None:
            self._previous.set_current()
            self._previous.set_default()
