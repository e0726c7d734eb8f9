"""iCalendar helpers shared by the outbound and inbound halves (icalendar library)."""

from __future__ import annotations

import datetime as dt

import icalendar

from imip_gateway.addresses import from_calendar_address


def parse_calendar(text: str | bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def serialize(calendar: icalendar.Calendar) -> str:
    return calendar.to_ical().decode("utf-8")


def recurrence_key(component: icalendar.cal.Component) -> str:
    """"" for a master component, else the RECURRENCE-ID as a comparable UTC/floating string."""
    rid = component.get("RECURRENCE-ID")
    if rid is None:
        return ""
    value = rid.dt
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return value.strftime("%Y%m%dT%H%M%S")
    return value.strftime("%Y%m%d")


def events(calendar: icalendar.Calendar) -> list[icalendar.cal.Component]:
    return [c for c in calendar.subcomponents if c.name == "VEVENT"]


def attendees_of(component: icalendar.cal.Component) -> list[icalendar.vCalAddress]:
    """The component's own ATTENDEE properties (never those inside its VALARMs)."""
    value = component.get("ATTENDEE")
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def set_attendee_params(text: str, attendee: str, params: dict[str, str | None]) -> str | None:
    """Set (or, with None, remove) parameters on every VEVENT-level ATTENDEE line of `attendee`.

    Returns the new calendar text, or None when nothing changed (attendee absent, or the
    parameters already have these values).
    """
    calendar = parse_calendar(text)
    wanted = from_calendar_address(attendee)
    changed = False
    for event in events(calendar):
        for prop in attendees_of(event):
            if from_calendar_address(prop) != wanted:
                continue
            for name, value in params.items():
                if value is None:
                    if name in prop.params:
                        del prop.params[name]
                        changed = True
                elif prop.params.get(name) != value:
                    prop.params[name] = value
                    changed = True
    return serialize(calendar) if changed else None
