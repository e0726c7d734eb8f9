"""Edit the organizer's stored event: one attendee's PARTSTAT and SCHEDULE-STATUS, nothing else.

Requirement 20 (sabre/vobject's processMessageReply is the model, minus its party-crasher
auto-add): change only that ATTENDEE line's PARTSTAT and SCHEDULE-STATUS, per RECURRENCE-ID, creating the
override from the master when the instance has none; SEQUENCE and DTSTAMP are never touched
(the organizer's client owns them; changing them would make clients re-send invitations).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from imip_gateway.addresses import from_calendar_address, normalise

from .ical import Component, ICalError, Property
from .itip import instant_key
from .recurrence import Frame, frame_of, is_instance

__all__ = [
    "Target",
    "attendee_on",
    "create_override",
    "find_component",
    "locate",
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


def attendee_on(comp: Component, address: str) -> Property | None:
    address = normalise(address)
    for att in comp.get_all("ATTENDEE"):
        if from_calendar_address(att.value) == address:
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


@dataclass
class Target:
    """Where a reply's VEVENT lands: an existing component, or an override still to create."""

    component: Component | None  # None: create an override at `recurrence_id`
    recurrence_id: Property | None  # in the series' own form; None for the master
    key: str  # "" for the master, else the outbound half's recurrence key (UTC …Z, floating, date)


def vtimezones(calendar: Component) -> dict[str, Component]:
    return {tz.value("TZID"): tz for tz in calendar.sub("VTIMEZONE") if tz.value("TZID")}


def _frame(calendar: Component) -> Frame | None:
    """The frame of the series: the master's DTSTART, else (only overrides stored) the first
    override's RECURRENCE-ID."""
    base = master(calendar)
    start = base.get("DTSTART") if base is not None else next(
        (c.get("RECURRENCE-ID") for c in events(calendar) if c.get("RECURRENCE-ID") is not None), None)
    return frame_of(start, vtimezones(calendar)) if start is not None else None


def locate(calendar: Component, reply_rid: Property | None, reply_zones: dict[str, Component]) -> Target | str:
    """The component that `reply_rid` names in the stored event, or why it names none.

    An existing override matches by instant (whatever TZID either side writes); otherwise the
    instant must be an occurrence of the master's series (recurrence.is_instance), and the
    override to create gets a RECURRENCE-ID in the series' form, never the reply's."""
    base = master(calendar)
    if reply_rid is None:
        return Target(base, None, "") if base is not None else "the event has no series (master) VEVENT"
    frame = _frame(calendar)
    if frame is None:
        return "the stored event has no DTSTART"
    zones = vtimezones(calendar)
    target = frame.convert(reply_rid, zones, reply_zones)
    if target is None:
        return f"RECURRENCE-ID {reply_rid.value.strip()[:40]} is in a time zone that cannot be read"
    for comp in events(calendar):
        rid = comp.get("RECURRENCE-ID")
        if rid is not None and frame.convert(rid, zones) == target:
            return Target(comp, rid, frame.key(target))
    if base is None or not recurring(base):
        return f"RECURRENCE-ID {reply_rid.value.strip()[:40]} on an event that does not recur"
    membership = is_instance(base, frame, target, zones)
    if not membership.found:
        return f"RECURRENCE-ID {reply_rid.value.strip()[:40]}: {membership.reason}"
    return Target(None, frame.recurrence_id(target), frame.key(target))


def create_override(calendar: Component, rid: Property) -> Component:
    """Copy the master into a new override at `rid` (a RECURRENCE-ID in the series' form, from
    locate: DTSTART moved to the instance, DTEND moved by the same amount, series properties
    dropped) and add it to `calendar`."""
    base = master(calendar)
    if base is None:
        raise ICalError("the event has no master VEVENT to create an override from")
    start = base.get("DTSTART")
    if start is None:
        raise ICalError("the master VEVENT has no DTSTART")
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
    override.properties.insert(index, Property(rid.name, {k: list(v) for k, v in rid.params.items()}, rid.value))
    calendar.components.append(override)
    return override


def set_attendee_status(att: Property, partstat: str | None, schedule_status: str) -> bool:
    """Set PARTSTAT (unless None) and SCHEDULE-STATUS; True when anything changed.

    Nothing else on the line changes: RSVP is the organizer's wish for answers to later
    changes too (dropping it made the next update ask nobody)."""
    before = (att.param("PARTSTAT"), att.param("SCHEDULE-STATUS"))
    after = (partstat or before[0], schedule_status)
    if before == after:
        return False
    if partstat is not None:
        att.set_param("PARTSTAT", partstat)
    att.set_param("SCHEDULE-STATUS", schedule_status)
    return True
