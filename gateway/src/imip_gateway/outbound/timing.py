"""When does an event end for good? (Nothing is sent for events long past.)"""

from __future__ import annotations

import datetime as dt

import icalendar
from dateutil import rrule

UTC = dt.timezone.utc
# An RRULE is expanded at most this far (COUNT=100000 must not stall the service).
MAX_INSTANCES = 5000


def _as_utc(value: dt.date | dt.datetime, end_of_day: bool = False) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    moment = dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    return moment + dt.timedelta(days=1) if end_of_day else moment


def _duration(event: icalendar.cal.Component) -> dt.timedelta:
    start = event.get("DTSTART").dt
    if event.get("DTEND") is not None:
        return _as_utc(event.get("DTEND").dt) - _as_utc(start)
    if event.get("DURATION") is not None:
        return event.get("DURATION").dt
    return dt.timedelta(days=1) if not isinstance(start, dt.datetime) else dt.timedelta(0)


def last_end(events: list[icalendar.cal.Component]) -> dt.datetime | None:
    """The end of the last instance across master and overrides; None when it recurs forever."""
    latest: dt.datetime | None = None
    for event in events:
        if event.get("DTSTART") is None:
            continue
        start = event.get("DTSTART").dt
        length = _duration(event)
        ends = [_as_utc(start) + length]
        rule = event.get("RRULE")
        if rule is not None:
            rules = rule if isinstance(rule, list) else [rule]
            for one in rules:
                if "UNTIL" not in one and "COUNT" not in one:
                    return None
                text = one.to_ical().decode()
                dtstart = start if isinstance(start, dt.datetime) else dt.datetime(start.year, start.month, start.day)
                try:
                    parsed = rrule.rrulestr(text, dtstart=dtstart)
                    last = None
                    for index, occurrence in enumerate(parsed):
                        last = occurrence
                        if index >= MAX_INSTANCES:
                            return None  # too long to expand: treat as ongoing
                except (ValueError, TypeError):
                    return None  # a rule we cannot read: never suppress on a guess
                if last is not None:
                    ends.append(_as_utc(last) + length)
        for rdate in event.get("RDATE", []) if isinstance(event.get("RDATE"), list) else (
                [event.get("RDATE")] if event.get("RDATE") is not None else []):
            for period in rdate.dts:
                value = period.dt
                if isinstance(value, tuple):
                    value = value[0]
                ends.append(_as_utc(value) + length)
        end = max(ends)
        latest = end if latest is None or end > latest else latest
    return latest


def is_long_past(events: list[icalendar.cal.Component], now: dt.datetime, suppression_days: int) -> bool:
    end = last_end(events)
    return end is not None and end < now - dt.timedelta(days=suppression_days)
