"""A scaled-out Integrator on this machine's services, for the scale tests and ``bench/scale.py``.

A ``Cluster`` is one deployment: a fresh PostgreSQL database, a broker of its own (a RabbitMQ
vhost or a Redis database) and, optionally, a Redis database for shared limits. Its
``integrator worker`` and ``integrator scheduler`` processes are the real commands, started
with the ``INTEGRATOR_*`` settings of the deployment; resources are created and runs started
through an in-process context built from the same settings, as the API would::

    with cluster(tmp_path, "rabbitmq", shared_limits=True) as deployment:
        deployment.start_worker(concurrency=2)
        flow_id = deployment.create_flow(connection, export, [import_body])
        job = deployment.wait(deployment.run(flow_id))   # the job's API view

Nothing here needs pytest: a service that can't be reached raises ``ServiceUnavailable``.
Each process writes its output to ``<home>/<name>.log``; ``Cluster.logs()`` returns the tails
for failure messages.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import redis
from kombu import Connection

from integrator.api.app import build_context
from integrator.api.context import AppContext
from integrator.config import Settings
from integrator.engine import jobs
from integrator.resources import REGISTRY
from integrator.resources.service import ResourceService
from integrator.store import accounts
from integrator.store.accounts import Principal
from integrator.store.models import Job

PG_ADMIN_DSN = os.environ.get("INTEGRATOR_TEST_PG_DSN", "postgresql://root@127.0.0.1:5432/postgres")
RABBITMQ_URL = os.environ.get("INTEGRATOR_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
REDIS_URL = os.environ.get("INTEGRATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379")
#: Redis databases the scale tests may take (one per cluster role, claimed in database 0).
REDIS_DATABASES = range(10, 16)
#: Celery's queue name (``engine.celery_app``).
QUEUE = "integrator"
SECRET_KEY = "scale-test-secret-key-shared-by-every-process"
INTEGRATOR = [sys.executable, "-m", "integrator"]


class ServiceUnavailable(Exception):
    """PostgreSQL, RabbitMQ or Redis can't be reached (or has no free test database)."""

    def __init__(self, service: str, detail: object) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail


