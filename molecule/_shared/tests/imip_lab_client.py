"""What the Molecule scenarios' tests and their side effects share to drive the
lab as users do: a calendar application's events (CalDAV), the external attendee's mailbox on
`ext` and the replies its mail client sends (also forged and stale ones), the gateway's status.
The invitation round trip itself is the collection's (playbooks/check.yml with
imip_check_roundtrip=true, the modules imip.server.roundtrip_organizer and roundtrip_attendee):
the scenarios run that, not a copy here.

A module of its own name (not conftest): test modules import it by name (molecule/conftest.py
puts this directory on sys.path), and linters resolve a `conftest` import to whichever conftest.py
they find first. It also runs as a command, so that side_effect playbooks drive the same code
(credentials come from a file, never from the command line):

    imip_lab_client.py --topology <inventory>/.lab/topology.json --ca-file <site CA> \\
        --credentials <file: {"address": "password", ...}> --nameserver ns1 \\
        invite --organizer alice@example.test --attendee attendee@external.test

Commands print one JSON object: `invite` (an event only; with --expect-refused it waits until the
gateway reports its SMTP login refused and checks that nothing reached the attendee, and returns
the event as imip.server.roundtrip_organizer's `invitation`, so that the collection's round trip
can finish it once the incident is fixed), `invited` (an outside organizer's invitations mailed
from ext to a local user, each until the event is in the user's calendar; the seconds from the
user's Maildir to the calendar), `imap-login` (a login as a mail client makes it, over TLS to port
993 of the site's public name).
"""

import argparse
import base64
import contextlib
import email
import email.message
import email.policy
import email.utils
import imaplib
import json
import os
import socket
import ssl
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import caldav
import dns.resolver
import icalendar
import testinfra

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = "/opt/imip/gateway/bin/imip-gateway"


# ------------------------------------------------------------------------ events (CalDAV)
def event_ics(uid, organizer, attendees, start, summary="Planning", sequence=None, minutes=60):
    """A VEVENT as a calendar application writes it (ORGANIZER and ATTENDEEs as mailto:)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//imip.server tests//lab client//EN")
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


def work_calendar(url, user, password, ca_file):
    """That user's calendar "work" on the site (created once), as a calendar application finds it."""
    client = caldav.DAVClient(url=url, username=user, password=password, ssl_verify_cert=ca_file)
    principal = client.principal()
    found = [c for c in principal.calendars() if c.url.path.rstrip("/").endswith("/work")]
    return found[0] if found else principal.make_calendar(name="work", cal_id="work")


def partstat(calendar, uid, attendee):
    """The attendee's PARTSTAT on the organizer's copy of the event (None: not an attendee)."""
    event = calendar.event_by_uid(uid).icalendar_component
    attendees = event.get("ATTENDEE")
    for att in attendees if isinstance(attendees, list) else [attendees]:
        if str(att).lower() == f"mailto:{attendee}":
            return str(att.params.get("PARTSTAT"))
    return None


@contextlib.contextmanager
def resolve_through(nameserver, suffixes=(".example.test", ".external.test")):
    """Resolve the lab's names through its name server, as a client of the site does (nothing is
    added to the controller's /etc/hosts)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [nameserver]
    resolver.lifetime = 5
    original = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(tuple(suffixes)):
            host = resolver.resolve(host, "A")[0].address
        return original(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = original


# ------------------------------------------------------------------------ mailboxes (the lab's hosts)
def maildir(address):
    local, domain = address.split("@")
    return f"/var/vmail/{domain}/{local}/Maildir"


def messages(host, address):
    """Every message in that mailbox (new and cur), parsed."""
    names = host.run(f"find {maildir(address)}/new {maildir(address)}/cur -type f 2>/dev/null").stdout.split()
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
        _part, cal = calendar_part(message)
        if cal is not None and any(str(ev.get("uid")) == uid for ev in cal.walk("VEVENT")):
            found.append((message, cal))
    # Date has one-second resolution: an update mailed in the same second as the invitation is
    # told apart by its higher SEQUENCE (otherwise the order of the Maildir listing decides).
    found.sort(key=lambda pair: (email.utils.parsedate_to_datetime(pair[0]["Date"]), sequence_of(pair[1])))
    return found


def token_address(cal):
    """The ORGANIZER of an iTIP REQUEST: the invitation address with the reply token."""
    return str(next(iter(cal.walk("VEVENT")))["ORGANIZER"])[len("mailto:"):]


def sequence_of(cal):
    return int(next(iter(cal.walk("VEVENT"))).get("SEQUENCE", 0))


def reply_message(uid, token_addr, attendee, status, sequence, sender=None, with_calendar=True, subject=None):
    """The attendee's answer as a mail client writes it: an iTIP REPLY to the token address."""
    msg = email.message.EmailMessage()
    msg["From"] = sender or attendee
    msg["To"] = token_addr
    msg["Subject"] = subject or f"{status.capitalize()}: Planning"
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=attendee.split("@")[1])
    if not with_calendar:
        msg.set_content("Thanks, see you there. (A human answer, no calendar.)\n")
        return msg
    cal = icalendar.Calendar()
    cal.add("prodid", "-//external.test//a mail client//EN")
    cal.add("version", "2.0")
    cal.add("method", "REPLY")
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime.now(timezone.utc))
    event.add("sequence", sequence)
    event.add("organizer", icalendar.vCalAddress(f"mailto:{token_addr}"))
    att = icalendar.vCalAddress(f"mailto:{attendee}")
    att.params["PARTSTAT"] = status
    event.add("attendee", att)
    cal.add_component(event)
    msg.set_content(f"{attendee} has {status.lower()} the invitation.\n")
    msg.add_alternative(cal.to_ical().decode(), subtype="calendar", params={"method": "REPLY"})
    return msg


