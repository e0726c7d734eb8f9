"""What an iTIP calendar says: its METHOD and, per VEVENT, who answered what (RFC 5546 §3.2.3).

The METHOD property decides (Outlook does the same, MS-STANOICAL V0079): a
Content-Type `method=REPLY` on a calendar whose METHOD is COUNTER is a counter proposal. Only
VEVENT-level ATTENDEEs count: Google puts the organizer's address in an ATTENDEE inside a VALARM
(ACTION:EMAIL).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from .ical import Component, ICalError, Property, parse, unescape_text

__all__ = [
    "Instance",
    "ItipMessage",
    "PARTSTATS",
    "instant_key",
    "parse_itip",
    "parse_utc",
]

PARTSTATS = ("NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED")
COMMENT_PROPS = ("COMMENT", "X-CALENDARSERVER-PRIVATE-COMMENT")
# RFC 5545 §3.8.8.3 statcode, as clients write it: 2.0, 3.7, 5.1.1 (one digit, then one or two
# dot-separated numbers). It is copied into SCHEDULE-STATUS, so nothing else may pass.
STATUS_CODE = re.compile(r"[1-5]\.[0-9]{1,2}(\.[0-9]{1,2})?")


@dataclass
class Instance:
    """One VEVENT of a reply: the master (recurrence_id None) or one instance."""

    component: Component
    uid: str | None
    recurrence_id: Property | None
    attendees: list[Property]
    sequence: int | None
    dtstamp: dt.datetime | None
    comments: list[str] = field(default_factory=list)
    request_status: str | None = None  # the status code, e.g. "2.0", "3.7"

    @property
    def proposal(self) -> str | None:
        """iOS's counter proposal, carried in the ATTENDEE parameter TO-ALL-PROPOSED-NEW-TIME."""
        for att in self.attendees:
            value = att.param("TO-ALL-PROPOSED-NEW-TIME")
            if value:
                return value
        return None


@dataclass
class ItipMessage:
    calendar: Component
    method: str | None  # METHOD property (upper-case), or the part's method parameter if absent
    method_param: str | None
    instances: list[Instance]
    vtimezones: dict[str, Component]

    @property
    def method_mismatch(self) -> bool:
        prop = self.calendar.value("METHOD")
        return bool(prop and self.method_param and prop.strip().upper() != self.method_param)

    @property
    def uids(self) -> set[str]:
        return {i.uid for i in self.instances if i.uid}

    @property
    def organizer(self) -> str | None:
        for inst in self.instances:
            org = inst.component.get("ORGANIZER")
            if org is not None:
                return org.value
        return None


def parse_utc(value: str | None) -> dt.datetime | None:
    """DTSTAMP-style UTC value (YYYYMMDDTHHMMSSZ); None when absent or malformed."""
    if not value:
        return None
    value = value.strip()
    try:
        if value.endswith("Z"):
            return dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        return dt.datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def _zone(tzid: str | None):
    if not tzid:
        return None
    try:
        return ZoneInfo(tzid.strip().strip("/"))
    except Exception:  # noqa: BLE001 - Windows names, garbage, path tricks: not resolvable
        return None


def instant_key(prop: Property | None) -> str | None:
    """A comparable key for a RECURRENCE-ID/DTSTART: UTC `…Z` where it can be resolved, else the
    bare value (dates as YYYYMMDD). Two properties name the same instance when keys are equal."""
    if prop is None:
        return None
    value = prop.value.strip()
    if len(value) == 8 and value.isdigit():
        return value
    if value.endswith("Z"):
        parsed = parse_utc(value)
        return parsed.strftime("%Y%m%dT%H%M%SZ") if parsed else value
    zone = _zone(prop.param("TZID"))
    if zone is not None:
        try:
            local = dt.datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=zone)
            return local.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        except ValueError:
            return value
    return value


def _sequence(comp: Component) -> int | None:
    value = comp.value("SEQUENCE")
    if value is None:
        return None
    try:
        seq = int(value.strip())
    except ValueError:
        return None
    return seq if 0 <= seq < 2**31 else None


def _instance(comp: Component) -> Instance:
    comments = []
    for name in COMMENT_PROPS:
        for prop in comp.get_all(name):
            text = unescape_text(prop.value).strip()
            if text:
                comments.append(text)
    rstatus = comp.value("REQUEST-STATUS")
    code = rstatus.split(";", 1)[0].strip() if rstatus else None
    if code and not STATUS_CODE.fullmatch(code):
        code = None  # not a status code: it never reaches the organizer's SCHEDULE-STATUS
    return Instance(
        component=comp,
        uid=(comp.value("UID") or "").strip() or None,
        recurrence_id=comp.get("RECURRENCE-ID"),
        attendees=comp.get_all("ATTENDEE"),  # VEVENT level only: VALARM lines are in sub-components
        sequence=_sequence(comp),
        dtstamp=parse_utc(comp.value("DTSTAMP")),
        comments=comments,
        request_status=code or None,
    )


def parse_itip(text: str, method_param: str | None) -> ItipMessage:
    """Parse one calendar part; raise ICalError when it is not a calendar with a VEVENT."""
    calendar = parse(text)
    events = calendar.sub("VEVENT")
    if not events:
        others = sorted({c.name for c in calendar.components if c.name != "VTIMEZONE"})
        raise ICalError("no VEVENT" + (f" (has {', '.join(others)})" if others else ""))
    method = (calendar.value("METHOD") or "").strip().upper() or method_param
    zones = {}
    for tz in calendar.sub("VTIMEZONE"):
        tzid = tz.value("TZID")
        if tzid:
            zones[tzid] = tz
    return ItipMessage(calendar, method, method_param, [_instance(e) for e in events], zones)
