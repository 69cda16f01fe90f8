"""``dataType`` conversions exactly as seed 003 states them (and JavaScript computes them).

Seed 003: "boolean: null, undefined, false, NaN, 'false', 'off', and 'no' resolve to false. All
other values resolve to true. number: null, undefined, NaN, and any non-numeric string value
resolve to 0. string: simply the string equivalent of the value."
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrator.errors import ValidationFailed
from integrator.mapping import compile_mapping
from integrator.mapping.datatypes import (
    MISSING,
    FieldError,
    date_converter,
    js_string,
    to_boolean,
    to_number,
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
SEED_FALSE = [None, MISSING, False, math.nan, "false", "off", "no"]


def convert(data_type: str, value: Any, **options: Any) -> Any:
    """Run ``value`` through a one-field mapping, as a record would go."""
    mapper = compile_mapping(
        {"fields": [{"extract": "v", "generate": "out", "dataType": data_type, **options}]}
    )
    record = {} if value is MISSING else {"v": value}
    result = mapper.map(record)
    assert result.record is not None, result.errors
    return result.record.get("out", MISSING)


# --- boolean -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", SEED_FALSE)
def test_boolean_is_false_for_each_value_seed_003_lists(value: Any) -> None:
    assert to_boolean(value) is False
    assert convert("boolean", value) is False


@pytest.mark.parametrize(
    "value", [True, "true", "yes", "on", 1, 0, "", "0", "False", "OFF", [], {}]
)
def test_boolean_is_true_for_everything_else_including_zero_empty_and_other_cases(
    value: Any,
) -> None:
    """The seed's list is exact: 0 and "" are not in it, and it compares case-sensitively."""
    assert to_boolean(value) is True


@given(json_values)
def test_boolean_is_false_exactly_for_the_seed_values(value: Any) -> None:
    expected = not (value is None or value is False or value in ("false", "off", "no"))
    assert to_boolean(value) is expected
    assert convert("boolean", value) is expected


# --- number --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0),
        (MISSING, 0),
        (math.nan, 0),
        ("abc", 0),
        ("12px", 0),
        ("1_000", 0),
        ("43", 43),
        (" 43 ", 43),
        ("-2.5", -2.5),
        ("1e3", 1000),
        (".5", 0.5),
        ("5.", 5),
        ("0x1F", 31),
        ("0b101", 5),
        ("0o17", 15),
        ("", 0),
        ("   ", 0),
        (True, 1),
        (False, 0),
        ([7], 7),
        ([1, 2], 0),
        ({"a": 1}, 0),
        (43.0, 43),
        (1.5, 1.5),
        (2**60, 2**60),
    ],
)
def test_number_follows_the_seed_and_javascripts_number(value: Any, expected: Any) -> None:
    result = to_number(value)
    assert result == expected
    assert type(result) is type(expected)


def test_number_keeps_infinity_as_javascript_does() -> None:
    assert to_number("Infinity") == math.inf
    assert to_number("-Infinity") == -math.inf


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_number_turns_any_integer_string_into_that_int(number: int) -> None:
    assert to_number(str(number)) == number
    assert type(to_number(str(number))) is int
    assert convert("number", str(number)) == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_turns_any_float_string_into_that_float(number: float) -> None:
    assert to_number(repr(number)) == number
    assert to_number(js_string(number)) == number


@given(st.text(alphabet=st.characters(exclude_categories=["Nd"]), min_size=1))
def test_number_is_zero_for_any_string_without_digits(text: str) -> None:
    if text.strip(" \t\n\v\f\r\u00a0\u2028\u2029\ufeff").lstrip("+-") == "Infinity":
        return
    assert to_number(text) == 0


@given(json_values)
def test_number_never_returns_nan(value: Any) -> None:
    result = to_number(value)
    assert isinstance(result, int | float) and not isinstance(result, bool)
    assert not (isinstance(result, float) and math.isnan(result))


