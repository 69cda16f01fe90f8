"""Fixtures of the hook tests: the language a parametrised test runs its hook in."""

from __future__ import annotations

import shutil

import pytest

from conftest import IN_CI, service_unavailable

LANGUAGES = ["javascript", "python"]


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    if request.param == "python" and shutil.which("bwrap") is None:
        service_unavailable("bubblewrap", RuntimeError("bwrap is not installed"))
        if not IN_CI:
            pytest.skip("bubblewrap is not installed")
    return str(request.param)