def send_from_ext(ext, msg, envelope_from):
    """ext's own Postfix sends it: MX lookup of the site's domain, then SMTP to its public address."""
    data = base64.b64encode(msg.as_bytes()).decode()
    result = ext.run(f"echo {data} | base64 -d | /usr/sbin/sendmail -i -f {envelope_from} -- {msg['To']}")
    if result.rc != 0:
        raise AssertionError(f"sendmail on ext failed: {result.stderr}")
    return msg["Message-ID"]


# ------------------------------------------------------------------------ waiting, the gateway
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
    out = host.run(f"{GATEWAY} status --json")
    return json.loads(out.stdout)


# ------------------------------------------------------------------------ the lab as the command sees it
class Lab:
    """The hosts of one lab (a topology file written by tools/lab/create.yml), over podman."""

    def __init__(self, topology_path):
        self.topology = json.loads(Path(topology_path).read_text())
        os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "tools" / "lab" / "containers.conf"))
        self._hosts = {}

    def host(self, name):
        if name not in self._hosts:
            self._hosts[name] = testinfra.get_host(f"podman://imip-{self.topology['name']}-{name}")
        return self._hosts[name]

    def address(self, name):
        interfaces = self.topology["hosts"][name]["interfaces"]
        return interfaces.get("inside") or interfaces["outside"]


def invite(calendar, organizer, attendee, hour=9):
    uid = new_uid()
    calendar.save_event(event_ics(uid, organizer, [attendee], tomorrow(hour)))
    return uid


def await_request(ext, attendee, uid, timeout=120):
    return wait_for(f"the REQUEST for {uid} in {attendee}'s mailbox", lambda: itip_for(ext, attendee, uid),
                    timeout=timeout, interval=0.2)[-1][1]


def request_message(uid, organizer, attendee, hour=11, sequence=0):
    """An outside organizer's invitation as their calendar program mails it (iMIP, RFC 6047)."""
    calendar = icalendar.Calendar.from_ical(event_ics(uid, organizer, [attendee], tomorrow(hour), summary="Review",
                                                      sequence=sequence))
    calendar.add("method", "REQUEST")
    msg = email.message.EmailMessage()
    msg["From"] = organizer
    msg["To"] = attendee
    msg["Subject"] = "Invitation: Review"
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=organizer.split("@")[1])
    msg.set_content("You are invited to Review.\n")
    msg.add_alternative(calendar.to_ical().decode(), subtype="calendar", params={"method": "REQUEST"})
    return msg


def copy_in_calendars_of(calendar, uid):
    """The event `uid` (a caldav Event) from any calendar of the user who owns `calendar`, as
    their client finds it."""
    for candidate in calendar.client.principal().calendars():
        try:
            return candidate.event_by_uid(uid)
        except caldav.error.NotFoundError:
            continue
    return None


def invited(calendar, lab, mail_host, organizer, attendee, count=1):
    """`count` invitations from an outside organizer (ext's Postfix sends each), one at a time:
    the seconds from the message landing in the attendee's Maildir (the file's time) to the event
    readable in their calendar over CalDAV, and from the hand-over to ext's MTA to that."""
    ext, host = lab.host("ext"), lab.host(mail_host)
    results = []
    for _run in range(count):
        uid = new_uid()
        message = request_message(uid, organizer, attendee)
        handed = time.time()
        send_from_ext(ext, message, organizer)
        flushed = [time.monotonic()]

        def arrived():
            # Greylisting (the lab's is as in production) holds a new sender's first message; ext's
            # Postfix would retry in minutes: its queue is flushed every 20 s meanwhile.
            if time.monotonic() - flushed[0] > 20:
                ext.run("postqueue -f")
                flushed[0] = time.monotonic()
            return copy_in_calendars_of(calendar, uid)

        wait_for(f"{uid} in {attendee}'s calendar", arrived, timeout=900, interval=0.02)
        seen = time.time()
        path = host.check_output(f"grep -rlF {message['Message-ID']!r} {maildir(attendee)}/new {maildir(attendee)}/cur")
        landed = float(host.check_output(f"stat -c %.6Y {path.split()[0]}"))
        results.append({"uid": uid, "mailbox_to_calendar_seconds": round(seen - landed, 3),
                        "sent_to_calendar_seconds": round(seen - handed, 3)})
    return results


