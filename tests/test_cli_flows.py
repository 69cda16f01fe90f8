"""The ``integrator run`` and ``integrator jobs`` commands against a fake SaaS app."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from fakes import FakeSaas
from fakes.flows import create_rest_flow
from integrator import cli
from integrator.api.app import build_context
from integrator.cli import app
from integrator.config import Settings
from integrator.resources.service import ResourceService
from integrator.store import accounts
from integrator.store.accounts import Principal

WIDE = {"COLUMNS": "200"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INTEGRATOR_HOME", str(tmp_path))
    monkeypatch.setenv("INTEGRATOR_SECRET_KEY", "cli-test-" * 5)
    # The CLI's console was sized when it was imported; give these tests a wide terminal.
    monkeypatch.setattr(cli, "console", Console(width=200, soft_wrap=True))
    return tmp_path


def make_flow(base_url: str, page_size: int) -> str:
    context = build_context(Settings())
    with context.transaction() as session:
        account, _ = accounts.create_account(session, "cli")
        service = ResourceService(session, context.cipher, Principal(account.id, "cli"))
        flow = create_rest_flow(service, base_url, page_size, name="CLI")
    context.engine.dispose()
    return str(flow["_id"])


def test_run_then_jobs(home: Path) -> None:
    runner = CliRunner()
    with FakeSaas.running(records=50, page_size=10) as fake:
        flow_id = make_flow(fake.base_url, 10)
        result = runner.invoke(app, ["run", flow_id], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "completed" in result.output
    assert "numSuccess=50" in result.output
    job_id = result.output.split("Job ", 1)[1].split()[0]

    listed = runner.invoke(app, ["jobs", "--flow", flow_id], env=WIDE)
    assert listed.exit_code == 0, listed.output
    assert job_id in listed.output
    assert "completed" in listed.output


def test_run_unknown_flow(home: Path) -> None:
    result = CliRunner().invoke(app, ["run", "0" * 24], env=WIDE)
    assert result.exit_code == 1
    assert "No flow" in result.output
