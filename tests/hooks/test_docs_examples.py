"""The examples of docs/hooks.md run as written: each JavaScript and Python pair, with the
options its ``<!-- example: -->`` comment gives, returns what its ``<!-- expect: -->`` says."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrator.hooks.base import Invocation, Limits, Runtime
from integrator.hooks.js_process import JavaScriptProcesses
from integrator.hooks.python_sandbox import PythonRuntime

from conftest import IN_CI

DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"
EXAMPLE = re.compile(
    r"<!-- example: (?P<kind>options|each)=(?P<input>.*?) -->\s*"
    r"<!-- expect: (?P<expect>.*?) -->\s*"
    r"```javascript\n(?P<javascript>.*?)```\s*"
    r"```python\n(?P<python>.*?)```",
    re.DOTALL,
)


def examples() -> list[dict[str, Any]]:
    found = [match.groupdict() for match in EXAMPLE.finditer(DOC.read_text())]
    assert len(found) >= 4, "docs/hooks.md lost its examples"
    return found


@pytest.fixture(scope="module")
def runtimes() -> Iterator[dict[str, Runtime]]:
    made: dict[str, Runtime] = {"javascript": JavaScriptProcesses(size=1)}
    if shutil.which("bwrap") or IN_CI:
        made["python"] = PythonRuntime(pool_size=1)
    yield made
    for runtime in made.values():
        runtime.close()


@pytest.mark.parametrize("language", ["javascript", "python"])
@pytest.mark.parametrize("example", examples(), ids=lambda e: e["javascript"].split("(")[0][9:])
def test_the_documented_example_returns_what_the_doc_says(
    runtimes: dict[str, Runtime], example: dict[str, Any], language: str
) -> None:
    if language not in runtimes:
        pytest.skip("bubblewrap is not installed")
    source = example[language]
    function = re.search(r"(?:function|def) (\w+)\(", source)
    assert function is not None
    given = json.loads(example["input"])
    invocation = Invocation(
        tenant="docs",
        source=source,
        source_key=f"docs-{language}-{function.group(1)}",
        function=function.group(1),
        options=given if example["kind"] == "options" else {},
        each=given if example["kind"] == "each" else None,
    )
    outcome = runtimes[language].run(invocation, Limits(timeout_seconds=10))
    assert outcome.value == json.loads(example["expect"])
