"""Settings, read from ``INTEGRATOR_*`` environment variables.

Every setting is documented in ``docs/configuration.md``; keep the two in step.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(os.path.expanduser("~")) / ".integrator"


class Settings(BaseSettings):
    """Process-wide configuration. Build one with ``Settings()`` to read the environment."""

    model_config = SettingsConfigDict(env_prefix="INTEGRATOR_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    database_url: str | None = None
    secret_key: str | None = None
    bootstrap_token: str | None = None
    redis_url: str | None = None
    rate_limit_bucket: int = Field(default=100, ge=1)
    rate_limit_per_second: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_list_limit: int = Field(default=1000, ge=1)
    auth_cache_seconds: float = Field(default=2.0, ge=0)
    log_level: str = "info"
    #: Celery broker: ``amqp://...`` or ``redis://...``; unset, a SQLite file under HOME.
    broker_url: str | None = None
    #: Tasks one worker (the embedded one in ``serve`` included) runs at once, in threads.
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    #: ``serve`` also runs a worker and the scheduler (the embedded default); 0 turns both off.
    embedded_worker: bool = True
    #: Seconds between two scheduler ticks.
    scheduler_interval: float = Field(default=5.0, gt=0)
    #: Where exported pages wait for processing: unset, the database; ``s3://bucket/prefix``
    #: (``?endpoint_url=…&region=…``), S3-compatible object storage.
    page_store_url: str | None = None
    #: A running job without progress for this long is resumed by the scheduler (its worker
    #: is presumed dead); keep it well above the time one page takes.
    job_lease_seconds: float = Field(default=300.0, gt=0)
    #: Where hooks' API module (and stacks, through ``options.bearerToken``) reach this
    #: platform's API; unset, ``serve`` uses its own address and workers ``127.0.0.1:8000``.
    api_url: str | None = None
    #: Limits of one hook call (JavaScript and Python): wall-clock seconds and memory.
    hook_timeout_seconds: float = Field(default=30.0, gt=0, le=900)
    hook_memory_mb: int = Field(default=256, ge=16, le=8192)
    #: Python hooks: CPU seconds per call, largest file written, processes at once.
    hook_cpu_seconds: int = Field(default=30, ge=1)
    hook_file_size_mb: int = Field(default=10, ge=0)
    hook_processes: int = Field(default=16, ge=1)
    #: Runner processes per language (JavaScript, sandboxed Python) kept warm in each worker
    #: process: hook calls that run at once, at most.
    hook_runners: int = Field(default=4, ge=1, le=64)
    #: The interpreter Python hooks run on inside the sandbox (the system's, stdlib only).
    hook_python: str = "/usr/bin/python3"
    #: The bubblewrap binary; without it Python hooks are refused (never run unsandboxed).
    bwrap_path: str = "bwrap"

    @cached_property
    def effective_database_url(self) -> str:
        """The database URL: ``INTEGRATOR_DATABASE_URL`` or SQLite under ``INTEGRATOR_HOME``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'integrator.db'}"

    @cached_property
    def effective_broker_url(self) -> str:
        """The Celery broker: ``INTEGRATOR_BROKER_URL`` or kombu's SQLAlchemy transport on a
        SQLite file of its own under ``INTEGRATOR_HOME`` (it never shares the main database)."""
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{self.home / 'broker.db'}"
