"""Where exported pages wait for their page processors.

By default a page's records live in its ``job_pages`` row (the database every worker already
reaches). With ``INTEGRATOR_PAGE_STORE_URL=s3://bucket/prefix`` they go to S3-compatible
object storage instead and the row keeps a reference (``@s3:<key>``), which keeps large pages
out of the database when many workers on many machines share it. Query parameters of the URL:
``endpoint_url`` (MinIO, Ceph, a local test server) and ``region``; credentials come from the
usual AWS environment or configuration files.

A page's object is deleted once the page has been processed.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

#: What a ``job_pages.records`` value starts with when the records are in object storage.
REFERENCE = b"@s3:"


class PageStore(Protocol):
    def put(self, job_id: str, generator: int, index: int, data: bytes) -> bytes:
        """Keep a page's serialised records; what to store in its ``job_pages`` row."""

    def get(self, stored: bytes | None) -> bytes:
        """The records of a page from what its row holds."""

    def drop(self, stored: bytes | None) -> None:
        """Forget a processed page's records (its row is cleared separately)."""


class DatabasePages:
    """Records inline in the row (the default)."""

    def put(self, job_id: str, generator: int, index: int, data: bytes) -> bytes:
        return data

    def get(self, stored: bytes | None) -> bytes:
        return stored or b"[]"

    def drop(self, stored: bytes | None) -> None:
        return None


class S3Pages:
    """Records as objects ``<prefix>/<job>/<generator>/<index>.json`` in a bucket."""

    def __init__(self, url: str, client: Any = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"A page store URL looks like s3://bucket/prefix, not {url!r}.")
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        if client is None:
            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=query.get("endpoint_url"),
                region_name=query.get("region") or "us-east-1",
            )
        self.client = client

    def _key(self, job_id: str, generator: int, index: int) -> str:
        name = f"{job_id}/{generator}/{index}.json"
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, job_id: str, generator: int, index: int, data: bytes) -> bytes:
        key = self._key(job_id, generator, index)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return REFERENCE + key.encode()

    def get(self, stored: bytes | None) -> bytes:
        if not stored or not stored.startswith(REFERENCE):
            return DatabasePages().get(stored)  # written before the store was switched
        answer = self.client.get_object(Bucket=self.bucket, Key=stored[len(REFERENCE) :].decode())
        body: bytes = answer["Body"].read()
        return body

    def drop(self, stored: bytes | None) -> None:
        if stored and stored.startswith(REFERENCE):
            with contextlib.suppress(Exception):  # a leftover object is harmless
                self.client.delete_object(Bucket=self.bucket, Key=stored[len(REFERENCE) :].decode())


def page_store(url: str | None) -> PageStore:
    """The store ``INTEGRATOR_PAGE_STORE_URL`` names (the database when unset)."""
    return S3Pages(url) if url else DatabasePages()
