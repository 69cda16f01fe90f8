"""Pages in S3-compatible storage (INTEGRATOR_PAGE_STORE_URL), against moto's S3 server on
loopback: objects written, read back, deleted once processed; a whole flow runs through it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from fakes import FakeSaas
from fakes.flows import create_rest_flow
from integrator.api.app import build_context
from integrator.engine import jobs
from integrator.engine.pagestore import REFERENCE, S3Pages, page_store
from integrator.resources.service import ResourceService
from integrator.store import accounts
from integrator.store.accounts import Principal

from conftest import make_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def s3_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="pages")
    yield f"s3://pages/integrator?endpoint_url={endpoint}&region=us-east-1"
    server.stop()


def objects(url: str) -> list[str]:
    store = page_store(url)
    assert isinstance(store, S3Pages)
    listed = store.client.list_objects_v2(Bucket="pages")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_page_goes_to_the_bucket_and_back(s3_url: str) -> None:
    store = page_store(s3_url)
    stored = store.put("j" * 24, 0, 3, b'[{"id": 1}]')
    assert stored == REFERENCE + b"integrator/" + b"j" * 24 + b"/0/3.json"
    assert store.get(stored) == b'[{"id": 1}]'
    store.drop(stored)
    assert objects(s3_url) == []


def test_a_page_store_url_must_name_a_bucket() -> None:
    with pytest.raises(ValueError, match="s3://bucket"):
        page_store("https://example.com/pages")


def test_a_flow_runs_with_its_pages_in_object_storage(s3_url: str, tmp_path: Path) -> None:
    context = build_context(make_settings(tmp_path, page_store_url=s3_url))
    context.background.start(scheduler=False)
    try:
        # Slow answers keep pages waiting in the bucket long enough to be seen there.
        with FakeSaas.running(records=300, page_size=50, delay_seconds=0.005) as fake:
            with context.transaction() as session:
                account, _ = accounts.create_account(session, "pages")
                service = ResourceService(session, context.cipher, Principal(account.id, "t"))
                flow = create_rest_flow(service, fake.base_url, page_size=50)
            view = context.runner.run_flow(account.id, flow["_id"], {})
            assert view is not None
            deadline = time.monotonic() + 60
            seen: set[str] = set()
            while True:
                seen.update(objects(s3_url))
                with context.transaction() as session:
                    job = jobs.get(session, view["_id"])
                    assert job is not None
                    if job.status in jobs.FINAL_STATUSES:
                        break
                assert time.monotonic() < deadline, job.status
                time.sleep(0.05)
            assert (job.status, job.num_success, job.num_pages_processed) == ("completed", 300, 6)
            assert len(fake.customers) == 300
        assert seen and all(key.startswith("integrator/") for key in seen)
        assert objects(s3_url) == []  # every processed page's object is gone
    finally:
        context.background.stop()
        context.engine.dispose()
