"""moment.js ``format()`` in Python: the token table, the tokeniser and the "en" locale.

Kept apart from parsing (``dates.py``) so each reads top to bottom; ``dates`` re-exports
``format_moment``, which is the name everything else imports.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["format_moment", "formatter"]

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
MONTHS_SHORT = [name[:3] for name in MONTHS]
WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
WEEKDAYS_SHORT = [name[:3] for name in WEEKDAYS]
WEEKDAYS_MIN = [name[:2] for name in WEEKDAYS]
#: moment's "en" locale: weeks start on Sunday (dow 0) and the week holding 1 January is week 1.
LOCALE_DOW, LOCALE_DOY = 0, 6
#: ``L``, ``LL``... expand to these before formatting, as moment's "en" locale does.
LOCALE_FORMATS = {
    "LTS": "h:mm:ss A",
    "LT": "h:mm A",
    "L": "MM/DD/YYYY",
    "LL": "MMMM D, YYYY",
    "LLL": "MMMM D, YYYY h:mm A",
    "LLLL": "dddd, MMMM D, YYYY h:mm A",
    "l": "M/D/YYYY",
    "ll": "MMM D, YYYY",
    "lll": "MMM D, YYYY h:mm A",
    "llll": "ddd, MMM D, YYYY h:mm A",
}
LOCALE_RE = re.compile(r"(\[[^\[]*\])|(\\)?(LTS|LT|LL?L?L?|l{1,4})")
#: moment's own tokeniser, token for token (``formattingTokens`` in moment.js).
TOKEN_RE = re.compile(
    r"(\[[^\[]*\])|(\\)?([Hh]mm(?:ss)?|Mo|MM?M?M?|Do|DDDo|DD?D?D?|ddd?d?|do?|w[ow]?|W[oW]?"
    r"|Qo?|N{1,5}|YYYYYY|YYYYY|YYYY|YY|y{2,4}|yo?|gg(?:ggg?)?|GG(?:GGG?)?|e|E|a|A|hh?|HH?"
    r"|kk?|mm?|ss?|S{1,9}|x|X|zz?|ZZ?|.)",
    re.S,
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# --- formatting ----------------------------------------------------------------------------


def _ordinal(number: int) -> str:
    last = number % 10
    suffix = "th" if number % 100 // 10 == 1 else {1: "st", 2: "nd", 3: "rd"}.get(last, "th")
    return f"{number}{suffix}"


def _zero_fill(number: int, width: int, force_sign: bool = False) -> str:
    sign = "-" if number < 0 else ("+" if force_sign else "")
    return sign + str(abs(number)).zfill(width)


def _js_weekday(moment: datetime) -> int:
    """0 = Sunday ... 6 = Saturday, as ``Date.getDay()``."""
    return (moment.weekday() + 1) % 7


def _first_week_offset(year: int, dow: int, doy: int) -> int:
    first_week_day = 7 + dow - doy
    jan_fwd = (_js_weekday(datetime(year, 1, first_week_day)) - dow + 7) % 7
    return -jan_fwd + first_week_day - 1


def _weeks_in_year(year: int, dow: int, doy: int) -> int:
    days = 366 if date(year, 12, 31).timetuple().tm_yday == 366 else 365
    offset, next_offset = _first_week_offset(year, dow, doy), _first_week_offset(year + 1, dow, doy)
    return (days - offset + next_offset) // 7


def _locale_week(moment: datetime) -> tuple[int, int]:
    """(week, week-year) in the "en" locale, moment's ``weekOfYear`` with dow 0 / doy 6."""
    year = moment.year
    week = (moment.timetuple().tm_yday - _first_week_offset(year, LOCALE_DOW, LOCALE_DOY) - 1) // 7
    week += 1
    if week < 1:
        return week + _weeks_in_year(year - 1, LOCALE_DOW, LOCALE_DOY), year - 1
    if week > (weeks := _weeks_in_year(year, LOCALE_DOW, LOCALE_DOY)):
        return week - weeks, year + 1
    return week, year


def _offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds() // 60)


def _format_offset(moment: datetime, separator: str) -> str:
    minutes = _offset_minutes(moment)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{separator}{mins:02d}"


