"""Values no database can store are refused with the field's path, never stored changed."""

from __future__ import annotations

from typing import Any

import pytest

from integrator.errors import ValidationFailed
from integrator.resources.base import MAX_DEPTH, check_json_storable


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": {"b": 2**63}}, "a.b"),
        ({"a": [1, -(2**63) - 1]}, "a.1"),
        ({"a": float("inf")}, "a"),
        ({"x": [{"y": float("nan")}]}, "x.0.y"),
        ({"name": "a\x00b"}, "name"),
        ({"k\x00": 1}, "k\\u0000"),
    ],
)
def test_unstorable_values_are_refused_naming_the_field(value: Any, path: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_json_storable(value)
    assert caught.value.items[0].field == path


def test_ordinary_documents_pass() -> None:
    check_json_storable({"a": [1, 2.5, True, None, "text", {"b": 2**63 - 1}]})


def test_nesting_is_limited_without_exhausting_the_stack() -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH - 1):
        deep = [deep]
    check_json_storable({"deep": deep})
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValidationFailed) as caught:
        check_json_storable({"deep": deep})
    assert caught.value.items[0].field is not None
    assert caught.value.items[0].field.startswith("deep.0.0")
