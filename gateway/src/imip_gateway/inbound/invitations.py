"""Invitations from outside organizers to local users, written into the user's own calendar.

The mail system hands the gateway a copy of each calendar mail delivered to a local user (the
mail role's global Sieve script pipes it to `imip-handoff`, which files it in the invitation
account's INBOX with the line `X-IMIP-Handoff: <recipient>` put before everything else; Postfix
removes that header from every message it receives, so only the hand-off can write it, and
Dovecot begins every message it delivers with Return-Path). The user's own message stays in
their INBOX, unchanged, whatever is decided here.

Accepted only when the recipient is a local user who did not opt out, METHOD is REQUEST, ADD or
CANCEL, the calendar has one UID, the ORGANIZER is outside (a colleague's events are copied by
the gateway itself), the recipient is one of its ATTENDEEs, the sender authenticates for the
ORGANIZER's domain under the site's policy (our MTA's Authentication-Results, as for replies),
and a copy already in the user's calendars has the same ORGANIZER (no hijacking a UID). Then, as
RFC 5546 describes, per recurrence key: a component older than the copy's (SEQUENCE, then
DTSTAMP) changes nothing (stale or replayed); REQUEST writes the event with the user's ATTENDEE
at NEEDS-ACTION, and an update keeps the user's answer unless it moves the event in time (a
higher SEQUENCE and another DTSTART, DTEND, DURATION or recurrence rule: asked again); a REQUEST
of some instances only replaces those; ADD puts new instances into the series (an RDATE and the
instance, which asks for its own answer); CANCEL marks the copy (or those instances)
STATUS:CANCELLED. The copy is written as the gateway's identity (If-Match, re-read on 412), so
the hook plans nothing for that write; the user's later answer there is mailed to the organizer
by the outbound half (outbound.replies).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

import icalendar

from imip_gateway.addresses import domain_of, from_calendar_address, is_address, same_address, to_calendar_address
from imip_gateway.attendee_copies import (NoCalendarHome, attendee_copy, components, find_copy, home, new_href,
                                          user_names)
from imip_gateway.caldav_client import CalDAVClient, CalDAVError, PreconditionFailed
from imip_gateway.ical import parse_calendar

from . import authres, mime
from .ical import ICalError
from .itip import ItipMessage, parse_itip

__all__ = ["HANDOFF_HEADER", "Invitations", "Verdict", "handoff_recipient"]

log = logging.getLogger("imip_gateway.inbound")

HANDOFF_HEADER = "X-IMIP-Handoff"
APPLIED_METHODS = ("REQUEST", "ADD", "CANCEL")
PUT_ATTEMPTS = 5
# A move in time asks the attendee again (the properties RFC 5546 §2.1.4 lists first).
TIME_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE")
# CalDAV answers that no retry changes.
PERMANENT = (400, 403, 404, 405, 409, 415, 422)


def handoff_recipient(raw: bytes) -> str | None:
    """The local recipient the hand-off names in the message's first line, else None."""
    first = raw[:1024].split(b"\n", 1)[0].rstrip(b"\r")
    name, colon, value = first.partition(b":")
    if not colon or name.strip().lower() != HANDOFF_HEADER.lower().encode():
        return None
    address = value.strip().decode("ascii", "replace").lower()
    return address if is_address(address) else None


class CalendarUnreachable(Exception):
    """CalDAV could not be reached: the message stays in INBOX for the next pass."""


@dataclass
class Verdict:
    outcome: str      # applied | ignored | rejected
    reason: str
    uid: str | None = None

    @property
    def rejected(self) -> bool:
        return self.outcome == "rejected"


@dataclass
class Settings:
    max_itip_bytes: int
    auth_policy: str
    authserv_id: str
    is_local: Callable[[str], bool]           # address -> in one of our domains?
    invitation_address: str
    opt_out_users: tuple[str, ...] = ()


