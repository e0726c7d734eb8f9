"""A local attendee's own copy of an event they are invited to, in their own calendar.

Used by both halves: the outbound half keeps colleagues' copies of a local organizer's event
(outbound.local), the inbound half writes the invitations of outside organizers that the mail
system handed over (inbound.invitations). Both write as the gateway's identity, find the copy by
UID in any of the attendee's calendars and keep what is the attendee's own: their PARTSTAT (unless
the organizer asks again) and their alarms.
"""

from __future__ import annotations

import copy
import logging
import uuid
from dataclasses import dataclass

import icalendar

from imip_gateway.addresses import from_calendar_address, local_part_of, to_calendar_address
from imip_gateway.caldav_client import CalDAVClient, CalDAVError, Resource
from imip_gateway.ical import attendees_of, events, parse_calendar, recurrence_key

__all__ = ["DEFAULT_CALENDAR", "Home", "NoCalendarHome", "attendee_copy", "components", "find_copy", "home",
           "new_href", "partstat_of", "set_partstat", "user_names"]

log = logging.getLogger("imip_gateway")

DEFAULT_CALENDAR = "calendar"


def user_names(address: str) -> tuple[str, ...]:
    """The Radicale user names an address may log in as: the address (Dovecot-style logins),
    then its local part (plain user names); both are seen in practice."""
    address = from_calendar_address(address)
    return tuple(dict.fromkeys((address, local_part_of(address) if "@" in address else address)))


class NoCalendarHome(Exception):
    """The attendee has no principal collection on the CalDAV server."""


def components(calendar: icalendar.Calendar) -> dict[str, icalendar.cal.Component]:
    """{recurrence key: VEVENT}, "" for the master."""
    return {recurrence_key(c): c for c in events(calendar)}


def partstat_of(component: icalendar.cal.Component | None, attendee: str) -> str | None:
    """The PARTSTAT of `attendee` (mailto:, lower case) on the component, None when not on it."""
    if component is None:
        return None
    for prop in attendees_of(component):
        if to_calendar_address(prop) == attendee:
            return str(prop.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return None


def set_partstat(component: icalendar.cal.Component, attendee: str, partstat: str) -> None:
    for prop in attendees_of(component):
        if to_calendar_address(prop) == attendee:
            prop.params["PARTSTAT"] = partstat
            if partstat != "NEEDS-ACTION" and "RSVP" in prop.params:
                del prop.params["RSVP"]


def _stored_calendar(source: icalendar.Calendar) -> icalendar.Calendar:
    """An empty calendar with the properties of `source` a stored copy keeps (no METHOD)."""
    out = icalendar.Calendar()
    for name, value in source.property_items(recursive=False, sorted=False):
        if name.upper() not in ("BEGIN", "END", "METHOD"):
            out.add(name, value, encode=False)
    return out


def _without_method(itip: icalendar.Calendar) -> icalendar.Calendar:
    out = _stored_calendar(itip)
    for component in itip.subcomponents:
        out.add_component(copy.deepcopy(component))
    return out


def _merged(itip: icalendar.Calendar, existing: icalendar.Calendar) -> icalendar.Calendar:
    """The existing copy with the iTIP object's components put in place of those with the same
    recurrence key (an update of some instances, or ADD), time zones added when missing."""
    incoming = components(itip)
    out = _stored_calendar(existing)
    zones = {str(z.get("TZID")) for z in existing.subcomponents if z.name == "VTIMEZONE"}
    for component in existing.subcomponents:
        if component.name != "VEVENT" or recurrence_key(component) not in incoming:
            out.add_component(copy.deepcopy(component))
    for component in itip.subcomponents:
        if component.name == "VTIMEZONE" and str(component.get("TZID")) in zones:
            continue
        out.add_component(copy.deepcopy(component))
    return out


def attendee_copy(itip_text: str, existing_text: str | None, *, method: str, attendee: str,
                  reask: set[str], merge: bool = False, new_partstat: str | None = None) -> str:
    """The attendee's copy after one REQUEST (or ADD) or CANCEL (pure: calendars in, text out).

    REQUEST: the copy becomes the iTIP object's components (METHOD removed); with `merge`, they
    replace only the components with the same recurrence key (an organizer's update of one
    instance carries only that instance). The attendee's PARTSTAT is kept except for the keys in
    `reask`; a component new to the copy gets `new_partstat` when given. Alarms are kept.
    CANCEL: the cancelled components are marked STATUS:CANCELLED; an instance of a series the
    copy has no override for is added, cancelled."""
    itip = parse_calendar(itip_text)
    existing = parse_calendar(existing_text) if existing_text else None
    if method == "CANCEL":
        if existing is None:
            raise ValueError("no copy to cancel")
        return _cancelled(existing, itip)
    result = _merged(itip, existing) if merge and existing is not None else _without_method(itip)
    mine = components(existing) if existing is not None else {}
    incoming = set(components(itip))
    for component in events(result):
        key = recurrence_key(component)
        if key not in incoming:
            continue  # kept as it was (merge)
        held = mine.get(key) or (mine.get("") if key else None)
        partstat = partstat_of(held, attendee)
        if partstat and key not in reask:
            set_partstat(component, attendee, partstat)
        elif new_partstat and (held is None or key in reask):
            set_partstat(component, attendee, new_partstat)
        for alarm in (mine[key].subcomponents if key in mine else []):
            if alarm.name == "VALARM":
                component.add_component(copy.deepcopy(alarm))
    return result.to_ical().decode("utf-8")


def _cancelled(existing: icalendar.Calendar, itip: icalendar.Calendar) -> str:
    mine = components(existing)
    cancels = components(itip)
    whole = "" in cancels
    for key, component in mine.items():
        if whole or key in cancels:
            component.pop("STATUS", None)
            component.add("STATUS", "CANCELLED")
    for key, component in cancels.items():
        if key and key not in mine and not whole:
            existing.add_component(copy.deepcopy(component))  # an instance of the series, cancelled
    return existing.to_ical().decode("utf-8")


# ---------------------------------------------------------------- on the CalDAV server
@dataclass
class Home:
    principal: str
    calendars: list[str]


def home(caldav: CalDAVClient, address: str) -> Home:
    """The user's principal: their address (logins as mail addresses), else its local part."""
    address = from_calendar_address(address)
    for principal in user_names(address):
        try:
            return Home(principal, caldav.list_calendars(principal))
        except CalDAVError as exc:
            if exc.status != 404:
                raise
    raise NoCalendarHome(f"{address} has no calendar home on the CalDAV server (Radicale makes it at the "
                         "user's first login)")


def find_copy(caldav: CalDAVClient, where: Home, uid: str) -> Resource | None:
    return caldav.find_by_uid(uid, where.calendars) if where.calendars else None


def new_href(caldav: CalDAVClient, where: Home, uid: str) -> str:
    """Where a new copy goes: the user's first calendar, or a new calendar `calendar`."""
    if where.calendars:
        collection = where.calendars[0]
    else:
        collection = caldav.path(where.principal, DEFAULT_CALENDAR)
        caldav.make_calendar(collection)
        log.info("made calendar %s for %s", collection, where.principal)
        where.calendars.append(collection)
    return collection.rstrip("/") + "/" + uuid.uuid5(uuid.NAMESPACE_URL, uid).hex + ".ics"