def imap_login(host, user, password, ca_file, port=993):
    """A mail client's IMAP login over TLS (certificate verified); True when the server accepts it."""
    context = ssl.create_default_context(cafile=ca_file)
    with imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=30) as client:
        try:
            client.login(user, password)
        except imaplib.IMAP4.error:
            return False
        client.logout()
    return True


# imip_gateway.service.SMTP_IDLE_CLOSE (30 s), with a margin.
SMTP_IDLE_SECONDS = 35


def _idle_seconds(status):
    last = status["outbound"]["smtp"]["last_time"]
    if not last:
        return float("inf")
    return (datetime.now(timezone.utc) - datetime.fromisoformat(last)).total_seconds()


def refused_invitation(calendar, lab, mail_host, organizer, attendee, timeout=120):
    """An invitation while the gateway's SMTP login is refused: the gateway's status and journal say
    so, the job stays queued, and nothing reaches the attendee. Returns what was seen, and the event
    as imip.server.roundtrip_organizer's `invitation` (uid, href, calendar), which the collection's
    round trip (roundtrip_attendee step=answer, roundtrip_organizer step=finish) takes over once the
    login works again: it is not in the round trip's own calendar, so only the event is deleted."""
    cal_host, ext = lab.host(mail_host), lab.host("ext")
    # The gateway keeps its authenticated SMTP session while it sends and closes it after
    # SMTP_IDLE_SECONDS without mail; the next invitation opens a new one and logs in again. An
    # administrator meets the refusal with the first invitation after that, so the test waits too.
    wait_for("the gateway's SMTP session to close after sending nothing for a while",
             lambda: _idle_seconds(gateway_status(cal_host)) > SMTP_IDLE_SECONDS, timeout=SMTP_IDLE_SECONDS + 30)
    uid = invite(calendar, organizer, attendee, hour=11)

    def refused():
        status = gateway_status(cal_host)["outbound"]
        return status if status["smtp"]["last_login_ok"] is False and status["queue_depth"] > 0 else None

    status = wait_for("the gateway reporting its SMTP login refused", refused, timeout=timeout)
    journal = cal_host.run("journalctl -u imip-gateway --no-pager -o cat -n 200").stdout
    lines = [line for line in journal.splitlines() if "authentication failed" in line.lower() or " 535 " in line]
    if not lines:
        raise AssertionError("the gateway's journal does not say that the SMTP login was refused")
    if itip_for(ext, attendee, uid):
        raise AssertionError("an invitation reached the attendee although the SMTP login is refused")
    invitation = {"uid": uid, "href": calendar.event_by_uid(uid).url.path, "calendar": calendar.url.path,
                  "created_calendar": False}
    return {"uid": uid, "queue_depth": status["queue_depth"], "last_error": status["smtp"]["last_error"],
            "journal": lines[-1], "invitation": invitation}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--topology", required=True, help="<inventory>/.lab/topology.json")
    parser.add_argument("--ca-file", required=True, help="the site CA (PEM) that TLS is verified against")
    parser.add_argument("--credentials", required=True, help='JSON file {"address": "password"} (keep it 0600)')
    parser.add_argument("--nameserver", default="ns1", help="the lab host whose name server clients ask")
    parser.add_argument("--mail-host", default="cal", help="the lab host with mail, calendar and gateway")
    parser.add_argument("--url", default="https://cal.example.test/", help="the CalDAV server")
    sub = parser.add_subparsers(dest="command", required=True)
    inviting = sub.add_parser("invite")
    inviting.add_argument("--organizer", default="alice@example.test")
    inviting.add_argument("--attendee", default="attendee@external.test")
    inviting.add_argument("--expect-refused", action="store_true")
    outside = sub.add_parser("invited")
    outside.add_argument("--organizer", default="attendee@external.test")
    outside.add_argument("--attendee", default="alice@example.test")
    outside.add_argument("--count", type=int, default=1)
    login = sub.add_parser("imap-login")
    login.add_argument("--user", required=True)
    login.add_argument("--host", default="cal.example.test")
    args = parser.parse_args(argv)

    credentials = json.loads(Path(args.credentials).read_text())
    lab = Lab(args.topology)
    with resolve_through(lab.address(args.nameserver)):
        if args.command == "imap-login":
            result = {"user": args.user, "accepted": imap_login(args.host, args.user, credentials[args.user], args.ca_file)}
        elif args.command == "invited":
            calendar = work_calendar(args.url, args.attendee, credentials[args.attendee], args.ca_file)
            runs = invited(calendar, lab, args.mail_host, args.organizer, args.attendee, args.count)
            figures = sorted(r["mailbox_to_calendar_seconds"] for r in runs)
            result = {"runs": runs, "mailbox_to_calendar_median": figures[len(figures) // 2],
                      "mailbox_to_calendar_p95": figures[min(len(figures) - 1, round(0.95 * (len(figures) - 1)))],
                      "mailbox_to_calendar_max": figures[-1]}
        else:
            calendar = work_calendar(args.url, args.organizer, credentials[args.organizer], args.ca_file)
            if args.expect_refused:
                result = refused_invitation(calendar, lab, args.mail_host, args.organizer, args.attendee)
            else:
                result = {"uid": invite(calendar, args.organizer, args.attendee)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
