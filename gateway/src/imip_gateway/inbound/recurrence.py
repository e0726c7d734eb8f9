"""Is a RECURRENCE-ID from a reply an instance the organizer's series really has?

A reply may only change an instance the stored event has: an existing override, or an
occurrence of the master's RRULE/RDATE (DTSTART included) minus EXDATE, expanded with
dateutil.rrule in the master DTSTART's own frame (its TZID, UTC, floating or all-day). The
instance found is then written in that frame, never in the reply's form: Outlook names its
RECURRENCE-ID in a Windows time zone ("W. Europe Standard Time") that the stored event does not
define, and such a TZID written as is would point at no VTIMEZONE.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil import rrule

from .ical import Component, Property

__all__ = ["Frame", "MAX_INSTANCES", "Membership", "frame_of", "is_instance", "resolve_zone"]

UTC = dt.timezone.utc
# The series is expanded at most this far, like the outbound half's timing.MAX_INSTANCES: a
# FREQ=SECONDLY rule must not stall the mailbox. A reply for an instance further out is
# rejected (and so forwarded to the organizer), never applied on a guess.
MAX_INSTANCES = 5000


def resolve_zone(tzid: str | None, *vtimezones: dict[str, Component]) -> dt.tzinfo | None:
    """A tzinfo for `tzid`: an IANA name, a Windows name or a vendor-prefixed one (through
    icalendar's lookup), else the VTIMEZONE of that name in one of `vtimezones`; None if none.
    Known names win over a VTIMEZONE so a reply cannot redefine Europe/Berlin for us."""
    if not tzid:
        return None
    name = tzid.strip()
    try:
        return ZoneInfo(name.strip("/"))
    except Exception:  # noqa: BLE001 - Windows names, garbage, path tricks
        pass
    try:
        import icalendar
        from icalendar.timezone import tzp

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "globally unique TZID guessed": a guess is fine here
            zone = tzp.timezone(name)
            if zone is not None:
                return zone
            for zones in vtimezones:
                comp = zones.get(tzid) or zones.get(name)
                if comp is None:
                    continue
                text = "BEGIN:VCALENDAR\r\n" + comp.serialize() + "END:VCALENDAR\r\n"
                for tz in icalendar.Calendar.from_ical(text).walk("VTIMEZONE"):
                    return tz.to_tz(lookup_tzid=False)
    except Exception:  # noqa: BLE001 - a broken VTIMEZONE is an unreadable zone, not a crash
        return None
    return None


def _parse_value(value: str) -> tuple[str, dt.datetime | None]:
    """(kind, naive datetime): kind is "date", "utc" or "local"; None when unreadable."""
    value = value.strip().split("/", 1)[0]  # a PERIOD (RDATE) counts by its start
    for kind, fmt, text in (("utc", "%Y%m%dT%H%M%SZ", value), ("local", "%Y%m%dT%H%M%S", value),
                            ("date", "%Y%m%d", value)):
        try:
            return kind, dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return "date", None


@dataclass(frozen=True)
class Frame:
    """How the series names its instants: "date", "utc", "zoned" (zone set) or "floating"."""

    kind: str
    zone: dt.tzinfo | None = None
    tzid: str | None = None  # the master DTSTART's TZID parameter, as written

    def convert(self, prop: Property, *vtimezones: dict[str, Component]) -> dt.datetime | None:
        """`prop`'s value (DTSTART/RDATE/EXDATE/RECURRENCE-ID form) as a point of this frame;
        None when it cannot be placed (a TZID nobody defines on a timed series)."""
        return self._one(prop.value.split(",", 1)[0], prop.param("TZID"), vtimezones)

    def convert_all(self, prop: Property, *vtimezones: dict[str, Component]) -> list[dt.datetime]:
        found = [self._one(v, prop.param("TZID"), vtimezones) for v in prop.value.split(",")]
        return [v for v in found if v is not None]

    def _one(self, value: str, tzid: str | None, vtimezones) -> dt.datetime | None:
        kind, naive = _parse_value(value)
        if naive is None:
            return None
        if self.kind == "date":
            return naive.replace(hour=0, minute=0, second=0)  # an all-day series: the day counts
        if self.kind == "floating":
            # A series on no known clock: wall-clock values are all there is to compare.
            return naive
        if kind == "utc":
            aware = naive.replace(tzinfo=UTC)
        elif tzid:
            zone = self.zone if tzid == self.tzid and self.zone is not None else resolve_zone(tzid, *vtimezones)
            if zone is None:
                return None
            aware = naive.replace(tzinfo=zone)
        else:  # floating value on a timed series: read in the series' own clock
            aware = naive.replace(tzinfo=self.zone or UTC)
        return aware.astimezone(self.zone or UTC)

    def key(self, moment_: dt.datetime) -> str:
        """The recurrence key the outbound half uses: UTC `…Z`, floating local, or a date."""
        if self.kind == "date":
            return moment_.strftime("%Y%m%d")
        if moment_.tzinfo is not None:
            return moment_.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return moment_.strftime("%Y%m%dT%H%M%S")

    def recurrence_id(self, moment_: dt.datetime) -> Property:
        """A RECURRENCE-ID for `moment_` in the series' own form (same TZID / UTC / date)."""
        if self.kind == "date":
            return Property("RECURRENCE-ID", {"VALUE": ["DATE"]}, moment_.strftime("%Y%m%d"))
        if self.kind == "utc":
            return Property("RECURRENCE-ID", {}, moment_.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"))
        params = {"TZID": [self.tzid]} if self.tzid else {}
        local = moment_.astimezone(self.zone) if self.zone is not None and moment_.tzinfo else moment_
        return Property("RECURRENCE-ID", params, local.strftime("%Y%m%dT%H%M%S"))


def frame_of(start: Property, vtimezones: dict[str, Component]) -> Frame:
    kind, _naive = _parse_value(start.value)
    if kind == "date" or (start.param("VALUE") or "").upper() == "DATE":
        return Frame("date")
    if kind == "utc":
        return Frame("utc", UTC)
    tzid = start.param("TZID")
    zone = resolve_zone(tzid, vtimezones)
    if zone is None:
        return Frame("floating", None, tzid)
    return Frame("zoned", zone, tzid)


def _until_fixed(rule: str, frame: Frame) -> str:
    """dateutil wants UNTIL in UTC for an aware DTSTART and naive for a naive one; clients
    write either (and a date UNTIL on a timed series). Rewrite UNTIL to what dateutil reads,
    keeping its meaning: inclusive, in the series' clock."""
    parts = []
    for part in rule.split(";"):
        name, _eq, value = part.partition("=")
        if name.strip().upper() == "UNTIL":
            kind, naive = _parse_value(value)
            if naive is not None:
                if kind == "date" and frame.kind != "date":
                    naive = naive.replace(hour=23, minute=59, second=59)
                if frame.kind in ("utc", "zoned"):
                    aware = naive.replace(tzinfo=UTC) if kind == "utc" else naive.replace(tzinfo=frame.zone)
                    value = aware.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
                else:
                    value = naive.strftime("%Y%m%dT%H%M%S")
            part = f"UNTIL={value}"
        parts.append(part)
    return ";".join(parts)


@dataclass
class Membership:
    found: bool
    capped: bool = False  # stopped after MAX_INSTANCES without reaching the instant
    reason: str = ""


def _series(master: Component, frame: Frame, start: dt.datetime, vtimezones) -> rrule.rruleset:
    series = rrule.rruleset()
    series.rdate(start)  # RFC 5545 §3.8.5.3: DTSTART is always the first instance
    for name, add in (("RRULE", series.rrule), ("EXRULE", series.exrule)):
        for prop in master.get_all(name):
            add(rrule.rrulestr(_until_fixed(prop.value.strip(), frame), dtstart=start))
    for prop in master.get_all("RDATE"):
        for value in frame.convert_all(prop, vtimezones):
            series.rdate(value)
    for prop in master.get_all("EXDATE"):
        for value in frame.convert_all(prop, vtimezones):
            series.exdate(value)
    return series


def is_instance(master: Component, frame: Frame, target: dt.datetime, vtimezones) -> Membership:
    """Whether `target` (a point of `frame`) is an occurrence of the master's series."""
    start_prop = master.get("DTSTART")
    start = frame.convert(start_prop, vtimezones) if start_prop is not None else None
    if start is None:
        return Membership(False, reason="the series has no readable DTSTART")
    try:
        series = _series(master, frame, start, vtimezones)
        for index, occurrence in enumerate(series):
            if occurrence == target:
                return Membership(True)
            if occurrence > target:
                break
            if index >= MAX_INSTANCES:
                return Membership(False, capped=True,
                                  reason=f"beyond the first {MAX_INSTANCES} instances of the series")
    except (ValueError, TypeError, OverflowError) as exc:
        return Membership(False, reason=f"the series' rule cannot be read ({exc})")
    return Membership(False, reason="not an instance of the series")
