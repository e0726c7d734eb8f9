"""From a recorded change to the mailed message: RFC 6047 checks on the parsed-back message,
SEQUENCE handling, tokens, loop prevention by actor. No network: the database and the
builders only (sending is in test_smtp_delivery.py)."""

import datetime as dt
import email
import email.policy
import time

import icalendar
import pytest
from conftest import event_ics

from imip_gateway import db
from imip_gateway.outbound import changes
from imip_gateway.outbound.delivery import envelope_for
from imip_gateway.outbound.itip import stamp
from imip_gateway.outbound.message import build_message
from imip_gateway.tokens import TokenStore

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def env(make_config):
    cfg = make_config(smtp_port=25)
    conn = db.connect(cfg.gateway.db_path)
    counter = iter(range(1, 10000))

    def record(old, new, *, kind=None, actor="alice", point="alice/calendar"):
        kind = kind or ("delete" if new is None else "upsert")
        change_id = f"{time.time_ns()}-{next(counter):04d}"
        conn.execute("INSERT INTO changes (id, source, received, type, point, uid, content_type, old_content,"
                     " new_content, actor) VALUES (?, 'hook', ?, ?, ?, ?, 'VCALENDAR', ?, ?, ?)",
                     (change_id, time.time(), kind, point, "evt-1" if kind == "delete" else None, old, new, actor))
        changes.process_pending(conn, cfg, now=NOW.timestamp())
        return conn.execute("SELECT * FROM jobs WHERE change_id = ? ORDER BY attendee", (change_id,)).fetchall()
    return cfg, conn, record


def mailed(cfg, job):
    msg = build_message(envelope_for(cfg, job), stamp(job["calendar"], NOW), now=NOW)
    raw = msg.as_bytes()
    return email.message_from_bytes(raw, policy=email.policy.default), raw


def calendar_parts(parsed):
    return [p for p in parsed.walk() if p.get_content_type() in ("text/calendar", "application/ics")]


def test_request_message_is_rfc6047(env):
    cfg, conn, record = env
    extra = ("X-MOZ-GENERATION:2\nX-CALENDARSERVER-PRIVATE-COMMENT:secret note\n"
             "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT15M\nDESCRIPTION:Reminder\nEND:VALARM")
    new = event_ics(attendees=("Bob@External.Test;CN=Bob;SCHEDULE-STATUS=1.1;SCHEDULE-FORCE-SEND=REQUEST",),
                    extra=extra, summary="Planning ümlaut", tzid="America/New_York",
                    organizer_params=";CN=Alice Example;SCHEDULE-AGENT=SERVER")
    jobs = record(None, new)
    assert len(jobs) == 1
    job = jobs[0]
    parsed, raw = mailed(cfg, job)

    # Structure: mixed [ alternative [ text/plain, text/calendar ], application/ics ]
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, attachment = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, cal_part = alternative.get_payload()
    assert plain.get_content_type() == "text/plain" and plain.get_content_charset() == "utf-8"
    assert cal_part.get_content_type() == "text/calendar"
    assert cal_part.get_param("method") == "REQUEST"
    assert cal_part.get_param("charset") == "UTF-8"
    assert cal_part["Content-Transfer-Encoding"] == "base64"
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_param("name") == "invite.ics" and attachment.get_filename() == "invite.ics"
    ics = cal_part.get_payload(decode=True)
    assert attachment.get_payload(decode=True) == ics
    assert b"\r\n" in ics and b"\n" not in ics.replace(b"\r\n", b"")  # CRLF only

    cal = icalendar.Calendar.from_ical(ics)
    assert str(cal["METHOD"]) == cal_part.get_param("method")
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1 and {str(e["UID"]) for e in events} == {"evt-1"}
    event = events[0]
    assert str(event["SUMMARY"]) == "Planning ümlaut"
    # Every VTIMEZONE a TZID refers to.
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["America/New_York"]
    # Token ORGANIZER with CN and EMAIL; the organizer's own ATTENDEE line the same.
    token = TokenStore(conn).lookup(job["token"])
    assert token.organizer == "mailto:alice@example.test" and token.attendee == "mailto:bob@external.test"
    token_address = f"calendar-invites+{job['token']}@example.test"
    organizer = event["ORGANIZER"]
    assert str(organizer) == f"mailto:{token_address}"
    assert organizer.params["CN"] == "Alice Example" and organizer.params["EMAIL"] == "alice@example.test"
    attendees = {str(a).lower(): a for a in event["ATTENDEE"]}
    assert f"mailto:{token_address}" in attendees and "mailto:alice@example.test" not in attendees
    assert attendees[f"mailto:{token_address}"].params["EMAIL"] == "alice@example.test"
    # Scheduling parameters, VALARMs and private X-properties gone.
    text = ics.decode()
    for gone in ("SCHEDULE-STATUS", "SCHEDULE-AGENT", "SCHEDULE-FORCE-SEND", "VALARM", "X-MOZ", "X-CALENDARSERVER",
                 "secret note"):
        assert gone not in text, gone
    assert event["DTSTAMP"].dt == NOW and int(event["SEQUENCE"]) == 0

    # Headers.
    assert parsed["From"] == '"Alice Example (via Example)" <calendar-invites@example.test>'
    assert parsed["To"] == "bob@external.test"
    assert parsed["Reply-To"] == token_address
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-IMIP-Gateway"] == "test-gw"
    assert parsed["Message-ID"] == f"<imip-{job['id']}@example.test>"
    assert parsed["Subject"] == "Invitation: Planning ümlaut"
    assert email.utils.parsedate_to_datetime(parsed["Date"]) == NOW
    # Message-ID stable across rebuilds (retries).
    assert mailed(cfg, job)[0]["Message-ID"] == parsed["Message-ID"]