def _sequence(component) -> int:
    try:
        return int(component.get("SEQUENCE", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _dtstamp(component) -> str:
    value = component.get("DTSTAMP")
    try:
        return value.dt.strftime("%Y%m%dT%H%M%SZ") if value is not None else ""
    except AttributeError:
        return ""


def _newer(incoming, held) -> bool:
    """RFC 5546 §2.1.5: a higher SEQUENCE, or the same with a later DTSTAMP."""
    if _sequence(incoming) != _sequence(held):
        return _sequence(incoming) > _sequence(held)
    return _dtstamp(incoming) > _dtstamp(held)


def _values(component, name: str) -> list[bytes]:
    """The property's values as written (RDATE and EXDATE may be given on several lines)."""
    value = component.get(name)
    if value is None:
        return []
    return [item.to_ical() for item in (value if isinstance(value, list) else [value])]


def _moved(incoming, held) -> bool:
    return any(_values(incoming, name) != _values(held, name) for name in TIME_PROPERTIES)


def _asked_again(key: str, incoming, held: dict) -> bool:
    """The user's answer no longer holds: the component moved in time with a higher SEQUENCE, or
    an instance they answered through the series now has its own time."""
    if key in held:
        return _sequence(incoming) > _sequence(held[key]) and _moved(incoming, held[key])
    if key and "" in held:
        start, rid = incoming.get("DTSTART"), incoming.get("RECURRENCE-ID")
        return start is not None and rid is not None and start.dt != rid.dt
    return False


def _added_instances(calendar: icalendar.Calendar) -> icalendar.Calendar:
    """An ADD's components as instances of the series (RFC 5546 §3.2.4: each VEVENT is a new
    instance, without RECURRENCE-ID): each gets the RECURRENCE-ID of its own start."""
    for component in calendar.subcomponents:
        if component.name == "VEVENT" and component.get("RECURRENCE-ID") is None and component.get("DTSTART"):
            start = component.get("DTSTART")
            component.add("RECURRENCE-ID", start.dt, parameters=dict(start.params))
    return calendar


def _with_dates_added(copy_text: str, added: dict) -> str:
    """The series in the copy gains an RDATE for each added instance it does not produce yet."""
    copy = parse_calendar(copy_text)
    series = components(copy).get("")
    if series is None:
        return copy_text
    present = set(_values(series, "RDATE"))
    for component in added.values():
        start = component.get("RECURRENCE-ID")
        line = icalendar.prop.vDDDLists([start.dt])
        if start.params.get("TZID"):
            line.params["TZID"] = start.params["TZID"]
        if line.to_ical() not in present:
            series.add("RDATE", line, encode=False)
    return copy.to_ical().decode("utf-8")


class Invitations:
    def __init__(self, settings: Settings, caldav: CalDAVClient | None):
        self.settings = settings
        self.caldav = caldav

    # ------------------------------------------------------------------ the checks
    def decide(self, msg: Message, recipient: str) -> Verdict:
        """Check the handed-over message and write the recipient's copy; CalendarUnreachable when
        CalDAV is down (retried), otherwise a Verdict (the message is then filed)."""
        settings = self.settings
        if same_address(recipient, settings.invitation_address) or not settings.is_local(recipient):
            return Verdict("rejected", f"the hand-off names {recipient}, not a local user")
        opted = set(user_names(recipient)) & set(settings.opt_out_users)
        if opted:
            return Verdict("ignored", f"{recipient} opted out in opt_out_users ({sorted(opted)[0]}): "
                           "their own client handles invitations")
        extraction = mime.extract_calendars(msg, settings.max_itip_bytes)
        if extraction.oversize:
            return Verdict("rejected", f"calendar part of {max(extraction.oversize)} bytes exceeds max_itip_bytes")
        if extraction.first is None:
            return Verdict("ignored", "no calendar part")
        try:
            itip = parse_itip(extraction.first.text, extraction.first.method_param)
        except ICalError as exc:
            return Verdict("rejected", f"calendar part unreadable: {exc}")
        refused = self._refused(msg, itip, recipient)
        if refused is not None:
            return refused
        if self.caldav is None:
            return Verdict("rejected", "no CalDAV client configured for local calendars")
        uid = next(iter(itip.uids))
        try:
            calendar = parse_calendar(extraction.first.text)
        except ValueError as exc:
            return Verdict("rejected", f"calendar part unreadable: {exc}", uid)
        try:
            return self._write(calendar, extraction.first.text, itip, recipient, uid)
        except NoCalendarHome as exc:
            return Verdict("rejected", str(exc), uid)
        except CalDAVError as exc:
            if exc.status in PERMANENT:
                return Verdict("rejected", f"CalDAV refused: {exc}", uid)
            raise CalendarUnreachable(str(exc)) from None
        except OSError as exc:
            raise CalendarUnreachable(f"CalDAV unreachable: {exc}") from None

    def _refused(self, msg: Message, itip: ItipMessage, recipient: str) -> Verdict | None:
        method = itip.method or ""
        uid = next(iter(itip.uids), None)
        if method not in APPLIED_METHODS:
            return Verdict("ignored", f"METHOD:{method or '(none)'} to a local user: nothing to apply", uid)
        if len(itip.uids) != 1:
            return Verdict("rejected", f"{len(itip.uids)} UIDs in one {method} (one expected)", uid)
        organizer = from_calendar_address(itip.organizer)
        if not is_address(organizer):
            return Verdict("rejected", f"ORGANIZER {organizer or '(none)'} is not a mail address", uid)
        if self.settings.is_local(organizer):
            return Verdict("ignored", f"organizer {organizer} is a local user: the gateway keeps colleagues' "
                           "copies itself", uid)
        if not any(from_calendar_address(a.value) == recipient for inst in itip.instances for a in inst.attendees):
            return Verdict("rejected", f"{recipient} is not an ATTENDEE of the event", uid)
        verdict = authres.evaluate(msg, self.settings.auth_policy, self.settings.authserv_id,
                                   domain_of(organizer))
        if not verdict.passed:
            return Verdict("rejected", f"sender authentication: {verdict.note}", uid)
        if verdict.note.startswith("warning"):
            log.info("inbound invitation uid=%s for %s: %s", uid, recipient, verdict.note)
        return None

    # ------------------------------------------------------------------ the copy
    def _write(self, calendar: icalendar.Calendar, text: str, itip: ItipMessage, recipient: str, uid: str) -> Verdict:
        method = itip.method
        attendee = to_calendar_address(recipient)
        organizer = from_calendar_address(itip.organizer)
        where = home(self.caldav, recipient)
        if method == "ADD":
            calendar = _added_instances(calendar)
            text = calendar.to_ical().decode("utf-8")
        incoming = components(calendar)
        for attempt in range(1, PUT_ATTEMPTS + 1):
            found = find_copy(self.caldav, where, uid)
            held = components(parse_calendar(found.text)) if found is not None else {}
            if found is not None:
                owner = next((from_calendar_address(c.get("ORGANIZER")) for c in held.values()
                              if c.get("ORGANIZER")), "")
                if owner != organizer:
                    return Verdict("rejected", f"UID {uid} in {recipient}'s calendar belongs to "
                                   f"{owner or 'the user (no ORGANIZER)'}, not {organizer}: left as it is", uid)
            stale = [key for key, c in incoming.items() if key in held and not _newer(c, held[key])]
            if stale and ("" in stale or len(stale) == len(incoming)):
                held_seq = _sequence(held.get("") or next(iter(held.values())))
                return Verdict("ignored", f"stale or replayed {method}: the calendar holds SEQUENCE {held_seq}", uid)
            if found is None and method == "CANCEL":
                return Verdict("ignored", f"CANCEL for an event not in {recipient}'s calendar: nothing to cancel", uid)
            if method == "ADD" and "" not in held:
                return Verdict("rejected", f"ADD for a series that is not in {recipient}'s calendar", uid)
            reask = {key for key, c in incoming.items() if _asked_again(key, c, held)}
            if method == "ADD":
                reask |= set(incoming)  # a new instance is asked for its own answer
            merge = method == "ADD" or (method == "REQUEST" and "" not in incoming)
            # ADD is written as a REQUEST of the added instances (merged into the series).
            copy_text = attendee_copy(text, found.text if found else None,
                                      method="CANCEL" if method == "CANCEL" else "REQUEST", attendee=attendee,
                                      reask=reask, merge=merge, new_partstat="NEEDS-ACTION")
            if method == "ADD":
                copy_text = _with_dates_added(copy_text, incoming)
            href = found.href if found else new_href(self.caldav, where, uid)
            try:
                self.caldav.put(href, copy_text, etag=found.etag if found else None, create=found is None)
            except PreconditionFailed:
                log.info("inbound invitation uid=%s: %s changed meanwhile (412), re-reading (attempt %d)",
                         uid, href, attempt)
                continue
            asked = " (asked again)" if reask else ""
            return Verdict("applied", f"{method} from {organizer} {'written to' if found else 'new in'} {href}{asked}",
                           uid)
        raise CalendarUnreachable(f"{uid}: still 412 after {PUT_ATTEMPTS} re-reads")
