"""Corpus check: every real message of the imip-samples corpus reaches the outcome its INDEX.md names.

The corpus (real client messages from other projects' public test fixtures, with their licences)
is found through IMIP_SAMPLES_DIR, by default the folder `imip-samples` beside the repository's
parent directory; the test is skipped, with that reason shown, when it is absent.

The samples are never copied into the repository; this test reads them where they are. For
each reply it builds the organizer's event in a real Radicale (organizer alice@example.test,
the sample's UID and VEVENT-level attendee) and a token, then delivers the message with the
envelope header our own Postfix adds (X-Original-To: <invite-local>+<token>@<domain>) and our
MTA's verdict on the sender's DKIM signature (Authentication-Results, dkim=pass). The
bounce is delivered as it is: its token is the one in the returned invitation's ORGANIZER.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from imip_gateway import db
from imip_gateway.addresses import from_calendar_address
from imip_gateway.inbound import mime
from imip_gateway.inbound.events import CalDAVEvents
from imip_gateway.inbound.ical import unfold
from imip_gateway.inbound.itip import parse_itip
from imip_gateway.inbound.processor import Processor
from imip_gateway.inbound.state import InboundState
from imip_gateway.tokens import TokenStore

from . import messages as m
from .conftest import make_settings

SAMPLES = Path(os.environ.get("IMIP_SAMPLES_DIR", Path(__file__).resolve().parents[4] / "shared" / "imip-samples"))

# file -> (folder, outcome, what else must hold). From INDEX.md's "expected gateway outcome".
EXPECTED = {
    "bluemind-gmail-reply-1.eml": ("Processed", "applied ACCEPTED", None),
    "bluemind-gmail-reply-2.eml": ("Processed", "applied DECLINED", None),
    "bluemind-gmail-reply-3.eml": ("Processed", "applied TENTATIVE", None),
    "bluemind-gmail-reply-4.eml": ("Processed", "applied ACCEPTED", "valarm-attendee-untouched"),
    "bluemind-gmail-counter-1.eml": ("Forwarded", "forwarded", "no-change"),
    "bluemind-outlookmac-reply-1.eml": ("Processed", "applied ACCEPTED", None),
    "bluemind-outlookmac-reply-2.eml": ("Processed", "applied DECLINED", None),
    "bluemind-ios-reply-1.eml": ("Processed", "applied ACCEPTED", "comment-forwarded"),
    "bluemind-ios-reply-2.eml": ("Processed", "applied DECLINED", None),
    "bluemind-android-reply-1.eml": ("Processed", "applied ACCEPTED", None),
    "bluemind-mapi-reply-1.eml": ("Processed", "applied ACCEPTED", None),
    "bluemind-ios-counter-1.ics": ("Processed", "applied TENTATIVE", "proposal-forwarded"),
    "calmailproc-exchange-reply-1.eml": ("Processed", "applied ACCEPTED", None),
    "calmailproc-exchange-reply-2.eml": ("Processed", "applied DECLINED", "comment-forwarded"),
    "ccs-ical-reply-1.eml": ("Processed", "applied ACCEPTED", None),
    "nylas-gmail-reply-1.ics": ("Processed", "applied DECLINED", None),
    "ccs-dsn-bounce-1.eml": ("Processed", "bounce", "schedule-status-5"),
    "bluemind-thunderbird-nonimip-1.eml": ("Rejected", "rejected", "no-token"),
    "bluemind-thunderbird-request-smime-1.eml": ("Forwarded", "forwarded", "no-change"),
    # REQUEST references: parsed, never applied.
    "calmailproc-thunderbird-request-1.eml": ("Forwarded", "forwarded", "no-change"),
    "calmailproc-exchange-request-1.eml": ("Forwarded", "forwarded", "no-change"),
    "bluemind-outlook2010-request-1.eml": ("Forwarded", "forwarded", "no-change"),
    "nextcloud-outlookcom-request-1.eml": ("Forwarded", "forwarded", "no-change"),
    "commcentral-notes-request-1.eml": ("Forwarded", "forwarded", "no-change"),
    "nylas-icloud-request-1.ics": ("Forwarded", "forwarded", "no-change"),
}


def _files():
    if not SAMPLES.is_dir():
        return []
    return sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".eml", ".ics"))


@pytest.fixture(scope="module")
def samples_dir():
    if not SAMPLES.is_dir():
        pytest.skip(f"corpus folder {SAMPLES} does not exist (it lives outside the repository)")
    return SAMPLES


def test_every_sample_has_an_expected_outcome(samples_dir):
    assert sorted(EXPECTED) == _files()


def _as_message(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix != ".ics":
        return raw
    # A bare calendar: mail it as a one-part iMIP message (constructed wrapper, content as is).
    method = parse_itip(raw.decode("utf-8"), None).method or "REPLY"
    return (f"From: someone@external.test\r\nTo: {m.INVITE}\r\nSubject: {path.name}\r\n"
            f"Message-ID: <{path.stem}@corpus.test>\r\nDate: Sun, 02 Dec 2029 10:00:00 +0000\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/calendar; method={method}; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + raw


def _stored_event(uid: str, attendee: str, sequence: int, rrule: bool) -> str:
    return m.event(uid, attendees=(attendee,), sequence=sequence, rrule="FREQ=WEEKLY;COUNT=3" if rrule else None)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_reaches_its_outcome(samples_dir, inbound_radicale, tmp_path, name):
    radicale = inbound_radicale
    folder, outcome, extra = EXPECTED[name]
    raw = _as_message(samples_dir / name)
    conn = db.connect(tmp_path / "gateway.db")
    sent: list = []
    msg = mime.parse_message(raw)
    owner = radicale.client("alice")
    # Several samples share a UID (three Google replies to one event): one stored event at a time.
    href = f"/alice/work/corpus-{time.time_ns()}.ics"
    try:
        _run(name, raw, msg, conn, sent, owner, href, radicale, folder, outcome, extra)
    finally:
        owner.delete(href)
        conn.close()


def _run(name, raw, msg, conn, sent, owner, href, radicale, folder, outcome, extra):

    if name == "ccs-dsn-bounce-1.eml":
        # The bounced invitation's ORGANIZER is xyzzy+<token>@example.com: that sample's own
        # token scheme, so this processor's invitation address is xyzzy@example.com.
        returned = mime.returned_message(msg)
        part = mime.extract_calendars(returned, 524288).first
        itip = parse_itip(part.text, part.method_param)
        token = itip.organizer.split("+", 1)[1].split("@", 1)[0].lower()
        uid = itip.instances[0].uid
        attendee = "nonexistant@example.com"
        owner.put(href, _stored_event(uid, attendee, 2, False))
        now = time.time()
        conn.execute("INSERT INTO tokens (token, organizer, attendee, uid, created, accessed) VALUES (?, ?, ?, ?, ?, ?)",
                     (token, m.ORGANIZER, f"mailto:{attendee}", uid, now, now))
        settings = make_settings(invitation_address="xyzzy@example.com", local_domains=("example.com",))
        delivered = raw
    else:
        part = mime.extract_calendars(msg, 524288).first
        itip = parse_itip(part.text, part.method_param)
        inst = itip.instances[0]
        uid = inst.uid or f"no-uid-{name}"
        attendee = from_calendar_address(inst.attendees[0].value) if inst.attendees else "someone@external.test"
        owner.put(href, _stored_event(uid, attendee, inst.sequence or 0, inst.recurrence_id is not None))
        token = TokenStore(conn).token_for(m.ORGANIZER, f"mailto:{attendee}", uid)
        settings = make_settings()
        # What our Postfix adds on delivery to the token address (none for the no-token case),
        # and our MTA's verdict on a signature by the attendee's provider (policy require_dkim_or_spf).
        envelope = b"" if extra == "no-token" else f"X-Original-To: {m.token_address(token)}\r\n".encode()
        verdict = f"Authentication-Results: cal.example.test; dkim=pass header.d={attendee.rpartition('@')[2]}\r\n"
        delivered = envelope + verdict.encode() + raw

    processor = Processor(settings, InboundState(conn), TokenStore(conn).lookup, CalDAVEvents(radicale.client(), conn),
                          send=sent.append)
    before = radicale.client().find_event(uid, "alice").text
    decision = processor.process(delivered)
    assert (decision.folder, decision.outcome.split(" for ")[0]) == (folder, outcome), decision.reason
    after = radicale.client().find_event(uid, "alice").text

    if outcome.startswith("applied"):
        partstat = outcome.split()[1]
        assert f"PARTSTAT={partstat}" in "\n".join(unfold(after))
        assert after.count("SEQUENCE:") == before.count("SEQUENCE:") and "DTSTAMP:20291201T090000Z" in after
    if extra == "no-change":
        assert after == before
    if extra == "no-token":
        assert after == before and sent == []
    if extra == "valarm-attendee-untouched":
        assert "sylvain" not in after.lower()
    if extra == "comment-forwarded":
        (fwd,) = sent
        assert "Comment:" in fwd.get_body(("plain",)).get_content()
    if extra == "proposal-forwarded":
        (fwd,) = sent
        body = fwd.get_body(("plain",)).get_content()
        assert "DTSTART:20201225T083000Z" in body and "Can we move this event" in body
    if extra == "schedule-status-5":
        assert "SCHEDULE-STATUS=5.1" in "\n".join(unfold(after)) and sent == []
    if folder == "Forwarded":
        assert len(sent) == 1 and sent[0]["To"] == "alice@example.test"
