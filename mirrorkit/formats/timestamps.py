"""Timestamps as archives write them: 14-digit CDX timestamps, WARC dates, RFC 3339.

One place for the Wayback rules every stage shares: a shorter timestamp stands for the start of
its period (``2014`` is ``20140101000000``), longer ones (ArchiveWeb.page's 17 digits) are cut
to seconds, and a WARC or RFC 3339 date is reduced to its digits.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from functools import lru_cache
from typing import Optional

_FILLER = "00000101000000"


def digits14(value: str) -> str:
    """The first (at most) 14 digits of a timestamp or date, unpadded.

    >>> digits14("2014-01-26T20:06:24.123Z")
    '20140126200624'
    """
    return "".join(c for c in (value or "") if c.isdigit())[:14]


def to14(value: str) -> str:
    """A 14-digit timestamp from a WARC/RFC 3339 date or a shorter or longer digit string.

    >>> to14("2014"), to14("20140126200624123"), to14("2014-01-26T20:06:24Z")
    ('20140101000000', '20140126200624', '20140126200624')
    """
    digits = digits14(value)
    return digits + _FILLER[len(digits):]


@lru_cache(maxsize=65536)
def seconds(value: str) -> int:
    """Seconds since 1970 of a timestamp (padded as `to14` does); raises ValueError when it
    holds no digits. Out-of-range fields are clamped, as Wayback machines do."""
    if not digits14(value):
        raise ValueError(f"not a timestamp: {value!r}")
    t = to14(value)
    return calendar.timegm((int(t[0:4]), min(max(int(t[4:6]), 1), 12),
                            min(max(int(t[6:8]), 1), 31), min(int(t[8:10]), 23),
                            min(int(t[10:12]), 59), min(int(t[12:14]), 59)))


def distance(a: str, b: str) -> float:
    """How far apart two timestamps are, in seconds; an unreadable one is infinitely far."""
    try:
        return abs(seconds(a) - seconds(b))
    except ValueError:
        return float("inf")


def pretty(ts14: str) -> str:
    """``20140126200624`` -> ``2014-01-26 20:06:24 UTC``."""
    t = to14(ts14)
    return f"{t[0:4]}-{t[4:6]}-{t[6:8]} {t[8:10]}:{t[10:12]}:{t[12:14]} UTC"


def iso(ts14: str) -> str:
    """``20140126200624`` -> ``2014-01-26T20:06:24Z`` (raises ValueError without digits)."""
    return _dt.datetime.fromtimestamp(seconds(ts14), _dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


_WARC_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
                        r"(Z|[+-]\d{2}:?\d{2})?)?$")


def warc_date14(value: Optional[str]) -> str:
    """The 14-digit timestamp of a WARC-Date; raises ValueError saying what is wrong with it.

    Dates need at least a day (WARC 1.0/1.1 write seconds; a missing time counts as midnight,
    as Heritrix and pywb read it). Out-of-range fields are errors, not clamped: a record's own
    date must be a real one.

    >>> warc_date14("2014-01-26T20:06:24.123456Z"), warc_date14("2014-01-26")
    ('20140126200624', '20140126000000')
    >>> warc_date14("2014-01")
    Traceback (most recent call last):
    ValueError: WARC-Date '2014-01' is not a date with at least a day (YYYY-MM-DDThh:mm:ssZ)
    """
    if value is None or not value.strip():
        raise ValueError("the record has no WARC-Date")
    text = value.strip()
    m = _WARC_DATE.match(text)
    if not m:
        raise ValueError(f"WARC-Date {text[:60]!r} is not a date with at least a day "
                         "(YYYY-MM-DDThh:mm:ssZ)")
    *fields, zone = m.groups()
    parts = [int(p) if p else 0 for p in fields]
    try:
        when = _dt.datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
    except ValueError:
        raise ValueError(f"WARC-Date {text[:60]!r} is not a real date") from None
    if zone and zone != "Z":  # WARC says UTC; a writer that gave an offset meant that instant
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        when -= sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return f"{when.year:04d}{when.strftime('%m%d%H%M%S')}"


# Digits a replay URL's timestamp may have: any precision from a year to ArchiveWeb.page's
# milliseconds (17), as a regular expression.
TIMESTAMP_PATTERN = r"\d{1,17}"
