"""A local user's answer to an outside organizer, mailed as an iTIP REPLY from the user's address.

The invitation is in alice's calendar (the gateway wrote it from the organizer's mail, or her
client imported it). When alice changes her PARTSTAT there (the hook's actor is alice), or
deletes the event (DECLINED, RFC 6638 §3.2.8; after the same grace as a deleted event's CANCEL,
so that a move answers nothing), outbound.changes queues one REPLY job: a mail job like the
invitations, durable and retried, sent by SMTP submission as the gateway's identity with
alice's address as envelope sender and From, so that DKIM and DMARC align with our domain and a
bounce reaches her (the mail role lets the gateway's login send for local users only).

The REPLY (RFC 5546 §3.2.3) has one VEVENT per answered component: UID, RECURRENCE-ID, SEQUENCE
and DTSTART as in alice's copy, ORGANIZER, her ATTENDEE line alone with the new PARTSTAT, and
SUMMARY for people reading it; DTSTAMP is set when it is sent. Users in opt_out_users answer
with their own client and get no REPLY from the gateway.
"""

from __future__ import annotations

import copy
import json
import logging
import sqlite3

import icalendar

from imip_gateway.addresses import from_calendar_address, strip_mailto, to_calendar_address
from imip_gateway.config import Config
from imip_gateway.ical import attendees_of, events, parse_calendar, recurrence_key
from imip_gateway.outbound.itip import PRODID, SCHEDULING_PARAMS
from imip_gateway.outbound.message import display_fields
from imip_gateway.outbound.schema import insert_job

__all__ = ["build_reply", "queue"]

log = logging.getLogger("imip_gateway.outbound")

# Copied from the attendee's copy into each VEVENT of the REPLY (besides ORGANIZER and ATTENDEE).
_KEPT = ("UID", "RECURRENCE-ID", "SEQUENCE", "DTSTART", "DTEND", "DURATION", "SUMMARY")


def _tzids(component: icalendar.cal.Component) -> set[str]:
    return {str(value.params["TZID"]) for _name, value in component.property_items(sorted=False)
            if getattr(value, "params", None) and "TZID" in value.params}


def build_reply(copy_text: str, organizer: str, attendee: str, answers: dict[str, str]) -> str:
    """The REPLY for `answers` ({recurrence key: PARTSTAT}) of `attendee` (mailto:, lower case) to
    `organizer` (mailto:), whose ORGANIZER line is copied from each component that has one."""
    source = parse_calendar(copy_text)
    out = icalendar.Calendar()
    out.add("PRODID", PRODID)
    out.add("VERSION", "2.0")
    out.add("METHOD", "REPLY")
    wanted: set[str] = set()
    replies = []
    for component in events(source):
        key = recurrence_key(component)
        if key not in answers:
            continue
        reply = icalendar.Event()
        for name in _KEPT:
            if component.get(name) is not None:
                reply.add(name, copy.deepcopy(component.get(name)), encode=False)
        # An override may leave ORGANIZER to its series.
        organizer_line = copy.deepcopy(component.get("ORGANIZER")) or icalendar.vCalAddress(organizer)
        for name in SCHEDULING_PARAMS:
            organizer_line.params.pop(name, None)
        reply.add("ORGANIZER", organizer_line, encode=False)
        mine = next((a for a in attendees_of(component) if to_calendar_address(a) == attendee), None)
        line = icalendar.vCalAddress(attendee)
        if mine is not None and mine.params.get("CN"):
            line.params["CN"] = str(mine.params["CN"])
        line.params["PARTSTAT"] = answers[key]
        reply.add("ATTENDEE", line, encode=False)
        wanted |= _tzids(reply)
        replies.append(reply)
    for zone in source.subcomponents:
        if zone.name == "VTIMEZONE" and str(zone.get("TZID")) in wanted:
            out.add_component(copy.deepcopy(zone))
    for reply in replies:
        out.add_component(reply)
    return out.to_ical().decode("utf-8")


def _name_of(copy_text: str, attendee: str) -> str:
    for component in events(parse_calendar(copy_text)):
        for prop in attendees_of(component):
            if to_calendar_address(prop) == attendee and prop.params.get("CN"):
                return str(prop.params["CN"])
    return ""


def queue(conn: sqlite3.Connection, cfg: Config, change: sqlite3.Row, uid: str, answer, copy_text: str, *,
          now: float, due: float, deleted: bool) -> str:
    """One REPLY job: `answer` is (organizer, attendee, {recurrence key: PARTSTAT}) as
    outbound.local.answer_in_copy finds it. jobs.attendee is who answers (the sender),
    jobs.organizer whom it goes to; a REPLY carries no token."""
    organizer, attendee, answers = answer
    itip = build_reply(copy_text, organizer, attendee, answers)
    calendar = parse_calendar(itip)
    first = next(iter(sorted(answers)))
    display = {**display_fields(events(calendar)), "answer": answers[first],
               "attendee_name": _name_of(copy_text, attendee)}
    organizer_prop = next((c.get("ORGANIZER") for c in events(calendar)), None)
    organizer_name = str(organizer_prop.params.get("CN", "")) if organizer_prop is not None else ""
    job_id, message_id = insert_job(
        conn, domain=cfg.invitations.domain, change_id=change["id"], created=now, position=0, method="REPLY",
        reason="deleted" if deleted else "answered", uid=uid, point=change["point"], organizer=organizer,
        organizer_name=organizer_name, attendee=attendee, token="", calendar=itip, display=json.dumps(display),
        sequences="{}", due=due)
    log.info("queued job=%s REPLY (%s) uid=%s attendee=%s organizer=%s: %s message_id=%s", job_id,
             "deleted" if deleted else "answered", uid, strip_mailto(attendee), from_calendar_address(organizer),
             ", ".join(f"{k or 'series'} {v}" for k, v in sorted(answers.items())), message_id)
    return job_id
