"""Fixtures of the calendar scenario: a CalDAV client as a user's calendar application would be,
the external attendees' mailboxes on ext, the gateway's status, and the test passwords.

The client runs on the controller and finds the site the way a user's machine would: names are
resolved through the site's own name server (aio), and TLS is verified against the site CA."""

import email
import email.policy
import json
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import caldav
import dns.resolver
import icalendar
import niquests
import pytest
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


def _topology_dir():
    import os
    if os.environ.get("IMIP_LAB_TOPOLOGY"):
        return Path(os.environ["IMIP_LAB_TOPOLOGY"]).parent
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "inventory" / ".lab"


@pytest.fixture(scope="session", autouse=True)
def site_names(address):
    """Resolve example.test and external.test names through aio's name server, as a client of the
    site does (nothing is added to the controller's /etc/hosts)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [address("aio")]
    resolver.lifetime = 5
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith((".example.test", ".external.test")):
            host = resolver.resolve(host, "A")[0].address
        return original(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    yield
    socket.getaddrinfo = original


@pytest.fixture(scope="session")
def ca_file():
    path = _topology_dir().parent / ".tls-ca" / "ca.pem"
    assert path.is_file(), f"no site CA at {path}"
    return str(path)


class _Site:
    """HTTP to the site, TLS verified against the site CA."""

    def __init__(self, ca_file):
        self.ca_file = ca_file

    def request(self, method, url, **kwargs):
        return niquests.request(method, url, verify=self.ca_file, timeout=30, **kwargs)

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)


@pytest.fixture(scope="session")
def http(ca_file):
    return _Site(ca_file)


@pytest.fixture(scope="session")
def calendar_of(ca_file):
    """calendar_of("alice@example.test") -> that user's calendar "work" (created once)."""
    cache = {}

    def get(user):
        if user not in cache:
            client = caldav.DAVClient(url=URL, username=user, password=PASSWORDS[user], ssl_verify_cert=ca_file)
            principal = client.principal()
            found = [c for c in principal.calendars() if c.url.path.rstrip("/").endswith("/work")]
            cache[user] = found[0] if found else principal.make_calendar(name="work", cal_id="work")
        return cache[user]

    return get


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


def wait_for(what, predicate, timeout=60, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def gateway_status(host):
    out = host.run("/opt/imip/gateway/bin/imip-gateway status --json")
    return json.loads(out.stdout)
