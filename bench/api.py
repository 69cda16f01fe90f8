"""Benchmark: authenticated ``GET /v1/exports/{id}`` against a bare FastAPI endpoint that returns
the same JSON, both on uvicorn (one process each), driven by the same client in the same run.

    make bench            # or: .venv/bin/python bench/api.py [--seconds 5] [--rounds 3]

Prints requests per second for both and the ratio (target >= 0.5). The client is wrk when it is
installed (``apt-get install wrk``), otherwise a multi-process keep-alive client in Python.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TOKEN = "bench-token-0123456789abcdef0123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def request(port: int, method: str, path: str, body: object | None = None) -> dict[str, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {data!r}")
    result: dict[str, object] = json.loads(data)
    return result


def start_integrator(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "INTEGRATOR_HOME": str(home),
        "INTEGRATOR_BOOTSTRAP_TOKEN": TOKEN,
        # The benchmark measures throughput, not the rate limit: make the bucket unreachable.
        "INTEGRATOR_RATE_LIMIT_BUCKET": "1000000000",
        "INTEGRATOR_RATE_LIMIT_PER_SECOND": "1000000000",
        "INTEGRATOR_LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "integrator", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


BARE_APP = textwrap.dedent(
    """
    import sys
    from fastapi import FastAPI
    from starlette.responses import Response

    BODY = open(sys.argv[1], "rb").read()
    app = FastAPI()

    @app.get("/v1/exports/{id}")
    def get_export(id: str) -> Response:
        return Response(BODY, media_type="application/json")
    """
)


def serve_module(
    workdir: Path, name: str, source: str, port: int, argument: str
) -> subprocess.Popen[bytes]:
    """Serve ``app`` of the module ``source`` on uvicorn in a process of its own; the module
    reads ``argument`` as ``sys.argv[1]``."""
    (workdir / f"{name}.py").write_text(source)
    code = (
        f"import sys, uvicorn; sys.path.insert(0, sys.argv[2]); import {name}; "
        f"uvicorn.run({name}.app, host='127.0.0.1', port=int(sys.argv[3]), "
        "log_level='warning', access_log=False)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, argument, str(workdir), str(port)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_bare(workdir: Path, body: bytes, port: int) -> subprocess.Popen[bytes]:
    (workdir / "body.json").write_bytes(body)
    return serve_module(workdir, "bare_app", BARE_APP, port, str(workdir / "body.json"))


def _client_loop(port: int, path: str, seconds: float, counter: object) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        done += 1
    with counter.get_lock():  # type: ignore[attr-defined]
        counter.value += done  # type: ignore[attr-defined]


def wrk_rate(wrk: str, *arguments: str) -> float:
    """Run wrk; its requests per second, refusing a run with any non-2xx answer."""
    out = subprocess.run([wrk, *arguments], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(out)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found.group(1))


def measure(port: int, path: str, seconds: float) -> float:
    """Requests per second for ``GET path`` with 32 keep-alive connections."""
    wrk = shutil.which("wrk")
    if wrk:
        return wrk_rate(
            wrk,
            "-t1",
            "-c32",
            f"-d{seconds:g}s",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            f"http://127.0.0.1:{port}{path}",
        )
    counter = multiprocessing.Value("q", 0)
    clients = [
        multiprocessing.Process(target=_client_loop, args=(port, path, seconds, counter))
        for _ in range(4)
    ]
    for process in clients:
        process.start()
    for process in clients:
        process.join()
    return float(counter.value) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ours_port, bare_port = free_port(), free_port()
        ours = start_integrator(workdir / "home", ours_port)
        try:
            wait_until_up(ours_port)
            connection = request(
                ours_port,
                "POST",
                "/v1/connections",
                {
                    "name": "Shop",
                    "type": "rest",
                    "rest": {
                        "baseURI": "https://shop.example.com",
                        "mediaType": "json",
                        "bearerToken": "secret",
                    },
                },
            )
            export = request(
                ours_port,
                "POST",
                "/v1/exports",
                {
                    "name": "Customers",
                    "_connectionId": connection["_id"],
                    "pageSize": 50,
                    "rest": {
                        "relativeURI": "/customers",
                        "method": "GET",
                        "resourcePath": "customers",
                        "pagingMethod": "nextpageurl",
                        "nextPagePath": "next_page",
                    },
                },
            )
            path = f"/v1/exports/{export['_id']}"
            conn = http.client.HTTPConnection("127.0.0.1", ours_port)
            conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
            body = conn.getresponse().read()
            bare = start_bare(workdir, body, bare_port)
            try:
                wait_until_up(bare_port)
                measure(ours_port, path, 1.0)  # warm up both
                measure(bare_port, path, 1)
                ours_rates, bare_rates = [], []
                for _ in range(args.rounds):
                    bare_rates.append(measure(bare_port, path, args.seconds))
                    ours_rates.append(measure(ours_port, path, args.seconds))
            finally:
                bare.send_signal(signal.SIGTERM)
                bare.wait()
        finally:
            ours.send_signal(signal.SIGTERM)
            ours.wait()

    ours_median, bare_median = statistics.median(ours_rates), statistics.median(bare_rates)
    client = "wrk -t1 -c32" if shutil.which("wrk") else "python, 4 keep-alive processes"
    print(f"client: {client}; {args.rounds} rounds of {args.seconds:g}s, medians")
    print(f"bare FastAPI endpoint:          {bare_median:9.0f} req/s  {bare_rates}")
    print(f"integrator GET /v1/exports/id:  {ours_median:9.0f} req/s  {ours_rates}")
    print(f"ratio: {ours_median / bare_median:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
