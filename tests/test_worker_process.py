"""`integrator serve` without its embedded worker queues runs; an `integrator worker` process
started beside it (same home, same broker file) runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

from fakes import FakeSaas
from test_serve import free_port, read_until_serving


def start(home: Path, *args: str, **env_extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "INTEGRATOR_HOME": str(home), "COLUMNS": "200", **env_extra}
    for name in ("INTEGRATOR_SECRET_KEY", "INTEGRATOR_DATABASE_URL", "INTEGRATOR_BOOTSTRAP_TOKEN"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "integrator", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def test_a_separate_worker_process_runs_the_queued_flow(tmp_path: Path) -> None:
    port = free_port()
    server = start(tmp_path, "serve", "--port", str(port), INTEGRATOR_EMBEDDED_WORKER="false")
    worker: subprocess.Popen[str] | None = None
    try:
        output = read_until_serving(server)
        token = re.findall(r"^\s+([0-9a-f]{32})\s*$", output, re.MULTILINE)[0]
        api = httpx2.Client(
            base_url=f"http://127.0.0.1:{port}/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

        def create(kind: str, body: dict[str, Any]) -> str:
            response = api.post(f"/{kind}", json=body)
            assert response.status_code == 201, response.text
            return str(response.json()["_id"])

        with FakeSaas.running(records=40, page_size=10) as fake:
            connection = create(
                "connections",
                {
                    "name": "Fake",
                    "type": "http",
                    "http": {"baseURI": fake.base_url, "mediaType": "json"},
                },
            )
            export = create(
                "exports",
                {
                    "name": "Items",
                    "_connectionId": connection,
                    "http": {
                        "relativeURI": "/github/items?per_page=10",
                        "paging": {"method": "linkheader"},
                    },
                },
            )
            imp = create(
                "imports",
                {
                    "name": "Mark",
                    "_connectionId": connection,
                    "http": {"relativeURI": "/api/items/{{id}}/exported", "method": "PUT"},
                },
            )
            flow = create(
                "flows",
                {
                    "name": "Via worker",
                    "pageGenerators": [{"_exportId": export}],
                    "pageProcessors": [{"type": "import", "_importId": imp}],
                },
            )
            job_id = api.post(f"/flows/{flow}/run", json={}).json()["_id"]
            time.sleep(2)
            assert api.get(f"/jobs/{job_id}").json()["status"] == "queued"

            worker = start(tmp_path, "worker")
            deadline = time.monotonic() + 60
            while (job := api.get(f"/jobs/{job_id}").json())["status"] not in (
                "completed",
                "failed",
            ):
                assert time.monotonic() < deadline, job
                assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
                time.sleep(0.1)
            assert (job["status"], job["numSuccess"]) == ("completed", 40)
            assert fake.exported == set(range(1, 41))
    finally:
        if worker is not None:
            stop(worker)
        stop(server)