# -- services ------------------------------------------------------------------------------


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database; yields its SQLAlchemy URL and drops it afterwards."""
    name = f"integrator_scale_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise ServiceUnavailable("PostgreSQL", exc) from exc
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_database() -> Iterator[str]:
    """A Redis database nobody else uses, emptied before and after; yields its URL.

    Claims are keys in database 0 that expire, so a crashed run frees its database later."""
    client = redis.Redis.from_url(f"{REDIS_URL}/0", socket_connect_timeout=5)
    token = uuid.uuid4().hex
    try:
        client.ping()
        number = next(
            (n for n in REDIS_DATABASES if client.set(_claim(n), token, nx=True, ex=1800)), None
        )
    except redis.RedisError as exc:
        raise ServiceUnavailable("Redis", exc) from exc
    if number is None:
        raise ServiceUnavailable("Redis", f"databases {REDIS_DATABASES} are all taken")
    url = f"{REDIS_URL}/{number}"
    own = redis.Redis.from_url(url)
    own.flushdb()
    try:
        yield url
    finally:
        own.flushdb()
        if client.get(_claim(number)) == token.encode():
            client.delete(_claim(number))


def _claim(number: int) -> str:
    return f"integrator-scale-tests:db:{number}"


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of its own (``rabbitmqctl``), deleted afterwards; yields the broker URL.

    Other test runs on this RabbitMQ use the same queue name; a vhost keeps their workers off
    our tasks. Without ``rabbitmqctl`` (a remote broker) it falls back to the default vhost
    with the queue purged, and says so on stderr."""
    try:
        with Connection(f"{RABBITMQ_URL}//", connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        raise ServiceUnavailable("RabbitMQ", exc) from exc
    vhost = f"integrator-scale-{uuid.uuid4().hex[:10]}"
    if not _rabbitmqctl("add_vhost", vhost):
        print("rabbitmqctl unusable: sharing the default vhost, queue purged", file=sys.stderr)
        url = f"{RABBITMQ_URL}//"
        purge(url)
        yield url
        return
    try:
        user = RABBITMQ_URL.split("//", 1)[1].split(":", 1)[0]
        _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        yield f"{RABBITMQ_URL}/{quote(vhost, safe='')}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _rabbitmqctl(*args: str) -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, timeout=60)
    return done.returncode == 0


@contextmanager
def broker(kind: str) -> Iterator[str]:
    """A broker URL of its own: ``kind`` is ``"rabbitmq"`` or ``"redis"``."""
    if kind == "rabbitmq":
        with rabbitmq_vhost() as url:
            yield url
    elif kind == "redis":
        with redis_database() as url:
            yield url
    else:
        raise ValueError(f"unknown broker {kind!r}")


def purge(broker_url: str) -> int:
    """Drop the messages waiting in the ``integrator`` queue; how many there were."""
    with Connection(broker_url, connect_timeout=5) as conn:
        channel = conn.default_channel
        channel.queue_declare(queue=QUEUE, durable=True, auto_delete=False)
        return int(channel.queue_purge(QUEUE) or 0)


def queued_messages(broker_url: str) -> int:
    """Messages waiting in the ``integrator`` queue (not those a worker holds)."""
    with Connection(broker_url, connect_timeout=5) as conn:
        ok = conn.default_channel.queue_declare(queue=QUEUE, durable=True, auto_delete=False)
        return int(ok.message_count)


# -- the deployment ------------------------------------------------------------------------


try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
except OSError:
    _LIBC = None


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies, however it dies, so no
    worker outlives an interrupted run (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere a no-op)."""
    if _LIBC is not None and hasattr(_LIBC, "prctl"):
        _LIBC.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


class Cluster:
    """One deployment: its settings, its processes, and an in-process context for set-up.

    Without ``database_url`` and ``broker_url`` it is the embedded default (SQLite files under
    ``home``); ``settings`` are more ``Settings`` fields for the in-process context."""

    def __init__(
        self,
        home: Path,
        database_url: str | None = None,
        broker_url: str | None = None,
        redis_url: str | None = None,
        **settings: Any,
    ) -> None:
        self.home = home
        given = {
            "INTEGRATOR_DATABASE_URL": database_url,
            "INTEGRATOR_BROKER_URL": broker_url,
            "INTEGRATOR_REDIS_URL": redis_url,
        }
        self.env: dict[str, str] = {
            "INTEGRATOR_HOME": str(home),
            "INTEGRATOR_SECRET_KEY": SECRET_KEY,
            "INTEGRATOR_LOG_LEVEL": "warning",
            **{name: value for name, value in given.items() if value},
        }
        # Migrates the database here, once, before any process starts.
        self.context: AppContext = build_context(
            Settings(
                home=home,
                database_url=database_url,
                broker_url=broker_url,
                secret_key=SECRET_KEY,
                redis_url=redis_url,
                **settings,
            )
        )
        self.broker_url = self.context.settings.effective_broker_url
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: set[str] = set()
        self._account_id: str | None = None

    # -- processes ---------------------------------------------------------------------------

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """Run ``integrator <args>`` with this deployment's settings (plus ``env``)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("INTEGRATOR_")}
        with (self.home / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [*INTEGRATOR, *args],
                env={**base, **self.env, **env, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self.processes[name] = process
        return process

    def start_worker(self, concurrency: int = 4, **env: str) -> str:
        name = f"worker-{sum(n.startswith('worker') for n in self.processes) + 1}"
        self.start(name, "worker", INTEGRATOR_WORKER_CONCURRENCY=str(concurrency), **env)
        return name

    def start_scheduler(self, interval: float = 1.0, **env: str) -> str:
        name = f"scheduler-{sum(n.startswith('scheduler') for n in self.processes) + 1}"
        self.start(name, "scheduler", INTEGRATOR_SCHEDULER_INTERVAL=str(interval), **env)
        return name

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to acknowledge, requeue or clean up."""
        process = self.processes[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        self.killed.add(name)

    def check_alive(self) -> None:
        """Fail with its log if a process exited that wasn't killed on purpose."""
        for name, process in self.processes.items():
            if name not in self.killed and process.poll() is not None:
                raise AssertionError(
                    f"{name} exited with {process.returncode}:\n{self.log(name)[-3000:]}"
                )

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self, tail: int = 1500) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-tail:]}" for name in self.processes)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every process (warm shutdown), SIGKILL those still up after ``timeout``."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def worker_stats(self, expected: int, timeout: float = 20.0) -> dict[str, dict[str, Any]]:
        """Celery's ``stats`` of each live worker, by node name, once ``expected`` workers
        answer (or ``timeout`` passed: then fewer)."""
        deadline = time.monotonic() + timeout
        stats: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            stats = self.context.celery.control.inspect(timeout=1.0).stats() or {}
            if len(stats) >= expected:
                break
        return stats

    def worker_task_counts(self, expected: int) -> dict[str, int]:
        """Tasks each live worker has run so far, by node name."""
        stats = self.worker_stats(expected)
        return {node: sum((s.get("total") or {}).values()) for node, s in stats.items()}

    def node_of(self, name: str, timeout: float = 20.0) -> str:
        """The Celery node name of the worker process ``name`` (matched by pid)."""
        pid = self.processes[name].pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            stats = self.context.celery.control.inspect(timeout=1.0).stats() or {}
            for node, values in stats.items():
                if values.get("pid") == pid:
                    return node
        raise AssertionError(f"{name} (pid {pid}) never answered\n{self.logs()}")

    def active_tasks(self, node: str) -> list[dict[str, Any]]:
        """The tasks the worker ``node`` is running now (``name``, ``args``, ...)."""
        inspect = self.context.celery.control.inspect(destination=[node], timeout=1.0, limit=1)
        return list((inspect.active() or {}).get(node) or [])

    # -- resources and runs ------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            with self.context.transaction() as session:
                account, _ = accounts.create_account(session, "scale")
                self._account_id = account.id
        return self._account_id

    def create(self, type_name: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.context.transaction() as session:
            service = ResourceService(
                session, self.context.cipher, Principal(self.account_id, "scale")
            )
            created: dict[str, Any] = service.create(REGISTRY[type_name], body)
            return created

    def create_flow(
        self,
        connection: dict[str, Any],
        export: dict[str, Any],
        imports: list[dict[str, Any]],
        **flow: Any,
    ) -> str:
        """A connection, an export and imports (bodies without ``_connectionId``), and a flow
        running them in order; the flow's id."""
        connection_id = self.create("connections", {"name": "Fake", **connection})["_id"]
        export_id = self.create(
            "exports", {"name": "Items", "_connectionId": connection_id, **export}
        )["_id"]
        processors = []
        for number, body in enumerate(imports, 1):
            made = self.create(
                "imports", {"name": f"Import {number}", "_connectionId": connection_id, **body}
            )
            processors.append({"type": "import", "_importId": made["_id"]})
        body = {
            "name": "Scale",
            "pageGenerators": [{"_exportId": export_id}],
            "pageProcessors": processors,
            **flow,
        }
        return str(self.create("flows", body)["_id"])

    def run(self, flow_id: str) -> str:
        view = self.context.runner.run_flow(self.account_id, flow_id, {})
        assert view is not None
        return str(view["_id"])

    def job(self, job_id: str) -> Job:
        with self.context.transaction() as session:
            job = jobs.get(session, job_id)
            assert job is not None, job_id
            session.expunge(job)
            return job

    def wait(
        self,
        job_id: str,
        timeout: float = 90.0,
        until: Callable[[Job], bool] | None = None,
        poll: float = 0.1,
    ) -> dict[str, Any]:
        """Poll the job until it ends (or ``until(job)`` holds); its API view. Fails early,
        with the logs, when a process died or time ran out."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if until(job) if until is not None else job.status in jobs.FINAL_STATUSES:
                return jobs.job_view(job)
            self.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"job {job_id} still {job.status} after {timeout:g} s: "
                    f"{jobs.job_view(job)}\n{self.logs()}"
                )
            time.sleep(poll)

    def close(self) -> None:
        self.stop()
        if self.context.background.started:
            self.context.background.stop()
        self.context.engine.dispose()


@contextmanager
def cluster(home: Path, broker_kind: str, shared_limits: bool = False) -> Iterator[Cluster]:
    """A ``Cluster`` on a fresh database and a broker of its own (and a Redis database for
    ``INTEGRATOR_REDIS_URL`` if ``shared_limits``); everything is removed afterwards."""
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database())
        broker_url = stack.enter_context(broker(broker_kind))
        redis_url = stack.enter_context(redis_database()) if shared_limits else None
        made = Cluster(home, database_url, broker_url, redis_url)
        stack.callback(made.close)
        yield made