# --- string --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("43", "43"),
        (43, "43"),
        (43.0, "43"),
        (1.5, "1.5"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (123456789012345680000.0, "123456789012345680000"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        ({"b": 1, "a": [1, "x"]}, '{"b":1,"a":[1,"x"]}'),
        ([1, None, "a"], '[1,null,"a"]'),
    ],
)
def test_string_prints_values_as_javascript_would(value: Any, expected: str) -> None:
    assert js_string(value) == expected
    assert convert("string", value) == expected


def test_string_leaves_a_missing_value_missing() -> None:
    assert convert("string", MISSING) is MISSING


@given(st.integers(min_value=-(10**20), max_value=10**20))
def test_string_of_an_integer_is_its_digits(number: int) -> None:
    assert js_string(number) == str(number)


# Floats left out: JSON.stringify prints 6.0276974618114990e16 as 60276974618114990, which
# Python reads back as an int, equal to JavaScript but not to Python's float.
exact_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), exact_values, max_size=4) | st.lists(exact_values, max_size=4))
def test_string_of_an_object_or_array_is_json_that_reads_back(value: Any) -> None:
    assert json.loads(js_string(value)) == value


# --- date ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("2020-01-05T10:11:12Z", {}, "2020-01-05T10:11:12.000Z"),
        (1578219072000, {}, "2020-01-05T10:11:12.000Z"),
        ("01/05/2020", {"extractDateFormat": "MM/DD/YYYY"}, "2020-01-05T00:00:00.000Z"),
        (
            "01/05/2020 09:30",
            {
                "extractDateFormat": "MM/DD/YYYY HH:mm",
                "extractDateTimezone": "America/New_York",
                "generateDateFormat": "YYYY-MM-DD HH:mm Z",
                "generateDateTimezone": "Asia/Tokyo",
            },
            "2020-01-05 23:30 +09:00",
        ),
        (
            "2020-01-05T10:11:12Z",
            {"generateDateTimezone": "America/New_York"},
            "2020-01-05T05:11:12.000-05:00",
        ),
        (
            20200105,
            {"extractDateFormat": "YYYYMMDD", "generateDateFormat": "MMM D, YYYY"},
            "Jan 5, 2020",
        ),
        ("1578219072", {"extractDateFormat": "X", "generateDateFormat": "x"}, "1578219072000"),
        (None, {}, None),
        ("", {}, ""),
        (MISSING, {}, MISSING),
    ],
)
def test_date_parses_with_extract_format_and_prints_with_generate_format(
    value: Any, options: dict[str, str], expected: Any
) -> None:
    assert convert("date", value, **options) == expected


def test_date_that_does_not_parse_is_an_invalid_date_error_on_that_record() -> None:
    mapper = compile_mapping(
        {
            "fields": [
                {
                    "extract": "d",
                    "generate": "d",
                    "dataType": "date",
                    "extractDateFormat": "MM/DD/YYYY",
                }
            ]
        }
    )
    result = mapper.map({"d": "tomorrow"})
    assert result.record is None
    assert result.errors == (
        {
            "code": "invalid_date",
            "message": "'tomorrow' does not match the date format 'MM/DD/YYYY'.",
            "source": "mapping",
            "field": "d",
        },
    )
    with pytest.raises(FieldError):
        date_converter(None, None, None, None)(True)


def test_an_unknown_data_type_or_timezone_is_rejected_when_compiling() -> None:
    with pytest.raises(ValidationFailed) as raised:
        compile_mapping({"fields": [{"extract": "a", "generate": "a", "dataType": "money"}]})
    assert raised.value.items[0].field == "mapping.fields.0.dataType"
    with pytest.raises(ValidationFailed, match="Unknown timezone"):
        compile_mapping(
            {
                "fields": [
                    {
                        "extract": "a",
                        "generate": "a",
                        "dataType": "date",
                        "generateDateTimezone": "PST8",
                    }
                ]
            }
        )
