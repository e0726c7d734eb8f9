"""Helpers of the calendar scenario's tests (plain functions and constants; the fixtures are in
conftest.py): the test passwords, iCalendar events as a calendar application writes them, the
external attendees' mailboxes on ext, and the gateway's status.

A module of its own name, not conftest: linters resolve `from conftest import ...` to whichever
conftest.py they find first, and the gateway package has one too."""

import email
import email.policy
import email.utils
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import icalendar
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
SHARED = SCENARIO.parent / "_shared" / "inventory" / "group_vars"
SITE_VARS = yaml.safe_load((SCENARIO / "inventory" / "hosts.yml").read_text())["all"]["children"]["mail_servers"]["vars"]
EXT_VARS = yaml.safe_load((SHARED / "vantage.yml").read_text())
PASSWORDS = {u["address"]: u["password"] for u in SITE_VARS["imip_mail_users"] + EXT_VARS["imip_mail_users"]}
PASSWORDS["calendar-invites@example.test"] = SITE_VARS["imip_invitation_password"]
SITE = "aio.example.test"
URL = f"https://{SITE}/"
INVITES = "calendar-invites@example.test"


def event_ics(uid, organizer, attendees, start, summary="Planning", sequence=None, minutes=60):
    """A VEVENT as a calendar application writes it (ORGANIZER and ATTENDEEs as mailto:)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//imip.server tests//calendar scenario//EN")
    cal.add("version", "2.0")
    ev = icalendar.Event()
    ev.add("uid", uid)
    ev.add("dtstamp", datetime.now(timezone.utc))
    ev.add("dtstart", start)
    ev.add("dtend", start + timedelta(minutes=minutes))
    ev.add("summary", summary)
    if sequence is not None:
        ev.add("sequence", sequence)
    org = icalendar.vCalAddress(f"mailto:{organizer}")
    org.params["CN"] = organizer.split("@")[0].capitalize()
    ev.add("organizer", org)
    for who in attendees:
        att = icalendar.vCalAddress(f"mailto:{who}")
        att.params.update({"PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE", "ROLE": "REQ-PARTICIPANT"})
        ev.add("attendee", att)
    cal.add_component(ev)
    return cal.to_ical().decode()


def new_uid():
    return f"{uuid.uuid4()}@tests.imip.server"


def tomorrow(hour=10):
    day = datetime.now(timezone.utc).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=timezone.utc)


def maildir(host, address):
    local, domain = address.split("@")
    return f"/var/vmail/{domain}/{local}/Maildir"


def messages(host, address):
    """Every message in that mailbox (new and cur), parsed."""
    names = host.run(f"find {maildir(host, address)}/new {maildir(host, address)}/cur -type f 2>/dev/null").stdout.split()
    parsed = []
    for name in names:
        raw = host.file(name).content
        parsed.append(email.message_from_bytes(raw, policy=email.policy.default))
    return parsed


def calendar_part(message):
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return part, icalendar.Calendar.from_ical(part.get_payload(decode=True))
    return None, None


def itip_for(host, address, uid):
    """[(message, VCALENDAR)] of the iTIP messages for that UID in that mailbox, oldest first."""
    found = []
    for message in messages(host, address):
        part, cal = calendar_part(message)
        if cal is not None and any(str(ev.get("uid")) == uid for ev in cal.walk("VEVENT")):
            found.append((message, cal))
    found.sort(key=lambda pair: email.utils.parsedate_to_datetime(pair[0]["Date"]))
    return found


def wait_for(what, probe, timeout=60, interval=0.5, until=None):
    """Call probe() until its result is truthy (or until(result) holds); return that result."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if until(result) if until else result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def gateway_status(host):
    out = host.run("/opt/imip/gateway/bin/imip-gateway status --json")
    return json.loads(out.stdout)
