"""moment.js dates in Python: ``format_moment`` and ``parse_moment``.

Expected strings were produced by moment 2.30.1 / moment-timezone 0.5.45 on Node, e.g.
``moment.tz(Date.UTC(2021, 0, 3, 21, 7, 9, 45), "America/New_York").format(fmt)``.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrator.mapping.dates import format_moment, parse_moment

NEW_YORK = ZoneInfo("America/New_York")
#: 2021-01-03 21:07:09.045 UTC, a Sunday, in ISO week 53 of 2020.
SUNDAY = datetime(2021, 1, 3, 21, 7, 9, 45_000, tzinfo=UTC).astimezone(NEW_YORK)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("YYYY YY Q M MM MMM MMMM", "2021 21 1 1 01 Jan January"),
        ("D DD Do DDD DDDD", "3 03 3rd 3 003"),
        ("d dd ddd dddd E e", "0 Su Sun Sunday 7 0"),
        ("W WW w ww GGGG gggg", "53 53 2 02 2020 2021"),
        ("H HH h hh k kk m mm s ss", "16 16 4 04 16 16 7 07 9 09"),
        ("S SS SSS SSSS SSSSSSSSS", "0 04 045 0450 045000000"),
        ("A a Z ZZ X x", "PM pm -05:00 -0500 1609708029 1609708029045"),
        ("[Today is] dddd [at] LT", "Today is Sunday at 4:07 PM"),
        ("LLLL", "Sunday, January 3, 2021 4:07 PM"),
        ("YYYY-MM-DDTHH:mm:ss.SSSZ", "2021-01-03T16:07:09.045-05:00"),
        ("qQ Jj", "q1 Jj"),
        ("\\YYYY [YYYY] YYYY", "YYYY YYYY 2021"),
        ("z zz", "EST EST"),
    ],
)
def test_format_moment_prints_every_token_as_moment_does(fmt: str, expected: str) -> None:
    assert format_moment(SUNDAY, fmt) == expected


def test_format_moment_numbers_weeks_across_the_new_year_like_moment() -> None:
    new_years_eve = datetime(2020, 12, 31, tzinfo=UTC)
    assert format_moment(new_years_eve, "W GGGG w gggg DDD") == "53 2020 1 2021 366"
    assert format_moment(new_years_eve, "Do MMMM YYYY, h:mm:ss a") == (
        "31st December 2020, 12:00:00 am"
    )


def test_format_moment_reads_a_naive_datetime_as_utc_for_offsets_and_epochs() -> None:
    naive = datetime(1970, 1, 2)
    assert (
        format_moment(naive, "YYYY-MM-DD HH:mm Z X x") == "1970-01-02 00:00 +00:00 86400 86400000"
    )


@pytest.mark.parametrize(
    ("text", "fmt", "tz", "expected"),
    [
        (
            "12/25/2020 9:05 PM",
            "MM/DD/YYYY h:mm A",
            "America/Los_Angeles",
            "2020-12-25T21:05:00-08:00",
        ),
        ("25.12.2020", "DD.MM.YYYY", "Europe/Berlin", "2020-12-25T00:00:00+01:00"),
        ("20201225", "YYYYMMDD", None, "2020-12-25T00:00:00+00:00"),
        ("Dec 25th 2020", "MMM Do YYYY", None, "2020-12-25T00:00:00+00:00"),
        ("1608854400", "X", None, "2020-12-25T00:00:00+00:00"),
        ("2020-12-25 10:00 +05:30", "YYYY-MM-DD HH:mm Z", None, "2020-12-25T10:00:00+05:30"),
        # Inside the spring-forward gap moment moves the wall clock forward.
        ("2020-03-08 02:30", "YYYY-MM-DD HH:mm", "America/New_York", "2020-03-08T03:30:00-04:00"),
        # moment's non-strict parser skips separators and literal text it cannot find.
        ("2020/12/25", "YYYY-MM-DD", None, "2020-12-25T00:00:00+00:00"),
        ("2020-12-25T10:00", "YYYY-MM-DD HH:mm", None, "2020-12-25T10:00:00+00:00"),
        ("5 Jan 69", "D MMM YY", None, "1969-01-05T00:00:00+00:00"),
        ("5 Jan 68", "D MMM YY", None, "2068-01-05T00:00:00+00:00"),
        ("12:30 am 2020-01-05", "h:mm a YYYY-MM-DD", None, "2020-01-05T00:30:00+00:00"),
        ("2020-01-05 24:00", "YYYY-MM-DD HH:mm", None, "2020-01-06T00:00:00+00:00"),
    ],
)
def test_parse_moment_reads_text_by_format_in_the_given_timezone(
    text: str, fmt: str, tz: str | None, expected: str
) -> None:
    assert parse_moment(text, fmt, tz).isoformat() == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-01-05T10:11:12Z", "2020-01-05T10:11:12+00:00"),
        ("2020-01-05T10:11:12.5+05:30", "2020-01-05T10:11:12.500000+05:30"),
        ("2020-01-05", "2020-01-05T00:00:00-05:00"),
        ("2020-01-05 10:11", "2020-01-05T10:11:00-05:00"),
        ("20200105T101112", "2020-01-05T10:11:12-05:00"),
        ("2020-W02-3", "2020-01-08T00:00:00-05:00"),
        ("2020-100", "2020-04-09T00:00:00-04:00"),
        ("2020-01", "2020-01-01T00:00:00-05:00"),
        ("Sun, 05 Jan 2020 10:11:12 GMT", "2020-01-05T10:11:12+00:00"),
        ("1578219072000", "2020-01-05T05:11:12-05:00"),
    ],
)
def test_parse_moment_without_a_format_reads_iso_8601_rfc_2822_and_epoch_milliseconds(
    text: str, expected: str
) -> None:
    assert parse_moment(text, tz="America/New_York").isoformat() == expected


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("garbage", None),
        ("2020-13-05", "YYYY-MM-DD"),
        ("2020-02-30", "YYYY-MM-DD"),
        ("2020-01-05T25:00", None),
        ("no digits here", "MM/DD/YYYY"),
    ],
)
def test_parse_moment_raises_value_error_for_text_that_is_not_a_date(
    text: str, fmt: str | None
) -> None:
    with pytest.raises(ValueError):
        parse_moment(text, fmt)


def test_parse_moment_rejects_an_unknown_timezone() -> None:
    with pytest.raises(ValueError, match="Unknown timezone"):
        parse_moment("2020-01-05", None, "Mars/Olympus_Mons")


def test_parse_moment_defaults_a_missing_year_to_the_current_one_as_moment_does() -> None:
    parsed = parse_moment("12/25", "MM/DD")
    assert (parsed.month, parsed.day, parsed.year) == (12, 25, datetime.now(UTC).year)


# From 1970: before that some zones had offsets in seconds (Kolkata +05:21:10), which Z cannot show.
instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
zones = st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])


@given(instants, zones)
def test_an_iso_string_written_by_format_moment_parses_back_to_the_same_instant(
    moment: datetime, zone: str
) -> None:
    local = moment.astimezone(ZoneInfo(zone))
    text = format_moment(local, "YYYY-MM-DDTHH:mm:ss.SSSZ")
    assert parse_moment(text) == moment
    assert parse_moment(text, "YYYY-MM-DDTHH:mm:ss.SSSZ") == moment


@given(
    instants,
    st.sampled_from(
        [
            "MM/DD/YYYY HH:mm:ss.SSS",
            "DD.MM.YYYY h:mm:ss.SSS A",
            "MMMM Do YYYY, hh:mm:ss.SSS a",
            "YYYYMMDDHHmmssSSS",
            "ddd, D MMM YYYY k:mm:ss.SSS",
            "x",
        ]
    ),
)
def test_any_format_parses_what_it_formats(moment: datetime, fmt: str) -> None:
    assert parse_moment(format_moment(moment, fmt), fmt) == moment


@given(st.integers(min_value=-(10**12), max_value=10**13))
def test_epoch_milliseconds_parse_to_that_instant_unless_they_read_as_an_iso_date(
    millis: int,
) -> None:
    text = str(millis)
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    if len(text) == 8:  # YYYYMMDD, when the digits make a date
        with contextlib.suppress(ValueError):
            expected = datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
    if len(text) == 7 and int(text[:4]) >= 1:  # YYYYDDD, when the day exists in that year
        try:
            ordinal = datetime.strptime(text, "%Y%j").replace(tzinfo=UTC)
        except ValueError:
            ordinal = None
        if ordinal is not None and ordinal.year == int(text[:4]):  # strptime allows day 366
            expected = ordinal
    assert parse_moment(text) == expected
