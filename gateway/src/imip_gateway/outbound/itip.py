"""The iTIP object (RFC 5546) mailed to one external attendee.

- METHOD REQUEST or CANCEL, one UID, only the components the plan chose;
- ORGANIZER = mailto:<token address> with CN=<organizer name> and EMAIL=<organizer address>,
  and the organizer's own ATTENDEE line rewritten the same way, so RFC 6047 clients, which
  answer to the ORGANIZER value, reply to the token address;
- SCHEDULE-AGENT / SCHEDULE-STATUS / SCHEDULE-FORCE-SEND parameters, VALARMs and X-properties
  (private client data) removed (RFC 6638 §7.1–7.3);
- SEQUENCE as decided by the sequence store; DTSTAMP set when the message is sent;
- in a REQUEST, RSVP=TRUE on every recipient whose PARTSTAT is NEEDS-ACTION, and on a
  significant change PARTSTAT=NEEDS-ACTION;RSVP=TRUE for every recipient of the changed
  components (RFC 5546 §2.1.5: they are asked again; Outlook asks only when it sees that).
  Only the mailed copy says so: the organizer's stored event is not rewritten;
- every VTIMEZONE a TZID refers to (iMIP allows no time zones by reference).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from dataclasses import dataclass

import icalendar

from imip_gateway import __version__
from imip_gateway.addresses import MAILTO, from_calendar_address, to_calendar_address
from imip_gateway.ical import attendees_of, events, recurrence_key

PRODID = f"-//imip.server//imip-gateway {__version__}//EN"
SCHEDULING_PARAMS = ("SCHEDULE-AGENT", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND")


def _strip_params(prop) -> None:
    for name in SCHEDULING_PARAMS:
        if name in prop.params:
            del prop.params[name]


def _token_organizer(organizer: icalendar.vCalAddress, token_address: str) -> icalendar.vCalAddress:
    value = icalendar.vCalAddress(MAILTO + token_address)   # the token address keeps its case
    name = organizer.params.get("CN")
    if name:
        value.params["CN"] = str(name)
    value.params["EMAIL"] = from_calendar_address(organizer)
    return value


def _tzids(component: icalendar.cal.Component) -> set[str]:
    found = set()
    for _name, value in component.property_items(recursive=True, sorted=False):
        params = getattr(value, "params", None)
        if params and "TZID" in params:
            found.add(str(params["TZID"]))
    return found


def _ask(prop, again: bool) -> None:
    """RSVP=TRUE where a reply is expected; PARTSTAT back to NEEDS-ACTION when asked again."""
    if again:
        prop.params["PARTSTAT"] = "NEEDS-ACTION"
    if str(prop.params.get("PARTSTAT", "NEEDS-ACTION")).upper() == "NEEDS-ACTION":
        prop.params["RSVP"] = "TRUE"


@dataclass(frozen=True)
class _Mailing:
    """What one message is: its method, its recipient and what their copy must say."""
    method: str
    attendee: str
    token_address: str
    sequences: dict[str, int]
    cancel_only_attendee: bool
    recipients: frozenset[str]
    reask_keys: frozenset[str]


def build_itip(source: icalendar.Calendar, *, method: str, keys: tuple[str, ...], attendee: str,
               token_address: str, sequences: dict[str, int], cancel_only_attendee: bool,
               recipients: frozenset[str] = frozenset(), reask_keys: frozenset[str] = frozenset()) -> str:
    """The calendar to mail, serialized; `sequences` maps recurrence key -> SEQUENCE to put in.

    `recipients` are the attendees (mailto:, lower case) the gateway mails; in a REQUEST those
    on a component in `reask_keys` (a significant change) are asked again.
    """
    mailing = _Mailing(method.upper(), attendee, token_address, sequences, cancel_only_attendee,
                       recipients, reask_keys)
    out = icalendar.Calendar()
    out.add("PRODID", PRODID)
    out.add("VERSION", "2.0")
    out.add("METHOD", mailing.method)
    organizer_address = None
    for original in (c for c in events(source) if recurrence_key(c) in keys):
        if original.get("ORGANIZER") is not None:
            organizer_address = from_calendar_address(original.get("ORGANIZER"))
        event = _event_copy(original, mailing, organizer_address)
        if mailing.method == "REQUEST" and not recurrence_key(original):
            _exclude_instances_not_mailed(event, source, keys)
        out.add_component(event)
    return _with_timezones(out, source)


def _exclude_instances_not_mailed(master: icalendar.cal.Component, source: icalendar.Calendar,
                                  keys: tuple[str, ...]) -> None:
    """The series as this attendee has it: an override that is not mailed to them (cancelled, or
    they are not on it) becomes an EXDATE of their copy, as RFC 6638 §3.2.6 has servers do.
    Without it the series alone brings the instance back (a new attendee, or a full update after
    an instance was cancelled, would show it as on)."""
    held = set()
    for exdate in master.get("EXDATE", []) if isinstance(master.get("EXDATE"), list) else (
            [master.get("EXDATE")] if master.get("EXDATE") is not None else []):
        held.update(_utc_key(value.dt) for value in exdate.dts)
    for override in events(source):
        key = recurrence_key(override)
        if key and key not in keys and _utc_key(override.get("RECURRENCE-ID").dt) not in held:
            master.add("EXDATE", override.get("RECURRENCE-ID").dt)
            held.add(_utc_key(override.get("RECURRENCE-ID").dt))


def _utc_key(value) -> str:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).isoformat()
    return value.isoformat()


def _event_copy(original: icalendar.cal.Component, mailing: _Mailing, organizer_address: str | None):
    event = icalendar.Event()
    for name, value in original.property_items(recursive=False, sorted=False):
        name = name.upper()
        if name in ("BEGIN", "END") or name.startswith("X-"):
            continue
        if name in ("DTSTAMP", "SEQUENCE", "ORGANIZER", "ATTENDEE"):
            continue  # set below
        event.add(name, copy.deepcopy(value), encode=False)
    organizer = original.get("ORGANIZER")
    if organizer is not None:
        event.add("ORGANIZER", _token_organizer(organizer, mailing.token_address), encode=False)
    key = recurrence_key(original)
    for prop in attendees_of(original):
        address = from_calendar_address(prop)
        if mailing.method == "CANCEL" and mailing.cancel_only_attendee \
                and to_calendar_address(address) != mailing.attendee and address != organizer_address:
            continue
        if organizer_address is not None and address == organizer_address:
            rewritten = _token_organizer(prop, mailing.token_address)
            for k, v in prop.params.items():
                if k not in ("CN", "EMAIL") + SCHEDULING_PARAMS:
                    rewritten.params[k] = v
            event.add("ATTENDEE", rewritten, encode=False)
            continue
        clone = copy.deepcopy(prop)
        _strip_params(clone)
        if mailing.method == "REQUEST" and to_calendar_address(address) in mailing.recipients:
            _ask(clone, key in mailing.reask_keys)
        event.add("ATTENDEE", clone, encode=False)
    event.add("SEQUENCE", mailing.sequences.get(key, 0))
    if mailing.method == "CANCEL":
        if "STATUS" in event:
            del event["STATUS"]
        event.add("STATUS", "CANCELLED")
    return event


def _with_timezones(out: icalendar.Calendar, source: icalendar.Calendar) -> str:
    """Serialized, with every time zone the events refer to: from the stored calendar, else
    from the tz database."""
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
