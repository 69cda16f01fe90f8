"""Integrator scaled out on this machine's PostgreSQL and RabbitMQ or Redis, with the real
``integrator worker`` and ``integrator scheduler`` commands: worker processes share a flow run,
a worker killed mid-page loses no record, two schedulers start a due flow once, and a
connection's ``concurrencyLevel`` holds across worker processes.

Every test runs once per broker, on a database, a broker (RabbitMQ vhost or Redis database)
and Redis database of its own (``cluster.py``), so the tests may run in parallel with others.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cluster import Cluster, ServiceUnavailable, cluster, queued_messages
from sqlalchemy import select, update

from fakes import FakeSaas
from integrator.engine.steps import PAGE
from integrator.store.models import FlowSchedule, Job

from conftest import service_unavailable

pytestmark = pytest.mark.postgres

MakeCluster = Callable[..., Cluster]

#: A non-idempotent target: a second POST of a record is a duplicate (the fake refuses it with
#: 422 "email taken", so duplicates are counted from the fake's request log instead). Flows run
#: it after MARK_EXPORTED: a record refused here goes no further in its flow.
POST_CUSTOMERS: dict[str, Any] = {
    "http": {"relativeURI": "/api/customers", "method": "POST"},
    "mapping": {
        "fields": [
            {"extract": "id", "generate": "external_id"},
            {"extract": "email", "generate": "email"},
            {"extract": "name", "generate": "full_name"},
        ]
    },
}
#: An idempotent target: marking a record exported twice changes nothing.
MARK_EXPORTED: dict[str, Any] = {
    "http": {"relativeURI": "/api/items/{{id}}/exported", "method": "PUT"}
}
EXPORTED_PATH = re.compile(r"/api/items/(\d+)/exported")


@pytest.fixture(params=["rabbitmq", pytest.param("redis", marks=pytest.mark.redis)])
def broker_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_cluster(broker_kind: str, tmp_path: Path) -> Iterator[MakeCluster]:
    """``make_cluster(shared_limits=False)``: a deployment on ``broker_kind``, torn down after
    the test (processes stopped, database dropped, broker emptied)."""
    with ExitStack() as stack:

        def make(shared_limits: bool = False) -> Cluster:
            try:
                return stack.enter_context(cluster(tmp_path, broker_kind, shared_limits))
            except ServiceUnavailable as exc:
                service_unavailable(exc.service, exc)  # fails under CI=true
                raise

        yield make


def source(fake: FakeSaas, page_size: int, **http: Any) -> dict[str, Any]:
    """``create_flow`` arguments of an HTTP connection to the fake and a Link-paged export."""
    return {
        "connection": {
            "type": "http",
            "http": {"baseURI": fake.base_url, "mediaType": "json", **http},
        },
        "export": {
            "pageSize": page_size,
            "http": {
                "relativeURI": f"/github/items?per_page={page_size}",
                "paging": {"method": "linkheader"},
            },
        },
    }


def posts_per_record(fake: FakeSaas) -> Counter[int]:
    """How many times each record was POSTed to ``/api/customers``."""
    return Counter(
        json.loads(r.body)["external_id"]
        for r in fake.requests
        if r.method == "POST" and r.path == "/api/customers"
    )


def puts_per_record(fake: FakeSaas) -> Counter[int]:
    """How many times each record was marked exported."""
    found = (EXPORTED_PATH.fullmatch(r.path) for r in fake.requests if r.method == "PUT")
    return Counter(int(match.group(1)) for match in found if match)


def repeats(counts: Counter[int]) -> int:
    """Requests beyond the first per record."""
    return sum(count - 1 for count in counts.values() if count > 1)


def test_worker_processes_share_a_flow_run_and_every_record_arrives_once(
    make_cluster: MakeCluster,
) -> None:
    records, page_size = 2000, 50
    cluster = make_cluster()
    cluster.start_worker()
    cluster.start_worker()
    with FakeSaas.running(records=records, page_size=page_size) as fake:
        flow_id = cluster.create_flow(
            **source(fake, page_size), imports=[MARK_EXPORTED, POST_CUSTOMERS]
        )
        started = time.monotonic()
        job = cluster.wait(cluster.run(flow_id), timeout=120)
        elapsed = time.monotonic() - started
        assert job["status"] == "completed", job
        assert (job["numPagesProcessed"], job["numError"]) == (records // page_size, 0), job
        assert fake.exported == set(range(1, records + 1))
        posts = posts_per_record(fake)
        assert set(posts) == set(range(1, records + 1))
        assert repeats(posts) == 0  # no crash, no duplicate
        assert fake.errors == []
        tasks = cluster.worker_task_counts(expected=2)
    print(f"\n{records} records, 2 workers: {elapsed:.1f} s; tasks per worker {tasks}")
    assert len(tasks) == 2, f"2 workers started, {len(tasks)} answered: {tasks}"
    assert all(count > 0 for count in tasks.values()), tasks


def kill_mid_page(cluster: Cluster, victim: str, fake: FakeSaas, page_size: int) -> int:
    """SIGKILL ``victim`` in the middle of a page's second step, the non-idempotent POSTs
    (between a few and most of them have reached the fake). The page index killed."""
    node = cluster.node_of(victim)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for task in cluster.active_tasks(node):
            if task.get("name") != PAGE:
                continue
            page = int(task["args"][2])
            ids = set(range(page * page_size + 1, (page + 1) * page_size + 1))
            posted = sum(n for i, n in posts_per_record(fake).items() if i in ids)
            if 5 <= posted <= page_size * 3 // 4:
                cluster.kill(victim)
                return page
        time.sleep(0.01)
    raise AssertionError(f"{victim} was never caught mid-page\n{cluster.logs()}")


def test_a_worker_killed_mid_page_loses_no_record_and_duplicates_at_most_one_page(
    make_cluster: MakeCluster, broker_kind: str
) -> None:
    """RabbitMQ gives the dead worker's unacknowledged page to the other worker at once; Redis
    only after its visibility timeout (hours), so there the scheduler's lease resumes the job
    (``INTEGRATOR_JOB_LEASE_SECONDS``)."""
    records, page_size = 1200, 50
    cluster = make_cluster()
    # One task at a time per worker: the killed worker holds exactly one page.
    victim = cluster.start_worker(concurrency=1)
    cluster.start_worker(concurrency=1)
    if broker_kind == "redis":
        cluster.start_scheduler(interval=1, INTEGRATOR_JOB_LEASE_SECONDS="5")
    with FakeSaas.running(records=records, page_size=page_size) as fake:
        fake.delay_seconds = 0.002  # pages take long enough to be caught in the middle
        flow_id = cluster.create_flow(
            **source(fake, page_size), imports=[MARK_EXPORTED, POST_CUSTOMERS]
        )
        started = time.monotonic()
        job_id = cluster.run(flow_id)
        cluster.wait(job_id, until=lambda job: job.num_pages_processed >= 3)
        killed_page = kill_mid_page(cluster, victim, fake, page_size)
        killed_at = time.monotonic() - started
        job = cluster.wait(job_id, timeout=120)
        elapsed = time.monotonic() - started
        posts, puts = posts_per_record(fake), puts_per_record(fake)
        assert job["status"] == "completed", job
        assert job["numPagesProcessed"] == records // page_size, job
        # Every record reached both targets: exactly-once effect on the idempotent one.
        assert fake.exported == set(range(1, records + 1))
        assert set(posts) == set(range(1, records + 1))
        killed_ids = set(range(killed_page * page_size + 1, (killed_page + 1) * page_size + 1))
        print(
            f"\n{broker_kind}: killed {victim} in page {killed_page} at {killed_at:.1f} s; "
            f"completed in {elapsed:.1f} s; duplicate POSTs {repeats(posts)} "
            f"(records {sorted(i for i, n in posts.items() if n > 1)[:3]}...), repeated PUTs "
            f"{repeats(puts)}, job numError {job['numError']} (duplicates refused by the target)"
        )
        # The killed page was redone, and nothing else was.
        assert repeats(posts) >= 5
        assert {i for i, n in posts.items() if n > 1} <= killed_ids
        assert {i for i, n in puts.items() if n > 1} <= killed_ids
        assert repeats(posts) <= page_size
        assert fake.errors == []


def test_two_schedulers_start_a_due_flow_once(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.start_scheduler(interval=0.2)
    cluster.start_scheduler(interval=0.2)
    connection = {"type": "http", "http": {"baseURI": "http://127.0.0.1:9", "mediaType": "json"}}
    export = {"http": {"relativeURI": "/items"}}
    # Yearly, so once claimed a flow is not due again during the test.
    flow_ids = [
        cluster.create_flow(connection, export, [MARK_EXPORTED], schedule="? 0 0 1 1 ?")
        for _ in range(5)
    ]

    def rows() -> list[FlowSchedule]:
        with cluster.context.transaction() as session:
            found = list(
                session.scalars(select(FlowSchedule).where(FlowSchedule.flow_id.in_(flow_ids)))
            )
            session.expunge_all()
            return found

    deadline = time.monotonic() + 30
    while len(rows()) < len(flow_ids):
        cluster.check_alive()
        assert time.monotonic() < deadline, f"the schedulers never saw the flows\n{cluster.logs()}"
        time.sleep(0.1)
    due = datetime.now(UTC) - timedelta(seconds=1)
    with cluster.context.transaction() as session:
        session.execute(
            update(FlowSchedule).where(FlowSchedule.flow_id.in_(flow_ids)).values(next_run_at=due)
        )
    deadline = time.monotonic() + 30
    while any(row.next_run_at <= due for row in rows()):
        assert time.monotonic() < deadline, f"the flows were never claimed\n{cluster.logs()}"
        time.sleep(0.1)
    time.sleep(1.5)  # several more ticks of both schedulers
    cluster.check_alive()
    with cluster.context.transaction() as session:
        started = Counter(
            session.scalars(
                select(Job.flow_id).where(Job.flow_id.in_(flow_ids), Job.flow_job_id.is_(None))
            )
        )
    assert started == dict.fromkeys(flow_ids, 1)
    # One dispatch message per run: a second trigger would coalesce into the queued job, so
    # count what reached the broker too (no worker is running to take them).
    assert queued_messages(cluster.broker_url) == len(flow_ids)


def test_concurrency_level_holds_across_worker_processes(make_cluster: MakeCluster) -> None:
    records, page_size, level = 400, 20, 2
    cluster = make_cluster(shared_limits=True)
    for _ in range(3):
        # 2 threads each: without a shared limit, each process would allow `level` on its own.
        cluster.start_worker(concurrency=2)
    with FakeSaas.running(records=records, page_size=page_size) as fake:
        fake.delay_seconds = 0.02
        flow_id = cluster.create_flow(
            **source(fake, page_size, concurrencyLevel=level), imports=[MARK_EXPORTED]
        )
        started = time.monotonic()
        job = cluster.wait(cluster.run(flow_id), timeout=120)
        elapsed = time.monotonic() - started
        assert job["status"] == "completed", job
        assert fake.exported == set(range(1, records + 1))
        tasks = cluster.worker_task_counts(expected=3)
        print(
            f"\n{len(fake.requests)} requests in {elapsed:.1f} s, at most {fake.max_in_flight} "
            f"at once (concurrencyLevel {level}); tasks per worker {tasks}"
        )
        assert fake.max_in_flight <= level
        assert fake.max_in_flight == level  # the limit was reached, so it was tested
        assert sum(1 for count in tasks.values() if count > 0) >= 2, tasks


def test_oauth_refresh_is_single_flight_across_worker_processes(
    make_cluster: MakeCluster,
) -> None:
    """Refresh tokens rotate (each works once): workers that refreshed the same one at once
    would get ``invalid_grant`` and take the connection offline."""
    records, page_size = 1200, 50
    cluster = make_cluster(shared_limits=True)
    for _ in range(3):
        cluster.start_worker(concurrency=2)
    with FakeSaas.running(
        records=records, page_size=page_size, require_token=True, token_ttl_seconds=2
    ) as fake:
        fake.delay_seconds = 0.006  # the run lasts several token lifetimes
        first = httpx2.post(
            f"{fake.base_url}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "client-id",
                  "client_secret": "client-secret"},
        ).json()  # fmt: skip
        auth = {
            "type": "oauth",
            "oauth": {
                "tokenURI": f"{fake.base_url}/oauth/token",
                "clientId": "client-id",
                "clientSecret": "client-secret",
            },
            "token": {"token": first["access_token"], "refreshToken": first["refresh_token"]},
        }
        flow_id = cluster.create_flow(**source(fake, page_size, auth=auth), imports=[MARK_EXPORTED])
        started = time.monotonic()
        job = cluster.wait(cluster.run(flow_id), timeout=120)
        elapsed = time.monotonic() - started
        grants = Counter(r.status for r in fake.requests if r.path == "/oauth/token")
        print(f"\n{records} records in {elapsed:.1f} s; token requests by status {dict(grants)}")
        assert job["status"] == "completed", job
        assert job["numError"] == 0, job
        assert fake.exported == set(range(1, records + 1))
        assert grants[200] >= 2  # tokens were renewed while the workers ran
        assert set(grants) == {200}  # and never with a refresh token already used
