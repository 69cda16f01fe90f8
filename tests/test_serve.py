"""`integrator serve` on a fresh home: prints a token once, serves it, and the CLI manages
accounts and tokens against the same database."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli(home: Path, *args: str) -> str:
    env = {**os.environ, "INTEGRATOR_HOME": str(home)}
    env.pop("INTEGRATOR_SECRET_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "integrator", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def start_server(home: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "INTEGRATOR_HOME": str(home), "COLUMNS": "200"}
    for name in ("INTEGRATOR_SECRET_KEY", "INTEGRATOR_DATABASE_URL", "INTEGRATOR_BOOTSTRAP_TOKEN"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "integrator", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until_serving(process: subprocess.Popen[str]) -> str:
    """Everything the server printed up to "Uvicorn running" (it listens from then on)."""
    assert process.stdout is not None
    output = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output += line
        if "Uvicorn running" in line:
            return output
    raise AssertionError(f"server did not start:\n{output}")


def token_info(port: int, token: str) -> httpx2.Response:
    return httpx2.get(
        f"http://127.0.0.1:{port}/v1/tokenInfo", headers={"Authorization": f"Bearer {token}"}
    )


def test_serve_prints_a_token_once_and_serves_it(tmp_path: Path) -> None:
    port = free_port()
    process = start_server(tmp_path, port)
    try:
        output = read_until_serving(process)
        tokens = re.findall(r"^\s+([0-9a-f]{32})\s*$", output, re.MULTILINE)
        assert len(tokens) == 1, output
        response = token_info(port, tokens[0])
        assert response.status_code == 200
        assert set(response.json()) == {"_userId", "scope"}
        assert (tmp_path / "integrator.db").exists()
        assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    finally:
        process.terminate()
        process.wait(timeout=20)
    # A second start on the same home creates no new account and prints no token.
    second = start_server(tmp_path, port)
    try:
        output = read_until_serving(second)
        assert "API token" not in output
        assert not re.findall(r"^\s+([0-9a-f]{32})\s*$", output, re.MULTILINE)
        assert token_info(port, tokens[0]).status_code == 200
    finally:
        second.terminate()
        second.wait(timeout=20)


def test_cli_creates_accounts_and_tokens_and_revokes_them(tmp_path: Path) -> None:
    cli(tmp_path, "db", "upgrade")
    token = cli(tmp_path, "accounts", "create", "acme")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    second = cli(tmp_path, "tokens", "create", "--account", "acme", "--name", "ci")
    assert re.fullmatch(r"[0-9a-f]{32}", second) and second != token
    listing = cli(tmp_path, "tokens", "list", "--account", "acme")
    assert "ci" in listing and token not in listing
    assert "Revoked" in cli(tmp_path, "tokens", "revoke", second)
    assert "acme" in cli(tmp_path, "accounts", "list")
