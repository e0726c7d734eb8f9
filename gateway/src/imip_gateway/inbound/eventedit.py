"""Edit the organizer's stored event: one attendee's PARTSTAT and SCHEDULE-STATUS, nothing else.

Requirement 20 (sabre/vobject's processMessageReply is the model, minus its party-crasher
auto-add): change only that ATTENDEE line (RSVP dropped), per RECURRENCE-ID, creating the
override from the master when the instance has none; SEQUENCE and DTSTAMP are never touched
(the organizer's client owns them; changing them would make clients re-send invitations).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .ical import Component, ICalError, Property, cal_address
from .itip import instant_key

__all__ = [
    "attendee_on",
    "create_override",
    "find_component",
    "recurring",
    "set_attendee_status",
]

# Properties of the master that must not be copied into an override (RFC 5545 §3.8.5).
_SERIES_ONLY = ("RRULE", "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID")


def events(calendar: Component) -> list[Component]:
    return calendar.sub("VEVENT")


def master(calendar: Component) -> Component | None:
    for comp in events(calendar):
        if comp.get("RECURRENCE-ID") is None:
            return comp
    return None


def find_component(calendar: Component, recurrence_id: Property | None) -> Component | None:
    """The master for None, else the override whose RECURRENCE-ID names the same instant."""
    if recurrence_id is None:
        return master(calendar)
    key = instant_key(recurrence_id)
    raw = recurrence_id.value.strip()
    for comp in events(calendar):
        rid = comp.get("RECURRENCE-ID")
        if rid is not None and (instant_key(rid) == key or rid.value.strip() == raw):
            return comp
    return None


def recurring(comp: Component) -> bool:
    return comp.get("RRULE") is not None or comp.get("RDATE") is not None


def excluded(comp: Component, recurrence_id: Property) -> bool:
    key = instant_key(recurrence_id)
    for exdate in comp.get_all("EXDATE"):
        for value in exdate.value.split(","):
            probe = Property("EXDATE", {k: list(v) for k, v in exdate.params.items()}, value)
            if instant_key(probe) == key or value.strip() == recurrence_id.value.strip():
                return True
    return False


def attendee_on(comp: Component, address: str) -> Property | None:
    address = address.lower()
    for att in comp.get_all("ATTENDEE"):
        if cal_address(att.value) == address:
            return att
    return None


def _parse_local(value: str) -> dt.datetime | dt.date | None:
    value = value.strip()
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S"):
        try:
            return dt.datetime.strptime(value, fmt)
        except ValueError:
            pass
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None


def _rid_in_master_form(master_start: Property, reply_rid: Property) -> Property:
    """The RECURRENCE-ID in the master DTSTART's form (same TZID / VALUE / UTC-ness)."""
    params = {k: list(v) for k, v in master_start.params.items() if k in ("TZID", "VALUE")}
    value = reply_rid.value.strip()
    start_value = master_start.value.strip()
    if len(start_value) == 8:  # all-day series: the instance is a date
        return Property("RECURRENCE-ID", params, value[:8])
    key = instant_key(reply_rid)
    tzid = master_start.param("TZID")
    if key and key.endswith("Z"):
        instant = dt.datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        if start_value.endswith("Z"):
            return Property("RECURRENCE-ID", params, instant.strftime("%Y%m%dT%H%M%SZ"))
        if tzid:
            try:
                local = instant.astimezone(ZoneInfo(tzid))
                return Property("RECURRENCE-ID", params, local.strftime("%Y%m%dT%H%M%S"))
            except Exception:  # noqa: BLE001 - an unknown TZID keeps the reply's own form
                pass
    return Property("RECURRENCE-ID", {k: list(v) for k, v in reply_rid.params.items()}, value)


def create_override(calendar: Component, reply_rid: Property) -> Component:
    """Copy the master into a new override for `reply_rid` (DTSTART moved to the instance,
    DTEND moved by the same amount, series properties dropped) and add it to `calendar`."""
    base = master(calendar)
    if base is None:
        raise ICalError("the event has no master VEVENT to create an override from")
    start = base.get("DTSTART")
    if start is None:
        raise ICalError("the master VEVENT has no DTSTART")
    rid = _rid_in_master_form(start, reply_rid)
    override = base.copy()
    override.properties = [p for p in override.properties if p.name not in _SERIES_ONLY]
    new_start = override.get("DTSTART")
    old_start_value = _parse_local(start.value)
    new_start_value = _parse_local(rid.value)
    new_start.set_value(rid.value)
    end = override.get("DTEND")
    if end is not None and old_start_value is not None and new_start_value is not None:
        old_end = _parse_local(end.value)
        if old_end is not None and type(old_end) is type(old_start_value):
            moved = old_end + (new_start_value - old_start_value)
            fmt = "%Y%m%d" if isinstance(moved, dt.date) and not isinstance(moved, dt.datetime) else (
                "%Y%m%dT%H%M%SZ" if end.value.strip().endswith("Z") else "%Y%m%dT%H%M%S")
            end.set_value(moved.strftime(fmt))
    # RECURRENCE-ID right after UID, where clients put it.
    index = next((i for i, p in enumerate(override.properties) if p.name == "UID"), 0) + 1
    override.properties.insert(index, rid)
    calendar.components.append(override)
    return override


def set_attendee_status(att: Property, partstat: str | None, schedule_status: str) -> bool:
    """Set PARTSTAT (unless None) and SCHEDULE-STATUS, drop RSVP; True when anything changed."""
    before = (att.param("PARTSTAT"), att.param("SCHEDULE-STATUS"), "RSVP" in att.params)
    after = (partstat or before[0], schedule_status, False)
    if before == after:
        return False
    if partstat is not None:
        att.set_param("PARTSTAT", partstat)
    att.set_param("SCHEDULE-STATUS", schedule_status)
    att.set_param("RSVP", None)
    return True
