"""The iTIP object mailed to one external attendee (requirements 5, 6, 8).

- METHOD REQUEST or CANCEL, one UID, only the components the plan chose;
- ORGANIZER = mailto:<token address> with CN=<organizer name> and EMAIL=<organizer address>,
  and the organizer's own ATTENDEE line rewritten the same way, so RFC 6047 clients, which
  answer to the ORGANIZER value, reply to the token address;
- SCHEDULE-AGENT / SCHEDULE-STATUS / SCHEDULE-FORCE-SEND parameters, VALARMs and X-properties
  (private client data) removed (RFC 6638 §7.1–7.3);
- SEQUENCE as decided by the sequence store; DTSTAMP set when the message is sent;
- every VTIMEZONE a TZID refers to (iMIP allows no time zones by reference).
"""

from __future__ import annotations

import copy
import functools
import datetime as dt

import icalendar

from imip_gateway import __version__
from imip_gateway.ical import address_of, attendees_of, events, recurrence_key

PRODID = f"-//imip.server//imip-gateway {__version__}//EN"
SCHEDULING_PARAMS = ("SCHEDULE-AGENT", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND")


def _strip_params(prop) -> None:
    for name in SCHEDULING_PARAMS:
        if name in prop.params:
            del prop.params[name]


def _token_organizer(organizer: icalendar.vCalAddress, token_address: str) -> icalendar.vCalAddress:
    value = icalendar.vCalAddress("mailto:" + token_address)
    name = organizer.params.get("CN")
    if name:
        value.params["CN"] = str(name)
    value.params["EMAIL"] = address_of(organizer)
    return value


def _tzids(component: icalendar.cal.Component) -> set[str]:
    found = set()
    for _name, value in component.property_items(recursive=True, sorted=False):
        params = getattr(value, "params", None)
        if params and "TZID" in params:
            found.add(str(params["TZID"]))
    return found


def build_itip(source: icalendar.Calendar, *, method: str, keys: tuple[str, ...], attendee: str,
               token_address: str, sequences: dict[str, int], cancel_only_attendee: bool) -> str:
    """The calendar to mail, serialized; `sequences` maps recurrence key -> SEQUENCE to put in."""
    method = method.upper()
    out = icalendar.Calendar()
    out.add("PRODID", PRODID)
    out.add("VERSION", "2.0")
    out.add("METHOD", method)
    chosen = [c for c in events(source) if recurrence_key(c) in keys]
    organizer_address = None
    for original in chosen:
        event = icalendar.Event()
        organizer = original.get("ORGANIZER")
        if organizer is not None:
            organizer_address = address_of(organizer)
        for name, value in original.property_items(recursive=False, sorted=False):
            name = name.upper()
            if name in ("BEGIN", "END") or name.startswith("X-"):
                continue
            if name in ("DTSTAMP", "SEQUENCE", "ORGANIZER", "ATTENDEE"):
                continue  # set below
            event.add(name, copy.deepcopy(value), encode=False)
        if organizer is not None:
            event.add("ORGANIZER", _token_organizer(organizer, token_address), encode=False)
        for prop in attendees_of(original):
            address = address_of(prop)
            if method == "CANCEL" and cancel_only_attendee and "mailto:" + address != attendee \
                    and address != organizer_address:
                continue
            if organizer_address is not None and address == organizer_address:
                rewritten = _token_organizer(prop, token_address)
                for k, v in prop.params.items():
                    if k not in ("CN", "EMAIL") + SCHEDULING_PARAMS:
                        rewritten.params[k] = v
                event.add("ATTENDEE", rewritten, encode=False)
                continue
            clone = copy.deepcopy(prop)
            _strip_params(clone)
            event.add("ATTENDEE", clone, encode=False)
        event.add("SEQUENCE", sequences.get(recurrence_key(original), 0))
        if method == "CANCEL":
            if "STATUS" in event:
                del event["STATUS"]
            event.add("STATUS", "CANCELLED")
        out.add_component(event)
    # Every time zone the events refer to: from the stored calendar, else from the tz database.
    wanted = set().union(*(_tzids(e) for e in events(out))) if events(out) else set()
    for tz in source.walk("VTIMEZONE"):
        if str(tz.get("TZID")) in wanted:
            out.subcomponents.insert(0, copy.deepcopy(tz))
    present = {str(tz.get("TZID")) for tz in out.walk("VTIMEZONE")}
    generated = [block for block in (_generated_vtimezone(t) for t in sorted(wanted - present)) if block]
    # Put VTIMEZONEs before the events, as clients expect.
    out.subcomponents.sort(key=lambda c: 0 if c.name == "VTIMEZONE" else 1)
    text = out.to_ical().decode("utf-8")
    if generated:
        # Spliced in as text: a generated VTIMEZONE lists every transition since 1970, and
        # parsing it back into objects for each message would cost more than the rest.
        position = text.index("\r\nBEGIN:V", text.index("BEGIN:VCALENDAR") + 1) + 2
        text = text[:position] + "".join(generated) + text[position:]
    return text


@functools.lru_cache(maxsize=256)
def _generated_vtimezone(tzid: str) -> str | None:
    """A VTIMEZONE from the tz database for a TZID the stored calendar did not define (cached:
    generating one costs tens of milliseconds)."""
    try:
        return icalendar.Timezone.from_tzid(tzid).to_ical().decode("utf-8")
    except Exception:  # an unknown TZID: the receiver falls back to floating time
        return None


def stamp(calendar_text: str, now: dt.datetime) -> str:
    """Set DTSTAMP on every VEVENT to the send time (RFC 5546: when the message was created).

    Textual on purpose: the job's calendar is our own serialization (CRLF, one DTSTAMP line at
    most per VEVENT), and re-parsing a calendar with generated VTIMEZONEs costs milliseconds.
    """
    value = now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    lines = [line for line in calendar_text.split("\r\n") if not line.startswith("DTSTAMP")]
    out = []
    for line in lines:
        out.append(line)
        if line == "BEGIN:VEVENT":
            out.append(f"DTSTAMP:{value}")
    return "\r\n".join(out)
