"""Benchmark: deliveries accepted per second by a webhook listener (token verified, records
parsed, stored durably, 204) against a bare FastAPI endpoint that only stores each body in
SQLite (WAL, one commit per request) and answers 204. Both on uvicorn, one process each, with
the embedded default's SQLite; driven by the same client in the same run.

    .venv/bin/python bench/webhook.py [--seconds 5] [--rounds 3]

Prints deliveries per second for both and the ratio (target >= 0.5). The client is wrk (50
connections) when it is installed (``apt-get install wrk``), otherwise 50 keep-alive Python
clients in a process of their own. No flow listens, so only accepting is measured.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from api import free_port, request, serve_module, start_integrator, wait_until_up, wrk_rate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from webhooks.load import deliver_all

LISTENER_TOKEN = "listener-token-123456"
BODY = b'{"id": 1234, "email": "buyer1234@example.com", "total": 99.5, "lines": [1, 2, 3]}'
CLIENTS = 50

BARE_APP = textwrap.dedent(
    """
    import sqlite3, sys, threading
    from fastapi import FastAPI, Request
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    local = threading.local()

    def db():
        if not hasattr(local, "db"):
            local.db = sqlite3.connect(sys.argv[1], timeout=30)
            local.db.execute("PRAGMA journal_mode=WAL")
            local.db.execute("PRAGMA synchronous=NORMAL")
        return local.db

    with sqlite3.connect(sys.argv[1]) as first:
        first.execute("CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, body BLOB)")

    def store(body):
        connection = db()
        connection.execute("INSERT INTO bodies (body) VALUES (?)", (body,))
        connection.commit()

    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        await run_in_threadpool(store, await request.body())
        return Response(status_code=204)
    """
)


def start_bare(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    return serve_module(workdir, "bare_hook", BARE_APP, port, str(workdir / "bare.db"))


def measure(url: str, seconds: float, workdir: Path) -> float:
    """Deliveries answered 2xx per second, with ``CLIENTS`` keep-alive connections."""
    wrk = shutil.which("wrk")
    if wrk:
        script = workdir / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = '{BODY.decode()}'\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["X-Token"] = "{LISTENER_TOKEN}"\n'
        )
        return wrk_rate(wrk, "-t2", f"-c{CLIENTS}", f"-d{seconds:g}s", "-s", str(script), url)
    count = int(seconds * 1000)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=1) as pool:
        statuses, _ = pool.submit(
            deliver_all, url, [BODY] * count, {"X-Token": LISTENER_TOKEN}, CLIENTS
        ).result()
    if set(statuses) - {204}:
        raise RuntimeError(f"statuses {statuses}")
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ours_port, bare_port = free_port(), free_port()
        ours = start_integrator(workdir / "home", ours_port)
        bare = start_bare(workdir, bare_port)
        try:
            wait_until_up(ours_port)
            wait_until_up(bare_port)
            export = request(
                ours_port,
                "POST",
                "/v1/exports",
                {
                    "name": "Orders in",
                    "type": "webhook",
                    "webhook": {
                        "verify": "token",
                        "token": LISTENER_TOKEN,
                        "tokenLocation": "header",
                        "tokenHeaderName": "X-Token",
                        "tokenHeaderScheme": "none",
                    },
                },
            )
            ours_url = f"http://127.0.0.1:{ours_port}{export['webhook']['url']}"
            bare_url = f"http://127.0.0.1:{bare_port}/hook"
            measure(ours_url, 1.0, workdir)  # warm up both
            measure(bare_url, 1.0, workdir)
            ours_rates, bare_rates = [], []
            for _ in range(args.rounds):
                bare_rates.append(measure(bare_url, args.seconds, workdir))
                ours_rates.append(measure(ours_url, args.seconds, workdir))
        finally:
            for process in (ours, bare):
                process.send_signal(signal.SIGTERM)
                process.wait()

    ours_median, bare_median = statistics.median(ours_rates), statistics.median(bare_rates)
    client = f"wrk -t2 -c{CLIENTS}" if shutil.which("wrk") else f"python, {CLIENTS} clients"
    print(f"client: {client}; {args.rounds} rounds of {args.seconds:g}s, medians")
    print(f"bare FastAPI endpoint (SQLite insert): {bare_median:8.0f} deliveries/s  {bare_rates}")
    print(f"integrator webhook listener:          {ours_median:8.0f} deliveries/s  {ours_rates}")
    print(f"ratio: {ours_median / bare_median:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