def _epoch_ms(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    delta = aware - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _zone_abbr(moment: datetime) -> str:
    """``z``: moment-timezone prints the zone's abbreviation (EST), nothing for bare offsets."""
    if moment.tzinfo is UTC:
        return "UTC"
    if isinstance(moment.tzinfo, ZoneInfo):
        return moment.tzname() or ""
    return ""


def _year(moment: datetime) -> str:
    return _zero_fill(moment.year, 4) if moment.year <= 9999 else f"+{moment.year}"


def _ms(moment: datetime) -> int:
    return moment.microsecond // 1000


Formatter = Callable[[datetime], str]

_FORMATTERS: dict[str, Formatter] = {
    "M": lambda m: str(m.month),
    "Mo": lambda m: _ordinal(m.month),
    "MM": lambda m: f"{m.month:02d}",
    "MMM": lambda m: MONTHS_SHORT[m.month - 1],
    "MMMM": lambda m: MONTHS[m.month - 1],
    "Q": lambda m: str((m.month - 1) // 3 + 1),
    "Qo": lambda m: _ordinal((m.month - 1) // 3 + 1),
    "D": lambda m: str(m.day),
    "Do": lambda m: _ordinal(m.day),
    "DD": lambda m: f"{m.day:02d}",
    "DDD": lambda m: str(m.timetuple().tm_yday),
    "DDDo": lambda m: _ordinal(m.timetuple().tm_yday),
    "DDDD": lambda m: f"{m.timetuple().tm_yday:03d}",
    "d": lambda m: str(_js_weekday(m)),
    "do": lambda m: _ordinal(_js_weekday(m)),
    "dd": lambda m: WEEKDAYS_MIN[_js_weekday(m)],
    "ddd": lambda m: WEEKDAYS_SHORT[_js_weekday(m)],
    "dddd": lambda m: WEEKDAYS[_js_weekday(m)],
    "e": lambda m: str((_js_weekday(m) - LOCALE_DOW) % 7),
    "E": lambda m: str(m.isoweekday()),
    "w": lambda m: str(_locale_week(m)[0]),
    "wo": lambda m: _ordinal(_locale_week(m)[0]),
    "ww": lambda m: f"{_locale_week(m)[0]:02d}",
    "W": lambda m: str(m.isocalendar()[1]),
    "Wo": lambda m: _ordinal(m.isocalendar()[1]),
    "WW": lambda m: f"{m.isocalendar()[1]:02d}",
    "gg": lambda m: f"{_locale_week(m)[1] % 100:02d}",
    "gggg": lambda m: _zero_fill(_locale_week(m)[1], 4),
    "ggggg": lambda m: _zero_fill(_locale_week(m)[1], 5),
    "GG": lambda m: f"{m.isocalendar()[0] % 100:02d}",
    "GGGG": lambda m: _zero_fill(m.isocalendar()[0], 4),
    "GGGGG": lambda m: _zero_fill(m.isocalendar()[0], 5),
    "Y": _year,
    "YY": lambda m: f"{m.year % 100:02d}",
    "YYYY": _year,
    "YYYYY": lambda m: _zero_fill(m.year, 5),
    "YYYYYY": lambda m: _zero_fill(m.year, 6, force_sign=True),
    "y": lambda m: str(m.year),
    "yo": lambda m: _ordinal(m.year),
    "yy": lambda m: _zero_fill(m.year, 2),
    "yyy": lambda m: _zero_fill(m.year, 3),
    "yyyy": lambda m: _zero_fill(m.year, 4),
    "N": lambda m: "AD",
    "NN": lambda m: "AD",
    "NNN": lambda m: "AD",
    "NNNN": lambda m: "Anno Domini",
    "NNNNN": lambda m: "AD",
    "H": lambda m: str(m.hour),
    "HH": lambda m: f"{m.hour:02d}",
    "h": lambda m: str(m.hour % 12 or 12),
    "hh": lambda m: f"{m.hour % 12 or 12:02d}",
    "k": lambda m: str(m.hour or 24),
    "kk": lambda m: f"{m.hour or 24:02d}",
    "hmm": lambda m: f"{m.hour % 12 or 12}{m.minute:02d}",
    "hmmss": lambda m: f"{m.hour % 12 or 12}{m.minute:02d}{m.second:02d}",
    "Hmm": lambda m: f"{m.hour}{m.minute:02d}",
    "Hmmss": lambda m: f"{m.hour}{m.minute:02d}{m.second:02d}",
    "m": lambda m: str(m.minute),
    "mm": lambda m: f"{m.minute:02d}",
    "s": lambda m: str(m.second),
    "ss": lambda m: f"{m.second:02d}",
    "a": lambda m: "am" if m.hour < 12 else "pm",
    "A": lambda m: "AM" if m.hour < 12 else "PM",
    "Z": lambda m: _format_offset(m, ":"),
    "ZZ": lambda m: _format_offset(m, ""),
    "X": lambda m: str(_epoch_ms(m) // 1000),
    "x": lambda m: str(_epoch_ms(m)),
    "z": _zone_abbr,
    "zz": _zone_abbr,
    # Fractional seconds: moment keeps milliseconds only, so digits past the third are zeros.
    "S": lambda m: str(_ms(m) // 100),
    "SS": lambda m: f"{_ms(m) // 10:02d}",
    **{
        "S" * width: (lambda w: lambda m: f"{_ms(m) * 10 ** (w - 3):0{w}d}")(width)
        for width in range(3, 10)
    },
}


def expand_locale_formats(fmt: str) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(3)
        if match.group(1) or match.group(2) or token not in LOCALE_FORMATS:
            return match.group(0)
        return LOCALE_FORMATS[token]

    # moment expands up to five times, so an expansion may itself hold a locale token.
    for _ in range(5):
        expanded = LOCALE_RE.sub(replace, fmt)
        if expanded == fmt:
            break
        fmt = expanded
    return fmt


def literal(match: re.Match[str]) -> str:
    """What moment prints for text that is not a token: ``[...]`` and ``\\x`` lose their marks."""
    text = match.group(0)
    if match.group(1):
        return text[1:-1]
    return text.replace("\\", "")


@lru_cache(maxsize=512)
def _compile_format(fmt: str) -> tuple[str | Formatter, ...]:
    parts: list[str | Formatter] = []
    for match in TOKEN_RE.finditer(expand_locale_formats(fmt)):
        token = match.group(3)
        function = None if match.group(1) or match.group(2) else _FORMATTERS.get(token or "")
        if function is not None:
            parts.append(function)
        elif parts and isinstance(parts[-1], str):
            parts[-1] += literal(match)
        else:
            parts.append(literal(match))
    return tuple(parts)


def format_moment(moment: datetime, fmt: str) -> str:
    """``moment(x).format(fmt)`` in the "en" locale, in the datetime's own offset.

    A naive datetime prints as it stands and counts as UTC for ``Z``, ``X`` and ``x``. Unknown
    letters pass through unchanged; ``[text]`` is printed literally.

    >>> format_moment(datetime(2021, 3, 7, 9, 5, 4, 120000), "YYYY-MM-DD[T]HH:mm:ss.SSSZ [week] W")
    '2021-03-07T09:05:04.120+00:00 week 9'
    """
    return formatter(fmt)(moment)


#: Tokens ``str.format`` can print straight from the datetime's attributes (Python's years
#: stop at 9999, so ``YYYY`` never needs moment's ``+`` sign).
_ATTRIBUTE_FIELDS = {
    _FORMATTERS[token]: field
    for token, field in {
        "YYYY": "{0.year:04d}",
        "M": "{0.month}",
        "MM": "{0.month:02d}",
        "D": "{0.day}",
        "DD": "{0.day:02d}",
        "H": "{0.hour}",
        "HH": "{0.hour:02d}",
        "m": "{0.minute}",
        "mm": "{0.minute:02d}",
        "s": "{0.second}",
        "ss": "{0.second:02d}",
    }.items()
}


@lru_cache(maxsize=512)
def formatter(fmt: str) -> Callable[[datetime], str]:
    """``format_moment`` with ``fmt`` fixed: tokenised once, then one ``str.format`` per date.

    >>> formatter("MM/DD/YYYY [at] h A")(datetime(2026, 3, 5, 14))
    '03/05/2026 at 2 PM'
    """
    template: list[str] = []
    computed: list[Formatter] = []
    for part in _compile_format(fmt):
        if isinstance(part, str):
            template.append(part.replace("{", "{{").replace("}", "}}"))
        elif part in _ATTRIBUTE_FIELDS:
            template.append(_ATTRIBUTE_FIELDS[part])
        else:
            computed.append(part)
            template.append(f"{{{len(computed)}}}")
    render = "".join(template).format
    if not computed:
        return render
    return lambda moment: render(moment, *[function(moment) for function in computed])