def test_cancel_for_removed_attendee(env):
    cfg, _conn, record = env
    v1 = event_ics(attendees=("bob@external.test", "carl@external.test"))
    record(None, v1)
    jobs = record(v1, event_ics(attendees=("bob@external.test",)))
    assert [(j["method"], j["attendee"]) for j in jobs] == [("CANCEL", "mailto:carl@external.test")]
    parsed, _raw = mailed(cfg, jobs[0])
    cal_part = calendar_parts(parsed)[0]
    assert cal_part.get_param("method") == "CANCEL"
    event = icalendar.Calendar.from_ical(cal_part.get_payload(decode=True)).walk("VEVENT")[0]
    assert str(event["STATUS"]) == "CANCELLED"
    addresses = sorted(str(a) for a in event["ATTENDEE"])
    assert "mailto:carl@external.test" in addresses and "mailto:bob@external.test" not in addresses
    assert int(event["SEQUENCE"]) == 1  # bumped above the REQUEST's 0
    assert parsed["Subject"] == "Cancelled: Planning"


def test_sequence_never_goes_backwards(env):
    _cfg, _conn, record = env

    def seq(job):
        return int(icalendar.Calendar.from_ical(job["calendar"]).walk("VEVENT")[0]["SEQUENCE"])

    v1 = event_ics(sequence=None)  # Thunderbird omits SEQUENCE
    assert [seq(j) for j in record(None, v1)] == [0]
    # Moved without a bump by the client: the gateway bumps the mailed copy.
    v2 = event_ics(start="20300110T120000", end="20300110T130000")
    assert [seq(j) for j in record(v1, v2)] == [1]
    v3 = event_ics(start="20300110T140000", end="20300110T150000")
    assert [seq(j) for j in record(v2, v3)] == [2]
    # The client catches up with a higher SEQUENCE of its own: that value is used.
    v4 = event_ics(start="20300110T150000", end="20300110T160000", sequence=7)
    assert [seq(j) for j in record(v3, v4)] == [7]
    # A new attendee (no significant change) gets the current value, never a lower one.
    v5 = event_ics(start="20300110T150000", end="20300110T160000", sequence=0,
                   attendees=("bob@external.test", "carl@external.test"))
    assert [(j["attendee"], seq(j)) for j in record(v4, v5)] == [("mailto:carl@external.test", 7)]


def test_token_reused_for_updates(env):
    _cfg, _conn, record = env
    v1 = event_ics()
    first = record(None, v1)[0]
    second = record(v1, event_ics(summary="Renamed"))[0]
    assert first["token"] == second["token"] and first["message_id"] != second["message_id"]
    assert second["reason"] == "updated"


def test_gateway_actor_changes_nothing_but_the_snapshot(env):
    cfg, conn, record = env
    v1 = event_ics()
    record(None, v1)
    # The gateway's own SCHEDULE-STATUS write, even combined with a "change", sends nothing.
    v2 = event_ics(summary="moved by the gateway?")
    assert record(v1, v2, actor=cfg.caldav.user) == []
    # The snapshot followed: the organizer's next unrelated save does not re-send v2's change.
    assert record(v2, v2.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=TENTATIVE")) == []


def test_same_change_from_hook_and_reconcile_is_mailed_once(env):
    _cfg, _conn, record = env
    v1 = event_ics()
    assert len(record(None, v1)) == 1
    # Reconciliation reports the same content again (its old side is stale): nothing new.
    assert record(None, v1) == []


def test_bad_calendar_is_an_error_not_a_crash(env):
    _cfg, conn, record = env
    assert record(None, "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nthis is not ical") == []
    state = conn.execute("SELECT state, note FROM changes ORDER BY id DESC LIMIT 1").fetchone()
    assert state["state"] == "error" and state["note"]


def test_non_ascii_names_and_header_injection(env):
    cfg, _conn, record = env
    new = event_ics(organizer_params=";CN=Zoë Müller", summary="Budget\\nBcc: victim@evil.test")
    job = record(None, new)[0]
    parsed, raw = mailed(cfg, job)
    assert parsed["From"].addresses[0].display_name == "Zoë Müller (via Example)"
    assert parsed["From"].addresses[0].addr_spec == "calendar-invites@example.test"
    assert parsed["Bcc"] is None and b"\nBcc:" not in raw
    assert parsed["Subject"] == "Invitation: Budget Bcc: victim@evil.test"
